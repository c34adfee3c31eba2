"""A serving process leaves full garbage collections to its LabServer, which runs them when quiet.

``tune_gc_for_serving`` (what ``siplab server`` calls) switches CPython's
automatic full collections off: walking every lingering transaction stalled
the server for a second under load (see its docstring). The LabServer of
such a process then runs them itself every ``QUIET_CHECK_INTERVAL`` seconds
when few transactions are open, and at the latest after
``FULL_COLLECTION_MAX_INTERVAL``. A server in any other process (a notebook's)
leaves the collector alone. While serving, it also freezes the objects that
survived every 0.1 s, so that young collections stay short, and unfreezes
them before each full collection.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Iterator

import pytest

import siplab.aio.server as server_module
from siplab.aio.server import LabServer, tune_gc_for_serving


@pytest.fixture
def serving_gc(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """tune_gc_for_serving() for one test, with fast checks; yields the collections made."""
    thresholds = gc.get_threshold()
    monkeypatch.setattr(server_module, "QUIET_CHECK_INTERVAL", 0.05)
    collections: list[int] = []
    real_collect = gc.collect

    def counting_collect(generation: int = 2) -> int:
        collections.append(generation)
        return real_collect(generation)

    monkeypatch.setattr(server_module.gc, "collect", counting_collect)
    try:
        tune_gc_for_serving()
        yield collections
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()  # the serving server froze this process's objects
        server_module._collect_when_quiet = False


async def _serve_for(seconds: float) -> None:
    async with LabServer(udp=[("127.0.0.1", 0)], open=True):
        await asyncio.sleep(seconds)


async def _serve_until(done: Callable[[], bool], timeout: float = 10.0) -> None:
    """Serve until ``done()`` (checked every 10 ms), for at most ``timeout`` seconds.

    A full collection takes long when the heap is big (after a whole test
    run), so the test waits for collections rather than for a fixed time.
    """
    async with LabServer(udp=[("127.0.0.1", 0)], open=True), asyncio.timeout(timeout):
        while not done():
            await asyncio.sleep(0.01)


def test_tuning_switches_automatic_full_collections_off(serving_gc: list[int]) -> None:
    full = gc.get_threshold()[2]
    assert full == server_module.FULL_COLLECTION_INTERVAL >= 100_000


def test_an_idle_server_runs_full_collections_itself(serving_gc: list[int]) -> None:
    asyncio.run(_serve_until(lambda: len(serving_gc) >= 2))
    assert serving_gc[:2] == [2, 2]  # full collections, one per quiet check


def test_a_busy_server_waits_until_a_collection_is_overdue(
        serving_gc: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server_module, "QUIET_TRANSACTIONS", 0)  # never quiet enough
    asyncio.run(_serve_for(0.3))
    assert serving_gc == []
    monkeypatch.setattr(server_module, "FULL_COLLECTION_MAX_INTERVAL", 0.1)
    asyncio.run(_serve_until(lambda: bool(serving_gc)))  # an overdue one runs whatever the load
    assert set(serving_gc) == {2}  # full collections, at least one


def test_a_serving_server_freezes_survivors_and_unfreezes_for_full_collections(
        serving_gc: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    gc.unfreeze()
    unfrozen: list[int] = []
    real_unfreeze = gc.unfreeze

    def counting_unfreeze() -> None:
        unfrozen.append(gc.get_freeze_count())
        real_unfreeze()

    monkeypatch.setattr(server_module.gc, "unfreeze", counting_unfreeze)
    monkeypatch.setattr(server_module, "QUIET_TRANSACTIONS", 0)  # no full collection yet
    asyncio.run(_serve_until(lambda: gc.get_freeze_count() > 0))
    assert unfrozen == []  # young collections now see only what came since the last freeze
    monkeypatch.setattr(server_module, "QUIET_TRANSACTIONS", 2_000)
    asyncio.run(_serve_until(lambda: bool(serving_gc)))
    assert unfrozen  # every frozen object was put back before the full collection
    assert unfrozen[0] > 0


def test_without_tuning_the_server_leaves_the_collector_alone(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server_module, "QUIET_CHECK_INTERVAL", 0.05)
    calls: list[int] = []
    monkeypatch.setattr(server_module.gc, "collect", lambda generation=2: calls.append(1) or 0)
    monkeypatch.setattr(server_module.gc, "freeze", lambda: calls.append(2))
    asyncio.run(_serve_for(0.3))
    assert calls == []
