"""A minimal SIP responder built from siplab's layers, for interop tests against real peers.

It is the smallest useful server: a :class:`~siplab.sip.transaction_layer.TransactionLayer`
(RFC 3261 §17) run on real sockets by :class:`~siplab.aio.driver.EndpointDriver`
over a :class:`~siplab.aio.transport.TransportManager` listening on UDP and TCP
(§18). It answers

* OPTIONS with 200 OK, saying what it can do in Allow and Accept (§11.2);
* REGISTER with 200 OK listing the binding: each Contact of the request with
  its ``expires`` (§10.3 step 8), taken from the Contact's own ``expires``
  parameter or else from the Expires header;
* anything else with 405 Method Not Allowed and an Allow header (§8.2.1).

Every request it parsed is kept in :attr:`Responder.requests`, so a test can
compare siplab's reading of a peer's message with what the peer says it sent.
Use it as an async context manager::

    async with Responder() as responder:
        ...  # point sipp at responder.udp or responder.tcp
"""

from __future__ import annotations

from types import TracebackType

from siplab.aio.driver import EndpointDriver
from siplab.ids import IdSource
from siplab.sip.build import build_response
from siplab.sip.events import RequestReceived
from siplab.sip.message import Request
from siplab.sip.transaction_layer import TransactionLayer
from siplab.sip.transport import Peer

__all__ = ["Responder", "ALLOW", "ACCEPT", "DEFAULT_EXPIRES"]

ALLOW = "OPTIONS, REGISTER"
ACCEPT = "application/sdp"
#: The registration lifetime granted when the request names none (§10.2.1.1 leaves it to us).
DEFAULT_EXPIRES = 3600


class Responder:
    """Answers OPTIONS and REGISTER on ``host`` (UDP and TCP, free ports by default)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, seed: int = 0) -> None:
        self.host = host
        self.port = port
        self.ids = IdSource(seed)
        self.layer = TransactionLayer()
        self.requests: list[tuple[Request, Peer]] = []  # every new request, as parsed
        self.udp: Peer | None = None
        self.tcp: Peer | None = None
        self._driver: EndpointDriver | None = None

    async def start(self) -> None:
        """Create the driver and open both listeners (inside the running event loop)."""
        self._driver = EndpointDriver(self.layer, on_event=self._on_event, queue_events=False)
        self.udp = await self._driver.transports.listen_udp(self.host, self.port)
        self.tcp = await self._driver.transports.listen_tcp(self.host, self.port)

    async def close(self) -> None:
        if self._driver is not None:
            await self._driver.close()

    async def __aenter__(self) -> Responder:
        await self.start()
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        traceback: TracebackType | None) -> None:
        await self.close()

    def _on_event(self, event: object) -> None:
        # Only new requests need an answer; retransmissions were absorbed by
        # their server transaction, and an ACK for a 2xx has no transaction.
        if not isinstance(event, RequestReceived) or event.transaction is None:
            return
        request = event.request
        self.requests.append((request, event.peer))
        to_tag = self.ids.tag()
        if request.method == "OPTIONS":
            response = build_response(request, 200, to_tag=to_tag,
                                      headers=[("Allow", ALLOW), ("Accept", ACCEPT)])
        elif request.method == "REGISTER":
            response = build_response(request, 200, to_tag=to_tag,
                                      headers=self._bindings(request))
        else:
            response = build_response(request, 405, to_tag=to_tag, headers=[("Allow", ALLOW)])
        assert self._driver is not None
        self._driver.call(self.layer.send_response, event.transaction, response)

    @staticmethod
    def _bindings(request: Request) -> list[tuple[str, str]]:
        """The Contact headers of a 200 to REGISTER: every binding with its expires (§10.3)."""
        default = request.expires if request.expires is not None else DEFAULT_EXPIRES
        bindings = []
        for contact in request.contact:
            expires = contact.param("expires")
            seconds = int(expires) if expires is not None and expires.isdigit() else default
            bindings.append(("Contact", str(contact.with_param("expires", str(seconds)))))
        return bindings
