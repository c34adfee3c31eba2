"""The machinery every INVITE session runs on: its host, its inputs, its table engine.

A session (:mod:`siplab.sip.invite`) is driven by the tables of
:mod:`siplab.sip.invite_table`. This module holds what turns a table into
behaviour, the same way :mod:`siplab.sip.transaction` does for transactions:

* :class:`Stimulus`: one input being handled: its name (``"2xx"``,
  ``"receive BYE"``...), the time, and the message and transaction it came with;
* :meth:`SessionCore._input`: look ``(state, input)`` up in the table and run
  the row's actions in order, each one a method named after it (``"send ACK"``
  runs ``_send_ack(stimulus)``; ``"note cause (bye)"`` runs
  ``_note_cause(stimulus, "bye")``), then move to the row's next state;
* the session's own timers (2xx retransmission, ACK timeout, CANCEL timeout,
  re-INVITE retry, keep-alive), kept as ``input name -> deadline`` and fired
  as inputs of the same name;
* :class:`SessionHost`: what a session asks of the user agent core that owns
  it. A session never sends by itself: the core owns the transaction layer,
  knows where requests go and collects the events.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Protocol, cast

from siplab.errors import InvalidStateError
from siplab.ids import IdSource
from siplab.sip.addressing import Origin
from siplab.sip.build import build_response
from siplab.sip.dialog import Dialog
from siplab.sip.events import Event
from siplab.sip.headers import Address
from siplab.sip.invite_table import (
    SESSION_INITIAL_STATE,
    SESSION_MACHINES,
    SessionState,
    SessionTransition,
)
from siplab.sip.message import Message, Request, Response
from siplab.sip.timers import TimerConfig
from siplab.sip.transaction import ClientTransaction, ServerTransaction, Transaction
from siplab.sip.transport import Peer

if TYPE_CHECKING:  # invite.py builds on this module
    from siplab.sip.invite import Session

__all__ = ["SessionHost", "Stimulus", "SessionCore", "action_method"]

logger = logging.getLogger("siplab.ua")

_ACTION_WITH_ARGUMENT = re.compile(r"(.+) \((.+)\)")


class SessionHost(Protocol):
    """What a session needs from the user agent core that owns it."""

    @property
    def ids(self) -> IdSource: ...
    @property
    def timers(self) -> TimerConfig: ...
    @property
    def origin(self) -> Origin: ...
    @property
    def aor(self) -> Address: ...  # our From: display name and address of record
    @property
    def allow(self) -> tuple[str, ...]: ...
    @property
    def user_agent(self) -> str | None: ...
    @property
    def keepalive_interval(self) -> float | None: ...

    def send_request(self, session: SessionCore, request: Request, now: float,
                     peer: Peer | None = None) -> ClientTransaction | None:
        """Start a client transaction for ``request`` (to ``peer``, or where it routes);
        None when it routes nowhere we can reach."""
    def send_response(self, transaction: ServerTransaction, response: Response,
                      now: float) -> None:
        """Send through the server transaction (statelessly once it has ended)."""
    def send_ack(self, ack: Request) -> bool:
        """Send the ACK for a 2xx, outside any transaction, where it routes; False when
        it routes nowhere we can reach."""
    def abandon(self, transaction: ClientTransaction, now: float) -> None:
        """Give up on a client transaction that will get no final response (§9.1)."""
    def emit(self, event: Event) -> None: ...
    def authorize(self, request: Request, response: Response) -> Request | None:
        """The request again with credentials for the 401/407, or None."""
    def track_dialog(self, session: SessionCore, dialog: Dialog) -> None: ...
    def forget_dialog(self, dialog: Dialog) -> None: ...
    def session_ended(self, session: SessionCore) -> None: ...


@dataclass(frozen=True, slots=True)
class Stimulus:
    """One input being handled: its name, when, and the message and transaction it came with."""

    name: str
    now: float
    message: Message | None = None
    transaction: Transaction | None = None

    @property
    def response(self) -> Response:
        assert isinstance(self.message, Response), f"{self.name} carries no response"
        return self.message

    @property
    def request(self) -> Request:
        assert isinstance(self.message, Request), f"{self.name} carries no request"
        return self.message

    @property
    def server_transaction(self) -> ServerTransaction:
        assert isinstance(self.transaction, ServerTransaction)
        return self.transaction

    @property
    def client_transaction(self) -> ClientTransaction:
        assert isinstance(self.transaction, ClientTransaction)
        return self.transaction


def action_method(action: str) -> str:
    """The method that performs ``action``: ``"send held CANCEL"`` -> ``"_send_held_cancel"``;
    for ``"note cause (bye)"`` the part before the parentheses."""
    found = _ACTION_WITH_ARGUMENT.fullmatch(action)
    name = found.group(1) if found is not None else action
    return "_" + re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


class SessionCore:
    """The state, the timers and the table engine of a session (see the module docstring).

    Read :attr:`state`, :attr:`dialog` (the confirmed dialog, or the callee's
    early one), :attr:`early_dialogs` (the caller's, by remote tag),
    :attr:`local_body` / :attr:`remote_body`, :attr:`cause` once terminated,
    and :attr:`history` (``(time, input, state after)``).
    """

    direction: ClassVar[str] = ""

    # -- state ---------------------------------------------------------------------------

    def __init__(self, host: SessionHost, request: Request, *, local_tag: str) -> None:
        self.host = host
        self.request = request  # the INVITE (the caller's latest attempt)
        self.table = SESSION_MACHINES[self.direction]
        self.state = SESSION_INITIAL_STATE
        self.history: list[tuple[float, str, SessionState]] = []
        self.call_id = request.call_id
        self.local_tag = local_tag
        self.dialog: Dialog | None = None
        self.early_dialogs: dict[str, Dialog] = {}
        self.local_body = b""
        self.local_content_type: str | None = None
        self.remote_body = b""
        self.remote_content_type: str | None = None
        self.cause: str | None = None  # why the session ended (or is ending)
        self.referrer: Session | None = None  # the call whose REFER made this one
        self.refer_request: Request | None = None  # the last REFER we received
        self._timers: dict[str, float] = {}  # input name -> deadline
        self._purposes: dict[ClientTransaction, str] = {}  # what each request of ours was for
        self._auth_retried: set[ClientTransaction] = set()
        self._acks: dict[tuple[str | None, int], Request] = {}  # (To tag, CSeq) -> our ACK
        self._answering: tuple[Request, ServerTransaction] | None = None  # INVITE to answer
        self._pending_2xx: tuple[Response, ServerTransaction, Request] | None = None
        self._2xx_interval = 0.0
        self._bye_held = False
        self._reinvite_tx: ClientTransaction | None = None
        self._reinvite_body: tuple[bytes, str | None] = (b"", None)
        self._last_reinvite: Request | None = None
        self._hangup_after_transfer = False
        self._ending_status: int | None = None
        self._referrer_told = False

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.call_id} {self.state}>"

    @property
    def session(self) -> Session:
        """This object typed as the full :class:`~siplab.sip.invite.Session`, which every
        concrete session is (events carry that type)."""
        return cast("Session", self)

    @property
    def key(self) -> tuple[str, str]:
        """Call-ID and our tag: what names this call leg in the UA core."""
        return (self.call_id, self.local_tag)

    # -- timers --------------------------------------------------------------------------

    def get_timer(self) -> float | None:
        """The earliest deadline of this session's own timers, or None."""
        return min(self._timers.values(), default=None)

    def handle_timer(self, now: float) -> None:
        """Fire every session timer due at or before ``now``, each at its own deadline."""
        while self._timers:
            name, deadline = min(self._timers.items(), key=lambda item: item[1])
            if deadline > now:
                return
            del self._timers[name]
            self._input(name, deadline)

    # -- the engine ----------------------------------------------------------------------

    def _input(self, name: str, now: float, message: Message | None = None,
               transaction: Transaction | None = None, *, local: bool = False) -> bool:
        """Look the input up in the table and run its row. Returns False if there was none:
        an error when the application asked (``local``), ignored when the network did."""
        transition = self.table.get((self.state, name))
        if transition is None:
            if local:
                raise InvalidStateError(f"cannot {name}: the {self.direction} call "
                                        f"is {self.state}")
            logger.debug("%s session %s ignored %r in %s", self.direction, self.call_id,
                         name, self.state)
            return False
        self._run(Stimulus(name, now, message, transaction), transition)
        return True

    def _run(self, stimulus: Stimulus, transition: SessionTransition) -> None:
        before = self.state
        for action in transition.actions:
            argument = _ACTION_WITH_ARGUMENT.fullmatch(action)
            method = getattr(self, action_method(action))
            if argument is not None:
                method(stimulus, argument.group(2))
            else:
                method(stimulus)
        self.state = transition.next_state
        self.history.append((stimulus.now, stimulus.name, self.state))
        if self.state is not before:
            self._entered(before, stimulus)

    def _entered(self, before: SessionState, stimulus: Stimulus) -> None:
        """Called after a row changed the state (the session reacts to its own new state)."""

    # -- helpers for the actions ---------------------------------------------------------

    def _send(self, purpose: str, request: Request, now: float,
              peer: Peer | None = None) -> ClientTransaction | None:
        transaction = self.host.send_request(self, request, now, peer)
        if transaction is None:
            self._cannot_reach(request, now)
            return None
        self._purposes[transaction] = purpose
        return transaction

    def _cannot_reach(self, request: Request, now: float) -> None:
        """``request`` routes nowhere we can reach: the session ends with the cause
        ``"unreachable"``. The input fires from the session's own timer, at ``now``,
        once the row that tried to send has finished."""
        logger.info("%s session %s: cannot send %s, its target is unreachable",
                    self.direction, self.call_id, request.method)
        self._timers["target unreachable"] = now

    def _dialog_request(self, method: str, *, body: bytes = b"",
                        content_type: str | None = None,
                        headers: Iterable[tuple[str, str]] = (),
                        contact: bool = False) -> Request:
        if self.dialog is None:
            raise InvalidStateError(f"no dialog to send {method} in")
        origin = self.host.origin
        extra = list(headers)
        if self.host.user_agent:
            extra.append(("User-Agent", self.host.user_agent))
        return self.dialog.create_request(
            method, via_host=origin.via_host, via_port=origin.via_port,
            transport=origin.via_transport, ids=self.host.ids, body=body,
            content_type=content_type if body else None, headers=extra,
            contact=origin.contact if contact else None,
        )

    def _send_in_dialog(self, name: str, method: str, now: float, body: bytes = b"",
                        content_type: str | None = None,
                        headers: Iterable[tuple[str, str]] = (),
                        contact: bool = False) -> Request:
        if (self.state, name) not in self.table:
            raise InvalidStateError(f"cannot send {method} in state {self.state}")
        request = self._dialog_request(method, body=body, content_type=content_type,
                                       headers=headers, contact=contact)
        self._input(name, now, request, local=True)
        return request

    def _response_to(self, request: Request, status: int, reason: str | None = None, *,
                     body: bytes = b"", content_type: str | None = None,
                     contact: bool = False,
                     headers: Iterable[tuple[str, str]] = ()) -> Response:
        """Our response to ``request``, with our To tag (and Contact, Allow for a dialog)."""
        lines = list(headers)
        if contact:
            lines.append(("Contact", str(self.host.origin.contact)))
        if 200 <= status < 300 and request.method == "INVITE":
            lines.append(("Allow", ", ".join(self.host.allow)))
        if self.host.user_agent:
            lines.append(("Server", self.host.user_agent))
        return build_response(request, status, reason, to_tag=self.local_tag, headers=lines,
                              body=body, content_type=content_type if body else None)

    def _respond(self, request: Request, transaction: ServerTransaction, status: int,
                 now: float, reason: str | None = None,
                 headers: Iterable[tuple[str, str]] = ()) -> None:
        self.host.send_response(transaction,
                                self._response_to(request, status, reason, headers=headers), now)
