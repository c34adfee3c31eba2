"""SIP header fields: the ordered list, compact names, and the typed values (RFC 3261 §7.3, §20).

A SIP message carries its headers as ``Name: value`` lines. Four rules make
them trickier than they look:

* names are case-insensitive, and many have a one-letter *compact form*
  (``v`` is Via, ``f`` is From, ``i`` is Call-ID, §7.3.3);
* a header may appear several times, and for list headers (Via, Contact,
  Route...) ``Via: a, b`` means exactly the same as two Via lines (§7.3.1);
* order matters between lines of the same name (the top Via is the last hop);
* a line starting with whitespace continues the previous one (folding).

:class:`Headers` keeps every line in order, as written, and looks names up
case-insensitively with compact forms folded in. The typed values a user agent
needs (:class:`Address` for From/To/Contact/Route, :class:`Via`, :class:`CSeq`)
are parsed on demand from the text, so reading a message costs only what you
look at.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

from siplab.errors import SipParseError
from siplab.sip.grammar import (
    Params,
    format_params,
    get_param,
    is_token,
    parse_params,
    quote,
    set_param,
    split_commas,
    split_unquoted,
    unquote,
)
from siplab.sip.uri import SipUri, Uri, parse_uri

__all__ = [
    "COMPACT_FORMS",
    "LIST_HEADERS",
    "canonical_name",
    "header_key",
    "Headers",
    "Address",
    "Via",
    "CSeq",
    "parse_address",
    "parse_addresses",
    "parse_via",
    "parse_vias",
    "parse_cseq",
    "tag_of",
    "via_branch",
    "WILDCARD",
]

#: Compact forms (RFC 3261 §7.3.3 and the RFCs that added more), to full names.
COMPACT_FORMS: dict[str, str] = {
    "a": "Accept-Contact",
    "b": "Referred-By",
    "c": "Content-Type",
    "d": "Request-Disposition",
    "e": "Content-Encoding",
    "f": "From",
    "i": "Call-ID",
    "j": "Reject-Contact",
    "k": "Supported",
    "l": "Content-Length",
    "m": "Contact",
    "n": "Identity-Info",
    "o": "Event",
    "r": "Refer-To",
    "s": "Subject",
    "t": "To",
    "u": "Allow-Events",
    "v": "Via",
    "x": "Session-Expires",
    "y": "Identity",
}
_COMPACT_KEYS = {short: full.lower() for short, full in COMPACT_FORMS.items()}

#: Names whose case is not simply "capitalize each word".
_SPECIAL_CASE = {
    "call-id": "Call-ID",
    "cseq": "CSeq",
    "www-authenticate": "WWW-Authenticate",
    "mime-version": "MIME-Version",
    "rack": "RAck",
    "rseq": "RSeq",
    "sip-etag": "SIP-ETag",
    "sip-if-match": "SIP-If-Match",
}

#: Headers whose value is a comma-separated list (``1#element`` in RFC 3261 §25).
LIST_HEADERS = frozenset(
    {
        "via",
        "contact",
        "route",
        "record-route",
        "path",
        "service-route",
        "allow",
        "allow-events",
        "supported",
        "require",
        "proxy-require",
        "unsupported",
        "accept",
        "accept-encoding",
        "accept-language",
        "content-encoding",
        "content-language",
        "in-reply-to",
        "alert-info",
        "call-info",
        "error-info",
        "reply-to",
        "p-asserted-identity",
    }
)


def _known_keys() -> dict[str, str]:
    # Lookup keys of the spellings seen on nearly every message, precomputed.
    names = [
        "Via", "Max-Forwards", "To", "From", "Call-ID", "CSeq", "Contact", "Route",
        "Record-Route", "Allow", "Supported", "Require", "User-Agent", "Server",
        "Content-Type", "Content-Length", "Expires", "Authorization", "WWW-Authenticate",
        "Proxy-Authenticate", "Proxy-Authorization", "Accept", "Subject", "Date", "Event",
        "Allow-Events", "Session-Expires", "Min-SE", "Refer-To", "Referred-By", "Timestamp",
        "Call-Id", "Cseq", "Www-Authenticate", "Content-Disposition", "Organization",
    ]
    keys = {name: name.lower() for name in names}
    keys.update({name.lower(): name.lower() for name in names})
    keys.update(_COMPACT_KEYS)
    keys.update({short.upper(): full for short, full in _COMPACT_KEYS.items()})
    return keys


def header_key(name: str) -> str:
    """The lookup key of a header name: lower case, compact form expanded."""
    key = name.lower()
    if len(key) == 1:
        return _COMPACT_KEYS.get(key, key)
    return key


def canonical_name(name: str) -> str:
    """The usual spelling of a header name: ``call-id`` -> ``Call-ID``, ``v`` -> ``Via``."""
    key = header_key(name)
    special = _SPECIAL_CASE.get(key)
    if special:
        return special
    return "-".join(part.capitalize() for part in key.split("-"))


_KNOWN_KEYS = _known_keys()


class Headers:
    """An ordered, multi-valued, case-insensitive list of header fields.

    Each entry is one header line ``(name, value)`` with the name as written.
    Lookups fold case and compact forms: ``h.get("call-id")`` finds an ``i:``
    line. For list headers, :meth:`get_list` splits comma-separated values.
    """

    __slots__ = ("_items", "_index")

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        # Lines from a caller are checked like add() checks them, so that a value
        # with a CRLF cannot smuggle a header (or a whole message) onto the wire.
        self._items: list[tuple[str, str]] = [
            (name, _check_header(name, value)) for name, value in items
        ]
        # key -> values: built on the first lookup (or by the parser), dropped on
        # every change. Tuples rather than lists: the garbage collector stops
        # tracking a tuple of strings, and a busy server keeps many messages.
        self._index: dict[str, tuple[str, ...]] | None = None

    @classmethod
    def _trusted(
        cls, items: list[tuple[str, str]], index: dict[str, tuple[str, ...]] | None = None
    ) -> Headers:
        # Used by the parser: takes ownership of an already-built list (and the
        # index it built on the way, keyed by header_key()).
        obj = cls.__new__(cls)
        obj._items = items
        obj._index = index
        return obj

    def _values(self, key: str) -> tuple[str, ...] | None:
        # Lookup by an already-normalized key ("call-id", "via"): the typed
        # accessors of Message use it to skip header_key() on every read.
        index = self._index
        if index is None:
            index = self._lookup()
        return index.get(key)

    def _lookup(self) -> dict[str, tuple[str, ...]]:
        index = self._index
        if index is None:
            index = {}
            known = _KNOWN_KEYS
            for name, value in self._items:
                key = known.get(name)
                if key is None:
                    key = header_key(name)
                found = index.get(key)
                index[key] = (value,) if found is None else (*found, value)
            self._index = index
        return index

    # -- reading ---------------------------------------------------------------

    def get(self, name: str, default: str | None = None) -> str | None:
        """The value of the first line called ``name``, or ``default``."""
        found = self._lookup().get(header_key(name))
        return found[0] if found else default

    def get_all(self, name: str) -> list[str]:
        """The values of every line called ``name``, in order (not comma-split)."""
        return list(self._lookup().get(header_key(name), ()))

    def get_list(self, name: str) -> list[str]:
        """Every element of a list header, across lines, split at commas."""
        lines = self._lookup().get(header_key(name))
        if not lines:
            return []
        if len(lines) == 1:
            return split_commas(lines[0])
        out: list[str] = []
        for line in lines:
            out.extend(split_commas(line))
        return out

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and header_key(name) in self._lookup()

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def items(self) -> list[tuple[str, str]]:
        """A copy of the lines, as ``(name, value)`` pairs in order."""
        return list(self._items)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        if len(self._items) != len(other._items):
            return False
        return all(
            value_a == value_b and header_key(name_a) == header_key(name_b)
            for (name_a, value_a), (name_b, value_b) in zip(self._items, other._items, strict=True)
        )

    def __hash__(self) -> int:  # mutable container
        raise TypeError("Headers is not hashable")

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"

    def copy(self) -> Headers:
        return Headers._trusted(list(self._items))

    # -- changing --------------------------------------------------------------

    def add(self, name: str, value: str) -> None:
        """Append a line at the end."""
        value = _check_header(name, value)
        self._items.append((name, value))
        self._index = None

    def insert(self, position: int, name: str, value: str) -> None:
        """Insert a line at ``position`` (0 is the top), as a proxy adds its Via."""
        value = _check_header(name, value)
        self._items.insert(position, (name, value))
        self._index = None

    def prepend(self, name: str, value: str) -> None:
        """Insert a line above the first line of the same name (or at the top).

        This is how a proxy adds a Via or a Record-Route: the new value comes
        first among its kind, wherever that kind sits in the message.
        """
        key = header_key(name)
        for i, (existing, _) in enumerate(self._items):
            if header_key(existing) == key:
                self.insert(i, name, value)
                return
        self.insert(0, name, value)

    def set(self, name: str, value: str) -> None:
        """Replace every line called ``name`` by one line (where the first was)."""
        value = _check_header(name, value)
        key = header_key(name)
        out: list[tuple[str, str]] = []
        placed = False
        for existing, old in self._items:
            if header_key(existing) == key:
                if not placed:
                    out.append((existing, value))
                    placed = True
            else:
                out.append((existing, old))
        if not placed:
            out.append((name, value))
        self._items = out
        self._index = None

    def replace_first(self, name: str, value: str) -> bool:
        """Replace the value of the first line called ``name``; False if there is none."""
        value = _check_header(name, value)
        key = header_key(name)
        for i, (existing, _) in enumerate(self._items):
            if header_key(existing) == key:
                self._items[i] = (existing, value)
                self._index = None
                return True
        return False

    def remove(self, name: str) -> int:
        """Remove every line called ``name``; returns how many were removed."""
        key = header_key(name)
        before = len(self._items)
        self._items = [(n, v) for n, v in self._items if header_key(n) != key]
        self._index = None
        return before - len(self._items)

    def pop_first(self, name: str) -> str | None:
        """Remove the first *element* of a list header and return it.

        ``Via: a, b`` becomes ``Via: b``; a line left empty disappears. This is
        how a proxy strips its own Via from a response (§16.7 step 3).
        """
        key = header_key(name)
        for i, (existing, value) in enumerate(self._items):
            if header_key(existing) == key:
                parts = split_commas(value)
                if not parts:
                    continue
                if len(parts) == 1:
                    del self._items[i]
                else:
                    self._items[i] = (existing, ", ".join(parts[1:]))
                self._index = None
                return parts[0]
        return None


def _check_header(name: str, value: str) -> str:
    # Returns the value as a parser would read it back: without the spaces and
    # tabs around it (§7.3.1), so that parse_message(m.to_bytes()) == m holds.
    if not is_token(name):
        raise ValueError(f"bad header name {name!r}")
    if "\r" in value or "\n" in value or "\x00" in value:
        raise ValueError(f"header {name!r} value contains CR, LF or NUL")
    return value.strip(" \t")


# -- name-addr / addr-spec ------------------------------------------------------

_DISPLAY_TOKENS_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+(?:[ \t]+[A-Za-z0-9\-.!%*_+`'~]+)*\Z")


@dataclass(frozen=True, slots=True)
class Address:
    """A name-addr or addr-spec with header parameters: From, To, Contact, Route...

    ``"Alice" <sip:alice@atlanta.example.com>;tag=1928301774`` has display name
    ``Alice``, that URI, and the parameter ``tag``. ``Contact: *`` is an Address
    whose :attr:`is_wildcard` is true.
    """

    uri: Uri
    display_name: str | None = None
    params: Params = ()
    wildcard: bool = False

    def __str__(self) -> str:
        if self.wildcard:
            return "*"
        name = ""
        if self.display_name is not None:
            name = (
                self.display_name
                if _DISPLAY_TOKENS_RE.match(self.display_name)
                else quote(self.display_name)
            ) + " "
        return f"{name}<{self.uri}>{format_params(self.params)}"

    def param(self, name: str) -> str | None:
        """A header parameter (``tag``, ``expires``, ``q``...), ``""`` for a flag, or None."""
        return get_param(self.params, name)

    def with_param(self, name: str, value: str | None = None) -> Address:
        # The constructor rather than dataclasses.replace(): a server adds a tag
        # to every response's To, and replace() costs several times more.
        return Address(self.uri, self.display_name, set_param(self.params, name, value),
                       self.wildcard)

    @property
    def tag(self) -> str | None:
        return self.param("tag")

    @property
    def is_wildcard(self) -> bool:
        return self.wildcard

    @property
    def sip_uri(self) -> SipUri:
        """The URI, which must be a SIP or SIPS URI here."""
        if not isinstance(self.uri, SipUri):
            raise SipParseError("expected a SIP URI", where=str(self.uri))
        return self.uri


WILDCARD = Address(SipUri("invalid"), wildcard=True)


def parse_address(text: str) -> Address:
    """Parse one name-addr or addr-spec with its parameters (§20.10, §25.1)."""
    text = text.strip()
    if text == "*":
        return WILDCARD
    lt = text.find("<", _end_of_quoted(text) if text[:1] == '"' else 0)
    if lt >= 0:
        gt = text.find(">", lt)
        if gt < 0:
            raise SipParseError("'<' without '>' in address", where=repr(text[:80]))
        display = text[:lt].strip()
        display_name: str | None = None
        if display:
            if display[0] == '"':
                if _end_of_quoted(display) != len(display):
                    raise SipParseError("bad quoted display name", where=repr(text[:80]))
                display_name = unquote(display)
            elif _DISPLAY_TOKENS_RE.match(display):
                display_name = display
            else:
                raise SipParseError("bad display name", where=repr(text[:80]))
        uri = parse_uri(text[lt + 1 : gt].strip())
        rest = text[gt + 1 :].strip()
        return Address(uri, display_name, parse_params(rest) if rest else ())
    # addr-spec: no display name, and the first ';' starts the header parameters.
    semi = text.find(";")
    uri_text, rest = (text, "") if semi < 0 else (text[:semi], text[semi:])
    if not uri_text or " " in uri_text.strip():
        raise SipParseError("bad address", where=repr(text[:80]))
    return Address(parse_uri(uri_text.strip()), None, parse_params(rest) if rest else ())


def _end_of_quoted(text: str) -> int:
    # Index just after the quoted string that starts text ("A <b> \"c\"" <sip:...>).
    i = 1
    while i < len(text) and text[i] != '"':
        i += 2 if text[i] == "\\" else 1
    if i >= len(text):
        raise SipParseError("unterminated quoted display name", where=repr(text[:80]))
    return i + 1


def parse_addresses(value: str) -> list[Address]:
    """Parse a comma-separated list of addresses (Contact, Route, Record-Route)."""
    return [parse_address(part) for part in split_commas(value)]


def tag_of(value: str) -> str | None:
    """The ``tag`` parameter of a From or To value, read without a full parse.

    A user agent reads tags on every message; this looks only at the
    parameters after the URI, which is all the tag needs.
    """
    gt = value.rfind(">")
    if gt >= 0:
        params = value[gt + 1 :]
    else:
        semi = value.find(";")
        if semi < 0:
            return None
        params = value[semi:]
    if '"' not in params:
        start = params.find(";tag=")
        if start >= 0:  # the usual spelling: cut it out without the regex engine
            end = params.find(";", start + 5)
            tag = params[start + 5 :] if end < 0 else params[start + 5 : end]
            if tag and " " not in tag and "\t" not in tag and "," not in tag:
                return tag
        match = _TAG_RE.search(params)
        return match.group(1) if match else None
    # A quoted parameter value may itself hold '>' or ';': read it properly.
    return parse_address(value).tag


_TAG_RE = re.compile(r";[ \t]*tag[ \t]*=[ \t]*([^;, \t]+)", re.IGNORECASE)
_BRANCH_RE = re.compile(r";[ \t]*branch[ \t]*=[ \t]*([^;, \t]+)", re.IGNORECASE)


# -- Via ---------------------------------------------------------------------------

_SENT_PROTOCOL_RE = re.compile(
    r"\s*([A-Za-z0-9\-.!%*_+`'~]+)\s*/\s*([A-Za-z0-9\-.!%*_+`'~]+)\s*/\s*"
    r"([A-Za-z0-9\-.!%*_+`'~]+)\s+"
)


@dataclass(frozen=True, slots=True)
class Via:
    """One Via element: the hop a request went through (§20.42, §18.2.1).

    ``SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bK776asdhds;rport``.
    The ``branch`` names the transaction; ``received`` and ``rport`` are added by
    the next hop with the address the request really came from (RFC 3581).
    """

    transport: str
    host: str
    port: int | None = None
    params: Params = ()
    protocol: str = "SIP/2.0"

    def __str__(self) -> str:
        port = "" if self.port is None else f":{self.port}"
        return f"{self.protocol}/{self.transport} {self.host}{port}{format_params(self.params)}"

    def param(self, name: str) -> str | None:
        return get_param(self.params, name)

    def with_param(self, name: str, value: str | None = None) -> Via:
        # The constructor rather than dataclasses.replace(): see Address.with_param.
        return Via(self.transport, self.host, self.port, set_param(self.params, name, value),
                   self.protocol)

    @property
    def branch(self) -> str | None:
        return self.param("branch")

    @property
    def received(self) -> str | None:
        return self.param("received")

    @property
    def rport(self) -> int | None:
        """The rport value filled in by the server, or None (also when only requested)."""
        value = self.param("rport")
        if value and value.isascii() and value.isdigit() and len(value) <= 5:
            return int(value)
        return None

    @property
    def wants_rport(self) -> bool:
        """True if the client asked for symmetric response routing (``;rport``)."""
        return self.param("rport") is not None

    @property
    def sent_by(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"


def parse_via(text: str) -> Via:
    """Parse one Via element (not a comma-separated list)."""
    m = _SENT_PROTOCOL_RE.match(text)
    if not m:
        raise SipParseError("bad Via sent-protocol", where=repr(text[:80]))
    name, version, transport = m.groups()
    rest = text[m.end() :]
    semi = rest.find(";")
    sent_by, params = (rest, "") if semi < 0 else (rest[:semi], rest[semi:])
    sent_by = sent_by.strip()
    if not sent_by:
        raise SipParseError("Via without sent-by", where=repr(text[:80]))
    if " " in sent_by or "\t" in sent_by:
        # sent-by = host [ COLON port ], and COLON may have whitespace around it.
        host, colon, port = sent_by.rpartition(":")
        sent_by = f"{host.rstrip()}:{port.lstrip()}" if colon else sent_by
    if "@" in sent_by or "?" in sent_by:
        raise SipParseError("Via sent-by must be host[:port]", where=repr(text[:80]))
    probe = parse_uri("sip:" + sent_by)
    assert isinstance(probe, SipUri)
    return Via(transport.upper(), probe.host, probe.port, parse_params(params.strip()),
               f"{name}/{version}")


def parse_vias(value: str) -> list[Via]:
    """Parse a Via header value that may hold several comma-separated elements."""
    return [parse_via(part) for part in split_commas(value)]


def via_branch(value: str) -> str | None:
    """The branch of the *first* Via element in a header value, read quickly."""
    if '"' not in value:
        first = value.split(",", 1)[0] if "," in value else value
        start = first.find(";branch=")
        if start >= 0:  # the usual spelling: cut it out without the regex engine
            end = first.find(";", start + 8)
            branch = first[start + 8 :] if end < 0 else first[start + 8 : end]
            if branch and " " not in branch and "\t" not in branch:
                return branch
        match = _BRANCH_RE.search(first)
        return match.group(1) if match else None
    first = split_unquoted(value, ",")[0]
    semi = first.find(";")
    if semi < 0:
        return None
    for name, val in parse_params(first[semi:].strip()):
        if name.lower() == "branch":
            return val
    return None


# -- CSeq --------------------------------------------------------------------------


class CSeq(NamedTuple):
    """The command sequence: a number and a method, ``CSeq: 314159 INVITE`` (§20.16)."""

    number: int
    method: str

    def __str__(self) -> str:
        return f"{self.number} {self.method}"


_CSEQ_RE = re.compile(r"[ \t]*([0-9]+)[ \t]+([A-Za-z0-9\-.!%*_+`'~]+)[ \t]*\Z")


_COMMON_METHODS = frozenset(
    {
        "INVITE", "ACK", "BYE", "CANCEL", "REGISTER", "OPTIONS", "MESSAGE", "INFO", "REFER",
        "NOTIFY", "SUBSCRIBE", "UPDATE", "PRACK", "PUBLISH",
    }
)


def parse_cseq(value: str) -> CSeq:
    """Parse a CSeq value; the number must be below 2**31 (§8.1.1.5)."""
    number, _, method = value.partition(" ")
    if method in _COMMON_METHODS and number.isdigit() and len(number) < 10 and number.isascii():
        return CSeq(int(number), method)  # the usual "314159 INVITE"; below 2**31 by length
    m = _CSEQ_RE.match(value)
    if not m:
        raise SipParseError("bad CSeq", where=repr(value[:80]))
    number, method = m.groups()
    # The length test first: int() refuses strings of over 4300 digits.
    if len(number) > 10 or int(number) >= 2**31:
        raise SipParseError("CSeq number must be below 2**31", where=repr(value[:80]))
    return CSeq(int(number), method)
