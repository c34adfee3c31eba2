"""RTP plots (siplab.lab.plots): what a receiver saw, checked from the figures' artists.

RFC 3550 §5.1 (sequence numbers: loss, reordering, duplication; timestamps),
§6.4.1 and A.8 (interarrival jitter, here as Wireshark computes it), RFC 3551
§4.5.2 (G.722's 8000 Hz RTP clock for 16000 Hz audio). Streams are made here,
packet by packet, so the expected marks are known exactly.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from siplab.lab import audio, plot_deltas, plot_jitter, plot_sequence, plot_stream
from siplab.lab.plots import (
    decode_stream,
    jitter_series,
    packet_marks,
    plot_spectrogram,
    plot_waveform,
    stream_packets,
)
from siplab.rtp import g711
from siplab.rtp.packet import RtpPacket
from siplab.rtp.wireshark import WiresharkStats
from tests.lab.figures import artists
from tests.lab.ladder_captures import call_capture

Packets = list[tuple[float, RtpPacket]]


def pcmu_stream(count: int = 100, *, first_seq: int = 65500, ssrc: int = 0x1234,
                frequency: float = 440.0) -> Packets:
    """20 ms PCMU packets of a tone; the sequence numbers wrap past 65535 on the way."""
    samples = g711.tone(frequency, count * 0.02)
    return [(10.0 + 0.02 * i + (0.004 if i % 5 == 0 else 0.0),
             RtpPacket(0, (first_seq + i) % 65536, 160 * i, ssrc,
                       g711.encode("PCMU", samples[160 * i:160 * (i + 1)])))
            for i in range(count)]


def damaged(packets: Packets) -> Packets:
    """Lose the 31st and 33rd packets, deliver the 51st after the 52nd, repeat the last."""
    out = [p for i, p in enumerate(packets) if i not in (30, 32)]
    i = next(k for k, (_, p) in enumerate(out) if p.sequence_number == packets[50][1]
             .sequence_number)
    (t1, p1), (t2, p2) = out[i], out[i + 1]
    out[i], out[i + 1] = (t1, p2), (t2, p1)
    out.append((out[-1][0] + 0.001, out[-1][1]))
    return out


def test_marks_count_loss_reordering_and_duplicates_across_the_wrap() -> None:
    stream = pcmu_stream()
    marks = packet_marks(stream_packets(damaged(stream)))
    assert marks.lost == [65500 + 30, 65500 + 32]
    assert len(marks.late) == 1
    assert len(marks.duplicate) == 1
    assert max(marks.extended) == 65500 + 99  # 65599: extended past the 16-bit wrap


def test_sequence_plot_marks_lost_late_and_duplicate_packets() -> None:
    figure = plot_sequence(damaged(pcmu_stream()))
    lost = artists(figure, "rtp-lost")[0]
    assert list(lost.get_ydata()) == [65530, 65532]
    late = artists(figure, "rtp-late")[0]
    assert list(late.get_ydata()) == [65550]
    assert len(artists(figure, "rtp-duplicate")[0].get_ydata()) == 1
    received = artists(figure, "rtp-received")[0]
    assert len(received.get_xdata()) == 97  # 99 arrivals, less the late and the duplicate
    box = figure.axes[0].get_legend()
    assert box is not None
    legend = [t.get_text() for t in box.get_texts()]
    assert legend == ["received (99)", "lost (2)", "late, out of order (1)", "duplicate (1)"]


def test_a_clean_stream_has_no_loss_marks() -> None:
    figure = plot_sequence(pcmu_stream(20))
    assert artists(figure, "rtp-lost") == []
    assert artists(figure, "rtp-late") == []


def test_jitter_is_wiresharks_running_value() -> None:
    packets = pcmu_stream()
    series = jitter_series(stream_packets(packets))
    stats = WiresharkStats()
    for time, packet in packets:
        stats.receive(packet, time)
    assert series[-1] == pytest.approx(stats.jitter)
    assert max(series) == pytest.approx(stats.snapshot().max_jitter_ms)
    line = artists(plot_jitter(packets), "rtp-jitter")[0]
    assert list(line.get_ydata()) == pytest.approx(series)
    assert line.get_xdata()[0] == 0.0  # seconds from the first packet


def test_delta_histogram_counts_every_gap() -> None:
    packets = pcmu_stream()
    figure = plot_deltas(packets)
    bars = artists(figure, "rtp-deltas")
    assert sum(bar.get_height() for bar in bars) == len(packets) - 1
    median = artists(figure, "delta-median")[0]
    assert median.get_xdata()[0] == pytest.approx(20.0)


def test_pcmu_decodes_to_the_tone_with_silence_where_packets_were_lost() -> None:
    samples, rate = decode_stream(damaged(pcmu_stream(frequency=440.0)))
    assert rate == 8000
    assert len(samples) == 100 * 160
    assert g711.dominant_frequency(samples[:4000], rate) == pytest.approx(440, abs=5)
    assert not samples[30 * 160:31 * 160].any()
    assert not samples[32 * 160:33 * 160].any()
    assert samples[31 * 160:32 * 160].any()


def test_g722_is_decoded_at_16000_hz_through_pyav() -> None:
    pytest.importorskip("av")
    from siplab.aio.codecs import encoder

    encode = encoder("G722")
    tone = g711.tone(1000.0, 1.0, rate=16000)
    packets = [(5.0 + 0.02 * i, RtpPacket(9, i, 160 * i, 0x722,
                                          encode.encode(tone[320 * i:320 * (i + 1)])))
               for i in range(50)]
    samples, rate = decode_stream(packets)
    assert rate == 16000
    assert len(samples) == 16000
    assert g711.dominant_frequency(samples[2000:], rate) == pytest.approx(1000, abs=10)


def test_waveform_spectrogram_and_audio() -> None:
    packets = pcmu_stream(50)
    waveform = artists(plot_waveform(packets), "waveform")[0]
    assert len(waveform.get_ydata()) == 50 * 160
    assert waveform.get_xdata()[-1] == pytest.approx((50 * 160 - 1) / 8000)
    assert artists(plot_spectrogram(packets), "spectrogram")
    player = audio(packets)
    assert player.data[:4] == b"RIFF"  # a WAV file, as the notebook's player wants
    assert int.from_bytes(player.data[24:28], "little") == 8000


def test_the_spectrogram_of_silence_is_drawn_without_a_warning() -> None:
    # PCMU 0xFF decodes to 0: a stream of digital silence, whose log power is -inf.
    silent = [(10.0 + 0.02 * i, RtpPacket(0, i, 160 * i, 0x51, b"\xff" * 160)) for i in range(20)]
    assert not decode_stream(silent)[0].any()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert artists(plot_spectrogram(silent), "spectrogram")


def test_stream_overview_has_every_panel() -> None:
    figure = plot_stream(pcmu_stream(50))
    assert len(figure.axes) == 5
    assert [a.get_title(loc="left") for a in figure.axes] == [
        "sequence numbers", "jitter", "interarrival deltas", "waveform", "spectrogram"]
    assert len(plot_stream(pcmu_stream(50), audio=False).axes) == 3


def test_plots_read_a_capture_and_pick_the_stream(tmp_path: Path) -> None:
    path = call_capture(tmp_path / "call.pcap")
    from siplab.lab import read_pcap, rtp_streams

    streams = rtp_streams(path)
    assert [s.ssrc for s in streams] == [0xA11CE, 0xB0B]
    chosen = stream_packets(path, streams[1])
    assert (chosen.ssrc, chosen.src, chosen.dst) == (0xB0B, "10.0.0.2:4000", "10.0.0.1:4000")
    assert chosen.encoding == "PCMU"
    assert len(chosen.packets) == 45
    assert stream_packets(read_pcap(path), 0xA11CE).src == "10.0.0.1:4000"
    figure = plot_sequence(path, 0xB0B)
    assert "SSRC 0x00000b0b PCMU  10.0.0.2:4000 → 10.0.0.1:4000" in figure.axes[0].get_title()
    with pytest.raises(ValueError, match="no RTP stream with SSRC 5"):
        stream_packets(path, 5)
