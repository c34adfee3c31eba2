"""SDP on the WebRTC path: what siplab adds to, and keeps from, a WebRTC engine's descriptions.

On the plain path siplab writes every line of its SDP itself (:mod:`siplab.sdp.offer`,
:mod:`siplab.sdp.negotiate`). On the WebRTC path (``UDP/TLS/RTP/SAVPF``, RFC 8829
JSEP) the first offer or answer of a call comes from the WebRTC engine (aiortc's
``RTCPeerConnection``): only the engine knows its ICE username and password
(``a=ice-ufrag``, ``a=ice-pwd``, RFC 8839 §5.4), the candidates it gathered
(``a=candidate``, §5.1), and the fingerprint of the certificate its DTLS
handshake will show (``a=fingerprint``, RFC 8122 §5). siplab still decides *what*
the call carries (codecs, DTMF, directions), and three small steps here join the
two:

* :func:`add_telephone_events` writes RFC 4733 ``telephone-event`` formats into
  the engine's audio ``m=`` line. aiortc has no DTMF of its own; siplab sends and
  hears the events itself, so it must also be the one to announce them.
* :func:`reanswer` answers a mid-call re-offer (hold, resume: RFC 3264 §8.4)
  from our previous description, changing only the directions. The ICE
  credentials, candidates and fingerprint stay the same, so the connection that
  is already up carries on: nothing is renegotiated underneath.
* :func:`rtp_streams` lists the m-lines that carry RTP, the ones a hold re-offer
  changes (the data channel's ``m=application`` has no direction).

The DTLS ``a=setup`` attribute (RFC 8842 §5) says which side opens the DTLS
association: the offerer writes ``actpass`` ("either"), the answerer ``active``
(it will be the DTLS client) or ``passive``. A re-answer keeps the role the first
exchange settled, so that no new handshake starts (:func:`answer_setup`).

Standard library only, like the rest of :mod:`siplab.sdp`.
"""

from __future__ import annotations

from collections.abc import Sequence

from siplab.sdp.attributes import Attribute, Codec, Direction
from siplab.sdp.errors import WARNING_MEDIA_TYPE, NegotiationError
from siplab.sdp.model import MediaDescription, SessionDescription, is_short_number

__all__ = [
    "add_telephone_events",
    "free_payload_type",
    "rtp_streams",
    "answer_setup",
    "reanswer",
    "REOFFER_STREAMS_CHANGED",
]

#: Why a re-offer that adds or removes streams of a WebRTC call is refused (488).
REOFFER_STREAMS_CHANGED = (
    "a WebRTC call keeps the streams it started with: siplab answers re-offers that "
    "change directions (hold, resume), not ones that add or remove m-lines"
)

_FIRST_DYNAMIC, _LAST_DYNAMIC = 96, 127


def rtp_streams(sd: SessionDescription) -> list[int]:
    """Indexes of the m-lines that carry RTP (audio, video), the ones with a direction."""
    return [i for i, m in enumerate(sd.media) if m.media in ("audio", "video") and m.port != 0]


def free_payload_type(sd: SessionDescription, wanted: int) -> int:
    """``wanted`` if no m-line of ``sd`` uses it (BUNDLE shares one number space), else a free
    dynamic one."""
    used = {int(f) for m in sd.media for f in m.formats if is_short_number(f, 3)}
    if wanted not in used:
        return wanted
    return next(pt for pt in range(_FIRST_DYNAMIC, _LAST_DYNAMIC + 1) if pt not in used)


def add_telephone_events(sd: SessionDescription, events: Sequence[Codec]) -> SessionDescription:
    """A copy of ``sd`` whose first audio m-line also lists ``events`` (RFC 4733 §7.1.1).

    Each event keeps its payload type unless another format of the description
    already has it (then a free dynamic number is used). Returns the copy; the
    events actually written can be read back from its ``codecs``.
    """
    new = sd.copy()
    audio = next((m for m in new.media if m.media == "audio" and m.port != 0), None)
    if audio is None or not events:
        return new
    present = {(c.clock_rate) for c in audio.codecs if c.is_telephone_event}
    for event in events:
        if event.clock_rate in present:
            continue
        pt = free_payload_type(new, event.payload_type)
        present.add(event.clock_rate)
        audio.formats.append(str(pt))
        lines = [Attribute("rtpmap", f"{pt} {event.encoding}")]
        if event.fmtp:
            lines.append(Attribute("fmtp", f"{pt} {event.fmtp}"))
        _insert_after_codecs(audio, lines)
    return new


def _insert_after_codecs(media: MediaDescription, lines: list[Attribute]) -> None:
    """Put new rtpmap/fmtp lines after the last codec line, where a reader looks for them."""
    codec_lines = ("rtpmap", "fmtp", "rtcp-fb")
    last = max((i for i, a in enumerate(media.attributes) if a.name in codec_lines), default=-1)
    media.attributes[last + 1:last + 1] = lines


def answer_setup(offered: str | None, ours_before: str | None, theirs_before: str | None) -> str:
    """Our ``a=setup`` in a re-answer: the DTLS role stays what the first exchange settled.

    ``offered`` is the re-offer's value; ``ours_before`` / ``theirs_before`` the
    values of the last exchange (ours may be ``actpass`` if we offered first).
    """
    if offered == "active":
        return "passive"
    if offered == "passive":
        return "active"
    if ours_before in ("active", "passive"):
        return ours_before
    return "passive" if theirs_before == "active" else "active"


def reanswer(
    previous: SessionDescription,
    offer: SessionDescription,
    directions: Sequence[Direction | None],
    *,
    remote_before: SessionDescription | None = None,
) -> SessionDescription:
    """Answer a WebRTC re-offer with our ``previous`` description, new directions only.

    ``directions[i]`` is the direction the answer gives m-line *i* (``None``
    leaves it alone: a data channel, a rejected stream). The o= line keeps its
    session id; its version goes up by one if anything changed (RFC 3264 §8).
    Raises NegotiationError (488) when the re-offer adds or removes m-lines.
    """
    if len(offer.media) != len(previous.media) or len(directions) != len(offer.media):
        raise NegotiationError(REOFFER_STREAMS_CHANGED, warning_code=WARNING_MEDIA_TYPE)
    new = previous.copy()
    for index, direction in enumerate(directions):
        media = new.media[index]
        if direction is not None and media.port != 0:
            media = media.with_direction(direction)
        before = remote_before.media[index].setup if remote_before is not None else None
        setup = answer_setup(offer.media[index].setup, media.setup, before)
        if media.setup is not None and media.setup != setup:
            media.attributes = [Attribute("setup", setup) if a.name == "setup" else a
                                for a in media.attributes]
        new.media[index] = media
    if str(new) != str(previous):
        new.origin = previous.origin.next_version()
    return new
