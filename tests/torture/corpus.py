"""The torture messages: readable text files turned into the bytes a peer would send.

In the spirit of RFC 4475 ("SIP Torture Test Messages"), ``messages/`` holds one
message per file, named after what it tests: ``valid_*.txt`` must be read
correctly and served, ``invalid_*.txt`` must be refused with a reason. Each file
starts with comment lines (``# ...``) saying what the message tests and which
RFC section it leans on; they are stripped. The rest is the message, written
with LF line endings, turned into CRLF (body included) by :func:`load`: every
newline in the file ends a line, so a message whose headers end with an empty
line ends with one empty line in the file.

What a text file cannot show is written as a placeholder:

``{NUL}`` ``{CR}`` ``{LF}`` ``{TAB}``
    a NUL byte, a bare CR, a bare LF (no CR added), a tab.
``{byte E9}``
    one raw byte (here 0xE9, which alone is not UTF-8).
``{x*60000}``
    a character repeated (here 60,000 ``x``).
``{repeat 300}`` at the start of a line
    the line repeated 300 times, ``{i}`` in it counting 1, 2, 3...
``{server}``, ``{server_host}``, ``{client}``
    where the lab server listens and where the sender is, so that the same file
    can be parsed offline (with documentation addresses) and sent to a
    running LabServer.
``{body-length}``
    the length in bytes of the body after conversion.

A directive line ``#! eol=lf`` keeps bare LF line endings (for the
message that tests them).
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["MESSAGES_DIR", "names", "describe", "load", "OFFLINE"]

#: Where the .txt messages live.
MESSAGES_DIR = Path(__file__).resolve().parent / "messages"
#: Addresses used when a message is parsed without a server.
OFFLINE = {"server": "192.0.2.1:5060", "server_host": "192.0.2.1", "client": "192.0.2.2:5070"}

_REPEAT_RE = re.compile(r"\{(.)\*([0-9]+)\}")
_LINE_REPEAT_RE = re.compile(r"\{repeat ([0-9]+)\} ?")
_BYTE_RE = re.compile(rb"\{byte ([0-9A-Fa-f]{2})\}")


def names(kind: str) -> list[str]:
    """The names (file names without ``.txt``) of the ``kind`` messages: "valid", "invalid"."""
    return sorted(path.stem for path in MESSAGES_DIR.glob(f"{kind}_*.txt"))


def _read(name: str) -> tuple[list[str], list[str]]:
    text = (MESSAGES_DIR / f"{name}.txt").read_text(encoding="utf-8")
    lines = text.split("\n")
    comments: list[str] = []
    while lines and lines[0].startswith("#"):
        comments.append(lines.pop(0))
    return comments, lines  # every newline of the file ends a line, the last one included


def describe(name: str) -> str:
    """The comment lines of a message, without their ``#``: what it tests."""
    comments, _ = _read(name)
    return " ".join(line.lstrip("#! ").strip() for line in comments if not line.startswith("#!"))


def load(name: str, addresses: dict[str, str] | None = None) -> bytes:
    """The wire bytes of message ``name``, placeholders filled (see the module docstring)."""
    comments, lines = _read(name)
    eol = "\n" if "#! eol=lf" in comments else "\r\n"
    where = addresses or OFFLINE
    expanded: list[str] = []
    for line in lines:
        match = _LINE_REPEAT_RE.match(line)
        if match:
            template = line[match.end() :]
            expanded += [template.replace("{i}", str(i)) for i in range(1, int(match[1]) + 1)]
        else:
            expanded.append(line)
    text = eol.join(expanded)
    for key, value in where.items():
        text = text.replace("{" + key + "}", value)
    text = _REPEAT_RE.sub(lambda m: m[1] * int(m[2]), text)
    text = (text.replace("{NUL}", "\x00").replace("{CR}", "\r").replace("{LF}", "\n")
            .replace("{TAB}", "\t"))
    data = _BYTE_RE.sub(lambda m: bytes.fromhex(m[1].decode()), text.encode("utf-8"))
    if b"{body-length}" in data:
        separator = eol.encode() * 2
        body = data.split(separator, 1)[1] if separator in data else b""
        data = data.replace(b"{body-length}", str(len(body)).encode())
    return data
