"""Seed inputs for every fuzz target, taken from the test suite's own real-world samples.

Mutating realistic input finds far more than random bytes do: the SIP
corpus (``tests/sip/corpus``, messages as baresip, JsSIP, SIP.js and sipp
send them), the SDP samples (``tests/sdp/samples.py``: Chrome, Firefox,
JsSIP, baresip, sipp, Linphone, Asterisk), and header values, URIs, digest
challenges and credentials cut out of those messages. RTP, RTCP, DTMF and
pcap seeds are built here with siplab's own writers.

``seeds(name)`` gives the list for one target of :mod:`tests.fuzz.targets`;
``fuzz/_harness.py`` writes them into the atheris corpus folders.
"""

from __future__ import annotations

import struct
from functools import cache

from siplab.rtp.dtmf import TelephoneEvent
from siplab.rtp.packet import RtpExtension, RtpPacket
from siplab.rtp.rtcp import (
    App,
    Bye,
    ReceiverReport,
    ReportBlock,
    SenderReport,
    SourceDescription,
    serialize_rtcp,
)
from tests.sdp import samples as sdp_samples
from tests.sip.corpus_loader import load_corpus

__all__ = ["seeds", "sip_messages", "sdp_texts", "header_values"]

_SDP_NAMES = [name for name in sdp_samples.__all__ if name != "sdp"]


@cache
def sip_messages() -> tuple[bytes, ...]:
    """Every corpus message, as wire bytes (CRLF)."""
    corpus = load_corpus()
    return tuple(corpus[name] for name in sorted(corpus))


@cache
def sdp_texts() -> tuple[bytes, ...]:
    """The SDP samples and every SDP body of the corpus."""
    texts = [getattr(sdp_samples, name).encode("utf-8") for name in _SDP_NAMES]
    for message in sip_messages():
        body = message.partition(b"\r\n\r\n")[2]
        if body.startswith(b"v=0"):
            texts.append(body)
    return tuple(texts)


@cache
def header_values() -> dict[str, tuple[bytes, ...]]:
    """Header values of the corpus by lower-case name, plus the Request-URIs as ``ruri``."""
    values: dict[str, list[bytes]] = {"ruri": []}
    for message in sip_messages():
        head = message.partition(b"\r\n\r\n")[0].split(b"\r\n")
        parts = head[0].split(b" ")
        if len(parts) == 3 and not head[0].startswith(b"SIP/"):
            values["ruri"].append(parts[1])
        for line in head[1:]:
            name, colon, value = line.partition(b":")
            if colon:
                values.setdefault(name.strip().lower().decode(), []).append(value.strip())
    return {name: tuple(found) for name, found in values.items()}


def _values(*names: str) -> list[bytes]:
    found = header_values()
    return [value for name in names for value in found.get(name, ())]


def _uris() -> list[bytes]:
    uris = list(_values("ruri"))
    for value in _values("from", "f", "to", "t", "contact", "m", "route", "record-route"):
        if b"<" in value and b">" in value:
            uris.append(value[value.index(b"<") + 1 : value.index(b">")])
    uris += [b"sip:alice:pw@[2001:db8::1]:5061;transport=tls;lr?subject=x&h=1",
             b"tel:+1-212-555-0101;phone-context=example.com", b"urn:service:sos",
             b"sips:%61lice@EXAMPLE.com;maddr=239.255.255.1;ttl=15"]
    return uris


def _rtp_packets() -> list[bytes]:
    return [
        RtpPacket(0, 1, 160, 0x1234, bytes(160)).to_bytes(),
        RtpPacket(8, 65535, 0xFFFFFFFF, 1, b"\xd5" * 20, marker=True).to_bytes(),
        RtpPacket(111, 7, 960, 2, b"opus", csrc=(1, 2, 3),
                  extension=RtpExtension(0xBEDE, b"\x10\xff\x00\x00"), padding=4).to_bytes(),
        RtpPacket(101, 9, 8000, 3, TelephoneEvent(5, True, 10, 800).to_bytes()).to_bytes(),
    ]


def _rtcp_packets() -> list[bytes]:
    block = ReportBlock(0x1234, 12, -3, 70000, 42, 0x11223344, 65536)
    return [
        serialize_rtcp([SenderReport(1, 0xE1B2C3D4A5B6C7D8, 160, 10, 1600, (block,)),
                        SourceDescription.with_cname(1, "alice@example.com")]),
        serialize_rtcp([ReceiverReport(2, (block, block)), Bye((2, 3), "bye now")]),
        serialize_rtcp([App(1, 5, b"TEST", b"\x00\x01\x02\x03")]),
        bytes.fromhex("81cd0003 00000001 00000002 00000003"),  # RTPFB, kept as unknown
    ]


def _dtmf_payloads() -> list[bytes]:
    return [TelephoneEvent(event, end, 10, duration).to_bytes() * repeat
            for event, end, duration, repeat in ((1, False, 160, 1), (11, True, 800, 2),
                                                 (16, True, 65535, 3))]


def _tcp_frame(payload: bytes, src: tuple[str, int], dst: tuple[str, int], seq: int,
               flags: int = 0x18) -> bytes:
    # Ethernet/IPv4/TCP with a 20-byte TCP header; checksums left at zero.
    tcp = struct.pack("!HHIIBBHHH", src[1], dst[1], seq, 0, 5 << 4, flags, 65535, 0, 0)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp) + len(payload), 0, 0, 64, 6, 0,
                     bytes(map(int, src[0].split("."))), bytes(map(int, dst[0].split("."))))
    return bytes.fromhex("020000000002 020000000001 0800") + ip + tcp + payload


def _pcap_file(frames: list[bytes], *, linktype: int = 1, big_endian: bool = False,
               nanoseconds: bool = False) -> bytes:
    order = ">" if big_endian else "<"
    magic = 0xA1B23C4D if nanoseconds else 0xA1B2C3D4
    out = struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, 65535, linktype)
    for index, frame in enumerate(frames):
        out += struct.pack(order + "IIII", 1_700_000_000, index * 20_000, len(frame), len(frame))
        out += frame
    return out


def _pcapng_file(frames: list[bytes]) -> bytes:
    # Section header, one Ethernet interface, one enhanced packet block per frame.
    def block(kind: int, body: bytes) -> bytes:
        body += bytes(-len(body) % 4)
        return struct.pack("<II", kind, len(body) + 12) + body + struct.pack("<I", len(body) + 12)

    out = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    out += block(1, struct.pack("<HHI", 1, 0, 65535))
    for index, frame in enumerate(frames):
        micros = 1_700_000_000_000_000 + index * 20_000
        out += block(6, struct.pack("<IIIII", 0, micros >> 32, micros & 0xFFFFFFFF, len(frame),
                                    len(frame)) + frame)
    return out


def _pcaps() -> list[bytes]:
    """Small captures of a call: SIP with SDP over UDP, its RTP and RTCP, SIP over
    TCP in two segments, SIP over WebSocket; as pcap (both byte orders, micro- and
    nanoseconds, raw IP) and pcapng."""
    from tests.rtp.pcap import udp_frame

    corpus = load_corpus()
    alice, bob, server = ("192.0.2.101", 5060), ("192.0.2.201", 5060), ("192.0.2.1", 5060)
    rtp = [RtpPacket(0, n, 160 * n, 0x1234, bytes(160)).to_bytes() for n in range(3)]
    register = corpus["register_sipp_style"]
    upgrade = (b"GET / HTTP/1.1\r\nHost: 192.0.2.1\r\nUpgrade: websocket\r\n"
               b"Connection: Upgrade\r\nSec-WebSocket-Protocol: sip\r\n\r\n")
    key = b"\x01\x02\x03\x04"
    options = corpus["options"]
    masked = bytes(byte ^ key[i % 4] for i, byte in enumerate(options))
    ws_frame = bytes([0x81, 0xFE]) + struct.pack("!H", len(options)) + key + masked
    frames = [
        udp_frame(corpus["invite_with_sdp_and_record_route"], alice, server),
        udp_frame(corpus["200_ok_with_sdp"], bob, server, 1),
        *(udp_frame(packet, ("192.0.2.101", 49170), ("192.0.2.201", 3456), 2 + n)
          for n, packet in enumerate(rtp)),
        udp_frame(_rtcp_packets()[0], ("192.0.2.101", 49171), ("192.0.2.201", 3457), 9),
        _tcp_frame(b"", ("192.0.2.7", 40000), server, 1000, flags=0x02),
        _tcp_frame(register[:100], ("192.0.2.7", 40000), server, 1001),
        _tcp_frame(register[100:], ("192.0.2.7", 40000), server, 1001 + 100),
        _tcp_frame(upgrade, ("192.0.2.8", 40001), ("192.0.2.1", 8080), 5000),
        _tcp_frame(ws_frame, ("192.0.2.8", 40001), ("192.0.2.1", 8080), 5000 + len(upgrade)),
    ]
    raw_ip = [frame[14:] for frame in frames[:3]]
    return [
        _pcap_file(frames),
        _pcap_file(frames[:4], big_endian=True, nanoseconds=True),
        _pcap_file(raw_ip, linktype=101),
        _pcapng_file(frames),
    ]


def _framer_streams() -> list[bytes]:
    # The first 8 bytes choose where the stream is cut (see targets.stream_framer).
    messages = sip_messages()
    return [bytes(range(8)) + messages[0] + b"\r\n\r\n" + messages[5],
            b"\x01" * 8 + b"\r\n" + messages[10] + messages[3]]


def seeds(name: str) -> list[bytes]:
    """The seed inputs of fuzz target ``name`` (a key of ``tests.fuzz.targets.TARGETS``)."""
    if name == "sip_message":
        return list(sip_messages())
    if name == "sip_uri":
        return _uris()
    if name == "sip_headers":
        return _values("via", "v", "from", "f", "to", "t", "contact", "m", "route",
                       "record-route", "cseq", "call-id", "i") + _uris()
    if name == "sip_digest":
        return _values("www-authenticate", "proxy-authenticate", "authorization",
                       "proxy-authorization")
    if name == "sdp":
        return list(sdp_texts())
    if name == "rtp":
        return _rtp_packets()
    if name == "rtcp":
        return _rtcp_packets()
    if name == "dtmf":
        return _dtmf_payloads()
    if name == "stream_framer":
        return _framer_streams()
    if name == "pcap":
        return _pcaps()
    raise KeyError(f"no fuzz target called {name!r}")
