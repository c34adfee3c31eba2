"""The WAV files of data/audio: sounds computed with numpy, nothing recorded from a microphone.

* ``melody.wav``: four notes of a C major arpeggio (C5 E5 G5 C6: 523.25,
  659.25, 783.99, 1046.50 Hz), 0.5 s each, with 10 ms fades so that no note
  starts with a click; 8000 samples/s, 16-bit mono, the rate of a G.711 call.
  A phone in the notebooks plays it; a spectrogram shows four steps.
* ``dtmf_inband_159.wav``: the keys 1, 5, 9 and # as the *sound* a keypad
  makes (in-band DTMF, ITU-T Q.23): each key is two sines, one from the
  low group (697, 770, 852, 941 Hz) and one from the high group (1209, 1336,
  1477 Hz), 100 ms of tone and 100 ms of silence per key, 8000 samples/s.
  RFC 4733 sends the key instead of this sound; notebook 05 compares the two.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from siplab.aio.audio import write_wav

__all__ = ["RATE", "MELODY_NOTES", "DTMF_FREQUENCIES", "melody", "dtmf_inband", "make_audio"]

RATE = 8000
MELODY_NOTES = (523.25, 659.25, 783.99, 1046.50)
#: Q.23: key -> (low group Hz, high group Hz).
DTMF_FREQUENCIES = {
    "1": (697, 1209), "2": (697, 1336), "3": (697, 1477),
    "4": (770, 1209), "5": (770, 1336), "6": (770, 1477),
    "7": (852, 1209), "8": (852, 1336), "9": (852, 1477),
    "*": (941, 1209), "0": (941, 1336), "#": (941, 1477),
}  # fmt: skip


def _fade(samples: np.ndarray, seconds: float = 0.01) -> np.ndarray:
    n = min(len(samples) // 2, round(seconds * RATE))
    ramp = 0.5 - 0.5 * np.cos(np.linspace(0, math.pi, n))
    out = samples.copy()
    out[:n] *= ramp
    out[len(out) - n:] *= ramp[::-1]
    return out


def melody(note_seconds: float = 0.5, amplitude: float = 0.4) -> np.ndarray:
    t = np.arange(round(note_seconds * RATE)) / RATE
    notes = [_fade(amplitude * np.sin(2 * math.pi * f * t)) for f in MELODY_NOTES]
    return np.round(np.concatenate(notes) * 32767).astype(np.int16)


def dtmf_inband(keys: str = "159#", tone_seconds: float = 0.1, gap_seconds: float = 0.1,
                amplitude: float = 0.35) -> np.ndarray:
    t = np.arange(round(tone_seconds * RATE)) / RATE
    gap = np.zeros(round(gap_seconds * RATE))
    parts = []
    for key in keys:
        low, high = DTMF_FREQUENCIES[key]
        tone = amplitude * (np.sin(2 * math.pi * low * t) + np.sin(2 * math.pi * high * t)) / 2
        parts += [_fade(tone, 0.005), gap]
    return np.round(np.concatenate(parts) * 32767).astype(np.int16)


def make_audio(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, samples in (("melody.wav", melody()), ("dtmf_inband_159.wav", dtmf_inband())):
        path = directory / name
        write_wav(path, samples, RATE)
        written.append(path)
    return written
