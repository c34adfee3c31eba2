"""The user agent core answers what it cannot use, and ends calls it cannot reach.

RFC 3261 §8.2 and §12.1.1: a request whose values cannot be read is answered
(400 with a reason phrase that says what was wrong), never raised out of
``receive_datagram``; §8.1.3.4: a redirect whose Contact cannot be read is a
failure of the call; RFC 7118 §5.2: a WebSocket client's Contact
(``sip:x@y.invalid;transport=ws``) is reachable only through the proxy that
holds its connection, so a call whose dialog names it without a Record-Route
cannot send anything, and ends with the cause ``"unreachable"`` instead of
raising from ``handle_timer``. These are the cases the fuzzing of
tests/fuzz/test_cores.py found.
"""

from __future__ import annotations

from siplab.ids import IdSource
from siplab.sip.build import build_response
from siplab.sip.events import IncomingCall, SessionTerminated
from siplab.sip.message import Request, Response, parse_message
from siplab.sip.transport import Peer
from siplab.sip.useragent import UserAgentConfig, UserAgentCore
from tests.helpers import crlf

ALICE = Peer("192.0.2.20", 5060)
CALLER = Peer("192.0.2.9", 5070)


def alice(**options: object) -> UserAgentCore:
    config = UserAgentConfig(aor="sip:alice@192.0.2.1", local=ALICE,
                             **options)  # type: ignore[arg-type]
    return UserAgentCore(config, ids=IdSource("robust"))


def invite(contact: str, branch: str = "z9hG4bK-in1", cseq: int = 1) -> bytes:
    return crlf(f"""
        INVITE sip:alice@192.0.2.20:5060 SIP/2.0
        Via: SIP/2.0/UDP 192.0.2.9:5070;branch={branch}
        Max-Forwards: 70
        From: <sip:carol@192.0.2.9>;tag=c1
        To: <sip:alice@192.0.2.1>
        Call-ID: robust-1@192.0.2.9
        CSeq: {cseq} INVITE
        Contact: {contact}
        Content-Length: 0

    """)


def options() -> bytes:
    return crlf("""
        OPTIONS sip:alice@192.0.2.20:5060 SIP/2.0
        Via: SIP/2.0/UDP 192.0.2.9:5070;branch=z9hG4bK-opt1
        Max-Forwards: 70
        From: <sip:carol@192.0.2.9>;tag=c2
        To: <sip:alice@192.0.2.1>
        Call-ID: robust-2@192.0.2.9
        CSeq: 1 OPTIONS
        Content-Length: 0

    """)


def responses(ua: UserAgentCore) -> list[Response]:
    sent = [parse_message(data) for data, _ in ua.datagrams_to_send()]
    return [message for message in sent if isinstance(message, Response)]


def requests(ua: UserAgentCore) -> list[Request]:
    sent = [parse_message(data) for data, _ in ua.datagrams_to_send()]
    return [message for message in sent if isinstance(message, Request)]


def events(ua: UserAgentCore) -> list[object]:
    return list(iter(ua.next_event, None))


class TestUnreadableContact:
    """§8.2, §12.1.1: an INVITE whose Contact does not parse gets 400 saying so."""

    def test_invite_with_unreadable_contact_is_answered_400_with_the_reason(self) -> None:
        ua = alice(auto_answer=True)
        ua.receive_datagram(invite("<not a uri>"), CALLER, 1.0)
        final = [r for r in responses(ua) if r.status >= 200]
        assert [r.status for r in final] == [400]
        assert "URI" in (final[0].reason or "")
        assert not any(isinstance(e, IncomingCall) for e in events(ua))
        assert ua.sessions == {}

    def test_user_agent_keeps_answering_after_the_unreadable_invite(self) -> None:
        ua = alice()
        ua.receive_datagram(invite("<not a uri>"), CALLER, 1.0)
        responses(ua)
        ua.receive_datagram(options(), CALLER, 1.1)
        assert [r.status for r in responses(ua)] == [200]

    def test_redirect_with_unreadable_contact_fails_the_call(self) -> None:
        ua = alice()
        session = ua.call("sip:bob@192.0.2.30:5060", 0.0)
        sent = requests(ua)
        assert [r.method for r in sent] == ["INVITE"]
        redirect = build_response(sent[0], 302, to_tag="b1", headers=[("Contact", "<::>")])
        ua.receive_datagram(redirect.to_bytes(), Peer("192.0.2.30", 5060), 0.1)
        ended = [e for e in events(ua) if isinstance(e, SessionTerminated)]
        assert [(e.cause, e.status) for e in ended] == [("bad redirect", 302)]
        assert session.state == "Terminated"
        assert [r.method for r in requests(ua)] == ["ACK"]  # the 3xx is ACKed (§17.1.1.3)


class TestUnreachableTarget:
    """RFC 7118 §5.2: a dialog whose remote target is a WebSocket client's .invalid host."""

    BROWSER = "<sip:k3j2@df7jal23ls0d.invalid;transport=ws>"

    def answered_call(self) -> UserAgentCore:
        ua = alice(auto_answer=True)
        ua.receive_datagram(invite(self.BROWSER), CALLER, 1.0)
        assert [r.status for r in responses(ua)] == [100, 180, 200]
        events(ua)
        return ua

    def test_hanging_up_ends_the_call_as_unreachable(self) -> None:
        ua = self.answered_call()
        (session,) = ua.sessions.values()
        ua.bye(session, 1.1)  # held until the ACK; the ACK never comes (it could not)
        ua.handle_timer(1.0 + 64 * 0.5)  # the ACK timeout sends the held BYE: nowhere
        ended = [e for e in events(ua) if isinstance(e, SessionTerminated)]
        assert [e.cause for e in ended] == ["unreachable"]
        assert session.state == "Terminated"
        assert not [r for r in requests(ua) if r.method == "BYE"]

    def test_ack_timeout_ends_the_call_without_raising(self) -> None:
        ua = self.answered_call()
        for later in (2.0, 40.0, 400.0):
            ua.handle_timer(later)
        ended = [e for e in events(ua) if isinstance(e, SessionTerminated)]
        assert [e.cause for e in ended] == ["unreachable"]
        assert ua.sessions == {}
        ua.handle_timer(4000.0)
        assert ua.get_timer() is None  # every transaction ended too
