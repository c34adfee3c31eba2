"""The user agent core as a whole: what it answers by itself, and runs from end to end.

RFC 3261 §8.2 (the checks a UAS makes before acting: 501, 405, 420, 482,
400), §11 (OPTIONS), §12.2.2 (481 for an unknown dialog), RFC 3428
(MESSAGE), §8.1.2 (where requests go), RFC 7118 §5 (WebSocket contacts).
The peers are other user agents, a scripted registrar and a scripted sender
(:mod:`tests.sip.scripted`) on a SimNetwork with 10 ms per hop.
"""

from __future__ import annotations

import pytest

from siplab.errors import LocalProtocolError
from siplab.ids import IdSource
from siplab.lab import DropEvery, RandomLoss, SimNetwork
from siplab.sip.build import build_request
from siplab.sip.events import (
    IncomingCall,
    MessageReceived,
    RequestFailed,
    RequestSucceeded,
    SessionTerminated,
)
from siplab.sip.message import Response, parse_message
from siplab.sip.transport import Peer
from siplab.sip.ua_config import redact
from siplab.sip.useragent import UserAgentConfig, UserAgentCore
from tests.helpers import crlf
from tests.sip.ladders import assert_ladder, drain, names, only, phone, phones
from tests.sip.scripted import ScriptedEndpoint, ScriptedRegistrar

ALICE = Peer("10.0.0.1", 5060)
SENDER = Peer("10.0.0.9", 5060)


def with_sender() -> tuple[SimNetwork, UserAgentCore, ScriptedEndpoint]:
    """Alice's UA and a scripted element at 10.0.0.9 that sends what a test writes."""
    net = SimNetwork(delay=0.01)
    alice = phone(net, "alice")
    sender = ScriptedEndpoint()
    net.add(sender, SENDER.host, SENDER.port, name="sender")
    return net, alice, sender


def send(net: SimNetwork, sender: ScriptedEndpoint, method: str, *,
         headers: tuple[tuple[str, str], ...] = (), to: str = "<sip:alice@10.0.0.1>",
         from_: str = "<sip:sender@10.0.0.9>") -> Response:
    """Send one request from the scripted element to Alice; return her final answer."""
    request = build_request(method, "sip:alice@10.0.0.1", from_=from_, to=to,
                            via_host=SENDER.host, via_port=SENDER.port, ids=sender.ids,
                            headers=headers)
    sender.layer.send_request(request, ALICE, net.now)
    net.run_until(net.now + 1.0)
    return [r for r in sender.responses() if r.status >= 200][-1]


def raw_answer(net: SimNetwork) -> Response:
    message = parse_message(net.records[-1].data)
    assert isinstance(message, Response)
    return message


class TestAnsweredByTheCore:
    """What the UA core answers without asking the application (§8.2, §11, §12.2.2)."""

    def test_options_lists_what_we_allow(self) -> None:
        net, alice, sender = with_sender()
        answer = send(net, sender, "OPTIONS")
        assert answer.status == 200
        assert answer.headers.get("Allow") == \
            "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, REFER, NOTIFY, MESSAGE"
        assert answer.headers.get("Accept") == "application/sdp, text/plain"
        assert answer.to_tag  # a final response out of a dialog gets our tag
        assert drain(alice) == []

    def test_bye_for_an_unknown_dialog_gets_481(self) -> None:
        net, _alice, sender = with_sender()
        answer = send(net, sender, "BYE", to="<sip:alice@10.0.0.1>;tag=nosuchcall")
        assert (answer.status, answer.reason) == (481, "Call/Transaction Does Not Exist")

    @pytest.mark.parametrize("method", ["BYE", "INFO", "REFER", "NOTIFY"])
    def test_dialog_requests_outside_a_dialog_get_481(self, method: str) -> None:
        net, _alice, sender = with_sender()
        assert send(net, sender, method).status == 481

    def test_unknown_method_gets_501(self) -> None:
        net, _alice, sender = with_sender()
        answer = send(net, sender, "FROBNICATE")
        assert (answer.status, answer.reason) == (501, "Not Implemented")

    @pytest.mark.parametrize("method", ["REGISTER", "SUBSCRIBE", "UPDATE"])
    def test_known_method_we_do_not_allow_gets_405_with_allow(self, method: str) -> None:
        net, _alice, sender = with_sender()
        answer = send(net, sender, method)
        assert answer.status == 405
        assert "INVITE" in (answer.headers.get("Allow") or "")

    def test_unknown_required_extension_gets_420(self) -> None:
        net, _alice, sender = with_sender()
        answer = send(net, sender, "OPTIONS", headers=(("Require", "100rel, foo"),))
        assert answer.status == 420
        assert answer.headers.get("Unsupported") == "100rel, foo"

    def test_request_missing_call_id_gets_400_naming_the_header(self) -> None:
        net, _alice, sender = with_sender()
        sender.send_raw(crlf("""
            OPTIONS sip:alice@10.0.0.1 SIP/2.0
            Via: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bK-broken
            Max-Forwards: 70
            To: <sip:alice@10.0.0.1>
            From: <sip:sender@10.0.0.9>;tag=s1
            CSeq: 1 OPTIONS
            Content-Length: 0

            """), ALICE)
        net.run_until(1.0)
        assert_ladder(net, ["OPTIONS", "400 missing Call-ID header"])
        answer = raw_answer(net)
        assert net.records[-1].dst == SENDER
        assert answer.headers.get("Via", "").startswith("SIP/2.0/UDP 10.0.0.9:5060")

    def test_request_that_does_not_parse_gets_400_like_at_the_server(self) -> None:
        """The UA and the server share one 400 builder: it works from the raw lines,
        so even a request the parser rejects gets its answer (§8.2)."""
        net, _alice, sender = with_sender()
        sender.send_raw(crlf("""
            OPTIONS sip:alice@10.0.0.1 SIP/2.0
            Via: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bK-noparse
            this line is no header
            Max-Forwards: 70
            To: <sip:alice@10.0.0.1>
            From: <sip:sender@10.0.0.9>;tag=s1
            Call-ID: noparse@10.0.0.9
            CSeq: 1 OPTIONS
            Content-Length: 0

            """), ALICE)
        net.run_until(1.0)
        assert_ladder(net, ["OPTIONS", "400 header line without ':' (line 3)"])
        answer = raw_answer(net)
        assert answer.call_id == "noparse@10.0.0.9"
        assert answer.to_tag  # ours, so the sender can tell who answered
        assert net.records[-1].dst == SENDER

    def test_garbage_is_dropped_without_answer(self) -> None:
        net, _alice, sender = with_sender()
        sender.send_raw(b"this is not SIP\r\n\r\n", ALICE)
        net.run_until(1.0)
        assert net.labels() == ["this is not SIP"]

    def test_same_request_by_two_paths_gets_482(self) -> None:
        """§8.2.2.2: same From tag, Call-ID and CSeq on another branch: a forked copy."""
        net, alice, sender = with_sender()
        first = build_request("MESSAGE", "sip:alice@10.0.0.1", from_="<sip:s@10.0.0.9>;tag=t",
                              to="<sip:alice@10.0.0.1>", via_host=SENDER.host,
                              via_port=SENDER.port, ids=sender.ids, call_id="merged@x")
        second = first.copy()
        second.headers.set("Via", "SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bKother;rport")
        sender.layer.send_request(first, ALICE, net.now)
        sender.layer.send_request(second, ALICE, net.now)
        net.run_until(1.0)
        assert sorted(r.status for r in sender.responses()) == [200, 482]
        assert len([e for e in drain(alice) if isinstance(e, MessageReceived)]) == 1


class TestMessages:
    """RFC 3428: MESSAGE both ways, and OPTIONS from one UA to another."""

    def test_message_both_ways(self) -> None:
        net = SimNetwork(delay=0.01)
        alice, bob = phones(net, "alice", "bob")
        alice.message("sip:bob@10.0.0.2", b"hello Bob", net.now)
        net.run_until(1.0)
        bob.message("sip:alice@10.0.0.1", "hi Alice ☺".encode(), net.now,
                    content_type="text/plain;charset=utf-8")
        net.run_until(2.0)
        assert_ladder(net, ["MESSAGE", "200 OK", "MESSAGE", "200 OK"])
        to_bob = only(drain(bob), MessageReceived)
        assert (to_bob.body, to_bob.content_type) == (b"hello Bob", "text/plain")
        assert str(to_bob.sender.uri) == "sip:alice@10.0.0.1"
        alice_events = drain(alice)
        assert names(alice_events) == ["RequestSucceeded", "MessageReceived"]
        assert only(alice_events, RequestSucceeded).kind == "MESSAGE"
        assert only(alice_events, MessageReceived).body.decode() == "hi Alice ☺"

    def test_message_to_nobody_fails_after_timer_f(self) -> None:
        net = SimNetwork(delay=0.01)
        alice = phone(net, "alice")
        alice.message("sip:bob@10.0.0.2", b"anyone?", net.now)
        net.run()
        failed = only(drain(alice), RequestFailed)
        assert (failed.kind, failed.status) == ("MESSAGE", None)

    def test_options_between_user_agents(self) -> None:
        net = SimNetwork(delay=0.01)
        alice, _bob = phones(net, "alice", "bob")
        alice.options("sip:bob@10.0.0.2", net.now)
        net.run_until(1.0)
        succeeded = only(drain(alice), RequestSucceeded)
        assert succeeded.kind == "OPTIONS"
        assert "MESSAGE" in (succeeded.response.headers.get("Allow") or "")


class TestWhereRequestsGo:
    """§8.1.2: the outbound proxy for requests outside a dialog, else the URI's address."""

    def config(self, **options: object) -> UserAgentCore:
        config = UserAgentConfig(aor="sip:alice@example.com", local=ALICE,
                                 **options)  # type: ignore[arg-type]
        return UserAgentCore(config, ids=IdSource(1))

    def test_without_proxy_the_request_uri_decides(self) -> None:
        ua = self.config()
        request = build_request("MESSAGE", "sip:bob@10.0.0.2:5070;transport=tcp",
                                from_="<sip:a@x>", to="<sip:b@y>", via_host="x", ids=ua.ids)
        assert ua.destination(request) == Peer("10.0.0.2", 5070, "tcp")

    def test_outbound_proxy_takes_requests_outside_dialogs(self) -> None:
        proxy = Peer("10.0.0.9", 5080)
        ua = self.config(outbound=proxy)
        out = build_request("INVITE", "sip:bob@example.com", from_="<sip:a@x>",
                            to="<sip:b@y>", via_host="x", ids=ua.ids)
        assert ua.destination(out) == proxy
        direct = build_request("BYE", "sip:bob@10.0.0.2", from_="<sip:a@x>",
                               to="<sip:b@y>;tag=t", via_host="x", ids=ua.ids)
        assert ua.destination(direct) == Peer("10.0.0.2", 5060, "udp")
        routed = build_request("BYE", "sip:bob@10.0.0.2", from_="<sip:a@x>",
                               to="<sip:b@y>;tag=t", via_host="x", ids=ua.ids,
                               route=["<sip:10.0.0.9:5080;lr>"])
        assert ua.destination(routed) == proxy
        other_port = build_request("BYE", "sip:bob@10.0.0.2", from_="<sip:a@x>",
                                   to="<sip:b@y>;tag=t", via_host="x", ids=ua.ids,
                                   route=["<sip:10.0.0.9:5090;lr>"])
        assert ua.destination(other_port) == Peer("10.0.0.9", 5090, "udp")  # host AND port

    def test_websocket_ua_invents_an_invalid_contact(self) -> None:
        ua = UserAgentCore(UserAgentConfig(aor="sip:alice@example.com",
                                           local=Peer("127.0.0.1", 40000, "ws"),
                                           outbound=Peer("127.0.0.1", 8080, "ws")),
                           ids=IdSource(3))
        contact = ua.origin.contact.sip_uri
        assert contact.host.endswith(".invalid")
        assert contact.transport == "ws"
        assert ua.origin.via_transport == "WS"
        assert ua.origin.via_host == contact.host

    def test_no_local_address_yet(self) -> None:
        ua = UserAgentCore(UserAgentConfig(aor="sip:alice@example.com"), ids=IdSource(1))
        with pytest.raises(LocalProtocolError, match="set_local"):
            ua.call("sip:bob@10.0.0.2", 0.0)
        ua.set_local(ALICE)
        assert str(ua.origin.contact) == "<sip:alice@10.0.0.1:5060;transport=udp>"


class TestConfig:
    def test_password_never_shows(self) -> None:
        config = UserAgentConfig(aor="sip:alice@example.com", password="s3cret!")
        assert "s3cret!" not in repr(config)
        assert "password=NOT SHOWN" in repr(config)
        assert config.auth_user == "alice"

    def test_redact(self) -> None:
        assert redact("user alice pass s3cret!", "s3cret!", None) == "user alice pass NOT SHOWN"


def full_run(seed: int, loss: object = None) -> tuple[SimNetwork, list[UserAgentCore],
                                                      list[list[str]]]:
    """Register both phones, Alice calls Bob, talks 10 s, hangs up, both unregister.

    No proxy yet: the REGISTERs go to the registrar named by the address of
    record (``sip:alice@10.0.0.9``), the INVITE straight to Bob's address.
    """
    net = SimNetwork(seed=seed, delay=0.01)
    registrar = ScriptedRegistrar(users={"alice": "a-secret", "bob": "b-secret"},
                                  ids=IdSource(seed))
    net.add(registrar, "10.0.0.9", 5060, name="registrar")
    alice = phone(net, "alice", seed=seed, domain="10.0.0.9", password="a-secret")
    bob = phone(net, "bob", seed=seed + 1, domain="10.0.0.9", password="b-secret",
                auto_answer=True)
    if loss is not None:
        for a, b in (("alice", "bob"), ("alice", "registrar"), ("bob", "registrar")):
            net.link(a, b, loss=loss)  # type: ignore[arg-type]
    alice.register(net.now)
    bob.register(net.now)
    net.run_until(5.0)
    session = alice.call("sip:bob@10.0.0.2", net.now, body=b"v=0\r\n")
    net.run_until(15.0)
    alice.hangup(session, net.now)
    net.run_until(25.0)
    alice.unregister(net.now)
    bob.unregister(net.now)
    net.run_until(100.0)
    return net, [alice, bob], [names(drain(alice)), names(drain(bob))]


class TestEndToEnd:
    def test_register_call_hangup_unregister(self) -> None:
        _net, _uas, events = full_run(1)
        assert events[0] == ["Registered", "SessionProgress", "SessionEstablished",
                             "SessionTerminated", "Unregistered"]
        assert events[1] == ["Registered", "IncomingCall", "SessionEstablished",
                             "SessionTerminated", "Unregistered"]

    def test_same_seed_same_bytes(self) -> None:
        first, _, _ = full_run(42)
        second, _, _ = full_run(42)
        assert [(r.time_sent, r.src, r.dst, r.data) for r in first.records] == \
            [(r.time_sent, r.src, r.dst, r.data) for r in second.records]
        third, _, _ = full_run(43)
        assert [r.data for r in third.records] != [r.data for r in first.records]

    def test_every_transaction_and_session_is_gone_at_the_end(self) -> None:
        net, uas, _ = full_run(7)
        net.run()
        for ua in uas:
            assert not ua.sessions
            assert not ua.layer.client_transactions
            assert not ua.layer.server_transactions
            assert ua.get_timer() is None
            assert not ua._owners
            assert not ua._dialogs
            assert not ua._invites
            assert not ua._merged

    def test_lossy_link_still_completes(self) -> None:
        """Every third datagram lost, on every link: retransmissions carry it through."""
        net, uas, events = full_run(3, loss=DropEvery(3))
        assert len([r for r in net.records if r.dropped]) >= 10
        # The 180 Ringing is among the losses, so Alice sees no SessionProgress.
        assert events[0] == ["Registered", "SessionEstablished", "SessionTerminated",
                             "Unregistered"]
        assert events[1] == ["Registered", "IncomingCall", "SessionEstablished",
                             "SessionTerminated", "Unregistered"]
        net.run()
        for ua in uas:
            assert not ua.sessions
            assert not ua.layer.client_transactions


@pytest.mark.parametrize("seed", [7, 8, 31, 42, 59])
def test_random_loss_still_completes(seed: int) -> None:
    """A quarter of all datagrams lost at random: every step still completes, in time."""
    net, uas, events = full_run(seed, loss=RandomLoss(0.25, seed=seed))
    for found in events:
        assert found.count("Registered") == found.count("SessionEstablished") == 1
        assert found.count("SessionTerminated") == 1
        assert found[-1] == "Unregistered"
    net.run()
    for ua in uas:
        assert not ua.sessions
        assert ua.get_timer() is None


def test_transport_error_ends_the_call_attempt() -> None:
    """§17.1.4: the transport could not reach Bob; the INVITE fails at once."""
    net = SimNetwork(delay=0.01)
    alice = phone(net, "alice")
    session = alice.call("sip:bob@10.0.0.2", net.now)
    alice.transport_error(Peer("10.0.0.2", 5060, "udp"), net.now)
    ended = only(drain(alice), SessionTerminated)
    assert (ended.session, ended.cause, ended.status) == (session, "transport error", None)
    assert not alice.sessions


def test_incoming_call_event_carries_the_invite() -> None:
    net = SimNetwork(delay=0.01)
    alice, bob = phones(net, "alice", "bob")
    session = alice.call("sip:bob@10.0.0.2", net.now, body=b"offer")
    net.run_until(0.1)
    incoming = only(drain(bob), IncomingCall)
    assert incoming.request.body == b"offer"
    assert incoming.session.remote_body == b"offer"
    assert incoming.session.direction == "incoming"
    assert session.direction == "outgoing"
    bob.reject(incoming.session, net.now, 603)
    net.run()
    assert only(drain(alice), SessionTerminated).status == 603
