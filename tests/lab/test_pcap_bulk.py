"""The bulk reader (siplab.lab.pcapbulk) reads what the general reader reads (pcap: libpcap format).

``rtp_streams(path)`` and ``siplab analyze`` take the bulk reader for a
classic pcap file of Ethernet or Linux cooked (v1) frames; ``read_pcap``
takes the general one, frame by frame. On the same file they must give the
same streams (and tshark's): here with SDP-announced and heuristic streams, RTCP, other UDP,
a short datagram in Ethernet padding on an RTP flow, an SDP that arrives in
the middle of a stream, in both byte orders and time resolutions, and the
same one-line error for a file cut short.
"""

from __future__ import annotations

import random
import struct
from pathlib import Path
from typing import Any

import pytest

from siplab.lab import PcapError, pcap, pcapbulk, read_pcap, rtp_streams
from siplab.lab.pcapfile import LINKTYPE_LINUX_SLL, udp_frame, write_pcap
from tests.helpers import require_peer
from tests.lab.captures import tshark_streams
from tests.lab.test_analysis import assert_same_streams, check_against_tshark

T0 = 1_700_000_000.0
A, B = "10.9.0.1", "10.9.0.2"


def invite(port: int) -> bytes:
    body = (f"v=0\r\no=- 1 1 IN IP4 {A}\r\ns=-\r\nc=IN IP4 {A}\r\nt=0 0\r\n"
            f"m=audio {port} RTP/AVP 0 111\r\na=rtpmap:111 opus/48000/2\r\n").encode()
    return (f"INVITE sip:b@{B} SIP/2.0\r\nVia: SIP/2.0/UDP {A}:5060;branch=z9hG4bK-1\r\n"
            f"From: <sip:a@{A}>;tag=1\r\nTo: <sip:b@{B}>\r\nCall-ID: bulk@{A}\r\n"
            f"CSeq: 1 INVITE\r\nContent-Type: application/sdp\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def frames(seed: int = 5) -> list[tuple[float, bytes]]:
    """A call's worth of everything the two readers must agree on."""
    rng = random.Random(seed)
    out: list[tuple[float, bytes]] = []
    seqs = {0x11: 65530, 0x22: 100, 0x33: 7}
    for i in range(3000):
        now = T0 + 0.1 + 0.02 * (i // 3) + rng.random() * 0.01
        ssrc = (0x11, 0x22, 0x33)[i % 3]
        seqs[ssrc] = (seqs[ssrc] + rng.choice((1, 1, 1, 1, 2, 0, -1))) % 65536
        pt = 111 if ssrc == 0x22 else 0
        stamp = (seqs[ssrc] * (960 if pt == 111 else 160)) % (1 << 32)
        rtp = struct.pack("!BBHII", 0x80, pt, seqs[ssrc], stamp, ssrc) + bytes(160)
        if ssrc == 0x11:  # heuristic (even port, no SDP)
            src, dst = (B, 41000), (A, 42000)
        elif ssrc == 0x22:  # to the SDP's port, once the SDP has been seen
            src, dst = (B, 43000), (A, 40001)
        else:  # a second SSRC on the heuristic flow
            src, dst = (B, 41000), (A, 42000)
        if ssrc != 0x22 or i > 1500:  # (tshark would take 0x22 as RTP before its SDP too)
            out.append((now, udp_frame(rtp, src, dst, checksum=False)))
        if i == 1500:  # the SDP in mid-call: every flow is decided afresh
            out.append((now - 0.015, udp_frame(invite(40001), (A, 5060), (B, 5060))))
        if i % 500 == 7:
            rtcp = struct.pack("!BBHI", 0x80, 200, 6, 0x11) + bytes(20)  # an SR
            out.append((now, udp_frame(rtcp, (B, 41001), (A, 42001))))
            out.append((now, udp_frame(b"\x01\x02dns?", (B, 5353), (A, 53))))
            short = udp_frame(b"\x80\x00\x00\x01", (B, 41000), (A, 42000))  # 46 bytes...
            out.append((now, short + bytes(60 - len(short))))  # ...padded to 60
    return sorted(out, key=lambda item: item[0])


def bulk_was_used(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """[True, packets the fast case took] once the bulk reader has read a file."""
    monkeypatch.setattr(pcap, "BULK_MIN_BYTES", 0)  # these files are small
    used: list[int] = []
    scan, drain = pcapbulk.scan_classic_pcap, pcapbulk.PendingRtp.drain

    def spy_scan(*args: Any) -> bool:
        used[:] = [0]
        result = scan(*args)
        used.insert(0, result)
        return result

    def spy_drain(self: pcapbulk.PendingRtp, stream: Any) -> None:
        used[0] += len(self.positions(stream))
        drain(self, stream)

    monkeypatch.setattr(pcapbulk, "scan_classic_pcap", spy_scan)
    monkeypatch.setattr(pcapbulk.PendingRtp, "drain", spy_drain)
    return used


def byte_swapped(path: Path, nanoseconds: bool) -> None:
    """Rewrite a little-endian pcap file as a big-endian one (as a SPARC or PowerPC wrote it)."""
    data = path.read_bytes()
    magic, major, minor, zone, sigfigs, snaplen, link = struct.unpack_from("<IHHiIII", data)
    out = [struct.pack(">IHHiIII", magic, major, minor, zone, sigfigs, snaplen, link)]
    offset = 24
    while offset < len(data):
        seconds, fraction, captured, length = struct.unpack_from("<IIII", data, offset)
        if nanoseconds:
            fraction *= 1000
        out.append(struct.pack(">IIII", seconds, fraction, captured, length))
        out.append(data[offset + 16:offset + 16 + captured])
        offset += 16 + captured
    if nanoseconds:
        out[0] = struct.pack(">I", 0xA1B23C4D) + out[0][4:]
    path.write_bytes(b"".join(out))


@pytest.mark.parametrize("layout", ["little-endian us", "big-endian us", "big-endian ns",
                                    "linux cooked", "nanoseconds"])
def test_bulk_reader_gives_the_streams_the_general_reader_gives(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, layout: str) -> None:
    path = tmp_path / "call.pcap"
    sent = frames()
    if layout == "linux cooked":
        cooked = struct.pack("!HHH8sH", 0, 1, 6, bytes(8), 0x0800)  # SLL v1, then IPv4
        write_pcap(path, [(t, cooked + f[14:]) for t, f in sent], link_type=LINKTYPE_LINUX_SLL)
    else:
        write_pcap(path, sent, nanoseconds=layout == "nanoseconds")
    if layout.startswith("big-endian"):
        byte_swapped(path, nanoseconds=layout.endswith("ns"))
    used = bulk_was_used(monkeypatch)
    bulk = rtp_streams(path)
    assert used[0] is True
    # Nearly every RTP packet took the one-append case (not: the first of each stream,
    # and the first of each flow after the SDP).
    assert sum(s.packets for s in bulk) - used[1] <= 6
    general = rtp_streams(read_pcap(path))
    assert sorted(s.ssrc for s in bulk) == [0x11, 0x22, 0x33]
    assert {s.ssrc: s.encoding for s in bulk}[0x22] == "opus"  # 48 kHz from the late SDP
    assert_same_streams(bulk, general)


@pytest.mark.interop
def test_bulk_reader_agrees_with_tshark(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    require_peer("tshark", "tshark")
    path = tmp_path / "call.pcap"
    write_pcap(path, frames(seed=9))
    used = bulk_was_used(monkeypatch)
    check_against_tshark(rtp_streams(path), tshark_streams(path))
    assert used[0] is True


def test_a_record_cut_short_gives_the_general_readers_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "cut.pcap"
    write_pcap(path, frames()[:50])
    path.write_bytes(path.read_bytes()[:-30])
    bulk_was_used(monkeypatch)
    with pytest.raises(PcapError) as general:
        read_pcap(path)
    with pytest.raises(PcapError) as bulk:
        rtp_streams(path)
    assert str(bulk.value) == str(general.value)
    assert "truncated" in str(bulk.value)
