"""The stateful proxy (RFC 3261 §16): calls through the server, forking, CANCEL, loops.

Scripted phones (``tests/sip/scripted_peers.py``) register with the server
core and call each other through it on a SimNetwork. Each test reads the
ladder on each side of the proxy, the way a student reads the two halves of
a call in sngrep, and ends by checking that the server kept nothing behind.
"""

from __future__ import annotations

import pytest

from siplab.ids import IdSource
from siplab.lab import DropAll, DropIf
from siplab.sip.build import build_request, build_response
from siplab.sip.message import Request, Response, parse_message
from siplab.sip.proxy import choose_best_response
from siplab.sip.routing import LocalAddresses, loop_hash
from siplab.sip.transport import Peer
from siplab.sip.uri import parse_uri
from tests.helpers import crlf
from tests.sip.scripted_peers import DOMAIN, SERVER, Lab, Phone, RawPeer, Reflector

BOB = f"sip:bob@{DOMAIN}"
CALL_LADDER = ["-> INVITE", "<- 100 Trying", "<- 180 Ringing", "<- 200 OK", "-> ACK",
               "-> BYE", "<- 200 OK"]
CALLEE_LADDER = [line.replace("->", "<<").replace("<-", "->").replace("<<", "<-")
                 for line in CALL_LADDER]


def registered(lab: Lab, *phones: Phone) -> None:
    """Register ``phones``, then start the ladders after their registrations."""
    for phone in phones:
        phone.register(lab.now)
    lab.run()
    for phone in phones:
        assert phone.statuses("REGISTER")[-1] == 200, phone
    lab.mark()


def received(phone: Phone, method: str) -> Request:
    return [r for r in phone.received if r.method == method][-1]


class TestCallThroughTheProxy:
    """§16.6 and §16.12: a basic call, its Record-Route and the in-dialog requests."""

    def test_call_to_registered_user_ladder_on_both_sides(self) -> None:
        lab = Lab()
        alice, bob = lab.phone("alice", "10.0.0.1"), lab.phone("bob", "10.0.0.2")
        registered(lab, alice, bob)
        alice.call(BOB, lab.now)
        lab.run()
        alice.bye(lab.now)
        lab.run()
        assert lab.ladder("alice", "server") == CALL_LADDER
        assert lab.ladder("bob", "server") == CALLEE_LADDER
        lab.assert_clean(bindings=2)

    def test_proxy_record_routes_and_in_dialog_requests_follow_the_route(self) -> None:
        lab = Lab()
        alice, bob = lab.phone("alice", "10.0.0.1"), lab.phone("bob", "10.0.0.2")
        registered(lab, alice, bob)
        alice.call(BOB, lab.now)
        lab.run()
        bob.bye(lab.now)  # the callee hangs up this time
        lab.run()
        invite = received(bob, "INVITE")
        assert invite.uri_text == "sip:bob@10.0.0.2:5060"  # the contact from the binding
        assert invite.headers.get_all("Record-Route") == ["<sip:10.0.0.100:5060;lr>"]
        assert invite.max_forwards == 69
        assert invite.via[0].host == "10.0.0.100"
        ok = alice.last_response("INVITE")
        assert ok.headers.get_all("Record-Route") == ["<sip:10.0.0.100:5060;lr>"]
        assert ok.via_count == 1  # the proxy took its own Via out
        ack = received(bob, "ACK")
        assert ack.uri_text == "sip:bob@10.0.0.2:5060"
        assert ack.headers.get("Route") is None  # the proxy removed its own Route entry
        assert ack.via[0].host == "10.0.0.100"  # it came through the proxy
        bye = received(alice, "BYE")
        assert bye.uri_text == "sip:alice@10.0.0.1:5060"
        assert bye.via[0].host == "10.0.0.100"
        assert lab.ladder("bob", "server")[-2:] == ["-> BYE", "<- 200 OK"]
        lab.assert_clean(bindings=2)

    def test_unknown_user_gets_404(self) -> None:
        lab = Lab()
        alice = lab.phone("alice", "10.0.0.1")
        registered(lab, alice)
        alice.call(f"sip:nobody@{DOMAIN}", lab.now)
        lab.run()
        assert lab.ladder("alice", "server") == [
            "-> INVITE", "<- 100 Trying", "<- 404 Not Found", "-> ACK"]
        lab.assert_clean(bindings=1)

    def test_known_but_unregistered_user_gets_480(self) -> None:
        lab = Lab()
        alice = lab.phone("alice", "10.0.0.1")
        registered(lab, alice)
        alice.call(f"sip:carol@{DOMAIN}", lab.now)
        lab.run()
        assert alice.statuses("INVITE") == [100, 480]
        lab.assert_clean(bindings=1)

    def test_message_is_routed_to_a_registered_user(self) -> None:
        lab = Lab()
        alice, bob = lab.phone("alice", "10.0.0.1"), lab.phone("bob", "10.0.0.2")
        registered(lab, alice, bob)
        alice.message(BOB, "hello bob", lab.now)
        lab.run()
        assert lab.ladder("alice", "server") == ["-> MESSAGE", "<- 200 OK"]
        assert lab.ladder("bob", "server") == ["<- MESSAGE", "-> 200 OK"]
        message = received(bob, "MESSAGE")
        assert message.body == b"hello bob"
        assert message.headers.get("Record-Route") is None  # MESSAGE makes no dialog
        lab.assert_clean(bindings=2)

    def test_phone_on_the_servers_host_is_not_the_server(self) -> None:
        """FACTS.md: "us" is host AND port; a phone at 10.0.0.100:5070 is a phone."""
        lab = Lab()
        alice = lab.phone("alice", "10.0.0.1")
        bob = lab.phone("bob", "10.0.0.100", 5070)
        registered(lab, alice, bob)
        alice.call(BOB, lab.now)
        lab.run()
        alice.bye(lab.now)
        lab.run()
        assert lab.ladder("bob", "server") == CALLEE_LADDER
        lab.assert_clean(bindings=2)


class TestForking:
    """§16.7: parallel forking to every contact of an AOR, and the best response."""

    def test_first_2xx_wins_and_the_other_branch_is_cancelled(self) -> None:
        lab = Lab()
        alice = lab.phone("alice", "10.0.0.1")
        desk = lab.phone("bob", "10.0.0.2", name="desk")
        laptop = lab.phone("bob", "10.0.0.3", name="laptop", answer="ring")
        registered(lab, alice, desk, laptop)
        alice.call(BOB, lab.now)
        lab.run()
        assert lab.ladder("desk", "server") == [
            "<- INVITE", "-> 100 Trying", "-> 180 Ringing", "-> 200 OK", "<- ACK"]
        assert lab.ladder("laptop", "server") == [
            "<- INVITE", "-> 100 Trying", "-> 180 Ringing",
            "<- CANCEL", "-> 200 OK", "-> 487 Request Terminated", "<- ACK"]
        assert alice.statuses("INVITE").count(200) == 1
        assert 487 not in alice.statuses("INVITE")  # absorbed by the proxy
        assert alice.dialog is not None
        assert alice.dialog.remote_target == parse_uri("sip:bob@10.0.0.2:5060")
        alice.bye(lab.now)
        lab.run()
        assert "<- BYE" in lab.ladder("desk", "server")
        assert "<- BYE" not in lab.ladder("laptop", "server")
        lab.assert_clean(bindings=3)

    def test_all_branches_busy_forwards_one_486(self) -> None:
        lab = Lab()
        alice = lab.phone("alice", "10.0.0.1")
        desk = lab.phone("bob", "10.0.0.2", name="desk", answer=486)
        laptop = lab.phone("bob", "10.0.0.3", name="laptop", answer=486)
        registered(lab, alice, desk, laptop)
        alice.call(BOB, lab.now)
        lab.run()
        assert lab.ladder("alice", "server") == [
            "-> INVITE", "<- 100 Trying", "<- 486 Busy Here", "-> ACK"]
        for name in ("desk", "laptop"):
            assert lab.ladder(name, "server") == [
                "<- INVITE", "-> 100 Trying", "-> 486 Busy Here", "<- ACK"]
        lab.assert_clean(bindings=3)

    def test_6xx_stops_the_search(self) -> None:
        """A 603 cancels the ringing branch; when that one is done, 603 goes up."""
        lab = Lab()
        alice = lab.phone("alice", "10.0.0.1")
        desk = lab.phone("bob", "10.0.0.2", name="desk", answer="ring")
        laptop = lab.phone("bob", "10.0.0.3", name="laptop", answer=603)
        registered(lab, alice, desk, laptop)
        alice.call(BOB, lab.now)
        lab.run()
        assert lab.ladder("desk", "server") == [
            "<- INVITE", "-> 100 Trying", "-> 180 Ringing",
            "<- CANCEL", "-> 200 OK", "-> 487 Request Terminated", "<- ACK"]
        assert alice.statuses("INVITE") == [100, 180, 603]
        lab.assert_clean(bindings=3)

    def test_cancel_from_the_caller_cancels_every_branch(self) -> None:
        lab = Lab()
        alice = lab.phone("alice", "10.0.0.1")
        desk = lab.phone("bob", "10.0.0.2", name="desk", answer="ring")
        laptop = lab.phone("bob", "10.0.0.3", name="laptop", answer="ring")
        registered(lab, alice, desk, laptop)
        alice.call(BOB, lab.now)
        lab.run()
        alice.cancel(lab.now)
        lab.run()
        for name in ("desk", "laptop"):
            assert lab.ladder(name, "server") == [
                "<- INVITE", "-> 100 Trying", "-> 180 Ringing",
                "<- CANCEL", "-> 200 OK", "-> 487 Request Terminated", "<- ACK"]
        assert lab.ladder("alice", "server") == [
            "-> INVITE", "<- 100 Trying", "<- 180 Ringing", "<- 180 Ringing",
            "-> CANCEL", "<- 200 OK", "<- 487 Request Terminated", "-> ACK"]
        lab.assert_clean(bindings=3)

    def test_silent_branch_times_out_as_408(self) -> None:
        """§16.7 step 2: Timer B on a branch counts as a 408 from it."""
        lab = Lab()
        alice = lab.phone("alice", "10.0.0.1")
        bob = lab.phone("bob", "10.0.0.2")
        registered(lab, alice, bob)
        lab.net.link("server", "bob", loss=DropAll(), both_ways=False)
        alice.call(BOB, lab.now)
        lab.run(40)
        assert alice.statuses("INVITE") == [100, 408]
        lab.assert_clean(bindings=2)

    def test_transport_error_on_a_branch_counts_as_503_and_goes_up_as_500(self) -> None:
        """§16.9: a branch the transport cannot reach answers 503; a 503 never goes up."""
        lab = Lab()
        alice, bob = lab.phone("alice", "10.0.0.1"), lab.phone("bob", "10.0.0.2")
        registered(lab, alice, bob)
        lab.net.link("server", "bob", loss=DropAll(), both_ways=False)
        alice.call(BOB, lab.now)
        lab.run(1)
        lab.server.transport_error(Peer("10.0.0.2", 5060), lab.now)
        lab.run(1)
        assert alice.statuses("INVITE") == [100, 500]
        lab.assert_clean(bindings=2)

    def test_timer_c_cancels_a_branch_that_rings_too_long(self) -> None:
        lab = Lab(timer_c=60.0)
        alice = lab.phone("alice", "10.0.0.1")
        bob = lab.phone("bob", "10.0.0.2", answer="ring")
        registered(lab, alice, bob)
        alice.call(BOB, lab.now)
        lab.run(59)
        assert "<- CANCEL" not in lab.ladder("bob", "server")
        lab.run(2)
        assert lab.ladder("bob", "server") == [
            "<- INVITE", "-> 100 Trying", "-> 180 Ringing",
            "<- CANCEL", "-> 200 OK", "-> 487 Request Terminated", "<- ACK"]
        assert alice.statuses("INVITE") == [100, 180, 487]
        lab.assert_clean(bindings=2)


    def test_branch_that_never_answers_the_cancel_is_given_up_after_64_t1(self) -> None:
        """§9.1, §16.8: no final response 64*T1 after our CANCEL: a 408 goes up and the
        branch's INVITE transaction is abandoned, so the response context goes too."""
        lab = Lab()
        alice = lab.phone("alice", "10.0.0.1")
        bob = lab.phone("bob", "10.0.0.2", answer="ring")
        registered(lab, alice, bob)
        lab.net.link("server", "bob", loss=DropIf(lambda line: line.startswith("CANCEL"),
                                                  name="CANCEL"), both_ways=False)
        alice.call(BOB, lab.now)
        lab.run(1)
        alice.cancel(lab.now)
        lab.run(31)
        assert alice.statuses("INVITE") == [100, 180]
        lab.run(2)
        assert alice.statuses("INVITE") == [100, 180, 408]
        lab.run(40)  # our server transaction ends (Timer D at Alice's side, H/I here)
        assert lab.server.stats().idle
        assert lab.server.proxy.get_timer() is None
        bob.answer_now(486, lab.now)  # Bob's phone finally stops ringing: nobody listens
        lab.assert_clean(bindings=2)


class TestValidation:
    """§16.3: Max-Forwards, loops, Proxy-Require, URI schemes."""

    def test_max_forwards_zero_gets_483(self) -> None:
        lab = Lab()
        alice, bob = lab.phone("alice", "10.0.0.1"), lab.phone("bob", "10.0.0.2")
        registered(lab, alice, bob)
        alice.call(BOB, lab.now, max_forwards=0)
        lab.run()
        assert alice.statuses("INVITE") == [100, 483]
        assert "<- INVITE" not in lab.ladder("bob", "server")
        lab.assert_clean(bindings=2)

    def test_request_that_loops_back_gets_482(self) -> None:
        """A forwarder that sends everything back: a spiral first, then a loop (482)."""
        lab = Lab(users=None)
        alice = lab.phone("alice", "10.0.0.1")
        mirror_address = Peer("10.0.0.50", 5060)
        mirror = Reflector(mirror_address, SERVER)
        lab.net.add(mirror, mirror_address.host, mirror_address.port, name="mirror")
        mirror.send(crlf(f"""
            REGISTER sip:{DOMAIN} SIP/2.0
            Via: SIP/2.0/UDP 10.0.0.50:5060;branch=z9hG4bKmirror-reg
            Max-Forwards: 70
            From: <sip:bob@{DOMAIN}>;tag=m1
            To: <sip:bob@{DOMAIN}>
            Call-ID: mirror-reg
            CSeq: 1 REGISTER
            Contact: <sip:bob@10.0.0.50>
            Content-Length: 0

        """), SERVER)
        registered(lab, alice)
        mirror.received.clear()
        alice.call(BOB, lab.now)
        lab.run()
        mirrored = [parse_message(d) for d in mirror.received]
        invites = [m for m in mirrored if isinstance(m, Request) and m.method == "INVITE"]
        assert len(invites) == 2  # the spiral (new Request-URI), then the same one again
        assert alice.statuses("INVITE") == [100, 482]
        lab.assert_clean(bindings=2)

    def test_our_via_with_the_same_loop_hash_is_a_loop(self) -> None:
        lab = Lab(users=None)
        raw = RawPeer()
        lab.net.add(raw, "10.0.0.9", 5060, name="raw")
        request = build_request("OPTIONS", "sip:somebody@10.0.0.77", from_="<sip:raw@x>",
                                to="<sip:somebody@10.0.0.77>", via_host="10.0.0.9",
                                via_port=5060, ids=IdSource(9))
        request.headers.prepend("Via", "SIP/2.0/UDP 10.0.0.100:5060;branch=z9hG4bK"
                                       + loop_hash(request) + ".0")
        request.headers.prepend("Via", "SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bKagain")
        raw.send(request.to_bytes(), SERVER)
        lab.run()
        assert [r.status for r in raw.responses()] == [482]
        lab.assert_clean()

    def test_merged_request_gets_482(self) -> None:
        """§8.2.2.2: the same request arriving again by another path is refused."""
        lab = Lab(users=None)
        bob = lab.phone("bob", "10.0.0.2", answer=486)
        registered(lab, bob)
        raw = RawPeer()
        lab.net.add(raw, "10.0.0.9", 5060, name="raw")
        for proxy_branch in ("z9hG4bKpathA", "z9hG4bKpathB"):
            raw.send(crlf(f"""
                INVITE {BOB} SIP/2.0
                Via: SIP/2.0/UDP 10.0.0.9:5060;branch={proxy_branch}
                Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKfromalice
                Max-Forwards: 69
                From: <sip:alice@{DOMAIN}>;tag=a1
                To: <{BOB}>
                Call-ID: merged-1
                CSeq: 1 INVITE
                Contact: <sip:alice@10.0.0.1>
                Content-Length: 0

            """), SERVER)
        lab.run()
        first_seen = list(dict.fromkeys((r.branch, r.status) for r in raw.responses()))
        assert first_seen == [("z9hG4bKpathA", 100), ("z9hG4bKpathB", 100),
                              ("z9hG4bKpathB", 482), ("z9hG4bKpathA", 486)]
        assert lab.ladder("bob", "server").count("<- INVITE") == 1
        lab.assert_clean(bindings=1)  # (nobody ACKs: Timer H ends both transactions)

    def test_strict_router_request_uri_is_restored_from_the_last_route(self) -> None:
        """§16.4: an RFC 2543 element put our Record-Route into the Request-URI."""
        lab = Lab(users=None)
        bob = lab.phone("bob", "10.0.0.2")
        registered(lab, bob)
        raw = RawPeer()
        lab.net.add(raw, "10.0.0.9", 5060, name="raw")
        raw.send(crlf(f"""
            BYE sip:10.0.0.100:5060;lr SIP/2.0
            Via: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bKstrict
            Max-Forwards: 70
            Route: <sip:bob@10.0.0.2:5060>
            From: <sip:alice@{DOMAIN}>;tag=a1
            To: <{BOB}>;tag=b1
            Call-ID: strict-1
            CSeq: 2 BYE
            Content-Length: 0

        """), SERVER)
        lab.run()
        bye = received(bob, "BYE")
        assert bye.uri_text == "sip:bob@10.0.0.2:5060"
        assert bye.headers.get("Route") is None
        assert [r.status for r in raw.responses()] == [200]
        lab.assert_clean(bindings=1)

    def test_unsupported_proxy_require_gets_420(self) -> None:
        lab = Lab()
        alice, bob = lab.phone("alice", "10.0.0.1"), lab.phone("bob", "10.0.0.2")
        registered(lab, alice, bob)
        alice.options(BOB, lab.now, headers=[("Proxy-Require", "foo, bar")])
        lab.run()
        response = alice.last_response("OPTIONS")
        assert (response.status, response.headers.get("Unsupported")) == (420, "foo, bar")
        lab.assert_clean(bindings=2)

    def test_tel_uri_gets_416(self) -> None:
        lab = Lab()
        alice = lab.phone("alice", "10.0.0.1")
        registered(lab, alice)
        alice.send("MESSAGE", "tel:+15555550100", lab.now)
        lab.run()
        assert alice.statuses("MESSAGE") == [416]
        lab.assert_clean(bindings=1)


class TestWebSocket:
    """RFC 7118 browsers: reached over their own connection; double Record-Route."""

    def test_udp_phone_calls_ws_browser_with_double_record_route(self) -> None:
        lab = Lab(ws=True)
        alice = lab.phone("alice", "10.0.0.1")
        bob = lab.phone("bob", "10.0.0.9", 40000, transport="ws")
        registered(lab, alice, bob)
        alice.call(BOB, lab.now)
        lab.run()
        invite = received(bob, "INVITE")
        assert invite.uri_text == bob.contact_uri
        assert invite.uri_text.endswith(".invalid;transport=ws")
        assert invite.headers.get_all("Record-Route") == [
            "<sip:10.0.0.100:8080;transport=ws;lr>", "<sip:10.0.0.100:5060;lr>"]
        assert invite.via[0].transport == "WS"
        bob.bye(lab.now)
        lab.run()
        bye = received(alice, "BYE")
        assert bye.headers.get("Route") is None  # both of the proxy's entries are gone
        assert lab.ladder("alice", "server") == [
            "-> INVITE", "<- 100 Trying", "<- 180 Ringing", "<- 200 OK", "-> ACK",
            "<- BYE", "-> 200 OK"]
        assert lab.ladder("server", "bob") == [
            "-> INVITE", "<- 100 Trying", "<- 180 Ringing", "<- 200 OK", "-> ACK",
            "<- BYE", "-> 200 OK"]
        assert lab.server.stats().flows == 1
        lab.assert_clean(bindings=2)

    def test_ws_browser_calls_udp_phone_and_the_phone_hangs_up(self) -> None:
        lab = Lab(ws=True)
        alice = lab.phone("alice", "10.0.0.9", 40000, transport="ws")
        bob = lab.phone("bob", "10.0.0.2")
        registered(lab, alice, bob)
        alice.call(BOB, lab.now)
        lab.run()
        assert received(bob, "INVITE").headers.get_all("Record-Route") == [
            "<sip:10.0.0.100:5060;lr>",
            "<sip:10.0.0.100:8080;transport=ws;lr;flow=ws:10.0.0.9:40000>"]
        bob.bye(lab.now)
        lab.run()
        assert lab.ladder("alice", "server") == [
            "-> INVITE", "<- 100 Trying", "<- 180 Ringing", "<- 200 OK", "-> ACK",
            "<- BYE", "-> 200 OK"]
        lab.assert_clean(bindings=2)

    def test_unregistered_ws_caller_is_reached_through_its_flow(self) -> None:
        """The callee's BYE finds a browser that never registered, by the flow= it left."""
        lab = Lab(ws=True, users=None)
        alice = lab.phone("alice", "10.0.0.9", 40000, transport="ws")
        bob = lab.phone("bob", "10.0.0.2")
        registered(lab, bob)
        alice.call(BOB, lab.now)
        lab.run()
        bob.bye(lab.now)
        lab.run()
        assert lab.ladder("alice", "server") == [
            "-> INVITE", "<- 100 Trying", "<- 180 Ringing", "<- 200 OK", "-> ACK",
            "<- BYE", "-> 200 OK"]
        lab.assert_clean(bindings=1)


class TestPieces:
    """The proxy's small decisions, one at a time."""

    @staticmethod
    def response(status: int) -> Response:
        request = build_request("INVITE", BOB, from_="<sip:alice@x>", to=f"<{BOB}>",
                                via_host="10.0.0.1", ids=IdSource(1))
        return build_response(request, status, to_tag=str(status))

    @pytest.mark.parametrize(("statuses", "best"), [
        ([486, 603, 404], 603),      # a 6xx wins
        ([500, 486, 302], 302),      # else the lowest class
        ([486, 404, 407], 407),      # 4xx: one the caller can act on
        ([486, 480], 486),           # else the first to arrive
        ([503], 503),                # (the proxy turns this one into 500)
    ])
    def test_best_response(self, statuses: list[int], best: int) -> None:
        assert choose_best_response([self.response(s) for s in statuses]).status == best

    def test_local_addresses_compare_host_and_port(self) -> None:
        local = LocalAddresses([Peer("127.0.0.1", 5060), Peer("127.0.0.1", 8080, "ws")],
                               ["lab.example"])
        assert local.is_us(parse_uri("sip:127.0.0.1;lr"))
        assert local.is_us(parse_uri("sip:127.0.0.1:8080;transport=ws;lr"))
        assert local.is_us(parse_uri("sip:lab.example:5060"))
        assert not local.is_us(parse_uri("sip:bob@127.0.0.1:40000"))
        assert local.is_our_domain(parse_uri("sip:bob@lab.example"))
        assert not local.is_our_domain(parse_uri("sip:bob@127.0.0.1:40000"))
        assert local.domains == ("lab.example", "127.0.0.1")
