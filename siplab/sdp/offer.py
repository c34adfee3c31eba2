"""The offerer's half of offer/answer: make an offer, change it, read the answer (RFC 3264).

* :func:`create_offer` writes the first offer of a call (RFC 3264 §5): one
  ``m=audio`` line listing every codec we accept, best first, with a dynamic
  payload type for each codec that has no static one, plus DTMF events.
* :func:`update_offer` writes a new offer in the same session, for a
  re-INVITE (§8): the same ``o=`` session id with the version increased by
  one, the same ``m=`` lines in the same order. Putting a call on hold is
  such an update (§8.4): a ``sendrecv`` stream becomes ``sendonly`` (we keep
  sending music on hold, we stop listening) and a ``recvonly`` one becomes
  ``inactive``; resuming goes back.
* :func:`process_answer` reads the answer that came back: which codec the
  answerer chose (the first it lists, with the number it gave it), where to
  send, which way media flows, and which payload type carries DTMF.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from siplab.errors import LocalProtocolError
from siplab.ids import IdSource
from siplab.sdp.attributes import Attribute, Codec, Direction
from siplab.sdp.codecs import TELEPHONE_EVENT, Capabilities, CodecSpec
from siplab.sdp.errors import WARNING_MEDIA_FORMAT, NegotiationError
from siplab.sdp.model import Connection, MediaDescription, Origin, SessionDescription, Timing
from siplab.sdp.negotiate import new_session_id
from siplab.sdp.outcome import (
    FormatOutcome,
    Negotiation,
    Outcome,
    StreamOutcome,
    media_parameters,
)
from siplab.sdp.parser import parse

__all__ = ["create_offer", "update_offer", "process_answer", "assign_payload_types"]

_FIRST_DYNAMIC = 96
_LAST_DYNAMIC = 127
#: The numbers most user agents give telephone-event at each rate (101 and Chrome's 110).
_EVENT_PAYLOAD_TYPES = {8000: TELEPHONE_EVENT.offer_payload_type, 48000: 110}


def create_offer(
    capabilities: Capabilities | None = None,
    *,
    address: str = "127.0.0.1",
    audio_port: int = 49170,
    video_port: int | None = None,
    direction: Direction | str = Direction.SENDRECV,
    session_id: int | str | None = None,
    session_version: int = 1,
    ids: IdSource | None = None,
    username: str = "-",
    session_name: str = "siplab",
) -> SessionDescription:
    """The first offer of a call, on the plain RTP/AVP path (RFC 3264 §5).

    An ``m=video`` line is added when ``video_port`` is given and the
    capabilities list video codecs. The ``o=`` session id is ``session_id``
    or a random number drawn from ``ids``.
    """
    caps = capabilities if capabilities is not None else Capabilities()
    ours = Direction(direction)
    media: list[MediaDescription] = []
    if caps.audio_codecs:
        media.append(_offer_media("audio", audio_port, caps.audio_codecs, caps, ours))
    if video_port is not None and caps.video_codecs:
        media.append(_offer_media("video", video_port, caps.video_codecs, caps, ours))
    sid = str(session_id) if session_id is not None else new_session_id(ids)
    connection = Connection.for_address(address)
    return SessionDescription(
        origin=Origin(username, sid, session_version, address, "IN", connection.address_type),
        name=session_name,
        connection=connection,
        times=[Timing()],
        media=media,
    )


def assign_payload_types(
    specs: Sequence[CodecSpec], *, telephone_event_rates: Iterable[int] = ()
) -> list[Codec]:
    """Give every codec a payload type: its static one, else its usual dynamic one, else a free one.

    ``telephone_event_rates`` adds one telephone-event per clock rate after
    the codecs (101 for 8000 Hz as most phones use, 110 for 48000 as Chrome does).
    """
    used: set[int] = set()

    def take(wanted: int | None) -> int:
        if wanted is not None and wanted not in used:
            used.add(wanted)
            return wanted
        free = next(pt for pt in range(_FIRST_DYNAMIC, _LAST_DYNAMIC + 1) if pt not in used)
        used.add(free)
        return free

    codecs = [
        spec.as_codec(take(spec.payload_type if spec.payload_type is not None
                           else spec.offer_payload_type))
        for spec in specs
    ]
    for rate in dict.fromkeys(telephone_event_rates):
        wanted = _EVENT_PAYLOAD_TYPES.get(rate)
        event = Codec(take(wanted), TELEPHONE_EVENT.name, rate, 1, TELEPHONE_EVENT.fmtp)
        codecs.append(event)
    return codecs


def _offer_media(
    kind: str, port: int, specs: Sequence[CodecSpec], caps: Capabilities, direction: Direction
) -> MediaDescription:
    # DTMF at the rate of each audio codec, 8000 Hz always (RFC 4733 §2.1): the
    # answerer then finds telephone-event at the rate of whichever codec it picks.
    rates = [s.clock_rate for s in specs] + [8000] if kind == "audio" else []
    if not caps.telephone_event:
        rates = []
    codecs = assign_payload_types(specs, telephone_event_rates=rates)
    media = MediaDescription(kind, port, "RTP/AVP", [str(c.payload_type) for c in codecs])
    for codec in codecs:
        media.attributes.append(Attribute("rtpmap", f"{codec.payload_type} {codec.encoding}"))
        if codec.fmtp:
            media.attributes.append(Attribute("fmtp", f"{codec.payload_type} {codec.fmtp}"))
    if kind == "audio":
        media.attributes.append(Attribute("ptime", str(caps.ptime)))
    if caps.rtcp_mux:
        media.attributes.append(Attribute("rtcp-mux"))
    media.attributes.append(Attribute(direction.value))
    return media


# --- re-INVITE: hold, resume, disable ----------------------------------------------

_HOLD = {
    Direction.SENDRECV: Direction.SENDONLY,
    Direction.RECVONLY: Direction.INACTIVE,
    Direction.SENDONLY: Direction.SENDONLY,
    Direction.INACTIVE: Direction.INACTIVE,
}
_RESUME = {
    Direction.SENDONLY: Direction.SENDRECV,
    Direction.INACTIVE: Direction.RECVONLY,
    Direction.SENDRECV: Direction.SENDRECV,
    Direction.RECVONLY: Direction.RECVONLY,
}


def update_offer(
    previous: SessionDescription,
    *,
    hold: bool | None = None,
    direction: Direction | str | None = None,
    streams: Iterable[int] | None = None,
    disable: Iterable[int] = (),
) -> SessionDescription:
    """A new offer in the same session: the last SDP *we* sent, modified (RFC 3264 §8).

    ``hold=True`` puts the streams on hold the RFC 3264 §8.4 way (sendrecv ->
    sendonly, recvonly -> inactive); ``hold=False`` resumes them. Or give an
    explicit ``direction``. ``streams`` limits the change to some m-line
    indexes (RFC 4317 §3.2 holds the audio but not the DTMF stream);
    ``disable`` sets streams to port 0, which removes them for good while
    keeping their m-lines (§8.2). The version goes up by one if anything
    changed; an unchanged offer keeps it (§8).
    """
    if hold is not None and direction is not None:
        raise LocalProtocolError("give hold= or direction=, not both")
    chosen = None if streams is None else set(streams)
    disabled = set(disable)
    new = previous.copy()
    session_default = previous.direction_attribute
    for index, media in enumerate(new.media):
        untouched = chosen is not None and index not in chosen and index not in disabled
        if media.port == 0 or untouched:
            continue
        if index in disabled:
            media.port = 0
            continue
        current = media.direction_attribute or session_default or Direction.SENDRECV
        if hold is True:
            wanted = _HOLD[current]
        elif hold is False:
            wanted = _RESUME[current]
        elif direction is not None:
            wanted = Direction(direction)
        else:
            continue
        new.media[index] = media.with_direction(wanted)
    if str(new) != str(previous):
        new.origin = previous.origin.next_version()
    return new


# --- reading the answer -------------------------------------------------------------


def process_answer(
    offer: SessionDescription | str | bytes,
    answer: SessionDescription | str | bytes,
    capabilities: Capabilities | None = None,
) -> Negotiation:
    """Read the answer to our offer: chosen codecs, remote addresses, directions (RFC 3264 §6, §7).

    The codec media is sent with is the answer's first (RFC 3264 §6.1: the
    answerer lists them in its preference), under the number the *answer*
    gives it: RFC 4317 §2.3 shows an answerer renumbering iLBC from 97 to 99.
    Raises NegotiationError when the answer is not an answer to this offer
    (a different number of m-lines) or accepts nothing.
    """
    offer_sd = offer if isinstance(offer, SessionDescription) else parse(offer)
    answer_sd = answer if isinstance(answer, SessionDescription) else parse(answer)
    caps = capabilities if capabilities is not None else Capabilities()
    if len(answer_sd.media) != len(offer_sd.media):
        raise NegotiationError(
            f"the answer has {len(answer_sd.media)} m-lines for an offer with "
            f"{len(offer_sd.media)}; RFC 3264 §6 requires one per offered stream"
        )
    streams = tuple(
        _read_stream(index, offer_sd, ours, answer_sd, theirs, caps)
        for index, (ours, theirs) in enumerate(zip(offer_sd.media, answer_sd.media, strict=True))
    )
    negotiation = Negotiation("offerer", offer_sd, answer_sd, streams)
    if offer_sd.media and not negotiation.accepted:
        reasons = "; ".join(f"m={s.media}: {s.reason}" for s in streams)
        raise NegotiationError(
            f"the answer accepts no stream: {reasons}",
            negotiation=negotiation,
            warning_code=WARNING_MEDIA_FORMAT,
        )
    return negotiation


def _read_stream(
    index: int,
    offer_sd: SessionDescription,
    ours: MediaDescription,
    answer_sd: SessionDescription,
    theirs: MediaDescription,
    caps: Capabilities,
) -> StreamOutcome:
    offered = ours.codecs
    if ours.port == 0 or theirs.port == 0:
        reason = (
            "we disabled this stream" if ours.port == 0 else "the answerer rejected it (port 0)"
        )
        return _rejected(index, ours, offered, reason)
    if not ours.payload_types:  # a data channel or another non-RTP stream
        channel = tuple(
            FormatOutcome(index, ours.media, f, None, Outcome.CHOSEN, "accepted by the answerer")
            for f in ours.formats
        )
        return StreamOutcome(
            index, ours.media, ours.proto, True, "accepted", None, channel, (), None
        )

    kept: list[Codec] = []
    found: dict[int, Codec] = {}  # our payload type -> the answer's codec for it
    for codec in theirs.codecs:
        mine = _offered_match(codec, offered)
        if mine is not None and mine.payload_type not in found:
            found[mine.payload_type] = codec
            kept.append(codec)
    if not any(not c.is_telephone_event for c in kept) and not all(
        c.is_telephone_event for c in offered
    ):
        return _rejected(index, ours, offered, "the answer lists no codec we offered")

    answer_direction = answer_sd.direction_of(theirs)
    our_direction = answer_direction.reversed().restrict(offer_sd.direction_of(ours))
    parameters = media_parameters(
        remote_sd=answer_sd,
        remote=theirs,
        kept=kept,
        direction=our_direction,
        local_port=ours.port,
        default_ptime=ours.ptime or caps.ptime,
        rtcp_mux=ours.rtcp_mux and theirs.rtcp_mux,
    )
    formats: list[FormatOutcome] = []
    chosen_pt = parameters.payload_type
    for codec in offered:
        answered = found.get(codec.payload_type)
        if answered is None:
            formats.append(_row(index, ours, codec, Outcome.DROPPED, "not in the answer"))
            continue
        renumbered = (
            f" (renumbered to {answered.payload_type})"
            if answered.payload_type != codec.payload_type else ""
        )
        if answered.payload_type == chosen_pt:
            outcome, reason = Outcome.CHOSEN, "first in the answer: media is sent with it"
        else:
            outcome, reason = Outcome.KEPT, "in the answer: may be received"
        formats.append(_row(index, ours, codec, outcome, reason + renumbered))
    reason = f"accepted: answerer chose {parameters.codec_name}, we are {our_direction.value}"
    return StreamOutcome(
        index, ours.media, ours.proto, True, reason, answer_direction,
        tuple(formats), tuple(kept), parameters,
    )


def _offered_match(codec: Codec, offered: Sequence[Codec]) -> Codec | None:
    """Our offered codec that an answered codec stands for: same number, else same encoding."""
    for mine in offered:
        if mine.payload_type == codec.payload_type and mine.is_named(codec.name):
            return mine
    for mine in offered:
        if mine.is_named(codec.name) and (mine.clock_rate, mine.channels) == (
            codec.clock_rate, codec.channels
        ):
            return mine
    return None


def _row(
    index: int, media: MediaDescription, codec: Codec, outcome: Outcome, reason: str
) -> FormatOutcome:
    return FormatOutcome(index, media.media, str(codec.payload_type), codec, outcome, reason)


def _rejected(
    index: int, ours: MediaDescription, offered: Sequence[Codec], reason: str
) -> StreamOutcome:
    by_format = {str(c.payload_type): c for c in offered}
    formats = tuple(
        FormatOutcome(index, ours.media, f, by_format.get(f), Outcome.REJECTED, reason)
        for f in ours.formats
    )
    return StreamOutcome(index, ours.media, ours.proto, False, reason, None, formats, (), None)
