"""What goes wrong with a session description, and what a server answers for it.

Two things can go wrong when a SIP user agent receives SDP in an INVITE:

* the text is not SDP at all, or breaks RFC 8866's grammar (no ``v=`` line, an
  ``m=`` line with a port that is not a number, a media description with a port
  but no ``c=`` line anywhere). That is the peer's fault and the request is
  answered **400 Bad Request**: :class:`SdpParseError`, which names the line.
* the SDP is fine but nothing in it can be used: no codec in common, only
  transports we do not speak. RFC 3261 §13.3.1.3 and RFC 3264 §6 answer that
  with **488 Not Acceptable Here**: :class:`NegotiationError`. A 488 may carry
  a ``Warning`` header (RFC 3261 §20.43) whose code says why: 304 "Media type
  not available" or 305 "Incompatible media format"; the error keeps that code.

Both are :class:`~siplab.errors.RemoteProtocolError`, so a user agent that
catches that one class knows the status to send back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from siplab.errors import RemoteProtocolError

if TYPE_CHECKING:  # outcome.py imports this module; the type is only for hints
    from siplab.sdp.outcome import Negotiation

__all__ = ["SdpParseError", "NegotiationError", "WARNING_MEDIA_TYPE", "WARNING_MEDIA_FORMAT"]

#: RFC 3261 §20.43 warn-code: none of the offered media types is available.
WARNING_MEDIA_TYPE = 304
#: RFC 3261 §20.43 warn-code: none of the offered media formats is available.
WARNING_MEDIA_FORMAT = 305


class SdpParseError(RemoteProtocolError, ValueError):
    """Text that is not a valid session description (answered with 400 Bad Request).

    ``line_number`` (1-based) and ``line`` point at the offending line when
    there is one; ``where`` is the same as text (``"line 5"``), like
    :class:`~siplab.errors.SipParseError`'s, so a 400 reason can quote it.
    """

    def __init__(
        self, message: str, *, line_number: int | None = None, line: str | None = None
    ) -> None:
        where = None if line_number is None else f"line {line_number}"
        text = message
        if where is not None and line is not None:
            shown = line if len(line) <= 72 else line[:69] + "..."
            text = f"{message} ({where}: {shown!r})"
        elif where is not None:
            text = f"{message} ({where})"
        super().__init__(text, status=400, reason="Bad Request")
        self.what = message
        self.where = where
        self.line_number = line_number
        self.line = line


class NegotiationError(RemoteProtocolError):
    """An offer with nothing we can accept (answered with 488 Not Acceptable Here).

    ``negotiation`` holds the full explanation (every offered codec and why it
    was dropped) so a notebook can still show the table; ``warning_code`` is
    304 or 305 for the ``Warning`` header (RFC 3261 §20.43).
    """

    def __init__(
        self,
        message: str,
        *,
        negotiation: Negotiation | None = None,
        warning_code: int = WARNING_MEDIA_FORMAT,
    ) -> None:
        super().__init__(message, status=488, reason="Not Acceptable Here")
        self.negotiation = negotiation
        self.warning_code = warning_code
