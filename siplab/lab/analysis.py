"""RTP stream analysis that agrees with Wireshark: :func:`rtp_streams` (RFC 3550 §6.4.1, A.8).

Wireshark's *Telephony > RTP > RTP Streams* window (``tshark -z rtp,streams``)
is what a VoIP engineer opens first: one row per stream, with how many
packets came, how many were lost, the longest gap between two packets, and
the *interarrival jitter*, RFC 3550's running estimate of how much the
packets' spacing wobbles. :func:`rtp_streams` gives the same table for a
capture file, a :class:`~siplab.lab.pcap.Capture`, a
:class:`~siplab.lab.trace.Trace` with RTP, or a list of
:class:`~siplab.lab.pcap.MediaPacket`::

    for s in siplab.lab.rtp_streams("call.pcapng"):
        print(f"{s.ssrc:#010x} {s.encoding} {s.src} -> {s.dst}: {s.packets} packets, "
              f"{s.lost} lost, max jitter {s.max_jitter_ms:.2f} ms")

The numbers are counted by :class:`~siplab.rtp.wireshark.WiresharkStats`,
which follows Wireshark's own rules (they are not quite RFC 3550's; its
docstring says where they differ), with the clock rates of dynamic payload
types taken from the SDP that set the stream up. A stream is one SSRC between
one source and one destination address and port, as in Wireshark.

A capture file's path is read by the bulk path of
:func:`siplab.lab.pcap.scan_capture`: no Python object per packet, a tqdm
progress bar on a terminal, and, for classic pcap files, the bulk reader
(:mod:`siplab.lab.pcapbulk`: one ``struct`` call per frame, the columns
gathered with numpy) and the statistics counted as array operations
(:mod:`siplab.lab.analysis_bulk`, the same numbers as
:class:`~siplab.rtp.wireshark.WiresharkStats` to 1e-9 ms). A
:class:`~siplab.lab.pcap.Capture` from :func:`~siplab.lab.pcap.read_pcap`
is counted packet by packet, the readable way. bench/analyze.py times
``siplab analyze`` against tshark on a million packets.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from siplab.lab.media import MediaTracker, RtpStream, pack_host
from siplab.lab.pcap import Capture, MediaPacket, WireMessage, scan_capture
from siplab.rtp.wireshark import wireshark_clock_rate
from siplab.sdp.attributes import STATIC_PAYLOAD_TYPES
from siplab.sip.transport import Peer

if TYPE_CHECKING:
    from siplab.lab.trace import Trace

__all__ = ["RtpStreamStats", "rtp_streams", "encoding_name", "format_streams", "stream_dict"]

@dataclass(frozen=True, slots=True)
class RtpStreamStats:
    """One row of Wireshark's RTP Streams table (times in ms unless named ``_time``)."""

    ssrc: int
    payload_type: int  # of the stream's first packet
    encoding: str  # "PCMU", "opus", "telephone-event", or "PT101" when nothing names it
    src: Peer
    dst: Peer
    packets: int
    expected: int
    lost: int  # expected - packets: negative when packets were duplicated
    min_delta_ms: float
    mean_delta_ms: float
    max_delta_ms: float
    min_jitter_ms: float
    mean_jitter_ms: float
    max_jitter_ms: float
    sequence_errors: int
    problem: bool  # Wireshark's "Problems?" column: a sequence error or a wrong timestamp
    start_time: float  # epoch seconds of the first packet
    end_time: float  # and of the last
    clock_rate: int  # the rate jitter was measured with, 0 when Wireshark computes none
    first_frame: int = 0

    @property
    def lost_percent(self) -> float:
        return 100.0 * self.lost / self.expected if self.expected else 0.0

    @property
    def duration(self) -> float:
        return self.end_time - self.start_time


def encoding_name(payload_type: int, rtpmap: Mapping[int, tuple[str, int]]) -> str:
    """The encoding of a payload type: from the SDP's rtpmap, else RFC 3551's static table."""
    if payload_type in rtpmap:
        return rtpmap[payload_type][0]
    static = STATIC_PAYLOAD_TYPES.get(payload_type)
    return static[0] if static is not None else f"PT{payload_type}"


def rtp_streams(source: str | os.PathLike[str] | Capture | Trace
                | Iterable[MediaPacket | WireMessage], *,
                progress: bool | None = None) -> list[RtpStreamStats]:
    """Wireshark's RTP stream statistics for ``source``, one per stream, in order of appearance.

    ``source``: a capture file's path, a :class:`~siplab.lab.pcap.Capture`,
    a :class:`~siplab.lab.trace.Trace` (made with ``rtp=True``), or an
    iterable of :class:`~siplab.lab.pcap.MediaPacket` (with the
    :class:`~siplab.lab.pcap.WireMessage` s whose SDP gives the dynamic
    payload types' clock rates, if any). ``progress`` shows a bar while a
    file is read (None: for big files, on a terminal).
    """
    if isinstance(source, str | os.PathLike):
        source = scan_capture(source, keep=False, progress=progress)
    if isinstance(source, Capture):
        return _summaries(source.streams, source.time_base)
    items = getattr(source, "wire", None)  # a Trace: its messages and media in time order
    return _from_packets(items() if callable(items) else source)


def _from_packets(items: Iterable[MediaPacket | WireMessage]) -> list[RtpStreamStats]:
    """Streams from packets already told apart as RTP (a Trace, a filtered Capture)."""
    tracker = MediaTracker(heuristics=False)
    streams: dict[tuple[Peer, Peer, int], RtpStream] = {}
    base: float | None = None
    for item in items:
        if isinstance(item, WireMessage):
            if item.has_sdp:
                tracker.learn_sdp(item.message.body, item.frame)
            continue
        if item.kind != "rtp" or len(item.data) < 12 or item.data[0] >> 6 != 2:
            continue
        if base is None:
            base = item.time
        ssrc = int.from_bytes(item.data[8:12], "big")
        stream = streams.get((item.src, item.dst, ssrc))
        if stream is None:
            conversation = tracker.lookup(pack_host(item.src.host), item.src.port,
                                          pack_host(item.dst.host), item.dst.port)
            stream = RtpStream(item.src, item.dst, ssrc, item.data[1] & 0x7F,
                               conversation.rtpmap if conversation is not None else {},
                               item.frame)
            streams[(item.src, item.dst, ssrc)] = stream
        stream.add(item.time - base, int.from_bytes(item.data[2:4], "big"),
                   int.from_bytes(item.data[4:8], "big"), item.data[1])
    for stream in streams.values():
        stream.flush()
    return _summaries(list(streams.values()), base or 0.0)


def _summaries(streams: list[RtpStream], base: float) -> list[RtpStreamStats]:
    rows = []
    for stream in streams:
        stats = stream.flush()
        rows.append(RtpStreamStats(
            ssrc=stream.ssrc,
            payload_type=stream.payload_type,
            encoding=encoding_name(stream.payload_type, stream.rtpmap),
            src=stream.src,
            dst=stream.dst,
            packets=stats.packets,
            expected=stats.expected,
            lost=stats.lost,
            min_delta_ms=stats.min_delta,
            mean_delta_ms=stats.mean_delta,
            max_delta_ms=stats.max_delta,
            min_jitter_ms=stats.min_jitter,
            mean_jitter_ms=stats.mean_jitter,
            max_jitter_ms=stats.max_jitter,
            sequence_errors=stats.sequence_errors,
            problem=stats.problem,
            start_time=base + (stats.start_time or 0.0),
            end_time=base + (stats.end_time or 0.0),
            clock_rate=wireshark_clock_rate(stream.payload_type, stream.rtpmap),
            first_frame=stream.first_frame,
        ))
    return rows


def stream_dict(stream: RtpStreamStats, start: float | None = None) -> dict[str, object]:
    """One stream as plain JSON-ready values (``siplab analyze --json``); times from ``start``."""
    origin = start if start is not None else 0.0
    values: dict[str, object] = {name: getattr(stream, name) for name in stream.__slots__}
    values["src"] = {"host": stream.src.host, "port": stream.src.port}
    values["dst"] = {"host": stream.dst.host, "port": stream.dst.port}
    values["ssrc_hex"] = f"{stream.ssrc:#010x}"
    values["lost_percent"] = stream.lost_percent
    values["start_time"] = stream.start_time - origin
    values["end_time"] = stream.end_time - origin
    return values


_RULE = "=" * 25


def format_streams(streams: list[RtpStreamStats], start: float | None = None) -> str:
    """The table ``siplab analyze`` prints, laid out as ``tshark -q -z rtp,streams``.

    Start and end times are seconds from ``start`` (the capture's first frame).
    """
    origin = start if start is not None else min((s.start_time for s in streams), default=0.0)
    lines = [f"{_RULE} RTP Streams {_RULE}",
             f"{'Start time':>13} {'End time':>13} {'Src IP addr':>15} {'Port':>5} "
             f"{'Dest IP addr':>15} {'Port':>5} {'SSRC':>10} {'Payload':>16} {'Pkts':>6} "
             f"{'Lost':>12} {'Min Delta(ms)':>15} {'Mean Delta(ms)':>15} "
             f"{'Max Delta(ms)':>15} {'Min Jitter(ms)':>15} {'Mean Jitter(ms)':>15} "
             f"{'Max Jitter(ms)':>15} Problems?"]
    for s in streams:
        lost = f"{s.lost} ({s.lost_percent:.1f}%)"
        lines.append(
            f"{s.start_time - origin:13.6f} {s.end_time - origin:13.6f} "
            f"{s.src.host:>15} {s.src.port:>5} {s.dst.host:>15} {s.dst.port:>5} "
            f"{s.ssrc:#010x} {s.encoding:>16} {s.packets:>6} {lost:>12} "
            f"{s.min_delta_ms:15.3f} {s.mean_delta_ms:15.3f} {s.max_delta_ms:15.3f} "
            f"{s.min_jitter_ms:15.3f} {s.mean_jitter_ms:15.3f} {s.max_jitter_ms:15.3f} "
            f"{'X' if s.problem else ''}".rstrip())
    lines.append("=" * (2 * len(_RULE) + len(" RTP Streams ")))
    return "\n".join(lines)
