"""The committed browser bundles are exactly what ``npm run build`` makes from the lockfile.

``web/dist/jssip.bundle.js`` and ``web/dist/sipjs.bundle.js`` are committed so
that the lab (and Binder) serves the phone page without node or npm. The risk
of committing build output is that it drifts from its sources; this test
rebuilds both bundles in memory from ``web/node_modules`` (what ``npm ci``
installed from ``web/package-lock.json``) and fails if a committed file
differs. After changing a version in ``web/package.json``: ``cd web && npm
install && npm run build``, and commit the lockfile with the bundles.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.helpers import require_peer

WEB_DIR = Path(__file__).resolve().parents[2] / "web"
BUNDLES = {"jssip": "jssip.bundle.js", "sip.js": "sipjs.bundle.js"}


def test_package_json_pins_exact_versions_that_the_lockfile_installs() -> None:
    """Every devDependency is an exact version (no ^ or ~), the one the lockfile holds."""
    package = json.loads((WEB_DIR / "package.json").read_text())
    lock = json.loads((WEB_DIR / "package-lock.json").read_text())
    for name, version in package["devDependencies"].items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"{name}: pin {version} exactly"
        assert lock["packages"][f"node_modules/{name}"]["version"] == version, name


def test_each_bundle_names_the_library_version_it_was_built_from() -> None:
    """The banner of each committed bundle names the version package.json pins."""
    pinned = json.loads((WEB_DIR / "package.json").read_text())["devDependencies"]
    for name, bundle in BUNDLES.items():
        first_line = (WEB_DIR / "dist" / bundle).read_text().split("\n", 1)[0]
        assert first_line.startswith(f"// {name} {pinned[name]} bundled by esbuild "
                                     f"{pinned['esbuild']} "), first_line


def test_committed_bundles_match_a_fresh_build() -> None:
    """``npm run check`` rebuilds both bundles in memory and compares them byte for byte."""
    node = require_peer("node", "nodejs")
    if not (WEB_DIR / "node_modules" / "esbuild").is_dir():
        message = "web/node_modules is missing: bash scripts/install.sh runs `npm ci` there"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    result = subprocess.run([node, "build.mjs", "--check"], cwd=WEB_DIR, capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr + result.stdout
