"""The in-process bad network: UDP datagrams lost, delayed, duplicated, reordered, seeded.

siplab.aio.lossy stands in for ``tc netem`` where the kernel has none: every
UDP datagram an :class:`ImpairedTransportManager` sends or receives meets a
seeded random fate. Two managers on 127.0.0.1 exchange numbered datagrams
and the receiver counts what arrived, twice, and in which order. TCP is never
impaired (it repairs loss itself, which is why SIP does not retransmit on it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from siplab.aio.lossy import ImpairedTransportManager, Impairment
from siplab.aio.transport import TransportManager
from tests.helpers import crlf

T = TypeVar("T")
LOOPBACK = "127.0.0.1"
OPTIONS = crlf("""
    OPTIONS sip:127.0.0.1 SIP/2.0
    Via: SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bK-lossy
    Max-Forwards: 70
    From: <sip:tester@127.0.0.1>;tag=t1
    To: <sip:127.0.0.1>
    Call-ID: lossy@test
    CSeq: 1 OPTIONS
    Content-Length: 0

""")


def run(coroutine: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
    async def bounded() -> T:
        async with asyncio.timeout(timeout):
            return await coroutine

    return asyncio.run(bounded())


async def exchange(impairment: Impairment,
                   count: int = 400) -> tuple[list[int], ImpairedTransportManager]:
    """Send ``count`` numbered datagrams through an impaired sender; what arrived, in order."""
    arrived: list[int] = []
    receiver = TransportManager(lambda data, peer: arrived.append(int(data)))
    sender = ImpairedTransportManager(impairment)
    try:
        where = await receiver.listen_udp(LOOPBACK, 0)
        await sender.listen_udp(LOOPBACK, 0)
        for number in range(count):
            sender.send(b"%d" % number, where)
        await asyncio.sleep(impairment.delay + impairment.jitter * 2
                            + impairment.reorder_gap + 0.2)
    finally:
        await sender.close()
        await receiver.close()
    return arrived, sender


def test_loss_drops_about_that_share_of_datagrams() -> None:
    arrived, sender = run(exchange(Impairment(loss=0.3, seed=1)))
    assert 0.2 < 1 - len(arrived) / 400 < 0.4
    assert sender.counts["lost"] == 400 - len(arrived)
    assert arrived == sorted(arrived)  # loss alone keeps the order


def test_the_same_seed_gives_the_same_fates() -> None:
    first, _ = run(exchange(Impairment(loss=0.2, seed="same")))
    second, _ = run(exchange(Impairment(loss=0.2, seed="same")))
    third, _ = run(exchange(Impairment(loss=0.2, seed="other")))
    assert first == second
    assert first != third


def test_duplicates_arrive_twice_and_reordering_changes_the_order() -> None:
    arrived, sender = run(exchange(Impairment(duplicate=0.2, reorder=0.2, reorder_gap=0.05,
                                              delay=0.001, seed=3)))
    assert len(arrived) == 400 + sender.counts["duplicated"]
    assert sender.counts["duplicated"] > 40
    assert set(arrived) == set(range(400))
    assert arrived != sorted(arrived)


def test_delay_holds_datagrams_back() -> None:
    async def scenario() -> float:
        arrival: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        receiver = TransportManager(
            lambda data, peer: arrival.done() or arrival.set_result(
                asyncio.get_running_loop().time()))
        sender = ImpairedTransportManager(Impairment(delay=0.2))
        try:
            where = await receiver.listen_udp(LOOPBACK, 0)
            await sender.listen_udp(LOOPBACK, 0)
            sent = asyncio.get_running_loop().time()
            sender.send(b"late", where)
            return await arrival - sent
        finally:
            await sender.close()
            await receiver.close()

    assert run(scenario()) >= 0.19


def test_tcp_is_not_impaired() -> None:
    async def scenario() -> tuple[int, int]:
        arrived: list[bytes] = []
        receiver = TransportManager(lambda data, peer: arrived.append(data))
        sender = ImpairedTransportManager(Impairment(loss=1.0))
        try:
            where = await receiver.listen_tcp(LOOPBACK, 0)
            for _ in range(5):
                sender.send(OPTIONS, where)
            while len(arrived) < 5:
                await asyncio.sleep(0.01)
        finally:
            await sender.close()
            await receiver.close()
        return len(arrived), sender.counts["lost"]

    assert run(scenario(), timeout=5) == (5, 0)


def test_impairment_checks_its_numbers() -> None:
    with pytest.raises(ValueError, match="probability"):
        Impairment(loss=1.5)
    with pytest.raises(ValueError, match="not negative"):
        Impairment(delay=-1)
