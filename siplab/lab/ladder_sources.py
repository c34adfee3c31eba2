"""Reading the messages of a ladder from whatever the student has.

A ladder can be drawn from many things: a :class:`~siplab.lab.network.SimNetwork`
run, a list of its :class:`~siplab.lab.network.Record` s, a live
:class:`~siplab.lab.trace.Trace`, a capture file, the rows of
:func:`siplab.lab.flow.flow`, or just a list of SIP messages. This module
turns each of them into the same list of :class:`SourceRow` s (time, sender,
receiver, the message), which :mod:`siplab.lab.ladder_model` then reads.

A bare list of messages says nothing about addresses or times, so they are
guessed the way a SIP element routes (RFC 3261 §18): a request goes from the
``sent-by`` of its top Via to its first Route (or its Request-URI); a
response goes back to the top Via (§18.2.2), from wherever its request went.
Such a ladder is numbered instead of timed.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from siplab.errors import SipError
from siplab.lab.network import Record, SimNetwork
from siplab.sip.message import Message, Request, parse_message
from siplab.sip.transport import Peer, default_port, uri_host
from siplab.sip.uri import SipUri

__all__ = [
    "SourceRow",
    "collect_rows",
    "read_capture",
    "resolve_rtp",
    "address_text",
    "parse_or_none",
]


@dataclass(frozen=True, slots=True)
class SourceRow:
    """One message as a source gives it, before the model is worked out."""

    time: float | None
    src: str  # endpoint key
    dst: str
    src_address: str
    dst_address: str
    data: bytes | None = field(repr=False)
    message: Message | None = field(repr=False)
    label: str | None = None
    protocol: str = "SIP"
    lost: bool = False
    lost_reason: str | None = None


def address_text(value: object) -> str:
    """``10.0.0.1:5060`` from a Peer, a (host, port) tuple or text; transport noted if not UDP."""
    if isinstance(value, Peer):
        text = f"{uri_host(value.host)}:{value.port}"
        return text if value.transport == "udp" else f"{text} ({value.transport})"
    if isinstance(value, tuple) and len(value) >= 2:
        return f"{uri_host(str(value[0]))}:{value[1]}"
    return str(value)


def parse_or_none(data: bytes | None) -> Message | None:
    if not data:
        return None
    try:
        return parse_message(data)
    except (SipError, ValueError):
        return None


def _records_rows(records: Iterable[Record], net: SimNetwork | None) -> list[SourceRow]:
    rows = []
    for record in records:
        src, dst = address_text(record.src), address_text(record.dst)
        src_key = net.name_of(record.src) if net is not None else src
        dst_key = net.name_of(record.dst) if net is not None else dst
        rows.append(SourceRow(
            time=record.time_sent, src=src_key, dst=dst_key, src_address=src,
            dst_address=dst, data=record.data, message=parse_or_none(record.data),
            label=record.label, protocol=f"SIP/{record.src.transport.upper()}",
            lost=record.dropped, lost_reason=record.reason,
        ))
    # Sent order: a lost datagram is recorded when it is sent, a delivered one when it
    # arrives; the ladder draws each message where it left (a stable sort keeps ties).
    return sorted(rows, key=lambda row: row.time or 0.0)


def _inferred_rows(messages: Sequence[Message]) -> list[SourceRow]:
    """Addresses for bare messages: a request goes from its top Via's sent-by to its
    first Route or Request-URI; a response goes back to its top Via, from wherever
    its request went (§18.2.2)."""
    rows: list[SourceRow] = []
    request_dst: dict[tuple[str | None, str], str] = {}
    for message in messages:
        via_host = "?"
        try:
            via = message.top_via
            via_host = f"{uri_host(via.host)}:{via.port or default_port(via.transport)}"
        except SipError:
            pass
        if isinstance(message, Request):
            target: object = message.uri
            try:
                routes = message.route
                if routes:
                    target = routes[0].uri
            except SipError:
                pass
            dst = "?"
            if isinstance(target, SipUri):
                dst = f"{target.host}:{target.port or default_port(target.transport or 'udp')}"
            src = via_host
            with contextlib.suppress(SipError):  # no Via or CSeq: nothing will match it
                request_dst[(message.branch, message.cseq.method)] = dst
        else:
            dst = via_host
            try:
                src = request_dst.get((message.branch, message.cseq.method)) or "?"
                if src == "?" and isinstance(message.to.uri, SipUri):
                    src = message.to.uri.host_port
            except SipError:
                src = "?"
        rows.append(SourceRow(time=None, src=src, dst=dst, src_address=src, dst_address=dst,
                              data=None, message=message, label=message.label))
    return rows


def _flow_rows(rows: Iterable[Any]) -> list[SourceRow]:
    """Rows with ``time``, ``src``, ``dst`` and ``label`` (:class:`~siplab.lab.flow.FlowRow`,
    :class:`~siplab.lab.pcap.WireMessage`) and, when they have them, ``message``,
    ``data``, ``protocol`` and ``dropped``."""
    out = []
    for row in rows:
        protocol = str(getattr(row, "protocol", None) or "SIP")
        if not protocol.upper().startswith("SIP"):
            continue  # RTP and RTCP are drawn as bands, not arrows
        message = getattr(row, "message", None)
        data = getattr(row, "data", None)
        if not isinstance(data, bytes):
            data = None
        if not isinstance(message, Message):
            message = parse_or_none(data)
        src, dst = address_text(row.src), address_text(row.dst)
        label = getattr(row, "label", None) or (message.label if message else None)
        lost = bool(getattr(row, "dropped", False) or getattr(row, "lost", False))
        out.append(SourceRow(
            time=float(row.time), src=src, dst=dst, src_address=src, dst_address=dst,
            data=data, message=message, label=label, protocol=protocol, lost=lost,
            lost_reason="lost" if lost else None,
        ))
    return out


def _flow(source: object) -> list[SourceRow]:
    """The rows :func:`siplab.lab.flow.flow` gives (a Trace, a Capture, a path...).

    Without that module, a Capture's ``sip_messages`` or a Trace's
    ``messages`` (WireMessages) are read directly.
    """
    try:
        from siplab.lab.flow import flow  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        messages = getattr(source, "sip_messages", None) or getattr(source, "messages", None)
        if messages is None:
            raise TypeError(f"cannot read SIP messages from {source!r}") from None
        return _flow_rows(messages)
    return _flow_rows(flow(source))


def collect_rows(source: object) -> tuple[list[SourceRow], dict[str, str]]:
    """The messages of ``source`` and the names it knows for endpoints (key -> name).

    ``source`` is a SimNetwork, a list of its Records, a list of messages
    (Request/Response or their bytes), a list of ``(time, src, dst, message)``
    tuples, a list of FlowRows or WireMessages, or anything
    :func:`siplab.lab.flow` reads (a Trace, a Capture, a pcap path).
    """
    hints: dict[str, str] = {}
    if isinstance(source, SimNetwork):
        rows = _records_rows(source.records, source)
        for row in rows:
            for key, address in ((row.src, row.src_address), (row.dst, row.dst_address)):
                if key != address and ":" not in key:
                    hints[key] = key
        return rows, hints
    if isinstance(source, (bytes, Message)):
        source = [source]
    if isinstance(source, (str, os.PathLike)) or not isinstance(source, Iterable):
        return _flow(source), hints  # a pcap path, a Trace, a Capture
    items = list(source)
    if not items:
        return [], hints
    if all(isinstance(item, Record) for item in items):
        return _records_rows(items, None), hints
    if all(isinstance(item, (bytes, Message)) for item in items):
        messages = [item if isinstance(item, Message) else parse_message(item) for item in items]
        return _inferred_rows(messages), hints
    if all(isinstance(item, tuple) and len(item) == 4 for item in items):
        rows = []
        for time, src, dst, message in items:
            data = message if isinstance(message, bytes) else None
            parsed = message if isinstance(message, Message) else parse_or_none(data)
            s, d = address_text(src), address_text(dst)
            rows.append(SourceRow(time=float(time), src=s, dst=d, src_address=s,
                                  dst_address=d, data=data, message=parsed,
                                  label=parsed.label if parsed else None))
        return rows, hints
    if all(hasattr(item, "label") and hasattr(item, "time") for item in items):
        return _flow_rows(items), hints  # FlowRows, WireMessages
    return _flow(items), hints  # TraceRecords and the like: flow() knows them


def read_capture(source: object) -> object:
    """A pcap path becomes a Capture once, so the SIP and the RTP come from one read."""
    if isinstance(source, (str, os.PathLike)):
        from siplab.lab.pcap import read_pcap

        return read_pcap(source)
    return source


def resolve_rtp(source: object, rtp: Iterable[object] | bool | None) -> Iterable[object] | None:
    """``rtp=None`` or ``True``: the streams :func:`siplab.lab.analysis.rtp_streams` finds
    in a Capture or a Trace; ``False``: none; else the streams given."""
    if rtp is False:
        return None
    if rtp is None or rtp is True:
        if not (hasattr(source, "rtp_packets") or hasattr(source, "media")):
            return None  # a SimNetwork, a list of messages: no RTP to look for
        from siplab.lab.analysis import rtp_streams

        return list(rtp_streams(source))  # type: ignore[arg-type]
    return rtp
