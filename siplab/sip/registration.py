"""Registration: telling a registrar where we can be reached (RFC 3261 §10.2, RFC 3665 §2).

A SIP address of record such as ``sip:alice@example.com`` names a *person*, not
a device. To receive calls, Alice's phone tells the registrar of
``example.com`` which device URI (its *Contact*) the name currently maps to,
and for how long. That is a REGISTER, and the mapping is a *binding*::

    Alice's phone                                     Registrar
      | REGISTER sip:example.com        CSeq: 1 REGISTER  |
      |   To/From: <sip:alice@example.com>                |
      |   Contact: <sip:alice@10.0.0.1:5060>  Expires: 600|
      |-------------------------------------------------->|
      |   401 Unauthorized (WWW-Authenticate: Digest ...) |
      |<--------------------------------------------------|
      | REGISTER ...  CSeq: 2 REGISTER  Authorization: ...|
      |-------------------------------------------------->|
      |   200 OK  Contact: <sip:alice@10.0.0.1>;expires=600
      |<--------------------------------------------------|
      :              (540 s later: 0.9 x 600)             :
      | REGISTER ...  CSeq: 3 REGISTER (same Call-ID)     |
      |-------------------------------------------------->|

The rules this module follows:

* **One Call-ID for all the REGISTERs of a registration, CSeq + 1 each time**
  (§10.2.4): the registrar orders refreshes by them and refuses stale ones.
* **Only one REGISTER at a time** (§10.2): a new one waits for the final
  response to the previous one. Asking for another in between queues it.
* **Refresh before expiry.** The registrar may grant less than we asked for;
  the 200 lists each binding with its ``expires``. We re-register at 90 % of
  the granted time (or 5 s before it ends, if that is sooner; never less than
  1 s ahead).
* **401 / 407**: answer the digest challenge once (again only if the server
  says ``stale=TRUE``: the password was right but the nonce had expired). A
  second plain challenge means the password is wrong: the registration fails.
* **423 Interval Too Brief** carries ``Min-Expires``: ask again for that much.
* **Unregister** with ``Expires: 0`` for our Contact, or ``Contact: *`` with
  ``Expires: 0`` to remove every binding of the address of record (§10.2.2).
* **Query**: a REGISTER without Contact changes nothing and returns the
  current bindings (§10.2.3). It changes no state, so it is not in the table.
* **A refresh that fails is retried** (state ``Retrying``): the registrar
  restarted and lost our binding, the network was down, the password was
  changed... Until the user says otherwise, a new REGISTER goes out after
  1, 2, 4... seconds, at most :data:`MAX_RETRY_DELAY` apart
  (:func:`retry_delay`), and the first that succeeds makes the registration
  ``Registered`` again. Only the first failure is reported
  (:class:`~siplab.sip.events.RegistrationFailed`); a failed *first*
  registration is not retried (a wrong password would be tried forever).
  :meth:`Registration.lost` re-registers at once, for a user agent that
  knows its binding is gone (its connection to the registrar was re-opened).
* **Credentials are reused** (§22.3, RFC 7616 §3.4): a refresh carries the
  answer to the last challenge again, with the next ``nc``, which saves the
  401 round trip. When the nonce has expired the registrar says ``stale=TRUE``
  and the REGISTER is answered with the fresh nonce.

The machine is the table :data:`REGISTRATION` (state, input) -> (next state,
actions), with states named like SIP.js's Registerer; it lives, with the
refresh and retry delays, in :mod:`siplab.sip.registration_table` (and is
importable from here too). This module's code only looks up rows and runs
their actions (each action ``"send REGISTER"`` is the method
``_send_register``), and :mod:`siplab.lab.diagrams` draws it from the same
table. A :class:`Registration` is sans-I/O: its methods take ``now`` and
return the REGISTER to send (or None); the user agent core
(:class:`~siplab.sip.useragent.UserAgentCore`) sends it through its
transaction layer and feeds the responses back.
"""

from __future__ import annotations

import logging
import re
from collections import deque

from siplab.errors import InvalidStateError, SipParseError
from siplab.ids import IdSource
from siplab.sip.addressing import Origin
from siplab.sip.auth import (
    DigestClient,
    UnsupportedChallenge,
    challenges_from,
    choose_challenge,
)
from siplab.sip.build import build_request
from siplab.sip.events import (
    Event,
    Registered,
    RegistrationFailed,
    RegistrationQueried,
    RequestFailed,
    Unregistered,
)
from siplab.sip.headers import WILDCARD, Address
from siplab.sip.message import Request, Response
from siplab.sip.registration_table import (  # the table and its timing rules
    FAILED,  # noqa: F401  (the states' short names stay importable from here)
    MAX_RETRY_DELAY,
    REGISTERED,
    REGISTERING,  # noqa: F401
    REGISTRATION,
    REGISTRATION_INITIAL_STATE,
    RETRYING,
    UNREGISTERED,  # noqa: F401
    UNREGISTERING,  # noqa: F401
    RegistrationState,
    RegistrationTransition,
    refresh_delay,
    retry_delay,
)
from siplab.sip.uri import Uri, uri_equal

__all__ = [
    "RegistrationState",
    "RegistrationTransition",
    "REGISTRATION",
    "REGISTRATION_INITIAL_STATE",
    "Registration",
    "refresh_delay",
    "retry_delay",
    "MAX_RETRY_DELAY",
]

logger = logging.getLogger("siplab.ua")


def _method_name(action: str) -> str:
    """``"send REGISTER with Min-Expires"`` -> ``"_send_register_with_min_expires"``."""
    return "_" + re.sub(r"[^a-z0-9]+", "_", action.lower()).strip("_")


class Registration:
    """One address of record registered by one user agent (§10.2).

    Created by the UA core (``ua.register(now)``), not directly. Read
    :attr:`state`, :attr:`contacts` (every binding the last 200 listed),
    :attr:`expires_granted`, :attr:`refresh_at` (absolute time of the next
    refresh) and :attr:`history` (``(time, input, state after)`` rows).
    """

    def __init__(
        self,
        *,
        aor: Address,
        registrar: Uri,
        origin: Origin,
        ids: IdSource,
        expires: int = 600,
        digest: DigestClient | None = None,
        user_agent: str | None = None,
        call_id: str | None = None,
    ) -> None:
        self.aor = aor
        self.registrar = registrar
        self.origin = origin
        self.ids = ids
        self.expires = expires  # what we ask for (a 423 raises it)
        self.digest = digest
        self.user_agent = user_agent
        self.call_id = call_id or ids.call_id(origin.via_host)
        self.cseq = 0
        self.state = REGISTRATION_INITIAL_STATE
        self.table = REGISTRATION
        self.contacts: tuple[Address, ...] = ()
        self.expires_granted: int | None = None
        self.refresh_at: float | None = None
        self.request: Request | None = None  # the last REGISTER sent
        self.history: list[tuple[float, str, RegistrationState]] = []
        self._from = aor.with_param("tag", ids.tag())  # one From tag, like the Call-ID
        self._in_flight: str | None = None  # "register", "unregister" or "query"
        self._queued: deque[tuple[str, bool]] = deque()  # (what, all_contacts)
        self._all_contacts = False
        self._auth_tries = 0
        self._out: Request | None = None  # what the actions of one row want sent
        self._retry: Request | None = None  # the REGISTER with credentials, made in advance
        self._response: Response | None = None  # the response being handled
        self._now = 0.0
        self._failure_reason = "no response"
        self._events: deque[Event] = deque()
        self._failures = 0  # failures in a row since the last 2xx (the retry backoff)
        self._challenge: Response | None = None  # the last 401/407 answered, for reuse

    def __repr__(self) -> str:
        return f"<Registration {self.aor.uri} {self.state} cseq={self.cseq}>"

    # -- what the UA core asks -------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """True while a REGISTER waits for its final response (§10.2: one at a time)."""
        return self._in_flight is not None

    def next_event(self) -> Event | None:
        """Drain one event (Registered, RegistrationFailed...), or None."""
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        """When the binding must be refreshed (or, Retrying, registered again), or None."""
        return self.refresh_at if not self.busy else None

    def due(self, now: float) -> Request | None:
        """Fire the refresh (or retry) timer if it is due: the REGISTER, or None."""
        if self.refresh_at is None or self.refresh_at > now or self.busy:
            return None
        self.refresh_at = None
        name = "retry due" if self.state is RETRYING else "refresh due"
        return self._run(name, now, "register")

    def lost(self, now: float) -> Request | None:
        """The binding is gone (our connection to the registrar was re-opened, say):
        REGISTER again now, if we were registered. None if nothing is sent."""
        if self.busy or (self.state, "binding lost") not in self.table:
            return None
        return self._run("binding lost", now, "register")

    # -- what the user asks --------------------------------------------------------------

    def register(self, now: float, expires: int | None = None) -> Request | None:
        """Register (or re-register for ``expires`` seconds). None if it had to queue."""
        if expires is not None:
            if expires <= 0:
                raise InvalidStateError("use unregister() to remove a binding")
            self.expires = expires
        return self._ask("register", now)

    def unregister(self, now: float, all_contacts: bool = False) -> Request | None:
        """Remove our binding (Expires: 0), or every binding with ``all_contacts``
        (``Contact: *``). None if it had to queue."""
        return self._ask("unregister", now, all_contacts)

    def query(self, now: float) -> Request | None:
        """Ask for the current bindings: a REGISTER without Contact (§10.2.3)."""
        return self._ask("query", now)

    # -- what the network says -----------------------------------------------------------

    def on_response(self, response: Response, now: float) -> Request | None:
        """Take a response to our REGISTER; returns the next REGISTER to send, if any."""
        if self.request is None or response.cseq.number != self.cseq or response.status < 200:
            return None  # a provisional, or a late answer to an older REGISTER
        what = self._in_flight
        if what == "query":
            return self._on_query_response(response, now)
        status = response.status
        if 200 <= status < 300:
            name = "2xx"
        elif status in (401, 407):
            name = "401/407" if self._may_answer(response) else "401/407 again"
            if name == "401/407":
                self._retry = self._authorized_retry(response)
                if self._retry is None:
                    name = "failure"  # nothing in the challenge we can answer
        elif status == 423 and self._min_expires(response) is not None:
            name = "423"
        else:
            name = "failure"
        if name in ("failure", "401/407 again"):
            self._challenge = None  # the next try starts without credentials
        return self._run(name, now, None, response)

    def on_timeout(self, now: float, reason: str = "no response (Timer F)") -> Request | None:
        """The REGISTER got no final response, or the transport failed."""
        if self._in_flight is None:
            return None
        if self._in_flight == "query":
            self._finish()
            assert self.request is not None
            self._events.append(RequestFailed("REGISTER", self.request, None, reason))
            return self._next_queued(now)
        self._failure_reason = reason
        return self._run("timeout", now, None)

    # -- the engine ----------------------------------------------------------------------------

    def _ask(self, what: str, now: float, all_contacts: bool = False) -> Request | None:
        if self.busy:
            logger.debug("%s for %s queued: a REGISTER is in flight", what, self.aor.uri)
            self._queued.append((what, all_contacts))
            return None
        if what == "query":
            return self._send_query(now)
        self._all_contacts = all_contacts
        if (self.state, what) not in self.table:
            raise InvalidStateError(f"cannot {what} in state {self.state}")
        return self._run(what, now, what)

    def _run(self, name: str, now: float, starting: str | None,
             response: Response | None = None) -> Request | None:
        """Look the input up in the table and run its row; return the REGISTER to send."""
        transition = self.table.get((self.state, name))
        if transition is None:
            logger.debug("registration ignored %r in %s", name, self.state)
            return None
        if starting is not None:
            self._auth_tries = 0
        self._out = None
        self._response = response
        self._now = now
        finished = name in ("2xx", "401/407 again", "failure", "timeout")
        if finished:
            self._finish()
        for action in transition.actions:
            getattr(self, _method_name(action))()
        self.state = transition.next_state
        self.history.append((now, name, self.state))
        out, self._out = self._out, None
        if out is not None:
            self._in_flight = starting or self._in_flight or "register"
            return out
        return self._next_queued(now) if finished else None

    def _finish(self) -> None:
        self._in_flight = None

    def _next_queued(self, now: float) -> Request | None:
        while self._queued:
            what, all_contacts = self._queued.popleft()
            if what == "query" or (self.state, what) in self.table:
                return self._ask(what, now, all_contacts)
            logger.debug("queued %s dropped: not possible in %s", what, self.state)
        return None

    def _authorized_retry(self, response: Response) -> Request | None:
        """The REGISTER again with an answer to the challenge, or None if unanswerable."""
        assert self.digest is not None
        assert self.request is not None
        try:
            return self.digest.add_authorization(self.request, response)
        except UnsupportedChallenge as error:
            logger.info("REGISTER %s: %s", response.status, error)
            return None

    def _may_answer(self, response: Response) -> bool:
        """A challenge is answered once; again only when the server says stale=TRUE."""
        if self.digest is None:
            return False
        stale = any(c.stale for header in ("WWW-Authenticate", "Proxy-Authenticate")
                    for c in challenges_from(response, header))
        return self._auth_tries == 0 or stale

    @staticmethod
    def _min_expires(response: Response) -> int | None:
        value = response.headers.get("Min-Expires")
        text = (value or "").strip()
        # ASCII and bounded: int() refuses "²" (isdigit() is true) and 4300+ digits.
        return int(text) if text.isascii() and text.isdigit() and len(text) <= 10 else None

    def _new_register(self, *, expires: int | None, contact: Address | None) -> Request:
        """A REGISTER of this registration: same Call-ID and From tag, CSeq + 1 (§10.2.4)."""
        self.cseq += 1
        headers = [("Expires", str(expires))] if expires is not None else []
        request = build_request(
            "REGISTER", self.registrar, from_=self._from, to=self.aor,
            via_host=self.origin.via_host, via_port=self.origin.via_port,
            transport=self.origin.via_transport, ids=self.ids, call_id=self.call_id,
            cseq=self.cseq, contact=contact, headers=headers, user_agent=self.user_agent,
        )
        self.request = request
        return request

    # -- actions (one method per action name in the table) ---------------------------------

    def _send_register(self) -> None:
        request = self._new_register(expires=self.expires, contact=self.origin.contact)
        if self.state in (REGISTERED, RETRYING):
            self._reuse_credentials(request)
        self._out = request

    def _reuse_credentials(self, request: Request) -> None:
        """Answer the last challenge again in ``request``, with the next nc (§22.3)."""
        if self._challenge is None or self.digest is None:
            return
        for challenge_header, header in (("WWW-Authenticate", "Authorization"),
                                         ("Proxy-Authenticate", "Proxy-Authorization")):
            challenge = choose_challenge(challenges_from(self._challenge, challenge_header),
                                         self.digest.supported)
            if challenge is None:
                continue
            try:
                credentials = self.digest.authorize(challenge, method="REGISTER",
                                                    uri=request.uri_text)
            except UnsupportedChallenge:
                continue
            before = len(request.headers) - 1  # above Content-Length, the last line
            request.headers.insert(before, header, str(credentials))

    def _send_register_with_expires_0(self) -> None:
        contact = WILDCARD if self._all_contacts else self.origin.contact
        self._out = self._new_register(expires=0, contact=contact)

    def _send_register_with_credentials(self) -> None:
        assert self._retry is not None
        assert self._response is not None
        logger.info("REGISTER %s -> retrying with digest", self._response.status)
        self._auth_tries += 1
        self._challenge = self._response
        self.cseq = self._retry.cseq.number
        self.request, self._out, self._retry = self._retry, self._retry, None

    def _send_register_with_min_expires(self) -> None:
        assert self._response is not None
        minimum = self._min_expires(self._response)
        assert minimum is not None
        logger.info("REGISTER 423 -> asking again for Min-Expires %d s", minimum)
        # A 423 to an authorized REGISTER means the credentials were good; the new
        # REGISTER starts without them, so its challenge may be answered again.
        self._auth_tries = 0
        self.expires = max(self.expires, minimum)
        self._out = self._new_register(expires=self.expires, contact=self.origin.contact)

    def _store_bindings(self) -> None:
        assert self._response is not None
        response = self._response
        # The registration worked; a Contact or Expires we cannot read only means we
        # do not learn what was granted, and keep what we asked for (§10.2.4).
        try:
            self.contacts = tuple(response.contact)
        except SipParseError:
            self.contacts = ()
        ours = next((c for c in self.contacts
                     if not c.is_wildcard and uri_equal(c.uri, self.origin.contact.uri)), None)
        granted: int | None = None
        expires = (ours.param("expires") or "") if ours is not None else ""
        if expires.isascii() and expires.isdigit() and len(expires) <= 10:  # int()-safe
            granted = int(expires)
        else:
            try:
                granted = response.expires
            except SipParseError:
                granted = None
        self.expires_granted = granted if granted is not None else self.expires

    def _schedule_refresh(self) -> None:
        granted = self.expires_granted if self.expires_granted is not None else self.expires
        self.refresh_at = self._now + refresh_delay(granted)
        self._failures = 0  # registered: a later failure starts the backoff afresh

    def _schedule_retry(self) -> None:
        self._failures += 1
        delay = retry_delay(self._failures)
        logger.info("registration of %s lost: trying again in %.0f s (failure %d)",
                    self.aor.uri, delay, self._failures)
        self.refresh_at = self._now + delay

    def _stop_refresh(self) -> None:
        self.refresh_at = None

    def _report_registered(self) -> None:
        granted = self.expires_granted if self.expires_granted is not None else self.expires
        self._events.append(Registered(self, self.contacts, granted))

    def _report_unregistered(self) -> None:
        self.expires_granted = None
        self._events.append(Unregistered(self))

    def _report_failed(self) -> None:
        if self._response is not None:
            status: int | None = self._response.status
            reason = self._response.reason
            if status in (401, 407):
                reason = f"{reason}: authentication failed"
        else:
            status, reason = None, self._failure_reason
        logger.info("registration of %s failed: %s %s", self.aor.uri, status, reason)
        self._events.append(RegistrationFailed(self, status, reason))

    # -- the query, outside the table ---------------------------------------------------------

    def _send_query(self, now: float) -> Request:
        self._auth_tries = 0
        self._in_flight = "query"
        return self._new_register(expires=None, contact=None)

    def _on_query_response(self, response: Response, now: float) -> Request | None:
        assert self.request is not None
        if response.status in (401, 407) and self._may_answer(response):
            retry = self._authorized_retry(response)
            if retry is not None:
                self._auth_tries += 1
                self.cseq = retry.cseq.number
                self.request = retry
                return retry
        self._finish()
        if 200 <= response.status < 300:
            self._events.append(RegistrationQueried(self, tuple(response.contact)))
        else:
            self._events.append(RequestFailed("REGISTER", self.request, response.status,
                                              response.reason))
        return self._next_queued(now)
