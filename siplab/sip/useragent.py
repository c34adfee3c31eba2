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
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import replace
from types import MappingProxyType

from siplab.errors import LocalProtocolError, RemoteProtocolError
from siplab.ids import IdSource
from siplab.sip.addressing import Origin, names_peer, next_hop
from siplab.sip.auth import DigestClient, UnsupportedChallenge
from siplab.sip.build import build_response
from siplab.sip.dialog import Dialog, DialogId, Role, dialog_id_of
from siplab.sip.events import (
    Event,
    MessageDiscarded,
    MessageReceived,
    RequestReceived,
    ResponseReceived,
    TransactionTerminated,
    TransactionTimedOut,
    TransportFailed,
)
from siplab.sip.headers import Address, parse_address
from siplab.sip.invite import Session
from siplab.sip.invite_client import OutgoingSession
from siplab.sip.invite_engine import SessionCore
from siplab.sip.invite_server import IncomingSession
from siplab.sip.message import Request, Response, parse_message
from siplab.sip.registration import Registration
from siplab.sip.standalone import StandaloneRequest
from siplab.sip.timers import TimerConfig
from siplab.sip.transaction import ClientTransaction, ServerTransaction, TransactionState
from siplab.sip.transaction_layer import TransactionLayer
from siplab.sip.transport import Peer, peer_for_uri
from siplab.sip.ua_config import UserAgentConfig
from siplab.sip.uas_checks import Refusal, bad_request_response, error_reason, refusal
from siplab.sip.uri import SipUri, Uri

__all__ = ["UserAgentConfig", "UserAgentCore"]

logger = logging.getLogger("siplab.ua")


Owner = Registration | Session | StandaloneRequest


class _Host:
    """The UA core as its sessions see it (:class:`~siplab.sip.invite.SessionHost`)."""

    def __init__(self, core: UserAgentCore) -> None:
        self._core = core

    @property
    def ids(self) -> IdSource:
        return self._core.ids

    @property
    def timers(self) -> TimerConfig:
        return self._core.timers

    @property
    def origin(self) -> Origin:
        return self._core.origin

    @property
    def aor(self) -> Address:
        return self._core.address

    @property
    def allow(self) -> tuple[str, ...]:
        return self._core.config.allow

    @property
    def user_agent(self) -> str | None:
        return self._core.config.user_agent

    @property
    def keepalive_interval(self) -> float | None:
        return self._core.config.keepalive_interval

    def send_request(self, session: SessionCore, request: Request, now: float,
                     peer: Peer | None = None) -> ClientTransaction | None:
        assert isinstance(session, Session)
        destination = peer or self._core.reachable_destination(request)
        if destination is None:
            return None  # the dialog's remote target names no address we can reach
        return self._core._send(session, request, now, destination)

    def send_response(self, transaction: ServerTransaction, response: Response,
                      now: float) -> None:
        layer = self._core.layer
        if transaction.terminated:  # a 2xx retransmitted after the transaction ended
            layer.send_stateless(response, transaction.peer)
        else:
            layer.send_response(transaction, response, now)

    def send_ack(self, ack: Request) -> bool:
        destination = self._core.reachable_destination(ack)
        if destination is None:
            return False
        self._core.layer.send_stateless(ack, destination)
        return True

    def abandon(self, transaction: ClientTransaction, now: float) -> None:
        self._core.layer.abandon(transaction, now)

    def emit(self, event: Event) -> None:
        self._core._events.append(event)

    def authorize(self, request: Request, response: Response) -> Request | None:
        return self._core._authorize(request, response)

    def track_dialog(self, session: SessionCore, dialog: Dialog) -> None:
        assert isinstance(session, Session)
        self._core._dialogs[dialog.id] = session

    def forget_dialog(self, dialog: Dialog) -> None:
        self._core._dialogs.pop(dialog.id, None)

    def session_ended(self, session: SessionCore) -> None:
        core = self._core
        for dialog_id in [d for d, s in core._dialogs.items() if s is session]:
            del core._dialogs[dialog_id]
        if core._sessions.get(session.key) is session:
            del core._sessions[session.key]


class UserAgentCore:
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
        self._host = _Host(self)
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

    def _answer(self, request: Request, transaction: ServerTransaction, status: int,
                now: float, reason: str | None = None,
                headers: Iterable[tuple[str, str]] = ()) -> None:
        lines = list(headers)
        if self.config.user_agent:
            lines.append(("Server", self.config.user_agent))
        response = build_response(request, status, reason, to_tag=self.ids.tag(), headers=lines)
        self.layer.send_response(transaction, response, now)

    def _pump(self, now: float) -> None:
        """Route everything the transaction layer has to say, in order."""
        while (event := self.layer.next_event()) is not None:
            match event:
                case RequestReceived(request=request, transaction=transaction, peer=peer):
                    self._on_request(request, transaction, peer, now)
                case ResponseReceived(response=response, transaction=transaction):
                    self._on_response(response, transaction, now)
                case TransactionTimedOut(transaction=ClientTransaction() as transaction):
                    self._on_failure(transaction, "timeout", now)
                case TransportFailed(transaction=ClientTransaction() as transaction):
                    self._on_failure(transaction, "transport error", now)
                case TransactionTerminated(transaction=transaction):
                    self._forget(transaction)
                case MessageDiscarded(data=data, peer=peer):
                    self._on_discarded(data, peer)
                case _:
                    logger.debug("%s", event)

    def _on_discarded(self, data: bytes, peer: Peer) -> None:
        """Bytes the layer could not use: a broken request gets its 400 (§8.2), straight
        back to the sender (its Via may be what is broken). Stray responses are dropped."""
        try:
            parse_message(data).validate()
        except ValueError as error:  # SipParseError
            answer = bad_request_response(data, str(error), to_tag=self.ids.tag())
            if answer is not None:
                logger.info("400 %s (from %s)", answer.reason, peer)
                self._outbox.append((answer.to_bytes(), peer))

    def _forget(self, transaction: object) -> None:
        if isinstance(transaction, ClientTransaction):
            owner = self._owners.pop(transaction, None)
            if isinstance(owner, Session):
                owner.transaction_ended(transaction)
        elif isinstance(transaction, ServerTransaction):
            self._invites.pop(transaction, None)
            key = next((k for k, t in self._merged.items() if t is transaction), None)
            if key is not None:
                del self._merged[key]

    def _on_response(self, response: Response, transaction: ClientTransaction,
                     now: float) -> None:
        owner = self._owners.get(transaction)
        if isinstance(owner, Registration):
            self._send_register(owner.on_response(response, now), now)
        elif isinstance(owner, Session):
            owner.on_response(response, transaction, now)
        elif isinstance(owner, StandaloneRequest):
            retry, event = owner.on_response(response, self._authorize)
            if retry is not None:
                self._send(owner, retry, now)
            if event is not None:
                self._events.append(event)

    def _on_failure(self, transaction: ClientTransaction, cause: str, now: float) -> None:
        owner = self._owners.get(transaction)
        if isinstance(owner, Registration):
            timer = "Timer F" if cause == "timeout" else cause
            self._send_register(owner.on_timeout(now, f"no response ({timer})"), now)
        elif isinstance(owner, Session):
            owner.on_failure(transaction, cause, now)
        elif isinstance(owner, StandaloneRequest):
            self._events.append(owner.on_failure(cause))

    def _on_request(self, request: Request, transaction: ServerTransaction | None,
                    peer: Peer, now: float) -> None:
        method = request.method
        if transaction is None or method == "ACK":  # an ACK for a 2xx: the dialog's
            session = self._dialogs.get(dialog_id_of(request, role=Role.UAS) or _NO_DIALOG)
            if session is None:
                logger.debug("ACK for no dialog of ours dropped")
            else:
                try:
                    session.receive_request(request, transaction, now)
                except RemoteProtocolError as error:  # never answered (§17.1.1.3)
                    logger.info("ACK dropped: %s", error)
            return
        try:
            self._on_new_request(request, transaction, now)
        except RemoteProtocolError as error:
            # A value the peer sent that we cannot read (a Contact that does not parse,
            # say): the request is answered with the error's status (400 with what was
            # wrong), never raised out of receive_datagram (§8.2).
            self._refuse(request, transaction, error, now)

    def _refuse(self, request: Request, transaction: ServerTransaction,
                error: RemoteProtocolError, now: float) -> None:
        """Answer ``request`` with the error's status, unless a final answer already went;
        a plain 400 says what was wrong in its reason phrase."""
        logger.info("%s refused: %s %s", request.method, error.status, error)
        if transaction.state not in (TransactionState.TRYING, TransactionState.PROCEEDING):
            return
        reason = error_reason(str(error)) if error.reason == "Bad Request" else error.reason
        self._answer(request, transaction, error.status, now, reason)

    def _on_new_request(self, request: Request, transaction: ServerTransaction,
                        now: float) -> None:
        method = request.method
        refused = self._check(request, transaction)
        if refused is not None:
            self._answer(request, transaction, refused.status, now, refused.reason,
                         refused.headers)
        elif method == "CANCEL":
            self._on_cancel(request, transaction, now)
        elif request.to_tag is not None:
            self._in_dialog(request, transaction, now)
        elif method == "INVITE":
            self._new_call(request, transaction, now)
        elif method == "MESSAGE":
            self._answer(request, transaction, 200, now)
            self._events.append(MessageReceived(request, request.from_, request.body,
                                                request.content_type))
        elif method == "OPTIONS":
            self._answer(request, transaction, 200, now, headers=[
                ("Allow", ", ".join(self.config.allow)),
                ("Accept", "application/sdp, text/plain")])
        else:  # BYE, INFO, REFER, NOTIFY... need a dialog
            self._answer(request, transaction, 481, now)

    def _check(self, request: Request, transaction: ServerTransaction) -> Refusal | None:
        """The §8.2 checks a request must pass before anything acts on it."""
        refused = refusal(request, self.config.allow)
        if refused is not None or request.to_tag is not None or request.method == "CANCEL":
            return refused
        key = (request.from_tag or "", request.call_id, str(request.cseq))
        first = self._merged.setdefault(key, transaction)
        if first is not transaction:  # same request, another branch: it forked (§8.2.2.2)
            return Refusal(482, None, [])
        return None

    def _on_cancel(self, cancel: Request, transaction: ServerTransaction, now: float) -> None:
        invite = self.layer.find_server_transaction_for_cancel(cancel)
        if invite is None:
            self._answer(cancel, transaction, 481, now)
            return
        self._answer(cancel, transaction, 200, now)  # §9.2: whatever the INVITE's fate
        session = self._invites.get(invite)
        if session is not None:
            session.receive_cancel(cancel, invite, now)

    def _in_dialog(self, request: Request, transaction: ServerTransaction, now: float) -> None:
        session = self._dialogs.get(dialog_id_of(request, role=Role.UAS) or _NO_DIALOG)
        if session is None:
            self._answer(request, transaction, 481, now)
            return
        if request.method == "INVITE":
            self._invites[transaction] = session
        try:
            session.receive_request(request, transaction, now)
        except RemoteProtocolError as error:
            self._refuse(request, transaction, error, now)
            return
        if session.awaiting_reinvite_answer and self.config.auto_answer:
            session.accept_reinvite(now)

    def _new_call(self, invite: Request, transaction: ServerTransaction, now: float) -> None:
        if not invite.contact or invite.contact[0].is_wildcard:
            self._answer(invite, transaction, 400, now, "Missing Contact header")
            return
        # The dialog's remote target and route set come from the INVITE (§12.1.1): read
        # them now, so that one we cannot read is a 400 before any session exists.
        Dialog.from_uas_request(invite, "check")
        session = IncomingSession(self._host, invite, transaction)
        self._sessions[session.key] = session
        self._invites[transaction] = session
        session.start(now)
        if self.config.auto_answer:
            session.progress(now, 180)
            session.accept(now)


_NO_DIALOG = DialogId("", "", "")
