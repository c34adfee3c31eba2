"""The friendly asyncio UserAgent: the same flows as the core's tests, over real sockets.

Each flow runs over UDP, TCP and WebSocket on 127.0.0.1, through a LabServer
(registrar and proxy): REGISTER with digest (RFC 3261 §10.2, §22; RFC 3665
§2), a call answered and hung up (§13-15, RFC 3665 §3.1), busy (486, §21.4.25),
CANCEL before the answer (§9), MESSAGE (RFC 3428), a registration query
(§10.2.3) and unregister (§10.2.2), hold and resume by re-INVITE (§14,
RFC 3264 §8.4), and a blind transfer with REFER (RFC 3515). Every wait is
bounded (``run`` gives each scenario 5 s) and every socket is closed.
"""

from __future__ import annotations

import asyncio

import pytest

from siplab.aio.errors import CallFailed
from siplab.aio.hold import direction_of
from siplab.aio.session import Invitation, Inviter
from siplab.aio.useragent import IncomingMessage, UserAgent
from siplab.sip.events import SessionModified
from siplab.sip.invite_table import SessionState
from siplab.sip.registration import RegistrationState
from tests.aio.phones import TRANSPORTS, lab_and_phones, run

pytestmark = pytest.mark.parametrize("transport", TRANSPORTS)

ESTABLISHING = SessionState.Establishing
ESTABLISHED = SessionState.Established
TERMINATING = SessionState.Terminating
TERMINATED = SessionState.Terminated
SDP = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" \
      b"m=audio 40000 RTP/AVP 0\r\na=sendrecv\r\n"


async def answered_call(caller: UserAgent, callee: UserAgent,
                        body: bytes = SDP) -> tuple[Inviter, Invitation]:
    call = await caller.call(callee.uri.user or "", body=body)
    invitation = await callee.next_invitation(timeout=2)
    await invitation.progress(180)
    await invitation.accept(body)
    await call.established(timeout=2)
    return call, invitation


class TestRegistration:
    """§10.2 with digest (§22): 401, then the REGISTER again with credentials, then 200."""

    def test_alice_registers_with_digest_and_sees_her_binding(self, transport: str) -> None:
        async def scenario() -> None:
            async with lab_and_phones(transport, "alice") as (server, [alice]):
                registerer = alice.registerer()
                assert registerer.state is RegistrationState.Registered
                assert alice.core.registration is not None
                assert alice.core.registration.cseq == 2  # the 401, then with credentials
                assert registerer.expires == 600
                [binding] = registerer.contacts
                assert binding.uri == alice.core.origin.contact.uri
                assert server.stats().bindings == 1

        run(scenario())

    def test_query_lists_the_bindings_and_unregister_removes_ours(self, transport: str) -> None:
        async def scenario() -> None:
            async with lab_and_phones(transport, "alice", "bob") as (server, [alice, _bob]):
                [binding] = await alice.registerer().query(timeout=2)
                assert binding.uri == alice.core.origin.contact.uri
                await alice.registerer().unregister(timeout=2)
                assert alice.registerer().state is RegistrationState.Unregistered
                assert await alice.registerer().query(timeout=2) == []
                assert server.stats().bindings == 1  # bob's

        run(scenario())


class TestCalls:
    """§13-15: INVITE, 180, 200, ACK, then BYE; 486; CANCEL."""

    def test_alice_calls_bob_he_answers_and_alice_hangs_up(self, transport: str) -> None:
        async def scenario() -> None:
            async with lab_and_phones(transport, "alice", "bob") as (_, [alice, bob]):
                states: list[SessionState] = []
                call = await alice.call("bob", body=SDP)
                call.on_state_change = states.append
                invitation = await bob.next_invitation(timeout=2)
                assert invitation.remote_identity.uri == alice.uri
                assert invitation.remote_body == SDP
                await invitation.progress(180)
                await invitation.accept(SDP)
                await call.established(timeout=2)
                assert call.last_provisional is not None
                assert call.last_provisional.status == 180
                assert call.state is ESTABLISHED
                assert call.remote_body == SDP
                assert await call.bye(timeout=2) == "bye"
                assert await invitation.terminated(timeout=2) == "remote bye"
                assert states == [ESTABLISHED, TERMINATING, TERMINATED]
                assert alice.sessions == []
                assert bob.sessions == []

        run(scenario())

    def test_busy_callee_makes_the_call_fail_with_486(self, transport: str) -> None:
        async def scenario() -> None:
            async with lab_and_phones(transport, "alice", "bob") as (_, [alice, bob]):
                call = await alice.call("bob")
                invitation = await bob.next_invitation(timeout=2)
                await invitation.reject(486)
                with pytest.raises(CallFailed) as failed:
                    await call.established(timeout=2)
                assert failed.value.status == 486
                assert failed.value.cause == "rejected"
                assert call.status == 486
                assert await invitation.terminated(timeout=2) == "rejected"

        run(scenario())

    def test_the_callers_error_carries_the_callees_own_reason_phrase(self,
                                                                       transport: str) -> None:
        async def scenario() -> None:
            async with lab_and_phones(transport, "alice", "bob") as (_, [alice, bob]):
                call = await alice.call("bob")
                invitation = await bob.next_invitation(timeout=2)
                await invitation.reject(486, "Busy Here - in a meeting")
                with pytest.raises(CallFailed) as failed:
                    await call.established(timeout=2)
                assert failed.value.reason == "Busy Here - in a meeting"
                assert str(failed.value) == "INVITE failed: 486 Busy Here - in a meeting"

        run(scenario())

    def test_caller_cancels_before_the_answer(self, transport: str) -> None:
        async def scenario() -> None:
            async with lab_and_phones(transport, "alice", "bob") as (_, [alice, bob]):
                call = await alice.call("bob")
                invitation = await bob.next_invitation(timeout=2)
                await invitation.progress(180)
                ringing = await call.progressed(timeout=2)
                assert ringing.status == 180
                assert await call.cancel(timeout=2) == "cancelled"
                assert call.status == 487  # Request Terminated, for the INVITE
                assert await invitation.terminated(timeout=2) == "cancelled"
                with pytest.raises(CallFailed) as failed:
                    await call.established(timeout=0)
                assert failed.value.cause == "cancelled"

        run(scenario())


class TestMidCall:
    """§14 re-INVITE (hold and resume, RFC 3264 §8.4) and RFC 3515 REFER."""

    def test_alice_holds_and_resumes_with_reinvites(self, transport: str) -> None:
        async def scenario() -> None:
            async with lab_and_phones(transport, "alice", "bob") as (_, [alice, bob]):
                call, invitation = await answered_call(alice, bob)
                await call.hold(timeout=2)
                assert direction_of(call.local_body) == "sendonly"
                assert direction_of(call.remote_body) == "recvonly"  # bob's mirrored answer
                assert call.on_hold
                assert direction_of(invitation.remote_body) == "sendonly"
                await call.unhold(timeout=2)
                assert direction_of(call.local_body) == "sendrecv"
                assert direction_of(call.remote_body) == "sendrecv"
                assert not call.on_hold
                assert sum(isinstance(e, SessionModified) for e in call.events) == 2
                assert call.state is ESTABLISHED
                await call.bye(timeout=2)

        run(scenario())

    def test_bob_transfers_alice_to_carol(self, transport: str) -> None:
        async def scenario() -> None:
            async with lab_and_phones(transport, "alice", "bob", "carol") as (
                    _, [alice, bob, carol]):
                call, invitation = await answered_call(alice, bob)
                transfer = asyncio.ensure_future(invitation.refer("carol", timeout=3))
                carols = await carol.next_invitation(timeout=2)
                assert carols.remote_identity.uri == alice.uri
                assert carols.request.headers.get("Referred-By") is not None
                await carols.accept(SDP)
                assert await transfer == 200
                assert await invitation.terminated(timeout=2) == "bye"  # bob hung up
                assert await call.terminated(timeout=2) == "remote bye"
                assert call.referred_call is not None
                await call.referred_call.established(timeout=2)
                await carols.bye(timeout=2)

        run(scenario())


class TestRequestsOutsideCalls:
    """RFC 3428 MESSAGE through the proxy; §11 OPTIONS to the server."""

    def test_alice_sends_bob_a_message(self, transport: str) -> None:
        async def scenario() -> None:
            async with lab_and_phones(transport, "alice", "bob") as (_, [alice, bob]):
                heard: list[IncomingMessage] = []
                bob.on_message = heard.append
                response = await alice.message("bob", "Hello, Bob!", timeout=2)
                assert response.status == 200
                message = await bob.next_message(timeout=2)
                assert message.text == "Hello, Bob!"
                assert message.sender.uri == alice.uri
                assert message.content_type == "text/plain"
                assert heard == [message]

        run(scenario())

    def test_options_to_the_server(self, transport: str) -> None:
        async def scenario() -> None:
            async with lab_and_phones(transport, "alice", register=False) as (_, [alice]):
                response = await alice.options(timeout=2)
                assert response.status == 200
                assert "REGISTER" in (response.headers.get("Allow") or "")

        run(scenario())
