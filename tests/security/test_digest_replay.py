"""Digest nonces expire and replays are refused, end to end through LabServer over UDP.

RFC 7616 §3.3 and §5.5, RFC 3261 §22: the registrar signs its nonces and
remembers the highest ``nc`` seen for each (siplab.sip.auth_server). A
REGISTER captured off the network and sent again carries an ``nc`` already
used: it is refused with a new challenge (401, not stale) and changes no
binding, even when the attacker rewrites the parts digest does not cover
(the Via branch, the Contact: that is how a replay would steal calls). A
nonce older than ``nonce_lifetime`` is refused with ``stale=TRUE`` when the
answer was right, and the user agent, which reuses its last nonce for its
refreshes (§22.3), answers the new challenge without reporting any failure.
"""

from __future__ import annotations

import re

from siplab.aio.server import LabServer
from siplab.aio.useragent import UserAgent
from siplab.ids import IdSource
from siplab.lab import Trace
from siplab.sip.auth import challenges_from
from siplab.sip.events import Registered, RegistrationFailed
from siplab.sip.message import Request, parse_message
from siplab.sip.registration import RegistrationState
from siplab.sip.timers import TimerConfig
from tests.faults.lab import eventually
from tests.security.lab import LOOPBACK, USERS, UdpClient, run

FAST_SERVER = TimerConfig(t1=0.01, t2=0.04, t4=0.05)  # Timer J: 64*T1 = 0.64 s


def lab_server(trace: Trace, **options: object) -> LabServer:
    return LabServer(udp=[(LOOPBACK, 0)], users=USERS, ids=IdSource("replay"), trace=trace,
                     **options)  # type: ignore[arg-type]


def alice_for(server: LabServer, **options: object) -> UserAgent:
    udp = server.address("udp")
    assert udp is not None
    return UserAgent(f"sip:alice@{LOOPBACK}", USERS["alice"], transport=f"udp://{udp.host}:"
                     f"{udp.port}", ids=IdSource("replay-alice"), media=False,
                     **options)  # type: ignore[arg-type]


def registers_with_credentials(trace: Trace) -> list[Request]:
    found = []
    for message in trace.messages:
        request = message.message
        if isinstance(request, Request) and request.headers.get("Authorization"):
            found.append(request)
    return found


def test_replayed_register_is_refused_and_changes_no_binding() -> None:
    async def scenario() -> None:
        trace = Trace()
        async with lab_server(trace, timers=FAST_SERVER) as server, \
                alice_for(server) as alice:
            await alice.register(timeout=5)
            [captured] = registers_with_credentials(trace)
            [binding] = list(server.core.location)
            await eventually(lambda: server.stats().server_transactions == 0, 3,
                             "the REGISTER transaction over (Timer J)")
            attacker = UdpClient()
            try:
                udp = server.address("udp")
                assert udp is not None
                # 1. The captured bytes, as they were (the nc is used up).
                await attacker.send(captured.to_bytes(), udp)
                refused = await attacker.receive()
                assert refused.status == 401
                [challenge] = challenges_from(refused)
                assert not challenge.stale
                # 2. Rewritten where digest does not look: a new branch, the
                #    attacker's Contact. Still the same nc: refused.
                text = captured.to_bytes().decode()
                text = re.sub(r"branch=[^;\r\n]+", "branch=z9hG4bK-attacker", text)
                text = re.sub(r"Contact: <[^>]+>",
                              f"Contact: <sip:alice@{LOOPBACK}:{attacker.port}>", text)
                await attacker.send(text.encode(), udp)
                assert (await attacker.receive()).status == 401
            finally:
                attacker.close()
            assert list(server.core.location) == [binding]  # alice's, untouched

    run(scenario())


def test_expired_nonce_gets_stale_and_the_phone_answers_it_transparently() -> None:
    async def scenario() -> None:
        trace = Trace()
        async with lab_server(trace, nonce_lifetime=0.5, min_expires=1) as server, \
                alice_for(server, register_expires=2) as alice:
            await alice.register(timeout=5)
            registration = alice.core.registration
            assert registration is not None

            def stale_challenges() -> list[object]:
                return [m for m in trace.messages if m.label == "401 Unauthorized"
                        and any(c.stale for c in challenges_from(m.message))]

            # The refresh 1 s later reuses the 1 s old nonce: stale=TRUE, answered.
            await eventually(lambda: bool(stale_challenges()), 5, "a stale=TRUE challenge")
            await eventually(lambda: sum(isinstance(e, Registered)
                                         for e in alice.registerer().events) >= 2, 5,
                             "the refresh registered")
            assert not [e for e in alice.registerer().events
                        if isinstance(e, RegistrationFailed)]
            assert registration.state is RegistrationState.Registered
            labels = [m.label for m in trace.messages]
            at = labels.index("401 Unauthorized", 2)  # the first challenge of a refresh
            assert labels[at - 1:at + 3] == ["REGISTER", "401 Unauthorized", "REGISTER",
                                             "200 OK"]
            refresh = parse_message(trace.messages[at - 1].data)
            assert isinstance(refresh, Request)
            assert refresh.headers.get("Authorization")  # the old nonce, nc=00000002

    run(scenario())
