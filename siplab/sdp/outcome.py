"""What an offer/answer exchange decided, for the media layer and for people.

Offer/answer (RFC 3264) ends with two descriptions that together fix, for each
stream, the codec, the addresses and the direction. Both sides must read the
pair the same way, so siplab turns it into plain values once:

* :class:`MediaParameters` is what the RTP layer needs for one stream: where
  to send (remote address and RTP/RTCP ports), which payload type and clock
  rate, how many milliseconds per packet, which payload type carries DTMF,
  and whether we send, receive, both or neither.
* :class:`Negotiation` keeps the offer, the answer and one
  :class:`StreamOutcome` per ``m=`` line, which records every offered format
  with an :class:`Outcome` and a reason ("chosen", "kept", "dropped: clock
  rate differs"). ``negotiation.table()`` gives rows a notebook shows as a
  table; ``negotiation.explain()`` the same as text.

The answerer (:func:`siplab.sdp.negotiate.negotiate`) and the offerer
(:func:`siplab.sdp.offer.process_answer`) both produce a Negotiation; its
``role`` says which side's view it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from siplab.sdp.attributes import Codec, Direction
from siplab.sdp.model import MediaDescription, SessionDescription

__all__ = [
    "Outcome",
    "FormatOutcome",
    "MediaParameters",
    "StreamOutcome",
    "Negotiation",
    "media_parameters",
]

#: Column names of :meth:`Negotiation.table` rows, in display order.
TABLE_COLUMNS = ("m-line", "media", "pt", "codec", "result", "reason")


class Outcome(StrEnum):
    """What became of one offered format."""

    CHOSEN = "chosen"  # first in the answer: the codec media is sent with
    KEPT = "kept"  # also in the answer: may be sent and must be understood
    DROPPED = "dropped"  # offered but left out of the answer; the reason says why
    REJECTED = "rejected"  # the whole stream was rejected (port 0 in the answer)


@dataclass(frozen=True, slots=True)
class FormatOutcome:
    """One offered format (usually an RTP payload type) and what became of it."""

    stream: int
    media: str
    format: str
    codec: Codec | None
    outcome: Outcome
    reason: str

    @property
    def payload_type(self) -> int | None:
        """The payload type number, or ``None`` for a non-RTP format."""
        return self.codec.payload_type if self.codec is not None else None

    def row(self) -> dict[str, object]:
        """This outcome as one table row (keys: :data:`TABLE_COLUMNS`)."""
        return {
            "m-line": self.stream,
            "media": self.media,
            "pt": self.payload_type if self.payload_type is not None else self.format,
            "codec": self.codec.encoding if self.codec is not None else self.format,
            "result": self.outcome.value,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class MediaParameters:
    """Everything the RTP layer needs to run one negotiated stream.

    ``payload_type``, ``codec_name``, ``clock_rate``, ``channels`` and
    ``fmtp`` describe the codec to *send* with (the first of the answer); the
    fmtp is the peer's, since it says what the peer wants to receive (opus
    ``stereo=1``, ``maxplaybackrate``). ``codecs`` is every
    codec the answer allows on this stream, so a receiver can decode whichever
    payload type arrives (RFC 3264 §6.1 lets the peer switch among them).
    ``direction`` is *our* direction: ``sendonly`` means we send and do not
    expect media. ``ptime`` is the packet length to send with: the peer's
    ``a=ptime`` if it asked for one, else ours.
    """

    media: str
    local_port: int
    remote_address: str
    remote_port: int
    remote_rtcp_port: int
    rtcp_mux: bool
    payload_type: int
    codec_name: str
    clock_rate: int
    channels: int
    fmtp: str | None
    ptime: int
    telephone_event_pt: int | None
    telephone_event_rate: int | None
    direction: Direction
    is_webrtc: bool
    codecs: tuple[Codec, ...]
    mid: str | None = None

    @property
    def codec(self) -> Codec:
        """The codec media is sent with."""
        return Codec(
            self.payload_type, self.codec_name, self.clock_rate, self.channels, self.fmtp
        )

    def codec_for(self, payload_type: int) -> Codec | None:
        """The codec a received payload type stands for on this stream, if any."""
        return next((c for c in self.codecs if c.payload_type == payload_type), None)

    @property
    def remote_is_reachable(self) -> bool:
        """False for port 0 or the "black hole" address 0.0.0.0 (RFC 3264 §8.4, RFC 4317 §5.2)."""
        return self.remote_port != 0 and self.remote_address not in ("0.0.0.0", "::")

    @property
    def sends(self) -> bool:
        """True if we should send RTP on this stream now."""
        return self.direction.sends and self.remote_is_reachable

    @property
    def receives(self) -> bool:
        """True if we expect RTP on this stream."""
        return self.direction.receives

    @property
    def timestamp_step(self) -> int:
        """How far the RTP timestamp advances per packet: clock rate x ptime.

        160 for 20 ms of PCMU, and also for G.722, whose RTP clock is 8000
        though it samples at 16 kHz (RFC 3551 §4.5.2); 960 for 20 ms of Opus.
        """
        return self.clock_rate * self.ptime // 1000


@dataclass(frozen=True, slots=True)
class StreamOutcome:
    """What offer/answer decided for one ``m=`` line.

    ``kept`` is the answer's codecs in the answer's order; ``reason`` says why
    the stream was accepted or rejected; ``direction`` is the direction the
    answer wrote for it (the answerer's view); ``parameters`` is ``None`` for
    a rejected stream and for non-RTP streams such as a data channel.
    """

    index: int
    media: str
    proto: str
    accepted: bool
    reason: str
    direction: Direction | None
    formats: tuple[FormatOutcome, ...]
    kept: tuple[Codec, ...]
    parameters: MediaParameters | None

    @property
    def offered(self) -> tuple[Codec, ...]:
        """The offered codecs, in the offer's order."""
        return tuple(f.codec for f in self.formats if f.codec is not None)

    @property
    def chosen(self) -> Codec | None:
        """The codec media uses: the answer's first that is not telephone-event."""
        media_codecs = [c for c in self.kept if not c.is_telephone_event]
        candidates = media_codecs or list(self.kept)
        return candidates[0] if candidates else None

    @property
    def dropped(self) -> tuple[FormatOutcome, ...]:
        """The offered formats left out of the answer, with reasons."""
        return tuple(f for f in self.formats if f.outcome is Outcome.DROPPED)

    def rows(self) -> list[dict[str, object]]:
        """This stream's table rows."""
        return [f.row() for f in self.formats]


@dataclass(frozen=True, slots=True)
class Negotiation:
    """An offer, its answer, and what they decided, stream by stream."""

    role: str  # "answerer" or "offerer": whose view the parameters are
    offer: SessionDescription
    answer: SessionDescription
    streams: tuple[StreamOutcome, ...]

    @property
    def accepted(self) -> bool:
        """True if at least one stream was accepted."""
        return any(s.accepted for s in self.streams)

    @property
    def parameters(self) -> list[MediaParameters]:
        """Media parameters of every accepted RTP stream, in m-line order."""
        return [s.parameters for s in self.streams if s.parameters is not None]

    def _first(self, media: str) -> StreamOutcome | None:
        for stream in self.streams:
            chosen = stream.chosen
            usable = stream.parameters is not None and stream.media == media
            if usable and chosen is not None and not chosen.is_telephone_event:
                return stream
        return None

    @property
    def audio(self) -> MediaParameters | None:
        """The first accepted audio stream with a real codec: what a call plays and records."""
        stream = self._first("audio")
        return stream.parameters if stream is not None else None

    @property
    def video(self) -> MediaParameters | None:
        """The first accepted video stream, if any."""
        stream = self._first("video")
        return stream.parameters if stream is not None else None

    @property
    def chosen(self) -> Codec | None:
        """The codec the call's media uses: the first in the answer (audio first)."""
        stream = self._first("audio") or self._first("video")
        if stream is None:
            stream = next((s for s in self.streams if s.chosen is not None), None)
        return stream.chosen if stream is not None else None

    def table(self) -> list[dict[str, object]]:
        """One row per offered format: m-line, media, pt, codec, result, reason.

        ``pandas.DataFrame(negotiation.table())`` shows it in a notebook.
        """
        return [row for stream in self.streams for row in stream.rows()]

    def explain(self) -> str:
        """The table as aligned text, one line per offered format."""
        rows = [[str(row[c]) for c in TABLE_COLUMNS] for row in self.table()]
        widths = [max(len(x) for x in column) for column in zip(TABLE_COLUMNS, *rows, strict=False)]
        lines = [
            "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip()
            for cells in [list(TABLE_COLUMNS), *rows]
        ]
        return "\n".join(lines)


def media_parameters(
    *,
    remote_sd: SessionDescription,
    remote: MediaDescription,
    kept: Sequence[Codec],
    direction: Direction,
    local_port: int,
    default_ptime: int,
    rtcp_mux: bool,
) -> MediaParameters:
    """The RTP layer's view of one accepted stream; ``remote`` is the peer's m-line.

    RTCP goes to the RTP port when rtcp-mux was agreed (RFC 5761), to an
    ``a=rtcp`` port if the peer gave one (RFC 3605), else to the RTP port + 1
    (RFC 3550 §11). We send packets of the peer's ``a=ptime`` if it asked for
    one, capped by its ``a=maxptime``.
    """
    main = next((c for c in kept if not c.is_telephone_event), kept[0])
    events = [c for c in kept if c.is_telephone_event]
    event = next((c for c in events if c.clock_rate == main.clock_rate), None)
    if event is None and events and not main.is_telephone_event:
        event = events[0]
    connection = remote_sd.connection_of(remote)
    rtcp_port = remote.port if rtcp_mux else (remote.rtcp_port or remote.port + 1)
    ptime = remote.ptime or default_ptime
    if remote.maxptime:
        ptime = min(ptime, remote.maxptime)
    return MediaParameters(
        media=remote.media,
        local_port=local_port,
        remote_address=connection.host if connection is not None else "0.0.0.0",
        remote_port=remote.port,
        remote_rtcp_port=rtcp_port,
        rtcp_mux=rtcp_mux,
        payload_type=main.payload_type,
        codec_name=main.name,
        clock_rate=main.clock_rate,
        channels=main.channels,
        fmtp=main.fmtp,
        ptime=max(ptime, 1),
        telephone_event_pt=event.payload_type if event is not None else None,
        telephone_event_rate=event.clock_rate if event is not None else None,
        direction=direction,
        is_webrtc=remote.is_webrtc,
        codecs=tuple(kept),
        mid=remote.mid,
    )
