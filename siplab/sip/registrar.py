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

Bindings (kept by :mod:`siplab.sip.location`) expire by the clock:
:meth:`LocationService.get_timer` is the next expiry, and the server calls
:meth:`LocationService.expire` when it comes, so a phone that vanished is not
rung forever. No wall-clock ``Date`` header is
added to the 200 (this core never reads a clock).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from urllib.parse import unquote

from siplab.errors import SipParseError
from siplab.ids import IdSource
from siplab.sip.auth_server import AuthStatus, DigestServer
from siplab.sip.build import build_response
from siplab.sip.grammar import remove_param
from siplab.sip.headers import Address
from siplab.sip.location import Binding, LocationService
from siplab.sip.message import Request, Response
from siplab.sip.transport import Peer, uri_host
from siplab.sip.uas_checks import SUPPORTED_EXTENSIONS
from siplab.sip.uri import SipUri, Uri

__all__ = ["Binding", "LocationService", "Registrar"]  # the first two live in location.py

# Entries a Registrar remembers (AORs, contact texts) before it starts afresh:
# room for the users of a lab or a class, a few hundred bytes each.
_MEMO_SIZE = 4096


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
        # (user, host, domains) -> aor_of's answer; see aor_of.
        self._aors: dict[tuple[str, str, tuple[str, ...]], str | None] = {}
        # Contact address -> its text; see _contact_value.
        self._contact_texts: dict[Address, str] = {}

    def __repr__(self) -> str:
        mode = "open" if self.users is None else f"{len(self.users)} users"
        return f"<Registrar {self.domains[0]} ({mode}), {len(self.location)} bindings>"

    # -- names -----------------------------------------------------------------------------

    def is_our_domain(self, uri: Uri) -> bool:
        """True if the URI's host is one of our domains (the server checks ports first)."""
        return isinstance(uri, SipUri) and uri.host.lower().strip("[]") in self.domains

    def aor_of(self, uri: Uri) -> str | None:
        """The location-service key for a URI in our domains, ``sip:user@domain``, or None."""
        if not isinstance(uri, SipUri) or uri.user is None:
            return None
        # The answer depends only on the user, the host and our domains, all
        # immutable, and a registrar asks it for the same few users all day
        # (twice per REGISTER): remembered, emptied when full to stay bounded.
        key = (uri.user, uri.host, self.domains)
        found = self._aors.get(key, "")
        if found != "":  # "" is never an AOR: it means "not asked before"
            return found
        aor = None
        if self.is_our_domain(uri):
            # sip:, the user, our first domain; no port, no parameters: every spelling
            # of one user's address (sips:, another of our names, :5061) finds one entry.
            aor = SipUri(uri_host(self.domains[0]), uri.user).address_of_record
        if len(self._aors) >= _MEMO_SIZE:
            self._aors.clear()
        self._aors[key] = aor
        return aor

    def is_known_user(self, user: str) -> bool:
        """True if ``user`` has an account (always False in open mode)."""
        return self.users is not None and unquote(user) in self.users

    # -- the eight steps of §10.3 --------------------------------------------------------

    def stateless_challenge(self, request: Request, now: float) -> Response | None:
        """The 401 for a REGISTER without credentials, or None if it needs more thought.

        Most REGISTERs a registrar sees carry no credentials yet (a phone's
        first try, RFC 3665 §2.1), and every one gets the same kind of answer:
        a 401 with a nonce. RFC 3261 §8.2.7 lets a UAS send such challenges
        *statelessly*, with no server transaction: a retransmitted REGISTER
        simply gets another 401, computed again from the request, so the same
        bytes as the first (To tag and nonce are MACs of what the copies share,
        the nonce's time rounded down to a 16 s step:
        :meth:`~siplab.sip.auth_server.DigestServer.stateless_challenge_response`).
        A client such as sipp takes a 401 unlike the first for a new message.
        The registrar as a whole cannot be stateless ("this rules out stateless
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
        return self.digest.stateless_challenge_response(request, now)

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
        # (Most REGISTERs carry no Require: one lookup says so, no list is split.)
        if "Require" in request.headers:
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
        return answer(200, None, [("Contact", self._contact_value(b, now)) for b in current])

    def _contact_value(self, binding: Binding, now: float) -> str:
        """``binding.contact_value(now)``, with the contact's text remembered.

        A refreshing phone is listed with the same (immutable) contact each
        time. A contact without ``expires`` (all the registrar stores) gets it
        last, as ``with_param`` puts it: the text plus ``;expires=N``.
        """
        contact = binding.contact
        text = self._contact_texts.get(contact)
        if text is None:
            if contact.wildcard or contact.param("expires") is not None:
                return binding.contact_value(now)
            text = str(contact)
            if len(self._contact_texts) >= _MEMO_SIZE:
                self._contact_texts.clear()
            self._contact_texts[contact] = text
        return f"{text};expires={binding.remaining(now)}"

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

        if any(c.wildcard for c in contacts):
            # 6. "Contact: *" removes every binding, but only alone and with Expires: 0.
            if len(contacts) != 1 or (request.headers.get("Expires") or "").strip() != "0":
                raise _Refused(400, "Bad Request (Contact: * needs Expires: 0 and no other "
                                    "Contact)")
            for binding in existing:
                check_order(binding)
            return []
        result = existing  # a new list each time: ours to replace
        for contact in contacts:
            params = contact.params
            # A contact without header parameters (sipp's, most phones') has no
            # expires, q, +sip.instance or reg-id to look for, and is already
            # the address to store: the lookups and the copy are skipped.
            expires = _parse_seconds(contact.param("expires")) if params else None
            if expires is None:
                expires = header_expires if header_expires is not None else self.default_expires
            if 0 < expires < self.min_expires:
                raise _Refused(423, None, [("Min-Expires", str(self.min_expires))])
            expires = min(expires, self.max_expires)
            instance, reg_id = ((contact.param("+sip.instance"), contact.param("reg-id"))
                                if params else (None, None))
            # The bindings this contact replaces must not be newer (step 7); the rest stay.
            kept: list[Binding] = []
            for binding in result:
                if binding.same_device(contact.uri, instance, reg_id):
                    check_order(binding)
                else:
                    kept.append(binding)
            result = kept
            if expires == 0:
                continue  # removal (RFC 3665 §2.4)
            stored = (Address(contact.uri, contact.display_name, remove_param(params, "expires"))
                      if params else contact)
            q = _parse_q(contact) if params else 1.0
            # Positional, in field order: one Binding per REGISTER, and matching
            # ten keywords would cost a third of what making it costs.
            result.append(Binding(aor, stored, now + expires, call_id, cseq, source, now, q,
                                  instance, reg_id))
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
