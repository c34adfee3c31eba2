"""A LabServer in a process of its own, for the load test, answering questions on stdin.

Run as ``python -m tests.load.server_process alice:lab bob:lab`` from the
repository root. It serves like ``siplab server`` does (UDP on 127.0.0.1, a
free port, :func:`~siplab.aio.server.tune_gc_for_serving`), so the load test
loads what the benchmark measures, in a process whose CPU and memory are the
server's alone; and it can also be asked what the server holds, which a
``siplab server`` cannot.

Its first line on stdout is ``{"port": N}``. Then each line read on stdin is
a command, answered with one JSON line:

* ``stats``: the server's own counters (:meth:`LabServer.stats
  <siplab.aio.server.LabServer.stats>`: open transactions, the proxy's
  response contexts, bindings), the nonces the digest server remembers, and
  the Python memory traced by :mod:`tracemalloc` after a full collection;
* ``later SECONDS``: fire every timer due within ``SECONDS`` from now, as if
  that much time had passed (``ServerCore.handle_timer``), then ``stats``.
  A finished transaction lingers 64*T1 = 32 s to absorb retransmissions
  (Timers J, K, L, M); this lets the test see the tables empty without
  waiting that long, as ``tests/torture/test_flood.py`` does. Bindings live
  for 600 s, so a ``later`` of 40 s does not remove them: only the
  de-registrations of the load do.

* ``growth``: the ten places in the code whose traced memory grew most since
  the first ``stats`` or ``later`` (what to look at when memory did not come
  back), then ``stats``.

End of input stops the server and the process.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import json
import sys
import tracemalloc

from siplab.aio.server import LabServer, tune_gc_for_serving


def _users(arguments: list[str]) -> dict[str, str]:
    return dict(item.split(":", 1) for item in arguments)


class Answers:
    """What the commands answer; the first answer's memory is the baseline of ``growth``."""

    def __init__(self, server: LabServer) -> None:
        self.server = server
        self.baseline: tracemalloc.Snapshot | None = None

    def stats(self) -> dict[str, object]:
        gc.collect()
        if self.baseline is None:
            self.baseline = tracemalloc.take_snapshot()
        digest = self.server.core.digest
        return {
            **dataclasses.asdict(self.server.stats()),
            "nonces": digest.tracked_nonces if digest is not None else 0,
            "traced_bytes": tracemalloc.get_traced_memory()[0],
        }

    def growth(self) -> dict[str, object]:
        answer = self.stats()
        assert self.baseline is not None
        top = tracemalloc.take_snapshot().compare_to(self.baseline, "lineno")[:10]
        return {**answer, "growth": [str(line) for line in top]}


async def serve(users: dict[str, str]) -> None:
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    async with LabServer(udp=[("127.0.0.1", 0)], users=users) as server:
        address = server.address("udp")
        assert address is not None
        print(json.dumps({"port": address.port}), flush=True)
        answers = Answers(server)
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


def main() -> None:
    tracemalloc.start()
    tune_gc_for_serving()  # as `siplab server` does
    asyncio.run(serve(_users(sys.argv[1:])))


if __name__ == "__main__":
    main()
