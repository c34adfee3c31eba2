"""The bulk reader for big classic pcap files: one ``struct`` call per frame, numpy for the rest.

This module is about speed, not about SIP: read :mod:`siplab.lab.pcap` to
see how a frame is taken apart layer by layer, and scapy (``Trace.to_pcap``)
to see a packet built. What is here makes ``siplab analyze`` read a million
RTP packets in well under a second (bench/analyze.py compares it with tshark).

A capture of a call is almost all RTP: once the SDP (or the heuristic) has
said that a flow is RTP, nearly every frame is "one more packet of a stream
we know". For those frames, :func:`scan_classic_pcap` does the least Python
can do per frame:

1. one ``struct`` call reads the 16-byte record header *and* the few header
   fields that tell such a frame apart: EtherType, IPv4 version and header
   length, total length, fragment bits, protocol, the addresses and ports (as
   one 12-byte key), the RTP version and payload type, and the SSRC;
2. two dictionary look-ups (flow, then SSRC) find the stream;
3. the record's *position in the file* is appended to that stream's list.

Every other frame (SIP, RTCP, a stream's first packet, VLAN tags, IPv6,
fragments...) goes the long way, :meth:`siplab.lab.pcap._Scanner.read_frame`.

Nothing else about the packet is read in the loop. Every 4096 frames (about
a megabyte of file, still in the CPU's cache), :class:`PendingRtp` turns the
positions into the four columns :class:`~siplab.rtp.wireshark.WiresharkStats`
wants (capture time, sequence number, RTP timestamp, second octet) with
numpy: one gather of the 15 bytes they come from per packet
(``bytes[positions + offsets]``), read back as a table of typed columns,
instead of a million small ``struct`` calls. Every 16384 frames the columns
are counted by :func:`siplab.lab.analysis_bulk.count_columns`, Wireshark's
rules as array operations.

One trick: a pcap record header is in the *writer's* byte order (little-endian
nearly always), the packet in network order (big-endian). A struct format has
one byte order, so the loop reads the packet's fields in the file's order and
compares them with byte-swapped constants (EtherType 0x0800 reads as 0x0008);
the SSRC, used only as a dictionary key, is looked up in that same order
(:meth:`PendingRtp.ssrc_key`).

pcapng files, and link types other than Ethernet and Linux cooked (v1), take
the general loop in :mod:`siplab.lab.pcap`; they give the same numbers, a
little more slowly.
"""

from __future__ import annotations

import struct
from array import array
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from siplab.lab.analysis_bulk import count_columns
from siplab.lab.pcapfile import LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL, CaptureFile

if TYPE_CHECKING:
    from siplab.lab.media import RtpStream
    from siplab.lab.pcap import _Scanner

__all__ = ["PendingRtp", "scan_classic_pcap", "BULK_LINKS"]

#: Where the IP header starts in the link types the bulk reader takes (both end with
#: the EtherType, 0x0800 for IPv4).
BULK_LINKS = {LINKTYPE_ETHERNET: 14, LINKTYPE_LINUX_SLL: 16}
#: Bytes from the IP header to the RTP header: IPv4 without options (20), UDP (8).
_IP_TO_RTP = 28
#: Packets gathered at once by PendingRtp.drain (its index array: 15 x 8 bytes each).
_SLICE = 1 << 14
#: Frames between two drains: about a megabyte of file, still in the cache when it
#: is gathered (gathering a whole stream at the end, across the file, is 4x slower).
_DRAIN_EVERY = 1 << 12
#: Frames between two counts of the statistics (numpy over each stream's new packets).
_COUNT_EVERY = 1 << 14

_U8 = npt.NDArray[np.uint8]
_I64 = npt.NDArray[np.int64]


class PendingRtp:
    """The file positions of each stream's packets not yet turned into columns."""

    def __init__(self, buffer: Any, order: str, units: int, base: int, ip_offset: int) -> None:
        self._bytes: _U8 | None = np.frombuffer(buffer, dtype=np.uint8)
        self.little = order == "<"
        self.scale = 1.0 / units
        self.base = base
        # The 15 bytes a packet's columns come from, counted from its record's start:
        # the record header's seconds and fraction (in the file's byte order), and
        # the RTP header's second octet, sequence number and timestamp (big-endian).
        rtp = 16 + ip_offset + _IP_TO_RTP
        self._picks = np.array([*range(8), *range(rtp + 1, rtp + 8)], dtype=np.int64)
        self._fields = np.dtype({
            "names": ["seconds", "fraction", "octet", "sequence", "timestamp"],
            "formats": [order + "u4", order + "u4", "u1", ">u2", ">u4"],
            "offsets": [0, 4, 8, 9, 11], "itemsize": 15})
        self._positions: dict[RtpStream, array[int]] = {}

    def ssrc_key(self, ssrc: int) -> int:
        """The SSRC as the bulk loop reads it: in the file's byte order."""
        return int.from_bytes(ssrc.to_bytes(4, "big"), "little") if self.little else ssrc

    def positions(self, stream: RtpStream) -> array[int]:
        """The list the loop appends ``stream``'s record positions to."""
        found = self._positions.get(stream)
        if found is None:
            found = self._positions[stream] = array("q")
        return found

    def drain(self, stream: RtpStream) -> None:
        """Append ``stream``'s pending packets to its columns, in capture order."""
        positions = self._positions.get(stream)
        if not positions or self._bytes is None:
            return
        data = self._bytes
        at: _I64 = np.frombuffer(positions, dtype=np.int64).copy()
        del positions[:]
        # One gather of 15 bytes per packet (in slices, to keep the index small),
        # read back as a table with one typed column per field.
        picked = np.concatenate([data[(part[:, None] + self._picks).ravel()]
                                 for part in np.split(at, range(_SLICE, len(at), _SLICE))])
        table = picked.view(self._fields)
        # The same float operations, in the same order, as CaptureFile.records():
        # (seconds - base) + fraction * scale.
        times = (table["seconds"].astype(np.int64) - self.base).astype(np.float64) \
            + table["fraction"] * self.scale
        stream.times.frombytes(times.tobytes())
        stream.seqs.frombytes(table["sequence"].astype(np.uint16).tobytes())
        stream.timestamps.frombytes(table["timestamp"].astype(np.uint32).tobytes())
        stream.octets.frombytes(table["octet"].tobytes())

    def drain_all(self) -> None:
        for stream in self._positions:
            self.drain(stream)

    def close(self) -> None:
        """Let go of the file's memory (a mapped file cannot close while numpy holds it)."""
        self._bytes = None


def scan_classic_pcap(scanner: _Scanner, file: CaptureFile, bar: Any) -> bool:
    """Read a classic pcap file's frames into ``scanner``; False if this file is not for us.

    The loop is :meth:`siplab.lab.pcap._Scanner.run` with the record walk of
    :meth:`~siplab.lab.pcapfile.CaptureFile.records` written into it, and the
    fast case reduced to one append (see the module docstring).
    """
    if file.format != "pcap":
        return False
    order, units, link = file.pcap_header()
    ip_offset = BULK_LINKS.get(link)
    if ip_offset is None:
        return False
    buf, size = file.buffer, file.size
    header = struct.Struct(order + "IIII").unpack_from
    # Record header; link header up to the EtherType; EtherType; IPv4: version+length,
    # total length (two bytes), fragment bits, protocol, addresses; UDP: ports (with the
    # addresses, a 12-byte key); RTP: first two octets, then (past sequence number and
    # timestamp) the SSRC.
    fields = struct.Struct(order + f"IIII{ip_offset - 2}xHBxBB2xHxB2x12s4xBB6xI")
    unpack = fields.unpack_from
    swapped = order == "<"
    ipv4 = 0x0008 if swapped else 0x0800  # EtherType 0x0800, read in the file's order
    fragment_bits = 0xFF3F if swapped else 0x3FFF  # "more fragments" and the offset
    last_full = size - fields.size  # the last offset one fields() call may start at
    scale = 1.0 / units
    base = 0
    if size >= 40:  # the first frame's whole second, and its time after it
        base, first_fraction, _, _ = header(buf, 24)
        scanner.base, scanner.first = base, first_fraction * scale
    pending = scanner.bulk = PendingRtp(buf, order, units, base, ip_offset)
    flows = scanner.flows
    every, count_every = _DRAIN_EVERY - 1, _COUNT_EVERY - 1
    frame, offset = 0, 24
    try:
        while offset < size:
            if offset <= last_full:
                seconds, fraction, captured, _, ethertype, vihl, length_high, length_low, \
                    fragment, protocol, key, octet, second, ssrc = unpack(buf, offset)
            elif offset + 16 <= size:
                seconds, fraction, captured, _ = header(buf, offset)
                ethertype = -1  # too near the end for fields(): the long way
            else:
                raise file.truncated_record(offset)
            start = offset + 16
            end = start + captured
            if end > size:
                raise file.truncated_record(offset)
            frame += 1
            if not frame & every:
                pending.drain_all()  # while those bytes are still in the CPU's cache
                if not frame & count_every:
                    for stream in scanner.stream_list:
                        _count(stream)
                    if bar is not None:
                        bar.update(end - bar.n)
            # IPv4 without options, UDP, not a fragment, and an IP length that holds the
            # RTP header and fits in the frame (so no Ethernet padding is read as RTP).
            if ethertype == ipv4 and vihl == 0x45 and protocol == 17 \
                    and not fragment & fragment_bits \
                    and 40 <= (length_high << 8 | length_low) <= captured - ip_offset:
                flow = flows.get(key)
                if flow is not None and octet >> 6 == 2 and not 72 <= second & 0x7F <= 76:
                    add = flow.get(ssrc)
                    if add is not None:
                        add(offset)  # a packet of a known stream: just remember where
                        offset = end
                        continue
            scanner.read_frame(buf, link, start, end, frame, (seconds - base) + fraction * scale)
            offset = end
        for stream in scanner.stream_list:
            pending.drain(stream)
            _count(stream)
    finally:
        pending.close()
    scanner.frames = frame
    return True


def _count(stream: RtpStream) -> None:
    """Count ``stream``'s columns into its statistics (what ``stream.flush()`` does, with numpy)."""
    if not stream.times:
        return
    count_columns(stream.stats, np.array(stream.times, dtype=np.float64),
                  np.array(stream.seqs, dtype=np.int64),
                  np.array(stream.timestamps, dtype=np.int64),
                  np.array(stream.octets, dtype=np.int64))
    for column in (stream.times, stream.seqs, stream.timestamps, stream.octets):
        del column[:]
