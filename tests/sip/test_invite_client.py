"""The caller's side against scripted callees: forks, redirects, digest.

RFC 3261 §13.2.2.4 (forks), §8.1.3.4 (redirects), §22.2-22.3 (digest).

The callee here is a :class:`tests.sip.scripted.ScriptedEndpoint`: a
transaction layer whose answers a test function writes, so it can do what a
forking proxy or a redirect server does. Alice (10.0.0.1) is a real
:class:`~siplab.sip.useragent.UserAgentCore`.
"""

from __future__ import annotations

import pytest

from siplab.lab import SimNetwork
from siplab.sip.auth import parse_credentials
from siplab.sip.auth_server import DigestServer
from siplab.sip.events import IncomingCall, SessionTerminated
from siplab.sip.invite_client import MAX_REDIRECTS
from siplab.sip.invite_table import SessionState
from siplab.sip.message import Request, parse_message
from siplab.sip.transaction import ServerTransaction
from siplab.sip.useragent import UserAgentCore
from tests.sip.ladders import assert_ladder, drain, names, only, phone, phones
from tests.sip.scripted import ScriptedEndpoint

State = SessionState


def requests_sent(net: SimNetwork, method: str) -> list[Request]:
    out = []
    for record in net.records:
        message = parse_message(record.data)
        if isinstance(message, Request) and message.method == method:
            out.append(message)
    return out


def with_callee(handler: object, host: str = "10.0.0.2",
                **options: object) -> tuple[SimNetwork, UserAgentCore, ScriptedEndpoint]:
    net = SimNetwork(delay=0.01)
    alice = phone(net, "alice", **options)  # type: ignore[arg-type]
    callee = ScriptedEndpoint(handler)  # type: ignore[arg-type]
    net.add(callee, host, 5060, name="callee")
    return net, alice, callee


class TestForking:
    """§13.2.2.4: two forks answer; the first 2xx wins, the other is ACKed and BYEd."""

    @staticmethod
    def two_phones_answer(endpoint: ScriptedEndpoint, request: Request,
                          tx: ServerTransaction | None, now: float) -> None:
        if tx is None:
            return
        if request.method == "INVITE":  # what a forking proxy passes back from two phones
            desk = [("Contact", "<sip:bob-desk@10.0.0.2:5060>")]
            mobile = [("Contact", "<sip:bob-mobile@10.0.0.2:5060>")]
            endpoint.answer(tx, 180, now, to_tag="desk", headers=desk)
            endpoint.answer(tx, 180, now, to_tag="mobile", headers=mobile)
            endpoint.answer(tx, 200, now, to_tag="desk", headers=desk)
            endpoint.answer(tx, 200, now, to_tag="mobile", headers=mobile)
        else:
            endpoint.answer(tx, 200, now)

    def test_second_2xx_is_acked_and_byed(self) -> None:
        net, alice, _callee = with_callee(self.two_phones_answer)
        session = alice.call("sip:bob@10.0.0.2", net.now)
        net.run_until(1.0)
        assert_ladder(net, ["INVITE", "100 Trying", "180 Ringing", "180 Ringing", "200 OK",
                            "200 OK", "ACK", "ACK", "BYE", "200 OK"])
        assert session.state is State.Established
        assert session.dialog is not None
        assert session.dialog.remote_tag == "desk"
        assert session.early_dialogs == {}
        acks, byes = requests_sent(net, "ACK"), requests_sent(net, "BYE")
        assert [a.to_tag for a in acks] == ["desk", "mobile"]
        assert [str(a.uri) for a in acks] == ["sip:bob-desk@10.0.0.2:5060",
                                              "sip:bob-mobile@10.0.0.2:5060"]
        assert [b.to_tag for b in byes] == ["mobile"]
        assert names(drain(alice)) == ["SessionProgress", "SessionProgress",
                                       "SessionEstablished"]

    def test_the_kept_call_hangs_up_normally_and_nothing_is_left(self) -> None:
        net, alice, _callee = with_callee(self.two_phones_answer)
        session = alice.call("sip:bob@10.0.0.2", net.now)
        net.run_until(1.0)
        alice.bye(session, net.now)
        net.run()
        assert [b.to_tag for b in requests_sent(net, "BYE")] == ["mobile", "desk"]
        assert only(drain(alice), SessionTerminated).cause == "bye"
        assert not alice.sessions
        assert not alice.layer.client_transactions


class TestRedirect:
    """§8.1.3.4: a 3xx is followed to its Contact with a new INVITE."""

    @staticmethod
    def moved(endpoint: ScriptedEndpoint, request: Request, tx: ServerTransaction | None,
              now: float) -> None:
        if tx is not None and request.method == "INVITE":
            endpoint.answer(tx, 302, now, headers=[
                ("Contact", "<sip:bob@10.0.0.2>;q=0.5, <sip:bob@10.0.0.4>;q=0.1")])

    def test_302_is_followed_to_the_highest_q_contact(self) -> None:
        net = SimNetwork(delay=0.01)
        alice, bob = phones(net, "alice", "bob", auto_answer=True)
        net.add(ScriptedEndpoint(self.moved), "10.0.0.3", 5060, name="redirect")
        session = alice.call("sip:bob@10.0.0.3", net.now)
        net.run_until(1.0)
        assert_ladder(net, ["INVITE", "100 Trying", "302 Moved Temporarily", "ACK",
                            "INVITE", "100 Trying", "180 Ringing", "200 OK", "ACK"])
        first, second = requests_sent(net, "INVITE")
        assert str(second.uri) == "sip:bob@10.0.0.2"
        assert second.call_id == first.call_id
        assert second.from_tag == first.from_tag
        assert second.cseq.number == first.cseq.number + 1
        assert second.branch != first.branch
        assert str(second.to.uri) == "sip:bob@10.0.0.3"  # To stays (§8.1.3.4)
        assert session.state is State.Established
        assert only(drain(bob), IncomingCall).request.uri_text == "sip:bob@10.0.0.2"

    def test_redirects_stop_after_the_limit(self) -> None:
        hops = iter(range(100))

        def always_elsewhere(endpoint: ScriptedEndpoint, request: Request,
                             tx: ServerTransaction | None, now: float) -> None:
            if tx is not None and request.method == "INVITE":
                endpoint.answer(tx, 302, now,
                                headers=[("Contact", f"<sip:bob{next(hops)}@10.0.0.3>")])

        net, alice, _ = with_callee(always_elsewhere, host="10.0.0.3")
        alice.call("sip:bob@10.0.0.3", net.now)
        net.run()
        assert len(requests_sent(net, "INVITE")) == 1 + MAX_REDIRECTS
        ended = only(drain(alice), SessionTerminated)
        assert (ended.cause, ended.status) == ("redirect limit", 302)


class TestChallengedInvite:
    """§22.2, §22.3: a 401 or 407 to the INVITE is answered once with digest."""

    @pytest.mark.parametrize(("status", "header", "answer"), [
        (401, "WWW-Authenticate", "Authorization"),
        (407, "Proxy-Authenticate", "Proxy-Authorization")])
    def test_invite_is_sent_again_with_credentials(self, status: int, header: str,
                                                   answer: str) -> None:
        digest = DigestServer("siplab", secret=b"test", algorithms=("MD5",))

        def challenging(endpoint: ScriptedEndpoint, request: Request,
                        tx: ServerTransaction | None, now: float) -> None:
            if tx is None:
                return
            if request.method != "INVITE":
                endpoint.answer(tx, 200, now)
            elif not digest.check_request(request, now, password_for={"alice": "secret"},
                                          proxy=status == 407).ok:
                endpoint.layer.send_response(
                    tx, digest.challenge_response(request, now, status=status), now)
            else:
                contact = [("Contact", "<sip:bob@10.0.0.2:5060>")]
                endpoint.answer(tx, 200, now, to_tag="bob", headers=contact)

        net, alice, _ = with_callee(challenging, password="secret")
        session = alice.call("sip:bob@10.0.0.2", net.now)
        net.run_until(1.0)
        assert net.labels()[2].startswith(str(status))
        assert net.labels()[3:] == ["ACK", "INVITE", "100 Trying", "200 OK", "ACK"]
        first, second = requests_sent(net, "INVITE")
        assert header not in first.headers
        credentials = parse_credentials(second.headers.get(answer) or "")
        assert (credentials.username, credentials.algorithm) == ("alice", "MD5")
        assert second.cseq.number == 2
        ack = requests_sent(net, "ACK")[-1]
        assert ack.headers.get(answer) == second.headers.get(answer)  # §13.2.2.4, §22.1
        assert ack.cseq.number == 2
        assert session.state is State.Established

    def test_challenge_again_ends_the_call_with_auth_failed(self) -> None:
        digest = DigestServer("siplab", secret=b"test", algorithms=("MD5",))

        def always_407(endpoint: ScriptedEndpoint, request: Request,
                       tx: ServerTransaction | None, now: float) -> None:
            if tx is not None and request.method == "INVITE":
                endpoint.layer.send_response(
                    tx, digest.challenge_response(request, now, status=407), now)

        net, alice, _ = with_callee(always_407, password="wrong")
        alice.call("sip:bob@10.0.0.2", net.now)
        net.run()
        assert len(requests_sent(net, "INVITE")) == 2
        ended = only(drain(alice), SessionTerminated)
        assert (ended.cause, ended.status) == ("auth failed", 407)
