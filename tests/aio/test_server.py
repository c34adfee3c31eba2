"""LabServer on real sockets: the registrar and proxy core behind UDP, TCP and WS listeners.

RFC 3261 §11 (OPTIONS to the server), §18 (UDP and TCP transports), RFC 7118
(SIP over WebSocket), §8.2 / §16.3 (a malformed request gets 400 saying what
is wrong, and the server keeps serving), §10.3 (REGISTER). Every socket is on
127.0.0.1, every wait is bounded, every server is stopped.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.typing import Subprotocol

from siplab.aio.server import LabServer, is_loopback
from siplab.errors import InvalidStateError, LocalProtocolError
from siplab.ids import IdSource
from siplab.sip.framing import StreamFramer
from siplab.sip.message import Response, parse_message
from siplab.sip.server import ServerStats
from siplab.sip.timers import TimerConfig
from siplab.sip.transport import Peer
from tests.helpers import crlf

T = TypeVar("T")
LOOPBACK = "127.0.0.1"
FAST = TimerConfig(t1=0.01, t2=0.04, t4=0.05)  # Timer J over UDP: 64 * T1 = 0.64 s


def run(coroutine: Coroutine[Any, Any, T], timeout: float = 5.0) -> T:
    async def bounded() -> T:
        async with asyncio.timeout(timeout):
            return await coroutine

    return asyncio.run(bounded())


def all_transports(**options: Any) -> LabServer:
    options.setdefault("users", {"alice": "secret"})
    return LabServer(udp=[(LOOPBACK, 0)], tcp=[(LOOPBACK, 0)], ws=[(LOOPBACK, 0)],
                     ids=IdSource("server"), **options)


def options_request(server: Peer, via: str, branch: str) -> bytes:
    return crlf(f"""
        OPTIONS sip:{server.host}:{server.port} SIP/2.0
        Via: SIP/2.0/{via};branch={branch};rport
        Max-Forwards: 70
        From: <sip:tester@{LOOPBACK}>;tag=t1
        To: <sip:{server.host}:{server.port}>
        Call-ID: {branch}@test
        CSeq: 1 OPTIONS
        Content-Length: 0

    """)


class UdpClient:
    """A plain UDP socket sending raw bytes and reading whole responses."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((LOOPBACK, 0))
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]

    async def send(self, data: bytes, to: Peer) -> None:
        await asyncio.get_running_loop().sock_sendto(self.sock, data, (to.host, to.port))

    async def receive(self, timeout: float = 2.0) -> Response:
        async with asyncio.timeout(timeout):
            data = await asyncio.get_running_loop().sock_recv(self.sock, 65536)
        message = parse_message(data)
        assert isinstance(message, Response)
        return message

    def close(self) -> None:
        self.sock.close()


@asynccontextmanager
async def udp_client() -> AsyncIterator[UdpClient]:
    client = UdpClient()
    try:
        yield client
    finally:
        client.close()


async def options_over_udp(server: Peer) -> Response:
    async with udp_client() as client:
        await client.send(options_request(server, f"UDP {LOOPBACK}:{client.port}",
                                          "z9hG4bKudp1"), server)
        return await client.receive()


async def options_over_tcp(server: Peer) -> Response:
    reader, writer = await asyncio.open_connection(server.host, server.port)
    try:
        local_port = writer.get_extra_info("sockname")[1]
        writer.write(options_request(server, f"TCP {LOOPBACK}:{local_port}", "z9hG4bKtcp1"))
        framer = StreamFramer()
        while True:
            async with asyncio.timeout(2.0):
                chunk = await reader.read(65536)
            assert chunk, "the server closed the connection"
            messages = framer.feed(chunk)
            if messages:
                response = parse_message(messages[0])
                assert isinstance(response, Response)
                return response
    finally:
        writer.close()
        await writer.wait_closed()


async def options_over_ws(url: str, server: Peer) -> Response:
    async with ws_connect(url, subprotocols=[Subprotocol("sip")]) as websocket:
        await websocket.send(options_request(server, "WS abcdef.invalid",
                                             "z9hG4bKws1").decode())
        async with asyncio.timeout(2.0):
            frame = await websocket.recv()
    data = frame.encode() if isinstance(frame, str) else frame
    response = parse_message(data)
    assert isinstance(response, Response)
    return response


class TestStartAndStop:
    def test_server_binds_free_ports_on_every_transport_and_reports_them(self) -> None:
        async def scenario() -> tuple[list[Peer], list[str], bool]:
            async with all_transports() as server:
                addresses, urls = list(server.addresses), server.ws_urls
                for peer in addresses:  # the core knows every address it was given
                    assert peer in server.core.config.listen
            return addresses, urls, server.running

        addresses, urls, running = run(scenario())
        assert [p.transport for p in addresses] == ["udp", "tcp", "ws"]
        assert all(p.host == LOOPBACK and p.port > 0 for p in addresses)
        assert urls == [f"ws://{LOOPBACK}:{addresses[2].port}/"]
        assert not running

    def test_stopped_server_frees_its_ports(self) -> None:
        async def scenario() -> Peer:
            server = LabServer(tcp=[(LOOPBACK, 0)], open=True)
            await server.start()
            tcp = server.addresses[0]
            await server.stop()
            again = LabServer(tcp=[(LOOPBACK, tcp.port)], open=True)  # the same port binds
            await again.start()
            await again.stop()
            return tcp

        run(scenario())

    def test_server_without_listeners_or_accounts_is_refused(self) -> None:
        with pytest.raises(LocalProtocolError, match="users="):
            LabServer(udp=[(LOOPBACK, 0)])
        with pytest.raises(LocalProtocolError, match="exclude"):
            LabServer(udp=[(LOOPBACK, 0)], users={}, open=True)
        with pytest.raises(LocalProtocolError, match="at least one listener"):
            run(LabServer(open=True).start())

    def test_repr_never_shows_passwords(self) -> None:
        server = all_transports(users={"alice": "s3cret-pw"})
        assert "s3cret-pw" not in repr(server)
        assert "NOT SHOWN" in repr(server)
        assert server.users == ("alice",)

    def test_starting_twice_is_a_mistake(self) -> None:
        async def scenario() -> None:
            async with LabServer(udp=[(LOOPBACK, 0)], open=True) as server:
                with pytest.raises(InvalidStateError):
                    await server.start()

        run(scenario())

    def test_listening_beyond_loopback_logs_a_warning(self,
                                                      caplog: pytest.LogCaptureFixture) -> None:
        caplog.set_level(logging.WARNING, logger="siplab.server")

        async def scenario() -> None:
            async with LabServer(udp=[("0.0.0.0", 0)], open=True):
                pass

        run(scenario())
        assert any("not a loopback address" in r.getMessage() for r in caplog.records)
        assert is_loopback("localhost")
        assert is_loopback("::1")
        assert not is_loopback("0.0.0.0")


class TestOptions:
    """§11: OPTIONS addressed to the server is answered by the server itself."""

    def test_server_answers_options_over_udp_tcp_and_ws(self) -> None:
        async def scenario() -> list[Response]:
            async with all_transports() as server:
                udp, tcp, ws = server.addresses
                return [await options_over_udp(udp), await options_over_tcp(tcp),
                        await options_over_ws(server.ws_urls[0], ws)]

        for response in run(scenario()):
            assert response.status == 200
            assert response.headers.get("Allow") == "OPTIONS, REGISTER"

    def test_udp_response_goes_back_to_the_source_port_rfc3581(self) -> None:
        async def scenario() -> Response:
            async with all_transports() as server:
                return await options_over_udp(server.addresses[0])

        response = run(scenario())
        assert response.top_via.rport is not None
        assert response.top_via.received == LOOPBACK


MISSING_CALL_ID = """
    OPTIONS sip:{server} SIP/2.0
    Via: SIP/2.0/UDP {client};branch=z9hG4bKbad1;rport
    Max-Forwards: 70
    From: <sip:tester@127.0.0.1>;tag=b1
    To: <sip:{server}>
    CSeq: 1 OPTIONS
    Content-Length: 0

"""

BAD_CSEQ = """
    OPTIONS sip:{server} SIP/2.0
    Via: SIP/2.0/UDP {client};branch=z9hG4bKbad2;rport
    Max-Forwards: 70
    From: <sip:tester@127.0.0.1>;tag=b2
    To: <sip:{server}>
    Call-ID: bad-cseq@test
    CSeq: one OPTIONS
    Content-Length: 0

"""

GOOD_REGISTER = """
    REGISTER sip:127.0.0.1 SIP/2.0
    Via: SIP/2.0/UDP {client};branch=z9hG4bKgood1;rport
    Max-Forwards: 70
    From: <sip:alice@127.0.0.1>;tag=g1
    To: <sip:alice@127.0.0.1>
    Call-ID: good-register@test
    CSeq: 1 REGISTER
    Contact: <sip:alice@{client}>
    Expires: 600
    Content-Length: 0

"""


class TestMalformedInput:
    """§8.2 and §16.3 step 1: a broken request gets 400 naming the problem; serving goes on."""

    def test_bad_requests_get_400_with_the_reason_then_a_good_register_is_served(self) -> None:
        async def scenario() -> list[Response]:
            async with LabServer(udp=[(LOOPBACK, 0)], open=True, timers=FAST) as server, \
                    udp_client() as client:
                udp = server.addresses[0]
                where = {"server": f"{udp.host}:{udp.port}", "client": f"{LOOPBACK}:{client.port}"}
                responses = []
                for fixture in (MISSING_CALL_ID, BAD_CSEQ, GOOD_REGISTER):
                    await client.send(crlf(fixture.format(**where)), udp)
                    responses.append(await client.receive())
                assert server.stats().bindings == 1
                return responses

        missing, bad_cseq, register = run(scenario())
        assert missing.status == 400
        assert "Call-ID" in (missing.reason or "")
        assert bad_cseq.status == 400
        assert "CSeq" in (bad_cseq.reason or "")
        assert bad_cseq.call_id == "bad-cseq@test"
        assert register.status == 200
        assert register.contact[0].param("expires") == "600"

    def test_garbage_gets_no_answer_and_the_server_still_serves(self) -> None:
        async def scenario() -> Response:
            async with all_transports() as server, udp_client() as client:
                udp = server.addresses[0]
                await client.send(b"\x00\x01 not SIP at all\r\n\r\n", udp)
                with pytest.raises(TimeoutError):
                    await client.receive(timeout=0.2)
                return await options_over_udp(udp)

        assert run(scenario()).status == 200


class TestStats:
    def test_transactions_end_on_time_and_a_stopped_server_holds_nothing(self) -> None:
        async def scenario() -> None:
            server = LabServer(udp=[(LOOPBACK, 0)], tcp=[(LOOPBACK, 0)], open=True, timers=FAST)
            await server.start()
            try:
                udp, tcp = server.addresses
                await options_over_udp(udp)
                await options_over_tcp(tcp)
                assert server.stats().server_transactions >= 1  # UDP keeps it for Timer J
                async with asyncio.timeout(2.0):
                    while not server.stats().idle:
                        await asyncio.sleep(0.02)
            finally:
                await server.stop()
            assert server.stats() == ServerStats(0, 0, 0, 0, 0, 0)

        run(scenario())
