"""A peer that vanishes in the middle of a call: the call still ends, with a BYE.

Nothing in SIP says "the other phone is gone": its process died, its laptop
closed. Two things notice (RFC 3261 §12.2.1.2, RFC 3550 §6.3.5):

* its media stops: no RTP (and no RTCP) for the user agent's ``rtp_timeout``
  ends the call with a BYE, cause ``"rtp timeout"``;
* in-call OPTIONS keep-alives (``keepalive_interval``) get a 408 from the
  proxy, or nothing: the call ends with a BYE, cause ``"keepalive failed"``.

Bob "vanishes" by closing his sockets without a word: his SIP transport, and
his RTP endpoint (whose last RTCP BYE is all alice hears, and RFC 3550 lets
that pass for silence). The BYE alice sends then finds nobody; the proxy's
408 (or alice's Timer F) ends it.
"""

from __future__ import annotations

from siplab.aio.useragent import UserAgent
from siplab.lab import Trace
from siplab.sip.events import SessionTerminated
from tests.faults.lab import eventually, lab, run


async def vanish(ua: UserAgent) -> None:
    """Close ``ua``'s sockets (SIP and RTP) without any BYE: it is simply gone."""
    for media in ua.open_media:
        await media.endpoint.close()  # type: ignore[union-attr]
    driver = ua._driver
    assert driver is not None
    await driver.transports.close()


def test_no_rtp_for_the_timeout_ends_the_call_with_bye() -> None:
    async def scenario() -> None:
        trace = Trace()
        async with lab(("alice", "bob"), media=True, audio_source="tone:440",
                       server_options={"trace": trace}) as (_server, [alice, bob]):
            alice.rtp_timeout = 1.0
            bob.auto_answer = True
            call = await alice.call("bob")
            await call.established(timeout=5)
            media = call.media
            assert media is not None
            await eventually(lambda: media.last_received is not None, 3, "RTP from bob")
            await vanish(bob)
            cause = await call.terminated(timeout=10)
            assert cause == "rtp timeout"
            [ended] = [e for e in call.events if isinstance(e, SessionTerminated)]
            assert ended.cause == "rtp timeout"
            [(at, _, state)] = [row for row in call.core.history if row[1] == "media timeout"]
            assert state == "Terminating"
            assert media.last_received is not None
            assert at - media.last_received >= 1.0
            byes = [m for m in trace.messages if m.label == "BYE"]
            assert byes
            assert byes[0].src.port == alice.local.port
            assert alice.open_media == []

    run(scenario(), timeout=30)


def test_rtp_timeout_waits_while_media_flows() -> None:
    async def scenario() -> None:
        async with lab(("alice", "bob"), media=True, audio_source="tone:440",
                       rtp_timeout=0.5) as (_server, [alice, bob]):
            bob.auto_answer = True
            call = await alice.call("bob")
            await call.established(timeout=5)
            await eventually(lambda: call.media is not None and
                             call.media.last_received is not None, 3, "RTP from bob")
            watchdog = call._watchdog
            assert watchdog is not None
            assert watchdog.running
            await eventually(lambda: call.media is not None and call.media.packets_received > 75,
                             5, "1.5 s of bob's RTP")  # three timeouts' worth
            assert call.state == "Established"
            assert not watchdog.fired
            assert await call.bye(timeout=5) == "bye"
            assert not watchdog.running

    run(scenario(), timeout=30)


def test_failed_keepalive_ends_the_call_with_bye() -> None:
    async def scenario() -> None:
        trace = Trace()
        async with lab(("alice", "bob"), keepalive_interval=0.3,
                       server_options={"trace": trace}) as (_server, [alice, bob]):
            call = await alice.call("bob")
            invitation = await bob.next_invitation(timeout=5)
            await invitation.accept()
            await call.established(timeout=5)
            await eventually(lambda: any(m.label == "OPTIONS" for m in trace.messages), 3,
                             "a keep-alive OPTIONS")
            await vanish(bob)
            assert await call.terminated(timeout=15) == "keepalive failed"
            labels = [m.label for m in trace.messages]
            assert "BYE" in labels
            assert "408 Request Timeout" in labels  # the proxy's answer for the vanished bob

    run(scenario(), timeout=30)
