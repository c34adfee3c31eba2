"""Receiver statistics (RFC 3550 §6.4.1, A.1, A.3, A.8) and the RTP sender (§5.1, §6.4.1).

The streams here are synthetic: a PCMU stream of 20 ms packets (160 timestamp
units at 8000 Hz) with loss, duplication, reordering and wrap-arounds made on
purpose, so every expected number can be worked out by hand.
"""

from __future__ import annotations

import doctest

import pytest

import siplab.rtp.stream
from siplab.ids import IdSource
from siplab.rtp.packet import RtpPacket, parse_rtp
from siplab.rtp.rtcp import SenderReport, ntp_from_unix, ntp_short
from siplab.rtp.stream import ReceiverStats, RtpSender


def feed(stats: ReceiverStats, seqs: list[int], *, first_seq: int | None = None) -> None:
    """Feed packets numbered ``seqs``; each arrives exactly on time (no jitter)."""
    base = seqs[0] if first_seq is None else first_seq
    for i, seq in enumerate(seqs):
        offset = (seq - base) % 65536
        stats.receive(RtpPacket(0, seq % 65536, (1000 + 160 * offset) % (1 << 32), 7), 0.02 * i)


class TestSequenceAndLoss:
    """A.1 (sequence bookkeeping) and A.3 (expected, lost, fraction)."""

    def test_in_order_stream_has_no_loss_and_no_jitter(self) -> None:
        stats = ReceiverStats()
        for i in range(50):
            stats.receive(RtpPacket(0, 100 + i, 160 * i, 7), now=10 + 0.02 * i)
        assert (stats.received, stats.expected, stats.lost) == (50, 50, 0)
        assert stats.jitter == pytest.approx(0, abs=1e-6)
        assert stats.ssrc == 7

    def test_gaps_count_as_lost_and_fraction_is_per_interval(self) -> None:
        stats = ReceiverStats()
        feed(stats, [s for s in range(100, 150) if s not in (110, 111, 130)])
        assert (stats.received, stats.expected, stats.lost) == (47, 50, 3)
        block = stats.report_block(now=1.0)
        assert block.fraction_lost == (3 << 8) // 50  # 15/256, about 6%
        assert block.cumulative_lost == 3
        assert block.highest_sequence == 149
        # Nothing lost in the next interval: the fraction goes back to 0, the total stays.
        feed(stats, list(range(150, 160)), first_seq=100)
        block = stats.report_block(now=2.0)
        assert (block.fraction_lost, block.cumulative_lost) == (0, 3)

    def test_duplicates_make_cumulative_loss_negative(self) -> None:
        stats = ReceiverStats()
        feed(stats, [1, 2, 3, 3, 4, 4, 5])
        assert stats.duplicates == 2
        assert (stats.received, stats.expected, stats.lost) == (7, 5, -2)
        assert stats.report_block(now=1.0).cumulative_lost == -2

    def test_reordered_packets_are_not_lost(self) -> None:
        stats = ReceiverStats()
        feed(stats, [1, 2, 4, 3, 5, 7, 6, 8])
        assert stats.reordered == 2
        assert stats.duplicates == 0
        assert (stats.lost, stats.extended_max) == (0, 8)

    def test_wrap_from_65535_to_0_extends_the_sequence_number(self) -> None:
        stats = ReceiverStats()
        feed(stats, [65530 + i for i in range(20)])  # 65530 ... 65535, 0 ... 13
        assert stats.cycles == 65536
        assert stats.extended_max == 65536 + 13
        assert (stats.expected, stats.lost) == (20, 0)
        assert stats.report_block(now=1.0).highest_sequence == 0x0001000D

    def test_late_packet_from_before_the_wrap_is_reordered_not_a_new_cycle(self) -> None:
        stats = ReceiverStats()
        feed(stats, [65533, 65534, 0, 1, 65535, 2])
        assert stats.cycles == 65536
        assert stats.reordered == 1
        assert (stats.expected, stats.lost) == (6, 0)

    def test_a_jump_is_believed_only_when_the_next_packet_follows_it(self) -> None:
        stats = ReceiverStats()
        assert stats.receive(RtpPacket(0, 10, 0, 7), 0.0)
        assert stats.receive(RtpPacket(0, 11, 160, 7), 0.02)
        assert not stats.receive(RtpPacket(0, 40000, 320, 7), 0.04)  # stray packet: ignored
        assert stats.receive(RtpPacket(0, 12, 480, 7), 0.06)
        assert not stats.receive(RtpPacket(0, 50000, 640, 7), 0.08)
        assert stats.receive(RtpPacket(0, 50001, 800, 7), 0.10)  # sender restarted: resync
        assert stats.restarts == 1
        assert (stats.base_seq, stats.received, stats.lost) == (50001, 1, 0)

    def test_probation_of_two_ignores_the_first_packet(self) -> None:
        stats = ReceiverStats(min_sequential=2)  # RFC 3550 A.1's MIN_SEQUENTIAL
        feed(stats, [5, 6, 7])
        assert (stats.packets, stats.received, stats.base_seq) == (3, 2, 6)


class TestJitter:
    """A.8: J = J + (|D| - J) / 16, D = change in transit time, in timestamp units."""

    def test_jitter_matches_a_hand_computation(self) -> None:
        stats = ReceiverStats(clock_rate=8000)
        arrivals = [0.000, 0.020, 0.045, 0.060, 0.080]
        for i, now in enumerate(arrivals):
            stats.receive(RtpPacket(0, i, 160 * i, 7), now)
        # transit = 8000 * arrival - timestamp: 0, 0, 40, 0, 0
        # D: 0, 40, -40, 0 -> J: 0, 2.5, 2.5 + 37.5/16, then decays by 15/16
        j = 0.0
        for d in (0, 40, 40, 0):
            j += (d - j) / 16
        assert stats.jitter == pytest.approx(j)
        assert stats.jitter == pytest.approx(4.541015625)
        assert stats.jitter_ms == pytest.approx(j / 8)
        assert stats.report_block(now=1.0).jitter == 4

    def test_timestamps_that_wrap_past_2_to_the_32_do_not_cause_jitter(self) -> None:
        stats = ReceiverStats()
        start = (1 << 32) - 800
        for i in range(20):
            stats.receive(RtpPacket(0, i, (start + 160 * i) % (1 << 32), 7), 0.02 * i)
        assert stats.jitter == pytest.approx(0, abs=1e-6)

    def test_a_constant_offset_between_the_clocks_is_not_jitter(self) -> None:
        stats = ReceiverStats()
        for i in range(20):
            stats.receive(RtpPacket(0, i, 123456 + 160 * i, 7), 5000.0 + 0.02 * i)
        assert stats.jitter == pytest.approx(0, abs=1e-4)


class TestReportTiming:
    """§6.4.1: LSR echoes the last SR, DLSR is the time since, in 1/65536 s."""

    def test_report_block_echoes_the_last_sender_report(self) -> None:
        stats = ReceiverStats()
        feed(stats, [1, 2, 3])
        assert (stats.report_block(now=1.0).lsr, stats.report_block(now=1.0).dlsr) == (0, 0)
        ntp = ntp_from_unix(1_700_000_000.25)
        stats.on_sender_report(SenderReport(7, ntp, 0, 3, 480), now=10.0)
        block = stats.report_block(now=11.5)
        assert block.lsr == ntp_short(ntp)
        assert block.dlsr == int(1.5 * 65536)


class TestSender:
    """§5.1: random starting points, +1 per packet, +samples per packet; §6.4.1 counts."""

    def test_initial_values_come_from_the_seeded_id_source(self) -> None:
        one, again, other = (RtpSender(0, ids=IdSource(s)) for s in (42, 42, 43))
        assert (one.ssrc, one.sequence_number, one.timestamp, one.cname) == (
            again.ssrc,
            again.sequence_number,
            again.timestamp,
            again.cname,
        )
        assert (one.ssrc, one.timestamp) != (other.ssrc, other.timestamp)
        assert len(one.cname) == 16

    def test_numbers_advance_and_wrap(self) -> None:
        sender = RtpSender(8, ids=IdSource(1), sequence_number=65534, timestamp=(1 << 32) - 160)
        packets = [sender.next_packet(bytes(160), samples=160) for _ in range(3)]
        assert [p.sequence_number for p in packets] == [65534, 65535, 0]
        assert [p.timestamp for p in packets] == [(1 << 32) - 160, 0, 160]
        assert [p.marker for p in packets] == [True, False, False]
        assert {p.payload_type for p in packets} == {8}
        assert (sender.packets_sent, sender.octets_sent) == (3, 480)

    def test_sender_report_maps_wallclock_to_the_media_clock(self) -> None:
        sender = RtpSender(0, ids=IdSource(1), timestamp=5000)
        for i in range(5):
            sender.next_packet(bytes(160), samples=160, now=100.0 + 0.02 * i)
        report = sender.sender_report(wallclock=1_700_000_000.0, now=100.5)
        # The last packet (timestamp 5640) left at 100.08; 0.42 s later is 3360 units on.
        assert report.rtp_timestamp == 5640 + 3360
        assert (report.packet_count, report.octet_count) == (5, 800)
        assert report.ntp_timestamp == ntp_from_unix(1_700_000_000.0)
        assert report.ssrc == sender.ssrc

    def test_explicit_timestamp_and_skip_to(self) -> None:
        sender = RtpSender(0, ids=IdSource(1), timestamp=1000)
        event = sender.next_packet(b"\x01\x0a\x00\xa0", samples=0, timestamp=1000, payload_type=101)
        assert (event.timestamp, sender.timestamp) == (1000, 1000)
        sender.skip_to(1800)
        sender.skip_to(1200)  # never backwards
        assert sender.timestamp == 1800
        sender.skip(160)
        assert sender.next_packet(bytes(160), samples=160).timestamp == 1960

    def test_next_datagram_is_the_bytes_of_next_packet(self) -> None:
        """The endpoint's fast path numbers and counts exactly like next_packet()."""
        fast, slow = (RtpSender(8, ids=IdSource(5), sequence_number=65535,
                                timestamp=(1 << 32) - 160) for _ in range(2))
        for i, marker in enumerate([True, False, False]):
            payload = bytes([i]) * 160
            assert fast.next_datagram(payload, 160, marker=marker, now=0.02 * i) == (
                slow.next_packet(payload, 160, marker=marker, now=0.02 * i).to_bytes())
        assert parse_rtp(fast.next_datagram(b"x", 160)).sequence_number == 2  # wrapped
        slow.next_packet(b"x", 160)
        state = ("sequence_number", "timestamp", "packets_sent", "octets_sent")
        assert [getattr(fast, name) for name in state] == [getattr(slow, name) for name in state]
        assert fast.sender_report(1.7e9, 0.1) == slow.sender_report(1.7e9, 0.1)

    def test_sdes_and_bye_name_this_source(self) -> None:
        sender = RtpSender(0, ids=IdSource(3), cname="alice@example.com")
        assert sender.source_description().chunks[0].cname == "alice@example.com"
        assert sender.bye("hangup").sources == (sender.ssrc,)


def test_module_examples_run() -> None:
    assert doctest.testmod(siplab.rtp.stream).failed == 0
