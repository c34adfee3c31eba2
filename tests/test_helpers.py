"""The test helpers themselves: ``crlf`` fixtures and ``require_peer``."""

from __future__ import annotations

import pytest

from tests.helpers import crlf, require_peer


def test_crlf_turns_a_readable_fixture_into_wire_bytes() -> None:
    data = crlf(
        """
        MESSAGE sip:bob@example.com SIP/2.0
        Content-Length: 5

        héllo"""
    )
    assert data == (
        b"MESSAGE sip:bob@example.com SIP/2.0\r\nContent-Length: 5\r\n\r\nh\xc3\xa9llo"
    )


def test_crlf_leaves_no_bare_line_feed() -> None:
    data = crlf("\n    A: 1\r\n    B: 2\n\n")
    assert data == b"A: 1\r\nB: 2\r\n\r\n"


def test_require_peer_returns_the_path_of_a_present_binary() -> None:
    assert require_peer("sh", "dash").endswith("/sh")


def test_require_peer_skips_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="needs no-such-peer: apt-get install pkg"):
        require_peer("no-such-peer", "pkg")


def test_require_peer_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="needs no-such-peer: apt-get install pkg"):
        require_peer("no-such-peer", "pkg")
