#!/bin/bash
# What a device call runs (see docs/benchmarks.md, "GPU"): run(carry=["bench/gpu/.pack"],
# command="bash bench/gpu/.pack/run-on-device.sh", timeout_s=540). Writes logs and JSON to $OUT.
set -u
cd "$(dirname "$0")"
OUT=${OUT:-/tmp/gpu-bench-out}; mkdir -p "$OUT"
nvidia-smi -L 2>&1 | tee "$OUT/gpu.txt"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader >> "$OUT/gpu.txt" 2>&1
N=/tmp/rr-gpu; rm -rf $N; mkdir -p $N/w
xz -dc node.xz > $N/node && chmod +x $N/node
tar -xJf stage.tar.xz -C $N
cp model.json $N/w/
for f in *.deb; do dpkg -x "$f" /; done; ldconfig
# The NVIDIA container toolkit's ICD is where the Vulkan loader does not look.
if [ -e /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
fi
export XDG_RUNTIME_DIR=/tmp
cd $N
./node bench.mjs weights w
# Stages ordered by value; each has its own limit so one hang cannot eat the call.
timeout 150 ./node bench.mjs features w --batches 1,16,32,64,128 --seconds 4 --json "$OUT/features.json" 2>&1 | grep -v artificially | tee "$OUT/features.log"
timeout 120 python3 "$OLDPWD/torch_peer.py" "$OUT/torch.json" 2>&1 | tee "$OUT/torch.log"
timeout 220 ./node bench.mjs finetune w --depths res5,res4-5,all --batches 16,32 --reps 3 --baseline --json "$OUT/finetune.json" 2>&1 | grep -v artificially | tee "$OUT/finetune.log"
echo "== summary"; grep -h "images/s\|agreement" "$OUT"/*.log
true
