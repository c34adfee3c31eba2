"""A LabServer and UserAgents on 127.0.0.1 for the asyncio tests, cleaned up whatever happens.

``async with lab_and_phones("udp", "alice", "bob") as (server, [alice, bob])``
starts a :class:`~siplab.aio.server.LabServer` with UDP, TCP and WS listeners
on free ports and one started (and by default registered) user agent per name,
each on the transport asked for; on the way out it stops the phones, then the
server.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, TypeVar

from siplab.aio.server import LabServer
from siplab.aio.useragent import UserAgent
from siplab.ids import IdSource

__all__ = ["USERS", "TRANSPORTS", "run", "url_for", "lab_server", "phone", "lab_and_phones"]

T = TypeVar("T")
LOOPBACK = "127.0.0.1"
USERS = {"alice": "alice-pw-1", "bob": "bob-pw-2", "carol": "carol-pw-3"}
TRANSPORTS = ("udp", "tcp", "ws")


def run(coroutine: Coroutine[Any, Any, T], timeout: float = 5.0) -> T:
    """Run one test scenario on a fresh event loop, bounded by ``timeout`` seconds."""

    async def bounded() -> T:
        async with asyncio.timeout(timeout):
            return await coroutine

    return asyncio.run(bounded())


def url_for(server: LabServer, transport: str) -> str:
    """The transport URL of ``server``'s listener for ``transport``."""
    if transport == "ws":
        return server.ws_urls[0]
    peer = server.address(transport)
    assert peer is not None
    return f"{transport}://{peer.host}:{peer.port}"


def lab_server(**options: Any) -> LabServer:
    options.setdefault("users", USERS)
    return LabServer(udp=[(LOOPBACK, 0)], tcp=[(LOOPBACK, 0)], ws=[(LOOPBACK, 0)],
                     ids=IdSource("lab-server"), **options)


def phone(server: LabServer, name: str, transport: str, **options: Any) -> UserAgent:
    options.setdefault("ids", IdSource(f"phone-{name}"))
    return UserAgent(f"sip:{name}@{LOOPBACK}", USERS.get(name, "no-password"),
                     transport=url_for(server, transport), **options)


@asynccontextmanager
async def lab_and_phones(transports: str | Sequence[str], *names: str, register: bool = True,
                         **options: Any) -> AsyncIterator[tuple[LabServer, list[UserAgent]]]:
    """A server and one user agent per name (``transports``: one for all, or one each)."""
    each = [transports] * len(names) if isinstance(transports, str) else list(transports)
    async with AsyncExitStack() as stack:
        server = await stack.enter_async_context(lab_server())
        phones = [await stack.enter_async_context(phone(server, name, transport, **options))
                  for name, transport in zip(names, each, strict=True)]
        if register:
            for ua in phones:
                await ua.register(timeout=2.0)
        yield server, phones
