"""The RTP data packet: its fixed header, CSRC list, extension and padding (RFC 3550 §5.1, §5.3.1).

Every 20 ms of a phone call travels as one RTP packet over UDP. The first
twelve octets are always there::

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |V=2|P|X|  CC   |M|     PT      |       sequence number         |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                           timestamp                           |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |           synchronization source (SSRC) identifier            |
    +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
    |            contributing source (CSRC) identifiers             |
    |                             ....                              |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

* **V** is the version, always 2.
* **P** (padding): the packet ends with padding octets; the last octet
  counts them, itself included. Encryption with a block cipher needs it.
* **X** (extension): one header extension follows the CSRC list (§5.3.1):
  16 bits "defined by profile", a 16-bit length in 32-bit words, then data.
  WebRTC puts RFC 8285 extensions (audio level, MID) there.
* **CC**: how many CSRC identifiers follow (0-15). A mixer lists the
  sources it mixed into this packet.
* **M** (marker): profile-defined; for audio it marks the first packet of a
  talkspurt, for RFC 4733 DTMF the first packet of an event.
* **PT**: the payload type, 0 = PCMU, 8 = PCMA, 96-127 = dynamic, bound to a
  codec by the SDP ``a=rtpmap`` line.
* **sequence number**: +1 per packet, wraps at 65535; the receiver uses it
  to find loss and reordering.
* **timestamp**: the sampling instant of the first octet of the payload, in
  units of the codec clock (8000 Hz for G.711): +160 per 20 ms packet.
* **SSRC**: a random 32-bit number naming the sender's stream.

RTP and RTCP often share one port (RFC 5761, ``a=rtcp-mux``). The second
octet tells them apart: RTCP packet types 192-223 look like an RTP marker bit
plus payload types 64-95, which RTP therefore never uses (RFC 5761 §4).
:func:`is_rtp` and :func:`looks_like_rtcp` apply that rule without parsing.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from siplab.errors import LocalProtocolError, RemoteProtocolError

__all__ = [
    "RtpPacket",
    "RtpExtension",
    "RtpParseError",
    "parse_rtp",
    "is_rtp",
    "looks_like_rtcp",
    "RTP_VERSION",
    "RTP_HEADER_SIZE",
]

#: The only RTP version in use (RFC 3550 §5.1).
RTP_VERSION = 2
#: Size of the fixed header, before any CSRC or extension.
RTP_HEADER_SIZE = 12

_FIXED = struct.Struct("!BBHII")
_EXTENSION_HEADER = struct.Struct("!HH")


class RtpParseError(RemoteProtocolError, ValueError):
    """Bytes that are not a valid RTP or RTCP packet; the message says what is wrong."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status=400, reason="Bad Request")


@dataclass(frozen=True, slots=True)
class RtpExtension:
    """The one RTP header extension of RFC 3550 §5.3.1.

    ``profile`` is the 16-bit "defined by profile" value (0xBEDE for RFC 8285
    one-byte extensions); ``data`` is a whole number of 32-bit words.
    """

    profile: int
    data: bytes = b""

    def __post_init__(self) -> None:
        if not 0 <= self.profile <= 0xFFFF:
            raise LocalProtocolError(f"extension profile {self.profile} is not 16 bits")
        if len(self.data) % 4:
            raise LocalProtocolError(
                f"extension data is {len(self.data)} octets, not a multiple of 4"
            )
        if len(self.data) // 4 > 0xFFFF:
            raise LocalProtocolError("extension data is longer than 65535 words")


@dataclass(frozen=True, slots=True)
class RtpPacket:
    """One RTP packet (RFC 3550 §5.1). ``parse(data)`` reads one, ``to_bytes()`` writes it.

    ``padding`` is the number of padding octets at the end, the count octet
    included (0 means no padding, so the P bit is clear). Padding octets are
    written as zeros; only their number survives a round trip.
    """

    payload_type: int
    sequence_number: int
    timestamp: int
    ssrc: int
    payload: bytes = b""
    marker: bool = False
    csrc: tuple[int, ...] = ()
    extension: RtpExtension | None = None
    padding: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.payload_type <= 127:
            raise LocalProtocolError(f"payload type {self.payload_type} is not 0-127")
        if not 0 <= self.sequence_number <= 0xFFFF:
            raise LocalProtocolError(f"sequence number {self.sequence_number} is not 16 bits")
        if not 0 <= self.timestamp <= 0xFFFFFFFF:
            raise LocalProtocolError(f"timestamp {self.timestamp} is not 32 bits")
        if not 0 <= self.ssrc <= 0xFFFFFFFF:
            raise LocalProtocolError(f"SSRC {self.ssrc} is not 32 bits")
        if len(self.csrc) > 15:
            raise LocalProtocolError(f"{len(self.csrc)} CSRCs; the CC field holds at most 15")
        if any(not 0 <= c <= 0xFFFFFFFF for c in self.csrc):
            raise LocalProtocolError("a CSRC is not 32 bits")
        if not 0 <= self.padding <= 255:
            raise LocalProtocolError(f"padding {self.padding} is not 0-255 octets")

    # RFC 3550 §5.1: "This field identifies the version of RTP ... (2)".
    @property
    def version(self) -> int:
        """Always 2."""
        return RTP_VERSION

    @property
    def header_size(self) -> int:
        """Octets before the payload: fixed header, CSRCs and extension."""
        size = RTP_HEADER_SIZE + 4 * len(self.csrc)
        if self.extension is not None:
            size += 4 + len(self.extension.data)
        return size

    @classmethod
    def parse(cls, data: bytes) -> RtpPacket:
        """Read one RTP packet; raise :class:`RtpParseError` saying what is wrong."""
        return parse_rtp(data)

    def to_bytes(self) -> bytes:
        """The packet as sent on the wire."""
        first = (RTP_VERSION << 6) | len(self.csrc)
        if self.padding:
            first |= 0x20
        if self.extension is not None:
            first |= 0x10
        second = (0x80 if self.marker else 0) | self.payload_type
        parts = [_FIXED.pack(first, second, self.sequence_number, self.timestamp, self.ssrc)]
        if self.csrc:
            parts.append(struct.pack(f"!{len(self.csrc)}I", *self.csrc))
        if self.extension is not None:
            words = len(self.extension.data) // 4
            parts.append(_EXTENSION_HEADER.pack(self.extension.profile, words))
            parts.append(self.extension.data)
        parts.append(self.payload)
        if self.padding:
            parts.append(bytes(self.padding - 1) + bytes([self.padding]))
        return b"".join(parts)


def parse_rtp(data: bytes) -> RtpPacket:
    """Read one RTP packet from a datagram (RFC 3550 §5.1, §5.3.1).

    Raises :class:`RtpParseError` when the datagram is too short, is not
    version 2, or when the CSRC count, the extension length or the padding
    count point past its end.
    """
    data = bytes(data)
    if len(data) < RTP_HEADER_SIZE:
        raise RtpParseError(
            f"RTP packet of {len(data)} octets is shorter than the 12-octet fixed header"
        )
    first, second, seq, timestamp, ssrc = _FIXED.unpack_from(data)
    version = first >> 6
    if version != RTP_VERSION:
        raise RtpParseError(f"RTP version is {version}, not 2")
    csrc_count = first & 0x0F
    offset = RTP_HEADER_SIZE
    end = len(data)

    if first & 0x20:  # P: the last octet counts the padding, itself included
        padding = data[-1]
        if padding == 0:
            raise RtpParseError("padding bit set but the padding count octet is 0")
        end -= padding
        if end < RTP_HEADER_SIZE:
            raise RtpParseError(f"padding count {padding} overlaps the 12-octet header")
    else:
        padding = 0

    if offset + 4 * csrc_count > end:
        raise RtpParseError(f"CSRC count {csrc_count} runs past the end of the packet")
    csrc = struct.unpack_from(f"!{csrc_count}I", data, offset) if csrc_count else ()
    offset += 4 * csrc_count

    extension = None
    if first & 0x10:  # X: one extension header after the CSRCs (§5.3.1)
        if offset + 4 > end:
            raise RtpParseError("extension bit set but the extension header is missing")
        profile, words = _EXTENSION_HEADER.unpack_from(data, offset)
        offset += 4
        if offset + 4 * words > end:
            raise RtpParseError(f"extension length of {words} words runs past the end")
        extension = RtpExtension(profile, data[offset : offset + 4 * words])
        offset += 4 * words

    return _from_wire(
        second & 0x7F, seq, timestamp, ssrc, data[offset:end], bool(second & 0x80),
        tuple(csrc), extension, padding,
    )


# Setting the slots of a new packet directly skips ``__post_init__``: its range checks
# guard against a caller's mistake, and every field read from the wire passes them by
# construction (each is cut from its own bits). A receiver parses fifty packets a second
# per call, and the checks and the frozen dataclass's __init__ were half of the cost.
(_set_payload_type, _set_sequence_number, _set_timestamp, _set_ssrc, _set_payload,
 _set_marker, _set_csrc, _set_extension, _set_padding) = (
    getattr(RtpPacket, name).__set__
    for name in ("payload_type", "sequence_number", "timestamp", "ssrc", "payload", "marker",
                 "csrc", "extension", "padding")
)


def _from_wire(
    payload_type: int, sequence_number: int, timestamp: int, ssrc: int, payload: bytes,
    marker: bool, csrc: tuple[int, ...], extension: RtpExtension | None, padding: int,
) -> RtpPacket:
    packet: RtpPacket = object.__new__(RtpPacket)
    _set_payload_type(packet, payload_type)
    _set_sequence_number(packet, sequence_number)
    _set_timestamp(packet, timestamp)
    _set_ssrc(packet, ssrc)
    _set_payload(packet, payload)
    _set_marker(packet, marker)
    _set_csrc(packet, csrc)
    _set_extension(packet, extension)
    _set_padding(packet, padding)
    return packet


def looks_like_rtcp(data: bytes) -> bool:
    """True if a datagram on a shared RTP/RTCP port is RTCP (RFC 5761 §4).

    Version 2, a whole number of 32-bit words, and a second octet of 192-223:
    RTCP's packet types (SR = 200, RR = 201, ... ) read as RTP they would be the
    marker bit plus payload types 64-95, which RTP must not use on a muxed port.
    """
    return len(data) >= 4 and len(data) % 4 == 0 and data[0] >> 6 == 2 and 192 <= data[1] <= 223


def is_rtp(data: bytes) -> bool:
    """True if a datagram can be an RTP packet: version 2, 12 octets or more, not RTCP.

    A cheap classifier for demultiplexing a socket or scanning a capture; it
    reads two octets and does not check the rest (use :func:`parse_rtp` for that).
    """
    return len(data) >= RTP_HEADER_SIZE and data[0] >> 6 == 2 and not 64 <= data[1] & 0x7F <= 95
