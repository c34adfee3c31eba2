"""Web pages from other sites may not open the lab's SIP WebSocket (RFC 6455 §10.2, RFC 7118 §7).

Any page in a student's browser can try ``new WebSocket("ws://127.0.0.1:8080",
"sip")``; the browser says which page it is in the Origin header. The lab
server refuses (403) origins other than its own host by default, and exactly
the ones not on ``ws_origins`` when given; a client without Origin (not a
browser) is accepted. The handshakes here come from the websockets client,
which sends whatever Origin it is given.
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Origin, Subprotocol

from siplab.aio.server import LabServer
from siplab.ids import IdSource
from tests.security.lab import LOOPBACK, run


async def handshake(url: str, origin: str | None) -> int:
    """The HTTP status of a SIP WebSocket handshake to ``url`` from a page at ``origin``."""
    try:
        async with ws_connect(url, subprotocols=[Subprotocol("sip")],
                              origin=Origin(origin) if origin else None, open_timeout=3):
            return 101
    except InvalidStatus as refused:
        return refused.response.status_code


def statuses(origins: Iterable[str] | None, tried: list[str | None]) -> list[int]:
    async def scenario() -> list[int]:
        async with LabServer(ws=[(LOOPBACK, 0)], open=True, ids=IdSource("origin"),
                             ws_origins=origins) as server:
            url = server.ws_urls[0]
            return [await handshake(url, origin) for origin in tried]

    return run(scenario())


def test_default_accepts_same_host_pages_and_non_browsers_only() -> None:
    tried: list[str | None] = [None, "http://127.0.0.1:8000", "http://localhost:3000",
                               "https://evil.example", "null"]
    assert statuses(None, tried) == [101, 101, 101, 403, 403]


@pytest.mark.parametrize(("allowed", "expected"), [
    (["http://course.example:8000"], [101, 101, 403, 403]),
    (["*"], [101, 101, 101, 101]),
])
def test_allow_list_decides(allowed: list[str], expected: list[int]) -> None:
    tried: list[str | None] = [None, "http://course.example:8000", "http://127.0.0.1:8000",
                               "https://evil.example"]
    assert statuses(allowed, tried) == expected
