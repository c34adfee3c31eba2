"""The RTP endpoint's trace hook: every RTP and RTCP datagram, in and out (RFC 3550 §5.1, §6).

A :class:`~siplab.lab.Trace` made with ``rtp=True`` records a call's media
next to its SIP; it gets the packets from this hook, one
:class:`~siplab.aio.transport.TraceRecord` per datagram with transport
``"rtp"`` or ``"rtcp"``, the endpoint's own port as the local address and the
peer's as the remote one. RTCP goes on the odd port above RTP (RFC 3550 §11),
or on the RTP port itself with rtcp-mux (RFC 5761). Without a hook nothing is
recorded, and the datagrams go straight from the socket to the endpoint.
"""

from __future__ import annotations

import asyncio

from siplab.aio.audio import ToneSource
from siplab.aio.rtp import RtpEndpoint
from siplab.aio.transport import TraceRecord
from siplab.rtp import parse_rtp
from tests.aio.test_rtp import HOST, offer_answer, run, until


async def traced_pair(*, rtcp_mux: bool = False) -> tuple[
        RtpEndpoint, RtpEndpoint, list[TraceRecord], list[TraceRecord]]:
    """alice and bob, PCMU both ways, each with a list as its trace hook; started."""
    alice = await RtpEndpoint.open(HOST, rtcp_mux=rtcp_mux, rtcp_interval=0.1)
    bob = await RtpEndpoint.open(HOST, rtcp_mux=rtcp_mux, rtcp_interval=0.1)
    alice_records: list[TraceRecord] = []
    bob_records: list[TraceRecord] = []
    alice.trace = alice_records.append
    bob.trace = bob_records.append
    caps = {"rtcp_mux": True} if rtcp_mux else {}
    mine, theirs = offer_answer("PCMU", alice.local_port, bob.local_port, **caps)
    bob.start(theirs, source=ToneSource(1000))
    alice.start(mine, source=ToneSource(1000))
    return alice, bob, alice_records, bob_records


def kinds(records: list[TraceRecord], direction: str, kind: str) -> list[TraceRecord]:
    return [r for r in records if r.direction == direction and r.transport == kind]


def test_every_rtp_packet_sent_and_received_is_recorded_with_its_addresses() -> None:
    async def scenario() -> None:
        alice, bob, alice_records, bob_records = await traced_pair()
        await until(lambda: bob.packets_received >= 20 and alice.packets_received >= 20)
        await alice.close()
        await bob.close()
        sent = kinds(alice_records, "out", "rtp")
        assert len(sent) == alice.sender.packets_sent
        for record in sent:
            packet = parse_rtp(record.data)
            assert (packet.ssrc, packet.payload_type) == (alice.sender.ssrc, 0)
            assert (record.local.host, record.local.port) == (HOST, alice.local_port)
            assert (record.remote.host, record.remote.port) == (HOST, bob.local_port)
        heard = kinds(bob_records, "in", "rtp")
        assert len(heard) >= bob.packets_received
        assert {parse_rtp(r.data).ssrc for r in heard} == {alice.sender.ssrc}
        assert {(r.remote.port, r.local.port) for r in heard} == {
            (alice.local_port, bob.local_port)}
        # What alice sent is what bob heard, byte for byte, in order.
        assert [r.data for r in heard] == [r.data for r in sent][:len(heard)]
        assert all(r.local.transport == "udp" for r in sent + heard)

    run(scenario())


def test_rtcp_is_recorded_on_the_rtcp_port() -> None:
    async def scenario() -> None:
        alice, bob, alice_records, bob_records = await traced_pair()
        await until(lambda: len(kinds(bob_records, "in", "rtcp")) >= 2)
        await alice.close()
        await bob.close()
        reports = kinds(alice_records, "out", "rtcp")
        assert reports
        assert {(r.local.port, r.remote.port) for r in reports} == {
            (alice.local_rtcp_port, bob.local_rtcp_port)}
        assert alice.local_rtcp_port == alice.local_port + 1  # RFC 3550 §11
        arrived = kinds(bob_records, "in", "rtcp")
        assert {r.local.port for r in arrived} == {bob.local_rtcp_port}
        assert all(r.data[1] in (200, 201) for r in arrived)  # compounds start with SR or RR

    run(scenario())


def test_rtcp_mux_packets_are_told_apart_from_rtp_on_the_one_port() -> None:
    async def scenario() -> None:
        alice, bob, alice_records, bob_records = await traced_pair(rtcp_mux=True)
        await until(lambda: len(kinds(bob_records, "in", "rtcp")) >= 2)
        await alice.close()
        await bob.close()
        for record in kinds(bob_records, "in", "rtcp") + kinds(alice_records, "out", "rtcp"):
            assert 200 <= record.data[1] <= 204  # RTCP packet types (RFC 5761 §4)
        ports = {r.local.port for r in kinds(bob_records, "in", "rtcp")}
        assert ports == {bob.local_port}
        assert all(parse_rtp(r.data).ssrc == alice.sender.ssrc
                   for r in kinds(bob_records, "in", "rtp"))

    run(scenario())


def test_no_hook_records_nothing_and_detaching_stops_recording() -> None:
    async def scenario() -> None:
        alice, bob, alice_records, _ = await traced_pair()
        await until(lambda: bob.packets_received >= 5)
        alice.trace = None
        count = len(alice_records)
        before = alice.packets_received
        await until(lambda: alice.packets_received >= before + 5)
        await asyncio.sleep(0)
        assert len(alice_records) == count
        assert alice.trace is None
        await alice.close()
        await bob.close()

    run(scenario())
