"""What the user agent core does with each thing its transaction layer hands up (RFC 3261 §8.2).

The :class:`~siplab.sip.transaction_layer.TransactionLayer` below the core
turns datagrams into transaction events. :class:`Routing`, mixed into
:class:`~siplab.sip.useragent.UserAgentCore`, decides where each one goes:

* a **response** (or a transaction's timeout or transport error, §17.1.1.2,
  §8.1.3.1) goes to whoever sent the request: the
  :class:`~siplab.sip.registration.Registration`, the
  :class:`~siplab.sip.invite.Session`, or a lone MESSAGE/OPTIONS -- the
  :data:`Owner` of that client transaction;
* a **request with a To tag** belongs to a dialog (§12.2.2): the dialog ID
  (Call-ID + both tags) finds the session, or it gets ``481 Call/Transaction
  Does Not Exist``; an ACK for a 2xx goes to its dialog, and is never answered;
* a **request without a To tag** is new (§8.2): an INVITE becomes an
  :class:`~siplab.sip.invite_server.IncomingSession` (§13.3); MESSAGE is
  answered 200 and reported (RFC 3428); OPTIONS is answered 200 with what we
  support (§11.2); a CANCEL finds the INVITE it cancels and is answered 200
  whatever that INVITE's fate (§9.2); a BYE, INFO... outside a dialog gets 481;
* before any of that, the checks of §8.2 (:mod:`siplab.sip.uas_checks`): an
  unknown method gets 501, one we do not allow 405 with Allow, an unknown
  ``Require`` extension 420, the same request arriving by two paths
  ``482 Loop Detected`` (§8.2.2.2);
* and bytes that are no message at all: a broken request gets its 400 straight
  back to the sender (its Via may be what is broken); stray responses are dropped.

A value from the peer that cannot be read (a Contact that does not parse) is
a :class:`~siplab.errors.RemoteProtocolError`: the request is answered with its
status, never raised out of ``receive_datagram``.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING

from siplab.errors import RemoteProtocolError
from siplab.ids import IdSource
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
from siplab.sip.invite import Session
from siplab.sip.invite_server import IncomingSession
from siplab.sip.message import Request, Response, parse_message
from siplab.sip.registration import Registration
from siplab.sip.standalone import StandaloneRequest
from siplab.sip.transaction import ClientTransaction, ServerTransaction, TransactionState
from siplab.sip.transaction_layer import TransactionLayer
from siplab.sip.transport import Peer
from siplab.sip.ua_config import UserAgentConfig
from siplab.sip.uas_checks import Refusal, bad_request_response, error_reason, refusal

if TYPE_CHECKING:
    from siplab.sip.ua_host import CoreHost

__all__ = ["Owner", "Routing"]

logger = logging.getLogger("siplab.ua")

#: Who sent the request of a client transaction, and so gets its response.
Owner = Registration | Session | StandaloneRequest

_NO_DIALOG = DialogId("", "", "")


class Routing:
    """The transaction layer's events to their owners, and new requests answered
    (mixed into :class:`~siplab.sip.useragent.UserAgentCore`)."""

    # Provided by UserAgentCore:
    config: UserAgentConfig
    ids: IdSource
    layer: TransactionLayer
    _host: CoreHost
    _events: deque[Event]
    _owners: dict[ClientTransaction, Owner]
    _sessions: dict[tuple[str, str], Session]
    _dialogs: dict[DialogId, Session]
    _invites: dict[ServerTransaction, Session]
    _merged: dict[tuple[str, str, str], ServerTransaction]
    _outbox: list[tuple[bytes, Peer]]

    if TYPE_CHECKING:  # the core's own methods, which these use

        def _send(self, owner: Owner, request: Request, now: float,
                  peer: Peer | None = None) -> ClientTransaction: ...

        def _authorize(self, request: Request, response: Response) -> Request | None: ...

        def _send_register(self, request: Request | None, now: float) -> None: ...

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
