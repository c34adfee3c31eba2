"""RTCP reports on the event loop (RFC 3550 §6): SR or RR, SDES, BYE, and the round trip.

:class:`RtcpReporter` sends a sender report only when media went out since
the last report, else a receiver report (§6.4); every compound carries the
CNAME (§6.1); the peer's report block about our stream gives the round-trip
time ``A - LSR - DLSR`` (§6.4.1, Figure 2).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from siplab.aio.rtcp import RtcpReporter
from siplab.ids import IdSource
from siplab.rtp import (
    Bye,
    ReceiverReport,
    ReceiverStats,
    RtpSender,
    SenderReport,
    SourceDescription,
    parse_rtcp,
)

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T], timeout: float = 5.0) -> T:
    async def bounded() -> T:
        async with asyncio.timeout(timeout):
            return await coroutine

    return asyncio.run(bounded())


def reporter(sent: list[bytes], seed: int) -> RtcpReporter:
    def send(data: bytes) -> bool:
        sent.append(data)
        return True

    sender = RtpSender(0, ids=IdSource(seed))
    return RtcpReporter(asyncio.get_running_loop(), sender, ReceiverStats(8000), send)


def test_a_reporter_sends_rr_until_it_sends_media_then_sr() -> None:
    async def scenario() -> None:
        sent: list[bytes] = []
        ours = reporter(sent, 1)
        ours.send_report()
        ours.sent_media = True
        ours.sender.next_packet(bytes(160), 160, now=asyncio.get_running_loop().time())
        ours.send_report()
        first, second = (parse_rtcp(data) for data in sent)
        assert isinstance(first[0], ReceiverReport)
        assert isinstance(second[0], SenderReport)
        assert second[0].packet_count == 1
        assert all(isinstance(compound[1], SourceDescription) for compound in (first, second))
        assert ours.sent == 2
        assert not ours.sent_media

    run(scenario())


def test_the_peers_report_about_our_stream_gives_the_round_trip_time() -> None:
    async def scenario() -> None:
        alice_out: list[bytes] = []
        bob_out: list[bytes] = []
        alice, bob = reporter(alice_out, 1), reporter(bob_out, 2)
        loop = asyncio.get_running_loop()
        alice.sent_media = True
        alice.send_report()  # alice's SR reaches bob ...
        packet = alice.sender.next_packet(bytes(160), 160)
        bob.receiver.receive(packet, loop.time())
        bob.receive(alice_out[-1], loop.time())
        await asyncio.sleep(0.05)  # ... bob holds it 50 ms (DLSR) ...
        bob.send_report()
        alice.receive(bob_out[-1], loop.time())  # ... and his RR comes back
        assert alice.rtt is not None
        assert 0 <= alice.rtt < 0.01
        assert bob.received == 1
        assert alice.received == 1

    run(scenario())


def test_only_the_reported_sources_sr_sets_lsr() -> None:
    async def scenario() -> None:
        alice_out: list[bytes] = []
        carol_out: list[bytes] = []
        bob_out: list[bytes] = []
        alice, carol, bob = reporter(alice_out, 1), reporter(carol_out, 4), reporter(bob_out, 2)
        loop = asyncio.get_running_loop()
        bob.receiver.receive(alice.sender.next_packet(bytes(160), 160), loop.time())
        carol.sent_media = True
        carol.sender.next_packet(bytes(160), 160)
        carol.send_report()  # an SR from a source bob does not report on
        bob.receive(carol_out[-1], loop.time())
        bob.send_report()
        [block] = parse_rtcp(bob_out[-1])[0].reports
        assert (block.ssrc, block.lsr, block.dlsr) == (alice.sender.ssrc, 0, 0)
        alice.sent_media = True
        alice.send_report()  # alice's own SR does count
        bob.receive(alice_out[-1], loop.time())
        bob.send_report()
        [block] = parse_rtcp(bob_out[-1])[0].reports
        assert block.lsr != 0

    run(scenario())


def test_bye_ends_the_reports_and_invalid_rtcp_is_ignored() -> None:
    async def scenario() -> None:
        sent: list[bytes] = []
        ours = reporter(sent, 3)
        ours.interval = 0.01
        ours.start()
        await asyncio.sleep(0.05)
        ours.send_bye("done")
        count = len(sent)
        await asyncio.sleep(0.05)
        assert len(sent) == count >= 2  # the timer stopped
        last = parse_rtcp(sent[-1])
        assert isinstance(last[-1], Bye)
        assert last[-1].reason == "done"
        assert ours.receive(b"\x00\x01", 0.0) is None
        peer = reporter([], 4)
        assert peer.receive(sent[-1], 0.0) is not None
        assert peer.remote_bye is not None

    run(scenario())
