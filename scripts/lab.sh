#!/usr/bin/env bash
# Start JupyterLab on the course notebooks, listening on 127.0.0.1 only.
#
#   bash scripts/lab.sh                 # http://127.0.0.1:8888/lab?token=...
#   SIPLAB_PORT=9000 bash scripts/lab.sh
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/install.sh

PORT=${SIPLAB_PORT:-8888}
TOKEN=${SIPLAB_TOKEN:-$(.venv/bin/python -c 'import secrets; print(secrets.token_hex(24))')}

ARGS=(
    --ip=127.0.0.1
    --port="$PORT"
    --port-retries=0
    --no-browser
    --ServerApp.root_dir="$(pwd)/notebooks"
    --IdentityProvider.token="$TOKEN"
)
if [[ $(id -u) -eq 0 ]]; then
    ARGS+=(--allow-root)
fi

echo "lab: open http://127.0.0.1:$PORT/lab?token=$TOKEN"
echo "lab: stop with Ctrl-C"
exec .venv/bin/jupyter lab "${ARGS[@]}"
