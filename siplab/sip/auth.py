"""Digest authentication, the client side: challenges, credentials and the response hash.

SIP borrowed HTTP's *digest* scheme to prove that a request comes from someone
who knows a password, without ever sending the password (RFC 3261 §22, with the
algorithms of RFC 7616 as RFC 8760 updates it). It is a challenge-response
dance over two transactions::

    Alice (UAC)                                         Registrar (UAS)
      | REGISTER sip:example.com          CSeq: 1 REGISTER     |
      |------------------------------------------------------->|
      |   401 Unauthorized                                     |
      |   WWW-Authenticate: Digest realm="example.com",        |
      |       nonce="Xq3...", algorithm=MD5, qop="auth"        |
      |<-------------------------------------------------------|
      | REGISTER sip:example.com          CSeq: 2 REGISTER     |
      |   Authorization: Digest username="alice",              |
      |       realm="example.com", nonce="Xq3...",             |
      |       uri="sip:example.com", response="6b8f...",       |
      |       algorithm=MD5, cnonce="0a4f", qop=auth,          |
      |       nc=00000001                                      |
      |------------------------------------------------------->|
      |   200 OK                                               |
      |<-------------------------------------------------------|

A proxy does the same with 407 Proxy Authentication Required,
``Proxy-Authenticate`` and ``Proxy-Authorization``. The second REGISTER is a
*new* transaction: same Call-ID and From tag, CSeq plus one, a fresh Via branch
(§8.1.3.5, §22.2).

**The challenge** (``WWW-Authenticate`` / ``Proxy-Authenticate``) carries:
``realm`` (which password database: the user picks the password for it),
``nonce`` (a server-chosen random value the answer must be bound to),
``opaque`` (a string the client must send back unchanged), ``algorithm`` (the
hash: MD5 when absent; SHA-256 since RFC 8760; a ``-sess`` suffix mixes the
nonces into the key), ``qop`` (the *quality of protection* on offer: ``auth``
hashes method and URI, ``auth-int`` the body too), ``stale`` (TRUE: your
password was right, only the nonce was too old: retry without asking the
user) and ``domain`` (URIs the same credentials cover).

**The answer** (``Authorization`` / ``Proxy-Authorization``) repeats realm,
nonce, opaque and algorithm and adds ``username``, ``uri`` (the Request-URI
being authorized), ``cnonce`` (the client's own random value), ``qop`` (the
one chosen), ``nc`` (the nonce count, 8 hex digits) and ``response``::

    HA1      = H(username ":" realm ":" password)       the long-term secret
    HA1      = H(HA1 ":" nonce ":" cnonce)              ...for MD5-sess, SHA-256-sess
    HA2      = H(method ":" uri)                        what is being done (qop=auth)
    HA2      = H(method ":" uri ":" H(body))            ...for qop=auth-int
    response = H(HA1 ":" nonce ":" nc ":" cnonce ":" qop ":" HA2)
    response = H(HA1 ":" nonce ":" HA2)                 with no qop (RFC 2069)

``H`` is the hex digest of the algorithm. Only someone who knows the password
can compute ``response``; the server, who knows it too (or stores HA1),
recomputes it and compares.

**Why nonces expire.** Anyone on the path can copy an Authorization header.
Because the response is bound to the nonce, a copy is only worth something
while the server still accepts that nonce; the server therefore gives nonces a
short life. A correct answer with an expired nonce gets a fresh challenge with
``stale=TRUE``, and the client retries on its own.

**Why nc counts.** A client may reuse a nonce for later requests and save the
401 round trip; ``nc`` numbers each use (00000001, 00000002...). The server
remembers the highest ``nc`` it saw per nonce and refuses one that does not go
up: that is a replayed request. The ``cnonce`` adds the client's randomness, so
a malicious server cannot choose everything that gets hashed.

Digest proves identity; it does not hide or protect the message (only the body,
with ``auth-int``). MD5 is broken as a hash, which is why RFC 8760 brought
SHA-256 to SIP; TLS is what protects the content.

This module computes the response and builds the retried request
(:func:`add_authorization`, :class:`DigestClient`); :mod:`siplab.sip.auth_headers`
reads and writes the two headers (its names are re-exported here), and the
server side lives in :mod:`siplab.sip.auth_server`. Not implemented: the
``userhash`` and ``username*`` (charset) options of RFC 7616 §3.4.4-3.4.5 and
SHA-512-256 (their parameters are kept, but not acted on).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from siplab.errors import LocalProtocolError, RemoteProtocolError, SipParseError
from siplab.ids import IdSource
from siplab.sip.auth_headers import (
    ALGORITHMS,
    Challenge,
    Credentials,
    canonical_algorithm,
    parse_challenge,
    parse_credentials,
)
from siplab.sip.grammar import split_commas
from siplab.sip.headers import CSeq, Headers, header_key, parse_via
from siplab.sip.message import Request, Response

__all__ = [
    "ALGORITHMS",
    "DEFAULT_SUPPORTED",
    "Challenge",
    "Credentials",
    "UnsupportedChallenge",
    "parse_challenge",
    "parse_credentials",
    "canonical_algorithm",
    "compute_response",
    "choose_challenge",
    "challenges_from",
    "authorize",
    "add_authorization",
    "DigestClient",
]

#: What a client accepts by default, strongest first (a name covers its -sess variant).
DEFAULT_SUPPORTED = ("SHA-256", "MD5")

# The constructors themselves: hashlib.new(name) looks the name up on every call.
_HASHES = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}
_MAX_REMEMBERED_NONCES = 32


class UnsupportedChallenge(RemoteProtocolError):
    """The 401/407 offers no digest challenge this client can answer.

    For example only ``algorithm=SHA-512-256``, or only ``qop="auth-conf"``. The
    request fails with that response.
    """


# -- the hash -------------------------------------------------------------------------


def compute_response(
    *,
    algorithm: str | None,
    username: str,
    realm: str,
    password: str,
    method: str,
    uri: str,
    nonce: str,
    qop: str | None = None,
    nc: int | None = None,
    cnonce: str | None = None,
    body: bytes = b"",
) -> str:
    """The ``response`` value: the hex digest shown in the module docstring.

    ``nc`` is the nonce count as a number (written as 8 hex digits in the hash);
    ``nc`` and ``cnonce`` are needed when ``qop`` is given, ``cnonce`` also for
    the ``-sess`` algorithms. Strings are hashed as UTF-8.
    """
    canonical = canonical_algorithm(algorithm)
    if canonical is None:
        raise UnsupportedChallenge(f"unsupported digest algorithm {algorithm!r}")
    if qop is not None and qop.lower() not in ("auth", "auth-int"):
        raise UnsupportedChallenge(f"unsupported qop {qop!r}")
    return _response(canonical, username, realm, password, method, uri, nonce, qop, nc, cnonce,
                     body)


def _response(
    algorithm: str,
    username: str,
    realm: str,
    password: str,
    method: str,
    uri: str,
    nonce: str,
    qop: str | None,
    nc: int | None,
    cnonce: str | None,
    body: bytes,
) -> str:
    """The hash of :func:`compute_response`, for a caller that has checked its arguments.

    ``algorithm`` is in its RFC spelling, ``qop`` is auth or auth-int (in any
    case) or None. A registrar computes this once per REGISTER with
    credentials, after making those checks itself
    (:meth:`~siplab.sip.auth_server.DigestServer.verify`), so it calls this
    directly and positionally: the same hash, without eleven keyword
    arguments to match and the checks made twice.
    """
    new_hash = _HASHES[algorithm.removesuffix("-sess")]

    def h(text: str) -> str:
        # MD5 is required by the protocol here, not chosen for security.
        return new_hash(text.encode("utf-8"), usedforsecurity=False).hexdigest()

    ha1 = h(f"{username}:{realm}:{password}")
    if algorithm.endswith("-sess"):
        if cnonce is None:
            raise ValueError(f"{algorithm} needs a cnonce")
        ha1 = h(f"{ha1}:{nonce}:{cnonce}")
    a2 = f"{method}:{uri}"
    if qop is not None and qop.lower() == "auth-int":
        a2 += ":" + new_hash(body, usedforsecurity=False).hexdigest()
    ha2 = h(a2)
    if qop is None:
        return h(f"{ha1}:{nonce}:{ha2}")
    if nc is None or cnonce is None:
        raise ValueError("qop needs nc and cnonce")
    return h(f"{ha1}:{nonce}:{nc:08x}:{cnonce}:{qop}:{ha2}")


# -- the client -----------------------------------------------------------------------------


_QOP_PREFERENCE = ("auth", "auth-int")


def _answerable(challenge: Challenge) -> bool:
    """True if the challenge offers no qop (RFC 2069) or one this module computes."""
    return not challenge.qop or any(q in challenge.qop for q in _QOP_PREFERENCE)


def _choose_qop(challenge: Challenge) -> str | None:
    """The qop to answer with: ``auth`` first, then ``auth-int``; None if none is offered."""
    if not challenge.qop:
        return None
    for choice in _QOP_PREFERENCE:
        if choice in challenge.qop:
            return choice
    raise UnsupportedChallenge(f"no supported qop in {challenge.qop!r}")


def choose_challenge(
    challenges: Iterable[Challenge], supported: Sequence[str] = DEFAULT_SUPPORTED
) -> Challenge | None:
    """The challenge to answer: the strongest algorithm in ``supported`` (RFC 8760 §2.4).

    A server lists one challenge per algorithm, its favourite first (§2.3). The
    client answers one of them per realm: the topmost it supports, says §2.4,
    unless local policy decides otherwise. The policy here is the client's own
    order (``supported``, strongest first; a name also covers its ``-sess``
    variant), the server's order breaking ties, so with the default a SHA-256
    challenge wins even when listed after MD5. Challenges with an unknown
    algorithm, or with only qop values this module cannot compute, are skipped.
    None if nothing fits.
    """
    rank = {name.upper(): i for i, name in enumerate(supported)}
    best: Challenge | None = None
    best_rank = len(rank)
    for challenge in challenges:
        canonical = canonical_algorithm(challenge.algorithm)
        if canonical is None or not _answerable(challenge):
            continue
        base = canonical.removesuffix("-sess")
        position = min(rank.get(canonical.upper(), len(rank)), rank.get(base.upper(), len(rank)))
        if position < best_rank:
            best, best_rank = challenge, position
    return best


def authorize(
    challenge: Challenge,
    *,
    method: str,
    uri: str,
    username: str,
    password: str,
    ids: IdSource,
    nc: int = 1,
    body: bytes = b"",
    cnonce: str | None = None,
) -> Credentials:
    """The credentials answering ``challenge`` for a request ``method uri``.

    The cnonce comes from ``ids`` unless given. qop ``auth`` is preferred to
    ``auth-int``; with no qop in the challenge the answer is RFC 2069 style (no
    cnonce, no nc). Raises :class:`UnsupportedChallenge` for an algorithm or
    qop this module cannot compute.
    """
    qop = _choose_qop(challenge)
    canonical = canonical_algorithm(challenge.algorithm)
    if canonical is None:
        raise UnsupportedChallenge(f"unsupported digest algorithm {challenge.algorithm!r}")
    needs_cnonce = qop is not None or canonical.endswith("-sess")
    cnonce = (cnonce or ids.cnonce()) if needs_cnonce else None
    response = compute_response(
        algorithm=canonical,
        username=username,
        realm=challenge.realm,
        password=password,
        method=method,
        uri=uri,
        nonce=challenge.nonce,
        qop=qop,
        nc=nc if qop is not None else None,
        cnonce=cnonce,
        body=body,
    )
    return Credentials(
        username=username,
        realm=challenge.realm,
        nonce=challenge.nonce,
        uri=uri,
        response=response,
        algorithm=challenge.algorithm,  # echoed as the server wrote it (absent stays absent)
        cnonce=cnonce,
        opaque=challenge.opaque,
        qop=qop,
        nc=nc if qop is not None else None,
    )


def challenges_from(response: Response, header: str = "WWW-Authenticate") -> list[Challenge]:
    """Every digest challenge in ``header`` lines of ``response``, in order.

    Lines with another scheme, or that do not parse, are skipped: a response
    may offer schemes this client does not know next to the one it does.
    """
    found: list[Challenge] = []
    for value in response.headers.get_all(header):
        try:
            found.append(parse_challenge(value))
        except SipParseError:
            continue
    return found


def _next_nc(nonce_counts: dict[str, int], nonce: str) -> int:
    """Count one more use of ``nonce``; only the latest few nonces are remembered."""
    if nonce not in nonce_counts and len(nonce_counts) >= _MAX_REMEMBERED_NONCES:
        del nonce_counts[next(iter(nonce_counts))]  # the oldest one
    nc = nonce_counts.get(nonce, 0) + 1
    nonce_counts[nonce] = nc
    return nc


def _new_transaction(request: Request, ids: IdSource) -> Request:
    """A copy of ``request`` as a new transaction: CSeq + 1, new top Via branch (§8.1.3.5)."""
    retry = request.copy()
    cseq = retry.cseq
    retry.headers.set("CSeq", str(CSeq(cseq.number + 1, cseq.method)))
    first_line = retry.headers.get("Via")
    if first_line is None:
        raise LocalProtocolError("the request has no Via header")
    vias = split_commas(first_line)
    top = parse_via(vias[0]).with_param("branch", ids.branch())
    retry.headers.replace_first("Via", ", ".join([str(top), *vias[1:]]))
    return retry


def _put_credentials(request: Request, header: str, credentials: Credentials) -> None:
    """Replace ``header`` lines for the same realm by ``credentials``, above Content-Length."""
    key = header_key(header)
    kept: list[tuple[str, str]] = []
    for name, value in request.headers:
        if header_key(name) == key:
            try:
                if parse_credentials(value).realm == credentials.realm:
                    continue  # the answer to an earlier challenge for this realm
            except SipParseError:
                pass
        kept.append((name, value))
    request.headers = Headers(kept)
    position = next(
        (i for i, (name, _) in enumerate(kept) if header_key(name) == "content-length"),
        len(kept),
    )
    request.headers.insert(position, header, str(credentials))


# Where each kind of challenge is found, and where its answer goes (§22.2, §22.3).
_HEADER_PAIRS = (
    ("WWW-Authenticate", "Authorization"),
    ("Proxy-Authenticate", "Proxy-Authorization"),
)


def add_authorization(
    request: Request,
    response: Response,
    *,
    username: str,
    password: str,
    ids: IdSource,
    nonce_counts: dict[str, int] | None = None,
    supported: Sequence[str] = DEFAULT_SUPPORTED,
) -> Request:
    """A NEW request answering the 401/407 ``response`` to ``request`` (§22.2, §22.3).

    Every realm challenged gets one answer: ``Authorization`` for
    ``WWW-Authenticate`` (a 401), ``Proxy-Authorization`` for
    ``Proxy-Authenticate`` (a 407; a forking proxy may put both kinds and
    several realms in one response, §16.7). Earlier answers for the same realm
    are replaced; others are kept. The request is a new transaction: CSeq plus
    one and a fresh Via branch from ``ids``; Call-ID, From tag and body stay.

    ``nonce_counts`` (nonce -> last nc used) makes ``nc`` count up when the
    server challenges with a nonce already answered. Raises
    :class:`UnsupportedChallenge` when nothing in the response can be answered.
    """
    if response.status not in (401, 407):
        raise LocalProtocolError(f"a {response.status} response is not a challenge")
    if response.call_id != request.call_id:
        raise LocalProtocolError("the response does not belong to this request (Call-ID)")
    counts: dict[str, int] = {} if nonce_counts is None else nonce_counts
    answers: list[tuple[str, Credentials]] = []
    for challenge_header, answer_header in _HEADER_PAIRS:
        by_realm: dict[str, list[Challenge]] = {}
        for challenge in challenges_from(response, challenge_header):
            by_realm.setdefault(challenge.realm, []).append(challenge)
        for realm_challenges in by_realm.values():
            chosen = choose_challenge(realm_challenges, supported)
            if chosen is None:
                continue
            credentials = authorize(
                chosen,
                method=request.method,
                uri=request.uri_text,
                username=username,
                password=password,
                ids=ids,
                nc=_next_nc(counts, chosen.nonce),
                body=request.body,
            )
            answers.append((answer_header, credentials))
    if not answers:
        raise UnsupportedChallenge(
            f"no digest challenge this client supports ({', '.join(supported)}) "
            f"in the {response.status} response"
        )
    retry = _new_transaction(request, ids)
    for header, credentials in answers:
        _put_credentials(retry, header, credentials)
    return retry


class DigestClient:
    """One user's digest credentials, remembering the nonce counts between requests.

    The password is kept for computing answers and never shown: ``repr`` and
    ``str`` print ``<hidden>`` (like JsSIP's "NOT SHOWN").
    """

    __slots__ = ("username", "_password", "ids", "supported", "nonce_counts")

    def __init__(
        self,
        username: str,
        password: str,
        *,
        ids: IdSource,
        supported: Sequence[str] = DEFAULT_SUPPORTED,
    ) -> None:
        self.username = username
        self._password = password
        self.ids = ids
        self.supported = tuple(supported)
        self.nonce_counts: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"DigestClient(username={self.username!r}, password=<hidden>)"

    def authorize(
        self, challenge: Challenge, *, method: str, uri: str, body: bytes = b""
    ) -> Credentials:
        """Credentials for ``challenge``; reusing a nonce counts ``nc`` up."""
        return authorize(
            challenge,
            method=method,
            uri=uri,
            username=self.username,
            password=self._password,
            ids=self.ids,
            nc=_next_nc(self.nonce_counts, challenge.nonce),
            body=body,
        )

    def add_authorization(self, request: Request, response: Response) -> Request:
        """The retried request for a 401/407 (see :func:`add_authorization`)."""
        return add_authorization(
            request,
            response,
            username=self.username,
            password=self._password,
            ids=self.ids,
            nonce_counts=self.nonce_counts,
            supported=self.supported,
        )
