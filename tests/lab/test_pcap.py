"""read_pcap: frames back into SIP messages and RTP (pcap, pcapng; RFC 791, 8200, 768, 9293, 6455).

Synthetic captures first, each frame built layer by layer with scapy, so
every case can be made on purpose: the two file formats in both byte orders
and time resolutions, each link layer tshark writes (Ethernet, VLAN, Linux
cooked v1 and v2, raw IP, BSD loopback), IPv6 and IPv4 fragments, TCP
segments that carry two messages or a third of one, out of order or
retransmitted, WebSocket frames masked and fragmented (RFC 6455 §5), RTP
found from the SDP and by heuristics, and every way a file can be broken.

Then captures tshark wrote itself, on lo (Ethernet) and on ``any`` (Linux
cooked v1 and v2), while siplab phones called each other over UDP, TCP and
WebSocket, and while a client wrote TCP segments cut on purpose: read_pcap
must list the same SIP messages, frames and endpoints as tshark does.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import subprocess
from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
from scapy.layers.inet import IP, TCP, UDP, fragment
from scapy.layers.inet6 import IPv6, IPv6ExtHdrHopByHop
from scapy.layers.l2 import CookedLinux, CookedLinuxV2, Dot1Q, Ether
from scapy.packet import Packet as ScapyPacket
from scapy.packet import Raw

from siplab.errors import SipError
from siplab.lab import PcapError, read_pcap
from siplab.lab.pcapfile import (
    LINKTYPE_ETHERNET,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    LINKTYPE_NULL,
    LINKTYPE_RAW,
    write_pcap,
)
from siplab.lab.pcapwrite import websocket_frame
from siplab.sip.transport import Peer
from tests.aio.phones import lab_server, phone
from tests.helpers import crlf, require_peer
from tests.lab.captures import LiveCapture, tshark_sip

A, B = "10.0.0.1", "10.0.0.2"
T0 = 1_700_000_000.0


def sip(method: str = "OPTIONS", number: int = 1, body: bytes = b"",
        content_type: str = "text/plain") -> bytes:
    return crlf(f"""
        {method} sip:bob@10.0.0.2 SIP/2.0
        Via: SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bK-{number}
        From: <sip:alice@10.0.0.1>;tag=a{number}
        To: <sip:bob@10.0.0.2>
        Call-ID: pcap-{number}@10.0.0.1
        CSeq: {number} {method}
        Max-Forwards: 70
        Content-Type: {content_type}
        Content-Length: {len(body)}

    """) + body


def offer(host: str, port: int, formats: str = "0 101",
          extra: str = "a=rtpmap:101 telephone-event/8000") -> bytes:
    return sip("INVITE", 7, crlf(f"""
        v=0
        o=- 1 1 IN IP4 {host}
        s=-
        c=IN IP4 {host}
        t=0 0
        m=audio {port} RTP/AVP {formats}
        {extra}
    """), "application/sdp")


def rtp(seq: int, timestamp: int, ssrc: int = 0x1234, pt: int = 0, size: int = 160) -> bytes:
    return struct.pack("!BBHII", 0x80, pt, seq, timestamp, ssrc) + bytes(size)


def udp(payload: bytes, sport: int = 5062, dport: int = 5060, src: str = A,
        dst: str = B) -> ScapyPacket:
    return IP(src=src, dst=dst) / UDP(sport=sport, dport=dport) / Raw(load=payload)


def ether(packet: ScapyPacket) -> bytes:
    return bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / packet)


def write(path: Path, packets: list[ScapyPacket | bytes], *, link: int = LINKTYPE_ETHERNET,
          frame: Callable[[ScapyPacket], bytes] = ether) -> Path:
    frames = [(T0 + i * 0.02, p if isinstance(p, bytes) else frame(p))
              for i, p in enumerate(packets)]
    write_pcap(path, frames, link_type=link)
    return path


def pcapng(path: Path, interfaces: list[tuple[int, int]], packets: list[tuple[int, int, bytes]],
           order: str = "<") -> Path:
    """A pcapng file: ``interfaces`` (link type, if_tsresol), ``packets`` (interface, ts, frame)."""

    def block(kind: int, body: bytes) -> bytes:
        body += bytes(-len(body) % 4)
        length = len(body) + 12
        return struct.pack(order + "II", kind, length) + body + struct.pack(order + "I", length)

    data = block(0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1))
    for link, resolution in interfaces:
        option = struct.pack(order + "HHB3x", 9, 1, resolution) + struct.pack(order + "HH", 0, 0)
        data += block(1, struct.pack(order + "HHI", link, 0, 262144) + option)
    for interface, stamp, frame in packets:
        data += block(6, struct.pack(order + "IIIII", interface, stamp >> 32, stamp & 0xFFFFFFFF,
                                     len(frame), len(frame)) + frame)
    path.write_bytes(data)
    return path


# -- file formats ------------------------------------------------------------------------


class TestFileFormats:
    def test_pcap_in_microseconds_gives_messages_times_and_endpoints(self, tmp_path: Path) -> None:
        capture = read_pcap(write(tmp_path / "a.pcap", [udp(sip(number=1)), udp(sip(number=2))]))
        assert capture.frames == 2
        assert [m.message.call_id for m in capture.sip_messages] == ["pcap-1@10.0.0.1",
                                                                    "pcap-2@10.0.0.1"]
        first = capture.sip_messages[0]
        assert (first.src, first.dst, first.frame) == (Peer(A, 5062), Peer(B, 5060), 1)
        assert first.time == pytest.approx(T0)
        assert capture.start_time == pytest.approx(T0)
        assert capture.sip_messages[1].time == pytest.approx(T0 + 0.02)

    @pytest.mark.parametrize(("magic", "order"), [(0xA1B23C4D, "<"), (0xA1B2C3D4, ">")])
    def test_pcap_in_nanoseconds_or_big_endian(self, tmp_path: Path, magic: int,
                                               order: str) -> None:
        frame = ether(udp(sip()))
        units = 1_000_000_000 if magic == 0xA1B23C4D else 1_000_000
        data = struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, 65535, 1)
        data += struct.pack(order + "IIII", 1_700_000_000, units // 4, len(frame), len(frame))
        path = tmp_path / "b.pcap"
        path.write_bytes(data + frame)
        [message] = read_pcap(path).sip_messages
        assert message.time == pytest.approx(1_700_000_000.25)

    @pytest.mark.parametrize("order", ["<", ">"])
    def test_pcapng_with_two_interfaces_and_their_own_link_types(self, tmp_path: Path,
                                                                 order: str) -> None:
        ethernet = ether(udp(sip(number=1)))
        cooked = bytes(CookedLinuxV2(proto=0x0800) / udp(sip(number=2)))
        stamp = 1_700_000_000 * 10**9 + 123_456_789  # nanoseconds: if_tsresol 9
        path = pcapng(tmp_path / "c.pcapng", [(LINKTYPE_ETHERNET, 6), (LINKTYPE_LINUX_SLL2, 9)],
                      [(0, stamp // 1000, ethernet), (1, stamp + 1000, cooked)], order)
        capture = read_pcap(path)
        assert [m.frame for m in capture.sip_messages] == [1, 2]
        assert capture.sip_messages[0].time == pytest.approx(1_700_000_000.123456)
        assert capture.sip_messages[1].time == pytest.approx(1_700_000_000.123457789)


# -- link and network layers --------------------------------------------------------------


LINKS: dict[str, tuple[int, Callable[[ScapyPacket], bytes]]] = {
    "ethernet": (LINKTYPE_ETHERNET, ether),
    "vlan": (LINKTYPE_ETHERNET, lambda p: bytes(Ether() / Dot1Q(vlan=7) / p)),
    "linux-cooked-v1": (LINKTYPE_LINUX_SLL, lambda p: bytes(CookedLinux(proto=0x0800) / p)),
    "linux-cooked-v2": (LINKTYPE_LINUX_SLL2, lambda p: bytes(CookedLinuxV2(proto=0x0800) / p)),
    "raw-ip": (LINKTYPE_RAW, bytes),
    "bsd-loopback": (LINKTYPE_NULL, lambda p: struct.pack("<I", 2) + bytes(p)),
}


class TestLinkAndNetworkLayers:
    @pytest.mark.parametrize("link", LINKS)
    def test_every_link_layer_gives_the_same_message(self, tmp_path: Path, link: str) -> None:
        link_type, frame = LINKS[link]
        capture = read_pcap(write(tmp_path / "l.pcap", [udp(sip())], link=link_type, frame=frame))
        [message] = capture.sip_messages
        assert (message.src, message.dst, message.label) == (Peer(A, 5062), Peer(B, 5060),
                                                             "OPTIONS")

    def test_ipv6_with_an_extension_header(self, tmp_path: Path) -> None:
        packet = IPv6(src="2001:db8::1", dst="2001:db8::2") / IPv6ExtHdrHopByHop() / \
            UDP(sport=5062, dport=5060) / Raw(load=sip())
        [message] = read_pcap(write(tmp_path / "v6.pcap", [packet])).sip_messages
        assert (message.src, message.dst) == (Peer("2001:db8::1", 5062), Peer("2001:db8::2", 5060))

    def test_ipv4_fragments_out_of_order_are_put_back_together(self, tmp_path: Path) -> None:
        data = sip(body=b"z" * 2500)
        pieces = fragment(udp(data), fragsize=1000)
        assert len(pieces) == 3
        capture = read_pcap(write(tmp_path / "frag.pcap", [pieces[2], pieces[0], pieces[1]]))
        [message] = capture.sip_messages
        assert (message.data, message.frame) == (data, 3)

    def test_ethernet_padding_is_not_payload(self, tmp_path: Path) -> None:
        tiny = rtp(1, 0, size=2)  # 14-byte RTP: the frame is padded to 60 bytes
        capture = read_pcap(write(tmp_path / "pad.pcap", [udp(tiny, 40000, 40002)]))
        assert [p.data for p in capture.rtp_packets] == [tiny]


# -- TCP ---------------------------------------------------------------------------------


def segments(pieces: list[tuple[int, bytes]], isn: int = 1000, syn: bool = True,
             sport: int = 40500, dport: int = 5060) -> list[ScapyPacket]:
    """TCP segments from A to B: ``pieces`` are (offset in the stream, data)."""
    base = IP(src=A, dst=B)
    out = [base / TCP(sport=sport, dport=dport, flags="S", seq=isn)] if syn else []
    for offset, data in pieces:
        out.append(base / TCP(sport=sport, dport=dport, flags="PA", seq=isn + 1 + offset, ack=1)
                   / Raw(load=data))
    return out


class TestTcpReassembly:
    """§18.3: over TCP only Content-Length says where a message ends."""

    def test_two_messages_in_one_segment(self, tmp_path: Path) -> None:
        both = sip(number=1) + sip(number=2)
        capture = read_pcap(write(tmp_path / "two.pcap", segments([(0, both)])))
        assert [(m.label, m.frame) for m in capture.sip_messages] == [("OPTIONS", 2)] * 2
        assert capture.sip_messages[0].src == Peer(A, 40500, "tcp")

    def test_one_message_in_three_segments_completes_in_the_last(self, tmp_path: Path) -> None:
        data = sip(body=b"b" * 300)
        third = len(data) // 3
        cut = [(0, data[:third]), (third, data[third:2 * third]), (2 * third, data[2 * third:])]
        [message] = read_pcap(write(tmp_path / "three.pcap", segments(cut))).sip_messages
        assert (message.data, message.frame) == (data, 4)

    def test_segments_out_of_order_wait_for_the_gap(self, tmp_path: Path) -> None:
        data = sip(body=b"c" * 200)
        half = len(data) // 2
        cut = [(half, data[half:]), (0, data[:half])]  # the second half first
        [message] = read_pcap(write(tmp_path / "ooo.pcap", segments(cut))).sip_messages
        assert (message.data, message.frame) == (data, 3)

    def test_retransmissions_are_read_once_even_with_new_bytes(self, tmp_path: Path) -> None:
        one, two = sip(number=1), sip(number=2)
        cut = [(0, one), (0, one), (0, one + two[:50]), (len(one), two)]
        capture = read_pcap(write(tmp_path / "again.pcap", segments(cut)))
        assert [m.data for m in capture.sip_messages] == [one, two]

    def test_capture_starting_mid_message_skips_to_the_next_start_line(
            self, tmp_path: Path) -> None:
        one, two = sip(number=1), sip(number=2)
        cut = [(0, one[40:]), (len(one) - 40, b"\r\n\r\n" + two)]  # tail, keep-alive, message
        capture = read_pcap(write(tmp_path / "mid.pcap", segments(cut, syn=False)))
        assert [m.data for m in capture.sip_messages] == [two]


class TestWebSocket:
    """RFC 6455 §5 frames after the HTTP upgrade (§4), one SIP message per message (RFC 7118)."""

    UPGRADE = (b"GET / HTTP/1.1\r\nHost: 10.0.0.2\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
               b"Sec-WebSocket-Protocol: sip\r\n\r\n")
    SWITCH = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
              b"Sec-WebSocket-Protocol: sip\r\n\r\n")

    def connection(self, client: list[bytes], server: list[bytes]) -> list[ScapyPacket]:
        out: list[ScapyPacket] = []
        seq = {"c": 1001, "s": 5001}
        for side, chunks in (("c", [self.UPGRADE]), ("s", [self.SWITCH]), ("c", client),
                             ("s", server)):
            for chunk in chunks:
                ports = (40600, 8080) if side == "c" else (8080, 40600)
                hosts = (A, B) if side == "c" else (B, A)
                out.append(IP(src=hosts[0], dst=hosts[1]) /
                           TCP(sport=ports[0], dport=ports[1], flags="PA", seq=seq[side]) /
                           Raw(load=chunk))
                seq[side] += len(chunk)
        return out

    def test_masked_client_frames_and_plain_server_frames(self, tmp_path: Path) -> None:
        request, answer = sip(number=1), sip(number=2)
        packets = self.connection([websocket_frame(request, b"\x01\x02\x03\x04")],
                                  [websocket_frame(answer)])
        capture = read_pcap(write(tmp_path / "ws.pcap", packets))
        assert [(m.data, m.src) for m in capture.sip_messages] == [
            (request, Peer(A, 40600, "ws")), (answer, Peer(B, 8080, "ws"))]

    def test_fragmented_message_and_frames_cut_across_segments(self, tmp_path: Path) -> None:
        data = sip(body=b"d" * 400)
        mask = b"\xaa\xbb\xcc\xdd"
        first = websocket_frame(data[:100], mask)
        first = bytes([first[0] & 0x7F]) + first[1:]  # FIN clear: more to come
        rest = websocket_frame(data[100:], mask)
        rest = bytes([0x80]) + rest[1:]  # opcode 0: continuation, FIN set
        stream = first + rest + websocket_frame(sip(number=3), mask)
        cuts = [stream[:50], stream[50:300], stream[300:]]
        capture = read_pcap(write(tmp_path / "frag-ws.pcap", self.connection(cuts, [])))
        assert [m.data for m in capture.sip_messages] == [data, sip(number=3)]


# -- RTP and RTCP --------------------------------------------------------------------------


class TestFindingRtp:
    """RTP from the SDP's c=/m= (RFC 3264, 8866), else Wireshark's heuristic (v2, RFC 5761 §4)."""

    def test_sdp_makes_an_odd_port_rtp_and_the_next_one_rtcp(self, tmp_path: Path) -> None:
        rtcp = struct.pack("!BBHI", 0x81, 201, 1, 0x1234) + bytes(4)  # an RR
        packets = [udp(offer(A, 40001)), udp(rtp(1, 0), 40001, 30000),
                   udp(rtcp, 40002, 30001), udp(rtp(2, 160), 40001, 30000)]
        capture = read_pcap(write(tmp_path / "sdp.pcap", packets))
        assert [p.frame for p in capture.rtp_packets] == [2, 4]
        assert [p.frame for p in capture.rtcp_packets] == [3]
        [stream] = capture.streams
        assert (stream.src, stream.dst, stream.ssrc) == (Peer(A, 40001), Peer(B, 30000), 0x1234)

    def heuristic_capture(self, path: Path) -> Path:
        stun = b"\x00\x01\x00\x00" + bytes(16)
        receiver_report = struct.pack("!BBHI", 0x80, 201, 1, 0x5678)
        marked_72 = struct.pack("!BBHII", 0x80, 0x80 | 72, 1, 0, 9) + bytes(161)
        packets = [udp(rtp(1, 0), 40000, 40003),  # RTP to an odd port: RTP all the same
                   udp(stun, 40010, 40020),  # version 0: not RTP
                   udp(rtp(1, 0, ssrc=7), 40031, 40030),  # opens a conversation...
                   udp(rtp(9, 0, ssrc=8), 40030, 40031, B, A),  # ...so the way back is RTP
                   udp(receiver_report, 40040, 40042),  # type 201 to an even port: RTCP
                   udp(marked_72, 40050, 40052)]  # in RTCP's range, not whole words: neither
        return write(path, packets)

    def test_heuristic_takes_version_2_by_its_second_octet_on_any_port(
            self, tmp_path: Path) -> None:
        capture = read_pcap(self.heuristic_capture(tmp_path / "heur.pcap"))
        assert [p.frame for p in capture.rtp_packets] == [1, 3, 4]
        assert [p.frame for p in capture.rtcp_packets] == [5]

    @pytest.mark.interop
    def test_heuristic_decides_as_tshark_does(self, tmp_path: Path) -> None:
        tshark = require_peer("tshark", "tshark")
        path = self.heuristic_capture(tmp_path / "heur.pcap")
        listing = subprocess.run(
            [tshark, "-r", str(path), "-o", "rtp.heuristic_rtp:TRUE",
             "-o", "rtcp.heuristic_rtcp:TRUE", "-T", "fields", "-e", "frame.number",
             "-e", "_ws.col.Protocol"], capture_output=True, text=True, timeout=60, check=True)
        protocols = dict(line.split("\t") for line in listing.stdout.splitlines())
        capture = read_pcap(path)
        assert [p.frame for p in capture.rtp_packets] == [
            int(n) for n, protocol in protocols.items() if protocol == "RTP"]
        assert [p.frame for p in capture.rtcp_packets] == [
            int(n) for n, protocol in protocols.items() if protocol == "RTCP"]

    def test_ports_other_protocols_own_are_not_rtp(self, tmp_path: Path) -> None:
        capture = read_pcap(write(tmp_path / "dns.pcap", [udp(rtp(1, 0), 40000, 53)]))
        assert capture.rtp_packets == []

    def test_rtcp_multiplexed_on_the_rtp_port(self, tmp_path: Path) -> None:
        sender_report = struct.pack("!BBHI", 0x80, 200, 6, 0x1234) + bytes(20)
        packets = [udp(rtp(1, 0), 40000, 40002), udp(sender_report, 40000, 40002)]
        capture = read_pcap(write(tmp_path / "mux.pcap", packets))
        assert ([p.frame for p in capture.rtp_packets], [p.frame for p in capture.rtcp_packets]) \
            == ([1], [2])


# -- broken files ---------------------------------------------------------------------------


class TestBrokenFiles:
    """One line that names the file and says what is wrong; a SipError and a ValueError."""

    def check(self, path: Path, words: str) -> None:
        with pytest.raises(PcapError) as caught:
            read_pcap(path)
        text = str(caught.value)
        assert str(path) in text
        assert words in text
        assert "\n" not in text
        assert isinstance(caught.value, SipError)
        assert isinstance(caught.value, ValueError)

    def test_missing_file(self, tmp_path: Path) -> None:
        self.check(tmp_path / "nothing.pcap", "no such file")

    def test_empty_file(self, tmp_path: Path) -> None:
        path = tmp_path / "empty.pcap"
        path.write_bytes(b"")
        self.check(path, "empty file")

    def test_directory(self, tmp_path: Path) -> None:
        self.check(tmp_path, "is a directory")

    def test_not_a_capture(self, tmp_path: Path) -> None:
        path = tmp_path / "notes.pcap"
        path.write_text("INVITE sip:bob@example.com SIP/2.0\r\n")
        self.check(path, "not a pcap or pcapng capture")

    def test_header_cut_short(self, tmp_path: Path) -> None:
        path = tmp_path / "short.pcap"
        path.write_bytes(struct.pack("<IHH", 0xA1B2C3D4, 2, 4))
        self.check(path, "truncated pcap header")

    def test_record_cut_short(self, tmp_path: Path) -> None:
        whole = write(tmp_path / "whole.pcap", [udp(sip())]).read_bytes()
        path = tmp_path / "cut.pcap"
        path.write_bytes(whole[:-10])
        self.check(path, "truncated")

    def test_pcapng_block_cut_short(self, tmp_path: Path) -> None:
        whole = pcapng(tmp_path / "w.pcapng", [(1, 6)], [(0, 0, ether(udp(sip())))]).read_bytes()
        path = tmp_path / "cut.pcapng"
        path.write_bytes(whole[:-7])
        self.check(path, "truncated")

    def test_header_only_is_an_empty_capture_not_an_error(self, tmp_path: Path) -> None:
        capture = read_pcap(write(tmp_path / "none.pcap", []))
        assert (capture.frames, capture.sip_messages, capture.start_time) == (0, [], None)


# -- captures tshark wrote -------------------------------------------------------------------


def compare_with_tshark(pcap: Path) -> list[Any]:
    ours = [(m.frame, m.label, m.message.call_id, (m.src.host, m.src.port),
             (m.dst.host, m.dst.port)) for m in read_pcap(pcap).sip_messages]
    theirs = [(m.frame, m.label, m.call_id, m.src, m.dst) for m in tshark_sip(pcap)]
    assert ours == theirs
    return ours


async def call_on_three_transports(pcap: Path, interface: str, link_type: str | None) -> None:
    """alice (TCP) calls bob (UDP), carol (WS) registers; tshark captures the server's ports."""
    sdp = offer("127.0.0.1", 40000).split(b"\r\n\r\n", 1)[1]
    async with AsyncExitStack() as stack:
        server = await stack.enter_async_context(lab_server())
        ports = " or ".join(f"port {p.port}" for p in server.addresses)
        await stack.enter_async_context(LiveCapture(pcap, ports, interface=interface,
                                                    link_type=link_type))
        alice = await stack.enter_async_context(phone(server, "alice", "tcp", media=False))
        bob = await stack.enter_async_context(phone(server, "bob", "udp", media=False))
        carol = await stack.enter_async_context(phone(server, "carol", "ws", media=False))
        for ua in (alice, bob, carol):
            await ua.register(timeout=2)
        call = await alice.call("bob", body=sdp)
        invitation = await bob.next_invitation(timeout=2)
        await invitation.accept(sdp)
        await call.established(timeout=2)
        await call.bye(timeout=2)


@pytest.mark.interop
@pytest.mark.parametrize(("interface", "link_type"),
                         [("lo", None), ("any", "LINUX_SLL"), ("any", "LINUX_SLL2")])
def test_live_capture_lists_the_same_messages_as_tshark(tmp_path: Path, interface: str,
                                                        link_type: str | None) -> None:
    pcap = tmp_path / "live.pcapng"
    asyncio.run(asyncio.wait_for(call_on_three_transports(pcap, interface, link_type), 30))
    assert pcap.read_bytes()[:4] == b"\x0a\x0d\x0d\x0a"  # tshark writes pcapng
    ours = compare_with_tshark(pcap)
    labels = [row[1] for row in ours]
    assert labels.count("REGISTER") >= 6
    assert labels.count("INVITE") == 2


async def cut_segments(pcap: Path) -> None:
    """A client writes two messages in one segment, then one message in three."""
    received = asyncio.Event()
    total = len(sip(number=1)) + len(sip(number=2)) + len(sip(number=3, body=b"t" * 600))
    seen = bytearray()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while len(seen) < total:
            chunk = await reader.read(65536)
            if not chunk:
                break
            seen.extend(chunk)
        received.set()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with LiveCapture(pcap, f"tcp port {port}"):
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            writer.write(sip(number=1) + sip(number=2))
            await writer.drain()
            three = sip(number=3, body=b"t" * 600)
            for start in (0, 200, 400):
                writer.write(three[start:start + 200] if start < 400 else three[400:])
                await writer.drain()
                await asyncio.sleep(0.01)  # one segment per write (no coalescing): not a wait
            async with asyncio.timeout(5):
                await received.wait()
            writer.close()
    finally:
        server.close()


@pytest.mark.interop
def test_live_tcp_segments_cut_on_purpose_match_tshark(tmp_path: Path) -> None:
    pcap = tmp_path / "segments.pcapng"
    asyncio.run(asyncio.wait_for(cut_segments(pcap), 30))
    rows = compare_with_tshark(pcap)
    assert [row[2] for row in rows] == [f"pcap-{n}@10.0.0.1" for n in (1, 2, 3)]
    assert rows[0][0] == rows[1][0]  # two messages, one frame
    client_segments = [p.frame for p in read_pcap(pcap).packets
                       if p.src.transport == "tcp" and p.payload and p.dst.port == rows[0][4][1]]
    assert len(client_segments) == 4  # (1 + 2), then 3 in three pieces
    assert rows[0][0] == client_segments[0]
    assert rows[2][0] == client_segments[-1]  # completed by the third piece
