"""The asyncio driver of a sans-I/O endpoint (DESIGN.md, "The one idea").

The endpoint here is a toy written for the test: it echoes every datagram
back to its sender and has one deadline that fires once. What is checked is
only the driver's job: feed, flush, fire the timer on time, hand out events.
"""

from __future__ import annotations

import asyncio
import socket
from collections import deque
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from siplab.aio.driver import EndpointDriver
from siplab.aio.transport import TransportManager
from siplab.sip.transport import Peer

T = TypeVar("T")
LOOPBACK = "127.0.0.1"


def run(coroutine: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
    async def bounded() -> T:
        async with asyncio.timeout(timeout):
            return await coroutine

    return asyncio.run(bounded())


class EchoEndpoint:
    """A sans-I/O toy: replies ``b"echo " + data``; ``arm(delay, now)`` sets one deadline."""

    def __init__(self) -> None:
        self.outgoing: list[tuple[bytes, Peer]] = []
        self.events: deque[tuple[Any, ...]] = deque()
        self.deadline: float | None = None
        self.handle_timer_calls: list[float] = []

    # the five verbs
    def receive_datagram(self, data: bytes, peer: Peer, now: float) -> None:
        self.outgoing.append((b"echo " + data, peer))
        self.events.append(("received", data, peer, now))

    def datagrams_to_send(self) -> list[tuple[bytes, Peer]]:
        outgoing, self.outgoing = self.outgoing, []
        return outgoing

    def next_event(self) -> tuple[Any, ...] | None:
        return self.events.popleft() if self.events else None

    def get_timer(self) -> float | None:
        return self.deadline

    def handle_timer(self, now: float) -> None:
        self.handle_timer_calls.append(now)
        if self.deadline is not None and now >= self.deadline:
            self.events.append(("timer", self.deadline, now))
            self.deadline = None

    # the toy's own API, in the sans-I/O style: time is an argument
    def arm(self, delay: float, now: float) -> float:
        self.deadline = now + delay
        return self.deadline

    def send(self, data: bytes, peer: Peer, now: float) -> None:
        self.outgoing.append((data, peer))

    def transport_error(self, peer: Peer, now: float) -> None:
        self.events.append(("transport_error", peer))


async def next_echo_event(driver: EndpointDriver, timeout: float) -> tuple[Any, ...]:
    event = await driver.next_event(timeout=timeout)
    assert isinstance(event, tuple)
    return event


async def udp_client() -> tuple[TransportManager, asyncio.Queue[tuple[bytes, Peer]]]:
    replies: asyncio.Queue[tuple[bytes, Peer]] = asyncio.Queue()
    client = TransportManager(lambda data, peer: replies.put_nowait((data, peer)))
    await client.listen_udp(LOOPBACK, 0)
    return client, replies


def test_driver_feeds_datagrams_and_sends_the_replies_over_udp() -> None:
    async def body() -> None:
        endpoint = EchoEndpoint()
        driver = EndpointDriver(endpoint)
        server = await driver.transports.listen_udp(LOOPBACK, 0)
        client, replies = await udp_client()
        try:
            before = driver.now()
            client.send(b"ping", server)
            async with asyncio.timeout(2):
                reply = await replies.get()
            assert reply == (b"echo ping", server)
            event = await next_echo_event(driver, 2)
            assert event[:3] == ("received", b"ping", client.local_peer("udp"))
            assert before <= event[3] <= driver.now()  # now is loop.time()
        finally:
            await client.close()
            await driver.close()

    run(body())


def test_driver_fires_the_timer_once_at_its_deadline() -> None:
    async def body() -> None:
        endpoint = EchoEndpoint()
        driver = EndpointDriver(endpoint)
        deadline = driver.call(endpoint.arm, 0.1)
        kind, due, fired_at = await next_echo_event(driver, 2)
        assert (kind, due) == ("timer", deadline)
        assert fired_at >= deadline
        assert driver.now() - deadline < 0.5
        with pytest.raises(TimeoutError):  # no second firing
            await next_echo_event(driver, 0.2)
        assert len(endpoint.handle_timer_calls) == 1
        await driver.close()

    run(body())


def test_driver_rearms_when_the_deadline_moves() -> None:
    async def body() -> None:
        endpoint = EchoEndpoint()
        driver = EndpointDriver(endpoint)
        driver.call(endpoint.arm, 60.0)
        sooner = driver.call(endpoint.arm, 0.05)  # replaces the 60 s timer
        assert (await next_echo_event(driver, 2))[1] == sooner
        driver.call(endpoint.arm, 0.05)
        later = driver.call(endpoint.arm, 0.2)  # moved later: the 0.05 s timer must not fire
        assert (await next_echo_event(driver, 2))[1] == later
        assert len(endpoint.handle_timer_calls) == 2
        await driver.close()

    run(body())


def test_driver_reports_transport_errors_to_the_endpoint() -> None:
    async def body() -> None:
        endpoint = EchoEndpoint()
        driver = EndpointDriver(endpoint)
        with socket.socket() as sock:
            sock.bind((LOOPBACK, 0))
            nobody = Peer(LOOPBACK, sock.getsockname()[1], "tcp")
        driver.call(endpoint.send, b"OPTIONS", nobody)
        assert await next_echo_event(driver, 2) == ("transport_error", nobody)
        await driver.close()

    run(body())


def test_driver_on_event_may_call_back_into_the_endpoint() -> None:
    async def body() -> None:
        endpoint = EchoEndpoint()
        seen: list[tuple[Any, ...]] = []
        client, replies = await udp_client()
        driver_box: list[EndpointDriver] = []

        def on_event(event: object) -> None:
            assert isinstance(event, tuple)
            seen.append(event)
            if event[0] == "received":  # answer a second time, from inside the handler
                driver_box[0].call(endpoint.send, b"again", event[2])

        driver = EndpointDriver(endpoint, TransportManager(), on_event=on_event)
        driver_box.append(driver)
        server = await driver.transports.listen_udp(LOOPBACK, 0)
        try:
            client.send(b"hello", server)
            async with asyncio.timeout(2):
                assert [(await replies.get())[0] for _ in range(2)] == [b"echo hello", b"again"]
            assert [event[0] for event in seen] == ["received"]
            assert (await next_echo_event(driver, 2))[0] == "received"  # queued too
        finally:
            await client.close()
            await driver.close()

    run(body())


class ManyDeadlines(EchoEndpoint):
    """Deadlines a few milliseconds apart, as a busy server's finished transactions have."""

    def __init__(self) -> None:
        super().__init__()
        self.pending: list[float] = []

    def get_timer(self) -> float | None:
        return min(self.pending, default=None)

    def handle_timer(self, now: float) -> None:
        self.handle_timer_calls.append(now)
        due = [deadline for deadline in self.pending if deadline <= now]
        self.pending = [deadline for deadline in self.pending if deadline > now]
        for deadline in due:
            self.events.append(("timer", deadline, now))


def test_driver_with_a_tick_handles_the_deadlines_of_one_tick_in_one_wake_up() -> None:
    async def body() -> None:
        endpoint = ManyDeadlines()
        tick = 0.1
        driver = EndpointDriver(endpoint, tick=tick)
        start = driver.now()
        first_tick_end = (int(start / tick) + 3) * tick  # three ticks ahead, on the grid
        endpoint.pending = [first_tick_end - 0.09, first_tick_end - 0.05, first_tick_end - 0.001,
                            first_tick_end + 0.02]  # the last one is in the next tick
        driver.flush()
        fired = [await next_echo_event(driver, 2) for _ in range(4)]
        for _, deadline, fired_at in fired:
            assert deadline <= fired_at < deadline + tick + 0.05  # late by a tick at most
        # Three deadlines, one wake-up; the fourth got a wake-up of its own.
        assert len(endpoint.handle_timer_calls) == 2
        assert [fired_at for _, _, fired_at in fired[:3]] == [endpoint.handle_timer_calls[0]] * 3
        await driver.close()

    run(body())


def test_driver_refuses_a_negative_tick() -> None:
    with pytest.raises(ValueError, match="tick"):
        EndpointDriver(EchoEndpoint(), tick=-1.0)
