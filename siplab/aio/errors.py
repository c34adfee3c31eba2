"""What the friendly asyncio API raises when a SIP request does not get what it asked for.

In the sans-I/O core a 486 Busy Here or a 403 Forbidden is an *event*
(:mod:`siplab.sip.events`): an outcome to react to, not a bug. The asyncio
API (:mod:`siplab.aio.useragent`) turns those outcomes into the result of an
``await``: ``await registerer.register()`` returns when the registrar said
200, and raises :class:`RegistrationError` carrying the status when it said
anything else, so notebook code reads top to bottom::

    try:
        await inviter.established(timeout=10)
    except CallFailed as failure:
        print(failure.status, failure.reason)     # 486 Busy Here

Every class here is a :class:`~siplab.errors.SipError`, so ``except
SipError`` catches them all. A wait that runs out of time raises the
standard :class:`TimeoutError` instead.
"""

from __future__ import annotations

from siplab.errors import LocalProtocolError, SipError

__all__ = [
    "RequestError",
    "RegistrationError",
    "CallFailed",
    "TransportNotAvailable",
]


class RequestError(SipError):
    """A request we sent failed: ``status`` is the final response (None: no response at all)."""

    def __init__(self, status: int | None, reason: str, *, method: str = "") -> None:
        shown = f"{status} {reason}" if status is not None else reason
        super().__init__(f"{method} failed: {shown}" if method else shown)
        self.status = status
        self.reason = reason
        self.method = method


class RegistrationError(RequestError):
    """The REGISTER failed: 403 (wrong password), 404 (unknown user), None (no answer)..."""

    def __init__(self, status: int | None, reason: str) -> None:
        super().__init__(status, reason, method="REGISTER")


class CallFailed(RequestError):
    """The call ended before it was established (rejected, cancelled, timed out...).

    ``status`` is the final response that ended it (486, 487, 603...), or
    None; ``cause`` is the session's cause ("rejected", "cancelled", "timeout"...);
    ``warning`` the text of the response's Warning header, if any (RFC 3261
    §20.43: a 488 says there which codecs or transport could not be taken).
    """

    def __init__(self, status: int | None, reason: str, *, cause: str = "",
                 warning: str | None = None) -> None:
        super().__init__(status, reason, method="INVITE")
        self.cause = cause
        self.warning = warning
        if warning:
            self.args = (f"{self.args[0]}: {warning}",)

    def __str__(self) -> str:
        return str(self.args[0])


class TransportNotAvailable(LocalProtocolError, NotImplementedError):
    """A transport siplab cannot use (none is left since TLS and WSS came; kept for callers
    that catch it)."""
