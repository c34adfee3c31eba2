"""sipp accepts siplab's LabServer as registrar and as proxy (RFC 3261 §10.3, §16, §22).

Over UDP and over TCP, sipp talks to siplab's
:class:`~siplab.aio.server.LabServer` on 127.0.0.1
(:class:`~tests.interop.peers.SiplabServer`: accounts with passwords, digest
offering MD5 first because sipp 3.6 knows nothing else, FACTS.md):

* **registration with digest** (``sipp/register_digest.xml``, RFC 3665 §2.1):
  REGISTER, 401 with a challenge, REGISTER with credentials, 200 listing the
  binding with its lifetime;
* **a wrong password** (``sipp/register_wrong_password.xml``, RFC 3665 §2.5):
  the same, and the second REGISTER gets 403 Forbidden (siplab's registrar
  refuses a wrong digest for good rather than challenging again);
* **a call through the proxy**: one sipp registers as bob and waits
  (``sipp/uas_registered.xml``), another calls bob at the server
  (``sipp/uac_call.xml``). The proxy finds bob's binding, forwards the INVITE
  with a Record-Route, and both sipps send their in-dialog requests (ACK, BYE)
  along the route set they learned from it (§12.1, §16.12)::

      caller sipp            siplab proxy             bob's sipp
        |                        |   REGISTER, 401, REGISTER, 200
        |                        |<----------------------->|
        | INVITE bob@server      |                         |
        |----------------------->| INVITE bob's contact    |
        |<-- 100 Trying ---------| Record-Route: server;lr |
        |                        |------------------------>|
        |<-- 180, 200 -----------|<-- 180, 200 ------------|
        | ACK / BYE (Route: server;lr)                     |
        |----------------------->|------------------------>|
        |<-- 200 (BYE) ----------|<-- 200 (BYE) -----------|

"sipp is satisfied" means: exit code 0, and its statistics count every call
successful. On siplab's side the location service holds the expected
binding (its contact, where it came from, the Call-ID and CSeq of the last
REGISTER), and afterwards the server holds nothing else: the
transactions of a finished call only linger to absorb retransmissions
(Timers J, I, L, M; at most 64*T1 = 32 s), so the test runs the server's
clock past them and then ``stats()`` must be idle.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.interop.peers import LOOPBACK, SiplabLog, SiplabServer, Sipp, SippResult, explain

pytestmark = pytest.mark.interop

TRANSPORTS = ["udp", "tcp"]
USERS = {"alice": "wonderland", "bob": "builder"}
#: Both sipps of a proxied call make the same Call-ID for their first call (uas_registered.xml).
SHARED_CALL_ID = "call-%u@siplab.test"


def check_sipp_passed(result: SippResult, calls: int, why: str) -> None:
    assert result.returncode == 0, why
    assert result.successful_calls == calls, why
    assert result.failed_calls == 0, why
    assert result.errors.strip() == "", why


def check_server_idle(server: SiplabServer, bindings: int, why: str) -> None:
    """Nothing waited for anything; after the lingering timers, nothing is left but bindings."""
    assert server.waiting_before == [], why
    stats = server.stats_after
    assert stats is not None, why
    assert stats.idle, f"{stats}\n{why}"
    assert (stats.server_transactions, stats.client_transactions, stats.response_contexts) \
        == (0, 0, 0), why
    assert stats.bindings == bindings, f"{stats}\n{why}"


async def register(transport: str, tmp_path: Path, scenario: str, password: str,
                   calls: int) -> tuple[SiplabServer, SippResult]:
    server = SiplabServer(USERS)
    sipp = Sipp("registrar_client", scenario, transport, tmp_path, service="alice",
                calls=calls, args=["-au", "alice", "-ap", password])
    try:
        async with server:
            sipp.target = server.address(transport)
            await sipp.start()
            result = await sipp.finish()
            server.settle()
        return server, result
    finally:
        await sipp.kill()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_sipp_registers_at_the_lab_server_with_md5_digest(
        transport: str, tmp_path: Path) -> None:
    with SiplabLog() as log:
        server, result = asyncio.run(
            register(transport, tmp_path, "register_digest", USERS["alice"], calls=2))
    why = explain(result, server, log)
    check_sipp_passed(result, 2, why)

    # Each registration: a 401 with an MD5 challenge first, then the 200.
    assert result.trace.count("SIP/2.0 401 Unauthorized") == 2, why
    assert result.trace.count("SIP/2.0 200 OK") == 2, why
    for challenge in messages(result.trace, "SIP/2.0 401 "):
        offers = [line for line in challenge.splitlines() if line.startswith("WWW-Authenticate:")]
        assert offers, why
        assert "algorithm=MD5" in offers[0], why  # the one sipp 3.6 answers (FACTS.md)
    assert result.trace.count("Authorization: Digest username=\"alice\"") == 2, why

    # The registrar's story: alice's one contact; the second REGISTER (another
    # Call-ID, §10.3 step 7) replaced the binding the first one made.
    port = result.port
    [binding] = server.bindings()
    assert binding.aor == f"sip:alice@{LOOPBACK}", why
    assert str(binding.uri) == f"sip:alice@{LOOPBACK}:{port};transport={transport.upper()}", why
    assert binding.source.transport == transport, why
    call_ids = [m.split("Call-ID: ")[1].split("\n")[0] for m in messages(result.trace, "REGISTER ")]
    assert (binding.call_id, binding.cseq) == (call_ids[-1], 2), why
    check_server_idle(server, bindings=1, why=why)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_sipp_with_a_wrong_password_gets_403_and_no_binding(
        transport: str, tmp_path: Path) -> None:
    with SiplabLog() as log:
        server, result = asyncio.run(
            register(transport, tmp_path, "register_wrong_password", "not-the-password", calls=1))
    why = explain(result, server, log)
    check_sipp_passed(result, 1, why)
    assert result.trace.count("SIP/2.0 401 Unauthorized") == 1, why
    assert result.trace.count("SIP/2.0 403 Forbidden") == 1, why
    assert server.bindings() == [], why
    check_server_idle(server, bindings=0, why=why)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_sipp_calls_a_registered_sipp_through_the_lab_proxy(
        transport: str, tmp_path: Path) -> None:
    server = SiplabServer(USERS)
    callee = Sipp("callee", "uas_registered", transport, tmp_path, service="bob",
                  args=["-au", "bob", "-ap", USERS["bob"], "-cid_str", SHARED_CALL_ID])
    caller = Sipp("caller", "uac_call", transport, tmp_path, service="bob",
                  args=["-cid_str", SHARED_CALL_ID])

    async def run() -> tuple[SippResult, SippResult]:
        try:
            async with server:
                callee.target = caller.target = server.address(transport)
                await callee.start()
                try:  # the caller starts once bob is registered
                    await server.registered("bob")
                except TimeoutError:
                    calling = SippResult("caller", caller.port, -1,
                                         "(not started: bob never registered)", "", "", {})
                else:
                    await caller.start()
                    calling = await caller.finish()
                called = await callee.finish()
                server.settle()
                return calling, called
        finally:
            await caller.kill()
            await callee.kill()

    with SiplabLog() as log:
        calling, called = asyncio.run(run())
    why = explain(calling, called, server, log)
    check_sipp_passed(calling, 1, why)
    check_sipp_passed(called, 1, why)

    # The caller learned the route set from the 200 and sent its ACK and BYE along it.
    port = server.address(transport).port
    assert f"Record-Route: <sip:{LOOPBACK}:{port}" in calling.trace, why
    for method in ("ACK", "BYE"):
        [sent] = messages(calling.trace, f"{method} ")
        assert f"\nRoute: <sip:{LOOPBACK}:{port}" in sent, why

    # The proxy sent INVITE, ACK and BYE to where bob registered from, and took
    # its own Route out of the ACK and the BYE (§16.4) before forwarding them.
    [binding] = server.bindings()
    assert binding.aor == f"sip:bob@{LOOPBACK}", why
    to_bob = [record.data.split(b" ", 1)[0] for record in server.wire
              if record.direction == "out" and record.remote == binding.source]
    assert [m for m in to_bob if m in (b"INVITE", b"ACK", b"BYE")] == \
        [b"INVITE", b"ACK", b"BYE"], why
    received = messages(called.trace, "INVITE ", "ACK ", "BYE ")
    assert [m.split(" ", 1)[0] for m in received] == ["INVITE", "ACK", "BYE"], why
    assert all("\nRoute:" not in m for m in received), why
    check_server_idle(server, bindings=1, why=why)


def messages(trace: str, *starts: str) -> list[str]:
    """The messages in a sipp -trace_msg file whose first line starts with one of ``starts``."""
    return [block for block in trace.split("\n\n") if block.startswith(starts)]
