"""What a user agent server checks before acting on a request (RFC 3261 §8.2.1-8.2.3).

Before a UAS does anything with a new request it makes sure it can: the
method is one it implements (else ``501 Not Implemented``) and allows (else
``405 Method Not Allowed``, with an Allow header listing what it does allow),
every extension the request *requires* is one it supports (else ``420 Bad
Extension``, with Unsupported listing the others), and the request is whole:
a request that lacks a mandatory header (Via, From, To, Call-ID, CSeq,
Max-Forwards) gets ``400 Bad Request`` with a reason phrase that names what is
missing, so whoever reads the trace knows why.

The transaction layer drops a message that fails those last checks (it has
no transaction to answer in); :func:`bad_request_response` makes the 400 the
UA core then sends statelessly. A registrar or proxy core can use both
functions as they are.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import NamedTuple

from siplab.ids import IdSource
from siplab.sip.build import build_response, mark_received
from siplab.sip.message import Request, Response, parse_message
from siplab.sip.transport import Peer
from siplab.sip.ua_config import KNOWN_METHODS, SUPPORTED_EXTENSIONS

__all__ = ["Refusal", "refusal", "bad_request_response"]


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


def bad_request_response(data: bytes, peer: Peer, ids: IdSource) -> Response | None:
    """The 400 for bytes that parse as a request but miss a mandatory header (§8.2, §16.3).

    The reason phrase is the error (``missing Call-ID header``). None when the
    bytes are not a request at all, are an ACK (never answered), or have no
    readable Via to send a response back along.
    """
    try:
        message = parse_message(data)
    except ValueError:
        return None
    if not isinstance(message, Request) or message.method == "ACK":
        return None
    try:
        message.validate()
        return None
    except ValueError as error:
        reason = str(error)
    try:
        _ = message.top_via
        if not peer.reliable:
            mark_received(message, peer.host, peer.port)
    except ValueError:
        return None
    return build_response(message, 400, reason.replace("\r", " ").replace("\n", " "),
                          to_tag=ids.tag())
