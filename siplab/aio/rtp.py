"""One audio RTP session on real UDP sockets: paced sending, playout, RTCP, DTMF.

SDP offer/answer (:mod:`siplab.sdp`) decides *what* to send and where: a
:class:`~siplab.sdp.MediaParameters`. :class:`RtpEndpoint` does it, on the
event loop, with the sans-I/O pieces of :mod:`siplab.rtp` doing the
bookkeeping:

**Sending** (RFC 3550 §5.1, RFC 3551 §4.2). Every *ptime* ms (20 usually) the
endpoint reads one frame from its :class:`~siplab.aio.audio.AudioSource`,
encodes it (:mod:`siplab.aio.codecs`) and sends one packet numbered by an
:class:`~siplab.rtp.RtpSender`: sequence number +1, timestamp + samples per
packet (160 for 20 ms of PCMU or G.722, 960 for Opus), marker bit on the first
packet of a talkspurt. Deadlines come from a shared
:class:`~siplab.aio.scheduler.MediaScheduler` and are computed from the start
time, so the stream never drifts.

**Symmetric RTP** (RFC 4961). Packets go to the address in the peer's SDP
until the peer's own packets arrive; from then on they go back to the address
those came from. A phone behind a NAT writes an address in its SDP that
nobody can reach, but its packets still arrive, from the NAT's public side,
and that is where the answer must go ("latching", as media servers call it).

**Receiving.** Each packet updates the RFC 3550 statistics
(:class:`~siplab.rtp.ReceiverStats`: loss, reordering, interarrival
jitter) and Wireshark's (:class:`~siplab.rtp.WiresharkStats`), and goes to the
:class:`~siplab.aio.playout.Playout`: a jitter buffer, then decoded into the
:class:`~siplab.aio.audio.AudioSink`, a missing packet *concealed* with
silence of the same length so that a recording stays aligned with the call's
time line. Packets that arrive before :meth:`RtpEndpoint.start` (the answerer
often sends before the offerer has read the answer) are kept and played.

**RTCP** (RFC 3550 §6), by :class:`~siplab.aio.rtcp.RtcpReporter`: every
``rtcp_interval`` seconds (randomised, §6.3.1) a sender report (SR) if we sent
media since the last report, else a receiver report (RR), with our CNAME; the
peer's report about *our* stream gives the round-trip time (§6.4.1).
:meth:`RtpEndpoint.close` sends a BYE (§6.6) and frees both ports. RTCP goes to
the port after the peer's RTP port, or to the RTP port itself with
``rtcp-mux`` (RFC 5761), and, like RTP, back to where the peer's RTCP comes
from once it does.

**Direction** (RFC 3264 §5.1). ``sendrecv``, ``sendonly``, ``recvonly``,
``inactive`` are *our* direction: we stop sending when it is recvonly or
inactive (the media clock keeps running, so the timestamps still reflect the
time that passed when sending resumes), and stop playing into the sink when it
is sendonly or inactive.

**DTMF** (RFC 4733), by :class:`~siplab.aio.dtmf.DtmfChannel`:
:meth:`send_dtmf` sends key presses as telephone-event packets on the same
SSRC, sequence numbers and clock as the audio (which pauses meanwhile);
received ones land in :attr:`dtmf_received`.

**Tracing.** :attr:`RtpEndpoint.trace` (from :mod:`siplab.aio.rtp_trace`) is
called with every RTP and RTCP datagram, in and out, when set: a
:class:`siplab.lab.Trace` made with ``rtp=True`` puts them in its pcap.

**Cost per packet.** Two hundred calls are 20,000 packets a second each way
through one event loop, so the path a packet takes is kept short: the audio
packet's bytes are packed straight from the sender's counters
(:meth:`~siplab.rtp.RtpSender.next_datagram`, no packet object), G.711 is one
numpy table lookup per frame, a received packet is parsed once and shared by
the statistics, the jitter buffer and the decoder, the datagram goes
straight to the socket, and the sockets read into 64 KiB buffers
(:func:`~siplab.aio.rtp_sockets.small_reads`). What is left is mostly the two
system calls.

The sending half (the pacing tick, the packets and datagrams out, DTMF and
RTCP sent) is :class:`~siplab.aio.rtp_sending.RtpSending`, a base class of
:class:`RtpEndpoint` in :mod:`siplab.aio.rtp_sending`; this module opens the
sockets, applies the negotiated parameters and receives.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from siplab.aio.audio import AudioSink, AudioSource, SilenceSource
from siplab.aio.codecs import Encoder, encoder
from siplab.aio.codecs import supported_ptime as codec_ptime
from siplab.aio.dtmf import DtmfChannel
from siplab.aio.playout import Playout
from siplab.aio.rtcp import RtcpReporter
from siplab.aio.rtp_sending import MAX_CATCH_UP as MAX_CATCH_UP  # re-exported
from siplab.aio.rtp_sending import RtpSending
from siplab.aio.rtp_sockets import RtpProtocol, bind_pair, small_reads
from siplab.aio.rtp_stats import RtpStats
from siplab.aio.scheduler import MediaScheduler, ScheduledStream
from siplab.errors import InvalidStateError
from siplab.ids import IdSource
from siplab.rtp import (
    Bye,
    ReceiverStats,
    RtcpPacket,
    RtpPacket,
    RtpParseError,
    RtpSender,
    WiresharkStats,
    looks_like_rtcp,
    parse_rtp,
)

if TYPE_CHECKING:
    from siplab.sdp import MediaParameters

__all__ = ["RtpEndpoint", "RtpStats"]

logger = logging.getLogger("siplab.aio.rtp")

Address = tuple[str, int]

#: Sequence numbers remembered to tell duplicates from late packets. RFC 3550 A.1 treats a
#: packet more than 100 behind as a jump anyway, so 128 is enough, and it keeps each
#: stream's bookkeeping small (the default 1024 costs hundreds of calls their cache).
DUPLICATE_WINDOW = 128
#: Packets kept when they arrive before :meth:`RtpEndpoint.start` (0.5 s of 20 ms packets).
EARLY_PACKETS = 25


class RtpEndpoint(RtpSending):
    """One audio RTP session (RFC 3550) on a pair of UDP sockets; see the module docstring.

    Create it with ``await RtpEndpoint.open(...)``, tell the peer
    :attr:`local_port` in SDP, then :meth:`start` with the negotiated
    parameters. :meth:`update` applies a re-INVITE's; ``await close()`` ends it.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        rtp_transport: asyncio.DatagramTransport,
        rtcp_transport: asyncio.DatagramTransport | None,
        *,
        rtp_socket: socket.socket,
        host: str,
        scheduler: MediaScheduler,
        ids: IdSource,
        jitter_delay: float,
        rtcp_interval: float,
    ) -> None:
        self._loop = loop
        self._rtp = rtp_transport
        self._rtcp = rtcp_transport
        self._rtp_socket = rtp_socket
        self.host = host
        self.local_port: int = rtp_socket.getsockname()[1]
        rtcp_socket = rtcp_transport.get_extra_info("socket") if rtcp_transport else None
        self.local_rtcp_port: int = (
            rtcp_socket.getsockname()[1] if rtcp_socket is not None else self.local_port
        )
        self.rtcp_mux = rtcp_transport is None
        self.scheduler = scheduler
        self.params: MediaParameters | None = None
        self.source: AudioSource = SilenceSource()
        self.closed = False
        #: Called with every accepted RTP packet and its arrival (loop) time, for a notebook
        #: that wants to plot arrivals or feed its own statistics.
        self.on_packet: Callable[[RtpPacket, float], None] | None = None
        # Sending.
        self.sender = RtpSender(0, 8000, ids=ids)
        self._encoder: Encoder | None = None
        self._ptime = 20
        self._frame_samples = 160
        self._step = 160
        self._destination: Address | None = None  # SDP address, then the latched one
        self._latched = False
        self._sending = False
        self._talkspurt = True
        self._tick: ScheduledStream | None = None
        self._next_due = 0.0
        self.dtmf = DtmfChannel(loop, self.sender)
        self.late_sent = 0  # sent more than one packet time after their schedule
        self.frames_skipped = 0  # not sent at all: the loop stalled for more than 5 frames
        # Receiving.
        self.playout = Playout(loop, jitter_delay)
        self._playing = False
        self._accepted: frozenset[int] = frozenset()  # payload types negotiated on the stream
        self._early: list[tuple[bytes, Any, float]] = []  # arrived before start()
        self.receiver = ReceiverStats(8000, duplicate_window=DUPLICATE_WINDOW)
        self.wireshark = WiresharkStats()
        self.remote_ssrc: int | None = None
        self.packets_received = 0
        self.octets_received = 0
        self.packets_ignored = 0  # unparsable, or a payload type not negotiated
        self.first_packet_time: float | None = None
        #: Loop time the peer's last RTP or RTCP packet arrived: the RTP timeout watches it.
        self.last_received: float | None = None
        # RTCP.
        self.rtcp = RtcpReporter(
            loop, self.sender, self.receiver, self._send_rtcp, interval=rtcp_interval
        )
        self._rtcp_destination: Address | None = None

    # --- opening ------------------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        host: str = "127.0.0.1",
        port: int = 0,
        rtcp_mux: bool = False,
        *,
        scheduler: MediaScheduler | None = None,
        ids: IdSource | None = None,
        jitter_delay: float = 0.02,
        rtcp_interval: float = 5.0,
    ) -> RtpEndpoint:
        """Bind the RTP socket (and RTCP on the next port unless ``rtcp_mux``), ready to start.

        ``port=0`` picks a free even port (RFC 3550 §11: RTP even, RTCP the odd
        one above). ``scheduler`` defaults to the loop's shared one;
        ``jitter_delay`` is the playout delay in seconds (20 ms suits loopback and
        a LAN; raise it for a real network); ``rtcp_interval`` the mean seconds
        between RTCP reports (RFC 3550 §6.2 suggests 5).
        """
        loop = asyncio.get_running_loop()
        rtp_sock, rtcp_sock = bind_pair(host, port, rtcp_mux)
        rtp_transport, rtp_protocol = await loop.create_datagram_endpoint(
            RtpProtocol, sock=rtp_sock
        )
        small_reads(rtp_transport)
        rtcp_transport = rtcp_protocol = None
        if rtcp_sock is not None:
            rtcp_transport, rtcp_protocol = await loop.create_datagram_endpoint(
                RtpProtocol, sock=rtcp_sock
            )
            small_reads(rtcp_transport)
        endpoint = cls(
            loop,
            rtp_transport,
            rtcp_transport,
            rtp_socket=rtp_sock,
            host=host,
            scheduler=scheduler if scheduler is not None else MediaScheduler.for_loop(loop),
            ids=ids or IdSource(),
            jitter_delay=jitter_delay,
            rtcp_interval=rtcp_interval,
        )
        endpoint._protocols = (rtp_protocol, rtcp_protocol)
        endpoint._route_datagrams()
        return endpoint

    # --- state seen from outside -----------------------------------------------------------

    @property
    def codec(self) -> str | None:
        """The codec we send with ("PCMU", "G722", "opus"...), once started."""
        return self._encoder.name if self._encoder is not None else None

    @property
    def started(self) -> bool:
        return self.params is not None

    @property
    def sending(self) -> bool:
        """True while packets go out (our direction sends and the peer is reachable)."""
        return self._sending

    @property
    def playing(self) -> bool:
        """True while received audio is played into the sink (our direction receives)."""
        return self._playing

    @property
    def sink(self) -> AudioSink | None:
        """Where received audio goes (a :class:`~siplab.aio.audio.Recorder`, or None)."""
        return self.playout.sink

    @property
    def remote_address(self) -> Address | None:
        """Where RTP goes now: the SDP address, or the latched source of the peer's packets."""
        return self._destination

    @property
    def latched(self) -> bool:
        """True once the destination follows the peer's packets (RFC 4961)."""
        return self._latched

    @property
    def dtmf_received(self) -> str:
        """Every DTMF key heard so far, in order."""
        return self.dtmf.digits

    @property
    def on_dtmf(self) -> Callable[[str], None] | None:
        """Called with each DTMF key heard (RFC 4733, or recorded with :meth:`record_dtmf`)."""
        return self.dtmf.on_digit

    @on_dtmf.setter
    def on_dtmf(self, callback: Callable[[str], None] | None) -> None:
        self.dtmf.on_digit = callback

    @property
    def first_audio_time(self) -> float | None:
        """Loop time when the first decoded frame reached the sink (setup-time benchmarks)."""
        return self.playout.first_audio_time

    @property
    def rtt(self) -> float | None:
        """Round-trip time in seconds from the peer's last RTCP report about us, if any."""
        return self.rtcp.rtt

    @property
    def remote_bye(self) -> Bye | None:
        """The peer's RTCP BYE, once it left."""
        return self.rtcp.remote_bye

    @property
    def rtcp_log(self) -> list[tuple[float, str, list[RtcpPacket]]]:
        """Recent RTCP compounds: (loop time, "in" or "out", packets)."""
        return list(self.rtcp.log)

    # --- start, update --------------------------------------------------------------------

    def start(
        self,
        params: MediaParameters,
        *,
        source: AudioSource | None = None,
        sink: AudioSink | None = None,
    ) -> None:
        """Start sending ``source`` (default: silence) and playing into ``sink`` (may be None)."""
        if self.closed:
            raise InvalidStateError("the RTP endpoint is closed")
        if self.params is not None:
            raise InvalidStateError("already started; use update() for new parameters")
        self.source = source if source is not None else SilenceSource()
        self.playout.sink = sink
        self._apply(params)
        self.rtcp.start()
        early, self._early = self._early, []
        for data, addr, arrival in early:  # the peer started first: keep what it sent
            self._on_rtp(data, addr, arrival)

    def update(self, params: MediaParameters) -> None:
        """Apply renegotiated parameters (re-INVITE, hold, resume): codec, ptime, address,
        direction. The SSRC, sequence numbers and media clock carry on."""
        if self.closed:
            raise InvalidStateError("the RTP endpoint is closed")
        if self.params is None:
            raise InvalidStateError("not started yet; call start() first")
        self._apply(params)

    def _apply(self, params: MediaParameters) -> None:
        old = self.params
        self.params = params
        ptime = codec_ptime(params.codec_name, params.ptime)
        if old is None or (
            old.codec_name.lower() != params.codec_name.lower()
            or old.clock_rate != params.clock_rate
            or codec_ptime(old.codec_name, old.ptime) != ptime
        ):
            self._encoder = encoder(params.codec_name, params.clock_rate, ptime=ptime)
        assert self._encoder is not None
        if old is not None and old.clock_rate != params.clock_rate:
            self._new_receiver(params.clock_rate)
        elif old is None:
            self.receiver.clock_rate = params.clock_rate
        self.sender.payload_type = params.payload_type
        self.sender.clock_rate = params.clock_rate
        self._frame_samples = self._encoder.frame_samples(ptime)
        self._step = self._encoder.timestamp_step(ptime)
        self._accepted = frozenset(c.payload_type for c in params.codecs) | {params.payload_type}
        self.wireshark.dynamic_payloads = {
            c.payload_type: (c.name, c.clock_rate) for c in params.codecs
        }
        self.playout.configure(params, self._step)
        # Where to send: a new SDP address forgets what was latched.
        sdp_address = (params.remote_address, params.remote_port)
        if old is None or (old.remote_address, old.remote_port) != sdp_address:
            self._destination = sdp_address if params.remote_is_reachable else None
            self._latched = False
            self._rtcp_destination = None
        self.dtmf.configure(params.telephone_event_pt)
        # Direction: our own (RFC 3264 §5.1).
        was_playing = self._playing
        self._sending = params.sends
        self._playing = params.receives
        if self._playing and not was_playing and old is not None:
            self.playout.restart()  # resume: a new talkspurt, no silence for the hold
        if not self._sending:
            self._talkspurt = True
            self.dtmf.finish()
        # The pacing clock: (re)register when the packet time changes.
        if self._tick is None or ptime != self._ptime:
            if self._tick is not None:
                self._tick.cancel()
            self._ptime = ptime
            self._tick = self.scheduler.add(self._on_tick, ptime / 1000)
            self._next_due = self._tick.start

    def _new_receiver(self, clock_rate: int) -> None:
        self.receiver = ReceiverStats(clock_rate, duplicate_window=DUPLICATE_WINDOW)
        self.rtcp.receiver = self.receiver
        self.playout.restart()

    # --- receiving -----------------------------------------------------------------------

    def _on_rtp(self, data: bytes, addr: Any, arrival: float | None = None) -> None:
        now = self._loop.time() if arrival is None else arrival
        if self.rtcp_mux and looks_like_rtcp(data):
            self._on_rtcp(data, addr, now)
            return
        params = self.params
        if params is None or self.closed:
            # The answerer starts sending as soon as it answers, often before our
            # start(): keep a few packets for it rather than lose the first words.
            if not self.closed and len(self._early) < EARLY_PACKETS:
                self._early.append((data, addr, now))
            return
        try:
            packet = parse_rtp(data)
        except RtpParseError:
            self.packets_ignored += 1
            return
        pt = packet.payload_type
        if pt not in self._accepted:
            self.packets_ignored += 1  # not negotiated on this stream
            return
        if packet.ssrc != self.remote_ssrc:
            if self.remote_ssrc is not None:  # a new source (the peer restarted): start afresh
                self._new_receiver(params.clock_rate)
                self.wireshark = WiresharkStats(self.wireshark.dynamic_payloads)  # a new row
            self.remote_ssrc = packet.ssrc
        # RFC 4961: answer to where the peer's packets come from.
        if (not self._latched or addr != self._destination) and params.remote_is_reachable:
            self._destination = (addr[0], addr[1])
            self._latched = True
        self.packets_received += 1
        self.octets_received += len(packet.payload)
        if self.first_packet_time is None:
            self.first_packet_time = now
        self.last_received = now
        self.receiver.receive(packet, now)
        self.wireshark.receive(packet, now)
        if self.on_packet is not None:
            self.on_packet(packet, now)
        if pt == params.telephone_event_pt:
            self.dtmf.receive(packet, now)
            if self._playing:
                self.playout.push(packet, now, audio=False)
        elif self._playing:
            self.playout.push(packet, now, audio=True)

    def record_dtmf(self, digit: str) -> None:
        """Add a key that arrived another way (a SIP INFO) to :attr:`dtmf_received`."""
        self.dtmf.record(digit)

    # --- RTCP received ---------------------------------------------------------------------

    def _on_rtcp(self, data: bytes, addr: Any, arrival: float | None = None) -> None:
        now = self._loop.time() if arrival is None else arrival
        if self.params is None or self.closed:
            return
        if self.rtcp.receive(data, now) is None:
            self.packets_ignored += 1
            return
        self.last_received = now  # RTCP goes on even when the peer holds the call
        if not self.rtcp_mux:
            self._rtcp_destination = (addr[0], addr[1])  # symmetric RTCP (RFC 4961)

    # --- statistics and the end ------------------------------------------------------------

    def stats(self) -> RtpStats:
        """What was sent and received so far (see :class:`~siplab.aio.rtp_stats.RtpStats`)."""
        return RtpStats.collect(self)

    async def close(self, reason: str = "") -> None:
        """Stop, send an RTCP BYE (after a last report, §6.6) and free both ports."""
        if self.closed:
            return
        if self._tick is not None:
            self._tick.cancel()
            self._tick = None
        if self.params is not None:
            self.rtcp.send_bye(reason)
        self.rtcp.stop()
        self.closed = True
        self.dtmf.finish()
        self._rtp.close()
        if self._rtcp is not None:
            self._rtcp.close()
        await asyncio.sleep(0)  # let the transports finish closing their sockets

    async def __aenter__(self) -> RtpEndpoint:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else ("started" if self.started else "open")
        return (
            f"<RtpEndpoint {self.host}:{self.local_port} {state} codec={self.codec} "
            f"to={self._destination}>"
        )
