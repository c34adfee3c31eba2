"""The asyncio layer: real sockets and the real clock around the sans-I/O core.

This is the only part of siplab that uses asyncio, opens sockets or reads
``loop.time()``. It decides nothing about SIP:

* :mod:`siplab.aio.transport` -- :class:`TransportManager`: UDP, TCP and
  WebSocket listeners and connections that deliver and send whole messages
  (RFC 3261 §18, RFC 7118, RFC 3581), and the :class:`TraceRecord` every
  message leaves behind;
* :mod:`siplab.aio.driver` -- :class:`EndpointDriver`: feeds a sans-I/O
  endpoint what arrives, sends what it returns, and arms its one timer;
* :mod:`siplab.aio.server` -- :class:`LabServer`: the registrar and proxy
  core on UDP, TCP and WS listeners (``siplab server`` on the command line);
* :mod:`siplab.aio.useragent` -- :class:`UserAgent`, the friendly API in the
  style of SIP.js: :class:`Registerer` (:mod:`~siplab.aio.registerer`),
  :class:`Inviter`, :class:`Invitation` and :class:`Session`
  (:mod:`~siplab.aio.session`), messages, with ``await`` for every outcome
  and the errors of :mod:`siplab.aio.errors` when it is not a success;
* :mod:`siplab.aio.debug` -- :func:`enable_debug`: every message and decision
  printed, like ``JsSIP.debug.enable("JsSIP:*")``.
"""

from __future__ import annotations

from siplab.aio.debug import disable_debug, enable_debug
from siplab.aio.driver import EndpointDriver, SansIoEndpoint
from siplab.aio.errors import CallFailed, RegistrationError, RequestError, TransportNotAvailable
from siplab.aio.registerer import Registerer
from siplab.aio.server import LabServer
from siplab.aio.server_url import ServerUrl, parse_transport_url
from siplab.aio.session import Invitation, Inviter, Session
from siplab.aio.transport import TraceRecord, TransportManager
from siplab.aio.useragent import IncomingMessage, UserAgent

__all__ = [
    "TransportManager",
    "TraceRecord",
    "EndpointDriver",
    "SansIoEndpoint",
    "LabServer",
    "UserAgent",
    "Registerer",
    "Session",
    "Inviter",
    "Invitation",
    "IncomingMessage",
    "ServerUrl",
    "parse_transport_url",
    "RequestError",
    "RegistrationError",
    "CallFailed",
    "TransportNotAvailable",
    "enable_debug",
    "disable_debug",
]
