"""Reading a packet capture back into SIP messages and RTP streams: :func:`read_pcap`.

Wireshark shows a capture as layers: a frame, an Ethernet header, IP, UDP or
TCP, and then SIP or RTP. :func:`read_pcap` peels the same layers, in plain
Python, fast enough for captures of millions of packets:

1. the file format (pcap or pcapng) gives frames and times
   (:mod:`siplab.lab.pcapfile`);
2. the link layer: Ethernet (with 802.1Q VLAN tags), Linux "cooked" headers
   (SLL and SLL2, what ``tshark -i any`` records), raw IP, BSD loopback;
3. IPv4 (RFC 791; fragments are put back together) or IPv6 (RFC 8200; its
   extension headers skipped), then UDP (RFC 768) or TCP (RFC 9293);
4. over TCP, the stream is reassembled and cut into messages, over plain TCP
   or WebSocket (:mod:`siplab.lab.reassembly`);
5. a UDP payload is RTP or RTCP when the SDP of an earlier SIP message (or
   a heuristic) says so (:mod:`siplab.lab.media`), SIP when it starts with a
   SIP start line (and parses: :func:`siplab.sip.parse_message`).

The result is a :class:`Capture`: its SIP messages (:class:`WireMessage`, in
the order Wireshark lists them), RTP and RTCP packets (:class:`MediaPacket`),
every UDP and TCP packet (:class:`Packet`), and the RTP streams with
Wireshark's statistics (read them with :func:`siplab.lab.rtp_streams`).

Why not scapy? scapy is the best way to *build* and *look at* one packet
(``siplab.lab.Trace.to_pcap`` uses it), but its ``rdpcap`` makes a Python
object for every layer of every packet: 200,000 packets take two minutes and
a gigabyte (FACTS.md). Here the file is mapped into memory and each header
is read with one ``struct`` call or a few byte lookups, and the packets of an
RTP stream are kept as four compact columns, not objects. For statistics
alone (``siplab analyze``, ``rtp_streams(path)``), a classic pcap file is
read faster still by :mod:`siplab.lab.pcapbulk`, written for speed rather
than for reading; this module is the one to learn from.
"""

from __future__ import annotations

import os
import struct
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from siplab.errors import SipError
from siplab.lab.media import (
    SIP_PORTS,
    Conversation,
    MediaTracker,
    RtpStream,
    host_of,
)
from siplab.lab.pcapfile import (
    LINKTYPE_ETHERNET,
    LINKTYPE_IPV4,
    LINKTYPE_IPV6,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    LINKTYPE_LOOP,
    LINKTYPE_NULL,
    LINKTYPE_RAW,
    CaptureFile,
    PcapError,
)
from siplab.lab.reassembly import TcpStream, looks_like_sip
from siplab.rtp.packet import RtpPacket, parse_rtp
from siplab.sip.message import Request, Response, parse_message
from siplab.sip.transport import Peer

if TYPE_CHECKING:
    from siplab.lab.pcapbulk import PendingRtp

__all__ = [
    "read_pcap",
    "Capture",
    "WireMessage",
    "MediaPacket",
    "Packet",
    "PcapError",
    "scan_capture",
    "PROGRESS_MIN_BYTES",
    "BULK_MIN_BYTES",
]

#: Files at least this large show a progress bar (when stderr is a terminal).
PROGRESS_MIN_BYTES = 50 * 1024 * 1024
#: Classic pcap files at least this large take the bulk reader (siplab.lab.pcapbulk) when
#: only statistics are wanted; below it the loop here is as fast, numpy's import counted.
BULK_MIN_BYTES = 32 * 1024 * 1024
#: Frames between two progress updates (and two flushes of the RTP columns).
_CHUNK = 1 << 16
_RAW_LINKS = frozenset({LINKTYPE_RAW, 12, 14, LINKTYPE_IPV4, LINKTYPE_IPV6})
_IPV6_EXTENSIONS = frozenset({0, 43, 60, 135, 139, 140})  # hop-by-hop, routing, dest. options...
_BSD_FAMILIES_V6 = frozenset({10, 24, 28, 30})  # AF_INET6 on Linux, NetBSD/OpenBSD, FreeBSD, macOS
#: Where the IP header starts, for the link types the fast path reads: those whose
#: header ends with the EtherType (0x0800 for IPv4). VLAN tags and raw IP take the long way.
_IP_OFFSET = {LINKTYPE_ETHERNET: 14, LINKTYPE_LINUX_SLL: 16}
#: EtherType + IPv4 header (no options) + UDP header + RTP fixed header: the fast path's fields.
_FAST = struct.Struct("!HBxH2xHxB2x12s4xBBHII")


@dataclass(frozen=True, slots=True)
class WireMessage:
    """One SIP message as it crossed the wire: when, from where to where, and the bytes.

    ``frame`` is the capture's frame number (1-based, as Wireshark counts;
    for TCP and WebSocket the frame whose segment completed the message), or
    0 for a message recorded by a :class:`~siplab.lab.trace.Trace`.
    """

    time: float  # seconds since the epoch
    src: Peer
    dst: Peer
    data: bytes
    message: Request | Response
    frame: int = 0

    @property
    def transport(self) -> str:
        return self.src.transport

    @property
    def label(self) -> str:
        """``"INVITE"`` or ``"180 Ringing"``."""
        return self.message.label

    @property
    def call_id(self) -> str | None:
        return self.message.headers.get("Call-ID")

    @property
    def has_sdp(self) -> bool:
        content_type = self.message.headers.get("Content-Type") or ""
        return bool(self.message.body) and "application/sdp" in content_type.lower()


@dataclass(frozen=True, slots=True)
class MediaPacket:
    """One RTP or RTCP datagram (``kind`` is ``"rtp"`` or ``"rtcp"``)."""

    time: float
    src: Peer
    dst: Peer
    data: bytes
    kind: str
    frame: int = 0

    @property
    def rtp(self) -> RtpPacket:
        """The RTP packet, parsed (RFC 3550 §5.1); raises RtpParseError for RTCP or junk."""
        return parse_rtp(self.data)


@dataclass(frozen=True, slots=True)
class Packet:
    """One UDP or TCP packet of a capture (``src.transport`` says which) and its payload."""

    frame: int
    time: float
    src: Peer
    dst: Peer
    payload: bytes


class Capture:
    """What :func:`read_pcap` found in a capture file (see the module docstring)."""

    def __init__(self, path: Path | None, frames: int, start_time: float | None,
                 packets: list[Packet], sip_messages: list[WireMessage],
                 rtp_packets: list[MediaPacket], rtcp_packets: list[MediaPacket],
                 streams: list[RtpStream], undecoded: int = 0, time_base: float = 0.0) -> None:
        self.path = path
        self.frames = frames
        self.start_time = start_time
        self.packets = packets
        self.sip_messages = sip_messages
        self.rtp_packets = rtp_packets
        self.rtcp_packets = rtcp_packets
        self.streams = streams  # the RTP streams, with Wireshark's statistics
        self.time_base = time_base  # the epoch second the streams' times count from
        self.undecoded = undecoded  # payloads that looked like SIP but did not parse

    def __repr__(self) -> str:
        name = self.path.name if self.path is not None else "capture"
        return (f"<Capture {name}: {self.frames} frames, {len(self.sip_messages)} SIP messages, "
                f"{len(self.streams)} RTP streams>")


def read_pcap(path: str | os.PathLike[str], *, progress: bool | None = None) -> Capture:
    """Read a pcap or pcapng file: its SIP messages, RTP/RTCP packets and RTP streams.

    ``progress``: show a tqdm bar (None: only for big files on a terminal).
    Raises :class:`PcapError` (one line, naming the file) for a missing,
    empty, truncated or non-capture file.
    """
    return scan_capture(path, keep=True, progress=progress)


def scan_capture(path: str | os.PathLike[str], *, keep: bool = True,
                 progress: bool | None = None) -> Capture:
    """:func:`read_pcap`; with ``keep=False`` only SIP and the RTP streams are kept.

    That is the bulk path of :func:`siplab.lab.rtp_streams`: no object per packet
    (and for classic pcap files, the bulk reader of :mod:`siplab.lab.pcapbulk`).
    """
    with CaptureFile(path) as file:
        bar = _progress_bar(file, progress)
        scanner = _Scanner(keep)
        try:
            if keep or not _bulk_scan(scanner, file, bar):
                scanner.run(file, bar)
            if bar is not None:
                bar.update(file.size - bar.n)
                bar.refresh()
        finally:
            if bar is not None:
                bar.close()
    start = scanner.base + scanner.first if scanner.first is not None else None
    for stream in scanner.stream_list:
        stream.flush()
    return Capture(Path(path), scanner.frames, start, scanner.packets, scanner.sip,
                   scanner.rtp, scanner.rtcp, scanner.stream_list, scanner.undecoded,
                   float(scanner.base))


def _bulk_scan(scanner: _Scanner, file: CaptureFile, bar: Any) -> bool:
    """The bulk reader of :mod:`siplab.lab.pcapbulk`, for the files it takes (big classic pcap)."""
    if file.format != "pcap" or file.size < BULK_MIN_BYTES:
        return False
    from siplab.lab.pcapbulk import scan_classic_pcap  # numpy: only on this path

    return scan_classic_pcap(scanner, file, bar)


def _progress_bar(file: CaptureFile, progress: bool | None) -> Any:
    if progress is None:
        progress = file.size >= PROGRESS_MIN_BYTES and sys.stderr.isatty()
    if not progress:
        return None
    from tqdm import tqdm  # only when a bar is shown

    return tqdm(total=file.size, unit="B", unit_scale=True, desc=file.path.name, leave=False)


class _Scanner:
    """One pass over a capture's frames; see :func:`read_pcap`."""

    def __init__(self, keep: bool) -> None:
        self.keep = keep
        self.tracker = MediaTracker()
        self.frames = 0
        self.base = 0  # the first frame's whole second (epoch)
        self.first: float | None = None  # the first frame's time after it
        self.packets: list[Packet] = []
        self.sip: list[WireMessage] = []
        self.rtp: list[MediaPacket] = []
        self.rtcp: list[MediaPacket] = []
        self.undecoded = 0
        self.streams: dict[tuple[bytes, int], RtpStream] = {}
        self.stream_list: list[RtpStream] = []
        # The fast path's table: RTP flows (addresses+ports) -> SSRC -> the append
        # methods of the stream's columns (or, for the bulk reader, of its list of
        # record positions). Empty with keep=True (every packet is kept).
        self.flows: dict[bytes, dict[int, Any]] = {}
        self.bulk: PendingRtp | None = None  # set by siplab.lab.pcapbulk
        # The conversation of each RTP flow, until an SDP body changes the picture.
        self._conversations: dict[bytes, Conversation] = {}
        self._tcp: dict[bytes, TcpStream] = {}
        self._fragments: dict[tuple[bytes, bytes, int, int], list[tuple[int, bytes, bool]]] = {}
        self._peers: dict[tuple[bytes, int, str], Peer] = {}
        self._time = 0.0  # of the frame being read, for messages completed by it

    def peer(self, address: bytes, port: int, transport: str) -> Peer:
        key = (address, port, transport)
        found = self._peers.get(key)
        if found is None:
            found = self._peers[key] = Peer(host_of(address), port, transport)
        return found

    def run(self, file: CaptureFile, bar: Any) -> None:
        """Read every frame. The common case, an RTP packet of a stream already
        known, in Ethernet (or Linux cooked v1) / IPv4 / UDP, takes the short
        path written out in this loop: one ``struct`` call for every header
        field it needs, then four appends to the stream's columns. Everything
        else goes through :meth:`read_frame`, layer by layer."""
        buf = file.buffer
        frame = 0
        flows = self.flows
        fast = _FAST.unpack_from
        every = _CHUNK - 1
        last_link, offset = -1, 0
        for t, link, start, end in file.records():
            frame += 1
            if not frame & every:
                self._checkpoint(bar, end)
            elif frame == 1:
                self.base, self.first = file.base or 0, t
            if link != last_link:  # (pcap: one link type; pcapng: one per interface)
                last_link, offset = link, _IP_OFFSET.get(link, 0)
            if offset and end - start >= offset + 40:
                ip = start + offset
                # (EtherType, IPv4 version+length, total length, fragment, protocol,
                #  addresses+ports, RTP octets 1 and 2, sequence number, timestamp, SSRC)
                ethertype, vihl, total, fragment, protocol, key, octet, second, seq, stamp, \
                    ssrc = fast(buf, ip - 2)
                if ethertype == 0x0800 and vihl == 0x45 and protocol == 17 and \
                        not fragment & 0x3FFF and ip + total <= end:
                    flow = flows.get(key)
                    if flow is not None and octet >> 6 == 2 and not 72 <= second & 0x7F <= 76:
                        appenders = flow.get(ssrc)
                        if appenders is not None:
                            add_time, add_seq, add_stamp, add_octet = appenders
                            add_time(t)
                            add_seq(seq)
                            add_stamp(stamp)
                            add_octet(second)
                            continue
            self.read_frame(buf, link, start, end, frame, t)
        self.frames = frame

    def read_frame(self, buf: Any, link: int, start: int, end: int, frame: int, t: float) -> None:
        """One frame, layer by layer: link, IPv4 or IPv6, then UDP or TCP."""
        # -- link layer: where the IP header starts, and which IP -----------------------------
        if link == LINKTYPE_ETHERNET:
            if end - start < 14:
                return
            ethertype = (buf[start + 12] << 8) | buf[start + 13]
            ip = start + 14
            while ethertype in (0x8100, 0x88A8) and ip + 4 <= end:  # 802.1Q/802.1ad tags
                ethertype = (buf[ip + 2] << 8) | buf[ip + 3]
                ip += 4
        elif link == LINKTYPE_LINUX_SLL:
            if end - start < 16:
                return
            ethertype, ip = (buf[start + 14] << 8) | buf[start + 15], start + 16
        elif link == LINKTYPE_LINUX_SLL2:
            if end - start < 20:
                return
            ethertype, ip = (buf[start] << 8) | buf[start + 1], start + 20
        elif link in _RAW_LINKS:
            ip = start
            ethertype = 0x86DD if end > start and buf[start] >> 4 == 6 else 0x0800
        elif link in (LINKTYPE_NULL, LINKTYPE_LOOP):
            if end - start < 4:
                return
            family = max(buf[start], buf[start + 3])  # either byte order
            ethertype = 0x86DD if family in _BSD_FAMILIES_V6 else 0x0800
            ip = start + 4
        else:
            return
        # -- network layer ------------------------------------------------------------------
        if ethertype == 0x0800:
            if end - ip < 20 or buf[ip] >> 4 != 4:
                return
            header = (buf[ip] & 0x0F) * 4
            total = (buf[ip + 2] << 8) | buf[ip + 3]
            if ip + total < end:
                end = ip + total  # Ethernet pads short frames to 60 bytes
            protocol = buf[ip + 9]
            src, dst = buf[ip + 12:ip + 16], buf[ip + 16:ip + 20]
            fragment = ((buf[ip + 6] << 8) | buf[ip + 7]) & 0x3FFF
            if fragment:
                whole = self._defragment(buf, ip, header, end, fragment)
                if whole is not None:
                    self._transport(whole, 0, len(whole), protocol, src, dst, frame, t)
                return
            l4 = ip + header
        elif ethertype == 0x86DD:
            if end - ip < 40:
                return
            payload_length = (buf[ip + 4] << 8) | buf[ip + 5]
            if ip + 40 + payload_length < end:
                end = ip + 40 + payload_length
            protocol, l4 = buf[ip + 6], ip + 40
            src, dst = buf[ip + 8:ip + 24], buf[ip + 24:ip + 40]
            while protocol in _IPV6_EXTENSIONS and l4 + 8 <= end:
                protocol, l4 = buf[l4], l4 + (buf[l4 + 1] + 1) * 8
            if protocol == 44:  # fragment header: rare for SIP and RTP; not reassembled
                return
        else:
            return
        self._transport(buf, l4, end, protocol, src, dst, frame, t)

    def _checkpoint(self, bar: Any, position: int) -> None:
        for stream in self.stream_list:
            stream.flush()
        if bar is not None:
            bar.update(position - bar.n)

    def _transport(self, buf: Any, l4: int, end: int, protocol: int, src: bytes, dst: bytes,
                   frame: int, t: float) -> None:
        if protocol == 17:
            if end - l4 >= 8:
                self._udp(buf, l4, end, src, dst, frame, t)
        elif protocol == 6 and end - l4 >= 20:
            self._tcp_segment(buf, l4, end, src, dst, frame, t)

    # -- UDP: RTP, RTCP or SIP -------------------------------------------------------------

    def _udp(self, buf: Any, l4: int, end: int, src: bytes, dst: bytes, frame: int,
             t: float) -> None:
        ports = buf[l4:l4 + 4]
        key = src + dst + ports
        tracker = self.tracker
        conversation = self._conversations.get(key)
        p = l4 + 8
        if conversation is None:
            sport, dport = (ports[0] << 8) | ports[1], (ports[2] << 8) | ports[3]
            conversation = tracker.classify(src, sport, dst, dport, buf[p:p + 2], end - p, frame)
            if conversation is None:
                self._other_udp(buf, p, end, src, sport, dst, dport, frame, t)
                return
            if conversation.kind == "rtp":  # the heuristic's RTCP answers are not conversations
                self._conversations[key] = conversation
                if not self.keep:
                    self.flows[key] = {}
        length = end - p
        if conversation.kind == "rtcp" or (length >= 2 and 72 <= (buf[p + 1] & 0x7F) <= 76):
            if self.keep:  # RTCP, on its own port or multiplexed with RTP (RFC 5761 §4)
                self._media(buf, p, end, key, frame, t, "rtcp")
            return
        if length < 12 or buf[p] >> 6 != 2:
            if self.keep:  # not RTP version 2, or too short: Wireshark's RTP tap skips it
                self._media(buf, p, end, key, frame, t, "")
            return
        second = buf[p + 1]
        seq = (buf[p + 2] << 8) | buf[p + 3]
        timestamp = int.from_bytes(buf[p + 4:p + 8], "big")
        ssrc = int.from_bytes(buf[p + 8:p + 12], "big")
        stream = self.streams.get((key, ssrc))
        if stream is None:
            stream = self._new_stream(key, ssrc, second & 0x7F, conversation, frame)
        flow = self.flows.get(key)
        bulk = self.bulk
        if flow is not None:
            if bulk is not None:
                flow[bulk.ssrc_key(ssrc)] = bulk.positions(stream).append
            else:
                flow[ssrc] = (stream.times.append, stream.seqs.append,
                              stream.timestamps.append, stream.octets.append)
        if bulk is not None:
            bulk.drain(stream)  # the packets the bulk loop kept come first
        stream.times.append(t)
        stream.seqs.append(seq)
        stream.timestamps.append(timestamp)
        stream.octets.append(second)
        if self.keep:
            self._media(buf, p, end, key, frame, t, "rtp")

    def _new_stream(self, key: bytes, ssrc: int, payload_type: int,
                    conversation: Conversation, frame: int) -> RtpStream:
        half = (len(key) - 4) // 2
        src, dst = key[:half], key[half:2 * half]
        sport, dport = int.from_bytes(key[-4:-2], "big"), int.from_bytes(key[-2:], "big")
        stream = RtpStream(self.peer(src, sport, "udp"), self.peer(dst, dport, "udp"), ssrc,
                           payload_type, conversation.rtpmap, frame)
        self.streams[(key, ssrc)] = stream
        self.stream_list.append(stream)
        return stream

    def _media(self, buf: Any, p: int, end: int, key: bytes, frame: int, t: float,
               kind: str) -> None:
        half = (len(key) - 4) // 2
        src = self.peer(key[:half], int.from_bytes(key[-4:-2], "big"), "udp")
        dst = self.peer(key[half:2 * half], int.from_bytes(key[-2:], "big"), "udp")
        data = bytes(buf[p:end])
        time = self.base_time + t
        if kind:
            packet = MediaPacket(time, src, dst, data, kind, frame)
            (self.rtp if kind == "rtp" else self.rtcp).append(packet)
        self.packets.append(Packet(frame, time, src, dst, data))

    def _other_udp(self, buf: Any, p: int, end: int, src: bytes, sport: int, dst: bytes,
                   dport: int, frame: int, t: float) -> None:
        data = bytes(buf[p:end])
        if self.keep:
            self.packets.append(Packet(frame, self.base_time + t, self.peer(src, sport, "udp"),
                                       self.peer(dst, dport, "udp"), data))
        if sport in SIP_PORTS or dport in SIP_PORTS or looks_like_sip(data):
            self._time = t
            self._sip(frame, data, self.peer(src, sport, "udp"), self.peer(dst, dport, "udp"))

    # -- SIP ---------------------------------------------------------------------------------

    @property
    def base_time(self) -> float:
        return float(self.base)

    def _sip(self, frame: int, data: bytes, src: Peer, dst: Peer) -> None:
        if not data.strip(b"\r\n"):
            return  # a keep-alive (RFC 5626 §3.5.1)
        try:
            message = parse_message(data)
        except (SipError, ValueError):
            self.undecoded += 1
            return
        wire = WireMessage(self.base_time + self._time, src, dst, data, message, frame)
        self.sip.append(wire)
        if message.body and wire.has_sdp:
            self.tracker.learn_sdp(message.body, frame)
            # New conversations may change what a flow is: decide every flow afresh.
            self.flows.clear()
            self._conversations.clear()

    # -- TCP ---------------------------------------------------------------------------------

    def _tcp_segment(self, buf: Any, l4: int, end: int, src: bytes, dst: bytes, frame: int,
                     t: float) -> None:
        sport, dport = (buf[l4] << 8) | buf[l4 + 1], (buf[l4 + 2] << 8) | buf[l4 + 3]
        seq = int.from_bytes(buf[l4 + 4:l4 + 8], "big")
        data_offset = (buf[l4 + 12] >> 4) * 4
        flags = buf[l4 + 13]
        data = bytes(buf[l4 + data_offset:end])
        key = src + dst + bytes(buf[l4:l4 + 4])
        stream = self._tcp.get(key)
        if stream is None:
            stream = self._tcp[key] = TcpStream(self._deliver(src, sport, dst, dport))
        if self.keep:
            self.packets.append(Packet(frame, self.base_time + t, self.peer(src, sport, "tcp"),
                                       self.peer(dst, dport, "tcp"), data))
        self._time = t
        if flags & 0x02:  # SYN
            stream.syn(seq)
            return
        stream.segment(seq, data, frame)

    def _deliver(self, src: bytes, sport: int, dst: bytes,
                 dport: int) -> Callable[[int, bytes, str], None]:
        def deliver(frame: int, data: bytes, transport: str) -> None:
            self._sip(frame, data, self.peer(src, sport, transport),
                      self.peer(dst, dport, transport))

        return deliver

    # -- IPv4 fragments (RFC 791 §3.2) -----------------------------------------------------------

    def _defragment(self, buf: Any, ip: int, header: int, end: int,
                    fragment: int) -> bytes | None:
        """Keep one fragment; return the whole datagram's payload once every piece is in."""
        key = (bytes(buf[ip + 12:ip + 16]), bytes(buf[ip + 16:ip + 20]),
               (buf[ip + 4] << 8) | buf[ip + 5], buf[ip + 9])
        pieces = self._fragments.setdefault(key, [])
        pieces.append(((fragment & 0x1FFF) * 8, bytes(buf[ip + header:end]),
                       bool(fragment & 0x2000)))
        pieces.sort(key=lambda piece: piece[0])
        if pieces[-1][2]:  # the last piece (more-fragments clear) has not come yet
            return None
        whole = bytearray()
        for offset, data, _ in pieces:
            if offset > len(whole):
                return None  # a hole
            whole[offset:offset + len(data)] = data
        del self._fragments[key]
        return bytes(whole)
