"""The transaction layer as an endpoint: matching, ladders, losses (RFC 3261 §17.1.3,
§17.2.3, §9, §18; RFC 3581; RFC 6026).

Most tests put two :class:`TransactionLayer` objects, Alice's and Bob's, on a
:class:`SimNetwork` and play the transaction user by hand: read an event,
send a response. They assert the ladder a student would draw
(``net.labels()``), the events each side saw, and that no transaction is
left behind.
"""

from __future__ import annotations

import pytest

from siplab.errors import InvalidStateError, LocalProtocolError
from siplab.ids import IdSource
from siplab.lab import DropEvery, DropIf, DropNext, SimNetwork
from siplab.sip.build import (
    build_ack_for_failure,
    build_cancel,
    build_request,
    build_response,
)
from siplab.sip.events import (
    Event,
    MessageDiscarded,
    RequestReceived,
    ResponseReceived,
    TransactionTerminated,
    TransactionTimedOut,
    TransportFailed,
)
from siplab.sip.message import Request, Response, parse_message
from siplab.sip.transaction import (
    InviteServerTransaction,
    NonInviteServerTransaction,
    ServerTransaction,
    TransactionState,
)
from siplab.sip.transaction_layer import TransactionLayer
from siplab.sip.transport import Peer
from tests.helpers import crlf

State = TransactionState
ALICE = Peer("10.0.0.1", 5060)
BOB = Peer("10.0.0.2", 5060)


def make_request(method: str, ids: IdSource, *, transport: str = "UDP", cseq: int = 1) -> Request:
    return build_request(
        method, "sip:bob@10.0.0.2", from_="Alice <sip:alice@10.0.0.1>",
        to="Bob <sip:bob@10.0.0.2>", via_host="10.0.0.1", via_port=5060,
        transport=transport, ids=ids, call_id="call-1@10.0.0.1", cseq=cseq,
        contact="<sip:alice@10.0.0.1:5060>",
    )


def ack_for_2xx(invite: Request, ok: Response, ids: IdSource) -> Request:
    """What the dialog layer would send (§13.2.2.4): a new branch, To from the 2xx."""
    return build_request(
        "ACK", invite.uri_text, from_=invite.headers.get("From") or "",
        to=ok.headers.get("To") or "", via_host="10.0.0.1", via_port=5060, ids=ids,
        call_id=invite.call_id, cseq=invite.cseq.number,
    )


def drain(layer: TransactionLayer) -> list[Event]:
    return list(iter(layer.next_event, None))


def names(found: list[Event]) -> list[str]:
    """Event names, with the message label for requests and responses."""
    out = []
    for event in found:
        if isinstance(event, RequestReceived):
            out.append(f"RequestReceived {event.request.label}")
        elif isinstance(event, ResponseReceived):
            out.append(f"ResponseReceived {event.response.label}")
        else:
            out.append(type(event).__name__)
    return out


def incoming(layer: TransactionLayer, method: str = "INVITE") -> ServerTransaction:
    """Take the RequestReceived for ``method`` out of the layer's events."""
    for event in drain(layer):
        if isinstance(event, RequestReceived) and event.request.method == method:
            assert event.transaction is not None
            return event.transaction
    raise AssertionError(f"no {method} arrived")


@pytest.fixture
def net() -> SimNetwork:
    return SimNetwork(seed=1, delay=0.01)


@pytest.fixture
def alice(net: SimNetwork) -> TransactionLayer:
    layer = TransactionLayer()
    net.add(layer, ALICE.host, ALICE.port, name="alice")
    return layer


@pytest.fixture
def bob(net: SimNetwork) -> TransactionLayer:
    layer = TransactionLayer()
    net.add(layer, BOB.host, BOB.port, name="bob")
    return layer


# -- whole exchanges ---------------------------------------------------------------------------


class TestLadders:
    """Two layers talking: the ladders of RFC 3261 §17 and RFC 6026."""

    def test_invite_rejected_with_486_gives_the_textbook_ladder(
        self, net: SimNetwork, alice: TransactionLayer, bob: TransactionLayer
    ) -> None:
        invite = make_request("INVITE", IdSource(1))
        client = alice.send_request(invite, BOB, net.now)
        net.run_until(0.1)
        server = incoming(bob)
        bob.send_response(server, build_response(server.request, 180, to_tag="b0b"), net.now)
        net.run_until(0.2)
        bob.send_response(server, build_response(server.request, 486, to_tag="b0b"), net.now)
        net.run()
        assert net.labels() == ["INVITE", "100 Trying", "180 Ringing", "486 Busy Here", "ACK"]
        assert names(drain(alice)) == [
            "ResponseReceived 100 Trying",
            "ResponseReceived 180 Ringing",
            "ResponseReceived 486 Busy Here",
            "TransactionTerminated",
        ]
        assert names(drain(bob)) == ["TransactionTerminated"]  # the ACK stays in the transaction
        assert client.history[-1][1:] == ("Timer D", State.TERMINATED)
        assert server.history[-1][1:] == ("Timer I", State.TERMINATED)
        assert alice.client_transactions == {}
        assert bob.server_transactions == {}

    def test_invite_accepted_with_200_and_the_tu_acks_it(
        self, net: SimNetwork, alice: TransactionLayer, bob: TransactionLayer
    ) -> None:
        ids = IdSource(2)
        invite = make_request("INVITE", ids)
        client = alice.send_request(invite, BOB, net.now)
        net.run_until(0.1)
        server = incoming(bob)
        bob.send_response(server, build_response(server.request, 180, to_tag="b0b"), net.now)
        bob.send_response(server, build_response(server.request, 200, to_tag="b0b"), net.now)
        net.run_until(0.2)
        (*_, ok_event) = drain(alice)
        assert isinstance(ok_event, ResponseReceived)
        assert client.state is State.ACCEPTED
        alice.send_stateless(ack_for_2xx(invite, ok_event.response, ids), BOB)
        net.run()
        assert net.labels() == ["INVITE", "100 Trying", "180 Ringing", "200 OK", "ACK"]
        # The ACK for a 2xx has a branch of its own: no transaction, straight to the TU.
        (ack_event, terminated) = drain(bob)
        assert isinstance(ack_event, RequestReceived)
        assert ack_event.request.method == "ACK"
        assert ack_event.transaction is None
        assert ack_event.peer == ALICE
        assert terminated == TransactionTerminated(server)
        assert server.history[-1][1:] == ("Timer L", State.TERMINATED)
        assert client.history[-1][1:] == ("Timer M", State.TERMINATED)
        assert alice.client_transactions == {}
        assert bob.server_transactions == {}

    def test_invite_completes_when_the_100_and_the_180_are_lost(
        self, net: SimNetwork, alice: TransactionLayer, bob: TransactionLayer
    ) -> None:
        net.link(BOB, ALICE, loss=DropNext(2), both_ways=False)
        alice.send_request(make_request("INVITE", IdSource(3)), BOB, net.now)
        net.run_until(0.1)
        server = incoming(bob)
        bob.send_response(server, build_response(server.request, 180, to_tag="b0b"), net.now)
        net.run_until(1.0)  # Timer A resends the INVITE at 0.5; Bob answers it with the 180
        bob.send_response(server, build_response(server.request, 486, to_tag="b0b"), net.now)
        net.run()
        assert [r.label for r in net.records if r.dropped] == ["100 Trying", "180 Ringing"]
        assert net.labels() == ["INVITE", "INVITE", "180 Ringing", "486 Busy Here", "ACK"]
        assert names(drain(alice)) == ["ResponseReceived 180 Ringing",
                                       "ResponseReceived 486 Busy Here", "TransactionTerminated"]

    def test_invite_completes_when_every_second_response_is_lost(
        self, net: SimNetwork, alice: TransactionLayer, bob: TransactionLayer
    ) -> None:
        net.link(BOB, ALICE, loss=DropEvery(2), both_ways=False)
        alice.send_request(make_request("INVITE", IdSource(4)), BOB, net.now)
        net.run_until(0.1)
        server = incoming(bob)
        bob.send_response(server, build_response(server.request, 180, to_tag="b0b"), net.now)
        bob.send_response(server, build_response(server.request, 486, to_tag="b0b"), net.now)
        net.run()
        assert [r.label for r in net.records if r.dropped] == ["180 Ringing"]
        assert net.labels() == ["INVITE", "100 Trying", "486 Busy Here", "ACK"]
        assert alice.client_transactions == {}
        assert bob.server_transactions == {}

    def test_a_lost_486_is_recovered_by_timer_g(
        self, net: SimNetwork, alice: TransactionLayer, bob: TransactionLayer
    ) -> None:
        net.link(BOB, ALICE, loss=DropEvery(3), both_ways=False)  # the 3rd: the 486
        alice.send_request(make_request("INVITE", IdSource(5)), BOB, net.now)
        net.run_until(0.1)
        server = incoming(bob)
        bob.send_response(server, build_response(server.request, 180, to_tag="b0b"), net.now)
        bob.send_response(server, build_response(server.request, 486, to_tag="b0b"), net.now)
        net.run()
        lost = [r for r in net.records if r.dropped]
        assert [(r.label, r.time_sent) for r in lost] == [("486 Busy Here", 0.1)]
        assert net.labels() == ["INVITE", "100 Trying", "180 Ringing", "486 Busy Here", "ACK"]
        resent = [r for r in net.records if r.label == "486 Busy Here" and not r.dropped]
        assert resent[0].time_sent == 0.6  # Timer G: T1 after the first 486

    def test_a_lost_200_is_resent_by_the_tu_not_by_the_transaction(
        self, net: SimNetwork, alice: TransactionLayer, bob: TransactionLayer
    ) -> None:
        """RFC 6026 §7.1: in Accepted the INVITE server absorbs INVITE copies; the TU
        (the dialog, §13.3.1.4) retransmits its 2xx."""
        # Lose Bob's first two responses, the 100 Trying and the 200 OK.
        net.link(BOB, ALICE, loss=DropIf(lambda line: line.startswith("SIP/2.0"), limit=2),
                 both_ways=False)
        alice.send_request(make_request("INVITE", IdSource(6)), BOB, net.now)
        net.run_until(0.1)
        server = incoming(bob)
        ok = build_response(server.request, 200, to_tag="b0b")
        bob.send_response(server, ok, net.now)
        net.run_until(0.55)  # the INVITE resent at 0.5 reaches Bob at 0.51: absorbed
        assert net.labels() == ["INVITE", "INVITE"]
        assert drain(bob) == []
        assert server.state is State.ACCEPTED
        bob.send_response(server, ok, net.now)  # the TU's retransmission
        net.run_until(1.0)
        assert net.labels() == ["INVITE", "INVITE", "200 OK"]
        assert names(drain(alice)) == ["ResponseReceived 200 OK"]

    def test_cancel_is_its_own_transaction_next_to_the_invite(
        self, net: SimNetwork, alice: TransactionLayer, bob: TransactionLayer
    ) -> None:
        """§9: CANCEL has the INVITE's branch but its own transaction on both sides."""
        invite = make_request("INVITE", IdSource(7))
        invite_client = alice.send_request(invite, BOB, net.now)
        net.run_until(0.1)
        invite_server = incoming(bob)
        cancel = build_cancel(invite)
        cancel_client = alice.send_request(cancel, BOB, net.now)
        assert cancel_client is not invite_client
        assert set(alice.client_transactions) == {(invite.branch, "INVITE"),
                                                  (invite.branch, "CANCEL")}
        net.run_until(0.2)
        cancel_server = incoming(bob, "CANCEL")
        assert isinstance(cancel_server, NonInviteServerTransaction)
        assert len(bob.server_transactions) == 2
        assert bob.find_server_transaction_for_cancel(cancel_server.request) is invite_server
        bob.send_response(cancel_server, build_response(cancel_server.request, 200,
                                                        to_tag="b0b"), net.now)
        bob.send_response(invite_server, build_response(invite_server.request, 487,
                                                        to_tag="b0b"), net.now)
        net.run()
        assert net.labels() == ["INVITE", "100 Trying", "CANCEL", "200 OK",
                                "487 Request Terminated", "ACK"]
        assert alice.client_transactions == {}
        assert bob.server_transactions == {}


# -- matching ------------------------------------------------------------------------------------


class TestMatching:
    """§17.1.3 (responses) and §17.2.3 (requests, with the RFC 2543 fallback)."""

    def test_responses_with_another_branch_or_method_match_nothing(self) -> None:
        layer = TransactionLayer()
        invite = make_request("INVITE", IdSource(8))
        client = layer.send_request(invite, BOB, 0.0)
        layer.datagrams_to_send()
        other_branch = build_response(invite, 180, to_tag="b0b")
        other_branch.headers.replace_first("Via", "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKother")
        other_method = build_response(invite, 180, to_tag="b0b")
        other_method.headers.set("CSeq", "1 CANCEL")
        for stray in (other_branch, other_method):
            layer.receive_datagram(stray.to_bytes(), BOB, 0.1)
        found = drain(layer)
        assert [type(e) for e in found] == [MessageDiscarded, MessageDiscarded]
        for event in found:
            assert isinstance(event, MessageDiscarded)
            assert "matches no client transaction" in event.reason
        assert client.state is State.CALLING
        layer.receive_datagram(build_response(invite, 180, to_tag="b0b").to_bytes(), BOB, 0.2)
        assert names(drain(layer)) == ["ResponseReceived 180 Ringing"]

    def test_ack_for_a_failure_matches_the_invite_server_transaction(self) -> None:
        layer = TransactionLayer()
        invite = make_request("INVITE", IdSource(9))
        layer.receive_datagram(invite.to_bytes(), ALICE, 0.0)
        server = incoming(layer)
        layer.send_response(server, build_response(server.request, 486, to_tag="b0b"), 0.0)
        busy = parse_message(layer.datagrams_to_send()[-1][0])
        assert isinstance(busy, Response)
        layer.receive_datagram(build_ack_for_failure(invite, busy).to_bytes(), ALICE, 0.1)
        assert server.state is State.CONFIRMED
        assert drain(layer) == []  # the ACK for a 300-699 never reaches the TU

    def test_ack_that_matches_nothing_goes_to_the_tu_without_a_transaction(self) -> None:
        layer = TransactionLayer()
        ids = IdSource(10)
        invite = make_request("INVITE", ids)
        ok = build_response(invite, 200, to_tag="b0b")
        layer.receive_datagram(ack_for_2xx(invite, ok, ids).to_bytes(), ALICE, 0.0)
        (event,) = drain(layer)
        assert isinstance(event, RequestReceived)
        assert event.transaction is None
        assert event.request.method == "ACK"
        assert layer.server_transactions == {}

    def test_same_branch_from_another_sent_by_is_another_transaction(self) -> None:
        layer = TransactionLayer()
        options = make_request("OPTIONS", IdSource(11))
        layer.receive_datagram(options.to_bytes(), ALICE, 0.0)
        spoof = options.copy()
        spoof.headers.replace_first("Via", str(options.top_via).replace("10.0.0.1", "10.0.0.3"))
        layer.receive_datagram(spoof.to_bytes(), Peer("10.0.0.3", 5060), 0.1)
        assert names(drain(layer)) == ["RequestReceived OPTIONS", "RequestReceived OPTIONS"]
        assert len(layer.server_transactions) == 2

    RFC2543_INVITE = """
        INVITE sip:bob@10.0.0.2 SIP/2.0
        Via: SIP/2.0/UDP 10.0.0.1:5060
        To: Bob <sip:bob@10.0.0.2>
        From: Alice <sip:alice@10.0.0.1>;tag={from_tag}
        Call-ID: 12345601@10.0.0.1
        CSeq: 1 INVITE
        Max-Forwards: 70
        Content-Length: 0

    """
    RFC2543_ACK = """
        ACK sip:bob@10.0.0.2 SIP/2.0
        Via: SIP/2.0/UDP 10.0.0.1:5060
        To: Bob <sip:bob@10.0.0.2>;tag={to_tag}
        From: Alice <sip:alice@10.0.0.1>;tag=1234
        Call-ID: 12345601@10.0.0.1
        CSeq: 1 ACK
        Max-Forwards: 70
        Content-Length: 0

    """

    def test_rfc_2543_request_without_magic_cookie_is_matched_by_its_fields(self) -> None:
        layer = TransactionLayer()
        invite = crlf(self.RFC2543_INVITE.format(from_tag="1234"))
        layer.receive_datagram(invite, ALICE, 0.0)
        server = incoming(layer)
        assert server.key[0] == "rfc2543"
        assert [d.split(b"\r\n")[0] for d, _ in layer.datagrams_to_send()] == [
            b"SIP/2.0 100 Trying"]
        layer.receive_datagram(invite, ALICE, 0.5)  # a retransmission: 100 again, no new call
        assert drain(layer) == []
        assert len(layer.datagrams_to_send()) == 1
        other = crlf(self.RFC2543_INVITE.format(from_tag="5678"))
        layer.receive_datagram(other, ALICE, 0.6)  # another From tag: another transaction
        assert names(drain(layer)) == ["RequestReceived INVITE"]
        assert len(layer.server_transactions) == 2
        layer.send_response(server, build_response(server.request, 486, to_tag="b0b"), 1.0)
        wrong_ack = crlf(self.RFC2543_ACK.format(to_tag="someone-else"))
        layer.receive_datagram(wrong_ack, ALICE, 1.1)
        (event,) = drain(layer)
        assert isinstance(event, RequestReceived)
        assert event.transaction is None
        assert server.state is State.COMPLETED
        layer.receive_datagram(crlf(self.RFC2543_ACK.format(to_tag="b0b")), ALICE, 1.2)
        assert server.state is State.CONFIRMED

    def test_rfc_2543_cancel_finds_its_invite(self) -> None:
        layer = TransactionLayer()
        invite = crlf(self.RFC2543_INVITE.format(from_tag="1234"))
        layer.receive_datagram(invite, ALICE, 0.0)
        server = incoming(layer)
        cancel = crlf(self.RFC2543_INVITE.format(from_tag="1234").replace("INVITE", "CANCEL"))
        layer.receive_datagram(cancel, ALICE, 0.1)
        cancel_server = incoming(layer, "CANCEL")
        assert layer.find_server_transaction_for_cancel(cancel_server.request) is server


# -- the endpoint's duties -----------------------------------------------------------------------


class TestLayer:
    """What the layer does on its own: 100 Trying, discarding, routing responses, cleanup."""

    def test_invite_server_sends_100_trying_at_once(self) -> None:
        layer = TransactionLayer()
        invite = make_request("INVITE", IdSource(12))
        layer.receive_datagram(invite.to_bytes(), ALICE, 0.0)
        ((data, where),) = layer.datagrams_to_send()
        trying = parse_message(data)
        assert isinstance(trying, Response)
        assert trying.status == 100
        assert trying.to_tag is None  # 100 Trying carries no To tag (§8.2.6.2)
        assert where == ALICE
        server = incoming(layer)
        assert isinstance(server, InviteServerTransaction)
        assert server.last_response is not None
        assert server.last_response.status == 100

    def test_no_automatic_100_for_non_invite_or_when_disabled(self) -> None:
        layer = TransactionLayer()
        layer.receive_datagram(make_request("OPTIONS", IdSource(13)).to_bytes(), ALICE, 0.0)
        assert layer.datagrams_to_send() == []
        quiet = TransactionLayer(auto_100=False)
        quiet.receive_datagram(make_request("INVITE", IdSource(14)).to_bytes(), ALICE, 0.0)
        assert quiet.datagrams_to_send() == []
        assert names(drain(quiet)) == ["RequestReceived INVITE"]

    @pytest.mark.parametrize(
        ("data", "why"),
        [
            (b"\x00\x01 this is not SIP", "not a valid SIP message"),
            (b"", "not a valid SIP message"),
            (crlf("""
                OPTIONS sip:bob@10.0.0.2 SIP/2.0
                Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1
                To: <sip:bob@10.0.0.2>
                From: <sip:alice@10.0.0.1>;tag=1
                CSeq: 1 OPTIONS
                Max-Forwards: 70

            """), "missing Call-ID"),
        ],
        ids=["garbage", "empty", "no-call-id"],
    )
    def test_unparseable_datagram_is_discarded_and_the_layer_keeps_working(
        self, data: bytes, why: str
    ) -> None:
        layer = TransactionLayer()
        layer.receive_datagram(data, ALICE, 0.0)
        (event,) = drain(layer)
        assert isinstance(event, MessageDiscarded)
        assert event.data == data
        assert event.peer == ALICE
        assert why in event.reason
        assert layer.server_transactions == {}
        layer.receive_datagram(make_request("OPTIONS", IdSource(15)).to_bytes(), ALICE, 0.1)
        assert names(drain(layer)) == ["RequestReceived OPTIONS"]

    def test_stray_response_is_discarded(self) -> None:
        layer = TransactionLayer()
        stray = build_response(make_request("OPTIONS", IdSource(16)), 200, to_tag="b0b")
        layer.receive_datagram(stray.to_bytes(), BOB, 0.0)
        (event,) = drain(layer)
        assert isinstance(event, MessageDiscarded)
        assert "§17.1.3" in event.reason

    def test_responses_over_udp_go_where_the_request_really_came_from(self) -> None:
        """RFC 3581: with ``rport`` in the Via, answer the source port (NAT)."""
        layer = TransactionLayer()
        options = make_request("OPTIONS", IdSource(17))
        nat = Peer("203.0.113.5", 40000)
        layer.receive_datagram(options.to_bytes(), nat, 0.0)
        server = incoming(layer, "OPTIONS")
        assert server.request.top_via.received == "203.0.113.5"
        assert server.request.top_via.rport == 40000
        layer.send_response(server, build_response(server.request, 200, to_tag="b0b"), 0.0)
        ((data, where),) = layer.datagrams_to_send()
        assert where == Peer("203.0.113.5", 40000, "udp")
        via = parse_message(data).top_via
        assert (via.received, via.rport) == ("203.0.113.5", 40000)

    def test_responses_over_tcp_go_back_on_the_connection(self) -> None:
        layer = TransactionLayer()
        options = make_request("OPTIONS", IdSource(18), transport="TCP")
        connection = Peer("10.0.0.1", 49152, "tcp")
        layer.receive_datagram(options.to_bytes(), connection, 0.0)
        server = incoming(layer, "OPTIONS")
        layer.send_response(server, build_response(server.request, 200, to_tag="b0b"), 0.0)
        assert [where for _, where in layer.datagrams_to_send()] == [connection]
        assert layer.server_transactions == {}  # Timer J is 0 over TCP

    def test_send_stateless_sends_requests_to_the_peer_and_responses_by_via(self) -> None:
        layer = TransactionLayer()
        ids = IdSource(19)
        invite = make_request("INVITE", ids)
        ok = build_response(invite, 200, to_tag="b0b")
        layer.send_stateless(ack_for_2xx(invite, ok, ids), BOB)
        layer.send_stateless(ok, Peer("10.0.0.1", 40000))
        assert [where for _, where in layer.datagrams_to_send()] == [BOB, ALICE]
        assert layer.client_transactions == {}

    def test_ack_cannot_start_a_client_transaction(self) -> None:
        layer = TransactionLayer()
        ids = IdSource(20)
        invite = make_request("INVITE", ids)
        ack = ack_for_2xx(invite, build_response(invite, 200, to_tag="b0b"), ids)
        with pytest.raises(LocalProtocolError, match="send_stateless"):
            layer.send_request(ack, BOB, 0.0)

    def test_the_same_branch_and_method_cannot_be_sent_twice(self) -> None:
        layer = TransactionLayer()
        options = make_request("OPTIONS", IdSource(21))
        layer.send_request(options, BOB, 0.0)
        with pytest.raises(LocalProtocolError, match="still running"):
            layer.send_request(options, BOB, 0.1)

    def test_send_response_is_checked_by_the_transaction(self) -> None:
        layer = TransactionLayer()
        layer.receive_datagram(make_request("OPTIONS", IdSource(22)).to_bytes(), ALICE, 0.0)
        server = incoming(layer, "OPTIONS")
        layer.send_response(server, build_response(server.request, 200, to_tag="b0b"), 0.0)
        with pytest.raises(InvalidStateError):
            layer.send_response(server, build_response(server.request, 180, to_tag="b0b"), 0.1)
        layer.handle_timer(100.0)
        assert layer.server_transactions == {}
        with pytest.raises(InvalidStateError, match="Terminated"):
            layer.send_response(server, build_response(server.request, 200, to_tag="b0b"), 101)

    def test_a_completed_transaction_drops_its_header_index_and_still_answers_copies(
        self,
    ) -> None:
        # A busy server keeps every completed transaction 64*T1 = 32 s; what
        # the parser indexed its request by is not needed for that, only the
        # lines (read again on demand) and the bytes of the last response.
        layer = TransactionLayer()
        options = make_request("OPTIONS", IdSource(30)).to_bytes()
        layer.receive_datagram(options, ALICE, 0.0)
        server = incoming(layer, "OPTIONS")
        call_id, via = server.request.call_id, server.request.headers.get("Via")
        layer.send_response(server, build_response(server.request, 200, to_tag="b0b"), 0.0)
        ((ok, _),) = layer.datagrams_to_send()
        assert server.state is State.COMPLETED
        assert server.request.headers._first  # indexed while the TU still reads it
        layer.receive_datagram(options, ALICE, 0.5)  # a copy of the request
        assert not server.request.headers._first
        assert server.request.headers._index is None
        assert layer.datagrams_to_send() == [(ok, ALICE)]  # the same bytes again (§17.2.2)
        assert (server.request.call_id, server.request.headers.get("Via")) == (call_id, via)

    def test_send_response_refuses_a_transaction_of_another_layer(self) -> None:
        mine, theirs = TransactionLayer(), TransactionLayer()
        theirs.receive_datagram(make_request("OPTIONS", IdSource(23)).to_bytes(), ALICE, 0.0)
        server = incoming(theirs, "OPTIONS")
        with pytest.raises(LocalProtocolError, match="does not belong"):
            mine.send_response(server, build_response(server.request, 200), 0.0)

    def test_transport_error_fails_the_transactions_that_send_there(self) -> None:
        layer = TransactionLayer()
        to_bob = layer.send_request(make_request("OPTIONS", IdSource(24)), BOB, 0.0)
        elsewhere = Peer("10.0.0.9", 5060)
        layer.send_request(make_request("OPTIONS", IdSource(25)), elsewhere, 0.0)
        layer.transport_error(BOB, 0.1)
        assert drain(layer) == [TransportFailed(to_bob), TransactionTerminated(to_bob)]
        assert [key[1] for key in layer.client_transactions] == ["OPTIONS"]
        assert next(iter(layer.client_transactions.values())).peer == elsewhere

    def test_timers_of_all_transactions_fire_in_time_order(self) -> None:
        layer = TransactionLayer()
        first = layer.send_request(make_request("OPTIONS", IdSource(26)), BOB, 0.0)
        second = layer.send_request(make_request("OPTIONS", IdSource(27)), BOB, 0.2)
        assert layer.get_timer() == 0.5
        layer.datagrams_to_send()
        layer.handle_timer(2.0)  # first at 0.5, 1.5; second at 0.7, 1.7
        branches = [parse_message(data).branch for data, _ in layer.datagrams_to_send()]
        assert branches == [first.request.branch, second.request.branch] * 2
        assert layer.get_timer() == 3.5
        layer.handle_timer(40.0)
        assert drain(layer) == [
            TransactionTimedOut(first, "F"), TransactionTerminated(first),
            TransactionTimedOut(second, "F"), TransactionTerminated(second),
        ]
        assert layer.get_timer() is None
        assert layer.client_transactions == {}

    def test_live_transaction_tables_are_read_only(self) -> None:
        layer = TransactionLayer()
        layer.send_request(make_request("OPTIONS", IdSource(28)), BOB, 0.0)
        with pytest.raises(TypeError):
            layer.client_transactions[("z9hG4bKx", "BYE")] = None  # type: ignore[index]


class TestAbandon:
    """§9.1: "If no final response is received within 64*T1 seconds after the CANCEL,
    the client transaction is considered terminated" — the TU says so with abandon()."""

    def test_invite_whose_cancel_is_never_answered_stays_in_proceeding(
        self, net: SimNetwork, alice: TransactionLayer, bob: TransactionLayer
    ) -> None:
        """The gap abandon() closes: no row of the table ends Proceeding without a final."""
        invite = make_request("INVITE", IdSource(40))
        client = alice.send_request(invite, BOB, net.now)
        net.run_until(0.1)
        incoming(bob)  # Bob rings (the 100 Trying) and never answers anything again
        alice.send_request(build_cancel(invite), BOB, net.now)
        net.run_until(100.0)
        assert client.state is State.PROCEEDING
        assert client.get_timer() is None
        assert list(alice.client_transactions.values()) == [client]

    def test_abandon_terminates_it_and_empties_the_table(
        self, net: SimNetwork, alice: TransactionLayer, bob: TransactionLayer
    ) -> None:
        invite = make_request("INVITE", IdSource(41))
        client = alice.send_request(invite, BOB, net.now)
        net.run_until(0.1)
        incoming(bob)
        drain(alice)
        alice.abandon(client, 32.1)
        assert client.state is State.TERMINATED
        assert client.history[-1] == (32.1, "abandoned by the TU", State.TERMINATED)
        assert drain(alice) == [TransactionTerminated(client)]
        assert alice.client_transactions == {}
        assert alice.get_timer() is None
        # The 487 that comes too late matches nothing and is dropped (RFC 6026 §7.3).
        bob_invite = next(iter(bob.server_transactions.values()))
        bob.send_response(bob_invite, build_response(invite, 487, to_tag="late"), net.now)
        net.run_until(net.now + 0.1)
        assert [type(e).__name__ for e in drain(alice)] == ["MessageDiscarded"]

    def test_abandon_stops_the_retransmissions_of_a_calling_transaction(self) -> None:
        layer = TransactionLayer()
        client = layer.send_request(make_request("INVITE", IdSource(42)), BOB, 0.0)
        layer.abandon(client, 0.2)
        layer.datagrams_to_send()
        layer.handle_timer(40.0)
        assert layer.datagrams_to_send() == []
        assert drain(layer) == [TransactionTerminated(client)]

    def test_abandoning_an_ended_transaction_does_nothing(self) -> None:
        layer = TransactionLayer()
        client = layer.send_request(make_request("OPTIONS", IdSource(43)), BOB, 0.0)
        layer.handle_timer(40.0)  # Timer F
        drain(layer)
        layer.abandon(client, 41.0)
        assert drain(layer) == []

    def test_a_transaction_of_another_layer_is_refused(self) -> None:
        mine, other = TransactionLayer(), TransactionLayer()
        client = other.send_request(make_request("INVITE", IdSource(44)), BOB, 0.0)
        with pytest.raises(LocalProtocolError):
            mine.abandon(client, 1.0)


class TestLogging:
    """The ``siplab.transaction`` logger: creation, each change of state, no bodies."""

    def test_debug_lines_for_creation_state_changes_and_the_end(
        self, net: SimNetwork, alice: TransactionLayer, bob: TransactionLayer,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        caplog.set_level("DEBUG", logger="siplab.transaction")
        request = make_request("OPTIONS", IdSource(45))
        request.set_body(b"secret body", "text/plain")
        alice.send_request(request, BOB, net.now)
        net.run_until(0.1)
        server = incoming(bob, "OPTIONS")
        bob.send_response(server, build_response(server.request, 200, to_tag="b"), net.now)
        net.run_until(40.0)
        branch = request.branch
        lines = [r.getMessage() for r in caplog.records if r.name == "siplab.transaction"]
        assert lines == [
            f"OPTIONS client {branch}: created to udp:10.0.0.2:5060, Trying",
            f"OPTIONS server {branch}: created from udp:10.0.0.1:5060, Trying",
            f"OPTIONS server {branch}: Trying -> Completed on send 2xx",
            f"OPTIONS client {branch}: Trying -> Completed on 2xx",
            f"OPTIONS client {branch}: Completed -> Terminated on Timer K",
            f"OPTIONS server {branch}: Completed -> Terminated on Timer J",
        ]
        assert all("secret" not in line for line in lines)
