"""The asyncio UserAgent beyond one transport: bridging, failures, callbacks, debug, stop.

RFC 7118 §5 and RFC 3261 §16: a phone on UDP and a browser-like user agent on
a WebSocket call each other through the LabServer, which bridges the two
transports (two Record-Routes). §22 with a wrong password: the registrar says
403 and :class:`~siplab.aio.errors.RegistrationError` carries it. Then what
the API promises a notebook: callbacks and queues for incoming calls and
messages, ``auto_answer``, ``debug=True`` logging (with the password never
shown) and a ``stop()`` that hangs up and unregisters.
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from siplab.aio.debug import disable_debug
from siplab.aio.errors import RegistrationError, RequestError
from siplab.aio.server_url import ServerUrl, parse_transport_url
from siplab.aio.session import Invitation
from siplab.aio.useragent import UserAgent
from siplab.errors import InvalidStateError, LocalProtocolError, SipError
from siplab.sip.events import IncomingCall, Registered
from siplab.sip.headers import Address
from siplab.sip.invite_table import SessionState
from siplab.sip.message import Request
from tests.aio.phones import USERS, lab_and_phones, lab_server, phone, run

ESTABLISHED = SessionState.Established


class TestMixedTransports:
    """A UDP phone and a WebSocket client call each other through the lab server."""

    @pytest.mark.parametrize(("caller", "callee"), [("udp", "ws"), ("ws", "udp"),
                                                    ("tcp", "ws"), ("udp", "tcp")])
    def test_call_bridged_between_transports(self, caller: str, callee: str) -> None:
        async def scenario() -> None:
            async with lab_and_phones((caller, callee), "alice", "bob") as (_, [alice, bob]):
                call = await alice.call("bob")
                invitation = await bob.next_invitation(timeout=2)
                await invitation.accept()
                await call.established(timeout=2)
                assert invitation.state is ESTABLISHED
                # The BYE from the callee finds its way back over the caller's transport.
                assert await invitation.bye(timeout=2) == "bye"
                assert await call.terminated(timeout=2) == "remote bye"

        run(scenario())


class TestFailures:
    def test_wrong_password_raises_registration_error_403(self) -> None:
        async def scenario() -> RegistrationError:
            async with lab_server() as server:
                udp = server.addresses[0]
                async with UserAgent("sip:alice@127.0.0.1", "not-the-password",
                                     transport=f"udp://{udp.host}:{udp.port}") as alice:
                    with pytest.raises(RegistrationError) as failed:
                        await alice.register(timeout=2)
                    assert alice.registerer().state == "Failed"
                    return failed.value

        error = run(scenario())
        assert error.status == 403
        assert isinstance(error, SipError)

    def test_unknown_server_port_fails_at_start_over_tcp(self) -> None:
        async def scenario() -> None:
            async with lab_server() as server:
                port = server.addresses[0].port  # UDP's port: nobody listens on TCP there
                ua = UserAgent("sip:alice@127.0.0.1", transport=f"tcp://127.0.0.1:{port}")
                with pytest.raises(ConnectionRefusedError):
                    await ua.start()
                assert not ua.running

        run(scenario())

    def test_transport_urls(self) -> None:
        assert parse_transport_url("udp://127.0.0.1:5070") == ServerUrl("udp", "127.0.0.1", 5070)
        assert parse_transport_url("tcp://localhost") == ServerUrl("tcp", "localhost", 5060)
        assert parse_transport_url("ws://127.0.0.1:8080/ws").path == "/ws"
        assert str(parse_transport_url("ws://127.0.0.1:8080")) == "ws://127.0.0.1:8080/"
        assert parse_transport_url("wss://127.0.0.1:8443/ws") == ServerUrl(
            "wss", "127.0.0.1", 8443, "/ws")
        assert parse_transport_url("tls://127.0.0.1") == ServerUrl("tls", "127.0.0.1", 5061)
        assert str(parse_transport_url("wss://localhost")) == "wss://localhost:443/"
        with pytest.raises(LocalProtocolError):
            parse_transport_url("http://127.0.0.1:8080")
        with pytest.raises(LocalProtocolError):
            UserAgent("tel:+15551234")

    def test_actions_before_start_say_so(self) -> None:
        async def scenario() -> None:
            ua = UserAgent("sip:alice@127.0.0.1")
            with pytest.raises(InvalidStateError, match="start"):
                await ua.call("bob")
            await ua.stop()  # stopping what never started is fine

        run(scenario())


class TestIncomingCallsAndMessages:
    def test_on_invite_coroutine_answers_the_call(self) -> None:
        async def scenario() -> None:
            async with lab_and_phones("udp", "alice", "bob") as (_, [alice, bob]):
                async def answer(invitation: Invitation) -> None:
                    await invitation.progress(180)
                    await invitation.accept()

                bob.on_invite = answer
                call = await alice.call("bob")
                await call.established(timeout=2)
                invitation = await bob.next_invitation(timeout=1)  # queued as well
                assert invitation.state is ESTABLISHED
                await call.bye(timeout=2)

        run(scenario())

    def test_auto_answer_rings_and_answers(self) -> None:
        async def scenario() -> None:
            async with lab_server() as server, phone(server, "alice", "udp") as alice, \
                    phone(server, "bob", "ws", auto_answer=True) as bob:
                await alice.register(timeout=2)
                await bob.register(timeout=2)
                call = await alice.call("bob")
                await call.established(timeout=2)
                assert call.last_provisional is not None
                assert call.last_provisional.status == 180
                await call.hold(timeout=2)  # bob's core answers the re-INVITE itself
                await call.bye(timeout=2)

        run(scenario())

    def test_every_event_is_also_on_the_events_queue(self) -> None:
        async def scenario() -> None:
            async with lab_and_phones("udp", "alice", "bob") as (_, [alice, bob]):
                kinds = []
                while not bob.events.empty():
                    kinds.append(type(bob.events.get_nowait()))
                assert Registered in kinds
                await alice.call("bob")
                await bob.next_invitation(timeout=2)
                assert any(isinstance(bob.events.get_nowait(), IncomingCall)
                           for _ in range(bob.events.qsize()))

        run(scenario())


class TestInsideACall:
    """RFC 6086 INFO and RFC 3428 MESSAGE in the dialog; §14.2 a re-INVITE refused."""

    def test_info_and_message_inside_a_call(self) -> None:
        async def scenario() -> None:
            async with lab_and_phones("udp", "alice", "bob") as (_, [alice, bob]):
                call = await alice.call("bob")
                invitation = await bob.next_invitation(timeout=2)
                infos: list[Request] = []
                invitation.on_info = infos.append
                await invitation.accept()
                await call.established(timeout=2)
                response = await call.info("Signal=5\r\nDuration=160\r\n", timeout=2)
                assert response.status == 200
                assert [r.body for r in infos] == [b"Signal=5\r\nDuration=160\r\n"]
                assert (await invitation.message("in the call", timeout=2)).status == 200
                message = await alice.next_message(timeout=2)
                assert message.text == "in the call"
                assert message.request.call_id == call.call_id  # inside the dialog
                await call.bye(timeout=2)

        run(scenario())

    def test_refused_reinvite_raises_and_the_call_goes_on(self) -> None:
        async def scenario() -> None:
            async with lab_and_phones("tcp", "alice", "bob") as (_, [alice, bob]):
                call = await alice.call("bob")
                invitation = await bob.next_invitation(timeout=2)
                await invitation.accept()
                await call.established(timeout=2)

                async def refuse(request: Request) -> None:
                    await invitation.reject_reinvite(488)

                invitation.on_reinvite = refuse
                with pytest.raises(RequestError) as refused:
                    await call.hold(timeout=2)
                assert refused.value.status == 488
                assert call.state is ESTABLISHED
                assert await call.bye(timeout=2) == "bye"

        run(scenario())

    def test_declined_transfer_reports_the_status_and_keeps_the_call(self) -> None:
        async def scenario() -> None:
            async with lab_and_phones("ws", "alice", "bob") as (_, [alice, bob]):
                call = await alice.call("bob")
                invitation = await bob.next_invitation(timeout=2)
                await invitation.accept()
                await call.established(timeout=2)
                asked: list[Address] = []

                async def decline(refer_to: Address) -> None:
                    asked.append(refer_to)
                    await call.decline_refer(603)

                call.on_refer = decline
                assert await invitation.refer("sip:carol@127.0.0.1", timeout=2) == 603
                assert [str(a.uri) for a in asked] == ["sip:carol@127.0.0.1"]
                assert invitation.state is ESTABLISHED  # no hang-up after a failed transfer
                await call.bye(timeout=2)

        run(scenario())


class TestStop:
    def test_stop_hangs_up_calls_and_unregisters(self) -> None:
        async def scenario() -> None:
            async with lab_and_phones("tcp", "alice", "bob") as (server, [alice, bob]):
                call = await alice.call("bob")
                invitation = await bob.next_invitation(timeout=2)
                await invitation.accept()
                await call.established(timeout=2)
                await alice.stop()
                assert not alice.running
                assert call.cause == "bye"
                assert await invitation.terminated(timeout=2) == "remote bye"
                assert server.stats().bindings == 1  # bob's only: alice unregistered

        run(scenario())

    def test_stop_ends_a_call_still_ringing(self) -> None:
        async def scenario() -> None:
            async with lab_and_phones("udp", "alice", "bob") as (_, [alice, bob]):
                call = await alice.call("bob")
                invitation = await bob.next_invitation(timeout=2)
                await invitation.progress(180)
                await call.progressed(timeout=2)
                await bob.stop()  # the callee leaves: its ringing call is refused (480)
                assert invitation.state is SessionState.Terminated
                with pytest.raises(SipError):
                    await call.established(timeout=2)
                assert call.status == 480

        run(scenario())


class TestDebug:
    def test_debug_logs_wire_and_decisions_but_never_the_password(
            self, caplog: pytest.LogCaptureFixture) -> None:
        caplog.set_level(logging.DEBUG, logger="siplab")

        async def scenario() -> str:
            async with lab_server() as server:
                ua = phone(server, "alice", "udp", debug=True)
                assert logging.getLogger("siplab").level == logging.DEBUG
                async with ua:
                    await ua.register(timeout=2)
                    return repr(ua)

        try:
            shown = run(scenario())
        finally:
            disable_debug()
        password = USERS["alice"]
        assert "NOT SHOWN" in shown
        assert password not in shown
        wire = [r.getMessage() for r in caplog.records if r.name == "siplab.transport"]
        assert any("REGISTER sip:127.0.0.1 SIP/2.0" in text for text in wire)
        assert any("Authorization: Digest" in text for text in wire)  # whole messages
        decisions = [r.getMessage() for r in caplog.records if r.name == "siplab.ua"]
        assert any("retrying with digest" in text for text in decisions)
        assert not any(password in r.getMessage() for r in caplog.records)
        assert password not in caplog.text
        assert logging.getLogger("siplab").level == logging.NOTSET


def test_user_agent_repr_hides_the_password() -> None:
    ua = UserAgent("sip:alice@127.0.0.1", "hunter2", transport="tcp://127.0.0.1:5060")
    assert "hunter2" not in repr(ua)
    assert "password=NOT SHOWN" in repr(ua)
    assert asyncio.iscoroutinefunction(ua.start)
