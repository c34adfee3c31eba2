"""RTCP packets and compound packets (RFC 3550 §6.1, §6.4-§6.7, A.2), NTP time and RTT."""

from __future__ import annotations

import pytest

from siplab.errors import LocalProtocolError
from siplab.rtp.packet import RtpParseError
from siplab.rtp.rtcp import (
    NTP_EPOCH_OFFSET,
    App,
    Bye,
    ReceiverReport,
    ReportBlock,
    RtcpPacket,
    RtcpParseError,
    RtcpUnknown,
    SdesChunk,
    SdesItemType,
    SenderReport,
    SourceDescription,
    cname_of,
    ntp_from_unix,
    ntp_short,
    ntp_short_from_unix,
    ntp_to_unix,
    parse_rtcp,
    round_trip_time,
    serialize_rtcp,
)

# 1700000000.5 Unix = 3908988800.5 NTP seconds = 0xE8FE6F80 + half a second.
UNIX_TIME = 1_700_000_000.5
NTP_TIME = 0xE8FE6F80_80000000

BLOCK = ReportBlock(
    ssrc=0x55667788,
    fraction_lost=0x40,  # a quarter lost since the last report
    cumulative_lost=-3,  # duplicates outnumber losses
    highest_sequence=0x0001FFFF,  # one wrap, then 65535
    jitter=0x20,
    lsr=0x6F808000,
    dlsr=0x00018000,  # 1.5 s
)
SENDER_REPORT = SenderReport(
    ssrc=0x11223344,
    ntp_timestamp=NTP_TIME,
    rtp_timestamp=0x00012345,
    packet_count=100,
    octet_count=16000,
    reports=(BLOCK,),
)
# The same SR written out by hand, word by word (§6.4.1).
SENDER_REPORT_BYTES = bytes.fromhex(
    "81C8000C"  # V=2 P=0 RC=1, PT=200 (SR), length 12 (13 words)
    "11223344"  # SSRC of sender
    "E8FE6F80 80000000"  # NTP timestamp
    "00012345"  # RTP timestamp
    "00000064"  # sender's packet count: 100
    "00003E80"  # sender's octet count: 16000
    "55667788"  # report block: SSRC
    "40FFFFFD"  # fraction lost 0x40, cumulative lost -3 (24-bit two's complement)
    "0001FFFF"  # extended highest sequence number
    "00000020"  # interarrival jitter
    "6F808000"  # LSR
    "00018000"  # DLSR
)
SDES_BYTES = bytes.fromhex(
    "81CA0006"  # SC=1, PT=202 (SDES), length 6
    "11223344"  # chunk SSRC
    "0111"  # CNAME, 17 octets
) + b"alice@example.com" + b"\x00"  # the null item ends the chunk on a word boundary


class TestSenderReport:
    """§6.4.1: the SR with one reception report block."""

    def test_sender_report_serializes_to_the_hand_written_bytes(self) -> None:
        assert serialize_rtcp([SENDER_REPORT]) == SENDER_REPORT_BYTES

    def test_hand_written_sender_report_parses_field_by_field(self) -> None:
        (report,) = parse_rtcp(SENDER_REPORT_BYTES)
        assert report == SENDER_REPORT
        assert isinstance(report, SenderReport)
        assert report.reports[0].cumulative_lost == -3
        assert report.ntp_unix_time == UNIX_TIME

    def test_cumulative_lost_is_limited_to_24_bits(self) -> None:
        with pytest.raises(LocalProtocolError):
            ReportBlock(ssrc=1, cumulative_lost=1 << 23)


class TestCompound:
    """§6.1: several packets in one datagram, SR or RR first."""

    def test_sr_plus_sdes_known_bytes(self) -> None:
        sdes = SourceDescription.with_cname(0x11223344, "alice@example.com")
        wire = serialize_rtcp([SENDER_REPORT, sdes])
        assert wire == SENDER_REPORT_BYTES + SDES_BYTES
        parsed = parse_rtcp(wire)
        assert parsed == [SENDER_REPORT, sdes]
        assert cname_of(parsed, 0x11223344) == "alice@example.com"

    def test_rr_plus_bye_with_reason(self) -> None:
        packets: list[RtcpPacket] = [ReceiverReport(0x0A0B0C0D), Bye((0x0A0B0C0D,), "done")]
        wire = serialize_rtcp(packets)
        assert wire == bytes.fromhex(
            "80C90001 0A0B0C0D"  # RR, no report blocks
            "81CB0003 0A0B0C0D"  # BYE, one source
            "04646F6E 65000000"  # reason: length 4, "done", padding
        )
        assert parse_rtcp(wire) == packets

    def test_sdes_with_several_items_and_chunks(self) -> None:
        sdes = SourceDescription(
            (
                SdesChunk(1, ((SdesItemType.CNAME, b"a@h"), (SdesItemType.TOOL, b"siplab"))),
                SdesChunk(2, ((SdesItemType.CNAME, b"b@h"),)),
            )
        )
        assert parse_rtcp(serialize_rtcp([ReceiverReport(1), sdes]))[1] == sdes

    def test_app_and_unknown_types_pass_through(self) -> None:
        app = App(subtype=3, ssrc=7, name=b"SIPL", data=b"\x00\x01\x02\x03")
        feedback = RtcpUnknown(packet_type=205, count=1, body=bytes(range(8)))
        packets: list[RtcpPacket] = [ReceiverReport(7), app, feedback]
        wire = serialize_rtcp(packets)
        assert parse_rtcp(wire) == packets
        assert wire[8:12] == bytes.fromhex("83CC0003")  # APP: subtype 3 in the count field

    def test_padding_in_the_last_packet_is_removed(self) -> None:
        padded = bytearray(serialize_rtcp([ReceiverReport(9)]) + b"\x00\x00\x00\x04")
        padded[0] |= 0x20
        padded[3] += 1  # the length includes the padding word
        assert parse_rtcp(bytes(padded)) == [ReceiverReport(9)]

    @pytest.mark.parametrize(
        ("data", "message"),
        [
            pytest.param(b"\x80\xc9", "shorter than a header", id="short"),
            pytest.param(b"\x40\xc9\x00\x01" + bytes(4), "version is 1", id="version"),
            pytest.param(b"\x80\xc9\x00\x05" + bytes(4), "runs past", id="length"),
            pytest.param(b"\x81\xc9\x00\x01" + bytes(4), "RR with 1 report blocks", id="rr-count"),
            pytest.param(b"\x81\xca\x00\x01" + bytes(4), "terminating null", id="sdes-no-end"),
            pytest.param(b"\x80\xcb\x00\x01\x05abc", "reason length 5", id="bye-reason"),
            pytest.param(
                b"\xa0\xc9\x00\x01" + bytes(4) + b"\x80\xc9\x00\x01" + bytes(4),
                "not the last",
                id="padding-not-last",
            ),
            pytest.param(b"\x80\xc9\x00\x01" + bytes(4) + b"\x80", "stray", id="trailing"),
        ],
    )
    def test_malformed_compound_packets_raise(self, data: bytes, message: str) -> None:
        with pytest.raises(RtcpParseError, match=message) as caught:
            parse_rtcp(data)
        assert isinstance(caught.value, RtpParseError)


class TestTime:
    """§4 (NTP timestamps) and §6.4.1 (round-trip time from LSR and DLSR)."""

    def test_ntp_epoch_is_70_years_before_unix(self) -> None:
        assert NTP_EPOCH_OFFSET == (70 * 365 + 17) * 86400
        assert ntp_from_unix(0.0) == NTP_EPOCH_OFFSET << 32
        assert ntp_from_unix(UNIX_TIME) == NTP_TIME
        assert ntp_to_unix(NTP_TIME) == UNIX_TIME

    def test_ntp_short_is_the_middle_32_bits(self) -> None:
        assert ntp_short(NTP_TIME) == 0x6F808000
        assert ntp_short_from_unix(UNIX_TIME) == BLOCK.lsr

    def test_round_trip_time_from_lsr_and_dlsr(self) -> None:
        # We sent the SR at UNIX_TIME; the peer held it 1.5 s (DLSR); its RR came
        # back 1.7 s later, so 0.2 s were spent on the network.
        arrival = ntp_short_from_unix(UNIX_TIME + 1.7)
        assert round_trip_time(arrival, BLOCK.lsr, BLOCK.dlsr) == pytest.approx(0.2, abs=1e-4)

    def test_round_trip_time_is_zero_before_any_sender_report(self) -> None:
        assert round_trip_time(12345, 0, 0) == 0.0
