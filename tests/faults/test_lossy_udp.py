"""SIP over a bad UDP network: loss, delay, duplicates and reordering (RFC 3261 §17, §13.3.1.4).

UDP loses datagrams, so SIP retransmits: a client transaction sends its
request again (Timer A for INVITE, Timer E for the others) until a response
comes, a server transaction answers each copy with its last response, and the
callee's UA core resends its 200 OK until the ACK arrives. This module puts
the LabServer behind an in-process lossy network
(:class:`~siplab.aio.lossy.ImpairedTransportManager`: every datagram it sends
or receives meets the same seeded dice, so every hop between a phone and the
server is impaired) and checks that registrations, a whole call (INVITE, 180,
200, ACK, BYE) and MESSAGEs still complete at 10 % and 30 % loss, and with
delay, jitter, duplication and reordering as well, and that afterwards every
transaction of every endpoint ends in Terminated.

The kernel's ``tc netem`` would do the same below the sockets; where the
kernel has it, tests/faults/test_netem.py runs the same scenario through it.
"""

from __future__ import annotations

import pytest

from siplab.aio.lossy import ImpairedTransportManager, Impairment
from siplab.aio.server import LabServer
from siplab.aio.useragent import UserAgent
from siplab.ids import IdSource
from siplab.lab import Trace
from siplab.sip.build import build_request, build_response
from siplab.sip.registration import RegistrationState
from siplab.sip.transaction import NonInviteClientTransaction
from siplab.sip.transport import Peer
from tests.faults.lab import lab, rfc_path_errors, run, settle

BAD_WIFI = Impairment(loss=0.1, delay=0.01, jitter=0.03, duplicate=0.1, reorder=0.2, seed=7)


async def register_call_and_message(server: LabServer, alice: UserAgent, bob: UserAgent,
                                    trace: Trace) -> None:
    """The scenario every network below must carry: both registered (done by ``lab``),
    a call from alice to bob answered and hung up, and a MESSAGE each way. ``trace``
    records the server and both phones (what they sent, and what reached them)."""
    assert alice.registerer().state is RegistrationState.Registered
    assert bob.registerer().state is RegistrationState.Registered
    call = await alice.call("bob")
    await call.established(timeout=10)
    [answered] = bob.sessions
    assert await call.bye(timeout=10) == "bye"
    assert await answered.terminated(timeout=10) == "remote bye"
    reply = await alice.message("bob", "lost in the noise?", timeout=10)
    assert reply.status == 200
    assert (await bob.next_message(timeout=10)).text == "lost in the noise?"
    reply = await bob.message("alice", "found", timeout=10)
    assert reply.status == 200
    labels = [m.label for m in trace.messages]
    for step in ("INVITE", "180 Ringing", "200 OK", "ACK", "BYE", "MESSAGE"):
        assert step in labels


@pytest.mark.parametrize("loss", [0.1, 0.3])
def test_register_call_and_message_complete_through_loss(loss: float) -> None:
    async def scenario() -> None:
        trace = Trace()
        impairment = Impairment(loss=loss, seed=f"loss-{loss}")
        options = {"impairment": impairment, "trace": trace}
        async with lab(("alice", "bob"), server_options=options, trace=trace,
                       auto_answer=True) as (server, [alice, bob]):
            await register_call_and_message(server, alice, bob, trace)
            transports = server.transports
            assert isinstance(transports, ImpairedTransportManager)
            lost = transports.counts["lost"]
            sent = lost + transports.counts["passed"]
            assert lost > 0
            assert 0.5 * loss < lost / sent < 1.6 * loss
            settle(server, alice, bob)

    run(scenario(), timeout=45)


def test_register_call_and_message_complete_on_a_bad_wifi() -> None:
    """Loss, delay with jitter, duplicates and reordering at once (what netem would do)."""

    async def scenario() -> None:
        trace = Trace()
        options = {"impairment": BAD_WIFI, "trace": trace}
        async with lab(("alice", "bob"), server_options=options, trace=trace,
                       auto_answer=True) as (server, [alice, bob]):
            await register_call_and_message(server, alice, bob, trace)
            counts = server.transports.counts  # type: ignore[attr-defined]
            assert counts["duplicated"] > 0
            assert counts["reordered"] > 0
            assert counts["lost"] > 0
            settle(server, alice, bob)

    run(scenario(), timeout=45)


def test_retransmissions_are_what_carried_the_call() -> None:
    """At 30 % loss the ladder shows copies: requests sent again, 2xx resent until the ACK."""

    async def scenario() -> None:
        trace = Trace()
        options = {"impairment": Impairment(loss=0.3, seed="copies"), "trace": trace}
        async with lab(("alice", "bob"), server_options=options, trace=trace,
                       auto_answer=True) as (server, [alice, bob]):
            await register_call_and_message(server, alice, bob, trace)
            sent = [r.data for r in trace.records if r.direction == "out"]
            assert len(sent) > len(set(sent))  # the same bytes went out more than once
            settle(server, alice, bob)

    run(scenario(), timeout=45)


def test_a_transaction_that_gave_up_is_not_an_rfc_ending() -> None:
    """The check ``settle`` makes can fail: Timer F ending a MESSAGE is reported, Timer K is not."""
    ids = IdSource("rfc-paths")
    peer = Peer("127.0.0.1", 5060)

    def message() -> NonInviteClientTransaction:
        request = build_request("MESSAGE", "sip:bob@127.0.0.1", from_="sip:alice@127.0.0.1",
                                to="sip:bob@127.0.0.1", via_host="127.0.0.1", ids=ids)
        return NonInviteClientTransaction(request, peer, now=0.0)

    gave_up = message()
    gave_up.handle_timer(40.0)  # nothing ever answered: Timer F, 64*T1
    answered = message()
    answered.receive_response(build_response(answered.request, 200, to_tag="b1"), 0.1)
    answered.handle_timer(40.0)  # Timer K
    [error] = rfc_path_errors([gave_up, answered])
    assert "Trying -> Terminated ended by 'Timer F'" in error
