"""The registrar's quick ways agree with its careful ones (RFC 3261 §10.3).

A registrar sees the same REGISTER shape thousands of times a second: one
Contact without parameters, refreshed with the same URI. ``Registrar`` takes
shortcuts for that shape (the contact stored as sent, its text remembered,
AORs remembered, no Require list split) and the careful code for the rest.
Each test here feeds both kinds and checks the result is what the careful
code gives: the same stored bindings, the same Contact list in the 200.
"""

from __future__ import annotations

import random

import pytest

from siplab.ids import IdSource
from siplab.sip import registrar as registrar_module
from siplab.sip.grammar import remove_param
from siplab.sip.headers import WILDCARD, Address, parse_address
from siplab.sip.registrar import Binding, LocationService, Registrar
from siplab.sip.uri import parse_uri
from tests.sip.test_registrar import BOB, DOMAIN, answer, make_registrar, register

AOR = f"sip:bob@{DOMAIN}"

CONTACT_SHAPES = [
    "<sip:bob@10.0.0.2>",
    "<sip:bob@10.0.0.2:5070;transport=UDP>",
    "sip:bob@10.0.0.2",                                  # addr-spec: listed in brackets
    '"Bob Smith" <sip:bob@10.0.0.2>',
    "Bob <sip:bob@10.0.0.2>",
    "<sip:bob@10.0.0.2>;q=0.5",
    "<sip:bob@10.0.0.2>;EXPIRES=120;q=0.7;foo=bar",
    '<sip:b2@y2.invalid;transport=ws>;+sip.instance="<urn:uuid:1>";reg-id=1;expires=600',
    "<mailto:bob@biloxi.example.com>",
    "<tel:+15551234>;expires=300",
]


@pytest.mark.parametrize("text", CONTACT_SHAPES)
def test_registrar_stores_each_contact_shape_as_the_careful_way_would(text: str) -> None:
    registrar = make_registrar()
    for refresh in range(2):  # the first time worked out, the second remembered
        now = 10.0 * refresh
        response = answer(registrar, register(text, cseq=refresh + 1), now=now)
        assert response.status == 200
        sent = parse_address(text)
        [binding] = registrar.location.bindings(AOR, now)
        assert binding.contact == Address(sent.uri, sent.display_name,
                                          remove_param(sent.params, "expires"))
        assert binding.q == float(sent.param("q") or 1.0)
        assert (binding.instance, binding.reg_id) == (sent.param("+sip.instance"),
                                                      sent.param("reg-id"))
        assert response.headers.get_list("Contact") == [binding.contact_value(now)]


@pytest.mark.parametrize("contact", [
    parse_address("<sip:bob@10.0.0.2>;expires=5"),       # made by hand, with expires
    parse_address("<sip:bob@10.0.0.2>;q=0.1;Expires=5;x"),
    WILDCARD,
])
def test_registrar_lists_odd_hand_made_bindings_like_contact_value(contact: Address) -> None:
    registrar = make_registrar()
    binding = Binding(AOR, contact, 100.0, "c", 1, BOB, 0.0)
    for _ in range(2):
        assert registrar._contact_value(binding, 1.5) == binding.contact_value(1.5)


def test_registrar_refresh_replaces_a_contact_written_another_way() -> None:
    """§19.1.4: %62ob is bob, so it is the same device; another transport is not."""
    registrar = make_registrar()
    answer(registrar, register("<sip:bob@10.0.0.2>"))
    answer(registrar, register("<sip:%62ob@10.0.0.2>", cseq=2), now=1.0)
    assert [str(b.uri) for b in registrar.location] == ["sip:%62ob@10.0.0.2"]
    answer(registrar, register("<sip:bob@10.0.0.2;transport=tcp>", cseq=3), now=2.0)
    assert len(registrar.location) == 2


def test_registrar_treats_an_empty_require_as_no_extension() -> None:
    request = register("<sip:bob@10.0.0.2>", extra=(("Require", ""),))
    assert answer(make_registrar(), request).status == 200


def test_registrar_aor_of_follows_a_change_of_domains() -> None:
    registrar = make_registrar()
    uri = parse_uri(f"sip:%62ob@{DOMAIN}:5061")
    assert registrar.aor_of(uri) == AOR
    assert registrar.aor_of(uri) == AOR
    registrar.domains = ("lab.example",)
    assert registrar.aor_of(uri) is None
    assert registrar.aor_of(parse_uri("sip:bob@LAB.example")) == "sip:bob@lab.example"
    registrar.domains = ("lab.example", DOMAIN)
    assert registrar.aor_of(uri) == "sip:bob@lab.example"


def test_registrar_remembers_a_bounded_number_of_aors_and_contacts(
        monkeypatch: pytest.MonkeyPatch) -> None:
    size = 16
    monkeypatch.setattr(registrar_module, "_MEMO_SIZE", size)
    registrar = Registrar([DOMAIN], users=None, digest=None, ids=IdSource(1))
    for n in range(size + 50):
        request = register(f"<sip:u{n}@10.0.0.2>", user=f"u{n}", call_id=f"c{n}")
        assert answer(registrar, request).status == 200
        assert len(registrar._aors) <= size
        assert len(registrar._contact_texts) <= size
    assert registrar.aor_of(parse_uri(f"sip:u0@{DOMAIN}")) == f"sip:u0@{DOMAIN}"


def test_location_heap_compaction_keeps_every_live_expiry() -> None:
    """Refreshes leave stale heap entries; compacting them must keep every live one."""
    rng = random.Random(5)
    location = LocationService()
    contacts = [parse_address(f"<sip:u{n}@10.0.0.{n % 3}>") for n in range(40)]
    now = 0.0
    for step in range(3000):
        now += rng.choice([0.0, 0.5, 3.0])
        aor = f"sip:u{rng.randrange(40)}@{DOMAIN}"
        chosen = rng.sample(contacts, rng.randrange(3))
        location.set_bindings(aor, [
            Binding(aor, c, now + rng.randrange(1, 400), "c", step, BOB, now) for c in chosen])
        if step % 7 == 0:
            due = sorted(id(b) for b in location if b.expires_at <= now)
            assert sorted(id(b) for b in location.expire(now)) == due
        expected = min((b.expires_at for b in location), default=None)
        assert location.get_timer() == expected
        assert len(location._heap) <= 2 * len(location) + 65
