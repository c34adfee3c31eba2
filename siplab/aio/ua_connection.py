"""How a :class:`~siplab.aio.useragent.UserAgent` reaches its server, and reaches it again.

A user agent sends every request first to one server, its *outbound proxy*
(RFC 3261 §8.1.2; JsSIP's ``sockets``, SIP.js's ``transportOptions.server``).
:class:`ServerConnection`, mixed into the user agent, opens the way there:

* over UDP it binds its own socket (RFC 3261 §18.1.1) and sends datagrams to
  the server;
* over TCP, TLS and WebSocket (RFC 7118) it connects once and receives
  everything over that one connection, as a browser does (§18.1.1: a
  response comes back over the connection its request went out on);
* TLS (RFC 3261 §26.2.1, RFC 5630) checks the server's certificate against the
  name in the URL, so that name is not resolved first.

When that connection drops, whatever was still waiting for an answer over it
gets a transport error at once (§18.4, RFC 3261 §8.1.3.1), and the user
agent connects again after 0.5, 1, 2... seconds (:func:`reconnect_delay`,
at most :data:`MAX_RECONNECT_DELAY` apart), then registers again at once,
keeping its Contact: RFC 5626 §4.4's "flow recovery" in spirit.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from typing import TYPE_CHECKING, Any

from siplab.aio.server_url import ServerUrl, source_host
from siplab.aio.transport import TraceRecord, TransportManager

if TYPE_CHECKING:
    import contextlib
    from collections.abc import Iterator

    from siplab.aio.driver import EndpointDriver
    from siplab.aio.lossy import Impairment
    from siplab.sip.transport import Peer
    from siplab.sip.uri import SipUri
    from siplab.sip.useragent import UserAgentCore

__all__ = ["ServerConnection", "MAX_RECONNECT_DELAY", "reconnect_delay"]

logger = logging.getLogger("siplab.ua")

#: The longest wait, in seconds, between two tries to connect to the server again.
MAX_RECONNECT_DELAY = 30.0


def reconnect_delay(attempt: int) -> float:
    """Seconds before reconnection attempt ``attempt`` (0, 1, 2...): 0.5, 1, 2, 4... up to
    :data:`MAX_RECONNECT_DELAY`."""
    return min(MAX_RECONNECT_DELAY, 0.5 * 2.0 ** min(attempt, 16))


class ServerConnection:
    """The way to the server (mixed into :class:`~siplab.aio.useragent.UserAgent`)."""

    # Provided by UserAgent:
    uri: SipUri
    debug: bool
    tls_ca: str | os.PathLike[str] | None
    tls_verify: bool
    impairment: Impairment | None
    reconnect: bool
    reconnections: int
    server: ServerUrl | None
    local: Peer | None
    _driver: EndpointDriver | None
    _reconnecting: asyncio.Task[None] | None
    _tasks: set[asyncio.Task[Any]]

    if TYPE_CHECKING:  # the user agent's own methods, which these use

        @property
        def core(self) -> UserAgentCore: ...

        def _trace(self, record: TraceRecord) -> None: ...

        def _sync_states(self) -> None: ...

        @contextlib.contextmanager
        def _acting(self) -> Iterator[float]: ...

    def _transport_manager(self, server: ServerUrl) -> TransportManager:
        options: dict[str, Any] = {"full_text": self.debug, "connect_timeout": 5.0,
                                   "trace": self._trace}
        if server.transport in ("tls", "wss"):
            from siplab.aio.tls import client_context

            options["client_ssl"] = client_context(ca_file=self.tls_ca, verify=self.tls_verify)
        if self.impairment is None:
            return TransportManager(**options)
        from siplab.aio.lossy import ImpairedTransportManager

        return ImpairedTransportManager(self.impairment, **options)

    async def _open(self, transports: TransportManager,
                    server: ServerUrl) -> tuple[ServerUrl, Peer]:
        """Resolve the server's name, then bind (UDP) or connect (TCP, WS)."""
        loop = asyncio.get_running_loop()
        kind = socket.SOCK_DGRAM if server.transport == "udp" else socket.SOCK_STREAM
        if server.transport in ("tls", "wss"):
            # TLS checks the certificate against the name we asked for: keep the name.
            return server, await transports.connect(server.peer, server.path)
        found = await loop.getaddrinfo(server.host, server.port, type=kind)
        # "localhost" may list ::1 first; the lab listens on 127.0.0.1: prefer IPv4.
        address = min(found, key=lambda info: info[0] != socket.AF_INET)[4]
        server = ServerUrl(server.transport, str(address[0]), server.port, server.path)
        if server.transport == "udp":
            return server, await transports.listen_udp(source_host(server.host), 0)
        return server, await transports.connect(server.peer, server.path)

    def _disconnected(self, remote: Peer, reason: Exception | None) -> None:
        """The transports lost a connection: if it was the one to the server, connect again."""
        server = self.server
        if (server is None or self._driver is None or remote.transport != server.transport
                or (remote.host, remote.port) != (server.host, server.port)):
            return
        logger.warning("%s: the connection to %s was lost (%s)", self.uri, server, reason)
        # What was waiting for an answer over it will get none (§18.4): fail it now.
        self._driver.transport_error(server.peer, reason or ConnectionResetError("closed"))
        self._sync_states()
        if self.reconnect and (self._reconnecting is None or self._reconnecting.done()):
            self._reconnecting = asyncio.ensure_future(self._reconnect(server))
            self._tasks.add(self._reconnecting)
            self._reconnecting.add_done_callback(self._tasks.discard)

    async def _reconnect(self, server: ServerUrl) -> None:
        attempt = 0
        while self._driver is not None:
            delay = reconnect_delay(attempt)
            attempt += 1
            await asyncio.sleep(delay)
            driver = self._driver
            if driver is None:
                return
            try:
                local = await driver.transports.connect(server.peer, server.path)
            except Exception as error:  # refused, timed out, a handshake or TLS refusal
                logger.info("%s: reconnecting to %s failed (%s); next try in %.1f s",
                            self.uri, server, error, reconnect_delay(attempt))
                continue
            self.local = local
            self.reconnections += 1
            logger.info("%s: connected to %s again from %s", self.uri, server, local)
            with self._acting() as now:
                self.core.set_local(local, keep_contact=True)
                self.core.registration_lost(now)
            return
