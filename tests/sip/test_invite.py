"""Making and answering calls, read as ladders (RFC 3261 §13, §9, §15; RFC 3665 §3).

Alice (10.0.0.1) calls Bob (10.0.0.2) directly, with no proxy: the INVITE is
for ``sip:bob@10.0.0.2``. Each hop takes 10 ms on the SimNetwork, and T1 is
the default 500 ms. Bob's application answers by hand unless the test says
``auto_answer``::

    Alice                         Bob
      | INVITE (offer)             |
      |--------------------------->|
      |          100 Trying        |
      |<---------------------------|
      |          180 Ringing       |   bob.progress()
      |<---------------------------|
      |          200 OK (answer)   |   bob.accept()
      |<---------------------------|
      | ACK                        |
      |--------------------------->|
      | BYE                        |
      |--------------------------->|
      |          200 OK            |
      |<---------------------------|
"""

from __future__ import annotations

import pytest

from siplab.lab import DropAll, DropIf, DropNext, SimNetwork
from siplab.sip.dialog import DialogState
from siplab.sip.events import (
    IncomingCall,
    SessionEstablished,
    SessionProgress,
    SessionTerminated,
)
from siplab.sip.invite import Session
from siplab.sip.invite_client import OutgoingSession
from siplab.sip.invite_engine import action_method
from siplab.sip.invite_server import IncomingSession
from siplab.sip.invite_table import INCOMING, OUTGOING, SESSION_MACHINES, SessionState
from siplab.sip.message import Request, parse_message
from siplab.sip.useragent import UserAgentCore
from tests.sip.ladders import assert_ladder, drain, names, only, phones

OFFER = b"v=0\r\no=alice 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n"
ANSWER = b"v=0\r\no=bob 1 1 IN IP4 10.0.0.2\r\ns=-\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\n"
BOB = "sip:bob@10.0.0.2"
State = SessionState


def ringing(**options: object) -> tuple[SimNetwork, UserAgentCore, UserAgentCore, Session,
                                        Session]:
    """Alice calls Bob; Bob's phone rings (180). Returns both sessions, 50 ms in."""
    net = SimNetwork(delay=0.01)
    alice, bob = phones(net, "alice", "bob", **options)
    outgoing = alice.call(BOB, net.now, body=OFFER)
    net.run_until(0.01)
    incoming = only(drain(bob), IncomingCall).session
    bob.progress(incoming, net.now)
    net.run_until(0.05)
    return net, alice, bob, outgoing, incoming


def established() -> tuple[SimNetwork, UserAgentCore, UserAgentCore, Session, Session]:
    net, alice, bob, outgoing, incoming = ringing()
    bob.accept(incoming, net.now, ANSWER)
    net.run_until(0.1)
    drain(alice)
    drain(bob)
    return net, alice, bob, outgoing, incoming


def all_gone(*uas: UserAgentCore) -> bool:
    return all(not ua.sessions and not ua.layer.client_transactions
               and not ua.layer.server_transactions for ua in uas)


class TestCallSetup:
    """RFC 3665 §3.1-style: a successful session with provisional responses."""

    def test_caller_and_callee_reach_established(self) -> None:
        net, alice, bob, outgoing, incoming = ringing()
        assert outgoing.state is State.Establishing
        bob.accept(incoming, net.now, ANSWER)
        net.run_until(0.1)
        assert_ladder(net, ["INVITE", "100 Trying", "180 Ringing", "200 OK", "ACK"])
        assert names(drain(alice)) == ["SessionProgress", "SessionEstablished"]
        assert names(drain(bob)) == ["SessionEstablished"]
        assert outgoing.state is incoming.state is State.Established

    def test_bodies_are_carried_both_ways(self) -> None:
        net, _alice, bob, outgoing, incoming = ringing()
        assert incoming.remote_body == OFFER
        assert incoming.remote_content_type == "application/sdp"
        bob.accept(incoming, net.now, ANSWER)
        net.run_until(0.1)
        assert (outgoing.local_body, outgoing.remote_body) == (OFFER, ANSWER)
        assert (incoming.local_body, incoming.remote_body) == (ANSWER, OFFER)
        assert outgoing.remote_content_type == "application/sdp"

    def test_180_makes_an_early_dialog_on_both_sides(self) -> None:
        _net, alice, _bob, outgoing, incoming = ringing()
        progress = only(drain(alice), SessionProgress)
        assert progress.response.status == 180
        assert list(outgoing.early_dialogs) == [incoming.local_tag]
        early = outgoing.early_dialogs[incoming.local_tag]
        assert early.state is DialogState.Early
        assert incoming.dialog is not None
        assert incoming.dialog.state is DialogState.Early
        assert early.id.call_id == incoming.dialog.id.call_id

    def test_2xx_confirms_the_early_dialog_and_ack_has_invite_cseq(self) -> None:
        net, _alice, _bob, outgoing, incoming = established()
        assert outgoing.early_dialogs == {}
        assert outgoing.dialog is not None
        assert outgoing.dialog.state is DialogState.Confirmed
        assert outgoing.dialog.remote_tag == incoming.local_tag
        ack = next(parse_message(r.data) for r in net.records if r.label == "ACK")
        assert isinstance(ack, Request)
        assert ack.cseq.number == outgoing.request.cseq.number
        assert ack.branch != outgoing.request.branch  # the ACK for a 2xx is a new transaction
        assert str(ack.uri) == "sip:bob@10.0.0.2:5060;transport=udp"  # Bob's Contact

    def test_caller_hangs_up(self) -> None:
        net, alice, bob, outgoing, incoming = established()
        alice.bye(outgoing, net.now)
        net.run()
        assert net.labels()[-2:] == ["BYE", "200 OK"]
        assert only(drain(alice), SessionTerminated).cause == "bye"
        assert only(drain(bob), SessionTerminated).cause == "remote bye"
        assert outgoing.state is incoming.state is State.Terminated
        assert all_gone(alice, bob)

    def test_callee_hangs_up(self) -> None:
        net, alice, bob, _outgoing, incoming = established()
        bob.hangup(incoming, net.now)
        net.run()
        assert net.labels()[-2:] == ["BYE", "200 OK"]
        assert only(drain(bob), SessionTerminated).cause == "bye"
        assert only(drain(alice), SessionTerminated).cause == "remote bye"
        assert all_gone(alice, bob)

    def test_auto_answer_gives_the_whole_ladder(self) -> None:
        net = SimNetwork(delay=0.01)
        alice, bob = phones(net, "alice", "bob", auto_answer=True)
        session = alice.call(BOB, net.now, body=OFFER)
        net.run_until(1.0)
        alice.bye(session, net.now)
        net.run()
        assert_ladder(net, ["INVITE", "100 Trying", "180 Ringing", "200 OK", "ACK", "BYE",
                            "200 OK"])
        assert names(drain(bob)) == ["IncomingCall", "SessionEstablished", "SessionTerminated"]
        assert all_gone(alice, bob)


class TestRejected:
    """§13.2.2.3: a 4xx-6xx ends the call; the INVITE transaction sends the ACK."""

    @pytest.mark.parametrize(("status", "label"), [
        (486, "486 Busy Here"), (603, "Decline"), (480, "480 Temporarily Unavailable")])
    def test_callee_rejects(self, status: int, label: str) -> None:
        net = SimNetwork(delay=0.01)
        alice, bob = phones(net, "alice", "bob")
        outgoing = alice.call(BOB, net.now, body=OFFER)
        net.run_until(0.01)
        incoming = only(drain(bob), IncomingCall).session
        bob.reject(incoming, net.now, status)
        net.run()
        assert net.labels()[0:2] == ["INVITE", "100 Trying"]
        assert net.labels()[2].startswith(str(status))
        assert net.labels()[3:] == ["ACK"]
        ended = only(drain(alice), SessionTerminated)
        assert (ended.cause, ended.status) == ("rejected", status)
        assert only(drain(bob), SessionTerminated).cause == "rejected"
        assert outgoing.state is State.Terminated
        assert all_gone(alice, bob)

    def test_hangup_while_ringing_rejects_with_480(self) -> None:
        net, alice, bob, _outgoing, incoming = ringing()
        bob.hangup(incoming, net.now)
        net.run()
        assert "480 Temporarily Unavailable" in net.labels()
        assert only(drain(alice), SessionTerminated).status == 480


class TestNoAnswer:
    """§17.1.1.2: with no response at all, Timer B ends the INVITE after 64*T1."""

    def test_timer_b_ends_the_call_with_timeout(self) -> None:
        net = SimNetwork(delay=0.01)
        alice, _bob = phones(net, "alice", "bob")
        net.link("alice", "bob", loss=DropAll())
        outgoing = alice.call(BOB, net.now)
        net.run()
        assert [r.time_sent for r in net.records] == pytest.approx(
            [0.0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5])
        ended = only(drain(alice), SessionTerminated)
        assert (ended.cause, ended.status) == ("timeout", None)
        assert outgoing.history[-1][:2] == (pytest.approx(32.0), "Timer B")
        assert all_gone(alice)


class TestCancel:
    """§9: CANCEL withdraws an INVITE not yet answered."""

    def test_cancel_while_ringing_gets_200_then_487_and_ack(self) -> None:
        net, alice, bob, outgoing, _incoming = ringing()
        drain(alice)
        alice.cancel(outgoing, net.now)
        assert outgoing.state is State.Terminating
        net.run()
        assert_ladder(net, ["INVITE", "100 Trying", "180 Ringing", "CANCEL", "200 OK",
                            "487 Request Terminated", "ACK"])
        ended = only(drain(alice), SessionTerminated)
        assert (ended.cause, ended.status) == ("cancelled", 487)
        assert only(drain(bob), SessionTerminated).cause == "cancelled"
        assert all_gone(alice, bob)

    def test_cancel_before_any_provisional_is_sent_when_the_180_arrives(self) -> None:
        net = SimNetwork(delay=0.01)
        alice, bob = phones(net, "alice", "bob")
        net.link("bob", "alice", loss=DropIf(lambda line: "100 Trying" in line, name="100"),
                 both_ways=False)
        outgoing = alice.call(BOB, net.now)
        alice.cancel(outgoing, net.now)  # nothing came back yet: it waits (§9.1)
        net.run_until(0.3)  # before Timer A resends the INVITE at 0.5
        assert "CANCEL" not in net.labels()
        incoming = only(drain(bob), IncomingCall).session
        bob.progress(incoming, net.now)
        net.run()
        assert_ladder(net, ["INVITE", "180 Ringing", "CANCEL", "200 OK",
                            "487 Request Terminated", "ACK"])
        cancel = next(r for r in net.records if r.label == "CANCEL")
        ringing_record = next(r for r in net.records if r.label == "180 Ringing")
        assert cancel.time_sent == ringing_record.time_delivered
        assert only(drain(alice), SessionTerminated).cause == "cancelled"
        assert all_gone(alice, bob)

    def test_200_racing_the_cancel_is_acked_then_byed(self) -> None:
        net, alice, bob, outgoing, incoming = ringing()
        alice.cancel(outgoing, net.now)
        bob.accept(incoming, net.now, ANSWER)  # crosses the CANCEL on the wire
        net.run()
        labels = net.labels()
        assert labels[:3] == ["INVITE", "100 Trying", "180 Ringing"]
        assert sorted(labels[3:5]) == ["200 OK", "CANCEL"]
        assert labels[5:] == ["200 OK", "ACK", "BYE", "200 OK"]
        assert only(drain(alice), SessionTerminated).cause == "cancelled"
        events = drain(bob)
        assert names(events) == ["SessionEstablished", "SessionTerminated"]
        assert only(events, SessionTerminated).cause == "remote bye"
        assert all_gone(alice, bob)


    def test_cancel_never_answered_gives_the_invite_up_after_64_t1(self) -> None:
        """§9.1: no final response 64*T1 after the CANCEL: the INVITE is abandoned."""
        net, alice, bob, outgoing, incoming = ringing()
        net.link("alice", "bob", loss=DropIf(lambda line: line.startswith("CANCEL"),
                                             name="CANCEL"), both_ways=False)
        drain(alice)
        alice.cancel(outgoing, net.now)
        net.run_until(32.0)
        assert outgoing.state is State.Terminating  # the CANCEL is lost, again and again
        net.run_until(33.0)
        ended = only(drain(alice), SessionTerminated)
        assert (ended.cause, ended.status) == ("cancelled", None)
        assert outgoing.history[-1][1:] == ("cancel timeout", State.Terminated)
        assert not alice.sessions
        assert alice.layer.client_transactions == {}  # the INVITE too, not only the CANCEL
        assert alice.get_timer() is None
        bob.hangup(incoming, net.now)  # Bob, still ringing, gives up: 480 to no one
        net.run()
        assert all_gone(alice, bob)


class TestTwoHundredRetransmission:
    """§13.3.1.4: the callee's UA core resends its 2xx until the ACK comes."""

    def test_lost_ack_makes_the_callee_resend_the_200(self) -> None:
        net, _alice, bob, _outgoing, incoming = ringing()
        bob.accept(incoming, net.now, ANSWER)
        net.link("alice", "bob", loss=DropNext(1), both_ways=False)  # the next one is the ACK
        net.run_until(3.0)
        assert_ladder(net, ["INVITE", "100 Trying", "180 Ringing", "200 OK", "200 OK", "ACK"])
        oks = [r.time_sent for r in net.records if r.label == "200 OK"]
        assert oks == pytest.approx([0.05, 0.55])
        assert [r.dropped for r in net.records if r.label == "ACK"] == [True, False]
        net.run_until(10.0)
        assert len([r for r in net.records if r.label == "200 OK"]) == 2  # the ACK stopped it

    def test_no_ack_at_all_ends_the_call_with_bye_after_64_t1(self) -> None:
        net, alice, bob, _outgoing, incoming = ringing()
        net.link("alice", "bob", loss=DropIf(lambda line: line.startswith("ACK"), name="ACK"),
                 both_ways=False)
        bob.accept(incoming, net.now, ANSWER)
        net.run()
        oks = [round(r.time_sent - 0.05, 3) for r in net.records if r.label == "200 OK"
               and r.src.host == "10.0.0.2" and r.time_sent < 33]
        assert oks[:6] == [0.0, 0.5, 1.5, 3.5, 7.5, 11.5]  # T1 doubling, capped at T2
        bye = next(r for r in net.records if r.label == "BYE")
        assert bye.time_sent == pytest.approx(0.05 + 32.0)
        assert bye.src.host == "10.0.0.2"
        assert only(drain(bob), SessionTerminated).cause == "no ack"
        assert only(drain(alice), SessionTerminated).cause == "remote bye"
        assert all_gone(alice, bob)

    def test_callee_bye_waits_for_the_ack(self) -> None:
        """§15: the callee must not send BYE before the ACK for its 2xx."""
        net, alice, bob, _outgoing, incoming = ringing()
        net.link("alice", "bob", loss=DropNext(1), both_ways=False)
        bob.accept(incoming, net.now, ANSWER)
        net.run_until(0.1)
        bob.bye(incoming, net.now)
        assert incoming.state is State.Terminating
        net.run()
        labels = net.labels()
        assert labels.index("BYE") > labels.index("ACK")
        assert only(drain(bob), SessionTerminated).cause == "bye"
        assert all_gone(alice, bob)


def test_established_event_names_the_session() -> None:
    net, alice, bob, outgoing, incoming = ringing()
    bob.accept(incoming, net.now, ANSWER)
    net.run_until(0.1)
    assert only(drain(alice), SessionEstablished).session is outgoing
    assert only(drain(bob), SessionEstablished).session is incoming


class TestTables:
    """The tables drive the code (as in siplab.sip.transaction): every action names a
    method of the session class that runs that table, and every state can be reached."""

    @pytest.mark.parametrize("kind", [OutgoingSession, IncomingSession])
    def test_every_action_is_a_method(self, kind: type[Session]) -> None:
        for transition in SESSION_MACHINES[kind.direction].values():
            for action in transition.actions:
                assert callable(getattr(kind, action_method(action), None)), action

    @pytest.mark.parametrize("name", ["outgoing", "incoming"])
    def test_every_state_is_reachable(self, name: str) -> None:
        table = SESSION_MACHINES[name]
        seen = {State.Initial}
        changed = True
        while changed:
            changed = False
            for (state, _), transition in table.items():
                if state in seen and transition.next_state not in seen:
                    seen.add(transition.next_state)
                    changed = True
        assert seen == set(State)

    def test_terminated_is_left_only_to_acknowledge_late_2xx(self) -> None:
        for table in (OUTGOING, INCOMING):
            leaving = [(state, name) for (state, name), t in table.items()
                       if state is State.Terminated]
            assert {name for _, name in leaving} <= {"2xx again", "2xx of another fork"}
            assert all(table[key].next_state is State.Terminated for key in leaving)

    def test_action_method_names(self) -> None:
        assert action_method("send held CANCEL") == "_send_held_cancel"
        assert action_method("note cause (no ack)") == "_note_cause"
        assert action_method("send re-INVITE") == "_send_re_invite"
