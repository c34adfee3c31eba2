"""Wireshark reads what siplab writes (RFC 3261 §7, §18, §20, §22; RFC 8866 for the SDP).

siplab builds four messages with :mod:`siplab.sip.build` (an INVITE with an
SDP offer, the 180 Ringing that answers it, a REGISTER carrying digest
credentials, a MESSAGE with a UTF-8 text body), sends them between two
:class:`~siplab.aio.transport.TransportManager` sockets on 127.0.0.1, and a
real ``tshark`` captures them on the loopback interface. The capture is then
decoded by tshark, and every message must come out as siplab meant it: the
method or status, Request-URI, Call-ID, CSeq, tags, Via branch, Contact, the
SDP media line and the body, with no malformed packet and no warning in
tshark's expert info. tshark also checks the digest ``response`` against the
password (``sip.validate_authorization``): it must accept the right password
and flag a wrong one.

One more message goes over TCP, written in two pieces, so tshark has to
reassemble it from two segments (§18.3: only Content-Length says where a
message ends on a stream).

The ports are free ones the kernel picked, so tshark is told to decode them as
SIP (``-d udp.port==N,sip``); 5060 would be decoded by default but might be
taken on a shared machine, and some ports are claimed by other dissectors
(5072 is AYIYA, see FACTS.md). The capture filter matches exactly the packets
the test sends (plus the TCP handshake) and ``-c`` stops tshark once all of
them are in, so no wait depends on timing; ``-a duration`` and the process
timeouts bound everything else, and tshark is killed in a ``finally``.
Capturing on ``lo`` needs root or CAP_NET_RAW: without it the test skips
locally and fails in CI.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from siplab.aio.transport import TransportManager
from siplab.ids import BRANCH_MAGIC_COOKIE, IdSource
from siplab.sip.auth import compute_response
from siplab.sip.build import build_request, build_response
from siplab.sip.message import Message, Request, Response
from siplab.sip.transport import Peer
from tests.helpers import crlf, require_peer

pytestmark = pytest.mark.interop

LOOPBACK = "127.0.0.1"
START_TIMEOUT = 15.0  # seconds for tshark to say "Capture started"
CAPTURE_LIMIT = 20  # seconds: tshark's own -a duration bound
WAIT = 5.0  # seconds for any one message to arrive

# The digest credentials of the REGISTER (RFC 3261 §22.4, RFC 7616 §3.4).
USERNAME, REALM, PASSWORD = "alice", "example.com", "wonderland"
NONCE, CNONCE = "84f1c1ae6cbe5ua9b5c2c3c85e2c5c4e", "0a4f113b"

SDP_OFFER = crlf("""
    v=0
    o=alice 2890844526 2890844526 IN IP4 127.0.0.1
    s=siplab
    c=IN IP4 127.0.0.1
    t=0 0
    m=audio 49170 RTP/AVP 0 8 101
    a=rtpmap:0 PCMU/8000
    a=rtpmap:8 PCMA/8000
    a=rtpmap:101 telephone-event/8000
    a=fmtp:101 0-15
    a=sendrecv
""")

TEXT = "Hello, Bob! Ünïcödé ✓"


# -- the messages ----------------------------------------------------------------------------


def build_messages(alice: Peer, bob: Peer) -> list[Message]:
    """INVITE (with SDP), 180 Ringing, REGISTER (with Authorization), MESSAGE (text)."""
    ids = IdSource("tshark")
    invite = build_request(
        "INVITE", "sip:bob@example.com",
        from_='"Alice" <sip:alice@example.com>', to="<sip:bob@example.com>",
        via_host=alice.host, via_port=alice.port, ids=ids,
        contact=f"<sip:alice@{alice.host}:{alice.port}>",
        body=SDP_OFFER, content_type="application/sdp", user_agent="siplab",
    )
    ringing = build_response(invite, 180, to_tag=ids.tag(),
                             headers=[("Contact", f"<sip:bob@{bob.host}:{bob.port}>")])
    uri = "sip:example.com"
    digest = compute_response(algorithm="MD5", username=USERNAME, realm=REALM,
                              password=PASSWORD, method="REGISTER", uri=uri, nonce=NONCE,
                              qop="auth", nc=1, cnonce=CNONCE)
    authorization = (f'Digest username="{USERNAME}", realm="{REALM}", nonce="{NONCE}", '
                     f'uri="{uri}", response="{digest}", algorithm=MD5, cnonce="{CNONCE}", '
                     f"qop=auth, nc=00000001")
    register = build_request(
        "REGISTER", uri, from_="<sip:alice@example.com>", to="<sip:alice@example.com>",
        via_host=alice.host, via_port=alice.port, ids=ids, cseq=2,
        contact=f"<sip:alice@{alice.host}:{alice.port}>;expires=3600",
        headers=[("Authorization", authorization), ("Expires", "3600")],
    )
    message = build_request(
        "MESSAGE", "sip:bob@example.com",
        from_="<sip:alice@example.com>", to="<sip:bob@example.com>",
        via_host=alice.host, via_port=alice.port, ids=ids,
        body=TEXT.encode("utf-8"), content_type="text/plain;charset=utf-8",
    )
    return [invite, ringing, register, message]


def build_tcp_message(alice: Peer) -> Request:
    """An OPTIONS with a body long enough to be worth cutting in two (over TCP)."""
    return build_request(
        "OPTIONS", "sip:bob@example.com",
        from_="<sip:alice@example.com>", to="<sip:bob@example.com>",
        via_host=alice.host, via_port=alice.port, transport="TCP", ids=IdSource("tcp"),
        contact=f"<sip:alice@{alice.host}:{alice.port};transport=tcp>",
        body=SDP_OFFER, content_type="application/sdp",
    )


# -- capturing -------------------------------------------------------------------------------


@dataclass
class Capture:
    pcap: Path
    udp_port: int  # bob's UDP port: every UDP message goes to or from it
    tcp_port: int  # bob's TCP listener
    udp_messages: list[Message]
    tcp_message: Request
    received: list[tuple[bytes, Peer]]  # what bob's and alice's TransportManagers got


def capture_filter(udp_port: int, tcp_port: int) -> str:
    """BPF for exactly what the test sends: the UDP messages, and on TCP the
    handshake (SYN, SYN-ACK) and the segments that carry data (no bare ACKs, no FIN)."""
    tcp_payload = "(ip[2:2] - ((ip[0] & 0x0f) << 2) - ((tcp[12] & 0xf0) >> 2)) != 0"
    return (f"(udp port {udp_port}) or "
            f"(tcp port {tcp_port} and ((tcp[tcpflags] & tcp-syn) != 0 or {tcp_payload}))")


def cannot_capture(reason: str) -> None:
    message = f"tshark cannot capture on lo: {reason}"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


async def _wait_until_capturing(tshark: asyncio.subprocess.Process) -> str:
    """Read tshark's stderr until the capture runs; return what it said so far.

    tshark prints "Capturing on 'Loopback: lo'" as soon as it *starts* dumpcap,
    before the interface is open: packets sent right then are missed (measured:
    all of them). "Capture started." comes once dumpcap has opened the
    interface with its filter and the output file, so from then on the kernel
    keeps every matching packet for it.
    """
    assert tshark.stderr is not None
    said = ""
    async with asyncio.timeout(START_TIMEOUT):
        while "Capture started" not in said:
            line = await tshark.stderr.readline()
            if not line:  # tshark exited: it could not capture
                await tshark.wait()
                cannot_capture(f"exit status {tshark.returncode}: {said.strip()}")
            said += line.decode("utf-8", "replace")
    return said


async def _receive(queue: asyncio.Queue[tuple[bytes, Peer]]) -> tuple[bytes, Peer]:
    async with asyncio.timeout(WAIT):
        return await queue.get()


async def _send_and_capture(tshark_path: str, pcap: Path) -> Capture:
    inbox: asyncio.Queue[tuple[bytes, Peer]] = asyncio.Queue()
    alice = TransportManager(lambda data, peer: inbox.put_nowait((data, peer)))
    bob = TransportManager(lambda data, peer: inbox.put_nowait((data, peer)))
    tshark: asyncio.subprocess.Process | None = None
    received: list[tuple[bytes, Peer]] = []
    try:
        alice_udp = await alice.listen_udp(LOOPBACK, 0)
        bob_udp = await bob.listen_udp(LOOPBACK, 0)
        bob_tcp = await bob.listen_tcp(LOOPBACK, 0)
        messages = build_messages(alice_udp, bob_udp)
        tcp_message = build_tcp_message(Peer(LOOPBACK, alice_udp.port, "tcp"))
        expected_packets = len(messages) + 2 + 2  # + SYN, SYN-ACK + the two halves
        tshark = await asyncio.create_subprocess_exec(
            tshark_path, "-i", "lo", "-n",
            "-f", capture_filter(bob_udp.port, bob_tcp.port),
            "-c", str(expected_packets), "-a", f"duration:{CAPTURE_LIMIT}",
            "-w", str(pcap),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE)
        said = await _wait_until_capturing(tshark)

        # UDP: alice -> bob, except the 180, which bob sends back to alice.
        for message in messages:
            sender, to = (bob, alice_udp) if isinstance(message, Response) else (alice, bob_udp)
            sender.send(message.to_bytes(), to)
            received.append(await _receive(inbox))

        # TCP: one message in two writes; TCP_NODELAY sends each write at once as its own
        # segment, and bob's StreamFramer must join them (as tshark must).
        data = tcp_message.to_bytes()
        _, writer = await asyncio.open_connection(LOOPBACK, bob_tcp.port)
        try:
            writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            half = len(data) // 2
            writer.write(data[:half])
            await writer.drain()
            writer.write(data[half:])
            await writer.drain()
            received.append(await _receive(inbox))
        finally:
            writer.close()
            with contextlib.suppress(OSError, TimeoutError):
                async with asyncio.timeout(WAIT):
                    await writer.wait_closed()

        # tshark stops by itself once -c packets are in (or after -a duration).
        assert tshark.stderr is not None
        async with asyncio.timeout(CAPTURE_LIMIT + 10):
            rest = (await tshark.stderr.read()).decode("utf-8", "replace")
            await tshark.wait()
        assert tshark.returncode == 0, f"tshark exited {tshark.returncode}:\n{said}{rest}"
        assert f"{expected_packets} packets captured" in rest, f"{said}{rest}"
    finally:
        if tshark is not None and tshark.returncode is None:
            tshark.kill()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5):
                    await tshark.wait()
        await alice.close()
        await bob.close()
    return Capture(pcap, bob_udp.port, bob_tcp.port, messages, tcp_message, received)


# -- decoding --------------------------------------------------------------------------------


def decode(capture: Capture, password: str = PASSWORD) -> list[dict[str, Any]]:
    """tshark's reading of the SIP packets of the capture: one JSON tree per packet."""
    tshark = require_peer("tshark", "tshark")
    command = [
        tshark, "-r", str(capture.pcap), "-n",
        "-d", f"udp.port=={capture.udp_port},sip", "-d", f"tcp.port=={capture.tcp_port},sip",
        "-o", "sip.validate_authorization:TRUE",
        "-o", f'uat:authorization_users_sip:"{USERNAME}","{REALM}","{password}"',
        "-Y", "sip", "-T", "json", "--no-duplicate-keys",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stderr
    return [packet["_source"]["layers"] for packet in json.loads(result.stdout)]


def values(tree: Any, field: str) -> list[str]:
    """Every value of ``field`` anywhere in a packet's JSON tree (lists flattened)."""

    def walk(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == field:
                    yield from (value if isinstance(value, list) else [value])
                yield from walk(value)
        elif isinstance(node, list):
            for item in node:
                yield from walk(item)

    return [v if isinstance(v, str) else json.dumps(v) for v in walk(tree)]


def one(tree: Any, field: str) -> str:
    found = values(tree, field)
    assert len(found) == 1, f"{field}: expected one value, tshark gave {found}"
    return found[0]


def one_dict(tree: Any, field: str) -> dict[str, Any]:
    found = list(walk_dicts(tree, field))
    assert len(found) == 1, f"{field}: expected one subtree, tshark gave {found}"
    return found[0]


def walk_dicts(tree: Any, field: str) -> Iterator[dict[str, Any]]:
    if isinstance(tree, dict):
        for key, value in tree.items():
            if key == field and isinstance(value, dict):
                yield value
            yield from walk_dicts(value, field)
    elif isinstance(tree, list):
        for item in tree:
            yield from walk_dicts(item, field)


def keys(tree: Any) -> Iterator[str]:
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield key
            yield from keys(value)
    elif isinstance(tree, list):
        for item in tree:
            yield from keys(item)


def check_decoded_as_built(packet: dict[str, Any], message: Message) -> None:
    """tshark's fields equal the ones siplab put in ``message``."""
    if isinstance(message, Request):
        assert one(packet, "sip.Method") == message.method
        assert one(packet, "sip.r-uri") == message.uri_text
        assert values(packet, "sip.Status-Code") == []
    else:
        assert one(packet, "sip.Status-Code") == str(message.status)
        assert values(packet, "sip.Method") == []
    assert one(packet, "sip.Call-ID") == message.call_id
    assert one(packet, "sip.CSeq.seq") == str(message.cseq.number)
    assert one(packet, "sip.CSeq.method") == message.cseq.method
    assert one(packet, "sip.from.tag") == message.from_tag
    assert values(packet, "sip.to.tag") == ([message.to_tag] if message.to_tag else [])
    branches = values(packet, "sip.Via.branch")
    assert branches == [via.branch for via in message.via]
    assert all(branch.startswith(BRANCH_MAGIC_COOKIE) for branch in branches)
    assert values(packet, "sip.contact.uri") == [str(c.uri) for c in message.contact]
    assert values(packet, "sip.Content-Length") == [str(len(message.body))]
    # Everything after the start line, exactly as siplab wrote it (headers and body).
    after_start_line = message.to_bytes().split(b"\r\n", 1)[1].decode("utf-8")
    assert one(packet, "sip.msg_hdr") == after_start_line
    # No malformed packet, no expert item above "note" (a warning or an error).
    assert "_ws.malformed" not in set(keys(packet))
    severities = [int(s) for s in values(packet, "_ws.expert.severity")]
    assert all(s < 0x00600000 for s in severities), values(packet, "_ws.expert.message")


# -- the test --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Capture:
    tshark = require_peer("tshark", "tshark")
    pcap = tmp_path_factory.mktemp("tshark") / "siplab.pcapng"
    return asyncio.run(_send_and_capture(tshark, pcap))


def test_siplab_messages_arrive_whole_over_udp_and_tcp(capture: Capture) -> None:
    """The sockets delivered every message intact (bob's TCP framer joined the two halves)."""
    sent = [m.to_bytes() for m in capture.udp_messages] + [capture.tcp_message.to_bytes()]
    assert [data for data, _ in capture.received] == sent
    assert [peer.transport for _, peer in capture.received] == ["udp"] * 4 + ["tcp"]


def test_tshark_decodes_each_udp_message_as_siplab_built_it(capture: Capture) -> None:
    packets = [p for p in decode(capture) if values(p, "udp.srcport")]
    assert len(packets) == len(capture.udp_messages)
    for packet, message in zip(packets, capture.udp_messages, strict=True):
        check_decoded_as_built(packet, message)
    invite, ringing, register, message = packets
    # The SDP offer of the INVITE (RFC 8866 §5.7, §5.14).
    assert one(invite, "sdp.media") == "audio 49170 RTP/AVP 0 8 101"
    assert one(invite, "sdp.connection_info") == "IN IP4 127.0.0.1"
    assert one(invite, "sip.Content-Type") == "application/sdp"
    # Bob sent the 180 from his own port, back to alice.
    assert one(ringing, "udp.srcport") == str(capture.udp_port)
    # The digest credentials (RFC 3261 §22.4), which tshark verified with the password.
    assert one(register, "sip.auth.username") == f'"{USERNAME}"'
    assert one(register, "sip.auth.realm") == f'"{REALM}"'
    assert one(register, "sip.auth.nonce") == f'"{NONCE}"'
    assert one(register, "sip.auth.qop") == "auth"
    assert one(register, "sip.auth.nc") == "00000001"
    assert one(register, "sip.Expires") == "3600"
    # The MESSAGE's UTF-8 text, as tshark shows the line-based body.
    assert one(message, "sip.Content-Type") == "text/plain;charset=utf-8"
    assert list(one_dict(message, "data-text-lines")) == [TEXT]


def test_tshark_rejects_the_digest_with_a_wrong_password(capture: Capture) -> None:
    """The check above is live: with another password tshark flags the REGISTER."""
    register = next(p for p in decode(capture, password="not-" + PASSWORD)
                    if values(p, "sip.Method") == ["REGISTER"])
    assert any("digest does not match" in m for m in values(register, "_ws.expert.message"))


def test_tshark_reassembles_the_tcp_message_from_two_segments(capture: Capture) -> None:
    packets = [p for p in decode(capture) if values(p, "tcp.srcport")]
    assert len(packets) == 1, "the two TCP segments must make one SIP message"
    (packet,) = packets
    assert one(packet, "tcp.segment.count") == "2"
    assert one(packet, "tcp.reassembled.length") == str(len(capture.tcp_message.to_bytes()))
    check_decoded_as_built(packet, capture.tcp_message)
    assert one(packet, "sip.Via.transport") == "TCP"
    assert one(packet, "sdp.media") == "audio 49170 RTP/AVP 0 8 101"
