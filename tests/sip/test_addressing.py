"""Where a user agent's requests go (RFC 3261 §8.1.2; FACTS.md: compare host AND port)."""

from __future__ import annotations

from siplab.sip.addressing import names_peer
from siplab.sip.transport import Peer
from siplab.sip.uri import parse_uri

PROXY = Peer("10.0.0.100", 5060, "udp")


def test_names_peer_compares_host_and_port() -> None:
    assert names_peer(parse_uri("sip:10.0.0.100;lr"), PROXY)
    assert names_peer(parse_uri("sip:10.0.0.100:5060;lr"), PROXY)
    assert not names_peer(parse_uri("sip:bob@10.0.0.100:5070"), PROXY)
    assert not names_peer(parse_uri("sip:10.0.0.2;lr"), PROXY)


def test_names_peer_takes_the_default_port_of_the_uri_transport() -> None:
    tls = Peer("10.0.0.100", 5061, "tls")
    assert names_peer(parse_uri("sips:10.0.0.100;lr"), tls)
    assert names_peer(parse_uri("sip:10.0.0.100;lr"), tls)  # no transport: the peer's
    assert not names_peer(parse_uri("sip:10.0.0.100;transport=udp;lr"), tls)  # 5060
