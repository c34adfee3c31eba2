"""The audio of one call: its :class:`~siplab.call.Call` (SDP) driving its RTP endpoint.

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
from typing import Any

from siplab.aio.audio import AudioSource, Recorder, source_from
from siplab.aio.rtp import RtpEndpoint
from siplab.aio.scheduler import MediaScheduler
from siplab.call import Call, DtmfPress
from siplab.ids import IdSource
from siplab.sdp import Capabilities

__all__ = ["CallMedia", "MediaPool"]

logger = logging.getLogger("siplab.media")


class CallMedia:
    """A call's Call, RTP endpoint, source and recorder (see the module docstring)."""

    def __init__(self, call: Call, endpoint: RtpEndpoint, source: AudioSource,
                 recorder: Recorder | None) -> None:
        self.call = call
        self.endpoint = endpoint
        self.source = source
        self.recorder = recorder
        self.on_dtmf: Callable[[DtmfPress], Any] | None = None
        self.started = False
        self.closed = False
        endpoint.on_dtmf = self._rtp_digit

    @classmethod
    async def open(cls, *, host: str, capabilities: Capabilities, ids: IdSource,
                   source: AudioSource | str | None, record: bool,
                   scheduler: MediaScheduler | None = None) -> CallMedia:
        """Bind an RTP endpoint on ``host`` and make the Call that writes its port in SDP."""
        chosen = source_from(source)  # a bad spec raises before any socket is bound
        endpoint = await RtpEndpoint.open(host, 0, rtcp_mux=capabilities.rtcp_mux,
                                          scheduler=scheduler, ids=ids)
        call = Call(capabilities, address=host, port=endpoint.local_port, ids=ids)
        return cls(call, endpoint, chosen, Recorder() if record else None)

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

    # -- DTMF ----------------------------------------------------------------------------------

    def _rtp_digit(self, digit: str) -> None:
        """The endpoint's RFC 4733 receiver heard a key press: pass it to the session."""
        if self.on_dtmf is not None:
            self.on_dtmf(DtmfPress(digit, "rfc4733"))

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
                 scheduler: MediaScheduler | None = None) -> None:
        self.capabilities = capabilities
        self.ids = ids
        self.source = source
        self.record = record
        self.scheduler = scheduler
        self.open_media: list[CallMedia] = []
        self._closing: set[asyncio.Future[None]] = set()

    async def open(self, host: str, source: AudioSource | str | None = None,
                   record: bool | None = None) -> CallMedia:
        """A new call's media on ``host``: its own endpoint, source and recorder."""
        media = await CallMedia.open(
            host=host, capabilities=self.capabilities, ids=self.ids,
            source=source if source is not None else self.source,
            record=self.record if record is None else record, scheduler=self.scheduler,
        )
        self.open_media.append(media)
        return media

    def close(self, media: CallMedia) -> asyncio.Future[None]:
        """Close ``media`` in the background; the future is done once its sockets are closed."""
        future = asyncio.ensure_future(self._close(media))
        self._closing.add(future)
        future.add_done_callback(self._closing.discard)
        return future

    async def _close(self, media: CallMedia) -> None:
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
