"""A slow, careful reading of the benchmark's typed fields, independent of siplab.

The benchmark's correctness column compares every parser's fields with the
values computed here. This module shares no code with ``siplab.sip``: it
follows RFC 3261's grammar directly, character by character where quoting
matters, and makes no attempt to be fast.

* §7.3.1: a header line that starts with whitespace continues the previous
  one (folding); ``Via: a, b`` is the same as two Via lines.
* §7.3.3: compact forms (``v`` Via, ``f`` From, ``t`` To, ``i`` Call-ID).
* §20.10 / §25.1: in a name-addr (``"Display" <uri>;tag=x``) the header
  parameters follow the ``>``; in an addr-spec without angle brackets the
  first ``;`` starts them. Display names may be quoted strings holding ``;``,
  ``,``, ``<`` or escaped quotes.
* §20.16: ``CSeq: 1*DIGIT LWS Method``.
* §20.42 / §25.1: ``generic-param = token [ EQUAL gen-value ]`` with optional
  whitespace around ``;`` and ``=``; parameter names are case-insensitive.
"""

from __future__ import annotations

import re

__all__ = ["reference_fields", "reference_body", "UnreadableMessage"]

_COMPACT = {"v": "via", "f": "from", "t": "to", "i": "call-id", "l": "content-length"}
_CSEQ = re.compile(r"[ \t]*([0-9]+)[ \t]+[^ \t]+[ \t]*\Z")


class UnreadableMessage(ValueError):
    """The message cannot be read (so no parser can be right about it)."""


def _header_lines(data: bytes) -> list[tuple[str, str]]:
    while data.startswith(b"\r\n"):
        data = data[2:]
    end = data.find(b"\r\n\r\n")
    if end < 0:
        raise UnreadableMessage("no blank line after the headers")
    lines = data[:end].decode("utf-8").split("\r\n")[1:]
    unfolded: list[str] = []
    for line in lines:
        if line[:1] in (" ", "\t"):
            if not unfolded:
                raise UnreadableMessage("continuation before the first header")
            unfolded[-1] = unfolded[-1].rstrip(" \t") + " " + line.strip(" \t")
        else:
            unfolded.append(line)
    out: list[tuple[str, str]] = []
    for line in unfolded:
        name, colon, value = line.partition(":")
        if not colon:
            raise UnreadableMessage(f"header line without a colon: {line!r}")
        key = name.strip(" \t").lower()
        out.append((_COMPACT.get(key, key), value.strip(" \t")))
    return out


def _split_outside_quotes(text: str, sep: str, *, angles: bool) -> list[str]:
    """Split at ``sep`` where it is outside quoted strings (and ``<...>`` if asked)."""
    parts: list[str] = []
    current: list[str] = []
    in_quotes = False
    depth = 0
    i = 0
    while i < len(text):
        ch = text[i]
        if in_quotes:
            current.append(ch)
            if ch == "\\" and i + 1 < len(text):
                current.append(text[i + 1])
                i += 1
            elif ch == '"':
                in_quotes = False
        elif ch == '"':
            in_quotes = True
            current.append(ch)
        elif angles and ch == "<":
            depth += 1
            current.append(ch)
        elif angles and ch == ">":
            depth -= 1
            current.append(ch)
        elif ch == sep and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    if in_quotes or depth:
        raise UnreadableMessage(f"unbalanced quotes or angle brackets in {text!r}")
    parts.append("".join(current))
    return parts


def _param(params_text: str, wanted: str) -> str | None:
    """The value of parameter ``wanted`` in ``;a=b;c``, or None if it is absent."""
    pieces = _split_outside_quotes(params_text, ";", angles=False)
    if pieces[0].strip(" \t"):
        raise UnreadableMessage(f"text before the parameters: {params_text!r}")
    for piece in pieces[1:]:
        name, eq, value = piece.partition("=")
        if name.strip(" \t").lower() == wanted:
            value = value.strip(" \t")
            if value.startswith('"') and value.endswith('"') and len(value) >= 2:
                value = re.sub(r"\\(.)", r"\1", value[1:-1])
            return value if eq else ""
    return None


def _address_params(value: str) -> str:
    """The header-parameter part of a From/To value (§20.10)."""
    # Find a '<' outside a quoted display name.
    in_quotes = False
    i = 0
    while i < len(value):
        ch = value[i]
        if in_quotes:
            if ch == "\\":
                i += 1
            elif ch == '"':
                in_quotes = False
        elif ch == '"':
            in_quotes = True
        elif ch == "<":
            gt = value.find(">", i)
            if gt < 0:
                raise UnreadableMessage(f"'<' without '>' in {value!r}")
            return value[gt + 1 :]
        i += 1
    semi = value.find(";")
    return "" if semi < 0 else value[semi:]


def _first(headers: list[tuple[str, str]], name: str) -> str:
    for key, value in headers:
        if key == name:
            return value
    raise UnreadableMessage(f"no {name} header")


def reference_fields(
    data: bytes,
) -> tuple[str, int, str | None, str | None, str | None, int]:
    """(call_id, cseq_number, from_tag, to_tag, top_via_branch, via_count) of ``data``."""
    headers = _header_lines(data)
    call_id = _first(headers, "call-id")
    match = _CSEQ.match(_first(headers, "cseq"))
    if not match:
        raise UnreadableMessage("bad CSeq")
    from_tag = _param(_address_params(_first(headers, "from")), "tag")
    to_tag = _param(_address_params(_first(headers, "to")), "tag")
    vias = [
        element.strip(" \t")
        for key, value in headers
        if key == "via"
        for element in _split_outside_quotes(value, ",", angles=False)
    ]
    if not vias or not all(vias):
        raise UnreadableMessage("no Via, or an empty Via element")
    semi = vias[0].find(";")
    branch = None if semi < 0 else _param(vias[0][semi:], "branch")
    return (call_id, int(match.group(1)), from_tag, to_tag, branch, len(vias))


def reference_body(data: bytes) -> bytes:
    """The body of ``data``: after the blank line, cut to Content-Length if given (§18.3)."""
    while data.startswith(b"\r\n"):
        data = data[2:]
    end = data.find(b"\r\n\r\n")
    if end < 0:
        raise UnreadableMessage("no blank line after the headers")
    body = data[end + 4 :]
    for key, value in _header_lines(data):
        if key == "content-length":
            if not value.isdigit():
                raise UnreadableMessage(f"bad Content-Length {value!r}")
            return body[: int(value)]
    return body
