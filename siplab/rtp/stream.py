"""One RTP stream, seen from each end: what a sender counts and what a receiver measures.

**The receiver** (RFC 3550 §6.4.1 and Appendix A) keeps, per SSRC, the
numbers it later puts in a reception report block:

* *Sequence bookkeeping* (A.1). The first packet sets ``base_seq``. A packet
  up to ``MAX_DROPOUT`` (3000) ahead of the highest sequence number so far
  moves it forward, counting a wrap (``cycles``) when the 16-bit number goes
  round. A packet up to ``MAX_MISORDER`` (100) behind is a duplicate or a
  late, reordered packet: counted as received, nothing moves. Anything else
  is a jump; it is ignored unless the *next* packet follows it, which means
  the sender restarted, and then counting starts again from there.
  (A.1 also puts a new source "on probation" until ``MIN_SEQUENTIAL`` packets
  arrived in order; siplab accepts the first packet, ``min_sequential=1``,
  because the stream was announced by SDP. Pass 2 for the RFC's behaviour.)
* *Loss* (A.3): ``expected = extended_max - base_seq + 1`` and
  ``lost = expected - received``. A duplicate is received twice but expected
  once, so the cumulative loss can be negative. The *fraction* lost is taken
  over the interval since the previous report.
* *Interarrival jitter* (A.8): for each packet, the transit time is its
  arrival time on the media clock minus its RTP timestamp; ``D`` is how much
  the transit changed from the previous packet, and
  ``J = J + (|D| - J) / 16``: a running mean of |D| that forgets slowly. The
  clock offset between the two ends cancels out in ``D``. J is in timestamp
  units (divide by the clock rate for seconds). The first packet only sets
  the transit.

Wireshark computes its "RTP Streams" numbers differently; those live in
:mod:`siplab.rtp.wireshark`.

**The sender** (§5.1, §6.4.1) starts the sequence number, the timestamp and
the SSRC at random values, adds 1 to the sequence number per packet and the
number of samples to the timestamp, and counts packets and payload octets
for its sender reports.
"""

from __future__ import annotations

import struct
from collections import deque
from dataclasses import dataclass
from typing import Protocol

from siplab.errors import LocalProtocolError
from siplab.rtp.packet import RtpPacket
from siplab.rtp.rtcp import (
    Bye,
    ReportBlock,
    SenderReport,
    SourceDescription,
    ntp_from_unix,
    ntp_short,
)
from siplab.rtp.sequence import SEQ_MOD, TIMESTAMP_MOD, timestamp_delta

__all__ = [
    "MAX_DROPOUT",
    "MAX_MISORDER",
    "ReceiverStats",
    "ReceiverSnapshot",
    "RandomSource",
    "RtpSender",
]

#: V=2 P=0 X=0 CC=0 | M PT | sequence number | timestamp | SSRC (RFC 3550 §5.1).
_AUDIO_HEADER = struct.Struct("!BBHII")

#: TIMESTAMP_MOD / 2 and TIMESTAMP_MOD as floats, for the jitter arithmetic (A.8).
_HALF_TIMESTAMP_MOD = TIMESTAMP_MOD / 2
_FLOAT_TIMESTAMP_MOD = float(TIMESTAMP_MOD)

#: A.1: a forward jump larger than this is not believed at once.
MAX_DROPOUT = 3000
#: A.1: a packet up to this far behind the highest is a late or duplicate packet.
MAX_MISORDER = 100


@dataclass(frozen=True, slots=True)
class ReceiverSnapshot:
    """The receiver's counters at one moment, for a notebook table."""

    ssrc: int | None
    packets: int
    received: int
    expected: int
    lost: int
    duplicates: int
    reordered: int
    extended_max: int
    jitter: float
    jitter_ms: float


class ReceiverStats:
    """Reception statistics for one SSRC, RFC 3550 A.1, A.3 and A.8; ``now`` in seconds.

    >>> stats = ReceiverStats(clock_rate=8000)
    >>> for i, seq in enumerate([10, 11, 13, 12, 12]):
    ...     _ = stats.receive(RtpPacket(0, seq, 160 * seq, ssrc=1), now=0.02 * i)
    >>> stats.received, stats.expected, stats.lost, stats.duplicates, stats.reordered
    (5, 4, -1, 1, 1)
    """

    def __init__(
        self,
        clock_rate: int = 8000,
        *,
        ssrc: int | None = None,
        min_sequential: int = 1,
        duplicate_window: int = 1024,
    ) -> None:
        if clock_rate <= 0 or min_sequential < 1:
            raise LocalProtocolError("clock_rate must be positive and min_sequential at least 1")
        self.clock_rate = clock_rate
        self.ssrc = ssrc
        self.min_sequential = min_sequential
        self.packets = 0  # every datagram fed in, valid or not
        self.duplicates = 0
        self.reordered = 0  # arrived after a higher sequence number (late), not duplicates
        self.restarts = 0  # times the sequence was re-synchronised after a jump (A.1 bad_seq)
        self.jitter = 0.0  # A.8, in timestamp units
        # A.1 state
        self.base_seq = 0
        self.max_seq = 0
        self.cycles = 0  # wraps counted, times 65536 as in A.1
        self.received = 0
        self._bad_seq = SEQ_MOD + 1
        self._probation = min_sequential
        self._started = False
        self._expected_prior = 0
        self._received_prior = 0
        self._transit: float | None = None
        self._recent: deque[int] = deque(maxlen=duplicate_window)
        self._recent_set: set[int] = set()
        # LSR/DLSR bookkeeping (§6.4.1)
        self._last_sr: int = 0
        self._last_sr_arrival: float | None = None

    # --- A.1 -----------------------------------------------------------------

    def _init_seq(self, seq: int) -> None:
        self.base_seq = seq
        self.max_seq = seq
        self._bad_seq = SEQ_MOD + 1
        self.cycles = 0
        self.received = 0
        self._received_prior = 0
        self._expected_prior = 0
        self._recent.clear()
        self._recent_set.clear()

    def _update_seq(self, seq: int) -> int | None:
        """A.1 ``update_seq``; returns the packet's extended number, or None if not valid."""
        if not self._started:
            self._started = True
            self._init_seq(seq)
            self.max_seq = (seq - 1) % SEQ_MOD
            self._probation = self.min_sequential
        udelta = (seq - self.max_seq) % SEQ_MOD
        if self._probation:
            if seq == (self.max_seq + 1) % SEQ_MOD:
                self._probation -= 1
                self.max_seq = seq
                if self._probation == 0:
                    self._init_seq(seq)
                    self.received += 1
                    return seq
            else:
                self._probation = self.min_sequential - 1
                self.max_seq = seq
            return None
        if udelta < MAX_DROPOUT:  # in order, with a permissible gap
            if seq < self.max_seq:
                self.cycles += SEQ_MOD  # wrapped
            self.max_seq = seq
            extended = self.cycles + seq
        elif udelta <= SEQ_MOD - MAX_MISORDER:  # a very large jump
            if seq != self._bad_seq:
                self._bad_seq = (seq + 1) % SEQ_MOD
                return None
            # Two packets in a row after the jump: the sender restarted. Resync.
            self.restarts += 1
            self._init_seq(seq)
            extended = seq
        else:  # duplicate or reordered: behind the highest, from this cycle or the last
            cycle = self.cycles if seq <= self.max_seq else self.cycles - SEQ_MOD
            extended = cycle + seq
        self.received += 1
        return extended

    # --- per packet ------------------------------------------------------------

    def receive(self, packet: RtpPacket, now: float) -> bool:
        """Account for one packet arriving at ``now`` (seconds); True if it counted as valid."""
        self.packets += 1
        if self.ssrc is None:
            self.ssrc = packet.ssrc
        highest_before = self.cycles + self.max_seq  # extended_max, before this packet
        extended = self._update_seq(packet.sequence_number)
        if extended is None:
            return False
        recent_set = self._recent_set
        if extended in recent_set:
            self.duplicates += 1
        else:
            if extended < highest_before and self.received > 1:
                self.reordered += 1
            recent = self._recent
            if len(recent) == recent.maxlen:
                recent_set.discard(recent[0])
            recent.append(extended)
            recent_set.add(extended)
        # A.8: transit = arrival (in timestamp units) - timestamp; D = change in transit.
        transit = now * self.clock_rate - packet.timestamp
        if self._transit is not None:
            d = transit - self._transit
            # The 32-bit timestamp may have wrapped between the two packets.
            d = (d + _HALF_TIMESTAMP_MOD) % _FLOAT_TIMESTAMP_MOD - _HALF_TIMESTAMP_MOD
            self.jitter += (abs(d) - self.jitter) / 16
        self._transit = transit
        return True

    # --- A.3 -------------------------------------------------------------------

    @property
    def extended_max(self) -> int:
        """The extended highest sequence number received (cycles plus max_seq)."""
        return self.cycles + self.max_seq

    @property
    def expected(self) -> int:
        if not self.received:
            return 0
        return self.extended_max - self.base_seq + 1

    @property
    def lost(self) -> int:
        """Cumulative packets lost, A.3; negative when duplicates outnumber losses."""
        return self.expected - self.received

    @property
    def jitter_ms(self) -> float:
        return self.jitter * 1000 / self.clock_rate

    def on_sender_report(self, report: SenderReport, now: float) -> None:
        """Remember an SR from this source: the next report block echoes it as LSR/DLSR."""
        self._last_sr = ntp_short(report.ntp_timestamp)
        self._last_sr_arrival = now

    def report_block(self, now: float) -> ReportBlock:
        """The reception report block for this source, and start a new interval (A.3, §6.4.1)."""
        expected = self.expected
        expected_interval = expected - self._expected_prior
        self._expected_prior = expected
        received_interval = self.received - self._received_prior
        self._received_prior = self.received
        lost_interval = expected_interval - received_interval
        if expected_interval == 0 or lost_interval <= 0:
            fraction = 0
        else:
            fraction = min(255, (lost_interval << 8) // expected_interval)
        cumulative = max(-(1 << 23), min((1 << 23) - 1, self.lost))  # clamp to 24 bits
        if self._last_sr_arrival is None:
            lsr = dlsr = 0
        else:
            lsr = self._last_sr
            dlsr = int((now - self._last_sr_arrival) * 65536) & 0xFFFFFFFF
        return ReportBlock(
            ssrc=self.ssrc or 0,
            fraction_lost=fraction,
            cumulative_lost=cumulative,
            highest_sequence=self.extended_max & 0xFFFFFFFF,
            jitter=int(self.jitter) & 0xFFFFFFFF,
            lsr=lsr,
            dlsr=dlsr,
        )

    def snapshot(self) -> ReceiverSnapshot:
        return ReceiverSnapshot(
            ssrc=self.ssrc,
            packets=self.packets,
            received=self.received,
            expected=self.expected,
            lost=self.lost,
            duplicates=self.duplicates,
            reordered=self.reordered,
            extended_max=self.extended_max,
            jitter=self.jitter,
            jitter_ms=self.jitter_ms,
        )


# --- the sender ------------------------------------------------------------------


class RandomSource(Protocol):
    """What a sender needs from :class:`siplab.ids.IdSource`: random bytes and tokens."""

    def nonce_bytes(self, length: int = 16) -> bytes: ...

    def token(self, length: int = 12) -> str: ...


class RtpSender:
    """The sending side of one RTP stream: numbering, timestamps and SR counts.

    ``ids`` supplies the random initial sequence number, timestamp and SSRC
    (RFC 3550 §5.1: "SHOULD be random" so that a known-plaintext attack on
    encryption is harder) and a random CNAME (RFC 7022).

    >>> from siplab.ids import IdSource
    >>> sender = RtpSender(0, ids=IdSource(1))
    >>> first = sender.next_packet(bytes(160), samples=160)
    >>> second = sender.next_packet(bytes(160), samples=160)
    >>> (second.sequence_number - first.sequence_number) % 65536, second.timestamp - first.timestamp
    (1, 160)
    >>> first.marker, second.marker, sender.packets_sent, sender.octets_sent
    (True, False, 2, 320)
    """

    def __init__(
        self,
        payload_type: int,
        clock_rate: int = 8000,
        *,
        ids: RandomSource,
        ssrc: int | None = None,
        sequence_number: int | None = None,
        timestamp: int | None = None,
        cname: str | None = None,
    ) -> None:
        self.payload_type = payload_type
        self.clock_rate = clock_rate
        self.ssrc = _random_int(ids, 4) if ssrc is None else ssrc
        self.sequence_number = _random_int(ids, 2) if sequence_number is None else sequence_number
        self.timestamp = _random_int(ids, 4) if timestamp is None else timestamp
        self.cname = cname if cname is not None else ids.token(16)
        self.packets_sent = 0
        self.octets_sent = 0  # payload octets only (§6.4.1)
        self._last_timestamp = self.timestamp
        self._last_sent_at: float | None = None

    def next_packet(
        self,
        payload: bytes,
        samples: int,
        *,
        marker: bool | None = None,
        payload_type: int | None = None,
        timestamp: int | None = None,
        now: float | None = None,
    ) -> RtpPacket:
        """The next packet, carrying ``samples`` samples; the timestamp then moves on by them.

        ``marker`` defaults to True for the very first packet (the start of a
        talkspurt, RFC 3551 §4.1). ``timestamp`` overrides the timestamp for
        this packet only (RFC 4733 events repeat the timestamp of their start)
        and does not move the stream's clock. ``now``, if given, lets
        :meth:`sender_report` map wallclock time to the media clock.
        """
        if marker is None:
            marker = self.packets_sent == 0
        stamp = self.timestamp if timestamp is None else timestamp % TIMESTAMP_MOD
        packet = RtpPacket(
            payload_type=self.payload_type if payload_type is None else payload_type,
            sequence_number=self.sequence_number,
            timestamp=stamp,
            ssrc=self.ssrc,
            payload=payload,
            marker=marker,
        )
        self.sequence_number = (self.sequence_number + 1) % SEQ_MOD
        if timestamp is None:
            self._last_timestamp = self.timestamp
            self.timestamp = (self.timestamp + samples) % TIMESTAMP_MOD
            if now is not None:
                self._last_sent_at = now
        self.packets_sent += 1
        self.octets_sent += len(payload)
        return packet

    def next_datagram(
        self, payload: bytes, samples: int, *, marker: bool = False, now: float | None = None
    ) -> bytes:
        """``next_packet(payload, samples, marker=marker, now=now).to_bytes()``, without the
        packet object: the same numbering and counting, for the audio that an endpoint sends
        fifty times a second per call.

        The fixed header of RFC 3550 §5.1 (version 2, no padding, extension or CSRC)
        is packed with one ``struct`` call in front of the payload.
        """
        second = (0x80 | self.payload_type) if marker else self.payload_type
        header = _AUDIO_HEADER.pack(0x80, second, self.sequence_number, self.timestamp,
                                    self.ssrc)
        self.sequence_number = (self.sequence_number + 1) & 0xFFFF
        self._last_timestamp = self.timestamp
        self.timestamp = (self.timestamp + samples) & 0xFFFFFFFF
        if now is not None:
            self._last_sent_at = now
        self.packets_sent += 1
        self.octets_sent += len(payload)
        return header + payload

    def skip(self, samples: int) -> None:
        """Move the media clock on without sending (silence suppression, a muted call)."""
        self.timestamp = (self.timestamp + samples) % TIMESTAMP_MOD

    def skip_to(self, timestamp: int) -> None:
        """Move the media clock on to ``timestamp``, unless it is already past it."""
        if timestamp_delta(timestamp, self.timestamp) > 0:
            self.timestamp = timestamp % TIMESTAMP_MOD

    def sender_report(
        self, wallclock: float, now: float, reports: tuple[ReportBlock, ...] = ()
    ) -> SenderReport:
        """An SR for this stream (§6.4.1). ``wallclock`` is Unix time for the NTP field;
        ``now`` is the same instant on the clock given to :meth:`next_packet`."""
        rtp_time = self.timestamp
        if self._last_sent_at is not None:
            elapsed = round((now - self._last_sent_at) * self.clock_rate)
            rtp_time = (self._last_timestamp + elapsed) % TIMESTAMP_MOD
        return SenderReport(
            ssrc=self.ssrc,
            ntp_timestamp=ntp_from_unix(wallclock),
            rtp_timestamp=rtp_time,
            packet_count=self.packets_sent & 0xFFFFFFFF,
            octet_count=self.octets_sent & 0xFFFFFFFF,
            reports=reports,
        )

    def source_description(self) -> SourceDescription:
        """The SDES with this stream's CNAME, for every compound RTCP packet (§6.1)."""
        return SourceDescription.with_cname(self.ssrc, self.cname)

    def bye(self, reason: str = "") -> Bye:
        """The BYE this source sends when it leaves (§6.6)."""
        return Bye((self.ssrc,), reason)


def _random_int(ids: RandomSource, octets: int) -> int:
    return int.from_bytes(ids.nonce_bytes(octets), "big")
