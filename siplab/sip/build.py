"""Making correct requests and responses from a few arguments.

RFC 3261 §8.1.1, §8.2.6, §9.1, §17.1.1.3 and RFC 3581.

A new request needs seven headers right before anyone will accept it: a Via
with a fresh branch that starts with ``z9hG4bK``, Max-Forwards (70), To, From
with a fresh tag, a Call-ID, a CSeq whose method matches the request line, and
(for calls) a Contact where the peer can reach us. :func:`build_request` fills
them in from an :class:`~siplab.ids.IdSource`.

A response copies Via (all of them, in order), From, To, Call-ID and CSeq from
the request, and the answering side adds its tag to To (§8.2.6.2);
:func:`build_response` does that. :func:`build_cancel` and :func:`build_ack_for_failure`
make the two requests whose headers are dictated by the request they follow.

Finally, two rules of RFC 3581 ("rport"): a server notes in the top Via where a
request *really* came from (:func:`mark_received`), and sends the responses back
there (:func:`response_destination`), which is what lets phones behind NAT work.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from siplab.ids import IdSource
from siplab.sip.grammar import split_unquoted
from siplab.sip.header_list import _check_header
from siplab.sip.headers import Address, Headers, Via, parse_address, parse_via
from siplab.sip.message import Request, Response
from siplab.sip.transport import uri_host
from siplab.sip.uri import Uri

__all__ = [
    "build_request",
    "build_response",
    "build_cancel",
    "build_ack_for_failure",
    "make_via",
    "mark_received",
    "response_destination",
]


def make_via(transport: str, host: str, port: int | None, branch: str, rport: bool = True) -> str:
    """A Via value for a request we send: ``SIP/2.0/UDP host:port;branch=...;rport``."""
    # An IPv6 address as sockets write it gets brackets in SIP (§19.1.1).
    via = Via(transport.upper(), uri_host(host), port, (("branch", branch),))
    if rport:
        via = via.with_param("rport")
    return str(via)


def _address(value: Address | str) -> Address:
    return value if isinstance(value, Address) else parse_address(value)


def build_request(
    method: str,
    uri: Uri | str,
    *,
    from_: Address | str,
    to: Address | str,
    via_host: str,
    ids: IdSource,
    via_port: int | None = None,
    transport: str = "UDP",
    call_id: str | None = None,
    cseq: int = 1,
    contact: Address | str | None = None,
    route: Sequence[Address | str] = (),
    max_forwards: int = 70,
    branch: str | None = None,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    content_type: str | None = None,
    user_agent: str | None = None,
) -> Request:
    """A new out-of-dialog request with every mandatory header (§8.1.1).

    ``from_`` gets a fresh tag unless it has one. ``to`` is used as given (a
    request outside a dialog has no To tag). The branch, tag and Call-ID come
    from ``ids``, so a seeded IdSource makes the request reproducible.
    """
    sender = _address(from_)
    if sender.tag is None:
        sender = sender.with_param("tag", ids.tag())
    lines: list[tuple[str, str]] = [
        ("Via", make_via(transport, via_host, via_port, branch or ids.branch())),
        ("Max-Forwards", str(max_forwards)),
    ]
    lines.extend(("Route", str(_address(r))) for r in route)
    lines += [
        ("To", str(_address(to))),
        ("From", str(sender)),
        ("Call-ID", call_id or ids.call_id(via_host)),
        ("CSeq", f"{cseq} {method}"),
    ]
    if contact is not None:
        lines.append(("Contact", str(_address(contact))))
    if user_agent:
        lines.append(("User-Agent", user_agent))
    lines.extend(headers)
    if body and content_type:
        lines.append(("Content-Type", content_type))
    lines.append(("Content-Length", str(len(body))))
    return Request(method, uri, lines, body)


# Methods whose 1xx/2xx responses copy Record-Route (they can make a dialog, §12.1.1).
_DIALOG_METHODS = ("INVITE", "SUBSCRIBE", "REFER")


def build_response(
    request: Request,
    status: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    content_type: str | None = None,
) -> Response:
    """A response to ``request``: Via, From, To, Call-ID and CSeq copied (§8.2.6).

    ``to_tag`` is added to To unless To already has a tag; RFC 3261 asks for
    one on every response except 100 Trying. For a 1xx/2xx to a request that
    can make a dialog, Record-Route is copied too (§12.1.1).
    """
    # The lines copied from the request were checked when they went into its
    # Headers (by the parser, or by Headers when built by code): no CR, LF or
    # NUL, no blanks around them. So only what the caller adds is checked here
    # (the To with its new tag, the extra lines, Content-Type), and the
    # response's Headers is made from the finished list without checking it
    # all again. The names are written here, so they are tokens.
    source = request.headers
    vias = source._values("via")  # every Via line, in order (§8.2.6.2)
    if not vias:
        lines: list[tuple[str, str]] = []
    elif len(vias) == 1:  # the usual case, without a comprehension's call
        lines = [("Via", vias[0])]
    else:
        lines = [("Via", v) for v in vias]
    to_value = source._first_value("to") or ""
    if to_tag is not None and status != 100:
        to_address = request.to if to_value else parse_address(to_value)
        if to_address.tag is None:
            # The request's To as written, with the tag after its parameters: the
            # address str(to_address.with_param("tag", to_tag)) would write, without
            # writing it out again (§8.2.6.2: the request's To, plus a tag).
            to_value = _check_header("To", f"{to_value};tag={to_tag}")
    lines.append(("From", source._first_value("from") or ""))
    lines.append(("To", to_value))
    call_id = source._first_value("call-id")
    if call_id is not None:
        lines.append(("Call-ID", call_id))
    cseq = source._first_value("cseq")
    if cseq is not None:
        lines.append(("CSeq", cseq))
    if 100 < status < 300 and request.method in _DIALOG_METHODS:
        lines.extend(("Record-Route", v) for v in source._values("record-route") or ())
    if status == 100:
        timestamp = source._first_value("timestamp")
        if timestamp is not None:
            lines.append(("Timestamp", timestamp))
    for name, value in headers:
        lines.append((name, _check_header(name, value)))
    if body and content_type:
        lines.append(("Content-Type", _check_header("Content-Type", content_type)))
    lines.append(("Content-Length", str(len(body))))
    response = Response(status, reason, Headers._trusted(lines), body)
    response.share_parsed(request)
    return response


def build_cancel(request: Request) -> Request:
    """The CANCEL for a pending request (§9.1).

    Same Request-URI, Call-ID, From, To and CSeq number; a single Via equal to
    the request's top Via (so it matches the same server transaction); the
    request's Route headers.
    """
    lines: list[tuple[str, str]] = [
        ("Via", str(request.top_via)),
        ("Max-Forwards", "70"),
    ]
    lines.extend(("Route", v) for v in request.headers.get_all("Route"))
    lines += [
        ("To", request.headers.get("To") or ""),
        ("From", request.headers.get("From") or ""),
        ("Call-ID", request.call_id),
        ("CSeq", f"{request.cseq.number} CANCEL"),
        ("Content-Length", "0"),
    ]
    return Request("CANCEL", request.uri_text, lines)


def build_ack_for_failure(invite: Request, response: Response) -> Request:
    """The ACK an INVITE client transaction sends for a 300-699 (§17.1.1.3).

    It belongs to the INVITE's transaction: same branch (top Via only), same
    Request-URI, Call-ID, From and CSeq number; To comes from the response (it
    carries the tag of whoever rejected the call); Route as in the INVITE.
    """
    lines: list[tuple[str, str]] = [
        ("Via", str(invite.top_via)),
        ("Max-Forwards", "70"),
    ]
    lines.extend(("Route", v) for v in invite.headers.get_all("Route"))
    lines += [
        ("To", response.headers.get("To") or ""),
        ("From", invite.headers.get("From") or ""),
        ("Call-ID", invite.call_id),
        ("CSeq", f"{invite.cseq.number} ACK"),
        ("Content-Length", "0"),
    ]
    return Request("ACK", invite.uri_text, lines)


def mark_received(request: Request, host: str, port: int) -> None:
    """Note in the top Via where the request really came from (§18.2.1, RFC 3581 §4).

    ``received`` is added when the Via's host differs from the source address
    (or when the client asked for ``rport``, which then gets the source port).
    """
    line = request.headers.get("Via")
    if line is None:
        return
    # The top Via may share its line with others ("Via: a, b"); a comma inside a
    # quoted parameter value does not separate two of them.
    parts = split_unquoted(line, ",") if "," in line else [line]
    via = request.top_via if len(parts) == 1 else parse_via(parts[0])
    wants_rport = via.wants_rport
    bare = host[1:-1] if host[:1] == "[" else host
    via_host = via.host[1:-1] if via.host[:1] == "[" else via.host
    if not wants_rport and _same_host(via_host, bare):
        return  # the usual case without rport: the request came from its sent-by
    via = via.with_param("received", bare)
    if wants_rport:
        via = via.with_param("rport", str(port))
    new_first = ",".join([str(via), *parts[1:]])
    request.headers.replace_first("Via", new_first)


def _same_host(a: str, b: str) -> bool:
    # Two spellings of one IP address (2001:db8::1, 2001:DB8:0::1) are the same
    # host; a domain name never equals the packet's source address (§18.2.1).
    if a == b:  # the usual case, without parsing addresses
        return True
    try:
        return ipaddress.ip_address(a) == ipaddress.ip_address(b)
    except ValueError:
        return a.lower() == b.lower()


def response_destination(via: Via, default_port: int = 5060) -> tuple[str, int]:
    """Where a response to a request with this top Via goes (§18.2.2, RFC 3581 §4).

    The ``received`` address if present, else the sent-by host; the ``rport``
    port if filled in, else the sent-by port, else 5060.
    """
    host = via.received or via.host
    if host.startswith("["):
        host = host[1:-1]
    port = via.rport or via.port or default_port
    return host, port
