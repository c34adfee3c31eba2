"""A registration that gets lost comes back by itself (RFC 3261 §10.2.4, §22.3; RFC 5626 §4.5).

A refresh that fails (the registrar restarted, the network was down) is
tried again after 1, 2, 4... seconds, at most a minute apart, until a 2xx
comes back; a refresh reuses the last nonce with the next ``nc`` (RFC 7616
§3.4), and an expired nonce (``stale=TRUE``) is answered again without a
failure. Alice (10.0.0.1) registers at a scripted registrar (10.0.0.9) on a
SimNetwork with 10 ms per hop, as in tests/sip/test_registration.py.
"""

from __future__ import annotations

import pytest

from siplab.lab import DropAll
from siplab.sip.auth import parse_credentials
from siplab.sip.registration import (
    MAX_RETRY_DELAY,
    REGISTRATION,
    RegistrationState,
    retry_delay,
)
from tests.sip.ladders import assert_ladder, drain, names
from tests.sip.test_registration import lab, sent_registers

State = RegistrationState


def test_retry_delays_double_from_one_second_up_to_a_minute() -> None:
    assert [retry_delay(n) for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert retry_delay(10_000) == MAX_RETRY_DELAY


def test_only_a_failed_refresh_is_retried_not_a_failed_first_registration() -> None:
    assert REGISTRATION[(State.Registering, "failure")].next_state is State.Failed
    assert REGISTRATION[(State.Registered, "failure")].next_state is State.Retrying
    assert "schedule retry" in REGISTRATION[(State.Registered, "timeout")].actions
    assert REGISTRATION[(State.Retrying, "2xx")].next_state is State.Registered


class TestReusedCredentials:
    """§22.3: a refresh answers the last challenge again, with the next nc."""

    def test_refresh_carries_the_last_nonce_with_nc_2_and_is_not_challenged(self) -> None:
        net, alice, _ = lab(users={"alice": "secret"}, max_expires=100)
        alice.register(net.now)
        net.run_until(95.0)  # the refresh goes out at 90 % of 100 s
        assert_ladder(net, ["REGISTER", "401 Unauthorized", "REGISTER", "200 OK",
                            "REGISTER", "200 OK"])
        _, answered, refresh = sent_registers(net)
        first = parse_credentials(answered.headers.get("Authorization") or "")
        again = parse_credentials(refresh.headers.get("Authorization") or "")
        assert again.nonce == first.nonce
        assert (first.nc, again.nc) == (1, 2)
        assert names(drain(alice)) == ["Registered", "Registered"]

    def test_expired_nonce_is_answered_again_without_a_failure(self) -> None:
        net, alice, _ = lab(users={"alice": "secret"})  # nonces live 300 s; refresh at 540 s
        alice.register(net.now)
        net.run_until(545.0)
        labels = net.labels()
        assert labels[4:] == ["REGISTER", "401 Unauthorized", "REGISTER", "200 OK"]
        stale = [r for r in net.records if r.label == "401 Unauthorized"][1]
        assert "stale=true" in stale.data.decode().lower()
        assert names(drain(alice)) == ["Registered", "Registered"]


class TestRetry:
    """A registrar that stops answering, then comes back."""

    def test_silent_registrar_is_retried_with_backoff_until_it_answers(self) -> None:
        net, alice, _ = lab(max_expires=100)
        registration = alice.register(net.now)
        net.run_until(1.0)
        net.link("alice", "registrar", loss=DropAll())
        net.run_until(90.0 + 32.5)  # the refresh at 90 s times out (Timer F, 32 s)
        assert names(drain(alice)) == ["Registered", "RegistrationFailed"]
        assert registration.state is State.Retrying
        net.run_until(90.0 + 32.0 + 1.0 + 32.0 + 2.0 + 32.0 + 1.0)  # two more tries fail
        retries = [t for t, name, _ in registration.history if name == "retry due"]
        assert retries == pytest.approx([123.02, 157.02], abs=0.05)
        assert drain(alice) == []  # a failure is reported once, not at every try
        net.link("alice", "registrar", loss=None)
        net.run_until(260.0)  # the next try, 4 s after the third failure, succeeds
        assert names(drain(alice)) == ["Registered"]
        assert registration.state is State.Registered
        assert registration.refresh_at == pytest.approx(net.records[-1].time_sent + 90, abs=1)

    def test_binding_lost_registers_again_at_once(self) -> None:
        net, alice, registrar = lab()
        registration = alice.register(net.now)
        net.run_until(1.0)
        registrar.bindings.clear()  # the registrar restarted
        assert alice.registration_lost(net.now) is registration
        net.run_until(2.0)
        assert [m.cseq.number for m in sent_registers(net)] == [1, 2]
        assert registrar.contacts("sip:alice@10.0.0.9", net.now)
        assert names(drain(alice)) == ["Registered", "Registered"]

    def test_binding_lost_means_nothing_before_a_registration(self) -> None:
        net, alice, _ = lab()
        assert alice.registration_lost(0.0) is None
        alice.unregister(net.now)
        net.run_until(1.0)
        assert alice.registration_lost(net.now) is alice.registration
        assert len(sent_registers(net)) == 1  # only the unregister
        assert alice.registration is not None
        assert alice.registration.state is State.Unregistered
