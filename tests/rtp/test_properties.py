"""Properties over generated input (bounded): parsers fail only with their own error,
and everything siplab writes it reads back unchanged (RFC 3550 §5.1, §6; RFC 4733 §2.3)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from siplab.rtp.dtmf import TelephoneEvent
from siplab.rtp.packet import RtpExtension, RtpPacket, RtpParseError, is_rtp, parse_rtp
from siplab.rtp.rtcp import (
    App,
    Bye,
    ReceiverReport,
    ReportBlock,
    RtcpPacket,
    RtcpParseError,
    RtcpUnknown,
    SdesChunk,
    SenderReport,
    SourceDescription,
    parse_rtcp,
    serialize_rtcp,
)
from siplab.rtp.sequence import extend_seq, seq_delta
from siplab.rtp.stream import ReceiverStats

BOUNDED = settings(max_examples=300, deadline=None)

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
words = st.integers(0, 8).map(lambda n: n * 4).flatmap(lambda n: st.binary(min_size=n, max_size=n))

rtp_packets = st.builds(
    RtpPacket,
    payload_type=st.integers(0, 127),
    sequence_number=u16,
    timestamp=u32,
    ssrc=u32,
    payload=st.binary(max_size=64),
    marker=st.booleans(),
    csrc=st.lists(u32, max_size=15).map(tuple),
    extension=st.none() | st.builds(RtpExtension, profile=u16, data=words),
    padding=st.integers(0, 255),
)

report_blocks = st.builds(
    ReportBlock,
    ssrc=u32,
    fraction_lost=u8,
    cumulative_lost=st.integers(-(1 << 23), (1 << 23) - 1),
    highest_sequence=u32,
    jitter=u32,
    lsr=u32,
    dlsr=u32,
)
blocks = st.lists(report_blocks, max_size=4).map(tuple)
sdes_items = st.lists(
    st.tuples(st.integers(1, 8), st.binary(max_size=40)), max_size=4
).map(tuple)
rtcp_packets: st.SearchStrategy[RtcpPacket] = st.one_of(
    st.builds(SenderReport, ssrc=u32, ntp_timestamp=st.integers(0, (1 << 64) - 1),
              rtp_timestamp=u32, packet_count=u32, octet_count=u32, reports=blocks,
              extension=words),
    st.builds(ReceiverReport, ssrc=u32, reports=blocks, extension=words),
    st.builds(SourceDescription,
              chunks=st.lists(st.builds(SdesChunk, ssrc=u32, items=sdes_items), max_size=3)
              .map(tuple)),
    st.builds(Bye, sources=st.lists(u32, max_size=4).map(tuple),
              reason=st.text(max_size=40).filter(lambda t: len(t.encode()) <= 255)),
    st.builds(App, subtype=st.integers(0, 31), ssrc=u32, name=st.binary(min_size=4, max_size=4),
              data=words),
    st.builds(RtcpUnknown, packet_type=st.integers(205, 207), count=st.integers(0, 31),
              body=words),
)  # fmt: skip


@BOUNDED
@given(st.binary(max_size=80))
def test_random_bytes_either_parse_as_rtp_or_raise_rtp_parse_error(data: bytes) -> None:
    try:
        packet = parse_rtp(data)
    except RtpParseError:
        return
    assert parse_rtp(packet.to_bytes()) == packet


@BOUNDED
@given(st.binary(min_size=12, max_size=80).map(lambda b: bytes([0x80 | b[0] & 0x3F]) + b[1:]))
def test_version_2_headers_either_parse_or_raise_rtp_parse_error(data: bytes) -> None:
    try:
        packet = parse_rtp(data)
    except RtpParseError:
        return
    assert packet.to_bytes()[:2] == data[:2]


@BOUNDED
@given(rtp_packets)
def test_generated_rtp_packets_round_trip(packet: RtpPacket) -> None:
    wire = packet.to_bytes()
    assert parse_rtp(wire) == packet
    assert len(wire) == packet.header_size + len(packet.payload) + packet.padding
    assert is_rtp(wire) == (not 64 <= packet.payload_type <= 95)


@BOUNDED
@given(st.binary(max_size=120))
def test_random_bytes_either_parse_as_rtcp_or_raise_rtcp_parse_error(data: bytes) -> None:
    try:
        packets = parse_rtcp(data)
    except RtcpParseError:
        return
    assert parse_rtcp(serialize_rtcp(packets)) == packets


@BOUNDED
@given(st.lists(rtcp_packets, min_size=1, max_size=4))
def test_generated_compound_rtcp_round_trips(packets: list[RtcpPacket]) -> None:
    assert parse_rtcp(serialize_rtcp(packets)) == packets


@BOUNDED
@given(st.builds(TelephoneEvent, event=u8, end=st.booleans(), volume=st.integers(0, 63),
                 duration=u16))  # fmt: skip
def test_telephone_events_round_trip(event: TelephoneEvent) -> None:
    assert TelephoneEvent.parse(event.to_bytes()) == event


@BOUNDED
@given(st.integers(0, 1 << 40), st.integers(-32768, 32767))
def test_extend_seq_recovers_any_number_within_half_the_circle(reference: int, step: int) -> None:
    target = reference + step
    assert extend_seq(target % 65536, reference) == target
    assert seq_delta(target % 65536, reference % 65536) == step


@BOUNDED
@given(
    start=u16,
    count=st.integers(2, 300),
    moves=st.lists(st.tuples(st.integers(1, 299), st.integers(-30, 30)), max_size=3),
)
def test_reordering_within_the_misorder_window_loses_nothing(
    start: int, count: int, moves: list[tuple[int, int]]
) -> None:
    # The first packet stays first (A.1 counts from it); the others move, in all by fewer
    # than MAX_MISORDER (100) places, so every late packet is still recognised as late.
    seqs = [(start + i) % 65536 for i in range(count)]
    for index, shift in moves:
        if index < count:
            packet = seqs.pop(index)
            seqs.insert(min(max(index + shift, 1), len(seqs)), packet)
    stats = ReceiverStats()
    for i, seq in enumerate(seqs):
        stats.receive(RtpPacket(0, seq, 0, 1), now=0.02 * i)
    assert (stats.received, stats.expected, stats.lost, stats.duplicates) == (count, count, 0, 0)
