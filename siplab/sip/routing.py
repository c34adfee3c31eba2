"""Where a request goes: which addresses are the server's, and how to reach a URI.

A proxy must answer three questions about addresses before it can forward
anything (RFC 3261 §16.4-§16.6):

* **Is this URI me?** A Route header or a Request-URI may name the proxy
  itself. The answer compares host AND port against every listener: on a lab
  machine every phone lives on 127.0.0.1, so matching the host alone would make
  every phone "the proxy" and break the routing of ACK and BYE (FACTS.md).
  :class:`LocalAddresses` knows the listeners and the domain names served.
* **Where do I send a request for this URI?** Without DNS (RFC 3263 is out of
  scope for a lab on loopback): the URI's host, its port or the transport's
  default (5060, 5061 for TLS), and its ``transport`` parameter (UDP when
  absent): :func:`~siplab.sip.transport.peer_for_uri`, which the user agent
  uses too. A WebSocket client's contact has a ``.invalid`` host (RFC 7118
  §5.2) and cannot be reached by its address at all: only over its own
  connection, which the location service or a ``flow=`` token remembers
  (``peer_for_uri`` returns None for it).
* **Have I seen this request before?** A request that comes back with one of
  our Vias holding the same :func:`loop_hash` is in a loop (482).

The ``flow=`` parameter is siplab's simple take on RFC 5626 flow tokens: the
Record-Route on the side of a connection-oriented caller names the caller's
connection, so that requests towards a browser that never registered still
find its WebSocket.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from siplab.sip.message import Request
from siplab.sip.transport import TRANSPORTS, Peer, default_port, peer_for_uri, uri_host
from siplab.sip.uri import SipUri, Uri

__all__ = [
    "LocalAddresses",
    "record_route_value",
    "flow_token",
    "parse_flow_token",
    "loop_hash",
]


# URIs whose verdicts a LocalAddresses remembers before it starts afresh.
_MEMO_SIZE = 1024


def _bare_host(host: str) -> str:
    return host.lower().strip("[]")


class LocalAddresses:
    """The server's own addresses: its listeners and the domain names it serves.

    ``listen`` are the transport addresses the server receives on (one per
    transport); ``domains`` are extra names it answers to. A URI names *us*
    only if its host is one of our names AND its port one of our ports.
    """

    def __init__(self, listen: Sequence[Peer], domains: Sequence[str] = ()) -> None:
        if not listen:
            raise ValueError("a server needs at least one listening address")
        self.listen = tuple(listen)
        names = [_bare_host(d) for d in domains] + [_bare_host(p.host) for p in listen]
        #: Our domain names, the first being the canonical one.
        self.domains = tuple(dict.fromkeys(names))
        ports = {p.port for p in self.listen}
        self._host_ports = frozenset((name, port) for name in self.domains for port in ports)
        # URI -> (is_us, is_our_domain). Both answers depend only on the URI and
        # on the addresses above, fixed when the server starts, and a server
        # asks them of the same few URIs (its own, its users') several times
        # per request: worked out once, emptied when full to stay bounded.
        self._verdicts: dict[Uri, tuple[bool, bool]] = {}

    def is_us(self, uri: Uri) -> bool:
        """True if ``uri`` names this server: one of our hosts AND one of our ports."""
        verdict = self._verdicts.get(uri)
        if verdict is None:
            verdict = self._judge(uri)
        return verdict[0]

    def sent_by_us(self, host: str, port: int | None, transport: str) -> bool:
        """True if a Via sent-by names this server."""
        return (_bare_host(host), port or default_port(transport)) in self._host_ports

    def is_our_domain(self, uri: Uri) -> bool:
        """True if ``uri`` is for us or our users: it names us, or our domain without a port."""
        verdict = self._verdicts.get(uri)
        if verdict is None:
            verdict = self._judge(uri)
        return verdict[1]

    def _judge(self, uri: Uri) -> tuple[bool, bool]:
        """Work out (and remember) is_us and is_our_domain for ``uri``."""
        hop = peer_for_uri(uri)
        us = hop is not None and (_bare_host(hop.host), hop.port) in self._host_ports
        ours = isinstance(uri, SipUri) and (
            us or (uri.port is None and _bare_host(uri.host) in self.domains))
        if len(self._verdicts) >= _MEMO_SIZE:
            self._verdicts.clear()
        self._verdicts[uri] = verdict = (us, ours)
        return verdict

    def listener_for(self, transport: str) -> Peer | None:
        """Our address for ``transport`` (what goes into Via and Record-Route), or None."""
        return next((p for p in self.listen if p.transport == transport.lower()), None)


def flow_token(peer: Peer) -> str:
    """A connection written as a URI parameter value: ``ws:10.0.0.9:40000``."""
    return f"{peer.transport}:{uri_host(peer.host)}:{peer.port}"


def parse_flow_token(text: str | None) -> Peer | None:
    """The connection in a ``flow=`` parameter, or None if absent or garbled."""
    if not text:
        return None
    transport, _, rest = text.partition(":")
    host, _, port = rest.rpartition(":")
    # ASCII digits, at most 5: int() refuses "²" (which isdigit() accepts) and
    # over 4300 digits, and a socket refuses a port over 65535.
    if (transport not in TRANSPORTS or not host or not (port.isascii() and port.isdigit())
            or len(port) > 5 or int(port) > 65535):
        return None
    return Peer(host.strip("[]"), int(port), transport)


def record_route_value(listener: Peer, flow: Peer | None = None) -> str:
    """Our Record-Route for one listener: ``<sip:10.0.0.100:8080;transport=ws;lr>``.

    ``lr`` says we are a loose router (§16.12, §19.1.1). ``flow`` (a caller's
    connection) is added as ``flow=ws:10.0.0.9:40000``.
    """
    uri = SipUri(uri_host(listener.host), port=listener.port)
    if listener.transport != "udp":
        uri = uri.with_param("transport", listener.transport)
    uri = uri.with_param("lr")
    if flow is not None:
        uri = uri.with_param("flow", flow_token(flow))
    return f"<{uri}>"


def loop_hash(request: Request) -> str:
    """The loop-detection part of our branch parameter (§16.6 step 8, §16.3 step 4).

    A hash of what identifies the request as it arrived: method, Request-URI,
    tags, Call-ID, CSeq number, the originator's Via, Proxy-Require and
    Proxy-Authorization. If a request comes back carrying one of our Vias
    whose branch holds the same hash, it is a loop (482); with a different
    hash (the Request-URI changed in between) it is a *spiral*, which is fine.
    Our own topmost Via is left out on purpose: on a loop it differs every time.
    """
    vias = request.via
    parts = [
        request.method,
        request.uri_text,
        request.to_tag or "",
        request.from_tag or "",
        request.call_id,
        str(request.cseq.number),
        vias[-1].branch or str(vias[-1]),
        *request.headers.get_all("Proxy-Require"),
        *request.headers.get_all("Proxy-Authorization"),
    ]
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()[:16]
