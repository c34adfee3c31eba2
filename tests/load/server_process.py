"""A LabServer in a process of its own, for the load test, answering questions on stdin.

Run as ``python -m tests.load.server_process alice:lab bob:lab`` from the
repository root. It serves like ``siplab server`` does (UDP on 127.0.0.1, a
free port, :func:`~siplab.aio.server.tune_gc_for_serving`), so the load test
loads what the benchmark measures, in a process whose CPU and memory are the
server's alone; and it can also be asked what the server holds, which a
``siplab server`` cannot.

Its first line on stdout is ``{"port": N, "compiled": true}`` (whether it runs
the mypyc-compiled core, see siplab.compiled_core). Then each line read on stdin is
a command, answered with one JSON line:

* ``stats``: the server's own counters (:meth:`LabServer.stats
  <siplab.aio.server.LabServer.stats>`: open transactions, the proxy's
  response contexts, bindings), the nonces the digest server remembers, and
  the memory blocks the interpreter holds after a full collection
  (:func:`sys.getallocatedblocks`: every live object is at least one);
* ``later SECONDS``: fire every timer due within ``SECONDS`` from now, as if
  that much time had passed (``ServerCore.handle_timer``), then ``stats``.
  A finished transaction lingers 64*T1 = 32 s to absorb retransmissions
  (Timers J, K, L, M); this lets the test see the tables empty without
  waiting that long, as ``tests/torture/test_flood.py`` does. Bindings live
  for 600 s, so a ``later`` of 40 s does not remove them: only the
  de-registrations of the load do.

  The answer also lists the event loop's stalls of 0.2 s or more and the
  full garbage collections, each as (seconds since the start, length): what
  to look at when sipp saw retransmissions.
* ``growth``: with ``SIPLAB_TRACE_MEMORY=1`` in the environment, the ten
  places in the code whose memory (traced by :mod:`tracemalloc` from the
  first ``stats`` or ``later`` on) grew most: what to look at when memory did
  not come back. Tracing slows the server about fourfold, so the load test
  runs without it and only says how to turn it on. Then ``stats``.

End of input stops the server and the process.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import json
import os
import sys
import time
import tracemalloc

from siplab.aio.server import LabServer, tune_gc_for_serving
from siplab.sip.native import COMPILED

#: Trace allocations (and name where memory grew) from the first answer on.
TRACING = os.environ.get("SIPLAB_TRACE_MEMORY") == "1"


def _users(arguments: list[str]) -> dict[str, str]:
    return dict(item.split(":", 1) for item in arguments)


class Pauses:
    """Where the server stopped serving for a while: event-loop stalls and full collections.

    A stall of a second under load makes sipp retransmit and can fail calls; these
    say when it happened and whether a full garbage collection was the cause.
    """

    TICK = 0.05
    REPORTED = 0.2  # stalls at least this long are listed

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.stalls: list[tuple[float, float]] = []  # (seconds since start, length)
        self.collections: list[tuple[float, float]] = []  # full ones: (since start, length)
        self._collecting_since = 0.0
        gc.callbacks.append(self._gc)

    def _gc(self, phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._collecting_since = time.monotonic()
        else:
            now = time.monotonic()
            self.collections.append((round(self._collecting_since - self.started, 2),
                                     round(now - self._collecting_since, 3)))

    async def watch(self) -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(self.TICK)
            late = time.monotonic() - before - self.TICK
            if late >= self.REPORTED:
                self.stalls.append((round(before - self.started, 2), round(late, 3)))


class Answers:
    """What the commands answer; the first answer's memory is the baseline of ``growth``."""

    def __init__(self, server: LabServer, pauses: Pauses) -> None:
        self.server = server
        self.pauses = pauses
        self.baseline: tracemalloc.Snapshot | None = None

    def stats(self) -> dict[str, object]:
        gc.unfreeze()  # the server freezes survivors while serving: look at everything
        gc.collect()
        if self.baseline is None and TRACING:
            tracemalloc.start()  # from here on: what the baseline does not hold
            self.baseline = tracemalloc.take_snapshot()
        digest = self.server.core.digest
        return {
            **dataclasses.asdict(self.server.stats()),
            "nonces": digest.tracked_nonces if digest is not None else 0,
            "blocks": sys.getallocatedblocks(),
            "stalls": self.pauses.stalls[-20:],
            "full_collections": self.pauses.collections[-20:],
        }

    def growth(self) -> dict[str, object]:
        answer = self.stats()
        if self.baseline is None:
            return {**answer, "growth": ["(run with SIPLAB_TRACE_MEMORY=1 to see where)"]}
        top = tracemalloc.take_snapshot().compare_to(self.baseline, "lineno")[:10]
        return {**answer, "growth": [str(line) for line in top]}


async def serve(users: dict[str, str]) -> None:
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    async with LabServer(udp=[("127.0.0.1", 0)], users=users) as server:
        address = server.address("udp")
        assert address is not None
        print(json.dumps({"port": address.port, "compiled": COMPILED}), flush=True)
        pauses = Pauses()
        watcher = asyncio.create_task(pauses.watch())
        answers = Answers(server, pauses)
        while line := await stdin.readline():
            command, *arguments = line.decode().split()
            if command == "later":
                server.core.handle_timer(loop.time() + float(arguments[0]))
            if command in ("later", "stats"):
                print(json.dumps(answers.stats()), flush=True)
            elif command == "growth":
                print(json.dumps(answers.growth()), flush=True)
            else:
                print(json.dumps({"error": f"unknown command {command!r}"}), flush=True)
        watcher.cancel()


def main() -> None:
    tune_gc_for_serving()  # as `siplab server` does
    asyncio.run(serve(_users(sys.argv[1:])))


if __name__ == "__main__":
    main()
