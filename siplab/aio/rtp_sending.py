"""The sending half of an RTP endpoint: a paced packet every *ptime*, DTMF, RTCP out.

:class:`RtpSending` is a base class of :class:`~siplab.aio.rtp.RtpEndpoint`
(which opens the sockets, applies the SDP's parameters and receives). It holds
what goes *out*:

**The tick** (RFC 3550 §5.1, RFC 3551 §4.2). A shared
:class:`~siplab.aio.scheduler.MediaScheduler` calls :meth:`RtpSending._on_tick`
every *ptime* ms (20 usually). Each due frame is read from the
:class:`~siplab.aio.audio.AudioSource`, encoded and sent as one packet: sequence
number +1, timestamp + samples per packet (160 for 20 ms of PCMU), the marker
bit on the first packet of a talkspurt. Deadlines are counted from the start,
so the stream never drifts; a loop that stalled for more than
:data:`MAX_CATCH_UP` frames skips ahead (the peer conceals the gap) instead of
sending a burst. The same tick plays what the jitter buffer has due.

**Not sending** (RFC 3264 §5.1: recvonly, inactive, or no address yet): the
media clock still runs, so the timestamps still tell the time that passed when
sending resumes, and the next packet starts a talkspurt.

**DTMF** (RFC 4733): telephone-event packets take the audio's place on the
same SSRC, sequence numbers and clock while a key is sent
(:class:`~siplab.aio.dtmf.DtmfChannel`).

**Out to the socket.** Each datagram goes to the peer's SDP address, or to
where its packets come from once they do (symmetric RTP, RFC 4961); straight
to the socket when nothing is queued, since two hundred calls are 20,000
packets a second. RTCP reports (RFC 3550 §6) go to the port after the peer's
RTP port, or to the RTP port itself with ``rtcp-mux`` (RFC 5761).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import TYPE_CHECKING

from siplab.aio.audio import AudioSource
from siplab.aio.codecs import Encoder
from siplab.aio.dtmf import DtmfChannel
from siplab.aio.playout import Playout
from siplab.aio.rtcp import RtcpReporter
from siplab.aio.rtp_trace import DatagramTracing
from siplab.aio.scheduler import ScheduledStream
from siplab.errors import InvalidStateError, LocalProtocolError
from siplab.rtp import RtpPacket, RtpSender

if TYPE_CHECKING:
    from siplab.sdp import MediaParameters

__all__ = ["RtpSending", "MAX_CATCH_UP"]

logger = logging.getLogger("siplab.aio.rtp")

Address = tuple[str, int]

#: A stream more than this many frames behind its schedule skips ahead instead of bursting.
MAX_CATCH_UP = 5


class RtpSending(DatagramTracing):
    """What an RTP endpoint sends (a base class of :class:`~siplab.aio.rtp.RtpEndpoint`,
    which provides the attributes below)."""

    # Provided by RtpEndpoint:
    params: MediaParameters | None
    source: AudioSource
    closed: bool
    sender: RtpSender
    dtmf: DtmfChannel
    playout: Playout
    rtcp: RtcpReporter
    late_sent: int
    frames_skipped: int
    _rtp: asyncio.DatagramTransport
    _rtcp: asyncio.DatagramTransport | None
    _rtp_socket: socket.socket
    _encoder: Encoder | None
    _ptime: int
    _frame_samples: int
    _step: int
    _destination: Address | None
    _rtcp_destination: Address | None
    _sending: bool
    _playing: bool
    _talkspurt: bool
    _tick: ScheduledStream | None
    _next_due: float

    def _on_tick(self, scheduled: float, now: float) -> None:
        period = self._ptime / 1000
        frames = 0
        while self._next_due <= now + 1e-4:
            if frames == MAX_CATCH_UP:  # the loop stalled: skip ahead, keeping the media clock
                missed = int((now - self._next_due) / period) + 1
                self.sender.skip(self._step * missed)
                self._next_due += missed * period
                self.frames_skipped += missed  # never sent: the peer conceals them
                break
            self._send_frame(self._next_due, now)
            self._next_due += period
            frames += 1
        if self._playing:
            self.playout.play(now)
        if self.dtmf.receiver is not None:
            self.dtmf.handle_timer(now)

    def _send_frame(self, scheduled: float, now: float) -> None:
        if not self._sending or self._destination is None:
            self.sender.skip(self._step)  # the media clock runs on (RFC 3550 §5.1)
            self._talkspurt = True
            return
        if self.dtmf.sender is not None and self.dtmf.busy:
            for packet in self.dtmf.poll(now):
                self._send_packet(packet)
            self.sender.skip(self._step)  # audio pauses during the event, its clock does not
            self._talkspurt = True
            return
        assert self._encoder is not None
        samples = self.source.read(self._frame_samples, self._encoder.audio_rate)
        payload = self._encoder.encode(samples)
        # The bytes straight away: no RtpPacket object on the way (next_packet's twin).
        data = self.sender.next_datagram(payload, self._step, marker=self._talkspurt,
                                         now=scheduled)
        self._talkspurt = False
        self._send_datagram(data)
        if now - scheduled > self._ptime / 1000:
            self.late_sent += 1

    def _send_packet(self, packet: RtpPacket) -> None:
        self._send_datagram(packet.to_bytes())

    def _send_datagram(self, data: bytes) -> None:
        destination = self._destination
        if destination is None or self.closed:
            return
        self.rtcp.sent_media = True
        if self._trace is not None:
            self._record("out", "rtp", data, destination)
        # Straight to the socket: asyncio's transport.sendto does the same after some
        # checks, and queues only when the socket is full; then (or if it already has a
        # queue) the transport takes the packet so that the order is kept.
        if not self._rtp.get_write_buffer_size():  # type: ignore[attr-defined]
            try:
                self._rtp_socket.sendto(data, destination)
                return
            except (BlockingIOError, InterruptedError):
                pass
            except OSError as error:  # e.g. ICMP port unreachable from a peer that left
                logger.debug("RTP to %s: %s", destination, error)
                return
        self._rtp.sendto(data, destination)

    def send_dtmf(self, digits: str, method: str = "rfc4733") -> asyncio.Future[None]:
        """Send DTMF keys as RFC 4733 telephone-events; the future is done when they are sent.

        Awaiting the result is optional. ``method="info"`` (SIP INFO) belongs to
        the session, not to RTP: it raises :class:`~siplab.errors.LocalProtocolError`
        here, as does a stream without telephone-event or one that is not sending.
        """
        if method != "rfc4733":
            raise LocalProtocolError(f"RtpEndpoint sends DTMF only as rfc4733, not {method!r}")
        if self.dtmf.payload_type is None:
            raise LocalProtocolError("the peer did not negotiate telephone-event (RFC 4733)")
        if not self._sending:
            raise InvalidStateError("not sending media (direction or address): no DTMF")
        return self.dtmf.send(digits)

    def _send_rtcp(self, data: bytes) -> bool:
        params = self.params
        if params is None or self._destination is None or self.closed:
            return False
        if self.rtcp_mux:
            destination = self._destination
        elif self._rtcp_destination is not None:
            destination = self._rtcp_destination
        else:
            destination = (params.remote_address, params.remote_rtcp_port)
        transport = self._rtp if self._rtcp is None else self._rtcp
        transport.sendto(data, destination)
        self._record("out", "rtcp", data, destination)
        return True
