"""The registration machine as a table, and its timing rules (RFC 3261 §10.2, §10.2.4).

What a registration *does* is written here as data, and only the data:

* :class:`RegistrationState`, the states (SIP.js's Registerer states, plus the
  REGISTER in flight): Unregistered, Registering, Registered, Unregistering,
  Failed, Retrying;
* :data:`REGISTRATION`, the table ``(state, input) -> (next state, actions)``.
  Inputs are what the user asks (``"register"``, ``"unregister"``), the
  timers (``"refresh due"``, ``"retry due"``), the user agent's news that the
  binding is gone (``"binding lost"``) and the responses to our REGISTER
  (``"2xx"``, ``"401/407"``, ``"423"``, ``"failure"``, ``"timeout"``...);
* the two timing rules: :func:`refresh_delay` (re-register at 90 % of the
  granted time, §10.2.4 asks for a refresh before the binding expires) and
  :func:`retry_delay` (1, 2, 4... seconds between tries to win a lost
  binding back, at most :data:`MAX_RETRY_DELAY`).

The code that runs the table, :class:`siplab.sip.registration.Registration`,
looks a row up and calls one method per action (``"send REGISTER"`` is
``_send_register``); :mod:`siplab.lab.diagrams` draws the same table, so the
picture cannot drift from the behaviour. Every name here is also importable
from :mod:`siplab.sip.registration`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "RegistrationState",
    "RegistrationTransition",
    "REGISTRATION",
    "REGISTRATION_INITIAL_STATE",
    "refresh_delay",
    "retry_delay",
    "MAX_RETRY_DELAY",
]

#: The longest wait, in seconds, between two tries to get a lost registration back.
MAX_RETRY_DELAY = 60.0


class RegistrationState(StrEnum):
    """Where a registration stands (SIP.js's Registerer states, plus the REGISTER in flight)."""

    Unregistered = "Unregistered"
    Registering = "Registering"  # a REGISTER is on its way; no binding yet
    Registered = "Registered"  # the registrar holds our binding (refreshes keep this state)
    Unregistering = "Unregistering"  # the REGISTER with Expires: 0 is on its way
    Failed = "Failed"
    Retrying = "Retrying"  # a refresh failed: REGISTER again after a backoff


@dataclass(frozen=True, slots=True)
class RegistrationTransition:
    """One row of the table: the state to go to and what to do on the way."""

    next_state: RegistrationState
    actions: tuple[str, ...] = ()


UNREGISTERED = RegistrationState.Unregistered
REGISTERING = RegistrationState.Registering
REGISTERED = RegistrationState.Registered
UNREGISTERING = RegistrationState.Unregistering
FAILED = RegistrationState.Failed
RETRYING = RegistrationState.Retrying


def _to(state: RegistrationState, *actions: str) -> RegistrationTransition:
    return RegistrationTransition(state, actions)


def _answers(state: RegistrationState, failed: RegistrationTransition,
             ) -> dict[tuple[RegistrationState, str], RegistrationTransition]:
    """Responses to a REGISTER that asks for a binding, in ``state`` (Registering,
    Registered while a refresh is out, Retrying while a retry is out); ``failed`` is
    where a failure leads."""
    return {
        (state, "2xx"): _to(REGISTERED, "store bindings", "schedule refresh", "report registered"),
        (state, "401/407"): _to(state, "send REGISTER with credentials"),
        (state, "423"): _to(state, "send REGISTER with Min-Expires"),
        (state, "401/407 again"): failed,
        (state, "failure"): failed,
        (state, "timeout"): failed,
    }


#: The registration machine. Inputs: what the user asks ("register",
#: "unregister"), the refresh and retry timers ("refresh due", "retry due"), the
#: user agent's news that the binding is gone ("binding lost") and the responses
#: to our REGISTER ("2xx", "401/407" the first time, "401/407 again", "423", any
#: other 3xx-6xx as "failure", and "timeout" for no answer or a transport error).
REGISTRATION: dict[tuple[RegistrationState, str], RegistrationTransition] = {
    (UNREGISTERED, "register"): _to(REGISTERING, "send REGISTER"),
    (FAILED, "register"): _to(REGISTERING, "send REGISTER"),
    (REGISTERED, "register"): _to(REGISTERED, "stop refresh", "send REGISTER"),
    (REGISTERED, "refresh due"): _to(REGISTERED, "send REGISTER"),
    **_answers(REGISTERING, _to(FAILED, "stop refresh", "report failed")),
    # A refresh that fails: say so once, then try again and again (see the docstring).
    **_answers(REGISTERED, _to(RETRYING, "stop refresh", "report failed", "schedule retry")),
    **_answers(RETRYING, _to(RETRYING, "schedule retry")),
    (RETRYING, "retry due"): _to(RETRYING, "send REGISTER"),
    (RETRYING, "register"): _to(REGISTERING, "stop refresh", "send REGISTER"),
    (RETRYING, "unregister"): _to(UNREGISTERING, "stop refresh", "send REGISTER with Expires 0"),
    # The user agent knows the binding is gone (it re-opened its connection): at once.
    (REGISTERED, "binding lost"): _to(REGISTERED, "stop refresh", "send REGISTER"),
    (RETRYING, "binding lost"): _to(RETRYING, "stop refresh", "send REGISTER"),
    (REGISTERED, "unregister"): _to(UNREGISTERING, "stop refresh", "send REGISTER with Expires 0"),
    # Also allowed without a binding of ours: "Contact: *" clears what an old run left.
    (UNREGISTERED, "unregister"): _to(UNREGISTERING, "send REGISTER with Expires 0"),
    (FAILED, "unregister"): _to(UNREGISTERING, "send REGISTER with Expires 0"),
    (UNREGISTERING, "2xx"): _to(UNREGISTERED, "store bindings", "report unregistered"),
    (UNREGISTERING, "401/407"): _to(UNREGISTERING, "send REGISTER with credentials"),
    (UNREGISTERING, "401/407 again"): _to(FAILED, "report failed"),
    (UNREGISTERING, "423"): _to(FAILED, "report failed"),
    (UNREGISTERING, "failure"): _to(FAILED, "report failed"),
    (UNREGISTERING, "timeout"): _to(FAILED, "report failed"),
}
REGISTRATION_INITIAL_STATE = UNREGISTERED


def retry_delay(failures: int) -> float:
    """Seconds to wait after the ``failures``-th failure in a row: 1, 2, 4, 8...,
    never more than :data:`MAX_RETRY_DELAY`."""
    return min(MAX_RETRY_DELAY, 2.0 ** min(max(failures - 1, 0), 16))


def refresh_delay(granted: float) -> float:
    """How long after a 200 OK to re-register: 90 % of the granted time, or 5 s
    before it runs out if that is sooner, but never less than 1 s."""
    return max(1.0, min(0.9 * granted, granted - 5.0))
