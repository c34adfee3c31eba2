"""Fixtures for the whole suite.

``require_peer(binary, package)`` and ``crlf(text)`` live in
:mod:`tests.helpers`; ``require_peer`` is re-exported here too.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.helpers import crlf, require_peer

__all__ = ["artifacts_dir", "crlf", "require_peer"]


@pytest.fixture
def artifacts_dir(request: pytest.FixtureRequest) -> Path:
    """A directory ``artifacts/<test name>`` for screenshots, ladders and captures.

    It is created when a test asks for it and kept after the run (it is in
    .gitignore), so a failing interop test leaves its evidence behind.
    """
    name = re.sub(r"[^\w.-]+", "_", request.node.name).strip("_")
    path = request.config.rootpath / "artifacts" / name
    path.mkdir(parents=True, exist_ok=True)
    return path
