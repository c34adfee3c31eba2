"""Where a user agent's requests come from, and where they go.

RFC 3261 §8.1.1.7 (Via), §8.1.1.8 (Contact), §8.1.2 (sending the request),
§19.1.2 (default ports); RFC 3263 §4 without DNS; RFC 7118 §5 (WebSocket).

Every request a user agent sends says twice where it comes from:

* the **Via** header names the address the *responses* must come back to
  (``SIP/2.0/UDP 10.0.0.1:5060;branch=...;rport``): the transaction layer of
  the next hop sends its answers there;
* the **Contact** header names the URI where the *peer* can send new
  requests later (the BYE, a re-INVITE): it becomes the remote target of the
  dialog, or the binding a registrar stores.

A browser on a WebSocket has no address anyone could connect to, so RFC 7118
§5.2 has it invent one: a random host under ``.invalid`` (a name that by
definition resolves nowhere) in both Via and Contact. The proxy that holds the
WebSocket connection is what makes those requests reach it.

Where a request *goes* is decided by §8.1.2: to the first Route if there is
one (a proxy on the path), otherwise to the Request-URI. RFC 3263 turns that
URI into a transport, host and port with DNS; in the lab every URI holds an IP
address, so :func:`~siplab.sip.transport.peer_for_uri` (shared with the
proxy) only applies the defaults: the ``transport`` parameter (TLS for
``sips:``), the port or 5060 (5061 for TLS). A user agent with an *outbound
proxy* sends every request that leaves a dialog, and every request whose next
hop is that proxy, to the proxy's address instead (:func:`names_peer`
compares host *and* port, see FACTS.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from siplab.ids import IdSource
from siplab.sip.headers import Address
from siplab.sip.message import Request
from siplab.sip.transport import Peer, peer_for_uri, uri_host, via_transport
from siplab.sip.uri import SipUri, Uri

__all__ = ["Origin", "next_hop", "names_peer"]

_WEBSOCKET = ("ws", "wss")


@dataclass(frozen=True, slots=True)
class Origin:
    """What our requests say about us: Via sent-by, transport, and Contact."""

    via_host: str
    via_port: int | None
    transport: str  # lower case, as in a Peer: "udp", "tcp", "ws"...
    contact: Address

    @property
    def via_transport(self) -> str:
        """The transport as a Via writes it: ``UDP``, ``TCP``, ``WS``."""
        return via_transport(self.transport)

    @classmethod
    def for_peer(
        cls,
        local: Peer,
        *,
        user: str | None,
        ids: IdSource,
        contact: SipUri | None = None,
    ) -> Origin:
        """The origin of a user agent bound to ``local``.

        The default Contact is ``sip:user@host:port;transport=x``. Over a
        WebSocket (RFC 7118 §5.2) the Via host and the Contact are invented:
        ``sip:<random>@<random>.invalid;transport=ws``.
        """
        transport = local.transport.lower()
        if transport in _WEBSOCKET:
            host = f"{ids.token(12)}.invalid"
            uri = contact or SipUri(host, user=ids.token(8), params=(("transport", transport),))
            return cls(host, None, transport, Address(uri))
        host = uri_host(local.host)
        uri = contact or SipUri(host, user=user, port=local.port,
                                params=(("transport", transport),))
        return cls(host, local.port, transport, Address(uri))


def next_hop(request: Request) -> Uri:
    """The URI a request is sent to (§8.1.2): the first Route, else the Request-URI."""
    route = request.route
    return route[0].uri if route else request.uri


def names_peer(uri: Uri, peer: Peer) -> bool:
    """True when ``uri`` names ``peer``'s host and port (a port left out means the default)."""
    hop = peer_for_uri(uri, peer.transport)
    return hop is not None and hop.port == peer.port and hop.host.lower() == peer.host.lower()
