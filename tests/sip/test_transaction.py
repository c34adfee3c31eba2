"""The four transaction machines, driven directly (RFC 3261 §17.1, §17.2; RFC 6026 §7).

Each test creates one transaction, feeds it responses, requests and the
time, and checks what a user would: the messages in its outbox, the events it
emits, the state it reaches and when. Timer schedules on a simulated network
are in ``test_transaction_schedules.py``; the tables themselves in
``test_transaction_tables.py``.
"""

from __future__ import annotations

import pytest

from siplab.errors import InvalidStateError
from siplab.sip.build import build_response
from siplab.sip.events import (
    Event,
    RequestReceived,
    ResponseReceived,
    TransactionTerminated,
    TransactionTimedOut,
    TransportFailed,
)
from siplab.sip.message import Request, Response, parse_message
from siplab.sip.timers import TimerConfig
from siplab.sip.transaction import (
    InviteClientTransaction,
    InviteServerTransaction,
    NonInviteClientTransaction,
    NonInviteServerTransaction,
    Transaction,
    TransactionState,
    client_key,
    response_peer,
    server_key,
)
from siplab.sip.transport import Peer
from tests.helpers import crlf

State = TransactionState
BOB_UDP = Peer("192.0.2.2", 5060, "udp")
BOB_TCP = Peer("192.0.2.2", 5060, "tcp")
ALICE_UDP = Peer("192.0.2.1", 5060, "udp")
ALICE_TCP = Peer("192.0.2.1", 49152, "tcp")

INVITE = """
    INVITE sip:bob@biloxi.example.com SIP/2.0
    Via: SIP/2.0/{transport} 192.0.2.1:5060;branch={branch}
    Max-Forwards: 70
    To: Bob <sip:bob@biloxi.example.com>
    From: Alice <sip:alice@atlanta.example.com>;tag=1928301774
    Call-ID: a84b4c76e66710@pc33.atlanta.example.com
    CSeq: 314159 INVITE
    Contact: <sip:alice@192.0.2.1>
    Content-Length: 0

"""

OPTIONS = """
    OPTIONS sip:bob@biloxi.example.com SIP/2.0
    Via: SIP/2.0/{transport} 192.0.2.1:5060;branch={branch}
    Max-Forwards: 70
    To: Bob <sip:bob@biloxi.example.com>
    From: Alice <sip:alice@atlanta.example.com>;tag=88sja8x
    Call-ID: 2xTb9vxSit55XU7p8@pc33.atlanta.example.com
    CSeq: 63104 OPTIONS
    Content-Length: 0

"""

ACK = """
    ACK sip:bob@biloxi.example.com SIP/2.0
    Via: SIP/2.0/{transport} 192.0.2.1:5060;branch={branch}
    Max-Forwards: 70
    To: Bob <sip:bob@biloxi.example.com>;tag={to_tag}
    From: Alice <sip:alice@atlanta.example.com>;tag=1928301774
    Call-ID: a84b4c76e66710@pc33.atlanta.example.com
    CSeq: 314159 ACK
    Content-Length: 0

"""

BRANCH = "z9hG4bK776asdhds"


def request(template: str, *, transport: str = "UDP", branch: str = BRANCH,
            to_tag: str = "a6c85cf") -> Request:
    message = parse_message(crlf(template.format(transport=transport, branch=branch,
                                                 to_tag=to_tag)))
    assert isinstance(message, Request)
    return message


def response(req: Request, status: int, to_tag: str = "a6c85cf") -> Response:
    return build_response(req, status, to_tag=to_tag)


def sent(transaction: Transaction) -> list[tuple[str, Peer]]:
    """Drain the outbox as (start line, destination)."""
    out = []
    for data, peer in transaction.datagrams_to_send():
        out.append((data.split(b"\r\n", 1)[0].decode(), peer))
    return out


def events(transaction: Transaction) -> list[Event]:
    found = []
    while (event := transaction.next_event()) is not None:
        found.append(event)
    return found


def run_to(transaction: Transaction, until: float) -> None:
    """Fire the transaction's timers, one deadline at a time, up to ``until``."""
    while (deadline := transaction.get_timer()) is not None and deadline <= until:
        transaction.handle_timer(deadline)


# -- INVITE client (§17.1.1, RFC 6026 §7.2) -------------------------------------------------


class TestInviteClient:
    """§17.1.1: Calling, Proceeding, Completed; RFC 6026: Accepted and Timer M."""

    def test_invite_client_sends_the_invite_when_created(self) -> None:
        invite = request(INVITE)
        tx = InviteClientTransaction(invite, BOB_UDP, now=0.0)
        assert tx.state is State.CALLING
        assert tx.kind == "INVITE client"
        assert tx.datagrams_to_send() == [(invite.to_bytes(), BOB_UDP)]
        assert tx.running_timers == {"A": 0.5, "B": 32.0}
        assert tx.key == (BRANCH, "INVITE")
        assert not tx.reliable

    def test_invite_client_goes_to_proceeding_on_1xx_and_stops_retransmitting(self) -> None:
        invite = request(INVITE)
        tx = InviteClientTransaction(invite, BOB_UDP, now=0.0)
        sent(tx)
        ringing = response(invite, 180)
        tx.receive_response(ringing, 0.2)
        assert tx.state is State.PROCEEDING
        assert events(tx) == [ResponseReceived(ringing, tx)]
        assert tx.get_timer() is None  # no Timer A, and Timer B only runs in Calling
        tx.receive_response(ringing, 0.3)
        assert events(tx) == [ResponseReceived(ringing, tx)]  # 1xx copies go up too
        assert sent(tx) == []

    def test_invite_client_acks_a_486_and_absorbs_its_copies_until_timer_d(self) -> None:
        invite = request(INVITE)
        tx = InviteClientTransaction(invite, BOB_UDP, now=0.0)
        sent(tx)
        busy = response(invite, 486)
        tx.receive_response(busy, 1.0)
        assert tx.state is State.COMPLETED
        assert events(tx) == [ResponseReceived(busy, tx)]
        (ack_bytes, where), = tx.datagrams_to_send()
        ack = parse_message(ack_bytes)
        assert isinstance(ack, Request)
        assert where == BOB_UDP
        assert ack.method == "ACK"
        assert ack.branch == BRANCH
        assert ack.cseq.number == 314159
        assert ack.cseq.method == "ACK"
        assert ack.to_tag == "a6c85cf"  # To comes from the response (§17.1.1.3)
        assert tx.running_timers == {"D": 33.0}
        # Two copies of the 486: each is absorbed (no event) and ACKed again, same bytes.
        for t in (2.0, 4.0):
            tx.receive_response(busy, t)
            assert events(tx) == []
            assert tx.datagrams_to_send() == [(ack_bytes, BOB_UDP)]
        run_to(tx, 32.999)
        assert tx.state is State.COMPLETED
        run_to(tx, 33.0)
        assert tx.state is State.TERMINATED
        assert tx.history[-1] == (33.0, "Timer D", State.TERMINATED)
        assert events(tx) == [TransactionTerminated(tx)]

    def test_invite_client_over_tcp_terminates_at_once_after_a_failure(self) -> None:
        invite = request(INVITE, transport="TCP")
        tx = InviteClientTransaction(invite, BOB_TCP, now=0.0)
        assert tx.reliable
        assert tx.running_timers == {"B": 32.0}  # no Timer A over TCP
        sent(tx)
        busy = response(invite, 486)
        tx.receive_response(busy, 1.0)
        assert [line for line, _ in sent(tx)] == ["ACK sip:bob@biloxi.example.com SIP/2.0"]
        assert tx.state is State.TERMINATED  # Timer D is 0 over reliable transports
        assert tx.history[-2:] == [(1.0, "300-699", State.COMPLETED),
                                   (1.0, "Timer D", State.TERMINATED)]
        assert events(tx) == [ResponseReceived(busy, tx), TransactionTerminated(tx)]

    def test_invite_client_passes_every_2xx_to_the_tu_and_sends_no_ack(self) -> None:
        """RFC 6026 §7.2: Accepted passes 2xx copies and other forks' 2xx up."""
        invite = request(INVITE)
        tx = InviteClientTransaction(invite, BOB_UDP, now=0.0)
        sent(tx)
        ok = response(invite, 200, to_tag="fork1")
        tx.receive_response(ok, 1.0)
        assert tx.state is State.ACCEPTED
        assert tx.running_timers == {"M": 33.0}
        ok_again = response(invite, 200, to_tag="fork1")
        ok_fork2 = response(invite, 200, to_tag="fork2")
        tx.receive_response(ok_again, 1.5)
        tx.receive_response(ok_fork2, 2.0)
        tx.receive_response(response(invite, 180, to_tag="fork3"), 2.1)  # late 1xx: dropped
        assert events(tx) == [ResponseReceived(ok, tx), ResponseReceived(ok_again, tx),
                              ResponseReceived(ok_fork2, tx)]
        assert sent(tx) == []  # the ACK for a 2xx is the dialog's job (§13.2.2.4)
        run_to(tx, 33.0)
        assert tx.state is State.TERMINATED
        assert tx.history[-1] == (33.0, "Timer M", State.TERMINATED)
        assert events(tx) == [TransactionTerminated(tx)]  # not a timeout

    def test_invite_client_times_out_with_timer_b(self) -> None:
        tx = InviteClientTransaction(request(INVITE), BOB_UDP, now=10.0)
        run_to(tx, 100.0)
        assert events(tx) == [TransactionTimedOut(tx, "B"), TransactionTerminated(tx)]
        assert tx.history[-1] == (42.0, "Timer B", State.TERMINATED)
        assert tx.get_timer() is None

    def test_invite_client_reports_a_transport_error(self) -> None:
        tx = InviteClientTransaction(request(INVITE), BOB_UDP, now=0.0)
        tx.transport_error(0.1)
        assert tx.state is State.TERMINATED
        assert events(tx) == [TransportFailed(tx), TransactionTerminated(tx)]

    def test_invite_client_refuses_input_once_terminated(self) -> None:
        invite = request(INVITE)
        tx = InviteClientTransaction(invite, BOB_UDP, now=0.0)
        tx.transport_error(0.1)
        with pytest.raises(InvalidStateError, match="Terminated"):
            tx.receive_response(response(invite, 200), 0.2)

    def test_invite_client_takes_only_invite(self) -> None:
        with pytest.raises(ValueError, match="cannot take OPTIONS"):
            InviteClientTransaction(request(OPTIONS), BOB_UDP)


# -- non-INVITE client (§17.1.2) -------------------------------------------------------------


class TestNonInviteClient:
    """§17.1.2: Trying, Proceeding, Completed; Timers E, F, K."""

    def test_non_invite_client_absorbs_copies_of_the_final_response_until_timer_k(self) -> None:
        options = request(OPTIONS)
        tx = NonInviteClientTransaction(options, BOB_UDP, now=0.0)
        assert tx.state is State.TRYING
        assert tx.running_timers == {"E": 0.5, "F": 32.0}
        sent(tx)
        ok = response(options, 200)
        tx.receive_response(ok, 0.1)
        assert tx.state is State.COMPLETED
        assert tx.running_timers == {"K": 5.1}  # T4
        tx.receive_response(ok, 0.2)
        tx.receive_response(response(options, 500), 0.3)
        assert events(tx) == [ResponseReceived(ok, tx)]
        assert sent(tx) == []
        run_to(tx, 5.1)
        assert tx.state is State.TERMINATED
        assert tx.history[-1] == (5.1, "Timer K", State.TERMINATED)

    def test_non_invite_client_over_tcp_terminates_on_the_final_response(self) -> None:
        options = request(OPTIONS, transport="TCP")
        tx = NonInviteClientTransaction(options, BOB_TCP, now=0.0)
        assert tx.running_timers == {"F": 32.0}
        ok = response(options, 200)
        tx.receive_response(ok, 0.1)
        assert tx.state is State.TERMINATED
        assert events(tx) == [ResponseReceived(ok, tx), TransactionTerminated(tx)]

    def test_non_invite_client_passes_provisional_responses_up(self) -> None:
        options = request(OPTIONS)
        tx = NonInviteClientTransaction(options, BOB_UDP, now=0.0)
        trying = response(options, 100)
        tx.receive_response(trying, 0.1)
        tx.receive_response(trying, 0.2)
        assert tx.state is State.PROCEEDING
        assert events(tx) == [ResponseReceived(trying, tx), ResponseReceived(trying, tx)]
        assert tx.running_timers == {"E": 0.5, "F": 32.0}  # E keeps running in Proceeding

    def test_non_invite_client_times_out_with_timer_f_even_in_proceeding(self) -> None:
        options = request(OPTIONS)
        tx = NonInviteClientTransaction(options, BOB_UDP, now=0.0)
        tx.receive_response(response(options, 100), 0.1)
        events(tx)
        run_to(tx, 40.0)
        assert events(tx) == [TransactionTimedOut(tx, "F"), TransactionTerminated(tx)]
        assert tx.history[-1] == (32.0, "Timer F", State.TERMINATED)

    @pytest.mark.parametrize("method", ["INVITE", "ACK"])
    def test_non_invite_client_refuses_invite_and_ack(self, method: str) -> None:
        req = request(INVITE) if method == "INVITE" else request(ACK)
        with pytest.raises(ValueError, match=f"cannot take {method}"):
            NonInviteClientTransaction(req, BOB_UDP)


# -- INVITE server (§17.2.1, RFC 6026 §7.1) --------------------------------------------------


class TestInviteServer:
    """§17.2.1: Proceeding, Completed, Confirmed; RFC 6026: Accepted and Timer L."""

    def test_invite_server_passes_the_invite_up_when_created(self) -> None:
        invite = request(INVITE)
        tx = InviteServerTransaction(invite, ALICE_UDP, now=0.0)
        assert tx.state is State.PROCEEDING
        assert events(tx) == [RequestReceived(invite, tx, ALICE_UDP)]
        assert sent(tx) == []  # the layer sends 100 Trying, not the machine
        assert tx.get_timer() is None
        assert tx.key == ("rfc3261", BRANCH, "192.0.2.1:5060", "INVITE")

    def test_invite_server_resends_its_last_provisional_for_a_retransmitted_invite(self) -> None:
        invite = request(INVITE)
        tx = InviteServerTransaction(invite, ALICE_UDP, now=0.0)
        tx.receive_request(invite, 0.1)
        assert sent(tx) == []  # nothing to resend yet
        tx.send_response(response(invite, 100), 0.2)
        tx.send_response(response(invite, 180), 0.3)
        assert [line for line, _ in sent(tx)] == ["SIP/2.0 100 Trying", "SIP/2.0 180 Ringing"]
        tx.receive_request(invite, 0.5)
        assert sent(tx) == [("SIP/2.0 180 Ringing", ALICE_UDP)]
        assert events(tx) == [RequestReceived(invite, tx, ALICE_UDP)]  # the copy is not passed up

    def test_invite_server_retransmits_486_with_timer_g_until_the_ack(self) -> None:
        invite = request(INVITE)
        tx = InviteServerTransaction(invite, ALICE_UDP, now=0.0)
        tx.send_response(response(invite, 486), 1.0)
        assert tx.state is State.COMPLETED
        assert tx.running_timers == {"G": 1.5, "H": 33.0}
        sent(tx)
        run_to(tx, 9.0)
        resent = [t for t, name, _ in tx.history if name == "Timer G"]
        assert resent == [1.5, 2.5, 4.5, 8.5]  # after 0.5, 1, 2, 4 s
        assert sent(tx) == [("SIP/2.0 486 Busy Here", ALICE_UDP)] * 4
        tx.receive_request(request(ACK), 9.0)
        assert tx.state is State.CONFIRMED
        assert tx.running_timers == {"I": 14.0}  # T4
        run_to(tx, 100.0)
        assert sent(tx) == []  # no more 486 after the ACK
        assert tx.history[-1] == (14.0, "Timer I", State.TERMINATED)
        assert events(tx)[-1] == TransactionTerminated(tx)

    def test_invite_server_absorbs_ack_copies_in_confirmed(self) -> None:
        invite = request(INVITE)
        ack = request(ACK)
        tx = InviteServerTransaction(invite, ALICE_UDP, now=0.0)
        events(tx)
        tx.send_response(response(invite, 486), 0.0)
        tx.receive_request(ack, 0.1)
        sent(tx)
        for t in (0.2, 1.0, 4.0):
            tx.receive_request(ack, t)
            tx.receive_request(invite, t)
        assert tx.state is State.CONFIRMED
        assert sent(tx) == []
        assert events(tx) == []
        run_to(tx, 5.1)
        assert tx.state is State.TERMINATED

    def test_invite_server_times_out_with_timer_h_when_no_ack_comes(self) -> None:
        invite = request(INVITE)
        tx = InviteServerTransaction(invite, ALICE_UDP, now=0.0)
        events(tx)
        tx.send_response(response(invite, 486), 0.0)
        run_to(tx, 100.0)
        assert events(tx) == [TransactionTimedOut(tx, "H"), TransactionTerminated(tx)]
        assert tx.history[-1] == (32.0, "Timer H", State.TERMINATED)

    def test_invite_server_over_tcp_sends_486_once_and_ends_on_the_ack(self) -> None:
        invite = request(INVITE, transport="TCP")
        tx = InviteServerTransaction(invite, ALICE_TCP, now=0.0)
        tx.send_response(response(invite, 486), 0.0)
        assert sent(tx) == [("SIP/2.0 486 Busy Here", ALICE_TCP)]
        assert tx.running_timers == {"H": 32.0}
        tx.receive_request(request(ACK, transport="TCP"), 0.1)
        assert tx.state is State.TERMINATED  # Timer I is 0 over TCP
        assert tx.history[-2:] == [
            (0.1, "ACK", State.CONFIRMED),
            (0.1, "Timer I", State.TERMINATED),
        ]

    def test_invite_server_in_accepted_retransmits_nothing_itself(self) -> None:
        """RFC 6026 §7.1: after a 2xx the TU retransmits it; the machine waits for Timer L."""
        invite = request(INVITE)
        tx = InviteServerTransaction(invite, ALICE_UDP, now=0.0)
        events(tx)
        ok = response(invite, 200)
        tx.send_response(ok, 1.0)
        assert tx.state is State.ACCEPTED
        assert tx.running_timers == {"L": 33.0}
        assert sent(tx) == [("SIP/2.0 200 OK", ALICE_UDP)]
        tx.receive_request(invite, 1.5)  # the INVITE again: absorbed, not a new call
        assert sent(tx) == []
        assert events(tx) == []
        tx.send_response(ok, 1.5)  # the TU's own 2xx retransmission goes out
        assert sent(tx) == [("SIP/2.0 200 OK", ALICE_UDP)]
        run_to(tx, 32.9)
        assert sent(tx) == []
        run_to(tx, 33.0)
        assert tx.history[-1] == (33.0, "Timer L", State.TERMINATED)
        assert events(tx) == [TransactionTerminated(tx)]

    def test_invite_server_in_accepted_passes_a_matching_ack_to_the_tu(self) -> None:
        invite = request(INVITE)
        tx = InviteServerTransaction(invite, ALICE_UDP, now=0.0)
        events(tx)
        tx.send_response(response(invite, 200), 0.0)
        ack = request(ACK)
        tx.receive_request(ack, 0.1)
        tx.receive_request(ack, 0.2)
        assert tx.state is State.ACCEPTED
        assert events(tx) == [RequestReceived(ack, tx, ALICE_UDP)] * 2

    def test_invite_server_refuses_a_1xx_after_a_final_response(self) -> None:
        invite = request(INVITE)
        tx = InviteServerTransaction(invite, ALICE_UDP, now=0.0)
        tx.send_response(response(invite, 486), 0.0)
        with pytest.raises(InvalidStateError, match="'send 1xx' is not allowed in state "
                                                    "Completed of a INVITE server"):
            tx.send_response(response(invite, 180), 0.1)
        with pytest.raises(InvalidStateError):
            tx.send_response(response(invite, 200), 0.1)

    def test_invite_server_refuses_300_699_after_a_2xx(self) -> None:
        invite = request(INVITE)
        tx = InviteServerTransaction(invite, ALICE_UDP, now=0.0)
        tx.send_response(response(invite, 200), 0.0)
        with pytest.raises(InvalidStateError, match="Accepted"):
            tx.send_response(response(invite, 486), 0.1)

    def test_invite_server_refuses_responses_once_terminated(self) -> None:
        invite = request(INVITE)
        tx = InviteServerTransaction(invite, ALICE_UDP, now=0.0)
        tx.send_response(response(invite, 200), 0.0)
        run_to(tx, 40.0)
        with pytest.raises(InvalidStateError, match="Terminated"):
            tx.send_response(response(invite, 200), 41.0)

    def test_invite_server_transport_error_in_proceeding_terminates(self) -> None:
        tx = InviteServerTransaction(request(INVITE), ALICE_UDP, now=0.0)
        events(tx)
        tx.transport_error(0.1)
        assert events(tx) == [TransportFailed(tx), TransactionTerminated(tx)]


# -- non-INVITE server (§17.2.2) -------------------------------------------------------------


class TestNonInviteServer:
    """§17.2.2: Trying, Proceeding, Completed; Timer J."""

    def test_non_invite_server_discards_copies_before_it_has_answered(self) -> None:
        options = request(OPTIONS)
        tx = NonInviteServerTransaction(options, ALICE_UDP, now=0.0)
        assert tx.state is State.TRYING
        assert events(tx) == [RequestReceived(options, tx, ALICE_UDP)]
        tx.receive_request(options, 0.5)
        assert sent(tx) == []
        assert events(tx) == []
        assert tx.state is State.TRYING

    def test_non_invite_server_answers_copies_with_its_last_response(self) -> None:
        options = request(OPTIONS)
        tx = NonInviteServerTransaction(options, ALICE_UDP, now=0.0)
        tx.send_response(response(options, 100), 0.1)
        assert tx.state is State.PROCEEDING
        tx.receive_request(options, 0.5)
        assert [line for line, _ in sent(tx)] == ["SIP/2.0 100 Trying"] * 2
        ok = response(options, 200)
        tx.send_response(ok, 1.0)
        assert tx.state is State.COMPLETED
        assert tx.running_timers == {"J": 33.0}
        assert tx.last_response is ok
        first = tx.datagrams_to_send()
        for t in (1.5, 3.0, 20.0):
            tx.receive_request(options, t)
            assert tx.datagrams_to_send() == first  # the very same bytes, each time
        run_to(tx, 33.0)
        assert tx.history[-1] == (33.0, "Timer J", State.TERMINATED)

    def test_non_invite_server_over_tcp_terminates_after_its_final_response(self) -> None:
        options = request(OPTIONS, transport="TCP")
        tx = NonInviteServerTransaction(options, ALICE_TCP, now=0.0)
        tx.send_response(response(options, 200), 0.1)
        assert sent(tx) == [("SIP/2.0 200 OK", ALICE_TCP)]
        assert tx.state is State.TERMINATED  # Timer J is 0 over TCP

    def test_non_invite_server_refuses_a_second_final_response(self) -> None:
        options = request(OPTIONS)
        tx = NonInviteServerTransaction(options, ALICE_UDP, now=0.0)
        tx.send_response(response(options, 200), 0.1)
        with pytest.raises(InvalidStateError):
            tx.send_response(response(options, 500), 0.2)
        with pytest.raises(InvalidStateError):
            tx.send_response(response(options, 100), 0.2)

    def test_non_invite_server_has_no_ack_input(self) -> None:
        tx = NonInviteServerTransaction(request(OPTIONS), ALICE_UDP, now=0.0)
        with pytest.raises(InvalidStateError, match="'ACK'"):
            tx.receive_request(request(ACK), 0.1)


# -- keys and destinations (§17.1.3, §17.2.3, §18.2.2) ----------------------------------------


def test_client_key_is_branch_and_cseq_method() -> None:
    invite = request(INVITE)
    assert client_key(invite) == (BRANCH, "INVITE")
    assert client_key(response(invite, 180)) == (BRANCH, "INVITE")
    options = request(OPTIONS, branch=BRANCH)
    assert client_key(options) == (BRANCH, "OPTIONS")


def test_server_key_maps_ack_to_invite() -> None:
    assert server_key(request(ACK)) == server_key(request(INVITE))
    assert server_key(request(INVITE), method="CANCEL")[-1] == "CANCEL"


def test_server_key_falls_back_to_rfc_2543_without_the_magic_cookie() -> None:
    key = server_key(request(INVITE, branch="776asdhds"))
    assert key[0] == "rfc2543"
    assert "a84b4c76e66710@pc33.atlanta.example.com" in key
    assert "sip:bob@biloxi.example.com" in key
    assert "314159" in key


def test_responses_to_udp_go_to_the_via_address_and_to_tcp_back_on_the_connection() -> None:
    invite = request(INVITE)
    assert response_peer(invite, Peer("198.51.100.7", 40000, "udp")) == \
        Peer("192.0.2.1", 5060, "udp")
    assert response_peer(invite, ALICE_TCP) == ALICE_TCP


def test_history_and_format_history_tell_the_path() -> None:
    invite = request(INVITE)
    tx = InviteClientTransaction(invite, BOB_UDP, now=0.0, timers=TimerConfig())
    tx.handle_timer(0.5)
    tx.receive_response(response(invite, 486), 0.7)
    assert [(name, state) for _, name, state in tx.history] == [
        ("INVITE from TU", State.CALLING),
        ("Timer A", State.CALLING),
        ("300-699", State.COMPLETED),
    ]
    text = tx.format_history()
    assert "Timer A" in text
    assert "-> Completed" in text
    assert "InviteClientTransaction INVITE Completed" in repr(tx)
