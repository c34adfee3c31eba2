"""Fuzz target: the TCP stream framer, fed whole and in random chunks (RFC 3261 §18.3).

Run `python fuzz/fuzz_stream_framer.py -max_total_time=60` (atheris) or add
`--fallback` for the plain random-mutation loop; see fuzz/README.md.
"""

from __future__ import annotations

import _harness

with _harness.instrumented():
    from tests.fuzz.seeds import seeds
    from tests.fuzz.targets import stream_framer

if __name__ == "__main__":
    _harness.main("stream_framer", stream_framer, seeds("stream_framer"))
