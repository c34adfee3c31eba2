"""A minimal pcap writer for tests: Ethernet/IPv4/UDP frames built with struct.

Enough to hand tshark a capture of synthetic RTP; siplab.lab will have the
real trace-to-pcap writer. Checksums are computed (IPv4 header and UDP), so
tshark reports no errors.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterable
from pathlib import Path

__all__ = ["udp_frame", "write_pcap"]

_ETHERTYPE_IPV4 = 0x0800
_LINKTYPE_ETHERNET = 1


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return int(~total & 0xFFFF)


def udp_frame(payload: bytes, src: tuple[str, int], dst: tuple[str, int], ident: int = 0) -> bytes:
    """One Ethernet frame carrying ``payload`` in UDP from ``src`` to ``dst`` (IPv4)."""
    src_ip = ipaddress.IPv4Address(src[0]).packed
    dst_ip = ipaddress.IPv4Address(dst[0]).packed
    length = 8 + len(payload)
    pseudo = src_ip + dst_ip + struct.pack("!BBH", 0, 17, length)
    udp = struct.pack("!HHHH", src[1], dst[1], length, 0) + payload
    udp_sum = _checksum(pseudo + udp) or 0xFFFF  # 0 would mean "no checksum"
    udp = udp[:6] + struct.pack("!H", udp_sum) + udp[8:]
    ip = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + length, ident & 0xFFFF, 0, 64, 17, 0, src_ip, dst_ip
    )
    ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
    ethernet = bytes.fromhex("020000000002 020000000001") + struct.pack("!H", _ETHERTYPE_IPV4)
    return ethernet + ip + udp


def write_pcap(path: Path, frames: Iterable[tuple[int, bytes]]) -> None:
    """Write (time in microseconds, frame) records as a classic microsecond pcap file."""
    with path.open("wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, _LINKTYPE_ETHERNET))
        for micros, frame in frames:
            seconds, fraction = divmod(micros, 1_000_000)
            out.write(struct.pack("<IIII", seconds, fraction, len(frame), len(frame)))
            out.write(frame)
