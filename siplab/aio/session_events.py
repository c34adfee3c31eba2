"""What the user agent tells a call: the core's events, turned into resolved futures.

:class:`SessionEvents` sits between :class:`~siplab.aio.session.Session` (what
the application reads and does) and
:class:`~siplab.aio.session_media.SessionMedia` (SDP and RTP). The user agent
routes every event about one call here (:mod:`siplab.aio.ua_dispatch`), and
each one settles something an application may be awaiting:

==========================  =====================================================
SessionProgress (1xx)       ``progressed()``; a 183 with SDP starts early media
                            (RFC 3261 §13.2.1, RFC 3264)
SessionEstablished (2xx)    ``established()``; the 2xx's SDP is the answer to the
                            INVITE's offer (§13.2.1); the RTP timeout starts
SessionTerminated           ``terminated()``; ``established()`` raises
                            :class:`~siplab.aio.errors.CallFailed` with the
                            status, reason and Warning (§20.43) if it never was
SessionModified             the end of a re-INVITE (§14): its answer is taken
ReinviteReceived            answered by the Call, with the mirror of its
                            direction (hold, RFC 3264 §8.4), or ``on_reinvite``
ReferReceived               the target is called (RFC 3515), or ``on_refer``
InfoReceived                a key press (RFC 6086 with ``application/dtmf-relay``)
TransferCompleted           ``refer()`` returns the NOTIFY's status (RFC 3515 §2.4.5)
==========================  =====================================================

Some steps change a call without an event (an ACK arriving): after each
message the user agent calls :meth:`SessionEvents._sync_state`, which reports
every state the core went through to ``on_state_change``.

**The RTP timeout.** A call whose peer vanished -- no RTP nor RTCP for the user
agent's ``rtp_timeout`` seconds while we expect to hear it (RFC 3550 §6.3.5
times a member out the same way) -- is ended with a BYE, cause
``"rtp timeout"`` (:class:`~siplab.aio.media_watch.MediaWatchdog`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from siplab.aio.errors import CallFailed, RequestError
from siplab.aio.media_watch import MediaWatchdog
from siplab.aio.session_media import SessionMedia
from siplab.call import parse_dtmf, parse_warnings
from siplab.errors import RemoteProtocolError
from siplab.sip.events import (
    Event,
    InfoReceived,
    ReferReceived,
    ReinviteReceived,
    SessionEstablished,
    SessionModified,
    SessionProgress,
    SessionTerminated,
    TransferCompleted,
)
from siplab.sip.headers import Address
from siplab.sip.invite_table import SessionState
from siplab.sip.message import Request, Response
from siplab.sip.status import reason_phrase

if TYPE_CHECKING:
    from siplab.aio.session import Inviter

__all__ = ["SessionEvents", "Callback"]

logger = logging.getLogger("siplab.ua")

#: What a callback may be: a function, or a coroutine function (run as a task).
Callback = Callable[[Any], Any]


class SessionEvents(SessionMedia):
    """A call's futures, resolved by the core's events (a base class of
    :class:`~siplab.aio.session.Session`, which provides the attributes below)."""

    # Provided by Session:
    events: list[Event]
    status: int | None
    on_state_change: Callback | None
    on_reinvite: Callback | None
    on_refer: Callback | None
    on_info: Callback | None
    _established: asyncio.Future[None]
    _terminated: asyncio.Future[str]
    _transfers: list[asyncio.Future[int]]
    _watchdog: MediaWatchdog | None
    _seen: int
    _moved: asyncio.Event
    _state: SessionState

    if TYPE_CHECKING:  # Session's own members, which these use

        @property
        def direction(self) -> str: ...

        def _answer_body(self) -> bytes: ...

        def _accept_refer(self) -> Inviter: ...

    def _on_event(self, event: Event) -> None:
        """An event about this call (the user agent routes it here)."""
        self.events.append(event)
        match event:
            case SessionProgress(response=response):
                if response.body and self._awaiting_answer():
                    self._take_answer(response.body)  # early media (183 with SDP)
                self._on_progress(response)
            case SessionEstablished():
                # The caller's offer was in the INVITE: the 2xx must carry the answer
                # (§13.2.1). (A callee that offered in its 2xx finds the answer in the ACK.)
                if self.direction == "outgoing" and self._awaiting_answer():
                    self._take_answer(self.core.remote_body)
                    if self.media_error is not None:
                        self._hang_up_unusable()
                if not self._established.done():
                    self._established.set_result(None)
                self._watch_media()
            case SessionTerminated(cause=cause, status=status, response=response):
                self._on_terminated(cause, status, response)
            case SessionModified(message=message):
                if self._awaiting_answer():
                    self._take_answer(message.body)  # 2xx to our re-INVITE, or its ACK
                if isinstance(message, Response):
                    self.ua._resolve(self.call_id, "INVITE", None)
            case ReinviteReceived(request=request):
                self._on_reinvite(request)
            case ReferReceived(refer_to=refer_to):
                self._on_refer(refer_to)
            case InfoReceived(request=request):
                press = parse_dtmf(request.body, request.content_type)
                if press is not None:
                    self._on_dtmf(press)
                self.ua._call_back(self.on_info, request)
            case TransferCompleted(status=status):
                if self._transfers:
                    future = self._transfers.pop(0)
                    if not future.done():
                        future.set_result(status)

    def _on_progress(self, response: Response) -> None:
        """A provisional response to our INVITE (only an Inviter gets these)."""

    def _watch_media(self) -> None:
        """Start the RTP timeout for a call with siplab's own RTP endpoint (plain path)."""
        timeout = self.ua.rtp_timeout
        endpoint: Any = getattr(self._media, "endpoint", None)  # a plain path's RtpEndpoint
        if timeout is None or self._watchdog is not None or \
                not hasattr(endpoint, "last_received"):
            return

        def expecting() -> bool:  # started, receiving (not on hold), not closed
            return bool(endpoint.started and endpoint.playing and not endpoint.closed)

        self._watchdog = MediaWatchdog(timeout, last_heard=lambda: endpoint.last_received,
                                       expecting=expecting, on_timeout=self._media_timed_out)
        self._watchdog.start()

    def _stop_watching(self) -> None:
        if self._watchdog is not None:
            self._watchdog.stop()

    def _media_timed_out(self) -> None:
        if self.state is SessionState.Established:
            logger.warning("call %s: no RTP for %.1f s, hanging up", self.call_id,
                           self.ua.rtp_timeout or 0)
            with self.ua._acting() as now:
                self.ua.core.media_timeout(self.core, now)

    def _on_terminated(self, cause: str, status: int | None,
                       response: Response | None = None) -> None:
        self.status = status
        self._stop_watching()
        self._release_media()
        if not self._established.done():
            # The peer's own words ("Busy Here - in a meeting"), else the RFC's phrase.
            if response is not None and response.reason:
                reason = response.reason
            else:
                reason = reason_phrase(status) if status is not None else cause
            warnings = parse_warnings(response.headers.get("Warning")) if response else []
            warning = "; ".join(text for _, _, text in warnings) or None
            self._established.set_exception(CallFailed(status, reason, cause=cause,
                                                       warning=warning))
            self._established.exception()  # retrieved: nobody may be waiting
        if not self._terminated.done():
            self._terminated.set_result(cause)
        ended = RequestError(None, f"the call ended ({cause})")
        for future in self._transfers:
            if not future.done():
                future.set_exception(ended)
                future.exception()
        self._transfers.clear()
        self.ua._fail_pending(self.call_id, ended)

    def _on_reinvite(self, request: Request) -> None:
        self._reinvite = request
        if self.on_reinvite is not None:
            self.ua._call_back(self.on_reinvite, request)
        elif not self.core.awaiting_reinvite_answer:
            pass  # (the core answers it itself on auto_answer without media)
        elif self._media is not None:
            with contextlib.suppress(RemoteProtocolError):  # refused: 488 or 400 went out
                self._answer_reinvite_with_media()
        else:
            logger.info("re-INVITE in call %s accepted with the mirrored direction",
                        self.call_id)
            with self.ua._acting() as now:
                self.core.accept_reinvite(now, self._answer_body(), "application/sdp")

    def _on_refer(self, refer_to: Address) -> None:
        if self.on_refer is not None:
            self.ua._call_back(self.on_refer, refer_to)
        else:
            logger.info("REFER in call %s: calling %s", self.call_id, refer_to.uri)
            self._accept_refer()

    def _sync_state(self) -> None:
        """Report every state the core went through since last time to on_state_change."""
        history = self.core.history
        while self._seen < len(history):
            _, happened, state = history[self._seen]
            self._seen += 1
            self._moved.set()
            if happened == "receive ACK" and self._awaiting_answer() and self.core.remote_body:
                self._take_answer(self.core.remote_body)  # we offered in our 2xx (§13.2.1)
            if state is not self._state:
                self._state = state
                self.ua._call_back(self.on_state_change, state)

    def _stop(self, error: BaseException) -> None:
        """The user agent stopped: nobody will resolve the futures any more."""
        self._stop_watching()
        self._release_media()
        futures: list[asyncio.Future[Any]] = [self._established, self._terminated,
                                              *self._transfers]
        for future in futures:
            if not future.done():
                future.set_exception(error)
                future.exception()
