"""DTMF keys on an RTP stream for the event loop (RFC 4733 §2.5): sending, waiting, hearing."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from siplab.aio.dtmf import DtmfChannel
from siplab.ids import IdSource
from siplab.rtp import RtpSender, TelephoneEvent

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T], timeout: float = 5.0) -> T:
    async def bounded() -> T:
        async with asyncio.timeout(timeout):
            return await coroutine

    return asyncio.run(bounded())


def test_sent_keys_become_event_packets_and_the_future_ends_with_them() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        channel = DtmfChannel(loop, RtpSender(0, ids=IdSource(1)))
        channel.configure(101)
        done = channel.send("7")
        assert channel.busy
        packets = []
        now = loop.time()
        while channel.busy:
            now += 0.02
            packets += channel.poll(now)
        assert done.done()
        events = [TelephoneEvent.parse(p.payload) for p in packets]
        assert {p.payload_type for p in packets} == {101}
        assert {e.event for e in events} == {7}
        assert [e.end for e in events][-3:] == [True, True, True]  # the end, three times
        assert packets[0].marker
        assert len({p.timestamp for p in packets}) == 1  # one key, one timestamp

    run(scenario())


def test_keys_heard_by_rtp_and_by_info_land_in_one_list() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        sender = RtpSender(0, ids=IdSource(2))
        talker = DtmfChannel(loop, sender)
        talker.configure(101)
        talker.send("#")
        listener = DtmfChannel(loop, RtpSender(0, ids=IdSource(3)))
        listener.configure(101)
        called: list[str] = []
        listener.on_digit = called.append
        now = loop.time()
        while talker.busy:
            now += 0.02
            for packet in talker.poll(now):
                listener.receive(packet, now)
        listener.record("5")  # from a SIP INFO
        assert listener.digits == "#5"
        assert called == ["#", "5"]

    run(scenario())


def test_a_stream_without_telephone_event_has_no_channel() -> None:
    async def scenario() -> None:
        channel = DtmfChannel(asyncio.get_running_loop(), RtpSender(0, ids=IdSource(4)))
        channel.configure(None)
        assert channel.payload_type is None
        assert not channel.busy
        assert channel.poll(0.0) == []

    run(scenario())
