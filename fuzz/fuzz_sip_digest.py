"""Fuzz target: parse_challenge and parse_credentials, the digest headers (RFC 7616, RFC 8760).

Run `python fuzz/fuzz_sip_digest.py -max_total_time=60` (atheris) or add
`--fallback` for the plain random-mutation loop; see fuzz/README.md.
"""

from __future__ import annotations

import _harness

with _harness.instrumented():
    from tests.fuzz.seeds import seeds
    from tests.fuzz.targets import sip_digest

if __name__ == "__main__":
    _harness.main("sip_digest", sip_digest, seeds("sip_digest"))
