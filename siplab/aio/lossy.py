"""A bad network on purpose: UDP datagrams lost, delayed, duplicated and reordered.

Lossy Wi-Fi is where SIP's retransmissions earn their keep: a REGISTER lost
on the way is sent again by Timer E, an INVITE by Timer A, a lost 200 OK by
the callee's UA core until the ACK comes (RFC 3261 §17.1.1.2, §17.1.2.2,
§13.3.1.4). To watch that on real sockets without a real bad network (or
without ``tc netem``, which needs root and a kernel that has it), give a
:class:`~siplab.aio.server.LabServer` or a
:class:`~siplab.aio.useragent.UserAgent` an :class:`Impairment`::

    server = LabServer(udp=[("127.0.0.1", 0)], users=..., impairment=Impairment(loss=0.3))

Every UDP datagram that endpoint sends *or* receives then goes through
:class:`ImpairedTransportManager`, which decides its fate with a seeded
random generator, the way netem does:

* ``loss``: the probability a datagram is dropped;
* ``delay`` and ``jitter``: seconds it waits (``delay`` plus up to
  ``jitter`` more, drawn for each datagram);
* ``duplicate``: the probability a second copy follows it;
* ``reorder``: the probability it is held back ``reorder_gap`` seconds more,
  so that the datagrams sent after it overtake it.

Only UDP is impaired: TCP, TLS and WebSocket repair loss themselves (their
segments are retransmitted by the kernel), which is why SIP does not
retransmit over them. :attr:`ImpairedTransportManager.counts` says what
happened to how many datagrams; the same seed and the same traffic give the
same fates.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from siplab.aio.transport import TransportManager
from siplab.sip.transport import Peer

__all__ = ["Impairment", "ImpairedTransportManager"]


@dataclass(frozen=True, slots=True)
class Impairment:
    """How bad the network is, for UDP (see the module docstring). Probabilities are 0..1."""

    loss: float = 0.0
    delay: float = 0.0
    jitter: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    reorder_gap: float = 0.05
    seed: int | str = 1

    def __post_init__(self) -> None:
        for name in ("loss", "duplicate", "reorder"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} is a probability, 0 to 1")
        if min(self.delay, self.jitter, self.reorder_gap) < 0:
            raise ValueError("delay, jitter and reorder_gap are seconds, not negative")


class ImpairedTransportManager(TransportManager):
    """A :class:`TransportManager` whose UDP datagrams, in and out, meet an :class:`Impairment`."""

    def __init__(self, impairment: Impairment, *args: Any, **options: Any) -> None:
        super().__init__(*args, **options)
        self.impairment = impairment
        self.random = random.Random(impairment.seed)
        #: "lost", "delayed", "duplicated", "reordered" and "passed", both directions.
        self.counts: Counter[str] = Counter()
        self._handles: set[asyncio.TimerHandle] = set()

    # -- the two places a UDP datagram passes ---------------------------------------------

    def send(self, data: bytes, peer: Peer) -> None:
        if peer.transport.lower() != "udp":
            super().send(data, peer)
            return
        self._impair(lambda: TransportManager.send(self, data, peer))

    def _received(self, data: bytes, local: Peer | None, remote: Peer) -> None:
        if remote.transport != "udp":
            super()._received(data, local, remote)
            return
        self._impair(lambda: TransportManager._received(self, data, local, remote))

    # -- the fate of one datagram ------------------------------------------------------------

    def _impair(self, deliver: Callable[[], None]) -> None:
        settings, chance = self.impairment, self.random.random
        if chance() < settings.loss:
            self.counts["lost"] += 1
            return
        wait = settings.delay + settings.jitter * chance()
        if chance() < settings.reorder:
            wait += settings.reorder_gap
            self.counts["reordered"] += 1
        copies = 2 if chance() < settings.duplicate else 1
        if copies == 2:
            self.counts["duplicated"] += 1
        for copy in range(copies):
            later = wait + copy * settings.jitter * chance()
            if later <= 0:
                deliver()
            else:
                self.counts["delayed"] += 1
                self._later(later, deliver)
        self.counts["passed"] += 1

    def _later(self, seconds: float, deliver: Callable[[], None]) -> None:
        loop = asyncio.get_running_loop()

        def fire() -> None:
            self._handles.discard(handle)
            if not self._closed:
                deliver()

        handle = loop.call_later(seconds, fire)
        self._handles.add(handle)

    async def close(self, timeout: float = 3.0) -> None:
        for handle in self._handles:
            handle.cancel()
        self._handles.clear()
        await super().close(timeout)
