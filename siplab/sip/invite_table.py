"""The INVITE session as a state table (RFC 3261 §13-15, §9, §14; RFC 3515 for REFER).

A *session* is a call as the application sees it: one INVITE, the dialog it
makes, and everything that happens in that dialog until the BYE. Its states
are SIP.js's::

    Initial --> Establishing --> Established --> Terminating --> Terminated
                     |                                               ^
                     +---------- rejected, cancelled, timeout -------+

* **Establishing**: the INVITE is out (caller) or in (callee), no 2xx yet.
  Provisional responses make *early dialogs* on the way.
* **Established**: the 2xx went through. Mid-call requests (re-INVITE for
  hold and resume, INFO, REFER, NOTIFY, OPTIONS) happen here.
* **Terminating**: we asked for the end (a BYE or a CANCEL is out) and wait
  for it to complete.
* **Terminated**: over; the event :class:`~siplab.sip.events.SessionTerminated`
  says why.

The two directions share the Established and Terminating rows and differ in
how they get there, so there are two tables, :data:`OUTGOING` (the caller, UAC)
and :data:`INCOMING` (the callee, UAS), in :data:`SESSION_MACHINES`. As in
:mod:`siplab.sip.transaction`, a row is ``(state, input) -> (next state,
actions)`` and the session code only looks rows up and runs their actions
(action ``"send ACK"`` runs the method ``_send_ack``), so the tables *are* the
behaviour and :mod:`siplab.lab.diagrams` can draw them.

Inputs are what happened, named the way a ladder diagram would say it:

* the application's verbs: ``"call"``, ``"progress"``, ``"accept"``,
  ``"reject"``, ``"cancel"``, ``"bye"``, ``"reinvite"``, ``"info"``...;
* responses to our INVITE: ``"100 Trying"``, ``"1xx"``, ``"2xx"``, ``"2xx again"``
  (a retransmission), ``"2xx of another fork"``, ``"3xx"``, ``"401/407"``,
  ``"4xx-6xx"``...; to our other requests: ``"BYE response"``,
  ``"re-INVITE 2xx"``, ``"request 2xx"``, ``"request lost"`` (408, 481 or no
  answer: the dialog is gone, §12.2.1.2)...;
* requests from the peer: ``"receive BYE"``, ``"receive ACK"``,
  ``"receive CANCEL"``, ``"receive re-INVITE"``, ``"receive NOTIFY"``...;
* the session's own timers: ``"Timer B"`` (from the transaction),
  ``"2xx retransmission due"``, ``"ACK timeout"``, ``"cancel timeout"``,
  ``"re-INVITE retry due"``, ``"keepalive due"``.

Some inputs carry a guard in their name ("cancel before any 1xx", "401/407
again"): the code picks the name, the table says what it means. An input a
state has no row for is refused if the application asked for it
(:class:`~siplab.errors.InvalidStateError`) and ignored if the network sent
it (a request gets 481 or 500).

Two action families take an argument in parentheses: ``"note cause (bye)"``
remembers why the session is ending, and ``"report terminated (rejected)"``
emits SessionTerminated with that cause (without parentheses: the cause
noted earlier).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "SessionState",
    "SessionTransition",
    "SessionTable",
    "OUTGOING",
    "INCOMING",
    "SESSION_MACHINES",
    "SESSION_INITIAL_STATE",
]


class SessionState(StrEnum):
    """The life of a call, with SIP.js's state names."""

    Initial = "Initial"
    Establishing = "Establishing"
    Established = "Established"
    Terminating = "Terminating"
    Terminated = "Terminated"


@dataclass(frozen=True, slots=True)
class SessionTransition:
    """One row: the state to go to and the actions to run on the way, in order."""

    next_state: SessionState
    actions: tuple[str, ...] = ()


SessionTable = dict[tuple[SessionState, str], SessionTransition]

INITIAL = SessionState.Initial
ESTABLISHING = SessionState.Establishing
ESTABLISHED = SessionState.Established
TERMINATING = SessionState.Terminating
TERMINATED = SessionState.Terminated
SESSION_INITIAL_STATE = INITIAL


def _to(state: SessionState, *actions: str) -> SessionTransition:
    return SessionTransition(state, actions)


def _each(state: SessionState, inputs: tuple[str, ...],
          transition: SessionTransition) -> SessionTable:
    return {(state, name): transition for name in inputs}


# -- in the dialog: the same for caller and callee (§12.2, §14, §15) -----------------------

_ENDING_BYE = _to(TERMINATED, "report terminated")
# §15.1.2: a re-INVITE of the peer's still unanswered when the call ends gets 487 first.
_END_PENDING = "answer a pending re-INVITE with 487"

MID_CALL: SessionTable = {
    # Hanging up (§15). The callee must wait for the ACK before its BYE (§15).
    (ESTABLISHED, "bye"): _to(TERMINATING, _END_PENDING, "note cause (bye)", "send BYE"),
    (ESTABLISHED, "bye before ACK"): _to(TERMINATING, "note cause (bye)", "hold BYE until ACK"),
    (ESTABLISHED, "receive BYE"): _to(
        TERMINATED, _END_PENDING, "answer 200", "stop 2xx retransmissions",
        "report terminated (remote bye)",
    ),
    (TERMINATING, "receive BYE"): _to(TERMINATING, "answer 200"),  # the two BYEs crossed
    (TERMINATING, "BYE response"): _ENDING_BYE,
    (TERMINATING, "BYE timeout"): _ENDING_BYE,
    # The callee's 2xx is retransmitted by the UA core until the ACK (§13.3.1.4).
    (ESTABLISHED, "2xx retransmission due"): _to(ESTABLISHED, "resend 2xx"),
    (ESTABLISHED, "receive ACK"): _to(ESTABLISHED, "stop 2xx retransmissions", "take ACK body"),
    (ESTABLISHED, "receive ACK for re-INVITE"): _to(
        ESTABLISHED, "stop 2xx retransmissions", "report modified"
    ),
    (ESTABLISHED, "ACK timeout"): _to(
        TERMINATING, "stop 2xx retransmissions", "note cause (no ack)", "send BYE"
    ),
    (TERMINATING, "2xx retransmission due"): _to(TERMINATING, "resend 2xx"),
    (TERMINATING, "receive ACK"): _to(TERMINATING, "stop 2xx retransmissions", "send held BYE"),
    (TERMINATING, "receive ACK for re-INVITE"): _to(
        TERMINATING, "stop 2xx retransmissions", "send held BYE"
    ),
    (TERMINATING, "ACK timeout"): _to(TERMINATING, "stop 2xx retransmissions", "send held BYE"),
    # The caller ACKs every 2xx, copies included, even after hanging up (§13.2.2.4);
    # a 2xx from a second fork is ACKed and then ended with a BYE.
    (ESTABLISHED, "2xx again"): _to(ESTABLISHED, "resend ACK"),
    (TERMINATING, "2xx again"): _to(TERMINATING, "resend ACK"),
    (TERMINATED, "2xx again"): _to(TERMINATED, "resend ACK"),
    (ESTABLISHED, "2xx of another fork"): _to(ESTABLISHED, "ACK and BYE the fork"),
    (TERMINATING, "2xx of another fork"): _to(TERMINATING, "ACK and BYE the fork"),
    (TERMINATED, "2xx of another fork"): _to(TERMINATED, "ACK and BYE the fork"),
    # re-INVITE we send (§14.1): hold, resume, new media. 491 = glare: retry later.
    (ESTABLISHED, "reinvite"): _to(ESTABLISHED, "send re-INVITE"),
    (ESTABLISHED, "re-INVITE retry due"): _to(ESTABLISHED, "send re-INVITE"),
    (ESTABLISHED, "re-INVITE 2xx"): _to(ESTABLISHED, "send ACK", "report modified"),
    (TERMINATING, "re-INVITE 2xx"): _to(TERMINATING, "send ACK"),
    (ESTABLISHED, "re-INVITE 491"): _to(ESTABLISHED, "schedule re-INVITE retry"),
    (ESTABLISHED, "re-INVITE rejected"): _to(ESTABLISHED, "report request failed"),
    # re-INVITE we receive (§14.2): the application answers it.
    (ESTABLISHED, "receive re-INVITE"): _to(ESTABLISHED, "report re-INVITE"),
    (ESTABLISHED, "receive re-INVITE during ours"): _to(ESTABLISHED, "answer 491"),
    (ESTABLISHED, "receive re-INVITE while answering"): _to(ESTABLISHED, "answer 500"),
    # Our 2xx still waits for its ACK, but a new INVITE from the peer proves the 2xx
    # arrived (it could not send one otherwise): the ACK was lost; stop resending.
    (ESTABLISHED, "receive re-INVITE before the ACK"): _to(
        ESTABLISHED, "stop 2xx retransmissions", "report re-INVITE"
    ),
    (ESTABLISHED, "accept re-INVITE"): _to(ESTABLISHED, "send 2xx", "start 2xx retransmissions"),
    (ESTABLISHED, "reject re-INVITE"): _to(ESTABLISHED, "send final response"),
    (ESTABLISHED, "receive CANCEL of re-INVITE"): _to(ESTABLISHED, "answer the INVITE with 487"),
    # Other requests we send in the call, and their answers.
    **_each(ESTABLISHED, ("info", "refer", "notify", "message"),
            _to(ESTABLISHED, "send request")),
    (ESTABLISHED, "request 2xx"): _to(ESTABLISHED, "report request succeeded"),
    (ESTABLISHED, "request failed"): _to(ESTABLISHED, "report request failed"),
    (ESTABLISHED, "request lost"): _to(
        TERMINATING, "report request failed", _END_PENDING, "note cause (dialog lost)",
        "send BYE",
    ),
    (ESTABLISHED, "keepalive due"): _to(ESTABLISHED, "send keepalive"),
    (ESTABLISHED, "keepalive failed"): _to(
        TERMINATING, _END_PENDING, "note cause (keepalive failed)", "send BYE"
    ),
    # No RTP (nor RTCP) from the peer for the media timeout: it vanished (RFC 3550 §6.3.5).
    (ESTABLISHED, "media timeout"): _to(
        TERMINATING, _END_PENDING, "note cause (rtp timeout)", "send BYE"
    ),
    # A request of the dialog routes nowhere we can reach (the peer's Contact names a
    # WebSocket client's .invalid host, and no Record-Route leads back): nothing can be
    # sent, so the call is over at once.
    (ESTABLISHED, "target unreachable"): _to(
        TERMINATED, _END_PENDING, "stop 2xx retransmissions", "report terminated (unreachable)"
    ),
    (TERMINATING, "target unreachable"): _to(
        TERMINATED, "stop 2xx retransmissions", "report terminated (unreachable)"
    ),
    # Other requests we receive in the call.
    (ESTABLISHED, "receive INFO"): _to(ESTABLISHED, "answer 200", "report INFO"),
    (ESTABLISHED, "receive MESSAGE"): _to(ESTABLISHED, "answer 200", "report MESSAGE"),
    (ESTABLISHED, "receive OPTIONS"): _to(ESTABLISHED, "answer OPTIONS"),
    (ESTABLISHED, "receive REFER"): _to(ESTABLISHED, "answer 202", "report REFER"),
    (ESTABLISHED, "receive NOTIFY"): _to(ESTABLISHED, "answer 200", "report NOTIFY"),
    (ESTABLISHED, "receive final NOTIFY"): _to(
        ESTABLISHED, "answer 200", "report NOTIFY", "report transfer completed"
    ),
    **_each(TERMINATING, ("receive INFO", "receive OPTIONS", "receive NOTIFY",
                          "receive final NOTIFY"), _to(TERMINATING, "answer 200")),
}

# -- the caller (UAC): §13.2, §9.1, §8.1.3.4, §22.2 ------------------------------------------

_FAILED = ("end early dialogs",)

OUTGOING: SessionTable = {
    (INITIAL, "call"): _to(ESTABLISHING, "send INVITE"),
    (ESTABLISHING, "100 Trying"): _to(ESTABLISHING),
    (ESTABLISHING, "1xx"): _to(ESTABLISHING, "update early dialog", "report progress"),
    (ESTABLISHING, "2xx"): _to(
        ESTABLISHED, "confirm dialog", "send ACK", "report established", "start keepalive"
    ),
    (ESTABLISHING, "3xx"): _to(ESTABLISHING, *_FAILED, "follow redirect"),
    (ESTABLISHING, "3xx, no more redirects"): _to(
        TERMINATED, *_FAILED, "report terminated (redirect limit)"
    ),
    (ESTABLISHING, "3xx, unreadable Contact"): _to(
        TERMINATED, *_FAILED, "report terminated (bad redirect)"
    ),
    (ESTABLISHING, "target unreachable"): _to(
        TERMINATED, *_FAILED, "report terminated (unreachable)"
    ),
    (ESTABLISHING, "401/407"): _to(ESTABLISHING, *_FAILED, "retry with credentials"),
    (ESTABLISHING, "401/407 again"): _to(TERMINATED, *_FAILED, "report terminated (auth failed)"),
    (ESTABLISHING, "4xx-6xx"): _to(TERMINATED, *_FAILED, "report terminated (rejected)"),
    (ESTABLISHING, "Timer B"): _to(TERMINATED, *_FAILED, "report terminated (timeout)"),
    (ESTABLISHING, "transport error"): _to(
        TERMINATED, *_FAILED, "report terminated (transport error)"
    ),
    (ESTABLISHING, "receive INFO"): _to(ESTABLISHING, "answer 200", "report INFO"),
    # CANCEL (§9.1): only once a provisional response came; until then it waits.
    (ESTABLISHING, "cancel"): _to(TERMINATING, "note cause (cancelled)", "send CANCEL"),
    (ESTABLISHING, "cancel before any 1xx"): _to(
        TERMINATING, "note cause (cancelled)", "hold CANCEL"
    ),
    (TERMINATING, "100 Trying"): _to(TERMINATING, "send held CANCEL"),
    (TERMINATING, "1xx"): _to(TERMINATING, "update early dialog", "send held CANCEL"),
    # The callee answered before the CANCEL reached it: ACK the 2xx, then BYE.
    (TERMINATING, "2xx"): _to(
        TERMINATING, "stop cancelling", "confirm dialog", "send ACK", "send BYE"
    ),
    **_each(TERMINATING, ("3xx", "3xx, no more redirects", "3xx, unreadable Contact",
                          "401/407", "401/407 again", "4xx-6xx"),
            _to(TERMINATED, "stop cancelling", *_FAILED, "report terminated")),
    **_each(TERMINATING, ("Timer B", "transport error"),
            _to(TERMINATED, *_FAILED, "report terminated")),
    # No final response 64*T1 after the CANCEL: the INVITE is given up (§9.1).
    (TERMINATING, "cancel timeout"): _to(
        TERMINATED, "abandon INVITE", *_FAILED, "report terminated"
    ),
    **MID_CALL,
}

# -- the callee (UAS): §13.3, §9.2 ------------------------------------------------------------

INCOMING: SessionTable = {
    (INITIAL, "receive INVITE"): _to(ESTABLISHING, "report incoming call"),
    (ESTABLISHING, "progress"): _to(ESTABLISHING, "send provisional"),
    (ESTABLISHING, "accept"): _to(
        ESTABLISHED, "send 2xx", "start 2xx retransmissions", "report established",
        "start keepalive",
    ),
    (ESTABLISHING, "reject"): _to(
        TERMINATED, "send final response", *_FAILED, "report terminated (rejected)"
    ),
    # The caller gave up: 200 to the CANCEL (the UA core did that), 487 to the INVITE.
    (ESTABLISHING, "receive CANCEL"): _to(
        TERMINATED, "answer the INVITE with 487", *_FAILED, "report terminated (cancelled)"
    ),
    # The caller may also end an early dialog with a BYE (§15.1.2).
    (ESTABLISHING, "receive BYE"): _to(
        TERMINATED, "answer 200", "answer the INVITE with 487", *_FAILED,
        "report terminated (remote bye)",
    ),
    (ESTABLISHING, "receive INFO"): _to(ESTABLISHING, "answer 200", "report INFO"),
    **MID_CALL,
}

#: Both machines by name, for the diagrams.
SESSION_MACHINES: dict[str, SessionTable] = {"outgoing": OUTGOING, "incoming": INCOMING}
