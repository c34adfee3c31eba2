"""Fuzz target: siplab.lab.read_pcap on damaged capture files (pcap, pcapng; UDP, TCP, WS).

Run `python fuzz/fuzz_pcap.py -max_total_time=60` (atheris) or add
`--fallback` for the plain random-mutation loop; see fuzz/README.md.
Each input is written to a temporary file, so this target runs slower
than the others.
"""

from __future__ import annotations

import _harness

with _harness.instrumented():
    from tests.fuzz.seeds import seeds
    from tests.fuzz.targets import pcap

if __name__ == "__main__":
    _harness.main("pcap", pcap, seeds("pcap"))
