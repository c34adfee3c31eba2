"""The caller's side of a call: sending the INVITE and living with its answers (RFC 3261 §13.2).

Once the INVITE is out, almost anything can come back, and the caller's UA
core must handle each case (the rows of :data:`~siplab.sip.invite_table.OUTGOING`):

* **1xx** (§13.2.2.1): ``100 Trying`` only says a server has it. A 180 or 183
  with a To tag creates an *early dialog*. Behind a forking proxy several
  phones may ring at once: one early dialog per To tag.
* **2xx** (§13.2.2.4): the call is answered. The dialog is confirmed (its
  route set and remote target come from the 2xx) and an **ACK** is sent: a new
  request with a new branch, the INVITE's CSeq number, outside any
  transaction. The 2xx is retransmitted by the callee until the ACK arrives,
  so each copy gets the same ACK again. A 2xx with *another* To tag comes from
  another fork that answered too: it must be ACKed as well, and then ended
  with a BYE, because we keep only the first.
* **3xx** (§8.1.3.4): redirected. The highest-q Contact is tried with a new
  INVITE (same Call-ID and From tag, CSeq + 1, a new branch); at most five
  hops, never the same URI twice.
* **401 / 407** (§22.2): answer the challenge once with digest credentials.
* **4xx-6xx**: rejected (486 Busy Here, 603 Decline, 480 Temporarily
  Unavailable...). The transaction layer ACKs it (§17.1.1.3).
* **nothing**: Timer B of the INVITE transaction fires after 64*T1 (32 s).

**CANCEL** (§9.1) withdraws an INVITE not yet answered. It may only be sent
once a provisional response has come back (the callee's transaction must
exist, and a 100 proves it does); asked for earlier, it waits for the first
1xx. The callee answers 200 to the CANCEL and 487 Request Terminated to the
INVITE. If the callee's 200 crosses the CANCEL on the wire, the call is
answered after all: the caller ACKs it and sends a BYE.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from siplab.errors import RemoteProtocolError
from siplab.sip.auth import challenges_from
from siplab.sip.build import build_cancel, build_request, make_via
from siplab.sip.dialog import Dialog
from siplab.sip.events import SessionProgress
from siplab.sip.headers import Address
from siplab.sip.invite import Session, SessionHost, Stimulus
from siplab.sip.message import Request, Response
from siplab.sip.transaction import ClientTransaction
from siplab.sip.uri import SipUri, Uri

__all__ = ["OutgoingSession", "MAX_REDIRECTS"]

logger = logging.getLogger("siplab.ua")

#: How many 3xx redirections a call follows before giving up.
MAX_REDIRECTS = 5


def _q(address: Address) -> float:
    try:
        return float(address.param("q") or "1")
    except ValueError:
        return 0.0


class OutgoingSession(Session):
    """A call we make (the UAC side). Created by ``ua.call(target, now)``."""

    direction = "outgoing"

    def __init__(
        self,
        host: SessionHost,
        target: Address,
        *,
        body: bytes = b"",
        content_type: str | None = "application/sdp",
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        origin = host.origin
        lines = [("Allow", ", ".join(host.allow)), *headers]
        invite = build_request(
            "INVITE", target.uri, from_=host.aor, to=target, via_host=origin.via_host,
            via_port=origin.via_port, transport=origin.via_transport, ids=host.ids,
            contact=origin.contact, headers=lines, body=body,
            content_type=content_type if body else None, user_agent=host.user_agent,
        )
        super().__init__(host, invite, local_tag=invite.from_tag or "")
        self.target = target
        self.local_body = body
        self.local_content_type = content_type if body else None
        self._invite_tx: ClientTransaction | None = None
        self._provisional_seen = False  # §9.1: no CANCEL before a provisional response
        self._cancel_held = False
        self._redirects = 0
        self._tried = {str(target.uri)}
        self._auth_tries = 0
        self._retry: Request | None = None  # the INVITE with credentials, made in advance
        self._new_dialog: Dialog | None = None  # the dialog a first 2xx makes

    def start(self, now: float) -> None:
        """Send the INVITE."""
        self._input("call", now, local=True)

    def cancel(self, now: float) -> None:
        """Withdraw the INVITE (§9.1): at once if a 1xx came, else when one comes."""
        name = "cancel" if self._provisional_seen else "cancel before any 1xx"
        self._input(name, now, local=True)

    def _hangup_early(self, now: float) -> None:
        self.cancel(now)

    # -- naming what came back ----------------------------------------------------------------

    def _on_invite_response(self, response: Response, transaction: ClientTransaction,
                            now: float) -> None:
        status = response.status
        current = transaction is self._invite_tx
        if status < 200:
            if not current:
                return
            self._provisional_seen = True
            name = "100 Trying" if status == 100 else "1xx"
        elif status < 300:
            named = self._name_2xx(response, transaction)
            if named is None:
                return
            name = named
        elif not current:
            return  # a late failure for an attempt we already replaced
        elif status < 400:
            try:
                target = self._redirect_target(response)
            except RemoteProtocolError as error:  # a Contact that does not parse
                logger.info("%s with an unreadable Contact: %s", response.label, error)
                name = "3xx, unreadable Contact"
            else:
                name = "3xx" if target is not None else "3xx, no more redirects"
        elif status in (401, 407):
            self._retry = self._authorized_retry(response)
            name = "401/407" if self._retry is not None else "401/407 again"
        else:
            name = "4xx-6xx"
        self._input(name, now, response, transaction)

    def _name_2xx(self, response: Response, transaction: ClientTransaction) -> str | None:
        invite = transaction.request
        if (response.to_tag, invite.cseq.number) in self._acks:
            return "2xx again"
        try:
            dialog = Dialog.from_uac_response(invite, response)
        except RemoteProtocolError as error:
            logger.warning("2xx that cannot make a dialog ignored: %s", error)
            return None
        if self.dialog is None:
            self._new_dialog = dialog
            return "2xx"
        return "2xx of another fork"

    def _redirect_target(self, response: Response) -> Uri | None:
        if self._redirects >= MAX_REDIRECTS:
            return None
        contacts = [c for c in response.contact
                    if not c.is_wildcard and isinstance(c.uri, SipUri)
                    and str(c.uri) not in self._tried]
        contacts.sort(key=_q, reverse=True)  # stable: equal q keeps the order given
        return contacts[0].uri if contacts else None

    def _authorized_retry(self, response: Response) -> Request | None:
        """The INVITE with credentials: once per call, again only for a stale nonce."""
        stale = any(challenge.stale for header in ("WWW-Authenticate", "Proxy-Authenticate")
                    for challenge in challenges_from(response, header))
        if self._auth_tries > 0 and not stale:
            return None
        return self.host.authorize(self.request, response)

    # -- actions ----------------------------------------------------------------------------------

    def _send_invite(self, s: Stimulus) -> None:
        self._invite_tx = self._send("INVITE", self.request, s.now)

    def _update_early_dialog(self, s: Stimulus) -> None:
        response = s.response
        tag = response.to_tag
        if response.body:  # early media (183 Session Progress with SDP)
            self.remote_body, self.remote_content_type = response.body, response.content_type
        if not tag or response.status == 100:
            return
        try:
            early = self.early_dialogs.get(tag)
            if early is None:
                early = Dialog.from_uac_response(self.request, response)
                self.early_dialogs[tag] = early
                self.host.track_dialog(self, early)
            else:
                early.update_from_response(response)
        except RemoteProtocolError as error:
            logger.warning("%s did not make an early dialog: %s", response.label, error)

    def _report_progress(self, s: Stimulus) -> None:
        self.host.emit(SessionProgress(self, s.response))

    def _confirm_dialog(self, s: Stimulus) -> None:
        response = s.response
        tag = response.to_tag or ""
        early = self.early_dialogs.pop(tag, None)
        if early is not None:
            early.update_from_response(response)  # early -> confirmed, from the 2xx
            dialog = early
        else:
            assert self._new_dialog is not None
            dialog = self._new_dialog
            self.host.track_dialog(self, dialog)
        self._new_dialog = None
        self.dialog = dialog
        self._end_early_dialogs(s)  # the other forks' early dialogs are over
        if response.body:
            self.remote_body, self.remote_content_type = response.body, response.content_type

    def _follow_redirect(self, s: Stimulus) -> None:
        target = self._redirect_target(s.response)
        assert target is not None
        self._redirects += 1
        self._tried.add(str(target))
        logger.info("%s -> following the redirect to %s", s.response.label, target)
        origin = self.host.origin
        retry = self.request.copy()
        retry.uri = target
        retry.headers.set("CSeq", f"{self.request.cseq.number + 1} INVITE")
        retry.headers.set("Via", make_via(origin.via_transport, origin.via_host,
                                          origin.via_port, self.host.ids.branch()))
        retry.headers.remove("Authorization")
        retry.headers.remove("Proxy-Authorization")
        self._auth_tries = 0
        self.request = retry
        self._provisional_seen = False
        self._invite_tx = self._send("INVITE", retry, s.now)

    def _retry_with_credentials(self, s: Stimulus) -> None:
        assert self._retry is not None
        logger.info("INVITE %s -> retrying with digest", s.response.status)
        self._auth_tries += 1
        self.request, self._retry = self._retry, None
        self._provisional_seen = False
        self._invite_tx = self._send("INVITE", self.request, s.now)

    def _send_cancel(self, s: Stimulus) -> None:
        assert self._invite_tx is not None
        self._cancel_held = False
        cancel = build_cancel(self.request)
        # §9.1: the CANCEL goes where the INVITE went, to meet its server transaction.
        self._send("CANCEL", cancel, s.now, peer=self._invite_tx.peer)
        self._timers["cancel timeout"] = s.now + 64 * self.host.timers.t1

    def _hold_cancel(self, s: Stimulus) -> None:
        logger.info("CANCEL asked before any provisional response: held until one comes (§9.1)")
        self._cancel_held = True

    def _send_held_cancel(self, s: Stimulus) -> None:
        if self._cancel_held:
            self._send_cancel(s)

    def _abandon_invite(self, s: Stimulus) -> None:
        if self._invite_tx is not None:
            logger.info("no final response 64*T1 after the CANCEL: INVITE abandoned (§9.1)")
            self.host.abandon(self._invite_tx, s.now)

    def _stop_cancelling(self, s: Stimulus) -> None:
        self._cancel_held = False
        self._timers.pop("cancel timeout", None)
