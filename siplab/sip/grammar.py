"""The small pieces of SIP's grammar that every header is made of (RFC 3261 §25).

SIP headers are built from a handful of lexical parts:

* a *token* (``INVITE``, ``branch``, ``UDP``) is a run of letters, digits and
  ``-.!%*_+`~'``;
* a *quoted string* (``"Alice Smith"``) may hold anything, with ``\\"`` and
  ``\\\\`` escaped;
* *parameters* follow a value after semicolons (``;tag=1928301774;lr``);
* many headers hold *lists*: several values separated by commas, which must not
  be split inside a quoted string or inside ``<...>`` (a URI may itself contain
  commas, RFC 3261 §7.3.1).

These helpers do exactly that and nothing more. They are pure functions of
strings, written for speed on the common case (no quotes, no angle brackets).
"""

from __future__ import annotations

import re

from siplab.errors import SipParseError

__all__ = [
    "TOKEN_CHARS",
    "is_token",
    "split_commas",
    "split_unquoted",
    "parse_params",
    "format_params",
    "get_param",
    "set_param",
    "remove_param",
    "quote",
    "unquote",
    "Params",
]

#: RFC 3261 §25.1 token characters.
TOKEN_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~"
)

_TOKEN_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+\Z")

#: Parameters as an ordered tuple of ``(name, value)``; ``value`` is ``None`` for
#: a flag parameter such as ``;lr``. Names keep the case they were written in.
Params = tuple[tuple[str, "str | None"], ...]


def is_token(text: str) -> bool:
    """True if ``text`` is a non-empty RFC 3261 token."""
    return _TOKEN_RE.match(text) is not None


def split_unquoted(text: str, sep: str) -> list[str]:
    """Split ``text`` at ``sep`` where it is outside quotes and ``<...>``.

    The pieces are returned unstripped. A quoted string that never closes, or a
    ``<`` without its ``>``, is an error: the value cannot be read safely.
    """
    if '"' not in text and "<" not in text:
        return text.split(sep)
    parts: list[str] = []
    start = 0
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
            if i >= n:
                raise SipParseError("unterminated quoted string", where=repr(text[:60]))
        elif ch == "<":
            end = text.find(">", i)
            if end < 0:
                raise SipParseError("'<' without a closing '>'", where=repr(text[:60]))
            i = end
        elif ch == sep:
            parts.append(text[start:i])
            start = i + 1
        i += 1
    parts.append(text[start:])
    return parts


def split_commas(value: str) -> list[str]:
    """Split a list header value into its elements (RFC 3261 §7.3.1), stripped.

    Empty elements (``a,,b`` or a trailing comma) are dropped, as the list
    grammar ``1#element`` allows.
    """
    if "," not in value:
        stripped = value.strip()
        return [stripped] if stripped else []
    return [part for part in (p.strip() for p in split_unquoted(value, ",")) if part]


def parse_params(text: str) -> Params:
    """Read ``;name=value;flag`` parameters.

    ``text`` is what follows the value, starting with ``;`` (or empty). Values
    keep their quotes so that they can be written back unchanged; use
    :func:`unquote` to read a quoted one.
    """
    if not text:
        return ()
    pieces = split_unquoted(text, ";")
    if pieces[0].strip():
        raise SipParseError("parameters must start with ';'", where=repr(text[:60]))
    params: list[tuple[str, str | None]] = []
    for piece in pieces[1:]:
        name, eq, value = piece.partition("=")
        name = name.strip()
        if not name or not is_token(name):
            raise SipParseError(f"bad parameter name {name!r}", where=repr(text[:60]))
        params.append((name, value.strip() if eq else None))
    return tuple(params)


def format_params(params: Params) -> str:
    """Write parameters back as ``;name=value;flag``."""
    return "".join(f";{name}" if value is None else f";{name}={value}" for name, value in params)


def get_param(params: Params, name: str) -> str | None:
    """The value of the first parameter called ``name`` (case-insensitive), else None.

    A flag parameter (no ``=``) gives ``""`` so that presence can be tested.
    """
    lname = name.lower()
    for key, value in params:
        # A name written as asked (``branch``, ``tag``) matches without lower().
        if key == name or key.lower() == lname:
            return "" if value is None else value
    return None


def set_param(params: Params, name: str, value: str | None) -> Params:
    """A copy of ``params`` with ``name`` set (replaced in place, or appended)."""
    lname = name.lower()
    out: list[tuple[str, str | None]] = []
    done = False
    for key, old in params:
        if key.lower() == lname:
            if not done:
                out.append((key, value))
                done = True
        else:
            out.append((key, old))
    if not done:
        out.append((name, value))
    return tuple(out)


def remove_param(params: Params, name: str) -> Params:
    """A copy of ``params`` without any parameter called ``name``."""
    lname = name.lower()
    return tuple((key, value) for key, value in params if key.lower() != lname)


def quote(text: str) -> str:
    """Make a quoted string, escaping ``"`` and ``\\``."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def unquote(text: str) -> str:
    """Undo :func:`quote`; text that is not quoted is returned unchanged."""
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        inner = text[1:-1]
        if "\\" not in inner:
            return inner
        out: list[str] = []
        i = 0
        while i < len(inner):
            ch = inner[i]
            if ch == "\\" and i + 1 < len(inner):
                out.append(inner[i + 1])
                i += 2
            else:
                out.append(ch)
                i += 1
        return "".join(out)
    return text

