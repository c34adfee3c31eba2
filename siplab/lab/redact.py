"""Hiding the digest answers in a capture file made anywhere: :func:`redact_pcap`.

``Trace(redact=True)`` and ``Trace.to_pcap(redact=True)`` keep credentials out
of what siplab itself records. A capture made elsewhere (tshark, dumpcap, a
student's laptop) needs the same before it is shared with a class: the
``Authorization`` and ``Proxy-Authorization`` headers carry a hash of the
password (``response=``) and the client's nonce (``cnonce=``), enough to try
passwords offline (RFC 3261 §22.4, RFC 7616 §5.12). :func:`redact_pcap` (and
``siplab redact in.pcap -o out.pcap``) writes a copy in which those values,
and any HTTP ``Basic`` credentials (a password barely encoded: RFC 7617),
read ``NOT SHOWN...``; every other byte is the same.

**Why the placeholder has the same length as the value.** Over TCP the bytes
of a message are numbered: a segment's *sequence number* says where its
bytes sit in the stream, and every acknowledgement names a number (RFC 9293
§3.4). Making one message shorter would shift every later number in both
directions, and the IP and TCP lengths, and a WebSocket frame's length
field. Writing ``"NOT SHOWN"`` padded with dots (or ``x``\\ s, for a value
shorter than that) over exactly the bytes of the value changes nothing of
that: only the checksums change, and they are updated from the bytes that
changed (RFC 1624), so a checksum that was right stays right and one that
was not (captured before the network card filled it in) stays as it was.
Content-Length counts the body only, which is never touched. What remains
visible is the *length* of each value, which says no more than the
``algorithm=`` next to it.

Where the values are:

* **UDP**: one SIP message per datagram (RFC 3261 §18.1).
* **TCP**: a message may span several segments and a segment may hold
  several messages, so each direction of each connection is put back
  together by sequence number (as :mod:`siplab.lab.reassembly` does to read
  it), cut into messages by their Content-Length, redacted, and the changed
  bytes written back into every segment that carried them (retransmissions
  included).
* **IPv4 fragments** (RFC 791 §3.2): a datagram larger than the link's MTU
  travels in pieces (siplab's own ``Trace.to_pcap`` cuts a UDP message over
  1,472 bytes so, as the sender's kernel would). The pieces are put back
  together, the message redacted, and the changed bytes written back into
  the pieces that held them; the UDP checksum, in the first piece, covers
  the whole datagram.
* **WebSocket** (RFC 6455, RFC 7118): the TCP stream after the HTTP upgrade
  is a sequence of frames; a client's frames are XORed with a 4-byte masking
  key (§5.3), so the payload is unmasked, redacted, masked again with the
  same key. A message split into continuation frames is redacted whole.

Left as they were, and counted in the :class:`RedactionReport`: IPv6
fragments and IPv4 fragments of a datagram that the capture does not hold
whole (a SIP message over 1,300 bytes should go over TCP anyway, §18.1.1),
and WebSocket bytes after a gap in the capture (without the frame boundaries
the masks cannot be found). TLS and WSS are encrypted: nothing to hide there.
"""

from __future__ import annotations

import os
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

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
)
from siplab.lab.reassembly import looks_like_sip, unmask
from siplab.lab.trace import CREDENTIAL_LINE, HIDDEN, SECRET_PARAM

__all__ = ["redact_pcap", "RedactionReport", "hide_credentials", "placeholder"]

_RAW_LINKS = frozenset({LINKTYPE_RAW, 12, 14, LINKTYPE_IPV4, LINKTYPE_IPV6})
_IPV6_EXTENSIONS = frozenset({0, 43, 60, 135, 139, 140})
_BSD_FAMILIES_V6 = frozenset({10, 24, 28, 30})
# "Authorization: Basic dXNlcjpwYXNzd29yZA==": user:password in base64 (RFC 7617 §2).
_BASIC = re.compile(rb"(?i)^([ \t]*basic[ \t]+)([^\s,]+)")
_CONTENT_LENGTH = re.compile(rb"(?im)^(?:content-length|l)[ \t]*:[ \t]*(\d{1,9})[ \t]*\r?$")
_HEAD_END = b"\r\n\r\n"
_MASK32 = 0xFFFFFFFF


@dataclass
class RedactionReport:
    """What :func:`redact_pcap` did: frames read and changed, values hidden, and what it
    could not look into (see the module docstring)."""

    path: Path
    frames: int = 0
    changed_frames: int = 0
    values: int = 0  # response, cnonce and Basic values hidden
    fragments: int = 0  # IP fragments left as they were (see the module docstring)
    unreadable_websocket_bytes: int = 0  # after a gap in a WebSocket stream

    def __str__(self) -> str:
        text = (f"{self.path}: {self.values} credential values hidden in "
                f"{self.changed_frames} of {self.frames} frames")
        if self.fragments:
            text += f"; {self.fragments} IP fragments not examined"
        if self.unreadable_websocket_bytes:
            text += (f"; {self.unreadable_websocket_bytes} WebSocket bytes after a capture "
                     "gap not examined")
        return text


def placeholder(length: int, *, quoted: bool = True) -> bytes:
    """``length`` bytes that say the value is hidden: ``NOT SHOWN`` and dots, or ``x``\\ s.

    ``quoted``: the value sits between double quotes, where a space is allowed;
    a bare token (RFC 3261 §25.1) gets ``NOT-SHOWN``.
    """
    text = (HIDDEN if quoted else HIDDEN.replace(" ", "-")).encode()
    if length >= len(text):
        return text + b"." * (length - len(text))
    return b"x" * length


def hide_credentials(head: bytes) -> tuple[bytes, int]:
    """``head`` (header lines) with every Authorization and Proxy-Authorization
    ``response``, ``cnonce`` and Basic credential overwritten by a :func:`placeholder`
    of the same length; and how many values were hidden.

    The same headers as :func:`siplab.lab.trace.redact_credentials` (its
    patterns), but the length of every byte string stays as it was.
    """
    if b"uthorization" not in head.lower():
        return head, 0
    hidden = 0

    def same_length(value: bytes) -> bytes:
        nonlocal hidden
        hidden += 1
        if len(value) >= 2 and value[:1] == b'"' and value[-1:] == b'"':
            return b'"' + placeholder(len(value) - 2) + b'"'
        return placeholder(len(value), quoted=False)

    def hide_line(line: re.Match[bytes]) -> bytes:
        value = SECRET_PARAM.sub(
            lambda m: m.group(1) + m.group(2) + same_length(m.group(3)), line.group(2))
        value = _BASIC.sub(lambda m: m.group(1) + same_length(m.group(2)), value)
        return line.group(1) + value

    result = CREDENTIAL_LINE.sub(hide_line, head)
    assert len(result) == len(head)
    return result, hidden


def _next_start(data: bytes | bytearray, position: int) -> int | None:
    """Where the next line that starts a SIP message begins, at or after ``position``."""
    search = position
    while True:
        found = data.find(b"SIP/2.0", search)
        if found < 0:
            return None
        line = max(data.rfind(b"\n", position, found) + 1, position)
        if looks_like_sip(bytes(data[line:line + 256])):
            return line
        search = found + 7


def _hide_messages(data: bytearray, start: int = 0, *, single: bool = False) -> int:
    """Hide the credentials of every SIP message in ``data[start:]``, in place.

    Messages are cut by their Content-Length (RFC 3261 §18.3), so a body is
    never touched. Bytes that are not a message we can frame (a capture that
    starts mid-message, a gap) have their header-like lines hidden all the
    same: better a body line too many than a hash left behind. ``single``:
    ``data`` holds one message (a datagram, a WebSocket message).
    """
    hidden, position, size = 0, start, len(data)
    while position < size:
        while position < size and data[position] in b"\r\n":
            position += 1  # keep-alives (RFC 5626 §3.5.1)
        if position >= size:
            break
        if not looks_like_sip(bytes(data[position:position + 256])):
            begin = _next_start(data, position)
            stretch_end = size if begin is None else begin
            new, count = hide_credentials(bytes(data[position:stretch_end]))
            data[position:stretch_end] = new
            hidden += count
            if begin is None:
                break
            position = begin
        head_end = data.find(_HEAD_END, position)
        head_end = size if head_end < 0 else head_end + len(_HEAD_END)
        new, count = hide_credentials(bytes(data[position:head_end]))
        data[position:head_end] = new
        hidden += count
        if single:
            break
        length = _CONTENT_LENGTH.search(data, position, head_end)
        position = head_end + (int(length.group(1)) if length else 0)
    return hidden


# -- the layers under the message ------------------------------------------------------------


@dataclass
class _Segment:
    """One TCP segment's data in the file: where the payload and the checksum are."""

    seq: int
    payload: int  # offset of the payload in the file
    length: int
    checksum: int  # offset of the TCP checksum in the file
    frame: int
    offset: int = 0  # where the payload sits in the reassembled stream


@dataclass
class _Direction:
    """One direction of one TCP connection."""

    first_seq: int | None = None  # the SYN's seq + 1, if the capture has the SYN
    segments: list[_Segment] = field(default_factory=list)


def _ones_sum(data: bytes | bytearray) -> int:
    """The 16-bit one's-complement sum of ``data`` (padded to even length), RFC 1071."""
    if len(data) % 2:
        data = bytes(data) + b"\x00"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def _update_checksum(buffer: bytearray, at: int, old: bytes, new: bytes, *,
                     udp: bool = False) -> None:
    """Update the checksum at ``buffer[at:at+2]`` for ``old`` bytes becoming ``new``
    (both starting at an even offset of what the checksum covers): RFC 1624, eqn. 3,
    HC' = ~(~HC + ~m + m')."""
    checksum = int.from_bytes(buffer[at:at + 2], "big")
    if udp and checksum == 0:
        return  # IPv4 UDP without a checksum (RFC 768)
    total = (~checksum & 0xFFFF) + (~_ones_sum(old) & 0xFFFF) + _ones_sum(new)
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    result = ~total & 0xFFFF
    if udp and result == 0:
        result = 0xFFFF  # 0 would mean "no checksum"
    buffer[at:at + 2] = result.to_bytes(2, "big")


class _Redactor:
    """One pass over the frames (UDP at once, TCP collected), then the TCP streams."""

    def __init__(self, buffer: bytearray, report: RedactionReport) -> None:
        self.buffer = buffer
        self.report = report
        self.tcp: dict[tuple[bytes, bytes, int, int], _Direction] = {}
        self.changed: set[int] = set()  # frame numbers
        # (src, dst, identification, protocol) -> [(offset, file position, length, frame, more)]
        self.pieces: dict[tuple[bytes, int, int], list[tuple[int, int, int, int, bool]]] = {}

    def frame(self, link: int, start: int, end: int, number: int) -> None:
        buf = self.buffer
        located = _network_start(buf, link, start, end)
        if located is None:
            return
        ethertype, ip = located
        if ethertype == 0x0800:
            if end - ip < 20 or buf[ip] >> 4 != 4:
                return
            total = (buf[ip + 2] << 8) | buf[ip + 3]
            end = min(end, ip + total)  # Ethernet pads short frames
            protocol = buf[ip + 9]
            src, dst = bytes(buf[ip + 12:ip + 16]), bytes(buf[ip + 16:ip + 20])
            fragment = ((buf[ip + 6] << 8) | buf[ip + 7]) & 0x3FFF  # more fragments, offset
            if fragment:
                self.fragment(ip, end, fragment, number)
                return
            l4 = ip + (buf[ip] & 0x0F) * 4
        elif ethertype == 0x86DD:
            if end - ip < 40:
                return
            end = min(end, ip + 40 + ((buf[ip + 4] << 8) | buf[ip + 5]))
            protocol, l4 = buf[ip + 6], ip + 40
            src, dst = bytes(buf[ip + 8:ip + 24]), bytes(buf[ip + 24:ip + 40])
            while protocol in _IPV6_EXTENSIONS and l4 + 8 <= end:
                protocol, l4 = buf[l4], l4 + (buf[l4 + 1] + 1) * 8
            if protocol == 44:
                self.report.fragments += 1
                return
        else:
            return
        if protocol == 17 and end - l4 >= 8:
            self.datagram(l4, end, number)
        elif protocol == 6 and end - l4 >= 20:
            self.segment(l4, end, src, dst, number)

    def fragment(self, ip: int, end: int, fragment: int, number: int) -> None:
        """Keep one IPv4 fragment; redact the datagram once every piece is in."""
        buf = self.buffer
        key = (bytes(buf[ip + 12:ip + 20]), (buf[ip + 4] << 8) | buf[ip + 5], buf[ip + 9])
        pieces = self.pieces.setdefault(key, [])
        data = ip + (buf[ip] & 0x0F) * 4
        pieces.append(((fragment & 0x1FFF) * 8, data, end - data, number,
                       bool(fragment & 0x2000)))
        pieces.sort()
        whole = bytearray()
        for offset, position, length, _, _ in pieces:
            if offset > len(whole):
                return  # a hole: wait for the missing piece
            whole[offset:offset + length] = buf[position:position + length]
        if pieces[-1][4]:
            return  # the last piece (more-fragments clear) has not come yet
        del self.pieces[key]
        if key[2] != 17 or len(whole) < 8 or not looks_like_sip(bytes(whole[8:264])):
            return
        old = bytes(whole)
        payload = whole[8:]
        hidden = _hide_messages(payload, single=True)
        if not hidden:
            return
        self.report.values += hidden
        new = old[:8] + bytes(payload)
        for offset, position, length, frame, _ in pieces:
            if old[offset:offset + length] != new[offset:offset + length]:
                buf[position:position + length] = new[offset:offset + length]
                self.changed.add(frame)
        first = pieces[0]
        _update_checksum(buf, first[1] + 6, old, new, udp=True)  # it covers the whole datagram
        self.changed.add(first[3])

    def datagram(self, l4: int, end: int, number: int) -> None:
        payload = self.buffer[l4 + 8:end]
        if not looks_like_sip(bytes(payload[:256])):
            return
        old = bytes(payload)
        hidden = _hide_messages(payload, single=True)
        if hidden:
            self._patch(l4 + 8, old, bytes(payload), l4 + 6, number, udp=True)
            self.report.values += hidden

    def segment(self, l4: int, end: int, src: bytes, dst: bytes, number: int) -> None:
        buf = self.buffer
        sport, dport = (buf[l4] << 8) | buf[l4 + 1], (buf[l4 + 2] << 8) | buf[l4 + 3]
        seq = int.from_bytes(buf[l4 + 4:l4 + 8], "big")
        direction = self.tcp.setdefault((src, dst, sport, dport), _Direction())
        if buf[l4 + 13] & 0x02:  # SYN: the data starts one after its number
            direction.first_seq = (seq + 1) & _MASK32
            return
        payload = l4 + (buf[l4 + 12] >> 4) * 4
        if end > payload:
            direction.segments.append(_Segment(seq, payload, end - payload, l4 + 16, number))

    def streams(self) -> None:
        for direction in self.tcp.values():
            if direction.segments:
                self.stream(direction)

    def stream(self, direction: _Direction) -> None:
        """Reassemble one direction, hide what it carries, write the changes back."""
        segments = direction.segments
        base = direction.first_seq if direction.first_seq is not None else segments[0].seq
        for segment in segments:
            offset = (segment.seq - base) & _MASK32
            segment.offset = offset - (1 << 32) if offset >= 1 << 31 else offset
        low = min(segment.offset for segment in segments)
        for segment in segments:
            segment.offset -= low
        size = max(segment.offset + segment.length for segment in segments)
        old = bytearray(size)
        covered: list[tuple[int, int]] = []  # contiguous runs of captured bytes
        for segment in sorted(segments, key=lambda s: s.offset):
            old[segment.offset:segment.offset + segment.length] = \
                self.buffer[segment.payload:segment.payload + segment.length]
            stop = segment.offset + segment.length
            if covered and segment.offset <= covered[-1][1]:
                covered[-1] = (covered[-1][0], max(covered[-1][1], stop))
            else:
                covered.append((segment.offset, stop))
        new = bytearray(old)
        hidden = self._hide_stream(new, covered)
        if not hidden:
            return
        self.report.values += hidden
        for segment in segments:
            where = slice(segment.offset, segment.offset + segment.length)
            if old[where] == new[where]:
                continue
            before = bytes(self.buffer[segment.payload:segment.payload + segment.length])
            after = bytearray(before)
            for index in range(segment.length):  # only the bytes the redaction changed
                if old[segment.offset + index] != new[segment.offset + index]:
                    after[index] = new[segment.offset + index]
            self._patch(segment.payload, before, bytes(after), segment.checksum, segment.frame)

    def _hide_stream(self, stream: bytearray, covered: list[tuple[int, int]]) -> int:
        first_start, first_end = covered[0]
        head = bytes(stream[first_start:first_start + 16])
        if head.startswith((b"GET ", b"HTTP/1.")):
            head_end = stream.find(_HEAD_END, first_start, first_end)
            if head_end >= 0 and b"upgrade: websocket" in stream[first_start:head_end].lower():
                http = bytearray(stream[first_start:head_end + 4])  # its own credentials
                hidden = _hide_messages(http, single=True)
                stream[first_start:head_end + 4] = http
                hidden += _hide_websocket(stream, head_end + 4, first_end)
                self.report.unreadable_websocket_bytes += sum(e - s for s, e in covered[1:])
                return hidden
        hidden = 0
        for start, end in covered:  # after a gap, _hide_messages finds the next start line
            run = bytearray(stream[start:end])
            hidden += _hide_messages(run)
            stream[start:end] = run
        return hidden

    def _patch(self, at: int, old: bytes, new: bytes, checksum: int, frame: int, *,
               udp: bool = False) -> None:
        self.buffer[at:at + len(new)] = new
        _update_checksum(self.buffer, checksum, old, new, udp=udp)
        self.changed.add(frame)


def _hide_websocket(stream: bytearray, position: int, end: int) -> int:
    """Hide the credentials in the WebSocket frames of ``stream[position:end]``, in place.

    Each data message is gathered from its frames, unmasked (RFC 6455 §5.3),
    redacted, and every changed byte masked again with its frame's key.
    """
    hidden = 0
    message = bytearray()
    pieces: list[tuple[int, int, int, bytes]] = []  # (message offset, stream offset, len, key)
    while position + 2 <= end:
        fin, opcode = stream[position] & 0x80, stream[position] & 0x0F
        masked, length = stream[position + 1] & 0x80, stream[position + 1] & 0x7F
        header = 2
        if length == 126:
            length, header = int.from_bytes(stream[position + 2:position + 4], "big"), 4
        elif length == 127:
            length, header = int.from_bytes(stream[position + 2:position + 10], "big"), 10
        key = bytes(stream[position + header:position + header + 4]) if masked else b""
        payload = position + header + len(key)
        if payload + length > end:
            break  # the capture ends inside this frame
        if opcode == 8:  # Close
            break
        if opcode in (0, 1, 2):
            if opcode:  # a new message (continuations carry on the last one)
                message, pieces = bytearray(), []
            data = bytes(stream[payload:payload + length])
            pieces.append((len(message), payload, length, key))
            message += unmask(data, key) if key else data
            if fin:
                original = bytes(message)
                count = _hide_messages(message, single=True)
                if count:
                    hidden += count
                    _write_back(stream, original, message, pieces)
        position = payload + length
    return hidden


def _write_back(stream: bytearray, original: bytes, message: bytearray,
                pieces: list[tuple[int, int, int, bytes]]) -> None:
    """Put the changed bytes of a redacted WebSocket message back, masked, into its frames."""
    for at, payload, length, key in pieces:
        for index in range(length):
            if original[at + index] != message[at + index]:
                byte = message[at + index]
                stream[payload + index] = byte ^ key[index % 4] if key else byte


def _network_start(buf: bytearray, link: int, start: int, end: int) -> tuple[int, int] | None:
    """(EtherType, offset of the IP header) of a frame, or None for another link layer."""
    if link == LINKTYPE_ETHERNET:
        if end - start < 14:
            return None
        ethertype, ip = (buf[start + 12] << 8) | buf[start + 13], start + 14
        while ethertype in (0x8100, 0x88A8) and ip + 4 <= end:  # VLAN tags
            ethertype, ip = (buf[ip + 2] << 8) | buf[ip + 3], ip + 4
        return ethertype, ip
    if link == LINKTYPE_LINUX_SLL:
        return ((buf[start + 14] << 8) | buf[start + 15], start + 16) if end - start >= 16 \
            else None
    if link == LINKTYPE_LINUX_SLL2:
        return ((buf[start] << 8) | buf[start + 1], start + 20) if end - start >= 20 else None
    if link in _RAW_LINKS:
        return (0x86DD if end > start and buf[start] >> 4 == 6 else 0x0800), start
    if link in (LINKTYPE_NULL, LINKTYPE_LOOP) and end - start >= 4:
        family = max(buf[start], buf[start + 3])  # either byte order
        return (0x86DD if family in _BSD_FAMILIES_V6 else 0x0800), start + 4
    return None


def redact_pcap(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> RedactionReport:
    """Copy the capture ``src`` to ``dst`` with every digest ``response`` and ``cnonce``
    (and HTTP Basic credentials) hidden, over UDP, TCP and WebSocket (see the module doc).

    The copy has the same format (pcap or pcapng), frames, lengths and sequence
    numbers; checksums are updated. Raises :class:`~siplab.lab.pcap.PcapError`
    (one line, naming the file) for a file that is not a readable capture, and
    OSError when ``dst`` cannot be written. ``dst`` may be ``src``.
    """
    with CaptureFile(src) as capture:
        buffer = bytearray(capture.buffer)
        report = RedactionReport(Path(dst))
        redactor = _Redactor(buffer, report)
        for number, (_, link, start, end) in enumerate(capture.records(), 1):
            redactor.frame(link, start, end, number)
            report.frames = number
    redactor.streams()
    report.fragments += sum(len(pieces) for pieces in redactor.pieces.values())
    report.changed_frames = len(redactor.changed)
    Path(dst).write_bytes(bytes(buffer))
    return report

