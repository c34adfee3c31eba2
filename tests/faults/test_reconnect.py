"""A dropped TCP or WebSocket connection: the phone connects again and registers again.

Over TCP and WebSocket a phone receives everything over the one connection it
opened (RFC 3261 §18, RFC 7118, RFC 5626): the server reaches it only through
that connection, so when it breaks (the server closed it, or restarted) the
phone is unreachable until it connects again. Like JsSIP and SIP.js, the
user agent notices the close, connects again after 0.5, 1, 2... s, and sends
a REGISTER at once, keeping its Contact, so the new binding replaces the old
one and is reached over the new connection.
"""

from __future__ import annotations

import asyncio

import pytest

from siplab.aio.useragent import MAX_RECONNECT_DELAY, reconnect_delay
from siplab.sip.registration import RegistrationState
from tests.faults.lab import connection_of, eventually, lab, run


def test_reconnect_delays_double_up_to_thirty_seconds() -> None:
    assert [reconnect_delay(n) for n in range(8)] == [0.5, 1, 2, 4, 8, 16, 30, 30]
    assert reconnect_delay(10_000) == MAX_RECONNECT_DELAY


@pytest.mark.parametrize("transport", ["tcp", "ws"])
def test_connection_closed_by_the_server_is_opened_again_and_registered(transport: str) -> None:
    async def scenario() -> None:
        async with lab(("alice", "bob"), transport) as (server, [alice, bob]):
            contact = alice.core.origin.contact
            old = connection_of(server, alice)
            assert server.transports.close_connection(old)
            await eventually(lambda: alice.reconnections == 1, 5, "alice connected again")
            new = connection_of(server, alice)
            assert new != old
            await eventually(lambda: [b.source for b in server.core.location
                                      if b.aor == "sip:alice@127.0.0.1"] == [new], 5,
                             "alice's binding reached over the new connection")
            assert alice.core.origin.contact == contact  # the same binding, moved
            assert alice.registerer().state is RegistrationState.Registered
            call = await bob.call("alice")  # the server reaches alice again
            invitation = await alice.next_invitation(timeout=5)
            await invitation.accept()
            await call.established(timeout=5)
            assert await call.bye(timeout=5) == "bye"

    run(scenario(), timeout=30)


@pytest.mark.parametrize("transport", ["tcp", "ws"])
def test_phone_reconnects_and_registers_after_a_server_restart(transport: str) -> None:
    async def scenario() -> None:
        async with lab(("alice",), transport) as (server, [alice]):
            await server.stop()
            await asyncio.sleep(1.2)  # the first attempt to connect again is refused
            assert alice.reconnections == 0
            await server.start()
            await eventually(lambda: server.stats().bindings == 1, 10,
                             "alice registered with the restarted server")
            assert alice.reconnections == 1
            assert alice.registerer().state is RegistrationState.Registered

    run(scenario(), timeout=30)
