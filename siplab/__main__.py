"""``python -m siplab``: the same as the ``siplab`` command (see :mod:`siplab.cli`)."""

from __future__ import annotations

from siplab.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
