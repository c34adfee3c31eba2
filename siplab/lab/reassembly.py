"""Putting TCP streams back together, and taking WebSocket frames apart (RFC 9293, RFC 6455).

Over TCP, SIP messages are not packets. The sender writes bytes into a
stream; TCP cuts the stream into *segments* as it likes, so one segment may
carry two SIP messages and one message may need three segments (RFC 3261
§18.3: Content-Length says where a message ends). A capture reader must do
what the receiver's kernel did: put the bytes of each direction back in
order by their *sequence numbers*, and only then cut messages out.

:class:`TcpStream` does that for one direction of one connection:

* the SYN's sequence number + 1 is the first data byte; without a SYN (the
  capture began mid-connection) the first segment's number is taken;
* a segment that starts where the stream has got to is appended; one that
  starts further on (an earlier one was lost from the capture, or arrives
  late) waits in a small table until the gap is filled; bytes already seen
  (a retransmission) are dropped, keeping only what is new;
* the bytes go to the *application* reader chosen by the first bytes of the
  stream: a SIP message (:class:`~siplab.sip.framing.StreamFramer` cuts it
  out), or an HTTP request or response that upgrades the connection to
  WebSocket (then :class:`WebSocketReader`). A stream that starts with
  neither is ignored until a segment starts with a SIP start line.

Each message comes out with the frame whose segment completed it, as
Wireshark numbers it ("[3 Reassembled TCP Segments]" in that frame).

**WebSocket** (RFC 6455 §5.2, RFC 7118). After the HTTP upgrade each side
sends *frames*: two bytes (FIN bit, opcode; MASK bit, 7-bit length), an
extended 16- or 64-bit length, a 4-byte *masking key* on every frame a client
sends (the payload is XORed with it, §5.3, so that a proxy cannot mistake it
for HTTP), then the payload. A message may be split into a first frame and
*continuation* frames (opcode 0), the last with FIN set. One WebSocket
message carries one SIP message (RFC 7118 §5.1).
"""

from __future__ import annotations

from collections.abc import Callable

from siplab.errors import SipParseError
from siplab.sip.framing import StreamFramer

__all__ = ["TcpStream", "WebSocketReader", "unmask", "looks_like_sip"]

#: Bytes of out-of-order data a stream keeps before it gives up waiting for a gap.
MAX_PENDING_BYTES = 1 << 20
#: The longest HTTP upgrade header a stream looks for.
MAX_HTTP_HEADER = 16384
_SIP_VERSION = b"SIP/2.0"

#: Called with (frame, data, transport) for every message a stream completes.
Deliver = Callable[[int, bytes, str], None]


def looks_like_sip(data: bytes | memoryview) -> bool:
    """Does ``data`` start with a SIP request line or status line (RFC 3261 §7.1, §7.2)?

    Only the first 256 bytes are looked at; a start line longer than that is not found.
    """
    head = bytes(data[:256]).lstrip(b"\r\n")  # keep-alive CRLFs may come first
    line = head.split(b"\r\n", 1)[0].split(b"\n", 1)[0]
    if line.startswith(b"SIP/2.0 "):
        return True
    parts = line.split(b" ")
    return len(parts) == 3 and parts[2] == _SIP_VERSION and parts[0].isalpha() and \
        parts[0].isupper()


def unmask(payload: bytes, key: bytes) -> bytes:
    """XOR ``payload`` with the 4-byte masking ``key`` repeated (RFC 6455 §5.3)."""
    if not payload:
        return payload
    repeated = (key * (len(payload) // 4 + 1))[: len(payload)]
    number = int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")
    return number.to_bytes(len(payload), "big")


class WebSocketReader:
    """The frames of one direction of a WebSocket connection, after the HTTP upgrade."""

    def __init__(self, deliver: Deliver) -> None:
        self._deliver = deliver
        self._buffer = bytearray()
        self._message = bytearray()  # a fragmented message, while its continuations arrive
        self.closed = False

    def feed(self, data: bytes, frame: int) -> None:
        self._buffer += data
        while not self.closed:
            parsed = self._next_frame()
            if parsed is None:
                return
            fin, opcode, payload = parsed
            if opcode == 8:  # Close: nothing more on this direction
                self.closed = True
            elif opcode in (0, 1, 2):  # continuation, text, binary
                if opcode != 0:
                    self._message.clear()
                self._message += payload
                if fin:
                    message, self._message = bytes(self._message), bytearray()
                    self._deliver(frame, message, "ws")
            # 9 and 10, ping and pong, carry no SIP

    def _next_frame(self) -> tuple[bool, int, bytes] | None:
        buf = self._buffer
        if len(buf) < 2:
            return None
        fin, opcode = bool(buf[0] & 0x80), buf[0] & 0x0F
        masked, length = bool(buf[1] & 0x80), buf[1] & 0x7F
        offset = 2
        if length == 126:
            if len(buf) < 4:
                return None
            length, offset = int.from_bytes(buf[2:4], "big"), 4
        elif length == 127:
            if len(buf) < 10:
                return None
            length, offset = int.from_bytes(buf[2:10], "big"), 10
        key = b""
        if masked:
            key = bytes(buf[offset:offset + 4])
            offset += 4
        if len(buf) < offset + length:
            return None
        payload = bytes(buf[offset:offset + length])
        del buf[:offset + length]
        return fin, opcode, unmask(payload, key) if masked else payload


class TcpStream:
    """One direction of a TCP connection, reassembled, cut into SIP messages (see module doc)."""

    def __init__(self, deliver: Deliver) -> None:
        self._deliver = deliver
        self.next_seq: int | None = None
        self._pending: dict[int, tuple[bytes, int]] = {}  # seq -> (data, frame)
        self._pending_bytes = 0
        self.protocol: str | None = None  # "sip", "http" (upgrade), "ws", or None: undecided
        self._framer = StreamFramer()
        self._http = bytearray()
        self._ws: WebSocketReader | None = None

    def syn(self, seq: int) -> None:
        """A SYN: the data starts at ``seq + 1`` (the SYN itself counts as one)."""
        self.next_seq = (seq + 1) & 0xFFFFFFFF
        self._pending.clear()
        self._pending_bytes = 0

    def segment(self, seq: int, data: bytes, frame: int) -> None:
        """A segment with ``data`` at sequence number ``seq``, captured in ``frame``."""
        if not data:
            return
        if self.next_seq is None:
            self.next_seq = seq
        offset = (seq - self.next_seq) & 0xFFFFFFFF
        if offset >= 0x80000000:  # starts before next_seq: a retransmission, maybe with more
            already = (self.next_seq - seq) & 0xFFFFFFFF
            if already >= len(data):
                return
            data, seq = data[already:], self.next_seq
            offset = 0
        if offset:
            if seq not in self._pending or len(self._pending[seq][0]) < len(data):
                self._pending_bytes += len(data)
                self._pending[seq] = (data, frame)
            if self._pending_bytes > MAX_PENDING_BYTES:  # the gap will not be filled: skip it
                self._skip_gap()
            return
        self._append(data, frame)
        while self._pending:
            expected = self.next_seq
            nearest = min(self._pending, key=lambda s: (s - expected) & 0xFFFFFFFF)
            distance = (nearest - expected) & 0xFFFFFFFF
            if distance and distance < 0x80000000:
                return
            data, _ = self._pending.pop(nearest)
            self._pending_bytes -= len(data)
            if distance:  # overlaps what we have
                already = (expected - nearest) & 0xFFFFFFFF
                if already >= len(data):
                    continue
                data = data[already:]
            self._append(data, frame)  # complete only now, in the frame that filled the gap

    def _skip_gap(self) -> None:
        nearest = min(self._pending, key=lambda s: (s - (self.next_seq or 0)) & 0xFFFFFFFF)
        self.next_seq = nearest
        self._resync()
        data, frame = self._pending.pop(nearest)
        self._pending_bytes -= len(data)
        self.segment(nearest, data, frame)

    def _resync(self) -> None:
        """After lost bytes the stream is out of step: wait for a segment that starts a message."""
        if self.protocol == "sip":
            self.protocol = None
            self._framer = StreamFramer()

    def _append(self, data: bytes, frame: int) -> None:
        self.next_seq = ((self.next_seq or 0) + len(data)) & 0xFFFFFFFF
        if self.protocol is None:
            if looks_like_sip(data):
                self.protocol = "sip"
            elif data.startswith((b"GET ", b"HTTP/1.1 101", b"HTTP/1.0 101")):
                self.protocol = "http"
            else:
                return  # mid-message, or not SIP at all: wait for a start line
        if self.protocol == "sip":
            try:
                messages = self._framer.feed(data)
            except SipParseError:
                self._resync()
                return
            for message in messages:
                self._deliver(frame, message, "tcp")
        elif self.protocol == "http":
            self._http += data
            end = self._http.find(b"\r\n\r\n")
            if end < 0:
                if len(self._http) > MAX_HTTP_HEADER:
                    self.protocol = "other"
                return
            head, rest = bytes(self._http[:end]), bytes(self._http[end + 4:])
            self._http.clear()
            upgrade = b"upgrade: websocket" in head.lower()
            if head.startswith(b"HTTP/") and not upgrade:
                self.protocol = "other"
                return
            self.protocol = "ws" if upgrade else "other"
            self._ws = WebSocketReader(self._deliver)
            if rest and self.protocol == "ws":
                self._ws.feed(rest, frame)
        elif self.protocol == "ws" and self._ws is not None:
            self._ws.feed(data, frame)
