"""Fuzz target: the telephone-event payload and the DTMF receiver (RFC 4733).

Run `python fuzz/fuzz_dtmf.py -max_total_time=60` (atheris) or add
`--fallback` for the plain random-mutation loop; see fuzz/README.md.
"""

from __future__ import annotations

import _harness

with _harness.instrumented():
    from tests.fuzz.seeds import seeds
    from tests.fuzz.targets import dtmf

if __name__ == "__main__":
    _harness.main("dtmf", dtmf, seeds("dtmf"))
