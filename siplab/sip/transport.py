"""What the SIP core knows about transports, without touching a socket (RFC 3261 §18, RFC 7118).

SIP runs over UDP, TCP, TLS and WebSocket. The protocol cares about two facts:

* whether the transport is *reliable*: over UDP a request may be lost, so the
  transaction layer retransmits it on a timer (§17.1.1.2); over TCP, TLS and
  WebSocket it never retransmits, and the timers that absorb stray copies are 0;
* how the transport is named in a Via header (``SIP/2.0/UDP``, ``SIP/2.0/WS``)
  and in a URI's ``transport`` parameter.

A :class:`Peer` is "where a message came from or goes to": a host, a port and
a transport. The sans-I/O core sends and receives ``(bytes, Peer)`` pairs; the
asyncio layer (``siplab.aio.transport``) turns them into socket calls. For a
connection-oriented transport the host and port are the remote end of the
connection, which also identifies it.

:func:`peer_for_uri` answers "which Peer does this SIP URI name?", the
question both a user agent (§8.1.2) and a proxy (§16.6) ask before sending.
RFC 3263 answers it with DNS (NAPTR, SRV, A records); in the lab every URI
holds an IP address, so only its defaults are left: the ``transport``
parameter (TLS for ``sips:``), the port or the transport's default. A
browser's contact (``sip:x@y.invalid;transport=ws``, RFC 7118 §5.2) names no
reachable address at all: only the connection it registered over reaches it.
"""

from __future__ import annotations

from typing import NamedTuple

from siplab.sip.uri import SipUri, Uri

__all__ = [
    "Peer",
    "TRANSPORTS",
    "is_reliable",
    "via_transport",
    "default_port",
    "uri_host",
    "peer_for_uri",
]

#: Transports siplab knows, by their lower-case URI parameter names.
TRANSPORTS = ("udp", "tcp", "tls", "ws", "wss")


class Peer(NamedTuple):
    """A transport address: ``Peer("127.0.0.1", 5060, "udp")``."""

    host: str
    port: int
    transport: str = "udp"

    @property
    def reliable(self) -> bool:
        return is_reliable(self.transport)

    def __str__(self) -> str:
        return f"{self.transport}:{uri_host(self.host)}:{self.port}"


def is_reliable(transport: str) -> bool:
    """True for TCP, TLS, WS and WSS; False for UDP (§17.1.1.2)."""
    return transport.lower() != "udp"


def via_transport(transport: str) -> str:
    """The token used in a Via header: ``udp`` -> ``UDP``, ``ws`` -> ``WS`` (RFC 7118 §5.2)."""
    return transport.upper()


def default_port(transport: str) -> int:
    """5060 for UDP/TCP/WS, 5061 for TLS/WSS (§19.1.2; WS has no SIP default, 5060 is used)."""
    return 5061 if transport.lower() in ("tls", "wss") else 5060


def uri_host(host: str) -> str:
    """A host as a URI or a Via writes it: an IPv6 address goes in brackets (§19.1.1)."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def peer_for_uri(uri: Uri, default_transport: str = "udp") -> Peer | None:
    """The transport address a request for ``uri`` is sent to (RFC 3263 §4 without DNS).

    Transport: the URI's ``transport`` parameter, else TLS for ``sips:``, else
    ``default_transport``. Port: the URI's, else the transport's default
    (5060, 5061 for TLS and WSS). None when the URI cannot be reached by its
    address: not a SIP URI, a transport siplab does not know, or a
    ``.invalid`` host (a WebSocket client's contact, RFC 7118 §5.2).
    """
    if not isinstance(uri, SipUri):
        return None
    transport = uri.transport or ("tls" if uri.secure else default_transport.lower())
    host = uri.host_for_socket
    if transport not in TRANSPORTS or host.lower().endswith(".invalid"):
        return None
    return Peer(host, uri.port if uri.port is not None else default_port(transport), transport)

