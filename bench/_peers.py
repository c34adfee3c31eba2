"""Adapters that make every SIP parser in the benchmark look the same.

``bench/parse.py`` measures three levels of work for each parser:

1. **parse**: bytes in, the library's message object out;
2. **fields**: parse, then read the fields a user agent or proxy looks at on
   every message (RFC 3261 §8.2, §17.2.3): Call-ID, the CSeq number, the From
   and To tags, the branch of the top Via and how many Via elements there are;
3. **roundtrip**: parse, then write the message back to bytes.

Each parser gets an :class:`Adapter` with one function per level. A level a
library cannot do at all is ``None`` with the reason in :attr:`Adapter.missing`
(shown as "n/a" in the table). Every adapter uses the library's own public API
the way its documentation or its own transport code does, choosing the
cheapest *typed* route where there are several, so the peers are measured at
their best. How each one was found is written next to it: read the installed
source in ``.venv/lib/python3.11/site-packages/<package>``.

The peers (the ``bench`` extra in pyproject.toml) are imported lazily; one
that is not installed becomes an adapter with every level missing, so the
benchmark still runs.
"""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Fields",
    "LEVELS",
    "Adapter",
    "bare_parse",
    "bare_fields",
    "bare_roundtrip",
    "load_adapters",
]

#: (call_id, cseq_number, from_tag, to_tag, top_via_branch, via_count)
Fields = tuple[str, int, "str | None", "str | None", "str | None", int]

#: The levels, in the order of the table's columns.
LEVELS = ("parse", "fields", "roundtrip")


@dataclass
class Adapter:
    """One parser seen through the three benchmark levels."""

    name: str
    version: str
    parse: Callable[[bytes], object] | None = None
    fields: Callable[[bytes], Fields] | None = None
    roundtrip: Callable[[bytes], bytes] | None = None
    #: level -> why the library cannot do it ("n/a" in the table).
    missing: dict[str, str] = field(default_factory=dict)
    #: Set when the library could not be imported at all.
    unavailable: str | None = None

    def level(self, name: str) -> Callable[[bytes], Any] | None:
        fn: Callable[[bytes], Any] | None = getattr(self, name)
        return fn


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def _unavailable(name: str, dist: str, exc: BaseException) -> Adapter:
    reason = f"not importable ({type(exc).__name__}: {exc}); pip install {dist}"
    return Adapter(name, _version(dist), unavailable=reason,
                   missing=dict.fromkeys(LEVELS, reason))


# -- the bare baseline ----------------------------------------------------------------
#
# What a hurried programmer writes: cut at the blank line, split lines, split
# each at the first colon. No validation, no folding, no compact forms, no
# quoting rules. It is the floor a real parser is compared with, not a parser.

BareMessage = tuple[str, dict[str, list[str]], bytes]


def bare_parse(data: bytes) -> BareMessage:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("utf-8").split("\r\n")
    headers: dict[str, list[str]] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        key = name.strip().lower()
        found = headers.get(key)
        if found is None:
            headers[key] = [value.strip()]
        else:
            found.append(value.strip())
    return lines[0], headers, body


def bare_fields(data: bytes) -> Fields:
    _, h, _ = bare_parse(data)
    to = h["to"][0]
    via = h["via"]
    return (
        h["call-id"][0],
        int(h["cseq"][0].split(" ", 1)[0]),
        h["from"][0].split(";tag=", 1)[1].split(";", 1)[0] if ";tag=" in h["from"][0] else None,
        to.split(";tag=", 1)[1].split(";", 1)[0] if ";tag=" in to else None,
        via[0].split("branch=", 1)[1].split(";", 1)[0].split(",", 1)[0],
        sum(v.count(",") + 1 for v in via),
    )


def bare_roundtrip(data: bytes) -> bytes:
    start, h, body = bare_parse(data)
    lines = [start]
    lines.extend(f"{name}: {value}" for name, values in h.items() for value in values)
    lines.append("")
    lines.append("")
    return "\r\n".join(lines).encode("utf-8") + body


# -- siplab -----------------------------------------------------------------------


def _siplab() -> Adapter:
    from siplab.sip.message import parse_message

    def fields(data: bytes) -> Fields:
        m = parse_message(data)
        return (m.call_id, m.cseq.number, m.from_tag, m.to_tag, m.branch, m.via_count)

    def roundtrip(data: bytes) -> bytes:
        return parse_message(data).to_bytes()

    return Adapter("siplab", _version("siplab"), parse_message, fields, roundtrip)


# -- sipmessage (Spacinov) ------------------------------------------------------------
# sipmessage/message.py: Message.parse(bytes) -> Request | Response; typed properties
# .call_id (str), .cseq (CSeq.sequence), .from_address / .to_address (Address with a
# Parameters mapping), .via (list[Via], parses every Via line); bytes(message).


def _sipmessage() -> Adapter:
    from sipmessage import Message

    def fields(data: bytes) -> Fields:
        m = Message.parse(data)
        vias = m.via
        return (
            m.call_id,
            m.cseq.sequence,
            m.from_address.parameters.get("tag"),
            m.to_address.parameters.get("tag"),
            vias[0].parameters.get("branch"),
            len(vias),
        )

    def roundtrip(data: bytes) -> bytes:
        return bytes(Message.parse(data))

    return Adapter("sipmessage", _version("sipmessage"), Message.parse, fields, roundtrip)


# -- aiosipua ---------------------------------------------------------------------------
# aiosipua/message.py: SipMessage.parse(bytes | str); it already splits list headers
# (Via, Contact...) into one value per element, so the Via count is the length of
# headers.get("via") and only the top one needs parse_via. Typed: .call_id, .cseq.seq,
# .from_addr.tag, .to_addr.tag; bytes(message) writes it (and sets Content-Length).


def _aiosipua() -> Adapter:
    # It logs a warning for every body that disagrees with Content-Length.
    logging.getLogger("aiosipua").setLevel(logging.ERROR)
    from aiosipua.headers import parse_via
    from aiosipua.message import SipMessage

    def fields(data: bytes) -> Fields:
        m = SipMessage.parse(data)
        vias = m.headers.get("via")
        cseq = m.cseq
        from_addr, to_addr = m.from_addr, m.to_addr
        call_id = m.call_id
        if cseq is None or from_addr is None or to_addr is None or call_id is None or not vias:
            raise ValueError("aiosipua: a mandatory header is missing")
        return (call_id, cseq.seq, from_addr.tag, to_addr.tag, parse_via(vias[0]).branch,
                len(vias))

    def roundtrip(data: bytes) -> bytes:
        return bytes(SipMessage.parse(data))

    return Adapter("aiosipua", _version("aiosipua"), SipMessage.parse, fields, roundtrip)


# -- sippy (Sippy Software B2BUA) ---------------------------------------------------
# sippy/SipTransactionManager.py handleIncoming: data.decode(), then
# SipResponse(data) if it starts with 'SIP/2.0 ' else SipRequest(data). Header
# bodies are parsed lazily by getHFBody(name); Via lines with commas are split into
# one header each. Fields: getHFBody('call-id').body, getHFBody('cseq').getCSeqNum(),
# getHFBody('from'/'to').getTag(), getHFBody('via').getBranch(), countHFs('via').
# str(message) writes it back (sippy works on str, so the adapter encodes).


def _sippy() -> Adapter:
    from sippy.SipRequest import SipRequest
    from sippy.SipResponse import SipResponse

    def parse(data: bytes) -> Any:
        text = data.decode()
        if text.startswith("SIP/2.0 "):
            return SipResponse(text)
        return SipRequest(text)

    def fields(data: bytes) -> Fields:
        m = parse(data)
        return (
            m.getHFBody("call-id").body,
            m.getHFBody("cseq").getCSeqNum(),
            m.getHFBody("from").getTag(),
            m.getHFBody("to").getTag(),
            m.getHFBody("via").getBranch(),
            m.countHFs("via"),
        )

    def roundtrip(data: bytes) -> bytes:
        return str(parse(data)).encode()

    return Adapter("sippy", _version("sippy"), parse, fields, roundtrip)


# -- pyVoIP -----------------------------------------------------------------------------
# pyVoIP/SIP.py: SIPMessage(bytes) parses eagerly into dicts: headers["Call-ID"],
# headers["CSeq"]["check"] (a str), headers["From"/"To"]["tag"] ("" when absent),
# headers["Via"] (a list of dicts, one per Via *line*). It only accepts the methods
# in pyVoIP.SIPCompatibleMethods (INVITE, ACK, BYE, CANCEL). It has no serializer:
# SIPMessage keeps .raw, and SIPClient writes new messages from string templates.


def _pyvoip() -> Adapter:
    # pyVoIP.SIP and pyVoIP.VoIP import each other; only this order works.
    import pyVoIP.VoIP  # noqa: F401
    from pyVoIP.SIP import SIPMessage

    def fields(data: bytes) -> Fields:
        h = SIPMessage(data).headers
        vias = h["Via"]
        return (
            h["Call-ID"],
            int(h["CSeq"]["check"]),
            h["From"]["tag"] or None,
            h["To"]["tag"] or None,
            vias[0].get("branch"),
            len(vias),
        )

    reason = "no serializer: SIPMessage keeps .raw; SIPClient builds messages from templates"
    return Adapter("pyVoIP", _version("pyVoIP"), SIPMessage, fields, None,
                   missing={"roundtrip": reason})


_PEERS: tuple[tuple[str, str, Callable[[], Adapter]], ...] = (
    ("sipmessage", "sipmessage", _sipmessage),
    ("aiosipua", "aiosipua", _aiosipua),
    ("sippy", "sippy", _sippy),
    ("pyVoIP", "pyVoIP", _pyvoip),
)


def load_adapters() -> list[Adapter]:
    """siplab, the bare baseline, then every peer (unavailable ones included)."""
    adapters = [
        _siplab(),
        Adapter("bare split", "-", bare_parse, bare_fields, bare_roundtrip),
    ]
    for name, dist, make in _PEERS:
        try:
            adapters.append(make())
        except Exception as exc:
            adapters.append(_unavailable(name, dist, exc))
    return adapters
