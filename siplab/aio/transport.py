"""SIP over real sockets: UDP, TCP, TLS and WebSocket (RFC 3261 §18, §26.2, RFC 7118, RFC 3581).

The sans-I/O core speaks in ``(bytes, Peer)`` pairs. :class:`TransportManager`
is the part that owns the sockets: it hands every message that arrives to one
callback, ``on_message(data, peer)``, and sends whatever it is given with
``send(data, peer)``. It knows nothing about SIP beyond where one message ends
and the next begins.

**UDP** (§18.1.1, §18.2.1). One datagram carries exactly one message, so
nothing needs framing. A UDP "connection" does not exist: the server answers to
the address in the top Via, or, when the request carries ``rport``, to the
source address and port the datagram came from (RFC 3581 ``received``/``rport``,
which is how answers get back through a NAT). That choice is the core's
(``siplab.sip.build.response_destination``); here a datagram is sent to
whatever Peer the core names, from the listening socket, so that the source
port the peer sees is the one in our Via. A Peer that names a host instead of
an address is looked up first, without blocking the event loop
(:class:`~siplab.aio.resolver.Resolver`); a name that does not resolve goes to
``on_error``. A datagram cannot exceed 65,535
bytes, and 65,507 once the IPv4 and UDP headers are counted; larger messages
are refused with ``EMSGSIZE``. (§18.1.1 also says a request within 200 bytes of
the path MTU, or over 1300 bytes, should go over TCP instead: that is the
caller's decision.)

**TCP** (§18.3). The bytes form a stream with no boundaries, so each
connection has a :class:`~siplab.sip.framing.StreamFramer` that cuts messages
out using Content-Length. A stream that cannot be framed is out of step for
good: the connection is closed. Connections are reused in both directions: a
response goes back over the connection its request arrived on (§18.2.2), and a
new request to an address we already have a connection with reuses it
(§18.1.1; RFC 5923 goes further). A connection is known by its *remote*
address: a message received on it comes from ``Peer(host, port, "tcp")``, and
sending to that Peer writes on the same connection. A double CRLF on the
stream is an RFC 5626 keep-alive "ping" and is answered with a single CRLF
"pong".

**WebSocket** (RFC 7118). A browser cannot open raw TCP or UDP sockets, so
JsSIP and SIP.js carry SIP over WebSocket. The handshake must negotiate the
subprotocol ``sip`` (§4; a client that does not offer it is refused), and each
WebSocket message carries exactly one SIP message (§5.1), usually as a text
frame, so no Content-Length framing is needed. A browser cannot accept
incoming connections, so a server reaches a browser only back over the
connection the browser opened; that is why the connection is kept, keyed by
its remote address, for as long as it lives. Compression is switched off so
that a packet capture shows the SIP text.

**TLS and secure WebSocket** (§26.2, RFC 7118 ``wss://``) are the same two
with TLS underneath: :meth:`TransportManager.listen_tls` and ``listen_ws(...,
ssl=...)`` take a server SSL context (:mod:`siplab.aio.tls` makes a lab
certificate), and connections we open use ``client_ssl``. The Peer's
transport says which: ``"tls"``, ``"wss"``. A WebSocket listener may refuse
handshakes from web pages it does not know (:class:`~siplab.aio.origins.OriginPolicy`).

A connection that ends, whichever side closed it, is reported to
``on_disconnect(remote, reason)``: a client then knows it must connect (and
register) again.

Every message sent or received passes through one hook, ``trace``, as a
:class:`TraceRecord`; that is what the lab's ladders and flows are drawn from.
Each is also logged at DEBUG on the ``siplab.transport`` logger (first line
and size; pass ``full_text=True`` for the whole message), like
``JsSIP.debug.enable("JsSIP:Transport")``.

Errors are reported, never raised, because ``send`` is called from the middle
of the core's work: a refused connection, a failed write or an oversize
datagram goes to ``on_error(peer, exc)``, always from a later turn of the event
loop, so the caller can tell the transaction layer (§17.1.4, §18.4).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import logging
import socket
import ssl
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Literal, cast

from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.connection import Connection as WsConnection
from websockets.asyncio.server import Server as WsServer
from websockets.asyncio.server import ServerConnection
from websockets.asyncio.server import serve as ws_serve
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK, WebSocketException
from websockets.http11 import Request as WsRequest
from websockets.http11 import Response as WsResponse
from websockets.typing import Subprotocol

from siplab.aio.origins import OriginPolicy
from siplab.aio.resolver import Resolver, is_ip_literal
from siplab.errors import SipParseError
from siplab.sip.framing import StreamFramer
from siplab.sip.transport import Peer

__all__ = [
    "TransportManager",
    "TraceRecord",
    "MAX_UDP_PAYLOAD",
    "MAX_WS_MESSAGE",
    "UDP_BUFFER_BYTES",
]

logger = logging.getLogger("siplab.transport")

#: The largest UDP payload over IPv4: 65,535 - 20 (IP header) - 8 (UDP header).
MAX_UDP_PAYLOAD = 65507
#: The largest WebSocket message accepted (one SIP message, RFC 7118 §5.1).
MAX_WS_MESSAGE = 65536
#: SO_RCVBUF / SO_SNDBUF asked for on UDP sockets: bursts must not overflow them (FACTS.md).
UDP_BUFFER_BYTES = 4 * 1024 * 1024
#: How many bytes one TCP read asks for.
READ_SIZE = 65536
#: Datagrams read at most in one go from a UDP socket (see _UdpEndpoint).
UDP_DRAIN_LIMIT = 256
#: Bytes asked for by each read of a UDP socket: more than any datagram holds.
UDP_READ_SIZE = 65536
_PEER_CACHE_SIZE = 4096  # source addresses whose Peer is kept, per UDP socket
#: Seconds a WebSocket closing handshake may take before the socket is dropped.
CLOSE_TIMEOUT = 2.0
SIP_SUBPROTOCOL = Subprotocol("sip")
#: The transports carried over a connection, and what each runs on.
STREAM_TRANSPORTS = ("tcp", "tls")
WEBSOCKET_TRANSPORTS = ("ws", "wss")
CONNECTION_TRANSPORTS = STREAM_TRANSPORTS + WEBSOCKET_TRANSPORTS


@dataclass(frozen=True, slots=True)
class TraceRecord:
    """One SIP message on the wire, as the trace hook sees it.

    ``time`` is wall-clock ``time.time()`` (seconds since the epoch), so a trace
    lines up with a packet capture; the protocol's timers use the loop's
    monotonic clock instead.
    """

    time: float
    direction: Literal["in", "out"]
    transport: str  # "udp", "tcp", "tls", "ws" or "wss"
    local: Peer
    remote: Peer
    data: bytes


class _UdpEndpoint(asyncio.DatagramProtocol):
    """A bound UDP socket: every datagram that arrives is one message (§18.2.1).

    asyncio reads one datagram each time the socket is ready, then runs the
    timers that are due. Under load, or after the process was held up for a
    moment, many datagrams wait in the socket: a timer that fires before they
    are read acts on old news (a client transaction retransmits an INVITE
    whose 180 is already waiting, and the callee takes the copy for a new
    mistake). So after each datagram asyncio hands us, we read whatever else
    is waiting, up to :data:`UDP_DRAIN_LIMIT` datagrams; it also saves a
    turn of the event loop for each of them.
    """

    def __init__(self, manager: TransportManager, local: Peer, family: int,
                 sock: socket.socket | None = None) -> None:
        self.manager = manager
        self.local = local
        self.family = family
        self.sock = sock  # the socket asyncio reads, read here too (non-blocking)
        self.transport: asyncio.DatagramTransport | None = None
        self._sending_to: Peer | None = None  # so a synchronous send error knows its peer
        self._peers: dict[tuple[Any, ...], Peer] = {}  # source address -> Peer, for speed

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # (Python 3.11's selector transport does not subclass DatagramTransport.)
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self.manager._received(data, self.local, self._peer(addr))
        sock, transport = self.sock, self.transport
        if sock is None or transport is None:
            return
        for _ in range(UDP_DRAIN_LIMIT):  # what else waits (see the class docstring)
            if transport.is_closing():
                return
            try:
                data, addr = sock.recvfrom(UDP_READ_SIZE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # e.g. an ICMP error for an earlier datagram
                self.error_received(exc)
                return
            self.manager._received(data, self.local, self._peer(addr))

    def _peer(self, addr: tuple[Any, ...]) -> Peer:
        peer = self._peers.get(addr)
        if peer is None:
            if len(self._peers) >= _PEER_CACHE_SIZE:
                self._peers.clear()
            peer = self._peers[addr] = _peer(addr, "udp")
        return peer

    def error_received(self, exc: Exception) -> None:
        if self._sending_to is not None:
            self.manager._report(self._sending_to, exc)
        else:  # e.g. an ICMP error for some earlier datagram: no way to tell which
            logger.info("udp %s: %s", _addr(self.local), exc)

    def sendto(self, data: bytes, peer: Peer) -> None:
        """Send to ``peer``, whose host is an address (never a name: no lookup here)."""
        assert self.transport is not None
        self._sending_to = peer
        try:
            self.transport.sendto(data, (peer.host, peer.port))
        finally:
            self._sending_to = None


class _Connection:
    """One TCP or WebSocket connection, accepted or opened by us, used both ways.

    ``send`` puts messages in ``outbox``; a writer task takes them out once the
    connection is open, so messages sent while it is still connecting wait there.
    """

    def __init__(self, transport: str, remote: Peer, path: str = "/") -> None:
        self.transport = transport
        self.remote = remote
        self.path = path  # the resource a WebSocket we open asks for
        self.local: Peer | None = None  # known once the connection is open
        self.keys = {remote}  # every address the connection table files it under
        self.close: Callable[[], None] | None = None  # ends it, once open
        self.outbox: asyncio.Queue[tuple[bytes, Peer]] = asyncio.Queue()
        loop = asyncio.get_running_loop()
        self.last_activity = loop.time()
        self.ready: asyncio.Future[Peer] = loop.create_future()  # our end, once open

    def opened(self, local: Peer, remote: Peer) -> None:
        self.local = local
        self.remote = remote
        self.keys.add(remote)
        if not self.ready.done():
            self.ready.set_result(local)

    def failed(self, reason: Exception) -> None:
        if not self.ready.done():
            self.ready.set_exception(reason)
            self.ready.exception()  # retrieved: nobody may be waiting for it

    def touch(self) -> None:
        self.last_activity = asyncio.get_running_loop().time()


class TransportManager:
    """Listeners and connections for UDP, TCP and WS; delivers whole messages.

    ``on_message(data, peer)`` gets every message that arrives; ``peer`` is
    where it came from, and ``send(data, peer)`` answers over the same socket or
    connection. ``on_error(peer, exc)`` hears about messages that could not be
    sent. ``trace(record)`` sees every message in and out. Connections idle for
    ``idle_timeout`` seconds are closed (``None``, the default, keeps them
    until the peer closes them: a registered UA waits for incoming calls on
    its connection). ``on_disconnect(remote, reason)`` hears about every open
    connection that ended. ``client_ssl`` is the context of the TLS and WSS
    connections we open (default: :func:`siplab.aio.tls.client_context`);
    ``resolve_timeout`` bounds a host name lookup.
    """

    def __init__(
        self,
        on_message: Callable[[bytes, Peer], None] | None = None,
        *,
        on_error: Callable[[Peer, Exception], None] | None = None,
        on_disconnect: Callable[[Peer, Exception | None], None] | None = None,
        trace: Callable[[TraceRecord], None] | None = None,
        connect_timeout: float = 10.0,
        idle_timeout: float | None = None,
        full_text: bool = False,
        client_ssl: ssl.SSLContext | None = None,
        resolve_timeout: float = 5.0,
    ) -> None:
        self.on_message = on_message
        self.on_error = on_error
        self.on_disconnect = on_disconnect
        self.trace = trace
        self.connect_timeout = connect_timeout
        self.idle_timeout = idle_timeout
        self.full_text = full_text
        self.client_ssl = client_ssl
        self.resolver = Resolver(timeout=resolve_timeout)
        self._literal: dict[str, bool] = {}  # host -> is it an address (no lookup needed)?
        self._udp: list[_UdpEndpoint] = []
        self._udp_waiting: list[tuple[bytes, Peer]] = []  # until a lazy UDP socket is bound
        self._tcp_servers: list[tuple[asyncio.Server, Peer]] = []
        self._ws_servers: list[tuple[WsServer, Peer]] = []
        self._connections: dict[Peer, _Connection] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False

    # --- listening -----------------------------------------------------------

    async def listen_udp(self, host: str, port: int) -> Peer:
        """Bind a UDP socket (port 0 picks a free one); return the address bound."""
        loop = asyncio.get_running_loop()
        family, _, _, _, address = (await loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM))[0]
        sock = socket.socket(family, socket.SOCK_DGRAM)
        _enlarge_buffers(sock)
        try:
            sock.bind(address)
            sock.setblocking(False)
            local = _peer(sock.getsockname(), "udp")
            endpoint = _UdpEndpoint(self, local, family, sock)
            await loop.create_datagram_endpoint(lambda: endpoint, sock=sock)
        except BaseException:
            sock.close()
            raise
        self._udp.append(endpoint)
        logger.info("listening on %s", local)
        return local

    async def listen_tcp(self, host: str, port: int) -> Peer:
        """Accept TCP connections on ``host:port``; return the address bound."""
        return await self._listen_stream(host, port, "tcp", None)

    async def listen_tls(self, host: str, port: int, context: ssl.SSLContext) -> Peer:
        """Accept SIP over TLS on ``host:port`` (§26.2), presenting ``context``'s certificate."""
        return await self._listen_stream(host, port, "tls", context)

    async def _listen_stream(self, host: str, port: int, transport: str,
                             context: ssl.SSLContext | None) -> Peer:
        def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self._accept_tcp(reader, writer, transport)

        server = await asyncio.start_server(accept, host, port, ssl=context)
        local = _peer(server.sockets[0].getsockname(), transport)
        self._tcp_servers.append((server, local))
        logger.info("listening on %s", local)
        return local

    async def listen_ws(self, host: str, port: int, path: str | None = "/", *,
                        context: ssl.SSLContext | None = None,
                        origins: OriginPolicy | None = None) -> Peer:
        """Accept SIP-over-WebSocket connections at ``ws://host:port/path`` (RFC 7118),
        or ``wss://`` with a server SSL ``context``.

        The client must offer the ``sip`` subprotocol, else the handshake fails
        with 400. ``path=None`` accepts any path. A page whose Origin
        ``origins`` refuses gets 403 (default: :class:`OriginPolicy` ``()``,
        pages from the same host and clients without an Origin).
        """
        policy = origins if origins is not None else OriginPolicy()
        transport = "wss" if context is not None else "ws"

        def check_request(connection: ServerConnection, request: WsRequest) -> WsResponse | None:
            if path is not None and request.path.split("?")[0] != path:
                return connection.respond(404, f"SIP over WebSocket is at {path}\n")
            origin = request.headers.get("Origin")
            if not policy.allows(origin, request.headers.get("Host")):
                logger.warning("WebSocket from origin %r refused (%r)", origin, policy)
                return connection.respond(403, "this origin may not use the lab server\n")
            return None

        async def accept(websocket: ServerConnection) -> None:
            await self._accept_ws(websocket, transport)

        server = await ws_serve(
            accept,
            host,
            port,
            subprotocols=[SIP_SUBPROTOCOL],  # the default negotiation refuses anything else
            process_request=check_request,
            max_size=MAX_WS_MESSAGE,
            compression=None,
            close_timeout=CLOSE_TIMEOUT,
            ssl=context,
        )
        local = _peer(next(iter(server.sockets)).getsockname(), transport)
        self._ws_servers.append((server, local))
        logger.info("listening on %s%s", local, path or "")
        return local

    def local_peer(self, transport: str) -> Peer | None:
        """The address to advertise in Via/Contact for ``transport``, if any.

        A listener's address comes first. A client with no WebSocket listener
        gets the local address of its first WS connection; RFC 7118 §5.2 lets
        it put a random ``.invalid`` host in Via and Contact instead, since
        nobody can connect back to it anyway. That choice is the UA's.
        """
        transport = transport.lower()
        if transport == "udp":
            return self._udp[0].local if self._udp else None
        for _, listener in (*self._tcp_servers, *self._ws_servers):
            if listener.transport == transport:
                return listener
        for connection in self._open_connections():
            if connection.transport == transport and connection.local is not None:
                return connection.local
        return None

    async def connect(self, peer: Peer, path: str = "/") -> Peer:
        """Open a TCP or WS connection to ``peer`` (or reuse one); return our end of it.

        ``send`` opens connections by itself; a client calls this first when it
        must know its own address before it writes a message (its Via), or
        wants a refused connection reported at once. ``path`` is the resource
        a WebSocket asks for (``ws://host:port/path``). Raises ``OSError``
        (``TimeoutError`` after ``connect_timeout``) if it cannot connect.
        """
        transport = peer.transport.lower()
        if transport not in CONNECTION_TRANSPORTS:
            raise ValueError(f"connect() is for tcp, tls, ws and wss, not {transport}")
        peer = Peer(peer.host, peer.port, transport)
        connection = self._connections.get(peer)
        if connection is None:
            connection = self._open(peer, path)
        async with asyncio.timeout(self.connect_timeout + 1.0):  # close() may cancel it
            return await asyncio.shield(connection.ready)

    def open_connections(self) -> list[tuple[Peer, Peer]]:
        """``(local, remote)`` of every open TCP, TLS, WS and WSS connection."""
        return [(c.local, c.remote) for c in self._open_connections() if c.local is not None]

    def close_connection(self, remote: Peer) -> bool:
        """Close the connection with ``remote`` (as if the peer had gone); False if none.

        What a server does to a client it wants gone, and what a lab does to
        show that a client notices and connects again.
        """
        connection = self._connections.get(Peer(remote.host, remote.port,
                                                remote.transport.lower()))
        if connection is None or connection.close is None:
            return False
        logger.info("%s: closing the connection", connection.remote)
        connection.close()
        return True

    # --- sending -------------------------------------------------------------

    def send(self, data: bytes, peer: Peer) -> None:
        """Send one message to ``peer``; never blocks, never raises for network trouble."""
        transport = peer.transport.lower()
        if transport != peer.transport:  # "UDP" and "udp" must be one peer in the tables
            peer = Peer(peer.host, peer.port, transport)
        if self._closed:
            logger.warning("%s: transport manager is closed; dropped %d bytes", peer, len(data))
        elif transport == "udp":
            self._send_udp(data, peer)
        elif transport in CONNECTION_TRANSPORTS:
            connection = self._connections.get(peer)
            if connection is None:
                connection = self._open(peer)
            connection.outbox.put_nowait((data, peer))
        else:
            self._report(peer, OSError(errno.EPROTONOSUPPORT, f"no {transport} transport here"))

    def _send_udp(self, data: bytes, peer: Peer) -> None:
        if len(data) > MAX_UDP_PAYLOAD:
            message = f"{len(data)} bytes do not fit in a UDP datagram ({MAX_UDP_PAYLOAD} max)"
            self._report(peer, OSError(errno.EMSGSIZE, message))
            return
        literal = self._literal.get(peer.host)
        if literal is None:  # remembered: parsing the address on every send is costly
            if len(self._literal) >= _PEER_CACHE_SIZE:
                self._literal.clear()
            literal = self._literal[peer.host] = is_ip_literal(peer.host)
        if not literal:
            # A name: look it up in a worker thread, never in the loop itself.
            found = self.resolver.cached(peer.host, peer.port)
            if found is None:
                self._spawn(self._resolve_then_send(data, peer))
                return
            peer = Peer(found[1][0], found[1][1], "udp")
        family = socket.AF_INET6 if ":" in peer.host else socket.AF_INET
        endpoint = self._udp[0] if self._udp and self._udp[0].family == family else next(
            (e for e in self._udp if e.family == family), None)
        if endpoint is None:
            # A client that never called listen_udp: bind an ephemeral socket first.
            self._udp_waiting.append((data, peer))
            if len(self._udp_waiting) == 1:
                self._spawn(self._bind_ephemeral_udp(peer, family))
            return
        self._sent(data, "udp", endpoint.local, peer)
        endpoint.sendto(data, peer)

    async def _resolve_then_send(self, data: bytes, peer: Peer) -> None:
        try:
            _, (host, port) = await self.resolver.resolve(peer.host, peer.port)
        except OSError as exc:  # includes TimeoutError and socket.gaierror
            self._report(peer, OSError(errno.EHOSTUNREACH, f"cannot resolve {peer.host}: {exc}"))
            return
        if not self._closed:
            self._send_udp(data, Peer(host, port, "udp"))

    async def _bind_ephemeral_udp(self, peer: Peer, family: int) -> None:
        host = "::" if family == socket.AF_INET6 else "0.0.0.0"
        if _is_loopback(peer.host):
            host = "::1" if family == socket.AF_INET6 else "127.0.0.1"
        try:
            await self.listen_udp(host, 0)
        except OSError as exc:
            for _, waiting_peer in self._udp_waiting:
                self._report(waiting_peer, exc)
            self._udp_waiting.clear()
            return
        waiting, self._udp_waiting = self._udp_waiting, []
        for data, waiting_peer in waiting:
            self._send_udp(data, waiting_peer)

    # --- connections: opening, reading, writing, closing -----------------------

    def _open(self, peer: Peer, path: str = "/") -> _Connection:
        connection = _Connection(peer.transport, peer, path)
        self._connections[peer] = connection
        opener = self._connect_tcp if peer.transport in STREAM_TRANSPORTS else self._connect_ws
        self._spawn(opener(connection))
        logger.debug("%s: connecting", peer)
        return connection

    async def _connect_tcp(self, connection: _Connection) -> None:
        peer = connection.remote
        context = self._client_ssl() if peer.transport == "tls" else None
        try:
            async with asyncio.timeout(self.connect_timeout):
                reader, writer = await asyncio.open_connection(peer.host, peer.port,
                                                               ssl=context)
        except (OSError, ssl.SSLError) as exc:  # includes TimeoutError, a refused certificate
            self._forget(connection, exc)
            return
        await self._run_tcp(connection, reader, writer)

    def _client_ssl(self) -> ssl.SSLContext:
        if self.client_ssl is None:
            from siplab.aio.tls import client_context

            self.client_ssl = client_context()
        return self.client_ssl

    def _accept_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    transport: str = "tcp") -> None:
        # Our own task rather than the one asyncio.start_server would make, so close() can stop it.
        connection = _Connection(transport, _peer(writer.get_extra_info("peername"), transport))
        self._spawn(self._run_tcp(connection, reader, writer))

    async def _run_tcp(self, connection: _Connection, reader: asyncio.StreamReader,
                       writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:  # SIP messages are small and latency matters: no Nagle delay
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._register(connection, _peer(writer.get_extra_info("sockname"), connection.transport),
                       _peer(writer.get_extra_info("peername"), connection.transport))
        connection.close = writer.close  # the reader then sees the end and cleans up
        writer_task = self._spawn(self._write_tcp(connection, writer))
        framer = StreamFramer()
        reason: Exception | None = None
        try:
            while True:
                try:
                    async with asyncio.timeout(self.idle_timeout):
                        chunk = await reader.read(READ_SIZE)
                except TimeoutError:
                    if self._idle(connection):
                        break
                    continue
                if not chunk:
                    break  # the peer closed its side
                connection.touch()
                pings = framer.pings
                for message in framer.feed(chunk):
                    self._received(message, connection.local, connection.remote)
                if framer.pings > pings:  # RFC 5626 §3.5.1: answer each CRLFCRLF with CRLF
                    writer.write(b"\r\n" * (framer.pings - pings))
        except SipParseError as exc:
            logger.warning("%s: cannot frame the stream, closing: %s", connection.remote, exc)
            reason = exc
        except OSError as exc:
            reason = exc
        finally:
            writer_task.cancel()
            writer.close()
            self._forget(connection, reason)

    async def _write_tcp(self, connection: _Connection, writer: asyncio.StreamWriter) -> None:
        while True:
            data, peer = await connection.outbox.get()
            assert connection.local is not None
            try:
                writer.write(data)
                self._sent(data, connection.transport, connection.local, connection.remote)
                await writer.drain()
            except OSError as exc:
                self._report(peer, exc)
                writer.close()  # the reader then sees the end and cleans up
                return
            connection.touch()

    async def _connect_ws(self, connection: _Connection) -> None:
        peer = connection.remote
        host = f"[{peer.host}]" if ":" in peer.host else peer.host
        secure = peer.transport == "wss"
        try:
            websocket = await ws_connect(
                f"{peer.transport}://{host}:{peer.port}{connection.path}",
                subprotocols=[SIP_SUBPROTOCOL],
                max_size=MAX_WS_MESSAGE,
                compression=None,
                open_timeout=self.connect_timeout,
                close_timeout=CLOSE_TIMEOUT,
                ssl=self._client_ssl() if secure else None,
            )
        except (OSError, WebSocketException, ssl.SSLError) as exc:
            self._forget(connection, exc)
            return
        try:
            if websocket.subprotocol != SIP_SUBPROTOCOL:
                self._forget(connection, ConnectionRefusedError(
                    f"{peer} did not accept the 'sip' subprotocol (RFC 7118 §4)"))
                return
            await self._run_ws(connection, websocket)
        finally:
            await websocket.close()

    async def _accept_ws(self, websocket: ServerConnection, transport: str = "ws") -> None:
        # Returning from this handler makes websockets close the connection.
        remote = _peer(websocket.remote_address, transport)
        await self._run_ws(_Connection(transport, remote), websocket)

    async def _run_ws(self, connection: _Connection, websocket: WsConnection) -> None:
        transport = connection.transport
        self._register(connection, _peer(websocket.local_address, transport),
                       _peer(websocket.remote_address, transport))

        def close() -> None:
            self._spawn(websocket.close())  # the reading loop then sees the end

        connection.close = close
        writer_task = self._spawn(self._write_ws(connection, websocket))
        reason: Exception | None = None
        try:
            while True:
                try:
                    async with asyncio.timeout(self.idle_timeout):
                        message = await websocket.recv()  # safe to cancel: nothing is lost
                except TimeoutError:
                    if self._idle(connection):
                        break
                    continue
                connection.touch()
                # One WebSocket message is one SIP message (RFC 7118 §5.1), text or binary.
                data = message.encode("utf-8") if isinstance(message, str) else message
                self._received(data, connection.local, connection.remote)
        except ConnectionClosed as exc:
            if not isinstance(exc, ConnectionClosedOK):  # 1000 or 1001 is a normal close
                reason = exc
        finally:
            writer_task.cancel()
            self._forget(connection, reason)

    async def _write_ws(self, connection: _Connection, websocket: WsConnection) -> None:
        while True:
            data, peer = await connection.outbox.get()
            assert connection.local is not None
            # Text frames when the message is UTF-8 (it nearly always is); a binary
            # body that is not must go in a binary frame (RFC 7118 §5.1).
            try:
                frame: str | bytes = data.decode("utf-8")
            except UnicodeDecodeError:
                frame = data
            self._sent(data, connection.transport, connection.local, connection.remote)
            try:
                await websocket.send(frame)
            except (ConnectionClosed, OSError) as exc:
                self._report(peer, exc)
                return
            connection.touch()

    def _register(self, connection: _Connection, local: Peer, remote: Peer) -> None:
        connection.opened(local, remote)
        self._connections[remote] = connection
        logger.debug("%s: connection open (local end %s)", remote, _addr(local))

    def _idle(self, connection: _Connection) -> bool:
        assert self.idle_timeout is not None
        idle = asyncio.get_running_loop().time() - connection.last_activity
        if idle < self.idle_timeout:
            return False
        logger.debug("%s: idle for %.0f s, closing", connection.remote, idle)
        return True

    def _forget(self, connection: _Connection, reason: Exception | None) -> None:
        """Drop a connection from the table; report any message it never sent."""
        connection.failed(reason or ConnectionResetError(f"{connection.remote}: closed"))
        for key in connection.keys:
            if self._connections.get(key) is connection:
                del self._connections[key]
        unsent: set[Peer] = set()
        while not connection.outbox.empty():
            unsent.add(connection.outbox.get_nowait()[1])
        if reason is not None and not unsent:  # _report logs it otherwise
            logger.info("%s: connection ended: %s", connection.remote, reason)
        for peer in unsent:
            self._report(peer, reason or ConnectionResetError(f"{peer}: connection closed"))
        if connection.local is not None and not self._closed and self.on_disconnect is not None:
            asyncio.get_running_loop().call_soon(self._call_on_disconnect, connection.remote,
                                                 reason)

    def _open_connections(self) -> list[_Connection]:
        return list({id(c): c for c in self._connections.values()}.values())

    # --- the one path every message takes ----------------------------------------

    def _received(self, data: bytes, local: Peer | None, remote: Peer) -> None:
        assert local is not None
        self._record("in", data, remote.transport, local, remote)
        if self.on_message is None:
            return
        try:
            self.on_message(data, remote)
        except Exception:  # a bug upstairs must not take the socket down with it
            logger.exception("on_message failed for a message from %s", remote)

    def _sent(self, data: bytes, transport: str, local: Peer, remote: Peer) -> None:
        self._record("out", data, transport, local, remote)

    def _record(self, direction: Literal["in", "out"], data: bytes, transport: str,
                local: Peer, remote: Peer) -> None:
        if logger.isEnabledFor(logging.DEBUG):
            arrow = "<-" if direction == "in" else "->"
            head, _, body = data.partition(b"\r\n\r\n")
            text = data if self.full_text else head.split(b"\r\n", 1)[0][:200]
            logger.debug("%s %s %s %s %s: %s (%d bytes, body %d)", transport, direction,
                         _addr(local), arrow, _addr(remote),
                         text.decode("utf-8", "replace"), len(data), len(body))
        if self.trace is not None:
            try:
                self.trace(TraceRecord(time.time(), direction, transport, local, remote, data))
            except Exception:
                logger.exception("the trace hook failed")

    def _report(self, peer: Peer, exc: Exception) -> None:
        """Log a failure and tell on_error about it on the next turn of the loop."""
        logger.warning("%s: %s", peer, exc)
        if self.on_error is not None:
            asyncio.get_running_loop().call_soon(self._call_on_error, peer, exc)

    def _call_on_error(self, peer: Peer, exc: Exception) -> None:
        if self.on_error is not None:
            self.on_error(peer, exc)

    def _call_on_disconnect(self, remote: Peer, reason: Exception | None) -> None:
        if self.on_disconnect is not None and not self._closed:
            try:
                self.on_disconnect(remote, reason)
            except Exception:
                logger.exception("on_disconnect failed for %s", remote)

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # --- closing -------------------------------------------------------------

    async def close(self, timeout: float = 3.0) -> None:
        """Close every listener and connection; waits at most about ``timeout`` seconds."""
        self._closed = True
        for endpoint in self._udp:
            if endpoint.transport is not None:
                endpoint.transport.close()
        for tcp_server, _ in self._tcp_servers:
            tcp_server.close()
        for ws_server, _ in self._ws_servers:
            ws_server.close()  # closes its connections with 1001 Going Away
        tasks = [task for task in self._tasks if task is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        waits = [server.wait_closed() for server, _ in self._ws_servers]
        waits += [server.wait_closed() for server, _ in self._tcp_servers]
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await asyncio.gather(*tasks, *waits, return_exceptions=True)
        self._udp.clear()
        self._tcp_servers.clear()
        self._ws_servers.clear()
        self._connections.clear()


def _peer(address: Any, transport: str) -> Peer:
    """A Peer from a socket address: (host, port) for IPv4, (host, port, flow, scope) for IPv6."""
    return Peer(str(address[0]), int(address[1]), transport)


def _addr(peer: Peer) -> str:
    return f"[{peer.host}]:{peer.port}" if ":" in peer.host else f"{peer.host}:{peer.port}"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _enlarge_buffers(sock: socket.socket) -> None:
    """Ask for 4 MiB socket buffers so a burst of datagrams is not dropped (FACTS.md).

    Linux caps SO_RCVBUF at ``net.core.rmem_max``; a process with CAP_NET_ADMIN
    (root) may go past the cap with SO_RCVBUFFORCE. Failures are ignored: the
    buffers only matter under load.
    """
    for option, forced in ((socket.SO_RCVBUF, "SO_RCVBUFFORCE"),
                           (socket.SO_SNDBUF, "SO_SNDBUFFORCE")):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, option, UDP_BUFFER_BYTES)
        # Linux reports twice the size asked for (the kernel's bookkeeping share).
        too_small = sock.getsockopt(socket.SOL_SOCKET, option) < UDP_BUFFER_BYTES
        if too_small and hasattr(socket, forced):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, getattr(socket, forced), UDP_BUFFER_BYTES)
