"""The user agent core as its calls see it: :class:`CoreHost` (RFC 3261 §12-15).

A call (:class:`~siplab.sip.invite.Session`) does not hold the whole
:class:`~siplab.sip.useragent.UserAgentCore`: it talks to a small
:class:`~siplab.sip.invite.SessionHost`, the few things a dialog's requests
and responses need from the user agent around it. :class:`CoreHost` is that
host, one per core. Through it a session

* reads the ids, the timers (T1, T2, T4: §17.1.1.1), our address of record,
  Allow (§20.5) and User-Agent (§20.41);
* sends a request in its own client transaction (§17.1), a response in the
  server transaction of the request it answers (§17.2), and the ACK for a 2xx,
  which is sent outside any transaction (§13.2.2.4, §17.1.1.3) -- to the
  dialog's remote target (§12.2.1.1), or nowhere if that names no address we
  can reach;
* answers a digest challenge (§22.2) with the core's credentials;
* tells the core which dialog IDs (Call-ID + both tags, §12) lead to it, so
  that a request inside the dialog finds it (§12.2.2), and when it is over.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from siplab.ids import IdSource
from siplab.sip.addressing import Origin
from siplab.sip.dialog import Dialog
from siplab.sip.events import Event
from siplab.sip.headers import Address
from siplab.sip.invite import Session
from siplab.sip.invite_engine import SessionCore
from siplab.sip.message import Request, Response
from siplab.sip.timers import TimerConfig
from siplab.sip.transaction import ClientTransaction, ServerTransaction
from siplab.sip.transport import Peer

if TYPE_CHECKING:
    from siplab.sip.useragent import UserAgentCore

__all__ = ["CoreHost"]


class CoreHost:
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
