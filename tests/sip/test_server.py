"""The server core as one endpoint: requests for itself, bad input, auth, counters.

RFC 3261 §11 (OPTIONS), §8.2 and §16.3 (400, 405, 501), §22.3 (407 from a
proxy), §16.7 (a late 2xx forwarded statelessly). Scripted peers from
``tests/sip/scripted_peers.py`` play the phones; :class:`RawPeer` sends bytes
no phone would send.
"""

from __future__ import annotations

from siplab.ids import IdSource
from siplab.sip.auth import parse_challenge
from siplab.sip.events import MessageDiscarded
from siplab.sip.message import Response, parse_message
from siplab.sip.server import BindingRemoved, ServerConfig, ServerCore, ServerStats
from siplab.sip.transport import Peer
from tests.helpers import crlf
from tests.sip.scripted_peers import DOMAIN, SERVER, Lab, Phone, RawPeer

BOB = f"sip:bob@{DOMAIN}"
RAW = Peer("10.0.0.9", 5060)


def registered(lab: Lab, *phones: Phone) -> None:
    for phone in phones:
        phone.register(lab.now)
    lab.run()
    lab.mark()


def raw_peer(lab: Lab) -> RawPeer:
    raw = RawPeer()
    lab.net.add(raw, RAW.host, RAW.port, name="raw")
    return raw


MISSING_CALL_ID = crlf(f"""
    OPTIONS sip:{DOMAIN} SIP/2.0
    Via: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bKbroken1
    Max-Forwards: 70
    From: <sip:raw@{DOMAIN}>;tag=r1
    To: <sip:{DOMAIN}>
    CSeq: 1 OPTIONS
    Content-Length: 0

""")

GOOD_OPTIONS = crlf(f"""
    OPTIONS sip:{DOMAIN} SIP/2.0
    Via: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bKgood1
    Max-Forwards: 70
    From: <sip:raw@{DOMAIN}>;tag=r2
    To: <sip:{DOMAIN}>
    Call-ID: good-1
    CSeq: 1 OPTIONS
    Content-Length: 0

""")


class TestRequestsForTheServer:
    """§11: OPTIONS to the server; 405 and 501 for what it does not do itself."""

    def test_server_answers_options_to_itself(self) -> None:
        lab = Lab()
        alice = lab.phone("alice", "10.0.0.1")
        alice.options(f"sip:{DOMAIN}", lab.now)
        lab.run()
        assert lab.ladder("alice", "server") == ["-> OPTIONS", "<- 200 OK"]
        response = alice.last_response("OPTIONS")
        assert response.headers.get("Allow") == "OPTIONS, REGISTER"
        lab.assert_clean()

    def test_options_with_max_forwards_zero_is_answered_by_the_proxy(self) -> None:
        lab = Lab()
        alice, bob = lab.phone("alice", "10.0.0.1"), lab.phone("bob", "10.0.0.2")
        registered(lab, alice, bob)
        alice.options(BOB, lab.now, max_forwards=0)
        lab.run()
        assert lab.ladder("alice", "server") == ["-> OPTIONS", "<- 200 OK"]
        assert lab.ladder("bob", "server") == []
        lab.assert_clean(bindings=2)

    def test_server_refuses_methods_it_does_not_handle(self) -> None:
        lab = Lab()
        alice = lab.phone("alice", "10.0.0.1")
        alice.send("MESSAGE", f"sip:{DOMAIN}", lab.now)
        alice.send("FROBNICATE", f"sip:{DOMAIN}", lab.now)
        lab.run()
        assert alice.statuses("MESSAGE") == [405]
        assert alice.last_response("MESSAGE").headers.get("Allow") == "OPTIONS, REGISTER"
        assert alice.statuses("FROBNICATE") == [501]
        lab.assert_clean()

    def test_register_with_a_preloaded_route_reaches_the_registrar(self) -> None:
        lab = Lab(users=None)
        raw = raw_peer(lab)
        raw.send(crlf(f"""
            REGISTER sip:{DOMAIN} SIP/2.0
            Via: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bKpreloaded
            Max-Forwards: 70
            Route: <sip:10.0.0.100;lr>
            From: <sip:raw@{DOMAIN}>;tag=r1
            To: <sip:raw@{DOMAIN}>
            Call-ID: preloaded-1
            CSeq: 1 REGISTER
            Contact: <sip:raw@10.0.0.9>
            Content-Length: 0

        """), SERVER)
        lab.run()
        [response] = raw.responses()
        assert response.status == 200
        assert response.headers.get_list("Contact") == ["<sip:raw@10.0.0.9>;expires=3600"]
        lab.assert_clean(bindings=1)

    def test_cancel_for_nothing_gets_481(self) -> None:
        lab = Lab()
        alice = lab.phone("alice", "10.0.0.1")
        alice.invite = alice.send("INVITE", f"sip:{DOMAIN}", lab.now)  # answered with 405
        lab.run()
        alice.invite.headers.replace_first(
            "Via", "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKnever-sent;rport")
        alice.cancel(lab.now)
        lab.run()
        assert alice.statuses("CANCEL") == [481]
        lab.assert_clean()


class TestMalformedInput:
    """§16.3 step 1, §8.2: a broken request gets 400 with the reason; serving goes on."""

    def test_malformed_request_gets_400_and_the_next_one_is_served(self) -> None:
        lab = Lab()
        raw = raw_peer(lab)
        raw.send(MISSING_CALL_ID, SERVER)
        lab.run()
        raw.send(GOOD_OPTIONS, SERVER)
        lab.run()
        assert lab.ladder("raw", "server") == [
            "-> OPTIONS", "<- 400 missing Call-ID header", "-> OPTIONS", "<- 200 OK"]
        bad, good = raw.responses()
        assert bad.headers.get("CSeq") == "1 OPTIONS"
        assert bad.branch == "z9hG4bKbroken1"
        assert bad.to_tag is not None
        assert good.call_id == "good-1"
        discarded = [e for e in iter(lab.server.next_event, None)
                     if isinstance(e, MessageDiscarded)]
        assert len(discarded) == 1
        lab.assert_clean()

    def test_unreadable_header_section_still_gets_400(self) -> None:
        lab = Lab()
        raw = raw_peer(lab)
        raw.send(crlf("""
            MESSAGE sip:bob@biloxi.example.com SIP/2.0
            Via: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bKbroken2
            this line has no colon
            Content-Length: 0

        """), SERVER)
        lab.run()
        [response] = raw.responses()
        assert response.status == 400
        assert response.reason == "header line without ':' (line 3)"
        lab.assert_clean()

    def test_unreadable_header_value_found_later_gets_400_through_the_transaction(self) -> None:
        lab = Lab(users=None)
        raw = raw_peer(lab)
        raw.send(crlf(f"""
            REGISTER sip:{DOMAIN} SIP/2.0
            Via: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bKbadcontact
            Max-Forwards: 70
            From: <sip:raw@{DOMAIN}>;tag=r1
            To: <sip:raw@{DOMAIN}>
            Call-ID: bad-contact-1
            CSeq: 1 REGISTER
            Contact: <sip:raw@10.0.0.9
            Content-Length: 0

        """), SERVER)
        lab.run()
        [response] = raw.responses()
        assert response.status == 400
        assert response.reason.startswith("'<' without '>'")
        lab.assert_clean()

    def test_garbage_and_broken_responses_get_no_answer(self) -> None:
        lab = Lab()
        raw = raw_peer(lab)
        raw.send(b"hello, is this SIP?\r\n\r\n", SERVER)
        raw.send(crlf("""
            SIP/2.0 200 OK
            Via: SIP/2.0/UDP 10.0.0.100:5060;branch=z9hG4bKx
            Content-Length: 0

        """), SERVER)
        raw.send(crlf("""
            ACK sip:bob@biloxi.example.com SIP/2.0
            Content-Length: 0

        """), SERVER)
        lab.run()
        assert raw.received == []
        lab.assert_clean()


class TestAuthenticatedCalls:
    """§22.3 with ``authenticate_calls``: the proxy challenges our users with 407."""

    def test_message_from_our_user_is_challenged_then_forwarded(self) -> None:
        lab = Lab(authenticate_calls=True)
        alice, bob = lab.phone("alice", "10.0.0.1"), lab.phone("bob", "10.0.0.2")
        registered(lab, alice, bob)
        alice.message(BOB, "hi", lab.now)
        lab.run()
        assert lab.ladder("alice", "server") == [
            "-> MESSAGE", "<- 407 Proxy Authentication Required", "-> MESSAGE", "<- 200 OK"]
        assert lab.ladder("bob", "server") == ["<- MESSAGE", "-> 200 OK"]
        forwarded = next(r for r in bob.received if r.method == "MESSAGE")
        assert forwarded.headers.get("Proxy-Authorization") is None
        lab.assert_clean(bindings=2)

    def test_invite_with_wrong_password_gets_403(self) -> None:
        lab = Lab(authenticate_calls=True)
        bob = lab.phone("bob", "10.0.0.2")
        alice = lab.phone("alice", "10.0.0.1")
        registered(lab, bob)
        alice.password = "wrong"
        alice.call(BOB, lab.now)
        lab.run()
        assert alice.statuses("INVITE") == [100, 407, 100, 403]
        assert lab.ladder("bob", "server") == []
        lab.assert_clean(bindings=1)


class TestServerEndpoint:
    """The endpoint contract: timers, determinism, flows, stats."""

    def test_late_2xx_is_forwarded_statelessly(self) -> None:
        """§16.7: a 2xx retransmitted after every transaction ended still goes up."""
        lab = Lab()
        alice, bob = lab.phone("alice", "10.0.0.1"), lab.phone("bob", "10.0.0.2")
        registered(lab, alice, bob)
        alice.call(BOB, lab.now)
        lab.run()
        assert lab.settle().idle
        lab.mark()
        ok = [r for r in lab.net.records if r.label == "200 OK" and
              lab.net.name_of(r.src) == "bob" and b"INVITE" in r.data][-1]
        again = parse_message(ok.data)
        assert isinstance(again, Response)
        bob.layer.send_stateless(again, SERVER)
        lab.run()
        assert lab.ladder("bob", "server") == ["-> 200 OK"]
        assert lab.ladder("server", "alice") == ["-> 200 OK"]
        lab.assert_clean(bindings=2)

    def test_same_seeds_give_the_same_bytes(self) -> None:
        def run() -> list[bytes]:
            lab = Lab(seed=7)
            alice, bob = lab.phone("alice", "10.0.0.1"), lab.phone("bob", "10.0.0.2")
            registered(lab, alice, bob)
            alice.call(BOB, lab.now)
            lab.run()
            alice.bye(lab.now)
            lab.run()
            return [r.data for r in lab.net.records]

        assert run() == run()

    def test_failed_flow_removes_the_bindings_reached_over_it(self) -> None:
        lab = Lab(ws=True)
        browser = lab.phone("bob", "10.0.0.9", 40000, transport="ws")
        desk = lab.phone("bob", "10.0.0.2", name="desk")
        registered(lab, browser, desk)
        assert lab.server.stats().flows == 1
        lab.server.transport_error(Peer("10.0.0.9", 40000, "ws"), lab.now)
        removed = [e for e in iter(lab.server.next_event, None) if isinstance(e, BindingRemoved)]
        assert [(str(e.binding.uri), e.reason) for e in removed] == [
            (browser.contact_uri, "flow failed")]
        assert lab.server.stats().flows == 0
        lab.assert_clean(bindings=1)

    def test_stats_count_what_is_open(self) -> None:
        lab = Lab()
        alice = lab.phone("alice", "10.0.0.1")
        bob = lab.phone("bob", "10.0.0.2", answer="ring")
        registered(lab, alice, bob)
        lab.settle()  # the REGISTER transactions wait out Timer J (32 s)
        alice.call(BOB, lab.now)
        lab.run()
        assert lab.server.stats() == ServerStats(
            server_transactions=1, client_transactions=1, response_contexts=1,
            bindings=2, aors=2, flows=0)
        alice.cancel(lab.now)
        lab.assert_clean(bindings=2)

    def test_config_repr_does_not_show_passwords(self) -> None:
        config = ServerConfig(listen=(SERVER,), users={"alice": "wonderland"})
        assert "wonderland" not in repr(config)
        assert "NOT SHOWN" in repr(config)
        assert "wonderland" not in repr(Lab().server)

    def test_seeded_ids_make_the_challenge_reproducible(self) -> None:
        nonces = []
        for _ in range(2):
            lab = Lab(seed=3)
            alice = lab.phone("alice", "10.0.0.1")
            alice.register(lab.now)
            lab.run()
            nonces.append(alice.responses[0].headers.get("WWW-Authenticate"))
        assert nonces[0] == nonces[1]


def nonce_of(data: bytes) -> str:
    response = parse_message(data)
    assert isinstance(response, Response)
    return parse_challenge(response.headers.get("WWW-Authenticate") or "").nonce


REGISTER_WITHOUT_CREDENTIALS = crlf(f"""
    REGISTER sip:{DOMAIN} SIP/2.0
    Via: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bKfirst1;rport
    Max-Forwards: 70
    From: <sip:alice@{DOMAIN}>;tag=a1
    To: <sip:alice@{DOMAIN}>
    Call-ID: stateless-1
    CSeq: 1 REGISTER
    Contact: <sip:alice@10.0.0.9:5060>
    Content-Length: 0

""")


class TestStatelessChallenge:
    """§8.2.7: a REGISTER without credentials gets its 401 with no server transaction."""

    def test_first_register_is_challenged_without_a_transaction(self) -> None:
        lab = Lab()
        raw = raw_peer(lab)
        raw.send(REGISTER_WITHOUT_CREDENTIALS, SERVER)
        lab.run(0.5)
        [challenge] = raw.responses()
        assert challenge.status == 401
        assert challenge.headers.get("WWW-Authenticate", "").startswith("Digest ")
        assert challenge.to_tag
        assert lab.server.stats().server_transactions == 0  # nothing kept for 32 s

    def test_retransmitted_register_gets_the_same_to_tag_and_nonce(self) -> None:
        lab = Lab()
        raw = raw_peer(lab)
        for _ in range(2):
            raw.send(REGISTER_WITHOUT_CREDENTIALS, SERVER)
            lab.run(0.5)
        first, second = raw.responses()
        assert first.to_tag == second.to_tag  # §8.2.7: same request, same tag
        assert first.headers.get("WWW-Authenticate") == second.headers.get("WWW-Authenticate")
        other = REGISTER_WITHOUT_CREDENTIALS.replace(b"branch=z9hG4bKfirst1",
                                                     b"branch=z9hG4bKfirst2")
        raw.send(other, SERVER)
        lab.run(0.5)
        third = raw.responses()[2]
        assert third.to_tag != first.to_tag
        assert third.headers.get("WWW-Authenticate") != first.headers.get("WWW-Authenticate")

    def test_retransmitted_register_gets_a_byte_identical_401(self) -> None:
        # sipp resends its REGISTER when the 401 is slow, and takes a second
        # 401 unlike the first for an unexpected message.
        core = ServerCore(ServerConfig(listen=(SERVER,), domains=(DOMAIN,),
                                       users={"alice": "wonderland"}), ids=IdSource("bytes"))
        answers = []
        for now in (1000.0, 1000.5, 1001.5, 1003.5):  # the first copy, then Timer E's resends
            core.receive_datagram(REGISTER_WITHOUT_CREDENTIALS, RAW, now)
            answers.append(core.datagrams_to_send())
        assert answers[1:] == answers[:1] * 3
        [(data, peer)] = answers[0]
        assert peer == RAW
        assert data.startswith(b"SIP/2.0 401 ")
        assert core.stats().server_transactions == 0
        for old, new in ((b"CSeq: 1 ", b"CSeq: 2 "), (b"Call-ID: stateless-1", b"Call-ID: s-2")):
            core.receive_datagram(REGISTER_WITHOUT_CREDENTIALS.replace(old, new), RAW, 1000.0)
            [(other, _)] = core.datagrams_to_send()
            assert nonce_of(other) != nonce_of(data)  # a new request: a new nonce

    def test_phone_registers_through_the_stateless_challenge(self) -> None:
        lab = Lab()
        alice = lab.phone("alice", "10.0.0.1")
        alice.register(lab.now)
        lab.run()
        assert lab.ladder("alice", "server") == [
            "-> REGISTER", "<- 401 Unauthorized", "-> REGISTER", "<- 200 OK"]
        assert lab.server.stats().server_transactions == 1  # only the one with credentials
        lab.assert_clean(bindings=1)

    def test_register_with_require_still_goes_the_stateful_way(self) -> None:
        lab = Lab()
        raw = raw_peer(lab)
        raw.send(REGISTER_WITHOUT_CREDENTIALS.replace(
            b"Content-Length: 0", b"Require: foo\r\nContent-Length: 0"), SERVER)
        lab.run(0.5)
        [refusal] = raw.responses()
        assert refusal.status == 420
        assert refusal.headers.get("Unsupported") == "foo"
