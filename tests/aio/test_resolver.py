"""UDP to a host name: looked up without blocking the event loop, bounded, cached (RFC 3263 §4).

A datagram for ``Peer("localhost", 5060)`` needs an address first. The
lookup runs through ``loop.getaddrinfo`` (a worker thread), so the loop keeps
serving meanwhile; it gives up after ``resolve_timeout`` seconds and then the
message goes to ``on_error`` like any other that could not be sent. Here a
slow resolver is simulated by replacing the loop's ``getaddrinfo``.
"""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from siplab.aio.resolver import Resolver, is_ip_literal
from siplab.aio.transport import TransportManager
from siplab.sip.transport import Peer

T = TypeVar("T")
LOOPBACK = "127.0.0.1"


def run(coroutine: Coroutine[Any, Any, T], timeout: float = 5.0) -> T:
    async def bounded() -> T:
        async with asyncio.timeout(timeout):
            return await coroutine

    return asyncio.run(bounded())


def test_addresses_need_no_lookup_names_do() -> None:
    assert is_ip_literal("192.0.2.1")
    assert is_ip_literal("::1")
    assert is_ip_literal("[2001:db8::1]")
    assert not is_ip_literal("localhost")
    assert not is_ip_literal("lab.example.org")


def test_datagram_to_a_name_arrives_and_the_trace_shows_the_address() -> None:
    async def scenario() -> None:
        arrived: asyncio.Queue[bytes] = asyncio.Queue()
        receiver = TransportManager(lambda data, peer: arrived.put_nowait(data))
        traces: list[Any] = []
        sender = TransportManager(trace=traces.append)
        try:
            where = await receiver.listen_udp(LOOPBACK, 0)
            await sender.listen_udp(LOOPBACK, 0)
            sender.send(b"hello by name", Peer("localhost", where.port, "udp"))
            assert await asyncio.wait_for(arrived.get(), 2) == b"hello by name"
            assert traces[0].remote == Peer(LOOPBACK, where.port, "udp")
            assert sender.resolver.cached("localhost", where.port) is not None
        finally:
            await sender.close()
            await receiver.close()

    run(scenario())


def test_slow_lookup_does_not_stop_the_loop_and_times_out_to_on_error() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()

        async def slow_getaddrinfo(*args: Any, **kwargs: Any) -> list[Any]:
            await asyncio.sleep(10)  # a name server that does not answer
            return []

        errors: asyncio.Queue[tuple[Peer, Exception]] = asyncio.Queue()
        sender = TransportManager(on_error=lambda peer, exc: errors.put_nowait((peer, exc)),
                                  resolve_timeout=0.3)
        ticks = 0

        def tick() -> None:
            nonlocal ticks
            ticks += 1
            loop.call_later(0.02, tick)

        tick()
        try:
            await sender.listen_udp(LOOPBACK, 0)
            loop.getaddrinfo = slow_getaddrinfo  # type: ignore[method-assign]
            started = loop.time()
            sender.send(b"anyone?", Peer("sip.unanswered.example", 5060, "udp"))
            peer, error = await asyncio.wait_for(errors.get(), 2)
            assert loop.time() - started == pytest.approx(0.3, abs=0.15)
            assert peer.host == "sip.unanswered.example"
            assert isinstance(error, OSError)
            assert error.errno == errno.EHOSTUNREACH
            assert ticks >= 10  # the loop went on ticking all along
        finally:
            await sender.close()

    run(scenario())


def test_one_lookup_serves_several_messages_and_answers_are_cached() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        calls = 0

        async def counting_getaddrinfo(host: str, port: int, **kwargs: Any) -> list[Any]:
            nonlocal calls
            calls += 1
            await asyncio.sleep(0.05)
            return [(socket.AF_INET, socket.SOCK_DGRAM, 0, "", (LOOPBACK, port))]

        loop.getaddrinfo = counting_getaddrinfo  # type: ignore[method-assign,assignment]
        resolver = Resolver(ttl=60)
        answers = await asyncio.gather(*(resolver.resolve("lab.example", 5060)
                                         for _ in range(5)))
        assert answers == [(socket.AF_INET, (LOOPBACK, 5060))] * 5
        assert await resolver.resolve("LAB.example", 5060) == answers[0]
        assert calls == 1

    run(scenario())
