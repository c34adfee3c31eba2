"""Answering an SDP offer: the answerer's half of offer/answer (RFC 3264 §5, §6).

In SIP, one side *offers* a session description (usually in the INVITE) and
the other *answers* (usually in the 200 OK). The answer is built stream by
stream (RFC 3264 §6):

1. It has exactly as many ``m=`` lines as the offer, in the same order. A
   stream the answerer cannot or will not take is *rejected* by answering
   port 0 (the formats are then ignored but must still be there).
2. For an accepted RTP stream, the answer lists the offered formats the
   answerer will receive, in *its* order of preference; the offerer sends
   with the first. A dynamic payload type keeps the offerer's number
   (§6.1: "the same payload type number SHOULD be used").
3. Directions mirror: an offer marked ``sendonly`` (the offerer sends only)
   is answered ``recvonly``, ``recvonly`` with ``sendonly``, ``inactive``
   with ``inactive``; ``sendrecv`` with ``sendrecv`` unless the answerer
   itself wants less (it put the call on hold, say).
4. Named telephone events (RFC 4733 DTMF) go along with the audio codec of
   the same clock rate (RFC 4733 §2.1).
5. If nothing at all can be accepted, there is no answer: a SIP user agent
   replies 488 Not Acceptable Here (:class:`~siplab.sdp.errors.NegotiationError`).

The answer keeps every acceptable codec, best first (siplab's choice, see
:class:`~siplab.sdp.codecs.Capabilities`), and :func:`negotiate` records why
each offered format was kept or dropped, for the table a notebook shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from siplab.errors import LocalProtocolError
from siplab.ids import IdSource
from siplab.sdp.attributes import Attribute, Codec, Direction
from siplab.sdp.codecs import TELEPHONE_EVENT, Capabilities, CodecSpec, find_codec
from siplab.sdp.errors import WARNING_MEDIA_FORMAT, WARNING_MEDIA_TYPE, NegotiationError
from siplab.sdp.model import Connection, MediaDescription, Origin, SessionDescription, Timing
from siplab.sdp.outcome import (
    FormatOutcome,
    Negotiation,
    Outcome,
    StreamOutcome,
    media_parameters,
)
from siplab.sdp.parser import parse

__all__ = ["answer", "negotiate", "new_session_id"]

_NO_COMMON_CODEC = "no common codec"


def answer(
    offer: SessionDescription | str | bytes,
    capabilities: Capabilities | None = None,
    *,
    address: str = "127.0.0.1",
    port: int | Sequence[int] = 49170,
    direction: Direction | str = Direction.SENDRECV,
    previous: SessionDescription | None = None,
    session_id: int | str | None = None,
    session_version: int = 1,
    ids: IdSource | None = None,
    username: str = "-",
    session_name: str = "siplab",
) -> SessionDescription:
    """The answer to ``offer`` (RFC 3264 §6); raises NegotiationError (488) if nothing fits.

    The options are :func:`negotiate`'s, which also explains every decision.
    """
    return negotiate(
        offer,
        capabilities,
        address=address,
        port=port,
        direction=direction,
        previous=previous,
        session_id=session_id,
        session_version=session_version,
        ids=ids,
        username=username,
        session_name=session_name,
    ).answer


def negotiate(
    offer: SessionDescription | str | bytes,
    capabilities: Capabilities | None = None,
    *,
    address: str = "127.0.0.1",
    port: int | Sequence[int] = 49170,
    direction: Direction | str = Direction.SENDRECV,
    previous: SessionDescription | None = None,
    session_id: int | str | None = None,
    session_version: int = 1,
    ids: IdSource | None = None,
    username: str = "-",
    session_name: str = "siplab",
) -> Negotiation:
    """Answer ``offer`` and explain the answer, stream by stream.

    ``address`` and ``port`` say where we receive media: with an int, the
    m-line number *i* gets ``port + 2 * i`` (RTP on even ports, RTCP on the
    next odd one); a sequence gives one port per m-line. ``direction`` is what
    *we* want (``sendonly`` or ``inactive`` while we hold the call); the
    answer's direction is the offer's mirrored and limited to it.

    Later in a session (a re-INVITE), pass the last description *we* sent,
    offer or answer, as ``previous``: the new answer keeps its ``o=`` line
    and bumps the version only if something changed (RFC 3264 §8). Otherwise
    the session id is ``session_id`` or a random number from ``ids``.
    """
    offer_sd = offer if isinstance(offer, SessionDescription) else parse(offer)
    caps = capabilities if capabilities is not None else Capabilities()
    ours = Direction(direction)
    ports = _ports(port, len(offer_sd.media))
    streams: list[StreamOutcome] = []
    answer_media: list[MediaDescription] = []
    for index, offered in enumerate(offer_sd.media):
        media, stream = _answer_stream(index, offered, offer_sd, caps, ports[index], ours)
        answer_media.append(media)
        streams.append(stream)

    sd = SessionDescription(
        origin=Origin(username, "0", session_version, address, "IN", _address_type(address)),
        name=session_name,
        connection=Connection.for_address(address),
        times=list(offer_sd.times) or [Timing()],  # §6: the answer's t= equals the offer's
        media=answer_media,
    )
    _add_bundle_group(sd, offer_sd, caps)
    sd.origin = _answer_origin(sd, previous, session_id, ids, session_version)
    negotiation = Negotiation("answerer", offer_sd, sd, tuple(streams))
    if offer_sd.media and not negotiation.accepted:
        codec_trouble = any(s.reason.startswith(_NO_COMMON_CODEC) for s in streams)
        raise NegotiationError(
            _nothing_acceptable(streams, caps),
            negotiation=negotiation,
            warning_code=WARNING_MEDIA_FORMAT if codec_trouble else WARNING_MEDIA_TYPE,
        )
    return negotiation


# --- one stream ---------------------------------------------------------------------


def _answer_stream(
    index: int,
    offered: MediaDescription,
    offer_sd: SessionDescription,
    caps: Capabilities,
    port: int,
    ours: Direction,
) -> tuple[MediaDescription, StreamOutcome]:
    refusal = _refusal(offered, caps)
    if refusal is not None:
        return _reject(index, offered, refusal)
    if offered.media == "application":
        return _accept_data_channel(index, offered, port)

    specs = caps.codecs_for(offered.media)
    kept, answered, formats = _choose_codecs(index, offered, specs, caps)
    if not kept:
        offered_text = ", ".join(c.encoding for c in offered.codecs) or "no codec"
        reason = f"{_NO_COMMON_CODEC}: offered {offered_text}"
        return _reject(index, offered, reason, formats)

    answer_direction = offer_sd.direction_of(offered).reversed().restrict(ours)
    rtcp_mux = offered.rtcp_mux and (caps.rtcp_mux or offered.is_webrtc)
    media = MediaDescription(
        offered.media, port, offered.proto, [str(c.payload_type) for c in answered]
    )
    if offered.mid is not None:
        media.attributes.append(Attribute("mid", offered.mid))
    for codec in answered:
        media.attributes.append(Attribute("rtpmap", f"{codec.payload_type} {codec.encoding}"))
        if codec.fmtp:
            media.attributes.append(Attribute("fmtp", f"{codec.payload_type} {codec.fmtp}"))
    if offered.media == "audio":
        media.attributes.append(Attribute("ptime", str(caps.ptime)))
    if rtcp_mux:
        media.attributes.append(Attribute("rtcp-mux"))
    media.attributes.append(Attribute(answer_direction.value))

    # The parameters keep the offer's fmtp: the peer's wishes for what we send it.
    parameters = media_parameters(
        remote_sd=offer_sd,
        remote=offered,
        kept=kept,
        direction=answer_direction,
        local_port=port,
        default_ptime=caps.ptime,
        rtcp_mux=rtcp_mux,
    )
    reason = f"accepted: {len(kept)} codec(s) in common, answered {answer_direction.value}"
    stream = StreamOutcome(
        index, offered.media, offered.proto, True, reason, answer_direction,
        tuple(formats), tuple(answered), parameters,
    )
    return media, stream


def _refusal(offered: MediaDescription, caps: Capabilities) -> str | None:
    """Why a whole stream is rejected before looking at its codecs, or ``None``."""
    proto = offered.proto.upper()
    if offered.port == 0:
        return "the offer disabled this stream (port 0)"
    if offered.media not in ("audio", "video", "application"):
        return f"media type {offered.media!r} not supported"
    if offered.media == "application":
        if "SCTP" not in proto:
            return f"application stream over {offered.proto} not supported"
        if not (caps.accept_webrtc and caps.data_channel):
            return "data channels are answered by the WebRTC path (Capabilities.data_channel)"
        return None
    if offered.is_webrtc:
        if not caps.accept_webrtc:
            return (
                f"{offered.proto} (WebRTC) is answered by the WebRTC path "
                "(Capabilities.accept_webrtc)"
            )
    elif proto == "RTP/SAVP":
        return "RTP/SAVP (SRTP keyed with a=crypto, RFC 4568) not supported"
    elif proto == "RTP/AVPF":
        return "RTP/AVPF (RTCP feedback, RFC 4585) not supported on the plain path"
    elif proto != "RTP/AVP":
        return f"transport protocol {offered.proto} not supported (the plain path speaks RTP/AVP)"
    if not caps.codecs_for(offered.media):
        return f"{offered.media} not accepted (Capabilities.{offered.media} is empty)"
    return None


def _reject(
    index: int,
    offered: MediaDescription,
    reason: str,
    formats: Sequence[FormatOutcome] | None = None,
) -> tuple[MediaDescription, StreamOutcome]:
    """Port 0, the same formats (RFC 3264 §6), and the mid so BUNDLE stays readable."""
    media = MediaDescription(offered.media, 0, offered.proto, list(offered.formats))
    if offered.mid is not None:
        media.attributes.append(Attribute("mid", offered.mid))
    if formats is None:
        codecs = {str(c.payload_type): c for c in offered.codecs}
        formats = [
            FormatOutcome(index, offered.media, f, codecs.get(f), Outcome.REJECTED, reason)
            for f in offered.formats
        ]
    stream = StreamOutcome(
        index, offered.media, offered.proto, False, reason, None, tuple(formats), (), None
    )
    return media, stream


def _accept_data_channel(
    index: int, offered: MediaDescription, port: int
) -> tuple[MediaDescription, StreamOutcome]:
    """A WebRTC data channel (RFC 8841): mirrored; the WebRTC adapter adds ICE and DTLS."""
    media = MediaDescription(offered.media, port, offered.proto, list(offered.formats))
    if offered.mid is not None:
        media.attributes.append(Attribute("mid", offered.mid))
    media.attributes.append(Attribute("sctp-port", offered.attribute("sctp-port") or "5000"))
    if offered.attribute("max-message-size") is not None:
        media.attributes.append(
            Attribute("max-message-size", offered.attribute("max-message-size"))
        )
    reason = "data channel over SCTP/DTLS (RFC 8841)"
    formats = tuple(
        FormatOutcome(index, offered.media, f, None, Outcome.CHOSEN, reason)
        for f in offered.formats
    )
    stream = StreamOutcome(
        index, offered.media, offered.proto, True, reason, None, formats, (), None
    )
    return media, stream


# --- codecs -------------------------------------------------------------------------


def _choose_codecs(
    index: int, offered: MediaDescription, specs: Sequence[CodecSpec], caps: Capabilities
) -> tuple[list[Codec], list[Codec], list[FormatOutcome]]:
    """The kept codecs best first, as offered and as the answer writes them; and the outcomes."""
    by_pt = {c.payload_type: c for c in offered.codecs}
    decided: dict[int, tuple[Codec | None, Outcome, str]] = {}
    matches: list[tuple[int, int, Codec, CodecSpec]] = []  # (preference, position, ...)
    events: list[tuple[int, Codec]] = []
    for position, fmt in enumerate(offered.formats):
        codec = by_pt.get(int(fmt)) if fmt.isascii() and fmt.isdigit() and len(fmt) <= 3 else None
        if codec is None:
            decided[position] = (None, Outcome.DROPPED, _unnamed(fmt))
        elif codec.is_telephone_event:
            events.append((position, codec))
        else:
            spec = next((s for s in specs if s.mismatch(codec) is None), None)
            if spec is None:
                decided[position] = (codec, Outcome.DROPPED, _unsupported(codec, specs, offered))
            else:
                matches.append((specs.index(spec), position, codec, spec))

    kept: list[Codec] = []
    answer_fmtp: dict[int, str | None] = {}
    kept_specs: dict[CodecSpec, int] = {}
    for preference, position, codec, spec in sorted(matches, key=lambda m: (m[0], m[1])):
        if spec in kept_specs:
            reason = f"same codec already kept as pt {kept_specs[spec]}"
            decided[position] = (codec, Outcome.DROPPED, reason)
        elif kept and caps.single_codec:
            reason = (
                f"only one {offered.media} codec kept: the answerer's first choice "
                "(Capabilities.single_codec)"
            )
            decided[position] = (codec, Outcome.DROPPED, reason)
        else:
            kept_specs[spec] = codec.payload_type
            kept.append(codec)
            answer_fmtp[codec.payload_type] = _answer_fmtp(codec, spec)
            outcome = Outcome.CHOSEN if len(kept) == 1 else Outcome.KEPT
            reason = (
                f"the best match: siplab's preference #{preference + 1}"
                if outcome is Outcome.CHOSEN
                else f"also acceptable: siplab's preference #{preference + 1}"
            )
            decided[position] = (codec, outcome, reason)

    events_only = not matches and len(events) == len(offered.formats)
    kept.extend(_choose_events(events, kept, events_only, offered.media, caps, decided))
    formats = [
        FormatOutcome(index, offered.media, fmt, *decided[position])
        for position, fmt in enumerate(offered.formats)
    ]
    answered = [replace(c, fmtp=answer_fmtp.get(c.payload_type, c.fmtp), rtcp_fb=()) for c in kept]
    return kept, answered, formats


def _choose_events(
    events: list[tuple[int, Codec]],
    kept: list[Codec],
    events_only: bool,
    media: str,
    caps: Capabilities,
    decided: dict[int, tuple[Codec | None, Outcome, str]],
) -> list[Codec]:
    """Which offered telephone-event payload types go in the answer (RFC 4733 §2.1)."""
    chosen: list[Codec] = []
    usable: list[tuple[int, Codec]] = []
    for position, codec in events:
        problem = TELEPHONE_EVENT.mismatch(codec)
        if media != "audio" or not caps.telephone_event:
            decided[position] = (codec, Outcome.DROPPED, "telephone-event not enabled")
        elif problem is not None:
            decided[position] = (codec, Outcome.DROPPED, problem)
        else:
            usable.append((position, codec))
    rates = {c.clock_rate for c in kept}
    covered: set[int] = set()
    for position, codec in usable:
        if codec.clock_rate in rates and codec.clock_rate not in covered:
            covered.add(codec.clock_rate)
            chosen.append(codec)
            reason = f"DTMF at the {codec.clock_rate} Hz rate of a kept codec (RFC 4733 §2.1)"
            decided[position] = (codec, _event_outcome(events_only, chosen), reason)
    if not chosen and usable and (kept or events_only):
        # No rate matches: most phones still take 8000 Hz events with any codec.
        position, codec = next(
            ((p, c) for p, c in usable if c.clock_rate == 8000), usable[0]
        )
        chosen.append(codec)
        reason = (
            "a stream for telephone events only (RFC 4317 §2.4)"
            if events_only
            else f"DTMF; no telephone-event at {kept[0].clock_rate} Hz was offered"
        )
        decided[position] = (codec, _event_outcome(events_only, chosen), reason)
    for position, codec in usable:
        if position in decided:
            continue
        if codec in chosen:  # an m= line that lists the same payload type twice
            reason = "payload type listed twice on the m= line"
        else:
            # DTMF alone is no call, unless the stream was offered for events only.
            reason = (
                "clock rate differs from the kept codecs' (RFC 4733 §2.1)"
                if kept
                else "no audio codec to go with it"
            )
        decided[position] = (codec, Outcome.DROPPED, reason)
    return chosen


def _event_outcome(events_only: bool, chosen: list[Codec]) -> Outcome:
    return Outcome.CHOSEN if events_only and len(chosen) == 1 else Outcome.KEPT


def _answer_fmtp(offered: Codec, spec: CodecSpec) -> str | None:
    """The fmtp the answer writes: ours for a codec siplab knows, else the offer's echoed.

    Ours says what we want to receive (opus ``useinbandfec=1``); echoing is
    what parameters of other codecs, such as iLBC's ``mode=``, need (RFC 3952 §5).
    """
    if find_codec(spec.name) is not None and spec.fmtp:
        return spec.fmtp
    return offered.fmtp


def _unnamed(fmt: str) -> str:
    if not (fmt.isascii() and fmt.isdigit()) or len(fmt) > 3 or int(fmt) > 127:
        return "not an RTP payload type number"
    if int(fmt) >= 96:
        return "dynamic payload type without a=rtpmap (RFC 8866 §6.6)"
    return "payload type with no RFC 3551 meaning and no a=rtpmap"


def _unsupported(codec: Codec, specs: Sequence[CodecSpec], offered: MediaDescription) -> str:
    same_name = [s for s in specs if codec.is_named(s.name)]
    if same_name:
        return same_name[0].mismatch(codec) or "not supported"
    if find_codec(codec.name) is not None:
        return f"not supported here (not in Capabilities.{offered.media})"
    return "not supported"


# --- helpers ----------------------------------------------------------------------


def new_session_id(ids: IdSource | None = None) -> str:
    """A fresh numeric ``o=`` session id (RFC 8866 §5.2), from ``ids`` when given."""
    source = ids if ids is not None else IdSource()
    return str(int.from_bytes(source.nonce_bytes(4), "big") or 1)


def _address_type(address: str) -> str:
    return "IP6" if ":" in address else "IP4"


def _ports(port: int | Sequence[int], count: int) -> list[int]:
    if isinstance(port, int):
        return [port + 2 * i for i in range(count)]
    ports = list(port)
    if len(ports) != count:
        raise LocalProtocolError(f"{len(ports)} ports given for an offer with {count} m-lines")
    return ports


def _add_bundle_group(
    sd: SessionDescription, offer_sd: SessionDescription, caps: Capabilities
) -> None:
    """Mirror ``a=group:BUNDLE`` with the mids we accepted (RFC 9143 §7.3)."""
    if not caps.accept_webrtc:
        return
    accepted = {m.mid for m in sd.media if m.port != 0 and m.mid is not None}
    for semantics, mids in offer_sd.groups:
        kept = [mid for mid in mids if mid in accepted]
        if semantics == "BUNDLE" and kept:
            sd.attributes.append(Attribute("group", " ".join(["BUNDLE", *kept])))


def _answer_origin(
    sd: SessionDescription,
    previous: SessionDescription | None,
    session_id: int | str | None,
    ids: IdSource | None,
    session_version: int,
) -> Origin:
    """A new origin, or our previous one: same id, version + 1 only if changed (§8)."""
    if previous is None:
        sid = str(session_id) if session_id is not None else new_session_id(ids)
        return Origin(
            sd.origin.username, sid, session_version, sd.origin.address,
            sd.origin.net_type, sd.origin.address_type,
        )
    sd.origin = previous.origin
    return previous.origin if str(sd) == str(previous) else previous.origin.next_version()


def _nothing_acceptable(streams: Sequence[StreamOutcome], caps: Capabilities) -> str:
    parts = [f"m={s.media} {s.proto}: {s.reason}" for s in streams]
    accepted = ", ".join(spec.encoding for spec in caps.audio_codecs) or "no audio codec"
    return (
        "nothing in the offer is acceptable (488 Not Acceptable Here): "
        + "; ".join(parts)
        + f". siplab accepts audio {accepted}"
    )
