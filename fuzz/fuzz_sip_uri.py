"""Fuzz target: parse_uri on any text: SIP, SIPS, tel and other URIs (RFC 3261 §19.1, RFC 3966).

Run `python fuzz/fuzz_sip_uri.py -max_total_time=60` (atheris) or add
`--fallback` for the plain random-mutation loop; see fuzz/README.md.
"""

from __future__ import annotations

import _harness

with _harness.instrumented():
    from tests.fuzz.seeds import seeds
    from tests.fuzz.targets import sip_uri

if __name__ == "__main__":
    _harness.main("sip_uri", sip_uri, seeds("sip_uri"))
