"""10,000 random UDP datagrams and 10,000 WebSocket frames at a LabServer, and TCP garbage.

What a class of students sends a lab server when they experiment: random
bytes, real messages damaged in a few places (tests/fuzz/mutate.py), messages
cut short. Over UDP (RFC 3261 §18.1), over a WebSocket connection (RFC 7118:
one SIP message per frame, text or binary) and over TCP (§18.3: the framer
closes a connection whose stream cannot be framed).

Afterwards the server must:

* still answer an OPTIONS with 200 and bind a REGISTER (it kept serving);
* hold no transaction or response context once their timers have run out
  (the damaged requests that were still valid created real transactions,
  which end with Timer J or K, at most 64*T1 = 32 s; and real bindings, at
  most max_expires = 3600 s: the core's clock is moved past both, as
  tests/interop/test_sipp_server.py does, rather than waiting);
* be back to its memory baseline: the first half of the datagrams and frames
  warms the server up, untraced (tracing every allocation makes the server
  about four times slower); after the second half, traced, memory must be
  within 1 MB of what it was between the halves, after a collection;
* have logged no exception: a message that raised out of the core would be
  logged by the transport as "on_message failed".

Bounded: a fixed count, a fixed random seed, and 60 s for the whole test
(it takes about 8 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import random
import re
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager

from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from siplab.aio.server import LabServer
from siplab.ids import IdSource
from siplab.sip.message import parse_message
from siplab.sip.server import ServerStats
from siplab.sip.transport import Peer
from tests.fuzz.mutate import mutate
from tests.sip.corpus_loader import load_corpus
from tests.torture.corpus import load, names
from tests.torture.test_server import LOOPBACK, RawUdp, addresses, run, still_serving

#: Issue 10 asks for 10,000 random datagrams *and* 10,000 WebSocket frames.
UDP_COUNT = 10_000
WS_COUNT = 10_000
TCP_CONNECTIONS = 40
#: Allowed growth of traced memory after the flood, once timers have run out.
MEMORY_SLACK = 1 << 20
#: Past every transaction timer (64*T1 = 32 s) and every binding (max_expires 3600 s).
LATER = 4000.0

_NAME_RE = re.compile(rb"[A-Za-z0-9.-]+\.(?:example\.(?:com|net|org|edu)|invalid)\b")


def seeds(where: dict[str, str]) -> list[bytes]:
    """Real messages to damage: the SIP corpus and the torture messages.

    Host names are replaced by a loopback address where nothing listens, so that
    forwarded requests and their answers stay on this machine and need no DNS.
    """
    corpus = [_NAME_RE.sub(b"127.0.0.2", message) for message in load_corpus().values()]
    torture = [load(name, where) for name in names("valid") + names("invalid")]
    return [message for message in corpus + torture if len(message) < 20_000]


def damaged(rng: random.Random, pool: list[bytes]) -> bytes:
    """Random bytes (1 in 6), a message cut short (1 in 6), or a mutated message."""
    roll = rng.random()
    if roll < 1 / 6:
        return rng.randbytes(rng.randrange(1, 1400))
    seed = rng.choice(pool)
    if roll < 2 / 6:
        return seed[: rng.randrange(len(seed))]
    return mutate(seed, rng, max_size=60_000)


class ErrorLog(logging.Handler):
    """Keeps every ERROR (and worse) record of the siplab loggers."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def errors_logged() -> Iterator[ErrorLog]:
    handler = ErrorLog()
    root = logging.getLogger("siplab")
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


async def flood_udp(client: RawUdp, udp: Peer, rng: random.Random, pool: list[bytes],
                    count: int) -> int:
    """Send ``count`` datagrams; every answer the server sends back must parse."""
    answers = 0
    for sent in range(count):
        await client.send(damaged(rng, pool), udp)
        if sent % 100 == 99:  # let the server catch up, and read what it answered
            await asyncio.sleep(0.005)
            while True:
                try:
                    answer = client.sock.recv(65536)
                except BlockingIOError:
                    break
                parse_message(answer)
                answers += 1
    return answers


async def flood_ws(url: str, rng: random.Random, pool: list[bytes], count: int) -> int:
    answers = 0
    async with ws_connect(url, subprotocols=[Subprotocol("sip")], max_size=None,
                          compression=None) as websocket:

        async def read() -> None:
            nonlocal answers
            try:
                async for frame in websocket:
                    parse_message(frame.encode() if isinstance(frame, str) else frame)
                    answers += 1
            except ConnectionClosed:
                pass

        reader = asyncio.create_task(read())
        for sent in range(count):
            data = damaged(rng, pool)
            try:  # text frames for what is UTF-8, binary frames for the rest (RFC 7118 §5.1)
                await websocket.send(data.decode("utf-8"))
            except UnicodeDecodeError:
                await websocket.send(data)
            if sent % 100 == 99:
                await asyncio.sleep(0.005)
        await asyncio.sleep(0.1)
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader  # re-raises if an answer did not parse
    return answers


async def flood_tcp(tcp: Peer, rng: random.Random, pool: list[bytes]) -> None:
    """Garbage on TCP_CONNECTIONS connections at once (each waits up to 50 ms for an
    answer or the server closing it: one after the other, that waiting took seconds)."""
    inputs = [[damaged(rng, pool) for _ in range(rng.randrange(1, 6))]
              for _ in range(TCP_CONNECTIONS)]

    async def connection(messages: list[bytes]) -> None:
        reader, writer = await asyncio.open_connection(tcp.host, tcp.port)
        for message in messages:
            writer.write(message)
        try:
            await writer.drain()
            async with asyncio.timeout(0.05):
                await reader.read(65536)  # an answer, or the server closing the stream
        except (TimeoutError, OSError):
            pass
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()

    await asyncio.gather(*(connection(messages) for messages in inputs))


def settle(server: LabServer) -> ServerStats:
    """Move the core's clock past every timer (as test_sipp_server does) and read its stats.

    A timer that fires may start another (Timer C ends a forwarded INVITE with
    408, whose server transaction then waits for Timer H), so the clock is
    moved on until nothing is scheduled, a bounded number of times.
    """
    core = server.core
    later = asyncio.get_running_loop().time() + LATER
    for _ in range(20):
        core.handle_timer(later)
        deadline = core.get_timer()
        if deadline is None:
            break
        later = max(later, deadline)
    # What those timers sent (408s, retransmissions) belongs to a future that the
    # event loop never reaches: the driver would flush it on its next turn. Drop it,
    # and the events, so that nothing stays queued.
    core.datagrams_to_send()
    while core.next_event() is not None:
        pass
    for _ in range(3):
        gc.collect()
    return core.stats()


def test_flood_of_damaged_messages_leaves_the_server_serving_idle_and_at_baseline() -> None:
    async def scenario() -> dict[str, object]:
        server = LabServer(udp=[(LOOPBACK, 0)], tcp=[(LOOPBACK, 0)], ws=[(LOOPBACK, 0)],
                           open=True, ids=IdSource("flood"))
        await server.start()
        client = RawUdp()
        rng = random.Random(4475)
        try:
            udp, tcp, _ = server.addresses
            pool = seeds(addresses(udp, client))
            # The first half of each flood warms every path up (imports, caches, logging)
            # untraced: tracing each allocation makes the server about four times slower.
            # The second half, traced, must then leave memory where the first half left it.
            await flood_tcp(tcp, random.Random(1), pool)
            udp_answers = await flood_udp(client, udp, rng, pool, UDP_COUNT // 2)
            ws_answers = await flood_ws(server.ws_urls[0], rng, pool, WS_COUNT // 2)
            await still_serving(server, client, "warm-up")
            idle_before = settle(server)
            tracemalloc.start()
            baseline, _ = tracemalloc.get_traced_memory()
            before = tracemalloc.take_snapshot()

            udp_answers += await flood_udp(client, udp, rng, pool, UDP_COUNT - UDP_COUNT // 2)
            ws_answers += await flood_ws(server.ws_urls[0], rng, pool, WS_COUNT - WS_COUNT // 2)
            await flood_tcp(tcp, rng, pool)
            await asyncio.sleep(0.2)  # the last datagrams and closing connections
            right_after = server.core.stats()
            idle_after = settle(server)
            memory, _ = tracemalloc.get_traced_memory()
            growth = tracemalloc.take_snapshot().compare_to(before, "lineno")[:8]

            await still_serving(server, client, "after")
            return {"idle_before": idle_before, "right_after": right_after,
                    "idle_after": idle_after, "growth_bytes": memory - baseline,
                    "top_growth": growth, "udp_answers": udp_answers,
                    "ws_answers": ws_answers}
        finally:
            client.close()
            await server.stop()

    try:
        with errors_logged() as errors:
            result = run(scenario(), timeout=60.0)
    finally:
        tracemalloc.stop()

    crashes = [r.getMessage() + "\n" + (logging.Formatter().formatException(r.exc_info)
                                       if r.exc_info else "") for r in errors.records]
    assert not crashes, "the core raised on flood input:\n" + "\n".join(crashes[:3])
    assert result["udp_answers"], "the server answered nothing over UDP"
    assert result["ws_answers"], "the server answered nothing over WebSocket"
    idle_after = result["idle_after"]
    assert isinstance(idle_after, ServerStats)
    assert idle_after.idle, f"transactions left after their timers: {idle_after}"
    assert (idle_after.bindings, idle_after.flows) == (0, 0), idle_after
    growth = result["growth_bytes"]
    assert isinstance(growth, int)
    assert growth < MEMORY_SLACK, (
        f"memory grew by {growth} bytes; largest growth:\n"
        + "\n".join(str(stat) for stat in result["top_growth"]))  # type: ignore[attr-defined]
