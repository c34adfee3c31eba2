"""The ``load`` marker: sustained sipp load against a LabServer (``pytest -m load``)."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "load: sustained sipp load against a LabServer (about a minute)")
