"""Turning a host name into an address without stopping the event loop (RFC 3263 §4, simplified).

A SIP URI may name its host (``sip:bob@lab.example.org``) instead of giving
an address. Sending a UDP datagram needs the address, and the obvious way,
``sock.sendto(data, ("lab.example.org", 5060))``, asks the system resolver
*synchronously*: while DNS takes its time (seconds, when a name server is
unreachable) the whole event loop waits, every call and timer with it.

:class:`Resolver` asks ``loop.getaddrinfo`` instead, which runs the lookup
in a worker thread, and gives up after ``timeout`` seconds. Answers are kept
for ``ttl`` seconds (a small cache, bounded), and several messages to one name
share one lookup. RFC 3263 would first ask NAPTR and SRV records to choose
the transport and port; in the lab every URI names both, so only the address
is looked up.

Addresses need no lookup: :func:`is_ip_literal` tells them apart.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections import OrderedDict

__all__ = ["Resolver", "is_ip_literal", "ResolvedAddress"]

#: (family, sockaddr) as getaddrinfo gives it: ``(AF_INET, ("192.0.2.1", 5060))``.
ResolvedAddress = tuple[int, tuple[str, int]]


def is_ip_literal(host: str) -> bool:
    """True for ``192.0.2.1`` and ``::1`` (or ``[::1]``): nothing to look up."""
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


class Resolver:
    """Asynchronous, bounded, cached name lookups for UDP destinations (see module doc)."""

    def __init__(self, *, timeout: float = 5.0, ttl: float = 60.0, max_entries: int = 256) -> None:
        self.timeout = timeout
        self.ttl = ttl
        self.max_entries = max_entries
        self._cache: OrderedDict[tuple[str, int], tuple[float, ResolvedAddress]] = OrderedDict()
        self._pending: dict[tuple[str, int], asyncio.Future[ResolvedAddress]] = {}

    def cached(self, host: str, port: int) -> ResolvedAddress | None:
        """A fresh answer for ``host:port`` from the cache, or None."""
        key = (host.lower(), port)
        entry = self._cache.get(key)
        if entry is None:
            return None
        if entry[0] < asyncio.get_running_loop().time():
            del self._cache[key]
            return None
        return entry[1]

    async def resolve(self, host: str, port: int) -> ResolvedAddress:
        """The address of ``host:port`` for UDP, IPv4 first. Raises ``OSError``
        (``socket.gaierror``, or ``TimeoutError`` after ``timeout`` seconds)."""
        found = self.cached(host, port)
        if found is not None:
            return found
        key = (host.lower(), port)
        pending = self._pending.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._lookup(host, port))
            self._pending[key] = pending
            pending.add_done_callback(lambda _: self._pending.pop(key, None))
        return await asyncio.shield(pending)

    async def _lookup(self, host: str, port: int) -> ResolvedAddress:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(self.timeout):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
        if not infos:
            raise socket.gaierror(socket.EAI_NONAME, f"{host}: no address")
        family, _, _, _, sockaddr = min(infos, key=lambda info: info[0] != socket.AF_INET)
        answer: ResolvedAddress = (int(family), (str(sockaddr[0]), int(sockaddr[1])))
        self._cache[(host.lower(), port)] = (loop.time() + self.ttl, answer)
        while len(self._cache) > self.max_entries:
            self._cache.popitem(last=False)  # the oldest answer goes first
        return answer
