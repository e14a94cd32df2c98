#!/usr/bin/env bash
# The main job on embedded defaults: two generated anchors (a landscape 1080p60 game clip and a
# portrait 720x1280 phone clip, each with its own tone) composed side by side at 1280x720 30 fps with
# a PK-style bar and a blurred rectangle, encoded once to MP4 and HLS.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
cargo build --release --quiet
bin=target/release/costream
mkdir -p out
mapfile -t clips < <($bin sample --dir out/samples --seconds 10)
a=${clips[0]} b=${clips[1]}
$bin render -i "$a" -i "$b" --layout side-by-side --fit fill,fit --size 1280x720 --fps 30 \
  --rect 40,20,1200,24,#e53935e6 --rect 40,20,700,24,#1e88e5e6 --blur 220,160,200,200,12 \
  --out out/demo.mp4 --out out/hls/demo.m3u8
echo
ffprobe -v error -show_entries stream=codec_name,width,height,r_frame_rate:format=duration -of compact out/demo.mp4
echo "wrote out/demo.mp4 and out/hls/demo.m3u8 (play: ffplay out/demo.mp4)"
