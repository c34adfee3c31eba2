"""Passwords never reach a log, and credentials can be left out of traces and pcaps.

Digest (RFC 3261 §22, RFC 7616) never sends the password, but its answer
(``response=``, with the ``cnonce``) lets whoever holds a capture try
passwords offline: a trace shared with a class should not carry it.
``Trace(redact=True)`` and ``trace.to_pcap(path, redact=True)`` write those
values as ``"NOT SHOWN"`` and keep everything else, Content-Length
included. The password itself must appear nowhere: not in any log line at
DEBUG (with every message logged in full), not in any traced byte, not in any
``repr``.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from siplab.aio.debug import disable_debug
from siplab.aio.server import LabServer
from siplab.aio.useragent import UserAgent
from siplab.ids import IdSource
from siplab.lab import Trace, read_pcap
from siplab.lab.trace import HIDDEN, redact_credentials
from siplab.sip.auth import parse_credentials
from siplab.sip.message import Request, parse_message
from tests.helpers import crlf
from tests.security.lab import LOOPBACK, USERS, run

AUTHORIZED_MESSAGE = crlf("""
    MESSAGE sip:bob@127.0.0.1 SIP/2.0
    Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-redact
    Max-Forwards: 70
    From: <sip:alice@127.0.0.1>;tag=a1
    To: <sip:bob@127.0.0.1>
    Call-ID: redact@127.0.0.1
    CSeq: 2 MESSAGE
    Proxy-Authorization: Digest username="alice", realm="127.0.0.1", nonce="n0nce",
     uri="sip:bob@127.0.0.1", response="6629fae49393a05397450978507c4ef1",
     algorithm=MD5, cnonce="0a4f113b", qop=auth, nc=00000001
    Content-Type: text/plain
    Content-Length: 18

    authorization: hi!""")
RESPONSE_RE = re.compile(rb'response="([0-9a-f]{32,64})"')


def test_redact_hides_response_and_cnonce_and_keeps_the_rest() -> None:
    hidden = redact_credentials(AUTHORIZED_MESSAGE)
    assert b"6629fae4" not in hidden
    assert b"0a4f113b" not in hidden
    message = parse_message(hidden)
    assert isinstance(message, Request)
    credentials = parse_credentials(message.headers.get("Proxy-Authorization") or "")
    assert (credentials.response, credentials.cnonce) == (HIDDEN, HIDDEN)
    assert (credentials.username, credentials.nonce, credentials.nc) == ("alice", "n0nce", 1)
    assert message.body == b"authorization: hi!"  # the body is not touched
    assert message.content_length == len(message.body)


def test_messages_without_credentials_come_back_unchanged() -> None:
    plain = AUTHORIZED_MESSAGE.replace(b"Proxy-Authorization", b"X-Note")
    assert redact_credentials(plain) == plain


async def register_call_and_message(transport: str, *traces: Trace) -> None:
    """alice and bob register, alice calls bob, sends a MESSAGE, hangs up; every hook traced."""
    def hook(record: object) -> None:
        for trace in traces:
            trace(record)  # type: ignore[arg-type]

    async with LabServer(udp=[(LOOPBACK, 0)], tcp=[(LOOPBACK, 0)], users=USERS,
                         ids=IdSource("redact-lab"), trace=hook) as server:
        peer = server.address(transport)
        assert peer is not None
        url = f"{transport}://{peer.host}:{peer.port}"
        async with UserAgent(f"sip:alice@{LOOPBACK}", USERS["alice"], transport=url,
                             media=False, debug=True, trace=hook) as alice, \
                UserAgent(f"sip:bob@{LOOPBACK}", USERS["bob"], transport=url, media=False,
                          debug=True, trace=hook) as bob:
            await alice.register(timeout=5)
            await bob.register(timeout=5)
            call = await alice.call("bob")
            invitation = await bob.next_invitation(timeout=5)
            await invitation.accept()
            await call.established(timeout=5)
            await alice.message("bob", "redacted?", timeout=5)
            await call.bye(timeout=5)
            for shown in (repr(alice), repr(bob), repr(server), repr(server.core.config),
                          repr(alice.core.config)):
                for password in USERS.values():
                    assert password not in shown


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_no_password_in_any_debug_log_or_traced_byte(transport: str,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    trace = Trace()
    try:
        with caplog.at_level(logging.DEBUG):
            run(register_call_and_message(transport, trace))
    finally:
        disable_debug()  # UserAgent(debug=True) turned the siplab loggers to DEBUG
    assert "REGISTER sip:127.0.0.1 SIP/2.0" in caplog.text  # messages were logged in full
    assert "Authorization: Digest" in caplog.text
    for password in USERS.values():
        assert password not in caplog.text
        assert not any(password.encode() in record.data for record in trace.records)


def test_trace_and_pcap_redact_the_digest_answers(tmp_path: Path) -> None:
    plain, redacted = Trace(), Trace(redact=True)
    try:
        run(register_call_and_message("udp", plain, redacted))
    finally:
        disable_debug()
    secrets = {m.group(1) for r in plain.records for m in RESPONSE_RE.finditer(r.data)}
    assert len(secrets) >= 2  # alice's and bob's answers, at least
    assert len(redacted.records) == len(plain.records)
    for record in redacted.records:
        assert not any(secret in record.data for secret in secrets)
    answered = [m for m in redacted.messages if m.message.headers.get("Authorization")]
    assert answered
    for wire in answered:
        assert f'response="{HIDDEN}"' in (wire.message.headers.get("Authorization") or "")
        assert wire.message.content_length == len(wire.message.body)

    shared = plain.to_pcap(tmp_path / "shared.pcap", redact=True)
    kept = plain.to_pcap(tmp_path / "kept.pcap")
    assert any(secret in kept.read_bytes() for secret in secrets)
    assert not any(secret in shared.read_bytes() for secret in secrets)
    capture = read_pcap(shared)
    from_file = [m for m in capture.sip_messages if m.message.headers.get("Authorization")]
    assert len(from_file) == len(answered)
    assert all(HIDDEN in (m.message.headers.get("Authorization") or "") for m in from_file)
