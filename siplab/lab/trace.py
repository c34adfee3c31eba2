"""Recording every SIP message a phone or server sends and receives: :class:`Trace`.

JsSIP has ``JsSIP.debug.enable('JsSIP:*')``, SIP.js a ``traceSip`` option:
both print every message on the wire, because that is how SIP is debugged and
learned. siplab's transports hand every message, in and out, to one hook
(:class:`~siplab.aio.transport.TraceRecord`: time, direction, transport,
local and remote address, bytes), and a :class:`Trace` is such a hook that
keeps them::

    trace = Trace()
    server = LabServer(udp=[("127.0.0.1", 0)], users=..., trace=trace)
    alice = UserAgent("sip:alice@127.0.0.1", "secret", transport=..., trace=trace)
    ...                                   # or trace.attach(server, alice), any time
    trace.messages                        # one WireMessage per message on the wire
    siplab.lab.flow(trace)                # the rows of a ladder
    trace.to_pcap("call.pcap")            # open it in Wireshark

A message between two traced endpoints is seen twice: sent by one ("out")
and received by the other ("in"). :attr:`Trace.messages` keeps it once (at
the time it was sent), so the trace lists what a capture of the network
would. A datagram that was sent and never arrived stays: it was on the wire.

With ``Trace(rtp=True)`` the trace keeps RTP and RTCP packets too: an RTP
endpoint reports them through the same hook, with transport ``"rtp"`` or
``"rtcp"`` (:attr:`Trace.media`). A traced UserAgent hands such a trace to the
RTP endpoint of every call it starts or answers on the plain RTP/AVP path
(attach it before the call; WebRTC media is encrypted, SRTP, and is not
traced), so ``to_pcap`` writes the call's RTP next to the SIP whose SDP set it
up, and Wireshark decodes it as RTP without "decode as"::

    trace = Trace(rtp=True).attach(alice, bob)
    ...                                   # a call
    trace.to_pcap("call.pcap")
    siplab.lab.rtp_streams("call.pcap")   # the same table as tshark -z rtp,streams

**Sharing a trace.** Digest never sends the password, but the
``Authorization`` header carries a hash of it (``response=``) and the
client's nonce (``cnonce=``): enough for someone with the capture to try
passwords offline. ``Trace(redact=True)`` keeps every message with those two
values replaced by ``"NOT SHOWN"`` (:func:`redact_credentials`), and
``trace.to_pcap(path, redact=True)`` does the same in the file only. The body
is untouched, so Content-Length stays right.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from siplab.errors import SipError
from siplab.lab.pcap import MediaPacket, WireMessage
from siplab.sip.message import parse_message
from siplab.sip.transport import Peer

if TYPE_CHECKING:
    from siplab.aio.transport import TraceRecord

__all__ = ["Trace", "MEDIA_TRANSPORTS", "redact_credentials", "HIDDEN", "CREDENTIAL_LINE",
           "SECRET_PARAM"]

#: The transports an RTP endpoint reports its packets with.
MEDIA_TRANSPORTS = ("rtp", "rtcp")
#: What a redacted value reads (the same words as UserAgentConfig's repr).
HIDDEN = "NOT SHOWN"

#: An Authorization or Proxy-Authorization header with its folded continuation lines
#: (a line that starts with a space, §7.3.1); redact_pcap uses the same definition.
CREDENTIAL_LINE = re.compile(
    rb"(?im)^((?:proxy-)?authorization[ \t]*:)([^\r\n]*(?:\r?\n[ \t][^\r\n]*)*)")
#: The digest parameters that prove the password: the response and the client's nonce.
SECRET_PARAM = re.compile(rb'(?i)\b(response|cnonce)([ \t]*=[ \t]*)("[^"]*"|[^,\s]*)')


def redact_credentials(data: bytes) -> bytes:
    """``data`` (one SIP message) with the ``response`` and ``cnonce`` of every
    Authorization and Proxy-Authorization header replaced by ``"NOT SHOWN"``.

    Only the header section changes, so the body and its Content-Length stay as
    they were; bytes that hold no such header come back unchanged.
    """
    head, separator, body = data.partition(b"\r\n\r\n")
    if b"uthorization" not in head:  # (either case of the A)
        return data

    def hide_params(line: re.Match[bytes]) -> bytes:
        value = SECRET_PARAM.sub(lambda m: m.group(1) + m.group(2) + b'"' +
                                  HIDDEN.encode() + b'"', line.group(2))
        return line.group(1) + value

    return CREDENTIAL_LINE.sub(hide_params, head) + separator + body


class Trace:
    """Keeps every :class:`~siplab.aio.transport.TraceRecord` it is called with (see module doc).

    A Trace *is* the hook: pass it as ``trace=`` to a LabServer, a UserAgent
    or a TransportManager, or call :meth:`attach`.
    """

    def __init__(self, *, rtp: bool = False, redact: bool = False) -> None:
        self.rtp = rtp
        self.redact = redact  # keep credentials out (see the module docstring)
        self.records: list[TraceRecord] = []  # as the hooks gave them, in arrival order
        self._attached: list[Any] = []

    def __repr__(self) -> str:
        return f"<Trace {len(self.records)} records{' with RTP' if self.rtp else ''}>"

    def __call__(self, record: TraceRecord) -> None:
        if record.transport in MEDIA_TRANSPORTS and not self.rtp:
            return
        if self.redact and record.transport not in MEDIA_TRANSPORTS:
            hidden = redact_credentials(record.data)
            if hidden is not record.data:
                record = dataclasses.replace(record, data=hidden)
        self.records.append(record)

    def attach(self, *endpoints: Any) -> Trace:
        """Trace these :class:`~siplab.aio.useragent.UserAgent` s and
        :class:`~siplab.aio.server.LabServer` s from now on (before or after they start).

        Sets their ``trace`` hook (replacing any other); returns the trace.
        """
        for endpoint in endpoints:
            if not hasattr(endpoint, "trace"):
                raise TypeError(f"{type(endpoint).__name__} has no trace hook")
            endpoint.trace = self
            self._attached.append(endpoint)
        return self

    def servers(self) -> set[tuple[str, int]]:
        """Addresses known to accept connections: attached LabServers' listeners, and the
        servers attached UserAgents connect to. They tell the TCP and WebSocket server
        end of a connection from the client end when the pcap is written."""
        found: set[tuple[str, int]] = set()
        for endpoint in self._attached:
            for address in getattr(endpoint, "addresses", None) or ():  # a LabServer
                found.add((address.host, address.port))
            server = getattr(endpoint, "server", None)  # a UserAgent's ServerUrl
            if server is not None and hasattr(server, "port"):
                found.add((server.host, server.port))
        return found

    def clear(self) -> None:
        self.records.clear()

    # -- what was on the wire ------------------------------------------------------------

    @property
    def messages(self) -> list[WireMessage]:
        """One :class:`~siplab.lab.pcap.WireMessage` per SIP message on the wire, by time.

        Messages that do not parse (a peer's garbage) are left out; read
        :attr:`records` to see them.
        """
        return [item for item in self.wire() if isinstance(item, WireMessage)]

    @property
    def media(self) -> list[MediaPacket]:
        """The RTP and RTCP packets (``Trace(rtp=True)``), one per packet on the wire, by time."""
        return [item for item in self.wire() if isinstance(item, MediaPacket)]

    def __len__(self) -> int:
        return len(self.messages)

    def __iter__(self) -> Iterator[WireMessage]:
        return iter(self.messages)

    def wire(self) -> list[WireMessage | MediaPacket]:
        """Everything on the wire, SIP and media, once each, in time order."""
        pending: dict[tuple[Any, ...], int] = {}  # "out"s not yet seen arriving
        items: list[WireMessage | MediaPacket | None] = []
        for record in self.records:
            if record.direction == "out":
                src, dst = record.local, record.remote
            else:
                src, dst = record.remote, record.local
            key = (record.transport, src.host, src.port, dst.host, dst.port, record.data)
            if record.direction == "in" and pending.get(key):
                pending[key] -= 1  # the same message, sent by a traced endpoint
                continue
            if record.direction == "out":
                pending[key] = pending.get(key, 0) + 1
            items.append(self._item(record, src, dst))
        wire = [item for item in items if item is not None]
        wire.sort(key=lambda item: item.time)  # stable: same-time items keep their order
        return wire

    def _item(self, record: TraceRecord, src: Peer, dst: Peer) -> WireMessage | MediaPacket | None:
        if record.transport in MEDIA_TRANSPORTS:
            return MediaPacket(record.time, Peer(src.host, src.port, "udp"),
                               Peer(dst.host, dst.port, "udp"), record.data, record.transport)
        if not record.data.strip(b"\r\n"):
            return None  # a keep-alive
        try:
            message = parse_message(record.data)
        except (SipError, ValueError):
            return None
        transport = record.transport
        return WireMessage(record.time, Peer(src.host, src.port, transport),
                           Peer(dst.host, dst.port, transport), record.data, message)

    # -- to Wireshark --------------------------------------------------------------------

    def to_pcap(self, path: str | os.PathLike[str], *, redact: bool = False) -> Path:
        """Write the trace as a pcap file of Ethernet/IP/UDP and TCP frames, built with scapy.

        UDP messages are one datagram each; TCP connections get their
        three-way handshake and consistent sequence numbers; WebSocket
        connections their HTTP upgrade and (client-masked) frames; RTP and
        RTCP are UDP. Wireshark decodes it as if it had captured the
        network (see :mod:`siplab.lab.pcapwrite`). TLS and WSS are written
        as the TCP and WebSocket they carry, decrypted. ``redact`` writes
        the credentials as ``"NOT SHOWN"`` (:func:`redact_credentials`).
        Returns the path.
        """
        from siplab.lab.pcapwrite import write_trace  # imports scapy (about 1.5 s)

        items = self.wire()
        if redact:
            items = [_redacted(item) for item in items]
        return write_trace(items, Path(path), servers=self.servers())


def _redacted(item: WireMessage | MediaPacket) -> WireMessage | MediaPacket:
    if not isinstance(item, WireMessage):
        return item
    hidden = redact_credentials(item.data)
    if hidden is item.data:
        return item
    return dataclasses.replace(item, data=hidden, message=parse_message(hidden))
