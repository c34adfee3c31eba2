"""G.711: the telephone network's 8-bit audio, μ-law (PCMU) and A-law (PCMA), in numpy.

A phone call samples the voice 8000 times a second. Sent as 16-bit linear
samples that would be 128 kbit/s; G.711 (ITU-T, 1972) sends each sample in
8 bits, 64 kbit/s, by spending the bits where the ear needs them: small
signals get fine steps, loud ones coarse steps. The curve is a
piecewise-linear approximation of a logarithm: 8 *segments* per sign, each
twice as wide as the one before, each cut into 16 equal *steps*. One code
octet is ``sign | segment (3 bits) | step (4 bits)``.

* **μ-law** (North America, Japan; RTP payload type 0, "PCMU") works on a
  14-bit magnitude plus a bias of 33, which makes the segment boundaries
  powers of two; all bits are inverted on the wire (code 0xFF is silence).
* **A-law** (Europe, the rest of the world; payload type 8, "PCMA") works on
  a 13-bit magnitude, its first two segments share one step size, and every
  other bit is inverted (XOR 0x55) so that silence still toggles the line.

Decoding returns the middle of each step, scaled back to 16 bits. Both
directions here are bit-exact with the classic CCITT reference code that
Python's ``audioop`` (and most softphones) use; the tests compare all 65536
inputs. Encoding is one lookup in a 65536-entry table, so a whole call
encodes in microseconds.

The rest of the module measures audio for the lab: :func:`tone` makes a
sine, :func:`rms` its level, :func:`dominant_frequency` finds its pitch by
FFT, and :func:`snr_db` compares what was sent with what was heard after
lining the two up (:func:`align`).
"""

from __future__ import annotations

import functools
import math

import numpy as np
import numpy.typing as npt

__all__ = [
    "lin2ulaw",
    "ulaw2lin",
    "lin2alaw",
    "alaw2lin",
    "encode_table",
    "decode_table",
    "encode",
    "decode",
    "tone",
    "silence",
    "rms",
    "align",
    "snr_db",
    "dominant_frequency",
]

Samples = npt.NDArray[np.int16]
Codes = npt.NDArray[np.uint8]
AudioLike = npt.ArrayLike

# Upper ends of the eight segments, on the biased 14-bit (μ-law) and 13-bit (A-law) scales.
_ULAW_SEGMENT_END = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
_ALAW_SEGMENT_END = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])
_ULAW_BIAS = 0x84  # 33 on the 14-bit scale, times 4
_ULAW_CLIP = 8159  # largest 14-bit magnitude before the bias


def _ulaw_encode_direct(samples: npt.NDArray[np.int32]) -> Codes:
    x = samples >> 2  # 16-bit to 14-bit, rounding towards minus infinity
    negative = x < 0
    magnitude = np.minimum(np.where(negative, -x, x), _ULAW_CLIP) + (_ULAW_BIAS >> 2)
    magnitude = np.minimum(magnitude, 0x1FFF)  # past the last segment: the largest code
    segment = np.searchsorted(_ULAW_SEGMENT_END, magnitude, side="left")
    step = (magnitude >> (segment + 1)) & 0x0F
    code = (segment << 4) | step
    codes: Codes = (code ^ np.where(negative, 0x7F, 0xFF)).astype(np.uint8)
    return codes


def _alaw_encode_direct(samples: npt.NDArray[np.int32]) -> Codes:
    x = samples >> 3  # 16-bit to 13-bit
    negative = x < 0
    magnitude = np.where(negative, -x - 1, x)  # one's complement for negative values
    segment = np.searchsorted(_ALAW_SEGMENT_END, magnitude, side="left")
    shift = np.where(segment < 2, 1, segment)  # segments 0 and 1 share a step size
    step = (magnitude >> shift) & 0x0F
    code = (segment << 4) | step
    return (code ^ np.where(negative, 0x55, 0xD5)).astype(np.uint8)


def _ulaw_decode_direct(codes: npt.NDArray[np.int32]) -> Samples:
    u = ~codes & 0xFF
    t = (((u & 0x0F) << 3) + _ULAW_BIAS) << ((u & 0x70) >> 4)
    return np.where(u & 0x80, _ULAW_BIAS - t, t - _ULAW_BIAS).astype(np.int16)


def _alaw_decode_direct(codes: npt.NDArray[np.int32]) -> Samples:
    a = codes ^ 0x55
    t = (a & 0x0F) << 4
    segment = (a & 0x70) >> 4
    t = np.where(
        segment == 0, t + 8, np.where(segment == 1, t + 0x108, (t + 0x108) << (segment - 1))
    )
    return np.where(a & 0x80, t, -t).astype(np.int16)


@functools.cache
def _tables() -> tuple[Codes, Codes, Samples, Samples]:
    """Encode tables indexed by the sample's 16 bits, decode tables by the code (built once)."""
    every_sample = np.arange(-32768, 32768, dtype=np.int32)
    every_code = np.arange(256, dtype=np.int32)
    # Reorder so that index = the sample's bits read as unsigned (0..65535).
    ulaw = np.roll(_ulaw_encode_direct(every_sample), -32768)
    alaw = np.roll(_alaw_encode_direct(every_sample), -32768)
    tables = (ulaw, alaw, _ulaw_decode_direct(every_code), _alaw_decode_direct(every_code))
    for table in tables:
        table.setflags(write=False)
    return tables


def _as_int16(samples: AudioLike) -> Samples:
    array = np.asarray(samples)
    if array.dtype != np.int16:
        if np.issubdtype(array.dtype, np.floating):
            raise TypeError("samples are floats; scale them to int16 first (see tone())")
        array = np.clip(array, -32768, 32767).astype(np.int16)
    return array


def _as_codes(codes: bytes | AudioLike) -> Codes:
    if isinstance(codes, bytes | bytearray | memoryview):
        return np.frombuffer(bytes(codes), dtype=np.uint8)
    return np.asarray(codes, dtype=np.uint8)


def encode_table(codec: str) -> Codes:
    """The 65536-entry table of ``codec`` ("PCMU" or "PCMA"): code = table[sample as uint16].

    Shared and read-only; an encoder that handles many frames keeps it at hand.
    """
    ulaw, alaw, _, _ = _tables()
    return ulaw if codec.upper() == "PCMU" else alaw


def decode_table(codec: str) -> Samples:
    """The 256-entry table of ``codec`` ("PCMU" or "PCMA"): sample = table[code]."""
    _, _, ulaw, alaw = _tables()
    return ulaw if codec.upper() == "PCMU" else alaw


def lin2ulaw(samples: AudioLike) -> Codes:
    """16-bit linear samples to μ-law codes (PCMU)."""
    return _tables()[0][_as_int16(samples).view(np.uint16)]


def lin2alaw(samples: AudioLike) -> Codes:
    """16-bit linear samples to A-law codes (PCMA)."""
    return _tables()[1][_as_int16(samples).view(np.uint16)]


def ulaw2lin(codes: bytes | AudioLike) -> Samples:
    """μ-law codes (bytes or an array) to 16-bit linear samples."""
    return _tables()[2][_as_codes(codes)]


def alaw2lin(codes: bytes | AudioLike) -> Samples:
    """A-law codes (bytes or an array) to 16-bit linear samples."""
    return _tables()[3][_as_codes(codes)]


def encode(codec: str, samples: AudioLike) -> bytes:
    """An RTP payload: ``codec`` is "PCMU" or "PCMA" as in SDP's rtpmap."""
    name = codec.upper()
    if name == "PCMU":
        return lin2ulaw(samples).tobytes()
    if name == "PCMA":
        return lin2alaw(samples).tobytes()
    raise ValueError(f"G.711 has no codec {codec!r}; use PCMU or PCMA")


def decode(codec: str, payload: bytes) -> Samples:
    """Samples from an RTP payload of ``codec`` ("PCMU" or "PCMA")."""
    name = codec.upper()
    if name == "PCMU":
        return ulaw2lin(payload)
    if name == "PCMA":
        return alaw2lin(payload)
    raise ValueError(f"G.711 has no codec {codec!r}; use PCMU or PCMA")


# --- measuring audio -----------------------------------------------------------


def tone(
    freq: float,
    duration: float,
    rate: int = 8000,
    amplitude: float = 0.5,
    phase: float = 0.0,
) -> Samples:
    """A sine of ``freq`` Hz lasting ``duration`` seconds, as int16.

    ``amplitude`` is a fraction of full scale: 0.5 is -6 dBFS, loud but far
    from clipping. G.711's SNR on a sine is usually 35-40 dB, but a tone
    whose frequency divides the sample rate (1000 Hz at 8000 Hz: 8 samples
    per period) hits the same few quantizer steps over and over, so its SNR
    depends on amplitude and phase: 33.8 dB (PCMU) and 34.9 dB (PCMA) for
    ``tone(1000, 1.0)``, 40.2 and 45.9 dB with ``amplitude=0.7``.
    """
    if not 0 <= amplitude <= 1:
        raise ValueError(f"amplitude {amplitude} is not a fraction of full scale (0-1)")
    n = round(duration * rate)
    t = np.arange(n, dtype=np.float64) / rate
    wave = amplitude * 32767.0 * np.sin(2 * math.pi * freq * t + phase)
    return np.round(wave).astype(np.int16)


def silence(duration: float, rate: int = 8000) -> Samples:
    """``duration`` seconds of zeros."""
    return np.zeros(round(duration * rate), dtype=np.int16)


def rms(samples: AudioLike) -> float:
    """Root mean square level, in sample units (a full-scale sine has 32767/√2)."""
    x = np.asarray(samples, dtype=np.float64)
    return float(np.sqrt(np.mean(x * x))) if x.size else 0.0


def align(reference: AudioLike, received: AudioLike, *, min_overlap: int | None = None) -> int:
    """The lag at which ``received`` best matches ``reference``: ``received[i + lag] ≈ ref[i]``.

    Found by cross-correlation (computed with an FFT), normalised by the
    energy of the overlapping parts so that a longer overlap with silence in
    it does not win; among equally good lags (a pure tone repeats every
    period) the longest overlap wins. ``min_overlap`` (default: half the
    shorter signal) keeps the match from resting on a few samples.
    """
    ref = np.asarray(reference, dtype=np.float64)
    rec = np.asarray(received, dtype=np.float64)
    if ref.size == 0 or rec.size == 0:
        raise ValueError("cannot align an empty signal")
    n_ref, n_rec = ref.size, rec.size
    if min_overlap is None:
        min_overlap = max(1, min(n_ref, n_rec) // 2)
    size = 1 << (n_ref + n_rec - 1).bit_length()
    corr = np.fft.irfft(np.fft.rfft(rec, size) * np.conj(np.fft.rfft(ref, size)), size)
    lags = np.arange(-(n_ref - 1), n_rec)
    values = corr[lags % size]
    lo = np.maximum(0, -lags)  # overlapping reference indices are lo..hi-1
    hi = np.minimum(n_ref, n_rec - lags)
    overlap = hi - lo
    ref_energy = np.concatenate(([0.0], np.cumsum(ref * ref)))
    rec_energy = np.concatenate(([0.0], np.cumsum(rec * rec)))
    e_ref = ref_energy[hi] - ref_energy[lo]
    e_rec = rec_energy[hi + lags] - rec_energy[lo + lags]
    denominator = np.sqrt(e_ref * e_rec)
    score = np.where((denominator > 0) & (overlap >= min_overlap), values, -np.inf)
    score = np.divide(score, denominator, out=np.full_like(score, -np.inf), where=denominator > 0)
    best = float(np.max(score))
    if not math.isfinite(best):
        return 0
    ties = np.flatnonzero(score >= best - 1e-9)
    return int(lags[ties[np.argmax(overlap[ties])]])


def snr_db(reference: AudioLike, received: AudioLike, *, lag: int | None = None) -> float:
    """Signal-to-noise ratio of ``received`` against ``reference``, in dB, after alignment.

    ``10 log10(Σ ref² / Σ (ref - received)²)`` over the part where the two
    overlap at the best lag (:func:`align`, unless ``lag`` is given). No gain
    is fitted: a codec that changes the level loses SNR for it. Returns
    ``inf`` for identical signals.
    """
    ref = np.asarray(reference, dtype=np.float64)
    rec = np.asarray(received, dtype=np.float64)
    if lag is None:
        lag = align(ref, rec)
    lo, hi = max(0, -lag), min(ref.size, rec.size - lag)
    if hi <= lo:
        raise ValueError(f"at lag {lag} the signals do not overlap")
    signal = ref[lo:hi]
    noise = signal - rec[lo + lag : hi + lag]
    noise_energy = float(np.sum(noise * noise))
    signal_energy = float(np.sum(signal * signal))
    if noise_energy == 0:
        return math.inf
    if signal_energy == 0:
        return -math.inf
    return 10 * math.log10(signal_energy / noise_energy)


def dominant_frequency(samples: AudioLike, rate: int = 8000) -> float:
    """The frequency (Hz) of the strongest component, by FFT with parabolic interpolation.

    A Hann window keeps the peak compact, zero-padding to at least 4x the
    length samples the spectrum finely, and a parabola through the log
    magnitudes of the peak bin and its two neighbours places the peak
    between bins: well within 1 Hz for a 1 s tone.
    """
    x = np.asarray(samples, dtype=np.float64)
    if x.size < 4:
        raise ValueError("need at least 4 samples to find a frequency")
    x = (x - x.mean()) * np.hanning(x.size)
    size = 1 << (4 * x.size - 1).bit_length()
    magnitude = np.abs(np.fft.rfft(x, size))
    k = int(np.argmax(magnitude[1:-1])) + 1  # not DC, not Nyquist: both need a neighbour
    a, b, c = np.log(magnitude[k - 1 : k + 2] + 1e-300)
    denominator = a - 2 * b + c
    offset = 0.5 * (a - c) / denominator if denominator != 0 else 0.0
    return float((k + offset) * rate / size)
