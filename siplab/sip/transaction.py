"""SIP transactions: the four state machines of RFC 3261 §17, updated by RFC 6026.

A *transaction* is one request and every response to it (plus, for an INVITE
answered with 300-699, the ACK). It is the layer that makes SIP work over UDP:
the *client* transaction retransmits the request until a response comes; the
*server* transaction answers retransmitted requests with its last response
and, for INVITE, retransmits a failure response until the ACK arrives.

There are four machines, one per side and kind of request:

=====================  ===========  ====================================================
machine                starts in    RFC
=====================  ===========  ====================================================
INVITE client          Calling      §17.1.1, RFC 6026 §7.2 ("Accepted", Timer M)
non-INVITE client      Trying       §17.1.2
INVITE server          Proceeding   §17.2.1, RFC 6026 §7.1 ("Accepted", Timer L)
non-INVITE server      Trying       §17.2.2
=====================  ===========  ====================================================

Each machine is a **table**: ``(state, input) -> Transition(next state,
actions)``. The inputs are short names: a response class received (``"1xx"``,
``"2xx"``, ``"300-699"``), a request received (``"request"``, ``"ACK"``), a
response the layer above sends (``"send 1xx"``, ``"send 2xx"``, ``"send
300-699"``), a timer firing (``"Timer A"`` ...) or ``"transport error"``. The
code below only looks rows up and performs their actions, so the tables *are*
the behaviour, and :mod:`siplab.lab.diagrams` draws the notebooks' diagrams
from :data:`MACHINES`. A row with no actions means "absorb": the message is a
late copy and is dropped on purpose. A pair missing from a table is an input
the machine does not accept; the layer above gets an
:class:`~siplab.errors.InvalidStateError` if it tries (sending a 180 after a
200, say).

Timer values come from :class:`~siplab.sip.timers.TimerConfig` (see
:mod:`siplab.sip.timers` for the table of Timers A to M). Retransmission timers
(A, E, G) run only over UDP; the absorbing timers (D, I, J, K) are 0 over
reliable transports, which is why a transaction over TCP reaches Terminated
as soon as it is done.

A transaction is sans-I/O, like everything in ``siplab.sip``: it is given
``now`` and answers through ``datagrams_to_send()``, ``next_event()`` and
``get_timer()``. :class:`~siplab.sip.transaction_layer.TransactionLayer` owns
the transactions, matches incoming messages to them and forwards their output.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

from siplab.errors import InvalidStateError
from siplab.ids import BRANCH_MAGIC_COOKIE
from siplab.sip.build import build_ack_for_failure, response_destination
from siplab.sip.events import (
    Event,
    RequestReceived,
    ResponseReceived,
    TransactionTerminated,
    TransactionTimedOut,
    TransportFailed,
)
from siplab.sip.message import Message, Request, Response
from siplab.sip.timers import TimerConfig
from siplab.sip.transport import Peer

__all__ = [
    "TransactionState",
    "Transition",
    "Table",
    "INVITE_CLIENT",
    "NON_INVITE_CLIENT",
    "INVITE_SERVER",
    "NON_INVITE_SERVER",
    "MACHINES",
    "INITIAL_STATES",
    "START_ACTIONS",
    "START_INPUT",
    "ACTIONS",
    "Transaction",
    "ClientTransaction",
    "InviteClientTransaction",
    "NonInviteClientTransaction",
    "ServerTransaction",
    "InviteServerTransaction",
    "NonInviteServerTransaction",
    "client_key",
    "server_key",
    "response_input",
    "response_peer",
]


class TransactionState(StrEnum):
    """The states of RFC 3261 §17 and RFC 6026, with the RFC's names."""

    CALLING = "Calling"
    TRYING = "Trying"
    PROCEEDING = "Proceeding"
    COMPLETED = "Completed"
    CONFIRMED = "Confirmed"
    ACCEPTED = "Accepted"
    TERMINATED = "Terminated"


@dataclass(frozen=True, slots=True)
class Transition:
    """One row of a machine: the state to go to and what to do on the way."""

    next_state: TransactionState
    actions: tuple[str, ...] = ()


Table = dict[tuple[TransactionState, str], Transition]

CALLING = TransactionState.CALLING
TRYING = TransactionState.TRYING
PROCEEDING = TransactionState.PROCEEDING
COMPLETED = TransactionState.COMPLETED
CONFIRMED = TransactionState.CONFIRMED
ACCEPTED = TransactionState.ACCEPTED
TERMINATED = TransactionState.TERMINATED


def _to(state: TransactionState, *actions: str) -> Transition:
    return Transition(state, actions)


#: Every action a row may name. Timer actions are "start/stop/double Timer X"
#: and "reset Timer E to T2"; the rest are listed here.
ACTIONS = (
    "send request",  # hand the request to the transport
    "retransmit request",  # ...again, because a retransmission timer fired
    "send ACK",  # the INVITE client transaction's own ACK for a 300-699 (§17.1.1.3)
    "pass to TU",  # give the message to the transaction user (the layer above)
    "send response",  # send the response the TU passed down, and remember it
    "resend response",  # send the last response again (if there is one)
    "inform TU of timeout",
    "inform TU of transport error",
)
_TIMER_ACTION = re.compile(r"(start|stop|double) Timer ([A-M])|reset Timer ([A-M]) to T2")


def _timer_action(action: str) -> tuple[str, str] | None:
    """``"start Timer A"`` -> ("start", "A"); ``"reset Timer E to T2"`` -> ("reset", "E");
    None for an action that is not about a timer."""
    known = _TIMER_ACTIONS.get(action)
    if known is not None:
        return known
    timer = _TIMER_ACTION.fullmatch(action)
    if timer is None:
        return None
    return timer.group(1) or "reset", timer.group(2) or timer.group(3)

#: INVITE client transaction (§17.1.1.2, RFC 6026 §7.2); drawn in InviteClientTransaction.
INVITE_CLIENT: Table = {
    (CALLING, "Timer A"): _to(CALLING, "retransmit request", "double Timer A"),
    (CALLING, "Timer B"): _to(TERMINATED, "inform TU of timeout"),
    (CALLING, "transport error"): _to(TERMINATED, "inform TU of transport error"),
    (CALLING, "1xx"): _to(PROCEEDING, "stop Timer A", "stop Timer B", "pass to TU"),
    (CALLING, "2xx"): _to(ACCEPTED, "stop Timer A", "stop Timer B", "pass to TU", "start Timer M"),
    (CALLING, "300-699"): _to(
        COMPLETED, "stop Timer A", "stop Timer B", "pass to TU", "send ACK", "start Timer D"
    ),
    (PROCEEDING, "1xx"): _to(PROCEEDING, "pass to TU"),
    (PROCEEDING, "2xx"): _to(ACCEPTED, "pass to TU", "start Timer M"),
    (PROCEEDING, "300-699"): _to(COMPLETED, "pass to TU", "send ACK", "start Timer D"),
    (PROCEEDING, "transport error"): _to(PROCEEDING),  # sends nothing here, nothing can fail
    # Completed: copies of the final response are absorbed, each one acknowledged again.
    (COMPLETED, "1xx"): _to(COMPLETED),
    (COMPLETED, "2xx"): _to(COMPLETED),
    (COMPLETED, "300-699"): _to(COMPLETED, "send ACK"),
    (COMPLETED, "transport error"): _to(TERMINATED, "inform TU of transport error"),
    (COMPLETED, "Timer D"): _to(TERMINATED),
    # Accepted (RFC 6026): every 2xx, from any fork, goes up; the TU sends their ACKs.
    (ACCEPTED, "1xx"): _to(ACCEPTED),
    (ACCEPTED, "2xx"): _to(ACCEPTED, "pass to TU"),
    (ACCEPTED, "300-699"): _to(ACCEPTED),
    (ACCEPTED, "transport error"): _to(ACCEPTED),
    (ACCEPTED, "Timer M"): _to(TERMINATED),
}

# A final response in Trying or Proceeding: stop retransmitting, wait Timer K for copies.
_NON_INVITE_FINAL = _to(COMPLETED, "stop Timer E", "stop Timer F", "pass to TU", "start Timer K")

#: Non-INVITE client transaction (§17.1.2.2); drawn in NonInviteClientTransaction.
NON_INVITE_CLIENT: Table = {
    (TRYING, "Timer E"): _to(TRYING, "retransmit request", "double Timer E"),
    (TRYING, "Timer F"): _to(TERMINATED, "inform TU of timeout"),
    (TRYING, "transport error"): _to(TERMINATED, "inform TU of transport error"),
    (TRYING, "1xx"): _to(PROCEEDING, "pass to TU"),
    (TRYING, "2xx"): _NON_INVITE_FINAL,
    (TRYING, "300-699"): _NON_INVITE_FINAL,
    (PROCEEDING, "Timer E"): _to(PROCEEDING, "retransmit request", "reset Timer E to T2"),
    (PROCEEDING, "Timer F"): _to(TERMINATED, "inform TU of timeout"),
    (PROCEEDING, "transport error"): _to(TERMINATED, "inform TU of transport error"),
    (PROCEEDING, "1xx"): _to(PROCEEDING, "pass to TU"),
    (PROCEEDING, "2xx"): _NON_INVITE_FINAL,
    (PROCEEDING, "300-699"): _NON_INVITE_FINAL,
    (COMPLETED, "1xx"): _to(COMPLETED),
    (COMPLETED, "2xx"): _to(COMPLETED),
    (COMPLETED, "300-699"): _to(COMPLETED),
    (COMPLETED, "transport error"): _to(COMPLETED),
    (COMPLETED, "Timer K"): _to(TERMINATED),
}

#: INVITE server transaction (§17.2.1, RFC 6026 §7.1); drawn in InviteServerTransaction.
INVITE_SERVER: Table = {
    (PROCEEDING, "request"): _to(PROCEEDING, "resend response"),
    (PROCEEDING, "ACK"): _to(PROCEEDING),  # nothing final was sent, nothing to acknowledge
    (PROCEEDING, "send 1xx"): _to(PROCEEDING, "send response"),
    (PROCEEDING, "send 2xx"): _to(ACCEPTED, "send response", "start Timer L"),
    (PROCEEDING, "send 300-699"): _to(
        COMPLETED, "send response", "start Timer G", "start Timer H"
    ),
    (PROCEEDING, "transport error"): _to(TERMINATED, "inform TU of transport error"),
    (COMPLETED, "request"): _to(COMPLETED, "resend response"),
    (COMPLETED, "ACK"): _to(CONFIRMED, "stop Timer G", "stop Timer H", "start Timer I"),
    (COMPLETED, "Timer G"): _to(COMPLETED, "resend response", "double Timer G"),
    (COMPLETED, "Timer H"): _to(TERMINATED, "inform TU of timeout"),
    (COMPLETED, "transport error"): _to(TERMINATED, "inform TU of transport error"),
    (CONFIRMED, "request"): _to(CONFIRMED),
    (CONFIRMED, "ACK"): _to(CONFIRMED),
    (CONFIRMED, "transport error"): _to(CONFIRMED),
    (CONFIRMED, "Timer I"): _to(TERMINATED),
    # Accepted (RFC 6026): the TU retransmits its 2xx through us; INVITE copies are absorbed.
    (ACCEPTED, "request"): _to(ACCEPTED),
    (ACCEPTED, "ACK"): _to(ACCEPTED, "pass to TU"),
    (ACCEPTED, "send 2xx"): _to(ACCEPTED, "send response"),
    (ACCEPTED, "transport error"): _to(ACCEPTED, "inform TU of transport error"),
    (ACCEPTED, "Timer L"): _to(TERMINATED),
}

#: Non-INVITE server transaction (§17.2.2); drawn in NonInviteServerTransaction.
NON_INVITE_SERVER: Table = {
    (TRYING, "request"): _to(TRYING),  # no response yet: the copy is discarded
    (TRYING, "send 1xx"): _to(PROCEEDING, "send response"),
    (TRYING, "send 2xx"): _to(COMPLETED, "send response", "start Timer J"),
    (TRYING, "send 300-699"): _to(COMPLETED, "send response", "start Timer J"),
    (TRYING, "transport error"): _to(TRYING),
    (PROCEEDING, "request"): _to(PROCEEDING, "resend response"),
    (PROCEEDING, "send 1xx"): _to(PROCEEDING, "send response"),
    (PROCEEDING, "send 2xx"): _to(COMPLETED, "send response", "start Timer J"),
    (PROCEEDING, "send 300-699"): _to(COMPLETED, "send response", "start Timer J"),
    (PROCEEDING, "transport error"): _to(TERMINATED, "inform TU of transport error"),
    (COMPLETED, "request"): _to(COMPLETED, "resend response"),
    (COMPLETED, "transport error"): _to(TERMINATED, "inform TU of transport error"),
    (COMPLETED, "Timer J"): _to(TERMINATED),
}

#: The four machines by name; what the notebook diagrams are drawn from.
MACHINES: dict[str, Table] = {
    "INVITE client": INVITE_CLIENT,
    "non-INVITE client": NON_INVITE_CLIENT,
    "INVITE server": INVITE_SERVER,
    "non-INVITE server": NON_INVITE_SERVER,
}
#: The state each machine starts in.
INITIAL_STATES: dict[str, TransactionState] = {
    "INVITE client": CALLING,
    "non-INVITE client": TRYING,
    "INVITE server": PROCEEDING,
    "non-INVITE server": TRYING,
}
#: What each machine does when it is created (the arrow into the initial state).
START_ACTIONS: dict[str, tuple[str, ...]] = {
    "INVITE client": ("send request", "start Timer A", "start Timer B"),
    "non-INVITE client": ("send request", "start Timer E", "start Timer F"),
    "INVITE server": ("pass to TU",),
    "non-INVITE server": ("pass to TU",),
}


def _read_timer_actions() -> dict[str, tuple[str, str]]:
    # Every timer action of the tables, read once: "start Timer A" -> ("start", "A").
    found: dict[str, tuple[str, str]] = {}
    for actions in [*START_ACTIONS.values(),
                    *(row.actions for table in MACHINES.values() for row in table.values())]:
        for action in actions:
            match = _TIMER_ACTION.fullmatch(action)
            if match is not None:
                found[action] = (match.group(1) or "reset", match.group(2) or match.group(3))
    return found


_TIMER_ACTIONS = _read_timer_actions()
# The arrow into each machine's initial state, as a row (made once, not per transaction).
_START_TRANSITIONS = {kind: Transition(INITIAL_STATES[kind], START_ACTIONS[kind])
                      for kind in MACHINES}
#: The label of that arrow, and of the first entry of every ``history``.
START_INPUT: dict[str, str] = {
    "INVITE client": "INVITE from TU",
    "non-INVITE client": "request from TU",
    "INVITE server": "INVITE received",
    "non-INVITE server": "request received",
}


# -- matching (§17.1.3, §17.2.3) ----------------------------------------------------------


def client_key(message: Message) -> tuple[str, str] | None:
    """The key a response is matched on: (top Via branch, CSeq method), §17.1.3.

    Works for the request a client transaction sends and for the responses
    to it. The CSeq method keeps a CANCEL's transaction apart from the
    INVITE's, although both carry the same branch. None without a branch.
    """
    branch = message.branch
    return None if branch is None else (branch, message.cseq.method)


def server_key(
    request: Request, *, method: str | None = None, ignore_to_tag: bool = False
) -> tuple[str, ...]:
    """The key a request is matched on by a server (§17.2.3).

    RFC 3261 elements put the magic cookie ``z9hG4bK`` in the branch; then the
    key is (branch, sent-by of the top Via, method), with ACK counted as
    INVITE so the ACK for a 300-699 finds its INVITE transaction. Older RFC
    2543 elements do not, and the request is recognised by Request-URI, To
    tag, From tag, Call-ID, CSeq and the whole top Via instead.

    ``method`` overrides the request's method (a CANCEL is looked up as
    INVITE to find what it cancels, §9.2). ``ignore_to_tag`` leaves the To tag
    out of an RFC 2543 key: an ACK carries the tag the server *added* in its
    response, which the INVITE did not have.
    """
    method = method or request.method
    if method == "ACK":
        method = "INVITE"
    top = request.top_via
    branch = top.branch
    if branch is not None and branch.startswith(BRANCH_MAGIC_COOKIE):
        return ("rfc3261", branch, top.sent_by.lower(), method)
    to_tag = "" if ignore_to_tag else request.to_tag or ""
    cseq = request.cseq
    return (
        "rfc2543",
        request.uri_text,
        to_tag,
        request.from_tag or "",
        request.call_id,
        str(cseq.number),
        method,
        str(top),
    )


def response_input(status: int) -> str:
    """The table input for a response status: ``"1xx"``, ``"2xx"`` or ``"300-699"``."""
    if status < 200:
        return "1xx"
    return "2xx" if status < 300 else "300-699"


def response_peer(message: Message, peer: Peer) -> Peer:
    """Where responses to a request from ``peer`` go (§18.2.2, RFC 3581).

    Over a reliable transport: back on the connection the request came on.
    Over UDP: to the address in the top Via, corrected by ``received`` and
    ``rport`` (which :func:`~siplab.sip.build.mark_received` filled in).
    """
    if peer.reliable:
        return peer
    host, port = response_destination(message.top_via)
    destination = Peer(host, port, "udp")
    return peer if destination == peer else destination  # usually the same: keep one object


# -- the machine engine -------------------------------------------------------------------


class Transaction:
    """What the four machines share: the table engine, timers, outbox and events.

    ``history`` lists ``(time, input, state after)`` for every input the
    transaction handled, so a notebook can print the path it took.
    """

    kind: ClassVar[str] = ""
    key: tuple[str, ...]

    def __init__(
        self, request: Request, peer: Peer, *, timers: TimerConfig | None = None, now: float = 0.0
    ) -> None:
        is_invite = request.method == "INVITE"
        if request.method == "ACK" or is_invite != self.kind.startswith("INVITE"):
            raise ValueError(f"a {self.kind} transaction cannot take {request.method}")
        self.request = request
        self.peer = peer
        self.timers = timers or TimerConfig()
        self.reliable = False if peer.transport == "udp" else peer.reliable
        self.table = MACHINES[self.kind]
        self.state = INITIAL_STATES[self.kind]
        self.history: list[tuple[float, str, TransactionState]] = []
        self.last_response: Response | None = None
        self._deadlines: dict[str, float] = {}  # running timers: letter -> absolute time
        self._intervals: dict[str, float] = {}  # retransmission timers: current interval
        self._outbox: list[tuple[bytes, Peer]] = []
        # A list, not a deque: it holds an event or two at a time, and a lingering
        # transaction's empty deque would be 600 bytes of the server's memory.
        self._events: list[Event] = []
        self._request_bytes: bytes | None = None  # written when first sent (client side)
        self._response_bytes: bytes | None = None
        self._run(START_INPUT[self.kind], now, _START_TRANSITIONS[self.kind], request)
        self.handle_timer(now)

    # -- the endpoint-like outputs ------------------------------------------------------

    def datagrams_to_send(self) -> list[tuple[bytes, Peer]]:
        """Drain the messages this transaction wants sent."""
        out, self._outbox = self._outbox, []
        return out

    def next_event(self) -> Event | None:
        """Drain one event, or None."""
        return self._events.pop(0) if self._events else None

    def get_timer(self) -> float | None:
        """The earliest running timer's deadline (absolute), or None."""
        return min(self._deadlines.values(), default=None)

    @property
    def running_timers(self) -> dict[str, float]:
        """Running timers by letter, with their deadlines: ``{"A": 1.5, "B": 32.0}``."""
        return dict(sorted(self._deadlines.items(), key=lambda item: item[1]))

    @property
    def terminated(self) -> bool:
        return self.state is TERMINATED

    def handle_timer(self, now: float) -> None:
        """Fire every timer due at or before ``now``, earliest first.

        Each timer fires "at" its own deadline, and a retransmission timer is
        re-armed from that deadline, so the schedule stays exact even if the
        caller is a little late.
        """
        deadlines = self._deadlines
        while deadlines and self.state is not TERMINATED:
            deadline, letter = min((when, letter) for letter, when in deadlines.items())
            if deadline > now:
                return
            del deadlines[letter]
            transition = self.table.get((self.state, f"Timer {letter}"))
            if transition is None:  # the table test rules this out
                raise RuntimeError(f"Timer {letter} ran in {self.state} of a {self.kind} "
                                   "transaction, which has no row for it")
            self._run(f"Timer {letter}", deadline, transition, None)

    def transport_error(self, now: float) -> None:
        """The transport failed to send one of our messages (§17.1.4, §17.2.4)."""
        self._input("transport error", now, None)

    def format_history(self) -> str:
        """The path as text, one input per line: ``  0.500  Timer A  -> Calling``."""
        width = max((len(name) for _, name, _ in self.history), default=0)
        return "\n".join(f"{time:8.3f}  {name:<{width}}  -> {state}"
                         for time, name, state in self.history)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.request.method} {self.state} to/from {self.peer}>"

    # -- the engine -----------------------------------------------------------------------

    def _input(self, name: str, now: float, message: Message | None) -> None:
        """Look the input up in the table and run its row; refuse what has no row."""
        transition = self.table.get((self.state, name))
        if transition is None:
            if self.state is TERMINATED:
                raise InvalidStateError(f"the {self.kind} transaction is Terminated; "
                                        f"it cannot take {name!r}")
            raise InvalidStateError(f"{name!r} is not allowed in state {self.state} "
                                    f"of a {self.kind} transaction")
        self._run(name, now, transition, message)
        self.handle_timer(now)  # timers of 0 s (D, I, J, K over TCP) fire right away

    def _run(self, name: str, time: float, transition: Transition,
             message: Message | None) -> None:
        for action in transition.actions:
            timer = _TIMER_ACTIONS.get(action)  # every timer action of the tables
            if timer is not None:
                self._timer_action(*timer, time)
            else:
                self._perform(action, name, time, message)
        was_terminated = self.state is TERMINATED
        self.state = transition.next_state
        self.history.append((time, name, self.state))
        if self.state is TERMINATED and not was_terminated:
            self._deadlines.clear()
            self._events.append(TransactionTerminated(self))

    def _perform(self, action: str, name: str, time: float, message: Message | None) -> None:
        timer = _timer_action(action)
        if timer is not None:
            self._timer_action(*timer, time)
            return
        match action:  # (the cases are tried in order: the most frequent first)
            case "pass to TU":
                assert message is not None
                self._pass_to_tu(message)
            case "send response":
                assert isinstance(message, Response)
                self._send_response(message)
            case "send request" | "retransmit request":
                if self._request_bytes is None:
                    self._request_bytes = self.request.to_bytes()
                self._outbox.append((self._request_bytes, self.peer))
            case "send ACK":
                assert isinstance(message, Response)
                self._send_ack(message)
            case "resend response":
                self._resend_response()
            case "inform TU of timeout":
                self._events.append(TransactionTimedOut(self, name.removeprefix("Timer ")))
            case "inform TU of transport error":
                self._events.append(TransportFailed(self))
            case _:
                raise RuntimeError(f"unknown action {action!r}")

    def _timer_action(self, verb: str, letter: str, time: float) -> None:
        config = self.timers
        if verb == "stop":
            self._deadlines.pop(letter, None)
            return
        if not config.is_used(letter, self.reliable):
            return  # no retransmissions over TCP, TLS or WebSocket
        if verb == "start":
            interval = config.duration(letter, self.reliable)
        elif verb == "double":
            interval = config.next_interval(letter, self._intervals[letter])
        else:  # "reset ... to T2"
            interval = config.t2
        self._intervals[letter] = interval
        self._deadlines[letter] = time + interval

    # Subclasses fill these in.
    def _pass_to_tu(self, message: Message) -> None:
        raise NotImplementedError

    def _send_ack(self, response: Response) -> None:
        raise NotImplementedError

    def _send_response(self, response: Response) -> None:
        raise NotImplementedError

    def _resend_response(self) -> None:
        raise NotImplementedError


# -- client transactions ------------------------------------------------------------------


class ClientTransaction(Transaction):
    """Sends a request to ``peer`` and collects its responses (§17.1).

    Created by the layer when the TU sends a request: the request goes into
    the outbox at once and the timers start.
    """

    def __init__(
        self, request: Request, peer: Peer, *, timers: TimerConfig | None = None, now: float = 0.0
    ) -> None:
        key = client_key(request)
        if key is None:
            raise ValueError("a client transaction needs a request with a Via branch")
        self.key = key
        super().__init__(request, peer, timers=timers, now=now)

    def receive_response(self, response: Response, now: float) -> None:
        """A response that matched this transaction (§17.1.3) arrived."""
        self._input(response_input(response.status), now, response)

    def abandon(self, now: float) -> None:
        """Stop waiting for a final response: Terminated at once, without telling the TU
        anything but :class:`~siplab.sip.events.TransactionTerminated`.

        RFC 3261 §9.1: "If no final response is received within 64*T1 seconds
        after the CANCEL, the client transaction is considered terminated."
        No row of the tables can say that (an INVITE client transaction has no
        timer in Proceeding: it waits for the callee as long as the callee
        rings), so the TU that sent the CANCEL says it with this call. A
        transaction already Terminated is left as it is.
        """
        if self.state is not TERMINATED:
            self._run("abandoned by the TU", now, Transition(TERMINATED), None)

    def _pass_to_tu(self, message: Message) -> None:
        assert isinstance(message, Response)
        self.last_response = message
        self._events.append(ResponseReceived(message, self))


class InviteClientTransaction(ClientTransaction):
    """The INVITE client transaction (§17.1.1 with RFC 6026 §7.2).

    ::

        Calling ---1xx---> Proceeding ---2xx---> Accepted ---Timer M---> Terminated
          |  |                 |                    ^
          |  +------2xx--------|--------------------+
          |                    |
          +---300-699----------+---300-699---> Completed ---Timer D---> Terminated
          |   send ACK             send ACK
          +---Timer B or transport error: inform TU---> Terminated

    Timer A (in Calling) resends the INVITE and doubles. In Completed each
    copy of the 300-699 is answered with the same ACK, built here with
    :func:`~siplab.sip.build.build_ack_for_failure`. In Accepted every 2xx
    (copies, and the 2xx of other forks) goes to the TU, which sends the ACK
    for it: the ACK for a 2xx belongs to the dialog, not to this transaction
    (§13.2.2.4).
    """

    kind = "INVITE client"
    _ack_bytes: bytes | None = None  # built from the first 300-699, then reused

    def _send_ack(self, response: Response) -> None:
        if self._ack_bytes is None:  # every copy gets the same ACK
            self._ack_bytes = build_ack_for_failure(self.request, response).to_bytes()
        self._outbox.append((self._ack_bytes, self.peer))


class NonInviteClientTransaction(ClientTransaction):
    """The non-INVITE client transaction (§17.1.2): OPTIONS, REGISTER, BYE, CANCEL...

    ::

        Trying ---1xx---> Proceeding
          |                   |
          +---200-699---------+---200-699---> Completed ---Timer K---> Terminated
          |                   |
          +-------------------+---Timer F or transport error: inform TU---> Terminated

    Timer E resends the request: in Trying it doubles up to T2, in
    Proceeding it is reset to T2. In Completed, copies of the final response
    are absorbed.
    """

    kind = "non-INVITE client"


# -- server transactions ------------------------------------------------------------------


class ServerTransaction(Transaction):
    """Answers a request that came from ``peer`` (§17.2).

    Created by the layer when a new request arrives; it passes the request to
    the TU (a :class:`~siplab.sip.events.RequestReceived` event) and then
    sends whatever responses the TU gives it, to ``response_peer``.
    """

    def __init__(
        self, request: Request, peer: Peer, *, timers: TimerConfig | None = None, now: float = 0.0
    ) -> None:
        self.key = server_key(request)
        self.response_peer = response_peer(request, peer)
        super().__init__(request, peer, timers=timers, now=now)

    def receive_request(self, request: Request, now: float) -> None:
        """A copy of our request, or (INVITE only) an ACK, matched this transaction."""
        self._input("ACK" if request.method == "ACK" else "request", now, request)

    def send_response(self, response: Response, now: float) -> None:
        """Send a response from the TU; raises InvalidStateError if the state forbids it."""
        self._input("send " + response_input(response.status), now, response)

    def _pass_to_tu(self, message: Message) -> None:
        assert isinstance(message, Request)
        self._events.append(RequestReceived(message, self, self.peer))

    def _send_response(self, response: Response) -> None:
        self.last_response = response
        self._response_bytes = response.to_bytes()
        self._outbox.append((self._response_bytes, self.response_peer))

    def _resend_response(self) -> None:
        if self._response_bytes is not None:
            self._outbox.append((self._response_bytes, self.response_peer))


class InviteServerTransaction(ServerTransaction):
    """The INVITE server transaction (§17.2.1 with RFC 6026 §7.1).

    ::

        Proceeding ---send 2xx---> Accepted ---Timer L---> Terminated
            |
            +---send 300-699---> Completed ---ACK---> Confirmed ---Timer I---> Terminated
                                     |
                                     +---Timer H: inform TU of timeout---> Terminated

    In Proceeding a copy of the INVITE gets the last provisional response
    again (the layer sends 100 Trying at once). In Completed, Timer G resends
    the 300-699 (doubling up to T2) until the ACK comes. In Accepted copies
    of the INVITE are absorbed, the TU's own 2xx retransmissions go out, and
    an ACK that matches (same branch) is passed to the TU; usually the ACK for
    a 2xx has a branch of its own and reaches the TU without any transaction.
    """

    kind = "INVITE server"


class NonInviteServerTransaction(ServerTransaction):
    """The non-INVITE server transaction (§17.2.2).

    ::

        Trying ---send 1xx---> Proceeding
          |                        |
          +---send 200-699---------+---send 200-699---> Completed ---Timer J---> Terminated

    In Trying copies of the request are discarded (there is nothing to answer
    with yet); in Proceeding and Completed each copy gets the last response again.
    """

    kind = "non-INVITE server"
