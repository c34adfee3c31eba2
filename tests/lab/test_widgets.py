"""The Dialer and LiveLadder widgets, driven headlessly as a person would drive them.

Two dialers on ``siplab.lab.start()`` (real UDP sockets on 127.0.0.1): the
buttons are clicked with ``.click()``, the number typed by setting
``.value``, and the outcome read back from the widgets' values. Each step is
one piece of SIP: REGISTER with its digest round (RFC 3261 §10, §22), INVITE
/ 180 / 200 / ACK (§13), CANCEL or BYE (§9, §15), 486 Busy Here, re-INVITE
with ``a=sendonly`` for hold (RFC 3264 §8.4), RFC 4733 DTMF in the RTP
stream, MESSAGE (RFC 3428). Every wait is bounded; nothing sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from typing import Any, TypeVar

import pytest

import siplab.lab
from siplab.aio.useragent import UserAgent
from siplab.lab import Dialer, Lab, Light, LiveLadder, Phase
from siplab.lab.widgets_ladder import contains_in_order
from siplab.lab.widgets_state import BUTTONS, CALL_BUTTONS, describe_end, format_duration

pytest.importorskip("ipywidgets")

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T], timeout: float = 20.0) -> T:
    async def bounded() -> T:
        async with asyncio.timeout(timeout):
            return await coroutine

    return asyncio.run(bounded())


@contextlib.asynccontextmanager
async def two_dialers(register: bool = True) -> AsyncIterator[tuple[Lab, Dialer, Dialer]]:
    """A lab with Alice's and Bob's dialers, both registered unless told otherwise."""
    lab = await siplab.lab.start(users=("alice", "bob"), transports=("udp",))
    alice, bob = siplab.lab.dialers(lab, "alice", "bob").children
    try:
        await alice.ready()
        await bob.ready()
        if register:
            alice.register_button.click()
            bob.register_button.click()
            await alice.wait_until(lambda: alice.light is Light.GREEN)
            await bob.wait_until(lambda: bob.light is Light.GREEN)
        yield lab, alice, bob
    finally:
        alice.close()
        bob.close()
        await lab.stop()


async def answered_call(alice: Dialer, bob: Dialer) -> None:
    """Alice dials bob and clicks Call; Bob sees the notice and clicks Answer."""
    alice.number.value = "bob"
    alice.call_button.click()
    await bob.wait_for_phase(Phase.RINGING)
    bob.answer_button.click()
    await alice.wait_for_phase(Phase.IN_CALL)
    await bob.wait_for_phase(Phase.IN_CALL)


def enabled(dialer: Dialer) -> set[str]:
    return {name for name in CALL_BUTTONS if not getattr(dialer, f"{name}_button").disabled}


# -- what the states mean (no sockets) ---------------------------------------------------


def test_call_timer_shows_minutes_and_seconds_then_hours() -> None:
    assert format_duration(0.99) == "00:00"
    assert format_duration(1.0) == "00:01"
    assert format_duration(754.2) == "12:34"
    assert format_duration(3723) == "1:02:03"


def test_end_of_a_call_names_the_final_status_when_there_was_one() -> None:
    assert describe_end("rejected", 486) == "486 Busy Here (rejected)"
    assert describe_end("remote bye", None) == "the other side hung up"
    assert describe_end("cancelled", 487) == "487 Request Terminated (cancelled)"


def test_only_the_buttons_of_the_phase_are_enabled_in_the_table() -> None:
    assert BUTTONS[Phase.IDLE] == {"call"}
    assert BUTTONS[Phase.RINGING] == {"answer", "reject"}
    assert BUTTONS[Phase.CALLING] == {"hangup"}  # CANCEL
    assert BUTTONS[Phase.IN_CALL] == BUTTONS[Phase.ON_HOLD] == {"hold", "hangup"}
    assert set(BUTTONS) == set(Phase)


# -- registration -------------------------------------------------------------------------


def test_light_turns_green_after_register_and_grey_after_unregister() -> None:
    async def scenario() -> None:
        async with two_dialers(register=False) as (_, alice, _bob):
            assert alice.light is Light.GREY
            assert "siplab-light-grey" in alice.status_light.value
            assert alice.unregister_button.disabled
            alice.register_button.click()
            await alice.wait_until(lambda: alice.light is Light.GREEN)
            assert "siplab-light-green" in alice.status_light.value
            assert alice.registration_label.value == "registered (600 s)"
            assert alice.register_button.disabled
            alice.unregister_button.click()
            await alice.wait_until(lambda: alice.light is Light.GREY)
            await alice.settled()
            assert [line.split(maxsplit=1)[1] for line in alice.log_lines[-4:]] == [
                "REGISTER sent",
                "200 OK to REGISTER: registered for 600 s",
                "REGISTER with Expires: 0 sent",
                "200 OK to REGISTER (Expires: 0): unregistered",
            ]

    run(scenario())


def test_wrong_password_turns_the_light_red_with_the_status() -> None:
    async def scenario() -> None:
        async with two_dialers(register=False) as (lab, _alice, _bob):
            ua = UserAgent("sip:alice@127.0.0.1", "not-the-password", transport=lab.url(),
                           media=False)
            await ua.start()
            dialer = Dialer(ua)
            try:
                dialer.register_button.click()
                await dialer.wait_until(lambda: dialer.light is Light.RED)
                await dialer.settled()
                assert dialer.registration_label.value.startswith("failed: 403")
                assert not dialer.register_button.disabled  # try again
            finally:
                dialer.close()
                await ua.stop()

    run(scenario())


# -- a call --------------------------------------------------------------------------------


def test_call_rings_is_answered_runs_the_timer_and_hangup_ends_both() -> None:
    async def scenario() -> None:
        async with two_dialers() as (lab, alice, bob):
            live = LiveLadder(lab, interval=0.2)
            try:
                alice.number.value = "bob"
                assert enabled(alice) == {"call"}
                alice.call_button.click()
                await bob.wait_for_phase(Phase.RINGING)
                assert "Incoming call from" in bob.incoming_notice.value
                assert "sip:alice@127.0.0.1" in bob.incoming_notice.value
                assert enabled(bob) == {"answer", "reject"}
                await alice.wait_until(lambda: "180 Ringing" in alice.status_label.value)
                assert enabled(alice) == {"hangup"}

                bob.answer_button.click()
                await alice.wait_for_phase(Phase.IN_CALL)
                await bob.wait_for_phase(Phase.IN_CALL)
                assert bob.incoming_notice.value == ""
                assert enabled(alice) == enabled(bob) == {"hold", "hangup"}
                await alice.wait_until(lambda: alice.timer_label.value >= "00:01", timeout=3)
                await bob.wait_until(lambda: bob.timer_label.value >= "00:01", timeout=3)
                assert alice.codec_label.value == bob.codec_label.value == "codec: PCMU"
                await alice.wait_until(lambda: alice.rtp_stats is not None
                                       and alice.rtp_stats.packets_received > 0)
                assert "received <b>" in alice.stats_label.value
                assert bob.rtp_stats is not None
                assert bob.rtp_stats.packets_received > 0

                await live.wait_for_labels("INVITE", "180", "200", "ACK")
                text = live.text
                assert text.index("INVITE") < text.index("200 OK") < text.rindex("ACK")

                alice.hangup_button.click()
                await alice.wait_for_phase(Phase.IDLE)
                await bob.wait_for_phase(Phase.IDLE)
                await bob.wait_until(lambda: "hung up" in bob.status_label.value)
                assert alice.status_label.value == "last call: we hung up"
                assert bob.status_label.value == "last call: the other side hung up"
                timer = alice.timer_label.value
                assert timer >= "00:01"
                await live.wait_for_labels("INVITE", "200", "ACK", "BYE", "200")
                assert alice.timer_label.value == timer  # stopped with the call
                assert enabled(alice) == enabled(bob) == {"call"}
            finally:
                live.close()

    run(scenario())


def test_keypad_dials_when_idle_and_sends_rfc4733_digits_in_a_call() -> None:
    async def scenario() -> None:
        async with two_dialers() as (_, alice, bob):
            for key in "bo":
                alice.number.value += key
            alice.keypad["7"].click()
            assert alice.number.value == "bo7"  # no call: the key is part of the number
            alice.number.value = "bob"
            await answered_call(alice, bob)
            for key in "12#":
                alice.keypad[key].click()
            session = bob.session
            assert session is not None
            await bob.wait_until(lambda: session.dtmf_received == "12#")
            assert alice.dtmf_sent == "12#"
            assert "heard 12#" in bob.dtmf_label.value
            assert alice.number.value == "bob"

    run(scenario())


def test_hold_sends_sendonly_and_resume_sendrecv() -> None:
    async def scenario() -> None:
        async with two_dialers() as (_, alice, bob):
            await answered_call(alice, bob)
            alice.hold_button.click()
            await alice.wait_for_phase(Phase.ON_HOLD)
            assert alice.hold_button.description == "Resume"
            assert alice.status_label.value == "bob is on hold"
            await bob.wait_until(lambda: "they put us on hold" in bob.status_label.value)
            alice.hold_button.click()
            await alice.wait_for_phase(Phase.IN_CALL)
            assert alice.hold_button.description == "Hold"
            await bob.wait_until(lambda: bob.status_label.value == "in call with alice")
            await alice.settled()
            assert any("re-INVITE (a=sendonly)" in line for line in alice.log_lines)
            assert any("re-INVITE from the peer (sendrecv)" in line for line in bob.log_lines)

    run(scenario())


def test_message_box_sends_a_message_that_shows_in_the_other_dialer() -> None:
    async def scenario() -> None:
        async with two_dialers() as (_, alice, bob):
            alice.number.value = "bob"
            alice.message_text.value = "hello <bob>"
            alice.send_button.click()
            await bob.wait_until(lambda: bob.received_messages)
            assert bob.received_messages[0].text == "hello <bob>"
            assert "from alice: hello &lt;bob&gt;" in bob.messages_area.value
            await alice.settled()
            assert "to bob: hello &lt;bob&gt;" in alice.messages_area.value
            assert alice.message_text.value == ""
            assert alice.log_lines[-1].endswith("MESSAGE to bob: 200 OK")

    run(scenario())


def test_reject_gives_the_caller_486_busy_here() -> None:
    async def scenario() -> None:
        async with two_dialers() as (_, alice, bob):
            alice.number.value = "bob"
            alice.call_button.click()
            await bob.wait_for_phase(Phase.RINGING)
            bob.reject_button.click()
            await alice.wait_until(lambda: "486" in alice.status_label.value)
            assert alice.status_label.value == "last call: 486 Busy Here (rejected)"
            assert alice.phase is Phase.IDLE
            assert alice.timer_label.value == "00:00"  # never answered
            await bob.wait_for_phase(Phase.IDLE)

    run(scenario())


def test_a_busy_dialer_answers_a_second_call_with_486() -> None:
    async def scenario() -> None:
        lab = await siplab.lab.start(users=("alice", "bob", "carol"), transports=("udp",))
        alice, bob, carol = siplab.lab.dialers(lab, "alice", "bob", "carol").children
        try:
            for dialer in (alice, bob, carol):
                await dialer.ready()
                dialer.register_button.click()
                await dialer.wait_until(lambda d=dialer: d.light is Light.GREEN)
            await answered_call(alice, bob)
            carol.number.value = "bob"
            carol.call_button.click()
            await carol.wait_until(lambda: "486" in carol.status_label.value)
            assert bob.phase is Phase.IN_CALL  # the first call goes on
        finally:
            for dialer in (alice, bob, carol):
                dialer.close()
            await lab.stop()

    run(scenario())


# -- the live ladder ------------------------------------------------------------------------


def test_live_ladder_of_a_user_agent_attaches_a_trace_and_redraws_when_it_grows() -> None:
    async def scenario() -> None:
        async with two_dialers(register=False) as (_, alice, _bob):
            ua = await alice.ready()
            live = LiveLadder(ua, interval=0.1)
            try:
                assert ua.trace is live.trace
                assert "(no SIP message yet)" in live.view.value
                drawn = live.redraws
                alice.register_button.click()
                await live.wait_for_labels("REGISTER", "401", "REGISTER", "200")
                assert live.redraws > drawn
                assert "<pre" in live.view.value
                assert "REGISTER" in live.view.value
            finally:
                live.close()

    run(scenario())


def test_labels_in_order_allow_others_between() -> None:
    labels = ["INVITE", "100 Trying", "180 Ringing", "200 OK", "ACK"]
    assert contains_in_order(labels, ["INVITE", "200", "ACK"])
    assert not contains_in_order(labels, ["ACK", "INVITE"])


def test_live_ladder_as_a_figure_shows_the_matplotlib_ladder_as_png() -> None:
    async def scenario() -> None:
        async with two_dialers(register=False) as (lab, alice, _bob):
            live = LiveLadder(lab.server, kind="figure", interval=0.1)
            try:
                alice.register_button.click()
                await live.wait_for_labels("REGISTER", "401", "REGISTER", "200")
                assert bytes(live.view.value).startswith(b"\x89PNG")
            finally:
                live.close()

    run(scenario())
