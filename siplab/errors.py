"""Errors siplab raises, and who is to blame for each.

SIP has two kinds of trouble. Either the *peer* sent something wrong (a
malformed message, an unknown dialog, an SDP we cannot accept), and the right
reaction is usually to answer with an error status; or *you*, the caller of
this library, asked for something that makes no sense (sending a 2xx on a
transaction that already sent its final response). Protocol *outcomes* such as
a timeout or a 486 Busy Here are not errors at all: they arrive as events.

The tree::

    SipError                          root: everything siplab raises on purpose
    ├── LocalProtocolError            the caller misused the API
    │   └── InvalidStateError         ...asked for something the current state forbids
    └── RemoteProtocolError           the peer broke the protocol; .status is the answer
        └── SipParseError             bytes that are not a valid SIP message (400);
                                      also a ValueError, so ``except ValueError`` works

Other layers add their own leaves under RemoteProtocolError (for example the
SDP negotiation error answers 488 Not Acceptable Here).
"""

from __future__ import annotations

__all__ = [
    "SipError",
    "LocalProtocolError",
    "InvalidStateError",
    "RemoteProtocolError",
    "SipParseError",
]


class SipError(Exception):
    """Root of every exception siplab raises on purpose."""


class LocalProtocolError(SipError):
    """The caller of the API did something the protocol does not allow."""


class InvalidStateError(LocalProtocolError):
    """The requested action is not valid in the object's current state."""


class RemoteProtocolError(SipError):
    """The remote side sent something that breaks the protocol.

    ``status`` and ``reason`` are what a server should answer with, for example
    400 Bad Request, 481 Call/Transaction Does Not Exist or 488 Not Acceptable Here.
    """

    def __init__(self, message: str, *, status: int = 400, reason: str = "Bad Request") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class SipParseError(RemoteProtocolError, ValueError):
    """Bytes that could not be read as a SIP message, URI or header.

    ``where`` names the part that is wrong (``"start line"``, ``"header 'CSeq'"``,
    ``"line 4"``, ``"body"``) so that the message and a 400 reason can point at it.
    """

    def __init__(self, message: str, *, where: str | None = None) -> None:
        text = f"{message} ({where})" if where else message
        super().__init__(text, status=400, reason="Bad Request")
        self.what = message
        self.where = where
