"""Calls on a SimNetwork, and the same calls as pcap files, for the ladder and plot tests.

:func:`forked_call` runs RFC 3261 §16.7 forking through the real server of
:mod:`tests.sip.flows` (Bob's desk phone and mobile both ring, the mobile
answers, the desk gets CANCEL and 487). :func:`basic_call` is a plain call
with SDP. :func:`write_pcap` writes datagrams as a classic pcap file
(Ethernet, IPv4, UDP; struct only, so the tests do not depend on scapy or on
siplab's own pcap writer), and :func:`call_capture` writes a basic call with
its RTP, as a capture of the call would hold it.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from pathlib import Path

from siplab.lab import DropIf
from siplab.rtp import g711
from siplab.rtp.packet import RtpPacket
from siplab.sip.events import SessionEstablished, SessionTerminated
from siplab.sip.transport import Peer
from tests.sip.flows import DOMAIN, SDP, FlowLab, acked, sdp

__all__ = ["forked_call", "basic_call", "write_pcap", "rtp_packets", "call_capture", "EPOCH"]

#: Captures start at this wall-clock time (what a real capture would carry).
EPOCH = 1_700_000_000.0


def forked_call(seed: int = 1, *, lose_first_invite_to_desk: bool = False) -> FlowLab:
    """Alice calls Bob, registered on two phones; the mobile answers, then Alice hangs up."""
    lab = FlowLab(seed=seed)
    alice = lab.ua("alice")
    desk = lab.ua("bob")
    mobile = lab.ua("bob-mobile", user="bob")
    lab.registered("alice", "bob", "bob-mobile")
    if lose_first_invite_to_desk:
        lab.link("server", "bob", DropIf(lambda line: line.startswith("INVITE"), limit=1,
                                         name="first INVITE"), both_ways=False)
    outgoing = alice.call(f"sip:bob@{DOMAIN}", lab.now, body=SDP)
    on_desk, on_mobile = lab.incoming("bob", 40), lab.incoming("bob-mobile", 40)
    desk.progress(on_desk, lab.now)
    mobile.progress(on_mobile, lab.now)
    lab.run(0.5)
    mobile.accept(on_mobile, lab.now, body=sdp("bob-mobile"))
    lab.until(lambda: lab.reported("alice", SessionEstablished) and acked(on_mobile))
    alice.bye(outgoing, lab.now)
    lab.until(lambda: all(lab.reported(n, SessionTerminated)
                          for n in ("alice", "bob", "bob-mobile")))
    lab.settle()
    return lab


def basic_call(seed: int = 1, talk: float = 1.0) -> FlowLab:
    """Alice calls Bob through the server, Bob answers, they talk ``talk`` s, Alice hangs up."""
    lab = FlowLab(seed=seed)
    alice, bob = lab.ua("alice"), lab.ua("bob")
    lab.registered("alice", "bob")
    outgoing = alice.call(f"sip:bob@{DOMAIN}", lab.now, body=SDP)
    incoming = lab.incoming("bob")
    bob.progress(incoming, lab.now)
    lab.run(0.2)
    bob.accept(incoming, lab.now, body=sdp("bob"))
    lab.until(lambda: lab.reported("alice", SessionEstablished) and acked(incoming))
    lab.run(talk)
    alice.bye(outgoing, lab.now)
    lab.until(lambda: lab.reported("bob", SessionTerminated))
    lab.settle()
    return lab


def _checksum(header: bytes) -> int:
    total = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return int(~total & 0xFFFF)


def _frame(src: Peer, dst: Peer, payload: bytes) -> bytes:
    udp = struct.pack("!HHHH", src.port, dst.port, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0,
                     bytes(int(x) for x in src.host.split(".")),
                     bytes(int(x) for x in dst.host.split(".")))
    ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
    ethernet = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00"
    return ethernet + ip + udp


def write_pcap(path: Path, datagrams: Iterable[tuple[float, Peer, Peer, bytes]]) -> Path:
    """A classic little-endian microsecond pcap of UDP datagrams ``(time, src, dst, data)``."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for time, src, dst, data in datagrams:
        frame = _frame(src, dst, data)
        seconds = int(time)
        micros = round((time - seconds) * 1_000_000)
        out.append(struct.pack("<IIII", seconds, micros, len(frame), len(frame)) + frame)
    path.write_bytes(b"".join(out))
    return path


def rtp_packets(src: Peer, dst: Peer, start: float, seconds: float, *, ssrc: int,
                frequency: float = 440.0) -> list[tuple[float, Peer, Peer, bytes]]:
    """20 ms PCMU packets of a tone, one every 20 ms from ``start``."""
    samples = g711.tone(frequency, seconds)
    count = len(samples) // 160
    return [(start + 0.02 * i, src, dst,
             RtpPacket(0, (1000 + i) % 65536, 160 * i, ssrc,
                       g711.encode("PCMU", samples[160 * i:160 * (i + 1)])).to_bytes())
            for i in range(count)]


def call_capture(path: Path, *, rtp: bool = True) -> Path:
    """:func:`basic_call` as a capture: its SIP datagrams (as sent) and, while the call
    is up, 1 s of RTP each way between the addresses in the SDP (port 4000)."""
    lab = basic_call()
    records = [r for r in lab.net.records if not r.dropped]
    datagrams = [(EPOCH + r.time_sent, r.src, r.dst, r.data) for r in records]
    if rtp:
        answered = next(r.time_sent for r in records if r.first_line.startswith("ACK"))
        alice, bob = Peer("10.0.0.1", 4000), Peer("10.0.0.2", 4000)
        datagrams += rtp_packets(alice, bob, EPOCH + answered + 0.05, 0.9, ssrc=0xA11CE)
        datagrams += rtp_packets(bob, alice, EPOCH + answered + 0.06, 0.9, ssrc=0xB0B)
    return write_pcap(path, sorted(datagrams, key=lambda d: d[0]))
