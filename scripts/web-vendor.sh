#!/usr/bin/env bash
# Copies the browser code the pages embed from the npm registry, as web/package-lock.json pins it,
# into web/vendor/ (committed, so a build needs no npm and the binary serves everything offline).
set -euo pipefail
cd "$(dirname "$0")/../web"
npm ci --no-audit --no-fund
cp node_modules/hls.js/dist/hls.light.min.js vendor/hls.light.min.js
cp node_modules/hls.js/LICENSE vendor/LICENSE-hls.js
echo "web/vendor updated from package-lock.json"
