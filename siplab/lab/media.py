"""Which UDP datagrams of a capture are RTP and RTCP: the way Wireshark decides.

RTP has no well-known port. A phone picks any even port, says so in its SDP
(RFC 3264 §5: ``c=IN IP4 192.0.2.1`` and ``m=audio 49170 RTP/AVP 0``, RFC 8866
§5.7, §5.14), and RTCP goes to the next port up (RFC 3550 §11) unless the SDP
says otherwise. So a capture reader must *read the signalling* to know where
the media is. Wireshark does exactly that, and so does :class:`MediaTracker`:

1. **SDP conversations.** Every SDP body in a SIP message (offer or answer)
   registers its address and port as an RTP "conversation", with that media
   description's ``a=rtpmap`` payload types (how a dynamic type like 96 maps to
   ``opus/48000``), and port + 1 as RTCP. From that frame on, any datagram from
   or to that address and port is RTP (or RTCP).
2. **Ports other protocols own.** A datagram to or from a port some dissector
   claims (5060 is SIP, 53 is DNS, 5072 is AYIYA, FACTS.md) is theirs.
3. **Heuristics**, for media whose signalling was not captured (Wireshark's
   ``rtp.heuristic_rtp`` and ``rtcp.heuristic_rtcp``, off by default there, on
   here): version 2 in the first two bits, then the second octet decides. A
   value of 192-223 is an RTCP packet type (RFC 5761 §4 keeps RTP from using
   it), and the datagram is RTCP if its length is a multiple of four (RFC 3550
   §6.4.1), else neither. Any other value makes it RTP, and the first such
   datagram opens a conversation for its two ports, so the packets coming back
   are RTP too. The port's parity plays no part (measured: tshark 4.0 takes
   RTP to an odd port as RTP).

:meth:`MediaTracker.classify` looks a datagram up in that order. A stream is
then told apart by its two endpoints *and* its SSRC (RFC 3550 §3), which is
what :class:`RtpStream` collects, column by column, for
:class:`~siplab.rtp.wireshark.WiresharkStats`.

Addresses are kept packed (4 or 16 bytes, as in the IP header) so that the
reader's inner loop never formats an address it does not need.
"""

from __future__ import annotations

import socket
from array import array
from collections.abc import Mapping
from dataclasses import dataclass, field

from siplab.rtp.wireshark import WiresharkStats
from siplab.sip.transport import Peer

__all__ = [
    "Conversation",
    "MediaTracker",
    "RtpStream",
    "sdp_media",
    "SdpMedia",
    "host_of",
    "pack_host",
    "RESERVED_UDP_PORTS",
    "SIP_PORTS",
]

#: UDP ports that Wireshark hands to SIP by port number.
SIP_PORTS = frozenset({5060})
#: The UDP ports Wireshark 4.0 gives to a dissector by default (``tshark -G decodes``,
#: the ``udp.port`` table: DNS 53, SIP 5060, AYIYA 5072, PROFINET 34962...). A datagram
#: to or from one of them is that protocol's, so the RTP heuristic leaves it alone.
RESERVED_UDP_PORTS = frozenset({
    0, 7, 13, 19, 37, 49, 53, 67, 68, 69, 88, 111, 123, 137, 138, 161, 162, 173, 177, 213, 269,
    319, 320, 389, 427, 434, 464, 473, 496, 500, 502, 513, 514, 520, 521, 524, 525, 539, 546,
    547, 573, 623, 631, 646, 654, 664, 698, 699, 701, 750, 853, 854, 910, 921, 925, 1001, 1044,
    1052, 1069, 1089, 1090, 1091, 1101, 1113, 1153, 1194, 1293, 1547, 1628, 1629, 1645, 1646,
    1700, 1701, 1718, 1719, 1745, 1755, 1812, 1813, 1900, 1985, 2029, 2048, 2055, 2067, 2099,
    2123, 2152, 2157, 2190, 2221, 2222, 2231, 2246, 2268, 2269, 2313, 2345, 2424, 2427, 2428,
    2727, 2887, 2944, 2945, 2948, 2949, 2960, 3000, 3121, 3130, 3205, 3222, 3250, 3333, 3343,
    3357, 3386, 3389, 3452, 3455, 3478, 3483, 3503, 3540, 3544, 3567, 3622, 3671, 3784, 3785,
    3792, 3799, 3804, 3819, 3863, 3956, 4000, 4011, 4058, 4305, 4306, 4307, 4341, 4342, 4500,
    4533, 4534, 4551, 4555, 4556, 4569, 4665, 4672, 4713, 4729, 4739, 4754, 4784, 4789, 4790,
    4791, 4991, 5000, 5001, 5031, 5050, 5060, 5072, 5094, 5246, 5247, 5264, 5265, 5350, 5351,
    5353, 5355, 5404, 5405, 5436, 5555, 5567, 5678, 5683, 5684, 5868, 6060, 6073, 6081, 6084,
    6087, 6118, 6160, 6343, 6543, 6635, 6666, 6696, 6784, 6970, 7000, 7001, 7002, 7003, 7004,
    7005, 7006, 7007, 7008, 7009, 7010, 7021, 7074, 7075, 7255, 7275, 7784, 8000, 8116, 8161,
    8200, 8211, 8600, 8611, 8612, 8613, 8614, 8755, 8767, 8805, 8848, 9003, 9200, 9201, 9202,
    9203, 9214, 9600, 9875, 9877, 9899, 9901, 9955, 9956, 9996, 9999, 10253, 10500, 11211,
    11273, 11898, 12000, 12001, 12002, 12003, 12004, 12220, 12222, 12223, 13400, 13819, 13907,
    13910, 17220, 17500, 17754, 17755, 17756, 18246, 19132, 19788, 19948, 19999, 20000, 20561,
    22222, 23272, 24576, 24577, 25826, 26000, 27036, 27500, 27910, 27950, 27951, 27952, 27953,
    27960, 27961, 27962, 27963, 30030, 32000, 32512, 34962, 34980, 37008, 41170, 44818, 45564,
    47000, 47808, 49999, 54328, 56000, 56001, 56500, 56501, 57000, 57001, 57032, 57033, 57500,
    57501, 57532, 57533, 59000, 59001, 59032, 59033, 59500, 59501, 59532, 59533, 60001,
})  # fmt: skip
#: RTCP packet types a compound packet may start with, for the heuristic (SR, RR, BYE, APP, PSFB).
# The second octet of an RTCP packet is its type, 192-223 (RFC 5761 §4: the range
# RTP payload types 64-95 with the marker bit would occupy).
_RTCP_TYPES_FIRST = 192
_RTCP_TYPES_LAST = 223


def pack_host(host: str) -> bytes:
    """``"127.0.0.1"`` -> 4 bytes, ``"::1"`` -> 16 bytes (the form IP headers carry)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.inet_pton(family, host)


def host_of(packed: bytes) -> str:
    """The text form of a packed IPv4 or IPv6 address."""
    return socket.inet_ntop(socket.AF_INET6 if len(packed) == 16 else socket.AF_INET, packed)


@dataclass(frozen=True, slots=True)
class SdpMedia:
    """What a capture reader needs from one ``m=`` line: where, and which payload types."""

    media: str  # "audio", "video"
    host: str  # from the media's c= line, or the session's
    port: int
    proto: str  # "RTP/AVP", "RTP/SAVPF", "UDP/TLS/RTP/SAVPF"...
    rtpmap: Mapping[int, tuple[str, int]]  # payload type -> (encoding name, clock rate)
    rtcp_port: int | None  # a=rtcp (RFC 3605), else None (port + 1)


def _digits(text: str) -> bool:
    """Short ASCII digits: int() refuses "²" (isdigit() is true) and 4300+ digits."""
    return text.isascii() and text.isdigit() and len(text) <= 10


def sdp_media(body: bytes) -> list[SdpMedia]:
    """The media descriptions of an SDP body, read leniently (like Wireshark, never raises).

    Only ``c=``, ``m=``, ``a=rtpmap`` and ``a=rtcp`` matter here. A media line
    with port 0 (a refused stream, RFC 3264 §6) or without an address is left out.
    """
    found: list[SdpMedia] = []
    session_host: str | None = None
    current: dict[str, object] | None = None

    def close() -> None:
        if current is not None and current["port"] and current["host"]:
            found.append(SdpMedia(**current))  # type: ignore[arg-type]

    for raw in body.decode("utf-8", "replace").splitlines():
        line = raw.strip()
        kind, equals, value = line.partition("=")
        if not equals or len(kind) != 1:
            continue
        fields = value.split()
        if kind == "m" and len(fields) >= 3:
            close()
            port_text = fields[1].split("/")[0]
            current = {"media": fields[0], "host": session_host, "proto": fields[2],
                       "port": int(port_text) if _digits(port_text) else 0,
                       "rtpmap": {}, "rtcp_port": None}
        elif kind == "c" and len(fields) >= 3:
            host = fields[2].split("/")[0]
            if current is None:
                session_host = host
            else:
                current["host"] = host
        elif kind == "a" and current is not None:
            name, _, rest = value.partition(":")
            parts = rest.split()
            if name == "rtpmap" and len(parts) >= 2 and _digits(parts[0]):
                encoding, _, rate = parts[1].partition("/")
                rates = current["rtpmap"]
                assert isinstance(rates, dict)
                rates[int(parts[0])] = (encoding, int(rate.split("/")[0] or 0)
                                        if _digits(rate.split("/")[0]) else 0)
            elif name == "rtcp" and parts and _digits(parts[0]):
                current["rtcp_port"] = int(parts[0])
    close()
    return found


@dataclass(slots=True)
class Conversation:
    """Where Wireshark decided a protocol lives: RTP or RTCP, set up by SDP or a heuristic."""

    kind: str  # "rtp" or "rtcp"
    setup: str  # "SDP" or "heuristic"
    frame: int  # the frame that set it up
    rtpmap: Mapping[int, tuple[str, int]] = field(default_factory=dict)


class MediaTracker:
    """The conversation tables of one capture, filled in capture order (see the module doc)."""

    def __init__(self, *, heuristics: bool = True) -> None:
        self.heuristics = heuristics
        # (address, port) from SDP; (address, port, other port) from the heuristic.
        self._sdp: dict[tuple[bytes, int], Conversation] = {}
        self._heuristic: dict[tuple[bytes, int, int], Conversation] = {}

    def learn_sdp(self, body: bytes, frame: int) -> None:
        """Register the RTP and RTCP addresses of one SDP body (offer or answer)."""
        for media in sdp_media(body):
            if "RTP" not in media.proto.upper():
                continue  # T.38 (udptl), MSRP, BFCP...: not RTP
            try:
                address = pack_host(media.host)
            except (OSError, ValueError):  # ValueError: a NUL in the address
                continue  # a host name, or "0.0.0.0"-style junk: nothing to match on
            self._sdp[(address, media.port)] = Conversation("rtp", "SDP", frame, media.rtpmap)
            rtcp_port = media.rtcp_port or media.port + 1
            if rtcp_port != media.port:  # RFC 5761 rtcp-mux: one port for both
                self._sdp[(address, rtcp_port)] = Conversation("rtcp", "SDP", frame)

    def lookup(self, src: bytes, sport: int, dst: bytes, dport: int) -> Conversation | None:
        """The conversation a datagram belongs to, searched in Wireshark's order.

        A heuristic conversation (both ports known) comes before an SDP one
        (one address and port). Between two SDP conversations, the
        destination's wins: a packet is read with the payload types of the SDP
        of the side that *receives* it, the side that said "send me PT 101 as
        telephone-event" (checked against tshark on sipp's DTMF call).
        """
        heuristic = self._heuristic
        if heuristic:
            found = heuristic.get((dst, dport, sport)) or heuristic.get((src, sport, dport))
            if found is not None:
                return found
        return self._sdp.get((dst, dport)) or self._sdp.get((src, sport))

    def classify(self, src: bytes, sport: int, dst: bytes, dport: int, head: bytes,
                 length: int, frame: int) -> Conversation | None:
        """RTP or RTCP conversation for this datagram, or None (then it may be SIP, or other).

        ``head`` is the payload's first two bytes (or fewer), ``length`` its size.
        """
        found = self.lookup(src, sport, dst, dport)
        if found is not None or not self.heuristics:
            return found
        if sport in RESERVED_UDP_PORTS or dport in RESERVED_UDP_PORTS:
            return None
        if len(head) < 2 or head[0] >> 6 != 2:
            return None
        if _RTCP_TYPES_FIRST <= head[1] <= _RTCP_TYPES_LAST:
            # RTCP's packet types, or RTP with the marker bit and a type RFC 5761 §4
            # keeps free so the two can share a port: taken as RTCP, on any port.
            if length % 4 == 0:
                return Conversation("rtcp", "heuristic", frame)  # no RTCP conversation kept
            return None  # neither: RTCP is whole 32-bit words (RFC 3550 §6.4.1)
        conversation = Conversation("rtp", "heuristic", frame)
        self._heuristic[(dst, dport, sport)] = conversation
        return conversation


class RtpStream:
    """One RTP stream (source, destination, SSRC) and Wireshark's statistics for it.

    Packets are added as columns (``times`` in seconds from the capture's
    start, sequence numbers, RTP timestamps, second header octets) and handed
    to :class:`~siplab.rtp.wireshark.WiresharkStats` in chunks by
    :meth:`flush`, so a million packets need neither a million objects nor
    more memory than one chunk.
    """

    __slots__ = ("src", "dst", "ssrc", "payload_type", "rtpmap", "stats", "times", "seqs",
                 "timestamps", "octets", "first_frame")

    def __init__(self, src: Peer, dst: Peer, ssrc: int, payload_type: int,
                 rtpmap: Mapping[int, tuple[str, int]], first_frame: int = 0) -> None:
        self.src = src
        self.dst = dst
        self.ssrc = ssrc
        self.payload_type = payload_type  # of the first packet
        self.rtpmap = rtpmap
        self.first_frame = first_frame
        self.stats = WiresharkStats(rtpmap)
        self.times = array("d")
        self.seqs = array("H")
        self.timestamps = array("I")
        self.octets = array("B")

    def add(self, time: float, sequence_number: int, timestamp: int, second_octet: int) -> None:
        self.times.append(time)
        self.seqs.append(sequence_number)
        self.timestamps.append(timestamp)
        self.octets.append(second_octet)

    def flush(self) -> WiresharkStats:
        """Analyse the packets added since the last flush; return the statistics so far."""
        if self.times:
            self.stats.receive_columns(self.times, self.seqs, self.timestamps, self.octets)
            for column in (self.times, self.seqs, self.timestamps, self.octets):
                del column[:]
        return self.stats
