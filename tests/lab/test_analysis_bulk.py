"""count_columns(): Wireshark's RTP statistics as array operations (RFC 3550 A.8, the bulk path).

siplab.lab.analysis_bulk must count exactly what WiresharkStats.receive
counts, packet by packet (tests/rtp/test_wireshark.py checks those rules
against tshark): the same packets, expected, lost, sequence errors, wrong
timestamps and wraps; delta and jitter columns within 1e-9 ms (its sums add
in another order; relative 1e-12 for the huge jitters of timestamps that jump by
2**31). It reads a capture in blocks, so every block must carry
on from the state the previous one left, including into the readable path.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from siplab.lab.analysis_bulk import count_columns
from siplab.rtp.packet import RtpPacket
from siplab.rtp.wireshark import WiresharkStats
from tests.lab.test_analysis import random_stream

RTPMAP = {101: ("telephone-event", 8000), 111: ("opus", 48000)}
Row = tuple[float, int, int, int]


def one_by_one(rows: list[Row], stats: WiresharkStats | None = None) -> WiresharkStats:
    stats = stats if stats is not None else WiresharkStats(RTPMAP)
    for now, seq, stamp, octet in rows:
        stats.receive(RtpPacket(octet & 0x7F, seq, stamp, 1, marker=bool(octet & 0x80)), now)
    return stats


def in_blocks(rows: list[Row], cuts: list[int]) -> WiresharkStats:
    stats = WiresharkStats(RTPMAP)
    for start, stop in zip([0, *cuts], [*cuts, len(rows)], strict=True):
        block = rows[start:stop]
        count_columns(stats, np.array([r[0] for r in block], dtype=np.float64),
                      *(np.array([r[i] for r in block], dtype=np.int64) for i in (1, 2, 3)))
    return stats


def assert_same_count(ours: WiresharkStats, reference: WiresharkStats) -> None:
    mine, theirs = ours.snapshot(), reference.snapshot()
    for name in theirs.__slots__:
        if name.endswith("_ms"):
            assert getattr(mine, name) == pytest.approx(getattr(theirs, name), rel=1e-12,
                                                        abs=1e-9), name
        else:
            assert getattr(mine, name) == getattr(theirs, name), name
    assert (ours.cycles, ours.wrong_timestamps, ours.stop_seq) == (
        reference.cycles, reference.wrong_timestamps, reference.stop_seq)


@pytest.mark.parametrize("seed", range(40))
def test_blocks_count_what_the_packet_loop_counts(seed: int) -> None:
    rng = random.Random(seed)
    rows = random_stream(rng, rng.randrange(1, 600))
    cuts = sorted(rng.sample(range(len(rows) + 1), rng.randrange(0, 4)))
    assert_same_count(in_blocks(rows, cuts), one_by_one(rows))


@pytest.mark.parametrize("seed", range(10))
def test_the_readable_loop_carries_on_from_a_bulk_count(seed: int) -> None:
    rng = random.Random(100 + seed)
    rows = random_stream(rng, 300)
    bulk = in_blocks(rows[:200], [rng.randrange(200)])
    assert_same_count(one_by_one(rows[200:], bulk), one_by_one(rows))


def test_a_clean_stream_wrapping_both_counters_has_no_loss_and_steady_jitter() -> None:
    # 20 ms PCMU packets arriving every 20 ms exactly: jitter 0; sequence numbers and
    # timestamps wrap (RFC 3550 §5.1) without counting as loss or as wrong timestamps.
    rows = [(0.02 * i, (65500 + i) % 65536, ((1 << 32) - 800 + 160 * i) % (1 << 32), 0)
            for i in range(200)]
    stats = in_blocks(rows, [37, 150])
    assert (stats.packets, stats.expected, stats.lost, stats.cycles) == (200, 200, 0, 1)
    assert (stats.sequence_errors, stats.wrong_timestamps) == (0, 0)
    assert stats.max_jitter == pytest.approx(0.0, abs=1e-9)
    assert stats.mean_delta == pytest.approx(20.0, abs=1e-9)


def test_a_late_packet_is_one_sequence_error_and_the_next_one_another() -> None:
    # 1, 2, 4, 3, 5: 4 skips 3 (an error), 3 comes late (an error, the last in-order
    # number stays 4), and 5 follows 4, not 3 (no error): Wireshark's count.
    rows = [(0.02 * i, seq, 160 * seq, 0) for i, seq in enumerate((1, 2, 4, 3, 5))]
    stats = in_blocks(rows, [])
    assert (stats.sequence_errors, stats.lost) == (2, 0)
    assert stats.sequence_errors == one_by_one(rows).sequence_errors
