"""Registering with a registrar, read as ladders (RFC 3261 §10.2, RFC 3665 §2).

Alice's user agent (10.0.0.1) registers ``sip:alice@10.0.0.9`` at a scripted
registrar (10.0.0.9, :class:`tests.sip.scripted.ScriptedRegistrar`) over a
SimNetwork with 10 ms of delay per hop::

    Alice                       Registrar
      | REGISTER  CSeq 1           |
      |--------------------------->|
      |     401 Unauthorized       |
      |<---------------------------|
      | REGISTER  CSeq 2 + digest  |
      |--------------------------->|
      |     200 OK                 |
      |<---------------------------|
"""

from __future__ import annotations

import pytest

from siplab.ids import IdSource
from siplab.lab import DropAll, SimNetwork
from siplab.sip.auth import parse_credentials
from siplab.sip.events import (
    Registered,
    RegistrationFailed,
    RegistrationQueried,
)
from siplab.sip.message import Request, parse_message
from siplab.sip.registration import (
    REGISTRATION,
    Registration,
    RegistrationState,
    refresh_delay,
)
from siplab.sip.transaction import ServerTransaction
from siplab.sip.transport import Peer
from siplab.sip.useragent import UserAgentConfig, UserAgentCore
from tests.sip.ladders import assert_ladder, drain, names, only, phone
from tests.sip.scripted import ScriptedEndpoint, ScriptedRegistrar

REGISTRAR = "10.0.0.9"
State = RegistrationState


def lab(**registrar_options: object) -> tuple[SimNetwork, UserAgentCore, ScriptedRegistrar]:
    net = SimNetwork(delay=0.01)
    registrar = ScriptedRegistrar(**registrar_options)  # type: ignore[arg-type]
    net.add(registrar, REGISTRAR, 5060, name="registrar")
    alice = phone(net, "alice", domain=REGISTRAR, password="secret")
    return net, alice, registrar


def sent_registers(net: SimNetwork) -> list[Request]:
    found = []
    for record in net.records:
        message = parse_message(record.data)
        if isinstance(message, Request) and message.method == "REGISTER":
            found.append(message)
    return found


class TestRegisterWithDigest:
    """RFC 3665 §2.1: a successful new registration, challenged with MD5 digest."""

    def test_ua_answers_the_401_and_is_registered(self) -> None:
        net, alice, registrar = lab(users={"alice": "secret"})
        registration = alice.register(net.now)
        net.run_until(1.0)
        assert_ladder(net, ["REGISTER", "401 Unauthorized", "REGISTER", "200 OK"])
        registered = only(drain(alice), Registered)
        assert registered.registration is registration
        assert registered.expires == 600
        assert [str(c.uri) for c in registered.contacts] == [
            "sip:alice@10.0.0.1:5060;transport=udp"]
        assert registration.state is State.Registered
        assert registrar.contacts("sip:alice@10.0.0.9", net.now)

    def test_retry_carries_md5_credentials_same_call_id_and_next_cseq(self) -> None:
        net, alice, _ = lab(users={"alice": "secret"})
        alice.register(net.now)
        net.run_until(1.0)
        first, second = sent_registers(net)
        assert second.call_id == first.call_id
        assert (first.cseq.number, second.cseq.number) == (1, 2)
        assert second.branch != first.branch
        credentials = parse_credentials(second.headers.get("Authorization") or "")
        assert credentials.username == "alice"
        assert credentials.algorithm == "MD5"
        assert credentials.uri == "sip:10.0.0.9"
        assert first.headers.get("Expires") == "600"
        assert str(first.uri) == "sip:10.0.0.9"

    def test_wrong_password_fails_with_403(self) -> None:
        net, alice, _ = lab(users={"alice": "another password"})
        registration = alice.register(net.now)
        net.run_until(1.0)
        assert_ladder(net, ["REGISTER", "401 Unauthorized", "REGISTER", "403 Forbidden"])
        failed = only(drain(alice), RegistrationFailed)
        assert (failed.status, failed.reason) == (403, "Forbidden")
        assert registration.state is State.Failed
        assert alice.get_timer() is not None  # only the transactions' Timer K remain
        net.run()
        assert alice.get_timer() is None

    def test_a_second_challenge_means_authentication_failed(self) -> None:
        digest_server = ScriptedRegistrar(users={"alice": "secret"}).digest

        def always_challenge(endpoint: ScriptedEndpoint, request: Request,
                             tx: ServerTransaction | None, now: float) -> None:
            if tx is not None:
                endpoint.layer.send_response(tx, digest_server.challenge_response(request, now),
                                             now)

        net = SimNetwork(delay=0.01)
        net.add(ScriptedEndpoint(always_challenge), REGISTRAR, 5060, name="registrar")
        alice = phone(net, "alice", domain=REGISTRAR, password="secret")
        alice.register(net.now)
        net.run_until(1.0)
        assert_ladder(net, ["REGISTER", "401 Unauthorized", "REGISTER", "401 Unauthorized"])
        failed = only(drain(alice), RegistrationFailed)
        assert failed.status == 401
        assert "authentication failed" in failed.reason

    def test_stale_nonce_is_answered_again(self) -> None:
        """A 401 with stale=TRUE says only the nonce was old: answer it again (RFC 7616 §3.3)."""
        digest_server = ScriptedRegistrar(users={"alice": "secret"}).digest
        challenges = iter([False, True])

        def stale_then_ok(endpoint: ScriptedEndpoint, request: Request,
                          tx: ServerTransaction | None, now: float) -> None:
            if tx is None:
                return
            stale = next(challenges, None)
            if stale is None:
                endpoint.answer(tx, 200, now)
            else:
                endpoint.layer.send_response(
                    tx, digest_server.challenge_response(request, now, stale=stale), now)

        net = SimNetwork(delay=0.01)
        net.add(ScriptedEndpoint(stale_then_ok), REGISTRAR, 5060, name="registrar")
        alice = phone(net, "alice", domain=REGISTRAR, password="secret")
        alice.register(net.now)
        net.run_until(1.0)
        assert_ladder(net, ["REGISTER", "401 Unauthorized", "REGISTER", "401 Unauthorized",
                            "REGISTER", "200 OK"])
        assert names(drain(alice)) == ["Registered"]

    def test_no_credentials_configured_fails_on_the_401(self) -> None:
        net = SimNetwork(delay=0.01)
        net.add(ScriptedRegistrar(users={"alice": "secret"}), REGISTRAR, 5060)
        alice = phone(net, "alice", domain=REGISTRAR)  # no password
        alice.register(net.now)
        net.run_until(1.0)
        assert_ladder(net, ["REGISTER", "401 Unauthorized"])
        assert only(drain(alice), RegistrationFailed).status == 401


class TestRefresh:
    """§10.2.4: re-register before the binding expires, same Call-ID, CSeq + 1."""

    def test_refresh_goes_out_at_ninety_percent_of_expires(self) -> None:
        net, alice, _ = lab()
        registration = alice.register(net.now)
        net.run_until(1.0)
        assert registration.refresh_at == pytest.approx(0.02 + 540.0)
        net.run_until(540.0)
        assert len(sent_registers(net)) == 1
        net.run_until(541.0)
        first, refresh = sent_registers(net)
        assert refresh.call_id == first.call_id
        assert refresh.cseq.number == first.cseq.number + 1
        refresh_record = [r for r in net.records if r.label == "REGISTER"][1]
        assert refresh_record.time_sent == pytest.approx(540.02)
        assert_ladder(net, ["REGISTER", "200 OK", "REGISTER", "200 OK"])
        assert names(drain(alice)) == ["Registered", "Registered"]
        assert registration.state is State.Registered

    def test_refresh_is_challenged_and_answered_too(self) -> None:
        net, alice, _ = lab(users={"alice": "secret"})
        alice.register(net.now)
        net.run_until(600.0)
        assert [m.cseq.number for m in sent_registers(net)] == [1, 2, 3, 4]
        assert len({m.call_id for m in sent_registers(net)}) == 1
        assert names(drain(alice)) == ["Registered", "Registered"]

    def test_registrar_granting_less_moves_the_refresh(self) -> None:
        net, alice, _ = lab(max_expires=100)
        registration = alice.register(net.now)
        net.run_until(1.0)
        assert only(drain(alice), Registered).expires == 100
        assert registration.expires_granted == 100
        assert registration.refresh_at == pytest.approx(0.02 + 90.0)

    @pytest.mark.parametrize(("granted", "delay"), [(600, 540.0), (30, 25.0), (3, 1.0)])
    def test_refresh_delay(self, granted: int, delay: float) -> None:
        assert refresh_delay(granted) == pytest.approx(delay)

    def test_failed_refresh_reports_failure_then_retries(self) -> None:
        net, alice, registrar = lab()
        registration = alice.register(net.now)
        net.run_until(1.0)
        registrar.force = [503]
        net.run_until(540.5)
        events = drain(alice)
        assert names(events) == ["Registered", "RegistrationFailed"]
        assert only(events, RegistrationFailed).status == 503
        assert registration.state is State.Retrying
        assert registration.refresh_at == pytest.approx(540.04 + 1.0)  # the first backoff
        net.run_until(545.0)
        assert names(drain(alice)) == ["Registered"]
        assert registration.state is State.Registered
        assert_ladder(net, ["REGISTER", "200 OK", "REGISTER", "503 Service Unavailable",
                            "REGISTER", "200 OK"])


class TestIntervalTooBrief:
    """RFC 3261 §10.2.8 / §10.3 step 7: 423 carries Min-Expires; ask again for that much."""

    def test_ua_retries_with_min_expires(self) -> None:
        net, alice, _ = lab(min_expires=1800)
        alice.register(net.now)
        net.run_until(1.0)
        assert_ladder(net, ["REGISTER", "423 Interval Too Brief", "REGISTER", "200 OK"])
        first, second = sent_registers(net)
        assert (first.headers.get("Expires"), second.headers.get("Expires")) == ("600", "1800")
        assert second.cseq.number == first.cseq.number + 1
        assert only(drain(alice), Registered).expires == 1800


class TestUnregisterAndQuery:
    """RFC 3665 §2.3 (query), §2.4 (cancellation)."""

    def test_unregister_sends_expires_zero_and_removes_the_binding(self) -> None:
        net, alice, registrar = lab(users={"alice": "secret"})
        registration = alice.register(net.now)
        net.run_until(1.0)
        alice.unregister(net.now)
        net.run_until(2.0)
        assert_ladder(net, ["REGISTER", "401 Unauthorized", "REGISTER", "200 OK",
                            "REGISTER", "401 Unauthorized", "REGISTER", "200 OK"])
        last = sent_registers(net)[-1]
        assert last.headers.get("Expires") == "0"
        assert str(last.contact[0].uri) == "sip:alice@10.0.0.1:5060;transport=udp"
        assert names(drain(alice)) == ["Registered", "Unregistered"]
        assert registration.state is State.Unregistered
        assert registrar.contacts("sip:alice@10.0.0.9", net.now) == []
        net.run()
        assert alice.get_timer() is None  # no refresh left behind

    def test_unregister_all_sends_contact_star(self) -> None:
        net, alice, registrar = lab()
        alice.register(net.now)
        net.run_until(1.0)
        alice.unregister(net.now, all_contacts=True)
        net.run_until(2.0)
        last = sent_registers(net)[-1]
        assert last.headers.get("Contact") == "*"
        assert last.headers.get("Expires") == "0"
        assert registrar.contacts("sip:alice@10.0.0.9", net.now) == []

    def test_query_lists_every_binding_of_the_address_of_record(self) -> None:
        net = SimNetwork(delay=0.01)
        net.add(ScriptedRegistrar(), REGISTRAR, 5060, name="registrar")
        desk = phone(net, "alice", domain=REGISTRAR)
        mobile_config = UserAgentConfig(aor="sip:alice@10.0.0.9", local=Peer("10.0.0.5", 5060))
        other = UserAgentCore(mobile_config, ids=IdSource("alice's mobile"))
        net.add(other, "10.0.0.5", 5060, name="alice-mobile")
        desk.register(net.now)
        other.register(net.now)
        net.run_until(1.0)
        drain(desk)
        registration = desk.query_registrations(net.now)
        net.run_until(2.0)
        query = sent_registers(net)[-1]
        assert "Contact" not in query.headers
        queried = only(drain(desk), RegistrationQueried)
        assert queried.registration is registration
        assert sorted(str(c.uri) for c in queried.contacts) == [
            "sip:alice@10.0.0.1:5060;transport=udp", "sip:alice@10.0.0.5:5060;transport=udp"]
        assert registration.state is State.Registered  # a query changes nothing

    def test_unregister_while_registering_waits_for_the_answer(self) -> None:
        """§10.2: one REGISTER at a time; the second is sent after the first's 200."""
        net, alice, _ = lab()
        registration = alice.register(net.now)
        alice.unregister(net.now)
        assert registration.busy
        net.run_until(1.0)
        assert_ladder(net, ["REGISTER", "200 OK", "REGISTER", "200 OK"])
        assert names(drain(alice)) == ["Registered", "Unregistered"]
        assert registration.state is State.Unregistered


class TestNoAnswer:
    def test_registrar_that_never_answers_fails_after_timer_f(self) -> None:
        net, alice, _ = lab()
        net.link("alice", "registrar", loss=DropAll())
        registration = alice.register(net.now)
        net.run_until(40.0)
        failed = only(drain(alice), RegistrationFailed)
        assert failed.status is None
        assert "Timer F" in failed.reason
        assert registration.history[-1][0] == pytest.approx(32.0)
        assert registration.state is State.Failed


class TestTable:
    """The table drives the code: every action names a method, every state is reachable."""

    def test_every_action_is_a_method(self) -> None:
        from siplab.sip.registration import _method_name

        for transition in REGISTRATION.values():
            for action in transition.actions:
                assert callable(getattr(Registration, _method_name(action), None)), action

    def test_every_state_is_reachable_from_unregistered(self) -> None:
        seen = {State.Unregistered}
        changed = True
        while changed:
            changed = False
            for (state, _), transition in REGISTRATION.items():
                if state in seen and transition.next_state not in seen:
                    seen.add(transition.next_state)
                    changed = True
        assert seen == set(State)
