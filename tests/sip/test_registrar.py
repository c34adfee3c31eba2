"""The registrar and the location service (RFC 3261 §10.3; RFC 3665 §2, the registration flows).

The first tests replay RFC 3665 §2.1-2.5 on a SimNetwork: a scripted phone
(``tests/sip/scripted_peers.py``) registers with the server core, and the
test checks the ladder and the Contact list of the 200 OK, as a student
would in Wireshark. The later ones feed :class:`Registrar` single REGISTER
requests to check one rule of §10.3 each.
"""

from __future__ import annotations

from typing import Any

import pytest

from siplab.ids import IdSource
from siplab.sip.auth import add_authorization
from siplab.sip.auth_server import DigestServer
from siplab.sip.build import build_request
from siplab.sip.message import Request, Response
from siplab.sip.registrar import LocationService, Registrar
from siplab.sip.server import BindingRemoved, BindingsChanged
from siplab.sip.transport import Peer
from tests.sip.scripted_peers import DOMAIN, Lab

REGISTER_LADDER = ["-> REGISTER", "<- 401 Unauthorized", "-> REGISTER", "<- 200 OK"]


def contacts_of(response: Response) -> list[str]:
    return response.headers.get_list("Contact")


class TestRfc3665Flows:
    """RFC 3665 §2: the five registration flows, through the whole server core."""

    def test_registrar_new_registration_with_digest(self) -> None:
        """§2.1: REGISTER, 401 with a challenge, REGISTER with credentials, 200."""
        lab = Lab()
        bob = lab.phone("bob", "10.0.0.2")
        bob.register(lab.now)
        lab.run()
        assert lab.ladder("bob", "server") == REGISTER_LADDER
        challenge = bob.responses[0]
        offered = challenge.headers.get_all("WWW-Authenticate")
        # Only MD5 by default: JsSIP and SIP.js answer the last challenge, sipp the first.
        assert [v.split("algorithm=")[1].split(",")[0] for v in offered] == ["MD5"]
        assert 'realm="biloxi.example.com"' in offered[0]
        ok = bob.last_response("REGISTER")
        assert contacts_of(ok) == ["<sip:bob@10.0.0.2:5060>;expires=3600"]
        assert ok.to_tag is not None
        lab.assert_clean(bindings=1)

    def test_registrar_update_adds_a_second_contact(self) -> None:
        """§2.2: a second REGISTER adds a contact; the 200 lists both, newest first."""
        lab = Lab()
        bob = lab.phone("bob", "10.0.0.2")
        bob.register(lab.now)
        lab.run(10)
        bob.register(lab.now, contacts=["<mailto:bob@biloxi.example.com>"])
        lab.run()
        assert lab.ladder("bob", "server") == REGISTER_LADDER * 2
        assert contacts_of(bob.last_response("REGISTER")) == [
            "<mailto:bob@biloxi.example.com>;expires=3600",
            "<sip:bob@10.0.0.2:5060>;expires=3590",
        ]
        lab.assert_clean(bindings=2)

    def test_registrar_query_lists_current_contacts(self) -> None:
        """§2.3: a REGISTER without Contact changes nothing and lists the bindings."""
        lab = Lab()
        bob = lab.phone("bob", "10.0.0.2")
        bob.register(lab.now)
        lab.run(100)
        bob.register(lab.now, contacts=[])
        lab.run()
        query = [r for r in lab.net.records if r.label == "REGISTER"][-1]
        assert b"\r\nContact:" not in query.data
        assert contacts_of(bob.last_response("REGISTER")) == [
            "<sip:bob@10.0.0.2:5060>;expires=3500"]
        lab.assert_clean(bindings=1)

    def test_registrar_cancellation_with_wildcard_removes_everything(self) -> None:
        """§2.4: Contact: * with Expires: 0 removes every binding; the 200 lists none."""
        lab = Lab()
        bob = lab.phone("bob", "10.0.0.2")
        desk = lab.phone("bob", "10.0.0.3", name="bob-desk")
        bob.register(lab.now)
        desk.register(lab.now)
        lab.run()
        assert lab.server.stats().bindings == 2
        bob.register(lab.now, contacts=["*"], expires=0)
        lab.run()
        assert lab.ladder("bob", "server") == REGISTER_LADDER * 2
        assert contacts_of(bob.last_response("REGISTER")) == []
        lab.assert_clean(bindings=0)

    def test_registrar_cancellation_of_one_contact_with_expires_zero(self) -> None:
        """§2.4, second form: ``;expires=0`` on one contact removes only that one."""
        lab = Lab()
        bob = lab.phone("bob", "10.0.0.2")
        desk = lab.phone("bob", "10.0.0.3", name="bob-desk")
        bob.register(lab.now)
        desk.register(lab.now)
        lab.run()
        bob.unregister(lab.now)
        lab.run()
        assert contacts_of(bob.last_response("REGISTER")) == [
            "<sip:bob@10.0.0.3:5060>;expires=3598"]
        lab.assert_clean(bindings=1)

    def test_registrar_wrong_password_gets_403(self) -> None:
        """§2.5 (with the issue's choice): a wrong password ends in 403 Forbidden."""
        lab = Lab()
        bob = lab.phone("bob", "10.0.0.2", password="not-the-password")
        bob.register(lab.now)
        lab.run()
        assert lab.ladder("bob", "server") == [
            "-> REGISTER", "<- 401 Unauthorized", "-> REGISTER", "<- 403 Forbidden"]
        assert bob.statuses("REGISTER") == [401, 403]
        lab.assert_clean(bindings=0)

    def test_registrar_unknown_user_gets_the_same_403(self) -> None:
        lab = Lab()
        mallory = lab.phone("mallory", "10.0.0.66", password="guess")
        mallory.register(lab.now)
        lab.run()
        assert mallory.statuses("REGISTER") == [401, 403]
        lab.assert_clean(bindings=0)


class TestServerRegistration:
    """Registration through the server: q-values, expiry by the clock, 423, open mode."""

    def test_registrar_lists_contacts_by_q_value(self) -> None:
        lab = Lab()
        bob = lab.phone("bob", "10.0.0.2")
        bob.register(lab.now, contacts=["<sip:bob@10.0.0.2>;q=0.5",
                                        "<sip:bob@10.0.0.3>;q=0.9",
                                        "<sip:bob@10.0.0.4>"])
        lab.run()
        assert contacts_of(bob.last_response("REGISTER")) == [
            "<sip:bob@10.0.0.4>;expires=3600",
            "<sip:bob@10.0.0.3>;q=0.9;expires=3600",
            "<sip:bob@10.0.0.2>;q=0.5;expires=3600",
        ]
        lab.assert_clean(bindings=3)

    def test_bindings_expire_by_the_clock(self) -> None:
        """Nothing lingers: the server's timer includes the next expiry, and fires it."""
        lab = Lab()
        bob = lab.phone("bob", "10.0.0.2")
        alice = lab.phone("alice", "10.0.0.1")
        bob.register(lab.now, expires=120)
        alice.register(lab.now, expires=300)
        lab.run()
        registered_at = lab.now
        assert lab.server.stats().bindings == 2
        lab.settle()
        assert lab.server.get_timer() == pytest.approx(registered_at - 2 + 120, abs=0.1)
        lab.net.run_until(125)
        assert lab.server.stats().bindings == 1
        assert lab.server.location.aors() == [f"sip:alice@{DOMAIN}"]
        lab.net.run_until(305)
        assert lab.server.stats().bindings == 0
        assert lab.server.get_timer() is None
        removed = [e for e in iter(lab.server.next_event, None) if isinstance(e, BindingRemoved)]
        assert [(e.binding.aor, e.reason) for e in removed] == [
            (f"sip:bob@{DOMAIN}", "expired"), (f"sip:alice@{DOMAIN}", "expired")]
        lab.assert_clean(bindings=0)

    def test_registrar_423_for_too_short_expires(self) -> None:
        lab = Lab()
        bob = lab.phone("bob", "10.0.0.2")
        bob.register(lab.now, expires=30)
        lab.run()
        assert bob.statuses("REGISTER") == [401, 423]
        assert bob.last_response("REGISTER").headers.get("Min-Expires") == "60"
        lab.assert_clean(bindings=0)

    def test_registrar_caps_long_expires(self) -> None:
        lab = Lab(max_expires=600, default_expires=600)
        bob = lab.phone("bob", "10.0.0.2")
        bob.register(lab.now, expires=86400)
        lab.run()
        assert contacts_of(bob.last_response("REGISTER")) == [
            "<sip:bob@10.0.0.2:5060>;expires=600"]
        lab.assert_clean(bindings=1)

    def test_open_mode_accepts_register_without_a_challenge(self) -> None:
        lab = Lab(users=None)
        anyone = lab.phone("anyone", "10.0.0.7")
        anyone.register(lab.now)
        lab.run()
        assert lab.ladder("anyone", "server") == ["-> REGISTER", "<- 200 OK"]
        lab.assert_clean(bindings=1)

    def test_server_reports_binding_changes(self) -> None:
        lab = Lab(users=None)
        bob = lab.phone("bob", "10.0.0.2")
        bob.register(lab.now)
        lab.run()
        changes = [e for e in iter(lab.server.next_event, None) if isinstance(e, BindingsChanged)]
        assert [(e.aor, [str(b.uri) for b in e.bindings]) for e in changes] == [
            (f"sip:bob@{DOMAIN}", ["sip:bob@10.0.0.2:5060"])]
        assert changes[0].bindings[0].source == Peer("10.0.0.2", 5060, "udp")


# -- one rule at a time, on the Registrar itself -----------------------------------------------

BOB = Peer("10.0.0.2", 5060)


def make_registrar(*, users: dict[str, str] | None = None, **options: Any) -> Registrar:
    ids = IdSource("registrar")
    digest = None if users is None else DigestServer(DOMAIN, secret=b"s" * 16, ids=ids,
                                                     nonce_lifetime=30)
    return Registrar([DOMAIN], users=users, digest=digest, ids=ids, **options)


def register(*contacts: str, user: str = "bob", cseq: int = 1, expires: str | None = None,
             call_id: str = "reg-1", uri: str = f"sip:{DOMAIN}",
             extra: tuple[tuple[str, str], ...] = ()) -> Request:
    headers = [("Contact", c) for c in contacts] + list(extra)
    if expires is not None:
        headers.append(("Expires", expires))
    return build_request("REGISTER", uri, from_=f"<sip:{user}@{DOMAIN}>",
                         to=f"<sip:{user}@{DOMAIN}>", via_host="10.0.0.2", via_port=5060,
                         ids=IdSource(cseq), call_id=call_id, cseq=cseq, headers=headers)


def answer(registrar: Registrar, request: Request, now: float = 0.0) -> Response:
    return registrar.handle_register(request, BOB, now)


class TestRegistrarRules:
    """RFC 3261 §10.3, steps 1 to 8."""

    def test_register_for_another_domain_gets_404(self) -> None:
        response = answer(make_registrar(), register("<sip:bob@10.0.0.2>",
                                                     uri="sip:atlanta.example.com"))
        assert response.status == 404

    def test_required_extension_gets_420_with_unsupported(self) -> None:
        request = register("<sip:bob@10.0.0.2>", extra=(("Require", "path"),))
        response = answer(make_registrar(), request)
        assert (response.status, response.headers.get("Unsupported")) == (420, "path")

    def test_user_may_not_register_someone_elses_aor(self) -> None:
        registrar = make_registrar(users={"bob": "builder", "carol": "singer"})
        request = register("<sip:carol@10.0.0.2>", user="carol")
        challenge = answer(registrar, request)
        retry = add_authorization(request, challenge, username="bob", password="builder",
                                  ids=IdSource(2))
        response = answer(registrar, retry)
        assert response.status == 403
        assert "bob may not register" in response.reason
        assert len(registrar.location) == 0

    def test_correct_password_with_expired_nonce_gets_401_stale(self) -> None:
        registrar = make_registrar(users={"bob": "builder"})
        request = register("<sip:bob@10.0.0.2>")
        challenge = answer(registrar, request, now=0.0)
        retry = add_authorization(request, challenge, username="bob", password="builder",
                                  ids=IdSource(2))
        response = answer(registrar, retry, now=100.0)  # nonce lifetime is 30 s
        assert response.status == 401
        assert "stale=TRUE" in (response.headers.get("WWW-Authenticate") or "")

    def test_wildcard_needs_expires_zero_and_no_other_contact(self) -> None:
        registrar = make_registrar()
        assert answer(registrar, register("*", expires="3600")).status == 400
        assert answer(registrar, register("*", "<sip:bob@10.0.0.2>", expires="0")).status == 400
        assert answer(registrar, register("*", expires="0")).status == 200

    def test_older_cseq_for_the_same_call_id_fails(self) -> None:
        """§10.3 step 7: a REGISTER older than the binding's last update is refused."""
        registrar = make_registrar()
        assert answer(registrar, register("<sip:bob@10.0.0.2>", cseq=5)).status == 200
        late = answer(registrar, register("<sip:bob@10.0.0.2>;expires=0", cseq=4), now=1.0)
        assert late.status == 500
        assert len(registrar.location) == 1
        other_call = register("<sip:bob@10.0.0.2>;expires=0", cseq=1, call_id="reg-2")
        assert answer(registrar, other_call, now=2.0).status == 200
        assert len(registrar.location) == 0

    def test_failed_register_commits_nothing(self) -> None:
        """All or nothing: one contact asking for 10 s spoils the whole REGISTER."""
        registrar = make_registrar()
        request = register("<sip:bob@10.0.0.2>", "<sip:bob@10.0.0.3>;expires=10")
        response = answer(registrar, request)
        assert response.status == 423
        assert len(registrar.location) == 0

    def test_bad_q_value_is_a_parse_error(self) -> None:
        with pytest.raises(ValueError, match="q value"):
            answer(make_registrar(), register("<sip:bob@10.0.0.2>;q=2"))

    def test_same_instance_replaces_the_old_contact(self) -> None:
        """RFC 5626/5627: a browser that reloads registers a new contact, same instance."""
        registrar = make_registrar()
        instance = '+sip.instance="<urn:uuid:00000000-0000-1000-8000-000a95a0e128>"'
        answer(registrar, register(f"<sip:a1@x1.invalid;transport=ws>;{instance};reg-id=1"))
        response = answer(registrar, register(
            f"<sip:b2@y2.invalid;transport=ws>;{instance};reg-id=1", call_id="reg-2"), now=5.0)
        assert [str(b.uri) for b in registrar.location] == ["sip:b2@y2.invalid;transport=ws"]
        assert len(response.headers.get_list("Contact")) == 1

    def test_domain_names_fold_into_one_aor(self) -> None:
        registrar = Registrar([DOMAIN, "10.0.0.100"], users=None, digest=None,
                              ids=IdSource(1))
        request = build_request("REGISTER", "sip:10.0.0.100", from_="<sip:bob@10.0.0.100>",
                                to="<sip:bob@10.0.0.100>", via_host="10.0.0.2",
                                ids=IdSource(1), contact="<sip:bob@10.0.0.2>")
        assert answer(registrar, request).status == 200
        assert registrar.location.aors() == [f"sip:bob@{DOMAIN}"]


class TestLocationService:
    def test_lookup_contact_finds_the_binding_by_uri(self) -> None:
        registrar = make_registrar()
        answer(registrar, register("<sip:xk2@abc.invalid;transport=ws>"))
        found = registrar.location.lookup_contact(
            registrar.location.bindings(f"sip:bob@{DOMAIN}", 0)[0].uri)
        assert found is not None
        assert found.source == BOB

    def test_expire_removes_only_what_is_due(self) -> None:
        registrar = make_registrar()
        answer(registrar, register("<sip:bob@10.0.0.2>;expires=100", "<sip:bob@10.0.0.3>"))
        location: LocationService = registrar.location
        assert location.get_timer() == 100.0
        assert [str(b.uri) for b in location.expire(99.0)] == []
        assert [str(b.uri) for b in location.expire(100.0)] == ["sip:bob@10.0.0.2"]
        assert location.get_timer() == 3600.0
        assert len(location) == 1
