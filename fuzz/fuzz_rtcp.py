"""Fuzz target: parse_rtcp on compound packets (RFC 3550 §6).

Run `python fuzz/fuzz_rtcp.py -max_total_time=60` (atheris) or add
`--fallback` for the plain random-mutation loop; see fuzz/README.md.
"""

from __future__ import annotations

import _harness

with _harness.instrumented():
    from tests.fuzz.seeds import seeds
    from tests.fuzz.targets import rtcp

if __name__ == "__main__":
    _harness.main("rtcp", rtcp, seeds("rtcp"))
