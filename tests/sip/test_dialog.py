"""Dialogs, read as a ladder (RFC 3261 §12, §13.2.2.4, §16.12; RFC 3665 §3.1-style flows).

Alice (client.atlanta.example.com) calls Bob through the proxy ss1.example.com,
which record-routes with ``<sip:ss1.example.com;lr>``; some tests add a second
proxy, ss2.example.com, next to Bob::

    Alice                 ss1                  Bob
      | INVITE (CSeq 1)    |  INVITE            |
      |------------------->|------------------->|
      |          180 Ringing (To tag 314159)    |
      |<-------------------|<-------------------|
      |          200 OK                         |
      |<-------------------|<-------------------|
      | ACK (new branch, CSeq 1 ACK, via ss1)   |
      |------------------->|------------------->|
      | BYE (CSeq 2)       |                    |
      |------------------->|------------------->|
"""

from __future__ import annotations

import pytest

from siplab.errors import InvalidStateError, LocalProtocolError, RemoteProtocolError
from siplab.ids import IdSource
from siplab.sip.dialog import Dialog, DialogId, DialogState, Role, dialog_id_of
from siplab.sip.headers import parse_address
from siplab.sip.message import Request, Response, parse_message
from siplab.sip.uri import parse_uri
from tests.helpers import crlf

CALL_ID = "3848276298220188511@atlanta.example.com"
ALICE_TAG = "9fxced76sl"
BOB_TAG = "314159"
ALICE_CONTACT = "sip:alice@client.atlanta.example.com;transport=udp"
BOB_CONTACT = "sip:bob@client.biloxi.example.com;transport=udp"
SS1 = "<sip:ss1.example.com;lr>"
SS2 = "<sip:ss2.example.com;lr>"


def request(text: str) -> Request:
    message = parse_message(crlf(text))
    assert isinstance(message, Request)
    return message


def response(text: str) -> Response:
    message = parse_message(crlf(text))
    assert isinstance(message, Response)
    return message


def alice_invite() -> Request:
    """F1: Alice's INVITE as she sends it, through her outbound proxy ss1."""
    return request(f"""
        INVITE sip:bob@biloxi.example.com SIP/2.0
        Via: SIP/2.0/UDP client.atlanta.example.com:5060;branch=z9hG4bK74bf9
        Max-Forwards: 70
        Route: {SS1}
        From: Alice <sip:alice@atlanta.example.com>;tag={ALICE_TAG}
        To: Bob <sip:bob@biloxi.example.com>
        Call-ID: {CALL_ID}
        CSeq: 1 INVITE
        Contact: <{ALICE_CONTACT}>
        Content-Length: 0

        """)


def bob_response(
    status: str = "200 OK",
    *,
    record_route: str = SS1,
    contact: str | None = BOB_CONTACT,
    to_tag: str | None = BOB_TAG,
    cseq: str = "1 INVITE",
) -> Response:
    """Bob's answer to Alice's INVITE, as it reaches Alice."""
    to_params = f";tag={to_tag}" if to_tag else ""
    rr_line = f"Record-Route: {record_route}\n        " if record_route else ""
    contact_line = f"Contact: <{contact}>\n        " if contact else ""
    return response(f"""
        SIP/2.0 {status}
        Via: SIP/2.0/UDP client.atlanta.example.com:5060;branch=z9hG4bK74bf9;received=192.0.2.101
        {rr_line}From: Alice <sip:alice@atlanta.example.com>;tag={ALICE_TAG}
        To: Bob <sip:bob@biloxi.example.com>{to_params}
        Call-ID: {CALL_ID}
        CSeq: {cseq}
        {contact_line}Content-Length: 0

        """)


def invite_at_bob(record_route: str = f"{SS2}, {SS1}") -> Request:
    """F3: the INVITE as Bob receives it, after ss1 and then ss2 record-routed it."""
    return request(f"""
        INVITE sip:bob@client.biloxi.example.com SIP/2.0
        Via: SIP/2.0/UDP ss2.example.com:5060;branch=z9hG4bK721e4.1
        Via: SIP/2.0/UDP ss1.example.com:5060;branch=z9hG4bK2d4790.1
        Via: SIP/2.0/UDP client.atlanta.example.com:5060;branch=z9hG4bK74bf9;received=192.0.2.101
        Max-Forwards: 68
        Record-Route: {record_route}
        From: Alice <sip:alice@atlanta.example.com>;tag={ALICE_TAG}
        To: Bob <sip:bob@biloxi.example.com>
        Call-ID: {CALL_ID}
        CSeq: 1 INVITE
        Contact: <{ALICE_CONTACT}>
        Content-Length: 0

        """)


def alice_in_call(record_route: str = SS1) -> Dialog:
    """Alice's confirmed dialog after 180 and 200."""
    dialog = Dialog.from_uac_response(alice_invite(), bob_response("180 Ringing",
                                                                   record_route=record_route))
    dialog.update_from_response(bob_response(record_route=record_route))
    return dialog


def request_from_alice(method: str, cseq: int, *, contact: str | None = None,
                       record_route: str | None = None) -> Request:
    """A request Alice sends Bob inside the dialog, as Bob receives it."""
    extra = ""
    if contact:
        extra += f"Contact: <{contact}>\n        "
    if record_route:
        extra += f"Record-Route: {record_route}\n        "
    return request(f"""
        {method} {BOB_CONTACT} SIP/2.0
        Via: SIP/2.0/UDP ss1.example.com:5060;branch=z9hG4bK{method.lower()}{cseq}.1
        Via: SIP/2.0/UDP client.atlanta.example.com:5060;branch=z9hG4bKa{cseq};received=192.0.2.101
        Max-Forwards: 69
        From: Alice <sip:alice@atlanta.example.com>;tag={ALICE_TAG}
        To: Bob <sip:bob@biloxi.example.com>;tag={BOB_TAG}
        Call-ID: {CALL_ID}
        CSeq: {cseq} {method}
        {extra}Content-Length: 0

        """)


def bob_in_call() -> Dialog:
    """Bob's confirmed dialog after he answered the two-proxy INVITE with 200."""
    return Dialog.from_uas_request(invite_at_bob(), BOB_TAG, state=DialogState.Confirmed)


def routes(message: Request) -> list[str]:
    return [str(address) for address in message.route]


class TestCallerDialog:
    """§12.1.2: Alice's UA makes the dialog from Bob's 1xx/2xx; §13.2.2.4: the 2xx confirms it."""

    def test_uac_180_with_to_tag_creates_an_early_dialog(self) -> None:
        dialog = Dialog.from_uac_response(alice_invite(), bob_response("180 Ringing"))
        assert dialog.state is DialogState.Early
        assert dialog.role is Role.UAC
        assert dialog.id == DialogId(CALL_ID, ALICE_TAG, BOB_TAG)
        assert str(dialog.local_uri) == "Alice <sip:alice@atlanta.example.com>"
        assert str(dialog.remote_uri) == "Bob <sip:bob@biloxi.example.com>"
        assert str(dialog.remote_target) == BOB_CONTACT
        assert [str(a) for a in dialog.route_set] == [SS1]
        assert (dialog.local_seq, dialog.remote_seq) == (1, None)
        assert dialog.secure is False

    def test_uac_200_confirms_the_early_dialog(self) -> None:
        dialog = Dialog.from_uac_response(alice_invite(), bob_response("180 Ringing"))
        dialog.update_from_response(bob_response("200 OK"))
        assert dialog.state is DialogState.Confirmed
        assert str(dialog.remote_target) == BOB_CONTACT
        assert dialog.local_seq == 1

    def test_uac_200_without_a_180_creates_a_confirmed_dialog(self) -> None:
        dialog = Dialog.from_uac_response(alice_invite(), bob_response("200 OK"))
        assert dialog.state is DialogState.Confirmed

    def test_uac_route_set_is_the_record_route_of_the_response_reversed(self) -> None:
        # The 200 carries ss2 (near Bob) above ss1 (near Alice); Alice's requests
        # reach ss1 first, so her route set starts with it.
        ok = bob_response(record_route=f"{SS2}, {SS1}")
        dialog = Dialog.from_uac_response(alice_invite(), ok)
        assert [str(a) for a in dialog.route_set] == [SS1, SS2]
        assert str(dialog.next_hop) == "sip:ss1.example.com;lr"

    def test_uac_route_set_is_recomputed_from_the_2xx_that_confirms_an_early_dialog(self) -> None:
        # Contrived on purpose (ss2 record-routes only the 2xx) so the rule shows:
        # the confirmed dialog's route set is the 2xx's, not the 180's (§13.2.2.4).
        dialog = Dialog.from_uac_response(alice_invite(), bob_response("180 Ringing"))
        assert [str(a) for a in dialog.route_set] == [SS1]
        dialog.update_from_response(bob_response(record_route=f"{SS2}, {SS1}"))
        assert [str(a) for a in dialog.route_set] == [SS1, SS2]

    def test_uac_2xx_to_a_reinvite_refreshes_the_target_but_never_the_route_set(self) -> None:
        # §12.2.1.2: target refresh changes the remote target only; §12.2: the
        # route set is fixed once the dialog is confirmed.
        dialog = alice_in_call()
        dialog.create_request("INVITE", via_host="client.atlanta.example.com", ids=IdSource(1),
                              contact=f"<{ALICE_CONTACT}>")
        dialog.update_from_response(bob_response(
            record_route=f"{SS2}, {SS1}", contact="sip:bob@192.0.2.4:5062", cseq="2 INVITE"))
        assert str(dialog.remote_target) == "sip:bob@192.0.2.4:5062"
        assert [str(a) for a in dialog.route_set] == [SS1]

    def test_uac_2xx_to_the_invite_again_does_not_change_the_route_set(self) -> None:
        dialog = alice_in_call()
        dialog.update_from_response(bob_response(record_route=f"{SS2}, {SS1}"))
        assert [str(a) for a in dialog.route_set] == [SS1]

    def test_uac_response_without_a_to_tag_cannot_make_a_dialog(self) -> None:
        with pytest.raises(RemoteProtocolError, match="no To tag"):
            Dialog.from_uac_response(alice_invite(), bob_response("180 Ringing", to_tag=None))

    def test_uac_2xx_without_a_contact_cannot_make_a_dialog(self) -> None:
        with pytest.raises(RemoteProtocolError, match="no Contact"):
            Dialog.from_uac_response(alice_invite(), bob_response("200 OK", contact=None))

    def test_uac_2xx_without_a_contact_cannot_confirm_an_early_dialog(self) -> None:
        dialog = Dialog.from_uac_response(alice_invite(), bob_response("180 Ringing"))
        with pytest.raises(RemoteProtocolError, match="no Contact"):
            dialog.update_from_response(bob_response("200 OK", contact=None))
        assert dialog.state is DialogState.Early

    def test_uac_1xx_without_a_contact_targets_the_request_uri_until_the_2xx(self) -> None:
        dialog = Dialog.from_uac_response(alice_invite(), bob_response("180 Ringing", contact=None))
        assert str(dialog.remote_target) == "sip:bob@biloxi.example.com"
        dialog.update_from_response(bob_response("200 OK"))
        assert str(dialog.remote_target) == BOB_CONTACT

    def test_uac_100_trying_does_not_create_a_dialog(self) -> None:
        with pytest.raises(LocalProtocolError, match="101-299"):
            Dialog.from_uac_response(alice_invite(), bob_response("100 Trying"))

    def test_uac_failure_to_the_invite_terminates_the_early_dialog(self) -> None:
        # §12.3: a non-2xx final response ends the early dialogs of its request.
        dialog = Dialog.from_uac_response(alice_invite(), bob_response("180 Ringing"))
        dialog.update_from_response(bob_response("486 Busy Here"))
        assert dialog.state is DialogState.Terminated

    def test_uac_481_to_a_request_in_the_dialog_terminates_it(self) -> None:
        # §12.2.1.2: 481 or 408 to a request within a dialog ends the dialog.
        dialog = alice_in_call()
        dialog.create_request("INFO", via_host="client.atlanta.example.com", ids=IdSource(1))
        dialog.update_from_response(
            bob_response("481 Call/Transaction Does Not Exist", cseq="2 INFO"))
        assert dialog.state is DialogState.Terminated

    def test_uac_response_of_another_dialog_is_refused(self) -> None:
        # A forked 200 from another phone has another To tag: another dialog.
        dialog = alice_in_call()
        with pytest.raises(LocalProtocolError, match="belongs to dialog"):
            dialog.update_from_response(bob_response(to_tag="other"))


class TestCalleeDialog:
    """§12.1.1: Bob's UA makes the dialog from the INVITE it answers."""

    def test_uas_route_set_is_the_record_route_of_the_request_in_order(self) -> None:
        dialog = Dialog.from_uas_request(invite_at_bob(), BOB_TAG)
        assert [str(a) for a in dialog.route_set] == [SS2, SS1]
        assert str(dialog.next_hop) == "sip:ss2.example.com;lr"

    def test_uas_dialog_takes_target_tags_and_sequence_from_the_invite(self) -> None:
        dialog = Dialog.from_uas_request(invite_at_bob(), BOB_TAG)
        assert dialog.state is DialogState.Early
        assert dialog.role is Role.UAS
        assert dialog.id == DialogId(CALL_ID, BOB_TAG, ALICE_TAG)
        assert str(dialog.local_uri) == "Bob <sip:bob@biloxi.example.com>"
        assert str(dialog.remote_uri) == "Alice <sip:alice@atlanta.example.com>"
        assert str(dialog.remote_target) == ALICE_CONTACT
        assert (dialog.local_seq, dialog.remote_seq) == (None, 1)

    def test_uas_dialog_is_confirmed_when_bob_sends_his_2xx(self) -> None:
        dialog = Dialog.from_uas_request(invite_at_bob(), BOB_TAG)
        dialog.confirm()
        assert dialog.state is DialogState.Confirmed

    def test_uas_invite_without_a_contact_cannot_make_a_dialog(self) -> None:
        invite = invite_at_bob()
        invite.headers.remove("Contact")
        with pytest.raises(RemoteProtocolError, match="no Contact"):
            Dialog.from_uas_request(invite, BOB_TAG)

    def test_uas_invite_without_a_from_tag_cannot_make_a_dialog(self) -> None:
        invite = invite_at_bob()
        invite.headers.set("From", "Alice <sip:alice@atlanta.example.com>")
        with pytest.raises(RemoteProtocolError, match="no From tag"):
            Dialog.from_uas_request(invite, BOB_TAG)

    def test_uas_dialog_over_tls_to_a_sips_uri_is_secure(self) -> None:
        invite = invite_at_bob()
        invite.uri = parse_uri("sips:bob@client.biloxi.example.com")
        invite.headers.replace_first("Via", "SIP/2.0/TLS ss2.example.com;branch=z9hG4bK721e4.1")
        assert Dialog.from_uas_request(invite, BOB_TAG).secure is True


class TestRequestsInTheDialog:
    """§12.2.1.1: the requests a UA sends inside a dialog, and §16.12 loose/strict routing."""

    def test_alice_bye_goes_to_bob_contact_through_ss1(self) -> None:
        dialog = alice_in_call()
        bye = dialog.create_request(
            "BYE", via_host="client.atlanta.example.com", via_port=5060, ids=IdSource(7))
        branch = IdSource(7).branch()
        assert bye.to_bytes() == crlf(f"""
            BYE {BOB_CONTACT} SIP/2.0
            Via: SIP/2.0/UDP client.atlanta.example.com:5060;branch={branch};rport
            Max-Forwards: 70
            Route: {SS1}
            To: Bob <sip:bob@biloxi.example.com>;tag={BOB_TAG}
            From: Alice <sip:alice@atlanta.example.com>;tag={ALICE_TAG}
            Call-ID: {CALL_ID}
            CSeq: 2 BYE
            Content-Length: 0

            """)
        assert dialog.local_seq == 2
        assert str(dialog.next_hop) == "sip:ss1.example.com;lr"

    def test_each_request_gets_the_next_cseq(self) -> None:
        dialog = alice_in_call()
        ids = IdSource(1)
        info = dialog.create_request("INFO", via_host="client.atlanta.example.com", ids=ids)
        bye = dialog.create_request("BYE", via_host="client.atlanta.example.com", ids=ids)
        assert (str(info.cseq), str(bye.cseq)) == ("2 INFO", "3 BYE")
        assert info.branch != bye.branch

    def test_loose_routing_keeps_the_target_in_the_request_uri_and_routes_in_order(self) -> None:
        dialog = alice_in_call(record_route=f"{SS2}, {SS1}")
        bye = dialog.create_request("BYE", via_host="client.atlanta.example.com", ids=IdSource(1))
        assert bye.uri_text == BOB_CONTACT
        assert routes(bye) == [SS1, SS2]

    def test_bob_bye_goes_to_alice_contact_with_tags_swapped(self) -> None:
        dialog = bob_in_call()
        bye = dialog.create_request("BYE", via_host="client.biloxi.example.com", ids=IdSource(1))
        assert bye.uri_text == ALICE_CONTACT
        assert routes(bye) == [SS2, SS1]
        assert bye.from_tag == BOB_TAG
        assert bye.to_tag == ALICE_TAG
        assert str(bye.from_) == f"Bob <sip:bob@biloxi.example.com>;tag={BOB_TAG}"
        assert bye.call_id == CALL_ID
        assert str(bye.cseq) == "1 BYE"  # Bob's first request: his sequence starts here
        assert dialog.local_seq == 1

    def test_strict_router_goes_into_the_request_uri_and_the_target_last_in_route(self) -> None:
        # The worked example of §12.2.1.1: proxy1 and proxy2 are strict routers.
        invite = alice_invite()
        ok = bob_response(
            record_route="<sip:proxy4>, <sip:proxy3;lr>, <sip:proxy2>, <sip:proxy1>",
            contact="sip:user@remoteua")
        dialog = Dialog.from_uac_response(invite, ok)
        bye = dialog.create_request("BYE", via_host="client.atlanta.example.com", ids=IdSource(1))
        assert bye.start_line == "BYE sip:proxy1 SIP/2.0"
        assert routes(bye) == [
            "<sip:proxy2>", "<sip:proxy3;lr>", "<sip:proxy4>", "<sip:user@remoteua>"]
        assert str(dialog.next_hop) == "sip:proxy1"

    def test_strict_router_uri_loses_what_a_request_uri_may_not_carry(self) -> None:
        # §12.2.1.1 and Table 1 of §19.1.1: no method parameter in a Request-URI.
        ok = bob_response(record_route="<sip:proxy1;transport=tcp;method=INVITE>")
        dialog = Dialog.from_uac_response(alice_invite(), ok)
        bye = dialog.create_request("BYE", via_host="client.atlanta.example.com", ids=IdSource(1))
        assert bye.uri_text == "sip:proxy1;transport=tcp"
        assert routes(bye) == [f"<{BOB_CONTACT}>"]

    def test_no_route_set_sends_straight_to_the_remote_target(self) -> None:
        dialog = alice_in_call(record_route="")
        bye = dialog.create_request("BYE", via_host="client.atlanta.example.com", ids=IdSource(1))
        assert bye.uri_text == BOB_CONTACT
        assert "Route" not in bye.headers
        assert str(dialog.next_hop) == BOB_CONTACT

    def test_reinvite_must_carry_a_contact(self) -> None:
        dialog = alice_in_call()
        with pytest.raises(LocalProtocolError, match="Contact"):
            dialog.create_request("INVITE", via_host="client.atlanta.example.com", ids=IdSource(1))
        reinvite = dialog.create_request(
            "INVITE", via_host="client.atlanta.example.com", ids=IdSource(1),
            contact=f"<{ALICE_CONTACT}>", body=b"v=0\r\n", content_type="application/sdp")
        assert [str(c.uri) for c in reinvite.contact] == [ALICE_CONTACT]
        assert reinvite.content_type == "application/sdp"
        assert str(reinvite.cseq) == "2 INVITE"

    def test_ack_and_cancel_are_not_made_by_create_request(self) -> None:
        dialog = alice_in_call()
        for method in ("ACK", "CANCEL"):
            with pytest.raises(LocalProtocolError, match="use "):
                dialog.create_request(method, via_host="client.atlanta.example.com",
                                      ids=IdSource(1))
        assert dialog.local_seq == 1

    def test_no_request_in_a_terminated_dialog(self) -> None:
        dialog = alice_in_call()
        dialog.terminate()
        with pytest.raises(InvalidStateError):
            dialog.create_request("BYE", via_host="client.atlanta.example.com", ids=IdSource(1))

    def test_callee_may_not_send_bye_on_an_early_dialog(self) -> None:
        # §15: the callee's UA must not send BYE on an early dialog.
        dialog = Dialog.from_uas_request(invite_at_bob(), BOB_TAG)
        with pytest.raises(InvalidStateError, match="early"):
            dialog.create_request("BYE", via_host="client.biloxi.example.com", ids=IdSource(1))


class TestAckForA2xx:
    """§13.2.2.4: Alice's UA sends the ACK for the 200 itself, outside any transaction."""

    def test_ack_has_the_invite_cseq_number_method_ack_and_a_new_branch(self) -> None:
        invite = alice_invite()
        dialog = alice_in_call()
        ack = dialog.create_ack(invite.cseq.number, via_host="client.atlanta.example.com",
                                ids=IdSource(3))
        assert ack.method == "ACK"
        assert str(ack.cseq) == "1 ACK"
        assert ack.branch == IdSource(3).branch()
        assert ack.branch != invite.branch
        assert ack.uri_text == BOB_CONTACT
        assert routes(ack) == [SS1]
        assert (ack.from_tag, ack.to_tag) == (ALICE_TAG, BOB_TAG)

    def test_ack_does_not_move_the_local_sequence_number(self) -> None:
        dialog = alice_in_call()
        ids = IdSource(3)
        dialog.create_ack(1, via_host="client.atlanta.example.com", ids=ids)
        assert dialog.local_seq == 1
        bye = dialog.create_request("BYE", via_host="client.atlanta.example.com", ids=ids)
        assert str(bye.cseq) == "2 BYE"

    def test_ack_carries_the_answer_when_the_2xx_had_the_offer(self) -> None:
        dialog = alice_in_call()
        ack = dialog.create_ack(1, via_host="client.atlanta.example.com", ids=IdSource(3),
                                body=b"v=0\r\n", content_type="application/sdp")
        assert ack.body == b"v=0\r\n"
        assert ack.content_length == 5

    def test_ack_follows_the_strict_routing_rules_too(self) -> None:
        ok = bob_response(record_route="<sip:proxy2;lr>, <sip:proxy1>", contact="sip:user@remoteua")
        dialog = Dialog.from_uac_response(alice_invite(), ok)
        ack = dialog.create_ack(1, via_host="client.atlanta.example.com", ids=IdSource(3))
        assert ack.uri_text == "sip:proxy1"
        assert routes(ack) == ["<sip:proxy2;lr>", "<sip:user@remoteua>"]

    def test_no_2xx_ack_on_an_early_dialog(self) -> None:
        dialog = Dialog.from_uac_response(alice_invite(), bob_response("180 Ringing"))
        with pytest.raises(InvalidStateError, match="confirmed"):
            dialog.create_ack(1, via_host="client.atlanta.example.com", ids=IdSource(3))


class TestRequestsFromThePeer:
    """§12.2.2: Bob's UA checks the CSeq order and target refreshes of Alice's requests."""

    def test_uas_accepts_an_in_order_request_and_remembers_its_cseq(self) -> None:
        dialog = bob_in_call()
        dialog.receive_request(request_from_alice("INFO", 2))
        assert dialog.remote_seq == 2

    def test_uas_accepts_a_gap_in_cseq_numbers(self) -> None:
        # A request challenged by a proxy is re-sent with a new number (§12.2.2).
        dialog = bob_in_call()
        dialog.receive_request(request_from_alice("BYE", 5))
        assert dialog.remote_seq == 5

    def test_uas_rejects_an_out_of_order_request_with_500(self) -> None:
        dialog = bob_in_call()
        dialog.receive_request(request_from_alice("INFO", 12))
        with pytest.raises(RemoteProtocolError, match="out of order") as caught:
            dialog.receive_request(request_from_alice("INFO", 11))
        assert (caught.value.status, caught.value.reason) == (500, "Server Internal Error")
        assert dialog.remote_seq == 12

    def test_uas_does_not_check_the_cseq_of_an_ack(self) -> None:
        dialog = bob_in_call()
        dialog.receive_request(request_from_alice("INFO", 2))
        dialog.receive_request(request_from_alice("ACK", 1))
        assert dialog.remote_seq == 2

    def test_reinvite_contact_refreshes_the_remote_target(self) -> None:
        dialog = bob_in_call()
        reinvite = request_from_alice("INVITE", 2, contact="sip:alice@192.0.2.101:5070")
        dialog.receive_request(reinvite)
        assert str(dialog.remote_target) == "sip:alice@192.0.2.101:5070"
        bye = dialog.create_request("BYE", via_host="client.biloxi.example.com", ids=IdSource(1))
        assert bye.uri_text == "sip:alice@192.0.2.101:5070"

    def test_record_route_in_a_reinvite_does_not_change_the_route_set(self) -> None:
        dialog = bob_in_call()
        dialog.receive_request(request_from_alice(
            "INVITE", 2, contact=ALICE_CONTACT, record_route="<sip:ss9.example.com;lr>"))
        assert [str(a) for a in dialog.route_set] == [SS2, SS1]

    def test_non_refresh_request_does_not_change_the_remote_target(self) -> None:
        dialog = bob_in_call()
        dialog.receive_request(request_from_alice("INFO", 2, contact="sip:alice@192.0.2.101:5070"))
        assert str(dialog.remote_target) == ALICE_CONTACT

    def test_request_in_a_terminated_dialog_gets_481(self) -> None:
        dialog = bob_in_call()
        dialog.receive_request(request_from_alice("BYE", 2))
        dialog.terminate()
        with pytest.raises(RemoteProtocolError) as caught:
            dialog.receive_request(request_from_alice("INFO", 3))
        assert caught.value.status == 481

    def test_request_of_another_dialog_is_refused(self) -> None:
        dialog = alice_in_call()  # Alice's dialog has the tags the other way round
        with pytest.raises(LocalProtocolError, match="belongs to dialog"):
            dialog.receive_request(request_from_alice("BYE", 2))


class TestDialogIdOf:
    """§12: the same dialog, seen from each side, has its tags swapped."""

    def test_uac_receiving_a_response_reads_its_tag_in_from(self) -> None:
        found = dialog_id_of(bob_response(), role=Role.UAC)
        assert found == DialogId(CALL_ID, ALICE_TAG, BOB_TAG)
        assert found == alice_in_call().id

    def test_uas_receiving_a_request_reads_its_tag_in_to(self) -> None:
        found = dialog_id_of(request_from_alice("BYE", 2), role="UAS")
        assert found == DialogId(CALL_ID, BOB_TAG, ALICE_TAG)
        assert found == bob_in_call().id

    def test_initial_invite_is_in_no_dialog(self) -> None:
        assert dialog_id_of(invite_at_bob(), role=Role.UAS) is None

    def test_terminate_ends_the_dialog(self) -> None:
        dialog = alice_in_call()
        dialog.terminate()
        assert dialog.state is DialogState.Terminated
        assert dialog.state == "Terminated"


def test_remote_target_keeps_every_contact_parameter() -> None:
    """§12.1.2: the remote target is the Contact URI as the peer wrote it."""
    ok = bob_response(contact="sip:bob@192.0.2.4:5062;transport=tcp;ob")
    dialog = Dialog.from_uac_response(alice_invite(), ok)
    assert dialog.remote_target == parse_uri("sip:bob@192.0.2.4:5062;transport=tcp;ob")
    assert dialog.route_set == [parse_address(SS1)]
