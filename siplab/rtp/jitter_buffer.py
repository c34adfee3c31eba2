"""A jitter buffer: turning packets that arrive unevenly into audio played evenly.

The sender emits a packet every 20 ms, but the network delivers them with
varying delay (jitter), sometimes out of order, sometimes twice, sometimes
not at all. A receiver that played each packet the moment it arrived would
stutter. Instead it holds every packet a little while, a *target delay*, and
plays them on the sender's schedule, which the RTP timestamps give
(RFC 3550 §5.1: "the timestamp ... is used to place the incoming audio
samples in the correct position in the playout buffer").

This buffer uses a fixed delay. The first packet fixes the schedule: a
packet with timestamp ``ts`` is due at::

    first_arrival + target_delay + (ts - first_ts) / clock_rate

:meth:`JitterBuffer.pop` returns the packets due by ``now`` in sequence
order. A missing packet is skipped once a later one is due (counted in
``lost``); a packet that arrives after a later one was already played is
*late* and dropped (``late``); a copy of a packet already held or played is
a duplicate. A bigger delay means fewer late packets but a longer mouth-to-ear
delay; ITU-T G.114 suggests keeping the total under 150 ms.

It does no I/O and reads no clock: the caller passes arrival and playout
times, and asks :meth:`get_timer` when the next packet is due, exactly like
the other sans-I/O objects in siplab.
"""

from __future__ import annotations

import heapq

from siplab.errors import LocalProtocolError
from siplab.rtp.packet import RtpPacket

__all__ = ["JitterBuffer"]


class JitterBuffer:
    """Fixed-delay playout buffer for one RTP stream.

    >>> jb = JitterBuffer(clock_rate=8000, target_delay=0.05)
    >>> jb.push(RtpPacket(0, 1, 0, ssrc=1), arrival=0.00)     # due at 0.05
    True
    >>> jb.push(RtpPacket(0, 3, 320, ssrc=1), arrival=0.03)   # due at 0.09, overtook seq 2
    True
    >>> jb.push(RtpPacket(0, 2, 160, ssrc=1), arrival=0.04)   # due at 0.07
    True
    >>> [p.sequence_number for p in jb.pop(now=0.08)]
    [1, 2]
    >>> round(jb.get_timer(), 3)
    0.09
    """

    def __init__(
        self, clock_rate: int = 8000, target_delay: float = 0.06, max_packets: int = 500
    ) -> None:
        if clock_rate <= 0 or target_delay < 0 or max_packets < 1:
            raise LocalProtocolError("clock_rate, target_delay and max_packets must be positive")
        self.clock_rate = clock_rate
        self.target_delay = target_delay
        self.max_packets = max_packets
        self.late = 0  # arrived after their turn had passed: dropped
        self.duplicates = 0
        self.lost = 0  # never arrived in time: skipped over
        self.overflow = 0  # dropped because the buffer was full
        self.played = 0
        self._heap: list[tuple[int, float, RtpPacket]] = []  # (extended seq, due, packet)
        self._held: set[int] = set()
        self._highest_seq: int | None = None  # extended, of any packet pushed
        self._last_played: int | None = None  # extended seq of the last packet popped
        # Schedule: the reference point every due time is measured from.
        self._reference_ts = 0  # extended timestamp
        self._reference_time = 0.0

    def __len__(self) -> int:
        return len(self._heap)

    def push(self, packet: RtpPacket, arrival: float) -> bool:
        """Hold a packet that arrived at ``arrival`` (seconds); False if it was dropped."""
        if self._highest_seq is None:
            self._highest_seq = packet.sequence_number
            self._reference_ts = packet.timestamp
            self._reference_time = arrival + self.target_delay
        highest = self._highest_seq
        # extend_seq(packet.sequence_number, highest), written out: this runs per packet.
        seq = highest + ((packet.sequence_number - highest + 0x8000) & 0xFFFF) - 0x8000
        if self._last_played is not None and seq <= self._last_played:
            if seq == self._last_played:
                self.duplicates += 1
            else:
                self.late += 1
            return False
        if seq in self._held:
            self.duplicates += 1
            return False
        if len(self._heap) >= self.max_packets:
            self.overflow += 1
            return False
        # How far the timestamp is from the reference, the short way round (extend_timestamp).
        ahead = ((packet.timestamp - self._reference_ts + 0x80000000) & 0xFFFFFFFF) - 0x80000000
        due = self._reference_time + ahead / self.clock_rate
        heapq.heappush(self._heap, (seq, due, packet))
        self._held.add(seq)
        if seq > highest:
            self._highest_seq = seq
        return True

    def get_timer(self) -> float | None:
        """When the next packet is due (absolute, seconds), or None if the buffer is empty."""
        heap = self._heap
        if len(heap) < 2:  # the usual case on a quiet network: one packet waiting, or none
            return heap[0][1] if heap else None
        return min(due for _, due, _ in heap)

    def pop(self, now: float) -> list[RtpPacket]:
        """The packets due at or before ``now``, in sequence order."""
        out: list[RtpPacket] = []
        while self._heap:
            due_next = self.get_timer()
            if due_next is None or due_next > now:
                break
            # Something is due: play everything up to and including it, in sequence order.
            seq, due, packet = heapq.heappop(self._heap)
            self._held.discard(seq)
            if self._last_played is not None and seq > self._last_played + 1:
                self.lost += seq - self._last_played - 1
            self._last_played = seq
            # Move the reference along so that timestamps never drift 2**31 away from it.
            reference = self._reference_ts
            self._reference_time = due
            self._reference_ts = (
                reference
                + ((packet.timestamp - reference + 0x80000000) & 0xFFFFFFFF) - 0x80000000
            )
            self.played += 1
            out.append(packet)
        return out
