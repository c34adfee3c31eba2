"""Sans-I/O RTP and RTCP (layer 1): nothing here yet.

This package will hold RTP and RTCP packets as dataclasses with ``parse`` and
serializers, G.711 (PCMU/PCMA) encoding, and a stream object that keeps
sequence numbers and timestamps and computes loss and interarrival jitter the
way RFC 3550 (§6.4, Appendix A.8) defines them. It does no I/O, reads no
clock (arrival times are passed in), and imports neither ``siplab.sip`` nor
``siplab.sdp``.
"""

from __future__ import annotations

__all__: list[str] = []
