"""The transaction layer: messages matched to transactions, one sans-I/O endpoint (RFC 3261 §17).

Between the transport (bytes in, bytes out) and the *transaction user* (the
user agent core, a proxy or a registrar) sits the transaction layer. It keeps
every live transaction in two tables and, for each datagram, decides where it
belongs:

* a **response** belongs to the client transaction whose request had the
  same top Via branch and CSeq method (§17.1.3); a response that matches
  nothing is dropped (§18.1.2, RFC 6026 §7.3 closed the hole RFC 3261 left);
* a **request** belongs to the server transaction with the same branch,
  sent-by and method (§17.2.3; an ACK counts as INVITE, a CANCEL has its own
  transaction). If none matches it is new: a server transaction is created
  and the request goes up as a :class:`~siplab.sip.events.RequestReceived`
  event. An ACK that matches nothing is the ACK for a 2xx, which belongs to
  the dialog, not to a transaction: it goes up with ``transaction=None``.

The layer follows siplab's endpoint contract, so the simulated network and
the asyncio driver run it the same way::

    layer.receive_datagram(data, peer, now)    # bytes that arrived from peer
    layer.datagrams_to_send()                  # [(bytes, peer), ...] to send
    layer.next_event()                         # RequestReceived, ResponseReceived, ...
    layer.get_timer()                          # earliest timer deadline, or None
    layer.handle_timer(now)                    # fire everything due

and the transaction user talks to it with :meth:`TransactionLayer.send_request`,
:meth:`TransactionLayer.send_response` and :meth:`TransactionLayer.send_stateless`,
and gives up on an INVITE that will never be answered with
:meth:`TransactionLayer.abandon` (§9.1).

The logger ``siplab.transaction`` writes one DEBUG line when a transaction
is created, one per change of state and one when it ends, so that
``logging.getLogger("siplab").setLevel("DEBUG")`` shows the machines at work
next to the ``siplab.ua``, ``siplab.proxy`` and ``siplab.server`` lines.

A finished transaction lingers to absorb retransmissions: up to 64*T1 = 32 s
over UDP (Timers J, L, M). A busy server holds tens of thousands of them, so
once one has settled the layer drops the header values its messages had
parsed (:meth:`~siplab.sip.message.Message.forget_parsed`); the messages
themselves stay, and are parsed again if anybody reads them.
"""

from __future__ import annotations

import heapq
import itertools
import logging
from collections import deque
from collections.abc import Callable, Mapping
from types import MappingProxyType

from siplab.errors import LocalProtocolError
from siplab.sip.build import build_response, mark_received
from siplab.sip.events import Event, MessageDiscarded, RequestReceived
from siplab.sip.message import Message, Request, Response, parse_message
from siplab.sip.timers import TimerConfig
from siplab.sip.transaction import (
    ClientTransaction,
    InviteClientTransaction,
    InviteServerTransaction,
    NonInviteClientTransaction,
    NonInviteServerTransaction,
    ServerTransaction,
    Transaction,
    TransactionState,
    client_key,
    response_peer,
    server_key,
)
from siplab.sip.transport import Peer

__all__ = ["TransactionLayer"]

logger = logging.getLogger("siplab.transaction")

#: States in which a transaction only absorbs copies until its last timer fires.
SETTLED_STATES = frozenset({TransactionState.COMPLETED, TransactionState.CONFIRMED,
                            TransactionState.ACCEPTED})


class TransactionLayer:
    """All the transactions of one SIP element, behind the sans-I/O endpoint verbs.

    ``timers`` sets T1, T2 and T4 for every transaction. With ``auto_100``
    (the default) a 100 Trying answers every new INVITE at once: RFC 3261
    §17.2.1 asks for one within 200 ms unless the TU answers sooner, and
    sending it immediately is the simple way to keep that promise.
    """

    def __init__(self, *, timers: TimerConfig | None = None, auto_100: bool = True) -> None:
        self.timers = timers or TimerConfig()
        self.auto_100 = auto_100
        self._clients: dict[tuple[str, ...], ClientTransaction] = {}
        self._servers: dict[tuple[str, ...], ServerTransaction] = {}
        self._outbox: list[tuple[bytes, Peer]] = []
        self._events: deque[Event] = deque()
        # Timer deadlines of the transactions, earliest first. Entries go stale
        # when a transaction's timers change; they are skipped when they surface.
        self._heap: list[tuple[float, int, Transaction]] = []
        self._pushed: dict[Transaction, float] = {}
        self._order = itertools.count()
        self._logged: dict[Transaction, int] = {}  # history rows already logged
        # Transactions that settled while the TU may still be reading their
        # messages: their parsed values are dropped at the next datagram or timer.
        self._settled: list[Transaction] = []
        #: Set by a transaction user that answers some requests statelessly
        #: (RFC 3261 §8.2.7): called with each new request that is not an
        #: INVITE, ACK or CANCEL; a response it returns goes straight out,
        #: and no transaction is made. None (the default): every request gets one.
        self.stateless_answer: Callable[[Request, Peer, float], Response | None] | None = None

    # -- what the tests and the server's counters look at ----------------------------------

    @property
    def client_transactions(self) -> Mapping[tuple[str, ...], ClientTransaction]:
        """Live client transactions by key (branch, method); read-only."""
        return MappingProxyType(self._clients)

    @property
    def server_transactions(self) -> Mapping[tuple[str, ...], ServerTransaction]:
        """Live server transactions by key (see :func:`~siplab.sip.transaction.server_key`)."""
        return MappingProxyType(self._servers)

    # -- the transaction user's verbs ------------------------------------------------------

    def send_request(self, request: Request, peer: Peer, now: float) -> ClientTransaction:
        """Start a client transaction that sends ``request`` to ``peer``.

        An ACK is never sent this way: the ACK for a 300-699 is sent by the
        INVITE client transaction itself, and the ACK for a 2xx has no
        transaction (use :meth:`send_stateless`).
        """
        if request.method == "ACK":
            raise LocalProtocolError(
                "an ACK has no client transaction; send the ACK for a 2xx with send_stateless()"
            )
        key = client_key(request)
        if key is None:
            raise LocalProtocolError("the request has no Via branch to name its transaction")
        if key in self._clients:
            raise LocalProtocolError(f"a client transaction with branch {key[0]} "
                                     f"and method {key[1]} is still running")
        kind = InviteClientTransaction if request.method == "INVITE" else NonInviteClientTransaction
        transaction = kind(request, peer, timers=self.timers, now=now)
        self._clients[key] = transaction
        self._collect(transaction)
        return transaction

    def send_response(self, transaction: ServerTransaction, response: Response,
                      now: float) -> None:
        """Send ``response`` through its server transaction (which checks the state)."""
        if self._servers.get(transaction.key) is not transaction and not transaction.terminated:
            raise LocalProtocolError("that server transaction does not belong to this layer")
        transaction.send_response(response, now)
        self._collect(transaction)

    def send_stateless(self, message: Message, peer: Peer) -> None:
        """Send a message outside any transaction.

        For the ACK of a 2xx (§13.2.2.4) and for responses to requests that
        are not kept (a stateless proxy, a 400 for a broken request). A
        request goes to ``peer``; a response goes where a response to a
        request *from* ``peer`` goes (:func:`~siplab.sip.transaction.response_peer`).
        """
        destination = response_peer(message, peer) if isinstance(message, Response) else peer
        self._outbox.append((message.to_bytes(), destination))

    def abandon(self, transaction: ClientTransaction, now: float) -> None:
        """Give up on a client transaction that has no final response yet (§9.1).

        A CANCEL is answered at once, but the INVITE it cancels may never get
        its 487: the callee crashed, or its answers are lost. RFC 3261 §9.1:
        "If no final response is received within 64*T1 seconds after the
        CANCEL, the client transaction is considered terminated." The
        transaction user (a UA core, a proxy) calls this when that time is up:
        the transaction ends at once, is removed from the table, and its
        :class:`~siplab.sip.events.TransactionTerminated` event follows. A
        transaction that already ended is left alone.
        """
        if transaction.terminated:
            return
        if self._clients.get(transaction.key) is not transaction:
            raise LocalProtocolError("that client transaction does not belong to this layer")
        transaction.abandon(now)
        self._collect(transaction)

    def find_server_transaction_for_cancel(self, cancel: Request) -> InviteServerTransaction | None:
        """The INVITE server transaction a CANCEL refers to (§9.2), or None.

        The CANCEL is matched like a request of that transaction, with its
        method taken as INVITE: same branch and sent-by (or, from an RFC 2543
        element, the same Request-URI, tags, Call-ID, CSeq number and top Via).
        """
        found = self._servers.get(server_key(cancel, method="INVITE"))
        return found if isinstance(found, InviteServerTransaction) else None

    def transport_error(self, peer: Peer, now: float) -> None:
        """The transport could not reach ``peer``: tell every transaction that sends there."""
        every: list[Transaction] = [*self._clients.values(), *self._servers.values()]
        for transaction in every:
            destination = (transaction.response_peer
                           if isinstance(transaction, ServerTransaction) else transaction.peer)
            if destination == peer:
                transaction.transport_error(now)
                self._collect(transaction)

    # -- the endpoint contract --------------------------------------------------------------

    def receive_datagram(self, data: bytes, peer: Peer, now: float) -> None:
        """Take the bytes of one message from ``peer`` and route them (§17.1.3, §17.2.3)."""
        self._forget_settled()
        try:
            message = parse_message(data)
            message.validate()
        except ValueError as error:  # SipParseError is a ValueError
            # Hook for the server issue: a request that got this far deserves a
            # 400 Bad Request (§8.2, §16.3); the layer above will send it.
            self._discard(data, peer, f"not a valid SIP message: {error}")
            return
        if isinstance(message, Request):
            self._receive_request(message, peer, now)
        else:
            self._receive_response(message, data, peer, now)

    def datagrams_to_send(self) -> list[tuple[bytes, Peer]]:
        """Drain the messages to send, each with where it goes."""
        out, self._outbox = self._outbox, []
        return out

    def next_event(self) -> Event | None:
        """Drain one event, in the order they happened, or None."""
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        """The earliest deadline of any transaction, or None when nothing is pending."""
        self._drop_stale_timers()
        return self._heap[0][0] if self._heap else None

    def handle_timer(self, now: float) -> None:
        """Fire every transaction timer due at or before ``now``, in time order."""
        self._forget_settled()
        while True:
            self._drop_stale_timers()
            if not self._heap or self._heap[0][0] > now:
                return
            deadline, _, transaction = heapq.heappop(self._heap)
            del self._pushed[transaction]
            transaction.handle_timer(deadline)
            self._collect(transaction)

    # -- routing ------------------------------------------------------------------------------

    def _receive_request(self, request: Request, peer: Peer, now: float) -> None:
        # §18.2.1, over every transport: a browser's Via names a made-up .invalid
        # host (RFC 7118 §5.2), so received= records where it really is.
        mark_received(request, peer.host, peer.port)  # and RFC 3581: rport, the real port
        transaction = self._match_server(request)
        if request.method == "ACK":
            if isinstance(transaction, InviteServerTransaction):
                transaction.receive_request(request, now)  # ACK for our 300-699 (or 6026 Accepted)
                self._collect(transaction)
            else:
                self._events.append(RequestReceived(request, None, peer))  # ACK for a 2xx
            return
        if transaction is not None:  # a retransmission
            transaction.receive_request(request, now)
            self._collect(transaction)
            return
        answer = self.stateless_answer
        if answer is not None and request.method not in ("INVITE", "CANCEL"):
            response = answer(request, peer, now)
            if response is not None:
                if logger.isEnabledFor(logging.DEBUG):
                    logger.debug("%s %s answered statelessly with %s (RFC 3261 §8.2.7)",
                                 request.method, request.call_id, response.label)
                # Where it goes, from the request: its top Via is parsed already.
                self._outbox.append((response.to_bytes(), response_peer(request, peer)))
                return
        if request.method == "INVITE":
            invite = InviteServerTransaction(request, peer, timers=self.timers, now=now)
            if self.auto_100:
                invite.send_response(build_response(request, 100), now)
            transaction = invite
        else:  # CANCEL too: it gets its own transaction; the TU looks up the INVITE
            transaction = NonInviteServerTransaction(request, peer, timers=self.timers, now=now)
        self._servers[transaction.key] = transaction
        self._collect(transaction)

    def _match_server(self, request: Request) -> ServerTransaction | None:
        key = server_key(request)
        found = self._servers.get(key)
        if found is not None or key[0] != "rfc2543" or request.method != "ACK":
            return found
        # RFC 2543 ACK (§17.2.3): its To tag is the one our response added.
        found = self._servers.get(server_key(request, ignore_to_tag=True))
        last = found.last_response if found is not None else None
        return found if last is not None and last.to_tag == request.to_tag else None

    def _receive_response(self, response: Response, data: bytes, peer: Peer,
                          now: float) -> None:
        key = client_key(response)
        transaction = self._clients.get(key) if key is not None else None
        if transaction is None:
            self._discard(data, peer, "response matches no client transaction "
                                      "(RFC 3261 §17.1.3, §18.1.2; RFC 6026 §7.3)")
            return
        transaction.receive_response(response, now)
        self._collect(transaction)

    def _discard(self, data: bytes, peer: Peer, reason: str) -> None:
        self._events.append(MessageDiscarded(data, peer, reason))

    # -- bookkeeping --------------------------------------------------------------------------

    def _collect(self, transaction: Transaction) -> None:
        """Forward a transaction's output, then forget it or note its next deadline."""
        if logger.isEnabledFor(logging.DEBUG):
            self._log_history(transaction)
        # What datagrams_to_send() and next_event() would drain, drained directly:
        # this runs after every step of every transaction.
        if transaction._outbox:
            self._outbox.extend(transaction.datagrams_to_send())
        if transaction._events:
            self._events.extend(transaction._events)
            transaction._events.clear()
        if transaction.terminated:
            self._logged.pop(transaction, None)
            if isinstance(transaction, ClientTransaction):
                if self._clients.get(transaction.key) is transaction:
                    del self._clients[transaction.key]
            elif self._servers.get(transaction.key) is transaction:
                del self._servers[transaction.key]
            self._pushed.pop(transaction, None)
            if not self._pushed:
                self._release_tables()
            return
        deadline = transaction.get_timer()
        if deadline is not None and self._pushed.get(transaction) != deadline:
            self._pushed[transaction] = deadline
            heapq.heappush(self._heap, (deadline, next(self._order), transaction))
        if transaction.state in SETTLED_STATES:
            self._settled.append(transaction)

    def _release_tables(self) -> None:
        """Make the empty tables small again: a Python dict keeps the room it once
        needed, and after a burst of load that is megabytes holding nothing.
        ``clear()`` gives the room back (and keeps the table itself)."""
        for table in (self._clients, self._servers, self._logged, self._pushed):
            if not table:
                table.clear()

    def _forget_settled(self) -> None:
        for transaction in self._settled:
            transaction.request.forget_parsed()
            if transaction.last_response is not None:
                transaction.last_response.forget_parsed()
        self._settled.clear()

    def _log_history(self, transaction: Transaction) -> None:
        """One DEBUG line for the creation and for each change of state (the end is
        the change to Terminated)."""
        history = transaction.history
        seen = self._logged.get(transaction, 0)
        if seen == 0 and history:
            logger.debug("%s: created %s %s, %s", _name(transaction),
                         "to" if isinstance(transaction, ClientTransaction) else "from",
                         transaction.peer, history[0][2])
            seen = 1
        for index in range(seen, len(history)):
            _, name, state = history[index]
            if state is not history[index - 1][2]:
                logger.debug("%s: %s -> %s on %s", _name(transaction), history[index - 1][2],
                             state, name)
        self._logged[transaction] = len(history)

    def _drop_stale_timers(self) -> None:
        while self._heap:
            deadline, _, transaction = self._heap[0]
            if self._pushed.get(transaction) != deadline:
                heapq.heappop(self._heap)  # superseded by a later entry
                continue
            if transaction.get_timer() == deadline:
                return
            heapq.heappop(self._heap)  # changed behind our back: schedule it afresh
            del self._pushed[transaction]
            self._collect(transaction)


def _name(transaction: Transaction) -> str:
    """``INVITE client z9hG4bK74bf9``: the kind and the branch, for the log."""
    branch = transaction.request.branch or "(no branch)"
    return f"{transaction.request.method} {transaction.kind.split()[-1]} {branch}"
