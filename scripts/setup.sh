#!/usr/bin/env bash
# Installs every tool Prodsim needs on a bare Debian machine, skipping each one
# that is already present at the right version, so a repeat run takes seconds.
# Used by both README commands (scripts/serve.sh and scripts/test.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

TRUNK_VERSION=0.21.14
WASM_PACK_VERSION=0.15.1
BINARYEN_VERSION=132
PLAYWRIGHT_VERSION=1.65.1
AXE_VERSION=4.14.1
# wasm-bindgen-cli must match the wasm-bindgen the crate links, exactly.
WASM_BINDGEN_VERSION=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/version = |"/,""); print; exit}' Cargo.lock)
export PATH="$HOME/.cargo/bin:$PWD/.tools/node_modules/.bin:$PATH"

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

if ! trunk --version 2>/dev/null | grep -q " $TRUNK_VERSION"; then
  say "installing trunk $TRUNK_VERSION (about 10 minutes, once)"
  cargo install --locked trunk --version "$TRUNK_VERSION"
fi

if ! wasm-bindgen --version 2>/dev/null | grep -q " $WASM_BINDGEN_VERSION"; then
  say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION"
  # Not --locked: one of its locked dependencies is gone from the registry.
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
fi

if ! wasm-pack --version 2>/dev/null | grep -q " $WASM_PACK_VERSION"; then
  say "installing wasm-pack $WASM_PACK_VERSION"
  cargo install wasm-pack --version "$WASM_PACK_VERSION" --force
fi

if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  say "installing Debian chromium + chromium-driver"
  as_root apt-get update
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver
fi

# Debian's binaryen 108 emits a wasm that fails at start-up; npm's binaryen works.
if ! wasm-opt --version 2>/dev/null | grep -q "version $BINARYEN_VERSION"; then
  say "installing binaryen@$BINARYEN_VERSION (wasm-opt) from npm into .tools/"
  mkdir -p .tools
  npm install --prefix .tools --no-audit --no-fund "binaryen@$BINARYEN_VERSION" >/dev/null
fi

# playwright-core drives Debian's chromium for the built-site test.
if ! grep -q "\"version\": \"$PLAYWRIGHT_VERSION\"" .tools/node_modules/playwright-core/package.json 2>/dev/null; then
  say "installing playwright-core@$PLAYWRIGHT_VERSION from npm into .tools/ (it drives Debian's chromium; no browser download)"
  mkdir -p .tools
  npm install --prefix .tools --no-audit --no-fund "playwright-core@$PLAYWRIGHT_VERSION" >/dev/null
fi
# axe-core checks the built site's accessibility inside those pages.
if ! grep -q "\"version\": \"$AXE_VERSION\"" .tools/node_modules/axe-core/package.json 2>/dev/null; then
  say "installing axe-core@$AXE_VERSION from npm into .tools/ (accessibility checks in the built-site test)"
  mkdir -p .tools
  npm install --prefix .tools --no-audit --no-fund "axe-core@$AXE_VERSION" >/dev/null
fi
say "toolchain ready"
