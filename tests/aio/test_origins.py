"""Which web pages may open the lab's SIP WebSocket: the Origin policy (RFC 6455 §10.2).

A browser sends the page's Origin in the WebSocket handshake; a client that
is not a browser sends none. By default the lab server accepts clients
without an Origin and pages from its own host (on loopback, any loopback
name); an allow-list accepts exactly the origins listed, or any with "*".
"""

from __future__ import annotations

import pytest

from siplab.aio.origins import OriginPolicy

SAME_HOST = [
    ("http://127.0.0.1:8000", "127.0.0.1:8080"),
    ("http://localhost:8000", "127.0.0.1:8080"),  # both loopback: this machine
    ("https://[::1]:9000", "[::1]:8080"),
    ("http://lab.example.org", "lab.example.org:8080"),
    ("HTTP://LAB.example.org:80", "lab.example.org"),
]
OTHER_HOST = [
    ("http://evil.example", "127.0.0.1:8080"),
    ("https://tryit.jssip.net", "127.0.0.1:8080"),
    ("null", "127.0.0.1:8080"),  # a file:// page or a sandboxed frame
    ("http://127.0.0.1:8000", "lab.example.org:8080"),
    ("http://127.0.0.1:8000", None),
]


@pytest.mark.parametrize(("origin", "host"), SAME_HOST)
def test_default_allows_pages_from_the_same_host(origin: str, host: str) -> None:
    assert OriginPolicy().allows(origin, host)


@pytest.mark.parametrize(("origin", "host"), OTHER_HOST)
def test_default_refuses_pages_from_other_hosts(origin: str, host: str | None) -> None:
    assert not OriginPolicy().allows(origin, host)


def test_a_client_without_origin_is_not_a_browser_and_is_allowed() -> None:
    assert OriginPolicy().allows(None, "127.0.0.1:8080")
    assert OriginPolicy(["http://only.example"]).allows(None, None)


def test_allow_list_is_exact_and_replaces_the_same_host_rule() -> None:
    policy = OriginPolicy(["http://teacher.example:8000/", "https://course.example"])
    assert policy.allows("http://teacher.example:8000", "127.0.0.1:8080")
    assert policy.allows("HTTPS://COURSE.EXAMPLE", "127.0.0.1:8080")
    assert not policy.allows("http://teacher.example:8001", "127.0.0.1:8080")
    assert not policy.allows("http://127.0.0.1:8000", "127.0.0.1:8080")


def test_star_allows_any_origin() -> None:
    assert OriginPolicy(["*"]).allows("http://evil.example", "127.0.0.1:8080")
