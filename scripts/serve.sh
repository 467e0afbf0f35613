#!/usr/bin/env bash
# Starts the playground: installs what is missing, then serves it with Trunk.
#   bash scripts/serve.sh            # http://127.0.0.1:8080
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
exec trunk serve --address 127.0.0.1 --port "${PORT:-8080}" "$@"
