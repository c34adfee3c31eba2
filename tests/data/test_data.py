"""The files in data/ exist, siplab reads them, and they show what data/README.md says.

data/README.md lists every capture and sound with what it shows; the
notebooks' exercises rest on those claims ("no ACK in this call", "5 % of
this stream was lost"), so each one is checked here on the committed file,
with the instruments a student uses: :func:`siplab.lab.read_pcap`,
:func:`siplab.lab.flow` and :func:`siplab.lab.rtp_streams` for captures
(RFC 3261 ladders, RFC 3550 streams, RFC 4733 telephone-events), the
standard library's :mod:`wave` for sounds. The files were made by
``data/make_data.py`` from real peers; these tests do not run it.
"""

from __future__ import annotations

import re
import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from siplab.lab import FlowRow, flow, read_pcap, rtp_streams
from siplab.rtp import DtmfReceiver
from siplab.rtp.g711 import dominant_frequency
from siplab.sdp import parse as parse_sdp
from siplab.sip.message import Request, Response

DATA = Path(__file__).resolve().parents[2] / "data"
README = DATA / "README.md"
#: data/ holds small files: the repository is cloned by every Binder session.
MAX_TOTAL_BYTES = 2 * 1024 * 1024

SIP_SERVER_PORT = 5060


def listed_files() -> list[str]:
    """The files named in the first column of data/README.md's tables."""
    return re.findall(r"^\| `((?:captures|audio)/[^`]+)` \|", README.read_text("utf-8"),
                      flags=re.MULTILINE)


def labels(rows: list[FlowRow]) -> list[str]:
    return [row.label for row in rows]


def invite_finals(rows: list[FlowRow]) -> list[Response]:
    """Final responses to INVITE, as they reached the caller's side (any hop)."""
    return [r.message for r in rows if isinstance(r.message, Response)
            and r.message.is_final and r.message.cseq.method == "INVITE"]


def requests(rows: list[FlowRow], method: str) -> list[FlowRow]:
    return [r for r in rows if isinstance(r.message, Request) and r.message.method == method]


# -- what each file must show ---------------------------------------------------------------


def check_call_basic(path: Path) -> None:
    rows = flow(path)
    seen = labels(rows)
    for label in ("INVITE", "180 Ringing", "200 OK", "ACK", "BYE"):
        assert label in seen, f"{label} missing from {seen}"
    assert seen.index("INVITE") < seen.index("180 Ringing") < seen.index("ACK") \
        < seen.index("BYE")
    streams = [s for s in rtp_streams(path) if s.encoding == "PCMU"]
    assert len(streams) == 2
    assert all(s.lost == 0 and s.packets > 100 for s in streams), streams
    capture = read_pcap(path)
    receiver = DtmfReceiver(payload_type=101)
    for media in capture.rtp_packets:
        receiver.receive(media.rtp, media.time)
    assert receiver.digits == "159#"


def check_call_loss_jitter(path: Path) -> None:
    streams = sorted(rtp_streams(path), key=lambda s: s.lost_percent)
    assert len(streams) == 2
    clean, lossy = streams
    assert clean.lost == 0
    assert 3.0 <= lossy.lost_percent <= 7.0, lossy
    assert lossy.max_jitter_ms > 5.0, lossy
    assert lossy.max_jitter_ms > 3 * clean.max_jitter_ms


def check_call_missing_ack(path: Path) -> None:
    rows = flow(path)
    assert requests(rows, "ACK") == []
    oks = [r for r in rows if r.label == "200 OK" and r.cseq is not None
           and r.cseq.method == "INVITE" and r.dst.port != SIP_SERVER_PORT]
    assert len(oks) >= 6, labels(rows)  # the first and its retransmissions, to the caller
    byes = requests(rows, "BYE")
    assert byes, "the callee should end the call with BYE"
    assert byes[0].time - oks[0].time >= 31.5


def check_call_cancelled(path: Path) -> None:
    rows = flow(path)
    seen = labels(rows)
    assert "180 Ringing" not in seen
    assert "183 Session Progress" not in seen
    cancels = requests(rows, "CANCEL")
    invite = requests(rows, "INVITE")[0]
    assert cancels, "the caller should give up with CANCEL"
    assert cancels[0].src == invite.src, "the caller sends the CANCEL"
    assert {r.status for r in invite_finals(rows)} == {487}


def check_call_488_codec_mismatch(path: Path) -> None:
    rows = flow(path)
    offer = requests(rows, "INVITE")[0].message
    sdp = parse_sdp(offer.body.decode())
    assert [c.name for c in sdp.media[0].codecs] == ["G729"]
    finals = invite_finals(rows)
    assert {r.status for r in finals} == {488}
    assert all(r.headers.get("Warning") for r in finals)


def check_register_wrong_password(path: Path) -> None:
    assert labels(flow(path)) == ["REGISTER", "401 Unauthorized", "REGISTER",
                                  "403 Wrong password"]


def check_call_forked(path: Path) -> None:
    rows = flow(path)
    call_id = requests(rows, "INVITE")[0].call_id
    forwarded = [r for r in requests(rows, "INVITE") if r.src.port == SIP_SERVER_PORT]
    assert len({r.dst for r in forwarded}) == 2
    assert {r.call_id for r in forwarded} == {call_id}
    cancels = requests(rows, "CANCEL")
    assert len(cancels) == 1
    answered = [r for r in rows if r.label == "200 OK" and r.cseq is not None
                and r.cseq.method == "INVITE" and r.dst.port == SIP_SERVER_PORT]
    assert len(answered) == 1
    assert cancels[0].dst != answered[0].src, "the CANCEL goes to the phone that did not answer"
    assert [r.src for r in rows if r.label.startswith("487")] == [cancels[0].dst]


def check_call_kamailio(path: Path) -> None:
    rows = flow(path)
    invites = requests(rows, "INVITE")
    first_answer = next(r for r in rows if isinstance(r.message, Response)
                        and r.message.cseq.method == "INVITE" and r.message.status >= 200)
    assert first_answer.message.status == 407
    assert any("kamailio" in (r.message.headers.get("Server") or "") for r in rows)
    ok = next(r for r in rows if r.label == "200 OK" and r.cseq is not None
              and r.cseq.method == "INVITE")
    assert ok.message.headers.get("Record-Route")
    assert requests(rows, "BYE")[0].message.headers.get("Route")
    assert len(invites) >= 3  # challenged, with credentials, forwarded to bob


def _wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth()) == (1, 2)
        rate = wav.getframerate()
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    return samples, rate


def check_melody(path: Path) -> None:
    samples, rate = _wav(path)
    assert rate == 8000
    assert len(samples) == 2 * rate
    notes = [dominant_frequency(part, rate) for part in np.split(samples, 4)]
    assert notes == pytest.approx([523.25, 659.25, 783.99, 1046.50], abs=2.0)


def check_dtmf_inband(path: Path) -> None:
    samples, rate = _wav(path)
    assert rate == 8000
    assert len(samples) == round(0.8 * rate)
    first = samples[: round(0.1 * rate)].astype(float)
    spectrum = np.abs(np.fft.rfft(first * np.hanning(first.size), 8 * first.size))
    frequencies = np.fft.rfftfreq(8 * first.size, 1 / rate)
    low = frequencies[np.argmax(np.where(frequencies < 1000, spectrum, 0))]
    high = frequencies[np.argmax(np.where(frequencies > 1100, spectrum, 0))]
    assert (low, high) == (pytest.approx(697, abs=10), pytest.approx(1209, abs=10))


CHECKS: dict[str, Callable[[Path], None]] = {
    "captures/call_basic.pcap": check_call_basic,
    "captures/call_loss_jitter.pcap": check_call_loss_jitter,
    "captures/call_missing_ack.pcap": check_call_missing_ack,
    "captures/call_cancelled.pcap": check_call_cancelled,
    "captures/call_488_codec_mismatch.pcap": check_call_488_codec_mismatch,
    "captures/register_wrong_password.pcap": check_register_wrong_password,
    "captures/call_forked.pcap": check_call_forked,
    "captures/call_kamailio.pcap": check_call_kamailio,
    "audio/melody.wav": check_melody,
    "audio/dtmf_inband_159.wav": check_dtmf_inband,
}


# -- the tests ----------------------------------------------------------------------------------


def test_readme_lists_exactly_the_files_that_are_checked() -> None:
    assert sorted(listed_files()) == sorted(CHECKS)


def test_every_file_in_data_is_listed_in_the_readme() -> None:
    present = sorted(str(p.relative_to(DATA)) for folder in ("captures", "audio")
                     for p in (DATA / folder).iterdir() if p.is_file())
    assert present == sorted(listed_files())


def test_data_stays_small() -> None:
    total = sum(p.stat().st_size for p in DATA.rglob("*") if p.is_file())
    assert total < MAX_TOTAL_BYTES, f"data/ holds {total} bytes"


@pytest.mark.parametrize("name", [n for n in CHECKS if n.endswith(".pcap")])
def test_capture_is_read_by_siplab(name: str) -> None:
    capture = read_pcap(DATA / name)
    assert capture.sip_messages, f"{name}: no SIP message"
    assert capture.frames == len(capture.packets), f"{name}: something is not UDP or TCP"


@pytest.mark.parametrize("name", [n for n in CHECKS if n.endswith(".wav")])
def test_sound_is_read_by_the_wave_module(name: str) -> None:
    samples, rate = _wav(DATA / name)
    assert rate > 0
    assert samples.size > 0


@pytest.mark.parametrize("name", list(CHECKS))
def test_file_shows_what_the_readme_says(name: str) -> None:
    CHECKS[name](DATA / name)
