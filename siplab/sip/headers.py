"""SIP header fields: the typed values, and the ordered list (RFC 3261 §7.3, §20).

A header value is text; the values a user agent needs are read into typed
objects: :class:`Address` for From/To/Contact/Route (a name-addr such as
``"Alice" <sip:alice@atlanta.example.com>;tag=1928301774``), :class:`Via`
and :class:`CSeq`. They are parsed on demand from the text, so reading a
message costs only what you look at. :func:`tag_of` and :func:`via_branch`
read the two parameters every transaction needs without a full parse, and
:func:`check_address` tells whether an address parses without making it.

A server parses the top Via and the From of every request, and both are new
each time (the branch, the tag): :func:`parse_via` and :func:`parse_address`
read their usual shape with one regular expression each, and leave
everything else to a careful reading that says what is wrong. The two
readings agree wherever the quick one applies
(``tests/sip/test_request_path_fast_paths.py``).

The list of header lines itself (:class:`Headers`, compact forms, lookups) is
in :mod:`siplab.sip.header_list`; it is imported here too, so that
``from siplab.sip.headers import Headers`` keeps working.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, NamedTuple

from siplab.errors import SipParseError
from siplab.sip.grammar import (
    Params,
    format_params,
    get_param,
    parse_params,
    quote,
    set_param,
    split_commas,
    split_unquoted,
    unquote,
)
from siplab.sip.header_list import (
    COMPACT_FORMS,
    LIST_HEADERS,
    Headers,
    canonical_name,
    header_key,
)
from siplab.sip.native import COMPILED
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
    "check_address",
    "parse_via",
    "parse_vias",
    "parse_cseq",
    "tag_of",
    "via_branch",
    "WILDCARD",
]

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
        return get_param(self.params, "tag")  # self.param("tag"), one call fewer

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


# Addresses already read, text -> Address: the same memo as parse_uri's (an
# Address is immutable too). To and Contact repeat from one REGISTER to the next.
_MEMO: dict[str, Address] = {}
_MEMO_SIZE = 256
_MEMO_TEXT = 128  # longer texts are not kept: a flood of junk must not pin memory


def parse_address(text: str) -> Address:
    """Parse one name-addr or addr-spec with its parameters (§20.10, §25.1)."""
    address = _MEMO.get(text)
    if address is None:
        address = _parse_address(text)
        if len(text) <= _MEMO_TEXT:
            if len(_MEMO) >= _MEMO_SIZE:
                _MEMO.clear()
            _MEMO[text] = address
    return address


# The usual name-addr, ``<sip:alice@atlanta.example.com>;tag=1928301774``, with
# an optional display name, in one expression. Only shapes the careful reading
# below takes the same way: no blanks or quotes inside the brackets or among
# the parameters (so nothing there for it to strip or unquote), a display
# name of plain tokens or a quoted string without escapes, parameter names
# that are tokens. ``[!#-;=?-~]`` is printable ASCII except ``"``, ``<``, ``>``.
_COMMON_ADDRESS_RE = re.compile(
    r"(?:\"([^\"\\\r\n]*)\"[ \t]*|"                       # "Alice Smith" (group 1)
    r"([A-Za-z0-9\-.!%*_+`'~]+(?:[ \t]+[A-Za-z0-9\-.!%*_+`'~]+)*)[ \t]*)?"  # Alice (2)
    r"<([!#-;=?-~]+)>"                                           # <sip:...> (3)
    r"((?:;[A-Za-z0-9\-.!%*_+`'~]+(?:=[A-Za-z0-9\-.!%*_+`'~:\[\]]*)?)*)\Z"  # ;tag=... (4)
)
_new_object = object.__new__  # an instance without running __init__


def _slot_setter(cls: type, field: str) -> Any:
    # The setter of one field's slot. A frozen dataclass's __init__ stores each
    # field through object.__setattr__; calling the slot's own setter on an
    # instance from object.__new__ stores the same value for about half the
    # cost of the constructor. Used only where an Address or a Via is made
    # for every message; everywhere else the constructor is used as usual.
    return cls.__dict__[field].__set__


_set_address_uri = _slot_setter(Address, "uri")
_set_address_display = _slot_setter(Address, "display_name")
_set_address_params = _slot_setter(Address, "params")
_set_address_wildcard = _slot_setter(Address, "wildcard")


def _parse_address(text: str) -> Address:
    # The usual shape, read with one match (see _COMMON_ADDRESS_RE); the
    # careful reading below takes everything else and says what is wrong.
    common = _COMMON_ADDRESS_RE.match(text)
    if common is None:
        return _parse_address_carefully(text)
    quoted, tokens, uri_text, paramtext = common.groups()
    uri = parse_uri(uri_text)
    # What parse_params gives for parameters without blanks or quotes; a
    # plain loop, which costs less here than a comprehension.
    params: list[tuple[str, str | None]] = []
    if paramtext:
        for piece in paramtext[1:].split(";"):
            name, eq, value = piece.partition("=")
            params.append((name, value if eq else None))
    display = tokens if quoted is None else quoted
    if COMPILED:  # see siplab.sip.native
        return Address(uri, display, tuple(params))
    address = _new_object(Address)
    _set_address_uri(address, uri)
    _set_address_display(address, display)
    _set_address_params(address, tuple(params))
    _set_address_wildcard(address, False)
    return address


def _parse_address_carefully(text: str) -> Address:
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


def check_address(text: str) -> None:
    """Raise the SipParseError that ``parse_address(text)`` would raise, if any.

    Validating a request needs to know that its From parses, not the Address
    (a server reads only the From tag, see ``Message.from_tag``), and the tag
    is new in every dialog, so the Address would be made for nothing. The
    usual shape needs only its URI checked: on that shape ``_parse_address``
    can fail only there. Anything else is parsed (and remembered) in full.
    """
    if text in _MEMO:  # read before, so it parses
        return
    common = _COMMON_ADDRESS_RE.match(text)
    if common is None:
        parse_address(text)
    else:
        parse_uri(common.group(3))


def parse_addresses(value: str) -> list[Address]:
    """Parse a comma-separated list of addresses (Contact, Route, Record-Route)."""
    return [parse_address(part) for part in split_commas(value)]


def tag_of(value: str) -> str | None:
    """The ``tag`` parameter of a From or To value, read without a full parse.

    A user agent reads tags on every message; this looks only at the
    parameters after the URI, which is all the tag needs.
    """
    # The usual spelling, ``...>;tag=abc`` with no quotes among the parameters
    # (which follow the last '>', or are the whole value of an addr-spec), is
    # cut out with three partitions. Anything else (``; TAG = abc``) goes
    # through the regular expression, and quoted parameters through the parser.
    params = value.rpartition(">")[2]
    if '"' not in params:
        _, found, rest = params.partition(";tag=")
        if found:
            tag = rest.partition(";")[0]
            if tag and " " not in tag and "\t" not in tag and "," not in tag:
                return tag
        elif ";" not in params:
            return None  # no parameter at all (a To without a tag yet), so no tag
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

    # These read get_param directly rather than through self.param: a server
    # reads them on every request, and that saves a call each time.
    @property
    def branch(self) -> str | None:
        return get_param(self.params, "branch")

    @property
    def received(self) -> str | None:
        return get_param(self.params, "received")

    @property
    def rport(self) -> int | None:
        """The rport value filled in by the server, or None (also when only requested)."""
        value = get_param(self.params, "rport")
        if value and value.isascii() and value.isdigit() and len(value) <= 5:
            return int(value)
        return None

    @property
    def wants_rport(self) -> bool:
        """True if the client asked for symmetric response routing (``;rport``)."""
        return get_param(self.params, "rport") is not None

    @property
    def sent_by(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"


# The usual Via element, ``SIP/2.0/UDP host:port;branch=z9hG4bK776;rport``, in
# one expression: the sent-protocol written exactly so, one blank, a sent-by
# of host characters (checked below as the careful reading checks it), and
# parameters with token names and no blanks or quotes. Whatever it takes, the
# careful reading below would read the same; it takes anything else.
_COMMON_VIA_RE = re.compile(
    r"SIP/2\.0/([A-Za-z0-9\-.!%*_+`'~]+) "
    r"([A-Za-z0-9\-._:\[\]]+)"
    r"((?:;[A-Za-z0-9\-.!%*_+`'~]+(?:=[A-Za-z0-9\-.!%*_+`'~:\[\]]*)?)*)\Z"
)
_set_via_transport = _slot_setter(Via, "transport")
_set_via_host = _slot_setter(Via, "host")
_set_via_port = _slot_setter(Via, "port")
_set_via_params = _slot_setter(Via, "params")
_set_via_protocol = _slot_setter(Via, "protocol")


def parse_via(text: str) -> Via:
    """Parse one Via element (not a comma-separated list)."""
    # A server parses the top Via of every request, and its branch is new
    # each time: the usual shape is read with one match (see _COMMON_VIA_RE),
    # and the Via made by setting its slots (see _slot_setter).
    common = _COMMON_VIA_RE.match(text)
    if common is None:
        return _parse_via_carefully(text)
    transport, sent_by, paramtext = common.groups()
    # Host and port are read, and checked, as the careful reading does it:
    # as a SIP URI (whose reader remembers the few it sees over and over).
    probe = parse_uri("sip:" + sent_by)
    assert isinstance(probe, SipUri)
    params: list[tuple[str, str | None]] = []  # as in _parse_address
    if paramtext:
        for piece in paramtext[1:].split(";"):
            name, eq, value = piece.partition("=")
            params.append((name, value if eq else None))
    if COMPILED:  # see siplab.sip.native
        return Via(transport.upper(), probe.host, probe.port, tuple(params))
    via = _new_object(Via)
    _set_via_transport(via, transport.upper())
    _set_via_host(via, probe.host)
    _set_via_port(via, probe.port)
    _set_via_params(via, tuple(params))
    _set_via_protocol(via, "SIP/2.0")
    return via


def _parse_via_carefully(text: str) -> Via:
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
        first = value.partition(",")[0] if "," in value else value  # no copy for one
        _, found, rest = first.partition(";branch=")
        if found:  # the usual spelling: cut it out without the regex engine
            branch = rest.partition(";")[0]
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


# What CSeq(number, method) calls, without the Python-level wrapper around it.
_tuple_new = tuple.__new__


def parse_cseq(value: str) -> CSeq:
    """Parse a CSeq value; the number must be below 2**31 (§8.1.1.5)."""
    number, _, method = value.partition(" ")
    if value.isascii() and number.isdigit() and method.isalpha() and len(number) < 10:
        # The usual "314159 INVITE", read as the regular expression below
        # would read it, with a few string tests; below 2**31 by its length.
        return _tuple_new(CSeq, (int(number), method))
    m = _CSEQ_RE.match(value)
    if not m:
        raise SipParseError("bad CSeq", where=repr(value[:80]))
    number, method = m.groups()
    # The length test first: int() refuses strings of over 4300 digits.
    if len(number) <= 10:
        n = int(number)
        if n < 2**31:
            return _tuple_new(CSeq, (n, method))
    raise SipParseError("CSeq number must be below 2**31", where=repr(value[:80]))
