"""Running a sans-I/O endpoint on asyncio: the whole driver, one page.

Every protocol object in ``siplab.sip`` (a transaction layer, a user agent, a
registrar) is a *sans-I/O endpoint*: it never touches a socket and never reads
a clock. It has five verbs (DESIGN.md)::

    endpoint.receive_datagram(data, peer, now)   # bytes that arrived
    endpoint.datagrams_to_send()                 # drain: [(bytes, peer), ...]
    endpoint.next_event()                        # drain one event, or None
    endpoint.get_timer()                         # earliest deadline, or None
    endpoint.handle_timer(now)                   # fire everything due

:class:`EndpointDriver` connects those verbs to the real world, and does
nothing else. Bytes from the :class:`~siplab.aio.transport.TransportManager`
go to ``receive_datagram`` with ``now = loop.time()``; then it *flushes*:
sends what the endpoint wants sent, hands out its events, and keeps exactly one
``loop.call_at`` armed for the endpoint's next deadline, which calls
``handle_timer`` and flushes again.

Why so short? Because every decision (when to retransmit an INVITE, which
response matches which transaction, when Timer B gives up) is protocol, and the
protocol lives in the core, where a test can step time by hand and a notebook
can replay a call on a simulated network. aioquic's asyncio layer is short for
the same reason. If you find yourself adding an ``if`` about SIP here, it
belongs in ``siplab.sip`` instead.

Times are the event loop's monotonic clock (``loop.time()``), the same clock
``loop.call_at`` uses, so a deadline returned by ``get_timer`` can be handed to
the loop as it is.

A busy server has a deadline every few hundred microseconds (each finished
transaction lingers 32 s, then ends on its own Timer J). Waking the loop for
each one costs more than the work it wakes for, so a driver can be given a
``tick``: deadlines are rounded up to the next multiple of it, and everything
due by then is handled in one wake-up. Kamailio's timers work the same way
(ticks of 1/16 s); LabServer uses :data:`SERVER_TICK`. A user agent keeps the
exact deadlines (``tick=0``).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Iterable
from typing import Any, Protocol, TypeVar

from siplab.aio.transport import TransportManager
from siplab.sip.transport import Peer

__all__ = ["EndpointDriver", "SansIoEndpoint", "SERVER_TICK"]

#: A server's timer tick in seconds: its timers fire up to this late, in batches.
#: Small next to T1 (0.5 s, the shortest SIP timer), large next to the gap
#: between two deadlines under load.
SERVER_TICK = 0.01

logger = logging.getLogger("siplab.aio.driver")

T = TypeVar("T")


class SansIoEndpoint(Protocol):
    """The five verbs every sans-I/O endpoint offers (DESIGN.md)."""

    def receive_datagram(self, data: bytes, peer: Peer, now: float) -> None: ...

    def datagrams_to_send(self) -> Iterable[tuple[bytes, Peer]]: ...

    def next_event(self) -> object | None: ...

    def get_timer(self) -> float | None: ...

    def handle_timer(self, now: float) -> None: ...


class EndpointDriver:
    """Feed an endpoint from real sockets, send its datagrams, fire its timer.

    ``transports`` defaults to a new :class:`TransportManager`; one passed in is
    taken over: its ``on_message`` and ``on_error`` are set to this driver's.
    Events go to ``on_event`` (if given) and into the queue :attr:`events`
    (read it with :meth:`next_event`); ``queue_events=False`` skips the queue
    for a long-running process that only uses ``on_event``.

    Create it inside a running event loop. To call one of the endpoint's own
    methods, give it the current time and flush afterwards::

        tx = layer.send_request(request, peer, driver.now())
        driver.flush()
        # or, the same in one step:
        tx = driver.call(layer.send_request, request, peer)
    """

    def __init__(
        self,
        endpoint: SansIoEndpoint,
        transports: TransportManager | None = None,
        *,
        on_event: Callable[[object], None] | None = None,
        queue_events: bool = True,
        tick: float = 0.0,
    ) -> None:
        if tick < 0:
            raise ValueError("tick cannot be negative")
        self.endpoint = endpoint
        self.transports = transports if transports is not None else TransportManager()
        self.transports.on_message = self.datagram_received
        self.transports.on_error = self.transport_error
        self.on_event = on_event
        self.events: asyncio.Queue[object] = asyncio.Queue()
        self._queue_events = queue_events
        self._loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._tick = tick
        self._flushing = False

    def now(self) -> float:
        """The current time on the clock the endpoint's deadlines use (``loop.time()``)."""
        return self._loop.time()

    def call(self, method: Callable[..., T], *args: Any) -> T:
        """Run ``method(*args, now=self.now())`` on the endpoint, then flush.

        Sans-I/O methods that change state take the time as a keyword named
        ``now``. For a method without one, call it directly and then :meth:`flush`.
        """
        result = method(*args, now=self.now())
        self.flush()
        return result

    # --- what the transports tell us -----------------------------------------

    def datagram_received(self, data: bytes, peer: Peer) -> None:
        """A whole message arrived from ``peer``: feed it to the endpoint."""
        self.endpoint.receive_datagram(data, peer, self.now())
        self.flush()

    def transport_error(self, peer: Peer, exc: Exception) -> None:
        """A message to ``peer`` could not be sent (RFC 3261 §18.4): tell the endpoint."""
        logger.debug("transport error towards %s: %s", peer, exc)
        report = getattr(self.endpoint, "transport_error", None)
        if report is not None:
            report(peer, self.now())
            self.flush()

    # --- what the endpoint wants done ------------------------------------------

    def flush(self) -> None:
        """Send every queued datagram, deliver every event, re-arm the timer.

        An event handler may call back into the endpoint (and so into
        :meth:`flush`); the inner call returns at once and this loop picks up
        whatever it produced, so datagrams and events keep their order.
        """
        if self._flushing:
            return
        self._flushing = True
        try:
            while True:
                sent = False
                for data, peer in self.endpoint.datagrams_to_send():
                    self.transports.send(data, peer)
                    sent = True
                event = self.endpoint.next_event()
                if event is not None:
                    self._deliver(event)
                elif not sent:
                    break
        finally:
            self._flushing = False
        self._arm_timer()

    def _deliver(self, event: object) -> None:
        if self._queue_events:
            self.events.put_nowait(event)
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:  # one broken handler must not stop the others' events
                logger.exception("on_event failed for %r", event)

    def _arm_timer(self) -> None:
        deadline = self.endpoint.get_timer()
        if deadline is not None and self._tick:  # the end of the tick it falls in
            rounded = math.ceil(deadline / self._tick) * self._tick
            deadline = rounded if rounded >= deadline else rounded + self._tick  # (float error)
        if deadline == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = deadline
        if deadline is not None:
            self._timer = self._loop.call_at(deadline, self._timer_fired)

    def _timer_fired(self) -> None:
        deadline = self._timer_at
        self._timer = None
        self._timer_at = None
        # The loop may run a handle a hair before its deadline (clock resolution);
        # never tell the endpoint it is earlier than the deadline it asked for.
        now = self.now() if deadline is None else max(deadline, self.now())
        try:
            self.endpoint.handle_timer(now)
        except Exception:  # a bug must not stop every later timer: log it, re-arm below
            logger.exception("handle_timer failed")
        self.flush()

    # --- for the caller --------------------------------------------------------

    async def next_event(self, timeout: float | None = 5.0) -> object:
        """The next event from the queue; raises TimeoutError after ``timeout`` seconds."""
        async with asyncio.timeout(timeout):
            return await self.events.get()

    async def close(self) -> None:
        """Stop the timer and close the transports."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
            self._timer_at = None
        await self.transports.close()
