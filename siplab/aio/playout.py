"""Playing a received RTP stream: jitter buffer, decoding, concealment, into a sink.

Packets arrive when the network delivers them; audio must come out at the
pace it was recorded. :class:`Playout` holds each packet in a
:class:`~siplab.rtp.JitterBuffer` for a small delay (20 ms by default) and,
when the packet's turn comes, decodes it with the codec its payload type
names (:mod:`siplab.aio.codecs`) and writes the samples to the
:class:`~siplab.aio.audio.AudioSink`.

**Concealment.** The RTP timestamp says where each packet belongs on the
time line (RFC 3550 §5.1). When the next packet played is further on than
the previous one ended, packets are missing (lost, or dropped for arriving too
late): the gap is filled with silence of exactly that length, so a recording
keeps its timing and a sample at 1.5 s in the recording is what was sent
1.5 s into the call. Real phones fill the gap with something less audible
(repeating and fading the last frame, or the codec's own packet loss
concealment); silence is the simplest form, and the easiest to see in a plot.

**Restarts.** A new sender SSRC, a jump of the timestamps by more than two
seconds, or resuming after a hold starts the playout afresh: a new jitter
buffer and no silence for the time in between.

The first packet of a talk is played exactly when its delay is over (a timer),
not at the next 20 ms tick: call setup time is measured to that moment
(:attr:`Playout.first_audio_time`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import numpy as np

from siplab.aio.audio import AudioSink
from siplab.aio.codecs import CodecUnavailable, Decoder, decoder
from siplab.rtp import JitterBuffer, RtpPacket, timestamp_delta

if TYPE_CHECKING:
    from siplab.sdp import MediaParameters

__all__ = ["Playout", "MAX_TIMESTAMP_JUMP"]

logger = logging.getLogger("siplab.aio.playout")

#: A timestamp jump larger than this (seconds) restarts playout instead of filling silence.
MAX_TIMESTAMP_JUMP = 2.0


class Playout:
    """The receiving half of an RTP endpoint: from packets to a sink, on time."""

    def __init__(self, loop: asyncio.AbstractEventLoop, delay: float) -> None:
        self._loop = loop
        self.delay = delay
        self.sink: AudioSink | None = None
        self.params: MediaParameters | None = None
        self.frames_played = 0
        self.concealed_frames = 0
        self._late_before = 0  # late packets of jitter buffers already replaced
        #: Loop time when the first decoded frame reached the sink (setup-time benchmarks).
        self.first_audio_time: float | None = None
        self._decoders: dict[int, Decoder | None] = {}
        self._jitter: JitterBuffer | None = None
        self._next_play_ts: int | None = None  # where the last played frame ended
        self._last_arrival_ts: int | None = None
        self._frame_step = 160  # timestamp units per received frame, to count concealed ones

    @property
    def late_arrivals(self) -> int:
        """Packets that came after their turn had passed, and were dropped."""
        return self._late_before + (self._jitter.late if self._jitter is not None else 0)

    @property
    def buffered(self) -> int:
        """Packets waiting in the jitter buffer."""
        return len(self._jitter) if self._jitter is not None else 0

    def configure(self, params: MediaParameters, frame_step: int) -> None:
        """Take (re)negotiated parameters: the payload type map, the clock."""
        old = self.params
        self.params = params
        self._frame_step = frame_step
        if old is None or old.codecs != params.codecs:
            self._decoders.clear()
        if old is None or old.clock_rate != params.clock_rate:
            self.restart()

    def restart(self) -> None:
        """Start afresh: an empty jitter buffer, and no silence for the time in between."""
        if self._jitter is not None:
            self._late_before += self._jitter.late
        clock = self.params.clock_rate if self.params is not None else 8000
        self._jitter = JitterBuffer(clock, self.delay)
        self._next_play_ts = None
        self._last_arrival_ts = None

    def push(self, packet: RtpPacket, now: float, *, audio: bool) -> None:
        """Hold a packet that arrived at ``now``; ``audio`` is False for telephone-events,
        which are buffered only so that the sequence numbers have no holes."""
        if audio:
            self._check_jump(packet)
        jitter = self._jitter
        if jitter is None:
            return
        if self._next_play_ts is None and not len(jitter):
            # The first packet of a talk: play it exactly when due, not at the next tick.
            self._loop.call_at(now + self.delay, self._play_first)
        jitter.push(packet, now)

    def _check_jump(self, packet: RtpPacket) -> None:
        last = self._last_arrival_ts
        self._last_arrival_ts = packet.timestamp
        if last is None or self.params is None:
            return
        limit = MAX_TIMESTAMP_JUMP * self.params.clock_rate
        if abs(timestamp_delta(packet.timestamp, last)) > limit:
            self.restart()
            self._last_arrival_ts = packet.timestamp

    def _play_first(self) -> None:
        if self._next_play_ts is None and self._jitter is not None:
            self.play(self._loop.time())

    def play(self, now: float) -> None:
        """Decode and write every packet due by ``now``, filling holes with silence."""
        jitter = self._jitter
        params = self.params
        if jitter is None or params is None or not len(jitter):
            return
        sink = self.sink
        decoders = self._decoders
        for packet in jitter.pop(now):
            payload_type = packet.payload_type
            if payload_type == params.telephone_event_pt:
                continue  # DTMF was handled on arrival
            codec = (decoders[payload_type] if payload_type in decoders
                     else self._decoder_for(payload_type))
            if codec is None:
                continue
            ratio = codec.audio_rate / codec.clock_rate
            if self._next_play_ts is not None:
                # timestamp_delta(packet.timestamp, self._next_play_ts), written out
                gap = ((packet.timestamp - self._next_play_ts + 0x80000000) & 0xFFFFFFFF
                       ) - 0x80000000
                if gap > 0:  # frames that never came: silence of the same length
                    self.concealed_frames += max(1, round(gap / self._frame_step))
                    if sink is not None:
                        sink.write(np.zeros(round(gap * ratio), dtype=np.int16), codec.audio_rate)
            if sink is not None:
                samples = codec.decode(packet.payload)
                sink.write(samples, codec.audio_rate)
                duration = round(samples.size / ratio)
                if duration:
                    self._frame_step = duration  # the peer's packet time, for counting
            else:
                duration = self._frame_step
            self._next_play_ts = (packet.timestamp + duration) & 0xFFFFFFFF
            self.frames_played += 1
            if self.first_audio_time is None:
                self.first_audio_time = now

    def _decoder_for(self, payload_type: int) -> Decoder | None:
        if payload_type in self._decoders:
            return self._decoders[payload_type]
        assert self.params is not None
        codec = self.params.codec_for(payload_type)
        found: Decoder | None = None
        if codec is not None and not codec.is_telephone_event:
            try:
                found = decoder(codec.name, codec.clock_rate)
            except CodecUnavailable:
                logger.warning("cannot decode %s: its packets are ignored", codec.label)
        self._decoders[payload_type] = found
        return found
