"""Fuzz target: parse_message, then every typed accessor and the round trip (RFC 3261 §7, §20, §25).

Run `python fuzz/fuzz_sip_message.py -max_total_time=60` (atheris) or add
`--fallback` for the plain random-mutation loop; see fuzz/README.md.
"""

from __future__ import annotations

import _harness

with _harness.instrumented():
    from tests.fuzz.seeds import seeds
    from tests.fuzz.targets import sip_message

if __name__ == "__main__":
    _harness.main("sip_message", sip_message, seeds("sip_message"))
