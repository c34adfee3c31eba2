"""The media of one WebRTC call: its :class:`~siplab.call.Call` driving an aiortc endpoint.

The WebRTC twin of :class:`~siplab.aio.media.CallMedia`, with the same
methods, so a :class:`~siplab.aio.session.Session` runs either the same way:
``await offer()``, ``await answer(offer)``, ``apply()`` after each exchange,
``await close()``. The difference is who writes the SDP:

==============================  ===============================================
we call                         the engine writes the offer; ``Call.offer(it)``
the peer calls                  ``Call.answer_offer`` decides (or refuses: 488),
                                then the engine answers along, and
                                ``Call.adopt_local_description`` records it
the answer to our offer         ``Call.accept_answer``; the engine gets it too
hold, resume, their re-offers   the Call alone (:mod:`siplab.sdp.webrtc`); the
                                endpoint pauses sending or playing
==============================  ===============================================

Nothing is opened before the Call has accepted an offer: an offer refused for
its path or its codecs costs no peer connection.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import replace

from siplab.aio.audio import AudioSource, Recorder, source_from
from siplab.aio.media import MediaOfACall
from siplab.aio.webrtc import WebRtcEndpoint, WebRtcError
from siplab.call import Call, MediaPath
from siplab.ids import IdSource
from siplab.sdp import Capabilities, NegotiationError
from siplab.sdp.errors import WARNING_MEDIA_TYPE

__all__ = ["WebRtcMedia", "webrtc_capabilities"]

logger = logging.getLogger("siplab.media")

#: The port a Call writes before the engine's description replaces its SDP (RFC 8829 §5.2.1's
#: "discard" port 9: it never carries anything).
_PLACEHOLDER_PORT = 9


def webrtc_capabilities(capabilities: Capabilities) -> Capabilities:
    """``capabilities`` for the WebRTC path: SAVPF streams, rtcp-mux, data channel, VP8."""
    return replace(capabilities, accept_webrtc=True, data_channel=True, rtcp_mux=True,
                   video=capabilities.video or ("VP8",))


class WebRtcMedia(MediaOfACall[WebRtcEndpoint]):
    """A call's Call, WebRTC endpoint, source and recorder (see the module docstring)."""

    path = MediaPath.WEBRTC

    def __init__(self, call: Call, endpoint: WebRtcEndpoint, source: AudioSource,
                 recorder: Recorder | None) -> None:
        super().__init__(call, endpoint, source, recorder)
        self._answering: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, *, host: str, capabilities: Capabilities, ids: IdSource,
                   source: AudioSource | str | None, record: bool,
                   paths: Iterable[MediaPath] | None = None, video: bool = False,
                   data_channel: bool = True) -> WebRtcMedia:
        """The Call and an endpoint on ``host``; ICE gathers when an offer or answer is made."""
        chosen = source_from(source)
        recorder = Recorder() if record else None
        call = Call(webrtc_capabilities(capabilities), address=host, port=_PLACEHOLDER_PORT,
                    ids=ids, paths=paths if paths is not None else (MediaPath.WEBRTC,))
        endpoint = WebRtcEndpoint(host=host, ids=ids, source=chosen, recorder=recorder,
                                  video=video, data_channel=data_channel)
        return cls(call, endpoint, chosen, recorder)

    def __repr__(self) -> str:
        state = "closed" if self.closed else "playing" if self.started else "ready"
        return f"<WebRtcMedia {self.call.codec or 'no codec'} {state}>"

    # -- offer and answer ---------------------------------------------------------------------

    async def offer(self) -> bytes:
        """Our first offer, written by the engine and recorded by the Call."""
        return self.call.offer(await self.endpoint.create_offer(self.call.capabilities))

    async def answer(self, offer: bytes) -> bytes:
        """Answer the INVITE's offer: the Call decides (or raises for a 488/400), aiortc writes."""
        self.call.answer_offer(offer)  # (a plain offer is refused here: paths are WebRTC's)
        assert self.call.negotiation is not None
        try:
            engine = await self.endpoint.create_answer(offer, self.call.negotiation)
        except WebRtcError as error:
            raise NegotiationError(str(error), warning_code=WARNING_MEDIA_TYPE) from error
        return self.call.adopt_local_description(engine)

    # -- the negotiation becomes sound -----------------------------------------------------------

    def apply(self) -> None:
        """Start the endpoint with the Call's parameters, or update it after a re-INVITE."""
        params = self.call.params
        if params is None or self.closed:
            return
        if self.started:
            self.endpoint.update(params)
            logger.info("WebRTC media now %s %s", params.codec_name, params.direction)
            return
        self.endpoint.start(params)
        self.started = True
        logger.info("WebRTC media started: %s, %s", params.codec_name, params.direction)
        negotiation = self.call.negotiation
        if negotiation is not None and negotiation.role == "offerer":
            answer = str(negotiation.answer).encode("utf-8")
            self._answering = asyncio.ensure_future(self._give_answer(answer))

    async def _give_answer(self, answer: bytes) -> None:
        try:
            await self.endpoint.accept_answer(answer)
        except WebRtcError as error:
            logger.warning("the WebRTC engine refused the answer: %s", error)

    # -- the end ---------------------------------------------------------------------------------

    async def close(self) -> None:
        """Close the peer connection (ICE, DTLS, SCTP) and end every task (twice is harmless)."""
        if self.closed:
            return
        self.closed = True
        if self._answering is not None and not self._answering.done():
            self._answering.cancel()
            await asyncio.gather(self._answering, return_exceptions=True)
        await self.endpoint.close()
