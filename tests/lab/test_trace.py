"""Trace: every SIP message on the wire, and the pcap Wireshark reads back (RFC 3261 §18, RFC 7118).

A :class:`~siplab.lab.trace.Trace` is the transports' ``trace`` hook: it gets
each message a LabServer or UserAgent sends ("out") or receives ("in"). A
message between two traced endpoints is seen at both ends and listed once.
``to_pcap`` writes Ethernet/IP/UDP and TCP frames (a three-way handshake and
consistent sequence numbers for TCP, RFC 9293; an HTTP upgrade and masked
client frames for WebSocket, RFC 6455 §4, §5.3), and the test that matters is
whether tshark decodes every message exactly as the trace recorded it, and
whether :func:`siplab.lab.read_pcap` gives the same messages back.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from siplab.aio.transport import TraceRecord
from siplab.lab import Trace, read_pcap
from siplab.lab.pcap import WireMessage
from siplab.sip.transport import Peer
from tests.aio.phones import lab_server, phone
from tests.helpers import crlf, require_peer
from tests.lab.captures import tshark_sip

SDP = crlf("""
    v=0
    o=- 1 1 IN IP4 127.0.0.1
    s=-
    c=IN IP4 127.0.0.1
    t=0 0
    m=audio 40000 RTP/AVP 0
    a=sendrecv
""")
ALICE = Peer("127.0.0.1", 40100, "udp")
SERVER = Peer("127.0.0.1", 5070, "udp")
CALL_TIMEOUT = 10.0


def options_request(number: int = 1, body: bytes = b"") -> bytes:
    return crlf(f"""
        OPTIONS sip:server@127.0.0.1 SIP/2.0
        Via: SIP/2.0/UDP 127.0.0.1:40100;branch=z9hG4bK-{number}
        From: <sip:alice@127.0.0.1>;tag=a{number}
        To: <sip:server@127.0.0.1>
        Call-ID: trace-{number}@127.0.0.1
        CSeq: {number} OPTIONS
        Max-Forwards: 70
        Content-Type: text/plain
        Content-Length: {len(body)}

    """) + body


def record(direction: str, data: bytes, time: float, local: Peer = ALICE,
           remote: Peer = SERVER, transport: str = "udp") -> TraceRecord:
    return TraceRecord(time, direction, transport, local, remote,  # type: ignore[arg-type]
                       data)


class TestOneListingPerMessage:
    """What the two ends saw becomes what the wire carried, once."""

    def test_message_seen_at_both_ends_is_listed_once_at_its_send_time(self) -> None:
        trace = Trace()
        data = options_request()
        trace(record("out", data, 10.0))
        trace(record("in", data, 10.5, local=SERVER, remote=ALICE))
        [message] = trace.messages
        assert (message.time, message.src, message.dst) == (10.0, ALICE, SERVER)
        assert message.label == "OPTIONS"
        assert message.data == data

    def test_datagram_sent_and_never_received_stays_on_the_wire(self) -> None:
        trace = Trace()
        trace(record("out", options_request(), 1.0))
        assert [m.label for m in trace.messages] == ["OPTIONS"]

    def test_retransmission_is_listed_each_time_it_was_sent(self) -> None:
        trace = Trace()
        data = options_request()
        for time in (1.0, 1.5):  # Timer E fired once: the same bytes twice (§17.1.2.2)
            trace(record("out", data, time))
            trace(record("in", data, time + 0.01, local=SERVER, remote=ALICE))
        assert [m.time for m in trace.messages] == [1.0, 1.5]

    def test_message_received_from_an_untraced_peer_is_listed(self) -> None:
        trace = Trace()
        trace(record("in", options_request(), 2.0, local=SERVER, remote=ALICE))
        [message] = trace.messages
        assert (message.src, message.dst) == (ALICE, SERVER)

    def test_keepalives_and_garbage_are_records_but_not_messages(self) -> None:
        trace = Trace()
        trace(record("in", b"\r\n\r\n", 1.0, transport="tcp"))
        trace(record("in", b"hello", 2.0))
        assert len(trace.records) == 2
        assert trace.messages == []

    def test_rtp_is_kept_only_when_asked_for(self) -> None:
        rtp = bytes([0x80, 0]) + bytes(10)
        without, with_rtp = Trace(), Trace(rtp=True)
        for trace in (without, with_rtp):
            trace(record("out", rtp, 1.0, transport="rtp"))
        assert without.records == []
        assert without.media == []
        [packet] = with_rtp.media
        assert (packet.kind, packet.src.transport) == ("rtp", "udp")

    def test_messages_are_in_time_order(self) -> None:
        trace = Trace()
        trace(record("out", options_request(2), 2.0))
        trace(record("out", options_request(1), 1.0))
        assert [m.message.call_id for m in trace.messages] == ["trace-1@127.0.0.1",
                                                              "trace-2@127.0.0.1"]


# -- a traced call, written to a pcap and read by tshark ---------------------------------


@dataclass
class TracedCall:
    transport: str
    trace: Trace
    pcap: Path
    server_ports: dict[str, int]


async def traced_call(transport: str, pcap: Path, *, attach_late: bool = False) -> TracedCall:
    """alice calls bob through a LabServer over ``transport``; everything traced."""
    trace = Trace()
    options = {} if attach_late else {"trace": trace}
    async with AsyncExitStack() as stack:
        server = await stack.enter_async_context(lab_server(**options))
        alice = await stack.enter_async_context(
            phone(server, "alice", transport, media=False, **options))
        bob = await stack.enter_async_context(
            phone(server, "bob", transport, media=False, **options))
        if attach_late:
            trace.attach(server, alice, bob)
        await alice.register(timeout=2)
        await bob.register(timeout=2)
        call = await alice.call("bob", body=SDP)
        invitation = await bob.next_invitation(timeout=2)
        await invitation.progress(180)
        await invitation.accept(SDP)
        await call.established(timeout=2)
        await call.bye(timeout=2)
        await invitation.terminated(timeout=2)
        ports = {p.transport: p.port for p in server.addresses}
    trace.to_pcap(pcap)
    return TracedCall(transport, trace, pcap, ports)


def run_call(transport: str, pcap: Path, **options: bool) -> TracedCall:
    async def bounded() -> TracedCall:
        async with asyncio.timeout(CALL_TIMEOUT):
            return await traced_call(transport, pcap, **options)

    return asyncio.run(bounded())


@pytest.fixture(scope="module", params=["udp", "tcp", "ws"])
def call(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> TracedCall:
    transport = request.param
    return run_call(transport, tmp_path_factory.mktemp("trace") / f"call-{transport}.pcap")


def endpoints(message: WireMessage) -> tuple[tuple[str, int], tuple[str, int]]:
    return (message.src.host, message.src.port), (message.dst.host, message.dst.port)


class TestTracedCall:
    """alice and bob register (401, then 200) and talk through the LabServer (§10, §13-16)."""

    def test_trace_has_the_whole_ladder_once(self, call: TracedCall) -> None:
        labels = [m.label for m in call.trace.messages]
        assert labels.count("REGISTER") == 8  # 2 phones x (401 round + 200), in and out again
        for method in ("INVITE", "ACK", "BYE"):
            assert labels.count(method) == 2, labels  # alice -> server -> bob
        assert labels.count("180 Ringing") == 2
        assert len(call.trace.records) == 2 * len(call.trace.messages)  # both ends traced
        assert {m.transport for m in call.trace.messages} == {call.transport}

    def test_tshark_decodes_every_message_as_siplab_recorded_it(self, call: TracedCall) -> None:
        require_peer("tshark", "tshark")
        theirs = [(m.label, m.call_id, m.src, m.dst) for m in tshark_sip(call.pcap)]
        ours = [(m.label, m.call_id, *endpoints(m)) for m in call.trace.messages]
        assert theirs == ours

    def test_read_pcap_gives_back_the_traced_messages(self, call: TracedCall) -> None:
        capture = read_pcap(call.pcap)
        theirs = [(m.data, m.src, m.dst) for m in capture.sip_messages]
        assert theirs == [(m.data, m.src, m.dst) for m in call.trace.messages]
        for read, traced in zip(capture.sip_messages, call.trace.messages, strict=True):
            assert read.time == pytest.approx(traced.time, abs=1e-5)  # segments 1 us apart

    def test_stream_transports_open_with_a_handshake(self, call: TracedCall) -> None:
        capture = read_pcap(call.pcap)
        first = capture.packets[:5]
        if call.transport == "udp":  # no connection: the first datagram is a REGISTER
            assert first[0].payload.startswith(b"REGISTER ")
            return
        assert [p.payload for p in first[:3]] == [b"", b"", b""]  # SYN, SYN-ACK, ACK
        server = call.server_ports[call.transport]
        assert first[0].dst.port == server
        assert first[1].src.port == server
        if call.transport == "ws":
            assert first[3].payload.startswith(b"GET / HTTP/1.1\r\n")
            assert b"Sec-WebSocket-Protocol: sip" in first[3].payload
            assert first[4].payload.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
        else:
            assert first[3].payload.startswith(b"REGISTER ")

    def test_websocket_frames_are_masked_from_the_client_only(self, call: TracedCall) -> None:
        server = call.server_ports[call.transport]
        frames = [p for p in read_pcap(call.pcap).packets
                  if p.payload and p.payload[0] == 0x81]  # FIN + text frame
        if call.transport != "ws":
            assert frames == []  # SIP text starts with a letter, never 0x81
            return
        to_server = [p for p in frames if p.dst.port == server]
        from_server = [p for p in frames if p.src.port == server]
        assert to_server
        assert from_server
        assert all(p.payload[1] & 0x80 for p in to_server)  # RFC 6455 §5.3: client masks
        assert not any(p.payload[1] & 0x80 for p in from_server)  # §5.1: server never does


def test_attach_works_after_the_endpoints_started(tmp_path: Path) -> None:
    call = run_call("udp", tmp_path / "late.pcap", attach_late=True)
    labels = [m.label for m in call.trace.messages]
    assert labels.count("INVITE") == 2
    assert labels.count("BYE") == 2


class TestBigMessages:
    """Messages larger than one Ethernet frame (RFC 3261 §18.1.1 asks for TCP above 1300 bytes)."""

    def test_big_udp_message_goes_as_ip_fragments_and_comes_back_whole(
            self, tmp_path: Path) -> None:
        data = options_request(body=b"x" * 3000)
        trace = Trace()
        trace(record("out", data, 5.0))
        pcap = trace.to_pcap(tmp_path / "fragments.pcap")
        capture = read_pcap(pcap)
        assert capture.frames == 3  # 3028 bytes of UDP in 1480-byte fragments
        assert [m.data for m in capture.sip_messages] == [data]
        require_peer("tshark", "tshark")
        [decoded] = tshark_sip(pcap)
        assert decoded.label == "OPTIONS"
        assert decoded.frame == 3

    def test_big_tcp_message_goes_in_segments_and_comes_back_whole(
            self, tmp_path: Path) -> None:
        data = options_request(body=b"y" * 4000)
        trace = Trace()
        tcp = {"local": ALICE._replace(transport="tcp"), "remote": SERVER._replace(transport="tcp")}
        trace(record("out", data, 5.0, transport="tcp", **tcp))
        pcap = trace.to_pcap(tmp_path / "segments.pcap")
        capture = read_pcap(pcap)
        assert [len(p.payload) for p in capture.packets] == [0, 0, 0, 1460, 1460, len(data) - 2920]
        assert [m.data for m in capture.sip_messages] == [data]
        require_peer("tshark", "tshark")
        [decoded] = tshark_sip(pcap)
        assert decoded.frame == 6  # reassembled in the last segment, as Wireshark reports it
