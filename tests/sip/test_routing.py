"""Which URIs name the server (RFC 3261 §16.4): LocalAddresses' remembered answers.

A server asks ``is_us`` and ``is_our_domain`` of the same few URIs several
times per request, so :class:`LocalAddresses` works each answer out once and
remembers it. These tests check that an answer asked again is the one worked
out the first time, and what those answers are for the shapes that matter.
"""

from __future__ import annotations

import pytest

from siplab.sip import routing
from siplab.sip.routing import LocalAddresses
from siplab.sip.transport import Peer
from siplab.sip.uri import parse_uri


def lab() -> LocalAddresses:
    return LocalAddresses([Peer("127.0.0.1", 5060), Peer("::1", 5061, "tls")], ["lab.example"])


@pytest.mark.parametrize(("text", "us", "ours"), [
    ("sip:127.0.0.1", True, True),                      # default port 5060
    ("sip:bob@127.0.0.1:5060;transport=UDP", True, True),
    ("sip:127.0.0.1:5070", False, False),               # another port: a phone on this host
    ("sip:bob@LAB.example", True, True),                # host names fold case
    ("sips:bob@lab.example", True, True),               # TLS: port 5061, one of ours
    ("sip:[::1]:5061;transport=tls", True, True),
    ("sip:[::1]:5062", False, False),
    ("sip:bob@lab.example;transport=sctp", False, True),  # a transport we do not know
    ("sip:bob@abc.invalid;transport=ws", False, False),
    ("tel:+15551234", False, False),
    ("mailto:bob@lab.example", False, False),
])
def test_local_addresses_answer_the_same_when_asked_again(text: str, us: bool,
                                                          ours: bool) -> None:
    local = lab()
    uri = parse_uri(text)
    assert (local.is_us(uri), local.is_our_domain(uri)) == (us, ours)  # worked out
    assert (local.is_us(uri), local.is_our_domain(uri)) == (us, ours)  # remembered
    fresh = lab()  # asked the other way round, on a server that never saw the URI
    assert (fresh.is_our_domain(uri), fresh.is_us(uri)) == (ours, us)


def test_local_addresses_remember_a_bounded_number_of_uris(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(routing, "_MEMO_SIZE", 16)
    local = lab()
    for port in range(5000, 5100):
        assert local.is_us(parse_uri(f"sip:127.0.0.1:{port}")) == (port in (5060, 5061))
        assert len(local._verdicts) <= 16
    assert local.is_our_domain(parse_uri("sip:bob@lab.example"))
