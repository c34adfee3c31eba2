"""What the SIP core tells the code above it: events (the sans-I/O outputs).

A sans-I/O endpoint never calls you back. After you feed it a datagram or
fire its timers, you drain its events one at a time with ``next_event()`` and
decide what to do. Each event is a small frozen dataclass; match on its type::

    while (event := layer.next_event()) is not None:
        match event:
            case RequestReceived(request=request, transaction=transaction):
                ...  # answer it: layer.send_response(transaction, response, now)
            case TransactionTimedOut(timer="B"):
                ...  # the INVITE got no answer at all in 64*T1 seconds

The transaction layer (RFC 3261 §17) emits the events in this module so far.
Protocol *outcomes* are events, never exceptions: a timeout, a transport
failure or a message that had to be dropped is something to react to, not a
bug. Only misuse of the API raises (:mod:`siplab.errors`).

This module is meant to grow: the user agent, registration and dialog code
add their own event classes here (for example "incoming call" or
"registered"), each a subclass of :class:`Event`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from siplab.sip.message import Request, Response
from siplab.sip.transport import Peer

if TYPE_CHECKING:  # transaction.py imports this module; avoid the cycle at run time
    from siplab.sip.transaction import ClientTransaction, ServerTransaction, Transaction

__all__ = [
    "Event",
    "RequestReceived",
    "ResponseReceived",
    "TransactionTimedOut",
    "TransportFailed",
    "TransactionTerminated",
    "MessageDiscarded",
]


@dataclass(frozen=True, slots=True)
class Event:
    """Base class of every event the SIP core emits."""


# -- transaction layer (RFC 3261 §17, RFC 6026) ----------------------------------------


@dataclass(frozen=True, slots=True)
class RequestReceived(Event):
    """A request for the layer above: a new request, or an ACK for a 2xx.

    ``transaction`` is the server transaction the request created; send the
    responses through it. It is ``None`` for an ACK that matches no
    transaction: the ACK for a 2xx is not part of the INVITE transaction in
    RFC 3261 (§17), the dialog handles it. (An ACK that matches an INVITE
    server transaction in the RFC 6026 "Accepted" state comes with that
    transaction.) ``peer`` is where the request came from.
    """

    request: Request
    transaction: ServerTransaction | None
    peer: Peer


@dataclass(frozen=True, slots=True)
class ResponseReceived(Event):
    """A response for a request we sent, passed up by its client transaction.

    Retransmitted provisional and non-2xx final responses are absorbed by the
    transaction and never show up here; every 2xx to an INVITE does (RFC 6026:
    each fork's 2xx, and their retransmissions, go to the user agent, which
    acknowledges them).
    """

    response: Response
    transaction: ClientTransaction


@dataclass(frozen=True, slots=True)
class TransactionTimedOut(Event):
    """A transaction gave up: ``timer`` is ``"B"`` or ``"F"`` (no final response
    to our request) or ``"H"`` (our INVITE server transaction got no ACK)."""

    transaction: Transaction
    timer: str


@dataclass(frozen=True, slots=True)
class TransportFailed(Event):
    """The transport could not send a message of this transaction (§17.1.4, §17.2.4)."""

    transaction: Transaction


@dataclass(frozen=True, slots=True)
class TransactionTerminated(Event):
    """The transaction reached "Terminated" and was forgotten by its layer."""

    transaction: Transaction


@dataclass(frozen=True, slots=True)
class MessageDiscarded(Event):
    """Bytes the layer dropped, and why (``reason`` names the rule, with its section).

    Examples: data that is not a SIP message, a request missing a mandatory
    header, a response that matches no client transaction (§17.1.3, §18.1.2).
    """

    data: bytes
    peer: Peer
    reason: str
