"""SimNetwork: an in-memory network with a manual clock, for watching SIP work.

Every protocol object in siplab is *sans-I/O*: it takes bytes and the time,
and hands back bytes to send and its next deadline (see DESIGN.md). So it
does not need real sockets or real time. :class:`SimNetwork` connects such
endpoints by address and plays the network and the clock itself:

* a datagram an endpoint sends is delivered after the link's ``delay``, or
  dropped by the link's loss pattern (:class:`DropNext`, :class:`DropEvery`,
  :class:`RandomLoss`, :class:`DropIf`, :class:`DropAll`);
* time only moves when you ask: :meth:`SimNetwork.step` delivers one datagram,
  :meth:`SimNetwork.run_until` and :meth:`SimNetwork.run` fire every timer
  and delivery in time order. 32 seconds of Timer A retransmissions take a
  millisecond;
* every datagram, delivered or lost, is kept as a :class:`Record`, so a
  test can assert the ladder (``net.labels() == ["INVITE", "100 Trying", ...]``)
  and a notebook can print it (:meth:`SimNetwork.print_log`).

Runs are deterministic: the same seed (for the network and for the
endpoints' :class:`~siplab.ids.IdSource`) gives the same records, byte for byte.

Example::

    net = SimNetwork(delay=0.01)
    alice_layer, bob_layer = TransactionLayer(), TransactionLayer()
    alice = net.add(alice_layer, "10.0.0.1", 5060, name="alice")
    bob = net.add(bob_layer, "10.0.0.2", 5060, name="bob")
    net.link(bob, alice, loss=DropNext(1), both_ways=False)  # lose bob's first answer
    alice_layer.send_request(invite, bob, net.now)
    net.run()
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from siplab.sip.transport import Peer

__all__ = [
    "SimNetwork",
    "Record",
    "Endpoint",
    "LossPattern",
    "DropNext",
    "DropEvery",
    "RandomLoss",
    "DropIf",
    "DropAll",
]


class Endpoint(Protocol):
    """What SimNetwork needs from an endpoint (the sans-I/O contract, minus events)."""

    def receive_datagram(self, data: bytes, peer: Peer, now: float) -> None: ...

    def datagrams_to_send(self) -> list[tuple[bytes, Peer]]: ...

    def get_timer(self) -> float | None: ...

    def handle_timer(self, now: float) -> None: ...


# -- loss patterns --------------------------------------------------------------------------


class LossPattern:
    """Decides, datagram by datagram, what a link loses.

    ``drops`` is asked once for every datagram sent on the link, in order.
    The pattern object keeps its own count, so a pattern given to a link in
    both directions (``both_ways=True``) sees the datagrams of both.
    """

    def drops(self, data: bytes, rng: random.Random) -> bool:
        raise NotImplementedError


class DropNext(LossPattern):
    """Drop the next ``n`` datagrams, then let everything through."""

    def __init__(self, n: int = 1) -> None:
        self.n = n
        self.remaining = n

    def drops(self, data: bytes, rng: random.Random) -> bool:
        if self.remaining > 0:
            self.remaining -= 1
            return True
        return False

    def __repr__(self) -> str:
        return f"DropNext({self.n})"


class DropEvery(LossPattern):
    """Drop every ``k``-th datagram: with k=3, the 3rd, 6th, 9th..."""

    def __init__(self, k: int) -> None:
        if k < 1:
            raise ValueError("k must be at least 1")
        self.k = k
        self.seen = 0

    def drops(self, data: bytes, rng: random.Random) -> bool:
        self.seen += 1
        return self.seen % self.k == 0

    def __repr__(self) -> str:
        return f"DropEvery({self.k})"


class RandomLoss(LossPattern):
    """Drop each datagram with probability ``p``.

    With ``seed`` the pattern has its own random generator; without, it
    draws from the network's (seeded by ``SimNetwork(seed=...)``).
    """

    def __init__(self, p: float, seed: int | None = None) -> None:
        if not 0.0 <= p <= 1.0:
            raise ValueError("p must be between 0 and 1")
        self.p = p
        self.seed = seed
        self._rng = None if seed is None else random.Random(seed)

    def drops(self, data: bytes, rng: random.Random) -> bool:
        return (self._rng or rng).random() < self.p

    def __repr__(self) -> str:
        return f"RandomLoss({self.p})"


class DropIf(LossPattern):
    """Drop datagrams whose first line satisfies ``predicate``, at most ``limit`` of them.

    ``DropIf(lambda line: " 200 " in line)`` loses every 200 OK;
    ``DropIf(lambda line: line.startswith("INVITE"), limit=1)`` only the first INVITE.
    """

    def __init__(self, predicate: Callable[[str], bool], limit: int | None = None,
                 name: str | None = None) -> None:
        self.predicate = predicate
        self.limit = limit
        self.name = name
        self.dropped = 0

    def drops(self, data: bytes, rng: random.Random) -> bool:
        if self.limit is not None and self.dropped >= self.limit:
            return False
        if self.predicate(first_line(data)):
            self.dropped += 1
            return True
        return False

    def __repr__(self) -> str:
        return f"DropIf({self.name or getattr(self.predicate, '__name__', 'predicate')})"


class DropAll(LossPattern):
    """Drop everything: a link that is down."""

    def drops(self, data: bytes, rng: random.Random) -> bool:
        return True

    def __repr__(self) -> str:
        return "DropAll()"


# -- records --------------------------------------------------------------------------------


def first_line(data: bytes) -> str:
    """The start line of a SIP message (or the first line of any datagram), as text."""
    start = 0
    while data.startswith(b"\r\n", start):
        start += 2
    end = data.find(b"\n", start)
    line = data[start:] if end < 0 else data[start:end]
    return line.rstrip(b"\r").decode("utf-8", errors="replace")


def label_of(line: str) -> str:
    """A ladder label: ``"INVITE"`` for a request, ``"180 Ringing"`` for a response."""
    if line.upper().startswith("SIP/"):
        return line.partition(" ")[2].strip() or line
    parts = line.split(" ")
    if len(parts) == 3 and parts[2].upper().startswith("SIP/"):
        return parts[0]
    return line[:40] if line else "(empty)"


@dataclass(frozen=True, slots=True)
class Record:
    """One datagram the network carried (or lost)."""

    time_sent: float
    time_delivered: float | None
    src: Peer
    dst: Peer
    first_line: str
    label: str
    data: bytes = field(repr=False)
    dropped: bool = False
    reason: str | None = None


# -- the network ----------------------------------------------------------------------------


@dataclass(slots=True)
class _Node:
    name: str
    endpoint: Endpoint
    addresses: list[Peer]

    def source_for(self, transport: str) -> Peer:
        for address in self.addresses:
            if address.transport == transport:
                return address
        return self.addresses[0]


@dataclass(slots=True)
class _Link:
    delay: float | None
    loss: LossPattern | None


@dataclass(slots=True)
class _Flight:
    sent: float
    src: Peer
    dst: Peer
    data: bytes
    target: _Node | None
    reason: str | None  # why it is dropped, or None if it will be delivered


class SimNetwork:
    """Sans-I/O endpoints at addresses, a manual clock, and links with delay and loss.

    ``delay`` is the default one-way delay in seconds; ``seed`` seeds the
    random generator that :class:`RandomLoss` patterns without their own seed use.
    """

    def __init__(self, seed: int = 0, delay: float = 0.0) -> None:
        self.seed = seed
        self.delay = delay
        self.now = 0.0
        self.random = random.Random(seed)
        self.records: list[Record] = []
        self._nodes: dict[str, _Node] = {}
        self._by_address: dict[Peer, _Node] = {}
        self._links: dict[tuple[str, str], _Link] = {}
        self._queue: list[tuple[float, int, _Flight]] = []
        self._order = itertools.count()

    # -- building the network ----------------------------------------------------------------

    def add(self, endpoint: Endpoint, host: str, port: int, name: str | None = None,
            transport: str = "udp") -> Peer:
        """Put ``endpoint`` at ``host:port`` and return that address as a Peer.

        The same endpoint may be added at several addresses (say UDP and TCP);
        it keeps one name.
        """
        address = Peer(host, port, transport.lower())
        if address in self._by_address:
            raise ValueError(f"{address} is already taken by {self._by_address[address].name}")
        node = next((n for n in self._nodes.values() if n.endpoint is endpoint), None)
        if node is None:
            name = name or (f"{host}:{port}" if address.transport == "udp" else str(address))
            if name in self._nodes:
                raise ValueError(f"the name {name!r} is already used")
            node = _Node(name, endpoint, [])
            self._nodes[name] = node
        elif name is not None and name != node.name:
            raise ValueError(f"that endpoint is already called {node.name!r}")
        node.addresses.append(address)
        self._by_address[address] = node
        return address

    def link(self, a: Peer | str, b: Peer | str, *, delay: float | None = None,
             loss: LossPattern | None = None, both_ways: bool = True) -> None:
        """Set the delay (None: the network's default) and loss of datagrams from a to b.

        With ``both_ways`` the same settings (and the same loss pattern
        object) apply from b to a as well. Calling it again replaces them.
        """
        src, dst = self._node(a).name, self._node(b).name
        self._links[(src, dst)] = _Link(delay, loss)
        if both_ways:
            self._links[(dst, src)] = _Link(delay, loss)

    def name_of(self, address: Peer) -> str:
        """The name of the endpoint at ``address``, or the address itself as text."""
        node = self._by_address.get(_normal(address))
        return node.name if node is not None else str(address)

    # -- running --------------------------------------------------------------------------------

    def step(self) -> Record | None:
        """Run until exactly one datagram has been delivered or dropped, and return its record.

        Timers that fall due first are fired on the way. None when nothing is
        left to happen (no datagram in flight and no timer anywhere).
        """
        while True:
            progressed, record = self._advance(math.inf)
            if record is not None or not progressed:
                return record

    def run_until(self, t: float) -> list[Record]:
        """Process every timer and datagram due at or before ``t``; then ``now = t``."""
        if t < self.now:
            raise ValueError(f"cannot run back in time from {self.now} to {t}")
        start = len(self.records)
        while self._advance(t)[0]:
            pass
        self.now = t
        return self.records[start:]

    def run(self, max_time: float | None = None, max_steps: int = 100_000) -> list[Record]:
        """Run until idle, but at most until ``max_time`` (default: an hour from now)
        and at most ``max_steps`` timer firings and datagrams. Returns the new records."""
        limit = self.now + 3600.0 if max_time is None else max_time
        start = len(self.records)
        for _ in range(max_steps):
            if not self._advance(limit)[0]:
                if not self.idle:
                    self.now = max(self.now, limit)
                break
        return self.records[start:]

    @property
    def idle(self) -> bool:
        """True when no datagram is in flight or waiting, and no endpoint has a timer."""
        self._collect_all()
        return not self._queue and self._next_timer() is None

    # -- reading the results ---------------------------------------------------------------------

    def labels(self) -> list[str]:
        """Labels of the delivered datagrams, in delivery order: what ladder tests assert."""
        return [r.label for r in self.records if not r.dropped]

    def format_log(self) -> str:
        """The records as a text table, one datagram a line."""
        rows = [("sent", "arrived", "from", "to", "message")]
        for r in self.records:
            arrived = "lost" if r.time_delivered is None else f"{r.time_delivered:.3f}"
            label = f"{r.label}  ({r.reason})" if r.dropped else r.label
            rows.append((f"{r.time_sent:.3f}", arrived, self.name_of(r.src),
                         self.name_of(r.dst), label))
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        return "\n".join(
            "  ".join(cell.rjust(widths[i]) if i < 2 else cell.ljust(widths[i])
                      for i, cell in enumerate(row[:4])) + "  " + row[4]
            for row in rows
        )

    def print_log(self) -> None:
        print(self.format_log())

    def __str__(self) -> str:
        return self.format_log()

    def __repr__(self) -> str:
        return (f"<SimNetwork now={self.now} endpoints={list(self._nodes)} "
                f"records={len(self.records)}>")

    # -- the engine --------------------------------------------------------------------------------

    def _node(self, ref: Peer | str) -> _Node:
        if isinstance(ref, str):
            if ref in self._nodes:
                return self._nodes[ref]
            raise KeyError(f"no endpoint called {ref!r}")
        node = self._by_address.get(_normal(ref))
        if node is None:
            raise KeyError(f"no endpoint at {ref}")
        return node

    def _collect_all(self) -> None:
        for node in self._nodes.values():
            self._collect(node)

    def _collect(self, node: _Node) -> None:
        for data, destination in node.endpoint.datagrams_to_send():
            self._send(node, data, _normal(destination))

    def _send(self, node: _Node, data: bytes, dst: Peer) -> None:
        src = node.source_for(dst.transport)
        target = self._by_address.get(dst)
        reason: str | None = None
        arrival = self.now
        if target is None:
            reason = "no such host"
        else:
            link = self._links.get((node.name, target.name))
            if link is not None and link.loss is not None and link.loss.drops(data, self.random):
                reason = f"lost on the link: {link.loss!r}"
            else:
                delay = self.delay if link is None or link.delay is None else link.delay
                arrival = self.now + delay
        flight = _Flight(self.now, src, dst, data, target, reason)
        heapq.heappush(self._queue, (arrival, next(self._order), flight))

    def _next_timer(self) -> tuple[float, _Node] | None:
        best: tuple[float, _Node] | None = None
        for node in self._nodes.values():  # in the order added: ties go to the first
            deadline = node.endpoint.get_timer()
            if deadline is not None and (best is None or deadline < best[0]):
                best = (deadline, node)
        return best

    def _advance(self, limit: float) -> tuple[bool, Record | None]:
        """Do the next thing due at or before ``limit``: fire one endpoint's timers or
        deliver (or drop) one datagram. A timer due at the same time as a delivery
        fires first. Returns (something happened, the datagram's record)."""
        self._collect_all()
        timer = self._next_timer()
        arrival = self._queue[0][0] if self._queue else None
        if timer is not None and (arrival is None or timer[0] <= arrival):
            deadline, node = timer
            if deadline > limit:
                return False, None
            self.now = max(self.now, deadline)
            node.endpoint.handle_timer(self.now)
            after = node.endpoint.get_timer()
            if after is not None and after <= self.now:
                raise RuntimeError(f"{node.name} still has a timer due at {after} "
                                   f"after handle_timer({self.now})")
            self._collect(node)
            return True, None
        if arrival is None or arrival > limit:
            return False, None
        _, _, flight = heapq.heappop(self._queue)
        self.now = max(self.now, arrival)
        return True, self._deliver(flight)

    def _deliver(self, flight: _Flight) -> Record:
        line = first_line(flight.data)
        dropped = flight.reason is not None or flight.target is None
        record = Record(
            time_sent=flight.sent,
            time_delivered=None if dropped else self.now,
            src=flight.src,
            dst=flight.dst,
            first_line=line,
            label=label_of(line),
            data=flight.data,
            dropped=dropped,
            reason=flight.reason,
        )
        self.records.append(record)
        if flight.target is not None and not dropped:
            seen_from = Peer(flight.src.host, flight.src.port, flight.dst.transport)
            flight.target.endpoint.receive_datagram(flight.data, seen_from, self.now)
            self._collect(flight.target)
        return record


def _normal(address: Peer) -> Peer:
    return Peer(address.host, address.port, address.transport.lower())
