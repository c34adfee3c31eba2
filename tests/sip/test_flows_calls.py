"""Calls beyond the basic flows, through the real server: forking, CANCEL races, hold,
transfer, MESSAGE, and a callee that never hears the CANCEL.

RFC 3261 §16.7 and §13.2.2.4 (forking: the first 2xx wins, the other branches
are CANCELled), §9.1 (a 200 crossing the CANCEL; no final response 64*T1
after a CANCEL), §14 and §16.6 step 4 (re-INVITE along the Record-Route),
RFC 3515 / RFC 5589 (blind transfer with REFER and NOTIFY), RFC 3428
(MESSAGE). Real :class:`~siplab.sip.useragent.UserAgentCore` phones and a
real :class:`~siplab.sip.server.ServerCore` on a SimNetwork (see
:mod:`tests.sip.flows`); each flow is checked hop by hop, on a clean network
and under loss, and leaves nothing behind.
"""

from __future__ import annotations

import pytest

from siplab.lab import DropIf
from siplab.sip.events import (
    IncomingCall,
    MessageReceived,
    NotifyReceived,
    ReferReceived,
    ReinviteReceived,
    RequestSucceeded,
    SessionEstablished,
    SessionModified,
    SessionProgress,
    SessionTerminated,
    TransferCompleted,
)
from siplab.sip.invite_table import SessionState
from siplab.sip.message import Request, parse_message
from tests.sip.flows import DOMAIN, LOSSES, SDP, FlowLab, Loss, acked, sdp

BOB = f"sip:bob@{DOMAIN}"
CAROL = f"sip:carol@{DOMAIN}"
VARIANTS = [None, *LOSSES]


def ended(lab: FlowLab, *names: str) -> bool:
    return all(lab.reported(name, SessionTerminated) for name in names)


def received(lab: FlowLab, a: str, b: str, method: str) -> list[Request]:
    """The ``method`` requests that went from ``a`` to ``b`` and arrived."""
    found = [parse_message(r.data) for r in lab.records(a, b)
             if not r.dropped and lab.net.name_of(r.src) == a]
    return [m for m in found if isinstance(m, Request) and m.method == method]


@pytest.mark.parametrize("loss", VARIANTS, ids=str)
def test_forking_to_two_devices_first_2xx_wins(loss: Loss | None) -> None:
    """Bob registered twice; the proxy rings both; the mobile answers, the desk phone
    gets CANCEL and answers 487; Alice sees two early dialogs and one call."""
    lab = FlowLab()
    alice = lab.ua("alice")
    desk = lab.ua("bob")
    mobile = lab.ua("bob-mobile", user="bob")
    lab.registered("alice", "bob", "bob-mobile")
    if loss is not None:
        loss.apply(lab, "alice", "bob", "bob-mobile")
    outgoing = alice.call(BOB, lab.now, body=SDP)
    on_desk, on_mobile = lab.incoming("bob", 40), lab.incoming("bob-mobile", 40)
    desk.progress(on_desk, lab.now)
    mobile.progress(on_mobile, lab.now)
    lab.run(0.5)
    mobile.accept(on_mobile, lab.now, body=sdp("bob-mobile"))
    lab.until(lambda: lab.reported("alice", SessionEstablished) and acked(on_mobile))
    alice.bye(outgoing, lab.now)
    lab.until(lambda: ended(lab, "alice", "bob", "bob-mobile"))
    answered = ["-> INVITE", "<- 100 Trying", "<- 180 Ringing", "<- 200 OK", "-> ACK",
                "-> BYE", "<- 200 OK"]
    lab.check(loss, {
        ("alice", "server"): ["-> INVITE", "<- 100 Trying", "<- 180 Ringing",
                              "<- 180 Ringing", "<- 200 OK", "-> ACK", "-> BYE", "<- 200 OK"],
        ("server", "bob"): ["-> INVITE", "<- 100 Trying", "<- 180 Ringing", "-> CANCEL",
                            "<- 200 OK", "<- 487 Request Terminated", "-> ACK"],
        ("server", "bob-mobile"): answered,
    })
    assert lab.last("bob", SessionTerminated).cause == "cancelled"
    assert lab.last("bob-mobile", SessionTerminated).cause == "remote bye"
    assert outgoing.dialog is not None
    assert outgoing.dialog.remote_tag == on_mobile.local_tag
    if loss is None:  # a lost 180 is never sent again
        tags = [e.response.to_tag for e in lab.events("alice") if isinstance(e, SessionProgress)]
        assert sorted(tags) == sorted([on_desk.local_tag, on_mobile.local_tag])
    lab.assert_clean()


class TestCancelRacingTheAnswer:
    """§9.1: the callee's 200 crosses the CANCEL; the call is answered after all, so
    the caller ACKs the 200 and sends BYE; the late CANCEL gets its 200 and no more."""

    def test_cancel_lost_so_the_200_wins(self) -> None:
        lab = FlowLab()
        alice, bob = lab.ua("alice"), lab.ua("bob")
        lab.registered("alice", "bob")
        outgoing = alice.call(BOB, lab.now, body=SDP)
        incoming = lab.incoming("bob")
        bob.progress(incoming, lab.now)
        lab.run(0.5)
        lab.link("alice", "server", DropIf(lambda line: line.startswith("CANCEL"), limit=1,
                                           name="first CANCEL"), both_ways=False)
        alice.cancel(outgoing, lab.now)
        bob.accept(incoming, lab.now, body=sdp("bob"))
        lab.check(None, {
            ("alice", "server"): ["-> INVITE", "<- 100 Trying", "<- 180 Ringing",
                                  "-> CANCEL (lost)", "<- 200 OK", "-> ACK", "-> BYE",
                                  "<- 200 OK", "-> CANCEL", "<- 200 OK"],
            ("server", "bob"): ["-> INVITE", "<- 100 Trying", "<- 180 Ringing", "<- 200 OK",
                                "-> ACK", "-> BYE", "<- 200 OK"],
        })
        assert lab.names("alice")[-1] == "SessionTerminated"
        assert "SessionEstablished" not in lab.names("alice")  # it wanted no call
        assert lab.last("alice", SessionTerminated).cause == "cancelled"
        assert lab.names("bob")[-2:] == ["SessionEstablished", "SessionTerminated"]
        assert lab.last("bob", SessionTerminated).cause == "remote bye"
        lab.assert_clean()

    def test_cancel_delayed_so_the_200_wins(self) -> None:
        lab = FlowLab()
        alice, bob = lab.ua("alice"), lab.ua("bob")
        lab.registered("alice", "bob")
        outgoing = alice.call(BOB, lab.now, body=SDP)
        incoming = lab.incoming("bob")
        bob.progress(incoming, lab.now)
        lab.run(0.5)
        lab.net.link("alice", "server", delay=0.1, both_ways=False)  # a slow uplink
        alice.cancel(outgoing, lab.now)
        bob.accept(incoming, lab.now, body=sdp("bob"))
        lab.check(None, {
            ("alice", "server"): ["-> INVITE", "<- 100 Trying", "<- 180 Ringing", "<- 200 OK",
                                  "-> CANCEL", "<- 200 OK", "-> ACK", "-> BYE", "<- 200 OK"],
            ("server", "bob"): ["-> INVITE", "<- 100 Trying", "<- 180 Ringing", "<- 200 OK",
                                "-> ACK", "-> BYE", "<- 200 OK"],
        })
        assert lab.last("bob", SessionTerminated).cause == "remote bye"
        lab.assert_clean()


@pytest.mark.parametrize("loss", VARIANTS, ids=str)
def test_hold_and_resume_by_reinvite_through_the_proxy(loss: Loss | None) -> None:
    """§14 with Record-Route: each re-INVITE and its ACK go to the server, which
    forwards them to Bob's contact; the bodies say sendonly/recvonly, then sendrecv."""
    lab = FlowLab()
    alice, bob = lab.ua("alice"), lab.ua("bob")
    lab.registered("alice", "bob")
    if loss is not None:
        loss.apply(lab, "alice", "bob")
    outgoing = alice.call(BOB, lab.now, body=SDP)
    incoming = lab.incoming("bob", 40)
    bob.accept(incoming, lab.now, body=sdp("bob"))
    lab.until(lambda: lab.reported("alice", SessionEstablished) and acked(incoming))
    lab.mark()
    for mine, theirs, done in (("sendonly", "recvonly", 1), ("sendrecv", "sendrecv", 2)):
        alice.reinvite(outgoing, sdp("alice", mine), lab.now)
        lab.until(lambda: lab.reported("bob", ReinviteReceived) and
                  incoming.awaiting_reinvite_answer)
        bob.accept_reinvite(incoming, lab.now, sdp("bob", theirs))
        lab.until(lambda d=done: [type(e) for e in lab.events("alice")].count(SessionModified)
                  == d and not outgoing.reinvite_in_progress and not incoming.reinvite_in_progress)
        assert outgoing.remote_body == sdp("bob", theirs)
        assert incoming.remote_body == sdp("alice", mine)
    bob.bye(incoming, lab.now)
    lab.until(lambda: ended(lab, "alice", "bob"))
    reinvite = ["-> INVITE", "<- 100 Trying", "<- 200 OK", "-> ACK"]
    lab.check(loss, {("alice", "server"): [*reinvite, *reinvite, "<- BYE", "-> 200 OK"],
                     ("server", "bob"): [*reinvite, *reinvite, "<- BYE", "-> 200 OK"]})
    hold = received(lab, "alice", "server", "INVITE")[0]
    assert hold.to_tag == incoming.local_tag  # in the dialog
    assert [str(r.uri) for r in hold.route] == ["sip:10.0.0.100:5060;lr"]  # Record-Route
    assert str(hold.uri) == "sip:bob@10.0.0.2:5060;transport=udp"  # Bob's Contact
    assert not received(lab, "server", "bob", "INVITE")[0].route  # ours is removed
    assert lab.last("alice", SessionTerminated).cause == "remote bye"
    lab.assert_clean()


@pytest.mark.parametrize("loss", VARIANTS, ids=str)
def test_blind_transfer_with_refer(loss: Loss | None) -> None:
    """RFC 5589 §6: Bob REFERs Alice to Carol; Alice calls Carol and reports with
    NOTIFY (100 Trying, then 200 OK); Bob hangs up the first call."""
    lab = FlowLab()
    alice, bob, carol = lab.ua("alice"), lab.ua("bob"), lab.ua("carol")
    lab.registered("alice", "bob", "carol")
    if loss is not None:
        loss.apply(lab, "alice", "bob", "carol")
    first = alice.call(BOB, lab.now, body=SDP)
    with_bob = lab.incoming("bob", 40)
    bob.accept(with_bob, lab.now, body=sdp("bob"))
    lab.until(lambda: lab.reported("alice", SessionEstablished) and acked(with_bob))
    lab.mark()
    bob.refer(with_bob, CAROL, lab.now)
    lab.until(lambda: lab.reported("alice", ReferReceived))
    assert str(lab.last("alice", ReferReceived).refer_to.uri) == CAROL
    second = alice.accept_refer(first, lab.now)
    with_carol = lab.incoming("carol", 40)
    carol.progress(with_carol, lab.now)
    lab.run(0.1)
    carol.accept(with_carol, lab.now, body=sdp("carol"))
    lab.until(lambda: ended(lab, "bob") and acked(with_carol))
    assert lab.last("bob", TransferCompleted).status == 200
    assert lab.last("bob", SessionTerminated).cause == "bye"  # Bob hung up after the 200
    assert lab.last("alice", SessionTerminated).session is first
    assert second.state is SessionState.Established
    alice.bye(second, lab.now)
    lab.until(lambda: ended(lab, "carol"))
    to_bob = ["<- REFER", "-> 202 Accepted", "-> NOTIFY", "<- 200 OK", "-> NOTIFY",
              "<- 200 OK", "<- BYE", "-> 200 OK"]
    if loss is not None:
        # The "100 Trying" NOTIFY may be lost and overtaken by the final one: Bob
        # hangs up at once, and the late copy gets 481 instead of its 200.
        to_bob = [line for line in to_bob if line != "<- 200 OK"]
    lab.check(loss, {
        ("server", "bob"): to_bob,
        ("server", "carol"): ["-> INVITE", "<- 100 Trying", "<- 180 Ringing", "<- 200 OK",
                              "-> ACK", "-> BYE", "<- 200 OK"],
    })
    if loss is None:
        assert lab.hop("alice", "server") == [
            "<- REFER", "-> 202 Accepted", "-> NOTIFY", "-> INVITE", "<- 100 Trying",
            "<- 200 OK", "<- 180 Ringing", "<- 200 OK", "-> ACK", "-> NOTIFY", "<- 200 OK",
            "<- BYE", "-> 200 OK", "-> BYE", "<- 200 OK"]
    notifies = {n.body: n for n in received(lab, "server", "bob", "NOTIFY")}
    assert set(notifies) == {b"SIP/2.0 100 Trying\r\n", b"SIP/2.0 200 OK\r\n"}
    assert notifies[b"SIP/2.0 100 Trying\r\n"].headers.get("Subscription-State") == \
        "active;expires=60"
    assert notifies[b"SIP/2.0 200 OK\r\n"].headers.get("Subscription-State") == \
        "terminated;reason=noresource"
    invite = received(lab, "server", "carol", "INVITE")[0]
    assert invite.headers.get("Referred-By") == f"<sip:bob@{DOMAIN}>"
    assert lab.reported("bob", NotifyReceived)
    lab.assert_clean()


@pytest.mark.parametrize("loss", VARIANTS, ids=str)
def test_messages_through_the_server(loss: Loss | None) -> None:
    """RFC 3428: a MESSAGE is proxied like any request to a registered user. Alice
    and Bob chat: three MESSAGEs, each answered 200 by the other phone."""
    lab = FlowLab()
    alice, bob = lab.ua("alice"), lab.ua("bob")
    lab.registered("alice", "bob")
    if loss is not None:
        loss.apply(lab, "alice", "bob", both_ways=True)
    chat = [(alice, "alice", BOB, "Hello, Bob"), (bob, "bob", f"sip:alice@{DOMAIN}", "Hi!"),
            (alice, "alice", BOB, "Bye")]
    for ua, name, target, text in chat:
        before = [type(e) for e in lab.events(name)].count(RequestSucceeded)
        ua.message(target, text.encode(), lab.now)
        lab.until(lambda n=name, b=before: [type(e) for e in lab.events(n)].count(
            RequestSucceeded) == b + 1)
    out, back = ["-> MESSAGE", "<- 200 OK"], ["<- MESSAGE", "-> 200 OK"]
    lab.check(loss, {("alice", "server"): [*out, *back, *out],
                     ("server", "bob"): [*out, *back, *out]})
    to_bob = [e for e in lab.events("bob") if isinstance(e, MessageReceived)]
    to_alice = [e for e in lab.events("alice") if isinstance(e, MessageReceived)]
    # Retransmissions are absorbed by the transactions: each text arrives once.
    assert [e.body for e in to_bob] == [b"Hello, Bob", b"Bye"]
    assert [e.body for e in to_alice] == [b"Hi!"]
    assert to_bob[0].content_type == "text/plain"
    assert str(to_bob[0].sender.uri) == f"sip:alice@{DOMAIN}"
    assert lab.last("alice", RequestSucceeded).kind == "MESSAGE"
    lab.assert_clean()


def test_callee_that_never_hears_the_cancel_is_given_up_on_both_sides() -> None:
    """§9.1 in both cores: 64*T1 after its CANCEL, Alice's UA abandons the INVITE, and
    so does the proxy's branch (Timer C after a CANCEL), which sends a 408 up. Nothing
    is left waiting, even though Bob's phone rings on until he gives up himself."""
    lab = FlowLab()
    alice, bob = lab.ua("alice"), lab.ua("bob")
    lab.registered("alice", "bob")
    lab.link("server", "bob", DropIf(lambda line: line.startswith("CANCEL"), name="CANCEL"),
             both_ways=False)
    outgoing = alice.call(BOB, lab.now, body=SDP)
    incoming = lab.incoming("bob")
    bob.progress(incoming, lab.now)
    lab.run(0.5)
    alice.cancel(outgoing, lab.now)
    lab.run(31)
    assert outgoing.state is SessionState.Terminating
    assert lab.server.stats().response_contexts == 1
    lab.run(2)
    terminated = lab.last("alice", SessionTerminated)
    assert (terminated.cause, terminated.status) == ("cancelled", None)
    assert not alice.layer.client_transactions  # the INVITE was abandoned too
    lab.run(40)  # the proxy's 408 (which Alice no longer waits for) times out
    assert lab.server.stats().idle
    assert lab.hop("server", "bob").count("-> CANCEL (lost)") == 11  # Timer E, then F
    assert "<- 408 Request Timeout" in lab.hop("alice", "server")
    assert incoming.state is SessionState.Establishing  # still ringing
    bob.hangup(incoming, lab.now)  # 480, to a proxy that gave up: nobody ACKs it
    lab.assert_clean()
    assert not any(isinstance(e, IncomingCall) for e in lab.events("alice"))
