"""Naming the server a user agent talks to: transport URLs (RFC 7118 §6, RFC 3261 §18).

JsSIP and SIP.js name their server with a WebSocket URL
(``wss://sip.example.com:8443/ws``); siplab's :class:`~siplab.aio.useragent.UserAgent`
takes the same form for every transport it has::

    udp://127.0.0.1:5060      a UDP socket of our own, datagrams to the server
    tcp://127.0.0.1:5060      one TCP connection to the server, used both ways
    tls://127.0.0.1:5061      the same, inside TLS (RFC 3261 §26.2)
    ws://127.0.0.1:8080/ws    one WebSocket, subprotocol "sip", used both ways
    wss://127.0.0.1:8443/ws   the same, inside TLS (RFC 7118)

A port left out is 5060 for UDP and TCP, 5061 for TLS (§19.1.2), 80 for
ws:// and 443 for wss:// (they are HTTP URLs). TLS checks the server's
certificate: see :mod:`siplab.aio.tls` for the lab's self-signed one.

Over UDP the user agent binds its own socket, on the local address that
reaches the server (:func:`source_host`: 127.0.0.1 for a server on loopback).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from siplab.aio.server import is_loopback
from siplab.errors import LocalProtocolError
from siplab.sip.transport import Peer

__all__ = ["ServerUrl", "parse_transport_url", "source_host", "DEFAULT_PORTS"]

#: The port of a URL that names none.
DEFAULT_PORTS = {"udp": 5060, "tcp": 5060, "tls": 5061, "ws": 80, "wss": 443}


@dataclass(frozen=True, slots=True)
class ServerUrl:
    """Where the server is: ``udp://127.0.0.1:5060``, ``ws://127.0.0.1:8080/ws``..."""

    transport: str  # "udp", "tcp", "tls", "ws" or "wss"
    host: str
    port: int
    path: str = "/"

    @property
    def peer(self) -> Peer:
        return Peer(self.host, self.port, self.transport)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        path = self.path if self.transport in ("ws", "wss") else ""
        return f"{self.transport}://{host}:{self.port}{path}"


def parse_transport_url(text: str) -> ServerUrl:
    """Read a transport URL (``udp://``, ``tcp://``, ``tls://``, ``ws://``, ``wss://``)."""
    parts = urlsplit(text.strip())
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        raise LocalProtocolError(f"transport {text!r}: expected udp://host:port, "
                                 "tcp://host:port, tls://host:port or ws(s)://host:port/path")
    try:
        port = parts.port or DEFAULT_PORTS[scheme]
    except ValueError:
        raise LocalProtocolError(f"transport {text!r}: bad port") from None
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return ServerUrl(scheme, parts.hostname, port, path)


def source_host(server_host: str) -> str:
    """The local address that reaches ``server_host``: loopback for loopback, else the
    interface the routing table picks (a UDP connect() sends nothing)."""
    if is_loopback(server_host):
        return "::1" if ":" in server_host else "127.0.0.1"
    family = socket.AF_INET6 if ":" in server_host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        probe.connect((server_host, 9))
        return str(probe.getsockname()[0])
