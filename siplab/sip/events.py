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

Two layers emit them. The transaction layer (RFC 3261 §17) talks about
transactions and raw messages; the user agent core
(:class:`~siplab.sip.useragent.UserAgentCore`) talks about what an
application cares about: registered or not, an incoming call, a call that
was answered or hung up, a message that arrived. Protocol *outcomes* are
events, never exceptions: a timeout, a 486 Busy Here or a message that had to
be dropped is something to react to, not a bug. Only misuse of the API raises
(:mod:`siplab.errors`).

Every user agent event carries the object it is about (the
:class:`~siplab.sip.registration.Registration` or the
:class:`~siplab.sip.invite.Session`), so an application with several calls
knows which one rang, and can read its state, dialog and bodies there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from siplab.sip.headers import Address
from siplab.sip.message import Request, Response
from siplab.sip.transport import Peer

if TYPE_CHECKING:  # those modules import this one; avoid the cycles at run time
    from siplab.sip.invite import Session
    from siplab.sip.location import Binding
    from siplab.sip.registration import Registration
    from siplab.sip.transaction import ClientTransaction, ServerTransaction, Transaction

__all__ = [
    "Event",
    "BindingsChanged",
    "BindingRemoved",
    "RequestReceived",
    "ResponseReceived",
    "TransactionTimedOut",
    "TransportFailed",
    "TransactionTerminated",
    "MessageDiscarded",
    "Registered",
    "RegistrationFailed",
    "Unregistered",
    "RegistrationQueried",
    "IncomingCall",
    "SessionProgress",
    "SessionEstablished",
    "SessionTerminated",
    "SessionModified",
    "ReinviteReceived",
    "InfoReceived",
    "ReferReceived",
    "NotifyReceived",
    "TransferCompleted",
    "MessageReceived",
    "RequestSucceeded",
    "RequestFailed",
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


# -- user agent: registration (RFC 3261 §10.2) ----------------------------------------


@dataclass(frozen=True, slots=True)
class Registered(Event):
    """The registrar accepted our REGISTER (a first registration or a refresh).

    ``contacts`` are *all* the bindings the 200 OK lists for our address of
    record (other phones of the same user too); ``expires`` is how long the
    registrar granted ours, in seconds (it may be shorter than we asked).
    """

    registration: Registration
    contacts: tuple[Address, ...]
    expires: int


@dataclass(frozen=True, slots=True)
class RegistrationFailed(Event):
    """A REGISTER failed: ``status`` is the final response (403, 404, 503...),
    or None when no response came at all (Timer F, or the transport failed)."""

    registration: Registration
    status: int | None
    reason: str


@dataclass(frozen=True, slots=True)
class Unregistered(Event):
    """The registrar removed our binding (we sent Expires: 0 and got a 200)."""

    registration: Registration


@dataclass(frozen=True, slots=True)
class RegistrationQueried(Event):
    """The answer to a query (a REGISTER without Contact, §10.2.3): every binding."""

    registration: Registration
    contacts: tuple[Address, ...]


# -- user agent: INVITE sessions (RFC 3261 §13-15) -------------------------------------


@dataclass(frozen=True, slots=True)
class IncomingCall(Event):
    """A new INVITE arrived: answer it with progress/accept/reject on the UA core."""

    session: Session
    request: Request


@dataclass(frozen=True, slots=True)
class SessionProgress(Event):
    """Our INVITE got a provisional response other than 100 (180 Ringing, 183 Session Progress)."""

    session: Session
    response: Response


@dataclass(frozen=True, slots=True)
class SessionEstablished(Event):
    """The call is answered: the caller got the 2xx (and sent the ACK), or the callee sent it."""

    session: Session


@dataclass(frozen=True, slots=True)
class SessionTerminated(Event):
    """The call is over, and why.

    ``cause`` is one of ``"bye"`` (we hung up), ``"remote bye"``,
    ``"cancelled"`` (by us as caller, or by the caller as callee),
    ``"rejected"`` (a 4xx-6xx; ``status`` says which), ``"timeout"`` (no final
    response: Timer B), ``"no ack"`` (we answered and the ACK never came),
    ``"redirect limit"``, ``"auth failed"``, ``"transport error"``,
    ``"dialog lost"`` (a request in the call got 408/481 or no answer),
    ``"keepalive failed"``. ``status`` is the response that ended the call, if any;
    ``response`` is that response itself, the peer's or ours (a 488's ``Warning``
    header says why the offer was refused, RFC 3261 §20.43).
    """

    session: Session
    cause: str
    status: int | None = None
    response: Response | None = None


@dataclass(frozen=True, slots=True)
class SessionModified(Event):
    """A re-INVITE went through (hold, resume, new media): ``message`` is the 2xx we
    received (we sent the re-INVITE) or the re-INVITE we accepted (once its ACK came)."""

    session: Session
    message: Request | Response


@dataclass(frozen=True, slots=True)
class ReinviteReceived(Event):
    """The peer sent a re-INVITE; answer it with ``accept_reinvite`` or ``reject_reinvite``."""

    session: Session
    request: Request


@dataclass(frozen=True, slots=True)
class InfoReceived(Event):
    """An INFO arrived in the call (RFC 6086; DTMF as application/dtmf-relay, say).
    It was answered 200 already."""

    session: Session
    request: Request


@dataclass(frozen=True, slots=True)
class ReferReceived(Event):
    """The peer asks us to call ``refer_to`` (RFC 3515, a transfer). The REFER was
    answered 202 Accepted; ``accept_refer`` on the UA core places the new call."""

    session: Session
    request: Request
    refer_to: Address


@dataclass(frozen=True, slots=True)
class NotifyReceived(Event):
    """A NOTIFY arrived in the call (for a REFER: how the transfer is going). Answered 200."""

    session: Session
    request: Request


@dataclass(frozen=True, slots=True)
class TransferCompleted(Event):
    """The transfer we asked for with REFER ended: ``status`` is the final status of
    the new call, as the final NOTIFY's message/sipfrag body reported it (200 = success)."""

    session: Session
    status: int


# -- user agent: requests outside calls ----------------------------------------------


@dataclass(frozen=True, slots=True)
class MessageReceived(Event):
    """A MESSAGE arrived (RFC 3428, instant messaging); it was answered 200 OK."""

    request: Request
    sender: Address
    body: bytes
    content_type: str | None


@dataclass(frozen=True, slots=True)
class RequestSucceeded(Event):
    """A MESSAGE, OPTIONS, INFO, REFER or NOTIFY we sent got a 2xx.
    ``kind`` is the method (``"REGISTER"`` for a registration query)."""

    kind: str
    request: Request
    response: Response


@dataclass(frozen=True, slots=True)
class RequestFailed(Event):
    """A request we sent got a 3xx-6xx (``status``), or no answer at all (status None)."""

    kind: str
    request: Request
    status: int | None
    reason: str


# -- the registrar's bindings (RFC 3261 §10.3), told by LabServer's ServerCore ----------


@dataclass(frozen=True, slots=True)
class BindingsChanged(Event):
    """A REGISTER changed the bindings of ``aor``; ``bindings`` are the ones left."""

    aor: str
    bindings: tuple[Binding, ...]


@dataclass(frozen=True, slots=True)
class BindingRemoved(Event):
    """A binding went away without a REGISTER: ``reason`` is "expired" or "flow failed"."""

    binding: Binding
    reason: str
