"""Tracing an RTP endpoint: every RTP and RTCP datagram it sends and receives.

SIP is traced by the transports (:class:`~siplab.aio.transport.TraceRecord`,
one per message); a call's media can be traced the same way, so that a
capture written from a :class:`siplab.lab.Trace` made with ``rtp=True`` has
the RTP and RTCP next to the SIP whose SDP announced them, and Wireshark
decodes them as RTP without heuristics. :class:`DatagramTracing` gives
:class:`~siplab.aio.rtp.RtpEndpoint` its ``trace`` hook: one record per
datagram, with transport ``"rtp"`` or ``"rtcp"`` (told apart on a shared
port by RFC 5761 §4's rule), the endpoint's own port as the local address,
and the wall-clock time.

A call sends fifty packets a second each way, so an endpoint without a hook
must not pay for one: then its sockets hand each datagram straight to the
endpoint, and the only trace of tracing left is one ``is None`` test per
packet sent.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Literal

from siplab.aio.rtp_sockets import RtpProtocol
from siplab.aio.transport import TraceRecord
from siplab.rtp import looks_like_rtcp
from siplab.sip.transport import Peer

__all__ = ["DatagramTracing"]

TraceHook = Callable[[TraceRecord], None]


class DatagramTracing:
    """The ``trace`` hook of an RTP endpoint (a base class of
    :class:`~siplab.aio.rtp.RtpEndpoint`, which provides the attributes below)."""

    host: str
    local_port: int
    local_rtcp_port: int
    rtcp_mux: bool
    _trace: TraceHook | None = None
    _protocols: tuple[RtpProtocol | None, RtpProtocol | None] = (None, None)

    def _on_rtp(self, data: bytes, addr: Any, arrival: float | None = None) -> None:
        raise NotImplementedError

    def _on_rtcp(self, data: bytes, addr: Any, arrival: float | None = None) -> None:
        raise NotImplementedError

    @property
    def trace(self) -> TraceHook | None:
        """Called with a :class:`~siplab.aio.transport.TraceRecord` for every RTP and RTCP
        datagram sent and received (transport ``"rtp"`` or ``"rtcp"``), as the SIP
        transports do for SIP: a :class:`siplab.lab.Trace` made with ``rtp=True`` is
        such a hook. None (the default) costs nothing."""
        return self._trace

    @trace.setter
    def trace(self, hook: TraceHook | None) -> None:
        self._trace = hook
        self._route_datagrams()

    def _route_datagrams(self) -> None:
        """Point the sockets at the endpoint, through the recorder when traced."""
        rtp_protocol, rtcp_protocol = self._protocols
        traced = self._trace is not None
        if rtp_protocol is not None:
            rtp_protocol.handler = self._traced_rtp if traced else self._on_rtp
        if rtcp_protocol is not None:
            rtcp_protocol.handler = self._traced_rtcp if traced else self._on_rtcp

    def _record(self, direction: Literal["in", "out"], kind: str, data: bytes,
                remote: Any) -> None:
        if self._trace is None:
            return
        port = self.local_port if kind == "rtp" or self.rtcp_mux else self.local_rtcp_port
        self._trace(TraceRecord(time.time(), direction, kind, Peer(self.host, port, "udp"),
                                Peer(remote[0], remote[1], "udp"), data))

    def _traced_rtp(self, data: bytes, addr: Any) -> None:
        kind = "rtcp" if self.rtcp_mux and looks_like_rtcp(data) else "rtp"
        self._record("in", kind, data, addr)
        self._on_rtp(data, addr)

    def _traced_rtcp(self, data: bytes, addr: Any) -> None:
        self._record("in", "rtcp", data, addr)
        self._on_rtcp(data, addr)
