"""Media in and out of an aiortc peer connection: siplab's sources as tracks, frames as arrays.

aiortc moves media as *tracks* (W3C Media Capture: ``MediaStreamTrack``): the
sender calls ``await track.recv()`` for each frame it encodes, so the track sets
the pace; a received track hands out decoded frames the same way. This module
joins those tracks to what the rest of siplab uses:

* :class:`SourceTrack` reads an :class:`~siplab.aio.audio.AudioSource` (a
  tone, a WAV file, silence) one 20 ms frame at a time, at the sample rate of
  the negotiated codec (8 kHz for G.711, 16 kHz for G.722, 48 kHz for Opus), on
  a schedule computed from its start time (no drift), and pauses while the call
  does not send (hold: RFC 3264 §8.4). It encodes each frame with siplab's own
  encoders (:mod:`siplab.aio.codecs`, the plain path's) and hands aiortc the
  encoded payload as an ``av.Packet``: aiortc then only numbers, encrypts and
  sends it, with no resampling and no hop to a worker thread per frame. It
  counts frames that left late, for the benchmark.
* :class:`PatternTrack` draws a test pattern with numpy (colour bars, a moving
  bar and the frame number written as 16 black or white squares) for a VP8
  video stream.
* :func:`frame_samples` turns a decoded ``av.AudioFrame`` into the int16 mono
  array a :class:`~siplab.aio.audio.Recorder` takes; :class:`VideoSink` keeps
  received video frames as ``(height, width, 3)`` RGB arrays a notebook can
  show with ``plt.imshow``; :func:`pattern_number` reads the frame number back.
"""

from __future__ import annotations

import asyncio
import fractions
from collections import deque
from collections.abc import Callable
from typing import Any

import av
import numpy as np
import numpy.typing as npt
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from siplab.aio.audio import AudioSource, Samples
from siplab.aio.codecs import Encoder, encoder

__all__ = [
    "SourceTrack",
    "PatternTrack",
    "VideoSink",
    "frame_samples",
    "pattern_number",
    "VIDEO_CLOCK",
]

#: RTP clock of every video codec (RFC 3551 §5: 90 kHz).
VIDEO_CLOCK = 90000
#: A sender that falls this far behind its schedule skips frames rather than bursting.
_MAX_LAG = 0.1
#: Width of one square of the frame number in the test pattern (16 squares).
_SQUARE = 16

Image = npt.NDArray[np.uint8]


class _Paced:
    """A schedule of frames every ``interval`` seconds from a start time, on the loop's clock."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.start: float | None = None
        self.index = 0
        self.late = 0  # frames handed out more than one interval after their schedule
        self.skipped = 0  # frames never produced: the loop stalled past _MAX_LAG
        self.max_lag = 0.0

    def restart(self) -> None:
        self.start = None

    async def next(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self.start is None:
            self.start, self.index = now, 0
            return
        self.index += 1
        due = self.start + self.index * self.interval
        if due > now:
            await asyncio.sleep(due - now)
            now = loop.time()
        lag = now - due
        self.max_lag = max(self.max_lag, lag)
        if lag > _MAX_LAG:
            missed = int(lag / self.interval)
            self.index += missed
            self.skipped += missed
        if lag > self.interval:
            self.late += 1


class SourceTrack(MediaStreamTrack):
    """An audio track that plays an :class:`AudioSource`: one encoded ``ptime`` frame per recv().

    :meth:`configure` with the negotiated codec before aiortc starts sending.
    """

    kind = "audio"

    def __init__(self, source: AudioSource, *, ptime_ms: int = 20) -> None:
        super().__init__()
        self.source = source
        self.ptime_ms = ptime_ms
        self.codec: str | None = None
        self.rate = 8000  # the codec's audio rate
        self.frames_sent = 0
        self._encoder: Encoder | None = None
        self._configured = asyncio.Event()
        self._timestamp = 0  # RTP clock units since the first frame
        self._schedule = _Paced(ptime_ms / 1000)
        self._sending = asyncio.Event()
        self._sending.set()

    def configure(self, codec: str, clock_rate: int) -> None:
        """Encode with ``codec`` (an SDP name) from now on."""
        self._encoder = encoder(codec, clock_rate, ptime=self.ptime_ms)
        self.codec = codec
        self.rate = self._encoder.audio_rate
        self._configured.set()

    @property
    def sending(self) -> bool:
        return self._sending.is_set()

    @sending.setter
    def sending(self, value: bool) -> None:
        if value and not self._sending.is_set():
            self._schedule.restart()  # resume on a fresh schedule, not with a burst
            self._sending.set()
        elif not value:
            self._sending.clear()

    @property
    def late_sent(self) -> int:
        return self._schedule.late

    @property
    def frames_skipped(self) -> int:
        return self._schedule.skipped

    @property
    def max_lag(self) -> float:
        """The worst lateness of a frame so far, in seconds (``reset_max_lag()`` to restart)."""
        return self._schedule.max_lag

    def reset_max_lag(self) -> None:
        self._schedule.max_lag = 0.0

    async def recv(self) -> av.Packet[Any]:
        """The next frame, encoded, when it is due (aiortc's sender waits for it)."""
        if self.readyState != "live":
            raise MediaStreamError
        await self._configured.wait()
        while not self._sending.is_set():
            await self._sending.wait()
        await self._schedule.next()
        codec = self._encoder
        assert codec is not None
        samples = self.source.read(codec.frame_samples(self.ptime_ms), codec.audio_rate)
        packet = av.Packet(codec.encode(samples))
        packet.pts = self._timestamp
        packet.time_base = fractions.Fraction(1, codec.clock_rate)
        self._timestamp += codec.timestamp_step(self.ptime_ms)
        self.frames_sent += 1
        return packet


def frame_samples(frame: av.AudioFrame) -> tuple[Samples, int]:
    """A decoded audio frame as (int16 mono samples, rate): the first channel of each sample."""
    data = frame.to_ndarray()
    channels = len(frame.layout.channels)
    interleaved = not frame.format.is_planar and channels > 1
    mono = data.reshape(-1, channels)[:, 0] if interleaved else data[0]
    if mono.dtype != np.int16:
        mono = np.clip(np.asarray(mono, dtype=np.float64) * 32767, -32768, 32767)
    return np.ascontiguousarray(mono, dtype=np.int16), int(frame.sample_rate)


# --- video ------------------------------------------------------------------------------


def _background(width: int, height: int) -> Image:
    """Seven colour bars (white, yellow, cyan, green, magenta, red, blue), as on a test card."""
    bars = np.array([[235, 235, 235], [235, 235, 16], [16, 235, 235], [16, 235, 16],
                     [235, 16, 235], [235, 16, 16], [16, 16, 235]], dtype=np.uint8)
    columns = (np.arange(width) * len(bars)) // width
    return np.broadcast_to(bars[columns][None, :, :], (height, width, 3)).copy()


def pattern_number(image: Image) -> int:
    """The frame number a :class:`PatternTrack` wrote in its top row (robust to VP8's blur)."""
    squares = image[: _SQUARE, : 16 * _SQUARE].astype(np.int32)
    centres = squares[_SQUARE // 2, _SQUARE // 2::_SQUARE].mean(axis=1)
    return sum(1 << bit for bit, level in enumerate(centres[:16]) if level > 128)


class PatternTrack(MediaStreamTrack):
    """A video track of generated frames: colour bars, a moving bar, the frame number."""

    kind = "video"

    def __init__(self, *, width: int = 320, height: int = 240, fps: int = 15) -> None:
        super().__init__()
        if width < 16 * _SQUARE or height < 2 * _SQUARE:
            raise ValueError(f"the pattern needs at least {16 * _SQUARE}x{2 * _SQUARE} pixels")
        self.width, self.height, self.fps = width, height, fps
        self.frames_sent = 0
        self._background = _background(width, height)
        self._schedule = _Paced(1 / fps)

    def image(self, number: int) -> Image:
        """Frame ``number`` of the pattern, as an RGB array."""
        picture = self._background.copy()
        x = (number * 4) % self.width
        picture[2 * _SQUARE:, x:x + 8] = 255 - picture[2 * _SQUARE:, x:x + 8]
        picture[:_SQUARE, : 16 * _SQUARE] = 0
        for bit in range(16):
            if number >> bit & 1:
                picture[:_SQUARE, bit * _SQUARE:(bit + 1) * _SQUARE] = 255
        return picture

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        await self._schedule.next()
        number = self._schedule.index
        frame = av.VideoFrame.from_ndarray(self.image(number), format="rgb24")
        frame.pts = number * (VIDEO_CLOCK // self.fps)
        frame.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        self.frames_sent += 1
        return frame


class VideoSink:
    """Received video frames as RGB arrays: the last ``keep``, a count, and a callback."""

    def __init__(self, keep: int = 30) -> None:
        self.frames: deque[Image] = deque(maxlen=keep)
        self.count = 0
        self.first_time: float | None = None
        self.on_frame: Callable[[Image], Any] | None = None

    def write(self, frame: av.VideoFrame, now: float) -> None:
        image: Image = np.asarray(frame.to_ndarray(format="rgb24"), dtype=np.uint8)
        self.frames.append(image)
        self.count += 1
        if self.first_time is None:
            self.first_time = now
        if self.on_frame is not None:
            self.on_frame(image)

    @property
    def last(self) -> Image | None:
        """The latest frame (``plt.imshow(session.video.last)``), or None."""
        return self.frames[-1] if self.frames else None

    def __len__(self) -> int:
        return self.count

    def __repr__(self) -> str:
        shape = "x".join(map(str, self.last.shape)) if self.last is not None else "no frame"
        return f"<VideoSink {self.count} frames, {shape}>"
