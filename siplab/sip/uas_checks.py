"""What a user agent server checks before acting on a request (RFC 3261 §8.2.1-8.2.3).

Before a UAS does anything with a new request it makes sure it can: the
method is one it implements (else ``501 Not Implemented``) and allows (else
``405 Method Not Allowed``, with an Allow header listing what it does allow),
every extension the request *requires* is one it supports (else ``420 Bad
Extension``, with Unsupported listing the others), and the request is whole:
a request that lacks a mandatory header (Via, From, To, Call-ID, CSeq,
Max-Forwards) gets ``400 Bad Request`` with a reason phrase that names what is
missing, so whoever reads the trace knows why.

The same checks apply to every element that answers a request itself: a
user agent, and the lab server for what is addressed to it (OPTIONS, a method
it does not do). Both use :func:`refusal` and the one list of methods siplab
knows, :data:`KNOWN_METHODS`.

The transaction layer drops bytes it cannot read (it has no transaction to
answer in). When they start like a request, both cores answer with the 400
that :func:`bad_request_response` builds from the raw lines, straight back to
the sender: the Via may be what is broken.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import NamedTuple

from siplab.errors import SipParseError
from siplab.sip.headers import canonical_name, header_key, parse_address
from siplab.sip.message import MAX_HEADER_LINES, Request, Response

__all__ = [
    "KNOWN_METHODS",
    "SUPPORTED_EXTENSIONS",
    "Refusal",
    "refusal",
    "bad_request_response",
    "error_reason",
]

#: Methods siplab knows (RFC 3261 and the extensions it names): others get 501;
#: a known one the element does not allow gets 405.
KNOWN_METHODS = frozenset({"INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "REGISTER", "INFO",
                           "REFER", "NOTIFY", "SUBSCRIBE", "MESSAGE", "PRACK", "UPDATE",
                           "PUBLISH"})
#: Option tags we support in Require (none: no 100rel, no timer, no replaces).
SUPPORTED_EXTENSIONS: frozenset[str] = frozenset()


class Refusal(NamedTuple):
    """The answer to a request the UAS will not act on: status, reason (None: the
    standard phrase) and the extra header lines that go with it."""

    status: int
    reason: str | None
    headers: list[tuple[str, str]]


def refusal(request: Request, allow: Collection[str],
            supported: Collection[str] = SUPPORTED_EXTENSIONS) -> Refusal | None:
    """501, 405 or 420 for ``request`` (§8.2.1, §8.2.2.3), or None if it may go on."""
    method = request.method
    if method not in KNOWN_METHODS:
        return Refusal(501, None, [])
    if method not in allow:
        return Refusal(405, None, [("Allow", ", ".join(allow))])
    if method in ("ACK", "CANCEL"):
        return None  # they cannot be refused for their Require (§8.2.2.3)
    unsupported = [tag for tag in request.header_list("Require")
                   if tag.lower() not in supported]
    if unsupported:
        return Refusal(420, None, [("Unsupported", ", ".join(unsupported))])
    return None


def error_reason(text: str) -> str:
    """A reason phrase from an error text: one line, printable, at most 120 characters."""
    text = re.sub(r"[\x00-\x1f\x7f]+", " ", text).strip()
    return (text[:117] + "...") if len(text) > 120 else (text or "Bad Request")


_METHOD_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+\Z")
_VERSION_RE = re.compile(r"(?i:SIP)/([0-9]+\.[0-9]+)\Z")
_COPIED = ("via", "from", "to", "call-id", "cseq")
#: At most this many Via lines are copied (the top ones), so that the 400 for a
#: request with too many header lines is not refused for the same reason.
_MAX_VIAS = MAX_HEADER_LINES // 2


def bad_request_response(data: bytes, error: str, *, to_tag: str) -> Response | None:
    """A 400 for bytes that start like a request but could not be read (§8.2, §16.3).

    A request line of another version than SIP/2.0 gets 505 instead (§21.5.7).

    The reason phrase is the parse error, so the sender learns what was wrong
    (``400 missing Call-ID header``). Via, From, To, Call-ID and CSeq are
    copied as they are, line by line, so that the sender can match the
    response to its transaction if those lines are fine; the To gets
    ``to_tag`` if it has none. None if the start line is not a request line
    (nobody to answer), or for an ACK (never answered).
    """
    text = data.decode("utf-8", errors="replace").lstrip("\r\n")
    head = re.split(r"\r?\n\r?\n", text, maxsplit=1)[0]
    lines = re.split(r"\r?\n", head)
    # Loose on purpose: a request line with extra spaces (RFC 4475 "lwsstart", "trws",
    # "lwsruri") is still a request, and gets its 400. (split(), not a regex: linear.)
    fields = lines[0].split()
    version = _VERSION_RE.match(fields[-1]) if len(fields) >= 3 else None
    if version is None or not _METHOD_RE.match(fields[0]) or fields[0] == "ACK":
        return None
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        name = name.strip()
        if not colon or not name or line[:1] in " \t":
            continue
        key = header_key(name)
        if key not in _COPIED:
            continue
        if key == "via" and len(headers) >= _MAX_VIAS:  # 300 Via lines: keep it readable
            continue
        value = value.strip().replace("\x00", "")
        if key == "to":
            try:
                address = parse_address(value)
                if address.tag is None:
                    value = str(address.with_param("tag", to_tag))
            except SipParseError:
                pass
        headers.append((canonical_name(key), value))
    headers.append(("Content-Length", "0"))
    # A request of another SIP version gets 505 Version Not Supported (RFC 4475 §3.1.2.16).
    status = 400 if version.group(1) == "2.0" else 505
    try:
        return Response(status, error_reason(error), headers)
    except ValueError:  # a header line that cannot be written back
        return Response(status, error_reason(error), [("Content-Length", "0")])
