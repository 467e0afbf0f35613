#!/usr/bin/env bash
# Builds the release site into dist/ and enforces the download budget:
# wasm + js + css, gzipped, at most 300 KB (300 000 bytes).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
trunk build --release
bash scripts/site-size.sh
