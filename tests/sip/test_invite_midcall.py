"""Requests inside an established call: re-INVITE, INFO, MESSAGE, REFER, keep-alives.

RFC 3261 §14 (re-INVITE, 491 glare), RFC 6086 (INFO), RFC 3428 (MESSAGE),
RFC 3515 and RFC 5589 §6 (blind transfer with REFER and NOTIFY), RFC 3261
§12.2.1.2 (408/481 end a dialog). Alice (10.0.0.1) has called Bob
(10.0.0.2); Carol (10.0.0.3) answers every call she gets.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from siplab.errors import InvalidStateError
from siplab.lab import DropAll, DropNext, SimNetwork
from siplab.sip.events import (
    IncomingCall,
    InfoReceived,
    MessageReceived,
    NotifyReceived,
    ReferReceived,
    ReinviteReceived,
    RequestFailed,
    RequestSucceeded,
    SessionEstablished,
    SessionModified,
    SessionTerminated,
    TransferCompleted,
)
from siplab.sip.invite import Session, glare_delay, sipfrag_status
from siplab.sip.invite_table import SessionState
from siplab.sip.message import Request, Response, parse_message
from siplab.sip.useragent import UserAgentCore
from tests.sip.ladders import drain, names, only, phone

OFFER = b"v=0\r\nm=audio 4000 RTP/AVP 0\r\na=sendrecv\r\n"
ANSWER = b"v=0\r\nm=audio 5000 RTP/AVP 0\r\na=sendrecv\r\n"
HOLD = b"v=0\r\nm=audio 4000 RTP/AVP 0\r\na=sendonly\r\n"
HELD = b"v=0\r\nm=audio 5000 RTP/AVP 0\r\na=recvonly\r\n"
State = SessionState


def call(**options: object) -> tuple[SimNetwork, UserAgentCore, UserAgentCore, Session, Session]:
    """Alice calls Bob, Bob answers; both sides' events drained. 100 ms in."""
    net = SimNetwork(delay=0.01)
    alice = phone(net, "alice", **options)  # type: ignore[arg-type]
    bob = phone(net, "bob", **options)  # type: ignore[arg-type]
    outgoing = alice.call("sip:bob@10.0.0.2", net.now, body=OFFER)
    net.run_until(0.01)
    incoming = only(drain(bob), IncomingCall).session
    bob.accept(incoming, net.now, ANSWER)
    net.run_until(0.1)
    drain(alice)
    drain(bob)
    return net, alice, bob, outgoing, incoming


def auto_answering(*uas: UserAgentCore) -> None:
    for ua in uas:
        ua.config = replace(ua.config, auto_answer=True)


def labels_after(net: SimNetwork, start: int) -> list[str]:
    return [r.label for r in net.records[start:] if not r.dropped]


class TestReinvite:
    """§14: hold and resume by re-INVITE; the bodies travel, the dialog stays."""

    def test_hold_and_resume(self) -> None:
        net, alice, bob, outgoing, incoming = call()
        start = len(net.records)
        alice.reinvite(outgoing, HOLD, net.now)
        net.run_until(0.2)
        reinvite = only(drain(bob), ReinviteReceived)
        assert reinvite.request.body == HOLD
        assert reinvite.session is incoming
        bob.accept_reinvite(incoming, net.now, HELD)
        net.run_until(0.3)
        assert labels_after(net, start) == ["INVITE", "100 Trying", "200 OK", "ACK"]
        modified = only(drain(alice), SessionModified)
        assert isinstance(modified.message, Response)
        assert modified.message.body == HELD
        assert (outgoing.local_body, outgoing.remote_body) == (HOLD, HELD)
        bob_modified = only(drain(bob), SessionModified)
        assert bob_modified.message is reinvite.request
        assert (incoming.local_body, incoming.remote_body) == (HELD, HOLD)
        # resume
        alice.reinvite(outgoing, OFFER, net.now)
        net.run_until(0.4)
        bob.accept_reinvite(incoming, net.now, ANSWER)
        net.run_until(0.5)
        assert names(drain(alice)) == ["SessionModified"]
        assert (outgoing.local_body, outgoing.remote_body) == (OFFER, ANSWER)
        assert outgoing.state is incoming.state is State.Established

    def test_reinvite_cseq_and_dialog(self) -> None:
        net, alice, bob, outgoing, incoming = call()
        alice.reinvite(outgoing, HOLD, net.now)
        net.run_until(0.2)
        bob.accept_reinvite(incoming, net.now)
        net.run_until(0.3)
        invites = [m for m in (parse_message(r.data) for r in net.records)
                   if isinstance(m, Request) and m.method == "INVITE"]
        assert invites[1].cseq.number == invites[0].cseq.number + 1
        assert invites[1].to_tag == incoming.local_tag
        assert invites[1].call_id == invites[0].call_id
        assert incoming.local_body == ANSWER  # accepted without a body: the last one again

    def test_auto_answer_echoes_the_last_local_body(self) -> None:
        net, alice, bob, outgoing, _incoming = call()
        auto_answering(bob)
        alice.reinvite(outgoing, HOLD, net.now)
        net.run_until(0.3)
        assert names(drain(bob)) == ["ReinviteReceived", "SessionModified"]
        assert only(drain(alice), SessionModified).message.body == ANSWER

    def test_rejected_reinvite_leaves_the_call_as_it_was(self) -> None:
        net, alice, bob, outgoing, incoming = call()
        start = len(net.records)
        alice.reinvite(outgoing, HOLD, net.now)
        net.run_until(0.2)
        bob.reject_reinvite(incoming, net.now, 488)
        net.run_until(0.3)
        assert labels_after(net, start) == ["INVITE", "100 Trying", "488 Not Acceptable Here",
                                            "ACK"]
        failed = only(drain(alice), RequestFailed)
        assert (failed.kind, failed.status) == ("INVITE", 488)
        assert (outgoing.local_body, outgoing.remote_body) == (OFFER, ANSWER)
        assert outgoing.state is State.Established

    def test_reinvite_before_the_ack_stops_the_2xx_retransmissions(self) -> None:
        """The ACK for Bob's 200 was lost; Alice's re-INVITE proves the 200 arrived."""
        net = SimNetwork(delay=0.01)
        alice = phone(net, "alice")
        bob = phone(net, "bob")
        outgoing = alice.call("sip:bob@10.0.0.2", net.now, body=OFFER)
        net.run_until(0.01)
        incoming = only(drain(bob), IncomingCall).session
        net.link("alice", "bob", loss=DropNext(1), both_ways=False)  # the ACK
        bob.accept(incoming, net.now, ANSWER)
        net.run_until(0.1)
        alice.reinvite(outgoing, HOLD, net.now)
        net.run_until(0.2)
        assert only(drain(bob), ReinviteReceived).request.body == HOLD
        bob.accept_reinvite(incoming, net.now, HELD)
        net.run_until(10.0)
        oks = [r for r in net.records if r.label == "200 OK"]
        assert len(oks) == 2  # the first 200 was not resent after the re-INVITE came
        assert only(drain(alice), SessionModified).message.body == HELD
        assert outgoing.state is incoming.state is State.Established

    def test_one_reinvite_at_a_time(self) -> None:
        net, alice, _bob, outgoing, _incoming = call()
        alice.reinvite(outgoing, HOLD, net.now)
        with pytest.raises(InvalidStateError):
            alice.reinvite(outgoing, OFFER, net.now)

    def test_glare_both_get_491_and_retry_apart(self) -> None:
        """§14.1: crossing re-INVITEs both get 491; the Call-ID owner waits 2.1-4 s."""
        net, alice, bob, outgoing, incoming = call()
        auto_answering(alice, bob)
        start = len(net.records)
        alice.reinvite(outgoing, HOLD, net.now)
        bob.reinvite(incoming, HELD, net.now)
        net.run_until(10.0)
        labels = labels_after(net, start)
        assert labels.count("491 Request Pending") == 2
        invites = [r for r in net.records[start:] if r.label == "INVITE"]
        assert len(invites) == 4
        alice_retry = next(r for r in invites[2:] if r.src.host == "10.0.0.1")
        bob_retry = next(r for r in invites[2:] if r.src.host == "10.0.0.2")
        assert 2.1 <= alice_retry.time_sent - 0.1 <= 4.0
        assert 0.0 <= bob_retry.time_sent - 0.1 <= 2.0
        assert names(drain(alice)).count("SessionModified") == 2  # its own and Bob's
        assert names(drain(bob)).count("SessionModified") == 2
        assert outgoing.state is incoming.state is State.Established

    def test_glare_delay_ranges(self) -> None:
        from siplab.ids import IdSource

        ids = IdSource(7)
        owner = [glare_delay(ids, owns_call_id=True) for _ in range(200)]
        other = [glare_delay(ids, owns_call_id=False) for _ in range(200)]
        assert min(owner) >= 2.1
        assert max(owner) <= 4.0
        assert min(other) >= 0.0
        assert max(other) <= 2.0
        assert all(round(d * 100) == pytest.approx(d * 100) for d in owner + other)


class TestReinviteWhenTheCallEnds:
    """A re-INVITE still open when the call ends: §15.1.2 (pending requests get 487)
    and §9.1 (a client transaction with no final response is given up)."""

    @pytest.mark.parametrize("who_hangs_up", ["alice", "bob"])
    def test_unanswered_reinvite_gets_487_before_the_bye_completes(
            self, who_hangs_up: str) -> None:
        net, alice, bob, outgoing, incoming = call()
        alice.reinvite(outgoing, HOLD, net.now)
        net.run_until(0.2)
        only(drain(bob), ReinviteReceived)  # Bob's application never answers it
        start = len(net.records)
        if who_hangs_up == "alice":
            alice.bye(outgoing, net.now)
        else:
            bob.bye(incoming, net.now)
        net.run()
        expected = (["BYE", "487 Request Terminated", "200 OK", "ACK"]
                    if who_hangs_up == "alice" else
                    ["487 Request Terminated", "BYE", "ACK", "200 OK"])
        assert labels_after(net, start) == expected
        for ua in (alice, bob):
            assert not ua.sessions
            assert not ua.layer.client_transactions
            assert not ua.layer.server_transactions

    def test_our_reinvite_whose_answer_is_lost_is_abandoned_when_the_call_ends(self) -> None:
        net, alice, bob, outgoing, incoming = call()
        alice.reinvite(outgoing, HOLD, net.now)
        net.run_until(0.2)
        net.link("bob", "alice", loss=DropAll(), both_ways=False)  # every answer lost
        bob.accept_reinvite(incoming, net.now, HELD)
        net.run_until(40.0)  # Bob resends his 200 for 64*T1, gives up and says BYE
        net.link("bob", "alice", loss=None, both_ways=False)
        net.run()
        assert only(drain(alice), SessionTerminated).cause == "remote bye"
        assert outgoing.state is State.Terminated
        assert not alice.layer.client_transactions  # the re-INVITE no longer waits
        assert not alice.layer.server_transactions
        assert not bob.sessions


class TestInfoAndMessage:
    def test_info_is_answered_and_reported(self) -> None:
        net, alice, bob, outgoing, _incoming = call()
        start = len(net.records)
        alice.info(outgoing, b"Signal=5\r\nDuration=160\r\n", "application/dtmf-relay", net.now)
        net.run_until(0.2)
        assert labels_after(net, start) == ["INFO", "200 OK"]
        info = only(drain(bob), InfoReceived)
        assert info.request.body == b"Signal=5\r\nDuration=160\r\n"
        assert info.request.content_type == "application/dtmf-relay"
        assert only(drain(alice), RequestSucceeded).kind == "INFO"

    def test_message_in_the_call(self) -> None:
        net, alice, _bob, _outgoing, incoming = call()
        incoming.message(net.now, b"hello")
        net.run_until(0.2)
        received = only(drain(alice), MessageReceived)
        assert received.body == b"hello"
        assert str(received.sender.uri) == "sip:bob@10.0.0.2"


class TestTransfer:
    """RFC 5589 §6: Bob transfers Alice to Carol with a REFER (blind transfer)."""

    def setup_transfer(self) -> tuple[SimNetwork, UserAgentCore, UserAgentCore,
                                      UserAgentCore, Session, Session]:
        net, alice, bob, outgoing, incoming = call()
        carol = phone(net, "carol", auto_answer=True)
        return net, alice, bob, carol, outgoing, incoming

    def test_blind_transfer(self) -> None:
        net, alice, bob, _carol, outgoing, incoming = self.setup_transfer()
        start = len(net.records)
        bob.refer(incoming, "sip:carol@10.0.0.3", net.now)
        net.run_until(0.2)
        refer = only(drain(alice), ReferReceived)
        assert str(refer.refer_to.uri) == "sip:carol@10.0.0.3"
        assert refer.session is outgoing
        new = alice.accept_refer(outgoing, net.now)
        net.run_until(2.0)
        between = [(net.name_of(r.src), net.name_of(r.dst), r.label)
                   for r in net.records[start:] if not r.dropped]
        a_b = [label for src, dst, label in between if {src, dst} == {"alice", "bob"}]
        a_c = [label for src, dst, label in between if {src, dst} == {"alice", "carol"}]
        assert a_b == ["REFER", "202 Accepted", "NOTIFY", "200 OK", "NOTIFY", "200 OK",
                       "BYE", "200 OK"]
        assert a_c == ["INVITE", "100 Trying", "180 Ringing", "200 OK", "ACK"]
        notifies = [m for m in (parse_message(r.data) for r in net.records[start:])
                    if isinstance(m, Request) and m.method == "NOTIFY"]
        assert [n.body for n in notifies] == [b"SIP/2.0 100 Trying\r\n", b"SIP/2.0 200 OK\r\n"]
        assert [n.headers.get("Subscription-State") for n in notifies] == [
            "active;expires=60", "terminated;reason=noresource"]
        assert {n.headers.get("Event") for n in notifies} == {"refer"}
        bob_events = drain(bob)
        assert names(bob_events) == ["RequestSucceeded", "NotifyReceived", "NotifyReceived",
                                     "TransferCompleted", "SessionTerminated"]
        assert only(bob_events, TransferCompleted).status == 200
        assert only(bob_events, SessionTerminated).cause == "bye"
        alice_events = drain(alice)
        assert names(alice_events).count("RequestSucceeded") == 2  # the two NOTIFYs
        assert only(alice_events, SessionEstablished).session is new
        assert only(alice_events, SessionTerminated).session is outgoing
        assert new.state is State.Established
        assert outgoing.state is incoming.state is State.Terminated
        invite = next(parse_message(r.data) for r in net.records[start:]
                      if r.label == "INVITE")
        assert isinstance(invite, Request)
        assert invite.headers.get("Referred-By") == "<sip:bob@10.0.0.2>"
        assert new.local_body == OFFER

    def test_failed_transfer_keeps_the_call(self) -> None:
        net, alice, bob, outgoing, incoming = call()
        carol = phone(net, "carol")
        bob.refer(incoming, "sip:carol@10.0.0.3", net.now)
        net.run_until(0.2)
        alice.accept_refer(outgoing, net.now)
        net.run_until(0.3)
        carol.reject(only(drain(carol), IncomingCall).session, net.now, 486)
        net.run_until(1.0)
        bob_events = drain(bob)
        assert only(bob_events, TransferCompleted).status == 486
        last_notify = [e for e in bob_events if isinstance(e, NotifyReceived)][-1]
        assert last_notify.request.body == b"SIP/2.0 486 Busy Here\r\n"
        assert outgoing.state is incoming.state is State.Established

    @pytest.mark.parametrize(("body", "status"), [
        (b"SIP/2.0 200 OK\r\n", 200), (b"SIP/2.0 100 Trying", 100), (b"garbage", None)])
    def test_sipfrag_status(self, body: bytes, status: int | None) -> None:
        assert sipfrag_status(body) == status


class TestKeepalive:
    """In-dialog OPTIONS: a 408/481 or no answer means the peer lost the call (§12.2.1.2)."""

    def test_options_every_interval_while_the_peer_answers(self) -> None:
        net, _alice, _bob, outgoing, incoming = call(keepalive_interval=30.0)
        start = len(net.records)
        net.run_until(31.0)
        assert labels_after(net, start) == ["OPTIONS", "OPTIONS", "200 OK", "200 OK"]
        assert outgoing.state is incoming.state is State.Established

    def test_silent_peer_ends_the_call(self) -> None:
        net, alice, _bob, outgoing, _incoming = call(keepalive_interval=30.0)
        net.link("alice", "bob", loss=DropAll())
        net.run_until(200.0)
        assert only(drain(alice), SessionTerminated).cause == "keepalive failed"
        assert outgoing.state is State.Terminated
