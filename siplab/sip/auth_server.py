"""Digest authentication, the server side: issuing challenges and checking answers.

A registrar or proxy that wants to know who sent a request answers it with a
401 (or, for a proxy, 407) carrying one challenge per digest algorithm it
accepts, most preferred first (RFC 8760 §2.3), and checks the ``Authorization``
(``Proxy-Authorization``) of the retried request (RFC 3261 §22, RFC 7616 §3).
:mod:`siplab.sip.auth` explains the dance and the hash.

**Stateless nonces.** The server must later recognise the nonces it handed out,
and know how old they are, without a table of every challenge ever sent (a
flood of unauthenticated REGISTERs would fill it). So the nonce *is* the
record, signed::

    nonce = base64url(issued_at | random | mac)          8 + 8 + 16 bytes
    mac   = HMAC-SHA256(secret, realm | issued_at | random), first 16 bytes

Only the holder of ``secret`` can make a nonce whose HMAC checks out; a nonce
that fails is *forged*. ``issued_at`` says when it expires. ``opaque`` is an
HMAC of the realm, the same for every challenge. The only memory the server
keeps is, per nonce in use, the highest ``nc`` seen (to refuse replays), and it
forgets a nonce once it has expired, so that memory stays small
(:mod:`siplab.sip.nonce_counts`).

**One request, one 401.** A REGISTER without credentials is challenged with
no transaction (RFC 3261 §8.2.7): each retransmitted copy gets a 401 of its
own, and sipp takes a 401 unlike the first for a new, unexpected message. So
:meth:`DigestServer.stateless_challenge_response` computes its nonce rather
than drawing it: ``random`` is an HMAC of what every copy shares (the MAC that
also gives the To tag), and ``issued_at`` is the time rounded down to a step
of 16 s. Every copy within one step gets the same bytes; a nonce may look up
to a step older than it is, so it expires early, never late.

**The checks** in :meth:`DigestServer.verify`, in order: fields present, realm,
algorithm and qop offered, nonce signature (forged?), user known, response
correct, nonce age (expired: answer with ``stale=TRUE``, which RFC 7616 §3.3
allows only when the response was right), nc higher than last time (replay?).
Each failure is an :class:`AuthStatus` in the :class:`AuthResult`, not an
exception: a rejected request is a protocol outcome. On the wire, unknown user
and wrong password must get the *same* answer (a new 401, or 403 after a few
tries), or the server tells attackers which usernames exist.

Retransmissions of one request carry the same ``nc``; the server transaction
absorbs them (§17.2) before they reach this check, so they are not replays.
CANCEL and the ACK of a non-2xx response cannot be challenged (§22.1), and the
``uri`` field is not compared with the Request-URI (sipp, for one, writes
``sip:HOST:PORT`` there, see FACTS.md).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from siplab.errors import SipParseError
from siplab.ids import IdSource
from siplab.sip.auth import (
    Challenge,
    Credentials,
    _response,
    canonical_algorithm,
    parse_credentials,
)
from siplab.sip.build import build_response
from siplab.sip.grammar import quote, split_commas
from siplab.sip.message import Request, Response
from siplab.sip.nonce_counts import DEFAULT_CAP, NonceCounts
from siplab.sip.timers import TimerConfig

__all__ = [
    "AuthStatus",
    "AuthResult",
    "PasswordLookup",
    "DigestServer",
]

#: Where passwords come from: a mapping username -> password, or a function
#: returning None for an unknown user.
PasswordLookup = Callable[[str], "str | None"] | Mapping[str, str]

_ISSUED = struct.Struct(">d")  # issued_at, a float of seconds, 8 bytes
_RANDOM_BYTES = 8
_MAC_BYTES = 16
# A stateless challenge's To tag is the first _TAG_BYTES of the request's MAC,
# its nonce's random part the _RANDOM_BYTES after them.
_TAG_BYTES = 5
# What base64url writes for a nonce's 8 + 8 + 16 = 32 bytes, without padding: 43
# characters, the last holding 4 bits and 2 unused bits that must be zero, so it
# is one of the 16 characters whose alphabet position is a multiple of 4. A
# nonce that does not match is not one this server wrote.
_NONCE_RE = re.compile(r"[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]\Z")
# base64url -> standard base64, so that binascii decodes it.
_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")
# The step a stateless nonce's issued_at is rounded down to (stateless_nonce).
# A REGISTER resent 0.5 s after the first (Timer E, §17.1.2.2) gets the first
# copy's nonce unless a step boundary falls between them: once in 32 at 16 s.
# A longer step makes that rarer, but a nonce then looks older than it is: it
# is usable for between nonce_lifetime - step and nonce_lifetime, and the nc
# memory must span a step (nonce_counts). At most a quarter of nonce_lifetime,
# so that a fresh nonce always has three quarters of its life ahead.
_STATELESS_NONCE_STEP = 16.0
# How long after its 401 a nonce may be used for the first time: the client
# resends the request that carries it for up to Timer F = 64*T1 (§17.1.2.2)
# when copies are lost or the server is slow. The nc memory never forgets a
# nonce that young (NonceCounts' protect): forgetting one would refuse those
# resent copies as stale, which sipp counts as failed calls (the load test
# did, with requests 17 to 34 s late at full load).
_FIRST_USE_WINDOW = TimerConfig().duration("F", reliable=False)


class AuthStatus(StrEnum):
    """What :meth:`DigestServer.verify` concluded."""

    OK = "ok"
    NO_CREDENTIALS = "no credentials"  # the request carries no Authorization at all
    MALFORMED = "malformed"  # an Authorization header that does not parse
    MISSING_FIELDS = "missing fields"  # e.g. qop without cnonce/nc
    UNSUPPORTED = "unsupported"  # an algorithm or qop this server did not offer
    WRONG_REALM = "wrong realm"
    NONCE_FORGED = "nonce forged"  # not made by this server (bad HMAC or opaque)
    NONCE_EXPIRED = "nonce expired"  # right password, old nonce: challenge with stale=TRUE
    NC_REPLAY = "nc replay"  # an nc not above the last one seen for this nonce
    UNKNOWN_USER = "unknown user"
    WRONG_PASSWORD = "wrong password"  # the response does not match


@dataclass(frozen=True, slots=True)
class AuthResult:
    """The outcome of checking credentials; ``ok`` when the user is authenticated."""

    status: AuthStatus
    username: str | None = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status is AuthStatus.OK

    @property
    def stale(self) -> bool:
        """True if the next challenge should say ``stale=TRUE`` (only the nonce was wrong)."""
        return self.status is AuthStatus.NONCE_EXPIRED


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class DigestServer:
    """Challenges requests and verifies their digest answers for one realm.

    ``algorithms`` are offered in the given order, one challenge header each.
    MD5 comes first by default because sipp 3.6 answers only the first
    algorithm it finds and knows only MD5 (FACTS.md); put ``"SHA-256"`` first
    for RFC 8760's order of preference. ``qop`` is ``"auth"``, ``"auth-int"``,
    ``"auth,auth-int"`` or None (RFC 2069 clients: no nc, so no replay check).
    ``ids`` supplies the random part of nonces and the To tag of challenges
    (a stateless challenge computes both from the request instead).
    ``max_tracked_nonces`` caps the nc memory; a nonce may still be used for
    the first time ``first_use_window`` seconds after its 401 (a client
    resending its answer: Timer F, 64*T1), and is never forgotten before.
    """

    __slots__ = (
        "realm",
        "algorithms",
        "nonce_lifetime",
        "nonce_step",
        "qop",
        "opaque",
        "_secret",
        "_keyed",
        "_nonce_keyed",
        "_request_keyed",
        "_challenge_texts",
        "_ids",
        "_counts",
    )

    def __init__(
        self,
        realm: str,
        *,
        secret: bytes,
        algorithms: Sequence[str] = ("MD5", "SHA-256"),
        nonce_lifetime: float = 300.0,
        qop: str | None = "auth",
        ids: IdSource | None = None,
        max_tracked_nonces: int = DEFAULT_CAP,
        first_use_window: float = _FIRST_USE_WINDOW,
    ) -> None:
        if not secret:
            raise ValueError("the nonce secret must not be empty")
        canonical: list[str] = []
        for name in algorithms:
            found = canonical_algorithm(name)
            if found is None:
                raise ValueError(f"unsupported digest algorithm {name!r}")
            if found not in canonical:
                canonical.append(found)
        if not canonical:
            raise ValueError("at least one algorithm is needed")
        qops = tuple(q.lower() for q in split_commas(qop)) if qop else ()
        if any(q not in ("auth", "auth-int") for q in qops):
            raise ValueError(f"qop must be auth and/or auth-int, not {qop!r}")
        if nonce_lifetime <= 0 or max_tracked_nonces < 1 or first_use_window < 0:
            raise ValueError("nonce_lifetime and max_tracked_nonces must be positive, "
                             "first_use_window not negative")
        self.realm = realm
        self.algorithms = tuple(canonical)
        self.nonce_lifetime = float(nonce_lifetime)
        self.nonce_step = min(_STATELESS_NONCE_STEP, self.nonce_lifetime / 4)
        self.qop = qops
        self._secret = bytes(secret)
        self._keyed = hmac.new(self._secret, digestmod=hashlib.sha256)
        # The same, having already read the fixed first parts of the nonce and
        # request MACs (see _mac): a copy of these then reads only what varies.
        self._nonce_keyed = self._keyed.copy()
        self._nonce_keyed.update(b"nonce\x00" + realm.encode("utf-8") + b"\x00")
        self._request_keyed = self._keyed.copy()
        self._request_keyed.update(b"request\x00")
        self._ids = ids if ids is not None else IdSource()
        self.opaque = _b64(self._mac(b"opaque", realm.encode("utf-8"))[:12])
        self._challenge_texts = self._challenge_templates()
        # A nonce may be first used first_use_window after its 401, and its
        # issued_at may be a step older than that 401: keep such nonces.
        self._counts = NonceCounts(self.nonce_lifetime, max_tracked_nonces,
                                   protect=self.nonce_step + float(first_use_window))

    def __repr__(self) -> str:
        return (
            f"DigestServer(realm={self.realm!r}, algorithms={self.algorithms!r}, secret=<hidden>)"
        )

    # -- nonces ----------------------------------------------------------------------

    def _mac(self, *parts: bytes) -> bytes:
        # HMAC-SHA256 keyed with the secret, of the parts joined by NUL bytes: a
        # copy of the keyed object made once in __init__ gives the same bytes as
        # hmac.new(secret, message, sha256) without hashing the key again. The
        # three MACs of every registration (_request_mac, _nonce,
        # nonce_issued_at) go one step further, from copies that have read
        # their fixed first parts too.
        mac = self._keyed.copy()
        mac.update(b"\x00".join(parts))
        return mac.digest()

    def make_nonce(self, now: float) -> str:
        """A fresh signed nonce issued at ``now``, with a random part from ``ids``."""
        return self._nonce(now, self._ids.nonce_bytes(_RANDOM_BYTES))

    def stateless_nonce(self, request: Request, now: float) -> str:
        """The nonce of the stateless 401 for ``request``: the same for every copy in a step.

        ``random`` is bytes 5 to 13 of the request's MAC (0 to 5 make the To
        tag, :meth:`stateless_tag`), ``issued_at`` is ``now`` rounded down to
        ``nonce_step``.
        """
        return self._stateless_nonce(self._request_mac(request), now)

    def _stateless_nonce(self, request_mac: bytes, now: float) -> str:
        # now % step is exact in floating point, and what it leaves is a float
        # at most now: never a nonce issued in the future.
        # (The nc memory never forgets nonces this young, see nonce_counts,
        # so none of this step's is ever taken for expired.)
        issued = now - now % self.nonce_step
        return self._nonce(issued, request_mac[_TAG_BYTES : _TAG_BYTES + _RANDOM_BYTES])

    def _nonce(self, issued_at: float, random_part: bytes) -> str:
        issued = _ISSUED.pack(issued_at)
        # = self._mac(b"nonce", realm, issued, random_part), the prefix already read
        mac = self._nonce_keyed.copy()
        mac.update(issued + b"\x00" + random_part)
        return _b64(issued + random_part + mac.digest()[:_MAC_BYTES])

    def nonce_issued_at(self, nonce: str) -> float | None:
        """When this server issued ``nonce``, or None if it did not (forged or garbled)."""
        # The pattern admits exactly what _b64 writes for 32 bytes, so the
        # plain decoder can do: nothing it skips or pads is left to check.
        if _NONCE_RE.match(nonce) is None:
            return None
        raw = binascii.a2b_base64(nonce.encode("ascii").translate(_FROM_URLSAFE) + b"=")
        mac = self._nonce_keyed.copy()
        mac.update(raw[: _ISSUED.size] + b"\x00" + raw[_ISSUED.size : -_MAC_BYTES])
        if not hmac.compare_digest(mac.digest()[:_MAC_BYTES], raw[-_MAC_BYTES:]):
            return None
        value: float = _ISSUED.unpack_from(raw)[0]
        return value

    def stateless_tag(self, request: Request) -> str:
        """A To tag for a response sent without keeping state (RFC 3261 §8.2.7).

        A stateless UAS must give a retransmitted request the same To tag as
        the first copy, and it remembers nothing: so the tag is computed from
        what the copies share, signed with the secret so that nobody can
        predict it (the first 5 bytes of the request's MAC).
        """
        return self._request_mac(request)[:_TAG_BYTES].hex()

    def _request_mac(self, request: Request) -> bytes:
        # What every copy of a request shares, and a new request does not: the
        # top Via with its branch (§17.2.3: what makes a copy the same
        # transaction) and sent-by; Call-ID and CSeq (a new registration, or
        # the next REGISTER of one, changes them); the From tag (someone else
        # reusing a Call-ID). = self._mac(b"request", via, call_id, cseq,
        # from_tag): "\x00" is one byte in UTF-8, so joining the text and then
        # encoding gives the same bytes.
        get = request.headers.get
        shared = (get("Via") or "", get("Call-ID") or "", get("CSeq") or "",
                  request.from_tag or "")
        mac = self._request_keyed.copy()
        mac.update("\x00".join(shared).encode("utf-8"))
        return mac.digest()

    def challenge(self, now: float, *, stale: bool = False) -> list[Challenge]:
        """One challenge per algorithm, in the configured order, sharing a fresh nonce."""
        return self._challenges(self.make_nonce(now), stale)

    def _challenges(self, nonce: str, stale: bool) -> list[Challenge]:
        return [Challenge(realm=self.realm, nonce=nonce, algorithm=algorithm, qop=self.qop,
                          opaque=self.opaque, stale=stale) for algorithm in self.algorithms]

    def _challenge_templates(self) -> tuple[tuple[tuple[str, str], ...], ...]:
        """The text of each challenge around its nonce: [stale][algorithm] -> (before, after).

        Every challenge this server writes is the same text but for the nonce,
        so challenge_response pastes a fresh nonce between the two halves that
        str(Challenge) writes around a placeholder, here, once. (A nonce is
        base64url, which quote() leaves as it is; the placeholder holds NULs,
        which no header value can, so it is found only where the nonce goes.)
        """
        placeholder = "\x00nonce\x00"
        texts = []
        for stale in (False, True):
            halves = []
            for challenge in self._challenges(placeholder, stale):
                before, _, after = str(challenge).partition(quote(placeholder))
                halves.append((before + '"', '"' + after))
            texts.append(tuple(halves))
        return tuple(texts)

    # -- the nc memory -----------------------------------------------------------------

    @property
    def max_tracked_nonces(self) -> int:
        """How many nonces the server remembers an nc for, at most."""
        return self._counts.cap

    @property
    def tracked_nonces(self) -> int:
        """How many nonces the server currently remembers an nc for."""
        return len(self._counts)

    # -- verifying ------------------------------------------------------------------------

    def verify(
        self,
        credentials: Credentials,
        *,
        method: str,
        password_for: PasswordLookup,
        now: float,
        body: bytes = b"",
    ) -> AuthResult:
        """Check ``credentials`` sent with a ``method`` request at time ``now``.

        ``password_for`` maps a username to its password (None or missing:
        unknown user). ``body`` matters only for qop=auth-int.
        """
        user = credentials.username
        qop = credentials.qop
        nc = credentials.nc
        cnonce = credentials.cnonce
        qop_name = qop.lower() if qop is not None else None
        if self.qop and qop_name is None:
            return AuthResult(AuthStatus.MISSING_FIELDS, user,
                              f"no qop, but qop={','.join(self.qop)} asked")
        if qop_name is not None:
            if qop_name not in (self.qop or ("auth", "auth-int")):
                return AuthResult(AuthStatus.UNSUPPORTED, user, f"qop {qop!r} was not offered")
            if cnonce is None or nc is None:
                return AuthResult(AuthStatus.MISSING_FIELDS, user, "qop needs cnonce and nc")
        if credentials.realm != self.realm:
            return AuthResult(AuthStatus.WRONG_REALM, user,
                              f"realm {credentials.realm!r} is not ours")
        algorithm = canonical_algorithm(credentials.algorithm)
        if algorithm is None or algorithm not in self.algorithms:
            return AuthResult(AuthStatus.UNSUPPORTED, user,
                              f"algorithm {credentials.algorithm!r} not offered")
        if cnonce is None and algorithm.endswith("-sess"):
            return AuthResult(AuthStatus.MISSING_FIELDS, user, f"{algorithm} needs a cnonce")
        nonce = credentials.nonce
        issued = self.nonce_issued_at(nonce)
        if issued is None:
            return AuthResult(AuthStatus.NONCE_FORGED, user,
                              "the nonce was not issued by this server")
        if credentials.opaque is not None and credentials.opaque != self.opaque:
            return AuthResult(AuthStatus.NONCE_FORGED, user, "the opaque value is not ours")
        password = (
            password_for.get(user) if isinstance(password_for, Mapping) else password_for(user)
        )
        if password is None:
            return AuthResult(AuthStatus.UNKNOWN_USER, user, f"no password for {user!r}")
        # compute_response without its checks of algorithm and qop: made above.
        expected = _response(algorithm, user, self.realm, password, method, credentials.uri,
                             nonce, qop, nc, cnonce, body)
        given = credentials.response.lower().encode("utf-8")
        if not hmac.compare_digest(expected.encode("ascii"), given):
            return AuthResult(AuthStatus.WRONG_PASSWORD, user, "the response does not match")
        # Only now, with the password proven, may the answer say stale=TRUE. A
        # nonce still in the nc memory was never forgotten: its nc decides.
        counts = self._counts
        last = counts.last(nonce) if nc is not None else None
        if (not issued <= now <= issued + self.nonce_lifetime
                or (last is None and issued <= counts.forgotten_until)):
            return AuthResult(AuthStatus.NONCE_EXPIRED, user, "the nonce is too old")
        if nc is not None:
            if last is not None and nc <= last:
                return AuthResult(AuthStatus.NC_REPLAY, user, f"nc {nc:08x} after {last:08x}")
            counts.record(nonce, issued, nc, now)
        return AuthResult(AuthStatus.OK, user)

    # -- on whole messages ------------------------------------------------------------------

    def check_request(
        self,
        request: Request,
        now: float,
        *,
        password_for: PasswordLookup,
        proxy: bool = False,
    ) -> AuthResult:
        """Verify the ``Authorization`` (``Proxy-Authorization`` if ``proxy``) of ``request``.

        A request may carry credentials for several realms (one per proxy or
        registrar on the way, §22.3); the one for this realm is checked.
        """
        header = "Proxy-Authorization" if proxy else "Authorization"
        values = request.headers.get_all(header)
        if not values:
            return AuthResult(AuthStatus.NO_CREDENTIALS, None, f"no {header} header")
        first_problem: AuthResult | None = None
        for value in values:
            try:
                credentials = parse_credentials(value)
            except SipParseError as exc:
                first_problem = first_problem or AuthResult(AuthStatus.MALFORMED, None, exc.what)
                continue
            if credentials.realm != self.realm:
                first_problem = first_problem or AuthResult(
                    AuthStatus.WRONG_REALM, credentials.username, f"{credentials.realm!r}"
                )
                continue
            return self.verify(
                credentials,
                method=request.method,
                password_for=password_for,
                now=now,
                body=request.body,
            )
        assert first_problem is not None  # every value was either returned or recorded
        return first_problem

    def challenge_response(
        self,
        request: Request,
        now: float,
        *,
        status: int = 401,
        stale: bool = False,
        to_tag: str | None = None,
    ) -> Response:
        """The 401 (``WWW-Authenticate``) or 407 (``Proxy-Authenticate``) for ``request``.

        One header per algorithm, in the configured order. The To tag comes
        from ``ids`` unless given. Pass ``stale=result.stale`` after a failed
        :meth:`check_request`.
        """
        if status == 401:
            header = "WWW-Authenticate"
        elif status == 407:
            header = "Proxy-Authenticate"
        else:
            raise ValueError(f"a digest challenge is a 401 or 407, not {status}")
        return self._challenge_response(request, status, header, self.make_nonce(now), stale,
                                        to_tag or self._ids.tag())

    def stateless_challenge_response(self, request: Request, now: float) -> Response:
        """The 401 for ``request`` answered with no transaction (RFC 3261 §8.2.7).

        Its To tag and nonce are both computed from the request
        (:meth:`stateless_tag`, :meth:`stateless_nonce`), from one MAC: a
        retransmitted copy gets the same bytes as the first, unless a
        ``nonce_step`` boundary lies between them.
        """
        request_mac = self._request_mac(request)
        return self._challenge_response(request, 401, "WWW-Authenticate",
                                        self._stateless_nonce(request_mac, now), False,
                                        request_mac[:_TAG_BYTES].hex())

    def _challenge_response(self, request: Request, status: int, header: str, nonce: str,
                            stale: bool, to_tag: str) -> Response:
        # = [(header, str(challenge)) for challenge in self._challenges(nonce, stale)],
        # with the text around the nonce written once in __init__.
        lines = [
            (header, before + nonce + after)
            for before, after in self._challenge_texts[1 if stale else 0]
        ]
        return build_response(request, status, to_tag=to_tag, headers=lines)
