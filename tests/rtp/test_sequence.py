"""Serial number arithmetic for sequence numbers and timestamps (RFC 3550 §5.1, A.1; RFC 1982)."""

from __future__ import annotations

import pytest

from siplab.rtp.sequence import extend_seq, extend_timestamp, seq_delta, timestamp_delta


@pytest.mark.parametrize(
    ("a", "b", "delta"),
    [(5, 3, 2), (3, 5, -2), (2, 65534, 4), (65534, 2, -4), (32767, 0, 32767), (32768, 0, -32768)],
)
def test_seq_delta_goes_the_short_way_round(a: int, b: int, delta: int) -> None:
    assert seq_delta(a, b) == delta


def test_timestamp_delta_wraps_at_32_bits() -> None:
    assert timestamp_delta(100, 0xFFFFFF00) == 356
    assert timestamp_delta(0xFFFFFF00, 100) == -356


def test_extend_seq_counts_the_wrap_and_places_late_packets_before_it() -> None:
    assert extend_seq(2, 65534) == 65538
    assert extend_seq(65534, 65538) == 65534
    assert extend_seq(7, 3 * 65536 + 5) == 3 * 65536 + 7


def test_extend_timestamp_counts_the_wrap() -> None:
    assert extend_timestamp(160, 0xFFFFFF60) == (1 << 32) + 160
