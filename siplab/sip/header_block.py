"""Cutting a SIP message into start line, header lines and body (RFC 3261 §7, §7.3, §18.3).

:func:`~siplab.sip.message.parse_message` reads a message in two steps. This
module is the first: it finds the empty line that ends the headers, decodes
the header section, splits it into lines, reads each line as ``Name: value``
and checks Content-Length against the body. The second step (in
``message.py``) reads the start line and makes the Request or Response.

Header lines are read along one of two paths that give the same result:

* the **fast path** takes the message as nearly every SIP stack writes it:
  CRLF line ends, every line ``Name: value`` with a token for a name and the
  colon right after it, no folded lines. It reads each line with one
  ``partition(":")`` and builds the index that header lookups use
  (``"via" -> (value, value...)``). The ``(name, value)`` list is made later,
  only if someone iterates over the headers (:class:`Headers` does it);
* the **careful path** takes everything else the grammar allows (folded
  lines, blanks before the colon, bare LF line ends) and names the line that
  is wrong when one is.

Why the two agree: the fast path gives up (and the careful path starts
again from the same lines) as soon as a line is not plain. A folded line
begins with a blank and ``"Via "`` has a blank before its colon, so in both
cases the text before the colon is not a token and the fast path returns
``None``; a line without a colon does too. On a plain line both paths do the
same thing: split at the first colon and strip blanks around the value.
"""

from __future__ import annotations

import re

from siplab.errors import SipParseError
from siplab.sip.header_list import _KNOWN_KEYS, Headers, header_key

__all__ = ["MAX_HEADER_LINES", "MAX_MESSAGE_SIZE", "read_header_block"]

#: A message with more header lines than this is refused rather than kept.
MAX_HEADER_LINES = 256
#: The largest message parse_message accepts (the UDP limit; RFC 3261 §18.1.1).
MAX_MESSAGE_SIZE = 65535

_NAME_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+\Z")
# int() refuses strings of over 4300 digits; no length or count in SIP needs
# more than ten, so longer digit strings are refused before int() sees them.
_MAX_DIGITS = 10

def read_header_block(data: bytes) -> tuple[str, Headers, bytes]:
    """Split a message into its start line, its headers and its body.

    Leading CRLFs (keep-alives) are skipped. A body longer than Content-Length
    is cut to it (§18.3: the extra bytes are discarded); a shorter one is an
    error. Without Content-Length the rest of the datagram is the body. Lines
    must end in CRLF; a message that uses bare LF throughout is accepted too,
    as many tolerant parsers do.
    """
    if len(data) > MAX_MESSAGE_SIZE:
        raise SipParseError(f"message of {len(data)} bytes is over the {MAX_MESSAGE_SIZE} limit")
    start = 0
    if data[:1] == b"\r":
        while data.startswith(b"\r\n", start):
            start += 2
    end = data.find(b"\r\n\r\n", start)
    # A bare-LF message ends its headers at the first LF LF, which may come
    # before a CRLF CRLF inside its body. A first line ending in CRLF says the
    # message is not one, so the search for LF LF is skipped.
    first_lf = data.find(b"\n", start, end) if end > start else -1
    if first_lf > start and data[first_lf - 1] == 13:  # the usual case
        eol = "\r\n"
        body_start = end + 4
    else:
        lf_end = data.find(b"\n\n", start, end if end >= 0 else len(data))
        if lf_end >= 0 and b"\r" not in data[start:lf_end]:
            end = lf_end
            eol = "\n"
            body_start = end + 2
        elif end >= 0:
            eol = "\r\n"
            body_start = end + 4
        else:
            if start == len(data):
                raise SipParseError("empty message")
            raise SipParseError("no empty line after the headers")
    try:
        head = data[start:end].decode("utf-8")
    except UnicodeDecodeError as exc:
        where = f"byte {start + exc.start}"
        raise SipParseError("header section is not UTF-8", where=where) from None
    if "\x00" in head:
        raise SipParseError("NUL byte in the header section")
    lines = head.split(eol)
    if len(lines) > MAX_HEADER_LINES + 1:
        raise SipParseError(f"more than {MAX_HEADER_LINES} header lines")
    read = None
    if eol == "\r\n":
        # After the split on CRLF, any CR or LF left is a stray one inside a
        # line. Joining the lines and searching is two quick scans of the text.
        rest = "".join(lines)
        if "\r" in rest or "\n" in rest:
            raise SipParseError("stray CR or LF inside a header line")
        start_line = lines.pop(0)
        read = _read_plain_lines(lines)
    else:
        start_line = lines.pop(0)
    body = data[body_start:]
    if read is not None:
        first, more = read
        headers = Headers._from_wire(lines, first, more)
        text = first.get("content-length")
        if text is None:
            return start_line, headers, body
        text = text.strip(" \t")
        if (text.isdigit() and text.isascii() and len(text) <= _MAX_DIGITS
                and "content-length" not in more):
            length = int(text)  # the usual case: one Content-Length, a plain number
        else:
            length = _content_length(headers.get_all("Content-Length"))
    else:
        headers = Headers._trusted(_read_header_lines(lines))
        lengths = headers.get_all("Content-Length")
        if not lengths:
            return start_line, headers, body
        length = _content_length(lengths)
    if len(body) < length:
        raise SipParseError(f"body has {len(body)} bytes, Content-Length says {length}",
                            where="body")
    if len(body) > length:
        body = body[:length]
    return start_line, headers, body


def _content_length(values: list[str]) -> int:
    # Every Content-Length line must agree: "5" and "05" do, "5" and "6" do not.
    numbers = set()
    for text in values:
        text = text.rstrip(" \t")
        if not text.isdigit() or not text.isascii() or len(text) > _MAX_DIGITS:
            raise SipParseError("Content-Length is not a number",
                                where="header 'Content-Length'")
        numbers.add(int(text))
    if len(numbers) > 1:
        raise SipParseError("two different Content-Length values",
                            where="header 'Content-Length'")
    return numbers.pop()


def _read_plain_lines(lines: list[str]) -> tuple[dict[str, str], dict[str, list[str]]] | None:
    # The fast path (see the module docstring), or None if a line is not plain.
    # Per line: one partition, one lookup of the name's key, one dictionary
    # store. ``first`` maps each key to the text after the colon of its first
    # line; a name seen before (a second Via, a Record-Route...) goes to
    # ``more``. The blanks around values are left for Headers to strip when a
    # value is read, since most are never read.
    first: dict[str, str] = {}
    more: dict[str, list[str]] = {}
    known = _KNOWN_KEYS  # the spellings seen on nearly every message, to their keys
    for line in lines:
        name, colon, value = line.partition(":")
        key = known.get(name)
        if key is None:
            if not _NAME_RE.match(name):
                return None  # folded line, blank before the colon, bad name
            key = header_key(name)
        if not colon:
            return None
        if key not in first:
            first[key] = value
        elif key in more:
            more[key].append(value)
        else:
            more[key] = [value]
    return first, more


def _read_header_lines(lines: list[str]) -> list[tuple[str, str]]:
    # The careful path: folding, odd whitespace, and precise errors.
    items: list[tuple[str, str]] = []
    for number, line in enumerate(lines, start=2):
        first = line[:1]
        if first == " " or first == "\t":
            if not items:
                raise SipParseError("continuation line before any header", where=f"line {number}")
            name, value = items[-1]
            more = line.strip(" \t")
            if more:  # a continuation of only blanks adds nothing
                items[-1] = (name, f"{value} {more}" if value else more)
            continue
        name, colon, value = line.partition(":")
        if not colon:
            if not line:
                raise SipParseError("empty header line", where=f"line {number}")
            raise SipParseError("header line without ':'", where=f"line {number}")
        name = name.rstrip(" \t")
        if not _NAME_RE.match(name):
            raise SipParseError(f"bad header name {name[:40]!r}", where=f"line {number}")
        items.append((name, value.strip(" \t")))
    return items
