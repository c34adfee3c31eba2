"""The playout buffer: even playout from uneven arrival (RFC 3550 §5.1 on timestamps)."""

from __future__ import annotations

import doctest

import siplab.rtp.jitter_buffer
from siplab.rtp.jitter_buffer import JitterBuffer
from siplab.rtp.packet import RtpPacket


def packet(seq: int, ts: int | None = None) -> RtpPacket:
    return RtpPacket(0, seq % 65536, (160 * seq if ts is None else ts) % (1 << 32), 9)


def drain(jb: JitterBuffer, until: float) -> list[int]:
    """Run the buffer's timer up to ``until``, as a driver would; the sequence numbers played."""
    played: list[int] = []
    while (deadline := jb.get_timer()) is not None and deadline <= until:
        played += [p.sequence_number for p in jb.pop(deadline)]
    return played


def test_packets_play_after_the_target_delay_in_timestamp_order() -> None:
    jb = JitterBuffer(target_delay=0.06)
    for seq in range(5):
        jb.push(packet(seq), arrival=0.02 * seq)
    assert jb.pop(now=0.059) == []
    assert [p.sequence_number for p in jb.pop(now=0.06)] == [0]
    assert jb.get_timer() == 0.08
    assert drain(jb, 1.0) == [1, 2, 3, 4]
    assert (jb.played, jb.lost, jb.late) == (5, 0, 0)


def test_reordered_packets_are_played_in_order() -> None:
    jb = JitterBuffer(target_delay=0.05)
    for seq, arrival in [(0, 0.0), (2, 0.030), (1, 0.041), (4, 0.070), (3, 0.075)]:
        assert jb.push(packet(seq), arrival)
    assert drain(jb, 1.0) == [0, 1, 2, 3, 4]


def test_packet_after_its_turn_is_late_and_the_gap_was_lost() -> None:
    jb = JitterBuffer(target_delay=0.04)
    jb.push(packet(0), 0.0)
    jb.push(packet(2), 0.04)
    assert drain(jb, 0.081) == [0, 2]  # 1 was due at 0.06 and missing: skipped
    assert jb.lost == 1
    assert not jb.push(packet(1), 0.09)  # arrives after 2 was played
    assert (jb.late, len(jb)) == (1, 0)


def test_duplicates_are_dropped_before_and_after_playout() -> None:
    jb = JitterBuffer(target_delay=0.04)
    assert jb.push(packet(0), 0.0)
    assert not jb.push(packet(0), 0.001)
    drain(jb, 0.05)
    assert not jb.push(packet(0), 0.06)
    assert jb.duplicates == 2


def test_sequence_and_timestamp_wrap_inside_the_buffer() -> None:
    jb = JitterBuffer(target_delay=0.02)
    start_ts = (1 << 32) - 320
    for i in range(6):
        jb.push(packet(65533 + i, start_ts + 160 * i), arrival=0.02 * i)
    assert drain(jb, 1.0) == [65533, 65534, 65535, 0, 1, 2]
    assert jb.lost == 0


def test_overflow_drops_new_packets() -> None:
    jb = JitterBuffer(target_delay=10.0, max_packets=3)
    assert [jb.push(packet(s), 0.0) for s in range(4)] == [True, True, True, False]
    assert jb.overflow == 1


def test_module_examples_run() -> None:
    assert doctest.testmod(siplab.rtp.jitter_buffer).failed == 0
