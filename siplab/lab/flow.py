"""The rows behind a ladder diagram: :func:`flow` (what Wireshark's SIP Flows window lists).

A ladder (a *sequence diagram*, RFC 3665 draws dozens of them) shows each SIP
message as an arrow from the sender to the receiver, top to bottom in time.
Behind the drawing is a plain table, one row per message::

    time               src                dst                protocol label
    1716200000.001     127.0.0.1:40612    127.0.0.1:5060     SIP/SDP  INVITE
    1716200000.002     127.0.0.1:5060     127.0.0.1:40612    SIP      100 Trying
    ...

:func:`flow` makes that table from anything that holds SIP messages: a
capture file (read with :func:`~siplab.lab.pcap.read_pcap`), a
:class:`~siplab.lab.pcap.Capture`, a :class:`~siplab.lab.trace.Trace`, a
:class:`~siplab.lab.network.SimNetwork` (its clock, its lost datagrams
marked), or a list of :class:`~siplab.lab.pcap.WireMessage`,
:class:`~siplab.aio.transport.TraceRecord` or
:class:`~siplab.lab.network.Record`. On a capture it lists the same messages,
in the same order, between the same endpoints as ``tshark -Y sip`` does.

The *protocol* is what Wireshark's Protocol column says: ``SIP``, or
``SIP/SDP`` when the body is a session description. A *retransmission* is a
message whose bytes, source and destination were all seen before (a UDP
request resent by Timer A or E, a 200 OK resent until its ACK comes, §17).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from siplab.errors import SipError
from siplab.lab.pcap import Capture, WireMessage, scan_capture
from siplab.sip.headers import CSeq
from siplab.sip.message import Request, Response, parse_message
from siplab.sip.transport import Peer

__all__ = ["FlowRow", "flow", "format_flow"]


@dataclass(frozen=True, slots=True)
class FlowRow:
    """One SIP message of a ladder (see the module docstring)."""

    time: float  # seconds since the epoch (a SimNetwork: its own clock)
    src: Peer
    dst: Peer
    protocol: str  # "SIP" or "SIP/SDP"
    label: str  # "INVITE", "180 Ringing"
    message: Request | Response | None = field(repr=False)  # None: a record that does not parse
    frame: int = 0  # the capture's frame number, 0 when not from a capture
    retransmission: bool = False
    dropped: bool = False  # a SimNetwork datagram that was lost

    @property
    def transport(self) -> str:
        return self.src.transport

    @property
    def call_id(self) -> str | None:
        return self.message.headers.get("Call-ID") if self.message is not None else None

    @property
    def cseq(self) -> CSeq | None:
        if self.message is None:
            return None
        try:
            return self.message.cseq
        except (SipError, ValueError):
            return None

    @property
    def has_sdp(self) -> bool:
        return self.protocol == "SIP/SDP"


def flow(source: Any) -> list[FlowRow]:
    """The SIP messages of ``source`` as :class:`FlowRow` s, in capture (time) order.

    ``source``: a capture file's path, a Capture, a Trace, a SimNetwork, or an
    iterable of WireMessage, TraceRecord or SimNetwork Record.
    """
    if isinstance(source, str | os.PathLike):
        source = scan_capture(source, keep=False)
    if isinstance(source, Capture):
        return _rows(source.sip_messages)
    if hasattr(source, "records") and hasattr(source, "wire"):  # a Trace
        return _rows(source.messages)
    if hasattr(source, "records") and hasattr(source, "run"):  # a SimNetwork
        return _network_rows(source.records)
    items = list(source)
    if items and all(hasattr(item, "direction") and hasattr(item, "local") for item in items):
        from siplab.lab.trace import Trace  # TraceRecords: deduplicated as a Trace does it

        trace = Trace(rtp=True)
        trace.records.extend(items)
        return _rows(trace.messages)
    if items and all(hasattr(item, "time_sent") for item in items):
        return _network_rows(items)
    wire = [item for item in items if isinstance(item, WireMessage)]
    if len(wire) != len(items):
        raise TypeError("flow() reads a capture path, a Capture, a Trace, a SimNetwork, or "
                        "WireMessages, TraceRecords or SimNetwork Records")
    return _rows(wire)


def _protocol(message: Request | Response | None) -> str:
    if message is None or not message.body:
        return "SIP"
    content_type = (message.headers.get("Content-Type") or "").lower()
    return "SIP/SDP" if "application/sdp" in content_type else "SIP"


def _rows(messages: Iterable[WireMessage]) -> list[FlowRow]:
    seen: set[tuple[Peer, Peer, bytes]] = set()
    rows = []
    for wire in messages:
        key = (wire.src, wire.dst, wire.data)
        rows.append(FlowRow(wire.time, wire.src, wire.dst, _protocol(wire.message), wire.label,
                            wire.message, wire.frame, key in seen))
        seen.add(key)
    return rows


def _network_rows(records: Iterable[Any]) -> list[FlowRow]:
    seen: set[tuple[Peer, Peer, bytes]] = set()
    rows = []
    for record in records:
        try:
            message: Request | Response | None = parse_message(record.data)
        except (SipError, ValueError):
            message = None
        key = (record.src, record.dst, record.data)
        label = message.label if message is not None else record.label
        rows.append(FlowRow(record.time_sent, record.src, record.dst, _protocol(message), label,
                            message, 0, key in seen, record.dropped))
        seen.add(key)
    return rows


def format_flow(rows: Iterable[FlowRow]) -> str:
    """The rows as a text table, times relative to the first row."""
    rows = list(rows)
    start = rows[0].time if rows else 0.0
    lines = []
    for row in rows:
        note = " (retransmission)" if row.retransmission else ""
        note += " (lost)" if row.dropped else ""
        lines.append(f"{row.time - start:10.6f}  {row.src.host}:{row.src.port:<6} -> "
                     f"{row.dst.host}:{row.dst.port:<6} {row.transport.upper():<4} "
                     f"{row.protocol:<8} {row.label}{note}")
    return "\n".join(lines)
