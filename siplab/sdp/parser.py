"""Reading SDP text into a SessionDescription, line by line (RFC 8866 §5, §9).

The grammar is simple enough to read one line at a time with a tiny state
machine: everything before the first ``m=`` line belongs to the session, and
each ``m=`` line opens a media description that collects the ``i=``, ``c=``,
``b=``, ``k=`` and ``a=`` lines after it. Each line type may appear only in
its own section, some only once.

The parser is strict where a mistake would change the meaning and lenient
where real user agents are sloppy but harmless:

* strict: the first line is ``v=0``; ``o=`` and ``s=`` are present; every
  line is ``<letter>=<value>`` with a letter SDP defines (RFC 8866 §5 says to
  reject unknown ones); numbers are numbers; a stream with a non-zero port
  has a ``c=`` line, its own or the session's (§5.7); the ``a=`` lines siplab
  interprets (rtpmap, fmtp, ptime, maxptime, rtcp) are well formed.
* lenient: LF-only line endings, blank lines at the end, a missing ``t=``,
  extra spaces between fields, and session-level lines out of order (they are
  written back in RFC order).

Every failure raises :class:`~siplab.sdp.errors.SdpParseError` with the line
number and text, which a user agent turns into 400 Bad Request.
"""

from __future__ import annotations

import re
from dataclasses import replace

from siplab.sdp.attributes import Attribute, attribute_problem
from siplab.sdp.errors import SdpParseError
from siplab.sdp.model import (
    Bandwidth,
    Connection,
    MediaDescription,
    Origin,
    SessionDescription,
    Timing,
)

__all__ = ["parse"]

# Numbers are bounded in length: int() refuses strings of over 4300 digits, and
# no SDP field needs more than 20 (a 64-bit value) or a port more than 5.
_NUMBER = re.compile(r"[0-9]{1,20}")
_PORT = re.compile(r"([0-9]{1,5})(?:/([0-9]{1,5}))?")
_BANDWIDTH = re.compile(r"([^:\s]+):([0-9]{1,20})")
_TIMING = re.compile(r"([0-9]{1,20}) ([0-9]{1,20})")
_LINE_TYPES = frozenset("vosiuepcbtrzkam")
_MEDIA_LINE_TYPES = frozenset("icbka")
_ONCE = {"o": "o=", "s": "s=", "i": "i=", "u": "u=", "c": "c=", "z": "z=", "k": "k="}
_M_LINE_HELP = "expected 'm=<media> <port>[/<count>] <proto> <format> ...'"


def parse(text: str | bytes) -> SessionDescription:
    """Read a session description; raise :class:`SdpParseError` naming the bad line.

    Accepts CRLF or bare LF line endings and ignores blank lines at the end
    (some user agents add one), but nothing else that RFC 8866 forbids: the
    first line must be ``v=0``, ``o=`` and ``s=`` must be present, every
    line must be ``<letter>=<value>`` with a type letter SDP defines (§5 says
    to reject unknown ones), and a stream with a non-zero port needs a ``c=``
    line, its own or the session's (§5.7).
    """
    if isinstance(text, bytes | bytearray):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SdpParseError(f"not UTF-8 text (byte {exc.start})") from None
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    if not lines:
        raise SdpParseError("empty session description: it must start with v=0 (RFC 8866 §5.1)")
    reader = _Reader()
    for number, line in enumerate(lines, start=1):
        reader.feed(number, line)
    return reader.finish()


class _Reader:
    """Builds a SessionDescription one line at a time (a small state machine)."""

    def __init__(self) -> None:
        self.sd = SessionDescription(times=[])
        self.media: MediaDescription | None = None
        self.seen: set[str] = set()
        self.media_seen: set[str] = set()
        self.media_lines: list[int] = []
        self.number = 0
        self.line = ""

    def fail(self, message: str) -> SdpParseError:
        return SdpParseError(message, line_number=self.number, line=self.line)

    def feed(self, number: int, line: str) -> None:
        self.number, self.line = number, line
        if not line:
            raise self.fail("empty line inside the description")
        if len(line) < 2 or line[1] != "=":
            raise self.fail("not an SDP line: expected '<type>=<value>'")
        kind, value = line[0], line[2:]
        if number == 1:
            if kind != "v":
                raise self.fail("no v= line: a session description starts with v=0 (RFC 8866 §5)")
            if value != "0":
                raise self.fail(f"unsupported SDP version {value!r}: only v=0 exists")
            return
        if kind not in _LINE_TYPES:
            raise self.fail(f"unknown line type '{kind}=' (RFC 8866 §5 says to reject it)")
        if kind == "v":
            raise self.fail("v= may appear only on the first line")
        if kind == "m":
            self.start_media(value)
        elif self.media is None:
            self.session_line(kind, value)
        else:
            self.media_line(self.media, kind, value)

    def once(self, kind: str, seen: set[str]) -> None:
        if kind in _ONCE and kind in seen:
            raise self.fail(f"duplicate {_ONCE[kind]} line")
        seen.add(kind)

    def session_line(self, kind: str, value: str) -> None:
        sd = self.sd
        self.once(kind, self.seen)
        if kind == "o":
            sd.origin = self.origin(value)
        elif kind == "s":
            sd.name = value
        elif kind == "i":
            sd.information = value
        elif kind == "u":
            sd.uri = value
        elif kind == "e":
            sd.emails.append(value)
        elif kind == "p":
            sd.phones.append(value)
        elif kind == "c":
            sd.connection = self.connection(value)
        elif kind == "b":
            sd.bandwidths.append(self.bandwidth(value))
        elif kind == "t":
            match = _TIMING.fullmatch(value)
            if match is None:
                raise self.fail("bad t= line: expected 't=<start> <stop>' (two numbers)")
            sd.times.append(Timing(int(match.group(1)), int(match.group(2))))
        elif kind == "r":
            if not sd.times:
                raise self.fail("r= line before any t= line (RFC 8866 §5.10)")
            last = sd.times[-1]
            sd.times[-1] = replace(last, repeats=(*last.repeats, value))
        elif kind == "z":
            sd.zone = value
        elif kind == "k":
            sd.key = value
        else:  # "a"
            sd.attributes.append(self.attribute(value))

    def media_line(self, media: MediaDescription, kind: str, value: str) -> None:
        if kind not in _MEDIA_LINE_TYPES:
            raise self.fail(f"'{kind}=' is not allowed inside a media description (RFC 8866 §5)")
        if kind != "c":  # RFC 8866 §5.7: several c= lines are allowed in a media description
            self.once(kind, self.media_seen)
        if kind == "i":
            media.information = value
        elif kind == "c":
            media.connections.append(self.connection(value))
        elif kind == "b":
            media.bandwidths.append(self.bandwidth(value))
        elif kind == "k":
            media.key = value
        else:  # "a"
            media.attributes.append(self.attribute(value))

    def start_media(self, value: str) -> None:
        parts = value.split()
        if len(parts) < 4:
            raise self.fail(f"bad m= line: {_M_LINE_HELP}")
        kind, port_text, proto, *formats = parts
        port = _PORT.fullmatch(port_text)
        if port is None or int(port.group(1)) > 65535:
            raise self.fail(f"bad m= line: port {port_text!r} is not a number from 0 to 65535")
        count = port.group(2)
        if count is not None and int(count) == 0:
            raise self.fail("bad m= line: a port count must be at least 1")
        self.media = MediaDescription(
            kind, int(port.group(1)), proto, formats, int(count) if count else None
        )
        self.media_seen = set()
        self.sd.media.append(self.media)
        self.media_lines.append(self.number)

    def origin(self, value: str) -> Origin:
        parts = value.split()
        if len(parts) != 6:
            raise self.fail(
                "bad o= line: expected '<username> <sess-id> <sess-version> IN IP4 <address>'"
            )
        username, session_id, version, net_type, address_type, address = parts
        if not _NUMBER.fullmatch(version):
            raise self.fail(f"bad o= line: session version {version[:40]!r} is not a number "
                            "(of at most 20 digits)")
        return Origin(username, session_id, int(version), address, net_type, address_type)

    def connection(self, value: str) -> Connection:
        parts = value.split()
        if len(parts) != 3:
            raise self.fail("bad c= line: expected 'c=<nettype> <addrtype> <address>'")
        net_type, address_type, address = parts
        return Connection(address, net_type, address_type)

    def bandwidth(self, value: str) -> Bandwidth:
        match = _BANDWIDTH.fullmatch(value)
        if match is None:
            raise self.fail("bad b= line: expected 'b=<type>:<number>'")
        return Bandwidth(match.group(1), int(match.group(2)))

    def attribute(self, value: str) -> Attribute:
        name, colon, rest = value.partition(":")
        if not name:
            raise self.fail("a= line without an attribute name")
        attribute = Attribute(name, rest if colon else None)
        problem = attribute_problem(attribute.name, attribute.value)
        if problem is not None:
            raise self.fail(problem)
        return attribute

    def finish(self) -> SessionDescription:
        sd = self.sd
        if "o" not in self.seen:
            raise SdpParseError("missing o= line (RFC 8866 §5.2)")
        if "s" not in self.seen:
            raise SdpParseError("missing s= line (RFC 8866 §5.3)")
        for media, number in zip(sd.media, self.media_lines, strict=True):
            if media.port != 0 and not media.connections and sd.connection is None:
                raise SdpParseError(
                    f"m={media.media} has port {media.port} but no c= line, in the media "
                    "description or at session level (RFC 8866 §5.7)",
                    line_number=number,
                    line=media.lines()[0],
                )
        return sd
