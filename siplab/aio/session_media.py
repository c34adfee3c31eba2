"""The media half of a :class:`~siplab.aio.session.Session`: SDP through its Call, RTP applied.

:class:`SessionMedia` is mixed into :class:`~siplab.aio.session.Session`; it
holds what a session does with its :class:`~siplab.aio.media.CallMedia`
(its :class:`~siplab.call.Call` and RTP endpoint), so ``session.py`` keeps to
the SIP side. Each method carries one SDP step of RFC 3261 §13-14 and
RFC 3264 to the right message, asks the Call what to write or read, and
applies the outcome to the endpoint:

==============================  ===============================================
the INVITE's offer (accept)     Call.answer_offer -> 200 + answer, or 488/400
an INVITE without an offer      Call.offer -> 200 + offer; the answer is in the ACK
the 2xx (or 183) to our INVITE  Call.accept_answer -> start the audio
our re-INVITE (hold, unhold)    Call.hold/resume -> re-INVITE; its 2xx -> update
the peer's re-INVITE            Call.answer_reoffer -> 200 + answer, or 488/400
the call ends                   the RTP endpoint is closed
==============================  ===============================================

DTMF received by RTP (RFC 4733) and by INFO lands in one list,
:attr:`SessionMedia.dtmf_presses`.

The same steps run on both media paths: the offer's proto picks a
:class:`~siplab.aio.media.CallMedia` (plain RTP/AVP) or a
:class:`~siplab.aio.webrtc_media.WebRtcMedia` (WebRTC, aiortc), which offer,
answer and apply alike. A WebRTC call also has :attr:`SessionMedia.data_channel`
and :attr:`SessionMedia.video`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from siplab.call import DTMF_RELAY, DtmfPress, OfferAnswerState, dtmf_relay_body
from siplab.errors import InvalidStateError, LocalProtocolError, RemoteProtocolError
from siplab.sip.invite_table import SessionState

if TYPE_CHECKING:
    import numpy as np

    from siplab.aio.audio import AudioSource, Recorder
    from siplab.aio.media import AnyMedia
    from siplab.aio.rtp import RtpEndpoint
    from siplab.aio.useragent import UserAgent
    from siplab.aio.webrtc import WebRtcEndpoint
    from siplab.aio.webrtc_data import DataChannel
    from siplab.aio.webrtc_tracks import VideoSink
    from siplab.call import Call, MediaPath
    from siplab.sdp import Negotiation
    from siplab.sip.invite import Session as CoreSession
    from siplab.sip.message import Request, Response

__all__ = ["SessionMedia", "INFO_DTMF_DURATION"]

logger = logging.getLogger("siplab.ua")

#: How long one key press lasts when sent by INFO (ms); RFC 4733 senders use their own.
INFO_DTMF_DURATION = 160


class SessionMedia:
    """What a Session does with its media (mixed into :class:`~siplab.aio.session.Session`)."""

    # Provided by Session:
    ua: UserAgent
    core: CoreSession
    on_dtmf: Any
    dtmf_presses: list[DtmfPress]
    media_error: RemoteProtocolError | None
    _media: AnyMedia | None
    _closing: asyncio.Future[None] | None
    _reinvite: Request | None

    if TYPE_CHECKING:  # Session's own methods, which these steps use

        async def reinvite(self, body: bytes, content_type: str | None = "application/sdp",
                           timeout: float | None = None) -> None: ...

        async def info(self, body: bytes | str, content_type: str = DTMF_RELAY,
                       timeout: float | None = None) -> Response: ...

        @property
        def state(self) -> SessionState: ...

        @property
        def call_id(self) -> str: ...

    # -- what the application reads ------------------------------------------------------

    @property
    def call(self) -> Call | None:
        """The offer/answer of this call (:class:`siplab.call.Call`), if siplab does its SDP."""
        return self._media.call if self._media is not None else None

    @property
    def negotiation(self) -> Negotiation | None:
        """The last offer/answer, explained (``.table()``, ``.explain()``)."""
        return self._media.call.negotiation if self._media is not None else None

    @property
    def codec(self) -> str | None:
        """The codec audio is sent with ("PCMU", "opus"...), once negotiated."""
        return self._media.call.codec if self._media is not None else None

    @property
    def media(self) -> RtpEndpoint | WebRtcEndpoint | None:
        """The media endpoint (``stats()``, ``first_audio_time``...), if the call has media:
        an RtpEndpoint on the plain path, a WebRtcEndpoint (``.pc``) on the WebRTC path."""
        return self._media.endpoint if self._media is not None else None

    @property
    def path(self) -> MediaPath | None:
        """The media path: ``MediaPath.PLAIN`` (RTP/AVP) or ``MediaPath.WEBRTC``."""
        return self._media.call.path if self._media is not None else None

    @property
    def data_channel(self) -> DataChannel | None:
        """The WebRTC data channel (``send``, ``send_file``, ``next_message``...), if any."""
        endpoint = self.media
        return getattr(endpoint, "data_channel", None)

    @property
    def video(self) -> VideoSink | None:
        """Received WebRTC video (``.count``, ``.last``, ``.on_frame``), on the WebRTC path."""
        endpoint = self.media
        return getattr(endpoint, "video", None)

    @property
    def video_frames(self) -> list[np.ndarray[Any, Any]]:
        """The last received video frames, (height, width, 3) RGB arrays (empty if none)."""
        video = self.video
        return list(video.frames) if video is not None else []

    @property
    def heard(self) -> Recorder | None:
        """What was heard (``.samples``, ``.rate``, ``.to_wav()``), if recording."""
        return self._media.recorder if self._media is not None else None

    @property
    def dtmf_received(self) -> str:
        """The digits received, by RFC 4733 events and by INFO alike, in order."""
        return "".join(press.digit for press in self.dtmf_presses)

    # -- what the application does --------------------------------------------------------

    async def send_dtmf(self, digits: str, method: str = "rfc4733",
                        timeout: float | None = None) -> None:
        """Press keys: RFC 4733 events in the RTP stream, or one SIP INFO per digit.

        ``method="info"`` sends ``application/dtmf-relay`` bodies
        (``Signal=1``, ``Duration=160``) and waits for each 200. RFC 4733 needs
        negotiated media with telephone-event, and a direction that sends;
        LocalProtocolError (or InvalidStateError) says what is missing.
        """
        if method == "info":
            for digit in digits:
                body = dtmf_relay_body(digit, INFO_DTMF_DURATION)
                await self.info(body, DTMF_RELAY, timeout=timeout)
            return
        if method != "rfc4733":
            raise LocalProtocolError(f"DTMF goes by 'rfc4733' or 'info', not {method!r}")
        if self._media is None or not self._media.started:
            raise LocalProtocolError("RFC 4733 DTMF needs a call with negotiated media")
        async with asyncio.timeout(timeout):
            await self._media.endpoint.send_dtmf(digits)

    # -- SDP steps: we offer -------------------------------------------------------------------

    def _awaiting_answer(self) -> bool:
        """True while our offer (INVITE, 2xx, re-INVITE) waits for its answer."""
        return (self._media is not None
                and self._media.call.state is OfferAnswerState.HAVE_LOCAL_OFFER)

    def _take_answer(self, body: bytes) -> None:
        """The answer to our offer arrived (2xx, 183, ACK): read it, then play what it says."""
        assert self._media is not None
        try:
            self._media.call.accept_answer(body)
        except RemoteProtocolError as error:
            logger.warning("call %s: unusable SDP answer: %s", self.call_id, error)
            self.media_error = error
            if self._media.call.negotiation is not None:
                self._media.call.withdraw_offer()  # a re-offer: media stays as it was
            return
        self._media.apply()

    def _hang_up_unusable(self) -> None:
        """The 2xx's answer cannot be used: the call is ACKed (by the core) and ended (BYE)."""
        logger.warning("call %s: hanging up, the answer is unusable", self.call_id)
        with self.ua._acting() as now:
            self.core.bye(now)

    async def _reoffer(self, offer: bytes, timeout: float | None) -> None:
        """Send the Call's re-offer (hold, resume); a refusal, or an answer we cannot use,
        leaves the media as it was and raises."""
        assert self._media is not None
        self.media_error = None
        try:
            await self.reinvite(offer, timeout=timeout)
        except BaseException:
            if self._awaiting_answer():
                self._media.call.withdraw_offer()
            raise
        if self.media_error is not None:
            raise self.media_error

    # -- SDP steps: the peer offers --------------------------------------------------------------

    def _offer_is_sdp(self) -> bool:
        kind = (self.core.remote_content_type or "application/sdp").split(";")[0].strip()
        return kind.lower() == "application/sdp"

    async def _accept_with_media(self, source: AudioSource | str | None,
                                 record: bool | None) -> None:
        """Open the call's media, answer the INVITE's offer (or offer) in a 200, play.

        An offer the Call cannot answer is refused (488, 400) and its error raised.
        """
        offer = self.core.remote_body
        media = await self.ua._open_media(source, record, offer=offer or None)
        if self.state is not SessionState.Establishing:  # cancelled while the port opened
            await self.ua._close_media(media)
            raise InvalidStateError(f"cannot accept a call that is {self.state}")
        try:
            body = await (media.answer(offer) if offer else media.offer())
            if self.state is not SessionState.Establishing:  # cancelled while aiortc worked
                await self.ua._close_media(media)
                raise InvalidStateError(f"cannot accept a call that is {self.state}")
        except RemoteProtocolError as error:
            await self.ua._close_media(media)
            refusal = media.call.refusal(error, self.ua.local_host)
            logger.info("call %s refused: %s %s: %s", self.call_id, refusal.status,
                        refusal.reason, refusal.explanation)
            with self.ua._acting() as now:
                self.ua.core.reject(self.core, now, refusal.status, refusal.reason,
                                    refusal.headers)
            raise
        self._attach(media)
        with self.ua._acting() as now:
            self.ua.core.accept(self.core, now, body, "application/sdp")
        media.apply()  # (with an offer in our 200, media starts when the ACK answers it)

    def _answer_reinvite_with_media(self) -> None:
        """Answer the peer's re-offer through the Call (or offer, if it had none) and apply;
        an offer that cannot be answered is refused (488, 400) and its error raised."""
        assert self._media is not None
        call = self._media.call
        offer = self._reinvite.body if self._reinvite is not None else b""
        try:
            body = call.answer_reoffer(offer) if offer else call.reoffer()
        except RemoteProtocolError as error:
            refusal = call.refusal(error, self.ua.local_host)
            logger.info("re-INVITE in call %s refused: %s", self.call_id, refusal.explanation)
            with self.ua._acting() as now:
                self.ua.core.reject_reinvite(self.core, now, refusal.status, refusal.reason,
                                             refusal.headers)
            raise
        with self.ua._acting() as now:
            self.core.accept_reinvite(now, body, "application/sdp")
        self._media.apply()

    # -- DTMF in, and the end ---------------------------------------------------------------------

    def _attach(self, media: AnyMedia) -> None:
        self._media = media
        media.on_dtmf = self._on_dtmf

    def _on_dtmf(self, press: DtmfPress) -> None:
        self.dtmf_presses.append(press)
        self.ua._call_back(self.on_dtmf, press)

    def _release_media(self) -> None:
        """The call is over: close the RTP endpoint (terminated() waits for it)."""
        if self._media is not None and self._closing is None:
            self._closing = self.ua._close_media(self._media)
