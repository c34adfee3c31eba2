"""One media clock for every RTP stream of a process: packets paced from a grid, never drifting.

A phone sends an RTP packet every *ptime* milliseconds (20 ms usually,
RFC 3551 §4.2). The naive loop ``while True: send(); await asyncio.sleep(0.02)``
drifts: each sleep lasts 20 ms *plus* the time the loop body and the event
loop took, so after a minute the stream is late by seconds and the receiver's
jitter buffer runs dry. The cure is to compute every deadline from a fixed
start, ``start + k * ptime``, and sleep until that.

:class:`MediaScheduler` does that for many streams at once. Time is cut into
a grid of ``resolution`` steps (5 ms) counted from the scheduler's creation;
each stream is called back on grid points ``period`` apart, and the
scheduler wakes the event loop once per grid point that has work, calling
every stream due there in turn. Two hundred calls therefore cost at most four
wake-ups per 20 ms, not two hundred (a timer per stream would). A new stream
starts at the next grid point unless that one is crowded; then it takes the
least busy phase, so that streams started together spread over the period.

A stream is not called *early*: a callback receives the loop time it was
scheduled for and the time it runs, and a stream that was delayed (the
machine stalled) can see how late it is and catch up.

One scheduler serves every endpoint of an event loop: pass one in
explicitly (a :class:`~siplab.aio.useragent.UserAgent` may own one), or let
:meth:`MediaScheduler.for_loop` hand out the loop's default, which is kept on
the loop object itself, not in a module global.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import math
from collections.abc import Callable

__all__ = ["MediaScheduler", "ScheduledStream"]

logger = logging.getLogger("siplab.aio.scheduler")

#: Name of the attribute that holds a loop's default scheduler.
_LOOP_ATTRIBUTE = "_siplab_media_scheduler"

#: How many more streams than the emptiest phase a grid point may hold and still take a
#: new stream at once (see :meth:`MediaScheduler._least_busy`).
BALANCE_SLACK = 8

#: A callback: ``(scheduled, now)``, both loop times in seconds.
Tick = Callable[[float, float], None]


class ScheduledStream:
    """One registration with a :class:`MediaScheduler`; ``cancel()`` ends it."""

    __slots__ = ("callback", "period_ticks", "start", "cancelled", "_scheduler")

    def __init__(self, scheduler: MediaScheduler, callback: Tick, period_ticks: int) -> None:
        self._scheduler = scheduler
        self.callback = callback
        self.period_ticks = period_ticks
        self.start = 0.0  # loop time of the first call
        self.cancelled = False

    @property
    def period(self) -> float:
        """Seconds between calls."""
        return self.period_ticks * self._scheduler.resolution

    def cancel(self) -> None:
        """No more calls (safe to call twice, and from inside the callback)."""
        if not self.cancelled:
            self.cancelled = True
            self._scheduler._count -= 1


class MediaScheduler:
    """Calls registered streams back every ``period`` seconds, on a shared time grid.

    ``add(callback, period)`` registers a stream; the first call comes at the
    next grid point, and then every ``period`` (rounded to whole grid steps).
    Create it inside a running event loop.
    """

    def __init__(
        self, resolution: float = 0.005, *, loop: asyncio.AbstractEventLoop | None = None
    ) -> None:
        if resolution <= 0:
            raise ValueError(f"resolution {resolution} is not positive")
        self.resolution = resolution
        self.loop = loop or asyncio.get_running_loop()
        self.epoch = self.loop.time()
        self.wakeups = 0  # how often the loop woke us: the cost of pacing
        self.max_lag = 0.0  # the latest a grid point was served, seconds (a sign of overload)
        self._slots: dict[int, list[ScheduledStream]] = {}
        self._heap: list[int] = []  # grid indices that have a slot
        self._timer: asyncio.TimerHandle | None = None
        self._timer_index: int | None = None
        self._count = 0

    @classmethod
    def for_loop(cls, loop: asyncio.AbstractEventLoop | None = None) -> MediaScheduler:
        """The default scheduler of ``loop`` (the running loop if None), created on first use.

        It is stored as an attribute of the loop, so it lives and dies with the
        loop. A loop that does not take attributes gets a new scheduler each time.
        """
        loop = loop or asyncio.get_running_loop()
        scheduler = getattr(loop, _LOOP_ATTRIBUTE, None)
        if isinstance(scheduler, MediaScheduler):
            return scheduler
        scheduler = cls(loop=loop)
        with contextlib.suppress(AttributeError):  # e.g. a loop implemented in C
            setattr(loop, _LOOP_ATTRIBUTE, scheduler)
        return scheduler

    def __len__(self) -> int:
        """Streams registered and not cancelled."""
        return self._count

    def time_of(self, index: int) -> float:
        """The loop time of grid point ``index``."""
        return self.epoch + index * self.resolution

    def add(self, callback: Tick, period: float) -> ScheduledStream:
        """Call ``callback(scheduled, now)`` from the next grid point on, every ``period`` s."""
        ticks = max(1, round(period / self.resolution))
        stream = ScheduledStream(self, callback, ticks)
        index = self._least_busy(
            math.ceil((self.loop.time() - self.epoch) / self.resolution - 1e-9), ticks
        )
        stream.start = self.time_of(index)
        self._count += 1
        self._put(index, stream)
        return stream

    def _least_busy(self, first: int, ticks: int) -> int:
        """The grid point to start a stream at: the next one, unless it is crowded.

        Every registered stream sits in exactly one slot, its next call, so the
        slots of the next ``ticks`` grid points hold every stream of that
        period once: their sizes are the load of each phase. Starting at the
        next point gives the quickest first packet (call setup time); when it
        already holds more than ``BALANCE_SLACK`` streams above the emptiest
        phase, the stream starts at the emptiest instead (at most one period
        later), so that 200 calls started together do not all send in one burst.
        """
        loads = [len(self._slots.get(first + k, ())) for k in range(ticks)]
        lightest = min(loads)
        for k, load in enumerate(loads):
            if load <= lightest + BALANCE_SLACK:
                return first + k
        return first  # pragma: no cover - the lightest itself always qualifies

    def _put(self, index: int, stream: ScheduledStream) -> None:
        slot = self._slots.get(index)
        if slot is None:
            self._slots[index] = [stream]
            heapq.heappush(self._heap, index)
            if self._timer_index is None or index < self._timer_index:
                self._arm(index)
        else:
            slot.append(stream)

    def _arm(self, index: int) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_index = index
        self._timer = self.loop.call_at(self.time_of(index), self._fire)

    def _fire(self) -> None:
        self._timer = None
        self._timer_index = None
        self.wakeups += 1
        time = self.loop.time
        now = time()
        # Grid points up to now (call_at may fire a hair early: allow a tenth of a step).
        current = math.floor((now - self.epoch) / self.resolution + 0.1)
        while self._heap and self._heap[0] <= current:
            index = heapq.heappop(self._heap)
            scheduled = self.time_of(index)
            for stream in self._slots.pop(index):
                if stream.cancelled:
                    continue
                # Each stream gets the time it really runs: in a batch of hundreds the
                # last one runs milliseconds after the first, and that lateness counts.
                now = time()
                if now - scheduled > self.max_lag:
                    self.max_lag = now - scheduled
                try:
                    stream.callback(scheduled, now)
                except Exception:
                    logger.exception("media stream callback failed; stream stopped")
                    stream.cancel()
                    continue
                if not stream.cancelled:
                    following = index + stream.period_ticks
                    if following <= current:
                        # More than a period behind (the loop stalled): skip whole periods,
                        # keeping the stream's phase, so that streams spread over the
                        # period do not all pile up on the next grid point.
                        periods = -(-(current + 1 - following) // stream.period_ticks)
                        following += periods * stream.period_ticks
                    self._put(following, stream)
        # A stream put back above may have armed the timer for its own next point,
        # later than a grid point already waiting in the heap: wake for the earliest.
        if self._heap and (self._timer_index is None or self._heap[0] < self._timer_index):
            self._arm(self._heap[0])

    def close(self) -> None:
        """Cancel every stream and the timer."""
        for slot in self._slots.values():
            for stream in slot:
                stream.cancelled = True
        self._slots.clear()
        self._heap.clear()
        self._count = 0
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        self._timer_index = None
