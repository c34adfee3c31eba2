"""Fuzzing the capture reader, siplab.lab.read_pcap, on damaged captures.

The seeds are small captures of a call (SIP with SDP over UDP, its RTP and
RTCP, SIP over TCP in two segments and over WebSocket), as pcap in both byte
orders, with nanosecond times, over raw IP, and as pcapng. Damaged copies
must be read, or refused with the reader's documented PcapError; nothing
inside a capture may raise. The RTP statistics (``rtp_streams``) of what was
read must come out too. Oracle: :func:`tests.fuzz.targets.pcap` (atheris:
``fuzz/fuzz_pcap.py``).
"""

from __future__ import annotations

import pytest
from hypothesis import example, given

from tests.fuzz import targets
from tests.fuzz.seeds import seeds
from tests.fuzz.strategies import QUICK, fuzz_input

pytestmark = pytest.mark.skipif(not targets.pcap_available(),
                                reason="siplab/lab/pcap.py is not written yet")

CALL = seeds("pcap")[0]


def same_length(old: bytes, new: bytes) -> bytes:
    """The call capture with ``old`` replaced by ``new`` (same length: lengths stay right)."""
    assert len(old) == len(new)
    assert old in CALL
    return CALL.replace(old, new)


@QUICK
@given(fuzz_input(seeds("pcap"), max_random=300))
# A NUL in the SDP's c= address: inet_pton raised ValueError (siplab/lab/media.py).
@example(same_length(b"IN IP4 192.0.2.101", b"IN IP4 192.0\x002.101"))
# "²" is a digit to isdigit() but not to int() (the lenient SDP reader of siplab/lab/media.py).
@example(same_length(b"telephone-event/8000", "telephone-event/²80".encode()))
@example(same_length(b"m=audio 49170", "m=audio ²917".encode()))
@example(CALL[:24])
@example(CALL[:100])
def test_damaged_captures_are_read_or_refused_with_pcap_error(data: bytes) -> None:
    targets.pcap(data)
