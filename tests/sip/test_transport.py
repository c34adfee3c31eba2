"""Transports without sockets: which Peer a SIP URI names (RFC 3261 §18, §19.1.2; RFC 3263 §4
without DNS; RFC 7118 §5.2 for WebSocket contacts)."""

from __future__ import annotations

from siplab.sip.transport import Peer, peer_for_uri, uri_host
from siplab.sip.uri import parse_uri


class TestPeerForUri:
    """The one resolver both the user agent and the proxy use (§8.1.2, §16.6)."""

    def test_defaults_are_udp_and_5060(self) -> None:
        assert peer_for_uri(parse_uri("sip:bob@10.0.0.2")) == Peer("10.0.0.2", 5060, "udp")

    def test_sips_means_tls_on_5061(self) -> None:
        assert peer_for_uri(parse_uri("sips:bob@h")) == Peer("h", 5061, "tls")

    def test_transport_parameter_and_ipv6_brackets(self) -> None:
        assert peer_for_uri(parse_uri("sip:x@[::1]:5080;transport=tcp")) == \
            Peer("::1", 5080, "tcp")

    def test_default_transport_is_the_callers(self) -> None:
        """A user agent on TCP sends where the URI says nothing over TCP too."""
        assert peer_for_uri(parse_uri("sip:bob@10.0.0.2"), "TCP") == Peer("10.0.0.2", 5060, "tcp")

    def test_websocket_contact_with_invalid_host_is_unreachable(self) -> None:
        assert peer_for_uri(parse_uri("sip:x@abc.invalid;transport=ws")) is None

    def test_not_a_sip_uri_or_an_unknown_transport_is_unreachable(self) -> None:
        assert peer_for_uri(parse_uri("tel:+1555")) is None
        assert peer_for_uri(parse_uri("sip:bob@10.0.0.2;transport=sctp")) is None


def test_uri_host_brackets_ipv6_once() -> None:
    assert uri_host("10.0.0.1") == "10.0.0.1"
    assert uri_host("::1") == "[::1]"
    assert uri_host("[::1]") == "[::1]"
    assert str(Peer("::1", 5060)) == "udp:[::1]:5060"
