"""Fuzzing the RTP, RTCP and telephone-event parsers (RFC 3550 §5.1, §6; RFC 4733 §2.3).

``parse_rtp``, ``parse_rtcp`` and ``TelephoneEvent.parse`` raise nothing but
RtpParseError (RtcpParseError is one) on any bytes; a parsed RTP packet
writes back to bytes that parse to the same packet; a DtmfReceiver fed any
payloads keeps going. Oracles: :func:`tests.fuzz.targets.rtp`,
:func:`~tests.fuzz.targets.rtcp`, :func:`~tests.fuzz.targets.dtmf` (atheris:
``fuzz/fuzz_rtp.py``, ``fuzz_rtcp.py``, ``fuzz_dtmf.py``).
"""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from tests.fuzz import targets
from tests.fuzz.seeds import seeds
from tests.fuzz.strategies import FUZZ, fuzz_input

#: A version-2 first octet with every flag combination, then anything.
VERSION_2 = st.builds(lambda first, rest: bytes([0x80 | first]) + rest,
                      st.integers(0, 0x3F), st.binary(max_size=80))


@FUZZ
@given(fuzz_input(seeds("rtp"), max_random=200) | VERSION_2)
@example(bytes.fromhex("a0 00 0001 00000000 00000001 ff"))  # padding count past the header
@example(bytes.fromhex("9f 00 0001 00000000 00000001"))  # 15 CSRCs announced, none there
@example(bytes.fromhex("90 00 0001 00000000 00000001 bede ffff"))  # extension runs past the end
def test_any_bytes_are_an_rtp_packet_or_rtp_parse_error(data: bytes) -> None:
    targets.rtp(data)


@FUZZ
@given(fuzz_input(seeds("rtcp"), max_random=200) | VERSION_2)
@example(bytes.fromhex("81ca0001 00000001"))  # SDES chunk without its null item
@example(bytes.fromhex("a1c80000 00000004"))  # padding on a packet of no words
@example(bytes.fromhex("9fc80006 00000001 00000000 00000000 00000000 00000000 00000000"))
def test_any_bytes_are_compound_rtcp_or_rtcp_parse_error(data: bytes) -> None:
    targets.rtcp(data)


@FUZZ
@given(fuzz_input(seeds("dtmf"), max_random=400))
@example(b"\x05\x8a")  # shorter than an event
@example(b"\x05\x8a\x03\x20" * 100)
def test_any_telephone_event_payloads_are_read_or_refused(data: bytes) -> None:
    targets.dtmf(data)
