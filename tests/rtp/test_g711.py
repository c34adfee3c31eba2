"""G.711 μ-law and A-law, bit-exact (ITU-T G.711 tables; the CCITT reference code that
Python's audioop uses), and the audio measurements the lab's media tests rely on."""

from __future__ import annotations

import bisect
import math
import warnings
from collections.abc import Callable

import numpy as np
import pytest

from siplab.rtp import g711

EVERY_SAMPLE = np.arange(-32768, 32768, dtype=np.int16)
EVERY_CODE = bytes(range(256))


# --- an independent reference, written from G.711's segment table -------------------
#
# Each of the 128 magnitudes codes (segment s, step q) covers an interval of input
# magnitudes; the decoder returns the middle of it. μ-law works on a 14-bit magnitude
# with a bias of 33 (so segment s, biased, starts at 32 << s with steps of 2 << s);
# A-law on a 13-bit magnitude (segment 0 starts at 0, segment s >= 1 at 16 << s,
# steps of 2 for segments 0 and 1, then 1 << s).


def _ulaw_intervals() -> list[tuple[int, int]]:
    """(lowest biased magnitude, step) for codes 0..127 (before inversion)."""
    return [((16 + q) << (s + 1), 1 << (s + 1)) for s in range(8) for q in range(16)]


def _alaw_intervals() -> list[tuple[int, int]]:
    out = []
    for s in range(8):
        start, step = (0, 2) if s == 0 else (16 << s, max(2, 1 << s))
        out += [(start + q * step, step) for q in range(16)]
    return out


ULAW = _ulaw_intervals()
ALAW = _alaw_intervals()
ULAW_LOWS = [low for low, _ in ULAW]
ALAW_LOWS = [low for low, _ in ALAW]


def reference_lin2ulaw(sample: int) -> int:
    x = sample >> 2  # 14 bits
    magnitude = min(-x if x < 0 else x, 8159) + 33
    index = bisect.bisect_right(ULAW_LOWS, magnitude) - 1
    return index ^ (0x7F if x < 0 else 0xFF)


def reference_lin2alaw(sample: int) -> int:
    x = sample >> 3  # 13 bits
    magnitude = -x - 1 if x < 0 else x
    index = bisect.bisect_right(ALAW_LOWS, magnitude) - 1
    return index ^ (0x55 if x < 0 else 0xD5)


def reference_ulaw2lin(code: int) -> int:
    inverted = code ^ 0xFF
    low, step = ULAW[inverted & 0x7F]
    value = 4 * (low + step // 2 - 33)  # middle of the step, unbiased, back to 16 bits
    return -value if inverted & 0x80 else value


def reference_alaw2lin(code: int) -> int:
    toggled = code ^ 0x55
    low, step = ALAW[toggled & 0x7F]
    value = 8 * (low + step // 2)
    return value if toggled & 0x80 else -value


ENCODERS: list[tuple[str, Callable[..., np.ndarray], Callable[[int], int]]] = [
    ("ulaw", g711.lin2ulaw, reference_lin2ulaw),
    ("alaw", g711.lin2alaw, reference_lin2alaw),
]
DECODERS: list[tuple[str, Callable[..., np.ndarray], Callable[[int], int]]] = [
    ("ulaw", g711.ulaw2lin, reference_ulaw2lin),
    ("alaw", g711.alaw2lin, reference_alaw2lin),
]


class TestBitExact:
    """Every 16-bit input and every 8-bit code."""

    @pytest.mark.parametrize(("law", "encode", "reference"), ENCODERS, ids=["ulaw", "alaw"])
    def test_encoding_all_65536_samples_matches_the_table_reference(
        self, law: str, encode: Callable[..., np.ndarray], reference: Callable[[int], int]
    ) -> None:
        expected = np.array([reference(int(x)) for x in EVERY_SAMPLE], dtype=np.uint8)
        assert np.array_equal(encode(EVERY_SAMPLE), expected)

    @pytest.mark.parametrize(("law", "decode", "reference"), DECODERS, ids=["ulaw", "alaw"])
    def test_decoding_all_256_codes_matches_the_table_reference(
        self, law: str, decode: Callable[..., np.ndarray], reference: Callable[[int], int]
    ) -> None:
        assert decode(EVERY_CODE).tolist() == [reference(c) for c in EVERY_CODE]

    def test_decoded_values_match_the_standard_tables_at_the_ends(self) -> None:
        # G.711 Tables 2a/2b scaled to 16 bits: the loudest and quietest steps.
        assert g711.ulaw2lin(bytes([0x00, 0x80, 0x7F, 0xFF, 0x7E])).tolist() == [
            -32124, 32124, 0, 0, -8,
        ]  # fmt: skip
        assert g711.alaw2lin(bytes([0xAA, 0x2A, 0xD5, 0x55])).tolist() == [
            32256, -32256, 8, -8,
        ]  # fmt: skip

    @pytest.mark.parametrize("law", ["ulaw", "alaw"])
    def test_all_65536_samples_match_audioop(self, law: str) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            audioop = pytest.importorskip("audioop", reason="audioop was removed in Python 3.13")
        wire = EVERY_SAMPLE.tobytes()
        if law == "ulaw":
            assert g711.lin2ulaw(EVERY_SAMPLE).tobytes() == audioop.lin2ulaw(wire, 2)
            assert g711.ulaw2lin(EVERY_CODE).tobytes() == audioop.ulaw2lin(EVERY_CODE, 2)
        else:
            assert g711.lin2alaw(EVERY_SAMPLE).tobytes() == audioop.lin2alaw(wire, 2)
            assert g711.alaw2lin(EVERY_CODE).tobytes() == audioop.alaw2lin(EVERY_CODE, 2)

    def test_decoding_then_encoding_gives_back_every_code(self) -> None:
        alaw = g711.lin2alaw(g711.alaw2lin(EVERY_CODE)).tobytes()
        assert alaw == EVERY_CODE
        ulaw = g711.lin2ulaw(g711.ulaw2lin(EVERY_CODE)).tobytes()
        # μ-law has two zeros, +0 (0xFF) and -0 (0x7F); both decode to 0, which encodes as +0.
        assert ulaw == EVERY_CODE.replace(b"\x7f", b"\xff")


class TestPayloads:
    """RTP payloads by SDP codec name (RFC 3551 §4.5.14: PCMU = 0, PCMA = 8)."""

    def test_twenty_ms_of_audio_is_160_octets(self) -> None:
        frame = g711.tone(440, 0.02)
        for codec in ("PCMU", "pcma"):
            payload = g711.encode(codec, frame)
            assert isinstance(payload, bytes)
            assert len(payload) == 160
            assert g711.decode(codec, payload).dtype == np.int16

    def test_silence_is_0xff_in_pcmu_and_0xd5_in_pcma(self) -> None:
        assert g711.encode("PCMU", g711.silence(0.01)) == b"\xff" * 80
        assert g711.encode("PCMA", g711.silence(0.01)) == b"\xd5" * 80

    def test_unknown_codec_and_float_samples_are_refused(self) -> None:
        with pytest.raises(ValueError, match="G722"):
            g711.encode("G722", g711.silence(0.01))
        with pytest.raises(TypeError, match="floats"):
            g711.lin2ulaw(np.zeros(4))


class TestMeasurements:
    """What later tests check: SNR after alignment, frequency within ±2 Hz, level."""

    def test_tone_has_the_asked_length_level_and_frequency(self) -> None:
        wave = g711.tone(1000, 0.5, amplitude=0.5)
        assert wave.dtype == np.int16
        assert len(wave) == 4000
        assert int(np.max(np.abs(wave))) == 16384
        assert g711.rms(wave) == pytest.approx(16383.5 / math.sqrt(2), rel=1e-3)

    @pytest.mark.parametrize(
        ("freq", "duration"), [(1000, 1.0), (440, 0.5), (1234.5, 0.2), (3000, 0.1), (300, 0.25)]
    )
    def test_dominant_frequency_within_2_hz(self, freq: float, duration: float) -> None:
        heard = g711.decode("PCMU", g711.encode("PCMU", g711.tone(freq, duration)))
        assert abs(g711.dominant_frequency(heard, 8000) - freq) <= 2.0

    @pytest.mark.parametrize("codec", ["PCMU", "PCMA"])
    def test_g711_snr_is_above_35_db_after_alignment(self, codec: str) -> None:
        sent = g711.tone(1013, 1.0)
        heard = g711.decode(codec, g711.encode(codec, sent))
        # What arrives starts late: 37 ms of silence from the jitter buffer, then the audio.
        received = np.concatenate([g711.silence(0.037), heard])
        assert g711.align(sent, received) == 296
        assert g711.snr_db(sent, received) >= 35.0

    def test_snr_of_a_1000_hz_tone_depends_on_its_amplitude(self) -> None:
        # 8 samples per period hit the same few quantizer steps: documented in tone().
        def snr(amplitude: float) -> float:
            sent = g711.tone(1000, 1.0, amplitude=amplitude)
            return g711.snr_db(sent, g711.decode("PCMU", g711.encode("PCMU", sent)))

        assert snr(0.5) == pytest.approx(33.8, abs=0.1)
        assert snr(0.7) >= 40.0

    def test_align_finds_a_received_signal_that_starts_inside_the_reference(self) -> None:
        rng = np.random.default_rng(5)
        reference = rng.integers(-8000, 8000, 2000).astype(np.int16)
        assert g711.align(reference, reference[300:1800]) == -300
        assert g711.snr_db(reference, reference[300:1800]) == math.inf

    def test_noise_lowers_the_snr_as_expected(self) -> None:
        rng = np.random.default_rng(7)
        sent = g711.tone(800, 1.0)
        noise = rng.normal(0, g711.rms(sent) / 100, sent.size)  # 40 dB below the signal
        received = np.round(sent + noise).astype(np.int16)
        assert g711.snr_db(sent, received, lag=0) == pytest.approx(40.0, abs=0.5)


@pytest.mark.parametrize("codec", ["PCMU", "PCMA"])
def test_tables_for_frame_by_frame_coding_agree_with_the_functions(codec: str) -> None:
    every_sample = np.arange(-32768, 32768, dtype=np.int32).astype(np.int16)
    every_code = np.arange(256, dtype=np.uint8)
    encode = g711.lin2ulaw if codec == "PCMU" else g711.lin2alaw
    decode = g711.ulaw2lin if codec == "PCMU" else g711.alaw2lin
    assert np.array_equal(g711.encode_table(codec)[every_sample.view(np.uint16)],
                          encode(every_sample))
    assert np.array_equal(g711.decode_table(codec)[every_code], decode(every_code))
    assert not g711.encode_table(codec).flags.writeable  # shared by every call
