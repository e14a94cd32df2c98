#!/usr/bin/env bash
# Installs what is missing, then runs every test (unit, GPU on lavapipe when there is no GPU,
# end-to-end with real ffmpeg/ffprobe, and a quick benchmark smoke run).
set -euo pipefail
cd "$(dirname "$0")/.."
# The browser tests play our pages and streams in Debian's headless Chromium; a viewer URL is
# also played by GStreamer's hlsdemux.
EXTRA_PACKAGES="chromium gstreamer1.0-tools gstreamer1.0-plugins-bad gstreamer1.0-plugins-good gstreamer1.0-libav"
source scripts/deps.sh
cargo test --release "$@"
