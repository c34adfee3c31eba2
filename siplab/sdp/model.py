"""A session description as Python objects, read from and written back to text (RFC 8866).

SDP is the small text format SIP carries in the body of an INVITE and its 200
OK to say *where* and *how* to send media. Every line is ``<type>=<value>``
with a one-letter type (RFC 8866 §5), in a fixed order::

    v=0                                          version, always 0 (§5.1)
    o=- 4611731400430051336 2 IN IP4 127.0.0.1   origin: user, session id, version, address (§5.2)
    s=-                                          session name (§5.3)
    i= u= e= p=                                  information, URI, email, phone (§5.4-§5.6)
    c=IN IP4 192.0.2.10                          where to send media (§5.7)
    b=AS:64                                      bandwidth (§5.8)
    t=0 0                                        when: 0 0 is "always" for SIP (§5.9)
    r= z= k=                                     repeats, time zones, keys (§5.10-§5.12)
    a=group:BUNDLE 0                             session attributes (§5.13)
    m=audio 49170 RTP/AVP 0 8 101                a media description: type, port, protocol,
    c= b= k= a=...                                 formats; then its own lines (§5.14)

The session-level part runs from ``v=`` to the first ``m=`` line; each ``m=``
line opens a media description that runs to the next. Session-level values
(``c=``, direction attributes) apply to every media description that does not
say otherwise.

:func:`siplab.sdp.parser.parse` reads text into these objects keeping every
line, including attributes it does not understand and their order, so
``str(parse(text)) == text`` for a well-formed description (``str()`` always
ends lines with CRLF).

The ``a=`` lines a call needs (codecs, direction, ptime, ICE, DTLS) are read
through typed properties on :class:`MediaDescription`; see
:mod:`siplab.sdp.attributes`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace

from siplab.sdp.attributes import (
    DIRECTIONS,
    Attribute,
    Candidate,
    Codec,
    Direction,
    Fingerprint,
    parse_candidate,
    parse_number,
    parse_rtpmap,
    split_fmtp,
    static_codec,
)

__all__ = [
    "is_short_number",
    "Origin",
    "Connection",
    "Bandwidth",
    "Timing",
    "MediaDescription",
    "SessionDescription",
    "is_webrtc_proto",
]


@dataclass(frozen=True, slots=True)
class Origin:
    """``o=<username> <sess-id> <sess-version> <nettype> <addrtype> <address>`` (RFC 8866 §5.2).

    The session id names the session for its whole life; the version goes up
    by one each time its owner changes the description (RFC 3264 §8). The id
    is kept as text: it is an identifier, and some are longer than 64 bits.
    """

    username: str = "-"
    session_id: str = "0"
    session_version: int = 0
    address: str = "127.0.0.1"
    net_type: str = "IN"
    address_type: str = "IP4"

    def __str__(self) -> str:
        return (
            f"{self.username} {self.session_id} {self.session_version} "
            f"{self.net_type} {self.address_type} {self.address}"
        )

    def next_version(self) -> Origin:
        """The same origin with the version incremented (a modified description, §8)."""
        return replace(self, session_version=self.session_version + 1)


@dataclass(frozen=True, slots=True)
class Connection:
    """``c=IN IP4 192.0.2.10``: the address media should be sent to (RFC 8866 §5.7)."""

    address: str
    net_type: str = "IN"
    address_type: str = "IP4"

    @classmethod
    def for_address(cls, address: str) -> Connection:
        """A connection line for ``address``, IP6 if it has a colon, else IP4."""
        return cls(address, "IN", "IP6" if ":" in address else "IP4")

    @property
    def host(self) -> str:
        """The address without a multicast ``/ttl/count`` suffix."""
        return self.address.split("/", 1)[0]

    def __str__(self) -> str:
        return f"{self.net_type} {self.address_type} {self.address}"


@dataclass(frozen=True, slots=True)
class Bandwidth:
    """``b=AS:64``: a bandwidth limit, kilobits/s for AS and CT, bits/s for TIAS (§5.8)."""

    type: str
    value: int

    def __str__(self) -> str:
        return f"{self.type}:{self.value}"


@dataclass(frozen=True, slots=True)
class Timing:
    """``t=<start> <stop>`` with its ``r=`` repeat lines kept as text (RFC 8866 §5.9, §5.10).

    SIP sessions are not scheduled: they always say ``t=0 0``.
    """

    start: int = 0
    stop: int = 0
    repeats: tuple[str, ...] = ()


def is_webrtc_proto(proto: str) -> bool:
    """True for the transports only WebRTC peers speak: DTLS-SRTP and SCTP over DTLS."""
    upper = proto.upper()
    return upper.startswith(("UDP/TLS/RTP/SAVP", "TCP/TLS/RTP/SAVP")) or "DTLS/SCTP" in upper


def is_short_number(text: str, digits: int) -> bool:
    """ASCII digits, at most ``digits`` of them: safe for int() (which refuses
    over 4300 digits, and "²".isdigit() is true)."""
    return text.isascii() and text.isdigit() and len(text) <= digits


@dataclass(slots=True)
class MediaDescription:
    """One ``m=`` line and the lines after it (RFC 8866 §5.14).

    ``m=audio 49170 RTP/AVP 0 8 101`` is media ``audio``, port 49170 (RTCP on
    49171 unless ``a=rtcp-mux`` or ``a=rtcp`` say otherwise), protocol
    ``RTP/AVP`` (RTP with the RFC 3551 profile) and formats ``0 8 101``: RTP
    payload type numbers, in the writer's order of preference. Port 0 means
    the stream is disabled or rejected (RFC 3264 §6).
    """

    media: str
    port: int
    proto: str
    formats: list[str]
    port_count: int | None = None
    information: str | None = None
    connections: list[Connection] = field(default_factory=list)
    bandwidths: list[Bandwidth] = field(default_factory=list)
    key: str | None = None
    attributes: list[Attribute] = field(default_factory=list)

    # -- text ------------------------------------------------------------------------

    def lines(self) -> list[str]:
        """The lines of this media description, without line endings."""
        port = self.port if self.port_count is None else f"{self.port}/{self.port_count}"
        out = [f"m={self.media} {port} {self.proto} {' '.join(self.formats)}"]
        if self.information is not None:
            out.append(f"i={self.information}")
        out.extend(f"c={c}" for c in self.connections)
        out.extend(f"b={b}" for b in self.bandwidths)
        if self.key is not None:
            out.append(f"k={self.key}")
        out.extend(str(a) for a in self.attributes)
        return out

    def __str__(self) -> str:
        return "".join(line + "\r\n" for line in self.lines())

    def copy(self) -> MediaDescription:
        """A deep copy, safe to modify."""
        return copy.deepcopy(self)

    # -- attributes in general ---------------------------------------------------------

    def has_attribute(self, name: str) -> bool:
        """True if an ``a=<name>`` or ``a=<name>:...`` line is present."""
        return any(a.name == name for a in self.attributes)

    def attribute(self, name: str) -> str | None:
        """The value of the first ``a=<name>:<value>`` line (``None`` if absent or a flag)."""
        for a in self.attributes:
            if a.name == name:
                return a.value
        return None

    def attribute_values(self, name: str) -> list[str]:
        """Values of every ``a=<name>:<value>`` line, in order."""
        return [a.value for a in self.attributes if a.name == name and a.value is not None]

    # -- codecs (RFC 8866 §6.6, §6.15; RFC 3551 §6) -------------------------------------

    @property
    def payload_types(self) -> list[int]:
        """The formats that are RTP payload type numbers, in the ``m=`` line's order."""
        return [int(f) for f in self.formats if is_short_number(f, 3) and int(f) < 128]

    def _fmtps(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for value in self.attribute_values("fmtp"):
            fmt, params = split_fmtp(value)
            found.setdefault(fmt, params)
        return found

    def _feedback(self, payload_type: int) -> tuple[str, ...]:
        out = []
        for value in self.attribute_values("rtcp-fb"):
            fmt, _, rest = value.partition(" ")
            if fmt in (str(payload_type), "*") and rest:
                out.append(rest)
        return tuple(out)

    def _complete(self, codec: Codec, fmtps: dict[str, str]) -> Codec:
        pt = codec.payload_type
        return replace(codec, fmtp=fmtps.get(str(pt)), rtcp_fb=self._feedback(pt))

    @property
    def rtpmaps(self) -> list[Codec]:
        """The codecs named by ``a=rtpmap`` lines, in line order, with fmtp and rtcp-fb."""
        fmtps = self._fmtps()
        found = (parse_rtpmap(v) for v in self.attribute_values("rtpmap"))
        return [self._complete(c, fmtps) for c in found if c is not None]

    @property
    def codecs(self) -> list[Codec]:
        """Every payload type on the ``m=`` line that names a codec, in the line's order.

        A number with an ``a=rtpmap`` uses it; a static number (0-34) without
        one gets its RFC 3551 name (``0`` is PCMU/8000). A dynamic number
        without an rtpmap names nothing and is left out.
        """
        explicit = {c.payload_type: c for c in reversed(self.rtpmaps)}
        fmtps = self._fmtps()
        out = []
        for pt in self.payload_types:
            codec = explicit.get(pt)
            if codec is None:
                static = static_codec(pt)
                codec = None if static is None else self._complete(static, fmtps)
            if codec is not None:
                out.append(codec)
        return out

    def codec(self, payload_type: int) -> Codec | None:
        """The codec a payload type number stands for on this line, if any."""
        return next((c for c in self.codecs if c.payload_type == payload_type), None)

    # -- direction, packetization, RTCP ------------------------------------------------

    @property
    def direction_attribute(self) -> Direction | None:
        """The direction written on this media description, or ``None``."""
        for a in self.attributes:
            if a.name in DIRECTIONS:
                return Direction(a.name)
        return None

    @property
    def direction(self) -> Direction:
        """This line's direction, ``sendrecv`` when it has none (RFC 3264 §5.1).

        A direction written at session level applies to media descriptions
        that have none: :meth:`SessionDescription.direction_of` looks there too.
        """
        return self.direction_attribute or Direction.SENDRECV

    def with_direction(self, direction: Direction | str) -> MediaDescription:
        """A copy with its direction attribute replaced (kept in place) or added."""
        new = Attribute(Direction(direction).value)
        out = self.copy()
        attributes: list[Attribute] = []
        for a in out.attributes:
            if a.name in DIRECTIONS:
                if new not in attributes:
                    attributes.append(new)
            else:
                attributes.append(a)
        if new not in attributes:
            attributes.append(new)
        out.attributes = attributes
        return out

    @property
    def ptime(self) -> int | None:
        """``a=ptime``: milliseconds of media per packet the writer wants to receive."""
        return parse_number(self.attribute("ptime"))

    @property
    def maxptime(self) -> int | None:
        """``a=maxptime``: the longest packet the writer can receive, in milliseconds."""
        return parse_number(self.attribute("maxptime"))

    @property
    def rtcp_mux(self) -> bool:
        """``a=rtcp-mux``: RTP and RTCP share one port (RFC 5761)."""
        return self.has_attribute("rtcp-mux")

    @property
    def rtcp_port(self) -> int | None:
        """``a=rtcp:<port>``: an explicit RTCP port (RFC 3605), else ``None``."""
        value = self.attribute("rtcp")
        port = (value or "").split(" ", 1)[0]
        return int(port) if is_short_number(port, 5) else None

    @property
    def mid(self) -> str | None:
        """``a=mid``: the media stream's identification tag (RFC 5888, BUNDLE)."""
        return self.attribute("mid")

    @property
    def ssrcs(self) -> list[int]:
        """The distinct SSRCs announced with ``a=ssrc`` (RFC 5576), in order."""
        out: list[int] = []
        for value in self.attribute_values("ssrc"):
            head = value.split(" ", 1)[0]
            if is_short_number(head, 10) and int(head) not in out:
                out.append(int(head))
        return out

    # -- ICE and DTLS (WebRTC) ----------------------------------------------------------

    @property
    def ice_ufrag(self) -> str | None:
        """``a=ice-ufrag`` (RFC 8839 §5.4)."""
        return self.attribute("ice-ufrag")

    @property
    def ice_pwd(self) -> str | None:
        """``a=ice-pwd`` (RFC 8839 §5.4)."""
        return self.attribute("ice-pwd")

    @property
    def candidates(self) -> list[Candidate]:
        """The ``a=candidate`` lines that read as ICE candidates (RFC 8839 §5.1)."""
        found = (parse_candidate(v) for v in self.attribute_values("candidate"))
        return [c for c in found if c is not None]

    @property
    def fingerprint(self) -> Fingerprint | None:
        """``a=fingerprint``: the DTLS certificate's hash (RFC 8122 §5)."""
        value = self.attribute("fingerprint")
        if value is None or " " not in value:
            return None
        algorithm, _, digest = value.partition(" ")
        return Fingerprint(algorithm, digest)

    @property
    def setup(self) -> str | None:
        """``a=setup``: actpass, active or passive: who starts DTLS (RFC 4145 §4)."""
        return self.attribute("setup")

    # -- the stream as a whole --------------------------------------------------------

    @property
    def connection(self) -> Connection | None:
        """The first ``c=`` line of this media description (most have one or none)."""
        return self.connections[0] if self.connections else None

    @property
    def is_rejected(self) -> bool:
        """Port 0: the stream is disabled or was rejected (RFC 3264 §6)."""
        return self.port == 0

    @property
    def is_webrtc(self) -> bool:
        """True if this stream uses a WebRTC transport (DTLS-SRTP or SCTP over DTLS)."""
        return is_webrtc_proto(self.proto)


@dataclass(slots=True)
class SessionDescription:
    """A whole SDP: the session-level lines and the media descriptions (RFC 8866 §5)."""

    origin: Origin = field(default_factory=Origin)
    name: str = "-"
    information: str | None = None
    uri: str | None = None
    emails: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    connection: Connection | None = None
    bandwidths: list[Bandwidth] = field(default_factory=list)
    times: list[Timing] = field(default_factory=lambda: [Timing()])
    zone: str | None = None
    key: str | None = None
    attributes: list[Attribute] = field(default_factory=list)
    media: list[MediaDescription] = field(default_factory=list)
    version: int = 0

    @classmethod
    def parse(cls, text: str | bytes) -> SessionDescription:
        """Same as :func:`siplab.sdp.parser.parse`."""
        from siplab.sdp.parser import parse  # parser imports this module

        return parse(text)

    def lines(self) -> list[str]:
        """Every line in RFC 8866 order, without line endings."""
        out = [f"v={self.version}", f"o={self.origin}", f"s={self.name}"]
        if self.information is not None:
            out.append(f"i={self.information}")
        if self.uri is not None:
            out.append(f"u={self.uri}")
        out.extend(f"e={e}" for e in self.emails)
        out.extend(f"p={p}" for p in self.phones)
        if self.connection is not None:
            out.append(f"c={self.connection}")
        out.extend(f"b={b}" for b in self.bandwidths)
        for timing in self.times:
            out.append(f"t={timing.start} {timing.stop}")
            out.extend(f"r={r}" for r in timing.repeats)
        if self.zone is not None:
            out.append(f"z={self.zone}")
        if self.key is not None:
            out.append(f"k={self.key}")
        out.extend(str(a) for a in self.attributes)
        for media in self.media:
            out.extend(media.lines())
        return out

    def __str__(self) -> str:
        return "".join(line + "\r\n" for line in self.lines())

    def to_bytes(self) -> bytes:
        """The description as a SIP body (UTF-8, CRLF line endings)."""
        return str(self).encode("utf-8")

    def copy(self) -> SessionDescription:
        """A deep copy, safe to modify."""
        return copy.deepcopy(self)

    def has_attribute(self, name: str) -> bool:
        """True if a session-level ``a=<name>`` line is present."""
        return any(a.name == name for a in self.attributes)

    def attribute(self, name: str) -> str | None:
        """The value of the first session-level ``a=<name>:<value>`` line."""
        return next((a.value for a in self.attributes if a.name == name), None)

    @property
    def direction_attribute(self) -> Direction | None:
        """A direction written at session level (the default for every stream), or ``None``."""
        for a in self.attributes:
            if a.name in DIRECTIONS:
                return Direction(a.name)
        return None

    def direction_of(self, media: MediaDescription) -> Direction:
        """A stream's direction: its own, else the session's, else sendrecv (RFC 3264 §5.1)."""
        return media.direction_attribute or self.direction_attribute or Direction.SENDRECV

    def connection_of(self, media: MediaDescription) -> Connection | None:
        """Where a stream's media goes: its own ``c=``, else the session's (RFC 8866 §5.7)."""
        return media.connection or self.connection

    @property
    def groups(self) -> list[tuple[str, list[str]]]:
        """``a=group:BUNDLE 0 1`` lines as ``("BUNDLE", ["0", "1"])`` (RFC 5888 §5)."""
        out = []
        for a in self.attributes:
            if a.name == "group" and a.value:
                semantics, *mids = a.value.split()
                out.append((semantics, mids))
        return out

    @property
    def is_webrtc(self) -> bool:
        """True if any stream uses a WebRTC transport: the offer is for the WebRTC path."""
        return any(m.is_webrtc for m in self.media)
