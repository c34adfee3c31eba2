"""Writing a trace as the frames a network capture would hold, with scapy (RFC 9293, RFC 6455).

A :class:`~siplab.lab.trace.Trace` knows each SIP message's bytes and its two
addresses. Wireshark wants *frames*: an Ethernet header, an IP header, a UDP
or TCP header, then the message. scapy builds each layer from its fields, the
way a protocol diagram draws it::

    Ether(src=..., dst=...) / IP(src="127.0.0.1", dst="127.0.0.1") \
        / UDP(sport=5060, dport=40000) / Raw(load=sip_bytes)

and fills in what a receiver checks: lengths, checksums, the EtherType.

**UDP**: one datagram per message (RFC 3261 §18.1.1). A datagram larger than
Ethernet's 1500-byte MTU is cut into IPv4 fragments (RFC 791), which is what
the sender's kernel would do and why §18.1.1 asks for TCP above 1300 bytes.

**TCP**: a stream needs a connection first: SYN, SYN-ACK, ACK (the three-way
handshake, RFC 9293 §3.5) with an initial sequence number for each side.
Every byte sent then advances the sender's sequence number, and every segment
acknowledges what the other side has sent so far. A message larger than the
maximum segment size (1460 bytes on Ethernet) goes in several segments, so
Wireshark has to reassemble it, as it would on a real network.

**WebSocket** (RFC 6455, RFC 7118): a TCP connection that starts with an HTTP
request to *upgrade* (``Upgrade: websocket``, ``Sec-WebSocket-Protocol: sip``)
and its ``101 Switching Protocols`` answer, whose ``Sec-WebSocket-Accept`` is
the SHA-1 of the client's key and a fixed GUID (§4.2.2). Then each SIP
message is one frame; frames from the client are *masked* (XORed with a
4-byte key it picks, §5.3), frames from the server are not.

Which end of a connection is the client? The one that is not a known server
address (a traced LabServer's listener, the server a traced UserAgent
connects to), else the one that sent the first message on it.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from siplab.lab.pcap import MediaPacket, WireMessage
from siplab.lab.reassembly import unmask
from siplab.sip.transport import Peer

__all__ = ["write_trace", "websocket_frame", "websocket_accept", "MSS", "MTU"]

#: Ethernet's MTU, and the largest TCP segment payload it leaves (1500 - 20 - 20).
MTU = 1500
MSS = 1460
_WEBSOCKET_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3
_STEP = 1e-6  # seconds between frames that happen "at once" (handshakes, segments)


def websocket_accept(key: str) -> str:
    """The server's ``Sec-WebSocket-Accept`` for a client's ``Sec-WebSocket-Key`` (§4.2.2)."""
    return base64.b64encode(hashlib.sha1(key.encode("ascii") + _WEBSOCKET_GUID).digest()).decode()


def websocket_frame(payload: bytes, mask: bytes | None = None) -> bytes:
    """One final WebSocket frame (RFC 6455 §5.2): text if UTF-8, else binary; masked if ``mask``."""
    try:
        payload.decode("utf-8")
        opcode = 0x1  # text
    except UnicodeDecodeError:
        opcode = 0x2  # binary
    header = bytearray([0x80 | opcode])  # FIN + opcode
    mask_bit = 0x80 if mask else 0
    size = len(payload)
    if size < 126:
        header.append(mask_bit | size)
    elif size < 1 << 16:
        header += bytes([mask_bit | 126]) + size.to_bytes(2, "big")
    else:
        header += bytes([mask_bit | 127]) + size.to_bytes(8, "big")
    if mask:
        header += mask
        payload = unmask(payload, mask)  # XOR both ways
    return bytes(header) + payload


def _number(*parts: object) -> int:
    """A 32-bit number derived from ``parts``: the same trace gives the same pcap."""
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return int.from_bytes(digest[:4], "big")


@dataclass
class _Connection:
    transport: str  # "tcp" or "ws"
    client: Peer
    server: Peer
    client_seq: int  # next sequence number each side will send
    server_seq: int
    masks: int = 0  # WebSocket masking keys handed out


class _FrameBuilder:
    """Builds the frames with scapy; keeps the TCP connections' sequence numbers."""

    def __init__(self, servers: set[tuple[str, int]]) -> None:
        from scapy.layers.inet import IP, TCP, UDP
        from scapy.layers.inet6 import IPv6
        from scapy.layers.l2 import Ether
        from scapy.packet import Raw

        self._ip, self._ipv6, self._tcp, self._udp = IP, IPv6, TCP, UDP
        self._ether, self._raw = Ether, Raw
        self.servers = servers
        self.connections: dict[tuple[str, frozenset[tuple[str, int]]], _Connection] = {}
        self.frames: list[tuple[float, Any]] = []

    def _ethernet(self, src: Peer, dst: Peer) -> Any:
        def mac(host: str) -> str:
            tail = hashlib.sha256(host.encode()).digest()[:4]  # the same host, the same MAC
            return "02:00:" + ":".join(f"{b:02x}" for b in tail)

        return self._ether(src=mac(src.host), dst=mac(dst.host))

    def _link(self, src: Peer, dst: Peer) -> Any:
        """Ethernet and IP headers from ``src`` to ``dst``."""
        if ":" in src.host:
            return self._ethernet(src, dst) / self._ipv6(src=src.host, dst=dst.host)
        return self._ethernet(src, dst) / self._ip(src=src.host, dst=dst.host, flags="DF")

    def datagram(self, time: float, src: Peer, dst: Peer, data: bytes) -> None:
        packet = self._link(src, dst) / self._udp(sport=src.port, dport=dst.port) / \
            self._raw(load=data)
        if ":" in src.host or len(data) + 28 <= MTU:
            self.frames.append((time, packet))
            return
        from scapy.layers.inet import fragment  # too big for one Ethernet frame

        datagram = packet[self._ip]
        datagram.flags = 0  # "don't fragment" off: the sender's kernel cuts it
        cut: Any = fragment  # (scapy's own annotations are partial)
        for index, piece in enumerate(cut(datagram, fragsize=MTU - 20)):
            self.frames.append((time + index * _STEP, self._ethernet(src, dst) / piece))

    def stream(self, time: float, src: Peer, dst: Peer, data: bytes, transport: str) -> None:
        key = (transport, frozenset({(src.host, src.port), (dst.host, dst.port)}))
        connection = self.connections.get(key)
        if connection is None:
            connection = self._open(time, src, dst, transport)
            self.connections[key] = connection
        from_client = (src.host, src.port) == (connection.client.host, connection.client.port)
        if transport == "ws":
            mask = _number("mask", src, dst, connection.masks).to_bytes(4, "big") \
                if from_client else None
            connection.masks += 1
            data = websocket_frame(data, mask)
        self._send(time, connection, from_client, data)

    def _open(self, time: float, src: Peer, dst: Peer, transport: str) -> _Connection:
        if (src.host, src.port) in self.servers and (dst.host, dst.port) not in self.servers:
            client, server = dst, src
        else:
            client, server = src, dst  # the first to speak opened it
        connection = _Connection(transport, client, server, _number("isn", client, server),
                                 _number("isn", server, client))
        start = time - 6 * _STEP
        for index, (flags, from_client) in enumerate((("S", True), ("SA", False),
                                                      ("A", True))):
            self._segment(start + index * _STEP, connection, from_client, b"", flags)
            if "S" in flags:  # a SYN counts as one byte of sequence space
                if from_client:
                    connection.client_seq = (connection.client_seq + 1) & 0xFFFFFFFF
                else:
                    connection.server_seq = (connection.server_seq + 1) & 0xFFFFFFFF
        if transport == "ws":
            key = base64.b64encode(_number("key", client, server).to_bytes(4, "big") * 4)
            host = f"[{server.host}]" if ":" in server.host else server.host
            request = (f"GET / HTTP/1.1\r\nHost: {host}:{server.port}\r\n"
                       "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                       f"Sec-WebSocket-Key: {key.decode()}\r\nSec-WebSocket-Version: 13\r\n"
                       "Sec-WebSocket-Protocol: sip\r\n\r\n").encode()
            response = ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                        f"Connection: Upgrade\r\nSec-WebSocket-Accept: "
                        f"{websocket_accept(key.decode())}\r\n"
                        "Sec-WebSocket-Protocol: sip\r\n\r\n").encode()
            self._send(start + 3 * _STEP, connection, True, request)
            self._send(start + 4 * _STEP, connection, False, response)
        return connection

    def _send(self, time: float, connection: _Connection, from_client: bool,
              data: bytes) -> None:
        pieces = [data[i:i + MSS] for i in range(0, len(data), MSS)]
        for index, piece in enumerate(pieces):
            flags = "PA" if index == len(pieces) - 1 else "A"
            self._segment(time + index * _STEP, connection, from_client, piece, flags)
            if from_client:
                connection.client_seq = (connection.client_seq + len(piece)) & 0xFFFFFFFF
            else:
                connection.server_seq = (connection.server_seq + len(piece)) & 0xFFFFFFFF

    def _segment(self, time: float, connection: _Connection, from_client: bool, data: bytes,
                 flags: str) -> None:
        src, dst = ((connection.client, connection.server) if from_client
                    else (connection.server, connection.client))
        seq, ack = ((connection.client_seq, connection.server_seq) if from_client
                    else (connection.server_seq, connection.client_seq))
        tcp = self._tcp(sport=src.port, dport=dst.port, seq=seq,
                        ack=ack if "A" in flags else 0, flags=flags, window=65535)
        packet = self._link(src, dst) / tcp
        if data:
            packet = packet / self._raw(load=data)
        self.frames.append((time, packet))


def write_trace(items: Iterable[WireMessage | MediaPacket], path: Path, *,
                servers: set[tuple[str, int]] | None = None) -> Path:
    """Write SIP messages and media packets (in time order) as an Ethernet pcap file."""
    from scapy.utils import PcapWriter

    builder = _FrameBuilder(servers or set())
    for item in items:
        transport = item.src.transport if isinstance(item, WireMessage) else "udp"
        # TLS and WSS are written as what they carry, decrypted (a trace holds the SIP).
        transport = {"tls": "tcp", "wss": "ws"}.get(transport, transport)
        if transport in ("tcp", "ws"):
            builder.stream(item.time, item.src, item.dst, item.data, transport)
        else:
            builder.datagram(item.time, item.src, item.dst, item.data)
    frames = sorted(builder.frames, key=lambda pair: pair[0])  # stable
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = PcapWriter(str(path), linktype=1, sync=False, nano=True)
    try:
        for time, packet in frames:
            packet.time = time
            writer.write(packet)
    finally:
        writer.close()
    return path
