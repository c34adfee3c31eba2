"""Sans-I/O SDP: session descriptions and offer/answer (RFC 8866, RFC 3264).

SIP sets up a call; SDP, carried in the INVITE and its answer, says what the
call carries: which media (audio, video), sent where (address and port), with
which codecs, in which direction. Nothing here touches a socket or a clock.
Read it in this order:

1. ``model`` and ``parser``: the text format and its objects.
   ``parse(text)`` gives a :class:`SessionDescription`; ``str(sd)`` writes it
   back unchanged (RFC 8866). ``attributes`` reads the ``a=`` lines (codecs,
   direction, ptime, ICE, DTLS) into typed values.
2. ``codecs``: the codecs siplab knows and :class:`Capabilities`, what a user
   agent accepts, in its order of preference.
3. ``negotiate``: the answerer. ``answer(offer, capabilities)`` builds the
   answer (RFC 3264 §6) or raises :class:`NegotiationError`, which a user
   agent turns into 488 Not Acceptable Here; ``negotiate(...)`` also explains
   every decision as a table.
4. ``offer``: the offerer. ``create_offer``, ``update_offer`` (re-INVITE,
   hold and resume, §8) and ``process_answer``.
5. ``outcome``: what both sides hand the RTP layer, :class:`MediaParameters`.

Like ``siplab.sip`` it imports only the standard library and
``siplab.errors``/``siplab.ids``, and neither ``siplab.sip`` nor ``siplab.rtp``.
"""

from __future__ import annotations

from siplab.sdp.attributes import Attribute, Candidate, Codec, Direction, Fingerprint
from siplab.sdp.codecs import KNOWN_CODECS, Capabilities, CodecSpec
from siplab.sdp.errors import NegotiationError, SdpParseError
from siplab.sdp.model import (
    Bandwidth,
    Connection,
    MediaDescription,
    Origin,
    SessionDescription,
    Timing,
)
from siplab.sdp.negotiate import answer, negotiate
from siplab.sdp.offer import create_offer, process_answer, update_offer
from siplab.sdp.outcome import (
    FormatOutcome,
    MediaParameters,
    Negotiation,
    Outcome,
    StreamOutcome,
)
from siplab.sdp.parser import parse

__all__ = [
    # the text format (RFC 8866)
    "parse",
    "SessionDescription",
    "MediaDescription",
    "Origin",
    "Connection",
    "Bandwidth",
    "Timing",
    "Attribute",
    "Direction",
    "Codec",
    "Candidate",
    "Fingerprint",
    # codecs and capabilities
    "Capabilities",
    "CodecSpec",
    "KNOWN_CODECS",
    # offer/answer (RFC 3264)
    "answer",
    "negotiate",
    "create_offer",
    "update_offer",
    "process_answer",
    "Negotiation",
    "StreamOutcome",
    "FormatOutcome",
    "Outcome",
    "MediaParameters",
    # errors
    "NegotiationError",
    "SdpParseError",
]
