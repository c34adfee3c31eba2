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
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["Peer", "TRANSPORTS", "is_reliable", "via_transport", "default_port"]

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
        bracketed = ":" in self.host and not self.host.startswith("[")
        host = f"[{self.host}]" if bracketed else self.host
        return f"{self.transport}:{host}:{self.port}"


def is_reliable(transport: str) -> bool:
    """True for TCP, TLS, WS and WSS; False for UDP (§17.1.1.2)."""
    return transport.lower() != "udp"


def via_transport(transport: str) -> str:
    """The token used in a Via header: ``udp`` -> ``UDP``, ``ws`` -> ``WS`` (RFC 7118 §5.2)."""
    return transport.upper()


def default_port(transport: str) -> int:
    """5060 for UDP/TCP/WS, 5061 for TLS/WSS (§19.1.2; WS has no SIP default, 5060 is used)."""
    return 5061 if transport.lower() in ("tls", "wss") else 5060
