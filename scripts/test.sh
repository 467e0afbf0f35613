#!/usr/bin/env bash
# The one test command: installs what is missing, then runs every check.
#   bash scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "format and lints"
cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
cargo clippy --target wasm32-unknown-unknown --lib --bins -- -D warnings

step "native tests (engine, parts, scenarios, lessons, CLI, goldens)"
cargo test

step "browser tests (wasm-bindgen-test in headless Chromium)"
wasm-pack test --headless --chrome -- --test web

if [ -f www/index.html ]; then
  step "release site: build, size budget, real-browser test"
  bash scripts/build-site.sh
  node --test tests/site/
fi
