"""SIP over real loopback sockets: UDP, TCP and WebSocket (RFC 3261 §18, RFC 7118, RFC 5626 §3.5.1).

Each test runs its own event loop with ``asyncio.run`` and bounds every wait.
Where a test needs to see the raw wire (a stream cut into pieces, garbage, a
browser-like WebSocket client), the other end is a plain asyncio or websockets
socket rather than a second TransportManager.
"""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosedError, InvalidStatus
from websockets.typing import Subprotocol

from siplab.aio.transport import MAX_UDP_PAYLOAD, TraceRecord, TransportManager
from siplab.sip.framing import StreamFramer
from siplab.sip.transport import Peer
from tests.helpers import crlf

T = TypeVar("T")
LOOPBACK = "127.0.0.1"

OPTIONS = crlf("""
    OPTIONS sip:bob@127.0.0.1 SIP/2.0
    Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bK-opt-1;rport
    Max-Forwards: 70
    From: <sip:alice@127.0.0.1>;tag=a1
    To: <sip:bob@127.0.0.1>
    Call-ID: transport-test-1
    CSeq: 1 OPTIONS
    Content-Length: 0

""")

OK = crlf("""
    SIP/2.0 200 OK
    Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bK-opt-1;rport=5070;received=127.0.0.1
    From: <sip:alice@127.0.0.1>;tag=a1
    To: <sip:bob@127.0.0.1>;tag=b1
    Call-ID: transport-test-1
    CSeq: 1 OPTIONS
    Content-Length: 0

""")

MESSAGE = crlf("""
    MESSAGE sip:bob@127.0.0.1 SIP/2.0
    Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bK-msg-1
    Max-Forwards: 70
    From: <sip:alice@127.0.0.1>;tag=a1
    To: <sip:bob@127.0.0.1>
    Call-ID: transport-test-2
    CSeq: 1 MESSAGE
    Content-Type: text/plain
    Content-Length: 28

    Hello Bob, this is TCP. Bye.""")


def run(coroutine: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
    """Run one test's coroutine in a fresh event loop, bounded as a whole."""

    async def bounded() -> T:
        async with asyncio.timeout(timeout):
            return await coroutine

    return asyncio.run(bounded())


class Inbox:
    """Collects what a TransportManager delivers and reports."""

    def __init__(self) -> None:
        self.messages: asyncio.Queue[tuple[bytes, Peer]] = asyncio.Queue()
        self.errors: asyncio.Queue[tuple[Peer, Exception]] = asyncio.Queue()
        self.traces: list[TraceRecord] = []

    def manager(self) -> TransportManager:
        return TransportManager(self.on_message,
                                on_error=self.on_error, trace=self.traces.append)

    def on_message(self, data: bytes, peer: Peer) -> None:
        self.messages.put_nowait((data, peer))

    def on_error(self, peer: Peer, exc: Exception) -> None:
        self.errors.put_nowait((peer, exc))

    async def get(self, timeout: float = 2.0) -> tuple[bytes, Peer]:
        async with asyncio.timeout(timeout):
            return await self.messages.get()

    async def error(self, timeout: float = 2.0) -> tuple[Peer, Exception]:
        async with asyncio.timeout(timeout):
            return await self.errors.get()


async def eventually(check: Callable[[], bool], timeout: float = 2.0) -> None:
    """Wait (bounded) until ``check()`` is true."""
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.01)


async def read_until_closed(reader: asyncio.StreamReader, timeout: float = 2.0) -> bytes:
    async with asyncio.timeout(timeout):
        return await reader.read()


def peer_of(address: Any, transport: str) -> Peer:
    """The Peer for a socket address, as the transport manager reports it."""
    return Peer(address[0], address[1], transport)


def closed_port() -> int:
    """A loopback TCP port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


async def with_managers(count: int, body: Callable[..., Awaitable[None]]) -> None:
    inboxes = [Inbox() for _ in range(count)]
    managers = [inbox.manager() for inbox in inboxes]
    try:
        await body(*zip(inboxes, managers, strict=True))
    finally:
        for manager in managers:
            await manager.close()


# --- a message over each transport, both directions ---------------------------------


@pytest.mark.parametrize("transport", ["udp", "tcp", "ws"])
def test_request_out_and_response_back_over_each_transport(transport: str) -> None:
    async def body(server_side: tuple[Inbox, TransportManager],
                   client_side: tuple[Inbox, TransportManager]) -> None:
        (server_in, server), (client_in, client) = server_side, client_side
        listen = {"udp": server.listen_udp, "tcp": server.listen_tcp, "ws": server.listen_ws}
        server_peer = await listen[transport](LOOPBACK, 0)
        assert server_peer.transport == transport
        assert server_peer.port != 0
        if transport == "udp":
            await client.listen_udp(LOOPBACK, 0)

        client.send(OPTIONS, server_peer)
        data, client_peer = await server_in.get()
        assert data == OPTIONS
        assert client_peer.host == LOOPBACK
        assert client_peer.transport == transport

        server.send(OK, client_peer)  # back to where the request came from
        data, from_peer = await client_in.get()
        assert data == OK
        assert from_peer == server_peer
        if transport == "udp":
            assert client_peer == client.local_peer("udp")
        else:  # one connection, used in both directions
            [(client_local, client_remote)] = client.open_connections()
            assert client_remote == server_peer
            assert client_local == client_peer
            assert server.open_connections() == [(server_peer, client_peer)]

    run(with_managers(2, body))


def test_udp_client_without_listener_binds_an_ephemeral_loopback_socket() -> None:
    async def body(server_side: tuple[Inbox, TransportManager],
                   client_side: tuple[Inbox, TransportManager]) -> None:
        (server_in, server), (client_in, client) = server_side, client_side
        server_peer = await server.listen_udp(LOOPBACK, 0)
        assert client.local_peer("udp") is None
        client.send(OPTIONS, server_peer)
        client.send(MESSAGE, server_peer)  # queued behind the first while binding
        assert [(await server_in.get())[0] for _ in range(2)] == [OPTIONS, MESSAGE]
        local = client.local_peer("udp")
        assert local is not None
        assert local.host == LOOPBACK
        server.send(OK, local)
        assert await client_in.get() == (OK, server_peer)

    run(with_managers(2, body))


# --- TCP framing ---------------------------------------------------------------


def test_tcp_two_messages_in_one_read_are_delivered_as_two() -> None:
    async def body(server_side: tuple[Inbox, TransportManager]) -> None:
        inbox, server = server_side
        peer = await server.listen_tcp(LOOPBACK, 0)
        with socket.create_connection((peer.host, peer.port), timeout=2) as raw:
            raw.sendall(OPTIONS + MESSAGE)
            first, second = await inbox.get(), await inbox.get()
            assert (first[0], second[0]) == (OPTIONS, MESSAGE)
            assert first[1] == second[1] == peer_of(raw.getsockname(), "tcp")
        assert inbox.messages.empty()

    run(with_managers(1, body))


def test_tcp_one_message_in_three_reads_is_delivered_once_complete() -> None:
    async def body(server_side: tuple[Inbox, TransportManager]) -> None:
        inbox, server = server_side
        peer = await server.listen_tcp(LOOPBACK, 0)
        _reader, writer = await asyncio.open_connection(peer.host, peer.port)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        third = len(MESSAGE) // 3
        for piece in (MESSAGE[:third], MESSAGE[third:2 * third]):
            writer.write(piece)
            await writer.drain()
            await asyncio.sleep(0.05)
            assert inbox.messages.empty(), "delivered before the message was complete"
        writer.write(MESSAGE[2 * third:])
        await writer.drain()
        assert (await inbox.get())[0] == MESSAGE
        await asyncio.sleep(0.05)
        assert inbox.messages.empty()
        writer.close()

    run(with_managers(1, body))


@pytest.mark.parametrize(
    "garbage",
    [
        pytest.param(b"HELLO sip:x SIP/2.0\r\nVia: nothing\r\n\r\n", id="no-content-length"),
        pytest.param(b"X-Junk: " + b"a" * 70_000, id="header-section-over-limit"),
    ],
)
def test_tcp_garbage_closes_that_connection_only(garbage: bytes) -> None:
    async def body(server_side: tuple[Inbox, TransportManager]) -> None:
        inbox, server = server_side
        peer = await server.listen_tcp(LOOPBACK, 0)
        _, good_writer = await asyncio.open_connection(peer.host, peer.port)
        bad_reader, bad_writer = await asyncio.open_connection(peer.host, peer.port)
        await eventually(lambda: len(server.open_connections()) == 2)

        bad_writer.write(garbage)
        assert await read_until_closed(bad_reader) == b""  # the server hung up
        await eventually(lambda: len(server.open_connections()) == 1)

        good_writer.write(OPTIONS)  # the other connection still works...
        assert (await inbox.get())[0] == OPTIONS
        _, new_writer = await asyncio.open_connection(peer.host, peer.port)
        new_writer.write(MESSAGE)  # ...and so does the listener
        assert (await inbox.get())[0] == MESSAGE
        for writer in (good_writer, bad_writer, new_writer):
            writer.close()

    run(with_managers(1, body))


def test_tcp_double_crlf_ping_gets_a_single_crlf_pong() -> None:
    async def body(server_side: tuple[Inbox, TransportManager]) -> None:
        inbox, server = server_side
        peer = await server.listen_tcp(LOOPBACK, 0)
        reader, writer = await asyncio.open_connection(peer.host, peer.port)
        writer.write(b"\r\n\r\n")
        async with asyncio.timeout(2):
            assert await reader.readexactly(2) == b"\r\n"
        writer.write(OPTIONS)  # the stream is still in step
        assert (await inbox.get())[0] == OPTIONS
        writer.close()

    run(with_managers(1, body))


def test_failing_on_message_does_not_close_the_connection() -> None:
    async def body(server_side: tuple[Inbox, TransportManager]) -> None:
        inbox, server = server_side
        calls = 0

        def on_message(data: bytes, peer: Peer) -> None:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise RuntimeError("a bug in the layer above")
            inbox.on_message(data, peer)

        server.on_message = on_message
        peer = await server.listen_tcp(LOOPBACK, 0)
        _, writer = await asyncio.open_connection(peer.host, peer.port)
        writer.write(OPTIONS)
        writer.write(MESSAGE)
        assert (await inbox.get())[0] == MESSAGE
        assert len(server.open_connections()) == 1
        writer.close()

    run(with_managers(1, body))


def test_closed_connection_leaves_the_table() -> None:
    async def body(server_side: tuple[Inbox, TransportManager]) -> None:
        inbox, server = server_side
        peer = await server.listen_tcp(LOOPBACK, 0)
        _, writer = await asyncio.open_connection(peer.host, peer.port)
        writer.write(OPTIONS)
        await inbox.get()
        assert len(server.open_connections()) == 1
        writer.close()
        await eventually(lambda: server.open_connections() == [])

    run(with_managers(1, body))


def test_idle_connection_is_closed_after_idle_timeout() -> None:
    async def body(server_side: tuple[Inbox, TransportManager]) -> None:
        inbox, server = server_side
        server.idle_timeout = 0.1
        peer = await server.listen_tcp(LOOPBACK, 0)
        reader, writer = await asyncio.open_connection(peer.host, peer.port)
        writer.write(OPTIONS)
        await inbox.get()
        assert await read_until_closed(reader) == b""
        assert server.open_connections() == []
        writer.close()

    run(with_managers(1, body))


# --- UDP ------------------------------------------------------------------------


def test_udp_junk_is_delivered_as_bytes_and_listener_keeps_working() -> None:
    async def body(server_side: tuple[Inbox, TransportManager]) -> None:
        inbox, server = server_side
        peer = await server.listen_udp(LOOPBACK, 0)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as raw:
            raw.bind((LOOPBACK, 0))
            junk = b"\x00\xffnot SIP at all"
            raw.sendto(junk, (peer.host, peer.port))
            assert await inbox.get() == (junk, peer_of(raw.getsockname(), "udp"))
            raw.sendto(OPTIONS, (peer.host, peer.port))
            assert (await inbox.get())[0] == OPTIONS

    run(with_managers(1, body))


def test_udp_refuses_to_send_more_than_fits_in_a_datagram() -> None:
    async def body(side: tuple[Inbox, TransportManager]) -> None:
        inbox, manager = side
        await manager.listen_udp(LOOPBACK, 0)
        target = Peer(LOOPBACK, 9, "udp")
        manager.send(b"x" * (MAX_UDP_PAYLOAD + 1), target)  # returns; the error comes later
        peer, exc = await inbox.error()
        assert peer == target
        assert isinstance(exc, OSError)
        assert exc.errno == errno.EMSGSIZE
        assert [t for t in inbox.traces if t.direction == "out"] == []

    run(with_managers(1, body))


# --- WebSocket (RFC 7118) ---------------------------------------------------------


@pytest.mark.parametrize("subprotocols", [None, [Subprotocol("chat")]], ids=["none", "chat"])
def test_ws_client_without_sip_subprotocol_is_refused(
    subprotocols: list[Subprotocol] | None,
) -> None:
    async def body(server_side: tuple[Inbox, TransportManager]) -> None:
        _, server = server_side
        peer = await server.listen_ws(LOOPBACK, 0)
        with pytest.raises(InvalidStatus) as refused:
            await ws_connect(f"ws://{LOOPBACK}:{peer.port}/", subprotocols=subprotocols,
                             open_timeout=2)
        assert refused.value.response.status_code == 400
        assert server.open_connections() == []

    run(with_managers(1, body))


def test_ws_browser_like_client_gets_replies_over_its_own_connection() -> None:
    async def body(server_side: tuple[Inbox, TransportManager]) -> None:
        inbox, server = server_side
        peer = await server.listen_ws(LOOPBACK, 0)
        async with ws_connect(f"ws://{LOOPBACK}:{peer.port}/", subprotocols=[Subprotocol("sip")],
                              open_timeout=2) as browser:
            assert browser.subprotocol == "sip"
            await browser.send(OPTIONS.decode())  # a text frame, as JsSIP sends
            data, browser_peer = await inbox.get()
            assert data == OPTIONS
            assert browser_peer == peer_of(browser.local_address, "ws")
            server.send(OK, browser_peer)
            async with asyncio.timeout(2):
                reply = await browser.recv()
            assert reply == OK.decode()  # one SIP message per WebSocket message, as text

    run(with_managers(1, body))


def test_ws_message_over_64_kib_closes_the_connection_with_1009() -> None:
    async def body(server_side: tuple[Inbox, TransportManager]) -> None:
        inbox, server = server_side
        peer = await server.listen_ws(LOOPBACK, 0)
        async with ws_connect(f"ws://{LOOPBACK}:{peer.port}/", subprotocols=[Subprotocol("sip")],
                              open_timeout=2) as browser:
            await browser.send("x" * 65537)
            with pytest.raises(ConnectionClosedError):
                async with asyncio.timeout(2):
                    await browser.recv()
            assert browser.close_code == 1009  # Message Too Big
        assert inbox.messages.empty()
        await eventually(lambda: server.open_connections() == [])

    run(with_managers(1, body))


def test_ws_wrong_path_is_refused_with_404() -> None:
    async def body(server_side: tuple[Inbox, TransportManager]) -> None:
        _, server = server_side
        peer = await server.listen_ws(LOOPBACK, 0, path="/sip")
        with pytest.raises(InvalidStatus) as refused:
            await ws_connect(f"ws://{LOOPBACK}:{peer.port}/", subprotocols=[Subprotocol("sip")],
                             open_timeout=2)
        assert refused.value.response.status_code == 404

    run(with_managers(1, body))


# --- connection reuse, errors, the trace ------------------------------------------------


def test_two_sends_to_the_same_tcp_peer_use_one_connection() -> None:
    async def body(client_side: tuple[Inbox, TransportManager]) -> None:
        _, client = client_side
        accepted = 0
        received: asyncio.Queue[bytes] = asyncio.Queue()

        hung_up = asyncio.Event()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal accepted
            accepted += 1
            framer = StreamFramer()
            while chunk := await reader.read(65536):
                for message in framer.feed(chunk):
                    received.put_nowait(message)
            writer.close()
            hung_up.set()

        server = await asyncio.start_server(handle, LOOPBACK, 0)
        port = server.sockets[0].getsockname()[1]
        try:
            client.send(OPTIONS, Peer(LOOPBACK, port, "tcp"))  # opens the connection...
            client.send(MESSAGE, Peer(LOOPBACK, port, "tcp"))  # ...and this waits for it
            async with asyncio.timeout(2):
                assert [await received.get(), await received.get()] == [OPTIONS, MESSAGE]
            client.send(OK, Peer(LOOPBACK, port, "tcp"))  # once open, it is reused
            async with asyncio.timeout(2):
                assert await received.get() == OK
            assert accepted == 1
            assert len(client.open_connections()) == 1
            assert client.local_peer("tcp") == client.open_connections()[0][0]
            await client.close()
            async with asyncio.timeout(2):
                await hung_up.wait()
        finally:
            server.close()

    run(with_managers(1, body))


@pytest.mark.parametrize("transport", ["tcp", "ws"])
def test_send_to_a_closed_port_reports_on_error(transport: str) -> None:
    async def body(side: tuple[Inbox, TransportManager]) -> None:
        inbox, manager = side
        target = Peer(LOOPBACK, closed_port(), transport)
        manager.send(OPTIONS, target)  # must not raise
        peer, exc = await inbox.error()
        assert peer == target
        assert isinstance(exc, ConnectionRefusedError)
        assert manager.open_connections() == []
        manager.send(OPTIONS, target)  # a later send tries again, and fails again
        assert (await inbox.error())[0] == target

    run(with_managers(1, body))


def test_unsupported_transport_is_reported_not_raised() -> None:
    async def body(side: tuple[Inbox, TransportManager]) -> None:
        inbox, manager = side
        manager.send(OPTIONS, Peer(LOOPBACK, 5061, "sctp"))  # RFC 4168: not in siplab
        peer, exc = await inbox.error()
        assert peer.transport == "sctp"
        assert isinstance(exc, OSError)
        assert exc.errno == errno.EPROTONOSUPPORT

    run(with_managers(1, body))


@pytest.mark.parametrize("transport", ["udp", "tcp", "ws"])
def test_trace_sees_every_message_in_and_out_with_addresses(transport: str) -> None:
    async def body(server_side: tuple[Inbox, TransportManager],
                   client_side: tuple[Inbox, TransportManager]) -> None:
        (server_in, server), (client_in, client) = server_side, client_side
        listen = {"udp": server.listen_udp, "tcp": server.listen_tcp, "ws": server.listen_ws}
        server_peer = await listen[transport](LOOPBACK, 0)
        client.send(OPTIONS, server_peer)
        _, client_peer = await server_in.get()
        server.send(OK, client_peer)
        await client_in.get()

        def rows(traces: list[TraceRecord]) -> list[tuple[str, str, Peer, Peer, bytes]]:
            return [(t.direction, t.transport, t.local, t.remote, t.data) for t in traces]

        assert rows(client_in.traces) == [
            ("out", transport, client_peer, server_peer, OPTIONS),
            ("in", transport, client_peer, server_peer, OK),
        ]
        assert rows(server_in.traces) == [
            ("in", transport, server_peer, client_peer, OPTIONS),
            ("out", transport, server_peer, client_peer, OK),
        ]
        times = [t.time for t in client_in.traces + server_in.traces]
        assert all(t > 1e9 for t in times)  # wall clock, seconds since the epoch

    run(with_managers(2, body))


def test_close_is_bounded_with_open_connections_and_pending_connects() -> None:
    async def body() -> None:
        inbox = Inbox()
        server, client = inbox.manager(), Inbox().manager()
        tcp = await server.listen_tcp(LOOPBACK, 0)
        ws = await server.listen_ws(LOOPBACK, 0)
        await server.listen_udp(LOOPBACK, 0)
        client.send(OPTIONS, tcp)
        client.send(OPTIONS, ws)
        await inbox.get()
        await inbox.get()
        loop = asyncio.get_running_loop()
        started = loop.time()
        await server.close()
        await client.close()
        assert loop.time() - started < 3.0
        assert server.open_connections() == []
        assert client.open_connections() == []

    run(body())
