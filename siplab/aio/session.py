"""Calls you can ``await``: :class:`Session`, :class:`Inviter` (outgoing), :class:`Invitation`.

SIP.js gives an application three objects for calls, and so does siplab:

* an :class:`Inviter` is a call we make (``await ua.call("sip:bob@...")``);
* an :class:`Invitation` is a call we receive (``await ua.next_invitation()``
  or ``ua.on_invite``), to ``progress()``, ``accept()`` or ``reject()``;
* both are a :class:`Session`: ``state``, ``await established()``,
  ``await terminated()``, ``await bye()``, ``await hold()``, ``await info(...)``,
  ``await refer(...)``.

Each one wraps a sans-I/O session of the core
(:class:`siplab.sip.invite.Session`, in :attr:`Session.core`) and decides
nothing about SIP. Its methods call the core's verbs through the user agent
(which passes the time and sends what comes out), and its futures are
resolved by the core's events: ``SessionEstablished`` resolves
:meth:`~Session.established`, ``SessionTerminated`` resolves
:meth:`~Session.terminated` (and makes :meth:`~Session.established` raise
:class:`~siplab.aio.errors.CallFailed`), ``SessionModified`` ends a
:meth:`~Session.reinvite`, ``TransferCompleted`` a :meth:`~Session.refer`.
Every event about the call is also kept in :attr:`Session.events`, so a
notebook can print the story afterwards.

**Media.** On a user agent with media (the default), a session whose SDP
is left to siplab (no ``body=``) gets a :class:`~siplab.aio.media.CallMedia`
(or, on the WebRTC path, a :class:`~siplab.aio.webrtc_media.WebRtcMedia`):
a sans-I/O :class:`~siplab.call.Call` that writes and reads every offer and
answer, and an RTP endpoint that plays a source and records what it hears.
:mod:`siplab.aio.session_media` carries those steps (``negotiation``,
``codec``, ``media``, ``heard``, ``send_dtmf``, ``dtmf_received``);
``hold()``/``unhold()`` re-offer through the Call, and
:meth:`Session.terminated` returns once the RTP sockets are closed.

A call whose peer vanished (no RTP nor RTCP for the user agent's
``rtp_timeout`` seconds) is ended with a BYE, cause ``"rtp timeout"``
(:mod:`siplab.aio.media_watch`).

Two things the peer may ask in the middle of a call are answered for you
unless you take them over: a **re-INVITE** is answered by the Call (or, with
no media, with the mirror of its direction: hold is answered ``recvonly``, see
:mod:`siplab.aio.hold`; set :attr:`Session.on_reinvite` to decide yourself),
and a **REFER** is followed by calling its target (set
:attr:`Session.on_refer` to decide yourself). SIP.js does the same when no
delegate is set.

A :class:`Session` is built in layers, one module each: this one (what the
application reads and does), :mod:`siplab.aio.session_events` (what the user
agent tells it: the core's events, the RTP timeout), and
:mod:`siplab.aio.session_media` (its SDP and RTP).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from siplab.aio.errors import CallFailed
from siplab.aio.hold import answer_direction, direction_of, minimal_sdp, with_direction
from siplab.aio.media_watch import MediaWatchdog
from siplab.aio.session_events import Callback, SessionEvents
from siplab.call import DtmfPress
from siplab.errors import InvalidStateError, RemoteProtocolError
from siplab.sip.dialog import Dialog
from siplab.sip.events import (
    Event,
)
from siplab.sip.headers import Address
from siplab.sip.invite import Session as CoreSession
from siplab.sip.invite_table import SessionState
from siplab.sip.message import Request, Response
from siplab.sip.status import reason_phrase

if TYPE_CHECKING:
    from siplab.aio.audio import AudioSource
    from siplab.aio.media import AnyMedia
    from siplab.aio.useragent import UserAgent

__all__ = ["Session", "Inviter", "Invitation", "SessionState"]

logger = logging.getLogger("siplab.ua")

class Session(SessionEvents):
    """One call, as ``await``-able steps (see the module docstring).

    Read :attr:`state` (a :class:`~siplab.sip.invite_table.SessionState`:
    Initial, Establishing, Established, Terminating, Terminated),
    :attr:`local_body` / :attr:`remote_body` (the SDP each side sent last),
    :attr:`dialog`, :attr:`cause` and :attr:`status` once it ended, and
    :attr:`events`. ``on_state_change(state)`` is called for every new state.
    With media: :attr:`call`, :attr:`negotiation`, :attr:`codec`,
    :attr:`media`, :attr:`heard`, :attr:`dtmf_received`; ``on_dtmf(press)`` is
    called for every digit received.
    """

    def __init__(self, ua: UserAgent, core: CoreSession,
                 media: AnyMedia | None = None) -> None:
        self.ua = ua
        self.core = core
        self.on_dtmf: Callback | None = None  # (DtmfPress): a digit arrived
        self.dtmf_presses: list[DtmfPress] = []
        self.media_error: RemoteProtocolError | None = None  # an answer we could not take
        self._media: AnyMedia | None = None
        self._closing: asyncio.Future[None] | None = None  # the media closing, once over
        if media is not None:
            self._attach(media)
        self.events: list[Event] = []
        self.status: int | None = None  # the final status that ended the call, if any
        self.on_state_change: Callback | None = None
        self.on_reinvite: Callback | None = None  # (request) -> answer with accept_reinvite()
        self.on_refer: Callback | None = None  # (refer_to Address) -> accept_refer()/decline
        self.on_info: Callback | None = None  # (request)
        self.referred_call: Inviter | None = None  # the call a REFER we accepted made
        self._reinvite: Request | None = None  # the peer's last re-INVITE
        loop = asyncio.get_running_loop()
        self._established: asyncio.Future[None] = loop.create_future()
        self._terminated: asyncio.Future[str] = loop.create_future()
        self._transfers: list[asyncio.Future[int]] = []
        self._watchdog: MediaWatchdog | None = None  # the RTP timeout, once established
        self._seen = 0  # rows of core.history already reported to on_state_change
        self._moved = asyncio.Event()  # set whenever the core's history grows
        self._state = core.state

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.core.call_id} {self.state}>"

    # -- what it is -------------------------------------------------------------------

    @property
    def state(self) -> SessionState:
        return self.core.state

    @property
    def direction(self) -> str:
        """``"outgoing"`` (we called) or ``"incoming"``."""
        return self.core.direction

    @property
    def call_id(self) -> str:
        return self.core.call_id

    @property
    def request(self) -> Request:
        """The INVITE (for an outgoing call: the latest attempt, with credentials if asked)."""
        return self.core.request

    @property
    def dialog(self) -> Dialog | None:
        return self.core.dialog

    @property
    def local_body(self) -> bytes:
        return self.core.local_body

    @property
    def remote_body(self) -> bytes:
        return self.core.remote_body

    @property
    def cause(self) -> str | None:
        """Why the call ended: "bye", "remote bye", "rejected", "cancelled", "timeout"..."""
        return self.core.cause

    @property
    def remote_identity(self) -> Address:
        """Who is at the other end: To of our INVITE, or From of theirs."""
        return self.core.request.to if self.direction == "outgoing" else self.core.request.from_

    @property
    def on_hold(self) -> bool:
        """True when our last offer or answer stopped receiving (sendonly or inactive)."""
        return direction_of(self.local_body) in ("sendonly", "inactive")

    # -- waiting -----------------------------------------------------------------------

    async def established(self, timeout: float | None = None) -> None:
        """Wait until the call is answered; raises CallFailed if it ends first."""
        async with asyncio.timeout(timeout):
            await asyncio.shield(self._established)

    async def terminated(self, timeout: float | None = None) -> str:
        """Wait until the call is over (and its media closed); returns the cause ("bye"...)."""
        async with asyncio.timeout(timeout):
            cause = await asyncio.shield(self._terminated)
            if self._closing is not None:
                await asyncio.shield(self._closing)
            return cause

    # -- what the application does -------------------------------------------------------

    async def bye(self, timeout: float | None = None) -> str:
        """Hang up an established call with BYE (§15) and wait until it is over."""
        with self.ua._acting() as now:
            self.core.bye(now)
        return await self.terminated(timeout)

    async def hangup(self, timeout: float | None = None) -> str:
        """End the call whatever its state: CANCEL, reject (480) or BYE; wait until it is over."""
        if self.state is not SessionState.Terminated:
            with self.ua._acting() as now:
                self.core.hangup(now)
        return await self.terminated(timeout)

    async def reinvite(self, body: bytes, content_type: str | None = "application/sdp",
                       timeout: float | None = None) -> None:
        """Send a re-INVITE with a new offer (§14); returns when the peer accepted it.

        Raises RequestError if the peer refused it (the call goes on as before).
        Waits first while another INVITE of the dialog is under way (§14.1), such
        as the callee's 200 that still waits for its ACK.
        """
        async with asyncio.timeout(timeout):
            while self.core.reinvite_in_progress and self.state is SessionState.Established:
                self._moved.clear()
                await self._moved.wait()
        with self.ua._acting() as now:
            self.core.reinvite(now, body, content_type)
            waiting = self.ua._expect(self.call_id, "INVITE")
        await self.ua._outcome(waiting, timeout)

    async def hold(self, timeout: float | None = None) -> None:
        """Put the call on hold: a re-INVITE whose SDP says ``a=sendonly`` (RFC 3264 §8.4).

        With media, the peer stops sending (it answers ``recvonly``) and we stop
        playing what arrives; we keep sending (music on hold).
        """
        if self._media is not None:
            await self._reoffer(self._media.call.hold(), timeout)
        else:
            await self.reinvite(self._with_direction("sendonly"), timeout=timeout)

    async def unhold(self, timeout: float | None = None) -> None:
        """Take the call off hold: a re-INVITE whose SDP says ``a=sendrecv``."""
        if self._media is not None:
            await self._reoffer(self._media.call.resume(), timeout)
        else:
            await self.reinvite(self._with_direction("sendrecv"), timeout=timeout)

    async def info(self, body: bytes | str, content_type: str = "application/dtmf-relay",
                   timeout: float | None = None) -> Response:
        """Send an INFO in the call (RFC 6086); returns the 200, raises RequestError else."""
        data = body.encode("utf-8") if isinstance(body, str) else body
        with self.ua._acting() as now:
            self.core.info(now, data, content_type)
            waiting = self.ua._expect(self.call_id, "INFO")
        return await self.ua._outcome(waiting, timeout)

    async def message(self, text: str | bytes, content_type: str = "text/plain",
                      timeout: float | None = None) -> Response:
        """Send a MESSAGE inside the call (RFC 3428); returns the 200, raises RequestError else."""
        data = text.encode("utf-8") if isinstance(text, str) else text
        with self.ua._acting() as now:
            self.core.message(now, data, content_type)
            waiting = self.ua._expect(self.call_id, "MESSAGE")
        return await self.ua._outcome(waiting, timeout)

    async def refer(self, target: Address | str, timeout: float | None = None) -> int:
        """Blind transfer (RFC 3515): ask the peer to call ``target``.

        Returns the final status of the new call as the peer's NOTIFY reports
        it (200 when the transfer worked; then this call is hung up). Raises
        RequestError if the peer refuses the REFER itself.
        """
        address = self.ua._address(target)
        loop = asyncio.get_running_loop()
        transfer: asyncio.Future[int] = loop.create_future()
        self._transfers.append(transfer)
        with self.ua._acting() as now:
            self.core.refer(now, address)
            waiting = self.ua._expect(self.call_id, "REFER")
        async with asyncio.timeout(timeout):
            # The 202 and the final NOTIFY may arrive in either order (UDP); a refused
            # REFER raises, a finished transfer returns, whichever comes first.
            while not transfer.done():
                refused = waiting.exception() if waiting.done() else None
                if refused is not None:
                    raise refused
                await asyncio.wait([f for f in (waiting, transfer) if not f.done()],
                                   return_when=asyncio.FIRST_COMPLETED)
            return transfer.result()

    async def accept_reinvite(self, body: bytes | None = None,
                              content_type: str | None = None) -> None:
        """Answer the peer's re-INVITE with 200 (by default: the Call's answer, or the
        mirrored direction). Raises NegotiationError or SdpParseError after refusing it
        (488 or 400) when its offer cannot be answered."""
        if body is None and self._media is not None:
            self._answer_reinvite_with_media()
            return
        if body is None:
            body = self._answer_body()
            content_type = content_type or "application/sdp"
        with self.ua._acting() as now:
            self.core.accept_reinvite(now, body, content_type)

    async def reject_reinvite(self, status: int = 488) -> None:
        """Refuse the peer's re-INVITE (488 Not Acceptable Here...); the call goes on."""
        with self.ua._acting() as now:
            self.core.reject_reinvite(now, status)

    async def accept_refer(self) -> Inviter:
        """Do what the peer's REFER asked: call its target (the peer hears how it goes)."""
        return self._accept_refer()

    async def decline_refer(self, status: int = 603) -> None:
        """Refuse the transfer after all: a final NOTIFY with ``status``."""
        with self.ua._acting() as now:
            self.ua.core.decline_refer(self.core, now, status, reason_phrase(status))

    # -- helpers -------------------------------------------------------------------------

    def _with_direction(self, direction: str) -> bytes:
        if self.local_body:
            return with_direction(self.local_body, direction)
        return minimal_sdp(direction, self.ua.local_host, self.ua._session_number())

    def _answer_body(self) -> bytes:
        offered = direction_of(self._reinvite.body) if self._reinvite is not None else None
        return self._with_direction(answer_direction(offered))

    def _accept_refer(self) -> Inviter:
        with self.ua._acting() as now:
            new = self.ua.core.accept_refer(self.core, now)
            inviter = self.ua._session_for(new)
        assert isinstance(inviter, Inviter)
        self.referred_call = inviter
        return inviter


class Inviter(Session):
    """A call we made (``await ua.call(target)``). ``last_provisional``: the last 1xx."""

    def __init__(self, ua: UserAgent, core: CoreSession,
                 media: AnyMedia | None = None) -> None:
        super().__init__(ua, core, media)
        self.last_provisional: Response | None = None
        self._progress: asyncio.Future[Response] = asyncio.get_running_loop().create_future()

    async def progressed(self, timeout: float | None = None) -> Response:
        """Wait for the first provisional response above 100 (180 Ringing, 183...).

        Raises CallFailed if the call ends without one.
        """
        if self.last_provisional is not None:
            return self.last_provisional
        async with asyncio.timeout(timeout):
            return await asyncio.shield(self._progress)

    async def cancel(self, timeout: float | None = None) -> str:
        """Withdraw the INVITE (CANCEL, §9.1) and wait until the call is over.

        If the callee answered in the meantime, the call is ACKed and ended with BYE.
        """
        with self.ua._acting() as now:
            self.ua.core.cancel(self.core, now)
        return await self.terminated(timeout)

    def _on_progress(self, response: Response) -> None:
        self.last_provisional = response
        if not self._progress.done():
            self._progress.set_result(response)

    def _on_terminated(self, cause: str, status: int | None,
                       response: Response | None = None) -> None:
        super()._on_terminated(cause, status, response)
        if not self._progress.done():
            self._progress.set_exception(self._established.exception() or
                                         CallFailed(status, cause, cause=cause))
            self._progress.exception()

    def _stop(self, error: BaseException) -> None:
        super()._stop(error)
        if not self._progress.done():
            self._progress.set_exception(error)
            self._progress.exception()


class Invitation(Session):
    """A call we received: ``progress()``, ``accept()`` or ``reject()`` it."""

    async def progress(self, status: int = 180, body: bytes = b"",
                       content_type: str | None = "application/sdp") -> None:
        """Send 180 Ringing (or 183 Session Progress with early media)."""
        with self.ua._acting() as now:
            self.ua.core.progress(self.core, now, status, body, content_type)

    async def accept(self, body: bytes | None = None,
                     content_type: str | None = "application/sdp", *,
                     source: AudioSource | str | None = None,
                     record: bool | None = None) -> None:
        """Answer: 200 OK with ``body`` (the SDP answer). The call is then Established.

        Without ``body``, on a user agent with media, siplab answers the
        INVITE's offer itself (or offers, if it had none): it opens an RTP
        endpoint that plays ``source`` (default: the user agent's
        ``audio_source``) and records unless ``record=False``. An offer that
        cannot be answered is refused (488, or 400 for malformed SDP, with a
        Warning) and the NegotiationError or SdpParseError is raised.
        """
        if self.state is not SessionState.Establishing:
            raise InvalidStateError(f"cannot accept a call that is {self.state}")
        if body is None and self.ua.media and self._offer_is_sdp():
            await self._accept_with_media(source, record)
            return
        with self.ua._acting() as now:
            self.ua.core.accept(self.core, now, body or b"", content_type)

    async def _auto_answer(self) -> None:
        """``UserAgent(auto_answer=True)`` with media: ring, then answer with SDP."""
        try:
            await self.progress(180)
            await self.accept()
        except (RemoteProtocolError, InvalidStateError) as error:
            logger.info("auto-answer of call %s did not happen: %s", self.call_id, error)

    async def reject(self, status: int = 486, reason: str | None = None) -> None:
        """Refuse the call: 486 Busy Here, 603 Decline, 480 Temporarily Unavailable..."""
        with self.ua._acting() as now:
            self.ua.core.reject(self.core, now, status, reason)
