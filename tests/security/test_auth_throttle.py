"""Repeated wrong passwords from one source are answered later and later (RFC 3261 §22, §26.2).

Each password guess costs a REGISTER, a 401 and a REGISTER with a digest
answer; the registrar's 403 Forbidden is its verdict. The lab server counts
such failures by source address and by user name (siplab.sip.auth_throttle):
after five within a minute, the next 403 is held back 2 s (then 4, 8, 16).
Nothing sleeps: the sans-I/O server holds the response on a timer, and the
client's retransmissions meanwhile are absorbed by the server transaction. A
correct password is never held back, from the guessing source or another.

First on a SimNetwork (exact times: the server core at 10.0.0.9, alice's
phone at 10.0.0.1 guessing, bob's at 10.0.0.2), then end to end through
LabServer over UDP with a shorter delay.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from siplab.aio.errors import RegistrationError
from siplab.aio.server import LabServer
from siplab.aio.useragent import UserAgent
from siplab.ids import IdSource
from siplab.lab import SimNetwork
from siplab.sip.auth_throttle import ThrottleConfig
from siplab.sip.events import Registered, RegistrationFailed
from siplab.sip.server import ServerConfig, ServerCore
from siplab.sip.transport import Peer
from siplab.sip.useragent import UserAgentConfig, UserAgentCore
from tests.security.lab import LOOPBACK, USERS, run
from tests.sip.ladders import drain, phone

SERVER = Peer("10.0.0.9", 5060)


def sim_lab(throttle: ThrottleConfig | None) -> SimNetwork:
    net = SimNetwork(delay=0.01)
    config = ServerConfig(listen=(SERVER,), users=USERS, auth_throttle=throttle)
    net.add(ServerCore(config, ids=IdSource("throttle")), SERVER.host, SERVER.port,
            name="server")
    return net


def guess(net: SimNetwork, times: int) -> list[float]:
    """``times`` registrations of alice with a wrong password; how long each 403 took
    to come back after the REGISTER that carried the guess."""
    mallory = phone(net, "alice", domain=SERVER.host, password="guess")
    took = []
    for _ in range(times):
        start = len(net.records)
        mallory.register(net.now)
        deadline = net.now + 30.0
        while net.now < deadline and not any(r.label == "403 Forbidden"
                                             for r in net.records[start:]):
            net.run_until(net.now + 0.1)
        records = net.records[start:]
        answered = [r for r in records if r.label == "REGISTER"][1]  # the one with the guess
        forbidden = next(r for r in records if r.label == "403 Forbidden")
        took.append(round(forbidden.time_sent - answered.time_delivered, 3))  # type: ignore[operator]
        assert isinstance(drain(mallory)[-1], RegistrationFailed)
    return took


def test_the_sixth_wrong_password_is_answered_two_seconds_late() -> None:
    net = sim_lab(ThrottleConfig(max_failures=5, delay=2.0, max_delay=16.0))
    assert guess(net, 8) == [0, 0, 0, 0, 0, 2.0, 4.0, 8.0]


def test_without_a_throttle_every_403_is_immediate() -> None:
    net = sim_lab(None)
    assert guess(net, 8) == [0] * 8


def test_a_correct_password_from_another_source_is_not_held_back() -> None:
    net = sim_lab(ThrottleConfig(max_failures=5, delay=2.0))
    guess(net, 7)  # alice's account under attack from 10.0.0.1
    bob = phone(net, "bob", domain=SERVER.host, password=USERS["bob"])
    started = net.now
    bob.register(net.now)
    net.run_until(net.now + 1.0)
    registered = [r for r in net.records if r.label == "200 OK" and r.dst.host == "10.0.0.2"]
    assert registered[0].time_sent - started < 0.1
    assert isinstance(drain(bob)[-1], Registered)


def test_alice_with_her_password_from_another_source_is_not_held_back_either() -> None:
    net = sim_lab(ThrottleConfig(max_failures=5, delay=2.0))
    guess(net, 7)  # "user alice" has failed 7 times too
    config = UserAgentConfig(aor=f"sip:alice@{SERVER.host}", local=Peer("10.0.0.3", 5060),
                             password=USERS["alice"])
    alice = UserAgentCore(config, ids=IdSource("the real alice"))
    net.add(alice, "10.0.0.3", 5060, name="alice's laptop")
    started = net.now
    alice.register(net.now)
    net.run_until(net.now + 1.0)
    answers = [r for r in net.records if r.dst.host == "10.0.0.3" and r.time_sent >= started]
    assert [r.label for r in answers] == ["401 Unauthorized", "200 OK"]
    assert answers[-1].time_sent - started < 0.1


def test_labserver_over_udp_holds_back_the_sixth_failure() -> None:
    async def scenario() -> list[float]:
        throttle = ThrottleConfig(max_failures=5, delay=0.4, max_delay=0.4)
        async with LabServer(udp=[(LOOPBACK, 0)], users=USERS, ids=IdSource("throttle-lab"),
                             auth_throttle=throttle) as server:
            udp = server.address("udp")
            assert udp is not None
            url = f"udp://{udp.host}:{udp.port}"
            took = []
            async with UserAgent(f"sip:alice@{LOOPBACK}", "wrong", transport=url,
                                 media=False) as mallory:
                for _ in range(6):
                    started = time.monotonic()
                    with pytest.raises(RegistrationError) as refused:
                        await mallory.register(timeout=5)
                    assert refused.value.status == 403
                    took.append(time.monotonic() - started)
            async with UserAgent(f"sip:alice@{LOOPBACK}", USERS["alice"], transport=url,
                                 media=False) as alice:
                started = time.monotonic()
                await alice.register(timeout=5)  # the same source, the right password
                took.append(time.monotonic() - started)
                await asyncio.sleep(0)
            return took

    took = run(scenario())
    assert all(t < 0.3 for t in took[:5]), took
    assert took[5] >= 0.4, took
    assert took[6] < 0.3, took
