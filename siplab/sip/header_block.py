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
  (``"via" -> value``, see :class:`Headers`). The ``(name, value)`` list is
  made later, only if someone iterates over the headers;
* the **careful path** takes everything else the grammar allows (folded
  lines, blanks before the colon, bare LF line ends) and names the line that
  is wrong when one is.

Why the two agree: the fast path gives up (and the careful path reads the
same lines again) as soon as a line is not plain. A folded line begins with
a blank and ``"Via "`` has a blank before its colon, so in both cases the
text before the colon is not a token and the fast path stops; a line
without a colon does too. On a plain line both paths do the same thing:
split at the first colon and strip blanks around the value. Before it reads
a line, the fast path makes the checks of the careful path that concern the
whole section (UTF-8, no NUL, no CR or LF other than the CRLF line ends, at
most :data:`MAX_HEADER_LINES` lines) and leaves any section that fails one
to the careful path, which raises the same error it always does.
"""

from __future__ import annotations

import re

from siplab.errors import SipParseError
from siplab.sip.header_list import _KNOWN_KEYS, Headers, header_key
from siplab.sip.native import COMPILED

__all__ = ["MAX_HEADER_LINES", "MAX_MESSAGE_SIZE", "read_header_block"]

#: A message with more header lines than this is refused rather than kept.
MAX_HEADER_LINES = 256
#: The largest message parse_message accepts (the UDP limit; RFC 3261 §18.1.1).
MAX_MESSAGE_SIZE = 65535

_NAME_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+\Z")
# int() refuses strings of over 4300 digits; no length or count in SIP needs
# more than ten, so longer digit strings are refused before int() sees them.
_MAX_DIGITS = 10
_MAX_LINES = MAX_HEADER_LINES + 1  # the header lines and the start line
_new_object = object.__new__  # an instance without running __init__


def read_header_block(data: bytes) -> tuple[str, Headers, bytes]:
    """Split a message into its start line, its headers and its body.

    Leading CRLFs (keep-alives) are skipped. A body longer than Content-Length
    is cut to it (§18.3: the extra bytes are discarded); a shorter one is an
    error. Without Content-Length the rest of the datagram is the body. Lines
    must end in CRLF; a message that uses bare LF throughout is accepted too,
    as many tolerant parsers do.
    """
    # This function is the fast path: every step below is one a server takes
    # for every message it receives, so each is written with the fewest
    # Python operations (local names, no helper calls on the usual path).
    if len(data) > MAX_MESSAGE_SIZE:
        raise SipParseError(f"message of {len(data)} bytes is over the {MAX_MESSAGE_SIZE} limit")
    start = 0
    end = data.find(b"\r\n\r\n")
    if end <= 0 or data[0] == 13:
        # No empty line at all, or CRLFs (keep-alives) to skip first.
        while data.startswith(b"\r\n", start):
            start += 2
        end = data.find(b"\r\n\r\n", start)
        if end <= start:
            return _read_unusual_block(data, start, end, None)
    try:
        lines = data[start:end].decode().split("\r\n")  # UTF-8, the default
    except UnicodeDecodeError:
        return _read_unusual_block(data, start, end, None)  # which says where
    # A CR or LF left after the split is a stray one inside a line. Joining
    # the lines makes one copy of the text; each test after it is one scan.
    rest = "".join(lines)
    if "\r" in rest or "\n" in rest or "\x00" in rest or len(lines) > _MAX_LINES:
        return _read_unusual_block(data, start, end, None)
    start_line = lines.pop(0)
    # Per line: one partition, one lookup of the name's key, one dictionary
    # store. A name seen before (a second Via, a Record-Route...) goes to
    # ``more``. The blanks around values are left for Headers to strip when a
    # value is read, since most are never read.
    first: dict[str, str] = {}
    more: dict[str, list[str]] = {}
    known = _KNOWN_KEYS  # the spellings seen on nearly every message, to their keys
    for line in lines:
        name, colon, value = line.partition(":")
        try:
            key = known[name]  # a subscript costs less than .get() and a test
        except KeyError:
            if not colon or not _NAME_RE.match(name):
                # Folded line, blank before the colon, bad name, no colon.
                return _read_unusual_block(data, start, end, (start_line, lines))
            key = header_key(name)
        if not colon:  # the whole line is a known name, such as "Via"
            return _read_unusual_block(data, start, end, (start_line, lines))
        if key not in first:
            first[key] = value
        elif key in more:
            more[key].append(value)
        else:
            more[key] = [value]
    # The Headers, made here rather than by a constructor: one call less.
    headers = Headers() if COMPILED else _new_object(Headers)  # see siplab.sip.native
    headers._item_list = headers._index = None
    headers._lines, headers._first, headers._more = lines, first, more
    body = data[end + 4:]
    text = first.get("content-length")
    if text is None:
        return start_line, headers, body
    if text.strip(" \t") == str(len(body)) and "content-length" not in more:
        # The usual case: one Content-Length, the body's length written
        # plainly. Comparing the text costs less than checking and converting it.
        return start_line, headers, body
    length = _content_length(headers.get_all("Content-Length"))
    if len(body) != length:
        body = _cut_body(body, length)
    return start_line, headers, body


def _read_unusual_block(
    data: bytes, start: int, end: int, crlf_lines: tuple[str, list[str]] | None
) -> tuple[str, Headers, bytes]:
    # The careful path: bare LF line ends, folded or oddly spaced lines, and
    # every malformed header section. ``end`` is where CRLF CRLF is, or -1;
    # ``crlf_lines`` is what the fast path had cut already (start line, header
    # lines) when it stopped only at a line that is not plain.
    if crlf_lines is not None:
        start_line, lines = crlf_lines
        body_start = end + 4
    else:
        start_line, lines, body_start = _cut_lines(data, start, end)
    items = _read_header_lines(lines)
    # The lookup index of the fast path, from the unfolded and stripped
    # values, so that reading a field costs the same afterwards.
    first: dict[str, str] = {}
    more: dict[str, list[str]] = {}
    known = _KNOWN_KEYS
    for name, value in items:
        key = known.get(name) or header_key(name)
        if key not in first:
            first[key] = value
        elif key in more:
            more[key].append(value)
        else:
            more[key] = [value]
    headers = Headers._trusted(items)
    headers._first, headers._more = first, more
    body = data[body_start:]
    text = first.get("content-length")
    if text is None or (text == str(len(body)) and "content-length" not in more):
        return start_line, headers, body  # as on the fast path
    length = _content_length(headers.get_all("Content-Length"))
    if len(body) != length:
        body = _cut_body(body, length)
    return start_line, headers, body


def _cut_lines(data: bytes, start: int, end: int) -> tuple[str, list[str], int]:
    # Finds the end of the headers and the line ends used (CRLF, or bare LF
    # throughout), decodes and splits: (start line, header lines, where the
    # body starts). Every check on the header section as a whole is here.
    first_lf = data.find(b"\n", start, end) if end > start else -1
    if first_lf > start and data[first_lf - 1] == 13:  # the first line ends in CRLF
        eol = "\r\n"
        body_start = end + 4
    else:
        # A bare-LF message ends its headers at the first LF LF, which may
        # come before a CRLF CRLF inside its body.
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
    if eol == "\r\n":
        # After the split on CRLF, any CR or LF left is a stray one inside a
        # line. Joining the lines and searching is two quick scans of the text.
        rest = "".join(lines)
        if "\r" in rest or "\n" in rest:
            raise SipParseError("stray CR or LF inside a header line")
    return lines.pop(0), lines, body_start


def _cut_body(body: bytes, length: int) -> bytes:
    # The body as Content-Length gives it: cut if longer, an error if shorter.
    if len(body) < length:
        raise SipParseError(f"body has {len(body)} bytes, Content-Length says {length}",
                            where="body")
    return body[:length]


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


def _read_header_lines(lines: list[str]) -> list[tuple[str, str]]:
    # The careful path: folding, odd whitespace, and precise errors.
    items: list[tuple[str, str]] = []
    known = _KNOWN_KEYS
    for number, line in enumerate(lines, start=2):
        name, colon, value = line.partition(":")
        if colon and name in known:  # a plain line, read as the fast path reads it
            items.append((name, value.strip(" \t")))
            continue
        first = line[:1]
        if first == " " or first == "\t":
            if not items:
                raise SipParseError("continuation line before any header", where=f"line {number}")
            name, value = items[-1]
            more = line.strip(" \t")
            if more:  # a continuation of only blanks adds nothing
                items[-1] = (name, f"{value} {more}" if value else more)
            continue
        if not colon:
            if not line:
                raise SipParseError("empty header line", where=f"line {number}")
            raise SipParseError("header line without ':'", where=f"line {number}")
        name = name.rstrip(" \t")
        # A known spelling is a token: the regular expression is for the others.
        if name not in known and not _NAME_RE.match(name):
            raise SipParseError(f"bad header name {name[:40]!r}", where=f"line {number}")
        items.append((name, value.strip(" \t")))
    return items
