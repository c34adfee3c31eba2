"""The torture messages sent to a running LabServer, over UDP from a raw socket.

RFC 3261 §8.2 and §16.3 step 1 (a request that cannot be read is answered
400, with a reason phrase that names the problem), §21.5.7 (505 for another
SIP version), §17.1.1.3 (an ACK is never answered), §18.3 (a response or a
start line that is not a request has nobody to answer: dropped), §10.3 (the
registrar), §11 (OPTIONS to the server), §8.2.1 and §8.2.2.1 (501, 416).

Each test starts a server (open registration, loopback, free ports), sends one
message, checks the answer (or that none comes), and then checks that the
server still serves: an OPTIONS gets 200 and a REGISTER binds a contact.
"""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from siplab.aio.server import LabServer
from siplab.ids import IdSource
from siplab.sip.message import Response, parse_message
from siplab.sip.transport import Peer
from tests.helpers import crlf
from tests.torture.corpus import describe, load, names
from tests.torture.test_parse import REFUSED

T = TypeVar("T")
LOOPBACK = "127.0.0.1"
#: How long "no answer" is waited for.
SILENCE = 0.3
#: The largest datagram UDP over IPv4 carries (65,535 - 20 - 8).
MAX_UDP_PAYLOAD = 65507

#: What the server answers to each valid message; None: nothing (a response that
#: matches no transaction is dropped).
SERVED: dict[str, int | None] = dict.fromkeys(names("valid"), 200)
SERVED.update({
    "valid_unknown_method": 501,
    "valid_unusual_method_characters": 501,
    "valid_unknown_request_uri_scheme": 416,
    "valid_unusual_reason_phrase": None,
    "valid_empty_reason_phrase": None,
})
#: Valid REGISTERs, and the address of record each must leave bound.
REGISTERS = {
    "valid_register_odd_spacing": f"sip:alice@{LOOPBACK}",
    "valid_escaped_uris": f"sip:alice@{LOOPBACK}",
}
#: Invalid messages the server does not answer (not a request, or an ACK).
DROPPED = {"invalid_response_overlarge_status", "invalid_ack_missing_call_id",
           "invalid_start_line_garbage"}


def run(coroutine: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
    async def bounded() -> T:
        async with asyncio.timeout(timeout):
            return await coroutine

    return asyncio.run(bounded())


class RawUdp:
    """A plain UDP socket on loopback: sends bytes as they are, reads whole datagrams."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((LOOPBACK, 0))
        self.sock.setblocking(False)
        self.port: int = self.sock.getsockname()[1]

    async def send(self, data: bytes, to: Peer) -> None:
        await asyncio.get_running_loop().sock_sendto(self.sock, data, (to.host, to.port))

    async def receive(self, timeout: float = 2.0) -> Response | None:
        try:
            async with asyncio.timeout(timeout):
                data = await asyncio.get_running_loop().sock_recv(self.sock, 65536)
        except TimeoutError:
            return None
        message = parse_message(data)
        assert isinstance(message, Response)
        return message

    async def answer_to(self, call_id: str, timeout: float = 2.0) -> Response | None:
        """The first response with this Call-ID (earlier answers to other requests skipped)."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    data = await asyncio.get_running_loop().sock_recv(self.sock, 65536)
                    message = parse_message(data)  # what the server sends must parse
                    if isinstance(message, Response) and message.headers.get("Call-ID") == call_id:
                        return message
        except TimeoutError:
            return None

    def drain(self) -> None:
        """Forget every datagram already waiting (answers to earlier requests)."""
        while True:
            try:
                self.sock.recv(65536)
            except BlockingIOError:
                return

    async def request(self, data: bytes, to: Peer, call_id: str) -> Response | None:
        """Send a request and wait for its answer, sending it again as a UAC would
        (Timer E: 0.5, 1, 2 s) in case a busy server or a full buffer lost it."""
        self.drain()
        for wait in (0.5, 1.0, 2.0, 2.0):
            await self.send(data, to)
            answer = await self.answer_to(call_id, timeout=wait)
            if answer is not None:
                return answer
        return None

    def close(self) -> None:
        self.sock.close()


def addresses(server: Peer, client: RawUdp) -> dict[str, str]:
    return {"server": f"{server.host}:{server.port}", "server_host": server.host,
            "client": f"{LOOPBACK}:{client.port}"}


async def still_serving(server: LabServer, client: RawUdp, round_: str) -> None:
    """The server answers an OPTIONS with 200 and binds a REGISTER's contact."""
    udp = server.addresses[0]
    options = await client.request(crlf(f"""
        OPTIONS sip:{udp.host}:{udp.port} SIP/2.0
        Via: SIP/2.0/UDP {LOOPBACK}:{client.port};branch=z9hG4bKalive-o-{round_};rport
        Max-Forwards: 70
        From: <sip:keeper@{LOOPBACK}>;tag=ko{round_}
        To: <sip:{udp.host}:{udp.port}>
        Call-ID: alive-options-{round_}@test
        CSeq: 1 OPTIONS
        Content-Length: 0

    """), udp, f"alive-options-{round_}@test")
    assert options is not None, "no answer to OPTIONS afterwards"
    assert options.status == 200
    register = await client.request(crlf(f"""
        REGISTER sip:{LOOPBACK} SIP/2.0
        Via: SIP/2.0/UDP {LOOPBACK}:{client.port};branch=z9hG4bKalive-r-{round_};rport
        Max-Forwards: 70
        From: <sip:keeper@{LOOPBACK}>;tag=kr{round_}
        To: <sip:keeper@{LOOPBACK}>
        Call-ID: alive-register-{round_}@test
        CSeq: 1 REGISTER
        Contact: <sip:keeper@{LOOPBACK}:{client.port}>
        Expires: 300
        Content-Length: 0

    """), udp, f"alive-register-{round_}@test")
    assert register is not None, "no answer to REGISTER afterwards"
    assert register.status == 200
    now = asyncio.get_running_loop().time()
    assert server.core.location.bindings(f"sip:keeper@{LOOPBACK}", now)


async def send_and_listen(name: str) -> tuple[Response | None, LabServer]:
    """Send message ``name`` to a fresh server; return its answer (None: none came)."""
    server = LabServer(udp=[(LOOPBACK, 0)], open=True, ids=IdSource("torture"))
    await server.start()
    client = RawUdp()
    try:
        udp = server.addresses[0]
        data = load(name, addresses(udp, client))
        assert len(data) <= MAX_UDP_PAYLOAD
        await client.send(data, udp)
        answer = await client.receive(timeout=SILENCE if _silent(name) else 2.0)
        await still_serving(server, client, name)
        return answer, server
    finally:
        client.close()
        await server.stop()


def _silent(name: str) -> bool:
    return name in DROPPED or SERVED.get(name, 0) is None


def test_every_message_has_an_expected_answer() -> None:
    assert set(SERVED) == set(names("valid"))
    assert set(names("invalid")) >= DROPPED


@pytest.mark.parametrize("name", names("valid"))
def test_server_serves_the_valid_message_then_keeps_serving(name: str) -> None:
    async def scenario() -> tuple[Response | None, bool]:
        answer, server = await send_and_listen(name)
        aor = REGISTERS.get(name)
        bound = aor is None or bool(server.core.location.bindings(aor, 0.0))
        return answer, bound

    answer, bound = run(scenario())
    expected = SERVED[name]
    if expected is None:
        assert answer is None, f"{name} ({describe(name)}) was answered {answer!r}"
        return
    assert answer is not None, f"no answer to {name}: {describe(name)}"
    assert answer.status == expected, f"{name}: {answer.status} {answer.reason}"
    assert bound, f"{name}: the REGISTER left no binding for {REGISTERS[name]}"


def invalid_over_udp() -> list[str]:
    return [name for name in names("invalid") if len(load(name)) <= MAX_UDP_PAYLOAD]


@pytest.mark.parametrize("name", invalid_over_udp())
def test_server_refuses_the_invalid_message_with_a_reason_then_keeps_serving(name: str) -> None:
    answer, _ = run(send_and_listen(name))
    if name in DROPPED:
        assert answer is None, f"{name} ({describe(name)}) was answered {answer!r}"
        return
    assert answer is not None, f"no answer to {name}: {describe(name)}"
    expected_status = 505 if name == "invalid_sip_version_7" else 400
    assert answer.status == expected_status
    words = REFUSED[name][1]
    assert re.search(re.escape(words), answer.reason), f"reason {answer.reason!r} lacks {words!r}"
    sent = re.search(rb"\nCall-ID: *([^\r\n]*)", load(name))
    if sent is not None:  # the sender can match the answer to its request (NULs taken out)
        call_id = sent[1].replace(b"\x00", b"").decode("utf-8", "replace")
        assert answer.headers.get("Call-ID") == call_id


def test_message_too_big_for_a_datagram_closes_its_websocket_and_the_server_serves_on() -> None:
    """Over 64 KB cannot travel in one UDP datagram; over WebSocket the frame is over
    the server's message limit, so the connection is closed (RFC 6455 §7.4.1, 1009)."""

    async def scenario() -> int | None:
        server = LabServer(udp=[(LOOPBACK, 0)], ws=[(LOOPBACK, 0)], open=True,
                           ids=IdSource("torture"))
        await server.start()
        client = RawUdp()
        try:
            udp, ws = server.addresses
            data = load("invalid_message_over_64kb", addresses(udp, client))
            assert len(data) > MAX_UDP_PAYLOAD
            code: int | None = None
            async with ws_connect(server.ws_urls[0], subprotocols=[Subprotocol("sip")],
                                  max_size=None) as websocket:
                await websocket.send(data.decode())
                try:
                    async with asyncio.timeout(2.0):
                        await websocket.recv()
                except ConnectionClosed as closed:
                    code = closed.rcvd.code if closed.rcvd is not None else None
            assert ws.port > 0
            await still_serving(server, client, "over64k")
            return code
        finally:
            client.close()
            await server.stop()

    assert run(scenario()) == 1009
