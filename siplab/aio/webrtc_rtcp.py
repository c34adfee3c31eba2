"""RTCP receiver reports about the audio siplab plays on the WebRTC path (RFC 3550 §6.4.2).

On the WebRTC path siplab takes every decrypted audio packet before aiortc sees
it (:func:`siplab.aio.webrtc_aiortc.tap_rtp`) and plays it itself. aiortc's
``RTCRtpReceiver`` writes receiver reports only about the packets *it*
received, so without this module nobody would tell the peer how its audio
arrives: a browser's ``getStats()`` would show no ``remote-inbound-rtp`` for
its outgoing audio (no loss, no jitter, no round-trip time), which RFC 3550
§6.4.2 asks every receiver to report. :class:`AudioReports` does it with the
plain path's own pieces:

* **when and what**: :class:`siplab.aio.rtcp.RtcpReporter`, the plain path's
  timer and builder: a compound of a receiver report (RR) and an SDES every
  ``interval`` seconds (5 by default, RFC 3550 §6.2; randomised 0.5-1.5 times,
  §6.3.1), the first at half an interval, armed at the first audio packet. It
  never sends an SR: aiortc's ``RTCRtpSender`` sends those for our audio;
* **the report block** (§6.4.1): :meth:`siplab.rtp.ReceiverStats.report_block`
  on the statistics siplab already keeps for the call: fraction lost,
  cumulative lost, extended highest sequence number, interarrival jitter, and
  LSR/DLSR from the peer's last SR about its audio SSRC;
* **who reports**: our audio source's SSRC and CNAME (aiortc's, read from the
  SDP), so that the peer sees one participant, whose SRs come from aiortc and
  whose RRs come from siplab;
* **the peer's RTCP**: :func:`siplab.aio.webrtc_aiortc.tap_rtcp` shows each
  decrypted compound to :meth:`AudioReports.receive` and then hands it on to
  aiortc unchanged (aiortc's sender reads the peer's report blocks about our
  audio for its own ``remote-inbound-rtp``; aiortc's audio receiver, which never
  saw the RTP, only notes the SR). Only the SR *from the audio source* sets
  LSR: with BUNDLE the same compound may carry the video's SR too;
* **how it leaves**: SRTCP-protected (RFC 3711 §3.4) by aiortc's
  ``RTCDtlsTransport._send_rtp``, as aiortc's own reports are
  (:func:`siplab.aio.webrtc_aiortc.send_rtp`);
* **the round-trip time the other way** (§6.4.1): the peer's report blocks
  about our audio give :attr:`AudioReports.rtt` (``stats().rtt_ms``) as on the
  plain path. It reads up to one packet (20 ms) high: aiortc stamps its SR
  with the time of its last RTP packet, not of the SR; aiortc's own
  ``getStats()`` ``roundTripTime`` uses the SR's sending time;
* **the end**: the timer stops when the endpoint closes, when the connection
  fails, or when the peer's RTCP BYE names the audio source (§6.6). aiortc's
  sender sends the BYE for our SSRC when the peer connection closes.

One timer per call every few seconds and a compound of about 80 bytes: no measurable cost.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Coroutine
from typing import Any

from aiortc.rtcdtlstransport import RTCDtlsTransport

from siplab.aio.rtcp import RtcpReporter
from siplab.aio.webrtc_aiortc import send_rtp
from siplab.ids import IdSource
from siplab.rtp import (
    Bye,
    ReceiverReport,
    ReceiverStats,
    RtpParseError,
    RtpSender,
    SenderReport,
    ntp_short_from_unix,
    parse_rtcp,
    round_trip_time,
)

__all__ = ["AudioReports", "RTCP_INTERVAL", "cname_in_sdp"]

#: Mean seconds between our reports (RFC 3550 §6.2's minimum for a two-party call).
RTCP_INTERVAL = 5.0


def cname_in_sdp(sdp: str, ssrc: int) -> str | None:
    """The CNAME an SDP gives source ``ssrc`` (``a=ssrc:<ssrc> cname:<cname>``, RFC 5576)."""
    match = re.search(rf"^a=ssrc:{ssrc} cname:(\S+)", sdp, re.MULTILINE)
    return match.group(1) if match else None


class AudioReports:
    """Reports on ``receiver`` (the call's audio statistics) as source ``ssrc``, over
    ``transport``; reads the peer's RTCP (see the module docstring).

    ``spawn`` runs a coroutine as one of the endpoint's tasks (the SRTCP send).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, transport: RTCDtlsTransport,
                 receiver: ReceiverStats, *, ssrc: int, cname: str | None, ids: IdSource,
                 spawn: Callable[[Coroutine[Any, Any, Any]], None],
                 interval: float = RTCP_INTERVAL) -> None:
        self._loop = loop
        self._transport = transport
        self._spawn = spawn
        # Only its SSRC and CNAME are used: siplab sends no RTP as this source.
        source = RtpSender(0, receiver.clock_rate, ids=ids, ssrc=ssrc, cname=cname)
        self.reporter = RtcpReporter(loop, source, receiver, self._send, interval=interval)
        self.received = 0
        #: Seconds, from the peer's last report block about our audio (None before).
        self.rtt: float | None = None
        self.remote_bye: Bye | None = None
        self.stopped = False

    @property
    def sent(self) -> int:
        return self.reporter.sent

    def start(self) -> None:
        if not self.stopped:
            self.reporter.start()

    def stop(self) -> None:
        self.stopped = True
        self.reporter.stop()

    def _send(self, data: bytes) -> bool:
        if self.stopped or self._transport.state != "connected":
            return False
        self._spawn(send_rtp(self._transport, data))  # SRTCP: _send_rtp knows RTCP
        return True

    def receive(self, data: bytes) -> None:
        """A decrypted compound from the peer (aiortc gets it too, afterwards)."""
        now = self._loop.time()
        try:
            packets = parse_rtcp(data)
        except RtpParseError:
            return
        self.received += 1
        self.reporter.log.append((now, "in", packets))
        receiver = self.reporter.receiver
        ours = self.reporter.sender.ssrc
        for packet in packets:
            if isinstance(packet, SenderReport) and packet.ssrc == receiver.ssrc:
                receiver.on_sender_report(packet, now)  # our next block echoes it (LSR)
            if isinstance(packet, SenderReport | ReceiverReport):
                for block in packet.reports:
                    if block.ssrc == ours and block.lsr:
                        arrival = ntp_short_from_unix(self.reporter.wallclock(now))
                        self.rtt = round_trip_time(arrival, block.lsr, block.dlsr)
            elif isinstance(packet, Bye) and receiver.ssrc in packet.sources:
                self.remote_bye = packet
                self.stop()  # the source left: nothing more to report on (§6.6)
