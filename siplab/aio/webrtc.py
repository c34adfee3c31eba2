"""The WebRTC media path: one call's audio, video and data channel through aiortc.

A browser running JsSIP or SIP.js offers ``UDP/TLS/RTP/SAVPF``: the same RTP
as a SIP phone, but wrapped in what the web demands (RFC 8827, RFC 8834):

* **ICE** (RFC 8445): each side lists *candidates*, addresses where it can
  receive (``a=candidate`` lines), and the two agents try the pairs with STUN
  checks until one works. No address is taken on trust from ``c=``.
* **DTLS-SRTP** (RFC 5763, RFC 5764): on the pair ICE found, a DTLS handshake
  whose certificate must match the ``a=fingerprint`` in the SDP the signalling
  carried, then SRTP keys derived from it: every RTP packet is encrypted and
  authenticated (RFC 3711).
* **rtcp-mux** (RFC 5761) and **BUNDLE** (RFC 9143): RTP, RTCP, video and
  the data channel's SCTP all share that one ICE pair, one UDP port.

aiortc's ``RTCPeerConnection`` does all that, in Python, with the W3C API a
browser has. :class:`WebRtcEndpoint` puts it behind the same interface as the
plain path's :class:`~siplab.aio.rtp.RtpEndpoint`, so a
:class:`~siplab.aio.session.Session` does not care which path it is on:
``start(params)``, ``update(params)``, ``send_dtmf()``, ``on_dtmf``,
``dtmf_received``, ``stats()``, ``first_audio_time``, ``close()``. Audio
comes from the same :class:`~siplab.aio.audio.AudioSource` objects, encoded by
the same encoders as on the plain path (a
:class:`~siplab.aio.webrtc_tracks.SourceTrack` hands aiortc ready payloads),
and what arrives is played as on the plain path too: each decrypted audio
packet is taken before aiortc sees it, into the same
:class:`~siplab.aio.playout.Playout` (jitter buffer, siplab's decoders) and the
same :class:`~siplab.aio.audio.Recorder`, on the loop's shared media clock,
and reported on to the peer in siplab's own RTCP receiver reports
(:mod:`siplab.aio.webrtc_rtcp`, RFC 3550 §6.4.2), since aiortc never sees it.
(aiortc would decode each stream in a thread of its own and hand every frame
back to the event loop: twice the CPU per call, see bench/webrtc.py.) On top:
optional VP8 video (a test pattern out, RGB arrays in: :attr:`WebRtcEndpoint.video`)
and a data channel (:attr:`WebRtcEndpoint.data_channel`, :mod:`siplab.aio.webrtc_data`).

The SDP on this path is the engine's (only it knows its ICE credentials,
candidates and fingerprint); siplab's :class:`~siplab.call.Call` decides
codecs, DTMF and directions, and the endpoint makes aiortc follow: codec
preferences in siplab's order (``setCodecPreferences``), and RFC 4733
``telephone-event`` lines added to the engine's SDP, because aiortc has no DTMF
and siplab sends and hears the events itself. Those events travel as a second
RTP source (SSRC) of the call, since aiortc owns the audio source's sequence
numbers; RFC 3550 allows any number of sources in a session and receivers know
the events by their payload type. The few places that go past aiortc's public
API (loopback ICE candidates, the DTMF packets) are in
:mod:`siplab.aio.webrtc_aiortc`.

Hold and resume (RFC 3264 §8.4) do not renegotiate the connection: the SDP of
the re-INVITE keeps the ICE and DTLS attributes (:mod:`siplab.sdp.webrtc`), and
the endpoint pauses its sending track or stops playing what arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from aiortc import (
    RTCDataChannel,
    RTCPeerConnection,
    RTCRtpSender,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcrtpparameters import RTCRtpCodecCapability

from siplab.aio.audio import AudioSource, Recorder, SilenceSource
from siplab.aio.dtmf import DtmfChannel
from siplab.aio.playout import Playout
from siplab.aio.rtp_stats import RtpStats
from siplab.aio.scheduler import MediaScheduler, ScheduledStream
from siplab.aio.webrtc_aiortc import (
    host_addresses_scope,
    ice_addresses_for,
    peer_configuration,
    send_rtp,
    tap_rtcp,
    tap_rtp,
)
from siplab.aio.webrtc_data import DataChannel
from siplab.aio.webrtc_rtcp import RTCP_INTERVAL, AudioReports, cname_in_sdp
from siplab.aio.webrtc_tracks import PatternTrack, SourceTrack, VideoSink
from siplab.errors import InvalidStateError, LocalProtocolError
from siplab.ids import IdSource
from siplab.rtp import ReceiverStats, RtpParseError, RtpSender, WiresharkStats, parse_rtp
from siplab.sdp import Capabilities, Codec, MediaParameters, Negotiation, parse
from siplab.sdp.codecs import TELEPHONE_EVENT, CodecSpec
from siplab.sdp.webrtc import add_telephone_events

__all__ = ["WebRtcEndpoint", "WebRtcError"]

logger = logging.getLogger("siplab.webrtc")

#: The telephone-event payload types siplab offers, per clock rate (Chrome's numbers).
_EVENT_OFFER = {48000: 110, 8000: 126}
#: Playout: the jitter buffer's delay, and how often due packets are played (seconds).
_PLAYOUT_DELAY = 0.02
_PLAY_EVERY = 0.02


class WebRtcError(LocalProtocolError):
    """aiortc refused a description or could not start (the message says what it said)."""


class WebRtcEndpoint:
    """One call's media over an aiortc ``RTCPeerConnection`` (see the module docstring).

    Make it, then ``await create_offer(capabilities)`` (we call) or
    ``await create_answer(offer, negotiation)`` (we answer); :meth:`start` with
    the negotiated audio parameters, and, as the offerer, ``await
    accept_answer(answer)``. ``host`` is the user agent's address: on loopback the
    ICE candidates are on loopback too (``ice_addresses`` overrides).
    """

    #: Mean seconds between our RTCP reports on the received audio (a lab may shorten it).
    rtcp_interval = RTCP_INTERVAL

    def __init__(self, *, host: str = "127.0.0.1", ids: IdSource | None = None,
                 source: AudioSource | None = None, recorder: Recorder | None = None,
                 video: bool = False, data_channel: bool = True,
                 ice_addresses: Sequence[str] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        self._ids = ids if ids is not None else IdSource()
        self.host = host
        self.ice_addresses = list(ice_addresses) if ice_addresses else ice_addresses_for(host)
        self.pc = RTCPeerConnection(peer_configuration())
        self.pc.on("track", self._on_track)
        self.pc.on("datachannel", self._on_datachannel)
        self.pc.on("connectionstatechange", self._on_connection_state)
        self.source = source if source is not None else SilenceSource()
        self.track = SourceTrack(self.source)
        self.playout = Playout(self._loop, _PLAYOUT_DELAY)  # received audio, to the recorder
        self.playout.sink = recorder
        self._play_tick: ScheduledStream | None = None
        self.video_enabled = video
        self.pattern: PatternTrack | None = None
        #: Received video: ``.frames`` (RGB arrays), ``.count``, ``.last``, ``.on_frame``.
        self.video = VideoSink()
        self._wants_channel = data_channel
        #: The data channel, once the call negotiated one (None otherwise).
        self.data_channel: DataChannel | None = None
        self.params: MediaParameters | None = None
        self.closed = False
        self.connected_time: float | None = None
        self._audio: RTCRtpTransceiver | None = None
        self._transport: RTCDtlsTransport | None = None
        self._playing = False
        self._tasks: set[asyncio.Future[Any]] = set()
        self._connected: asyncio.Future[None] = self._loop.create_future()
        # DTMF (RFC 4733): siplab's own RTP source next to aiortc's audio.
        self.dtmf = DtmfChannel(self._loop, RtpSender(TELEPHONE_EVENT.offer_payload_type or 101,
                                                      8000, ids=self._ids))
        self._dtmf_pump: asyncio.Task[None] | None = None
        self._dtmf_timer: asyncio.TimerHandle | None = None
        # What arrives, counted as on the plain path (RFC 3550 A.1, A.8; Wireshark's figures).
        self.receiver = ReceiverStats(8000)
        self.wireshark = WiresharkStats()
        self.remote_ssrc: int | None = None
        self.packets_received = 0
        self.octets_received = 0
        self.packets_ignored = 0
        self.first_packet_time: float | None = None
        self._audio_pts: frozenset[int] = frozenset()
        self._event_pts: frozenset[int] = frozenset()
        self.local_ssrc = 0
        #: Our RTCP reports on the received audio, from its first packet on.
        self.reports: AudioReports | None = None

    def __repr__(self) -> str:
        state = "closed" if self.closed else self.pc.connectionState
        return f"<WebRtcEndpoint {self.codec or 'no codec'} {state}>"

    # -- what it is -------------------------------------------------------------------------

    @property
    def codec(self) -> str | None:
        return self.params.codec_name if self.params is not None else None

    @property
    def started(self) -> bool:
        return self.params is not None

    @property
    def sending(self) -> bool:
        return self.started and self.track.sending

    @property
    def playing(self) -> bool:
        return self._playing

    @property
    def recorder(self) -> Recorder | None:
        return self.playout.sink  # type: ignore[return-value]

    @property
    def sink(self) -> Recorder | None:
        return self.recorder

    @property
    def frames_played(self) -> int:
        return self.playout.frames_played

    @property
    def first_audio_time(self) -> float | None:
        """Loop time the first received audio frame was decoded and played."""
        return self.playout.first_audio_time

    @property
    def connection_state(self) -> str:
        """aiortc's ``connectionState``: new, connecting, connected, failed, closed."""
        return self.pc.connectionState

    @property
    def dtmf_received(self) -> str:
        return self.dtmf.digits

    @property
    def on_dtmf(self) -> Callable[[str], None] | None:
        return self.dtmf.on_digit

    @on_dtmf.setter
    def on_dtmf(self, callback: Callable[[str], None] | None) -> None:
        self.dtmf.on_digit = callback

    @property
    def video_frames(self) -> list[np.ndarray[Any, Any]]:
        """The last received video frames, as (height, width, 3) RGB arrays."""
        return list(self.video.frames)

    async def connected(self, timeout: float | None = None) -> None:
        """Wait until ICE and DTLS are up (aiortc's connectionState "connected")."""
        async with asyncio.timeout(timeout):
            await asyncio.shield(self._connected)

    # -- offer and answer ----------------------------------------------------------------------

    async def create_offer(self, capabilities: Capabilities) -> bytes:
        """Our WebRTC offer: audio in siplab's codec order, video and data channel if asked."""
        self._audio = self._add_audio(self._preferences(capabilities.audio_codecs))
        if self.video_enabled:
            self._add_video()
        if self._wants_channel:
            self.data_channel = DataChannel()
            self.data_channel.bind(self.pc.createDataChannel(self.data_channel.label))
        await self._set_local(await self.pc.createOffer())
        sd = parse(self.pc.localDescription.sdp)
        if capabilities.telephone_event:
            rates = {spec.clock_rate for spec in capabilities.audio_codecs} | {8000}
            events = [Codec(pt, TELEPHONE_EVENT.name, rate, 1, TELEPHONE_EVENT.fmtp)
                      for rate, pt in _EVENT_OFFER.items() if rate in rates]
            sd = add_telephone_events(sd, events)
        self._remember_ssrc(sd)
        return str(sd).encode("utf-8")

    async def create_answer(self, offer: bytes, negotiation: Negotiation) -> bytes:
        """The engine's answer to ``offer``, following siplab's ``negotiation`` (codec order,
        telephone-events, which streams)."""
        events: list[Codec] = []
        for stream in negotiation.streams:
            if not stream.accepted:
                continue
            if stream.media == "audio" and self._audio is None:
                codecs = [c for c in stream.kept if not c.is_telephone_event]
                events += [c for c in stream.kept if c.is_telephone_event]
                self._audio = self._add_audio(self._preferences(codecs))
            elif stream.media == "video" and self.video_enabled and self.pattern is None:
                self._add_video()
            elif stream.media == "application" and self.data_channel is None:
                self.data_channel = DataChannel()  # bound when the peer's channel arrives
        text = offer.decode("utf-8")
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=text, type="offer"))
            answer = await self.pc.createAnswer()
        except Exception as error:  # aiortc raises its own errors, and ValueError
            raise WebRtcError(f"aiortc cannot answer this offer: {error}") from error
        await self._set_local(answer)
        sd = add_telephone_events(parse(self.pc.localDescription.sdp), events)
        self._remember_ssrc(sd)
        self._negotiated()
        return str(sd).encode("utf-8")

    async def accept_answer(self, answer: bytes) -> None:
        """The peer's answer to our offer: aiortc starts ICE, DTLS and the media."""
        if self._audio is not None and self.params is not None:
            # Send with the codec the answer chose (siplab's reading of it), the others after.
            chosen = self._preferences([self.params.codec, *self.params.codecs])
            self._audio.setCodecPreferences(chosen)
        try:
            await self.pc.setRemoteDescription(
                RTCSessionDescription(sdp=answer.decode("utf-8"), type="answer"))
        except Exception as error:
            raise WebRtcError(f"aiortc cannot take this answer: {error}") from error
        self._negotiated()

    async def _set_local(self, description: RTCSessionDescription) -> None:
        # aiortc gathers ICE candidates here: on the addresses siplab chose.
        with host_addresses_scope(self.ice_addresses):
            await self.pc.setLocalDescription(description)

    def _preferences(self, codecs: Sequence[Codec | CodecSpec]) -> list[RTCRtpCodecCapability]:
        """aiortc's capabilities for ``codecs``, in that order (unknown ones left out)."""
        available = RTCRtpSender.getCapabilities("audio").codecs
        chosen: list[RTCRtpCodecCapability] = []
        for codec in codecs:
            for capability in available:
                same = capability.mimeType.lower() == f"audio/{codec.name.lower()}"
                if same and capability.clockRate == codec.clock_rate and capability not in chosen:
                    chosen.append(capability)
        if not chosen:
            names = ", ".join(c.name for c in codecs) or "none"
            raise WebRtcError(f"aiortc has none of these audio codecs: {names}")
        return chosen

    def _add_audio(self, preferences: list[RTCRtpCodecCapability]) -> RTCRtpTransceiver:
        transceiver = self.pc.addTransceiver(self.track, direction="sendrecv")
        transceiver.setCodecPreferences(preferences)
        return transceiver

    def _add_video(self) -> None:
        self.pattern = PatternTrack()
        transceiver = self.pc.addTransceiver(self.pattern, direction="sendrecv")
        video = RTCRtpSender.getCapabilities("video").codecs
        transceiver.setCodecPreferences(
            [c for c in video if c.mimeType.lower() in ("video/vp8", "video/rtx")])

    def _remember_ssrc(self, sd: Any) -> None:
        audio = next((m for m in sd.media if m.media == "audio"), None)
        if audio is not None and audio.ssrcs:
            self.local_ssrc = audio.ssrcs[0]

    def _negotiated(self) -> None:
        """Both descriptions are set: tap the bundled transport (DTMF in, statistics)."""
        transceivers = self.pc.getTransceivers()
        if transceivers:
            self._transport = transceivers[0].receiver.transport
        elif self.pc.sctp is not None:
            self._transport = self.pc.sctp.transport
        if self._transport is not None:
            tap_rtp(self._transport, self._tap)
            tap_rtcp(self._transport, self._on_rtcp)

    # -- the negotiation becomes sound -------------------------------------------------------

    def start(self, params: MediaParameters) -> None:
        """Play and record as ``params`` (the negotiated audio stream) says."""
        if self.started:
            raise InvalidStateError("the endpoint is already started: use update()")
        self.track.configure(params.codec_name, params.clock_rate)
        self.receiver = ReceiverStats(params.clock_rate)
        rate = params.telephone_event_rate or 8000
        callback, heard = self.dtmf.on_digit, self.dtmf.heard
        self.dtmf = DtmfChannel(self._loop, RtpSender(params.telephone_event_pt or 101, rate,
                                                      ids=self._ids))
        self.dtmf.heard = heard  # (digits that came by INFO before the media started)
        self.update(params, on_digit=callback)
        self._play_tick = MediaScheduler.for_loop(self._loop).add(self._play, _PLAY_EVERY)

    def update(self, params: MediaParameters,
               on_digit: Callable[[str], None] | None = None) -> None:
        """A re-INVITE changed the direction (hold, resume) or the DTMF payload type."""
        if on_digit is not None:
            self.dtmf.on_digit = on_digit
        self.params = params
        self._audio_pts = frozenset(c.payload_type for c in params.codecs
                                    if not c.is_telephone_event)
        self._event_pts = frozenset(c.payload_type for c in params.codecs
                                    if c.is_telephone_event)
        self.dtmf.configure(params.telephone_event_pt)
        self.playout.configure(params, round(params.clock_rate * _PLAY_EVERY))
        self.track.sending = params.direction.sends
        if params.direction.receives and not self._playing and self._play_tick is not None:
            self.playout.restart()  # resume: a new talkspurt, no silence for the hold
        self._playing = params.direction.receives

    # -- received media ----------------------------------------------------------------------

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "video":  # audio never reaches aiortc's track: _tap plays it
            self._spawn(self._show_video(track))

    def _play(self, scheduled: float, now: float) -> None:
        """The media clock's tick: decode and record what the jitter buffer has due."""
        if self._playing:
            self.playout.play(now)

    async def _show_video(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            self.video.write(frame, self._loop.time())  # type: ignore[arg-type]

    def _on_datachannel(self, channel: RTCDataChannel) -> None:
        if self.data_channel is None:
            self.data_channel = DataChannel()
        self.data_channel.bind(channel)

    def _on_connection_state(self) -> None:
        state = self.pc.connectionState
        logger.info("WebRTC connection %s", state)
        if state == "connected" and not self._connected.done():
            self.connected_time = self._loop.time()
            self._connected.set_result(None)
        elif state in ("failed", "closed") and not self._connected.done():
            self._connected.set_exception(WebRtcError(f"the connection {state}"))
            self._connected.exception()
        if state in ("failed", "closed") and self.reports is not None:
            self.reports.stop()

    def _tap(self, data: bytes, arrival_ms: int) -> bool:
        """Every decrypted RTP packet, before aiortc: events and audio are ours (True:
        aiortc never sees them), video goes on to aiortc's decoder."""
        payload_type = data[1] & 0x7F
        if payload_type not in self._event_pts and payload_type not in self._audio_pts:
            return False
        now = self._loop.time()
        try:
            packet = parse_rtp(data)
        except RtpParseError:
            self.packets_ignored += 1
            return False
        if payload_type in self._event_pts:
            self.dtmf.receive(packet, now)
            self._arm_dtmf_timer()
            return True
        self.packets_received += 1
        self.octets_received += len(packet.payload)
        if self.first_packet_time is None:
            self.first_packet_time = now
            self._start_reports()
        self.remote_ssrc = packet.ssrc
        self.receiver.receive(packet, now)
        self.wireshark.receive(packet, now)
        if self._playing:  # on hold, what arrives is not played (nor recorded)
            self.playout.push(packet, now, audio=True)
        return True

    def _start_reports(self) -> None:
        """The first audio packet: report on it as our audio source (webrtc_rtcp)."""
        if self._transport is None or self.reports is not None or self.closed:
            return
        cname = cname_in_sdp(self.pc.localDescription.sdp, self.local_ssrc)
        self.reports = AudioReports(self._loop, self._transport, self.receiver,
                                    ssrc=self.local_ssrc, cname=cname, ids=self._ids,
                                    spawn=self._spawn, interval=self.rtcp_interval)
        self.reports.start()

    def _on_rtcp(self, data: bytes) -> None:
        if self.reports is not None:
            self.reports.receive(data)

    def _arm_dtmf_timer(self) -> None:
        if self._dtmf_timer is not None:
            self._dtmf_timer.cancel()
        receiver = self.dtmf.receiver
        when = receiver.get_timer() if receiver is not None else None
        if when is not None:
            self._dtmf_timer = self._loop.call_at(
                when, lambda: self.dtmf.handle_timer(self._loop.time()))

    # -- DTMF out ------------------------------------------------------------------------------

    def send_dtmf(self, digits: str, method: str = "rfc4733") -> asyncio.Future[None]:
        """Press keys as RFC 4733 events; the future is done when the last end packet left."""
        if method != "rfc4733":
            raise LocalProtocolError("the media sends RFC 4733 events; INFO is the Session's")
        if self.dtmf.sender is None:
            raise LocalProtocolError("the peer negotiated no telephone-event: no RFC 4733 DTMF")
        if not self.sending:
            raise InvalidStateError("not sending (recvonly or inactive): no DTMF either")
        waiter = self.dtmf.send(digits)
        if self._dtmf_pump is None or self._dtmf_pump.done():
            self._dtmf_pump = asyncio.ensure_future(self._pump_dtmf())
        return waiter

    async def _pump_dtmf(self) -> None:
        sender = self.dtmf.sender
        while sender is not None and sender.busy and not self.closed:
            when = sender.get_timer()
            if when is not None:
                await asyncio.sleep(max(0.0, when - self._loop.time()))
            for packet in self.dtmf.poll(self._loop.time()):
                if self._transport is not None:
                    await send_rtp(self._transport, packet.to_bytes())
        self.dtmf.finish()

    def record_dtmf(self, digit: str) -> None:
        """A key that came another way (SIP INFO): kept with the RFC 4733 ones."""
        self.dtmf.record(digit)

    # -- numbers -------------------------------------------------------------------------------

    def stats(self) -> RtpStats:
        """The same snapshot as the plain path's (sent = frames given to aiortc's encoder)."""
        params = self.params
        track = self.track
        reports = self.reports
        return RtpStats(
            codec=self.codec, payload_type=params.payload_type if params else None,
            ssrc=self.local_ssrc, remote_ssrc=self.remote_ssrc, remote_address=None,
            packets_sent=track.frames_sent, octets_sent=0, late_sent=track.late_sent,
            frames_skipped=track.frames_skipped, packets_received=self.packets_received,
            octets_received=self.octets_received, packets_ignored=self.packets_ignored,
            expected=self.receiver.expected, lost=self.receiver.lost,
            reordered=self.receiver.reordered, duplicates=self.receiver.duplicates,
            jitter_ms=self.receiver.jitter_ms, max_delta_ms=self.wireshark.max_delta,
            max_jitter_ms=self.wireshark.max_jitter, mean_jitter_ms=self.wireshark.mean_jitter,
            wireshark_lost=self.wireshark.lost, frames_played=self.frames_played,
            concealed_frames=self.playout.concealed_frames,
            late_arrivals=self.playout.late_arrivals, first_packet_time=self.first_packet_time,
            first_audio_time=self.first_audio_time,
            rtcp_sent=reports.sent if reports else 0,
            rtcp_received=reports.received if reports else 0,
            rtt_ms=reports.rtt * 1000 if reports and reports.rtt is not None else None,
        )

    async def peer_stats(self) -> dict[str, Any]:
        """aiortc's own ``getStats()`` report (W3C webrtc-stats), as a dict of dicts."""
        report = await self.pc.getStats()
        return {key: vars(value) for key, value in report.items()}

    # -- the end -------------------------------------------------------------------------------

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Close the peer connection: ICE, DTLS, SCTP, tracks; every task ended."""
        if self.closed:
            return
        self.closed = True
        if self.reports is not None:
            self.reports.stop()
        if self._play_tick is not None:
            self._play_tick.cancel()
        if self._dtmf_timer is not None:
            self._dtmf_timer.cancel()
        if self._dtmf_pump is not None:
            self._dtmf_pump.cancel()
        self.dtmf.finish()
        await self.pc.close()
        self.track.stop()
        if self.pattern is not None:
            self.pattern.stop()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._dtmf_pump is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._dtmf_pump
        if not self._connected.done():
            self._connected.set_exception(WebRtcError("closed before connecting"))
            self._connected.exception()

    async def __aenter__(self) -> WebRtcEndpoint:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
