"""The PyTorch peer for bench/gpu (same run, same GPU): torchvision ResNet50, random weights, fp32.

Inference (eval, no_grad) images/s per batch, NCHW and channels_last; training (SGD step, train mode) images/s.
Timed with CUDA events after warm-up. Writes JSON to argv[1]. The GPU machine's image has torch + torchvision.
"""
import json
import sys

import torch
import torchvision

out = sys.argv[1]
torch.backends.cudnn.benchmark = True
torch.backends.cuda.matmul.allow_tf32 = False  # fp32 as the runner computes it (WebGPU has no tf32)
torch.backends.cudnn.allow_tf32 = False
dev = torch.device("cuda")
rows = []


def timed(fn, reps=10, warm=3):
    for _ in range(warm):
        fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(reps):
        fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / reps


for layout in ("nchw", "channels_last"):
    model = torchvision.models.resnet50(weights=None).to(dev).eval()
    fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
    model = model.to(memory_format=fmt)
    for n in (16, 64, 128):
        x = torch.randn(n, 3, 224, 224, device=dev).to(memory_format=fmt)
        with torch.no_grad():
            ms = timed(lambda: model(x))
        rows.append({"mode": "inference", "layout": layout, "batch": n, "msPerBatch": ms, "imagesPerSecond": n * 1000 / ms})
        print(f"torch inference fp32 {layout:13s} batch {n:3d}: {n * 1000 / ms:8.1f} images/s", flush=True)

model = torchvision.models.resnet50(weights=None).to(dev).train().to(memory_format=torch.channels_last)
opt = torch.optim.SGD(model.parameters(), lr=1e-3)
for n in (32, 64):
    x = torch.randn(n, 3, 224, 224, device=dev).to(memory_format=torch.channels_last)
    y = torch.randint(0, 3, (n,), device=dev)

    def step():
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    ms = timed(step, reps=5)
    rows.append({"mode": "train", "layout": "channels_last", "batch": n, "msPerStep": ms, "imagesPerSecond": n * 1000 / ms})
    print(f"torch train fp32 channels_last batch {n:3d}: {n * 1000 / ms:8.1f} images/s", flush=True)

json.dump({"torch": torch.__version__, "gpu": torch.cuda.get_device_name(0), "rows": rows}, open(out, "w"), indent=2)
