"""SIP, SIPS and tel URIs (RFC 3261 §19.1, RFC 3966).

A SIP URI names a user at a host, the way an e-mail address does, plus
parameters that tell a proxy how to reach it::

    sip:alice:secret@atlanta.example.com:5060;transport=tcp;lr?subject=project
    \\_/ \\___/ \\____/ \\_________________/ \\__/ \\______________/ \\_____________/
   scheme user password       host       port     parameters         headers

``sips:`` is the same but asks for TLS on every hop. ``tel:+1-212-555-0101``
names a telephone number (RFC 3966). Any other scheme (``mailto:``, ``urn:``)
is kept as an :class:`AbsoluteUri` so that a message carrying it still parses.

Fields are kept exactly as written (``%41`` stays ``%41``), so a URI written
back is byte-for-byte the one that was read. :func:`uri_equal` implements the
comparison rules of §19.1.4, which unescape first and ignore case where the
RFC says case does not matter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote as _pct_unquote

from siplab.errors import SipParseError
from siplab.sip.grammar import Params, format_params, get_param, parse_params, set_param

__all__ = [
    "SipUri",
    "TelUri",
    "AbsoluteUri",
    "Uri",
    "parse_uri",
    "uri_equal",
]

# Labels are runs of letters/digits joined by hyphens, separated by dots. Written
# so that each character can match only one way: the obvious nested form
# ``(label\.?)+`` backtracks exponentially on a long host with a bad character.
_HOST_RE = re.compile(
    r"(?:[A-Za-z0-9_]+(?:-+[A-Za-z0-9_]+)*\.)*[A-Za-z0-9_]+(?:-+[A-Za-z0-9_]+)*\.?\Z"
)
_IPV6_RE = re.compile(r"\[[0-9A-Fa-f:.]+\]\Z")
_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*\Z")
# Characters a user part may hold (RFC 3261 §25.1 user, plus escapes).
_USER_RE = re.compile(r"[A-Za-z0-9\-_.!~*'()&=+$,;?/%]+\Z")
_PASSWORD_RE = re.compile(r"[A-Za-z0-9\-_.!~*'()&=+$,%]*\Z")
_PARAM_VALUE_RE = re.compile(r"[A-Za-z0-9\-_.!~*'()\[\]/:&+$%]*\Z")
_HEADERS_RE = re.compile(r"[A-Za-z0-9\-_.!~*'()\[\]/?:+$%=&]*\Z")
_TEL_RE = re.compile(r"[0-9A-Fa-f*#+\-.()pwPW]+\Z")


@dataclass(frozen=True, slots=True)
class SipUri:
    """A ``sip:`` or ``sips:`` URI. ``host`` keeps IPv6 brackets: ``[2001:db8::1]``."""

    host: str
    user: str | None = None
    password: str | None = None
    port: int | None = None
    params: Params = ()
    headers: str | None = None
    scheme: str = "sip"

    def __str__(self) -> str:
        out = [self.scheme, ":"]
        if self.user is not None:
            out.append(self.user)
            if self.password is not None:
                out.append(":" + self.password)
            out.append("@")
        out.append(self.host)
        if self.port is not None:
            out.append(f":{self.port}")
        out.append(format_params(self.params))
        if self.headers is not None:
            out.append("?" + self.headers)
        return "".join(out)

    def param(self, name: str) -> str | None:
        """A URI parameter's value (``""`` for a flag such as ``lr``), or None."""
        return get_param(self.params, name)

    def with_param(self, name: str, value: str | None = None) -> SipUri:
        """A copy with parameter ``name`` set (``value=None`` makes a flag)."""
        return SipUri(self.host, self.user, self.password, self.port,
                      set_param(self.params, name, value), self.headers, self.scheme)

    @property
    def transport(self) -> str | None:
        """The ``transport`` parameter in lower case (``udp``, ``tcp``, ``ws``...)."""
        value = self.param("transport")
        return value.lower() if value else None

    @property
    def lr(self) -> bool:
        """True when the URI has the ``lr`` flag: the element is a loose router (§16.12)."""
        return self.param("lr") is not None

    @property
    def host_port(self) -> str:
        """``host`` or ``host:port`` as written in a Via or a Host-like context."""
        return self.host if self.port is None else f"{self.host}:{self.port}"

    @property
    def host_for_socket(self) -> str:
        """The host without IPv6 brackets, as socket functions want it."""
        return self.host[1:-1] if self.host.startswith("[") else self.host

    @property
    def secure(self) -> bool:
        return self.scheme == "sips"

    @property
    def address_of_record(self) -> str:
        """``sip:user@host`` without port or parameters: the key a registrar stores.

        §10.3 step 5: escapes are undone (``%61lice`` is ``alice``) so that two
        spellings of one user land on one binding.
        """
        user = f"{_unescape_unreserved(self.user)}@" if self.user is not None else ""
        return f"{self.scheme}:{user}{self.host.lower()}"


@dataclass(frozen=True, slots=True)
class TelUri:
    """A ``tel:`` URI (RFC 3966): a telephone number with parameters."""

    number: str
    params: Params = ()

    def __str__(self) -> str:
        return f"tel:{self.number}{format_params(self.params)}"

    def param(self, name: str) -> str | None:
        return get_param(self.params, name)

    @property
    def scheme(self) -> str:
        return "tel"

    @property
    def is_global(self) -> bool:
        """Global numbers start with ``+`` (E.164); others need a phone-context."""
        return self.number.startswith("+")


@dataclass(frozen=True, slots=True)
class AbsoluteUri:
    """A URI with a scheme siplab does not interpret (``mailto:``, ``urn:``...)."""

    scheme: str
    rest: str

    def __str__(self) -> str:
        return f"{self.scheme}:{self.rest}"


Uri = SipUri | TelUri | AbsoluteUri


# The usual shape of a SIP URI, ``sip:user@host:port;name=value;flag``, in one
# expression built from the ones above: no password, no headers, no IPv6 and
# no quoting anywhere. Whatever it reads, the careful path would read the same.
_COMMON_SIP_RE = re.compile(
    r"([Ss][Ii][Pp][Ss]?):"
    r"(?:([A-Za-z0-9\-_.!~*'()&=+$,;?/%]+)@)?"
    r"((?:[A-Za-z0-9_]+(?:-+[A-Za-z0-9_]+)*\.)*[A-Za-z0-9_]+(?:-+[A-Za-z0-9_]+)*\.?)"
    r"(?::([0-9]{1,5}))?"
    r"((?:;[A-Za-z0-9\-.!%*_+`'~]+(?:=[A-Za-z0-9\-_.!~*'()\[\]/:&+$%]*)?)*)\Z"
)


# URIs already read, text -> URI. A server reads the same few URIs over and
# over (its own Request-URI, each user's AOR and contact), and a URI is
# immutable, so handing out the one parsed before is the same as parsing again.
# Only successes are kept; the memo is emptied when full, which bounds it.
_MEMO: dict[str, Uri] = {}
_MEMO_SIZE = 256
_MEMO_TEXT = 128  # longer texts are not kept: a flood of junk must not pin memory


def parse_uri(text: str) -> Uri:
    """Parse a URI; raises :class:`SipParseError` saying what is wrong."""
    uri = _MEMO.get(text)
    if uri is None:
        uri = _parse_uri(text)
        if len(text) <= _MEMO_TEXT:
            if len(_MEMO) >= _MEMO_SIZE:
                _MEMO.clear()
            _MEMO[text] = uri
    return uri


def _parse_uri(text: str) -> Uri:
    common = _COMMON_SIP_RE.match(text)
    if common is not None:  # a server reads several URIs per message: the quick way
        scheme, user, host, port, paramtext = common.groups()
        if port is None or int(port) <= 65535:
            common_params = tuple(
                (name, value if eq else None)
                for name, eq, value in (piece.partition("=") for piece in paramtext[1:].split(";"))
            ) if paramtext else ()
            return SipUri(host, user, None, None if port is None else int(port), common_params,
                          None, scheme.lower())
    scheme, colon, rest = text.partition(":")
    if not colon or not _SCHEME_RE.match(scheme):
        raise SipParseError("not a URI (no scheme)", where=repr(text[:80]))
    lscheme = scheme.lower()
    if lscheme in ("sip", "sips"):
        return _parse_sip(lscheme, rest, text)
    if lscheme == "tel":
        number, _, params = rest.partition(";")
        if not _TEL_RE.match(number):
            raise SipParseError("bad telephone number", where=repr(text[:80]))
        return TelUri(number, parse_params(";" + params) if params else ())
    if not rest or any(ch in rest for ch in " \t\r\n<>\""):
        raise SipParseError("bad URI", where=repr(text[:80]))
    return AbsoluteUri(scheme, rest)


def _parse_sip(scheme: str, rest: str, text: str) -> SipUri:
    user: str | None = None
    password: str | None = None
    at = rest.find("@")
    if at >= 0:
        userinfo, rest = rest[:at], rest[at + 1 :]
        user, colon, pw = userinfo.partition(":")
        if not _USER_RE.match(user):
            raise SipParseError("bad user part in SIP URI", where=repr(text[:80]))
        if colon:
            if not _PASSWORD_RE.match(pw):
                raise SipParseError("bad password in SIP URI", where=repr(text[:80]))
            password = pw
    headers: str | None = None
    qmark = rest.find("?")
    if qmark >= 0:
        rest, headers = rest[:qmark], rest[qmark + 1 :]
        if not _HEADERS_RE.match(headers):
            raise SipParseError("bad headers part in SIP URI", where=repr(text[:80]))
    semi = rest.find(";")
    hostport, paramtext = (rest, "") if semi < 0 else (rest[:semi], rest[semi:])
    host, port = _split_hostport(hostport, text)
    params = parse_params(paramtext) if paramtext else ()
    for _, value in params:
        if value is not None and not _PARAM_VALUE_RE.match(value):
            raise SipParseError("bad URI parameter value", where=repr(text[:80]))
    return SipUri(host, user, password, port, params, headers, scheme)


def _split_hostport(hostport: str, text: str) -> tuple[str, int | None]:
    if hostport.startswith("["):
        end = hostport.find("]")
        host, portpart = hostport[: end + 1], hostport[end + 1 :]
        if end < 0 or not _IPV6_RE.match(host) or (portpart and portpart[0] != ":"):
            raise SipParseError("bad IPv6 reference", where=repr(text[:80]))
        portstr = portpart[1:] if portpart else None
    else:
        host, colon, portstr_ = hostport.partition(":")
        portstr = portstr_ if colon else None
        if not _HOST_RE.match(host):
            raise SipParseError("bad host in SIP URI", where=repr(text[:80]))
    port: int | None = None
    if portstr is not None:
        # The length test comes first: int() refuses strings of over 4300 digits.
        if (
            not portstr.isdigit()
            or not portstr.isascii()
            or len(portstr) > 5
            or int(portstr) > 65535
        ):
            raise SipParseError("bad port in SIP URI", where=repr(text[:80]))
        port = int(portstr)
    return host, port


# Parameters that, present in only one of two URIs, make them differ (§19.1.4).
_SIGNIFICANT_PARAMS = ("user", "ttl", "method", "maddr", "transport")


def uri_equal(a: Uri, b: Uri) -> bool:
    """Compare two URIs by the rules of RFC 3261 §19.1.4.

    User and password compare case-sensitively, host case-insensitively, both
    after unescaping; a port written in one and not the other makes them differ;
    ``user``, ``ttl``, ``method``, ``maddr`` and ``transport`` must agree when either
    has them; other parameters are compared only when both have them.
    """
    if a == b:  # the same fields, as written: equal under every rule below
        return True
    if isinstance(a, SipUri) and isinstance(b, SipUri):
        if a.scheme != b.scheme or a.port != b.port:
            return False
        if _unesc(a.user) != _unesc(b.user) or _unesc(a.password) != _unesc(b.password):
            return False
        if a.host.lower() != b.host.lower():
            return False
        pa = {k.lower(): _lower_unesc(v) for k, v in a.params}
        pb = {k.lower(): _lower_unesc(v) for k, v in b.params}
        for name in set(pa) | set(pb):
            if name in pa and name in pb:
                if pa[name] != pb[name]:
                    return False
            elif name in _SIGNIFICANT_PARAMS:
                return False
        return _header_set(a.headers) == _header_set(b.headers)
    if isinstance(a, TelUri) and isinstance(b, TelUri):
        digits_a = re.sub(r"[\-.()]", "", a.number).lower()
        digits_b = re.sub(r"[\-.()]", "", b.number).lower()
        return digits_a == digits_b and {k.lower(): v for k, v in a.params} == {
            k.lower(): v for k, v in b.params
        }
    return str(a) == str(b)


def _unesc(text: str | None) -> str | None:
    return None if text is None else _pct_unquote(text)


def _lower_unesc(text: str | None) -> str | None:
    return None if text is None else _pct_unquote(text).lower()


def _header_set(headers: str | None) -> frozenset[tuple[str, str]]:
    # Header names compare case-insensitively, as header names do (§7.3.1).
    if not headers:
        return frozenset()
    pairs = (part.partition("=") for part in headers.split("&"))
    return frozenset((_pct_unquote(name).lower(), _pct_unquote(value)) for name, _, value in pairs)


_ESCAPE_RE = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.!~*'()")


def _unescape_unreserved(text: str) -> str:
    # Undo only the escapes of characters that never need one, so that the
    # result is still a valid user part (an escaped '@' must stay escaped).
    def one(match: re.Match[str]) -> str:
        char = chr(int(match.group(1), 16))
        return char if char in _UNRESERVED else match.group(0).upper()

    return _ESCAPE_RE.sub(one, text) if "%" in text else text
