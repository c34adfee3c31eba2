"""RTCP for one RTP session on the event loop: periodic reports, the peer's reports, BYE.

The packets themselves are built and parsed by :mod:`siplab.rtp.rtcp`
(sans-I/O). :class:`RtcpReporter` adds the time (RFC 3550 §6):

* **when**: every ``interval`` seconds on average (RFC 3550 §6.2 suggests at
  least 5 s for a two-party call), each interval drawn between 0.5 and 1.5
  times that (§6.3.1) so that endpoints started together do not report in
  lock step; the first report after half an interval;
* **what**: a compound packet (§6.1) that starts with a sender report (SR) if
  we sent RTP since the last report, else a receiver report (RR), each with a
  report block about the stream we receive, then an SDES with our CNAME; at
  the end, the same plus a BYE (§6.6);
* **what comes back**: the peer's SR is remembered, so that our next report
  block echoes its time (LSR) and how long we held it (DLSR); the peer's
  report block about *our* stream gives the round-trip time,
  ``RTT = arrival - LSR - DLSR`` (§6.4.1, :func:`siplab.rtp.round_trip_time`).

NTP times in SR are wallclock (Unix) times; the reporter derives them from the
loop's monotonic clock plus the offset measured when it was created, so both
clocks agree within one session.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Callable

from siplab.rtp import (
    Bye,
    ReceiverReport,
    ReceiverStats,
    RtcpPacket,
    RtpParseError,
    RtpSender,
    SenderReport,
    ntp_short_from_unix,
    parse_rtcp,
    round_trip_time,
    serialize_rtcp,
)

__all__ = ["RtcpReporter", "RTCP_LOG_SIZE"]

#: RTCP compounds kept in :attr:`RtcpReporter.log` for a notebook to look at.
RTCP_LOG_SIZE = 64


class RtcpReporter:
    """Sends this stream's RTCP reports on a timer and reads the peer's.

    ``send(data)`` puts a compound packet on the wire and returns False when
    there is nowhere to send it yet. ``receiver`` is the statistics of the
    stream we receive (the endpoint replaces it when the peer's SSRC changes).
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sender: RtpSender,
        receiver: ReceiverStats,
        send: Callable[[bytes], bool],
        *,
        interval: float = 5.0,
    ) -> None:
        self._loop = loop
        self.sender = sender
        self.receiver = receiver
        self._send = send
        self.interval = interval
        self._wall_offset = time.time() - loop.time()  # loop time -> Unix time, for NTP
        self._random = random.Random(sender.ssrc)
        self._timer: asyncio.TimerHandle | None = None
        #: Set by the endpoint whenever it sends RTP: the next report is then an SR.
        self.sent_media = False
        self.sent = 0
        self.received = 0
        self.rtt: float | None = None  # seconds, from the peer's last report block about us
        self.remote_bye: Bye | None = None
        #: (loop time, "in" or "out", packets) of recent compounds.
        self.log: deque[tuple[float, str, list[RtcpPacket]]] = deque(maxlen=RTCP_LOG_SIZE)

    def wallclock(self, now: float) -> float:
        """The Unix time of loop time ``now``."""
        return now + self._wall_offset

    # --- our reports ------------------------------------------------------------------

    def start(self) -> None:
        """Arm the timer; the first report goes after about half an interval."""
        if self._timer is None:
            self._arm(first=True)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _arm(self, *, first: bool = False) -> None:
        factor = self._random.uniform(0.5, 1.5) * (0.5 if first else 1.0)  # §6.3.1
        self._timer = self._loop.call_later(self.interval * factor, self._due)

    def _due(self) -> None:
        self.send_report()
        self._arm()

    def report(self, now: float) -> list[RtcpPacket]:
        """The compound packet a report now would be: SR or RR, then SDES (§6.1).

        Building it starts a new reporting interval for the loss fraction.
        """
        receiver = self.receiver
        blocks = (receiver.report_block(now),) if receiver.received else ()
        first: RtcpPacket
        if self.sent_media:
            first = self.sender.sender_report(self.wallclock(now), now, blocks)
        else:
            first = ReceiverReport(self.sender.ssrc, blocks)
        return [first, self.sender.source_description()]

    def send_report(self) -> None:
        """Send a report now (the timer does it every interval)."""
        now = self._loop.time()
        self._transmit(self.report(now), now)
        self.sent_media = False

    def send_bye(self, reason: str = "") -> None:
        """The last compound: a report, SDES and BYE (§6.6)."""
        self.stop()
        now = self._loop.time()
        self._transmit([*self.report(now), self.sender.bye(reason)], now)

    def _transmit(self, packets: list[RtcpPacket], now: float) -> None:
        if self._send(serialize_rtcp(packets)):
            self.sent += 1
            self.log.append((now, "out", packets))

    # --- the peer's ---------------------------------------------------------------------

    def receive(self, data: bytes, now: float) -> list[RtcpPacket] | None:
        """Read a compound from the peer; None if it is not valid RTCP."""
        try:
            packets = parse_rtcp(data)
        except RtpParseError:
            return None
        self.received += 1
        self.log.append((now, "in", packets))
        for packet in packets:
            # Only the SR of the source we report on sets LSR (RFC 3550 §6.4.1): a
            # compound may carry other senders' SRs too (a bundled video, a mixer).
            if isinstance(packet, SenderReport) and self.receiver.ssrc in (packet.ssrc, None):
                self.receiver.on_sender_report(packet, now)
            if isinstance(packet, SenderReport | ReceiverReport):
                for block in packet.reports:
                    if block.ssrc == self.sender.ssrc and block.lsr:
                        arrival = ntp_short_from_unix(self.wallclock(now))
                        self.rtt = round_trip_time(arrival, block.lsr, block.dlsr)
            elif isinstance(packet, Bye):
                self.remote_bye = packet
        return packets
