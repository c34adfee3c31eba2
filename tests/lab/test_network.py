"""SimNetwork: delivery, delay, loss patterns, the manual clock and determinism.

The endpoints here are tiny scripted fakes, so each test checks one property
of the network itself; the transaction layer on SimNetwork is tested in
``tests/sip/test_transaction_layer.py``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from siplab.ids import IdSource
from siplab.lab import (
    DropAll,
    DropEvery,
    DropIf,
    DropNext,
    RandomLoss,
    Record,
    SimNetwork,
)
from siplab.sip.build import build_request, build_response
from siplab.sip.events import RequestReceived
from siplab.sip.transaction_layer import TransactionLayer
from siplab.sip.transport import Peer

ROOT = Path(__file__).resolve().parents[2]


class Scripted:
    """An endpoint that sends what it is told, has the timers it is given, and records."""

    def __init__(self, timers: list[float] | None = None) -> None:
        self.outbox: list[tuple[bytes, Peer]] = []
        self.received: list[tuple[float, bytes, Peer]] = []
        self.timers = sorted(timers or [])
        self.fired: list[float] = []
        self.on_timer: list[tuple[bytes, Peer]] = []  # sent each time a timer fires

    def send(self, data: bytes, to: Peer) -> None:
        self.outbox.append((data, to))

    def receive_datagram(self, data: bytes, peer: Peer, now: float) -> None:
        self.received.append((now, data, peer))

    def datagrams_to_send(self) -> list[tuple[bytes, Peer]]:
        out, self.outbox = self.outbox, []
        return out

    def get_timer(self) -> float | None:
        return self.timers[0] if self.timers else None

    def handle_timer(self, now: float) -> None:
        while self.timers and self.timers[0] <= now:
            self.timers.pop(0)
            self.fired.append(now)
            self.outbox.extend(self.on_timer)


def message(n: int) -> bytes:
    return f"MESSAGE sip:bob@10.0.0.2 SIP/2.0\r\nX-N: {n}\r\n\r\n".encode()


def two(delay: float = 0.0, seed: int = 0) -> tuple[SimNetwork, Scripted, Scripted, Peer, Peer]:
    net = SimNetwork(seed=seed, delay=delay)
    a, b = Scripted(), Scripted()
    a_at = net.add(a, "10.0.0.1", 5060, name="a")
    b_at = net.add(b, "10.0.0.2", 5060, name="b")
    return net, a, b, a_at, b_at


def numbers(endpoint: Scripted) -> list[int]:
    return [int(data.split(b"X-N: ")[1].split(b"\r\n")[0]) for _, data, _ in endpoint.received]


# -- delivery and the clock ------------------------------------------------------------------------


def test_step_delivers_exactly_one_datagram_at_a_time() -> None:
    net, a, b, a_at, b_at = two(delay=0.1)
    for n in range(3):
        a.send(message(n), b_at)
    first = net.step()
    assert isinstance(first, Record)
    assert numbers(b) == [0]
    assert (first.time_sent, first.time_delivered) == (0.0, 0.1)
    assert (first.src, first.dst) == (a_at, b_at)
    assert first.label == "MESSAGE"
    assert first.first_line == "MESSAGE sip:bob@10.0.0.2 SIP/2.0"
    assert not first.dropped
    assert first.reason is None
    assert net.now == 0.1
    assert net.step() is not None
    assert numbers(b) == [0, 1]
    assert net.step() is not None
    assert net.step() is None  # nothing left
    assert numbers(b) == [0, 1, 2]


def test_zero_delay_still_goes_through_the_queue_in_order() -> None:
    net, a, b, _, b_at = two()
    for n in range(5):
        a.send(message(n), b_at)
    assert b.received == []  # nothing moves until the network runs
    net.run()
    assert numbers(b) == [0, 1, 2, 3, 4]
    assert [r.time_delivered for r in net.records] == [0.0] * 5


def test_the_receiver_sees_the_sender_address() -> None:
    net, a, b, a_at, b_at = two()
    a.send(message(1), b_at)
    net.run()
    assert b.received[0][2] == a_at


def test_delay_is_applied_per_direction() -> None:
    net, a, b, a_at, b_at = two(delay=0.05)
    net.link(a_at, b_at, delay=0.2, both_ways=False)
    a.send(message(1), b_at)
    b.send(message(2), a_at)
    net.run()
    assert b.received[0][0] == pytest.approx(0.2)
    assert a.received[0][0] == pytest.approx(0.05)  # the network default the other way
    assert net.labels() == ["MESSAGE", "MESSAGE"]
    assert [r.time_delivered for r in net.records] == [0.05, 0.2]  # records in delivery order


def test_link_by_name_both_ways() -> None:
    net, a, b, a_at, b_at = two()
    net.link("a", "b", delay=0.3)
    a.send(message(1), b_at)
    b.send(message(2), a_at)
    net.run()
    assert [r.time_delivered for r in net.records] == [0.3, 0.3]


def test_a_later_datagram_with_a_shorter_delay_overtakes() -> None:
    net, a, b, _, b_at = two()
    c = Scripted()
    c_at = net.add(c, "10.0.0.3", 5060, name="c")
    net.link("a", "b", delay=1.0)
    net.link("c", "b", delay=0.1)
    a.send(message(1), b_at)
    c.send(message(2), b_at)
    net.run()
    assert numbers(b) == [2, 1]
    assert b.received[0][2] == c_at


def test_datagram_to_an_unknown_address_is_recorded_as_dropped() -> None:
    net, a, _, _, _ = two()
    nowhere = Peer("10.9.9.9", 5060)
    a.send(message(1), nowhere)
    record = net.step()
    assert record is not None
    assert record.dropped
    assert record.reason == "no such host"
    assert record.time_delivered is None
    assert record.dst == nowhere
    assert net.labels() == []


def test_transport_is_part_of_the_address() -> None:
    net, a, b, _, _ = two()
    a.send(message(1), Peer("10.0.0.2", 5060, "tcp"))
    net.run()
    assert b.received == []
    assert net.records[0].reason == "no such host"


def test_run_until_fires_timers_at_their_times_and_sets_now() -> None:
    net = SimNetwork()
    ticker = Scripted(timers=[1.0, 2.5, 4.0])
    net.add(ticker, "10.0.0.1", 5060)
    net.run_until(2.0)
    assert ticker.fired == [1.0]
    assert net.now == 2.0
    net.run_until(2.5)
    assert ticker.fired == [1.0, 2.5]
    net.run_until(10.0)
    assert ticker.fired == [1.0, 2.5, 4.0]
    assert net.now == 10.0
    with pytest.raises(ValueError, match="back in time"):
        net.run_until(5.0)


def test_timer_output_is_sent_at_the_timer_time() -> None:
    net, a, b, _, b_at = two(delay=0.01)
    a.timers = [0.5, 1.5]
    a.on_timer = [(message(7), b_at)]
    net.run()
    assert [t for t, _, _ in b.received] == pytest.approx([0.51, 1.51])
    assert [r.time_sent for r in net.records] == [0.5, 1.5]


def test_a_timer_due_with_a_delivery_fires_first() -> None:
    order: list[str] = []

    class Watched(Scripted):
        def receive_datagram(self, data: bytes, peer: Peer, now: float) -> None:
            order.append(f"datagram at {now}")

        def handle_timer(self, now: float) -> None:
            order.append(f"timer at {now}")
            super().handle_timer(now)

    net = SimNetwork(delay=1.0)
    a, b = Scripted(), Watched(timers=[1.0])
    net.add(a, "10.0.0.1", 5060)
    b_at = net.add(b, "10.0.0.2", 5060)
    a.send(message(1), b_at)
    net.run()
    assert order == ["timer at 1.0", "datagram at 1.0"]


def test_step_fires_timers_on_the_way_to_the_next_datagram() -> None:
    net, a, _b, _, b_at = two()
    a.timers = [3.0]
    a.on_timer = [(message(9), b_at)]
    record = net.step()
    assert record is not None
    assert record.time_sent == 3.0
    assert net.now == 3.0
    assert a.fired == [3.0]


def test_run_is_bounded_by_max_time_and_max_steps() -> None:
    net = SimNetwork()
    forever = Scripted(timers=[float(t) for t in range(1, 10_000)])
    net.add(forever, "10.0.0.1", 5060)
    net.run(max_time=10.0)
    assert forever.fired == [float(t) for t in range(1, 11)]
    assert net.now == 10.0
    assert not net.idle
    net.run(max_steps=5)
    assert len(forever.fired) == 15


def test_run_stops_when_idle() -> None:
    net, a, _b, _, b_at = two(delay=0.2)
    a.send(message(1), b_at)
    net.run()
    assert net.idle
    assert net.now == 0.2


def test_an_endpoint_that_does_not_clear_its_timer_is_reported() -> None:
    class Stuck(Scripted):
        def handle_timer(self, now: float) -> None:
            pass  # forgets to remove the timer

    net = SimNetwork()
    net.add(Stuck(timers=[1.0]), "10.0.0.1", 5060, name="stuck")
    with pytest.raises(RuntimeError, match="stuck still has a timer"):
        net.run()


def test_addresses_and_names_must_be_unique() -> None:
    net, a, _, _, _ = two()
    with pytest.raises(ValueError, match="already taken"):
        net.add(Scripted(), "10.0.0.1", 5060)
    with pytest.raises(ValueError, match="already used"):
        net.add(Scripted(), "10.0.0.5", 5060, name="a")
    tcp = net.add(a, "10.0.0.1", 5060, transport="tcp")  # the same endpoint, second address
    assert tcp == Peer("10.0.0.1", 5060, "tcp")
    assert net.name_of(tcp) == "a"
    with pytest.raises(KeyError):
        net.link("a", "nobody")


# -- loss patterns ---------------------------------------------------------------------------------


def send_and_run(net: SimNetwork, a: Scripted, to: Peer, count: int) -> list[bool]:
    for n in range(count):
        a.send(message(n), to)
    net.run()
    return [r.dropped for r in net.records]


def test_drop_next_drops_the_next_n_then_nothing() -> None:
    net, a, b, a_at, b_at = two()
    net.link(a_at, b_at, loss=DropNext(2))
    assert send_and_run(net, a, b_at, 5) == [True, True, False, False, False]
    assert numbers(b) == [2, 3, 4]
    assert net.records[0].reason == "lost on the link: DropNext(2)"


def test_drop_every_drops_every_kth() -> None:
    net, a, b, a_at, b_at = two()
    net.link(a_at, b_at, loss=DropEvery(3))
    assert send_and_run(net, a, b_at, 7) == [False, False, True, False, False, True, False]
    assert numbers(b) == [0, 1, 3, 4, 6]
    with pytest.raises(ValueError, match="at least 1"):
        DropEvery(0)


def test_random_loss_extremes_and_rate() -> None:
    net, a, _, a_at, b_at = two()
    net.link(a_at, b_at, loss=RandomLoss(0.0))
    assert not any(send_and_run(net, a, b_at, 50))
    net, a, _, a_at, b_at = two()
    net.link(a_at, b_at, loss=RandomLoss(1.0))
    assert all(send_and_run(net, a, b_at, 50))
    net, a, _, a_at, b_at = two(seed=3)
    net.link(a_at, b_at, loss=RandomLoss(0.3))
    lost = sum(send_and_run(net, a, b_at, 1000))
    assert 240 < lost < 360
    with pytest.raises(ValueError, match="between 0 and 1"):
        RandomLoss(1.5)


def test_random_loss_with_its_own_seed_ignores_the_network_seed() -> None:
    patterns = []
    for network_seed in (1, 2):
        net, a, _, a_at, b_at = two(seed=network_seed)
        net.link(a_at, b_at, loss=RandomLoss(0.5, seed=42))
        patterns.append(send_and_run(net, a, b_at, 40))
    assert patterns[0] == patterns[1]
    shared = []
    for network_seed in (1, 2):
        net, a, _, a_at, b_at = two(seed=network_seed)
        net.link(a_at, b_at, loss=RandomLoss(0.5))
        shared.append(send_and_run(net, a, b_at, 40))
    assert shared[0] != shared[1]  # drawn from the network's generator


def test_drop_if_drops_every_200_ok() -> None:
    net, a, _b, a_at, b_at = two()
    net.link(a_at, b_at, loss=DropIf(lambda line: line.startswith("SIP/2.0 200"), name="200"))
    a.send(b"SIP/2.0 180 Ringing\r\n\r\n", b_at)
    a.send(b"SIP/2.0 200 OK\r\n\r\n", b_at)
    a.send(b"SIP/2.0 200 OK\r\n\r\n", b_at)
    a.send(message(1), b_at)
    net.run()
    assert net.labels() == ["180 Ringing", "MESSAGE"]
    assert [r.label for r in net.records if r.dropped] == ["200 OK", "200 OK"]
    assert net.records[1].reason == "lost on the link: DropIf(200)"


def test_drop_if_with_a_limit_drops_only_the_first_matches() -> None:
    net, a, _, a_at, b_at = two()
    net.link(a_at, b_at, loss=DropIf(lambda line: line.startswith("MESSAGE"), limit=1))
    assert send_and_run(net, a, b_at, 3) == [True, False, False]


def test_drop_all_is_a_dead_link_in_one_direction() -> None:
    net, a, b, a_at, b_at = two()
    net.link(a_at, b_at, loss=DropAll(), both_ways=False)
    a.send(message(1), b_at)
    b.send(message(2), a_at)
    net.run()
    assert numbers(a) == [2]
    assert numbers(b) == []


def test_loss_pattern_shared_by_both_directions_counts_both() -> None:
    net, a, b, a_at, b_at = two()
    net.link(a_at, b_at, loss=DropEvery(2))  # both_ways: one pattern object
    a.send(message(1), b_at)
    b.send(message(2), a_at)
    net.run()
    assert [r.dropped for r in net.records] == [False, True]


# -- determinism and the log ----------------------------------------------------------------------


def lossy_call(seed: int) -> list[Record]:
    """An INVITE rejected with 486 over a link that loses 30% of everything."""
    net = SimNetwork(seed=seed, delay=0.02)
    alice, bob = TransactionLayer(), TransactionLayer()
    net.add(alice, "10.0.0.1", 5060, name="alice")
    bob_at = net.add(bob, "10.0.0.2", 5060, name="bob")
    net.link("alice", "bob", loss=RandomLoss(0.3))
    invite = build_request("INVITE", "sip:bob@10.0.0.2", from_="<sip:alice@10.0.0.1>",
                           to="<sip:bob@10.0.0.2>", via_host="10.0.0.1", via_port=5060,
                           ids=IdSource(seed))
    alice.send_request(invite, bob_at, net.now)
    while net.step() is not None:
        for event in iter(bob.next_event, None):
            if isinstance(event, RequestReceived) and event.transaction is not None:
                answer = build_response(event.request, 486, to_tag="b0b")
                bob.send_response(event.transaction, answer, net.now)
    return net.records


def test_same_seed_gives_identical_records() -> None:
    first, second = lossy_call(8), lossy_call(8)
    assert first == second  # same times, same losses, same bytes (tags, branches)
    assert [r.label for r in first if r.dropped] == ["INVITE", "100 Trying", "ACK",
                                                     "486 Busy Here", "ACK"]
    assert first != lossy_call(5)


def test_labels_list_only_delivered_datagrams() -> None:
    net, a, b, a_at, b_at = two()
    net.link(b_at, a_at, loss=DropNext(1), both_ways=False)
    a.send(b"INVITE sip:bob@10.0.0.2 SIP/2.0\r\n\r\n", b_at)
    b.send(b"SIP/2.0 100 Trying\r\n\r\n", a_at)
    b.send(b"SIP/2.0 180 Ringing\r\n\r\n", a_at)
    net.run()
    assert net.labels() == ["INVITE", "180 Ringing"]


def test_log_is_a_readable_table() -> None:
    net, a, b, a_at, b_at = two(delay=0.25)
    net.link(b_at, a_at, loss=DropNext(1), both_ways=False)
    a.send(b"INVITE sip:bob@10.0.0.2 SIP/2.0\r\n\r\n", b_at)
    b.send(b"SIP/2.0 100 Trying\r\n\r\n", a_at)
    net.run()
    lines = net.format_log().splitlines()
    assert lines[0].split() == ["sent", "arrived", "from", "to", "message"]
    assert lines[1].split() == ["0.000", "lost", "b", "a", "100", "Trying", "(lost", "on", "the",
                                "link:", "DropNext(1))"]
    assert lines[2].split() == ["0.000", "0.250", "a", "b", "INVITE"]
    assert str(net) == net.format_log()


def test_print_log_prints_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    net, a, _, _, b_at = two()
    a.send(message(1), b_at)
    net.run()
    net.print_log()
    assert "MESSAGE" in capsys.readouterr().out


def test_non_sip_datagrams_get_a_label_too() -> None:
    net, a, _, _, b_at = two()
    a.send(b"\r\n\r\n", b_at)  # a keep-alive
    a.send(b"\x80\x00binary", b_at)
    net.run()
    assert [r.label for r in net.records] == ["(empty)", "\ufffd\x00binary"]


def test_importing_siplab_lab_stays_light() -> None:
    heavy = ("matplotlib", "numpy", "scapy", "ipywidgets", "aiortc", "websockets")
    code = f"import sys, siplab.lab; print([m for m in {heavy!r} if m in sys.modules])"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
