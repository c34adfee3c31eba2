"""The replay's end of the wire: a transaction layer on a socket, and what the live side sent.

:class:`LiveSide` gives the replayed side a real SIP stack underneath:
siplab's :class:`~siplab.sip.transaction_layer.TransactionLayer` (RFC 3261
§17) driven by an :class:`~siplab.aio.driver.EndpointDriver` over a
:class:`~siplab.aio.transport.TransportManager` socket, UDP or TCP. The
layer retransmits our requests while the live side is silent, ACKs the
3xx-6xx of our INVITEs, absorbs the live side's retransmissions and matches
its responses to our requests (§17.1.3). It runs without its automatic 100
Trying (``auto_100=False``): a 100 goes out only if the capture has one.

Everything the layer passes up about the replayed dialog waits in an
*inbox* as a :class:`Live` message, in arrival order, until a step of the
script takes it; what no step takes is reported at the end as unexpected.
Copies are dropped (a 2xx resent by the live side gets our ACK again,
§13.2.2.4). A response the layer matched to no transaction but whose branch
is ours (a CSeq naming another method) is kept too, marked ``discarded``:
it is a divergence worth reporting, not noise.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from siplab.errors import InvalidStateError, LocalProtocolError, SipError
from siplab.lab.replay_script import ReplayScript
from siplab.sip.events import MessageDiscarded, RequestReceived, ResponseReceived, TransportFailed
from siplab.sip.message import Message, Request, Response, parse_message
from siplab.sip.timers import TimerConfig
from siplab.sip.transaction import ClientTransaction, ServerTransaction, Transaction
from siplab.sip.transaction_layer import TransactionLayer
from siplab.sip.transport import Peer

if TYPE_CHECKING:
    from siplab.aio.driver import EndpointDriver
    from siplab.aio.transport import TraceRecord

__all__ = ["Live", "LiveSide", "resolve", "peer_of"]


@dataclass(slots=True)
class Live:
    """A message from the live side, waiting for a step to take it."""

    message: Request | Response
    peer: Peer
    time: float  # loop time of its arrival
    step: int  # the step running when it came
    transaction: ServerTransaction | None = None  # of a request (None: an ACK of a 2xx)
    discarded: bool = False  # a response the layer matched to nothing (its CSeq method)
    used: bool = False


async def resolve(peer: Peer) -> Peer:
    """``peer`` with its host name resolved (IPv4 preferred); raises OSError in one line."""
    loop = asyncio.get_running_loop()
    try:
        found = await loop.getaddrinfo(peer.host, peer.port, type=socket.SOCK_DGRAM)
    except OSError as error:
        raise OSError(f"{peer.host}: cannot resolve ({error.strerror or error})") from None
    host = str(min(found, key=lambda info: info[0] != socket.AF_INET)[4][0])
    return Peer(host, peer.port, peer.transport)


def peer_of(target: object, transport: str = "udp") -> Peer:
    """A Peer from ``"host:port"`` (``[::1]:5060``), ``(host, port)`` or a Peer."""
    if isinstance(target, str):
        host, colon, port = target.rpartition(":")
        short = port.isascii() and port.isdigit() and len(port) <= 5  # int()-safe
        if not colon or not host or not short or not 0 < int(port) < 65536:
            raise LocalProtocolError(f"expected HOST:PORT such as 127.0.0.1:5060, not {target!r}")
        return Peer(host.strip("[]"), int(port), transport)
    if isinstance(target, tuple) and len(target) >= 2:
        return Peer(str(target[0]), int(target[1]), transport)
    raise LocalProtocolError(f"expected HOST:PORT, (host, port) or a Peer, not {target!r}")


class LiveSide:
    """Our socket and transaction layer, and the inbox of live messages (see the module doc).

    ``is_ours(call_id)`` and ``our_branches()`` say which messages belong to the
    replayed dialog; ``on_failure(transaction)`` hears about a transport failure.
    """

    def __init__(self, script: ReplayScript, *, timers: TimerConfig,
                 trace: Callable[[TraceRecord], None] | None, connect_timeout: float,
                 is_ours: Callable[[Request, Peer], bool],
                 our_branches: Callable[[], set[str]],
                 on_failure: Callable[[Transaction], None]) -> None:
        self.script = script
        self.layer = TransactionLayer(timers=timers, auto_100=False)
        self.trace = trace
        self.connect_timeout = connect_timeout
        self.is_ours = is_ours
        self.our_branches = our_branches
        self.on_failure = on_failure
        self.local: Peer | None = None
        self.step = 0  # the step running, for the rows of messages that come meanwhile
        self.inbox: list[Live] = []
        self.acks: dict[int, tuple[Request, Peer]] = {}  # INVITE CSeq -> our ACK of its 2xx
        self.acked: set[int] = set()  # INVITE CSeqs the live side acknowledged
        self._own: dict[str, list[Response]] = {}  # branch -> answers to requests outside
        self._seen: set[tuple[object, ...]] = set()
        self._wake = asyncio.Event()
        self._driver: EndpointDriver | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def open(self, transport: str, host: str, port: int,
                   connect_to: Peer | None = None) -> Peer:
        """Bind UDP (or listen on TCP, or connect to ``connect_to``); return our address."""
        from siplab.aio.driver import EndpointDriver
        from siplab.aio.transport import TransportManager

        transports = TransportManager(trace=self.trace, connect_timeout=self.connect_timeout)
        self._driver = EndpointDriver(self.layer, transports, on_event=self._on_event,
                                      queue_events=False)
        transports.on_message = self._datagram
        if transport == "udp":
            self.local = await transports.listen_udp(host, port)
        elif connect_to is not None:
            self.local = await transports.connect(connect_to)  # our end of the connection
        else:
            self.local = await transports.listen_tcp(host, port)
        return self.local

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        driver, self._driver = self._driver, None
        if driver is not None:
            await driver.transports.close(1.0)
            await driver.close()

    # -- sending ----------------------------------------------------------------------------

    def send_request(self, request: Request, peer: Peer) -> ClientTransaction:
        """A new client transaction (never for an ACK)."""
        transaction: ClientTransaction = self._driver_of().call(self.layer.send_request,
                                                                request, peer)
        return transaction

    def send_response(self, transaction: ServerTransaction, response: Response) -> None:
        self._driver_of().call(self.layer.send_response, transaction, response)

    def send_stateless(self, message: Message, peer: Peer) -> None:
        """An ACK of a 2xx, a 2xx sent again (no transaction does those, §13.2.2.4, §13.3.1.4)."""
        self.layer.send_stateless(message, peer)
        self._driver_of().flush()

    def send_ack(self, ack: Request, peer: Peer) -> None:
        """The ACK of the 2xx to INVITE number ``ack.cseq``; sent again for each copy of it."""
        self.acks[ack.cseq.number] = (ack, peer)
        self.send_stateless(ack, peer)

    def resend_until_acked(self, response: Response, peer: Peer, timers: TimerConfig) -> None:
        """Our 2xx to an INVITE again after T1, 2*T1... (at most T2 apart) until its ACK
        comes or 64*T1 passed (§13.3.1.4: the UAS core's job, not the transaction's)."""

        async def resend() -> None:
            loop = asyncio.get_running_loop()
            interval, give_up = timers.t1, loop.time() + 64 * timers.t1
            while loop.time() < give_up:
                await asyncio.sleep(interval)
                if response.cseq.number in self.acked:
                    return
                self.send_stateless(response, peer)
                interval = min(2 * interval, timers.t2)

        task = asyncio.get_running_loop().create_task(resend())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def own(self, branch: str | None) -> list[Response]:
        """Collect the answers to a request of ours outside the script (REGISTER, BYE)."""
        return self._own.setdefault(branch or "", [])

    async def transact(self, request: Request, peer: Peer, timeout: float,
                       retry: Callable[[Request, Response], Request | None] | None = None,
                       ) -> tuple[Request, Response | None]:
        """Send a request outside the script and wait for its final answer; ``retry`` may
        answer a 401/407 with a new request (twice at most). Returns the last request sent
        and its final response (None: none came within ``timeout``)."""
        loop = asyncio.get_running_loop()
        final: Response | None = None
        for _ in range(3):
            answers = self.own(request.branch)
            with contextlib.suppress(SipError):
                self.send_request(request, peer)
            await self.wait(loop.time() + timeout, _has_final(answers))
            final = next((r for r in answers if r.is_final), None)
            again = retry(request, final) if retry is not None and final is not None and \
                final.status in (401, 407) else None
            if again is None:
                break
            request = again
        return request, final

    # -- the inbox --------------------------------------------------------------------------

    def next_response(self, branch: str | None, method: str) -> Live | None:
        """The first live response not taken yet for our request with this branch."""
        for live in self.inbox:
            message = live.message
            if not live.used and isinstance(message, Response) and message.branch == branch \
                    and (message.cseq.method == method or live.discarded):
                return live
        return None

    def next_request(self) -> Live | None:
        return next((live for live in self.inbox
                     if not live.used and isinstance(live.message, Request)), None)

    async def wait(self, deadline: float, until: Callable[[], bool]) -> bool:
        """Wait for messages until ``until()`` holds (True) or ``deadline`` passes (False)."""
        loop = asyncio.get_running_loop()
        while not until():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self._wake.wait()
        return True

    # -- what the transaction layer passes up ----------------------------------------------

    def _datagram(self, data: bytes, peer: Peer) -> None:
        self._driver_of().datagram_received(data, peer)
        self._wake.set()  # also for an ACK a server transaction absorbs (no event)

    def _on_event(self, event: object) -> None:
        if isinstance(event, RequestReceived):
            self._request_in(event.request, event.transaction, event.peer)
        elif isinstance(event, ResponseReceived):
            self._response_in(event.response, event.transaction.peer, discarded=False)
        elif isinstance(event, MessageDiscarded):
            with contextlib.suppress(SipError, ValueError):
                message = parse_message(event.data)
                if isinstance(message, Response):
                    self._response_in(message, event.peer, discarded=True)
        elif isinstance(event, TransportFailed):
            self.on_failure(event.transaction)
        self._wake.set()

    def _request_in(self, request: Request, transaction: ServerTransaction | None,
                    peer: Peer) -> None:
        if not self.is_ours(request, peer):
            return  # another call: the replay plays one
        # A copy has the branch of the first; an ACK sent again for each copy of our 2xx may
        # have a new one (§13.2.2.4 leaves it open): ACKs are told apart by CSeq alone.
        branch = None if request.method == "ACK" else request.branch
        key = ("request", request.method, request.cseq, branch)
        if key in self._seen:
            return
        self._seen.add(key)
        if request.method == "ACK":
            self.acked.add(request.cseq.number)
        self.inbox.append(Live(request, peer, self._now(), self.step, transaction))

    def _response_in(self, response: Response, peer: Peer, *, discarded: bool) -> None:
        branch = response.branch or ""
        if branch in self._own:
            self._own[branch].append(response)
            return
        if branch not in self.our_branches():
            return  # a late copy for a transaction that ended, or not ours at all
        key = ("response", response.status, response.cseq, branch, response.to_tag)
        if key in self._seen:
            ack = self.acks.get(response.cseq.number)
            if ack is not None and 200 <= response.status < 300:  # §13.2.2.4
                self.send_stateless(*ack)
            return
        self._seen.add(key)
        self.inbox.append(Live(response, peer, self._now(), self.step, discarded=discarded))

    def _driver_of(self) -> EndpointDriver:
        if self._driver is None:
            raise InvalidStateError("the replay's socket is not open")
        return self._driver

    def _now(self) -> float:
        return asyncio.get_running_loop().time()


def _has_final(answers: list[Response]) -> Callable[[], bool]:
    return lambda: any(response.is_final for response in answers)
