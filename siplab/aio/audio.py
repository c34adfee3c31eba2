"""Audio in and out of a call: sources that feed the encoder, sinks that take what was heard.

An RTP endpoint (:mod:`siplab.aio.rtp`) sends one packet every 20 ms. Each
time it asks its *source* for exactly one frame of audio at the rate its codec
wants (8000 samples/s for G.711, 16000 for G.722, 48000 for Opus) and hands
each decoded frame to its *sink*. Audio here is always a numpy ``int16`` array
of mono samples, the form the codecs take and a notebook plots or plays with
``IPython.display.Audio(recorder.samples, rate=recorder.rate)``.

Sources (the :class:`AudioSource` protocol, ``read(samples, rate)``):

* :class:`ToneSource` -- a sine wave, phase-continuous from one frame to the
  next (a frame boundary must not click);
* :class:`WavSource` -- a WAV file read with the standard library's
  :mod:`wave` (8, 16 or 48 kHz or any other rate; stereo is mixed to mono);
* :class:`ArraySource` -- samples you computed;
* :class:`SilenceSource` -- zeros, what a phone sends when muted.

Sinks (the :class:`AudioSink` protocol, ``write(samples, rate)``):

* :class:`Recorder` -- keeps everything heard, at one rate, and writes it to
  a WAV file.

**Resampling.** A source whose native rate differs from the rate asked for
converts it with :func:`resample`: band-limited (windowed-sinc) interpolation,
the textbook way to change a sampled signal's rate without folding
frequencies above the new Nyquist frequency (half the rate) back into the
band. A 1 kHz tone stays a 1 kHz tone at 8, 16 and 48 kHz.
"""

from __future__ import annotations

import math
import wave
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from siplab.errors import LocalProtocolError

__all__ = [
    "Samples",
    "AudioSource",
    "AudioSink",
    "ToneSource",
    "WavSource",
    "ArraySource",
    "SilenceSource",
    "Recorder",
    "source_from",
    "resample",
    "read_wav",
    "write_wav",
]

#: Mono audio: 16-bit signed samples.
Samples = npt.NDArray[np.int16]


@runtime_checkable
class AudioSource(Protocol):
    """Something that produces audio on demand, one frame at a time."""

    def read(self, samples: int, rate: int) -> Samples:
        """Exactly ``samples`` int16 mono samples at ``rate`` samples per second."""
        ...


@runtime_checkable
class AudioSink(Protocol):
    """Something that takes decoded audio as it is played out."""

    def write(self, samples: Samples, rate: int) -> None:
        """Take ``samples`` (int16 mono) at ``rate`` samples per second."""
        ...


# --- resampling -----------------------------------------------------------------

#: Zero crossings of the sinc kernel on each side; more means a sharper filter.
_HALF_WIDTH = 16
#: Output samples computed per block, to bound the temporary index matrix.
_BLOCK = 4096


def resample(samples: npt.ArrayLike, from_rate: int, to_rate: int) -> Samples:
    """``samples`` taken at ``from_rate`` converted to ``to_rate`` (int16, mono).

    Each output sample is a weighted sum of the input samples around its
    position, weighted by a sinc low-pass kernel (cut-off at the lower of the
    two Nyquist frequencies) shaped by a Kaiser window. The output has
    ``round(len * to_rate / from_rate)`` samples and no delay: output sample
    k sits at time ``k / to_rate``, as input sample n sits at ``n / from_rate``.
    """
    if from_rate <= 0 or to_rate <= 0:
        raise LocalProtocolError(f"sample rates must be positive, not {from_rate} and {to_rate}")
    x = np.asarray(samples)
    if from_rate == to_rate:
        return _to_int16(x)
    x = x.astype(np.float64)
    n_out = round(x.size * to_rate / from_rate)
    if x.size == 0 or n_out == 0:
        return np.zeros(n_out, dtype=np.int16)
    # Output sample k sits at input position k * from_rate / to_rate = (k * down) / up.
    common = math.gcd(from_rate, to_rate)
    up, down = to_rate // common, from_rate // common
    cutoff = min(1.0, to_rate / from_rate)  # fraction of the input Nyquist frequency kept
    half = math.ceil(_HALF_WIDTH / cutoff)  # kernel half-width in input samples
    taps = np.arange(-half + 1, half + 1)
    padded = np.concatenate([np.zeros(half), x, np.zeros(half + 1)])
    # The fractional part of a position takes only ``up`` values: one row of weights each
    # (unless the ratio is awkward, such as 44099/8000: then weights are computed per sample).
    table = None
    if up <= 1024:
        table = _kernel(np.arange(up)[:, None] / up - taps[None, :], cutoff, half)
    out = np.empty(n_out, dtype=np.float64)
    for start in range(0, n_out, _BLOCK):
        k = np.arange(start, min(start + _BLOCK, n_out), dtype=np.int64)
        base, phase = np.divmod(k * down, up)
        index = base[:, None] + taps[None, :] + half  # into ``padded``
        if table is not None:
            weights = table[phase]
        else:
            weights = _kernel((phase / up)[:, None] - taps[None, :], cutoff, half)
        out[start : start + k.size] = np.einsum("ij,ij->i", padded[index], weights)
    return _to_int16(out)


def _kernel(
    distance: npt.NDArray[np.float64], cutoff: float, half: int, beta: float = 8.0
) -> npt.NDArray[np.float64]:
    """Low-pass sinc at ``distance`` input samples, tapered by a Kaiser window ``half`` wide."""
    inside = np.clip(1.0 - (distance / half) ** 2, 0.0, None)
    window = np.i0(beta * np.sqrt(inside)) / np.i0(beta)
    kernel: npt.NDArray[np.float64] = cutoff * np.sinc(cutoff * distance) * window
    return kernel


def _to_int16(x: npt.NDArray[Any]) -> Samples:
    if x.dtype == np.int16:
        return x
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


# --- WAV files (stdlib wave) ------------------------------------------------------


def read_wav(path: str | Path) -> tuple[Samples, int]:
    """The samples of a PCM WAV file, mixed to mono int16, and its rate.

    8-bit (unsigned), 16-, 24- and 32-bit integer PCM are read; several
    channels are averaged into one.
    """
    with wave.open(str(path), "rb") as wav:
        channels = wav.getnchannels()
        width = wav.getsampwidth()
        rate = wav.getframerate()
        raw = wav.readframes(wav.getnframes())
    if width == 1:
        data = (np.frombuffer(raw, dtype=np.uint8).astype(np.int32) - 128) << 8
    elif width == 2:
        data = np.frombuffer(raw, dtype="<i2").astype(np.int32)
    elif width == 3:
        octets = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        value = octets[:, 0] | (octets[:, 1] << 8) | (octets[:, 2] << 16)
        data = np.where(value & 0x800000, value - (1 << 24), value) >> 8
    elif width == 4:
        data = np.frombuffer(raw, dtype="<i4") >> 16
    else:
        raise LocalProtocolError(f"{path}: {8 * width}-bit WAV samples are not supported")
    if channels > 1:
        data = data[: data.size // channels * channels].reshape(-1, channels).mean(axis=1)
    return _to_int16(np.asarray(data)), rate


def write_wav(path: str | Path, samples: npt.ArrayLike, rate: int) -> None:
    """Write mono int16 samples as a 16-bit PCM WAV file."""
    data = _to_int16(np.asarray(samples))
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(data.astype("<i2").tobytes())


# --- sources ------------------------------------------------------------------------


class ToneSource:
    """A sine of ``freq`` Hz at ``amplitude`` (a fraction of full scale), phase-continuous.

    The phase is carried from one ``read`` to the next, so consecutive frames
    join without a click even when the rate changes between them.
    """

    def __init__(self, freq: float = 1000.0, amplitude: float = 0.5) -> None:
        if not 0 <= amplitude <= 1:
            raise LocalProtocolError(f"amplitude {amplitude} is not a fraction of full scale")
        if freq < 0:
            raise LocalProtocolError(f"frequency {freq} is negative")
        self.freq = freq
        self.amplitude = amplitude
        self._phase = 0.0  # radians at the start of the next frame
        self._rate: int | None = None  # rate of the last read
        self._position = 0  # samples into the period at that rate
        self._tables: dict[int, tuple[Samples, int]] = {}
        # The frame size and rate of the last read cut from a table, and that table: the
        # next read of the same size is one slice (every 20 ms, in every call).
        self._fast_rate: int | None = None
        self._fast_samples = 0
        self._fast_wave: Samples | None = None
        self._fast_length = 1

    def _table(self, rate: int, samples: int) -> tuple[Samples, int] | None:
        """Whole periods of the tone covering ``samples`` plus one period, and the period.

        A whole-number frequency repeats exactly every ``rate / gcd(rate, freq)``
        samples (8 for 1 kHz at 8 kHz), so frames can be sliced from a table
        computed once instead of calling ``sin`` for every frame of every call.
        The table is kept as small as the frames need: with hundreds of calls,
        big tables would crowd each other out of the processor's cache.
        """
        if self.freq != int(self.freq) or samples > rate:
            return None
        found = self._tables.get(rate)
        if found is None or found[0].size < samples + found[1]:
            length = rate // math.gcd(rate, int(self.freq))
            size = (samples // length + 2) * length
            wave = np.sin(2 * math.pi * self.freq * np.arange(size) / rate)
            table = np.round(self.amplitude * 32767.0 * wave).astype(np.int16)
            found = self._tables[rate] = (table, length)
        return found

    def read(self, samples: int, rate: int) -> Samples:
        if rate == self._fast_rate and samples == self._fast_samples:
            wave = self._fast_wave
            assert wave is not None
            start = self._position
            self._position = (start + samples) % self._fast_length
            return wave[start : start + samples].copy()
        if self._fast_rate is not None:  # the phase the fast reads left (see below)
            self._phase = (2 * math.pi * self.freq / self._fast_rate * self._position) % (
                2 * math.pi
            )
            self._fast_rate = None
        increment = 2 * math.pi * self.freq / rate
        table = self._table(rate, samples)
        if rate != self._rate:  # carry the phase over to the new rate
            self._rate = rate
            self._position = round(self._phase / increment) if increment else 0
            if table is not None:
                self._position %= table[1]
        if table is not None:
            wave, length = table
            start = self._position
            self._position = (start + samples) % length
            self._phase = (increment * self._position) % (2 * math.pi)
            # Until the size or the rate changes, read() slices without this arithmetic
            # and leaves the phase to be worked out from the position when it does.
            self._fast_rate, self._fast_samples = rate, samples
            self._fast_wave, self._fast_length = wave, length
            return wave[start : start + samples].copy()
        phases = self._phase + increment * np.arange(samples, dtype=np.float64)
        self._phase = (self._phase + increment * samples) % (2 * math.pi)
        self._position = round(self._phase / increment) if increment else 0
        return np.round(self.amplitude * 32767.0 * np.sin(phases)).astype(np.int16)

    def __repr__(self) -> str:
        return f"ToneSource(freq={self.freq}, amplitude={self.amplitude})"


class SilenceSource:
    """Zeros: a muted microphone."""

    def read(self, samples: int, rate: int) -> Samples:
        return np.zeros(samples, dtype=np.int16)

    def __repr__(self) -> str:
        return "SilenceSource()"


class ArraySource:
    """Plays ``samples`` (taken at ``rate``), then silence; from the start again if ``loop``.

    Converted once to each rate asked for (:func:`resample`), so a 16 kHz
    recording feeds a G.711 call and an Opus call alike.
    """

    def __init__(self, samples: npt.ArrayLike, rate: int, *, loop: bool = False) -> None:
        if rate <= 0:
            raise LocalProtocolError(f"sample rate {rate} is not positive")
        self.samples = _to_int16(np.asarray(samples).reshape(-1))
        self.rate = rate
        self.loop = loop
        self._position = 0.0  # seconds played so far: survives a change of rate
        self._converted: dict[int, Samples] = {rate: self.samples}

    @property
    def duration(self) -> float:
        """Length of the material in seconds."""
        return self.samples.size / self.rate

    @property
    def finished(self) -> bool:
        """True once everything was played (never for a looping source)."""
        return not self.loop and self._position >= self.duration

    def _at(self, rate: int) -> Samples:
        converted = self._converted.get(rate)
        if converted is None:
            converted = self._converted[rate] = resample(self.samples, self.rate, rate)
        return converted

    def read(self, samples: int, rate: int) -> Samples:
        material = self._at(rate)
        start = round(self._position * rate)
        self._position += samples / rate
        if material.size == 0:
            return np.zeros(samples, dtype=np.int16)
        if self.loop:
            index = (start + np.arange(samples)) % material.size
            return material[index]
        chunk = material[start : start + samples]
        if chunk.size < samples:
            chunk = np.concatenate([chunk, np.zeros(samples - chunk.size, dtype=np.int16)])
        return chunk

    def __repr__(self) -> str:
        return f"ArraySource({self.samples.size} samples at {self.rate} Hz, loop={self.loop})"


class WavSource(ArraySource):
    """Plays a WAV file (read whole with :func:`read_wav`), then silence, or loops it."""

    def __init__(self, path: str | Path, *, loop: bool = False) -> None:
        samples, rate = read_wav(path)
        super().__init__(samples, rate, loop=loop)
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"WavSource({str(self.path)!r}, loop={self.loop})"


def source_from(spec: AudioSource | str | Path | None) -> AudioSource:
    """A source from a command-line style spec.

    * ``None`` or ``"silence"`` -> :class:`SilenceSource`;
    * ``"tone:1000"`` (or ``"tone:1000:0.3"`` with an amplitude) -> :class:`ToneSource`;
    * ``"file.wav"`` or a :class:`~pathlib.Path` -> :class:`WavSource`
      (``"loop:file.wav"`` loops it);
    * an :class:`AudioSource` -> itself.
    """
    if spec is None:
        return SilenceSource()
    if isinstance(spec, Path):
        return WavSource(spec)
    if not isinstance(spec, str):
        if isinstance(spec, AudioSource):
            return spec
        raise LocalProtocolError(f"{spec!r} is not an audio source")
    if spec == "silence":
        return SilenceSource()
    if spec.startswith("tone:"):
        parts = spec.split(":")[1:]
        try:
            values = [float(p) for p in parts]
        except ValueError:
            values = []
        if len(values) not in (1, 2):
            raise LocalProtocolError(f"{spec!r}: write tone:FREQ or tone:FREQ:AMPLITUDE")
        return ToneSource(*values)
    if spec.startswith("loop:"):
        return WavSource(spec[len("loop:") :], loop=True)
    if not Path(spec).is_file():
        raise LocalProtocolError(f"{spec!r} is neither tone:FREQ, silence nor a WAV file")
    return WavSource(spec)


# --- sinks ----------------------------------------------------------------------------


class Recorder:
    """A sink that keeps everything heard, at one rate: ``.samples``, ``.rate``, ``.to_wav()``.

    ``rate=None`` takes the rate of the first write. Audio written at another
    rate later (the codec changed in a re-INVITE) is resampled to it, so the
    recording stays one time line.
    """

    def __init__(self, rate: int | None = None) -> None:
        self.rate = rate
        self._chunks: list[Samples] = []
        self._length = 0
        self._joined: Samples | None = np.zeros(0, dtype=np.int16)

    def write(self, samples: Samples, rate: int) -> None:
        if self.rate is None:
            self.rate = rate
        elif rate != self.rate:
            samples = resample(samples, rate, self.rate)
        self._chunks.append(samples)
        self._length += samples.size
        self._joined = None

    @property
    def samples(self) -> Samples:
        """Everything heard so far, one int16 array."""
        if self._joined is None:
            self._joined = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
            self._chunks = [self._joined]
        return self._joined

    def __len__(self) -> int:
        return self._length

    @property
    def duration(self) -> float:
        """Seconds heard."""
        return self._length / self.rate if self.rate else 0.0

    def rms(self) -> float:
        """Root-mean-square level of everything heard (0 for silence; 23170 for a full sine)."""
        x = self.samples.astype(np.float64)
        return float(np.sqrt(np.mean(x * x))) if x.size else 0.0

    def to_wav(self, path: str | Path) -> Path:
        """Write the recording as a mono 16-bit WAV file; returns the path."""
        write_wav(path, self.samples, self.rate or 8000)
        return Path(path)

    def clear(self) -> None:
        """Forget what was heard (the rate stays)."""
        self._chunks = []
        self._length = 0
        self._joined = None

    def __repr__(self) -> str:
        return f"Recorder({self.duration:.2f} s at {self.rate} Hz)"
