"""Exact retransmission schedules on SimNetwork's manual clock (RFC 3261 §17.1.1.2,
§17.1.2.2, §17.2.1; Table 4).

Alice's :class:`TransactionLayer` sends to a peer that never answers (a
recorder that only notes when each datagram arrived), or that answers once
by hand. With zero delay the arrival times are the send times, so these
tests read the RFC's timer arithmetic straight off the wire.
"""

from __future__ import annotations

import pytest

from siplab.ids import IdSource
from siplab.lab import DropAll, SimNetwork
from siplab.sip.build import build_ack_for_failure, build_request, build_response
from siplab.sip.events import (
    Event,
    RequestReceived,
    TransactionTerminated,
    TransactionTimedOut,
)
from siplab.sip.message import Request, parse_message
from siplab.sip.timers import TimerConfig
from siplab.sip.transaction import ServerTransaction, TransactionState
from siplab.sip.transaction_layer import TransactionLayer
from siplab.sip.transport import Peer

INVITE_UDP_SENDS = [0.0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
NON_INVITE_UDP_SENDS = [0.0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]


class Recorder:
    """An endpoint that never answers on its own: it notes what arrived, and when."""

    def __init__(self) -> None:
        self.received: list[tuple[float, bytes, Peer]] = []
        self.outbox: list[tuple[bytes, Peer]] = []

    def receive_datagram(self, data: bytes, peer: Peer, now: float) -> None:
        self.received.append((now, data, peer))

    def datagrams_to_send(self) -> list[tuple[bytes, Peer]]:
        out, self.outbox = self.outbox, []
        return out

    def get_timer(self) -> float | None:
        return None

    def handle_timer(self, now: float) -> None:
        pass

    def times(self) -> list[float]:
        return [t for t, _, _ in self.received]


def make_request(method: str, transport: str = "UDP", ids: IdSource | None = None) -> Request:
    return build_request(
        method, "sip:bob@10.0.0.2", from_="Alice <sip:alice@10.0.0.1>",
        to="Bob <sip:bob@10.0.0.2>", via_host="10.0.0.1", via_port=5060,
        transport=transport, ids=ids or IdSource(7),
    )


def setup(transport: str = "udp", timers: TimerConfig | None = None
          ) -> tuple[SimNetwork, TransactionLayer, Recorder, Peer, Peer]:
    net = SimNetwork()
    alice = TransactionLayer(timers=timers)
    bob = Recorder()
    alice_at = net.add(alice, "10.0.0.1", 5060, name="alice", transport=transport)
    bob_at = net.add(bob, "10.0.0.2", 5060, name="bob", transport=transport)
    return net, alice, bob, alice_at, bob_at


def drain(layer: TransactionLayer) -> list[Event]:
    return list(iter(layer.next_event, None))


def only_request(layer: TransactionLayer) -> ServerTransaction:
    """The server transaction of the one RequestReceived event waiting in ``layer``."""
    (event,) = drain(layer)
    assert isinstance(event, RequestReceived)
    assert event.transaction is not None
    return event.transaction


class TestInviteClientSchedule:
    """§17.1.1.2: Timer A doubles from T1; Timer B ends the wait at 64*T1."""

    def test_invite_client_retransmits_with_timer_a_doubling_then_times_out_with_b(
        self,
    ) -> None:
        net, alice, bob, _, bob_at = setup()
        tx = alice.send_request(make_request("INVITE"), bob_at, net.now)
        net.run_until(31.999)
        assert bob.times() == INVITE_UDP_SENDS
        assert drain(alice) == []
        net.run()
        assert net.now == 32.0
        assert drain(alice) == [TransactionTimedOut(tx, "B"), TransactionTerminated(tx)]
        assert tx.history[-1] == (32.0, "Timer B", TransactionState.TERMINATED)
        assert bob.times() == INVITE_UDP_SENDS  # nothing after the timeout
        assert len({data for _, data, _ in bob.received}) == 1  # the same bytes every time
        assert alice.client_transactions == {}

    def test_invite_client_schedule_is_the_same_when_the_link_drops_everything(self) -> None:
        net, alice, _, alice_at, bob_at = setup()
        net.link(alice_at, bob_at, loss=DropAll())
        tx = alice.send_request(make_request("INVITE"), bob_at, net.now)
        net.run()
        assert [r.time_sent for r in net.records] == INVITE_UDP_SENDS
        assert all(r.dropped for r in net.records)
        assert tx.history[-1][:2] == (32.0, "Timer B")

    def test_invite_client_over_tcp_sends_once_and_times_out_at_32(self) -> None:
        net, alice, bob, _, bob_at = setup(transport="tcp")
        tx = alice.send_request(make_request("INVITE", transport="TCP"), bob_at, net.now)
        net.run()
        assert bob.times() == [0.0]
        assert drain(alice) == [TransactionTimedOut(tx, "B"), TransactionTerminated(tx)]
        assert net.now == 32.0

    def test_custom_t1_scales_the_invite_schedule(self) -> None:
        net, alice, bob, _, bob_at = setup(timers=TimerConfig(t1=0.25, t2=2.0))
        tx = alice.send_request(make_request("INVITE"), bob_at, net.now)
        net.run()
        assert bob.times() == [t / 2 for t in INVITE_UDP_SENDS]
        assert tx.history[-1][:2] == (16.0, "Timer B")

    def test_t1_of_100_ms_gives_a_ten_times_faster_invite_schedule(self) -> None:
        net, alice, bob, _, bob_at = setup(timers=TimerConfig(t1=0.1, t2=0.8))
        alice.send_request(make_request("INVITE"), bob_at, net.now)
        net.run()
        assert bob.times() == pytest.approx([t / 5 for t in INVITE_UDP_SENDS])
        assert net.now == pytest.approx(6.4)

    def test_invite_client_stops_retransmitting_after_a_provisional_response(self) -> None:
        net, alice, bob, alice_at, bob_at = setup()
        invite = make_request("INVITE")
        alice.send_request(invite, bob_at, net.now)
        net.run_until(1.0)  # INVITE at 0 and 0.5
        bob.outbox.append((build_response(invite, 180, to_tag="b0b").to_bytes(), alice_at))
        net.run_until(100.0)
        assert bob.times() == [0.0, 0.5]


class TestNonInviteClientSchedule:
    """§17.1.2.2: Timer E doubles up to T2, then every T2 after a 1xx; Timer F at 64*T1."""

    def test_non_invite_client_retransmits_with_timer_e_capped_at_t2(self) -> None:
        net, alice, bob, _, bob_at = setup()
        tx = alice.send_request(make_request("OPTIONS"), bob_at, net.now)
        net.run()
        assert bob.times() == NON_INVITE_UDP_SENDS
        assert drain(alice) == [TransactionTimedOut(tx, "F"), TransactionTerminated(tx)]
        assert tx.history[-1] == (32.0, "Timer F", TransactionState.TERMINATED)

    def test_non_invite_client_over_tcp_sends_once_and_times_out_with_f(self) -> None:
        net, alice, bob, _, bob_at = setup(transport="tcp")
        tx = alice.send_request(make_request("OPTIONS", transport="TCP"), bob_at, net.now)
        net.run()
        assert bob.times() == [0.0]
        assert drain(alice) == [TransactionTimedOut(tx, "F"), TransactionTerminated(tx)]
        assert net.now == 32.0

    def test_non_invite_client_retransmits_every_t2_in_proceeding(self) -> None:
        net, alice, bob, alice_at, bob_at = setup()
        options = make_request("OPTIONS")
        tx = alice.send_request(options, bob_at, net.now)
        net.run_until(0.2)
        bob.outbox.append((build_response(options, 100).to_bytes(), alice_at))
        net.run()
        # Timer E was armed for 0.5 in Trying; when it fires in Proceeding it is reset to T2.
        assert bob.times() == [0.0, 0.5, 4.5, 8.5, 12.5, 16.5, 20.5, 24.5, 28.5]
        assert tx.history[1] == (0.2, "1xx", TransactionState.PROCEEDING)
        assert tx.history[-1] == (32.0, "Timer F", TransactionState.TERMINATED)

    def test_custom_t1_scales_the_non_invite_schedule(self) -> None:
        net, alice, bob, _, bob_at = setup(timers=TimerConfig(t1=0.25, t2=2.0, t4=2.5))
        alice.send_request(make_request("OPTIONS"), bob_at, net.now)
        net.run()
        assert bob.times() == [t / 2 for t in NON_INVITE_UDP_SENDS]
        assert net.now == 16.0

    def test_non_invite_client_stops_at_the_final_response_and_waits_t4(self) -> None:
        net, alice, bob, alice_at, bob_at = setup()
        options = make_request("OPTIONS")
        tx = alice.send_request(options, bob_at, net.now)
        net.run_until(2.0)  # sends at 0, 0.5, 1.5
        ok = build_response(options, 200, to_tag="b0b").to_bytes()
        bob.outbox.append((ok, alice_at))
        net.run_until(3.0)
        bob.outbox.append((ok, alice_at))  # a copy, absorbed in Completed
        net.run()
        assert bob.times() == [0.0, 0.5, 1.5]
        assert tx.history[-1] == (7.0, "Timer K", TransactionState.TERMINATED)
        assert [type(e).__name__ for e in drain(alice)] == ["ResponseReceived",
                                                            "TransactionTerminated"]


class TestInviteServerSchedule:
    """§17.2.1: a 300-699 is retransmitted with Timer G (doubling, capped at T2) until
    the ACK comes or Timer H (64*T1) gives up."""

    def invite_from_recorder(self, transport: str = "udp"
                             ) -> tuple[SimNetwork, TransactionLayer, Recorder, Peer, Request]:
        net = SimNetwork()
        bob = TransactionLayer()
        alice = Recorder()
        net.add(alice, "10.0.0.1", 5060, name="alice", transport=transport)
        bob_at = net.add(bob, "10.0.0.2", 5060, name="bob", transport=transport)
        invite = make_request("INVITE", transport=transport.upper())
        alice.outbox.append((invite.to_bytes(), bob_at))
        net.run_until(0.0)
        return net, bob, alice, bob_at, invite

    def test_invite_server_retransmits_486_with_timer_g_until_timer_h(self) -> None:
        net, bob, alice, _, _ = self.invite_from_recorder()
        tx = only_request(bob)
        net.run_until(1.0)
        bob.send_response(tx, build_response(tx.request, 486, to_tag="b0b"), net.now)
        net.run()
        busy = [t for t, data, _ in alice.received if b" 486 " in data.split(b"\r\n")[0]]
        assert busy == [1.0, 1.5, 2.5, 4.5, 8.5, 12.5, 16.5, 20.5, 24.5, 28.5, 32.5]
        assert drain(bob) == [TransactionTimedOut(tx, "H"), TransactionTerminated(tx)]
        assert net.now == 33.0
        assert bob.server_transactions == {}

    def test_invite_server_stops_retransmitting_when_the_ack_comes(self) -> None:
        net, bob, alice, bob_at, invite = self.invite_from_recorder()
        tx = only_request(bob)
        bob.send_response(tx, build_response(invite, 486, to_tag="b0b"), net.now)
        net.run_until(2.0)  # 486 at 0, 0.5, 1.5
        last = parse_message(alice.received[-1][1])
        assert not isinstance(last, Request)
        alice.outbox.append((build_ack_for_failure(invite, last).to_bytes(), bob_at))
        net.run()
        busy = [t for t, data, _ in alice.received if b" 486 " in data.split(b"\r\n")[0]]
        assert busy == [0.0, 0.5, 1.5]
        assert tx.state is TransactionState.TERMINATED
        assert [h[1:] for h in tx.history[-2:]] == [("ACK", TransactionState.CONFIRMED),
                                                    ("Timer I", TransactionState.TERMINATED)]
        assert tx.history[-1][0] == 7.0  # Timer I = T4 after the ACK at 2.0
        assert [type(e).__name__ for e in drain(bob)] == ["TransactionTerminated"]

    def test_invite_server_over_tcp_sends_486_once(self) -> None:
        net, bob, _alice, _, invite = self.invite_from_recorder(transport="tcp")
        tx = only_request(bob)
        bob.send_response(tx, build_response(invite, 486, to_tag="b0b"), net.now)
        net.run()
        labels = [r.label for r in net.records]
        assert labels == ["INVITE", "100 Trying", "486 Busy Here"]
        assert drain(bob) == [TransactionTimedOut(tx, "H"), TransactionTerminated(tx)]
        assert net.now == 32.0
