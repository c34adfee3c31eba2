"""The codecs siplab knows, and the capabilities a user agent negotiates with.

A *codec* turns sound (or pictures) into RTP payloads and back. SDP names one
by an encoding name, an RTP clock rate and, for audio, a channel count:
``PCMU/8000``, ``opus/48000/2`` (RFC 8866 §6.6). Two of those are the same
codec when the names match ignoring case (RFC 4855 §3) and the rate and
channels are equal. siplab's media layer carries these:

==================  ==========  ===========================================================
encoding            payload     notes
==================  ==========  ===========================================================
PCMU/8000           0 static    G.711 mu-law, 64 kbit/s, the one every phone has (RFC 3551)
PCMA/8000           8 static    G.711 A-law, the European flavour
G722/8000           9 static    wideband: samples at 16 kHz but its RTP clock says 8000,
                                an error kept for compatibility (RFC 3551 §4.5.2)
opus/48000/2        dynamic     always written /48000/2 whatever it really sends
                                (RFC 7587 §7); fmtp minptime=10;useinbandfec=1
telephone-event     dynamic     DTMF digits as RTP events (RFC 4733); its clock rate
                                follows the audio codec's; fmtp 0-16 lists the events
VP8/90000           dynamic     video, for the WebRTC path (RFC 7741)
==================  ==========  ===========================================================

:class:`Capabilities` says which of them a user agent accepts, in its own
order of preference, and a few policy choices the offer/answer code in
:mod:`siplab.sdp.negotiate` follows. Codecs outside this table may be named
with their rate (``"iLBC/8000"``, ``"H261/90000"``): the negotiation then
treats them like any other, which is how the RFC 4317 examples are replayed,
but siplab's RTP layer cannot encode them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from siplab.errors import LocalProtocolError
from siplab.sdp.attributes import STATIC_PAYLOAD_TYPES, Codec

__all__ = [
    "CodecSpec",
    "PCMU",
    "PCMA",
    "G722",
    "OPUS",
    "TELEPHONE_EVENT",
    "VP8",
    "KNOWN_CODECS",
    "find_codec",
    "resolve_codec",
    "telephone_events",
    "Capabilities",
]


@dataclass(frozen=True, slots=True)
class CodecSpec:
    """A codec siplab can negotiate: encoding, numbers, and what it writes in SDP.

    ``payload_type`` is the static number of RFC 3551 (``None`` for a dynamic
    codec); ``offer_payload_type`` is the number siplab picks in its own
    offers; ``fmtp`` is the format parameters siplab writes for it.
    """

    name: str
    clock_rate: int
    channels: int = 1
    media: str = "audio"
    payload_type: int | None = None
    offer_payload_type: int = 96
    fmtp: str | None = None
    description: str = ""

    @property
    def encoding(self) -> str:
        """``opus/48000/2``, ``PCMU/8000``: the rtpmap text without the number."""
        if self.channels != 1:
            return f"{self.name}/{self.clock_rate}/{self.channels}"
        return f"{self.name}/{self.clock_rate}"

    @property
    def is_telephone_event(self) -> bool:
        """True for RFC 4733 telephone-event, which is matched by rate, not as a codec."""
        return self.name.lower() == "telephone-event"

    def mismatch(self, codec: Codec) -> str | None:
        """Why an offered codec of the same name is *not* this one; ``None`` if it is.

        The reasons are what the negotiation table shows: "clock rate
        differs", "channels differ", "fmtp mismatch".
        """
        if not codec.is_named(self.name):
            return f"not {self.name}"
        if self.is_telephone_event:
            events = telephone_events(codec.fmtp)
            if events is None:
                return f"fmtp mismatch: cannot read the event list {codec.fmtp!r}"
            if not events & set(range(16)):
                return f"fmtp mismatch: events {codec.fmtp!r} include no DTMF digit (0-15)"
            return None
        if codec.clock_rate != self.clock_rate:
            return (
                f"clock rate differs: offered {codec.clock_rate} Hz, "
                f"siplab's {self.name} is {self.encoding}"
            )
        if codec.channels != self.channels:
            return (
                f"channels differ: offered {codec.channels}, siplab's {self.name} is "
                f"{self.encoding}"
            )
        return None

    def as_codec(self, payload_type: int, fmtp: str | None = None) -> Codec:
        """This codec under ``payload_type``, with ``fmtp`` (default: siplab's own)."""
        return Codec(
            payload_type, self.name, self.clock_rate, self.channels, fmtp or self.fmtp
        )


PCMU = CodecSpec("PCMU", 8000, 1, "audio", 0, 0, None, "G.711 mu-law, 64 kbit/s")
PCMA = CodecSpec("PCMA", 8000, 1, "audio", 8, 8, None, "G.711 A-law, 64 kbit/s")
G722 = CodecSpec(
    "G722", 8000, 1, "audio", 9, 9, None, "G.722 wideband (16 kHz audio, 8000 RTP clock)"
)
OPUS = CodecSpec(
    "opus", 48000, 2, "audio", None, 111, "minptime=10;useinbandfec=1", "Opus (RFC 7587)"
)
TELEPHONE_EVENT = CodecSpec(
    "telephone-event", 8000, 1, "audio", None, 101, "0-16", "DTMF events (RFC 4733)"
)
VP8 = CodecSpec("VP8", 90000, 1, "video", None, 96, None, "VP8 video (RFC 7741)")

#: Every codec siplab knows by name alone.
KNOWN_CODECS: tuple[CodecSpec, ...] = (PCMU, PCMA, G722, OPUS, TELEPHONE_EVENT, VP8)

_ENCODING = re.compile(r"([^/\s]+)/([0-9]+)(?:/([0-9]+))?")
_EVENT_RANGE = re.compile(r"([0-9]{1,3})(?:-([0-9]{1,3}))?")


def find_codec(name: str) -> CodecSpec | None:
    """The known codec called ``name`` (case-insensitive), or ``None``."""
    return next((c for c in KNOWN_CODECS if c.name.lower() == name.lower()), None)


def resolve_codec(entry: str, media: str = "audio") -> CodecSpec:
    """Turn a capability entry (``"PCMU"``, ``"iLBC/8000"``) into a :class:`CodecSpec`.

    A known name may be given alone; any other codec needs its clock rate.
    Raises :class:`~siplab.errors.LocalProtocolError` for entries that cannot
    be understood: that is a mistake in the caller's configuration.
    """
    known = find_codec(entry)
    if known is not None:
        return known
    match = _ENCODING.fullmatch(entry)
    if match is None:
        raise LocalProtocolError(
            f"unknown codec {entry!r}: siplab knows "
            f"{', '.join(c.name for c in KNOWN_CODECS)}; name others with their clock "
            "rate, like 'iLBC/8000'"
        )
    name, rate, channels = match.group(1), int(match.group(2)), int(match.group(3) or 1)
    known = find_codec(name)
    if known is not None and (known.clock_rate, known.channels) == (rate, channels):
        return known
    static = next(
        (pt for pt, spec in STATIC_PAYLOAD_TYPES.items()
         if spec[0].lower() == name.lower() and spec[1:] == (rate, channels)),
        None,
    )
    offer_pt = static if static is not None else 96
    return CodecSpec(name, rate, channels, media, static, offer_pt, None, "named by the caller")


def telephone_events(fmtp: str | None) -> set[int] | None:
    """The events an RFC 4733 fmtp lists: ``"0-15,66"`` -> {0..15, 66}; ``None`` if unreadable.

    Without an fmtp a receiver assumes events 0-15, the DTMF digits
    (RFC 4733 §7.1.1).
    """
    if fmtp is None or not fmtp.strip():
        return set(range(16))
    events: set[int] = set()
    for piece in fmtp.replace(" ", "").split(","):
        match = _EVENT_RANGE.fullmatch(piece)
        if match is None:
            return None
        low = int(match.group(1))
        high = int(match.group(2)) if match.group(2) else low
        if high < low or high > 255:
            return None
        events.update(range(low, high + 1))
    return events


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a siplab user agent accepts in offer/answer, and how it answers.

    ``audio`` and ``video`` list codecs in *this side's* order of preference;
    the answer lists the matches in that order, so its first codec (the one
    media will use) is the best both sides have. ``telephone_event`` adds
    RFC 4733 DTMF. ``ptime`` is the packet length we ask for (``a=ptime``).

    ``single_codec`` (default off) answers with only the best match plus
    telephone-event instead of every match. Off is what most phones do (the
    answer lists every acceptable codec, RFC 3264 §6.1), and siplab's media
    parameters carry the whole payload type map so a receiver decodes
    whichever codec arrives; turn it on for peers that switch codecs
    mid-call when they are allowed to (RFC 3264 §6.1 lets them).

    ``accept_webrtc`` lets UDP/TLS/RTP/SAVPF streams be answered here (the
    WebRTC adapter adds ICE and DTLS); the plain path answers RTP/AVP only.
    ``data_channel`` accepts a WebRTC data channel m-line as well.
    ``rtcp_mux`` accepts (and offers) RTP and RTCP on one port (RFC 5761).
    """

    audio: tuple[str, ...] = ("opus", "G722", "PCMU", "PCMA")
    telephone_event: bool = True
    video: tuple[str, ...] = ()
    ptime: int = 20
    accept_webrtc: bool = False
    data_channel: bool = False
    rtcp_mux: bool = False
    single_codec: bool = False

    def __post_init__(self) -> None:
        # Accept lists too, but store tuples so the object stays hashable and frozen.
        object.__setattr__(self, "audio", tuple(self.audio))
        object.__setattr__(self, "video", tuple(self.video))
        if not 1 <= self.ptime <= 1000:
            raise LocalProtocolError(f"ptime must be 1-1000 ms, not {self.ptime}")
        for media in ("audio", "video"):
            names = [c.encoding.lower() for c in self.codecs_for(media)]
            if len(set(names)) != len(names):
                raise LocalProtocolError(f"{media} capabilities list a codec twice: {names}")
            misplaced = [c.name for c in self.codecs_for(media) if c.media != media]
            if misplaced:
                raise LocalProtocolError(f"not {media} codecs: {', '.join(misplaced)}")
            if any(c.is_telephone_event for c in self.codecs_for(media)):
                raise LocalProtocolError(
                    "telephone-event is not a codec entry: use telephone_event=True"
                )

    def codecs_for(self, media: str) -> tuple[CodecSpec, ...]:
        """The accepted codecs of a media type (``audio`` or ``video``), best first."""
        entries = self.audio if media == "audio" else self.video if media == "video" else ()
        return tuple(resolve_codec(entry, media) for entry in entries)

    @property
    def audio_codecs(self) -> tuple[CodecSpec, ...]:
        """The accepted audio codecs, best first."""
        return self.codecs_for("audio")

    @property
    def video_codecs(self) -> tuple[CodecSpec, ...]:
        """The accepted video codecs, best first."""
        return self.codecs_for("video")
