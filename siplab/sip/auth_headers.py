"""The two digest headers: the challenge and the answer, read and written (RFC 7616 §3.3-3.4).

A 401 or 407 carries the server's challenge in ``WWW-Authenticate`` /
``Proxy-Authenticate``; the retried request carries the client's answer in
``Authorization`` / ``Proxy-Authorization`` (RFC 3261 §22.2-22.3). Both are a
scheme name, ``Digest``, and comma-separated ``name=value`` pairs::

    WWW-Authenticate: Digest realm="example.com", nonce="Xq3...", algorithm=MD5, qop="auth"
    Authorization: Digest username="alice", realm="example.com", nonce="Xq3...",
        uri="sip:example.com", response="6b8f...", algorithm=MD5, cnonce="0a4f",
        qop=auth, nc=00000001

Names are case-insensitive; values are tokens or quoted strings, which may hold
commas and backslash escapes, so the value cannot simply be split at commas.
What each parameter means, and how ``response`` is computed, is explained in
:mod:`siplab.sip.auth`. Parameters this module does not know are kept and
written back as they came.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from siplab.errors import SipParseError
from siplab.sip.grammar import TOKEN_CHARS, quote, split_commas

__all__ = [
    "ALGORITHMS",
    "Challenge",
    "Credentials",
    "ExtraParams",
    "canonical_algorithm",
    "parse_challenge",
    "parse_credentials",
]

#: The algorithms siplab computes, by their RFC 7616 names.
ALGORITHMS = ("MD5", "MD5-sess", "SHA-256", "SHA-256-sess")

_CANONICAL = {name.upper(): name for name in ALGORITHMS}
_NC_RE = re.compile(r"[0-9a-f]{8}\Z")


def canonical_algorithm(name: str | None) -> str | None:
    """The RFC spelling of an algorithm name (``sha-256`` -> ``SHA-256``), None if unknown.

    A missing algorithm parameter means MD5 (RFC 7616 §3.3).
    """
    return _CANONICAL.get((name or "MD5").upper())


# -- the two headers ----------------------------------------------------------------------

#: Other auth-params, as written: a quoted value keeps its quotes.
ExtraParams = tuple[tuple[str, str], ...]


def _bare(value: str) -> bool:
    """True if ``value`` can be written without quotes (a token-like run)."""
    return bool(value) and not any(ch in ' \t,"' for ch in value)


def _format(scheme_params: list[tuple[str, str | None, bool]], extra: ExtraParams) -> str:
    # RFC 7616 quotes realm, nonce, opaque, username, uri, response, cnonce (and
    # the challenge's qop list); algorithm, stale, nc and the chosen qop are bare
    # tokens, unless a peer sent one that only makes sense quoted.
    parts = [
        f"{name}={quote(value) if quoted or not _bare(value) else value}"
        for name, value, quoted in scheme_params
        if value is not None
    ]
    parts.extend(f"{name}={value}" for name, value in extra)
    return "Digest " + ", ".join(parts)


@dataclass(frozen=True, slots=True)
class Challenge:
    """One ``WWW-Authenticate`` / ``Proxy-Authenticate`` digest challenge (RFC 7616 §3.3)."""

    realm: str
    nonce: str
    algorithm: str | None = None
    qop: tuple[str, ...] = ()
    opaque: str | None = None
    stale: bool = False
    domain: str | None = None
    params: ExtraParams = ()

    @property
    def algorithm_name(self) -> str:
        """The algorithm in its RFC spelling (MD5 when absent), or as written if unknown."""
        return canonical_algorithm(self.algorithm) or str(self.algorithm)

    def __str__(self) -> str:
        return _format(
            [
                ("realm", self.realm, True),
                ("domain", self.domain, True),
                ("nonce", self.nonce, True),
                ("opaque", self.opaque, True),
                ("stale", "TRUE" if self.stale else None, False),
                ("algorithm", self.algorithm, False),
                ("qop", ",".join(self.qop) if self.qop else None, True),
            ],
            self.params,
        )


@dataclass(frozen=True, slots=True)
class Credentials:
    """One ``Authorization`` / ``Proxy-Authorization`` digest answer (RFC 7616 §3.4)."""

    username: str
    realm: str
    nonce: str
    uri: str
    response: str
    algorithm: str | None = None
    cnonce: str | None = None
    opaque: str | None = None
    qop: str | None = None
    nc: int | None = None
    params: ExtraParams = ()

    def __post_init__(self) -> None:
        if self.nc is not None and not 0 <= self.nc <= 0xFFFFFFFF:
            raise ValueError(f"nc must fit in 8 hex digits, not {self.nc}")

    def __str__(self) -> str:
        return _format(
            [
                ("username", self.username, True),
                ("realm", self.realm, True),
                ("nonce", self.nonce, True),
                ("uri", self.uri, True),
                ("response", self.response, True),
                ("algorithm", self.algorithm, False),
                ("cnonce", self.cnonce, True),
                ("opaque", self.opaque, True),
                ("qop", self.qop, False),
                ("nc", None if self.nc is None else f"{self.nc:08x}", False),
            ],
            self.params,
        )


# The common spelling of a digest header, for the quick path of _read_auth_params:
# "Digest ", then name=value pairs separated by commas, each value a token or a
# quoted string without escapes. Neither kind of value may hold a control
# character, so a header read this way needs no separate control-character scan.
# (*+ and ++ are possessive: they never give back what they took, as nothing
# here could match by giving it back, and the engine then keeps no way back.)
_NO_CONTROL = r"\x00-\x08\x0a-\x1f\x7f"
_PAIR_OR_STRAY_RE = re.compile(
    r"[ \t]*+([A-Za-z0-9\-.!%*_+`'~]++)[ \t]*+=[ \t]*+"  # name =
    rf"(?:\"([^\"\\{_NO_CONTROL}]*+)\"|([^ \t,\"{_NO_CONTROL}]++))"  # "quoted" or token
    r"[ \t]*+(?:,|\Z)"  # then a comma, or the end
    r"|(?s:.)"  # or else any one character: a stray, with an empty name
)
_CONTROL_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def _read_auth_params(value: str, what: str) -> dict[str, tuple[str, str, bool]]:
    """Read ``Digest name=value, name="quoted, value"``: lower-case name -> (name, value, quoted).

    Names are case-insensitive; values are tokens or quoted strings (which may
    hold commas and ``\\``-escapes). Spaces around ``=`` and ``,`` are allowed.
    A registrar reads one of these per REGISTER, so the usual spelling is read
    with one regular expression; anything else (escapes, a repeated name, a
    mistake) goes the careful way, which also says what is wrong.
    """
    text = value.strip(" \t")
    if text.startswith("Digest "):  # sipp's, JsSIP's, SIP.js's and siplab's own spelling
        # findall cuts the rest into consecutive pieces: a name=value pair with
        # its comma, or a single character no pair starts with. Such a stray
        # has an empty name, so it shows up as the key "": then, or if a name
        # came twice (fewer keys than pieces), the careful reader takes over.
        pieces = _PAIR_OR_STRAY_RE.findall(text, 7)
        # A token value is never empty, so an empty token group means a quoted value.
        params: dict[str, tuple[str, str, bool]] = {
            name.lower(): (name, token_value, False) if token_value else (name, quoted, True)
            for name, quoted, token_value in pieces
        }
        if len(params) == len(pieces) and "" not in params:
            return params
    return _read_auth_params_carefully(text, what)


def _read_auth_params_carefully(text: str, what: str) -> dict[str, tuple[str, str, bool]]:
    # Character by character, with an error that says where the value goes wrong.
    if _CONTROL_RE.search(text):
        raise SipParseError("control character in header value", where=what)
    n = len(text)
    i = 0
    while i < n and text[i] in TOKEN_CHARS:
        i += 1
    scheme = text[:i]
    if not scheme:
        raise SipParseError("missing authentication scheme", where=what)
    if scheme.lower() != "digest":
        raise SipParseError(f"scheme {scheme!r} is not Digest", where=what)
    if i < n and text[i] not in " \t":
        raise SipParseError(f"unexpected {text[i]!r} after the scheme", where=what)
    params: dict[str, tuple[str, str, bool]] = {}
    while True:
        while i < n and text[i] in " \t,":
            i += 1
        if i >= n:
            return params
        start = i
        while i < n and text[i] in TOKEN_CHARS:
            i += 1
        name = text[start:i]
        if not name:
            raise SipParseError(f"expected a parameter name at {text[i : i + 20]!r}", where=what)
        while i < n and text[i] in " \t":
            i += 1
        if i >= n or text[i] != "=":
            raise SipParseError(f"parameter {name!r} has no '=' and value", where=what)
        i += 1
        while i < n and text[i] in " \t":
            i += 1
        if i < n and text[i] == '"':
            i += 1
            chars: list[str] = []
            while i < n and text[i] != '"':
                if text[i] == "\\" and i + 1 < n:  # quoted-pair (RFC 3261 §25.1)
                    i += 1
                chars.append(text[i])
                i += 1
            if i >= n:
                raise SipParseError(f"unterminated quoted value of {name!r}", where=what)
            i += 1
            param_value, quoted = "".join(chars), True
        else:
            start = i
            while i < n and text[i] not in " \t,":
                i += 1
            param_value, quoted = text[start:i], False
            if not param_value:
                raise SipParseError(f"parameter {name!r} has an empty value", where=what)
            if '"' in param_value:
                raise SipParseError(f"stray quote in the value of {name!r}", where=what)
        while i < n and text[i] in " \t":
            i += 1
        if i < n and text[i] != ",":
            raise SipParseError(f"expected ',' after parameter {name!r}", where=what)
        key = name.lower()
        if key in params:
            raise SipParseError(f"parameter {name!r} appears twice", where=what)
        params[key] = (name, param_value, quoted)


def _take(params: dict[str, tuple[str, str, bool]], name: str) -> str | None:
    found = params.pop(name, None)
    return None if found is None else found[1]


def _require(params: dict[str, tuple[str, str, bool]], name: str, what: str) -> str:
    found = _take(params, name)
    if found is None:
        raise SipParseError(f"missing {name}", where=what)
    return found


def _extra(params: dict[str, tuple[str, str, bool]]) -> ExtraParams:
    return tuple((name, quote(text) if quoted else text) for name, text, quoted in params.values())


def parse_challenge(value: str) -> Challenge:
    """Parse a ``WWW-Authenticate`` or ``Proxy-Authenticate`` value (one digest challenge).

    Raises :class:`~siplab.errors.SipParseError` if it is not a Digest
    challenge, lacks realm or nonce, or is malformed.
    """
    what = "digest challenge"
    params = _read_auth_params(value, what)
    realm = _require(params, "realm", what)
    nonce = _require(params, "nonce", what)
    qop_text = _take(params, "qop")
    qop = tuple(q.lower() for q in split_commas(qop_text)) if qop_text else ()
    stale = (_take(params, "stale") or "").lower() == "true"
    return Challenge(
        realm=realm,
        nonce=nonce,
        algorithm=_take(params, "algorithm"),
        qop=qop,
        opaque=_take(params, "opaque"),
        stale=stale,
        domain=_take(params, "domain"),
        params=_extra(params),
    )


#: What params.pop(name, _ABSENT)[1] gives for a parameter that is not there: None.
_ABSENT = ("", None, False)


def parse_credentials(value: str) -> Credentials:
    """Parse an ``Authorization`` or ``Proxy-Authorization`` value (digest credentials).

    username, realm, nonce, uri and response are required; ``nc`` must be
    8 lower-case hex digits. Raises :class:`~siplab.errors.SipParseError`.
    """
    what = "digest credentials"
    params = _read_auth_params(value, what)
    # A registrar parses one of these per REGISTER, so the fields are popped
    # directly rather than through _require and _take (same results, fewer calls).
    try:
        username = params.pop("username")[1]
        realm = params.pop("realm")[1]
        nonce = params.pop("nonce")[1]
        uri = params.pop("uri")[1]
        response = params.pop("response")[1]
    except KeyError as missing:  # the first missing one, in the order above
        raise SipParseError(f"missing {missing.args[0]}", where=what) from None
    nc_text = params.pop("nc", _ABSENT)[1]
    if nc_text is not None and not _NC_RE.match(nc_text):
        raise SipParseError(f"bad nc {nc_text!r}: must be 8 lower-case hex digits", where=what)
    return Credentials(
        username=username,
        realm=realm,
        nonce=nonce,
        uri=uri,
        response=response,
        algorithm=params.pop("algorithm", _ABSENT)[1],
        cnonce=params.pop("cnonce", _ABSENT)[1],
        opaque=params.pop("opaque", _ABSENT)[1],
        qop=params.pop("qop", _ABSENT)[1],
        nc=None if nc_text is None else int(nc_text, 16),
        params=_extra(params) if params else (),
    )
