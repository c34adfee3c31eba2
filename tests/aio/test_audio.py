"""Audio in and out of a call: sources of exact length, WAV files, resampling, the Recorder.

An RTP endpoint asks its source for exactly one frame per packet (160 samples
for 20 ms at 8 kHz) and writes what it decodes to a sink (siplab.aio.audio).
A source that returned one sample too many or too few would shift the call's
time line by that much per packet, so lengths are checked exactly. Frequencies
are measured by FFT (siplab.rtp.g711.dominant_frequency).
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from siplab.aio.audio import (
    ArraySource,
    AudioSink,
    AudioSource,
    Recorder,
    SilenceSource,
    ToneSource,
    WavSource,
    read_wav,
    resample,
    source_from,
    write_wav,
)
from siplab.errors import LocalProtocolError
from siplab.rtp import g711

RATES = (8000, 16000, 48000)


def frames(source: AudioSource, sizes: list[int], rate: int) -> np.ndarray:
    chunks = [source.read(size, rate) for size in sizes]
    for chunk, size in zip(chunks, sizes, strict=True):
        assert chunk.dtype == np.int16
        assert chunk.shape == (size,)
    return np.concatenate(chunks)


# --- sources ------------------------------------------------------------------------------


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("freq", [1000, 440, 1013, 997.5])
def test_tone_source_frames_join_into_one_continuous_sine(rate: int, freq: float) -> None:
    sizes = [rate // 50, 7, rate // 25, 1, 999] * 5
    heard = frames(ToneSource(freq, 0.7), sizes, rate)
    assert np.array_equal(heard, g711.tone(freq, heard.size / rate, rate, 0.7))


def test_tone_source_keeps_its_phase_when_the_rate_changes() -> None:
    tone = ToneSource(1000, 0.5)
    tone.read(80, 8000)  # 10 ms
    later = tone.read(480, 48000)  # the next 10 ms, at 48 kHz
    expected = g711.tone(1000, 0.01, 48000, 0.5, phase=2 * np.pi * 1000 * 0.01)
    assert np.max(np.abs(later.astype(int) - expected)) <= 1


@pytest.mark.parametrize("freq", [1000, 440, 997.5])
def test_tone_source_frames_of_one_size_are_one_sine(freq: float) -> None:
    """A call reads the same 20 ms frame again and again (sliced from a table)."""
    assert np.array_equal(frames(ToneSource(freq, 0.5), [160] * 50, 8000),
                          g711.tone(freq, 1.0, 8000, 0.5))


def test_tone_source_frames_of_one_size_stay_in_phase_across_rate_changes() -> None:
    """The fast reads leave the phase to be worked out when the rate changes: in phase."""
    tone = ToneSource(1000, 0.5)
    frames(tone, [160] * 7, 8000)  # 140 ms
    later = tone.read(480, 48000)  # the next 10 ms, at 48 kHz
    expected = g711.tone(1000, 0.01, 48000, 0.5, phase=2 * np.pi * 1000 * 0.14)
    assert np.max(np.abs(later.astype(int) - expected)) <= 1
    again = frames(tone, [160] * 3, 8000)  # and back
    expected = g711.tone(1000, 0.06, 8000, 0.5, phase=2 * np.pi * 1000 * 0.15)
    assert np.max(np.abs(again.astype(int) - expected)) <= 1


@pytest.mark.parametrize("rate", RATES)
def test_tone_source_has_the_asked_frequency_and_level(rate: int) -> None:
    heard = ToneSource(1000, 0.5).read(rate, rate)
    assert abs(g711.dominant_frequency(heard, rate) - 1000) < 0.5
    assert g711.rms(heard) == pytest.approx(0.5 * 32767 / np.sqrt(2), rel=1e-3)


def test_silence_source_gives_zeros_of_the_asked_length() -> None:
    heard = frames(SilenceSource(), [160, 320, 960], 8000)
    assert not heard.any()


def test_array_source_plays_once_then_silence() -> None:
    material = np.arange(1, 401, dtype=np.int16)
    source = ArraySource(material, 8000)
    heard = frames(source, [160, 160, 160], 8000)
    assert np.array_equal(heard[:400], material)
    assert not heard[400:].any()
    assert source.finished


def test_array_source_loops_when_asked() -> None:
    material = np.arange(1, 101, dtype=np.int16)
    heard = frames(ArraySource(material, 8000, loop=True), [160, 160], 8000)
    assert np.array_equal(heard, np.tile(material, 4)[:320])


def test_array_source_converts_to_the_rate_asked_for() -> None:
    source = ArraySource(g711.tone(1000, 1.0, 16000, 0.5), 16000)
    heard = frames(source, [160] * 50, 8000)  # one second read at 8 kHz
    assert abs(g711.dominant_frequency(heard, 8000) - 1000) < 0.5
    assert g711.snr_db(g711.tone(1000, 1.0, 8000, 0.5)[100:-100], heard[100:-100], lag=0) > 60


# --- WAV files -------------------------------------------------------------------------------


@pytest.mark.parametrize("rate", RATES)
def test_wav_files_round_trip_exactly(tmp_path: Path, rate: int) -> None:
    samples = g711.tone(440, 0.25, rate, 0.8)
    path = tmp_path / "tone.wav"
    write_wav(path, samples, rate)
    with wave.open(str(path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, rate)
    read, read_rate = read_wav(path)
    assert read_rate == rate
    assert np.array_equal(read, samples)


def test_stereo_wav_is_mixed_to_mono(tmp_path: Path) -> None:
    left = np.full(100, 1000, dtype=np.int16)
    right = np.full(100, 3000, dtype=np.int16)
    path = tmp_path / "stereo.wav"
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(16000)
        wav.writeframes(np.column_stack([left, right]).astype("<i2").tobytes())
    samples, rate = read_wav(path)
    assert rate == 16000
    assert np.array_equal(samples, np.full(100, 2000, dtype=np.int16))


def test_eight_bit_wav_is_read_as_sixteen_bit(tmp_path: Path) -> None:
    path = tmp_path / "u8.wav"
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(1)
        wav.setframerate(8000)
        wav.writeframes(bytes([128, 255, 0]))
    samples, _ = read_wav(path)
    assert samples.tolist() == [0, 127 * 256, -128 * 256]


def test_wav_source_plays_the_file_at_the_codec_rate(tmp_path: Path) -> None:
    path = tmp_path / "tone48k.wav"
    write_wav(path, g711.tone(1000, 0.5, 48000, 0.5), 48000)
    source = WavSource(path)
    heard = frames(source, [320] * 25, 16000)  # G.722 reads 16 kHz
    assert abs(g711.dominant_frequency(heard, 16000) - 1000) < 1
    assert source.duration == pytest.approx(0.5)


def test_recorder_writes_what_it_heard_to_a_wav_file(tmp_path: Path) -> None:
    recorder = Recorder()
    for chunk in np.split(g711.tone(1000, 0.2, 8000, 0.5), 10):
        recorder.write(chunk, 8000)
    path = recorder.to_wav(tmp_path / "heard.wav")
    samples, rate = read_wav(path)
    assert rate == 8000
    assert np.array_equal(samples, recorder.samples)
    assert recorder.duration == pytest.approx(0.2)
    assert len(recorder) == 1600


# --- resampling ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source_rate", "target_rate"),
    [(8000, 16000), (16000, 48000), (48000, 16000), (16000, 8000), (8000, 48000), (48000, 8000)],
)
def test_resampling_keeps_a_tone_frequency_and_the_duration(
    source_rate: int, target_rate: int
) -> None:
    converted = resample(g711.tone(1000, 1.0, source_rate, 0.5), source_rate, target_rate)
    assert converted.size == target_rate
    assert abs(g711.dominant_frequency(converted, target_rate) - 1000) < 0.1
    # Against an ideal tone at the new rate, away from the edges: no delay, little noise.
    ideal = g711.tone(1000, 1.0, target_rate, 0.5)
    assert g711.snr_db(ideal[500:-500], converted[500:-500], lag=0) > 60


def test_resampling_down_removes_what_the_new_rate_cannot_carry() -> None:
    # 6 kHz fits 16 kHz (Nyquist 8 kHz) but not 8 kHz (Nyquist 4 kHz): it must vanish,
    # not fold back to 2 kHz.
    converted = resample(g711.tone(6000, 1.0, 16000, 0.5), 16000, 8000)
    assert g711.rms(converted[200:-200]) < 0.01 * g711.rms(g711.tone(6000, 1.0, 16000, 0.5))


# --- the Recorder sink ----------------------------------------------------------------------


def test_recorder_takes_the_first_rate_and_resamples_later_writes() -> None:
    recorder = Recorder()
    recorder.write(g711.tone(1000, 0.5, 8000, 0.5), 8000)
    recorder.write(g711.tone(1000, 0.5, 48000, 0.5), 48000)
    assert recorder.rate == 8000
    assert recorder.samples.size == 8000
    assert recorder.duration == pytest.approx(1.0)
    assert recorder.rms() == pytest.approx(0.5 * 32767 / np.sqrt(2), rel=0.01)


def test_sources_and_the_recorder_fit_the_protocols() -> None:
    assert isinstance(ToneSource(), AudioSource)
    assert isinstance(SilenceSource(), AudioSource)
    assert isinstance(Recorder(), AudioSink)


# --- specs from the command line ----------------------------------------------------------------


def test_source_from_reads_command_line_specs(tmp_path: Path) -> None:
    path = tmp_path / "x.wav"
    write_wav(path, np.zeros(10, dtype=np.int16), 8000)
    assert isinstance(source_from(None), SilenceSource)
    assert isinstance(source_from("silence"), SilenceSource)
    tone = source_from("tone:440:0.25")
    assert isinstance(tone, ToneSource)
    assert (tone.freq, tone.amplitude) == (440, 0.25)
    wav = source_from(str(path))
    assert isinstance(wav, WavSource)
    assert not wav.loop
    looped = source_from(f"loop:{path}")
    assert isinstance(looped, WavSource)
    assert looped.loop
    mine = ToneSource()
    assert source_from(mine) is mine


@pytest.mark.parametrize("spec", ["tone:", "tone:abc", "nosuchfile.wav", "tone:1000:2"])
def test_source_from_rejects_bad_specs_with_a_clear_error(spec: str) -> None:
    with pytest.raises(LocalProtocolError):
        source_from(spec)
