"""The ``a=`` lines SDP is mostly made of, read into typed values (RFC 8866 §6).

An SDP attribute is a line ``a=<name>`` (a *property* such as ``a=rtcp-mux``)
or ``a=<name>:<value>`` (such as ``a=rtpmap:0 PCMU/8000``). SDP defines dozens
of them and other RFCs add more; a parser must keep the ones it does not know
(RFC 8866 §5.13), so the model stores every attribute as a plain
:class:`Attribute` in its original order, and this module reads the ones a
call needs on demand:

* ``rtpmap`` and ``fmtp`` (RFC 8866 §6.6, §6.15): which codec a payload type
  number stands for, at what clock rate, with what format parameters. Payload
  types 0-34 are *static* (RFC 3551 §6): ``m=audio 49170 RTP/AVP 0`` means
  PCMU/8000 even without an ``rtpmap``. Numbers 96-127 are *dynamic* and mean
  nothing without one.
* ``sendrecv``, ``sendonly``, ``recvonly``, ``inactive`` (RFC 8866 §6.7,
  RFC 3264 §5.1): which way media flows, seen from the side that wrote the SDP.
* ``ptime``/``maxptime`` (§6.4, §6.5): milliseconds of audio per packet the
  writer wants to *receive*.
* ``rtcp-mux`` (RFC 5761), ``rtcp`` (RFC 3605), ``mid`` (RFC 5888).
* ICE ``candidate``, ``ice-ufrag``, ``ice-pwd`` (RFC 8839) and DTLS
  ``fingerprint``, ``setup`` (RFC 8122, RFC 4145) for the WebRTC path.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

__all__ = [
    "Attribute",
    "Direction",
    "DIRECTIONS",
    "Codec",
    "Candidate",
    "Fingerprint",
    "STATIC_PAYLOAD_TYPES",
    "static_codec",
    "parse_rtpmap",
    "split_fmtp",
    "parse_fmtp_params",
    "parse_candidate",
    "parse_number",
    "attribute_problem",
]


@dataclass(frozen=True, slots=True)
class Attribute:
    """One ``a=`` line: ``name`` and ``value`` (``None`` for a property like ``a=rtcp-mux``).

    ``a=foo:`` (a colon and nothing after it) keeps ``value == ""`` so it is
    written back exactly as it came.
    """

    name: str
    value: str | None = None

    def __str__(self) -> str:
        return f"a={self.name}" if self.value is None else f"a={self.name}:{self.value}"


class Direction(StrEnum):
    """Which way media flows, from the point of view of the SDP's writer (RFC 3264 §5.1).

    ``sendonly`` in Alice's SDP means *Alice* sends and does not want to
    receive. The answerer mirrors it (RFC 3264 §6.1): an offer marked
    ``sendonly`` is answered ``recvonly`` (or ``inactive``), and so on.
    """

    SENDRECV = "sendrecv"
    SENDONLY = "sendonly"
    RECVONLY = "recvonly"
    INACTIVE = "inactive"

    @property
    def sends(self) -> bool:
        """True if the writer of this SDP sends media."""
        return self in (Direction.SENDRECV, Direction.SENDONLY)

    @property
    def receives(self) -> bool:
        """True if the writer of this SDP wants to receive media."""
        return self in (Direction.SENDRECV, Direction.RECVONLY)

    @classmethod
    def from_flags(cls, *, sends: bool, receives: bool) -> Direction:
        """The direction that sends and/or receives as asked."""
        if sends and receives:
            return cls.SENDRECV
        if sends:
            return cls.SENDONLY
        return cls.RECVONLY if receives else cls.INACTIVE

    def reversed(self) -> Direction:
        """The same flow seen from the other side: sendonly <-> recvonly (RFC 3264 §6.1)."""
        return Direction.from_flags(sends=self.receives, receives=self.sends)

    def restrict(self, other: Direction) -> Direction:
        """Only what both allow: ``sendrecv.restrict(sendonly) == sendonly``."""
        return Direction.from_flags(
            sends=self.sends and other.sends, receives=self.receives and other.receives
        )


#: The four direction attribute names (RFC 8866 §6.7).
DIRECTIONS = frozenset(d.value for d in Direction)


@dataclass(frozen=True, slots=True)
class Codec:
    """What an RTP payload type number stands for on one ``m=`` line.

    Built from ``a=rtpmap:<pt> <name>/<clock rate>[/<channels>]`` (RFC 8866
    §6.6), or from RFC 3551's table for a static payload type written without
    one. ``fmtp`` is the text after ``a=fmtp:<pt> `` and ``rtcp_fb`` the
    values of the ``a=rtcp-fb`` lines for this payload type or for ``*``
    (RFC 4585 §4.2). Encoding names compare case-insensitively (RFC 4855 §3).
    """

    payload_type: int
    name: str
    clock_rate: int
    channels: int = 1
    fmtp: str | None = None
    rtcp_fb: tuple[str, ...] = ()

    @property
    def encoding(self) -> str:
        """``PCMU/8000`` or ``opus/48000/2``: the rtpmap text without the number."""
        if self.channels != 1:
            return f"{self.name}/{self.clock_rate}/{self.channels}"
        return f"{self.name}/{self.clock_rate}"

    @property
    def label(self) -> str:
        """``PCMU/8000 (pt 0)``: how tables and error messages show a codec."""
        return f"{self.encoding} (pt {self.payload_type})"

    @property
    def fmtp_params(self) -> dict[str, str]:
        """``minptime=10;useinbandfec=1`` as ``{"minptime": "10", "useinbandfec": "1"}``."""
        return parse_fmtp_params(self.fmtp)

    def is_named(self, name: str) -> bool:
        """True if this codec's encoding name is ``name``, ignoring case."""
        return self.name.lower() == name.lower()

    @property
    def is_telephone_event(self) -> bool:
        """True for RFC 4733 named telephone events (DTMF digits travelling as RTP)."""
        return self.is_named("telephone-event")

    def __str__(self) -> str:
        return self.label


#: RFC 3551 §6 tables 4 and 5: payload type -> (name, clock rate, channels).
#: G722 is listed at 8000 although it samples at 16 kHz: an error frozen into
#: RFC 1890 and kept for compatibility (RFC 3551 §4.5.2).
STATIC_PAYLOAD_TYPES: Mapping[int, tuple[str, int, int]] = MappingProxyType({
    0: ("PCMU", 8000, 1),
    3: ("GSM", 8000, 1),
    4: ("G723", 8000, 1),
    5: ("DVI4", 8000, 1),
    6: ("DVI4", 16000, 1),
    7: ("LPC", 8000, 1),
    8: ("PCMA", 8000, 1),
    9: ("G722", 8000, 1),
    10: ("L16", 44100, 2),
    11: ("L16", 44100, 1),
    12: ("QCELP", 8000, 1),
    13: ("CN", 8000, 1),
    14: ("MPA", 90000, 1),
    15: ("G728", 8000, 1),
    16: ("DVI4", 11025, 1),
    17: ("DVI4", 22050, 1),
    18: ("G729", 8000, 1),
    25: ("CelB", 90000, 1),
    26: ("JPEG", 90000, 1),
    28: ("nv", 90000, 1),
    31: ("H261", 90000, 1),
    32: ("MPV", 90000, 1),
    33: ("MP2T", 90000, 1),
    34: ("H263", 90000, 1),
})


def static_codec(payload_type: int) -> Codec | None:
    """The RFC 3551 codec of a static payload type, or ``None`` if it has none."""
    entry = STATIC_PAYLOAD_TYPES.get(payload_type)
    if entry is None:
        return None
    name, clock_rate, channels = entry
    return Codec(payload_type, name, clock_rate, channels)


# Bounded lengths: int() refuses over 4300 digits, and float() of 400 nines is
# infinity, which int() refuses too. No field here needs more than 10 digits.
_NUMBER = re.compile(r"[0-9]{1,10}")
_DECIMAL = re.compile(r"[0-9]{1,10}(\.[0-9]+)?")
_RTPMAP = re.compile(r"([0-9]{1,3}) ([^/ ]+)/([0-9]{1,10})(?:/([0-9]{1,10}))?")


def parse_rtpmap(value: str) -> Codec | None:
    """``0 PCMU/8000`` -> Codec(0, "PCMU", 8000); ``None`` if the text is not an rtpmap."""
    match = _RTPMAP.fullmatch(value)
    if match is None:
        return None
    payload_type = int(match.group(1))
    clock_rate = int(match.group(3))
    channels = int(match.group(4)) if match.group(4) else 1
    if payload_type > 127 or clock_rate == 0 or channels == 0:
        return None
    return Codec(payload_type, match.group(2), clock_rate, channels)


def split_fmtp(value: str) -> tuple[str, str]:
    """``111 minptime=10;useinbandfec=1`` -> ``("111", "minptime=10;useinbandfec=1")``."""
    fmt, _, params = value.partition(" ")
    return fmt, params


def parse_fmtp_params(fmtp: str | None) -> dict[str, str]:
    """``a;b=1`` -> ``{"a": "", "b": "1"}``. Parameters that are not ``k=v`` map to ``""``."""
    params: dict[str, str] = {}
    for piece in (fmtp or "").split(";"):
        name, _, value = piece.strip().partition("=")
        if name:
            params[name.strip()] = value.strip()
    return params


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """``a=fingerprint:sha-256 AB:CD:...``: the hash of the DTLS certificate (RFC 8122 §5)."""

    algorithm: str
    value: str


@dataclass(frozen=True, slots=True)
class Candidate:
    """One ICE candidate: an address where the writer may receive media (RFC 8839 §5.1).

    ``a=candidate:1 1 udp 2122260223 192.0.2.7 54400 typ host generation 0``
    has foundation ``1``, component 1 (RTP; 2 is RTCP), transport, priority,
    address, port, type (host, srflx, prflx, relay) and optional extensions
    (``raddr``/``rport`` of a reflexive candidate, ``generation``, ...).
    """

    foundation: str
    component: int
    transport: str
    priority: int
    address: str
    port: int
    type: str
    extensions: tuple[tuple[str, str], ...] = ()

    def extension(self, name: str) -> str | None:
        """The value of an extension such as ``raddr`` or ``generation``."""
        for key, value in self.extensions:
            if key == name:
                return value
        return None


def parse_candidate(value: str) -> Candidate | None:
    """Read the value of an ``a=candidate`` line; ``None`` if it is not one."""
    parts = value.split()
    if len(parts) < 8 or parts[6] != "typ" or len(parts) % 2 != 0:
        return None
    foundation, component, transport, priority, address, port, _, kind = parts[:8]
    if not (_NUMBER.fullmatch(component) and _NUMBER.fullmatch(priority)):
        return None
    if not _NUMBER.fullmatch(port) or int(port) > 65535:
        return None
    rest = parts[8:]
    extensions = tuple((rest[i], rest[i + 1]) for i in range(0, len(rest), 2))
    return Candidate(
        foundation, int(component), transport, int(priority), address, int(port), kind, extensions
    )


def parse_number(value: str | None) -> int | None:
    """``"20"`` -> 20 and ``"20.0"`` -> 20; anything else -> ``None``."""
    if value is None or not _DECIMAL.fullmatch(value):
        return None
    return int(float(value))


def attribute_problem(name: str, value: str | None) -> str | None:
    """What is wrong with an attribute siplab reads as a typed value, or ``None``.

    The parser calls this on every ``a=`` line so that a malformed ``rtpmap``
    is reported as a 400 naming the line, instead of surfacing later as a
    codec that silently vanished. Attributes siplab does not interpret are
    never a problem: they are kept as they are.
    """
    if name == "rtpmap":
        if value is None or parse_rtpmap(value) is None:
            return "bad a=rtpmap: expected '<payload type> <encoding>/<clock rate>[/<channels>]'"
    elif name == "fmtp":
        if value is None or not split_fmtp(value)[0]:
            return "bad a=fmtp: expected '<format> <parameters>'"
    elif name in ("ptime", "maxptime"):
        if parse_number(value) is None:
            return f"bad a={name}: expected a number of milliseconds"
    elif name == "rtcp":
        port = (value or "").split(" ", 1)[0]
        if not _NUMBER.fullmatch(port) or int(port) > 65535:
            return "bad a=rtcp: expected '<port> [IN IP4 <address>]' (RFC 3605)"
    return None
