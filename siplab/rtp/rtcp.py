"""RTCP, RTP's control protocol: reports, names and goodbyes (RFC 3550 §6).

Alongside the media, every participant sends a few RTCP packets per second
at most (§6.2 keeps RTCP to 5% of the session bandwidth). Each datagram is a
*compound* packet: several RTCP packets back to back, each starting with the
same four-octet header (§6.4.1)::

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |V=2|P|    RC   |   PT=SR=200   |             length            |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

``length`` counts the packet's 32-bit words minus one, so a receiver can skip
a type it does not know. The five types of RFC 3550:

* **SR** (200, §6.4.1), sender report: "I sent *n* packets and *m* octets,
  and this RTP timestamp corresponds to this wallclock (NTP) time", followed
  by reception report blocks about the sources it hears.
* **RR** (201, §6.4.2), receiver report: the same blocks, from a participant
  that sends no media.
* **SDES** (202, §6.5), source description: CNAME (the persistent name of an
  endpoint, the only mandatory item), NAME, EMAIL, TOOL...
* **BYE** (203, §6.6): these sources are leaving, optionally with a reason.
* **APP** (204, §6.7): application-defined, named by four ASCII characters.

A compound packet starts with an SR or RR and carries an SDES with a CNAME
(§6.1); later RFCs add feedback (RTPFB 205, PSFB 206) and XR (207). Types
this module does not model are kept as :class:`RtcpUnknown` so they survive a
parse/serialize round trip.

A **report block** (§6.4.1) is what one receiver says about one sender:
the fraction lost since the last report (8-bit fixed point, /256), the
cumulative number lost (signed 24 bits: duplicates can make it negative), the
extended highest sequence number received, the interarrival jitter (in
timestamp units, RFC 3550 A.8), and LSR/DLSR, which let the *sender* compute
the round-trip time: ``RTT = A - LSR - DLSR`` where A is when the report
arrived, all in 1/65536 s (§6.4.1, Figure 2; :func:`round_trip_time`).

Times in RTCP are NTP timestamps: 64 bits, seconds since 1900 and a binary
fraction. :func:`ntp_from_unix` converts a Unix time (seconds since 1970,
passed in by the caller: this module reads no clock) by adding the 70 years
between the two epochs.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum

from siplab.errors import LocalProtocolError
from siplab.rtp.packet import RtpParseError

__all__ = [
    "RtcpType",
    "SdesItemType",
    "ReportBlock",
    "SenderReport",
    "ReceiverReport",
    "SdesChunk",
    "SourceDescription",
    "Bye",
    "App",
    "RtcpUnknown",
    "RtcpPacket",
    "RtcpParseError",
    "parse_rtcp",
    "serialize_rtcp",
    "cname_of",
    "NTP_EPOCH_OFFSET",
    "ntp_from_unix",
    "ntp_to_unix",
    "ntp_short",
    "ntp_short_from_unix",
    "round_trip_time",
]

#: Seconds from 1900-01-01 (NTP epoch) to 1970-01-01 (Unix epoch): 70 years, 17 leap days.
NTP_EPOCH_OFFSET = 2_208_988_800


class RtcpParseError(RtpParseError):
    """Bytes that are not a valid RTCP compound packet."""


class RtcpType(IntEnum):
    """RTCP packet types (RFC 3550 §12.1; feedback and XR from RFC 4585 and 3611)."""

    SR = 200
    RR = 201
    SDES = 202
    BYE = 203
    APP = 204
    RTPFB = 205
    PSFB = 206
    XR = 207


class SdesItemType(IntEnum):
    """SDES item types (RFC 3550 §6.5)."""

    END = 0
    CNAME = 1
    NAME = 2
    EMAIL = 3
    PHONE = 4
    LOC = 5
    TOOL = 6
    NOTE = 7
    PRIV = 8


# --- NTP time (RFC 3550 §4) ----------------------------------------------------


def ntp_from_unix(unix_time: float) -> int:
    """The 64-bit NTP timestamp for a Unix time in seconds (upper 32 bits: seconds since 1900)."""
    seconds = int(unix_time // 1) + NTP_EPOCH_OFFSET
    fraction = round((unix_time % 1) * (1 << 32))
    if fraction >= 1 << 32:  # rounding carried into the next second
        seconds, fraction = seconds + 1, 0
    return ((seconds & 0xFFFFFFFF) << 32) | fraction


def ntp_to_unix(ntp: int) -> float:
    """The Unix time in seconds of a 64-bit NTP timestamp."""
    return (ntp >> 32) - NTP_EPOCH_OFFSET + (ntp & 0xFFFFFFFF) / (1 << 32)


def ntp_short(ntp: int) -> int:
    """The middle 32 bits of an NTP timestamp (16.16 fixed point), as LSR and RTT use (§6.4.1)."""
    return (ntp >> 16) & 0xFFFFFFFF


def ntp_short_from_unix(unix_time: float) -> int:
    """The middle 32 bits of the NTP timestamp of a Unix time."""
    return ntp_short(ntp_from_unix(unix_time))


def round_trip_time(arrival: int, lsr: int, dlsr: int) -> float:
    """RTT in seconds from a report block: ``A - LSR - DLSR`` (RFC 3550 §6.4.1, Figure 2).

    ``arrival`` is the middle 32 bits of the NTP time the report arrived
    (:func:`ntp_short_from_unix`); ``lsr`` and ``dlsr`` come from the report
    block. All three are in 1/65536 s and the subtraction is modulo 2**32.
    Returns 0.0 when ``lsr`` is 0: the peer had not received an SR yet.
    """
    if lsr == 0:
        return 0.0
    return ((arrival - lsr - dlsr) & 0xFFFFFFFF) / 65536


# --- packets -----------------------------------------------------------------------

_HEADER = struct.Struct("!BBH")
_REPORT_BLOCK = struct.Struct("!IIIIII")
_SENDER_INFO = struct.Struct("!IQIII")


@dataclass(frozen=True, slots=True)
class ReportBlock:
    """One reception report block (RFC 3550 §6.4.1): what we heard from ``ssrc``."""

    ssrc: int
    fraction_lost: int = 0  # lost fraction since the last report, times 256 (0-255)
    cumulative_lost: int = 0  # signed 24 bits: duplicates make it negative
    highest_sequence: int = 0  # extended highest sequence number received (cycles << 16 | seq)
    jitter: int = 0  # interarrival jitter, timestamp units
    lsr: int = 0  # middle 32 bits of the last SR's NTP timestamp, 0 if none
    dlsr: int = 0  # delay since that SR, 1/65536 s

    def __post_init__(self) -> None:
        if not 0 <= self.fraction_lost <= 255:
            raise LocalProtocolError(f"fraction lost {self.fraction_lost} is not 0-255")
        if not -(1 << 23) <= self.cumulative_lost < 1 << 23:
            raise LocalProtocolError(f"cumulative lost {self.cumulative_lost} is not 24 bits")

    def to_bytes(self) -> bytes:
        lost = (self.fraction_lost << 24) | (self.cumulative_lost & 0xFFFFFF)
        return _REPORT_BLOCK.pack(
            self.ssrc, lost, self.highest_sequence, self.jitter, self.lsr, self.dlsr
        )

    @classmethod
    def parse(cls, data: bytes, offset: int = 0) -> ReportBlock:
        ssrc, lost, highest, jitter, lsr, dlsr = _REPORT_BLOCK.unpack_from(data, offset)
        cumulative = lost & 0xFFFFFF
        if cumulative & 0x800000:  # sign-extend the 24-bit two's complement value
            cumulative -= 1 << 24
        return cls(ssrc, lost >> 24, cumulative, highest, jitter, lsr, dlsr)


@dataclass(frozen=True, slots=True)
class SenderReport:
    """SR (RFC 3550 §6.4.1): sender info plus reception report blocks."""

    ssrc: int
    ntp_timestamp: int  # 64-bit NTP wallclock time of this report
    rtp_timestamp: int  # the same instant on the RTP media clock
    packet_count: int  # RTP packets sent since the start
    octet_count: int  # payload octets sent since the start (no headers, no padding)
    reports: tuple[ReportBlock, ...] = ()
    extension: bytes = b""  # profile-specific extension, whole words

    @property
    def ntp_unix_time(self) -> float:
        return ntp_to_unix(self.ntp_timestamp)

    def _body(self) -> tuple[int, bytes]:
        info = _SENDER_INFO.pack(
            self.ssrc, self.ntp_timestamp, self.rtp_timestamp, self.packet_count, self.octet_count
        )
        blocks = b"".join(block.to_bytes() for block in self.reports)
        return len(self.reports), info + blocks + self.extension


@dataclass(frozen=True, slots=True)
class ReceiverReport:
    """RR (RFC 3550 §6.4.2): the reporter's SSRC and its report blocks."""

    ssrc: int
    reports: tuple[ReportBlock, ...] = ()
    extension: bytes = b""

    def _body(self) -> tuple[int, bytes]:
        blocks = b"".join(block.to_bytes() for block in self.reports)
        return len(self.reports), struct.pack("!I", self.ssrc) + blocks + self.extension


@dataclass(frozen=True, slots=True)
class SdesChunk:
    """One SDES chunk: a source and its items as (type, value) pairs (RFC 3550 §6.5)."""

    ssrc: int
    items: tuple[tuple[int, bytes], ...] = ()

    @property
    def cname(self) -> str | None:
        for kind, value in self.items:
            if kind == SdesItemType.CNAME:
                return value.decode("utf-8", "replace")
        return None

    def to_bytes(self) -> bytes:
        out = bytearray(struct.pack("!I", self.ssrc))
        for kind, value in self.items:
            if not 1 <= kind <= 255 or len(value) > 255:
                raise LocalProtocolError(f"SDES item type {kind} or length {len(value)} invalid")
            out += bytes([kind, len(value)]) + value
        # A null item ends the list; then zeros up to the next 32-bit boundary (§6.5).
        out += bytes(4 - len(out) % 4)
        return bytes(out)


@dataclass(frozen=True, slots=True)
class SourceDescription:
    """SDES (RFC 3550 §6.5): one chunk per source."""

    chunks: tuple[SdesChunk, ...] = ()

    @classmethod
    def with_cname(cls, ssrc: int, cname: str) -> SourceDescription:
        """The SDES every compound packet carries: one source and its CNAME."""
        return cls((SdesChunk(ssrc, ((SdesItemType.CNAME, cname.encode("utf-8")),)),))

    def _body(self) -> tuple[int, bytes]:
        return len(self.chunks), b"".join(chunk.to_bytes() for chunk in self.chunks)


@dataclass(frozen=True, slots=True)
class Bye:
    """BYE (RFC 3550 §6.6): the sources leaving, and optionally why."""

    sources: tuple[int, ...] = ()
    reason: str = ""

    def _body(self) -> tuple[int, bytes]:
        body = b"".join(struct.pack("!I", s) for s in self.sources)
        if self.reason:
            text = self.reason.encode("utf-8")
            if len(text) > 255:
                raise LocalProtocolError("BYE reason is longer than 255 octets")
            body += bytes([len(text)]) + text
            body += bytes(-len(body) % 4)
        return len(self.sources), body


@dataclass(frozen=True, slots=True)
class App:
    """APP (RFC 3550 §6.7): application-defined data, carried through untouched."""

    subtype: int
    ssrc: int
    name: bytes  # four ASCII characters
    data: bytes = b""  # whole 32-bit words

    def _body(self) -> tuple[int, bytes]:
        if len(self.name) != 4:
            raise LocalProtocolError(f"APP name {self.name!r} is not 4 octets")
        if len(self.data) % 4:
            raise LocalProtocolError("APP data is not a whole number of 32-bit words")
        return self.subtype, struct.pack("!I", self.ssrc) + self.name + self.data


@dataclass(frozen=True, slots=True)
class RtcpUnknown:
    """An RTCP packet of a type not modelled here (RTPFB, PSFB, XR...), kept as bytes."""

    packet_type: int
    count: int  # the 5-bit field after the padding bit
    body: bytes  # everything after the 4-octet header, whole words

    def _body(self) -> tuple[int, bytes]:
        return self.count, self.body


RtcpPacket = SenderReport | ReceiverReport | SourceDescription | Bye | App | RtcpUnknown

_TYPES: dict[type, int] = {
    SenderReport: RtcpType.SR,
    ReceiverReport: RtcpType.RR,
    SourceDescription: RtcpType.SDES,
    Bye: RtcpType.BYE,
    App: RtcpType.APP,
}


def serialize_rtcp(packets: Iterable[RtcpPacket]) -> bytes:
    """A compound RTCP packet: each packet's header and body, back to back (§6.1)."""
    out = bytearray()
    for packet in packets:
        count, body = packet._body()
        if not 0 <= count <= 31:
            raise LocalProtocolError(f"{count} items do not fit the 5-bit count field")
        if len(body) % 4:
            raise LocalProtocolError("RTCP packet body is not a whole number of 32-bit words")
        kind = packet.packet_type if isinstance(packet, RtcpUnknown) else _TYPES[type(packet)]
        out += _HEADER.pack(0x80 | count, kind, len(body) // 4) + body
    return bytes(out)


def parse_rtcp(data: bytes) -> list[RtcpPacket]:
    """Read a compound RTCP packet into its packets, in order (RFC 3550 §6.1, A.2).

    Raises :class:`RtcpParseError` if a header is not version 2, a length
    runs past the datagram, a body is too short for its count, or padding
    appears anywhere but in the last packet.
    """
    data = bytes(data)
    if len(data) < 4:
        raise RtcpParseError(f"RTCP datagram of {len(data)} octets is shorter than a header")
    packets: list[RtcpPacket] = []
    offset = 0
    while offset < len(data):
        if offset + 4 > len(data):
            raise RtcpParseError(f"{len(data) - offset} stray octets after the last RTCP packet")
        first, kind, words = _HEADER.unpack_from(data, offset)
        if first >> 6 != 2:
            raise RtcpParseError(f"RTCP version is {first >> 6}, not 2 (packet at octet {offset})")
        end = offset + 4 + 4 * words
        if end > len(data):
            raise RtcpParseError(
                f"RTCP length of {words} words at octet {offset} runs past the datagram"
            )
        body_end = end
        if first & 0x20:  # padding: allowed only in the last packet (A.2)
            if end != len(data):
                raise RtcpParseError("padding bit set on an RTCP packet that is not the last")
            padding = data[end - 1]
            if padding == 0 or padding > 4 * words:
                raise RtcpParseError(f"RTCP padding count {padding} is invalid")
            body_end -= padding
        packets.append(_parse_one(kind, first & 0x1F, data[offset + 4 : body_end]))
        offset = end
    return packets


def _parse_one(kind: int, count: int, body: bytes) -> RtcpPacket:
    if kind == RtcpType.SR:
        need = 24 + 24 * count
        _need(body, need, f"SR with {count} report blocks")
        ssrc, ntp, rtp_ts, packets, octets = _SENDER_INFO.unpack_from(body)
        blocks = _report_blocks(body, 24, count)
        return SenderReport(ssrc, ntp, rtp_ts, packets, octets, blocks, body[need:])
    if kind == RtcpType.RR:
        need = 4 + 24 * count
        _need(body, need, f"RR with {count} report blocks")
        (ssrc,) = struct.unpack_from("!I", body)
        return ReceiverReport(ssrc, _report_blocks(body, 4, count), body[need:])
    if kind == RtcpType.SDES:
        return SourceDescription(_sdes_chunks(body, count))
    if kind == RtcpType.BYE:
        _need(body, 4 * count, f"BYE with {count} sources")
        sources = struct.unpack_from(f"!{count}I", body) if count else ()
        reason = ""
        rest = body[4 * count :]
        if rest:
            length = rest[0]
            if 1 + length > len(rest):
                raise RtcpParseError(f"BYE reason length {length} runs past the packet")
            reason = rest[1 : 1 + length].decode("utf-8", "replace")
        return Bye(tuple(sources), reason)
    if kind == RtcpType.APP:
        _need(body, 8, "APP")
        (ssrc,) = struct.unpack_from("!I", body)
        return App(count, ssrc, body[4:8], body[8 : 8 + (len(body) - 8) // 4 * 4])
    return RtcpUnknown(kind, count, body + bytes(-len(body) % 4))


def _need(body: bytes, size: int, what: str) -> None:
    if len(body) < size:
        raise RtcpParseError(f"{what} needs {size} octets of body, has {len(body)}")


def _report_blocks(body: bytes, offset: int, count: int) -> tuple[ReportBlock, ...]:
    return tuple(ReportBlock.parse(body, offset + 24 * i) for i in range(count))


def _sdes_chunks(body: bytes, count: int) -> tuple[SdesChunk, ...]:
    chunks = []
    offset = 0
    for _ in range(count):
        if offset + 4 > len(body):
            raise RtcpParseError(f"SDES says {count} chunks but the packet ends early")
        (ssrc,) = struct.unpack_from("!I", body, offset)
        offset += 4
        items: list[tuple[int, bytes]] = []
        while True:
            if offset >= len(body):
                raise RtcpParseError("SDES chunk has no terminating null item")
            kind = body[offset]
            if kind == SdesItemType.END:
                offset += 4 - offset % 4  # the null item, then pad to a word boundary
                break
            if offset + 2 > len(body) or offset + 2 + body[offset + 1] > len(body):
                raise RtcpParseError(f"SDES item of type {kind} runs past the packet")
            length = body[offset + 1]
            items.append((kind, body[offset + 2 : offset + 2 + length]))
            offset += 2 + length
        chunks.append(SdesChunk(ssrc, tuple(items)))
    return tuple(chunks)


def cname_of(packets: Sequence[RtcpPacket], ssrc: int) -> str | None:
    """The CNAME a compound packet gives for ``ssrc``, if any."""
    for packet in packets:
        if isinstance(packet, SourceDescription):
            for chunk in packet.chunks:
                if chunk.ssrc == ssrc and chunk.cname is not None:
                    return chunk.cname
    return None
