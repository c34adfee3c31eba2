"""The asyncio layer: real sockets and the real clock around the sans-I/O core.

This is the only part of siplab that uses asyncio, opens sockets or reads
``loop.time()``. It decides nothing about SIP:

* :mod:`siplab.aio.transport` -- :class:`TransportManager`: UDP, TCP and
  WebSocket listeners and connections that deliver and send whole messages
  (RFC 3261 §18, RFC 7118, RFC 3581), and the :class:`TraceRecord` every
  message leaves behind;
* :mod:`siplab.aio.driver` -- :class:`EndpointDriver`: feeds a sans-I/O
  endpoint what arrives, sends what it returns, and arms its one timer.
"""

from __future__ import annotations

from siplab.aio.driver import EndpointDriver, SansIoEndpoint
from siplab.aio.transport import TraceRecord, TransportManager

__all__ = ["TransportManager", "TraceRecord", "EndpointDriver", "SansIoEndpoint"]
