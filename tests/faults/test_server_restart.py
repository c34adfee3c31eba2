"""The lab server restarts and forgets every binding: the phones register again by themselves.

RFC 3261 §10.2.4: a registration lasts only as long as its refreshes; a
registrar that lost its bindings learns them back at the next REGISTER. The
user agents here ask for 2 s (the server's ``min_expires`` is 1), so they
refresh every second, reusing the last nonce (§22.3); the restarted server
no longer knows it (a new secret signs its nonces), challenges again, and the
phone answers. Over UDP, a refresh that fails while the server is down is
tried again after 1, 2, 4... s (state ``Retrying``) until the server is back.
Over TCP the connection itself breaks: the phone connects again and
registers at once (tests/faults/test_reconnect.py).
"""

from __future__ import annotations

import asyncio

from siplab.lab import Trace
from siplab.sip.events import Registered, RegistrationFailed
from siplab.sip.registration import RegistrationState
from tests.faults.lab import eventually, lab, run

SHORT = {"min_expires": 1}


def test_udp_phones_register_again_after_a_restart() -> None:
    async def scenario() -> None:
        trace = Trace()
        async with lab(("alice", "bob"), server_options={**SHORT, "trace": trace},
                       register_expires=2) as (server, [alice, bob]):
            ports = list(server.addresses)
            assert server.stats().bindings == 2
            await server.restart()
            assert server.addresses == ports  # the same ports again
            assert server.stats().bindings == 0  # everything was forgotten
            trace.clear()
            await eventually(lambda: server.stats().bindings == 2, 5,
                             "both phones registered with the new server")
            assert alice.registerer().state is RegistrationState.Registered
            assert alice.core.registration is not None
            call_id = alice.core.registration.call_id  # the same Call-ID as before (§10.2.4)
            labels = [m.label for m in trace.messages if m.call_id == call_id]
            # The reused nonce is not the new server's: challenged, answered, registered.
            assert labels[:4] == ["REGISTER", "401 Unauthorized", "REGISTER", "200 OK"]
            call = await alice.call("bob")
            invitation = await bob.next_invitation(timeout=5)
            await invitation.accept()
            await call.established(timeout=5)
            await call.bye(timeout=5)

    run(scenario(), timeout=30)


def test_udp_phone_retries_while_the_server_is_down() -> None:
    async def scenario() -> None:
        async with lab(("alice",), server_options=SHORT,
                       register_expires=2) as (server, [alice]):
            registration = alice.core.registration
            assert registration is not None
            await server.stop()
            # The refresh gets no answer: Timer F (64*T1 = 3.2 s) ends it.
            await eventually(lambda: registration.state is RegistrationState.Retrying, 8,
                             "the failed refresh retried")
            failed = [e for e in alice.registerer().events if isinstance(e, RegistrationFailed)]
            assert len(failed) == 1
            assert failed[0].status is None
            await asyncio.sleep(1.5)  # let a retry or two fail as well
            registered_before = sum(isinstance(e, Registered) for e in alice.registerer().events)
            await server.start()
            await eventually(lambda: server.stats().bindings == 1, 15,
                             "alice registered with the server that came back")
            await eventually(lambda: registration.state is RegistrationState.Registered, 5,
                             "alice Registered again")
            after = sum(isinstance(e, Registered) for e in alice.registerer().events)
            assert after > registered_before
            retries = [name for _, name, _ in registration.history if name == "retry due"]
            assert retries  # it came back through the retries, with backoff

    run(scenario(), timeout=40)
