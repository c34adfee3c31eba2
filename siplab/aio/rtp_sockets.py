"""The sockets of an RTP session: an even port for RTP, the next odd one for RTCP.

RFC 3550 §11: "RTP data SHOULD be carried on an even UDP port number and the
corresponding RTCP packets SHOULD be carried on the next higher (odd) port
number." SDP then only needs to say the RTP port (RFC 4566 §5.14), and the
peer finds RTCP one above it, unless ``a=rtcp`` (RFC 3605) names another
port, or ``a=rtcp-mux`` (RFC 5761) puts both on the RTP port, as WebRTC does.

:func:`bind_pair` asks the operating system for a free port and keeps it if it
is even and the next one is free too; an odd one becomes the RTCP half of the
pair below it. :class:`RtpProtocol` is the asyncio protocol on each socket:
it hands every datagram to the endpoint.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import Any

from siplab.errors import LocalProtocolError

__all__ = ["RtpProtocol", "bind_pair", "small_reads", "MAX_DATAGRAM"]

#: Read size for RTP and RTCP sockets: the largest UDP payload (65,507 octets) fits.
MAX_DATAGRAM = 65536

logger = logging.getLogger("siplab.aio.rtp")


class RtpProtocol(asyncio.DatagramProtocol):
    """Hands every datagram of one socket to the endpoint (``handler`` set once it exists)."""

    handler: Callable[[bytes, Any], None] | None = None

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if self.handler is not None:
            self.handler(data, addr)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable from a peer that has gone: not fatal for RTP.
        logger.debug("RTP socket error: %s", exc)


def small_reads(transport: asyncio.BaseTransport) -> None:
    """Have an asyncio datagram transport read into 64 KiB buffers, not 256 KiB ones.

    asyncio's selector transport calls ``recvfrom(256 KiB)`` for each datagram:
    Python allocates a 256 KiB bytes object, and the kernel writes the 172
    octets of an RTP packet into it before it is shrunk. glibc serves
    allocations above 128 KiB with a fresh ``mmap`` (until a large enough
    ``free`` raises that threshold), so every packet paid an mmap, a page
    fault and a munmap. Measured here, in a process that had not freed a large
    block yet, 400 sockets carrying 200 calls' packets (and nothing else) cost
    23 us of CPU per packet that way and 9 us with 64 KiB reads. No UDP
    datagram is larger, so nothing is lost. (Event loops without the
    attribute, uvloop's, size their reads themselves.)
    """
    if hasattr(transport, "max_size"):
        transport.max_size = MAX_DATAGRAM


def bind_pair(host: str, port: int, rtcp_mux: bool) -> tuple[socket.socket, socket.socket | None]:
    """Bind RTP on an even port and RTCP on the next one (RFC 3550 §11); RTCP None if muxed."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET

    def bind(number: int) -> socket.socket | None:
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.bind((host, number))
        except OSError:
            sock.close()
            return None
        sock.setblocking(False)
        return sock

    if port:
        rtp = bind(port)
        rtcp = None if rtcp_mux or rtp is None else bind(port + 1)
        if rtp is None or (rtcp is None and not rtcp_mux):
            for sock in (rtp, rtcp):
                if sock is not None:
                    sock.close()
            raise LocalProtocolError(f"cannot bind RTP port {port} on {host}")
        return rtp, rtcp
    for _ in range(100):
        first = bind(0)
        if first is None:
            break
        number = first.getsockname()[1]
        if number % 2 == 0:
            if rtcp_mux:
                return first, None
            second = bind(number + 1) if number < 65535 else None
            if second is not None:
                return first, second
        elif not rtcp_mux and number > 1:
            below = bind(number - 1)  # the odd port we hold becomes RTCP
            if below is not None:
                return below, first
        first.close()
    raise LocalProtocolError(f"no free even port pair on {host}")
