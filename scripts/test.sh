#!/usr/bin/env bash
# Installs what is missing, then runs every test (unit, GPU on lavapipe when there is no GPU,
# end-to-end with real ffmpeg/ffprobe, and a quick benchmark smoke run).
set -euo pipefail
cd "$(dirname "$0")/.."
# The browser tests play our pages and streams in Debian's headless Chromium; a viewer URL is
# also played by GStreamer's hlsdemux.
# PostgreSQL: the suite runs a second time with the services' state in it (several nodes share one).
EXTRA_PACKAGES="chromium gstreamer1.0-tools gstreamer1.0-plugins-bad gstreamer1.0-plugins-good gstreamer1.0-libav postgresql"
source scripts/deps.sh
cargo test --release "$@"
if [ $# -eq 0 ] && [ -z "${TEST_DATABASE:-}" ]; then
  # Every test that starts a service, again on PostgreSQL (TEST_DATABASE=postgres picks it for
  # one run of your own; tests/common/mod.rs says how).
  targets=()
  for t in $(grep -lE '\b(start|start_with|start_with_env|start_logged|start_logged_env|operator_console)\(' tests/*.rs); do
    targets+=(--test "$(basename "$t" .rs)")
  done
  TEST_DATABASE=postgres cargo test --release "${targets[@]}"
fi
