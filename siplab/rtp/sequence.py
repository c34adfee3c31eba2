"""Numbers that wrap: RTP sequence numbers and timestamps (RFC 3550 §5.1, A.1; RFC 1982).

An RTP sequence number has 16 bits: at 50 packets a second it wraps from
65535 to 0 every 22 minutes. A timestamp has 32 bits and starts at a random
value, so it can wrap at any moment. To compare two of them you look at the
shorter way round the circle ("serial number arithmetic", RFC 1982): 3 comes
*after* 65534, because going forward from 65534 to 3 is 5 steps and going
back is 65531.

A receiver that must count (how many packets expected, how many lost) keeps
an *extended* number instead: the count of wraps (RFC 3550 calls it
``cycles``) in the high bits and the 16-bit value in the low bits. Given the
extended number of a packet it already has, :func:`extend_seq` picks the
extended number nearest to it that ends in the new 16 bits.
"""

from __future__ import annotations

__all__ = [
    "SEQ_MOD",
    "TIMESTAMP_MOD",
    "seq_delta",
    "timestamp_delta",
    "extend_seq",
    "extend_timestamp",
]

#: Sequence numbers are counted modulo 2**16.
SEQ_MOD = 1 << 16
#: Timestamps are counted modulo 2**32.
TIMESTAMP_MOD = 1 << 32


def seq_delta(a: int, b: int) -> int:
    """How far sequence number ``a`` is after ``b``, the short way round: -32768..32767."""
    return (a - b + SEQ_MOD // 2) % SEQ_MOD - SEQ_MOD // 2


def timestamp_delta(a: int, b: int) -> int:
    """How far timestamp ``a`` is after ``b``, the short way round: -2**31..2**31-1."""
    return (a - b + TIMESTAMP_MOD // 2) % TIMESTAMP_MOD - TIMESTAMP_MOD // 2


def extend_seq(seq: int, reference: int) -> int:
    """The extended sequence number ending in ``seq`` that is nearest to ``reference``.

    >>> extend_seq(2, 65534)        # just wrapped
    65538
    >>> extend_seq(65534, 65538)    # a late packet from before the wrap
    65534
    """
    return reference + seq_delta(seq, reference % SEQ_MOD)


def extend_timestamp(timestamp: int, reference: int) -> int:
    """The extended timestamp ending in ``timestamp`` that is nearest to ``reference``."""
    return reference + timestamp_delta(timestamp, reference % TIMESTAMP_MOD)
