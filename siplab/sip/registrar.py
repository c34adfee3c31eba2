"""The registrar and the location service (RFC 3261 §10.3, RFC 3665 §2).

A phone that wants to receive calls tells a *registrar* where it can be
reached: "calls for ``sip:alice@example.com`` (my *address of record*, AOR)
go to ``sip:alice@10.0.0.1:5060`` (my *contact*) for the next hour". The
registrar keeps these *bindings* in a *location service*, and the proxy looks
them up when a call for Alice arrives (§16.5). One AOR may have several
bindings (a desk phone and a browser), each with a preference ``q`` and an
expiry time. RFC 3665 §2 shows the five flows this module handles::

    new registration   REGISTER, Contact: <c1>          -> 401, REGISTER+digest -> 200 <c1>
    update             REGISTER, Contact: <c2>          -> 200 <c1>, <c2>
    query              REGISTER without Contact         -> 200 listing every binding
    cancellation       REGISTER, Contact: *, Expires: 0 -> 200 without Contact
                       (or Contact: <c1>;expires=0 to remove only c1)
    unsuccessful       REGISTER with a wrong password   -> 403 Forbidden

:meth:`Registrar.handle_register` follows the eight steps of §10.3 in order,
each one a few lines below: (1) the Request-URI names a domain we serve,
(2) no ``Require`` we do not support, (3) who sent it (digest, RFC 7616),
(4) may they change this AOR, (5) the AOR is ours, (6) ``Contact: *`` only
alone and with ``Expires: 0``, (7) each contact's expiry, checked against
the Call-ID and CSeq of the binding it replaces, all or nothing, (8) a 200
listing every current binding with its remaining seconds.

Choices this registrar makes where the RFC leaves room:

* a wrong password and an unknown user both get **403 Forbidden**, the same
  answer, so the registrar does not tell a stranger which user names exist
  (the issue asks JsSIP and SIP.js to "fail cleanly (403)"); a correct
  password with an expired nonce gets a new 401 with ``stale=TRUE``;
* an AOR names a user in one of our domains: every name the server goes by
  (``127.0.0.1``, ``localhost``...) is folded into the first one, so
  ``sip:alice@localhost`` and ``sip:alice@127.0.0.1`` are one AOR;
* a binding is identified by its contact URI (§19.1.4 equality) or, for
  RFC 5626/5627 user agents such as JsSIP, by its ``+sip.instance`` and
  ``reg-id``: a browser that reloads and registers a new random contact
  replaces its old binding instead of leaving a dead one behind;
* each binding remembers the transport address (:class:`Peer`) its REGISTER
  came from. A browser's contact (``sip:x@y.invalid;transport=ws``, RFC 7118)
  cannot be reached by its URI, only over its own WebSocket connection, and a
  phone behind NAT only at the address the NAT gave it.

Bindings expire by the clock: :meth:`LocationService.get_timer` is the next
expiry, and the server calls :meth:`LocationService.expire` when it comes, so
a phone that vanished is not rung forever. No wall-clock ``Date`` header is
added to the 200 (this core never reads a clock).
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from urllib.parse import unquote

from siplab.errors import SipParseError
from siplab.ids import IdSource
from siplab.sip.auth_server import AuthStatus, DigestServer
from siplab.sip.build import build_response
from siplab.sip.grammar import remove_param
from siplab.sip.headers import Address
from siplab.sip.message import Request, Response
from siplab.sip.transport import Peer, uri_host
from siplab.sip.uas_checks import SUPPORTED_EXTENSIONS
from siplab.sip.uri import SipUri, Uri, uri_equal

__all__ = ["Binding", "LocationService", "Registrar"]


@dataclass(frozen=True, slots=True)
class Binding:
    """One contact registered for an address of record (§10.3).

    ``contact`` is the Contact the user agent sent, without its ``expires``
    parameter (the 200 writes the remaining time there). ``source`` is where
    the REGISTER came from: the route to a WebSocket client or a phone behind
    NAT. ``call_id`` and ``cseq`` order the updates of the binding (§10.3
    step 7). ``updated_at`` breaks ties between equal ``q`` values: newest first.
    """

    aor: str
    contact: Address
    expires_at: float
    call_id: str
    cseq: int
    source: Peer
    updated_at: float
    q: float = 1.0
    instance: str | None = None
    reg_id: str | None = None

    @property
    def uri(self) -> Uri:
        """The contact URI: where requests for the AOR are sent (the new Request-URI)."""
        return self.contact.uri

    def remaining(self, now: float) -> int:
        """Whole seconds left before the binding expires (never negative)."""
        return max(0, math.ceil(self.expires_at - now - 1e-9))

    def contact_value(self, now: float) -> str:
        """The binding as a 200 lists it: ``<sip:alice@10.0.0.1>;expires=3599``."""
        return str(self.contact.with_param("expires", str(self.remaining(now))))

    def same_device(self, uri: Uri, instance: str | None, reg_id: str | None) -> bool:
        """True if a new contact replaces this binding: same URI, or same instance."""
        if instance is not None and instance == self.instance and reg_id == self.reg_id:
            return True
        return uri_equal(self.uri, uri)


def _contact_key(uri: Uri) -> tuple[str, ...]:
    # A rough key for the contact index; uri_equal makes the final decision.
    if isinstance(uri, SipUri):
        return (unquote(uri.user or ""), uri.host.lower(), str(uri.port))
    return (str(uri).lower(),)


class LocationService:
    """Every binding, by address of record, with timer-driven expiry (§10, §16.5).

    ``bindings(aor, now)`` is what the proxy asks ("where is Bob?"),
    ``lookup_contact(uri)`` answers the reverse question for a request whose
    Request-URI is a contact ("which connection reaches this browser?").
    """

    def __init__(self) -> None:
        self._by_aor: dict[str, list[Binding]] = {}
        self._by_contact: dict[tuple[str, ...], list[Binding]] = {}
        # (expires_at, order, binding); entries of replaced bindings go stale
        # and are skipped when they reach the top.
        self._heap: list[tuple[float, int, Binding]] = []
        self._order = itertools.count()
        self._count = 0

    def __len__(self) -> int:
        """How many bindings are stored (expired ones go at the next :meth:`expire`)."""
        return self._count

    @property
    def aor_count(self) -> int:
        """How many addresses of record have at least one binding."""
        return len(self._by_aor)

    def aors(self) -> list[str]:
        return sorted(self._by_aor)

    def __iter__(self) -> Iterator[Binding]:
        for bindings in self._by_aor.values():
            yield from bindings

    def bindings(self, aor: str, now: float) -> list[Binding]:
        """The live bindings of ``aor``: highest ``q`` first, then the newest."""
        live = [b for b in self._by_aor.get(aor, ()) if b.expires_at > now]
        live.sort(key=lambda b: (-b.q, -b.updated_at))
        return live

    def lookup_contact(self, uri: Uri, now: float | None = None) -> Binding | None:
        """The binding whose contact URI equals ``uri`` (§19.1.4), or None."""
        for binding in self._by_contact.get(_contact_key(uri), ()):
            if (now is None or binding.expires_at > now) and uri_equal(binding.uri, uri):
                return binding
        return None

    def set_bindings(self, aor: str, bindings: Iterable[Binding]) -> None:
        """Replace every binding of ``aor`` at once (a REGISTER is all or nothing)."""
        for old in self._by_aor.pop(aor, ()):
            self._unindex(old)
        new = list(bindings)
        if new:
            self._by_aor[aor] = new
        for binding in new:
            self._count += 1
            self._by_contact.setdefault(_contact_key(binding.uri), []).append(binding)
            heapq.heappush(self._heap, (binding.expires_at, next(self._order), binding))
        if len(self._heap) > 2 * self._count + 64:
            # Every refresh leaves the replaced binding's entry behind, until its
            # old expiry time (an hour, say): keep the heap to the live ones.
            self._heap = [entry for entry in self._heap if self._alive(entry[2])]
            heapq.heapify(self._heap)

    def remove(self, binding: Binding) -> bool:
        """Remove one binding (its flow failed, say); False if it was not stored."""
        if not self._alive(binding):
            return False
        rest = [b for b in self._by_aor[binding.aor] if b is not binding]
        if rest:
            self._by_aor[binding.aor] = rest
        else:
            del self._by_aor[binding.aor]
        self._unindex(binding)
        return True

    def _unindex(self, binding: Binding) -> None:
        self._count -= 1
        key = _contact_key(binding.uri)
        same = [b for b in self._by_contact.get(key, ()) if b is not binding]
        if same:
            self._by_contact[key] = same
        else:
            self._by_contact.pop(key, None)

    def _alive(self, binding: Binding) -> bool:
        return any(b is binding for b in self._by_aor.get(binding.aor, ()))

    def get_timer(self) -> float | None:
        """When the next binding expires, or None without bindings."""
        while self._heap and not self._alive(self._heap[0][2]):
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    def expire(self, now: float) -> list[Binding]:
        """Remove every binding whose time is up (at or before ``now``); return them."""
        gone: list[Binding] = []
        while self._heap and self._heap[0][0] <= now:
            _, _, binding = heapq.heappop(self._heap)
            if self.remove(binding):
                gone.append(binding)
        return gone


def _parse_q(address: Address) -> float:
    text = address.param("q")
    if text is None:
        return 1.0
    try:
        q = float(text)
    except ValueError:
        q = -1.0
    if not 0.0 <= q <= 1.0 or not text[:1].isdigit():
        raise SipParseError(f"bad q value {text!r} (0 to 1)", where="header 'Contact'")
    return q


def _parse_seconds(text: str | None) -> int | None:
    """A delta-seconds value; malformed ones count as absent (§20.19: use the default)."""
    if text is None:
        return None
    text = text.strip()
    if not text.isascii() or not text.isdigit():
        return None
    return min(int(text[:12]), 2**32 - 1)


class Registrar:
    """A registrar for ``domains`` (§10.3): one REGISTER in, one response out.

    ``users`` maps user names to passwords; ``None`` is *open mode*: every
    REGISTER is accepted without a challenge, for any user name. ``digest``
    issues and checks the challenges (needed unless in open mode). Expiry
    requests below ``min_expires`` get 423 Interval Too Brief, those above
    ``max_expires`` are shortened, and a contact without any gets
    ``default_expires`` (§10.2.1.1). ``max_bindings`` caps the contacts of one
    AOR so that a misbehaving client cannot make every call fork a hundred ways.
    """

    def __init__(
        self,
        domains: Iterable[str],
        *,
        users: Mapping[str, str] | None,
        digest: DigestServer | None,
        ids: IdSource,
        location: LocationService | None = None,
        min_expires: int = 60,
        max_expires: int = 3600,
        default_expires: int = 3600,
        max_bindings: int = 32,
    ) -> None:
        names = [d.lower().strip("[]") for d in domains]
        if not names:
            raise ValueError("a registrar needs at least one domain")
        if users is not None and digest is None:
            raise ValueError("a registrar with users needs a DigestServer")
        if not 0 < min_expires <= default_expires <= max_expires:
            raise ValueError("need 0 < min_expires <= default_expires <= max_expires")
        self.domains = tuple(dict.fromkeys(names))
        self.users = users
        self.digest = digest
        self.ids = ids
        self.location = location if location is not None else LocationService()
        self.min_expires = min_expires
        self.max_expires = max_expires
        self.default_expires = default_expires
        self.max_bindings = max_bindings

    def __repr__(self) -> str:
        mode = "open" if self.users is None else f"{len(self.users)} users"
        return f"<Registrar {self.domains[0]} ({mode}), {len(self.location)} bindings>"

    # -- names -----------------------------------------------------------------------------

    def is_our_domain(self, uri: Uri) -> bool:
        """True if the URI's host is one of our domains (the server checks ports first)."""
        return isinstance(uri, SipUri) and uri.host.lower().strip("[]") in self.domains

    def aor_of(self, uri: Uri) -> str | None:
        """The location-service key for a URI in our domains, ``sip:user@domain``, or None."""
        if not isinstance(uri, SipUri) or uri.user is None or not self.is_our_domain(uri):
            return None
        # sip:, the user, our first domain; no port, no parameters: every spelling
        # of one user's address (sips:, another of our names, :5061) finds one entry.
        return SipUri(uri_host(self.domains[0]), uri.user).address_of_record

    def is_known_user(self, user: str) -> bool:
        """True if ``user`` has an account (always False in open mode)."""
        return self.users is not None and unquote(user) in self.users

    # -- the eight steps of §10.3 --------------------------------------------------------

    def stateless_challenge(self, request: Request, now: float) -> Response | None:
        """The 401 for a REGISTER without credentials, or None if it needs more thought.

        Most REGISTERs a registrar sees carry no credentials yet (a phone's
        first try, RFC 3665 §2.1), and every one gets the same kind of answer:
        a 401 with a fresh nonce. RFC 3261 §8.2.7 lets a UAS send such
        challenges *statelessly*, with no server transaction: a retransmitted
        REGISTER simply gets another 401 (with its own nonce, and the same To
        tag: :meth:`~siplab.sip.auth_server.DigestServer.stateless_tag`). The
        registrar as a whole cannot be stateless ("this rules out stateless
        registrars", §8.2.7): the REGISTER with credentials changes bindings,
        and its 200 goes through a transaction. Kamailio answers the same way.

        The caller has checked that the Request-URI names our domain (step 1);
        a request with a ``Require`` header (step 2) or with credentials goes
        the stateful way.
        """
        if (self.users is None or self.digest is None
                or request.headers.get("Authorization") is not None
                or request.headers.get("Require") is not None):
            return None
        return self.digest.challenge_response(request, now,
                                              to_tag=self.digest.stateless_tag(request))

    def handle_register(self, request: Request, source: Peer, now: float) -> Response:
        """Process a REGISTER from ``source`` at ``now`` and return the response to send.

        Malformed header values raise :class:`~siplab.errors.SipParseError`;
        the caller answers those with 400.
        """
        tag = self.ids.tag()

        def answer(status: int, reason: str | None = None,
                   headers: Iterable[tuple[str, str]] = ()) -> Response:
            return build_response(request, status, reason, to_tag=tag, headers=headers)

        # 1. The Request-URI must name a domain this registrar serves.
        if not self.is_our_domain(request.uri):
            return answer(404, "Not Found (domain not served here)")
        # 2. Extensions the client requires must be understood; we support none.
        unsupported = [tag for tag in request.header_list("Require")
                       if tag.lower() not in SUPPORTED_EXTENSIONS]
        if unsupported:
            return answer(420, None, [("Unsupported", ", ".join(unsupported))])
        # 3. Authentication: who is this (§22, RFC 7616)?
        username: str | None = None
        if self.users is not None:
            assert self.digest is not None
            result = self.digest.check_request(request, now, password_for=self.users)
            if result.status in (AuthStatus.WRONG_PASSWORD, AuthStatus.UNKNOWN_USER):
                return answer(403)  # the same answer for both: user names stay secret
            if result.status in (AuthStatus.MALFORMED, AuthStatus.MISSING_FIELDS,
                                 AuthStatus.UNSUPPORTED):
                return answer(400, f"Bad Request ({result.status}: {result.detail})"[:120])
            if not result.ok:  # none yet, a nonce too old, forged or replayed: try again
                return self.digest.challenge_response(request, now, stale=result.stale,
                                                      to_tag=tag)
            username = result.username
        # 4. Authorization: a user may only change the bindings of their own AOR.
        to_uri = request.to.uri
        if username is not None and (not isinstance(to_uri, SipUri) or to_uri.user is None
                                     or unquote(to_uri.user) != username):
            return answer(403, f"Forbidden ({username} may not register {to_uri})")
        # 5. The AOR (from To) must belong to one of our domains.
        aor = self.aor_of(to_uri)
        if aor is None:
            return answer(404, "Not Found (not an address of record here)")
        # 6. and 7. Work out the new binding list, then commit it all at once.
        try:
            bindings = self._updated_bindings(request, aor, source, now)
        except _Refused as refusal:
            return answer(refusal.status, refusal.reason, refusal.headers)
        if bindings is not None:
            self.location.set_bindings(aor, bindings)
        # 8. 200 OK with every current binding and its remaining time.
        current = self.location.bindings(aor, now)
        return answer(200, None, [("Contact", b.contact_value(now)) for b in current])

    def _updated_bindings(self, request: Request, aor: str, source: Peer,
                          now: float) -> list[Binding] | None:
        """The AOR's bindings after this REGISTER; None for a query (no Contact)."""
        contacts = request.contact
        if not contacts:
            return None  # a query (RFC 3665 §2.3): nothing changes
        call_id, cseq = request.call_id, request.cseq.number
        header_expires = _parse_seconds(request.headers.get("Expires"))
        existing = self.location.bindings(aor, now)

        def check_order(binding: Binding) -> None:
            # §10.3 step 7: a request older than the binding's last update fails.
            if binding.call_id == call_id and cseq <= binding.cseq:
                raise _Refused(500, f"Server Internal Error (CSeq {cseq} is not above "
                                    f"{binding.cseq} for this Call-ID)")

        if any(c.is_wildcard for c in contacts):
            # 6. "Contact: *" removes every binding, but only alone and with Expires: 0.
            if len(contacts) != 1 or (request.headers.get("Expires") or "").strip() != "0":
                raise _Refused(400, "Bad Request (Contact: * needs Expires: 0 and no other "
                                    "Contact)")
            for binding in existing:
                check_order(binding)
            return []
        result = list(existing)
        for contact in contacts:
            expires = _parse_seconds(contact.param("expires"))
            if expires is None:
                expires = header_expires if header_expires is not None else self.default_expires
            if 0 < expires < self.min_expires:
                raise _Refused(423, None, [("Min-Expires", str(self.min_expires))])
            expires = min(expires, self.max_expires)
            instance, reg_id = contact.param("+sip.instance"), contact.param("reg-id")
            replaced = [b for b in result if b.same_device(contact.uri, instance, reg_id)]
            for binding in replaced:
                check_order(binding)
            result = [b for b in result if all(b is not r for r in replaced)]
            if expires == 0:
                continue  # removal (RFC 3665 §2.4)
            result.append(Binding(
                aor=aor,
                contact=Address(contact.uri, contact.display_name,
                                remove_param(contact.params, "expires")),
                expires_at=now + expires,
                call_id=call_id,
                cseq=cseq,
                source=source,
                updated_at=now,
                q=_parse_q(contact),
                instance=instance,
                reg_id=reg_id,
            ))
        if len(result) > self.max_bindings:
            raise _Refused(403, f"Forbidden (more than {self.max_bindings} contacts)")
        return result


class _Refused(Exception):
    """A REGISTER that cannot be committed, with the response that says why."""

    def __init__(self, status: int, reason: str | None,
                 headers: Iterable[tuple[str, str]] = ()) -> None:
        super().__init__(reason or str(status))
        self.status = status
        self.reason = reason
        self.headers = list(headers)
