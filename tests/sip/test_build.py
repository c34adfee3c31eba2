"""Building requests and responses (RFC 3261 §8.1.1, §8.2.6, §9.1, §17.1.1.3, §18.2; RFC 3581).

What a user would check on the wire: every mandatory header is there, the
headers a response or a CANCEL must copy are copied exactly, and the Via that
a server marks tells it where to send the response.
"""

from __future__ import annotations

import pytest

from siplab.ids import IdSource
from siplab.sip.build import (
    build_ack_for_failure,
    build_cancel,
    build_request,
    build_response,
    make_via,
    mark_received,
    response_destination,
)
from siplab.sip.headers import parse_via
from siplab.sip.message import Request, Response, parse_message
from tests.sip.corpus_loader import load_corpus

CORPUS = load_corpus()


def corpus_request(name: str) -> Request:
    message = parse_message(CORPUS[name])
    assert isinstance(message, Request)
    return message


def corpus_response(name: str) -> Response:
    message = parse_message(CORPUS[name])
    assert isinstance(message, Response)
    return message


def invite(ids: IdSource | None = None) -> Request:
    return build_request(
        "INVITE",
        "sip:bob@biloxi.example.com",
        from_="Alice <sip:alice@atlanta.example.com>",
        to="Bob <sip:bob@biloxi.example.com>",
        via_host="pc33.atlanta.example.com",
        via_port=5060,
        ids=ids or IdSource(7),
        contact="<sip:alice@pc33.atlanta.example.com>",
        body=b"v=0\r\n",
        content_type="application/sdp",
    )


class TestBuildRequest:
    """§8.1.1: the headers every new request needs."""

    def test_request_has_every_mandatory_header(self) -> None:
        request = invite()
        assert request.missing_headers() == []
        request.validate()
        assert request.max_forwards == 70
        assert request.cseq == (1, "INVITE")
        assert request.via_count == 1
        assert request.content_type == "application/sdp"
        assert request.content_length == len(request.body) == 5
        assert str(request.contact[0].uri) == "sip:alice@pc33.atlanta.example.com"

    def test_branch_has_the_magic_cookie_and_from_a_tag(self) -> None:
        request = invite()
        assert request.branch is not None
        assert request.branch.startswith("z9hG4bK")
        assert len(request.branch) > len("z9hG4bK")
        assert request.from_tag
        assert request.to_tag is None
        via = request.top_via
        assert (via.transport, via.host, via.port, via.wants_rport) == (
            "UDP", "pc33.atlanta.example.com", 5060, True)

    def test_seeded_ids_make_the_same_request_twice(self) -> None:
        first, second = invite(IdSource(42)), invite(IdSource(42))
        assert first.to_bytes() == second.to_bytes()
        assert invite(IdSource(43)).to_bytes() != first.to_bytes()

    def test_given_tag_call_id_branch_and_cseq_are_used(self) -> None:
        request = build_request(
            "OPTIONS", "sip:biloxi.example.com",
            from_="<sip:alice@atlanta.example.com>;tag=mine", to="<sip:biloxi.example.com>",
            via_host="192.0.2.1", ids=IdSource(1), call_id="cid@x", cseq=9,
            branch="z9hG4bKfixed", transport="tcp", max_forwards=10,
            user_agent="siplab-test", headers=[("Accept", "application/sdp")],
        )
        assert request.from_tag == "mine"
        assert request.call_id == "cid@x"
        assert request.branch == "z9hG4bKfixed"
        assert request.cseq == (9, "OPTIONS")
        assert request.top_via.transport == "TCP"
        assert request.max_forwards == 10
        assert request.headers.get("User-Agent") == "siplab-test"
        assert request.headers.get("Accept") == "application/sdp"
        assert request.content_type is None
        assert request.content_length == 0

    def test_route_set_is_written_in_order(self) -> None:
        request = build_request(
            "INVITE", "sip:bob@biloxi.example.com", from_="<sip:a@atlanta.example.com>",
            to="<sip:bob@biloxi.example.com>", via_host="h", ids=IdSource(1),
            route=["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"],
        )
        assert [str(r.uri) for r in request.route] == [
            "sip:p1.example.com;lr", "sip:p2.example.com;lr"]

    def test_built_request_round_trips(self) -> None:
        request = invite()
        assert parse_message(request.to_bytes()) == request

    def test_extra_header_with_crlf_is_refused(self) -> None:
        with pytest.raises(ValueError, match="CR, LF or NUL"):
            build_request("OPTIONS", "sip:b@example.com", from_="<sip:a@example.com>",
                          to="<sip:b@example.com>", via_host="h", ids=IdSource(1),
                          headers=[("Subject", "x\r\nVia: SIP/2.0/UDP evil")])

    def test_make_via_brackets_a_bare_ipv6_address(self) -> None:
        assert make_via("udp", "2001:db8::1", 5060, "z9hG4bK1") == (
            "SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK1;rport")
        assert make_via("TCP", "[2001:db8::1]", None, "z9hG4bK1", rport=False) == (
            "SIP/2.0/TCP [2001:db8::1];branch=z9hG4bK1")


class TestBuildResponse:
    """§8.2.6: what a response copies from its request."""

    def test_response_copies_via_from_to_call_id_and_cseq(self) -> None:
        request = corpus_request("invite_with_sdp_and_record_route")
        response = build_response(request, 486, to_tag="b0b")
        assert response.headers.get_all("Via") == request.headers.get_all("Via")
        assert response.headers.get("From") == request.headers.get("From")
        assert response.call_id == request.call_id
        assert response.headers.get("CSeq") == request.headers.get("CSeq")
        assert response.to_tag == "b0b"
        assert response.to.uri == request.to.uri
        assert response.reason == "Busy Here"
        assert response.missing_headers() == []
        response.validate()
        assert parse_message(response.to_bytes()) == response

    def test_every_via_is_copied_in_order_even_from_one_line(self) -> None:
        request = corpus_request("options")
        request.headers.prepend("Via", "SIP/2.0/UDP p2.example.com;branch=z9hG4bK2, "
                                       "SIP/2.0/UDP p1.example.com;branch=z9hG4bK1")
        response = build_response(request, 200, to_tag="t")
        assert [v.host for v in response.via] == [v.host for v in request.via] == [
            "p2.example.com", "p1.example.com", "pc33.atlanta.example.com"]

    def test_no_tag_on_100_trying_but_timestamp_copied(self) -> None:
        request = corpus_request("invite_with_sdp_and_record_route")
        request.headers.add("Timestamp", "54")
        trying = build_response(request, 100, to_tag="ignored")
        assert trying.to_tag is None
        assert trying.headers.get("Timestamp") == "54"
        assert "Record-Route" not in trying.headers
        ringing = build_response(request, 180, to_tag="b0b")
        assert "Timestamp" not in ringing.headers

    def test_existing_to_tag_is_kept(self) -> None:
        request = corpus_request("bye")
        response = build_response(request, 200, to_tag="other")
        assert response.to_tag == request.to_tag == "9fxc7e2b"

    def test_record_route_copied_on_dialog_creating_responses(self) -> None:
        request = corpus_request("invite_with_sdp_and_record_route")
        ok = build_response(request, 200, to_tag="b0b", body=b"v=0\r\n",
                            content_type="application/sdp")
        assert ok.headers.get_all("Record-Route") == ["<sip:ss1.atlanta.example.com;lr>"]
        assert ok.content_type == "application/sdp"
        assert ok.body == b"v=0\r\n"
        assert ok.content_length == 5
        assert "Record-Route" not in build_response(request, 486, to_tag="b0b").headers


class TestCancelAndAck:
    """§9.1 CANCEL and §17.1.1.3 ACK for a non-2xx final response."""

    def test_cancel_matches_the_request_it_cancels(self) -> None:
        request = corpus_request("invite_with_sdp_and_record_route")
        request.headers.add("Route", "<sip:p9.example.com;lr>")
        cancel = build_cancel(request)
        assert cancel.method == "CANCEL"
        assert cancel.uri_text == request.uri_text
        assert cancel.call_id == request.call_id
        assert cancel.headers.get("To") == request.headers.get("To")
        assert cancel.headers.get("From") == request.headers.get("From")
        assert cancel.cseq == (request.cseq.number, "CANCEL")
        assert cancel.via_count == 1
        assert cancel.top_via == request.top_via
        assert cancel.branch == request.branch
        assert cancel.headers.get_all("Route") == request.headers.get_all("Route")
        cancel.validate()

    def test_cancel_built_like_the_corpus_cancel(self) -> None:
        # The corpus INVITE as Alice sent it (before the proxy added its Via).
        request = corpus_request("invite_with_sdp_and_record_route")
        request.headers.pop_first("Via")
        request.headers.remove("Record-Route")
        request.headers.set("Max-Forwards", "70")
        cancel = build_cancel(request)
        expected = corpus_request("cancel")
        assert cancel.start_line == expected.start_line
        for name in ("From", "To", "Call-ID", "CSeq", "Max-Forwards"):
            assert cancel.headers.get(name) == expected.headers.get(name)
        ours, theirs = cancel.top_via, expected.top_via  # ours also has the proxy's received=
        assert (ours.host, ours.port, ours.branch) == (theirs.host, theirs.port, theirs.branch)

    def test_ack_for_a_failure_belongs_to_the_invite_transaction(self) -> None:
        request = corpus_request("invite_with_sdp_and_record_route")
        request.headers.pop_first("Via")
        request.headers.add("Route", "<sip:p9.example.com;lr>")
        response = corpus_response("487_request_terminated")
        ack = build_ack_for_failure(request, response)
        assert ack.method == "ACK"
        assert ack.uri_text == request.uri_text
        assert ack.call_id == request.call_id
        assert ack.headers.get("From") == request.headers.get("From")
        assert ack.headers.get("To") == response.headers.get("To")
        assert ack.to_tag == "314159"
        assert ack.cseq == (request.cseq.number, "ACK")
        assert ack.via_count == 1
        assert ack.branch == request.branch
        assert ack.headers.get_all("Route") == ["<sip:p9.example.com;lr>"]
        assert ack.body == b""
        assert ack.content_length == 0
        ack.validate()


class TestReceivedAndRport:
    """§18.2.1 received, RFC 3581 §4 rport, §18.2.2 where responses go."""

    def request_with_via(self, via: str) -> Request:
        return Request("OPTIONS", "sip:b@example.com", [("Via", via), ("CSeq", "1 OPTIONS")])

    def test_rfc3581_example_fills_in_received_and_rport(self) -> None:
        request = self.request_with_via("SIP/2.0/UDP 10.1.1.1:4540;rport;branch=z9hG4bKkjshdyff")
        mark_received(request, "192.0.2.1", 9988)
        via = request.top_via
        assert via.received == "192.0.2.1"
        assert via.rport == 9988
        assert via.branch == "z9hG4bKkjshdyff"
        assert response_destination(via) == ("192.0.2.1", 9988)

    def test_rport_request_gets_received_even_from_the_same_address(self) -> None:
        request = self.request_with_via("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1;rport")
        mark_received(request, "192.0.2.1", 5060)
        assert request.top_via.received == "192.0.2.1"
        assert request.top_via.rport == 5060

    def test_same_address_without_rport_is_left_alone(self) -> None:
        request = self.request_with_via("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1")
        before = request.to_bytes()
        mark_received(request, "192.0.2.1", 5070)
        assert request.to_bytes() == before
        assert response_destination(request.top_via) == ("192.0.2.1", 5060)

    def test_host_name_in_sent_by_always_gets_received(self) -> None:
        request = self.request_with_via("SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK1")
        mark_received(request, "192.0.2.101", 5062)
        via = request.top_via
        assert via.received == "192.0.2.101"
        assert via.rport is None
        assert response_destination(via) == ("192.0.2.101", 5060)

    def test_ipv6_spellings_of_one_address_are_the_same_host(self) -> None:
        request = self.request_with_via("SIP/2.0/UDP [2001:DB8:0::1]:5060;branch=z9hG4bK1")
        mark_received(request, "2001:db8::1", 5060)
        assert request.top_via.received is None
        mark_received(request, "[2001:db8::2]", 5060)
        assert request.top_via.received == "2001:db8::2"
        assert response_destination(request.top_via) == ("2001:db8::2", 5060)

    def test_only_the_top_via_of_a_shared_line_changes(self) -> None:
        request = self.request_with_via(
            'SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1;rport;x="a,b", SIP/2.0/UDP p.example.com'
            ";branch=z9hG4bK0")
        mark_received(request, "192.0.2.7", 1234)
        top, second = request.via
        assert (top.received, top.rport, top.param("x")) == ("192.0.2.7", 1234, '"a,b"')
        assert second.host == "p.example.com"
        assert second.received is None
        assert request.via_count == 2

    def test_request_without_via_is_left_alone(self) -> None:
        request = Request("OPTIONS", "sip:b@example.com")
        mark_received(request, "192.0.2.1", 5060)
        assert len(request.headers) == 0

    def test_response_destination_defaults(self) -> None:
        assert response_destination(parse_via("SIP/2.0/UDP h.example.com")) == (
            "h.example.com", 5060)
        assert response_destination(parse_via("SIP/2.0/TLS h.example.com"), 5061) == (
            "h.example.com", 5061)
        assert response_destination(parse_via("SIP/2.0/UDP [2001:db8::5]:5070")) == (
            "2001:db8::5", 5070)
        assert response_destination(
            parse_via("SIP/2.0/UDP h.example.com:5070;received=192.0.2.3")) == ("192.0.2.3", 5070)
