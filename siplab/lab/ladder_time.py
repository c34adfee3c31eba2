"""The time axis of a ladder: one row per message, more room for a longer wait.

A SIP exchange has bursts (an INVITE, 100, 180 within milliseconds) and long
silences (a call that lasts a minute; Timer B giving up after 64*T1 = 32 s,
RFC 3261 §17.1.1.2). Drawn to scale, a burst is one smudge and a silence a
blank page; drawn one row per message, the silences vanish. The ladder does
neither: :func:`row_positions` puts each message at least
:data:`MIN_ROW_GAP` rows below the one before, plus room that grows with the
*logarithm* of the wait, up to :data:`MAX_ROW_GAP` rows. Waits longer than
:data:`BREAK_AFTER` seconds are drawn as a break labelled with their length,
and the real time of each message is printed beside it.

The order is kept, and so is "longer wait, more space": it is a compressed
time axis. :func:`position_of_time` places an instant that is not a message
(an RTP packet) on the same axis.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["row_positions", "position_of_time", "MIN_ROW_GAP", "MAX_ROW_GAP", "BREAK_AFTER"]

#: Rows between two messages sent at the same instant.
MIN_ROW_GAP = 1.0
#: The most rows any wait takes; longer waits are drawn as a break.
MAX_ROW_GAP = 3.5
#: Waits longer than this many seconds are marked with a break and their length.
BREAK_AFTER = 1.0
_GAP_REFERENCE = 0.01  # a wait of 10 ms adds log10(2) * _GAP_SCALE rows
_GAP_SCALE = 1.2


def _gap_rows(dt: float) -> float:
    """Rows between two messages ``dt`` seconds apart: 1, plus the log of the wait."""
    extra = _GAP_SCALE * math.log10(1.0 + max(dt, 0.0) / _GAP_REFERENCE)
    return min(MIN_ROW_GAP + extra, MAX_ROW_GAP)


def row_positions(times: Sequence[float]) -> list[float]:
    """The vertical position (in rows, growing downwards) of each message.

    The first message is at row 0; each next one at least :data:`MIN_ROW_GAP`
    rows further, more for a longer wait, at most :data:`MAX_ROW_GAP` rows.
    The order is kept and so is "longer wait, more space": it is a compressed
    time axis, and the ladder prints the real time of each message beside it.
    """
    rows: list[float] = []
    for i, time in enumerate(times):
        rows.append(0.0 if i == 0 else rows[-1] + _gap_rows(time - times[i - 1]))
    return rows


def position_of_time(time: float, times: Sequence[float], rows: Sequence[float]) -> float:
    """Where an instant that is not a message (an RTP packet) goes on that axis.

    Between two messages: the same fraction of the way as in real time.
    Before the first or after the last: as far as a message at that time would be.
    """
    if not times:
        return 0.0
    if time <= times[0]:
        return rows[0] - (_gap_rows(times[0] - time) - MIN_ROW_GAP)
    if time >= times[-1]:
        return rows[-1] + (_gap_rows(time - times[-1]) - MIN_ROW_GAP)
    for i in range(1, len(times)):
        if time <= times[i]:
            span = times[i] - times[i - 1]
            fraction = 0.0 if span <= 0 else (time - times[i - 1]) / span
            return rows[i - 1] + fraction * (rows[i] - rows[i - 1])
    return rows[-1]
