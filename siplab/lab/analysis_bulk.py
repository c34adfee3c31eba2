"""Wireshark's RTP stream statistics for many packets at once, with numpy (the bulk path).

:class:`~siplab.rtp.wireshark.WiresharkStats` is the readable version: one
packet at a time, every rule of Wireshark's ``rtppacket_analyse()`` written
out in order. Read that first. :func:`count_columns` computes the same numbers
for a block of a stream's packets (a capture file is read in blocks of a few
thousand packets per stream), as array operations over the block's columns,
because a Python loop over a million packets costs half a second and these
operations a few milliseconds:

* *in time sequence* (timestamp less than 2**31 ahead of the first one),
  *regular* (not marked, not comfort noise nor right after it), the delta
  (time since the previous in-sequence packet) and the jitter's per-packet
  difference ``|now - expected|`` are each one expression over the columns;
* counting wraps of the sequence number ("cycles") is a state machine with
  one bit ("under the start number"), computed from the list of its events;
* the jitter itself, ``J = (15 J + D) / 16`` (RFC 3550 A.8), is a recurrence,
  and so is Wireshark's running mean; both are unrolled into sums
  (:func:`_jitter`, :func:`_running_mean`), which agree with the
  packet-by-packet loop to about 1e-12 ms (not float for float: the sums add
  in another order);
* sequence errors depend on "the last in-order sequence number", which a
  late or duplicated packet leaves unchanged; a short loop visits only the
  packets that are not simply "the previous one + 1" (a few percent).

Each block continues from the state the previous one left in the
:class:`~siplab.rtp.wireshark.WiresharkStats` (its last in-order sequence
number, the running jitter, the time of the last in-sequence packet...), so
the blocks can be any size and the result is what the packet-by-packet count
gives: tests/lab/test_analysis_bulk.py compares the two on random streams
(loss, duplicates, reordering, wraps, marked packets, comfort noise, wrong
timestamps, telephone-event), whole and in blocks.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from siplab.rtp.packet import RtpPacket
from siplab.rtp.wireshark import WiresharkStats, wireshark_clock_rate

__all__ = ["count_columns"]

_COMFORT_NOISE = (13, 19)  # PT_CN and PT_CN_OLD, as in siplab.rtp.wireshark

_F64 = npt.NDArray[np.float64]
_I64 = npt.NDArray[np.int64]
_Bool = npt.NDArray[np.bool_]


def count_columns(stats: WiresharkStats, times: _F64, sequence_numbers: _I64,
                  timestamps: _I64, octets: _I64) -> None:
    """``stats.receive_columns(...)`` as array operations: count these packets into ``stats``.

    The columns as in :meth:`~siplab.rtp.wireshark.WiresharkStats.receive_columns`:
    capture times in seconds, then sequence numbers, RTP timestamps and second
    header octets as integer arrays (int64), in capture order.
    """
    if not len(times):
        return
    if stats.packets == 0:  # the first packet sets the scene: the readable code does it
        octet = int(octets[0])
        stats.receive(RtpPacket(octet & 0x7F, int(sequence_numbers[0]), int(timestamps[0]), 0,
                                marker=bool(octet & 0x80)), float(times[0]))
        times, sequence_numbers, timestamps, octets = (
            times[1:], sequence_numbers[1:], timestamps[1:], octets[1:])
        if not len(times):
            return
    seq = sequence_numbers
    before = stats.packets  # packets counted before this block
    payload_type = octets & 0x7F
    first_stamp = stats._first_timestamp

    # In time sequence: less than 2**31 ahead of the first packet's timestamp.
    ahead = (timestamps - first_stamp) & 0xFFFFFFFF
    in_sequence = (ahead < 0x80000000) | ((ahead == 0x80000000) & (timestamps < first_stamp))
    cycles, under = _cycles(seq, in_sequence, stats)
    errors, last_seq = _sequence_errors(seq, in_sequence, stats._seq)

    # Delta and jitter, over the in-sequence packets (the others change neither).
    order = np.flatnonzero(in_sequence)
    t = times[order] * 1000.0
    in_sequence_pt = payload_type[order]
    units_per_ms = np.zeros(128, dtype=np.int64)  # timestamp units per ms, as Wireshark divides
    for pt in np.unique(in_sequence_pt).tolist():
        units_per_ms[pt] = wireshark_clock_rate(pt, stats.dynamic_payloads) // 1000
    per_ms = units_per_ms[in_sequence_pt]
    rated = per_ms > 0  # a known clock rate: the jitter is measured
    nominal = np.zeros(len(order))
    nominal[rated] = ahead[order][rated] / per_ms[rated]
    # Index of the last rated packet so far (-1: none in this block yet).
    last_rated = np.where(rated, np.arange(len(order)), -1)
    np.maximum.accumulate(last_rated, out=last_rated)
    previous_rated = np.concatenate(([-1], last_rated))[:-1]
    last_nominal = np.where(previous_rated >= 0, nominal[previous_rated], stats._last_nominal)
    last_time = np.concatenate(([stats._time], t))[:-1]
    delta = t - last_time
    # expected = last_time + (nominal - last_nominal); the difference |now - expected|
    difference = np.abs(t - (last_time + (nominal - last_nominal)))
    jitter_at_rated = np.zeros(len(order))
    jitter_at_rated[rated] = _jitter(difference[rated], stats.jitter)
    # The running jitter after each in-sequence packet: that of the last rated one.
    jitter_now = np.where(last_rated >= 0, jitter_at_rated[last_rated], stats.jitter)

    # Regular packets: not marked, no comfort noise in this packet or the one before.
    previous_pt = np.concatenate(([stats._payload_type], payload_type))[:-1]
    irregular = ((octets & 0x80) > 0) | np.isin(payload_type, _COMFORT_NOISE) \
        | np.isin(previous_pt, _COMFORT_NOISE)
    regular = ~irregular[order]
    packets_before = before + order  # Wireshark's n for each packet
    if regular.any():
        values = delta[regular]
        stats.max_delta = max(stats.max_delta, float(values.max()))
        lowest = float(values.min())
        stats.min_delta = lowest if stats.min_delta == -1 else min(stats.min_delta, lowest)
        stats.mean_delta = _running_mean(values, packets_before[regular], stats.mean_delta)
    rated_regular = regular & rated
    if rated_regular.any():
        values = jitter_now[rated_regular]
        stats.max_jitter = max(stats.max_jitter, float(values.max()))
        lowest = float(values.min())
        stats.min_jitter = lowest if stats.min_jitter == -1 else min(stats.min_jitter, lowest)
        stats.mean_jitter = _running_mean(values, packets_before[rated_regular],
                                          stats.mean_jitter)

    # The state the next packet continues from (the names of WiresharkStats.receive).
    if len(order):
        stats.jitter = float(jitter_now[-1])
        stats.delta = float(delta[-1])
        stats._time = float(t[-1])
        if last_rated[-1] >= 0:
            stats._last_nominal = float(nominal[last_rated[-1]])
    stats.cycles += cycles
    stats._under = under
    stats.sequence_errors += errors
    stats._seq = last_seq
    stats.wrong_timestamps += len(times) - len(order)
    stats._payload_type = int(payload_type[-1])
    stats.stop_seq = int(seq[-1])
    stats.packets += len(times)
    stats.end_time = float(times[-1])


def _jitter(differences: _F64, start: float, block: int = 128) -> _F64:
    """RFC 3550 A.8's running jitter ``J = (15 J + D) / 16`` after each difference D.

    Unrolled: ``J[m] = a**(m+1) * start + sum over k <= m of a**(m - k) * D[k] / 16``
    with ``a = 15/16``. Within a block of 128 values that is a cumulative sum
    scaled by powers of ``a`` (all terms positive: no precision is lost); from
    one block to the next the jitter carries over. It equals the
    packet-by-packet loop to about 1e-15 of its value.
    """
    count = len(differences)
    if not count:
        return differences
    a = 15 / 16
    padded = np.zeros(-(-count // block) * block)
    padded[:count] = differences / 16
    rows = padded.reshape(-1, block)
    powers = a ** np.arange(1, block + 1)  # a**1 ... a**block
    within = np.cumsum(rows / powers, axis=1) * powers  # each block as if from a jitter of 0
    carried = [start]  # the jitter before each block
    for end in within[:-1, -1].tolist():
        carried.append(carried[-1] * powers[-1] + end)
    jitter: _F64 = (within + powers * np.array(carried)[:, None]).ravel()[:count]
    return jitter


def _running_mean(values: _F64, packets_before: _I64, mean: float) -> float:
    """Wireshark's mean after ``values``: ``mean = (mean * (n - 1) + value) / n`` each time.

    n counts every packet before this one, regular or not. With Q = mean * n
    that is ``Q = Q_before * (n - 1) / n_before + value``: a plain running sum
    while n goes up by one, scaled by ``(n - 1) / n_before`` across a gap. So
    the last Q is the sum of the values (and of the mean before them), each
    divided by the product G of the scale factors up to it, times the last G.
    """
    n = packets_before.astype(np.float64)
    scale = np.concatenate(([1.0], np.cumprod((n[1:] - 1) / n[:-1])))
    total = np.sum(values / scale) + mean * (n[0] - 1)
    return float(scale[-1] * total / n[-1])


def _cycles(seq: _I64, in_sequence: _Bool, stats: WiresharkStats) -> tuple[int, bool]:
    """New wraps of the sequence number, and Wireshark's "under" bit after the block.

    For an in-sequence packet: below the start number (or 0 right after 65535)
    sets "under", counting a cycle if it was clear; above the start clears it.
    """
    start = stats.start_seq
    previous = np.concatenate(([stats.stop_seq], seq))[:-1]  # stop_seq before each packet
    below = (seq < start) | ((seq == 0) & (previous == 65535))
    events = np.where(below, 1, np.where(seq > start, -1, 0))
    changes = events[in_sequence & (events != 0)]
    if not len(changes):
        return 0, stats._under
    before = np.concatenate(([1 if stats._under else -1], changes[:-1]))
    return int(np.count_nonzero((changes == 1) & (before != 1))), bool(changes[-1] == 1)


def _sequence_errors(seq: _I64, in_sequence: _Bool, last: int) -> tuple[int, int]:
    """Wireshark's sequence errors in the block, and its last in-order sequence number.

    ``last`` is that number before the block. A packet that is "the previous
    packet + 1" (mod 65536), in time sequence, after a packet that moved the
    number, is in order and only moves it: those are skipped. The loop visits
    the others, and after a packet that left the number where it was (late,
    duplicated, wrong timestamp), the following ones until one moves it.
    """
    numbers = seq.tolist()
    count = len(numbers)
    follows = np.zeros(count, dtype=np.bool_)  # the first of the block is always visited
    follows[1:] = (seq[1:] == ((seq[:-1] + 1) & 0xFFFF)) & in_sequence[1:]
    hard = np.flatnonzero(~follows).tolist()
    flags = in_sequence.tolist()
    errors, visited, position = 0, -1, 0
    index = hard[0]
    while index < count:
        if index - 1 > visited:
            last = numbers[index - 1]  # the packets in between were each the next one
        number = numbers[index]
        moved = False
        if flags[index]:
            if number == last + 1 or (last == 65535 and number == 0):
                moved = True
            elif last + 1 < number or last - number > 0xFF00:
                moved = True
                errors += 1  # a gap (or a jump back of more than 0xFF00)
            else:
                errors += 1  # late or duplicated: the last in-order number stays
        elif last + 1 > number:
            errors += 1  # a wrong timestamp, and not ahead either
        visited = index
        if moved:
            last = number
            while position < len(hard) and hard[position] <= index:
                position += 1
            index = hard[position] if position < len(hard) else count
        else:
            index += 1
    if count - 1 > visited:
        last = numbers[-1]
    return errors, last
