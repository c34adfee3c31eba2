"""INVITE sessions: one call, from the INVITE to the BYE (RFC 3261 §12-15, §9; RFC 3515).

The ladder of a call between two user agents, with who does what::

    Alice (caller, UAC)                         Bob (callee, UAS)
      | INVITE (SDP offer)                          |   OutgoingSession: "call"
      |-------------------------------------------->|
      |                     100 Trying              |   (the transaction layer, at once)
      |<--------------------------------------------|   IncomingSession: "receive INVITE"
      |                     180 Ringing (To tag)    |   bob: progress() -> early dialog
      |<--------------------------------------------|
      |                     200 OK (SDP answer)     |   bob: accept(); the UA core resends
      |<--------------------------------------------|   the 200 until the ACK comes (§13.3.1.4)
      | ACK (new branch, a request of the dialog)   |   alice: one ACK for every 2xx (§13.2.2.4)
      |-------------------------------------------->|
      |        ... media; re-INVITE, INFO, REFER ...|
      | BYE                                         |   §15
      |-------------------------------------------->|
      |                     200 OK                  |
      |<--------------------------------------------|

A :class:`Session` is that call as one side sees it. It owns the call's
dialogs (:class:`~siplab.sip.dialog.Dialog`, early ones and the confirmed one),
the bodies exchanged (``local_body`` / ``remote_body``: the SDP offer and
answer; this module carries bodies and never reads them), and its state, which
the tables of :mod:`siplab.sip.invite_table` drive: every input looks up a row
and runs its actions, each action being a method of the same name
(``"send ACK"`` is :meth:`Session._send_ack`).

A session is built in layers, one module each:
:mod:`~siplab.sip.invite_engine` (the table engine, the timers, the host it
sends through), :mod:`~siplab.sip.invite_midcall` (re-INVITE, INFO, MESSAGE,
REFER/NOTIFY, keep-alives), this module (what both sides share: routing what
arrives to the right input, hanging up with BYE, the ACK for every 2xx, and
the callee's 2xx retransmission), then :mod:`~siplab.sip.invite_client` for
the caller (early dialogs, forks, redirects, digest, CANCEL) and
:mod:`~siplab.sip.invite_server` for the callee (progress, accept, reject, a
CANCEL received).

A session does not send anything itself: it asks its *host*, the user agent
core (:class:`~siplab.sip.invite_engine.SessionHost`), to send requests through
client transactions, responses through server transactions and ACKs without
any, and gives it the events. It never reads a clock: every method takes ``now``.
"""

from __future__ import annotations

import logging

from siplab.errors import RemoteProtocolError
from siplab.sip.dialog import Dialog, DialogState, Role, dialog_id_of
from siplab.sip.events import SessionEstablished, SessionTerminated
from siplab.sip.headers import header_key, parse_address
from siplab.sip.invite_engine import SessionHost, Stimulus
from siplab.sip.invite_midcall import MidCallSession, glare_delay, sipfrag_status
from siplab.sip.invite_table import SessionState
from siplab.sip.message import Request, Response
from siplab.sip.transaction import ClientTransaction, ServerTransaction, TransactionState

__all__ = ["Session", "SessionHost", "Stimulus", "sipfrag_status", "glare_delay"]

logger = logging.getLogger("siplab.ua")

ESTABLISHING = SessionState.Establishing
ESTABLISHED = SessionState.Established
TERMINATED = SessionState.Terminated

_CREDENTIALS = ("authorization", "proxy-authorization")


class Session(MidCallSession):
    """One call as one user agent sees it; :mod:`~siplab.sip.invite_client` and
    :mod:`~siplab.sip.invite_server` make the two kinds (``direction``
    ``"outgoing"`` or ``"incoming"``)."""

    # -- what the application asks (the UA core's verbs call these) ----------------------

    def bye(self, now: float) -> None:
        """Hang up an established call (§15). The callee's BYE waits for the ACK."""
        self._input("bye before ACK" if self._pending_2xx else "bye", now, local=True)

    def media_timeout(self, now: float) -> None:
        """The peer's media stopped for too long (RFC 3550 §6.3.5: it is gone): BYE, with
        the cause ``"rtp timeout"``. Watching the media is the media layer's job."""
        self._input("media timeout", now, local=True)

    def hangup(self, now: float) -> None:
        """End the call whatever its state: CANCEL or reject while ringing, else BYE."""
        if self.state is ESTABLISHING:
            self._hangup_early(now)
        elif self.state is ESTABLISHED:
            self.bye(now)

    # -- what the network says (the UA core routes it here) ------------------------------

    def on_response(self, response: Response, transaction: ClientTransaction,
                    now: float) -> None:
        """A response to one of this session's requests."""
        purpose = self._purposes.get(transaction)
        if purpose is None:
            return
        status = response.status
        if purpose == "INVITE":
            self._on_invite_response(response, transaction, now)
            return
        if status < 200 or purpose in ("CANCEL", "fork BYE"):
            return
        if status in (401, 407) and self._answer_challenge(purpose, transaction, response, now):
            return
        lost = status in (408, 481)
        if purpose == "re-INVITE":
            if transaction is self._reinvite_tx:
                self._reinvite_tx = None
            if status < 300:
                key = (response.to_tag, transaction.request.cseq.number)
                name = "2xx again" if key in self._acks else "re-INVITE 2xx"
            else:
                name = ("request lost" if lost
                        else "re-INVITE 491" if status == 491 else "re-INVITE rejected")
        elif purpose == "BYE":
            name = "BYE response"
        elif purpose == "keepalive":
            if not lost:
                return  # any other answer proves the peer still knows the dialog
            name = "keepalive failed"
        else:
            name = "request 2xx" if status < 300 else "request lost" if lost else "request failed"
        self._input(name, now, response, transaction)

    def on_failure(self, transaction: ClientTransaction, cause: str, now: float) -> None:
        """One of our requests got no final response (``cause`` "timeout") or could not be
        sent ("transport error")."""
        purpose = self._purposes.get(transaction)
        if purpose is None or purpose in ("CANCEL", "fork BYE"):
            return
        if purpose == "INVITE":
            name = "Timer B" if cause == "timeout" else "transport error"
        elif purpose == "BYE":
            name = "BYE timeout"
        elif purpose == "keepalive":
            name = "keepalive failed"
        else:
            if transaction is self._reinvite_tx:
                self._reinvite_tx = None
            name = "request lost"
        self._input(name, now, None, transaction)

    def transaction_ended(self, transaction: ClientTransaction) -> None:
        """The UA core forgets a finished client transaction; so does the session."""
        self._purposes.pop(transaction, None)
        self._auth_retried.discard(transaction)

    def receive_request(self, request: Request, transaction: ServerTransaction | None,
                        now: float) -> None:
        """A request in one of this session's dialogs (the UA core matched the dialog ID).

        Raises :class:`~siplab.errors.RemoteProtocolError` when the request must
        be refused (out of order: 500; a REFER without Refer-To: 400); the UA
        core answers with its status.
        """
        dialog = self._dialog_for(request)
        if dialog is None:
            raise RemoteProtocolError("no such dialog", status=481,
                                      reason="Call/Transaction Does Not Exist")
        if request.method == "ACK":
            if dialog.state is not DialogState.Terminated:
                name = self._ack_input(request)
                if name is not None:
                    self._input(name, now, request)
            return
        dialog.receive_request(request)  # CSeq order and target refresh (§12.2.2)
        name = self._request_input(request)
        if not self._input(name, now, request, transaction):
            if transaction is not None:  # the state has no row for it
                status = 481 if self.state is TERMINATED else 500
                self._respond(request, transaction, status, now,
                              None if status == 481 else f"Not Allowed While {self.state}")
            return
        if (name == "receive final NOTIFY" and self._hangup_after_transfer
                and self.state is ESTABLISHED):
            status = sipfrag_status(request.body) or 500
            self._hangup_after_transfer = False
            if 200 <= status < 300:
                logger.info("transfer succeeded: hanging up the transferred call")
                self.bye(now)

    def receive_cancel(self, cancel: Request, invite_transaction: ServerTransaction,
                       now: float) -> None:
        """A CANCEL for an INVITE of ours still unanswered (the UA core sent 200 to it)."""
        if self._answering is None or self._answering[1] is not invite_transaction:
            return
        initial = self._answering[0] is self.request
        self._input("receive CANCEL" if initial else "receive CANCEL of re-INVITE", now,
                    cancel, invite_transaction)

    # -- choosing the input's name -------------------------------------------------------

    def _on_invite_response(self, response: Response, transaction: ClientTransaction,
                            now: float) -> None:
        raise NotImplementedError  # the caller's side only

    def _hangup_early(self, now: float) -> None:
        raise NotImplementedError

    def _dialog_for(self, request: Request) -> Dialog | None:
        found = dialog_id_of(request, role=Role.UAS)
        if found is None:
            return None
        if self.dialog is not None and self.dialog.id == found:
            return self.dialog
        early = self.early_dialogs.get(found.remote_tag)
        return early if early is not None and early.id == found else None

    def _ack_input(self, ack: Request) -> str | None:
        if self._pending_2xx is None or ack.cseq.number != self._pending_2xx[2].cseq.number:
            return None  # a late or stray ACK: nothing waits for it
        if self._pending_2xx[2] is self.request:
            return "receive ACK"
        return "receive ACK for re-INVITE"

    def _request_input(self, request: Request) -> str:
        method = request.method
        if method == "INVITE":
            if self._reinvite_tx is not None:
                return "receive re-INVITE during ours"  # glare: 491 (§14.2)
            if self._answering is not None:
                return "receive re-INVITE while answering"  # 500 (§14.2)
            if self._pending_2xx is not None:
                return "receive re-INVITE before the ACK"
            return "receive re-INVITE"
        if method == "REFER":
            try:
                parse_address(request.headers.get("Refer-To") or "")
            except ValueError:
                raise RemoteProtocolError("REFER without a valid Refer-To (RFC 3515 §2.4.1)",
                                          reason="Bad Refer-To") from None
        if method == "NOTIFY":
            state = (request.headers.get("Subscription-State") or "").strip().lower()
            status = sipfrag_status(request.body)
            if state.startswith("terminated") or (status is not None and status >= 200):
                return "receive final NOTIFY"
        return f"receive {method}"

    # -- after a change of state ---------------------------------------------------------

    def _entered(self, before: SessionState, stimulus: Stimulus) -> None:
        """Clean up when the call ends; tell whoever REFERred it how it went (RFC 3515)."""
        if self.state is TERMINATED:
            self._abandon_open_reinvites(stimulus.now)
            self._timers.clear()
            self._pending_2xx = None
            for dialog in (self.dialog, *self.early_dialogs.values()):
                if dialog is not None:
                    dialog.terminate()
            self.host.session_ended(self)
        if self.referrer is not None and not self._referrer_told:
            if self.state is ESTABLISHED:
                self._referrer_told = True
                self.referrer.notify_transfer(stimulus.now, 200, "OK")
            elif self.state is TERMINATED:
                self._referrer_told = True
                message = stimulus.message
                if isinstance(message, Response) and message.status >= 300:
                    self.referrer.notify_transfer(stimulus.now, message.status, message.reason)
                else:
                    self.referrer.notify_transfer(stimulus.now, 487, "Request Terminated")

    def _abandon_open_reinvites(self, now: float) -> None:
        """Our re-INVITE that got a provisional response but no final one (lost, and
        then the call ended) has no timer left in Proceeding: give it up (§9.1)."""
        for transaction, purpose in list(self._purposes.items()):
            if purpose == "re-INVITE" and transaction.state is TransactionState.PROCEEDING:
                logger.info("call over: abandoning our unanswered re-INVITE (§9.1)")
                self.host.abandon(transaction, now)

    # -- actions (one method per action of invite_table) ---------------------------------

    def _ack_for(self, dialog: Dialog, invite: Request) -> Request:
        origin = self.host.origin
        credentials = [(n, v) for n, v in invite.headers if header_key(n) in _CREDENTIALS]
        return dialog.create_ack(invite.cseq.number, via_host=origin.via_host,
                                 via_port=origin.via_port, transport=origin.via_transport,
                                 ids=self.host.ids, headers=credentials)

    def _note_cause(self, s: Stimulus, cause: str) -> None:
        self.cause = cause

    def _report_terminated(self, s: Stimulus, cause: str | None = None) -> None:
        if cause is not None:
            self.cause = cause
        status = self._ending_status
        response = None
        if isinstance(s.message, Response) and s.message.status >= 300:
            status, response = s.message.status, s.message
        elif s.name in ("BYE response", "BYE timeout"):
            status = None
        logger.info("%s call %s terminated: %s %s", self.direction, self.call_id,
                    self.cause, status or "")
        self.host.emit(SessionTerminated(self, self.cause or "terminated", status, response))

    def _report_established(self, s: Stimulus) -> None:
        self.host.emit(SessionEstablished(self))

    def _end_early_dialogs(self, s: Stimulus) -> None:
        for dialog in self.early_dialogs.values():
            dialog.terminate()
            self.host.forget_dialog(dialog)
        self.early_dialogs.clear()
        if self.dialog is not None and self.dialog.state is DialogState.Early:
            self.dialog.terminate()
            self.host.forget_dialog(self.dialog)
            self.dialog = None

    def _answer_200(self, s: Stimulus) -> None:
        self._respond(s.request, s.server_transaction, 200, s.now)

    def _answer_202(self, s: Stimulus) -> None:
        self._respond(s.request, s.server_transaction, 202, s.now)

    def _answer_the_invite_with_487(self, s: Stimulus) -> None:
        assert self._answering is not None
        invite, transaction = self._answering
        self._answering = None
        self._ending_status = 487
        self.host.send_response(transaction, self._response_to(invite, 487), s.now)

    def _answer_a_pending_re_invite_with_487(self, s: Stimulus) -> None:
        # §15.1.2: requests pending when the call ends are still answered, 487
        # recommended; first, so the peer has its answer before the BYE or the 200.
        if self._answering is not None and self._answering[0] is not self.request:
            invite, transaction = self._answering
            self._answering = None
            self.host.send_response(transaction, self._response_to(invite, 487), s.now)

    def _send_bye(self, s: Stimulus) -> None:
        self._bye_held = False
        self._send("BYE", self._dialog_request("BYE"), s.now)

    def _hold_bye_until_ack(self, s: Stimulus) -> None:
        self._bye_held = True

    def _send_held_bye(self, s: Stimulus) -> None:
        if self._bye_held:
            self._send_bye(s)

    def _send_ack(self, s: Stimulus) -> None:
        assert self.dialog is not None
        invite = s.client_transaction.request
        ack = self._ack_for(self.dialog, invite)
        self._acks[(s.response.to_tag, invite.cseq.number)] = ack
        if not self.host.send_ack(ack):
            self._cannot_reach(ack, s.now)

    def _resend_ack(self, s: Stimulus) -> None:
        cseq = s.client_transaction.request.cseq.number
        ack = self._acks.get((s.response.to_tag, cseq))
        if ack is not None:
            self.host.send_ack(ack)

    def _ack_and_bye_the_fork(self, s: Stimulus) -> None:
        logger.info("2xx from a second fork (To tag %s): ACK and BYE", s.response.to_tag)
        invite = s.client_transaction.request
        fork = Dialog.from_uac_response(invite, s.response)
        ack = self._ack_for(fork, invite)
        self._acks[(s.response.to_tag, invite.cseq.number)] = ack
        self.host.send_ack(ack)
        origin = self.host.origin
        bye = fork.create_request("BYE", via_host=origin.via_host, via_port=origin.via_port,
                                  transport=origin.via_transport, ids=self.host.ids)
        self._send("fork BYE", bye, s.now)

    def _send_2xx(self, s: Stimulus) -> None:
        assert self._answering is not None
        invite, transaction = self._answering
        self._answering = None
        response = s.response
        self.host.send_response(transaction, response, s.now)
        if self.dialog is None:
            self.dialog = Dialog.from_uas_request(invite, self.local_tag,
                                                  state=DialogState.Confirmed)
            self.host.track_dialog(self, self.dialog)
        self.dialog.confirm()
        self.local_body, self.local_content_type = response.body, response.content_type
        if invite.body:
            self.remote_body, self.remote_content_type = invite.body, invite.content_type
        self._pending_2xx = (response, transaction, invite)

    def _start_2xx_retransmissions(self, s: Stimulus) -> None:
        t1 = self.host.timers.t1
        self._2xx_interval = t1
        self._timers["2xx retransmission due"] = s.now + t1
        self._timers["ACK timeout"] = s.now + 64 * t1

    def _resend_2xx(self, s: Stimulus) -> None:
        if self._pending_2xx is None:
            return
        response, transaction, _ = self._pending_2xx
        self.host.send_response(transaction, response, s.now)
        self._2xx_interval = min(2 * self._2xx_interval, self.host.timers.t2)
        self._timers["2xx retransmission due"] = s.now + self._2xx_interval

    def _stop_2xx_retransmissions(self, s: Stimulus) -> None:
        if s.name == "ACK timeout":
            logger.info("no ACK for our 2xx in 64*T1: ending the call (§13.3.1.4)")
        self._pending_2xx = None
        self._timers.pop("2xx retransmission due", None)
        self._timers.pop("ACK timeout", None)

    def _take_ack_body(self, s: Stimulus) -> None:
        if s.request.body:  # the answer, when the INVITE had no offer (§13.2.1)
            self.remote_body, self.remote_content_type = s.request.body, s.request.content_type

    def _send_final_response(self, s: Stimulus) -> None:
        assert self._answering is not None
        _, transaction = self._answering
        self._answering = None
        self.host.send_response(transaction, s.response, s.now)
