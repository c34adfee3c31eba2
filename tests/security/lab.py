"""Shared pieces of the security tests: users with recognisable passwords, a raw UDP client.

The passwords are long and unusual on purpose, so that a test can search
every log line and every traced byte for them and find them only if they
leaked.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Coroutine
from typing import Any, TypeVar

from siplab.sip.message import Response, parse_message
from siplab.sip.transport import Peer

__all__ = ["USERS", "LOOPBACK", "run", "UdpClient"]

T = TypeVar("T")
LOOPBACK = "127.0.0.1"
USERS = {"alice": "Alice-s3cret-Zq81", "bob": "Bob-s3cret-Wx42"}


def run(coroutine: Coroutine[Any, Any, T], timeout: float = 20.0) -> T:
    """Run one scenario on a fresh event loop, bounded by ``timeout`` seconds."""

    async def bounded() -> T:
        async with asyncio.timeout(timeout):
            return await coroutine

    return asyncio.run(bounded())


class UdpClient:
    """A plain UDP socket on 127.0.0.1 (or another loopback address): raw bytes out,
    whole responses in. What an attacker with a captured message would use."""

    def __init__(self, host: str = LOOPBACK) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.sock.setblocking(False)
        self.port = int(self.sock.getsockname()[1])

    async def send(self, data: bytes, to: Peer) -> None:
        await asyncio.get_running_loop().sock_sendto(self.sock, data, (to.host, to.port))

    async def receive(self, timeout: float = 2.0) -> Response:
        async with asyncio.timeout(timeout):
            data = await asyncio.get_running_loop().sock_recv(self.sock, 65536)
        message = parse_message(data)
        assert isinstance(message, Response), message
        return message

    def close(self) -> None:
        self.sock.close()
