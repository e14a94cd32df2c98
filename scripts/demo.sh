#!/usr/bin/env bash
# The main job on embedded defaults: `costream demo` runs the service, two synthetic anchors publish
# over RTMP into it with their own stream keys, and a side-by-side session goes out as HLS.
# It prints the HLS URL and an ffplay command; Ctrl-C stops it. Extra arguments go to `costream demo`
# (e.g. --http 0.0.0.0:8080 to watch from another machine).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
cargo build --release --quiet
exec target/release/costream demo "$@"
