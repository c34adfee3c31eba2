"""The shared media clock: streams called back on a grid, from a fixed start, without drift.

RFC 3551 §4.2 sends audio in packets of a fixed duration (20 ms by default).
:class:`MediaScheduler` computes every deadline from its epoch, so a stream
called 100 times has been called at exactly start + k * period (not start plus
100 small delays), and many streams share few wake-ups of the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from siplab.aio.scheduler import BALANCE_SLACK, MediaScheduler

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T], timeout: float = 5.0) -> T:
    async def bounded() -> T:
        async with asyncio.timeout(timeout):
            return await coroutine

    return asyncio.run(bounded())


def test_a_stream_is_called_on_its_schedule_and_never_early() -> None:
    async def scenario() -> None:
        scheduler = MediaScheduler()
        calls: list[tuple[float, float]] = []
        stream = scheduler.add(lambda scheduled, now: calls.append((scheduled, now)), 0.02)
        await asyncio.sleep(0.5)
        stream.cancel()
        assert len(calls) >= 20
        for k, (scheduled, now) in enumerate(calls):
            assert scheduled == pytest.approx(stream.start + 0.02 * k, abs=1e-9)
            assert now >= scheduled - 0.001  # asyncio may wake a hair early, never more

    run(scenario())


def test_many_streams_share_a_few_wakeups() -> None:
    async def scenario() -> None:
        scheduler = MediaScheduler()
        counts = [0] * 40
        streams = []
        for index in range(40):

            def tick(scheduled: float, now: float, index: int = index) -> None:
                counts[index] += 1

            streams.append(scheduler.add(tick, 0.02))
            await asyncio.sleep(0.001)  # started at different moments
        wakeups = scheduler.wakeups
        await asyncio.sleep(0.4)
        for stream in streams:
            stream.cancel()
        # 40 streams of 20 ms: at most one wake-up per 5 ms grid point, not 40 per 20 ms.
        assert scheduler.wakeups - wakeups <= 0.4 / 0.005 + 2
        assert min(counts) >= 15

    run(scenario())


def test_streams_started_together_spread_over_the_period() -> None:
    async def scenario() -> None:
        scheduler = MediaScheduler()
        streams = [scheduler.add(lambda scheduled, now: None, 0.02) for _ in range(80)]
        phases = [round((s.start - scheduler.epoch) / scheduler.resolution) % 4 for s in streams]
        loads = [phases.count(p) for p in range(4)]
        assert max(loads) - min(loads) <= BALANCE_SLACK + 1
        assert min(s.start for s in streams) - asyncio.get_running_loop().time() < 0.0051
        scheduler.close()
        assert len(scheduler) == 0

    run(scenario())


def test_a_failing_stream_is_stopped_and_the_others_go_on() -> None:
    async def scenario() -> None:
        scheduler = MediaScheduler()
        good: list[float] = []

        def bad(scheduled: float, now: float) -> None:
            raise RuntimeError("boom")

        broken = scheduler.add(bad, 0.01)
        scheduler.add(lambda scheduled, now: good.append(now), 0.01)
        await asyncio.sleep(0.1)
        assert broken.cancelled
        assert len(good) >= 5
        assert len(scheduler) == 1
        scheduler.close()

    run(scenario())


def test_each_loop_has_one_default_scheduler() -> None:
    async def default() -> MediaScheduler:
        first = MediaScheduler.for_loop()
        assert MediaScheduler.for_loop() is first
        return first

    assert run(default()) is not run(default())
