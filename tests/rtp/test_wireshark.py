"""RTP stream statistics the way Wireshark counts them, checked by hand and against tshark.

The rules are written down in siplab/rtp/wireshark.py (read from Wireshark's
ui/tap-rtp-analysis.c and ui/tap-rtp-common.c). The last test writes a
capture of synthetic streams with loss, duplicates, reordering, jitter,
markers, comfort noise and wrap-arounds, runs ``tshark -z rtp,streams`` on it
and requires the same packets and lost counts exactly, and every delta and
jitter column within 0.001 ms.
"""

from __future__ import annotations

import random
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from siplab.rtp.packet import RtpPacket
from siplab.rtp.wireshark import WiresharkStats, wireshark_clock_rate
from tests.helpers import require_peer
from tests.rtp.pcap import udp_frame, write_pcap


def analyse(rows: list[tuple[float, int, int]], **packet: object) -> WiresharkStats:
    """(arrival s, seq, timestamp) rows of one PCMU stream, through WiresharkStats."""
    stats = WiresharkStats()
    for now, seq, ts in rows:
        stats.receive(RtpPacket(0, seq, ts, 0x1234, **packet), now)  # type: ignore[arg-type]
    return stats


class TestHandComputed:
    """Small streams whose columns can be worked out on paper."""

    def test_reordered_packet_counts_in_delta_and_jitter(self) -> None:
        stats = analyse(
            [
                (0.000, 100, 1000),
                (0.020, 101, 1160),
                (0.041, 102, 1320),
                (0.058, 104, 1640),
                (0.090, 103, 1480),  # late, but its timestamp is after the first one's
                (0.100, 105, 1800),
            ]
        )
        # diffs |arrival - expected| in ms: 0, 1, 23, 52, 30; jitter J += (diff - J) / 16
        jitters, j = [], 0.0
        for diff in (0, 1, 23, 52, 30):
            j += (diff - j) / 16
            jitters.append(j)
        assert stats.max_jitter == pytest.approx(jitters[-1])  # 6.2368...
        assert stats.mean_jitter == pytest.approx(sum(jitters) / 5)  # 2.4896...
        assert (stats.min_delta, stats.mean_delta, stats.max_delta) == pytest.approx((10, 20, 32))
        assert (stats.packets, stats.lost, stats.sequence_errors) == (6, 0, 2)
        assert stats.problem

    def test_duplicates_make_lost_negative(self) -> None:
        # Like sipp's DTMF capture (FACTS.md): end packets repeat their sequence number.
        stats = analyse([(0.02 * i, s, 160 * i) for i, s in enumerate([1, 2, 3, 3, 3, 4])])
        assert (stats.packets, stats.expected, stats.lost) == (6, 4, -2)

    def test_lost_uses_the_last_packet_not_the_highest(self) -> None:
        stats = analyse([(0.0, 10, 0), (0.02, 12, 320), (0.04, 11, 160)])
        assert (stats.expected, stats.lost) == (2, -1)

    def test_marked_packet_is_left_out_of_max_delta(self) -> None:
        stats = WiresharkStats()
        stats.receive(RtpPacket(0, 1, 0, 5), 0.0)
        stats.receive(RtpPacket(0, 2, 160, 5), 0.02)
        stats.receive(RtpPacket(0, 3, 8160, 5, marker=True), 1.02)  # talkspurt after 1 s
        stats.receive(RtpPacket(0, 4, 8320, 5), 1.04)
        assert stats.max_delta == pytest.approx(20.0)

    def test_timestamp_before_the_first_is_a_wrong_timestamp(self) -> None:
        stats = analyse([(0.0, 2, 320), (0.01, 1, 160), (0.04, 3, 480)])
        assert stats.wrong_timestamps == 1
        assert stats.max_delta == pytest.approx(40.0)  # measured from the first packet

    def test_clock_rates(self) -> None:
        assert wireshark_clock_rate(0, {}) == 8000
        assert wireshark_clock_rate(9, {}) == 8000  # G.722's RTP clock is 8000 (RFC 3551)
        assert wireshark_clock_rate(111, {}) == 0  # dynamic, no SDP seen: no jitter
        assert wireshark_clock_rate(111, {111: ("opus", 48000)}) == 48000
        assert wireshark_clock_rate(101, {101: ("telephone-event", 8000)}) == 0


# --- against tshark -------------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    micros: int
    packet: RtpPacket
    src_port: int


def synthetic_stream(
    rng: random.Random,
    *,
    ssrc: int,
    port: int,
    seq: int,
    timestamp: int,
    payload_types: tuple[int, ...] = (0,),
    count: int = 300,
) -> list[Sent]:
    """A 20 ms stream with about 5% loss, 3% duplicates, 5% swaps and up to 15 ms of jitter."""
    out: list[list[object]] = []
    for i in range(count):
        if rng.random() < 0.05:
            continue  # lost
        micros = 20_000 * i + rng.randrange(0, 15_000)
        marker = i == 0 or rng.random() < 0.03
        packet = RtpPacket(
            rng.choice(payload_types),
            (seq + i) % 65536,
            (timestamp + 160 * i) % (1 << 32),
            ssrc,
            payload=bytes(160),
            marker=marker,
        )
        out.append([micros, packet])
        if rng.random() < 0.03:
            out.append([micros + rng.randrange(1, 5_000), packet])  # duplicate
    for i in range(len(out) - 1):
        if rng.random() < 0.05:  # swap arrival times: reordering
            out[i][0], out[i + 1][0] = out[i + 1][0], out[i][0]
    return [Sent(int(m), p, port) for m, p in out]  # type: ignore[call-overload, arg-type]


STREAM_LINE = re.compile(
    r"0x(?P<ssrc>[0-9A-F]{8})\s+(?P<payload>.+?)\s+(?P<packets>\d+)\s+(?P<lost>-?\d+)"
    r" \([-\d.]+%\)" + "".join(rf"\s+(?P<f{i}>-?[\d.]+)" for i in range(6))
)
COLUMNS = ("min_delta", "mean_delta", "max_delta", "min_jitter", "mean_jitter", "max_jitter")


def tshark_streams(tshark: str, capture: Path) -> dict[int, dict[str, float]]:
    result = subprocess.run(
        [tshark, "-r", str(capture), "-q", "-z", "rtp,streams", "-o", "rtp.heuristic_rtp:TRUE"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    rows: dict[int, dict[str, float]] = {}
    for line in result.stdout.splitlines():
        match = STREAM_LINE.search(line)
        if match:
            row = {"packets": float(match["packets"]), "lost": float(match["lost"])}
            row |= {name: float(match[f"f{i}"]) for i, name in enumerate(COLUMNS)}
            rows[int(match["ssrc"], 16)] = row
    return rows


@pytest.mark.interop
def test_statistics_agree_with_tshark_rtp_streams(tmp_path: Path) -> None:
    tshark = require_peer("tshark", "tshark")
    rng = random.Random(20240501)
    pcma_with_comfort_noise = (8, 8, 8, 8, 8, 8, 13)
    streams = [
        # plain PCMU
        synthetic_stream(rng, ssrc=0x1111, port=40000, seq=1000, timestamp=123456),
        # sequence numbers wrap 65535 -> 0 in the middle
        synthetic_stream(rng, ssrc=0x2222, port=40010, seq=65400, timestamp=99),
        # RTP timestamps wrap past 2**32 in the middle
        synthetic_stream(rng, ssrc=0x3333, port=40020, seq=7, timestamp=(1 << 32) - 20_000),
        # PCMA with comfort noise (PT 13) mixed in
        synthetic_stream(
            rng, ssrc=0x4444, port=40030, seq=500, timestamp=0,
            payload_types=pcma_with_comfort_noise,
        ),
        # a dynamic type without SDP, like telephone-events: Wireshark computes no jitter
        synthetic_stream(
            rng, ssrc=0x5555, port=40040, seq=3, timestamp=4000, payload_types=(101,), count=40
        ),
    ]  # fmt: skip
    sent = sorted((s for stream in streams for s in stream), key=lambda s: s.micros)
    capture = tmp_path / "rtp.pcap"
    frames = []
    for i, s in enumerate(sent):
        src, dst = ("10.0.0.1", s.src_port), ("10.0.0.2", s.src_port + 2)
        frames.append((s.micros, udp_frame(s.packet.to_bytes(), src, dst, ident=i)))
    write_pcap(capture, frames)

    ours: dict[int, WiresharkStats] = {}
    for s in sent:
        stats = ours.setdefault(s.packet.ssrc, WiresharkStats())
        stats.receive(s.packet, s.micros / 1e6)

    theirs = tshark_streams(tshark, capture)
    assert set(theirs) == set(ours)
    for ssrc, row in theirs.items():
        mine = ours[ssrc]
        assert (mine.packets, mine.lost) == (row["packets"], row["lost"]), hex(ssrc)
        for name in COLUMNS:
            assert getattr(mine, name) == pytest.approx(row[name], abs=0.001), (hex(ssrc), name)
    # The capture really exercised what it claims to.
    assert ours[0x1111].sequence_errors > 0
    assert ours[0x1111].max_jitter > 1
    assert ours[0x1111].packets != ours[0x1111].expected
    assert ours[0x2222].cycles == 1
    assert ours[0x5555].max_jitter == 0
    assert ours[0x5555].max_delta > 0
