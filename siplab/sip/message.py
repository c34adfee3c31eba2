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

Reading is lazy because a server reads only a few fields of most messages
(Call-ID, CSeq, the tags, the top Via: RFC 3261 §17.2.3). The header lines are
cut by :mod:`siplab.sip.header_block`, whose fast path does one partition and
one dictionary store per plain line; a value is stripped, and parsed, when it
is read. Those few fields are read by :mod:`siplab.sip.message_fields`, with
as few steps as the parser; the usual start lines are read here the same way
(``parse_message``), and any other one by ``_parse_start_line``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import TypeVar, cast

from siplab.errors import SipParseError
from siplab.sip.grammar import split_commas
from siplab.sip.header_block import MAX_HEADER_LINES, MAX_MESSAGE_SIZE, read_header_block
from siplab.sip.headers import (
    Address,
    Headers,
    Via,
    check_address,
    parse_address,
    parse_addresses,
    parse_via,
    parse_vias,
)
from siplab.sip.message_fields import TransactionFields
from siplab.sip.native import COMPILED
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

#: Headers every request must carry (§8.1.1); responses need all but Max-Forwards.
MANDATORY_HEADERS = ("Via", "From", "To", "Call-ID", "CSeq", "Max-Forwards")

_METHOD_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+\Z")
_VERSION_RE = re.compile(r"SIP/[0-9]+\.[0-9]+\Z", re.IGNORECASE)
# int() refuses strings of over 4300 digits; no length or count in SIP needs
# more than ten, so longer digit strings are refused before int() sees them.
_MAX_DIGITS = 10
_new_object = object.__new__  # an instance without running __init__

T = TypeVar("T")
#: Parsed header values of one message: (parser, header text) -> the parser's result.
_ParseCache = dict[tuple[Callable[[str], object], str], object]


def _vias(value: str) -> tuple[Via, ...]:
    # parse_vias as an immutable tuple, so that one parse can be shared. A
    # value without a comma is one element (or none, if blank), as
    # split_commas would find: parsed without building the list first.
    if "," not in value:
        element = value.strip()
        return (parse_via(element),) if element else ()
    return tuple(parse_vias(value))


def _addresses(value: str) -> tuple[Address, ...]:
    return tuple(parse_addresses(value))


class Message(TransactionFields):
    """What requests and responses share: headers, body, and typed accessors.

    The six fields read from every message (``call_id``, ``cseq``, ``from_tag``,
    ``to_tag``, ``branch``, ``via_count``) come from the base class
    :class:`~siplab.sip.message_fields.TransactionFields`.
    """

    __slots__ = ("headers", "body", "version", "_parsed")  # and _cseq, in the base class

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
        self._cseq = None

    # -- writing -------------------------------------------------------------

    @property
    def start_line(self) -> str:
        raise NotImplementedError

    def to_bytes(self) -> bytes:
        """The message as it goes on the wire (headers exactly as they are)."""
        # Each (name, value) pair becomes "name: value" by ": ".join(pair),
        # which map() applies without a Python-level loop.
        text = "\r\n".join([self.start_line, *map(": ".join, self.headers._items), "", ""])
        return text.encode("utf-8") + self.body

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

    def share_parsed(self, other: Message) -> None:
        """Start from ``other``'s parsed header values (a response from its request's).

        The cache is keyed by parser and header text, so an entry is only ever
        found for a header whose text is the same in both messages (the Via,
        From, Call-ID and CSeq a response copies): the response skips parsing
        them again, and any header it changed is parsed afresh.
        """
        if other._parsed:
            self._parsed = dict(other._parsed)
        self._cseq = other._cseq

    def forget_parsed(self) -> None:
        """Drop the parsed header values and the header index (both made again when read).

        A transaction that only waits to absorb retransmissions keeps its
        messages for tens of seconds; without the parsed values they are a
        few objects instead of dozens, which a busy server's memory and
        garbage collector notice.
        """
        self._parsed = None
        self._cseq = None
        self.headers.forget_index()

    def _required(self, key: str, name: str) -> str:
        """The first value of a header that must be there, by its lookup key.

        ``key`` is the lower-case full name (``"call-id"``, which also finds an
        ``i:`` line); ``name`` is how the error spells it. The value may keep
        the blanks that stood around it on the wire (the parser's fast path
        leaves them, see Headers): every reader here ignores them.
        """
        headers = self.headers
        value = headers._first.get(key)  # the parser's index, when it has one
        if value is None:
            value = headers._first_value(key)
        if value is None:
            raise SipParseError(f"missing {name} header")
        return value

    @property
    def from_(self) -> Address:
        return self._parse_once(parse_address, self._required("from", "From").strip(" \t"))

    # to and top_via make _required's first lookup themselves, and call it only
    # when that finds nothing: a server reads them several times per request.
    @property
    def to(self) -> Address:
        text = self.headers._first.get("to")
        if text is None:
            text = self._required("to", "To")
        return self._parse_once(parse_address, text.strip(" \t"))

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
        # Stripped, as ``via`` and a response's copied lines have it: one cache key.
        text = self.headers._first.get("via")
        if text is None:
            text = self._required("via", "Via")
        vias = self._parse_once(_vias, text.strip(" \t"))
        if not vias:
            raise SipParseError("empty Via header", where="header 'Via'")
        return vias[0]

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

    def _int_header(self, name: str, key: str) -> int | None:
        # ``key`` is the name's lookup key (see _required).
        headers = self.headers
        value = headers._first.get(key)
        if value is None:
            value = headers._first_value(key)
            if value is None:
                return None
        value = value.strip()
        if not value.isdigit() or not value.isascii() or len(value) > _MAX_DIGITS:
            raise SipParseError(f"{name} must be a number", where=f"header {name!r}")
        return int(value)

    @property
    def max_forwards(self) -> int | None:
        return self._int_header("Max-Forwards", "max-forwards")

    @property
    def expires(self) -> int | None:
        return self._int_header("Expires", "expires")

    @property
    def content_length(self) -> int | None:
        return self._int_header("Content-Length", "content-length")

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
        version = self.version
        if version != "SIP/2.0" and version.upper() != "SIP/2.0":  # the only one (§7.1)
            raise SipParseError(f"SIP version {version[:20]!r} is not supported "
                                "(only SIP/2.0)")
        first = self.headers._first
        # The usual case, every mandatory header in the parser's index, is
        # seen with a few lookups; otherwise missing_headers says which.
        if not ("via" in first and "from" in first and "to" in first
                and "call-id" in first and "cseq" in first
                and ("max-forwards" in first or not isinstance(self, Request))):
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
        # From must parse, but only its tag is read on the way through a server:
        # checked without making the Address, which from_ makes when asked.
        check_address(self._required("from", "From").strip(" \t"))
        _ = self.to
        # What ``self.via`` checks, without building its list: every Via line
        # parses, and there is at least one element (``Via: ,`` has none).
        elements = 0
        for line in self.headers._values("via") or ():
            elements += len(self._parse_once(_vias, line))
        if not elements:
            raise SipParseError("missing Via header")
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
        self._set_uri(uri)

    @property
    def uri(self) -> Uri:
        """The Request-URI, parsed on first use."""
        if self._uri is None:
            self._uri = parse_uri(self._uri_text)
        return self._uri

    @uri.setter
    def uri(self, value: Uri) -> None:
        self._set_uri(value)

    def _set_uri(self, value: Uri | str) -> None:
        # The constructor takes the URI's text too; the setter only a Uri, so
        # that the property has one type (which a mypyc-compiled build checks).
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
        clone._cseq = self._cseq
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
        clone._cseq = self._cseq
        return clone


# -- parsing ------------------------------------------------------------------------


def parse_message(data: bytes | bytearray | memoryview) -> Request | Response:
    """Read one SIP message from a datagram (or a frame cut by the stream framer).

    Leading CRLFs (keep-alives) are skipped. A body longer than Content-Length is
    cut to it (RFC 3261 §18.3: the extra bytes are discarded); a shorter one is
    an error. Without Content-Length the rest of the datagram is the body.
    Lines must end in CRLF; a message that uses bare LF throughout is accepted
    too, as many tolerant parsers do. The header lines are read by
    :func:`~siplab.sip.header_block.read_header_block`, the start line here.
    """
    if not isinstance(data, bytes):
        if isinstance(data, bytearray | memoryview):
            data = bytes(data)
        else:
            raise TypeError(f"parse_message wants bytes, not {type(data).__name__}")
    line, headers, body = read_header_block(data)
    # The usual start lines, "INVITE sip:bob@biloxi.example.com SIP/2.0" and
    # "SIP/2.0 180 Ringing", pass every test of _parse_start_line after one
    # split and a few string tests, and become the same objects here; any
    # other line goes there, which makes each test and says which one failed.
    try:
        word, middle, last = line.split(" ", 2)
    except ValueError:  # fewer than two blanks
        return _parse_start_line(line, headers, body)
    if last == "SIP/2.0" and word.isalpha() and word.isascii() and middle and "\t" not in middle:
        if COMPILED:  # see siplab.sip.native
            return Request(word, middle, headers, body, last)
        request = _new_object(Request)  # without Request.__init__'s checks, made above
        request.headers, request.body, request.version = headers, body, last
        request.method, request._uri_text, request._uri = word, middle, None
        request._parsed = request._cseq = None
        return request
    if word == "SIP/2.0" and len(middle) == 3 and middle.isdigit() and middle.isascii():
        status = int(middle)
        if 100 <= status <= 699:
            if COMPILED:
                return Response(status, last, headers, body, word)
            response = _new_object(Response)
            response.headers, response.body, response.version = headers, body, word
            response.status, response.reason = status, last
            response._parsed = response._cseq = None
            return response
    return _parse_start_line(line, headers, body)


def _parse_start_line(line: str, headers: Headers, body: bytes) -> Request | Response:
    # The careful reading of any start line: each test, and a precise error.
    if line[:4] == "SIP/" or (line[:1] in "sS" and line[:4].upper() == "SIP/"):
        version, sp, rest = line.partition(" ")
        code, _, reason = rest.partition(" ")
        status = int(code) if len(code) == 3 and code.isdigit() and code.isascii() else 0
        if (
            not sp
            or not (version == "SIP/2.0" or _VERSION_RE.match(version))
            or not 100 <= status <= 699
        ):
            raise SipParseError("bad status line", where=repr(line[:80]))
        if COMPILED:
            return Response(status, reason, headers, body, version)
        response = _new_object(Response)
        response.headers, response.body, response.version = headers, body, version
        response.status, response.reason = status, reason
        response._parsed = response._cseq = None
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
    if COMPILED:
        return Request(method, uri, headers, body, version)
    request = _new_object(Request)
    request.headers, request.body, request.version = headers, body, version
    request.method, request._uri_text, request._uri = method, uri, None
    request._parsed = request._cseq = None
    return request
