"""Refusing an offer: 488 or 400 with a ``Warning`` that says why (RFC 3261 §20.43, RFC 3264 §6).

When the SDP offer in an INVITE (or re-INVITE) cannot be answered, the callee
refuses the request, and the status tells which way it failed:

* **488 Not Acceptable Here** (RFC 3261 §21.4.26): the offer is readable but
  nothing in it fits -- no codec in common, a media path (plain RTP or
  WebRTC) this user agent does not answer (RFC 3264 §6: an answerer that
  accepts none of the streams refuses the offer);
* **400** (§21.4.1): the SDP does not parse.

Either way the response carries a ``Warning`` header (§20.43), whose
warn-code is a number from §20.43's list (304 media type not available, 305
incompatible media format, 399 miscellaneous...), warn-agent is who
refused, and warn-text is the explanation a student reads in the ladder::

    SIP/2.0 488 Not Acceptable Here
    Warning: 305 siplab "no common codec: offered PCMA/8000, we accept PCMU..."

:func:`refusal_for` builds that answer from the error the
:class:`~siplab.call.Call` raised; :func:`warning_header` writes one Warning
value and :func:`parse_warnings` reads one back (the lab's ladders and tests
show them).
"""

from __future__ import annotations

from dataclasses import dataclass

from siplab.errors import RemoteProtocolError, SipParseError
from siplab.sdp import NegotiationError, SdpParseError
from siplab.sip.grammar import quote, split_commas, unquote

__all__ = ["SdpRefusal", "refusal_for", "WARNING_MISC", "warning_header", "parse_warnings"]

#: RFC 3261 §20.43 warn-code 399, "Miscellaneous warning": used for a malformed SDP.
WARNING_MISC = 399


@dataclass(frozen=True, slots=True)
class SdpRefusal:
    """The response to an offer that cannot be answered: status, reason and headers."""

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    explanation: str


def refusal_for(error: RemoteProtocolError, agent: str = "siplab") -> SdpRefusal:
    """488 Not Acceptable Here (or 400 for unreadable SDP) with a Warning that says why."""
    explanation = str(error)
    if isinstance(error, NegotiationError):
        code = error.warning_code
        status, reason = 488, "Not Acceptable Here"
    elif isinstance(error, SdpParseError):
        code = WARNING_MISC
        status, reason = 400, "Malformed SDP"
        explanation = f"malformed SDP: {error}"
    else:
        code = WARNING_MISC
        status, reason = error.status, error.reason or "Bad Request"
    header = warning_header(code, explanation, agent)
    return SdpRefusal(status, reason, (header,), explanation)


#: Longest warn-text siplab writes; explanations can list many codecs.
_WARNING_TEXT_MAX = 300


def warning_header(code: int, text: str, agent: str = "siplab") -> tuple[str, str]:
    """``("Warning", '305 siplab "no common codec..."')``: warn-code, warn-agent, warn-text."""
    clean = " ".join(text.split())  # one line: no CR/LF inside a header value
    if len(clean) > _WARNING_TEXT_MAX:
        clean = clean[: _WARNING_TEXT_MAX - 3] + "..."
    return ("Warning", f"{code} {agent} {quote(clean)}")


def parse_warnings(value: str | None) -> list[tuple[int, str, str]]:
    """Read a Warning header value into ``(code, agent, text)`` triples; bad items skipped."""
    found: list[tuple[int, str, str]] = []
    try:
        items = split_commas(value or "")
    except SipParseError:  # an unbalanced quote or bracket: nothing readable
        return found
    for item in items:
        parts = item.split(" ", 2)
        # Three ASCII digits: int() would also take "²", which isdigit() accepts.
        if len(parts) == 3 and len(parts[0]) == 3 and parts[0].isascii() and parts[0].isdigit():
            found.append((int(parts[0]), parts[1], unquote(parts[2].strip())))
    return found
