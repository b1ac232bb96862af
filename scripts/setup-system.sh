#!/usr/bin/env bash
# System packages the tests use beyond Node: a Vulkan loader with Mesa's lavapipe (a CPU Vulkan driver, so the
# WebGPU code paths of ONNX Runtime and TF.js run without a GPU) and Debian's Chromium (browser tests of the run
# report and the dashboard). Idempotent; needs root and apt. Without them the GPU and browser tests skip and say why.
#
# Why bookworm-backports: Debian 12's mesa-vulkan-drivers 22.3 lacks features Dawn requires
# ("shaderUniform*ArrayDynamicIndexing required"); 25.x from backports works.
set -uo pipefail

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "setup-system: not root or no apt-get; skipping system packages (GPU and browser tests will skip)" >&2
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
have() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
lavapipe_new_enough() {
  have mesa-vulkan-drivers && dpkg --compare-versions "$(dpkg-query -W -f='${Version}' mesa-vulkan-drivers)" ge 25
}

if lavapipe_new_enough && have libvulkan1 && have chromium; then
  echo "setup-system: lavapipe, libvulkan1 and chromium already installed" >&2
  exit 0
fi

. /etc/os-release 2>/dev/null || true
codename="${VERSION_CODENAME:-bookworm}"
if [ "$codename" = bookworm ] && ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
  cat > /etc/apt/sources.list.d/bookworm-backports.sources <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi

apt-get update -qq >/dev/null 2>&1 || echo "setup-system: apt-get update failed; trying with the lists present" >&2
if [ "$codename" = bookworm ]; then
  apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers libvulkan1 >/dev/null ||
    echo "setup-system: could not install lavapipe from bookworm-backports (GPU tests will skip)" >&2
else
  apt-get install -y -qq mesa-vulkan-drivers libvulkan1 >/dev/null ||
    echo "setup-system: could not install mesa-vulkan-drivers (GPU tests will skip)" >&2
fi
apt-get install -y -qq chromium fonts-liberation >/dev/null ||
  echo "setup-system: could not install chromium (browser tests will skip)" >&2
echo "setup-system: done" >&2
exit 0
