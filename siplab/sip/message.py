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
from collections.abc import Callable, Iterable
from typing import TypeVar, cast

from siplab.errors import SipParseError
from siplab.sip.grammar import split_commas
from siplab.sip.headers import (
    _KNOWN_KEYS,
    Address,
    CSeq,
    Headers,
    Via,
    header_key,
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
_VERSION_RE = re.compile(r"SIP/[0-9]+\.[0-9]+\Z", re.IGNORECASE)
_NAME_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+\Z")
# int() refuses strings of over 4300 digits; no length or count in SIP needs
# more than ten, so longer digit strings are refused before int() sees them.
_MAX_DIGITS = 10

T = TypeVar("T")
#: Parsed header values of one message: (parser, header text) -> the parser's result.
_ParseCache = dict[tuple[Callable[[str], object], str], object]


def _vias(value: str) -> tuple[Via, ...]:
    # parse_vias as an immutable tuple, so that one parse can be shared.
    return tuple(parse_vias(value))


def _addresses(value: str) -> tuple[Address, ...]:
    return tuple(parse_addresses(value))


class Message:
    """What requests and responses share: headers, body, and typed accessors."""

    __slots__ = ("headers", "body", "version", "_parsed")

    def __init__(
        self,
        headers: Headers | Iterable[tuple[str, str]] | None = None,
        body: bytes = b"",
        version: str = "SIP/2.0",
    ) -> None:
        self.headers = headers if isinstance(headers, Headers) else Headers(headers or ())
        self.body = bytes(body)
        self.version = version
        self._parsed: _ParseCache | None = None

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

    def _parse_once(self, parse: Callable[[str], T], text: str) -> T:
        """``parse(text)``, remembered for this message.

        A server reads the same headers several times while it handles one
        message (validation, transaction matching, the registrar, the
        response), and the parsed values are immutable, so each text is parsed
        once. The cache is keyed by the text itself: a header that was changed
        is parsed afresh. Lists (``via``, ``contact``) are copied out of it.
        """
        cache = self._parsed
        if cache is None:
            cache = self._parsed = {}
        key = (parse, text)
        found = cache.get(key)
        if found is None:
            found = cache[key] = parse(text)
        return cast(T, found)

    def forget_parsed(self) -> None:
        """Drop the parsed header values (they are parsed again when read).

        A transaction that only waits to absorb retransmissions keeps its
        messages for tens of seconds; without the parsed values they are a
        few objects instead of dozens, which a busy server's memory and
        garbage collector notice.
        """
        self._parsed = None

    def _required(self, name: str, key: str | None = None) -> str:
        # ``key`` is the normalized lookup key, given by the hot accessors.
        found = self.headers._values(key or header_key(name))
        if not found:
            raise SipParseError(f"missing {name} header")
        return found[0]

    @property
    def call_id(self) -> str:
        """The Call-ID, which names the dialog together with the two tags."""
        value = self._required("Call-ID", "call-id").strip()
        if not value:
            raise SipParseError("empty Call-ID", where="header 'Call-ID'")
        return value

    @property
    def cseq(self) -> CSeq:
        return self._parse_once(parse_cseq, self._required("CSeq", "cseq"))

    @property
    def from_(self) -> Address:
        return self._parse_once(parse_address, self._required("From", "from"))

    @property
    def to(self) -> Address:
        return self._parse_once(parse_address, self._required("To", "to"))

    @property
    def from_tag(self) -> str | None:
        return tag_of(self._required("From", "from"))

    @property
    def to_tag(self) -> str | None:
        return tag_of(self._required("To", "to"))

    @property
    def via(self) -> list[Via]:
        """Every Via element, top (most recent hop) first."""
        vias: list[Via] = []
        for line in self.headers._values("via") or ():
            vias.extend(self._parse_once(_vias, line))
        if not vias:
            raise SipParseError("missing Via header")
        return vias

    @property
    def top_via(self) -> Via:
        vias = self._parse_once(_vias, self._required("Via", "via"))
        if not vias:
            raise SipParseError("empty Via header", where="header 'Via'")
        return vias[0]

    @property
    def branch(self) -> str | None:
        """The branch parameter of the top Via: the transaction's name (§17.1.3)."""
        return via_branch(self._required("Via", "via"))

    @property
    def via_count(self) -> int:
        lines = self.headers._values("via")
        if not lines:
            return 0
        if len(lines) == 1 and "," not in lines[0] and lines[0]:
            return 1
        return len(self.headers.get_list("Via"))

    @property
    def contact(self) -> list[Address]:
        return self._address_list("contact")

    @property
    def route(self) -> list[Address]:
        return self._address_list("route")

    @property
    def record_route(self) -> list[Address]:
        return self._address_list("record-route")

    def _address_list(self, key: str) -> list[Address]:
        out: list[Address] = []
        for line in self.headers._values(key) or ():
            out.extend(self._parse_once(_addresses, line))
        return out

    def _int_header(self, name: str) -> int | None:
        value = self.headers.get(name)
        if value is None:
            return None
        value = value.strip()
        if not value.isdigit() or not value.isascii() or len(value) > _MAX_DIGITS:
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
        answers 400 with the error's text when it fails (505 Version Not
        Supported when the version is not SIP/2.0, §21.5.7 and RFC 4475 §3.1.2.16).
        """
        if self.version.upper() != "SIP/2.0":  # the only version there is (§7.1)
            raise SipParseError(f"SIP version {self.version[:20]!r} is not supported "
                                "(only SIP/2.0)")
        missing = self.missing_headers()
        if missing:
            raise SipParseError("missing " + ", ".join(missing) + " header" +
                                ("s" if len(missing) > 1 else ""))
        _ = self.call_id
        cseq = self.cseq
        # §8.1.1.5: the method MUST match the request's, ACK and CANCEL included.
        if isinstance(self, Request) and cseq.method != self.method:
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
        clone._parsed = None if self._parsed is None else dict(self._parsed)  # same texts
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
        if "\r" in self.reason or "\n" in self.reason or "\x00" in self.reason:
            raise ValueError("reason phrase contains CR, LF or NUL")

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
        clone = Response(self.status, self.reason, self.headers.copy(), self.body, self.version)
        clone._parsed = None if self._parsed is None else dict(self._parsed)  # same texts
        return clone


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
    # A bare-LF message ends its headers at the first LF LF, which may come
    # before a CRLF CRLF inside its body. A first line ending in CRLF says the
    # message is not one, so the search for LF LF is skipped.
    first_lf = data.find(b"\n", start)
    crlf_message = end >= 0 and first_lf > start and data[first_lf - 1] == 13
    lf_end = -1 if crlf_message else data.find(b"\n\n", start, end if end >= 0 else len(data))
    if lf_end >= 0 and b"\r" not in data[start:lf_end]:
        end = lf_end
        eol = "\n"
        body_start = end + 2
    elif end >= 0:
        eol = "\r\n"
        body_start = end + 4
    else:
        if start == len(data):
            raise SipParseError("empty message")
        raise SipParseError("no empty line after the headers")
    try:
        head = data[start:end].decode("utf-8")
    except UnicodeDecodeError as exc:
        where = f"byte {start + exc.start}"
        raise SipParseError("header section is not UTF-8", where=where) from None
    lines = head.split(eol)
    count = len(lines) - 1
    first_end = head.find(eol)
    start_line = head if first_end < 0 else head[:first_end]
    if "\x00" in head:
        raise SipParseError("NUL byte in the header section")
    if count > MAX_HEADER_LINES:
        raise SipParseError(f"more than {MAX_HEADER_LINES} header lines")
    if eol == "\r\n" and (head.count("\n") != count or head.count("\r") != count):
        raise SipParseError("stray CR or LF inside a header line")
    index: dict[str, tuple[str, ...]] | None = None
    fast = _header_lines_fast(lines) if eol == "\r\n" else None
    if fast is not None:
        items, index = fast
        lengths: tuple[str, ...] | list[str] = index.get("content-length") or ()
    else:
        items = _parse_header_lines(lines)
        lengths = [v for n, v in items if n.lower() in ("content-length", "l")]
    body = data[body_start:]
    if lengths:
        numbers = set()
        for text in lengths:
            text = text.rstrip(" \t")
            if not text.isdigit() or not text.isascii() or len(text) > _MAX_DIGITS:
                raise SipParseError("Content-Length is not a number",
                                    where="header 'Content-Length'")
            numbers.add(int(text))
        if len(numbers) > 1:  # "5" and "05" agree; "5" and "6" do not
            raise SipParseError("two different Content-Length values",
                                where="header 'Content-Length'")
        length = numbers.pop()
        if len(body) < length:
            raise SipParseError(
                f"body has {len(body)} bytes, Content-Length says {length}", where="body"
            )
        if len(body) > length:
            body = body[:length]

    headers = Headers._trusted(items, index)
    return _parse_start_line(start_line, headers, body)


def _header_lines_fast(
    lines: list[str],
) -> tuple[list[tuple[str, str]], dict[str, tuple[str, ...]]] | None:
    # The common case in one pass: every line is "Name: value" with a name we
    # know or a valid token, no folding, no blank before the colon. The index
    # that lookups need is built on the way. Anything unusual returns None and
    # the careful path below reads the lines again and explains what is wrong.
    items: list[tuple[str, str]] = []
    index: dict[str, tuple[str, ...]] = {}
    known = _KNOWN_KEYS
    append = items.append
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        key = known.get(name)
        if key is None:
            if not colon or not _NAME_RE.match(name):
                return None
            key = header_key(name)
        elif not colon:
            return None
        value = value.strip(" \t")
        append((name, value))
        found = index.get(key)
        index[key] = (value,) if found is None else (*found, value)
    return items, index


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
            if more:  # a continuation of only blanks adds nothing
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
        response.status, response.reason, response._parsed = int(code), reason, None
        return response
    parts = line.split(" ")
    if len(parts) != 3:
        raise SipParseError("request line must be 'METHOD URI SIP/2.0'", where=repr(line[:80]))
    method, uri, version = parts
    if not ((method.isalpha() and method.isascii()) or _METHOD_RE.match(method)):
        raise SipParseError("bad method", where=repr(line[:80]))
    # A tab is refused here as the Request constructor refuses it.
    if not uri or "\t" in uri or not (version == "SIP/2.0" or _VERSION_RE.match(version)):
        raise SipParseError("bad request line", where=repr(line[:80]))
    request = Request.__new__(Request)
    request.headers, request.body, request.version = headers, body, version
    request.method, request._uri_text, request._uri = method, uri, None
    request._parsed = None
    return request
