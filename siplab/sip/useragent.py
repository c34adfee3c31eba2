"""The user agent core: one phone's SIP brain, as a sans-I/O endpoint (RFC 3261 §8, §10, §12-15).

RFC 3261 splits a user agent into layers: transport, transactions, and on top
the *transaction user*, the UA core, which decides what to answer and what to
send. :class:`UserAgentCore` is that core. It owns one
:class:`~siplab.sip.transaction_layer.TransactionLayer` and offers the same
five endpoint verbs (``receive_datagram``, ``datagrams_to_send``,
``next_event``, ``get_timer``, ``handle_timer``), so it runs unchanged in
:class:`~siplab.lab.SimNetwork` and under ``siplab.aio``.

What it does with each thing the layer hands up:

* a **response** goes to whoever sent the request: the
  :class:`~siplab.sip.registration.Registration`, the
  :class:`~siplab.sip.invite.Session`, or a lone MESSAGE/OPTIONS. A map from
  client transaction to owner remembers who that was;
* a **request with a To tag** belongs to a dialog (§12.2.2): the dialog ID
  (Call-ID + both tags) finds the session, or it gets ``481 Call/Transaction
  Does Not Exist``;
* a **request without a To tag** is new (§8.2): an INVITE becomes an
  :class:`~siplab.sip.invite_server.IncomingSession`; MESSAGE is answered 200
  and reported; OPTIONS is answered 200 with what we support; a CANCEL finds
  the INVITE it cancels (§9.2); a BYE, INFO... outside a dialog gets 481;
* before that, the checks of §8.2: an unknown method gets ``501 Not
  Implemented``, a known one we do not allow ``405 Method Not Allowed`` with
  Allow, an unknown ``Require`` extension ``420 Bad Extension``, the same
  request arriving by two paths ``482 Loop Detected`` (§8.2.2.2), and a
  request with a mandatory header missing ``400 Bad Request`` with a reason
  that names the header.

The application talks to it with verbs that take ``now``: ``register``,
``call``, ``accept``, ``bye``, ``message``... and reads what happened with
``next_event()`` (:mod:`siplab.sip.events`). Where requests go is in
:mod:`siplab.sip.addressing`: the outbound proxy if one is configured, else the
host and port of the URI.

Two parts live next door: :mod:`siplab.sip.ua_routing` (the routing above,
mixed into :class:`UserAgentCore`) and :mod:`siplab.sip.ua_host` (the core as
its calls see it).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import replace
from types import MappingProxyType

from siplab.errors import LocalProtocolError
from siplab.ids import IdSource
from siplab.sip.addressing import Origin, names_peer, next_hop
from siplab.sip.auth import DigestClient, UnsupportedChallenge
from siplab.sip.dialog import DialogId
from siplab.sip.events import (
    Event,
)
from siplab.sip.headers import Address, parse_address
from siplab.sip.invite import Session
from siplab.sip.invite_client import OutgoingSession
from siplab.sip.invite_server import IncomingSession
from siplab.sip.message import Request, Response
from siplab.sip.registration import Registration
from siplab.sip.standalone import StandaloneRequest
from siplab.sip.timers import TimerConfig
from siplab.sip.transaction import ClientTransaction, ServerTransaction
from siplab.sip.transaction_layer import TransactionLayer
from siplab.sip.transport import Peer, peer_for_uri
from siplab.sip.ua_config import UserAgentConfig
from siplab.sip.ua_host import CoreHost
from siplab.sip.ua_routing import Owner, Routing
from siplab.sip.uri import SipUri, Uri

__all__ = ["UserAgentConfig", "UserAgentCore"]

logger = logging.getLogger("siplab.ua")


class UserAgentCore(Routing):
    """A SIP user agent as a sans-I/O endpoint: registrations, calls, messages.

    ``ids`` makes every tag, branch and Call-ID (seed it for identical runs);
    ``timers`` (or ``config.timers``) sets T1, T2, T4. See the module docstring
    for what it answers on its own.
    """

    def __init__(self, config: UserAgentConfig, *, ids: IdSource,
                 timers: TimerConfig | None = None) -> None:
        self.config = config
        self.ids = ids
        self.timers = timers or config.timers or TimerConfig()
        self.layer = TransactionLayer(timers=self.timers)
        self.address = Address(config.aor, config.display_name)
        self.registration: Registration | None = None
        self._digest = (DigestClient(config.auth_user, config.password, ids=ids)
                        if config.password is not None else None)
        self._origin: Origin | None = None
        self._host = CoreHost(self)
        self._events: deque[Event] = deque()
        self._owners: dict[ClientTransaction, Owner] = {}
        self._sessions: dict[tuple[str, str], Session] = {}
        self._dialogs: dict[DialogId, Session] = {}
        self._invites: dict[ServerTransaction, Session] = {}  # INVITEs a CANCEL may name
        self._merged: dict[tuple[str, str, str], ServerTransaction] = {}  # §8.2.2.2
        self._outbox: list[tuple[bytes, Peer]] = []  # 400s for unreadable requests
        if config.local is not None:
            self.set_local(config.local)

    def __repr__(self) -> str:
        return f"<UserAgentCore {self.config.aor} sessions={len(self._sessions)}>"

    # -- where we are ----------------------------------------------------------------------

    def set_local(self, local: Peer, *, keep_contact: bool = False) -> None:
        """Say which transport address we send from (once the socket is bound).

        ``keep_contact``: a client that re-opened its connection to the server
        keeps the Contact it registered, so its new REGISTER replaces the old
        binding (now reached over the new connection) instead of adding one.
        """
        self.config = replace(self.config, local=local)
        contact = self.config.contact
        if keep_contact and self._origin is not None and isinstance(self._origin.contact.uri,
                                                                    SipUri):
            contact = self._origin.contact.uri
        self._origin = Origin.for_peer(local, user=self.config.aor.user, ids=self.ids,
                                       contact=contact)
        if self.registration is not None:
            self.registration.origin = self._origin

    @property
    def origin(self) -> Origin:
        """Our Via sent-by and Contact (see :mod:`siplab.sip.addressing`)."""
        if self._origin is None:
            raise LocalProtocolError("the user agent has no local address yet: set_local() first")
        return self._origin

    def destination(self, request: Request) -> Peer:
        """Where ``request`` goes (§8.1.2): the outbound proxy, or its next hop's address.

        Raises LocalProtocolError when the next hop names no address we can
        reach (see :meth:`reachable_destination`).
        """
        peer = self.reachable_destination(request)
        if peer is None:
            raise LocalProtocolError(f"cannot send {request.method} to {next_hop(request)}: "
                                     "not a SIP URI with a reachable address")
        return peer

    def reachable_destination(self, request: Request) -> Peer | None:
        """Where ``request`` goes, or None when its next hop cannot be reached.

        A dialog's remote target comes from the peer's Contact, so the peer
        decides whether we can reach it: a browser's ``sip:x@y.invalid;transport=ws``
        (RFC 7118 §5.2) reached us through a proxy, and without a Record-Route
        nothing leads back to it. A session whose request cannot go anywhere
        ends with the cause ``"unreachable"``; nothing is raised at the peer's
        doing.
        """
        hop = next_hop(request)
        outbound = self.config.outbound
        if outbound is not None:
            out_of_dialog = request.to_tag is None
            if out_of_dialog or names_peer(hop, outbound) or outbound.transport in ("ws", "wss"):
                return outbound
        return peer_for_uri(hop, self.origin.transport)

    @property
    def sessions(self) -> Mapping[tuple[str, str], Session]:
        """Live calls by (Call-ID, our tag); read-only. Ended calls leave it."""
        return MappingProxyType(self._sessions)

    # -- the endpoint contract ----------------------------------------------------------------

    def receive_datagram(self, data: bytes, peer: Peer, now: float) -> None:
        self.layer.receive_datagram(data, peer, now)
        self._pump(now)

    def datagrams_to_send(self) -> list[tuple[bytes, Peer]]:
        out = self.layer.datagrams_to_send()
        if self._outbox:
            out.extend(self._outbox)
            self._outbox = []
        return out

    def transport_error(self, peer: Peer, now: float) -> None:
        """The transport could not reach ``peer`` (§18.4): its transactions fail."""
        self.layer.transport_error(peer, now)
        self._pump(now)

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        deadlines = [self.layer.get_timer(), *(s.get_timer() for s in self._sessions.values())]
        if self.registration is not None:
            deadlines.append(self.registration.get_timer())
        return min((d for d in deadlines if d is not None), default=None)

    def handle_timer(self, now: float) -> None:
        """Fire everything due at or before ``now``, earliest first, each at its deadline."""
        while (deadline := self.get_timer()) is not None and deadline <= now:
            if self.layer.get_timer() == deadline:
                self.layer.handle_timer(deadline)
            elif self.registration is not None and self.registration.get_timer() == deadline:
                self._send_register(self.registration.due(deadline), deadline)
            else:
                for session in list(self._sessions.values()):
                    if session.get_timer() == deadline:
                        session.handle_timer(deadline)
                        break
            self._pump(deadline)

    # -- registration (§10.2) --------------------------------------------------------------

    def register(self, now: float, expires: int | None = None) -> Registration:
        """Register our Contact at the registrar of our address of record."""
        registration = self._registration()
        self._send_register(registration.register(now, expires), now)
        return registration

    def unregister(self, now: float, all_contacts: bool = False) -> Registration:
        """Remove our binding (Expires: 0), or all of them with ``Contact: *``."""
        registration = self._registration()
        self._send_register(registration.unregister(now, all_contacts), now)
        return registration

    def query_registrations(self, now: float) -> Registration:
        """Ask the registrar for the current bindings: RegistrationQueried reports them."""
        registration = self._registration()
        self._send_register(registration.query(now), now)
        return registration

    def registration_lost(self, now: float) -> Registration | None:
        """Our binding is gone (the connection to the registrar was re-opened, RFC 5626
        §4.5): if we were registered, REGISTER again at once. None without a registration."""
        if self.registration is None:
            return None
        self._send_register(self.registration.lost(now), now)
        return self.registration

    def _registration(self) -> Registration:
        if self.registration is None:
            aor = self.config.aor
            self.registration = Registration(
                aor=self.address, registrar=SipUri(aor.host, port=aor.port, scheme=aor.scheme),
                origin=self.origin, ids=self.ids, expires=self.config.register_expires,
                digest=self._digest, user_agent=self.config.user_agent,
            )
        return self.registration

    def _send_register(self, request: Request | None, now: float) -> None:
        registration = self._registration()
        if request is not None:
            self._send(registration, request, now)
        while (event := registration.next_event()) is not None:
            self._events.append(event)
        self._pump(now)

    # -- calls (§13-15) -----------------------------------------------------------------------

    def call(self, target: Address | Uri | str, now: float, body: bytes = b"",
             content_type: str | None = "application/sdp",
             headers: Iterable[tuple[str, str]] = ()) -> Session:
        """Call ``target`` (``sip:bob@example.com``): send the INVITE, return the session."""
        address = target if isinstance(target, Address) else (
            parse_address(target) if isinstance(target, str) else Address(target))
        session = OutgoingSession(self._host, address, body=body, content_type=content_type,
                                  headers=headers)
        return self._start(session, now)

    def progress(self, session: Session, now: float, status: int = 180,
                 body: bytes = b"", content_type: str | None = "application/sdp") -> None:
        self._incoming(session).progress(now, status, body=body, content_type=content_type)
        self._pump(now)

    def accept(self, session: Session, now: float, body: bytes = b"",
               content_type: str | None = "application/sdp") -> None:
        self._incoming(session).accept(now, body, content_type)
        self._pump(now)

    def reject(self, session: Session, now: float, status: int = 486,
               reason: str | None = None, headers: Iterable[tuple[str, str]] = ()) -> None:
        self._incoming(session).reject(now, status, reason, headers)
        self._pump(now)

    def cancel(self, session: Session, now: float) -> None:
        if not isinstance(session, OutgoingSession):
            raise LocalProtocolError("only the caller can CANCEL; the callee rejects")
        session.cancel(now)
        self._pump(now)

    def bye(self, session: Session, now: float) -> None:
        session.bye(now)
        self._pump(now)

    def media_timeout(self, session: Session, now: float) -> None:
        """No RTP from the peer for too long: end the call with BYE (cause "rtp timeout")."""
        session.media_timeout(now)
        self._pump(now)

    def hangup(self, session: Session, now: float) -> None:
        """End the call whatever its state: CANCEL, reject (480) or BYE."""
        session.hangup(now)
        self._pump(now)

    def reinvite(self, session: Session, body: bytes, now: float,
                 content_type: str | None = "application/sdp") -> None:
        session.reinvite(now, body, content_type)
        self._pump(now)

    def accept_reinvite(self, session: Session, now: float, body: bytes | None = None,
                        content_type: str | None = None) -> None:
        session.accept_reinvite(now, body, content_type)
        self._pump(now)

    def reject_reinvite(self, session: Session, now: float, status: int = 488,
                        reason: str | None = None,
                        headers: Iterable[tuple[str, str]] = ()) -> None:
        session.reject_reinvite(now, status, reason, headers)
        self._pump(now)

    def info(self, session: Session, body: bytes, content_type: str, now: float) -> Request:
        request = session.info(now, body, content_type)
        self._pump(now)
        return request

    def refer(self, session: Session, target: Address | str, now: float,
              hangup_after: bool = True) -> Request:
        request = session.refer(now, target, hangup_after)
        self._pump(now)
        return request

    def accept_refer(self, session: Session, now: float, body: bytes | None = None,
                     content_type: str | None = None) -> Session:
        """Act on the REFER ``session`` received: NOTIFY "100 Trying", then call the target.

        The new call reports back to the transferor with NOTIFYs
        (``SIP/2.0 200 OK`` when answered, the failure status otherwise).
        """
        refer = session.refer_request
        if refer is None:
            raise LocalProtocolError("that call has no REFER waiting")
        session.refer_request = None
        refer_to = parse_address(refer.headers.get("Refer-To") or "")
        uri = replace(refer_to.uri, headers=None) if isinstance(refer_to.uri, SipUri) \
            else refer_to.uri  # blind transfer: the ?headers part (Replaces...) is not used
        referred_by = refer.headers.get("Referred-By")
        if body is None:
            body, content_type = session.local_body, session.local_content_type
        session.notify_transfer(now, 100, "Trying")
        new = OutgoingSession(self._host, Address(uri), body=body, content_type=content_type,
                              headers=[("Referred-By", referred_by)] if referred_by else ())
        new.referrer = session
        return self._start(new, now)

    def decline_refer(self, session: Session, now: float, status: int = 603,
                      reason: str = "Declined") -> None:
        """Refuse the REFER after all: a final NOTIFY with ``status``."""
        session.refer_request = None
        session.notify_transfer(now, status, reason)
        self._pump(now)

    def _start(self, session: OutgoingSession, now: float) -> Session:
        self._sessions[session.key] = session
        session.start(now)
        self._pump(now)
        return session

    @staticmethod
    def _incoming(session: Session) -> IncomingSession:
        if not isinstance(session, IncomingSession):
            raise LocalProtocolError("only an incoming call can be answered or rejected")
        return session

    # -- requests outside calls ---------------------------------------------------------------

    def message(self, target: Address | Uri | str, body: bytes, now: float,
                content_type: str = "text/plain") -> Request:
        """Send a MESSAGE (RFC 3428); RequestSucceeded or RequestFailed tells how it went."""
        return self._lone("MESSAGE", target, now, body, content_type)

    def options(self, target: Address | Uri | str, now: float) -> Request:
        """Ask ``target`` what it supports (§11): the 200 lists Allow and Accept."""
        return self._lone("OPTIONS", target, now)

    def _lone(self, method: str, target: Address | Uri | str, now: float, body: bytes = b"",
              content_type: str | None = None) -> Request:
        address = target if isinstance(target, Address) else (
            parse_address(target) if isinstance(target, str) else Address(target))
        lone = StandaloneRequest.build(method, address, sender=self.address, origin=self.origin,
                                       ids=self.ids, body=body, content_type=content_type,
                                       user_agent=self.config.user_agent)
        self._send(lone, lone.request, now)
        self._pump(now)
        return lone.request

    # -- plumbing ---------------------------------------------------------------------------------

    def _send(self, owner: Owner, request: Request, now: float,
              peer: Peer | None = None) -> ClientTransaction:
        destination = peer or self.destination(request)
        logger.debug("sending %s to %s", request.label, destination)
        transaction = self.layer.send_request(request, destination, now)
        self._owners[transaction] = owner
        return transaction

    def _authorize(self, request: Request, response: Response) -> Request | None:
        if self._digest is None:
            return None
        try:
            return self._digest.add_authorization(request, response)
        except UnsupportedChallenge as error:
            logger.info("%s %s: %s", request.method, response.status, error)
            return None
