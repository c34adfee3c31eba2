"""The RTP packet: fixed header, CSRC list, extension, padding (RFC 3550 §5.1, §5.3.1),
and telling RTP from RTCP on a shared port (RFC 5761 §4)."""

from __future__ import annotations

import dataclasses

import pytest

from siplab.errors import LocalProtocolError, RemoteProtocolError
from siplab.rtp.packet import (
    RtpExtension,
    RtpPacket,
    RtpParseError,
    is_rtp,
    looks_like_rtcp,
    parse_rtp,
)

# A PCMU packet with the marker bit, written out octet by octet.
PCMU_WITH_MARKER = bytes.fromhex(
    "80 80 1234"  # V=2 P=0 X=0 CC=0 | M=1 PT=0 | sequence number
    "DEADBEEF"  # timestamp
    "01020304"  # SSRC
    "FFFE"  # payload
)

# Every optional part at once: two CSRCs, an RFC 8285 extension, 3 octets of padding.
EVERYTHING = bytes.fromhex(
    "B2 60 0001"  # V=2 P=1 X=1 CC=2 | M=0 PT=96 | seq 1
    "00000010"  # timestamp 16
    "AABBCCDD"  # SSRC
    "11111111 22222222"  # CSRC list
    "BEDE 0001"  # extension: profile 0xBEDE, 1 word
    "10AB0000"  # one-byte extension id 1, one octet 0xAB, then padding
    "6869"  # payload "hi"
    "000003"  # padding: two zeros and the count
)


class TestParse:
    """§5.1: reading the header fields off the wire."""

    def test_pcmu_packet_fields(self) -> None:
        packet = RtpPacket.parse(PCMU_WITH_MARKER)
        assert packet == RtpPacket(
            payload_type=0,
            sequence_number=0x1234,
            timestamp=0xDEADBEEF,
            ssrc=0x01020304,
            payload=b"\xff\xfe",
            marker=True,
        )
        assert packet.version == 2
        assert packet.header_size == 12

    def test_csrc_extension_and_padding_are_read_and_removed_from_the_payload(self) -> None:
        packet = parse_rtp(EVERYTHING)
        assert packet.csrc == (0x11111111, 0x22222222)
        assert packet.extension == RtpExtension(0xBEDE, bytes.fromhex("10AB0000"))
        assert packet.padding == 3
        assert packet.payload == b"hi"
        assert packet.payload_type == 96
        assert not packet.marker
        assert packet.header_size == 12 + 8 + 8

    @pytest.mark.parametrize(
        ("data", "message"),
        [
            pytest.param(PCMU_WITH_MARKER[:11], "shorter than the 12-octet", id="short"),
            pytest.param(b"\x40" + PCMU_WITH_MARKER[1:], "version is 1", id="version-1"),
            pytest.param(b"\x83" + PCMU_WITH_MARKER[1:], "CSRC count 3", id="csrc-past-end"),
            pytest.param(
                b"\x90" + PCMU_WITH_MARKER[1:], "extension header is missing", id="no-ext-header"
            ),
            pytest.param(
                b"\x90" + PCMU_WITH_MARKER[1:12] + bytes.fromhex("BEDE0005"),
                "extension length of 5 words",
                id="ext-too-long",
            ),
            pytest.param(
                b"\xa0" + PCMU_WITH_MARKER[1:12] + b"\x00", "count octet is 0", id="pad-0"
            ),
            pytest.param(
                b"\xa0" + PCMU_WITH_MARKER[1:12] + b"\x00\x09", "padding count 9", id="pad-big"
            ),
        ],
    )
    def test_malformed_packets_raise_saying_what_is_wrong(self, data: bytes, message: str) -> None:
        with pytest.raises(RtpParseError, match=message) as caught:
            RtpPacket.parse(data)
        assert isinstance(caught.value, RemoteProtocolError)
        assert isinstance(caught.value, ValueError)


class TestSerialize:
    """§5.1: writing the same bytes back."""

    def test_known_bytes_round_trip(self) -> None:
        assert parse_rtp(PCMU_WITH_MARKER).to_bytes() == PCMU_WITH_MARKER
        assert parse_rtp(EVERYTHING).to_bytes() == EVERYTHING

    def test_built_packet_has_the_expected_wire_form(self) -> None:
        packet = RtpPacket(
            payload_type=96,
            sequence_number=1,
            timestamp=16,
            ssrc=0xAABBCCDD,
            payload=b"hi",
            csrc=(0x11111111, 0x22222222),
            extension=RtpExtension(0xBEDE, bytes.fromhex("10AB0000")),
            padding=3,
        )
        assert packet.to_bytes() == EVERYTHING

    @pytest.mark.parametrize(
        "fields",
        [
            {"payload_type": 128},
            {"sequence_number": 65536},
            {"timestamp": -1},
            {"csrc": tuple(range(16))},
            {"padding": 256},
        ],
    )
    def test_out_of_range_fields_are_caller_errors(self, fields: dict[str, object]) -> None:
        base: dict[str, object] = {
            "payload_type": 0,
            "sequence_number": 0,
            "timestamp": 0,
            "ssrc": 0,
        }
        with pytest.raises(LocalProtocolError):
            RtpPacket(**(base | fields))  # type: ignore[arg-type]

    def test_extension_data_must_be_whole_words(self) -> None:
        with pytest.raises(LocalProtocolError, match="multiple of 4"):
            RtpExtension(0xBEDE, b"abc")


class TestDemultiplexing:
    """RFC 5761 §4: on a shared port, 192-223 in the second octet means RTCP."""

    SENDER_REPORT = bytes.fromhex("80C8 0006") + bytes(24)
    RECEIVER_REPORT = bytes.fromhex("81C9 0007") + bytes(28)

    def test_rtcp_sender_and_receiver_reports_look_like_rtcp(self) -> None:
        assert looks_like_rtcp(self.SENDER_REPORT)
        assert looks_like_rtcp(self.RECEIVER_REPORT)
        assert not is_rtp(self.SENDER_REPORT)
        assert not is_rtp(self.RECEIVER_REPORT)

    def test_audio_packets_are_rtp(self) -> None:
        assert is_rtp(PCMU_WITH_MARKER)
        assert is_rtp(EVERYTHING)
        assert not looks_like_rtcp(PCMU_WITH_MARKER)

    @pytest.mark.parametrize(
        "data",
        [b"", b"\x80", bytes(12), b"\x00\x01" + bytes(18), b"\x80\x48" + bytes(10)],
        ids=["empty", "one-octet", "version-0", "stun-like", "pt-72-reserved"],
    )
    def test_other_datagrams_are_neither(self, data: bytes) -> None:
        assert not is_rtp(data)
        assert not looks_like_rtcp(data)


def test_parsed_packet_is_an_ordinary_frozen_packet() -> None:
    """parse_rtp skips the constructor's range checks (a wire field cannot fail them),
    so what it returns must still equal, hash and freeze like a packet built by hand."""
    parsed = parse_rtp(EVERYTHING)
    built = RtpPacket(96, 1, 16, 0xAABBCCDD, b"hi", csrc=(0x11111111, 0x22222222),
                      extension=RtpExtension(0xBEDE, bytes.fromhex("10AB0000")), padding=3)
    assert parsed == built
    assert hash(parsed) == hash(built)
    assert repr(parsed) == repr(built)
    with pytest.raises(dataclasses.FrozenInstanceError):
        parsed.ssrc = 1  # type: ignore[misc]
