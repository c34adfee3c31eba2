"""Audio codecs for RTP: PCMU and PCMA in numpy, G.722 and Opus through PyAV.

A codec turns one frame of samples into one RTP payload and back. Each one
has two rates that students often mix up:

* the **audio rate**, the samples per second the codec eats and produces:
  8000 for G.711, 16000 for G.722 (wideband), 48000 for Opus;
* the **RTP clock rate**, the unit of the RTP timestamp, which SDP's
  ``a=rtpmap`` line gives: 8000 for G.711, *also 8000 for G.722* (an error in
  the original RFC 1890 kept for compatibility, RFC 3551 §4.5.2), and 48000 for
  Opus whatever its internal rate (RFC 7587 §4.1).

So a 20 ms packet holds 160 samples of PCMU, 320 of G.722 and 960 of Opus,
and its timestamp advances by 160, 160 and 960.

==========  =====  ===========  ==========  ==============================
codec       PT     audio rate   RTP clock   payload per 20 ms
==========  =====  ===========  ==========  ==============================
PCMU        0      8000         8000        160 octets (G.711 μ-law)
PCMA        8      8000         8000        160 octets (G.711 A-law)
G722        9      16000        8000        160 octets (ITU-T G.722 ADPCM)
opus        96+    48000        48000       variable (RFC 6716; 32 kbit/s asked)
==========  =====  ===========  ==========  ==============================

G.711 comes from :mod:`siplab.rtp.g711` (a table lookup per sample). G.722
and Opus come from FFmpeg through PyAV (``av``), the library aiortc uses:
``av.CodecContext.create("g722", "w")`` and ``"libopus"``; siplab does not
write them itself. PyAV is imported only when one of them is asked for.

:func:`encoder` and :func:`decoder` take the codec's SDP name and clock rate
(as :class:`siplab.sdp.MediaParameters` carries them) and return objects with
``encode(samples) -> bytes`` and ``decode(payload) -> samples``.
"""

from __future__ import annotations

import fractions
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

from siplab.aio.audio import Samples
from siplab.errors import LocalProtocolError
from siplab.rtp import g711

if TYPE_CHECKING:
    import av

__all__ = [
    "Encoder",
    "Decoder",
    "CodecUnavailable",
    "CODECS",
    "encoder",
    "decoder",
    "audio_rate_of",
    "supported_ptime",
]


class CodecUnavailable(LocalProtocolError):
    """The codec is unknown, or the FFmpeg inside the installed PyAV does not have it."""


class Encoder(Protocol):
    """Samples in, one RTP payload out, frame by frame."""

    name: str  # SDP encoding name: "PCMU", "PCMA", "G722", "opus"
    audio_rate: int  # samples per second it takes
    clock_rate: int  # RTP timestamp units per second

    def frame_samples(self, ptime: int) -> int:
        """Samples (at the audio rate) in one packet of ``ptime`` milliseconds."""
        ...

    def timestamp_step(self, ptime: int) -> int:
        """How far the RTP timestamp advances per packet of ``ptime`` milliseconds."""
        ...

    def encode(self, samples: Samples) -> bytes:
        """The payload for one frame of ``frame_samples(ptime)`` samples."""
        ...


class Decoder(Protocol):
    """One RTP payload in, samples out."""

    name: str
    audio_rate: int
    clock_rate: int

    def frame_samples(self, ptime: int) -> int: ...

    def decode(self, payload: bytes) -> Samples:
        """The samples (int16, mono, at the audio rate) carried by one payload."""
        ...


# --- the codec table --------------------------------------------------------------


#: SDP name (lower case) -> (canonical name, audio rate, default RTP clock, FFmpeg codec).
CODECS: dict[str, tuple[str, int, int, str | None]] = {
    "pcmu": ("PCMU", 8000, 8000, None),
    "pcma": ("PCMA", 8000, 8000, None),
    "g722": ("G722", 16000, 8000, "g722"),
    "opus": ("opus", 48000, 48000, "libopus"),
}

#: Packet lengths (ms) an Opus encoder can produce (RFC 6716 §2.1.4; 2.5 ms left out).
_OPUS_PTIMES = (10, 20, 40, 60)


def _lookup(name: str) -> tuple[str, int, int, str | None]:
    entry = CODECS.get(name.lower())
    if entry is None:
        known = ", ".join(e[0] for e in CODECS.values())
        raise CodecUnavailable(f"no audio codec {name!r} in siplab (known: {known})")
    return entry


def audio_rate_of(name: str) -> int:
    """The rate at which codec ``name`` samples audio (16000 for G722 though its clock is 8000)."""
    return _lookup(name)[1]


def supported_ptime(name: str, ptime: int) -> int:
    """The packet time (ms) the codec will actually use when ``ptime`` is asked for.

    G.711 takes any whole number of milliseconds. PyAV's G.722 encoder works
    in 20 ms blocks, so G.722 uses a multiple of 20 ms. Opus frames are 10,
    20, 40 or 60 ms; the largest not above ``ptime`` is used.
    """
    canonical = _lookup(name)[0]
    ptime = max(1, ptime)
    if canonical == "G722":
        return max(20, ptime // 20 * 20)
    if canonical == "opus":
        return max((p for p in _OPUS_PTIMES if p <= ptime), default=_OPUS_PTIMES[0])
    return ptime


class _Rates:
    """What every codec object shares: its name, two rates and the frame arithmetic."""

    name: str
    audio_rate: int
    clock_rate: int

    def frame_samples(self, ptime: int) -> int:
        return self.audio_rate * ptime // 1000

    def timestamp_step(self, ptime: int) -> int:
        return self.clock_rate * ptime // 1000


# --- G.711 -------------------------------------------------------------------------------


class G711Encoder(_Rates):
    """PCMU or PCMA: one code octet per sample, by table lookup (:mod:`siplab.rtp.g711`).

    The 65536-entry table (every possible 16-bit sample -> its code) lives in
    :mod:`siplab.rtp.g711` and is shared by every call: hundreds of calls
    each with a table of their own would not fit in the processor's cache.
    """

    def __init__(self, name: str) -> None:
        self.name = "PCMU" if name.upper() == "PCMU" else "PCMA"
        self.audio_rate = self.clock_rate = 8000
        self._encode = g711.lin2ulaw if self.name == "PCMU" else g711.lin2alaw
        self._table = g711.encode_table(self.name)

    def encode(self, samples: Samples) -> bytes:
        if samples.dtype == np.int16:
            # The table lookup of lin2ulaw/lin2alaw without its checks and conversions:
            # each sample's 16 bits, read as unsigned, index the table (50 frames a second
            # per call go through here).
            return self._table.take(samples.view(np.uint16)).tobytes()
        return self._encode(samples).tobytes()


class G711Decoder(_Rates):
    """PCMU or PCMA codes back to 16-bit samples, through :mod:`siplab.rtp.g711`'s table."""

    def __init__(self, name: str) -> None:
        self.name = "PCMU" if name.upper() == "PCMU" else "PCMA"
        self.audio_rate = self.clock_rate = 8000
        self._table = g711.decode_table(self.name)

    def decode(self, payload: bytes) -> Samples:
        # ulaw2lin/alaw2lin's lookup, straight from the payload's bytes (no copy).
        return self._table.take(np.frombuffer(payload, dtype=np.uint8))


# --- PyAV (FFmpeg) codecs --------------------------------------------------------------


def _import_av() -> Any:
    try:
        import av
    except ImportError as error:  # pragma: no cover - av is a dependency
        raise CodecUnavailable("G.722 and Opus need PyAV: pip install av") from error
    return av


def _context(ffmpeg_name: str, mode: str, rate: int) -> av.AudioCodecContext:
    av = _import_av()
    try:
        context = av.CodecContext.create(ffmpeg_name, mode)
    except Exception as error:  # PyAV raises its own UnknownCodecError, a ValueError
        what = "encoder" if mode == "w" else "decoder"
        raise CodecUnavailable(
            f"the FFmpeg in PyAV {av.__version__} has no {ffmpeg_name!r} {what}"
        ) from error
    context.sample_rate = rate
    context.layout = "mono"
    context.format = "s16"
    return context  # type: ignore[no-any-return]


class AvEncoder(_Rates):
    """G.722 or Opus through an FFmpeg encoder in PyAV.

    Each ``encode`` sends one frame into the encoder and returns the payload
    bytes it produced for it. FFmpeg's G.722 encoder works in 320-sample
    (20 ms) blocks, so a 40 ms frame yields two blocks, joined into one
    payload (G.722 is a sample-by-sample ADPCM: blocks simply concatenate).
    Opus is told the frame length, so one frame is one Opus packet.
    """

    def __init__(self, name: str, clock_rate: int, ptime: int = 20, bitrate: int = 32000) -> None:
        canonical, audio_rate, _, ffmpeg_name = _lookup(name)
        assert ffmpeg_name is not None
        self.name = canonical
        self.audio_rate = audio_rate
        self.clock_rate = clock_rate
        self.ptime = supported_ptime(canonical, ptime)
        self._av = _import_av()
        self._context = _context(ffmpeg_name, "w", audio_rate)
        self._context.time_base = fractions.Fraction(1, audio_rate)
        if canonical == "opus":
            self._context.bit_rate = bitrate
            # "audio" lets libopus pick its CELT (transform) mode for tones and music, which
            # keeps a sine's waveform (about 40 dB SNR at 32 kbit/s; "voip" favours speech
            # and gives about 27 dB on a tone). The frame duration must match our packets.
            self._context.options = {"application": "audio", "frame_duration": str(self.ptime)}
        self._context.open()
        self._pts = 0

    def encode(self, samples: Samples) -> bytes:
        frame = self._av.AudioFrame.from_ndarray(
            np.ascontiguousarray(samples, dtype=np.int16).reshape(1, -1),
            format="s16",
            layout="mono",
        )
        frame.sample_rate = self.audio_rate
        frame.time_base = self._context.time_base
        frame.pts = self._pts
        self._pts += samples.size
        return b"".join(bytes(packet) for packet in self._context.encode(frame))


class AvDecoder(_Rates):
    """G.722 or Opus through an FFmpeg decoder in PyAV; output int16 mono at the audio rate."""

    def __init__(self, name: str, clock_rate: int) -> None:
        canonical, audio_rate, _, ffmpeg_name = _lookup(name)
        assert ffmpeg_name is not None
        self.name = canonical
        self.audio_rate = audio_rate
        self.clock_rate = clock_rate
        self._av = _import_av()
        self._context = _context(ffmpeg_name, "r", audio_rate)

    def decode(self, payload: bytes) -> Samples:
        if not payload:
            return np.zeros(0, dtype=np.int16)
        packet = self._av.Packet(payload)
        chunks: list[Samples] = []
        for frame in self._context.decode(packet):
            array: npt.NDArray[Any] = frame.to_ndarray()
            if array.dtype != np.int16:  # a decoder that ignored the s16 request: floats
                array = np.clip(np.round(array * 32767.0), -32768, 32767).astype(np.int16)
            chunks.append(array[0] if array.shape[0] == 1 else array.reshape(-1))
        if not chunks:
            return np.zeros(0, dtype=np.int16)
        return chunks[0] if len(chunks) == 1 else np.concatenate(chunks)


# --- factories -----------------------------------------------------------------------------


def encoder(
    name: str, clock_rate: int | None = None, *, ptime: int = 20, bitrate: int = 32000
) -> Encoder:
    """An encoder for SDP codec ``name`` ("PCMU", "PCMA", "G722", "opus"; any case).

    ``clock_rate`` is the RTP clock from SDP (default: the codec's usual one);
    ``ptime`` the packet length in ms (Opus needs it up front; see
    :func:`supported_ptime`); ``bitrate`` applies to Opus. Raises
    :class:`CodecUnavailable` naming the codec when siplab or PyAV lacks it.
    """
    canonical, _, default_clock, ffmpeg_name = _lookup(name)
    if ffmpeg_name is None:
        return G711Encoder(canonical)
    return AvEncoder(canonical, clock_rate or default_clock, ptime, bitrate)


def decoder(name: str, clock_rate: int | None = None) -> Decoder:
    """A decoder for SDP codec ``name``; see :func:`encoder`."""
    canonical, _, default_clock, ffmpeg_name = _lookup(name)
    if ffmpeg_name is None:
        return G711Decoder(canonical)
    return AvDecoder(canonical, clock_rate or default_clock)
