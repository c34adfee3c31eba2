"""Fuzz target: parse_rtp and the round trip of what parses (RFC 3550 §5.1).

Run `python fuzz/fuzz_rtp.py -max_total_time=60` (atheris) or add
`--fallback` for the plain random-mutation loop; see fuzz/README.md.
"""

from __future__ import annotations

import _harness

with _harness.instrumented():
    from tests.fuzz.seeds import seeds
    from tests.fuzz.targets import rtp

if __name__ == "__main__":
    _harness.main("rtp", rtp, seeds("rtp"))
