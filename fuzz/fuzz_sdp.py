"""Fuzz target: the SDP parser, its typed views, offer/answer on what parses (RFC 8866, 3264).

Run `python fuzz/fuzz_sdp.py -max_total_time=60` (atheris) or add
`--fallback` for the plain random-mutation loop; see fuzz/README.md.
"""

from __future__ import annotations

import _harness

with _harness.instrumented():
    from tests.fuzz.seeds import seeds
    from tests.fuzz.targets import sdp

if __name__ == "__main__":
    _harness.main("sdp", sdp, seeds("sdp"))
