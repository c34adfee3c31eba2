"""The audio codecs of the plain RTP path: PCMU, PCMA (numpy), G.722 and Opus (PyAV/FFmpeg).

What is checked is what RFC 3551 §4.5 and RFC 7587 fix and what a listener
hears: the rates (G.722 samples at 16 kHz but its RTP clock runs at 8000,
RFC 3551 §4.5.2; Opus uses 48000, RFC 7587 §4.1), the payload per 20 ms, and
a 1 kHz tone that comes back out of encode + decode with its frequency and a
good signal-to-noise ratio.

The tone's amplitude is 0.7 of full scale, not 0.5: 1000 Hz divides 8000 Hz,
so every period hits the same eight G.711 quantizer steps, and at 0.5 those
happen to be coarse ones (33.8 dB for PCMU); at 0.7 PCMU gives 40.2 dB and
PCMA 45.9 dB (siplab.rtp.g711.tone). The thresholds for G.722 and Opus were
measured here, on this tone: G.722 47.5 dB after its first 20 ms (an ADPCM
waveform coder that starts from zero: the bound of 40 dB leaves 7.5 dB of
margin), Opus 40.5 dB once past its first 0.5 s (libopus, a perceptual coder,
settles into its CELT mode over the first ~0.4 s, when the SNR is near 16 dB;
the bound of 30 dB leaves 10 dB).
Any real fault (a wrong rate, a frame lost or doubled) drops the SNR far
below 20 dB.
"""

from __future__ import annotations

import av
import numpy as np
import pytest

from siplab.aio import codecs
from siplab.aio.audio import ToneSource
from siplab.aio.codecs import CodecUnavailable, decoder, encoder, supported_ptime
from siplab.errors import SipError
from siplab.rtp import g711

AMPLITUDE = 0.7
#: codec -> (minimum SNR dB, seconds of warm-up skipped before measuring)
QUALITY = {"PCMU": (35.0, 0.0), "PCMA": (35.0, 0.0), "G722": (40.0, 0.02), "opus": (30.0, 0.5)}


def round_trip(name: str, seconds: float, ptime: int = 20) -> tuple[np.ndarray, int, list[int]]:
    """Encode and decode ``seconds`` of the tone frame by frame: (decoded, rate, payload sizes)."""
    coder, back = encoder(name, ptime=ptime), decoder(name)
    source = ToneSource(1000, AMPLITUDE)
    frame = coder.frame_samples(ptime)
    decoded, sizes = [], []
    for _ in range(round(seconds * 1000 / ptime)):
        payload = coder.encode(source.read(frame, coder.audio_rate))
        sizes.append(len(payload))
        decoded.append(back.decode(payload))
    return np.concatenate(decoded), coder.audio_rate, sizes


def test_pyav_has_the_g722_and_opus_codecs() -> None:
    for name in ("g722", "libopus"):
        for mode in ("w", "r"):
            context = av.CodecContext.create(name, mode)
            assert context.name, f"PyAV {av.__version__} lacks {name} ({mode})"


@pytest.mark.parametrize(
    ("name", "audio_rate", "clock_rate", "frame", "step"),
    [
        ("PCMU", 8000, 8000, 160, 160),
        ("PCMA", 8000, 8000, 160, 160),
        ("G722", 16000, 8000, 320, 160),  # RFC 3551 §4.5.2: the clock says 8000
        ("opus", 48000, 48000, 960, 960),  # RFC 7587 §4.1
    ],
)
def test_codec_rates_and_frame_sizes_follow_the_rtp_profile(
    name: str, audio_rate: int, clock_rate: int, frame: int, step: int
) -> None:
    coder = encoder(name)
    assert (coder.audio_rate, coder.clock_rate) == (audio_rate, clock_rate)
    assert coder.frame_samples(20) == frame
    assert coder.timestamp_step(20) == step
    assert decoder(name).audio_rate == audio_rate


@pytest.mark.parametrize("name", ["PCMU", "PCMA", "G722", "opus"])
def test_a_tone_survives_encode_and_decode(name: str) -> None:
    minimum, warm_up = QUALITY[name]
    decoded, rate, _ = round_trip(name, 1.5)
    steady = decoded[round(warm_up * rate) :]
    reference = ToneSource(1000, AMPLITUDE).read(decoded.size + rate // 100, rate)
    lag = g711.align(reference, steady, min_overlap=steady.size)
    assert g711.snr_db(reference, steady, lag=lag) >= minimum
    assert abs(g711.dominant_frequency(steady, rate) - 1000) <= 2


@pytest.mark.parametrize("name", ["PCMU", "PCMA"])
def test_g711_codecs_are_bit_exact_with_siplab_rtp_g711(name: str) -> None:
    samples = np.random.default_rng(5).integers(-32768, 32768, 4000).astype(np.int16)
    payload = encoder(name).encode(samples)
    assert payload == g711.encode(name, samples)
    assert np.array_equal(decoder(name).decode(payload), g711.decode(name, payload))


@pytest.mark.parametrize(("ptime", "octets"), [(20, 160), (40, 320), (60, 480)])
def test_g722_sends_one_octet_per_two_samples(ptime: int, octets: int) -> None:
    decoded, _, sizes = round_trip("G722", 0.12, ptime=ptime)
    assert set(sizes) == {octets}
    assert decoded.size == 16 * 120


@pytest.mark.parametrize("ptime", [10, 20, 40, 60])
def test_opus_packs_one_frame_of_the_packet_time(ptime: int) -> None:
    decoded, _, sizes = round_trip("opus", 0.24, ptime=ptime)
    assert decoded.size == 48 * 240  # one decoded frame of ptime per packet
    assert all(0 < size < 400 for size in sizes)


def test_packet_times_are_fitted_to_what_each_codec_can_do() -> None:
    assert supported_ptime("PCMU", 30) == 30
    assert supported_ptime("G722", 30) == 20  # whole 20 ms blocks
    assert supported_ptime("opus", 30) == 20  # 10, 20, 40 or 60 ms frames
    assert supported_ptime("opus", 5) == 10


def test_an_unknown_codec_is_a_clear_sip_error() -> None:
    with pytest.raises(CodecUnavailable, match="GSM") as caught:
        encoder("GSM")
    assert isinstance(caught.value, SipError)


def test_a_codec_missing_from_pyav_names_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name: str, mode: str) -> None:
        raise av.codec.codec.UnknownCodecError(name)

    monkeypatch.setattr(av.CodecContext, "create", missing)
    with pytest.raises(CodecUnavailable, match="libopus"):
        codecs.encoder("opus")
    with pytest.raises(CodecUnavailable, match="g722"):
        codecs.decoder("G722")
