#!/usr/bin/env bash
# Run every check: ruff, mypy --strict on the sans-I/O core, and pytest.
#
#   bash scripts/test.sh              # everything
#   bash scripts/test.sh -k register  # extra arguments go to pytest
#
# All three steps run even when one fails; the summary names the failures and
# the exit status is non-zero if any failed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/install.sh

BIN=.venv/bin
FAILED=()

step() { printf '\n== %s\n' "$*"; }

step "ruff check siplab tests bench fuzz"
"$BIN/ruff" check siplab tests bench fuzz || FAILED+=(ruff)

CORE=(siplab/sip siplab/sdp siplab/rtp siplab/call.py siplab/call_dtmf.py siplab/call_refusal.py
      siplab/errors.py siplab/ids.py)
step "mypy --strict ${CORE[*]}"
"$BIN/mypy" --strict "${CORE[@]}" || FAILED+=(mypy)

# The asyncio, lab and command layers: typed too, checked without --strict
# (their third-party libraries are partly untyped).
step "mypy siplab"
"$BIN/mypy" siplab || FAILED+=(mypy)

step "pytest${*:+ $*}"
status=0
"$BIN/python" -m pytest "$@" || status=$?
if [[ $status -eq 5 ]]; then
    echo "test: warning: pytest collected no tests (exit 5); not counted as a failure"
elif [[ $status -ne 0 ]]; then
    FAILED+=(pytest)
fi

echo
if [[ ${#FAILED[@]} -eq 0 ]]; then
    echo "test: all passed (ruff, mypy, pytest)"
else
    echo "test: FAILED: ${FAILED[*]}" >&2
    exit 1
fi
