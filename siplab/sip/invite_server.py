"""The callee's side of a call: answering an INVITE (RFC 3261 §13.3, §9.2).

When an INVITE arrives, the transaction layer answers ``100 Trying`` at once
and the user agent core makes an :class:`IncomingSession` and tells the
application (:class:`~siplab.sip.events.IncomingCall`). The application then
answers, through the UA core (the rows of :data:`~siplab.sip.invite_table.INCOMING`):

* :meth:`IncomingSession.progress`: ``180 Ringing`` or ``183 Session Progress``
  (with SDP, for early media). The first one with our To tag creates the
  *early dialog* on our side.
* :meth:`IncomingSession.accept`: ``200 OK`` with our Contact and the SDP
  answer. The dialog is confirmed. Unlike every other response, the 2xx to an
  INVITE is not retransmitted by the transaction (RFC 6026 moved the INVITE
  server transaction to "Accepted" and left the job to us): the UA core sends
  it again at T1, 2*T1, 4*T1... (capped at T2) until the ACK comes, and after
  64*T1 without ACK ends the call with a BYE (§13.3.1.4).
* :meth:`IncomingSession.reject`: a final 3xx-6xx: ``486 Busy Here``,
  ``603 Decline``, ``480 Temporarily Unavailable``. The INVITE transaction
  retransmits it and absorbs the caller's ACK by itself (§17.2.1).

If the caller sends a CANCEL first (§9.2), the UA core answers ``200 OK`` to
the CANCEL and the session answers the INVITE with ``487 Request
Terminated``. A CANCEL that arrives after our 2xx changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

from siplab.errors import LocalProtocolError
from siplab.sip.dialog import Dialog
from siplab.sip.events import IncomingCall
from siplab.sip.invite import Session, SessionHost, Stimulus
from siplab.sip.message import Request
from siplab.sip.transaction import ServerTransaction

__all__ = ["IncomingSession"]


class IncomingSession(Session):
    """A call we receive (the UAS side). Created by the UA core for a new INVITE."""

    direction = "incoming"

    def __init__(self, host: SessionHost, request: Request,
                 transaction: ServerTransaction) -> None:
        super().__init__(host, request, local_tag=host.ids.tag())
        self.invite_transaction = transaction
        self.remote_body = request.body
        self.remote_content_type = request.content_type if request.body else None

    def start(self, now: float) -> None:
        """Take the INVITE in: IncomingCall for the application."""
        self._input("receive INVITE", now, self.request, self.invite_transaction)

    def progress(self, now: float, status: int = 180, reason: str | None = None,
                 body: bytes = b"", content_type: str | None = "application/sdp") -> None:
        """Send a provisional response: 180 Ringing, 183 Session Progress (with early media)."""
        if not 101 <= status <= 199:
            raise LocalProtocolError(f"a provisional response is 101-199, not {status}")
        response = self._response_to(self.request, status, reason, body=body,
                                     content_type=content_type, contact=True)
        self._input("progress", now, response, local=True)

    def accept(self, now: float, body: bytes = b"",
               content_type: str | None = "application/sdp",
               headers: Iterable[tuple[str, str]] = ()) -> None:
        """Answer the call: 200 OK with our Contact and ``body`` (the SDP answer)."""
        response = self._response_to(self.request, 200, body=body, content_type=content_type,
                                     contact=True, headers=headers)
        self._input("accept", now, response, local=True)

    def reject(self, now: float, status: int = 486, reason: str | None = None,
               headers: Iterable[tuple[str, str]] = ()) -> None:
        """Refuse the call with a 3xx-6xx (486 Busy Here, 603 Decline, 480...)."""
        if not 300 <= status <= 699:
            raise LocalProtocolError(f"a rejection is 300-699, not {status}")
        response = self._response_to(self.request, status, reason, headers=headers)
        self._input("reject", now, response, local=True)

    def _hangup_early(self, now: float) -> None:
        self.reject(now, 480)  # as JsSIP and SIP.js do for a call not yet answered

    # -- actions ----------------------------------------------------------------------------------

    def _report_incoming_call(self, s: Stimulus) -> None:
        self._answering = (s.request, s.server_transaction)
        self.host.emit(IncomingCall(self, s.request))

    def _send_provisional(self, s: Stimulus) -> None:
        assert self._answering is not None
        invite, transaction = self._answering
        response = s.response
        self.host.send_response(transaction, response, s.now)
        if self.dialog is None:  # our To tag makes the early dialog (§12.1.1)
            self.dialog = Dialog.from_uas_request(invite, self.local_tag)
            self.host.track_dialog(self, self.dialog)
        if response.body:
            self.local_body, self.local_content_type = response.body, response.content_type
