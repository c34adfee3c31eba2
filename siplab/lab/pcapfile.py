"""The pcap and pcapng capture file formats: records in, records out, with ``struct``.

A capture file is a header and then one *record* per frame the interface saw:
when (a timestamp), how long the frame was, and its bytes, starting at the
link layer (an Ethernet header, or Linux's "cooked" header when tshark
captured ``-i any``). Two formats exist:

**pcap** (libpcap, the classic): a 24-byte file header whose magic number
gives the byte order and the time resolution (``a1b2c3d4``: microseconds,
``a1b23c4d``: nanoseconds; byte-swapped when the writer was big-endian), the
snapshot length and one link type for the whole file. Each record is a
16-byte header (seconds, fraction, captured length, original length) and the
bytes.

**pcapng** (what tshark and dumpcap write by default): a sequence of
*blocks*, each ``type, total length, body, total length``. A Section Header
Block (``0a0d0d0a``) gives the byte order; an Interface Description Block
gives each interface its link type and time resolution (option
``if_tsresol``); Enhanced Packet Blocks carry the frames, with a 64-bit
timestamp in the interface's units. Other blocks (name resolution,
statistics) are skipped.

:class:`CaptureFile` maps a file into memory and yields its records as
``(time, link type, start, end)``: a time in seconds from the first record's
whole second (so the arithmetic stays exact to the nanosecond), and the frame's
place in the mapped buffer. Nothing is copied and no object is built per
frame, which is why a million frames take a second and not a minute (scapy's
``rdpcap`` builds a full object per packet: 1/60 of tshark's speed, FACTS.md).

:func:`write_pcap` and :func:`udp_frame` go the other way, for generated
captures (the benchmark writes a million RTP packets with them). Building
frames one layer at a time, the teaching way, is scapy's job in
:mod:`siplab.lab.pcapwrite`.
"""

from __future__ import annotations

import mmap
import os
import struct
from collections.abc import Iterable, Iterator
from pathlib import Path

from siplab.errors import SipError

__all__ = [
    "PcapError",
    "CaptureFile",
    "write_pcap",
    "udp_frame",
    "internet_checksum",
    "LINKTYPE_NULL",
    "LINKTYPE_ETHERNET",
    "LINKTYPE_RAW",
    "LINKTYPE_LOOP",
    "LINKTYPE_LINUX_SLL",
    "LINKTYPE_IPV4",
    "LINKTYPE_IPV6",
    "LINKTYPE_LINUX_SLL2",
]

LINKTYPE_NULL = 0  # BSD loopback: a 4-byte address family in the writer's byte order
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101  # the IP header first (also 12 and 14 on some systems)
LINKTYPE_LOOP = 108  # OpenBSD loopback: the family in network byte order
LINKTYPE_LINUX_SLL = 113  # Linux "cooked" capture v1 (tshark -i any, before libpcap 1.10)
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276  # Linux "cooked" capture v2

_PCAP_MAGIC = {  # magic as read little-endian -> (byte order, fraction units per second)
    0xA1B2C3D4: ("<", 1_000_000),
    0xD4C3B2A1: (">", 1_000_000),
    0xA1B23C4D: ("<", 1_000_000_000),
    0x4D3CB2A1: (">", 1_000_000_000),
}
_PCAPNG_SHB = 0x0A0D0D0A
_PCAPNG_BYTE_ORDER = 0x1A2B3C4D
_IDB, _PB, _SPB, _EPB = 1, 2, 3, 6


class PcapError(SipError, ValueError):
    """A file that cannot be read as a capture: missing, empty, truncated, or not pcap.

    The message is one line and names the file, ready for a command line.
    """


class CaptureFile:
    """A pcap or pcapng file mapped into memory; iterate :meth:`records` once or more.

    Raises :class:`PcapError` for a file that is missing, empty or not a
    capture; a record cut short raises it when the iteration reaches it.
    Use it as a context manager, or call :meth:`close`.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        name = str(path)
        try:
            with open(self.path, "rb") as file:
                size = os.fstat(file.fileno()).st_size
                if size == 0:
                    raise PcapError(f"{name}: empty file (0 bytes), not a capture")
                self.buffer: mmap.mmap | bytes = mmap.mmap(file.fileno(), 0,
                                                           access=mmap.ACCESS_READ)
        except FileNotFoundError:
            raise PcapError(f"{name}: no such file") from None
        except IsADirectoryError:
            raise PcapError(f"{name}: is a directory, not a capture file") from None
        except PermissionError:
            raise PcapError(f"{name}: permission denied") from None
        except OSError as error:
            raise PcapError(f"{name}: cannot read: {error.strerror or error}") from None
        self.size = size
        head = bytes(self.buffer[:4])
        if len(head) == 4 and struct.unpack("<I", head)[0] in _PCAP_MAGIC:
            self.format = "pcap"
            if size < 24:
                self.close()
                raise PcapError(f"{name}: truncated pcap header ({size} of 24 bytes)")
        elif len(head) == 4 and struct.unpack("<I", head)[0] == _PCAPNG_SHB:
            self.format = "pcapng"
        else:
            self.close()
            raise PcapError(f"{name}: not a pcap or pcapng capture "
                            f"(starts with {head.hex(' ') or 'nothing'})")
        self.base: int | None = None  # the first record's whole second (epoch)

    def close(self) -> None:
        if isinstance(self.buffer, mmap.mmap):
            self.buffer.close()

    def __enter__(self) -> CaptureFile:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _error(self, text: str) -> PcapError:
        return PcapError(f"{self.path}: {text}")

    def pcap_header(self) -> tuple[str, int, int]:
        """Of a classic pcap file: (struct byte order, fraction units per second, link type)."""
        order, units = _PCAP_MAGIC[struct.unpack_from("<I", self.buffer, 0)[0]]
        link = struct.unpack_from(order + "20xI", self.buffer, 0)[0] & 0x0FFFFFFF  # top: FCS
        return order, units, link

    def truncated_record(self, offset: int) -> PcapError:
        """The error for a classic pcap record at ``offset`` that the file cuts short."""
        if offset + 16 > self.size:
            return self._error(f"truncated: a record header at byte {offset} is cut short "
                               f"({self.size - offset} of 16 bytes)")
        captured = struct.unpack_from(self.pcap_header()[0] + "8xI", self.buffer, offset)[0]
        return self._error(f"truncated: the record at byte {offset} needs "
                           f"{captured} bytes, the file has {self.size - offset - 16} left")

    def records(self) -> Iterator[tuple[float, int, int, int]]:
        """``(seconds since base, link type, start, end)`` of every frame, in file order.

        ``base`` (an epoch second) is set from the first record; the time of a
        frame is ``base + seconds``. Frames of link types this module does not
        decode are yielded all the same, so frame numbers match Wireshark's.
        """
        if self.format == "pcap":
            return self._pcap_records()
        return self._pcapng_records()

    def _pcap_records(self) -> Iterator[tuple[float, int, int, int]]:
        buf = self.buffer
        order, units, link = self.pcap_header()
        unpack = struct.Struct(order + "IIII").unpack_from
        scale = 1.0 / units
        size = self.size
        offset = 24
        if size >= offset + 16:
            self.base = base = unpack(buf, offset)[0]
        while offset < size:
            if offset + 16 > size:
                raise self.truncated_record(offset)
            seconds, fraction, captured, _ = unpack(buf, offset)
            start = offset + 16
            offset = start + captured
            if offset > size:
                raise self.truncated_record(start - 16)
            yield (seconds - base) + fraction * scale, link, start, offset

    def _pcapng_records(self) -> Iterator[tuple[float, int, int, int]]:
        buf = self.buffer
        size = self.size
        offset = 0
        order = "<"
        interfaces: list[tuple[int, int, int, int]] = []  # (link, units/s, offset s, snaplen)
        base: int | None = None
        while offset < size:
            if offset + 12 > size:
                raise self._error(f"truncated: a block header at byte {offset} is cut short")
            block_type = struct.unpack_from(order + "I", buf, offset)[0]
            if block_type == _PCAPNG_SHB:
                magic = struct.unpack_from("<I", buf, offset + 8)[0]
                if magic == _PCAPNG_BYTE_ORDER:
                    order = "<"
                elif magic == struct.unpack(">I", struct.pack("<I", _PCAPNG_BYTE_ORDER))[0]:
                    order = ">"
                else:
                    raise self._error(f"bad pcapng byte-order magic at byte {offset + 8}")
                interfaces = []  # each section numbers its interfaces anew
            length = struct.unpack_from(order + "I", buf, offset + 4)[0]
            if length < 12 or length % 4:
                raise self._error(f"bad pcapng block length {length} at byte {offset}")
            end = offset + length
            if end > size:
                raise self._error(f"truncated: the block at byte {offset} needs {length} "
                                  f"bytes, the file has {size - offset} left")
            body = offset + 8
            if block_type == _IDB:
                interfaces.append(self._interface(order, body, end - 4))
            elif block_type in (_EPB, _PB, _SPB):
                if block_type == _SPB:
                    interface, high, low = 0, 0, 0
                    captured = struct.unpack_from(order + "I", buf, body)[0]
                    data = body + 4
                    captured = min(captured, end - 4 - data)
                else:
                    if block_type == _EPB:
                        interface, high, low, captured = struct.unpack_from(
                            order + "IIII", buf, body)
                    else:  # the obsolete Packet Block: a 16-bit interface id and drop count
                        interface, high, low, captured = struct.unpack_from(
                            order + "H2xIII", buf, body)
                    data = body + 20
                if interface >= len(interfaces):
                    raise self._error(f"a packet at byte {offset} names interface {interface}, "
                                      f"which no Interface Description Block declared")
                link, units, shift, snaplen = interfaces[interface]
                if block_type == _SPB and snaplen:
                    captured = min(captured, snaplen)
                if data + captured > end - 4:
                    raise self._error(f"bad pcapng packet length {captured} at byte {offset}")
                stamp = (high << 32) | low
                seconds, fraction = divmod(stamp, units)
                seconds += shift
                if base is None:
                    self.base = base = seconds
                yield (seconds - base) + fraction / units, link, data, data + captured
            offset = end

    def _interface(self, order: str, body: int, end: int) -> tuple[int, int, int, int]:
        """Link type, timestamp units per second, offset in seconds, snap length of an IDB."""
        buf = self.buffer
        link, snaplen = struct.unpack_from(order + "H2xI", buf, body)
        units, shift = 1_000_000, 0
        option = body + 8
        while option + 4 <= end:
            code, length = struct.unpack_from(order + "HH", buf, option)
            value = option + 4
            if code == 0:  # opt_endofopt
                break
            if code == 9 and length >= 1:  # if_tsresol: 10^-v, or 2^-v with the top bit set
                resolution = buf[value]
                units = 2 ** (resolution & 0x7F) if resolution & 0x80 else 10 ** resolution
            elif code == 14 and length >= 8:  # if_tsoffset: seconds to add
                shift = struct.unpack_from(order + "q", buf, value)[0]
            option = value + (length + 3) // 4 * 4
        return link, units, shift, snaplen


# -- writing ---------------------------------------------------------------------------------


def internet_checksum(data: bytes) -> int:
    """The 16-bit one's-complement sum of IP, UDP and TCP headers (RFC 1071)."""
    if len(data) % 2:
        data += b"\x00"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _mac(address: bytes) -> bytes:
    """A locally administered MAC address made from an IPv4 address: 02:00:a.b.c.d."""
    return b"\x02\x00" + address[-4:]


def udp_frame(payload: bytes, src: tuple[str, int], dst: tuple[str, int], *,
              ident: int = 0, checksum: bool = True) -> bytes:
    """One Ethernet/IPv4/UDP frame carrying ``payload`` from ``src`` to ``dst``.

    The IPv4 header checksum is always computed; the UDP checksum only with
    ``checksum=True`` (0 means "none" in IPv4, RFC 768, and is quicker to write).
    """
    src_ip = bytes(int(part) for part in src[0].split("."))
    dst_ip = bytes(int(part) for part in dst[0].split("."))
    length = 8 + len(payload)
    udp_sum = 0
    if checksum:
        pseudo = src_ip + dst_ip + struct.pack("!BBH", 0, 17, length)
        udp_sum = internet_checksum(
            pseudo + struct.pack("!HHHH", src[1], dst[1], length, 0) + payload) or 0xFFFF
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + length, ident & 0xFFFF, 0x4000, 64, 17, 0,
                     src_ip, dst_ip)
    ip = ip[:10] + struct.pack("!H", internet_checksum(ip)) + ip[12:]
    ethernet = _mac(dst_ip) + _mac(src_ip) + b"\x08\x00"
    return ethernet + ip + struct.pack("!HHHH", src[1], dst[1], length, udp_sum) + payload


def write_pcap(path: str | os.PathLike[str], frames: Iterable[tuple[float, bytes]], *,
               link_type: int = LINKTYPE_ETHERNET, nanoseconds: bool = False) -> int:
    """Write ``(epoch seconds, frame)`` pairs as a classic pcap file; return the frame count."""
    units = 1_000_000_000 if nanoseconds else 1_000_000
    magic = 0xA1B23C4D if nanoseconds else 0xA1B2C3D4
    header = struct.Struct("<IIII")
    count = 0
    with open(path, "wb") as out:
        out.write(struct.pack("<IHHiIII", magic, 2, 4, 0, 0, 262144, link_type))
        for time, frame in frames:
            stamp = round(time * units)
            seconds, fraction = divmod(stamp, units)
            out.write(header.pack(seconds, fraction, len(frame), len(frame)))
            out.write(frame)
            count += 1
    return count
