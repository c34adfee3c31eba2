"""Sans-I/O SDP (layer 1): nothing here yet.

This package will hold the session description model (parse text into
dataclasses and print them back, RFC 8866), the table of codecs siplab knows,
and offer/answer negotiation (RFC 3264): ``siplab.sdp.parse(text)``,
``str(sd)``, ``siplab.sdp.answer(offer, capabilities)`` and
``NegotiationError``, which a UA answers with 488. Like ``siplab.sip`` it does
no I/O, and it imports neither ``siplab.sip`` nor ``siplab.rtp``.
"""

from __future__ import annotations

__all__: list[str] = []
