"""Cutting SIP messages out of a TCP byte stream (RFC 3261 §18.3, RFC 5626 §3.5.1).

Over UDP each datagram is one message. Over TCP (and TLS) the bytes arrive as
a stream with no boundaries: one ``read()`` may hold two messages, or a third
of one. The receiver finds the end of the headers (the empty line), reads
Content-Length, which is mandatory on streams, and waits until that many body
bytes are there. CRLFs between messages are keep-alives and are skipped; a
double CRLF ("ping") is answered by a single CRLF ("pong") in RFC 5626.

:class:`StreamFramer` does only that. It refuses headers that never end and
bodies that are too large, so a peer cannot make it buffer forever.
"""

from __future__ import annotations

from siplab.errors import SipParseError

__all__ = ["StreamFramer", "MAX_HEADER_BYTES", "MAX_BODY_BYTES"]

#: A header section larger than this without its empty line is refused.
MAX_HEADER_BYTES = 65535
#: A Content-Length larger than this is refused.
MAX_BODY_BYTES = 1 << 20


class StreamFramer:
    """Feed it bytes as they arrive; it returns each complete message.

    >>> framer = StreamFramer()
    >>> framer.feed(b"OPTIONS sip:a@b SIP/2.0\\r\\nContent-Length: 0\\r\\n\\r\\nOPT")
    [b'OPTIONS sip:a@b SIP/2.0\\r\\nContent-Length: 0\\r\\n\\r\\n']

    After a :class:`SipParseError` the stream is out of step and the
    connection should be closed.
    """

    def __init__(
        self, max_header_bytes: int = MAX_HEADER_BYTES, max_body_bytes: int = MAX_BODY_BYTES
    ) -> None:
        self._buffer = bytearray()
        self._max_header = max_header_bytes
        self._max_body = max_body_bytes
        self._need: int | None = None  # total size of the message being read, once known
        self._scanned = 0  # bytes already searched for the empty line, not searched again
        self._crlfs = 0  # keep-alive CRLFs seen since the last message, not yet a ping
        self.pings = 0  # how many CRLFCRLF keep-alive pings were seen (RFC 5626)

    @property
    def buffered(self) -> int:
        """Bytes received but not yet part of a complete message."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; return the messages now complete, in order."""
        self._buffer += data
        messages: list[bytes] = []
        while True:
            message = self._next()
            if message is None:
                return messages
            messages.append(message)

    def _next(self) -> bytes | None:
        buf = self._buffer
        if self._need is None:
            skipped = 0
            while buf.startswith(b"\r\n", skipped):
                skipped += 2
            if skipped:
                del buf[:skipped]
                self._scanned = 0
                # Every CRLFCRLF is a ping, even when TCP cut it in two.
                self._crlfs += skipped // 2
                self.pings += self._crlfs // 2
                self._crlfs %= 2
            if buf and buf[0] != 0x0D:  # not empty, and not a CR whose LF is to come
                self._crlfs = 0  # a message starts: a lone CRLF before it was no ping
            end = buf.find(b"\r\n\r\n", self._scanned)
            if end < 0:
                if len(buf) > self._max_header:
                    raise SipParseError(f"no end of headers within {self._max_header} bytes")
                # The empty line may start in the last 3 bytes and end in the next read.
                self._scanned = max(0, len(buf) - 3)
                return None
            if end > self._max_header:
                raise SipParseError(f"no end of headers within {self._max_header} bytes")
            self._need = end + 4 + self._content_length(bytes(buf[:end]))
        if len(buf) < self._need:
            return None
        message = bytes(buf[: self._need])
        del buf[: self._need]
        self._need = None
        self._scanned = 0
        return message

    def _content_length(self, head: bytes) -> int:
        for line in head.split(b"\r\n")[1:]:
            name, colon, value = line.partition(b":")
            if colon and name.strip().lower() in (b"content-length", b"l"):
                text = value.strip()
                if not text.isdigit():
                    raise SipParseError("Content-Length is not a number", where="stream")
                # The length test first: int() refuses strings of over 4300 digits.
                if len(text) > 10 or int(text) > self._max_body:
                    raise SipParseError(
                        f"Content-Length {text[:20].decode()} is over {self._max_body}",
                        where="stream",
                    )
                return int(text)
        raise SipParseError("Content-Length is required on stream transports (§18.3)",
                            where="stream")
