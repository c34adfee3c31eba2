"""Fuzz target: the header-value parsers: address, Via, CSeq, params, lists (RFC 3261 §20, §25).

Run `python fuzz/fuzz_sip_headers.py -max_total_time=60` (atheris) or add
`--fallback` for the plain random-mutation loop; see fuzz/README.md.
"""

from __future__ import annotations

import _harness

with _harness.instrumented():
    from tests.fuzz.seeds import seeds
    from tests.fuzz.targets import sip_headers

if __name__ == "__main__":
    _harness.main("sip_headers", sip_headers, seeds("sip_headers"))
