"""The audio of one call: its :class:`~siplab.call.Call` (SDP) driving its RTP endpoint.

(This is the plain path, RTP/AVP. The WebRTC path's twin, with the same methods,
is :class:`~siplab.aio.webrtc_media.WebRtcMedia`; :class:`MediaPool` opens
whichever the call's offer asks for.)

A :class:`~siplab.aio.session.Session` that carries SDP owns one
:class:`CallMedia`, which joins three things:

* the sans-I/O :class:`~siplab.call.Call`, which writes and reads every offer
  and answer of the call and says, after each exchange, what the media must
  do (:class:`~siplab.sdp.MediaParameters`: where to send, which codec, which
  direction);
* an :class:`~siplab.aio.rtp.RtpEndpoint` on the user agent's host, opened
  *before* the first offer or answer (its port goes into the SDP) and closed
  when the call ends;
* what is played (an :class:`~siplab.aio.audio.AudioSource`: a tone, a WAV
  file, silence) and what is heard (a :class:`~siplab.aio.audio.Recorder`),
  and the DTMF digits received, by RTP (RFC 4733) or by SIP INFO alike.

:meth:`CallMedia.apply` is the one place where a negotiation becomes sound:
the first time it starts the endpoint, later (hold, resume, a new codec in a
re-INVITE) it updates it. Nothing here decides anything about SDP; the Call
does, and the Session sends what the Call wrote.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeAlias, TypeVar

from siplab.aio.audio import AudioSource, Recorder, source_from
from siplab.aio.rtp import RtpEndpoint
from siplab.aio.scheduler import MediaScheduler
from siplab.call import Call, DtmfPress, MediaPath, media_path_of
from siplab.ids import IdSource
from siplab.sdp import Capabilities, SdpParseError, parse

if TYPE_CHECKING:
    from siplab.aio.transport import TraceRecord
    from siplab.aio.webrtc_media import WebRtcMedia

__all__ = ["CallMedia", "MediaOfACall", "MediaPool", "AnyMedia"]

logger = logging.getLogger("siplab.media")


EndpointT = TypeVar("EndpointT", bound="DigitEndpoint")


class DigitEndpoint(Protocol):
    """What both media paths' endpoints offer the call's media: a hook for DTMF heard."""

    on_dtmf: Callable[[str], None] | None


class MediaOfACall(Generic[EndpointT]):
    """What a call's media holds on either path: the Call, the endpoint, source and recorder.

    The endpoint's RFC 4733 receiver reports each key to :attr:`on_dtmf` as a
    :class:`~siplab.call.DtmfPress`, as SIP INFO keys are.
    """

    def __init__(self, call: Call, endpoint: EndpointT, source: AudioSource,
                 recorder: Recorder | None) -> None:
        self.call = call
        self.endpoint = endpoint
        self.source = source
        self.recorder = recorder
        self.on_dtmf: Callable[[DtmfPress], Any] | None = None
        self.started = False
        self.closed = False
        endpoint.on_dtmf = self._rtp_digit

    def _rtp_digit(self, digit: str) -> None:
        """The endpoint's RFC 4733 receiver heard a key press: pass it to the session."""
        if self.on_dtmf is not None:
            self.on_dtmf(DtmfPress(digit, "rfc4733"))


class CallMedia(MediaOfACall[RtpEndpoint]):
    """A call's Call, RTP endpoint, source and recorder (see the module docstring)."""

    path = MediaPath.PLAIN

    @classmethod
    async def open(cls, *, host: str, capabilities: Capabilities, ids: IdSource,
                   source: AudioSource | str | None, record: bool,
                   scheduler: MediaScheduler | None = None,
                   paths: frozenset[MediaPath] | None = None,
                   trace: Callable[[TraceRecord], None] | None = None) -> CallMedia:
        """Bind an RTP endpoint on ``host`` and make the Call that writes its port in SDP.

        ``trace`` is the user agent's trace hook: one that asks for media
        (``siplab.lab.Trace(rtp=True)`` has ``rtp`` true) also gets the call's
        RTP and RTCP packets.
        """
        chosen = source_from(source)  # a bad spec raises before any socket is bound
        endpoint = await RtpEndpoint.open(host, 0, rtcp_mux=capabilities.rtcp_mux,
                                          scheduler=scheduler, ids=ids)
        if getattr(trace, "rtp", False):
            endpoint.trace = trace
        call = Call(capabilities, address=host, port=endpoint.local_port, ids=ids,
                    paths=paths if paths is not None else (MediaPath.PLAIN,))
        return cls(call, endpoint, chosen, Recorder() if record else None)

    async def offer(self) -> bytes:
        """Our first offer (RTP/AVP, every codec we accept)."""
        return self.call.offer()

    async def answer(self, offer: bytes) -> bytes:
        """Our answer to the INVITE's offer; raises NegotiationError (488) or SdpParseError."""
        return self.call.answer_offer(offer)

    def __repr__(self) -> str:
        state = "closed" if self.closed else "playing" if self.started else "ready"
        return f"<CallMedia {self.call.codec or 'no codec'} {state} port {self.call.port}>"

    # -- the negotiation becomes sound -------------------------------------------------------

    def apply(self) -> None:
        """Start the endpoint with the Call's parameters, or update it after a re-INVITE."""
        params = self.call.params
        if params is None or self.closed:
            return
        if self.started:
            self.endpoint.update(params)
            logger.info("media now %s %s", params.codec_name, params.direction)
        else:
            self.endpoint.start(params, source=self.source, sink=self.recorder)
            self.started = True
            logger.info("media started: %s to %s:%d, %s", params.codec_name,
                        params.remote_address, params.remote_port, params.direction)

    # -- the end ---------------------------------------------------------------------------------

    async def close(self) -> None:
        """Stop sending, send RTCP BYE, close the sockets (twice is harmless)."""
        if self.closed:
            return
        self.closed = True
        await self.endpoint.close()


class MediaPool:
    """The call media of one user agent: opens each call's, and closes them all at the end.

    It keeps the user agent's media settings (codecs as :class:`Capabilities`,
    the default source, whether to record, the media scheduler) and every
    :class:`CallMedia` still open, so a test or a notebook can check that
    none is left once the calls are over (:attr:`open_media`).
    """

    def __init__(self, *, capabilities: Capabilities, ids: IdSource,
                 source: AudioSource | str | None, record: bool,
                 scheduler: MediaScheduler | None = None,
                 paths: frozenset[MediaPath] = frozenset({MediaPath.PLAIN}),
                 webrtc: bool = False, video: bool = False) -> None:
        self.capabilities = capabilities
        self.ids = ids
        self.source = source
        self.record = record
        self.scheduler = scheduler
        self.paths = paths  # the paths whose offers we answer
        self.webrtc = webrtc  # our own offers: WebRTC (True) or plain RTP/AVP
        self.video = video
        self.open_media: list[AnyMedia] = []
        self._closing: set[asyncio.Future[None]] = set()

    def path_for(self, offer: bytes | None, webrtc: bool | None = None) -> MediaPath:
        """Which engine a call gets: the offer's path if we answer it, else our own choice.

        (An offer on a path we do not answer still gets a Call, of our preferred
        path, whose refusal says so: 488, see :mod:`siplab.call`.)
        """
        ours = MediaPath.WEBRTC if (self.webrtc if webrtc is None else webrtc) else MediaPath.PLAIN
        if not offer:
            return ours
        try:
            asked = media_path_of(parse(offer))
        except SdpParseError:
            return ours  # the Call answers 400, whichever it is
        if asked in self.paths:
            return asked
        return ours if ours in self.paths else next(iter(sorted(self.paths)))

    async def open(self, host: str, source: AudioSource | str | None = None,
                   record: bool | None = None, *, offer: bytes | None = None,
                   webrtc: bool | None = None, video: bool | None = None,
                   trace: Callable[[TraceRecord], None] | None = None) -> AnyMedia:
        """A new call's media on ``host``: its own endpoint, source and recorder.

        ``offer`` is the INVITE's (we answer), else we offer: WebRTC if
        ``webrtc`` (default: the pool's choice), plain RTP/AVP otherwise.
        ``trace``: see :meth:`CallMedia.open` (plain RTP only).
        """
        chosen_source = source if source is not None else self.source
        chosen_record = self.record if record is None else record
        media: AnyMedia
        if self.path_for(offer, webrtc) is MediaPath.WEBRTC:
            from siplab.aio.webrtc_media import WebRtcMedia  # aiortc loads with the first one

            media = await WebRtcMedia.open(
                host=host, capabilities=self.capabilities, ids=self.ids, source=chosen_source,
                record=chosen_record, paths=self.paths,
                video=self.video if video is None else video,
            )
        else:
            media = await CallMedia.open(
                host=host, capabilities=self.capabilities, ids=self.ids, source=chosen_source,
                record=chosen_record, scheduler=self.scheduler, paths=self.paths, trace=trace,
            )
        self.open_media.append(media)
        return media

    def close(self, media: AnyMedia) -> asyncio.Future[None]:
        """Close ``media`` in the background; the future is done once its sockets are closed."""
        future = asyncio.ensure_future(self._close(media))
        self._closing.add(future)
        future.add_done_callback(self._closing.discard)
        return future

    async def _close(self, media: AnyMedia) -> None:
        try:
            await media.close()
        finally:
            if media in self.open_media:
                self.open_media.remove(media)

    async def close_all(self) -> None:
        """Close every call's media still open (the user agent is stopping)."""
        for media in list(self.open_media):
            self.close(media)
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)


#: A call's media on either path (both have ``call``, ``endpoint``, ``offer()``, ``answer()``,
#: ``apply()``, ``close()``, ``on_dtmf``, ``recorder``, ``started``, ``closed``).
AnyMedia: TypeAlias = "CallMedia | WebRtcMedia"
