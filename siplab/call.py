"""A call's media, decided: SDP offers and answers in the INVITE session, and the RTP parameters.

SIP sets a call up, SDP says what it carries, RTP carries it. This module is
where the three meet, without any I/O: a :class:`Call` sits next to one
invite session (:class:`siplab.sip.invite.Session`), writes the SDP that goes
into its INVITEs and responses, reads the SDP that comes back, and ends each
exchange with :class:`~siplab.sdp.MediaParameters`, everything an RTP
endpoint needs to start, change or stop the audio.

Where offers and answers travel (RFC 3261 §13.2.1, §14; RFC 3264)::

    caller                                callee
      INVITE  + offer   -------------->   answer_offer(offer) -> answer
      <--------------   200 OK + answer
      accept_answer(answer)
      ACK

    (an INVITE without SDP: the callee offers in the 200, the answer is in the ACK)

    hold (RFC 3264 §8.4), later resume:
      re-INVITE + hold()   ------------>   answer_reoffer(offer) -> answer (recvonly)
      <--------------   200 OK + answer
      accept_answer(answer)

Offer/answer is a small state machine of its own (RFC 3264 §4, the names
JSEP later gave it, RFC 8829 §3.2): ``idle`` before anything was sent,
``have-local-offer`` while our offer waits for its answer, ``stable`` once
an exchange is complete. Only one offer may be outstanding in each
direction: an offer that arrives while ours is still unanswered is a *glare*
answered with 491 Request Pending (RFC 3261 §14.2). :data:`TRANSITIONS` is
that machine as a table.

Two media paths, chosen by the remote offer (DESIGN.md, "Media: two paths"):
``RTP/AVP`` is the plain path of SIP phones, siplab's own RTP; a browser's
``UDP/TLS/RTP/SAVPF`` (ICE, DTLS-SRTP, RFC 8829) is the WebRTC path, carried
by aiortc (:mod:`siplab.aio.webrtc`). **siplab answers what it can**: a Call
configured for both paths (``paths``, by default both when the capabilities
accept WebRTC) answers each offer on the offer's own path, a plain offer with
plain RTP and a WebRTC offer with WebRTC. An offer on a path the Call does not
answer (a SIP phone's RTP/AVP offer to a WebRTC-only user agent, a browser's
offer to a plain-only one) is refused with **488** and a Warning that says so
(:data:`NO_COMMON_PATH`): the LabServer only signals and relays no media, so
nothing in the middle could turn one path into the other; both ends need a
path in common.

On the WebRTC path the SDP that goes out comes from the WebRTC engine, which
alone knows its ICE credentials, candidates and DTLS fingerprint: the Call
still decides (codecs, DTMF, directions, or the 488), the engine writes, and
:meth:`Call.offer` (given the engine's offer) or
:meth:`Call.adopt_local_description` (given its answer) records what was sent.
Mid-call re-offers (hold, resume) reuse that description with new directions
(:mod:`siplab.sdp.webrtc`), so the connection already up carries on.

When an offer cannot be answered, :meth:`Call.refusal` says what to send back:
**488 Not Acceptable Here** when nothing in it fits (RFC 3261 §21.4.26, RFC 3264
§6) and **400** when the SDP is malformed, each with a ``Warning`` header
(RFC 3261 §20.43) whose text is the explanation a student reads in the ladder.

DTMF goes two ways in a call, and both are written and read here or in
:mod:`siplab.rtp.dtmf`: as RFC 4733 telephone-events inside the RTP stream,
or as SIP INFO requests (RFC 6086) whose ``application/dtmf-relay`` body says
``Signal=5`` and ``Duration=160``, a format no RFC defines but every PBX
reads (Cisco's; see :func:`dtmf_relay_body`).

Two parts live in their own modules, and every name is importable from here
too: the refusals and the Warning header, :mod:`siplab.call_refusal`, and the
DTMF bodies of INFO, :mod:`siplab.call_dtmf`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum

from siplab.call_dtmf import DTMF, DTMF_RELAY, DtmfPress, dtmf_relay_body, parse_dtmf
from siplab.call_refusal import (
    WARNING_MISC,
    SdpRefusal,
    parse_warnings,
    refusal_for,
    warning_header,
)
from siplab.errors import (
    InvalidStateError,
    LocalProtocolError,
    RemoteProtocolError,
)
from siplab.ids import IdSource
from siplab.sdp import (
    Capabilities,
    Direction,
    MediaParameters,
    Negotiation,
    NegotiationError,
    SdpParseError,
    SessionDescription,
    create_offer,
    negotiate,
    parse,
    process_answer,
    update_offer,
)
from siplab.sdp.errors import WARNING_MEDIA_TYPE
from siplab.sdp.webrtc import reanswer, rtp_streams

__all__ = [
    "Call",
    "OfferAnswerState",
    "MediaPath",
    "SdpRecord",
    "SdpRefusal",
    "refusal_for",
    "TRANSITIONS",
    "NO_COMMON_PATH",
    "NO_MEDIA_RELAY",
    "media_path_of",
    "DTMF_RELAY",
    "DTMF",
    "DtmfPress",
    "dtmf_relay_body",
    "parse_dtmf",
    "WARNING_MISC",
    "warning_header",
    "parse_warnings",
]

#: How the refusal of an offer on a path the Call does not answer begins (488, warn-code 304).
NO_COMMON_PATH = "no common media path"
#: Why the two paths cannot meet in the middle: said in every such refusal.
NO_MEDIA_RELAY = "LabServer relays no media, so both ends need the same media path"

class OfferAnswerState(StrEnum):
    """Where a call's offer/answer exchange stands (RFC 3264 §4; names from RFC 8829 §3.2)."""

    IDLE = "idle"  # nothing offered yet
    HAVE_LOCAL_OFFER = "have-local-offer"  # our offer waits for its answer
    STABLE = "stable"  # the last offer was answered: media parameters are known


class MediaPath(StrEnum):
    """Which engine carries the media, chosen by the remote offer's transport protocol."""

    PLAIN = "plain"  # RTP/AVP: SIP phones, sipp, baresip; siplab's own RTP
    WEBRTC = "webrtc"  # UDP/TLS/RTP/SAVPF with ICE and DTLS-SRTP: browsers, aiortc


IDLE = OfferAnswerState.IDLE
HAVE_LOCAL_OFFER = OfferAnswerState.HAVE_LOCAL_OFFER
STABLE = OfferAnswerState.STABLE

#: (state, what happens) -> next state. Anything missing is a mistake of the caller,
#: except an offer received in have-local-offer: that is glare (491, RFC 3261 §14.2).
TRANSITIONS: dict[tuple[OfferAnswerState, str], OfferAnswerState] = {
    (IDLE, "send offer"): HAVE_LOCAL_OFFER,  # INVITE, or the 200 to an INVITE without SDP
    (IDLE, "receive offer"): STABLE,  # the INVITE's offer, answered in the 200 (or 183)
    (HAVE_LOCAL_OFFER, "receive answer"): STABLE,  # the 2xx (or a 183, or the ACK)
    (HAVE_LOCAL_OFFER, "withdraw offer"): STABLE,  # our re-INVITE was refused: as before
    (STABLE, "send offer"): HAVE_LOCAL_OFFER,  # re-INVITE: hold, resume, refresh
    (STABLE, "receive offer"): STABLE,  # the peer's re-INVITE
}


@dataclass(frozen=True, slots=True)
class SdpRecord:
    """One session description that went out or came in, for the story of a call.

    ``sender`` is ``"local"`` or ``"remote"``; ``kind`` ``"offer"`` or
    ``"answer"``; ``purpose`` why it was sent (``"call"``, ``"hold"``,
    ``"resume"``, ``"re-offer"``); ``outcome`` is empty, or the refusal an offer got
    (``"488 Not Acceptable Here: ..."``).
    """

    sender: str
    kind: str
    purpose: str
    body: bytes
    outcome: str = ""

    @property
    def direction(self) -> str | None:
        """The first direction attribute written in the body (``None``: sendrecv by default)."""
        found = re.search(rb"^a=(sendrecv|sendonly|recvonly|inactive)\s*$", self.body, re.M)
        return found.group(1).decode() if found else None


def media_path_of(sd: SessionDescription) -> MediaPath:
    """The path an offer asks for: its first live audio stream's (else first stream's) proto."""
    live = [m for m in sd.media if m.port != 0]
    audio = [m for m in live if m.media == "audio"]
    chosen = (audio or live or list(sd.media))[:1]
    return MediaPath.WEBRTC if chosen and chosen[0].is_webrtc else MediaPath.PLAIN


class Call:
    """The media side of one call: offers, answers, and what the RTP layer must do.

    ``capabilities`` are the codecs we accept, best first; ``address`` and
    ``port`` are where our RTP endpoint receives (the ``c=`` and ``m=`` of
    everything we write). ``ids`` draws the ``o=`` session id. ``paths``: the
    media paths whose offers we answer (default: plain, and WebRTC too when
    ``capabilities.accept_webrtc``); an offer on another path gets 488
    (:data:`NO_COMMON_PATH`; see the module docstring).

    After each complete exchange :attr:`negotiation` explains it (``.table()``
    for a notebook), :attr:`params` holds the audio stream's
    :class:`~siplab.sdp.MediaParameters` (``None`` if none was accepted) and
    :attr:`codec` names its codec. :attr:`history` keeps every SDP in order.
    Offers that cannot be answered raise :class:`~siplab.sdp.NegotiationError`
    (488) or :class:`~siplab.sdp.SdpParseError` (400); :meth:`refusal` turns
    either into the response, and :attr:`failure` keeps the last one.
    """

    def __init__(
        self,
        capabilities: Capabilities | None = None,
        *,
        address: str = "127.0.0.1",
        port: int,
        ids: IdSource | None = None,
        username: str = "-",
        paths: Iterable[MediaPath | str] | None = None,
    ) -> None:
        caps = capabilities if capabilities is not None else Capabilities()
        if paths is None:
            chosen = {MediaPath.PLAIN}
            if caps.accept_webrtc:
                chosen.add(MediaPath.WEBRTC)
        else:
            chosen = {MediaPath(p) for p in paths}
        if not chosen:
            raise LocalProtocolError("a Call answers at least one media path")
        if MediaPath.WEBRTC in chosen and not caps.accept_webrtc:
            caps = replace(caps, accept_webrtc=True)  # negotiate() must take SAVPF streams
        self.capabilities = caps
        self.paths: frozenset[MediaPath] = frozenset(chosen)
        self.address = address
        self.port = port
        self.ids = ids if ids is not None else IdSource()
        self.username = username
        self.state = IDLE
        self.path: MediaPath | None = None
        self.negotiation: Negotiation | None = None
        self.failure: RemoteProtocolError | None = None
        self.history: list[SdpRecord] = []
        self.local_sdp: SessionDescription | None = None  # the last SDP we sent
        self.remote_sdp: SessionDescription | None = None  # the last SDP we accepted
        self.held = False  # we put the call on hold (our offer said sendonly/inactive)
        self._pending: SessionDescription | None = None  # our offer awaiting its answer
        self._pending_purpose = ""
        self._before_offer: SessionDescription | None = None  # to roll a refused offer back

    def __repr__(self) -> str:
        codec = self.codec or "no codec yet"
        return f"<Call {self.state} {self.path or 'no path'} {codec}>"

    # -- what it decided ---------------------------------------------------------------

    @property
    def params(self) -> MediaParameters | None:
        """The negotiated audio stream: where to send, which codec, which direction."""
        return self.negotiation.audio if self.negotiation is not None else None

    @property
    def codec(self) -> str | None:
        """The codec audio is sent with (``"PCMU"``, ``"opus"``), once negotiated."""
        params = self.params
        return params.codec_name if params is not None else None

    @property
    def remote_hold(self) -> bool:
        """True when the peer's last offer stopped it receiving (it put us on hold)."""
        if self.remote_sdp is None or self.negotiation is None:
            return False
        if self.negotiation.role != "answerer":
            return False
        audio = next((m for m in self.remote_sdp.media if m.media == "audio"), None)
        return audio is not None and not self.remote_sdp.direction_of(audio).receives

    # -- we offer ----------------------------------------------------------------------

    def offer(self, description: bytes | str | None = None) -> bytes:
        """Our first offer: every codec we accept, best first, sendrecv (RFC 3264 §5).

        Goes in the INVITE, or in the 200 that answers an INVITE without SDP.
        On the WebRTC path the engine writes the offer (ICE, DTLS): pass it as
        ``description`` and the Call records it as ours; the path is the
        offer's own.
        """
        if self.state is not IDLE:
            raise InvalidStateError(f"offer() is for the first offer; the call is "
                                    f"{self.state}: use hold(), resume() or reoffer()")
        if description is None:
            sd = create_offer(self.capabilities, address=self.address, audio_port=self.port,
                              ids=self.ids, username=self.username)
        else:
            sd = parse(description)
        self.path = media_path_of(sd)
        return self._send_offer(sd, "call")

    def adopt_local_description(self, body: bytes | str) -> bytes:
        """The WebRTC engine wrote the answer that goes out: record it as ours.

        Call it right after :meth:`answer_offer` on the WebRTC path, with the
        engine's answer to the same offer (same m-lines); the negotiation, the
        Call's decision, stays. Returns the body to send.
        """
        sd = parse(body)
        if self.remote_sdp is None or len(sd.media) != len(self.remote_sdp.media):
            raise LocalProtocolError("the engine's description does not answer the last offer")
        if not self.history or self.history[-1].sender != "local":
            raise InvalidStateError("nothing of ours to replace: answer an offer first")
        self.local_sdp = sd
        if self.negotiation is not None and self.negotiation.role == "answerer":
            self.negotiation = replace(self.negotiation, answer=sd)
        data = str(sd).encode("utf-8")
        last = self.history[-1]
        self.history[-1] = SdpRecord(last.sender, last.kind, last.purpose, data, last.outcome)
        return data

    def hold(self) -> bytes:
        """A re-offer that puts the call on hold: sendrecv -> sendonly (RFC 3264 §8.4)."""
        return self._reoffer("hold", hold=True)

    def resume(self) -> bytes:
        """A re-offer that takes the call off hold: sendonly -> sendrecv."""
        return self._reoffer("resume", hold=False)

    def reoffer(self) -> bytes:
        """The same session again as a new offer (a re-INVITE without changes, or the 200 to a
        re-INVITE that carried no offer, RFC 3261 §14.2). The version stays (RFC 3264 §8)."""
        return self._reoffer("re-offer", hold=None)

    def _reoffer(self, purpose: str, *, hold: bool | None) -> bytes:
        self._check("send offer")
        if self.local_sdp is None:
            raise InvalidStateError("nothing to re-offer: no SDP was sent in this call yet")
        # On the WebRTC path only the RTP m-lines have a direction (not the data channel's).
        streams = rtp_streams(self.local_sdp) if self.path is MediaPath.WEBRTC else None
        sd = update_offer(self.local_sdp, hold=hold, streams=streams)
        return self._send_offer(sd, purpose)

    def _send_offer(self, sd: SessionDescription, purpose: str) -> bytes:
        self._before_offer = self.local_sdp
        self._pending, self._pending_purpose = sd, purpose
        self.local_sdp = sd
        self.state = TRANSITIONS[(self.state, "send offer")]
        body = str(sd).encode("utf-8")
        self.history.append(SdpRecord("local", "offer", purpose, body))
        return body

    def accept_answer(self, body: bytes) -> Negotiation:
        """Read the answer to our offer (the 2xx, a 183, or the ACK); returns the negotiation.

        Raises SdpParseError for a malformed answer and NegotiationError for one
        that accepts nothing; the state stays ``have-local-offer`` and the
        caller ends the call (or :meth:`withdraw_offer` a re-offer).
        """
        self._check("receive answer")
        assert self._pending is not None
        try:
            negotiation = process_answer(self._pending, body, self.capabilities)
        except (SdpParseError, NegotiationError) as error:
            self.failure = error
            self.history.append(SdpRecord("remote", "answer", self._pending_purpose, body,
                                          _outcome(error)))
            raise
        self.history.append(SdpRecord("remote", "answer", self._pending_purpose, body))
        self.remote_sdp = negotiation.answer
        self.negotiation = negotiation
        self.held = self._pending_purpose == "hold" or (
            self.held and self._pending_purpose == "re-offer")
        self._pending = None
        self.state = TRANSITIONS[(self.state, "receive answer")]
        return negotiation

    def withdraw_offer(self) -> None:
        """Our re-offer was refused (488, 491...) or never answered: media stays as it was."""
        self._check("withdraw offer")
        if self.negotiation is None:
            raise InvalidStateError("the first offer cannot be withdrawn: end the call")
        self.local_sdp = self._before_offer
        self._pending = None
        self.state = TRANSITIONS[(self.state, "withdraw offer")]

    # -- the peer offers -------------------------------------------------------------------

    def answer_offer(self, body: bytes) -> bytes:
        """Answer the INVITE's offer; returns our answer for the 200 (or 183).

        Raises SdpParseError (400) or NegotiationError (488): see :meth:`refusal`.
        """
        if self.state is not IDLE:
            raise InvalidStateError(f"answer_offer() is for the first offer; the call is "
                                    f"{self.state}: use answer_reoffer()")
        return self._answer(body, "call")

    def answer_reoffer(self, body: bytes) -> bytes:
        """Answer the offer of the peer's re-INVITE (hold, resume, a new codec...)."""
        if self.state is HAVE_LOCAL_OFFER:
            raise RemoteProtocolError("an offer arrived while ours is unanswered (glare)",
                                      status=491, reason="Request Pending")
        if self.state is not STABLE:
            raise InvalidStateError("answer_reoffer() needs a call whose media was negotiated")
        return self._answer(body, "re-offer")

    def _answer(self, body: bytes, purpose: str) -> bytes:
        try:
            offer = parse(body)
            path = media_path_of(offer)
            if path not in self.paths or (self.path is not None and path is not self.path):
                raise _path_refused(offer, path, self.paths if self.path is None
                                    else frozenset({self.path}))
            # While we hold the call we keep not listening, whatever the peer re-offers.
            wanted = Direction.SENDONLY if self.held else Direction.SENDRECV
            negotiation = negotiate(
                offer, self.capabilities, address=self.address, port=self.port,
                direction=wanted, previous=self.local_sdp, ids=self.ids,
                username=self.username,
            )
            if path is MediaPath.WEBRTC and purpose != "call" and self.local_sdp is not None:
                # The connection is up: answer with our last description, new directions.
                directions = [stream.direction for stream in negotiation.streams]
                answer_sd = reanswer(self.local_sdp, offer, directions,
                                     remote_before=self.remote_sdp)
                negotiation = replace(negotiation, answer=answer_sd)
        except (SdpParseError, NegotiationError) as error:
            self.failure = error
            self.history.append(SdpRecord("remote", "offer", purpose, body, _outcome(error)))
            raise
        self.history.append(SdpRecord("remote", "offer", purpose, body))
        self.path = path
        self.remote_sdp = offer
        self.local_sdp = negotiation.answer
        self.negotiation = negotiation
        self.state = TRANSITIONS[(self.state, "receive offer")]
        answer = str(negotiation.answer).encode("utf-8")
        self.history.append(SdpRecord("local", "answer", purpose, answer))
        return answer

    # -- refusing ----------------------------------------------------------------------------

    def refusal(self, error: RemoteProtocolError, agent: str = "siplab") -> SdpRefusal:
        """The response to an offer that raised ``error``: 488 or 400 with a Warning header."""
        return refusal_for(error, agent)

    # -- helpers ---------------------------------------------------------------------------

    def _check(self, happening: str) -> None:
        if (self.state, happening) not in TRANSITIONS:
            raise InvalidStateError(f"cannot {happening}: offer/answer is {self.state}")

    def explain(self) -> str:
        """The last negotiation as text (or the last refusal), for a quick look."""
        if self.negotiation is not None:
            return self.negotiation.explain()
        if self.failure is not None:
            return f"refused: {self.failure}"
        return "nothing negotiated yet"


_PATH_NAMES = {
    MediaPath.PLAIN: "plain RTP (SIP phones)",
    MediaPath.WEBRTC: "WebRTC (browsers: ICE, DTLS-SRTP)",
}


def _path_refused(offer: SessionDescription, path: MediaPath,
                  answered: frozenset[MediaPath]) -> NegotiationError:
    """488 for an offer on a path we do not answer: says which paths, and why no relay helps."""
    proto = next((m.proto for m in offer.media if m.port != 0), "no live stream")
    ours = " or ".join(_PATH_NAMES[p] for p in sorted(answered))
    return NegotiationError(
        f"{NO_COMMON_PATH}: the offer is {_PATH_NAMES[path]}, {proto}; this user agent "
        f"answers {ours} only. {NO_MEDIA_RELAY}",
        warning_code=WARNING_MEDIA_TYPE,
    )


def _outcome(error: RemoteProtocolError) -> str:
    refusal = refusal_for(error)
    return f"{refusal.status} {refusal.reason}: {refusal.explanation}"
