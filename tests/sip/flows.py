"""Real user agents and the real server on one SimNetwork: the lab for the RFC 3665 flows.

:class:`FlowLab` puts a :class:`~siplab.sip.server.ServerCore` (registrar and
proxy for ``biloxi.example.com`` at 10.0.0.100) and any number of
:class:`~siplab.sip.useragent.UserAgentCore` phones on a
:class:`~siplab.lab.SimNetwork`, every one with its own seeded IdSource, so a
flow gives the same bytes on every run. Each phone's outbound proxy is the
server, as with JsSIP or a desk phone set up for a PBX.

A flow is asserted *per hop*, the way RFC 3665 draws it: :meth:`FlowLab.hop`
lists the messages between two named endpoints (``"-> INVITE"`` from the first
to the second, ``"<- 100 Trying"`` back), with ``(lost)`` after those the
network dropped, so a ladder under loss shows the retransmissions.
:meth:`FlowLab.assert_clean` checks what every flow must leave behind: no
session, no transaction, no response context, and no timer but the
registration refreshes (phones) and the binding expiries (server).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from siplab.ids import IdSource
from siplab.lab import SimNetwork
from siplab.lab.network import DropEvery, LossPattern, RandomLoss, Record
from siplab.sip.events import Event, IncomingCall, Registered
from siplab.sip.invite import Session
from siplab.sip.server import ServerConfig, ServerCore
from siplab.sip.transport import Peer
from siplab.sip.useragent import UserAgentConfig, UserAgentCore

__all__ = [
    "DOMAIN",
    "SERVER",
    "SERVER_WS",
    "USERS",
    "HOSTS",
    "SDP",
    "sdp",
    "FlowLab",
    "Loss",
    "LOSSES",
    "assert_survives_loss",
    "acked",
    "recovered",
]

DOMAIN = "biloxi.example.com"
SERVER = Peer("10.0.0.100", 5060, "udp")
SERVER_WS = Peer("10.0.0.100", 8080, "ws")
USERS = {"alice": "wonderland", "bob": "builder", "carol": "singer"}
HOSTS = {"alice": "10.0.0.1", "bob": "10.0.0.2", "carol": "10.0.0.3", "bob-mobile": "10.0.0.4"}

E = TypeVar("E", bound=Event)


def sdp(owner: str, direction: str = "sendrecv") -> bytes:
    """A small SDP body (the cores only carry it); ``direction`` says hold or not."""
    return (f"v=0\r\no={owner} 1 1 IN IP4 {HOSTS.get(owner, '10.0.0.9')}\r\ns=-\r\n"
            f"c=IN IP4 {HOSTS.get(owner, '10.0.0.9')}\r\nt=0 0\r\n"
            f"m=audio 4000 RTP/AVP 0\r\na={direction}\r\n").encode()


SDP = sdp("alice")


class FlowLab:
    """A ServerCore and UserAgentCores on one SimNetwork, with per-hop ladders."""

    def __init__(self, *, seed: int = 1, delay: float = 0.01, ws: bool = False,
                 users: dict[str, str] | None = USERS, **server_options: Any) -> None:
        self.seed = seed
        self.net = SimNetwork(seed=seed, delay=delay)
        listen = (SERVER, SERVER_WS) if ws else (SERVER,)
        self.users = users
        self.server = ServerCore(
            ServerConfig(listen=listen, domains=(DOMAIN,), users=users, **server_options),
            ids=IdSource(f"server-{seed}"),
        )
        for address in listen:
            self.net.add(self.server, address.host, address.port, name="server",
                         transport=address.transport)
        self.uas: dict[str, UserAgentCore] = {}
        self.seen: dict[str, list[Event]] = {}
        self._mark = 0
        self._answered: list[Session] = []

    # -- building ---------------------------------------------------------------------------

    def ua(self, name: str, *, user: str | None = None, transport: str = "udp",
           port: int | None = None, password: str | None = None,
           **options: Any) -> UserAgentCore:
        """A phone called ``name`` for ``sip:user@biloxi.example.com`` (user = name) at
        ``HOSTS[name]``; over ``ws`` it reaches the server's WebSocket listener."""
        user = user or name
        host = HOSTS[name]
        port = port or (40000 if transport == "ws" else 5060)
        local = Peer(host, port, transport)
        if password is None and self.users is not None:
            password = self.users.get(user)
        config = UserAgentConfig(aor=f"sip:{user}@{DOMAIN}", password=password, local=local,
                                 outbound=SERVER_WS if transport == "ws" else SERVER, **options)
        ua = UserAgentCore(config, ids=IdSource(f"{name}-{self.seed}"))
        self.net.add(ua, host, port, name=name, transport=transport)
        self.uas[name] = ua
        self.seen[name] = []
        return ua

    def registered(self, *names: str) -> None:
        """Register the phones ``names`` one after the other, then :meth:`mark`."""
        for name in names:
            self.uas[name].register(self.now)
            self.run(1.0)
            assert any(isinstance(e, Registered) for e in self.events(name)), \
                f"{name} did not register:\n{self.net.format_log()}"
        self.mark()

    def link(self, a: str, b: str, loss: LossPattern | None, *, both_ways: bool = True) -> None:
        self.net.link(a, b, loss=loss, both_ways=both_ways)

    # -- running ---------------------------------------------------------------------------

    @property
    def now(self) -> float:
        return self.net.now

    def run(self, seconds: float = 1.0) -> None:
        """Let ``seconds`` of simulated time pass."""
        self.net.run_until(self.net.now + seconds)

    def until(self, condition: Callable[[], object], seconds: float = 64.0,
              step: float = 0.01) -> None:
        """Run until ``condition()`` is true, for at most ``seconds`` (then fail)."""
        deadline = self.now + seconds
        while not condition():
            if self.now >= deadline:
                raise AssertionError(f"not reached in {seconds} s:\n{self.log()}")
            self.run(step)

    def reported(self, name: str, kind: type[Event]) -> bool:
        """True once phone ``name`` has reported an event of ``kind``."""
        return any(isinstance(e, kind) for e in self.events(name))

    def events(self, name: str) -> list[Event]:
        """Every event phone ``name`` has reported so far (drained into :attr:`seen`)."""
        ua = self.uas[name]
        self.seen[name].extend(iter(ua.next_event, None))
        return self.seen[name]

    def last(self, name: str, kind: type[E]) -> E:
        """The latest event of ``kind`` phone ``name`` reported (fails if none)."""
        found = [e for e in self.events(name) if isinstance(e, kind)]
        assert found, f"{name} reported no {kind.__name__}: {self.names(name)}"
        return found[-1]

    def names(self, name: str) -> list[str]:
        """The class names of phone ``name``'s events, in order."""
        return [type(e).__name__ for e in self.events(name)]

    def incoming(self, name: str, seconds: float = 1.0) -> Session:
        """Run until phone ``name`` has a call not returned before; return its session."""
        deadline = self.now + seconds
        while True:
            for event in self.events(name):
                if isinstance(event, IncomingCall) and event.session not in self._answered:
                    self._answered.append(event.session)
                    return event.session
            if self.now >= deadline:
                raise AssertionError(f"no call reached {name}:\n{self.net.format_log()}")
            self.run(0.01)

    # -- reading the ladders ------------------------------------------------------------------

    def mark(self) -> None:
        """Start the ladders here (the registrations before are left out)."""
        self._mark = len(self.net.records)

    def records(self, a: str, b: str) -> list[Record]:
        """The datagrams between endpoints ``a`` and ``b`` (either way) since :meth:`mark`."""
        name = self.net.name_of
        return [r for r in self.net.records[self._mark:]
                if {name(r.src), name(r.dst)} == {a, b} and name(r.src) != name(r.dst)]

    def hop(self, a: str, b: str) -> list[str]:
        """The ladder of one hop: ``"-> INVITE"`` from a to b, ``"<- 180 Ringing"`` from b
        to a, in the order they arrived (or were lost: ``"-> INVITE (lost)"``)."""
        out = []
        for record in self.records(a, b):
            arrow = "->" if self.net.name_of(record.src) == a else "<-"
            out.append(f"{arrow} {record.label}" + (" (lost)" if record.dropped else ""))
        return out

    def delivered(self, a: str, b: str) -> list[str]:
        """:meth:`hop` without the lost datagrams."""
        return [line for line in self.hop(a, b) if not line.endswith(" (lost)")]

    def log(self) -> str:
        return self.net.format_log()

    def check(self, loss: Loss | None, ladders: dict[tuple[str, str], list[str]]) -> None:
        """Let the flow finish (:meth:`settle`), then check the ladder of each hop.

        On a clean network (``loss`` None) each hop must be exactly its ladder.
        Under loss, the flow must have got through (:func:`assert_survives_loss`)
        and the network must have lost something on those hops, or the variant
        would prove nothing.
        """
        self.settle()
        for (a, b), expected in ladders.items():
            if loss is None:
                assert self.hop(a, b) == expected, f"{a}-{b}:\n{self.log()}"
            else:
                assert_survives_loss(self, a, b, expected)
        if loss is not None:
            assert any(r.dropped for a, b in ladders for r in self.records(a, b)), \
                f"{loss} lost nothing on {list(ladders)}"

    # -- what every flow must leave behind -------------------------------------------------------

    def settle(self) -> None:
        """Run until the network has been quiet for longer than the longest transaction
        timer (64*T1: Timers B, F, H, J, L, M and the 2xx retransmissions)."""
        quiet = 64 * self.server.layer.timers.t1 + 1
        for _ in range(10):
            before = len(self.net.records)
            self.run(quiet)
            if len(self.net.records) == before:
                return
        raise AssertionError(f"the network never went quiet:\n{self.log()}")

    def assert_clean(self) -> None:
        """After :meth:`settle`: no session, transaction or response context anywhere,
        and the only timers are registration refreshes (each phone's ``refresh_at``)
        and binding expiries (the server's next one)."""
        self.settle()
        stats = self.server.stats()
        assert stats.idle, f"{stats}\n{self.log()}"
        assert self.server.proxy.get_timer() is None, "a Timer C is still running"
        assert self.server.layer.get_timer() is None
        assert self.server.get_timer() == self.server.location.get_timer()
        for name, ua in self.uas.items():
            assert not ua.sessions, f"{name} still has {dict(ua.sessions)}"
            assert not ua.layer.client_transactions, f"{name}: {ua.layer.client_transactions}"
            assert not ua.layer.server_transactions, f"{name}: {ua.layer.server_transactions}"
            assert ua.layer.get_timer() is None, name
            registration = ua.registration
            refresh = registration.refresh_at if registration is not None else None
            assert ua.get_timer() == refresh, (name, ua.get_timer(), refresh)


@dataclass(frozen=True)
class Loss:
    """A loss pattern put on the links between each named phone and the server: a
    fresh pattern object for each direction, numbered 0, 1, 2... in that order (the
    seed of a random one)."""

    name: str
    make: Callable[[int], LossPattern]

    def apply(self, lab: FlowLab, *names: str, both_ways: bool = False) -> None:
        """With ``both_ways`` one pattern counts the datagrams of both directions (for a
        short exchange such as one REGISTER, two messages each way)."""
        for index, name in enumerate(names):
            if both_ways:
                lab.link(name, "server", self.make(2 * index))
                continue
            lab.link(name, "server", self.make(2 * index), both_ways=False)
            lab.link("server", name, self.make(2 * index + 1), both_ways=False)

    def __str__(self) -> str:
        return self.name


#: The loss variants every flow runs with, besides a clean network: a fixed
#: pattern and seeded random loss. The flows run identically every time.
LOSSES = [
    Loss("DropEvery(3)", lambda index: DropEvery(3)),
    Loss("RandomLoss(0.3)", lambda index: RandomLoss(0.3, seed=3665 + index)),
]


def assert_survives_loss(lab: FlowLab, a: str, b: str, expected: list[str]) -> None:
    """The hop a-b under loss: every request and final response of the clean ladder
    got through, and every datagram that was lost got through too (:func:`recovered`).

    The order is the clean run's business: under loss two transactions may
    finish in another order (the 487 before the 200 to a CANCEL sent twice).
    Provisional responses are left out: a lost 180 is never sent again over
    UDP (RFC 3262 would; siplab does not use it).
    """
    hop = lab.hop(a, b)
    finals = Counter(line for line in expected if line[3:4] != "1")
    missing = finals - Counter(lab.delivered(a, b))
    assert not missing, f"{a}-{b}: {sorted(missing)} missing from {hop}\n{lab.log()}"
    assert recovered(lab, a, b), f"{a}-{b}: a lost message never got through: {hop}"


def acked(session: Session) -> bool:
    """True once the callee's session has the ACK for its 2xx (its history says so)."""
    return any(name == "receive ACK" for _, name, _ in session.history)


def recovered(lab: FlowLab, a: str, b: str) -> bool:
    """True if every datagram lost between ``a`` and ``b``, provisional responses aside,
    also got through, byte for byte the same way: its retransmission (or, for a lost
    retransmission, the copy before it)."""
    records = lab.records(a, b)
    delivered = {(r.src, r.data) for r in records if not r.dropped}
    return all((r.src, r.data) in delivered for r in records
               if r.dropped and r.label[:1] != "1")
