#!/usr/bin/env bash
# Start JupyterLab in the lab image: the CMD of docker/Dockerfile.
#
# On its own (docker run, docker compose): JupyterLab on $SIPLAB_IP:$SIPLAB_PORT,
# by default 0.0.0.0:8888, every interface *of the container*; who can reach it
# is decided by how the port is published (`-p 127.0.0.1:8888:8888` keeps it on
# the host). The token is $SIPLAB_TOKEN; when that is empty a random one is made
# and printed. Arguments given to this script go to `jupyter lab` (Jupyter
# refuses an option given twice, so set the address, port and token here only
# through those variables).
#
# Under JupyterHub (the spawner sets JUPYTERHUB_API_TOKEN): jupyterhub-singleuser,
# which takes its address, base URL and login from the hub, with the spawner's
# arguments.
set -euo pipefail

SIPLAB_HOME=${SIPLAB_HOME:-/home/lab/siplab}
IP=${SIPLAB_IP:-0.0.0.0}
PORT=${SIPLAB_PORT:-8888}
ARGS=()
# The course is the file browser's root, unless the spawner names another.
if [[ "$*" != *notebook-dir* && "$*" != *root_dir* ]]; then
    ARGS+=(--ServerApp.root_dir="$SIPLAB_HOME/notebooks")
fi
if [[ $(id -u) -eq 0 ]]; then
    ARGS+=(--allow-root)
fi

if [[ -n "${SIPLAB_CLASS_SERVER:-}" ]]; then
    echo "lab: the class SIP server is $SIPLAB_CLASS_SERVER (SIPLAB_CLASS_SERVER)"
fi

if [[ -n "${JUPYTERHUB_API_TOKEN:-}" ]]; then
    if ! command -v jupyterhub-singleuser >/dev/null; then
        echo "lab: error: started by JupyterHub, but this image has no jupyterhub-singleuser;" >&2
        echo "lab:        rebuild it with --build-arg JUPYTERHUB_VERSION=<the hub's version>" >&2
        exit 1
    fi
    exec jupyterhub-singleuser "${ARGS[@]}" "$@"
fi

TOKEN=${SIPLAB_TOKEN:-}
SHOWN='<SIPLAB_TOKEN>'
if [[ -z "$TOKEN" ]]; then
    TOKEN=$(python -c 'import secrets; print(secrets.token_hex(24))')
    SHOWN=$TOKEN
    echo "lab: SIPLAB_TOKEN is empty, so this run's token is made up: $TOKEN"
fi

echo "lab: open http://127.0.0.1:$PORT/lab?token=$SHOWN (or the address the port is published on)"
echo "lab: the browser phone is at http://127.0.0.1:$PORT/siplab-phone/"
exec jupyter lab "${ARGS[@]}" \
    --ip="$IP" \
    --port="$PORT" \
    --port-retries=0 \
    --no-browser \
    --IdentityProvider.token="$TOKEN" \
    "$@"
