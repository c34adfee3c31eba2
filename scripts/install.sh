#!/usr/bin/env bash
# Set up siplab on a Debian machine: the SIP peers the interop tests talk to
# (apt) and a virtualenv with siplab installed in editable mode (pip).
#
# Idempotent and fast on a second run: apt is skipped when every package is
# already installed, pip is skipped when .install-stamp matches pyproject.toml.
#
#   bash scripts/install.sh                  # as root: apt + venv + pip
#   SIPLAB_SKIP_APT=1 bash scripts/install.sh   # without root: venv + pip only
#
# Two settings make a smaller install; the lab image (docker/Dockerfile) uses
# both, and tests/docker/ runs the Dockerfile's command to prove it works:
#
#   SIPLAB_APT_PACKAGES="sip-tester tshark"   # these Debian packages instead of the list below
#   SIPLAB_PIP_EXTRAS=lab                     # siplab[lab] instead of siplab[lab,test,bench]
#
# Used by scripts/lab.sh, scripts/test.sh, .ci/run and docker/Dockerfile.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
VENV="$ROOT/.venv"
STAMP="$ROOT/.install-stamp"
PYTHON=${PYTHON:-python3}

# Everything the interop tests talk to (SIPLAB_APT_PACKAGES replaces the list).
DEFAULT_APT_PACKAGES=(
    sip-tester                  # sipp
    tshark
    kamailio
    kamailio-websocket-modules
    baresip-core
    chromium
    sngrep
    iproute2                    # ip, for `unshare --net` loopback namespaces
    gcc                         # mypyc's C, for the compiled SIP core (below)
)
if [[ -n "${SIPLAB_APT_PACKAGES:-}" ]]; then
    read -r -a APT_PACKAGES <<< "$SIPLAB_APT_PACKAGES"
else
    APT_PACKAGES=("${DEFAULT_APT_PACKAGES[@]}")
fi

# The optional dependencies of pyproject.toml to install with siplab.
DEFAULT_PIP_EXTRAS=lab,test,bench
PIP_EXTRAS=${SIPLAB_PIP_EXTRAS:-$DEFAULT_PIP_EXTRAS}

say() { printf 'install: %s\n' "$*"; }
die() { printf 'install: error: %s\n' "$*" >&2; exit 1; }

# --- Debian packages --------------------------------------------------------

missing_packages() {
    local pkg
    for pkg in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
            printf '%s\n' "$pkg"
        fi
    done
}

# python3-venv only matters when the interpreter we use cannot make a venv.
if [[ ! -e "$VENV" ]] && ! "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null; then
    APT_PACKAGES+=(python3-venv)
fi

if [[ "${SIPLAB_SKIP_APT:-0}" == 1 ]]; then
    say "apt: skipped (SIPLAB_SKIP_APT=1); interop tests skip when a peer is missing"
elif ! command -v dpkg-query >/dev/null || ! command -v apt-get >/dev/null; then
    say "apt: not a Debian system, skipped; interop tests skip when a peer is missing"
else
    mapfile -t MISSING < <(missing_packages "${APT_PACKAGES[@]}")
    if [[ ${#MISSING[@]} -eq 0 ]]; then
        say "apt: all ${#APT_PACKAGES[@]} packages already installed"
    elif [[ $(id -u) -ne 0 ]]; then
        say "apt: missing ${MISSING[*]}, and not root, so not installing them."
        say "     run: sudo apt-get install ${MISSING[*]}"
        say "     (or set SIPLAB_SKIP_APT=1 to silence this; interop tests will skip)"
    else
        say "apt: installing ${MISSING[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q
        apt-get install -y -q "${MISSING[@]}"
        mapfile -t STILL < <(missing_packages "${MISSING[@]}")
        [[ ${#STILL[@]} -eq 0 ]] || die "apt-get did not install: ${STILL[*]}"
    fi
fi

# --- virtualenv and pip -----------------------------------------------------

if [[ -e "$VENV" ]] && ! "$VENV/bin/python" -c 'import sys' 2>/dev/null; then
    die "$VENV exists but its python does not run; remove it (rm -r .venv) and run again"
fi
if [[ ! -e "$VENV" ]]; then
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        || die "$PYTHON is $("$PYTHON" --version 2>&1); siplab needs Python >= 3.11 (set PYTHON=...)"
    say "venv: creating $VENV with $("$PYTHON" --version 2>&1)"
    "$PYTHON" -m venv "$VENV"
    rm -f "$STAMP"
fi

# The stamp says what was installed: pyproject.toml's hash, followed by the
# extras when they are not the default ones (so a default install's stamp is
# just the hash, as it always was).
WANT=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [[ "$PIP_EXTRAS" != "$DEFAULT_PIP_EXTRAS" ]]; then
    WANT="$WANT [$PIP_EXTRAS]"
fi
HAVE=$(cat "$STAMP" 2>/dev/null || true)
if [[ "$WANT" == "$HAVE" && -x "$VENV/bin/siplab" ]]; then
    say "pip: up to date (pyproject.toml unchanged since the last install)"
else
    LOG="$VENV/pip-install.log"
    say "pip: installing siplab[$PIP_EXTRAS] in editable mode into .venv (log: ${LOG#"$ROOT/"})"
    if ! "$VENV/bin/python" -m pip install -e ".[$PIP_EXTRAS]" > "$LOG" 2>&1; then
        tail -n 30 "$LOG" >&2
        die "pip install failed; the full log is $LOG"
    fi
    printf '%s\n' "$WANT" > "$STAMP"
fi

# --- the SIP core compiled by mypyc ------------------------------------------

# The same modules as C extensions in build/compiled/, which LabServer runs
# with SIPLAB_COMPILED=1 (the benchmark and the load test do); everything else
# runs the plain Python. Rebuilt only when those sources change (about 40 s).
# mypyc comes with mypy, which the test extra installs; gcc and Python's
# headers are needed too. Without them the lab still runs, on plain Python.
if ! "$VENV/bin/python" -c 'import mypyc' 2>/dev/null; then
    say "compiled core: skipped (no mypy/mypyc in this install); LabServer runs plain Python"
elif ! command -v gcc >/dev/null; then
    say "compiled core: skipped (no gcc: apt-get install gcc); LabServer runs plain Python"
else
    CORE_LOG="$VENV/compiled-core.log"
    if "$VENV/bin/python" -m siplab.compiled_core build > "$CORE_LOG" 2>&1; then
        say "$(tail -n 1 "$CORE_LOG")"
    else
        tail -n 30 "$CORE_LOG" >&2
        say "compiled core: the build FAILED (log: ${CORE_LOG#"$ROOT/"}); LabServer runs plain Python"
    fi
fi

# --- npm: JsSIP, SIP.js and esbuild for the browser phone (web/) -------------

# The bundles in web/dist/ are committed, so the lab serves web/phone.html
# without node. npm is needed to rebuild them, and by the test that checks
# they match the lockfile (tests/browser/test_web_bundles.py). Skipped when
# web/node_modules was installed from this very web/package-lock.json.
# --ignore-scripts: no package runs code at install (esbuild needs none).
NPM_STAMP="$ROOT/web/node_modules/.siplab-lockfile-sha256"
if ! command -v npm >/dev/null; then
    say "npm: not found, web/ skipped (web/dist/ is committed; the bundle check will skip)"
elif [[ ! -f web/package-lock.json ]]; then
    say "npm: no web/package-lock.json here (the lab image copies web/ later), skipped"
else
    WANT_NPM=$(sha256sum web/package-lock.json | cut -d' ' -f1)
    HAVE_NPM=$(cat "$NPM_STAMP" 2>/dev/null || true)
    if [[ "$WANT_NPM" == "$HAVE_NPM" ]]; then
        say "npm: up to date (web/package-lock.json unchanged since the last npm ci)"
    else
        NPM_LOG="$VENV/npm-ci.log"
        say "npm: npm ci in web/ (log: ${NPM_LOG#"$ROOT/"})"
        if ! (cd web && npm ci --ignore-scripts --no-audit --no-fund) > "$NPM_LOG" 2>&1; then
            tail -n 30 "$NPM_LOG" >&2
            die "npm ci failed in web/; the full log is $NPM_LOG"
        fi
        printf '%s\n' "$WANT_NPM" > "$NPM_STAMP"
    fi
fi

say "ready: $("$VENV/bin/python" --version), siplab $("$VENV/bin/python" -c 'import siplab; print(siplab.__version__)')"
