"""What a dialer shows, decided from the phone's state alone (no widgets, no I/O).

A phone's face is a function of two state machines that live elsewhere:

* the **registration** (RFC 3261 §10.2, :class:`~siplab.sip.registration.RegistrationState`):
  is the registrar holding our binding, so that calls to our address reach us?
  The dialer shows it as a light: grey (not registered), amber (a REGISTER is
  on its way), green (registered), red (the registrar refused);
* the **call** (RFC 3261 §13-15, :class:`~siplab.sip.invite_table.SessionState`,
  SIP.js's names): Initial, Establishing, Established, Terminating, Terminated.

A person holding the phone thinks in slightly different terms, the
:class:`Phase`: an *outgoing* call that rings is not the same thing to them
as an *incoming* one (SessionState says Establishing for both), and a call on
hold (an Established call whose last SDP offer said ``a=sendonly``, RFC 3264
§8.4) has other buttons than one in progress. :func:`phase_of` maps the
session to the phase, and :data:`BUTTONS` is the table of which buttons a
phase enables, the way siplab's protocol machines are tables too. Tests (and
students) can read the table instead of clicking through every state.

:mod:`siplab.lab.widgets` draws all of this with ipywidgets.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from siplab.aio.hold import direction_of
from siplab.sip.events import (
    Event,
    IncomingCall,
    MessageReceived,
    Registered,
    RegistrationFailed,
    ReinviteReceived,
    RequestFailed,
    SessionEstablished,
    SessionModified,
    SessionProgress,
    SessionTerminated,
    Unregistered,
)
from siplab.sip.invite_table import SessionState
from siplab.sip.message import Response
from siplab.sip.registration import RegistrationState
from siplab.sip.status import reason_phrase

if TYPE_CHECKING:
    from siplab.aio.session import Session

__all__ = [
    "Light",
    "LIGHTS",
    "LIGHT_COLOURS",
    "Phase",
    "BUTTONS",
    "CALL_BUTTONS",
    "phase_of",
    "format_duration",
    "describe_event",
    "describe_end",
]


class Light(StrEnum):
    """The registration light's colour."""

    GREY = "grey"  # not registered: nobody can call us
    AMBER = "amber"  # a REGISTER (or its Expires: 0 twin) is on its way
    GREEN = "green"  # the registrar holds our binding
    RED = "red"  # the registrar said no (403, 404...) or never answered


#: The registration state -> the light (RFC 3261 §10.2: the binding exists only
#: once the registrar answered 200 OK).
LIGHTS: dict[RegistrationState, Light] = {
    RegistrationState.Unregistered: Light.GREY,
    RegistrationState.Registering: Light.AMBER,
    RegistrationState.Unregistering: Light.AMBER,
    RegistrationState.Registered: Light.GREEN,
    RegistrationState.Failed: Light.RED,
}

#: The CSS colour of each light.
LIGHT_COLOURS: dict[Light, str] = {
    Light.GREY: "#9a9a9a",
    Light.AMBER: "#f0a202",
    Light.GREEN: "#2ca02c",
    Light.RED: "#d62728",
}


class Phase(StrEnum):
    """Where the dialer's call stands, as the person holding the phone sees it."""

    IDLE = "idle"  # no call: dial a number
    CALLING = "calling"  # our INVITE is out, the far end may be ringing
    RINGING = "ringing"  # an INVITE came in: answer or reject it
    IN_CALL = "in call"  # established (2xx and ACK), media flowing both ways
    ON_HOLD = "on hold"  # established, and we put it on hold (a=sendonly)
    ENDING = "ending"  # BYE or CANCEL sent, waiting for its answer


#: The call buttons (attribute ``<name>_button`` of a Dialer).
CALL_BUTTONS = ("call", "answer", "reject", "hold", "hangup")

#: Phase -> the call buttons it enables. ``hold`` says Hold in a call and
#: Resume on hold; ``hangup`` is CANCEL while calling and BYE once established.
BUTTONS: dict[Phase, frozenset[str]] = {
    Phase.IDLE: frozenset({"call"}),
    Phase.CALLING: frozenset({"hangup"}),
    Phase.RINGING: frozenset({"answer", "reject"}),
    Phase.IN_CALL: frozenset({"hold", "hangup"}),
    Phase.ON_HOLD: frozenset({"hold", "hangup"}),
    Phase.ENDING: frozenset(),
}


def phase_of(session: Session | None) -> Phase:
    """The phase of a dialer whose current call is ``session`` (None: no call)."""
    if session is None:
        return Phase.IDLE
    match session.state:
        case SessionState.Initial | SessionState.Establishing:
            return Phase.CALLING if session.direction == "outgoing" else Phase.RINGING
        case SessionState.Established:
            return Phase.ON_HOLD if session.on_hold else Phase.IN_CALL
        case SessionState.Terminating:
            return Phase.ENDING
    return Phase.IDLE  # Terminated: the phone is free again


def format_duration(seconds: float) -> str:
    """A call timer: ``00:07``, ``12:34``, ``1:02:03`` (whole seconds, rounded down)."""
    whole = max(int(seconds), 0)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes:02d}:{secs:02d}"


def describe_event(event: Event) -> str | None:
    """One line of a dialer's log for a user agent's event (None: not worth a line).

    The events are the sans-I/O core's (:mod:`siplab.sip.events`); each line
    names the SIP message behind it, so the log reads like a short ladder.
    """
    match event:
        case Registered(expires=expires):
            return f"200 OK to REGISTER: registered for {expires} s"
        case RegistrationFailed(status=status, reason=reason):
            return f"REGISTER failed: {status or ''} {reason}".replace("  ", " ")
        case Unregistered():
            return "200 OK to REGISTER (Expires: 0): unregistered"
        case IncomingCall(request=request):
            return f"INVITE from {_who(request.from_.uri)}"
        case SessionProgress(response=response):
            return f"{response.status} {response.reason or reason_phrase(response.status)}"
        case SessionEstablished(session=session):
            return "ACK sent: call established" if session.direction == "outgoing" \
                else "200 OK sent: call established"
        case SessionTerminated(cause=cause, status=status):
            return f"call ended: {describe_end(cause, status)}"
        case SessionModified(message=message):
            return ("200 OK to our re-INVITE" if isinstance(message, Response)
                    else "ACK: the re-INVITE is done")
        case ReinviteReceived(request=request):
            return f"re-INVITE from the peer ({direction_of(request.body) or 'sendrecv'})"
        case MessageReceived(sender=sender):
            return f"MESSAGE from {_who(sender.uri)}"
        case RequestFailed(kind=kind, status=status, reason=reason):
            return f"{kind} failed: {status or ''} {reason}".replace("  ", " ")
    return None


def _who(uri: object) -> str:
    user = getattr(uri, "user", None)
    return str(user) if user else str(uri)


def describe_end(cause: str | None, status: int | None) -> str:
    """Why a call ended, for a person: ``486 Busy Here (rejected)``, ``hung up (bye)``.

    ``cause`` is the session's (``"bye"``, ``"remote bye"``, ``"rejected"``,
    ``"cancelled"``, ``"timeout"``...), ``status`` the final response that ended
    it, when one did (a 486 to our INVITE, a 487 after CANCEL).
    """
    said = {"bye": "we hung up", "remote bye": "the other side hung up"}.get(cause or "")
    if status is not None and status >= 300:
        return f"{status} {reason_phrase(status)} ({cause or 'failed'})"
    return said or (cause or "ended")
