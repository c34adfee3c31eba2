"""siplab: a SIP/WebRTC teaching lab you can read.

siplab implements a real SIP user agent, its transactions and dialogs, an
embedded registrar/proxy, SDP offer/answer and RTP audio, and the notebook
tools to watch them work (ladders, traces, packet plots, a dialer widget).

Every protocol decision lives in a *sans-I/O* core: objects that never touch
a socket or read a clock. You hand them bytes and the current time ``now``;
they hand back bytes to send, events and their next deadline. That is why a
notebook can step a call one datagram at a time, or run 32 seconds of
retransmissions in a millisecond on a simulated network.

The package is layered, and imports only point downwards (a test checks it):

0. ``siplab.errors``, ``siplab.ids`` -- the error tree; tags, branches, Call-IDs.
1. ``siplab.sip``, ``siplab.sdp``, ``siplab.rtp`` -- the sans-I/O protocol
   cores (RFC 3261, RFC 8866/3264, RFC 3550). None of them imports another.
2. ``siplab.call`` -- a call: INVITE session + SDP negotiation + RTP parameters.
3. ``siplab.aio`` -- the only place with asyncio, sockets and ``loop.time()``.
4. ``siplab.lab`` -- teaching tools: SimNetwork, traces, pcaps, ladders, widgets.
5. ``siplab.cli`` -- the ``siplab`` command.

Start reading at ``siplab.sip``; the notebooks in ``notebooks/`` walk through it.
Importing ``siplab`` is cheap: heavy libraries are imported only by the
modules that use them.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
