"""Requests inside an established call (RFC 3261 §14, RFC 6086, RFC 3428, RFC 3515, §12.2.1.2).

Once a call is established, either side may send more requests in its dialog
(each with the dialog's Call-ID and tags, and the next CSeq number):

* **re-INVITE** (§14): a new offer for the same call: hold (the new SDP says
  ``a=sendonly``), resume, add video. The peer answers 200 with its answer (and
  we ACK it, like the first 2xx) or refuses (488), and then the call goes on
  as before. Only one INVITE at a time per dialog: if both sides send one at
  once ("glare"), both get ``491 Request Pending`` and retry after a random
  pause, longer for the side that made the Call-ID (:func:`glare_delay`).
* **INFO** (RFC 6086): application data, DTMF digits for instance.
* **MESSAGE** (RFC 3428): a text message, here inside the call.
* **REFER** (RFC 3515): "please call this URI": a blind transfer. The
  peer answers 202 Accepted, places the new call, and reports how it goes
  with **NOTIFY** requests whose body is a ``message/sipfrag``, a status line
  such as ``SIP/2.0 200 OK`` (:func:`sipfrag_status`); the final one ends the
  implicit subscription. The transferor then hangs up (RFC 5589 §6).
* **OPTIONS** as a keep-alive: a 408 or 481, or no answer, says the peer has
  lost the call (§12.2.1.2), which then ends with a BYE.

A 401/407 to any of them is answered once with digest credentials.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from siplab.errors import InvalidStateError, LocalProtocolError
from siplab.ids import IdSource
from siplab.sip.events import (
    InfoReceived,
    MessageReceived,
    NotifyReceived,
    ReferReceived,
    ReinviteReceived,
    RequestFailed,
    RequestSucceeded,
    SessionModified,
    TransferCompleted,
)
from siplab.sip.headers import Address, parse_address
from siplab.sip.invite_engine import SessionCore, Stimulus
from siplab.sip.invite_table import SessionState
from siplab.sip.message import Request, Response
from siplab.sip.transaction import ClientTransaction, ServerTransaction

__all__ = ["MidCallSession", "sipfrag_status", "glare_delay"]

logger = logging.getLogger("siplab.ua")

ESTABLISHED = SessionState.Established


def sipfrag_status(body: bytes) -> int | None:
    """The status code of a ``message/sipfrag`` body such as ``SIP/2.0 200 OK`` (RFC 3420)."""
    first = body.split(b"\n", 1)[0].decode("utf-8", "replace").split()
    code = first[1] if len(first) >= 2 else ""
    # Three ASCII digits: int() refuses "²" (which isdigit() accepts) and 4300+ digits.
    return int(code) if len(code) == 3 and code.isascii() and code.isdigit() else None


def glare_delay(ids: IdSource, *, owns_call_id: bool) -> float:
    """How long to wait before retrying a re-INVITE that got 491 (§14.1).

    2.1 to 4 s for the side that made the Call-ID (the caller), 0 to 2 s for
    the other, in units of 10 ms, so the two retries are unlikely to cross again.
    """
    fraction = int(ids.token(4), 36) / 36**4
    if owns_call_id:
        return 2.1 + round(fraction * 190) / 100
    return round(fraction * 200) / 100


class MidCallSession(SessionCore):
    """A session's requests inside the call: the verbs and the actions of those rows."""

    # -- what the application asks -------------------------------------------------------

    @property
    def reinvite_in_progress(self) -> bool:
        """True while a re-INVITE (ours or the peer's) is not finished (§14.1)."""
        return (self._reinvite_tx is not None or "re-INVITE retry due" in self._timers
                or self._answering is not None or self._pending_2xx is not None)

    @property
    def awaiting_reinvite_answer(self) -> bool:
        """True when the peer's re-INVITE waits for accept_reinvite/reject_reinvite."""
        return (self.state is ESTABLISHED and self._answering is not None
                and self._answering[0] is not self.request)

    def reinvite(self, now: float, body: bytes,
                 content_type: str | None = "application/sdp") -> None:
        """Send a re-INVITE with a new offer: hold (a=sendonly), resume, new media (§14.1)."""
        if self.reinvite_in_progress:
            raise InvalidStateError("a re-INVITE is already in progress in this call (§14.1)")
        self._reinvite_body = (body, content_type if body else None)
        self._input("reinvite", now, local=True)

    def accept_reinvite(self, now: float, body: bytes | None = None,
                        content_type: str | None = None) -> None:
        """Answer the peer's re-INVITE with 200 (by default with our last body again)."""
        invite, _ = self._reinvite_to_answer()
        if body is None:
            body, content_type = self.local_body, self.local_content_type
        response = self._response_to(invite, 200, body=body, content_type=content_type,
                                     contact=True)
        self._input("accept re-INVITE", now, response, local=True)

    def reject_reinvite(self, now: float, status: int = 488, reason: str | None = None,
                        headers: Iterable[tuple[str, str]] = ()) -> None:
        """Refuse the peer's re-INVITE (488 Not Acceptable Here...); the call goes on as before."""
        invite, _ = self._reinvite_to_answer()
        if status < 300:
            raise LocalProtocolError("a rejection is a 3xx-6xx")
        response = self._response_to(invite, status, reason, headers=headers)
        self._input("reject re-INVITE", now, response, local=True)

    def info(self, now: float, body: bytes, content_type: str) -> Request:
        """Send an INFO in the call (RFC 6086), for example a DTMF digit."""
        return self._send_in_dialog("info", "INFO", now, body, content_type)

    def message(self, now: float, body: bytes, content_type: str = "text/plain") -> Request:
        """Send a MESSAGE inside the call (RFC 3428)."""
        return self._send_in_dialog("message", "MESSAGE", now, body, content_type)

    def refer(self, now: float, target: Address | str, hangup_after: bool = True) -> Request:
        """Ask the peer to call ``target`` (blind transfer, RFC 3515).

        The peer answers 202 and then reports with NOTIFYs; the final one gives
        :class:`~siplab.sip.events.TransferCompleted`, after which we hang up
        if ``hangup_after`` and the transfer succeeded.
        """
        address = target if isinstance(target, Address) else parse_address(target)
        headers = [("Refer-To", str(address)), ("Referred-By", str(self.host.aor))]
        self._hangup_after_transfer = hangup_after
        return self._send_in_dialog("refer", "REFER", now, headers=headers, contact=True)

    def notify_transfer(self, now: float, status: int, reason: str) -> None:
        """Tell whoever REFERred us how the new call goes (RFC 3515 §2.4.4-2.4.5).

        A NOTIFY with a ``message/sipfrag`` body (``SIP/2.0 100 Trying``); a
        final status ends the implicit subscription (Subscription-State: terminated).
        """
        if self.state is not ESTABLISHED or self.dialog is None:
            logger.info("transfer NOTIFY %s not sent: the call is %s", status, self.state)
            return
        final = status >= 200
        state = "terminated;reason=noresource" if final else "active;expires=60"
        self._send_in_dialog(
            "notify", "NOTIFY", now, f"SIP/2.0 {status} {reason}\r\n".encode(),
            "message/sipfrag;version=2.0",
            headers=[("Event", "refer"), ("Subscription-State", state)], contact=True,
        )

    # -- helpers -------------------------------------------------------------------------

    def _reinvite_to_answer(self) -> tuple[Request, ServerTransaction]:
        if not self.awaiting_reinvite_answer or self._answering is None:
            raise InvalidStateError("no re-INVITE is waiting for an answer")
        return self._answering

    def _answer_challenge(self, purpose: str, transaction: ClientTransaction,
                          response: Response, now: float) -> bool:
        """Answer a 401/407 to a request in the call once (§22.2)."""
        if transaction in self._auth_retried:
            return False
        retry = self.host.authorize(transaction.request, response)
        if retry is None:
            return False
        logger.info("%s %s -> retrying with digest", retry.method, response.status)
        if self.dialog is not None and self.dialog.local_seq is not None:
            self.dialog.local_seq = max(self.dialog.local_seq, retry.cseq.number)
        new = self._send(purpose, retry, now)
        if new is not None:
            self._auth_retried.add(new)
        if transaction is self._reinvite_tx:
            self._reinvite_tx = new
        return True

    # -- actions (one method per action of invite_table) ---------------------------------

    def _answer_491(self, s: Stimulus) -> None:
        self._respond(s.request, s.server_transaction, 491, s.now)

    def _answer_500(self, s: Stimulus) -> None:
        retry_after = str(int(self.host.ids.token(2), 36) % 11)  # 0-10 s (§14.2)
        self._respond(s.request, s.server_transaction, 500, s.now,
                      headers=[("Retry-After", retry_after)])

    def _answer_options(self, s: Stimulus) -> None:
        self._respond(s.request, s.server_transaction, 200, s.now, headers=[
            ("Allow", ", ".join(self.host.allow)), ("Accept", "application/sdp, text/plain")])

    def _send_re_invite(self, s: Stimulus) -> None:
        body, content_type = self._reinvite_body
        request = self._dialog_request("INVITE", body=body, content_type=content_type,
                                       headers=[("Allow", ", ".join(self.host.allow))],
                                       contact=True)
        self._reinvite_tx = self._send("re-INVITE", request, s.now)

    def _schedule_re_invite_retry(self, s: Stimulus) -> None:
        delay = glare_delay(self.host.ids, owns_call_id=self.direction == "outgoing")
        logger.info("re-INVITE got 491 (glare): retrying in %.2f s (§14.1)", delay)
        self._timers["re-INVITE retry due"] = s.now + delay

    def _report_modified(self, s: Stimulus) -> None:
        if isinstance(s.message, Response):  # the 2xx to our re-INVITE
            self.local_body, self.local_content_type = self._reinvite_body
            if s.message.body:
                self.remote_body = s.message.body
                self.remote_content_type = s.message.content_type
            self.host.emit(SessionModified(self.session, s.message))
        elif self._last_reinvite is not None:  # the ACK for our 2xx to the peer's
            self.host.emit(SessionModified(self.session, self._last_reinvite))

    def _report_re_invite(self, s: Stimulus) -> None:
        self._answering = (s.request, s.server_transaction)
        self._last_reinvite = s.request
        self.host.emit(ReinviteReceived(self.session, s.request))

    def _send_request(self, s: Stimulus) -> None:
        self._send(s.request.method, s.request, s.now)

    def _send_keepalive(self, s: Stimulus) -> None:
        self._send("keepalive", self._dialog_request("OPTIONS"), s.now)
        self._start_keepalive(s)

    def _start_keepalive(self, s: Stimulus) -> None:
        interval = self.host.keepalive_interval
        if interval:
            self._timers["keepalive due"] = s.now + interval

    def _report_request_succeeded(self, s: Stimulus) -> None:
        request = s.client_transaction.request
        self.host.emit(RequestSucceeded(request.method, request, s.response))

    def _report_request_failed(self, s: Stimulus) -> None:
        request = s.client_transaction.request
        if isinstance(s.message, Response):
            status: int | None = s.message.status
            reason = s.message.reason
        else:
            status, reason = None, "no response"
        self.host.emit(RequestFailed(request.method, request, status, reason))

    def _report_info(self, s: Stimulus) -> None:
        self.host.emit(InfoReceived(self.session, s.request))

    def _report_message(self, s: Stimulus) -> None:
        request = s.request
        self.host.emit(MessageReceived(request, request.from_, request.body,
                                       request.content_type))

    def _report_refer(self, s: Stimulus) -> None:
        self.refer_request = s.request
        refer_to = parse_address(s.request.headers.get("Refer-To") or "")
        self.host.emit(ReferReceived(self.session, s.request, refer_to))

    def _report_notify(self, s: Stimulus) -> None:
        self.host.emit(NotifyReceived(self.session, s.request))

    def _report_transfer_completed(self, s: Stimulus) -> None:
        status = sipfrag_status(s.request.body) or 500
        logger.info("transfer completed with %s", status)
        self.host.emit(TransferCompleted(self.session, status))
