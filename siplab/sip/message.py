"""SIP requests and responses, and reading them from bytes (RFC 3261 §7, §25).

A SIP message is text, like HTTP/1.1: a start line, header lines, an empty
line, and an optional body (usually SDP)::

    INVITE sip:bob@biloxi.example.com SIP/2.0       <- request line: method, Request-URI, version
    Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds
    To: Bob <sip:bob@biloxi.example.com>
    From: Alice <sip:alice@atlanta.example.com>;tag=1928301774
    Call-ID: a84b4c76e66710@pc33.atlanta.example.com
    CSeq: 314159 INVITE
    Content-Length: 142
                                                    <- empty line
    v=0 ...                                         <- body, Content-Length bytes

A response starts with a status line instead: ``SIP/2.0 180 Ringing``.

:func:`parse_message` reads bytes into a :class:`Request` or :class:`Response`
and checks what every message must get right (start line, header syntax,
Content-Length); it raises :class:`~siplab.errors.SipParseError` naming what is
wrong and where. Header *values* are parsed only when you read them through the
typed properties (``msg.cseq``, ``msg.via``, ``msg.from_``), which raise the same
error if the value is malformed. ``msg.to_bytes()`` writes the message back;
``parse_message(m.to_bytes()) == m`` holds for every message.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from siplab.errors import SipParseError
from siplab.sip.grammar import split_commas
from siplab.sip.headers import (
    Address,
    CSeq,
    Headers,
    Via,
    parse_address,
    parse_addresses,
    parse_cseq,
    parse_vias,
    tag_of,
    via_branch,
)
from siplab.sip.status import reason_phrase
from siplab.sip.uri import Uri, parse_uri

__all__ = [
    "Message",
    "Request",
    "Response",
    "parse_message",
    "MAX_HEADER_LINES",
    "MAX_MESSAGE_SIZE",
    "MANDATORY_HEADERS",
]

#: A message with more header lines than this is refused rather than kept.
MAX_HEADER_LINES = 256
#: The largest message parse_message accepts (the UDP limit; RFC 3261 §18.1.1).
MAX_MESSAGE_SIZE = 65535
#: Headers every request must carry (§8.1.1); responses need all but Max-Forwards.
MANDATORY_HEADERS = ("Via", "From", "To", "Call-ID", "CSeq", "Max-Forwards")

_METHOD_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+\Z")
_VERSION_RE = re.compile(r"SIP/\d+\.\d+\Z", re.IGNORECASE)
_NAME_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+\Z")
# One header line, matched from the CRLF that ends the line before it.
_HEADER_LINE_RE = re.compile(r"\r\n([A-Za-z0-9\-.!%*_+`'~]+)[ \t]*:[ \t]*([^\r\n]*)(?=\r\n|\Z)")
_CONTENT_LENGTH_RE = re.compile(
    r"\r\n(?:content-length|l)[ \t]*:[ \t]*([^\r\n]*?)[ \t]*(?=\r\n|\Z)", re.IGNORECASE
)


class Message:
    """What requests and responses share: headers, body, and typed accessors."""

    __slots__ = ("headers", "body", "version")

    def __init__(
        self,
        headers: Headers | Iterable[tuple[str, str]] | None = None,
        body: bytes = b"",
        version: str = "SIP/2.0",
    ) -> None:
        self.headers = headers if isinstance(headers, Headers) else Headers(headers or ())
        self.body = bytes(body)
        self.version = version

    # -- writing -------------------------------------------------------------

    @property
    def start_line(self) -> str:
        raise NotImplementedError

    def to_bytes(self) -> bytes:
        """The message as it goes on the wire (headers exactly as they are)."""
        lines = [self.start_line]
        lines.extend(f"{name}: {value}" for name, value in self.headers)
        lines.append("")
        lines.append("")
        return "\r\n".join(lines).encode("utf-8") + self.body

    def __bytes__(self) -> bytes:
        return self.to_bytes()

    def __str__(self) -> str:
        return self.to_bytes().decode("utf-8", errors="replace")

    @property
    def label(self) -> str:
        """A short name for ladders: ``"INVITE"`` or ``"180 Ringing"``."""
        raise NotImplementedError

    # -- typed accessors -------------------------------------------------------

    def _required(self, name: str) -> str:
        value = self.headers.get(name)
        if value is None:
            raise SipParseError(f"missing {name} header")
        return value

    @property
    def call_id(self) -> str:
        """The Call-ID, which names the dialog together with the two tags."""
        return self._required("Call-ID").strip()

    @property
    def cseq(self) -> CSeq:
        return parse_cseq(self._required("CSeq"))

    @property
    def from_(self) -> Address:
        return parse_address(self._required("From"))

    @property
    def to(self) -> Address:
        return parse_address(self._required("To"))

    @property
    def from_tag(self) -> str | None:
        return tag_of(self._required("From"))

    @property
    def to_tag(self) -> str | None:
        return tag_of(self._required("To"))

    @property
    def via(self) -> list[Via]:
        """Every Via element, top (most recent hop) first."""
        vias: list[Via] = []
        for line in self.headers.get_all("Via"):
            vias.extend(parse_vias(line))
        if not vias:
            raise SipParseError("missing Via header")
        return vias

    @property
    def top_via(self) -> Via:
        return parse_vias(self._required("Via"))[0]

    @property
    def branch(self) -> str | None:
        """The branch parameter of the top Via: the transaction's name (§17.1.3)."""
        return via_branch(self._required("Via"))

    @property
    def via_count(self) -> int:
        return len(self.headers.get_list("Via"))

    @property
    def contact(self) -> list[Address]:
        out: list[Address] = []
        for line in self.headers.get_all("Contact"):
            out.extend(parse_addresses(line))
        return out

    @property
    def route(self) -> list[Address]:
        return [a for line in self.headers.get_all("Route") for a in parse_addresses(line)]

    @property
    def record_route(self) -> list[Address]:
        return [a for line in self.headers.get_all("Record-Route") for a in parse_addresses(line)]

    def _int_header(self, name: str) -> int | None:
        value = self.headers.get(name)
        if value is None:
            return None
        value = value.strip()
        if not value.isdigit() or not value.isascii():
            raise SipParseError(f"{name} must be a number", where=f"header {name!r}")
        return int(value)

    @property
    def max_forwards(self) -> int | None:
        return self._int_header("Max-Forwards")

    @property
    def expires(self) -> int | None:
        return self._int_header("Expires")

    @property
    def content_length(self) -> int | None:
        return self._int_header("Content-Length")

    @property
    def content_type(self) -> str | None:
        value = self.headers.get("Content-Type")
        return None if value is None else value.split(";", 1)[0].strip().lower()

    def header_list(self, name: str) -> list[str]:
        """The comma-split elements of a list header such as Allow or Supported."""
        return [v for line in self.headers.get_all(name) for v in split_commas(line)]

    def set_body(self, body: bytes, content_type: str | None = None) -> None:
        """Replace the body and keep Content-Length (and Content-Type) in step."""
        self.body = bytes(body)
        self.headers.set("Content-Length", str(len(self.body)))
        if content_type is not None:
            self.headers.set("Content-Type", content_type)
        elif not self.body:
            self.headers.remove("Content-Type")

    def missing_headers(self) -> list[str]:
        """Mandatory headers this message lacks (§8.1.1): empty when complete."""
        wanted = MANDATORY_HEADERS if isinstance(self, Request) else MANDATORY_HEADERS[:-1]
        return [name for name in wanted if name not in self.headers]

    def validate(self) -> None:
        """Raise SipParseError unless the mandatory headers are present and readable.

        ``parse_message`` checks only what every message needs to be cut out of
        the byte stream; a user agent calls this before acting on a message and
        answers 400 with the error's text when it fails.
        """
        missing = self.missing_headers()
        if missing:
            raise SipParseError("missing " + ", ".join(missing) + " header" +
                                ("s" if len(missing) > 1 else ""))
        _ = self.call_id
        cseq = self.cseq
        if isinstance(self, Request) and cseq.method != self.method and self.method != "ACK":
            raise SipParseError("CSeq method does not match the request method",
                                where="header 'CSeq'")
        _ = self.from_, self.to, self.via
        if isinstance(self, Request):
            _ = self.uri, self.max_forwards


class Request(Message):
    """A SIP request: method, Request-URI, headers and body."""

    __slots__ = ("method", "_uri_text", "_uri")
    _uri: Uri | None
    _uri_text: str

    def __init__(
        self,
        method: str,
        uri: Uri | str,
        headers: Headers | Iterable[tuple[str, str]] | None = None,
        body: bytes = b"",
        version: str = "SIP/2.0",
    ) -> None:
        super().__init__(headers, body, version)
        if not _METHOD_RE.match(method):
            raise ValueError(f"bad method {method!r}")
        self.method = method
        self.uri = uri

    @property
    def uri(self) -> Uri:
        """The Request-URI, parsed on first use."""
        if self._uri is None:
            self._uri = parse_uri(self._uri_text)
        return self._uri

    @uri.setter
    def uri(self, value: Uri | str) -> None:
        if isinstance(value, str):
            if not value or any(c in value for c in " \t\r\n\x00"):
                raise ValueError(f"bad Request-URI {value!r}")
            self._uri_text = value
            self._uri = None
        else:
            self._uri_text = str(value)
            self._uri = value

    @property
    def uri_text(self) -> str:
        """The Request-URI exactly as written."""
        return self._uri_text

    @property
    def start_line(self) -> str:
        return f"{self.method} {self._uri_text} {self.version}"

    @property
    def label(self) -> str:
        return self.method

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Request):
            return NotImplemented
        return (
            self.method == other.method
            and self._uri_text == other._uri_text
            and self.version == other.version
            and self.headers == other.headers
            and self.body == other.body
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<Request {self.method} {self._uri_text} ({len(self.headers)} headers)>"

    def copy(self) -> Request:
        clone = Request(self.method, self._uri_text, self.headers.copy(), self.body, self.version)
        clone._uri = self._uri
        return clone


class Response(Message):
    """A SIP response: status code, reason phrase, headers and body."""

    __slots__ = ("status", "reason")

    def __init__(
        self,
        status: int,
        reason: str | None = None,
        headers: Headers | Iterable[tuple[str, str]] | None = None,
        body: bytes = b"",
        version: str = "SIP/2.0",
    ) -> None:
        super().__init__(headers, body, version)
        if not 100 <= status <= 699:
            raise ValueError(f"status must be 100-699, not {status}")
        self.status = status
        self.reason = reason_phrase(status) if reason is None else reason
        if "\r" in self.reason or "\n" in self.reason:
            raise ValueError("reason phrase contains CR or LF")

    @property
    def start_line(self) -> str:
        return f"{self.version} {self.status} {self.reason}"

    @property
    def label(self) -> str:
        return f"{self.status} {self.reason}".rstrip()

    @property
    def is_provisional(self) -> bool:
        return self.status < 200

    @property
    def is_final(self) -> bool:
        return self.status >= 200

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Response):
            return NotImplemented
        return (
            self.status == other.status
            and self.reason == other.reason
            and self.version == other.version
            and self.headers == other.headers
            and self.body == other.body
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.reason} ({len(self.headers)} headers)>"

    def copy(self) -> Response:
        return Response(self.status, self.reason, self.headers.copy(), self.body, self.version)


# -- parsing ------------------------------------------------------------------------


def parse_message(data: bytes) -> Request | Response:
    """Read one SIP message from a datagram (or a frame cut by the stream framer).

    Leading CRLFs (keep-alives) are skipped. A body longer than Content-Length is
    cut to it (RFC 3261 §18.3: the extra bytes are discarded); a shorter one is
    an error. Without Content-Length the rest of the datagram is the body.
    Lines must end in CRLF; a message that uses bare LF throughout is accepted
    too, as many tolerant parsers do.
    """
    if not isinstance(data, bytes):
        if isinstance(data, bytearray | memoryview):
            data = bytes(data)
        else:
            raise TypeError(f"parse_message wants bytes, not {type(data).__name__}")
    if len(data) > MAX_MESSAGE_SIZE:
        raise SipParseError(f"message of {len(data)} bytes is over the {MAX_MESSAGE_SIZE} limit")
    start = 0
    while data.startswith(b"\r\n", start):
        start += 2
    end = data.find(b"\r\n\r\n", start)
    if end >= 0:
        eol = "\r\n"
        body_start = end + 4
    else:
        end = data.find(b"\n\n", start)
        if end < 0 or b"\r" in data[start:end]:
            if start == len(data):
                raise SipParseError("empty message")
            raise SipParseError("no empty line after the headers")
        eol = "\n"
        body_start = end + 2
    try:
        head = data[start:end].decode("utf-8")
    except UnicodeDecodeError as exc:
        where = f"byte {start + exc.start}"
        raise SipParseError("header section is not UTF-8", where=where) from None
    count = head.count(eol)
    first_end = head.find(eol)
    start_line = head if first_end < 0 else head[:first_end]
    if "\x00" in head:
        raise SipParseError("NUL byte in the header section")
    if count > MAX_HEADER_LINES:
        raise SipParseError(f"more than {MAX_HEADER_LINES} header lines")
    items: list[tuple[str, str]] | None = None
    if eol == "\r\n" and " \r\n" not in head and "\t\r\n" not in head:
        # The common case, done by the regex engine in one pass. A line that is
        # folded, has a stray CR or LF, or is malformed does not match, so the
        # count differs and the careful path below finds out what is wrong.
        found = _HEADER_LINE_RE.findall(head)
        if len(found) == count and "\r" not in start_line and "\n" not in start_line:
            items = found
            if items and items[-1][1].endswith((" ", "\t")):
                name, value = items[-1]
                items[-1] = (name, value.rstrip(" \t"))
            lengths = _CONTENT_LENGTH_RE.findall(head)
    if items is None:
        if eol == "\r\n" and (head.count("\n") != count or head.count("\r") != count):
            raise SipParseError("stray CR or LF inside a header line")
        items = _parse_header_lines(head.split(eol))
        lengths = [v for n, v in items if n.lower() in ("content-length", "l")]
    content_length: str | None = None
    if lengths:
        content_length = lengths[0]
        if any(value != content_length for value in lengths):
            raise SipParseError("two different Content-Length values",
                                where="header 'Content-Length'")

    body = data[body_start:]
    if content_length is not None:
        if not content_length.isdigit() or not content_length.isascii():
            raise SipParseError("Content-Length is not a number", where="header 'Content-Length'")
        length = int(content_length)
        if len(body) < length:
            raise SipParseError(
                f"body has {len(body)} bytes, Content-Length says {length}", where="body"
            )
        if len(body) > length:
            body = body[:length]

    headers = Headers._trusted(items)
    return _parse_start_line(start_line, headers, body)


def _parse_header_lines(lines: list[str]) -> list[tuple[str, str]]:
    # The careful path: folding, odd whitespace, and precise errors.
    items: list[tuple[str, str]] = []
    for number, line in enumerate(lines[1:], start=2):
        first = line[:1]
        if first == " " or first == "\t":
            if not items:
                raise SipParseError("continuation line before any header", where=f"line {number}")
            name, value = items[-1]
            more = line.strip(" \t")
            items[-1] = (name, f"{value} {more}" if value else more)
            continue
        name, colon, value = line.partition(":")
        if not colon:
            if not line:
                raise SipParseError("empty header line", where=f"line {number}")
            raise SipParseError("header line without ':'", where=f"line {number}")
        name = name.rstrip(" \t")
        if not _NAME_RE.match(name):
            raise SipParseError(f"bad header name {name[:40]!r}", where=f"line {number}")
        items.append((name, value.strip(" \t")))
    return items


def _parse_start_line(line: str, headers: Headers, body: bytes) -> Request | Response:
    if line.startswith("SIP/") or line[:4].upper() == "SIP/":
        version, sp, rest = line.partition(" ")
        code, _, reason = rest.partition(" ")
        if (
            not sp
            or not (version == "SIP/2.0" or _VERSION_RE.match(version))
            or len(code) != 3
            or not code.isdigit()
            or not code.isascii()
            or not 100 <= int(code) <= 699
        ):
            raise SipParseError("bad status line", where=repr(line[:80]))
        response = Response.__new__(Response)
        response.headers, response.body, response.version = headers, body, version
        response.status, response.reason = int(code), reason
        return response
    parts = line.split(" ")
    if len(parts) != 3:
        raise SipParseError("request line must be 'METHOD URI SIP/2.0'", where=repr(line[:80]))
    method, uri, version = parts
    if not ((method.isalpha() and method.isascii()) or _METHOD_RE.match(method)):
        raise SipParseError("bad method", where=repr(line[:80]))
    if not uri or not (version == "SIP/2.0" or _VERSION_RE.match(version)):
        raise SipParseError("bad request line", where=repr(line[:80]))
    request = Request.__new__(Request)
    request.headers, request.body, request.version = headers, body, version
    request.method, request._uri_text, request._uri = method, uri, None
    return request
