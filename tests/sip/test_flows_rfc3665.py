"""RFC 3665's basic call flows, with the real user agent core and the real server core.

RFC 3665 ("SIP Basic Call Flow Examples") draws every flow hop by hop:
§2 registration (new, update, query, cancellation, wrong password) and §3
sessions (established; no answer, busy, no response, temporarily
unavailable). Here alice, bob and bob's second phone are
:class:`~siplab.sip.useragent.UserAgentCore` objects registered to a
:class:`~siplab.sip.server.ServerCore` (registrar and proxy for
biloxi.example.com) on a SimNetwork with 10 ms per hop, so each flow is
asserted as the ladder of each hop (``lab.hop("alice", "server")``).

Where siplab differs from the RFC's pictures, on purpose:

* every REGISTER and every challenged request gets its own 401/407 round
  trip (the UA does not reuse a nonce before the server offers one);
* a wrong password gets ``403 Forbidden``, not a second 401 (the server's
  choice, see :mod:`siplab.sip.registrar`);
* the transaction layer answers ``100 Trying`` to every INVITE at once, on
  every hop, even one that is then challenged.

Each flow also runs under loss (:data:`tests.sip.flows.LOSSES`: every third
datagram, or 30 % at random with a fixed seed, on each phone's link): it
still completes, and the ladder shows the retransmissions that recovered
what was lost. Afterwards nothing is left anywhere but the registration
refreshes and the binding expiries (:meth:`FlowLab.assert_clean`).
"""

from __future__ import annotations

import pytest

from siplab.lab import DropAll, DropIf, DropNext
from siplab.sip.events import (
    Registered,
    RegistrationFailed,
    RegistrationQueried,
    SessionEstablished,
    SessionProgress,
    SessionTerminated,
    Unregistered,
)
from siplab.sip.invite import Session
from siplab.sip.message import Request, parse_message
from tests.sip.flows import (
    DOMAIN,
    LOSSES,
    SDP,
    FlowLab,
    Loss,
    acked,
    sdp,
)

BOB = f"sip:bob@{DOMAIN}"
BOB_AOR = f"sip:bob@{DOMAIN}"
DESK = "sip:bob@10.0.0.2:5060;transport=udp"
MOBILE = "sip:bob@10.0.0.4:5060;transport=udp"
REGISTER_LADDER = ["-> REGISTER", "<- 401 Unauthorized", "-> REGISTER", "<- 200 OK"]
VARIANTS = [None, *LOSSES]


def sent_requests(lab: FlowLab, method: str) -> list[Request]:
    found = [parse_message(r.data) for r in lab.net.records if not r.dropped]
    return [m for m in found if isinstance(m, Request) and m.method == method]


# -- §2 registration ----------------------------------------------------------------------------


@pytest.mark.parametrize("loss", VARIANTS, ids=str)
class TestRegistration:
    """RFC 3665 §2: REGISTER with digest, through every case the registrar handles."""

    def test_2_1_successful_new_registration(self, loss: Loss | None) -> None:
        lab = FlowLab()
        bob = lab.ua("bob")
        if loss is not None:
            loss.apply(lab, "bob", both_ways=True)
        bob.register(lab.now)
        lab.until(lambda: lab.reported("bob", Registered))
        lab.check(loss, {("bob", "server"): REGISTER_LADDER})
        registered = lab.last("bob", Registered)
        assert [str(c.uri) for c in registered.contacts] == [DESK]
        assert registered.expires == 600
        assert [str(b.uri) for b in lab.server.location.bindings(BOB_AOR, lab.now)] == [DESK]
        lab.assert_clean()
        assert bob.get_timer() == bob.registration.refresh_at  # type: ignore[union-attr]

    def test_2_2_update_of_contact_list(self, loss: Loss | None) -> None:
        """A second phone of Bob's registers: the 200 lists both contacts."""
        lab = FlowLab()
        lab.ua("bob")
        mobile = lab.ua("bob-mobile", user="bob")
        lab.registered("bob")
        if loss is not None:
            loss.apply(lab, "bob-mobile", both_ways=True)
        mobile.register(lab.now)
        lab.until(lambda: lab.reported("bob-mobile", Registered))
        lab.check(loss, {("bob-mobile", "server"): REGISTER_LADDER})
        contacts = [str(c.uri) for c in lab.last("bob-mobile", Registered).contacts]
        assert contacts == [MOBILE, DESK]  # the newest first
        assert lab.server.stats().bindings == 2
        lab.assert_clean()

    def test_2_3_request_for_current_contact_list(self, loss: Loss | None) -> None:
        """A REGISTER without Contact is a query: the bindings stay as they are."""
        lab = FlowLab()
        desk = lab.ua("bob")
        lab.ua("bob-mobile", user="bob")
        lab.registered("bob", "bob-mobile")
        if loss is not None:
            loss.apply(lab, "bob", both_ways=True)
        desk.query_registrations(lab.now)
        lab.until(lambda: lab.reported("bob", RegistrationQueried))
        lab.check(loss, {("bob", "server"): REGISTER_LADDER})
        query = sent_requests(lab, "REGISTER")[-1]
        assert query.headers.get("Contact") is None
        contacts = [str(c.uri) for c in lab.last("bob", RegistrationQueried).contacts]
        assert contacts == [MOBILE, DESK]
        assert lab.server.stats().bindings == 2
        lab.assert_clean()

    def test_2_4_cancellation_of_registration(self, loss: Loss | None) -> None:
        """``Contact: *`` with ``Expires: 0`` removes every binding of the AOR."""
        lab = FlowLab()
        desk = lab.ua("bob")
        lab.ua("bob-mobile", user="bob")
        lab.registered("bob", "bob-mobile")
        if loss is not None:
            loss.apply(lab, "bob", both_ways=True)
        desk.unregister(lab.now, all_contacts=True)
        lab.until(lambda: lab.reported("bob", Unregistered))
        lab.check(loss, {("bob", "server"): REGISTER_LADDER})
        cancel = sent_requests(lab, "REGISTER")[-1]
        assert (cancel.headers.get("Contact"), cancel.headers.get("Expires")) == ("*", "0")
        ok = [parse_message(r.data) for r in lab.records("bob", "server") if not r.dropped][-1]
        assert ok.headers.get("Contact") is None  # nothing left to list
        assert lab.server.stats().bindings == 0
        assert desk.registration is not None
        assert desk.registration.refresh_at is None
        lab.assert_clean()

    def test_2_4_cancellation_of_one_contact(self, loss: Loss | None) -> None:
        """``Contact: <ours>;expires=0`` (Expires: 0) removes only this phone's binding."""
        lab = FlowLab()
        lab.ua("bob")
        mobile = lab.ua("bob-mobile", user="bob")
        lab.registered("bob", "bob-mobile")
        if loss is not None:
            loss.apply(lab, "bob-mobile", both_ways=True)
        mobile.unregister(lab.now)
        lab.until(lambda: lab.reported("bob-mobile", Unregistered))
        lab.check(loss, {("bob-mobile", "server"): REGISTER_LADDER})
        assert [str(b.uri) for b in lab.server.location.bindings(BOB_AOR, lab.now)] == [DESK]
        lab.assert_clean()

    def test_2_5_unsuccessful_registration(self, loss: Loss | None) -> None:
        """A wrong password: the digest is checked and refused with 403 Forbidden."""
        lab = FlowLab()
        bob = lab.ua("bob", password="not-the-builder")
        if loss is not None:
            loss.apply(lab, "bob", both_ways=True)
        bob.register(lab.now)
        lab.until(lambda: lab.reported("bob", RegistrationFailed))
        lab.check(loss, {("bob", "server"): ["-> REGISTER", "<- 401 Unauthorized",
                                              "-> REGISTER", "<- 403 Forbidden"]})
        failed = lab.last("bob", RegistrationFailed)
        assert (failed.status, failed.reason) == (403, "Forbidden")
        assert lab.server.stats().bindings == 0
        lab.assert_clean()
        assert bob.get_timer() is None  # a failed registration is not refreshed


def test_2_1_first_register_lost_is_sent_again_by_timer_e() -> None:
    """DropNext on the first REGISTER: Timer E sends it again T1 later."""
    lab = FlowLab()
    bob = lab.ua("bob")
    lab.link("bob", "server", DropNext(1), both_ways=False)
    bob.register(lab.now)
    lab.run(2)
    assert lab.hop("bob", "server") == ["-> REGISTER (lost)", *REGISTER_LADDER]
    first, again = lab.records("bob", "server")[:2]
    assert again.time_sent - first.time_sent == pytest.approx(0.5)  # T1
    assert first.data == again.data
    lab.assert_clean()


# -- §3 sessions --------------------------------------------------------------------------------


def two_phones(loss: Loss | None, *, both_ways: bool = False,
               **server_options: object) -> FlowLab:
    """Alice and Bob registered; then the loss pattern (if any) on both their links
    (counting both directions together with ``both_ways``: for the short flows)."""
    lab = FlowLab(**server_options)  # type: ignore[arg-type]
    lab.ua("alice")
    lab.ua("bob")
    lab.registered("alice", "bob")
    if loss is not None:
        loss.apply(lab, "alice", "bob", both_ways=both_ways)
    return lab


def ringing(lab: FlowLab) -> tuple[Session, Session]:
    """Alice calls Bob; Bob's phone rings. Returns (outgoing, incoming)."""
    outgoing = lab.uas["alice"].call(BOB, lab.now, body=SDP)
    incoming = lab.incoming("bob", seconds=40)
    lab.uas["bob"].progress(incoming, lab.now)
    lab.run(0.1)
    return outgoing, incoming


def ended(lab: FlowLab, *names: str) -> bool:
    return all(lab.reported(name, SessionTerminated) for name in names)


SESSION_LADDER = ["-> INVITE", "<- 100 Trying", "<- 180 Ringing", "<- 200 OK", "-> ACK",
                  "-> BYE", "<- 200 OK"]


@pytest.mark.parametrize("loss", VARIANTS, ids=str)
class TestSessions:
    """RFC 3665 §3.1 and §3.8-§3.11, through the proxy."""

    def test_3_1_successful_session_establishment(self, loss: Loss | None) -> None:
        """The server challenges only REGISTER by default: no 407 in the call."""
        lab = two_phones(loss)
        alice, bob = lab.uas["alice"], lab.uas["bob"]
        outgoing, incoming = ringing(lab)
        bob.accept(incoming, lab.now, body=sdp("bob"))
        lab.until(lambda: lab.reported("alice", SessionEstablished) and acked(incoming))
        alice.bye(outgoing, lab.now)
        lab.until(lambda: ended(lab, "alice", "bob"))
        lab.check(loss, {("alice", "server"): SESSION_LADDER,
                         ("server", "bob"): SESSION_LADDER})
        assert lab.last("alice", SessionTerminated).cause == "bye"
        assert lab.last("bob", SessionTerminated).cause == "remote bye"
        assert outgoing.remote_body == sdp("bob")
        assert incoming.remote_body == SDP
        lab.assert_clean()

    def test_3_1_with_the_proxy_challenging_the_invite(self, loss: Loss | None) -> None:
        """``authenticate_calls``: 407, ACK, and the INVITE again with credentials."""
        lab = two_phones(loss, authenticate_calls=True)
        alice, bob = lab.uas["alice"], lab.uas["bob"]
        outgoing, incoming = ringing(lab)
        bob.accept(incoming, lab.now, body=sdp("bob"))
        lab.until(lambda: lab.reported("alice", SessionEstablished) and acked(incoming))
        alice.bye(outgoing, lab.now)
        lab.until(lambda: ended(lab, "alice", "bob"))
        lab.check(loss, {
            ("alice", "server"): ["-> INVITE", "<- 100 Trying",
                                  "<- 407 Proxy Authentication Required", "-> ACK",
                                  *SESSION_LADDER],
            ("server", "bob"): SESSION_LADDER,
        })
        invites = [m for m in sent_requests(lab, "INVITE") if m.via_count == 1]
        assert invites[0].headers.get("Proxy-Authorization") is None
        assert invites[-1].headers.get("Proxy-Authorization", "").startswith("Digest ")
        forwarded = [m for m in sent_requests(lab, "INVITE") if m.via_count == 2]
        assert all(m.headers.get("Proxy-Authorization") is None for m in forwarded)
        lab.assert_clean()

    def test_3_8_unsuccessful_no_answer(self, loss: Loss | None) -> None:
        """Bob does not answer; Alice hangs up: CANCEL, 200, 487 on both hops."""
        lab = two_phones(loss)
        alice = lab.uas["alice"]
        outgoing, _incoming = ringing(lab)
        lab.run(2)
        alice.cancel(outgoing, lab.now)
        lab.until(lambda: ended(lab, "alice", "bob"))
        ladder = ["-> INVITE", "<- 100 Trying", "<- 180 Ringing", "-> CANCEL", "<- 200 OK",
                  "<- 487 Request Terminated", "-> ACK"]
        lab.check(loss, {("alice", "server"): ladder, ("server", "bob"): ladder})
        terminated = lab.last("alice", SessionTerminated)
        assert (terminated.cause, terminated.status) == ("cancelled", 487)
        assert lab.last("bob", SessionTerminated).cause == "cancelled"
        lab.assert_clean()

    def test_3_9_unsuccessful_busy(self, loss: Loss | None) -> None:
        lab = two_phones(loss, both_ways=True)
        lab.uas["alice"].call(BOB, lab.now, body=SDP)
        lab.uas["bob"].reject(lab.incoming("bob", seconds=40), lab.now, 486)
        lab.until(lambda: ended(lab, "alice"))
        ladder = ["-> INVITE", "<- 100 Trying", "<- 486 Busy Here", "-> ACK"]
        lab.check(loss, {("alice", "server"): ladder, ("server", "bob"): ladder})
        terminated = lab.last("alice", SessionTerminated)
        assert (terminated.cause, terminated.status) == ("rejected", 486)
        assert lab.names("alice")[-1:] == ["SessionTerminated"]
        assert not lab.reported("alice", SessionProgress)
        lab.assert_clean()

    def test_3_10_unsuccessful_no_response_from_uas(self, loss: Loss | None) -> None:
        """Bob's phone vanished after registering: the proxy's Timer B ends it with 408."""
        lab = FlowLab()
        alice = lab.ua("alice")
        lab.ua("bob")
        lab.registered("alice", "bob")
        if loss is not None:
            loss.apply(lab, "alice", both_ways=True)
        lab.link("server", "bob", DropAll())
        alice.call(BOB, lab.now, body=SDP)
        lab.until(lambda: ended(lab, "alice"))
        lab.check(loss, {("alice", "server"): ["-> INVITE", "<- 100 Trying",
                                                "<- 408 Request Timeout", "-> ACK"]})
        # Timer A: 0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s; Timer B at 32 s.
        assert lab.hop("server", "bob") == ["-> INVITE (lost)"] * 7
        terminated = lab.last("alice", SessionTerminated)
        assert (terminated.cause, terminated.status) == ("rejected", 408)
        lab.assert_clean()

    def test_3_11_unsuccessful_temporarily_unavailable(self, loss: Loss | None) -> None:
        lab = two_phones(loss)
        alice, bob = lab.uas["alice"], lab.uas["bob"]
        _outgoing, incoming = ringing(lab)
        bob.reject(incoming, lab.now, 480)
        lab.until(lambda: ended(lab, "alice"))
        ladder = ["-> INVITE", "<- 100 Trying", "<- 180 Ringing",
                  "<- 480 Temporarily Unavailable", "-> ACK"]
        lab.check(loss, {("alice", "server"): ladder, ("server", "bob"): ladder})
        assert lab.last("alice", SessionTerminated).status == 480
        assert alice.sessions == {}
        lab.assert_clean()


def test_3_11_user_not_registered_gets_480_from_the_proxy() -> None:
    """Bob has an account but no phone registered: the proxy answers for him."""
    lab = FlowLab()
    alice = lab.ua("alice")
    lab.ua("bob")
    lab.registered("alice")
    alice.call(BOB, lab.now, body=SDP)
    lab.run(1)
    assert lab.hop("alice", "server") == [
        "-> INVITE", "<- 100 Trying", "<- 480 Temporarily Unavailable (not registered)",
        "-> ACK"]
    assert lab.hop("server", "bob") == []
    assert lab.last("alice", SessionTerminated).status == 480
    lab.assert_clean()


def test_3_1_lost_200_and_lost_ack_are_recovered_by_the_callee() -> None:
    """DropIf on one 200 OK and one ACK between the server and Bob: Bob's UA core sends
    its 200 again (T1 later, §13.3.1.4) until an ACK arrives; the caller ACKs each copy."""
    lab = two_phones(None)
    alice, bob = lab.uas["alice"], lab.uas["bob"]
    lost_200 = DropIf(lambda line: line == "SIP/2.0 200 OK", limit=1, name="200")
    lab.link("bob", "server", lost_200, both_ways=False)
    lab.link("server", "bob", DropIf(lambda line: line.startswith("ACK"), limit=1,
                                     name="ACK"), both_ways=False)
    outgoing, incoming = ringing(lab)
    bob.accept(incoming, lab.now, body=sdp("bob"))
    lab.run(3)
    assert lab.hop("server", "bob") == [
        "-> INVITE", "<- 100 Trying", "<- 180 Ringing", "<- 200 OK (lost)", "<- 200 OK",
        "-> ACK (lost)", "<- 200 OK", "-> ACK"]
    assert lab.hop("alice", "server") == [
        "-> INVITE", "<- 100 Trying", "<- 180 Ringing", "<- 200 OK", "-> ACK", "<- 200 OK",
        "-> ACK"]
    alice.bye(outgoing, lab.now)
    lab.until(lambda: ended(lab, "alice", "bob"))
    lab.assert_clean()


def test_flows_are_identical_run_after_run() -> None:
    """Seeded ids and a seeded network: the same bytes at the same times, every run."""

    def run() -> list[tuple[float, str, bytes]]:
        lab = two_phones(LOSSES[1])
        outgoing, incoming = ringing(lab)
        lab.uas["bob"].accept(incoming, lab.now, body=sdp("bob"))
        lab.run(2)
        lab.uas["alice"].bye(outgoing, lab.now)
        lab.settle()
        return [(r.time_sent, lab.net.name_of(r.dst), r.data) for r in lab.net.records]

    assert run() == run()
