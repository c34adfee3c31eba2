"""Plots of one RTP stream: what the receiver saw, packet by packet (RFC 3550).

An RTP packet carries a *sequence number* (+1 per packet, so the receiver can
spot loss and reordering, RFC 3550 §5.1) and a *timestamp* (in units of the
codec's clock, so it can tell when the audio should play). Comparing the
timestamps with the arrival times gives the *interarrival jitter* (§6.4.1,
A.8). These plots show each of those things over the life of a stream::

    fig = siplab.lab.plot_sequence("call.pcap")     # loss and reordering, marked
    fig = siplab.lab.plot_deltas(capture)           # histogram of the gaps between packets
    fig = siplab.lab.plot_jitter(trace)             # jitter after each packet, in ms
    fig = siplab.lab.plot_waveform("call.pcap")     # the decoded audio
    fig = siplab.lab.plot_spectrogram("call.pcap")
    fig = siplab.lab.plot_stream("call.pcap")       # all of them, one figure
    siplab.lab.audio("call.pcap")                   # play it in the notebook

``source`` is a pcap path, a :class:`~siplab.lab.pcap.Capture`, a
:class:`~siplab.lab.trace.Trace` recorded with ``rtp=True``, a list of
:class:`~siplab.lab.pcap.MediaPacket`, or a list of ``(time, packet)`` pairs
(packet: an :class:`~siplab.rtp.packet.RtpPacket` or its bytes). ``stream``
picks one stream: an SSRC, or an :class:`~siplab.lab.analysis.RtpStreamStats`
from :func:`siplab.lab.rtp_streams` (its encoding and clock rate are used);
by default the stream with the most packets.

The jitter plotted is Wireshark's running value (:class:`siplab.rtp.wireshark.
WiresharkStats`), so its last point and its maximum match ``tshark -z
rtp,streams``. Audio is decoded in timestamp order, lost packets left as
silence: PCMU and PCMA with :mod:`siplab.rtp.g711`, G.722 (and Opus) through
PyAV (:mod:`siplab.aio.codecs`).

Figures are :class:`matplotlib.figure.Figure` objects made without pyplot
(no GUI backend needed); pass ``ax=`` to draw into an axes of your own.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from siplab.rtp.packet import RtpPacket
from siplab.rtp.sequence import extend_seq, extend_timestamp
from siplab.rtp.wireshark import STATIC_CLOCK_RATES, WiresharkStats

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "StreamPackets",
    "PacketMarks",
    "stream_packets",
    "packet_marks",
    "jitter_series",
    "decode_stream",
    "plot_sequence",
    "plot_deltas",
    "plot_jitter",
    "plot_waveform",
    "plot_spectrogram",
    "plot_stream",
    "audio",
]

#: Encoding names of the static payload types a lab meets (RFC 3551 §6).
STATIC_ENCODINGS = {0: "PCMU", 3: "GSM", 8: "PCMA", 9: "G722", 13: "CN", 18: "G729"}


@dataclass(frozen=True, slots=True)
class StreamPackets:
    """The packets of one stream in arrival order, times in seconds from the first."""

    ssrc: int
    payload_type: int
    encoding: str | None
    clock_rate: int
    src: str
    dst: str
    start: float  # absolute arrival time of the first packet
    times: list[float]
    packets: list[RtpPacket]

    @property
    def title(self) -> str:
        codec = self.encoding or f"PT {self.payload_type}"
        route = "" if self.src == "?" else f"  {self.src} → {self.dst}"
        return f"SSRC 0x{self.ssrc:08x} {codec}{route}"


# -- reading packets ------------------------------------------------------------------------


def _media_of(source: object) -> Iterable[Any]:
    if isinstance(source, (str, os.PathLike)):
        from siplab.lab.pcap import read_pcap  # type: ignore[import-not-found, unused-ignore]

        return list(read_pcap(source).rtp_packets)
    if hasattr(source, "rtp_packets"):  # a Capture
        return list(source.rtp_packets)
    if hasattr(source, "media"):  # a Trace
        return [p for p in source.media if getattr(p, "kind", "rtp") == "rtp"]
    if isinstance(source, Iterable):
        return source
    raise TypeError(f"cannot read RTP packets from {source!r}")


def _as_entry(item: Any) -> tuple[float, str, str, RtpPacket]:
    if isinstance(item, tuple):
        if len(item) == 2:
            time, packet = item
            src, dst = "?", "?"
        else:
            time, src, dst, packet = item
    else:
        time, src, dst = item.time, item.src, item.dst
        packet = getattr(item, "rtp", None) or item.data
    if isinstance(packet, bytes):
        packet = RtpPacket.parse(packet)
    return float(time), _address(src), _address(dst), packet


def _address(value: object) -> str:
    if isinstance(value, tuple) and len(value) >= 2:
        return f"{value[0]}:{value[1]}"
    return str(value)


def stream_packets(source: object, stream: object | None = None, *,
                   codec: str | None = None) -> StreamPackets:
    """The packets of one stream of ``source`` (see the module docstring)."""
    if isinstance(source, StreamPackets):
        return source
    entries = [_as_entry(item) for item in _media_of(source)]
    if not entries:
        raise ValueError("no RTP packets in this source")
    groups: dict[tuple[int, str, str], list[tuple[float, str, str, RtpPacket]]] = {}
    for entry in entries:
        groups.setdefault((entry[3].ssrc, entry[1], entry[2]), []).append(entry)
    wanted = getattr(stream, "ssrc", stream)
    if wanted is None:
        key = max(groups, key=lambda k: len(groups[k]))
    else:
        keys = [k for k in groups if k[0] == wanted]
        src, dst = getattr(stream, "src", None), getattr(stream, "dst", None)
        if src is not None and dst is not None:
            keys = [k for k in keys if (k[1], k[2]) == (_address(src), _address(dst))] or keys
        if not keys:
            raise ValueError(f"no RTP stream with SSRC {wanted!r}; there are "
                             f"{', '.join(f'0x{k[0]:08x}' for k in groups)}")
        key = keys[0]
    chosen = sorted(groups[key], key=lambda e: e[0])
    payload_type = chosen[0][3].payload_type
    encoding = codec or getattr(stream, "encoding", None) or STATIC_ENCODINGS.get(payload_type)
    rate = getattr(stream, "clock_rate", None) or STATIC_CLOCK_RATES.get(payload_type) or (
        48000 if (encoding or "").lower() == "opus" else 8000)
    start = chosen[0][0]
    return StreamPackets(key[0], payload_type, encoding, int(rate), key[1], key[2], start,
                         [e[0] - start for e in chosen], [e[3] for e in chosen])


# -- what happened to each packet -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PacketMarks:
    """Each packet's extended sequence number, and what the receiver made of it."""

    extended: list[int]  # per packet, in arrival order
    late: list[int]  # indexes of packets that came after a higher number (reordered)
    duplicate: list[int]  # indexes of packets whose number had been seen already
    lost: list[int]  # extended numbers never received
    lost_times: list[float]  # when each lost packet should have come (interpolated)


def packet_marks(stream: StreamPackets) -> PacketMarks:
    """Loss, reordering and duplication, from the sequence numbers (RFC 3550 A.1)."""
    extended: list[int] = []
    late: list[int] = []
    duplicate: list[int] = []
    seen: set[int] = set()
    highest: int | None = None
    for i, packet in enumerate(stream.packets):
        number = packet.sequence_number if highest is None else extend_seq(
            packet.sequence_number, highest)
        extended.append(number)
        if number in seen:
            duplicate.append(i)
        elif highest is not None and number < highest:
            late.append(i)
        seen.add(number)
        highest = number if highest is None else max(highest, number)
    lost = [n for n in range(min(seen), max(seen) + 1) if n not in seen] if seen else []
    arrivals = sorted((n, stream.times[i]) for i, n in enumerate(extended))
    lost_times = []
    for number in lost:  # between the nearest numbers received on either side
        before = max((a for a in arrivals if a[0] < number), default=arrivals[0])
        after = min((a for a in arrivals if a[0] > number), default=arrivals[-1])
        span = after[0] - before[0]
        fraction = (number - before[0]) / span if span else 0.0
        lost_times.append(before[1] + fraction * (after[1] - before[1]))
    return PacketMarks(extended, late, duplicate, lost, lost_times)


def jitter_series(stream: StreamPackets) -> list[float]:
    """Wireshark's running jitter (ms) after each packet (see :mod:`siplab.rtp.wireshark`)."""
    dynamic = {}
    if stream.payload_type >= 96 and stream.encoding:
        dynamic[stream.payload_type] = (stream.encoding, stream.clock_rate)
    stats = WiresharkStats(dynamic)
    out = []
    for time, packet in zip(stream.times, stream.packets, strict=True):
        stats.receive(packet, stream.start + time)
        out.append(stats.jitter)
    return out


def decode_stream(source: object, stream: object | None = None, *,
                  codec: str | None = None) -> tuple[npt.NDArray[np.int16], int]:
    """The stream's audio as int16 samples and their rate, laid out by RTP timestamp.

    Each packet's samples go where its timestamp says (so reordered packets
    land in place and lost ones leave silence); duplicates are decoded once.
    The RTP clock and the audio rate differ for G.722 (8000 vs 16000 Hz,
    RFC 3551 §4.5.2): positions are scaled by audio rate / clock rate.
    """
    import numpy as np

    from siplab.aio.codecs import audio_rate_of, decoder

    packets = stream_packets(source, stream, codec=codec)
    if packets.encoding is None:
        raise ValueError(f"payload type {packets.payload_type} names no codec: pass codec=")
    rate = audio_rate_of(packets.encoding)
    decode = decoder(packets.encoding, packets.clock_rate)
    marks = packet_marks(packets)
    order = sorted(range(len(packets.packets)), key=lambda i: marks.extended[i])
    first = packets.packets[order[0]].timestamp
    reference = first
    pieces: list[tuple[int, npt.NDArray[np.int16]]] = []
    done: set[int] = set()
    for i in order:
        if marks.extended[i] in done:
            continue
        done.add(marks.extended[i])
        packet = packets.packets[i]
        if packet.payload_type != packets.payload_type:
            continue  # another format in the stream, such as RFC 4733 DTMF: not this audio
        reference = extend_timestamp(packet.timestamp, reference)
        offset = (reference - first) * rate // packets.clock_rate
        pieces.append((offset, np.asarray(decode.decode(packet.payload), dtype=np.int16)))
    length = max((offset + len(samples) for offset, samples in pieces), default=0)
    if length > rate * 3600:
        raise ValueError("the timestamps span more than an hour; is this one stream?")
    out = np.zeros(length, dtype=np.int16)
    for offset, samples in pieces:
        if offset >= 0:
            out[offset:offset + len(samples)] = samples
    return out, rate


def audio(source: object, stream: object | None = None, *, codec: str | None = None) -> Any:
    """The decoded stream as an ``IPython.display.Audio``, playable in the notebook."""
    from IPython.display import Audio

    samples, rate = decode_stream(source, stream, codec=codec)
    return Audio(samples, rate=rate, normalize=bool(samples.any()))  # type: ignore[no-untyped-call]


# -- the plots ------------------------------------------------------------------------------


def _axes(ax: Axes | None, size: tuple[float, float] = (8.0, 3.2)) -> tuple[Figure, Axes]:
    if ax is not None:
        figure = ax.get_figure()
        assert figure is not None
        return figure, ax  # type: ignore[return-value]
    from matplotlib.figure import Figure

    figure = Figure(figsize=size, dpi=100, layout="constrained")
    return figure, figure.add_subplot()


def plot_sequence(source: object, stream: object | None = None, *, ax: Axes | None = None,
                  codec: str | None = None) -> Figure:
    """Sequence number against arrival time; lost, late and duplicate packets marked."""
    packets = stream_packets(source, stream, codec=codec)
    marks = packet_marks(packets)
    figure, axes = _axes(ax)
    special = set(marks.late) | set(marks.duplicate)
    normal = [i for i in range(len(packets.times)) if i not in special]
    axes.plot([packets.times[i] for i in normal], [marks.extended[i] for i in normal], ".",
              ms=3, color="#1f77b4", label=f"received ({len(packets.times)})",
              gid="rtp-received")
    if marks.lost:
        axes.plot(marks.lost_times, marks.lost, "x", ms=7, mew=1.8, color="#d62728",
                  label=f"lost ({len(marks.lost)})", gid="rtp-lost")
    if marks.late:
        axes.plot([packets.times[i] for i in marks.late], [marks.extended[i] for i in marks.late],
                  "^", ms=6, color="#ff7f0e", label=f"late, out of order ({len(marks.late)})",
                  gid="rtp-late")
    if marks.duplicate:
        axes.plot([packets.times[i] for i in marks.duplicate],
                  [marks.extended[i] for i in marks.duplicate], "s", ms=5, mfc="none",
                  color="#9467bd", label=f"duplicate ({len(marks.duplicate)})",
                  gid="rtp-duplicate")
    axes.set_xlabel("arrival time (s)")
    axes.set_ylabel("sequence number (extended)")
    axes.set_title(packets.title, fontsize=9)
    axes.legend(fontsize=7, loc="upper left")
    return figure


def plot_deltas(source: object, stream: object | None = None, *, ax: Axes | None = None,
                bins: int = 50, codec: str | None = None) -> Figure:
    """Histogram of the time between consecutive arrivals, in ms (Wireshark's "Delta")."""
    packets = stream_packets(source, stream, codec=codec)
    deltas = [(b - a) * 1000 for a, b in zip(packets.times, packets.times[1:], strict=False)]
    figure, axes = _axes(ax)
    if deltas:
        axes.hist(deltas, bins=bins, color="#1f77b4", gid="rtp-deltas")
        typical = sorted(deltas)[len(deltas) // 2]
        axes.axvline(typical, color="#2ca02c", ls="--", lw=1, gid="delta-median",
                     label=f"median {typical:.1f} ms")
        axes.axvline(max(deltas), color="#d62728", ls=":", lw=1, gid="delta-max",
                     label=f"max {max(deltas):.1f} ms")
        axes.legend(fontsize=7)
    axes.set_xlabel("time since the previous packet (ms)")
    axes.set_ylabel("packets")
    axes.set_title(packets.title, fontsize=9)
    return figure


def plot_jitter(source: object, stream: object | None = None, *, ax: Axes | None = None,
                codec: str | None = None) -> Figure:
    """Interarrival jitter (RFC 3550 §6.4.1, as Wireshark computes it) after each packet."""
    packets = stream_packets(source, stream, codec=codec)
    jitter = jitter_series(packets)
    figure, axes = _axes(ax)
    axes.plot(packets.times, jitter, lw=1, color="#9467bd", gid="rtp-jitter",
              label=f"max {max(jitter):.2f} ms, last {jitter[-1]:.2f} ms")
    axes.set_xlabel("arrival time (s)")
    axes.set_ylabel("jitter (ms)")
    axes.set_title(packets.title, fontsize=9)
    axes.legend(fontsize=7, loc="upper left")
    return figure


def plot_waveform(source: object, stream: object | None = None, *, ax: Axes | None = None,
                  codec: str | None = None) -> Figure:
    """The decoded audio against time (lost packets are silent gaps)."""
    import numpy as np

    samples, rate = decode_stream(source, stream, codec=codec)
    figure, axes = _axes(ax)
    axes.plot(np.arange(len(samples)) / rate, samples, lw=0.5, color="#1f77b4",
              gid="waveform")
    axes.set_xlabel("time (s)")
    axes.set_ylabel("sample (int16)")
    axes.set_title(f"decoded audio, {rate} Hz", fontsize=9)
    return figure


def plot_spectrogram(source: object, stream: object | None = None, *, ax: Axes | None = None,
                     codec: str | None = None) -> Figure:
    """The decoded audio's spectrogram: which frequencies, when."""
    import numpy as np

    samples, rate = decode_stream(source, stream, codec=codec)
    figure, axes = _axes(ax)
    if len(samples) >= 256:
        # Silence has no energy: its log is -inf, drawn as the darkest colour; no warning.
        with np.errstate(divide="ignore"):
            image = axes.specgram(samples.astype(float), NFFT=256, Fs=rate, noverlap=128,
                                  cmap="magma")[3]
        image.set_gid("spectrogram")
    axes.set_xlabel("time (s)")
    axes.set_ylabel("frequency (Hz)")
    axes.set_title(f"spectrogram, {rate} Hz", fontsize=9)
    return figure


def plot_stream(source: object, stream: object | None = None, *, audio: bool | None = None,
                codec: str | None = None) -> Figure:
    """All the plots of one stream in one figure (audio ones when it can be decoded)."""
    from matplotlib.figure import Figure

    packets = stream_packets(source, stream, codec=codec)
    with_audio = packets.encoding is not None if audio is None else audio
    rows = 5 if with_audio else 3
    figure = Figure(figsize=(9, 2.6 * rows), dpi=100, layout="constrained")
    axes: Sequence[Axes] = figure.subplots(rows, 1)
    plot_sequence(packets, ax=axes[0])
    plot_jitter(packets, ax=axes[1])
    plot_deltas(packets, ax=axes[2])
    if with_audio:
        plot_waveform(packets, ax=axes[3])
        plot_spectrogram(packets, ax=axes[4])
    names = ("sequence numbers", "jitter", "interarrival deltas", "waveform", "spectrogram")
    for panel, name in zip(axes, names, strict=False):
        panel.set_title(name, fontsize=9, loc="left")
    figure.suptitle(packets.title)
    return figure
