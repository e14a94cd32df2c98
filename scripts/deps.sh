#!/usr/bin/env bash
# Installs the Debian packages costream needs to build, run and test, when they are missing.
# Sourced by the other scripts; safe to run again.
set -euo pipefail

PACKAGES=(
  # build: FFmpeg libraries for ffmpeg-next, clang for its bindgen
  libavcodec-dev libavformat-dev libavutil-dev libswscale-dev libswresample-dev
  libavfilter-dev libavdevice-dev clang libclang-dev pkg-config
  # run without a GPU: Vulkan loader + lavapipe (Mesa's software Vulkan)
  libvulkan1 mesa-vulkan-drivers
  # tests, samples and the benchmark baseline; nginx-rtmp is a real RTMP peer in tests
  ffmpeg nginx libnginx-mod-rtmp python3
)
# A script may ask for more (the tests: a real browser).
PACKAGES+=(${EXTRA_PACKAGES:-})

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}" >&2
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo not found: install a current Rust toolchain (https://rustup.rs), then run this again" >&2
  exit 1
fi
