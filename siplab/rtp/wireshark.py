"""RTP stream statistics computed the way Wireshark computes them (``tshark -z rtp,streams``).

Students check siplab against Wireshark, so siplab can also count like
Wireshark. Its "RTP Streams" table comes from ``rtppacket_analyse()`` in
Wireshark's ``ui/tap-rtp-analysis.c`` and the sums in
``ui/tap-rtp-common.c``. The rules below were read from that source and
checked against tshark 4.0 on synthetic captures (tests/rtp/test_stream.py):
they are *not* RFC 3550's, and where they differ that is noted.

**Times** are in milliseconds: the packet's capture time relative to the
first frame. Only differences matter, so ``now`` may be any clock in seconds.

**First packet** of a stream: it sets the start sequence number, the first
RTP timestamp and the time, and contributes nothing else (no delta, no jitter).

**Clock rate** from the payload type: the static table of RFC 3551 (8000 for
PCMU, PCMA, G.722, CN...; 90000 for video; 44100 for L16), and for dynamic
types (96-127) the rate from SDP when Wireshark saw the SDP. A dynamic type
without SDP (heuristic decoding), or ``telephone-event`` (whose timestamps
stand still during an event, RFC 4733 §2.5.1), has rate 0: no jitter for that
packet. The rate is turned into "timestamp units per ms" by *integer*
division, ``clock_rate // 1000``, so 44100 Hz counts as 44 per ms.

**In time sequence**: a packet whose timestamp is less than 2**31 ahead of the
*first* packet's timestamp, going forward through a wrap past zero if need
be. A timestamp before the first one is a "wrong timestamp" (a Problem): such
a packet does not update the delta, the jitter or the remembered time, and
is left out of every max and mean.

**Jitter** (in ms), for packets in time sequence with a known clock rate:
``nominal = (timestamp - first_timestamp) mod 2**32 / (rate // 1000)``,
``expected = last_time + (nominal - last_nominal)``,
``diff = |now - expected|``, ``jitter = (15 * jitter + diff) / 16``. That is
RFC 3550 A.8 with ``last_time`` the arrival of the previous in-sequence packet,
so it is the RFC's jitter in ms up to rounding (A.8 uses |D| / 16 the same way).

**Delta**: ``now - last_time``, the time since the previous in-sequence packet
(computed even when the clock rate is unknown).

**Regular packets**: max/min/mean delta and max/min/mean jitter include
only packets that are *not* the first, *not* marked (marker bit: start of a
talkspurt, when the gap is expected), *not* comfort noise (PT 13 or 19) or
the packet right after comfort noise, and *not* a wrong timestamp. So "Max
Delta" is the longest gap between consecutive packets that were not
expected to have a gap; a marked packet's jitter is still computed and
carried on, it is only left out of the max and the mean.

**Mean** delta and jitter are running means with an odd denominator: on the
N-th packet of the stream (N >= 2), ``mean = (mean * (N - 2) + value) / (N - 1)``,
where N counts *every* packet, regular or not. With only regular packets
this is the plain mean of the N-1 values; irregular packets make it drift.

**Sequence errors** ("Problems?" column) are counted when a packet does not
follow its predecessor: a gap, or a late or duplicate packet.

**Lost** = expected - received, with
``expected = stop_seq + 65536 * cycles - start_seq + 1`` where ``start_seq``
is the *first* packet's sequence number, ``stop_seq`` the *last* packet's
(not the highest), and ``cycles`` counts wraps (a packet, in time sequence,
whose number is below ``start_seq`` while not already "under"). Duplicates
are received but not expected, so Lost goes negative (FACTS.md: sipp's DTMF
capture repeats sequence numbers); a reordered last packet shifts it too.

Versions: these are the rules of Wireshark 3.6-4.0 (the tshark in Debian 12).
Later releases changed some of them (Lost from the lowest and highest
*extended* sequence numbers, timestamps extended per conversation, jitter
computed for out-of-order timestamps too); re-run the tshark comparison in
tests/rtp/test_wireshark.py when the tshark in CI changes.

``siplab.rtp.stream.ReceiverStats`` is RFC 3550's version of the same story.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from siplab.rtp.packet import RtpPacket

__all__ = ["WiresharkStats", "WiresharkSnapshot", "STATIC_CLOCK_RATES", "wireshark_clock_rate"]

#: Clock rates Wireshark knows for the static payload types (RFC 3551 §6).
STATIC_CLOCK_RATES: Mapping[int, int] = {
    0: 8000, 1: 8000, 2: 8000, 3: 8000, 4: 8000, 5: 8000, 6: 16000, 7: 8000,
    8: 8000, 9: 8000, 10: 44100, 11: 44100, 12: 8000, 13: 8000, 14: 90000,
    15: 8000, 16: 11025, 17: 22050, 18: 8000, 19: 8000, 25: 90000, 26: 90000,
    28: 90000, 31: 90000, 32: 90000, 33: 90000, 34: 90000,
}  # fmt: skip

_COMFORT_NOISE = (13, 19)  # PT_CN and PT_CN_OLD


def wireshark_clock_rate(payload_type: int, dynamic: Mapping[int, tuple[str, int]]) -> int:
    """The clock rate Wireshark uses for jitter, 0 when it computes none.

    ``dynamic`` maps dynamic payload types to (encoding name, clock rate) as
    SDP's ``a=rtpmap`` gives them; without an entry a dynamic type has no rate.
    """
    if payload_type < 96:
        return STATIC_CLOCK_RATES.get(payload_type, 0)
    entry = dynamic.get(payload_type)
    if entry is None:
        return 0
    name, rate = entry
    if name.lower().startswith("telephone-event"):
        return 0  # RFC 4733: timestamps do not advance during an event
    return rate


@dataclass(frozen=True, slots=True)
class WiresharkSnapshot:
    """One row of ``tshark -z rtp,streams``, from siplab's own count."""

    packets: int
    expected: int
    lost: int
    min_delta_ms: float
    mean_delta_ms: float
    max_delta_ms: float
    min_jitter_ms: float
    mean_jitter_ms: float
    max_jitter_ms: float
    sequence_errors: int
    problem: bool
    start_time: float | None
    end_time: float | None


class WiresharkStats:
    """Per-stream statistics as Wireshark's RTP analysis computes them; ``now`` in seconds."""

    def __init__(self, dynamic_payloads: Mapping[int, tuple[str, int]] | None = None) -> None:
        self.dynamic_payloads: Mapping[int, tuple[str, int]] = dict(dynamic_payloads or {})
        self.packets = 0  # Wireshark's total_nr, "Pkts"
        self.sequence_errors = 0  # Wireshark's "sequence"
        self.wrong_timestamps = 0
        self.max_delta = 0.0  # ms, as are all times below
        self.min_delta = -1.0  # -1 until the first regular packet, as Wireshark prints it
        self.mean_delta = 0.0
        self.max_jitter = 0.0
        self.min_jitter = -1.0
        self.mean_jitter = 0.0
        self.jitter = 0.0  # the running jitter after the last packet
        self.delta = 0.0
        self.start_time: float | None = None  # seconds, as passed in
        self.end_time: float | None = None
        self.start_seq = 0
        self.stop_seq = 0
        self.cycles = 0
        self._under = False
        self._seq = 0  # last in-order sequence number
        self._first_timestamp = 0
        self._time = 0.0  # ms of the last in-time-sequence packet
        self._last_nominal = 0.0
        self._payload_type = -1

    @property
    def expected(self) -> int:
        if not self.packets:
            return 0
        return self.stop_seq + 65536 * self.cycles - self.start_seq + 1

    @property
    def lost(self) -> int:
        """Wireshark's "Lost": expected - received, negative with duplicates."""
        return self.expected - self.packets

    @property
    def problem(self) -> bool:
        """Wireshark's "Problems?" mark: a sequence error or a wrong timestamp was seen."""
        return self.sequence_errors > 0 or self.wrong_timestamps > 0

    def receive(self, packet: RtpPacket, now: float) -> None:
        """Analyse one packet captured at ``now`` (seconds), in capture order."""
        time_ms = now * 1000.0
        seq = packet.sequence_number
        timestamp = packet.timestamp
        self.end_time = now
        if self.packets == 0:
            self.start_time = now
            self.start_seq = self.stop_seq = self._seq = seq
            self._first_timestamp = timestamp
            self._time = time_ms
            self._payload_type = packet.payload_type
            self.packets = 1
            return

        # In time sequence: less than 2**31 ahead of the first timestamp, going
        # forward through a wrap past zero if need be. Wireshark tests it as
        # (first <= ts and ts - first < 2**31) or (first > ts and 0xFFFFFFFF - first + ts
        # < 2**31); the same in one subtraction mod 2**32 (exactly 2**31 ahead counts only
        # across a wrap).
        first = self._first_timestamp
        ahead = (timestamp - first) & 0xFFFFFFFF
        in_sequence = ahead < 0x80000000 or (ahead == 0x80000000 and timestamp < first)

        last_seq = self._seq
        if in_sequence:
            # Wrap counting for "expected": below the start number, a new cycle began
            # (or 65535 -> 0 when it started at 0).
            start_seq = self.start_seq
            if seq < start_seq or (seq == 0 and self.stop_seq == 65535):
                if not self._under:
                    self.cycles += 1
                    self._under = True
            elif seq > start_seq and self._under:
                self._under = False
            # Sequence errors: anything but the next number.
            if seq == last_seq + 1 or (last_seq == 65535 and seq == 0):
                self._seq = seq
            elif last_seq + 1 < seq or last_seq - seq > 0xFF00:
                self._seq = seq
                self.sequence_errors += 1
            elif last_seq + 1 > seq:
                self.sequence_errors += 1
        else:
            self.wrong_timestamps += 1
            if last_seq + 1 > seq:
                self.sequence_errors += 1

        payload_type = packet.payload_type
        previous_pt = self._payload_type
        self._payload_type = payload_type
        if in_sequence:
            clock_rate = (STATIC_CLOCK_RATES.get(payload_type, 0) if payload_type < 96
                          else wireshark_clock_rate(payload_type, self.dynamic_payloads))
            jitter = self.jitter
            if clock_rate:
                per_ms = clock_rate // 1000  # integer division, as in Wireshark
                nominal = ahead / per_ms
                expected_time = self._time + (nominal - self._last_nominal)
                jitter = (15 * jitter + abs(time_ms - expected_time)) / 16
                self.jitter = jitter
                self._last_nominal = nominal
            delta = self.delta = time_ms - self._time
            # Regular packets only (not marked, not comfort noise or right after it).
            if not (packet.marker or payload_type in _COMFORT_NOISE
                    or previous_pt in _COMFORT_NOISE):
                n = self.packets  # packets before this one
                if delta > self.max_delta:
                    self.max_delta = delta
                if self.min_delta == -1 or delta < self.min_delta:
                    self.min_delta = delta
                self.mean_delta = (self.mean_delta * (n - 1) + delta) / n
                if clock_rate:
                    if jitter > self.max_jitter:
                        self.max_jitter = jitter
                    self.mean_jitter = (self.mean_jitter * (n - 1) + jitter) / n
                    if self.min_jitter == -1 or jitter < self.min_jitter:
                        self.min_jitter = jitter
            self._time = time_ms
        self.stop_seq = seq
        self.packets += 1

    def receive_columns(
        self,
        times: Sequence[float],
        sequence_numbers: Sequence[int],
        timestamps: Sequence[int],
        second_octets: Sequence[int],
    ) -> None:
        """:meth:`receive` for many packets at once: the same rules, about 3x faster.

        A capture of a million packets is analysed column by column: capture
        times (seconds), sequence numbers, RTP timestamps, and each header's
        second octet (marker bit and payload type, as on the wire). The loop
        below is :meth:`receive` with every attribute held in a local
        variable; the results are identical, float for float
        (tests/lab/test_analysis.py checks it on random streams).
        """
        count = len(times)
        if not count:
            return
        index = 0
        if self.packets == 0:
            octet = second_octets[0]
            self.receive(RtpPacket(octet & 0x7F, sequence_numbers[0], timestamps[0], 0,
                                   marker=bool(octet & 0x80)), times[0])
            index = 1
        rates = [wireshark_clock_rate(pt, self.dynamic_payloads) for pt in range(128)]
        per_ms = [rate // 1000 for rate in rates]
        first = self._first_timestamp
        start_seq, stop_seq, last_seq = self.start_seq, self.stop_seq, self._seq
        cycles, under = self.cycles, self._under
        errors, wrong = self.sequence_errors, self.wrong_timestamps
        max_delta, min_delta, mean_delta = self.max_delta, self.min_delta, self.mean_delta
        max_jitter, min_jitter, mean_jitter = self.max_jitter, self.min_jitter, self.mean_jitter
        jitter, delta = self.jitter, self.delta
        last_time, last_nominal = self._time, self._last_nominal
        previous_pt, n = self._payload_type, self.packets
        now = times[0]
        rows = zip(times, sequence_numbers, timestamps, second_octets, strict=True)
        if index:
            next(rows)  # the first packet, received above
        for now, seq, timestamp, octet in rows:
            time_ms = now * 1000.0
            # How far the timestamp is past the first one, mod 2**32; the test of
            # receive() in one subtraction (exactly 2**31 ahead counts only across a wrap).
            ahead = (timestamp - first) & 0xFFFFFFFF
            in_sequence = ahead < 0x80000000 or (ahead == 0x80000000 and timestamp < first)
            if in_sequence:
                if seq < start_seq or (seq == 0 and stop_seq == 65535):
                    if not under:
                        cycles += 1
                        under = True
                elif seq > start_seq and under:
                    under = False
                if seq == last_seq + 1 or (last_seq == 65535 and seq == 0):
                    last_seq = seq
                elif last_seq + 1 < seq or last_seq - seq > 0xFF00:
                    last_seq = seq
                    errors += 1
                elif last_seq + 1 > seq:
                    errors += 1
            else:
                wrong += 1
                if last_seq + 1 > seq:
                    errors += 1
            payload_type = octet & 0x7F
            rate = rates[payload_type]
            jitter_now = jitter
            if in_sequence:
                if rate:
                    nominal = ahead / per_ms[payload_type]
                    expected_time = last_time + (nominal - last_nominal)
                    jitter_now = (15 * jitter + abs(time_ms - expected_time)) / 16
                    jitter = jitter_now
                    last_nominal = nominal
                delta = time_ms - last_time
                if not (octet & 0x80 or payload_type in _COMFORT_NOISE
                        or previous_pt in _COMFORT_NOISE):
                    # Comparisons rather than max() and min(): no call per packet.
                    if delta > max_delta:
                        max_delta = delta
                    if min_delta == -1 or delta < min_delta:
                        min_delta = delta
                    mean_delta = (mean_delta * (n - 1) + delta) / n
                    if rate:
                        if jitter > max_jitter:
                            max_jitter = jitter
                        mean_jitter = (mean_jitter * (n - 1) + jitter_now) / n
                        if min_jitter == -1 or jitter < min_jitter:
                            min_jitter = jitter
                last_time = time_ms
            previous_pt = payload_type
            stop_seq = seq
            n += 1
        self.stop_seq, self._seq, self.cycles, self._under = stop_seq, last_seq, cycles, under
        self.sequence_errors, self.wrong_timestamps = errors, wrong
        self.max_delta, self.min_delta, self.mean_delta = max_delta, min_delta, mean_delta
        self.max_jitter, self.min_jitter, self.mean_jitter = max_jitter, min_jitter, mean_jitter
        self.jitter, self.delta = jitter, delta
        self._time, self._last_nominal = last_time, last_nominal
        self._payload_type, self.packets = previous_pt, n
        self.end_time = now

    def snapshot(self) -> WiresharkSnapshot:
        return WiresharkSnapshot(
            packets=self.packets,
            expected=self.expected,
            lost=self.lost,
            min_delta_ms=self.min_delta,
            mean_delta_ms=self.mean_delta,
            max_delta_ms=self.max_delta,
            min_jitter_ms=self.min_jitter,
            mean_jitter_ms=self.mean_jitter,
            max_jitter_ms=self.max_jitter,
            sequence_errors=self.sequence_errors,
            problem=self.problem,
            start_time=self.start_time,
            end_time=self.end_time,
        )
