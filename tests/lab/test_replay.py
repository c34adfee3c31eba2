"""Replaying one side of a capture against a live UA or server (RFC 3261 §8.1.1, §12-§17, §22).

The replay re-sends one side's messages with a fresh dialog's Call-ID, tags,
branches and addresses (§8.1.1, §12.1), waits for the other side as the capture
did and reports each step. These tests replay:

* a good call siplab made through its LabServer (traced, written as a pcap),
  as the caller against a live siplab callee (over UDP and TCP) and as the
  callee against a live siplab caller: every step matches; straight to a
  phone, the proxy's missing Record-Route is reported (§16.6);
* a hand-written direct call (with retransmissions in it, §17.1.1.2) against
  scripted user agents that break one rule each: no 180, a 2xx whose To tag
  is not the 180's (§12.1.1), 486 instead of 200, no ACK (§13.2.2.4): the
  first divergence is reported at the step where it happens; a cancelled
  call keeps the INVITE's branch in its CANCEL and ACK (§9.1, §17.1.1.3);
* captures of real peers: a sipp call (tshark on lo) and a baresip call and
  registration (tests/lab/conftest.py) against LabServer and a live phone; a
  REGISTER whose captured Authorization answers a stale nonce is challenged
  again and answered afresh (§22.2).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any, cast

import pytest

from siplab.aio.driver import EndpointDriver
from siplab.aio.session import Invitation
from siplab.aio.transport import TransportManager
from siplab.aio.useragent import UserAgent
from siplab.ids import IdSource
from siplab.lab import Trace, read_pcap
from siplab.lab.pcap import WireMessage
from siplab.lab.pcapfile import udp_frame, write_pcap
from siplab.lab.replay import Replayer, ReplayReport, Verdict, replay
from siplab.lab.replay_rewrite import Rewriter, rewrite_sdp
from siplab.lab.replay_script import ReplayError, build_script
from siplab.rtp.g711 import dominant_frequency
from siplab.sip.build import build_request, build_response
from siplab.sip.message import Request, parse_message
from siplab.sip.timers import TimerConfig
from siplab.sip.transaction import ServerTransaction
from siplab.sip.transport import Peer
from tests.aio.phones import USERS, lab_server, phone, run
from tests.helpers import crlf, require_peer
from tests.interop.peers import free_port
from tests.lab.captures import LiveCapture
from tests.sip.scripted import ScriptedEndpoint

STEP = 1.0  # seconds a replay step waits in these tests
SCENARIO = 15.0  # seconds one whole test may take


def labels(report: ReplayReport) -> list[tuple[str, str, str]]:
    return [(row.direction, row.got, str(row.verdict)) for row in report.steps]


def explain(report: ReplayReport) -> str:
    return "\n" + report.table()


def write_capture(path: Path, messages: list[WireMessage]) -> Path:
    write_pcap(path, [(m.time, udp_frame(m.data, (m.src.host, m.src.port),
                                         (m.dst.host, m.dst.port))) for m in messages])
    return path


def sdp(host: str, port: int) -> bytes:
    return crlf(f"""
        v=0
        o=- 1 1 IN IP4 {host}
        s=-
        c=IN IP4 {host}
        t=0 0
        m=audio {port} RTP/AVP 0
        a=rtpmap:0 PCMU/8000
    """)


# -- a good call through LabServer, traced --------------------------------------------------


async def _good_call(path: Path) -> Path:
    trace = Trace()
    async with AsyncExitStack() as stack:
        server = await stack.enter_async_context(lab_server(trace=trace))
        alice = await stack.enter_async_context(phone(server, "alice", "udp", trace=trace))
        bob = await stack.enter_async_context(phone(server, "bob", "udp", trace=trace))
        await alice.register(timeout=2)
        await bob.register(timeout=2)
        call = await alice.call("bob")
        invitation = await bob.next_invitation(timeout=2)
        await invitation.progress(180)
        await invitation.accept()
        await call.established(timeout=2)
        await call.bye(timeout=2)
        await invitation.terminated(timeout=2)
    return write_capture(path, trace.messages)


@pytest.fixture(scope="module")
def good_call(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """alice calls bob through a LabServer: REGISTERs, INVITE, 100, 180, 200, ACK, BYE, 200."""
    return run(_good_call(tmp_path_factory.mktemp("replay") / "good-call.pcap"), SCENARIO)


@asynccontextmanager
async def lab_with(name: str, **options: Any) -> AsyncIterator[tuple[Any, UserAgent]]:
    """A fresh LabServer and one registered siplab phone ``name`` on it."""
    async with AsyncExitStack() as stack:
        users = {**USERS, name: USERS.get(name, "no-password")}
        server = await stack.enter_async_context(lab_server(users=users))
        ua = await stack.enter_async_context(phone(server, name, "udp", **options))
        await ua.register(timeout=2)
        yield server, ua


def target_of(server: Any) -> str:
    address = server.address("udp")
    return f"{address.host}:{address.port}"


class TestGoodCall:
    """The capture of a good call, replayed against siplab, matches every step."""

    def test_caller_replay_matches_every_step_against_a_live_callee(
            self, good_call: Path) -> None:
        async def scenario() -> ReplayReport:
            async with lab_with("bob", auto_answer=True) as (server, _):
                return await replay(good_call, as_="caller", target=target_of(server),
                                    timeout=STEP)

        report = run(scenario(), SCENARIO)
        assert report.ok, explain(report)
        assert [(r.direction, r.expected, r.got) for r in report.steps] == [
            ("->", "INVITE", "INVITE"), ("<-", "100 Trying", "100 Trying"),
            ("<-", "180 Ringing", "180 Ringing"), ("<-", "200 OK", "200 OK"),
            ("->", "ACK", "ACK"), ("->", "BYE", "BYE"), ("<-", "200 OK", "200 OK")]

    def test_caller_replay_rewrites_the_dialog_identifiers(self, good_call: Path) -> None:
        captured = read_pcap(good_call).sip_messages
        invite = next(m.message for m in captured if m.label == "INVITE")

        async def scenario() -> ReplayReport:
            async with lab_with("bob", auto_answer=True) as (server, _):
                return await replay(good_call, as_="caller", target=target_of(server),
                                    timeout=STEP)

        report = run(scenario(), SCENARIO)
        sent = {row.expected: row.live for row in report.steps if row.direction == "->"}
        ok = next(row.live for row in report.steps if row.got == "200 OK")
        new_invite, ack = sent["INVITE"], sent["ACK"]
        assert isinstance(new_invite, Request)
        assert isinstance(ack, Request)
        assert new_invite.call_id != invite.call_id
        assert new_invite.from_tag != invite.from_tag
        assert new_invite.branch != invite.branch
        assert report.local is not None
        assert new_invite.top_via.port == report.local.port
        assert f"c=IN IP4 {report.local.host}" in new_invite.body.decode()
        assert new_invite.content_length == len(new_invite.body)
        # In the dialog: the live peer's tag, its Contact as Request-URI, its Record-Route.
        assert ok is not None
        assert ack.to_tag == ok.to_tag
        assert ack.uri_text == str(ok.contact[0].uri)
        assert ack.headers.get_all("Route") == ok.headers.get_all("Record-Route")
        bye = sent["BYE"]
        assert bye is not None
        assert (ack.cseq.number, bye.cseq.number) == (1, 2)  # CSeq kept

    def test_caller_replay_over_tcp_matches_with_the_bridging_proxy_noted(
            self, good_call: Path) -> None:
        async def scenario() -> ReplayReport:
            async with lab_with("bob", auto_answer=True) as (server, _):
                address = server.address("tcp")
                return await replay(good_call, target=f"{address.host}:{address.port}",
                                    transport="tcp", timeout=STEP)

        report = run(scenario(), SCENARIO)
        assert report.ok, explain(report)
        invite = report.steps[0].live
        assert invite is not None
        assert invite.top_via.transport == "TCP"
        # UDP phone, TCP replayer: the proxy records its route twice (RFC 5658): a note.
        assert "2 Record-Route, the capture had 1" in report.steps[2].detail

    def test_a_path_without_the_captured_proxy_misses_its_record_route(
            self, good_call: Path) -> None:
        report = replay_against(good_call, callee())  # straight to a phone: no proxy
        first = report.first_divergence
        assert first is not None, explain(report)
        assert (first.expected, first.verdict) == ("180 Ringing", Verdict.DIFFERS)
        assert first.detail == "Record-Route missing (the capture had 1)"

    def test_callee_replay_matches_every_step_against_a_live_caller(
            self, good_call: Path) -> None:
        async def scenario() -> ReplayReport:
            async with lab_with("alice") as (server, alice):
                replayer = Replayer(good_call, as_="callee", target=target_of(server),
                                    register=True, username="bob", password=USERS["bob"],
                                    timeout=STEP)
                async with replayer:
                    running = asyncio.create_task(replayer.run())
                    while not replayer.rows:  # registered first
                        await asyncio.sleep(0.01)
                    call = await alice.call("bob")
                    await call.established(timeout=2)
                    await call.bye(timeout=2)
                    return await running

        report = run(scenario(), SCENARIO)
        assert report.ok, explain(report)
        assert [(r.direction, r.expected) for r in report.steps if r.step] == [
            ("<-", "INVITE"), ("->", "100 Trying"), ("->", "180 Ringing"), ("->", "200 OK"),
            ("<-", "ACK"), ("<-", "BYE"), ("->", "200 OK"), ("->", "REGISTER (end)")]


class TestScript:
    """The dialog, the side and its steps cut out of a capture (§8.1.1.4, §16.6)."""

    def test_caller_and_callee_of_a_call_through_a_proxy(self, good_call: Path) -> None:
        messages = read_pcap(good_call).sip_messages
        caller = build_script(messages, "caller")
        callee = build_script(messages, "callee")
        assert caller.method == callee.method == "INVITE"
        assert caller.peer == callee.peer  # both talked to the LabServer only
        assert caller.side != callee.side
        assert [s.label for s in callee.steps] == [
            "INVITE", "100 Trying", "180 Ringing", "200 OK", "ACK", "BYE", "200 OK"]
        assert [s.sends for s in callee.steps] == [False, True, True, True, False, False, True]

    def test_a_side_named_by_address_or_user(self, good_call: Path) -> None:
        messages = read_pcap(good_call).sip_messages
        callee = build_script(messages, "callee").side
        assert build_script(messages, f"{callee.host}:{callee.port}").role == "callee"
        assert build_script(messages, "bob").role == "callee"
        assert build_script(messages, "alice").role == "caller"

    def test_a_registration_chosen_by_call_id(self, good_call: Path) -> None:
        messages = read_pcap(good_call).sip_messages
        register = next(m for m in messages if m.label == "REGISTER")
        script = build_script(messages, call_id=register.call_id)
        assert script.method == "REGISTER"
        assert [s.label for s in script.steps][:4] == [
            "REGISTER", "401 Unauthorized", "REGISTER", "200 OK"]
        assert script.username == "alice"

    def test_nothing_to_replay_is_one_clear_error(self, good_call: Path) -> None:
        messages = read_pcap(good_call).sip_messages
        options = [m for m in messages if m.label not in ("INVITE", "REGISTER")]
        with pytest.raises(ReplayError, match="no INVITE or REGISTER"):
            build_script(options)
        with pytest.raises(ReplayError, match=r"no endpoint 10\.9\.9\.9:5060"):
            build_script(messages, "10.9.9.9:5060")


class TestRewriting:
    """Fresh identifiers, our addresses, no stale credentials (§8.1.1, §20, §22)."""

    def test_sdp_gets_our_address_and_port_and_keeps_every_other_line(self) -> None:
        offer = OFFER + b"m=video 0 RTP/AVP 96\r\n"
        rewritten = rewrite_sdp(offer, "127.0.0.1", [40000, 40002])
        assert rewritten == offer.replace(b"10.0.0.1", b"127.0.0.1").replace(
            b"m=audio 49170", b"m=audio 40000")  # the refused video (port 0) stays 0

    def test_captured_requests_become_one_fresh_consistent_dialog(self, good_call: Path) -> None:
        messages = read_pcap(good_call).sip_messages
        script = build_script(messages, call_id=next(
            m.call_id for m in messages if m.label == "REGISTER"))
        first, second = [s.message for s in script.steps if s.label == "REGISTER"][:2]
        assert isinstance(first, Request)
        assert isinstance(second, Request)
        local = Peer("192.0.2.7", 5099)
        rewriter = Rewriter(ids=IdSource(7), local=local, captured_peer=script.peer,
                            target=Peer("192.0.2.1", 5060), media_host=local.host,
                            media_ports=[])
        one, two = rewriter.request(first), rewriter.request(second)
        assert one.call_id == two.call_id != first.call_id
        assert one.from_tag == two.from_tag != first.from_tag
        assert one.branch != two.branch
        assert one.top_via.host == "192.0.2.7"
        assert one.top_via.port == 5099
        assert str(one.contact[0].uri).startswith("sip:alice@192.0.2.7:5099")
        assert "Authorization" in second.headers
        assert "Authorization" not in two.headers  # its nonce is stale
        assert (one.cseq, two.cseq) == (first.cseq, second.cseq)
        assert two.content_length == len(two.body) == 0


# -- a direct call, written by hand, against scripted user agents --------------------------

ALICE = Peer("10.0.0.1", 5060)
BOB = Peer("10.0.0.2", 5060)
OFFER = sdp("10.0.0.1", 49170)
ANSWER = sdp("10.0.0.2", 3456)
DIALOG = "Call-ID: direct-1@10.0.0.1"
FROM = "From: <sip:alice@10.0.0.1>;tag=alice-1"
TO = "To: <sip:bob@10.0.0.2>"


def direct_call() -> list[tuple[float, Peer, Peer, bytes]]:
    """INVITE (sent twice: Timer A), 100, 180, 200 (twice: its ACK was late), ACK, BYE, 200."""
    invite = crlf(f"""
        INVITE sip:bob@10.0.0.2:5060 SIP/2.0
        Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-direct-1
        Max-Forwards: 70
        {FROM}
        {TO}
        {DIALOG}
        CSeq: 1 INVITE
        Contact: <sip:alice@10.0.0.1:5060>
        Content-Type: application/sdp
        Content-Length: {len(OFFER)}

    """) + OFFER

    def response(status: str, tag: str | None, body: bytes = b"",
                 branch: str = "z9hG4bK-direct-1", cseq: str = "1 INVITE") -> bytes:
        to = f"{TO};tag={tag}" if tag else TO
        contact = "Contact: <sip:bob@10.0.0.2:5060>\n" if tag and cseq.endswith("INVITE") \
            else ""
        kind = "Content-Type: application/sdp\n" if body else ""
        head = (f"SIP/2.0 {status}\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch={branch}\n{FROM}\n"
                f"{to}\n{DIALOG}\nCSeq: {cseq}\n{contact}{kind}Content-Length: {len(body)}\n\n")
        return crlf(head) + body

    def in_dialog(method: str, branch: str, cseq: int) -> bytes:
        return crlf(f"""
            {method} sip:bob@10.0.0.2:5060 SIP/2.0
            Via: SIP/2.0/UDP 10.0.0.1:5060;branch={branch}
            Max-Forwards: 70
            {FROM}
            {TO};tag=bob-1
            {DIALOG}
            CSeq: {cseq} {method}
            Content-Length: 0

        """)

    return [
        (0.0, ALICE, BOB, invite), (0.5, ALICE, BOB, invite),
        (0.6, BOB, ALICE, response("100 Trying", None)),
        (0.7, BOB, ALICE, response("180 Ringing", "bob-1")),
        (1.0, BOB, ALICE, response("200 OK", "bob-1", ANSWER)),
        (1.5, BOB, ALICE, response("200 OK", "bob-1", ANSWER)),
        (1.5, ALICE, BOB, in_dialog("ACK", "z9hG4bK-direct-2", 1)),
        (3.0, ALICE, BOB, in_dialog("BYE", "z9hG4bK-direct-3", 2)),
        (3.1, BOB, ALICE, response("200 OK", "bob-1", branch="z9hG4bK-direct-3",
                                   cseq="2 BYE")),
    ]


@pytest.fixture(scope="module")
def direct(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("replay") / "direct-call.pcap"
    write_pcap(path, [(t, udp_frame(data, src[:2], dst[:2])) for t, src, dst, data
                      in direct_call()])
    return path


Handler = Callable[[ScriptedEndpoint, Request, ServerTransaction | None, float], None]


@asynccontextmanager
async def scripted(handler: Handler) -> AsyncIterator[Peer]:
    """A ScriptedEndpoint (a bare transaction layer answered by ``handler``) on real UDP."""
    endpoint = ScriptedEndpoint(handler, ids=IdSource("scripted"))
    transports = TransportManager()
    driver = EndpointDriver(endpoint, transports)
    try:
        yield await transports.listen_udp("127.0.0.1", 0)
    finally:
        await transports.close()
        await driver.close()


def callee(*, ringing_tag: str | None = "bob-a", final: int = 200,
           final_tag: str = "bob-a") -> Handler:
    """A scripted UAS: 180 (unless ``ringing_tag`` is None), then ``final``; BYE gets 200."""

    def answer(endpoint: ScriptedEndpoint, request: Request,
               transaction: ServerTransaction | None, now: float) -> None:
        if transaction is None or request.method == "ACK":
            return
        if request.method != "INVITE":
            endpoint.answer(transaction, 200, now)
            return
        contact = [("Contact", "<sip:bob@127.0.0.1>")]
        if ringing_tag is not None:
            endpoint.answer(transaction, 180, now, to_tag=ringing_tag, headers=contact)
        body = sdp("127.0.0.1", 3456) if final == 200 else b""
        endpoint.answer(transaction, final, now, to_tag=final_tag, headers=contact, body=body,
                        content_type="application/sdp" if body else None)

    return answer


def replay_against(capture: Path, handler: Handler) -> ReplayReport:
    async def scenario() -> ReplayReport:
        async with scripted(handler) as address:
            return await replay(capture, as_="caller",
                                target=f"{address.host}:{address.port}", timeout=STEP)

    return run(scenario(), SCENARIO)


class TestBrokenCallee:
    """A caller replay against user agents that break one rule; §13.3.1, §12.1.1."""

    def test_script_leaves_the_captured_retransmissions_out(self, direct: Path) -> None:
        script = build_script(read_pcap(direct).sip_messages, "caller")
        assert [s.label for s in script.steps] == [
            "INVITE", "100 Trying", "180 Ringing", "200 OK", "ACK", "BYE", "200 OK"]

    def test_a_callee_that_follows_the_rules_matches(self, direct: Path) -> None:
        report = replay_against(direct, callee())
        assert report.ok, explain(report)

    def test_a_missing_180_is_the_first_divergence_at_its_step(self, direct: Path) -> None:
        report = replay_against(direct, callee(ringing_tag=None))
        first = report.first_divergence
        assert first is not None, explain(report)
        assert (first.step, first.expected, first.got, first.verdict) == (
            3, "180 Ringing", "200 OK", Verdict.MISSING)
        assert first.detail == "expected 180 Ringing after INVITE, got 200 OK"
        assert len(report.divergences) == 1, explain(report)  # the 200 and the rest match

    def test_a_2xx_with_another_to_tag_than_the_180_is_reported(self, direct: Path) -> None:
        report = replay_against(direct, callee(ringing_tag="bob-a", final_tag="bob-b"))
        first = report.first_divergence
        assert first is not None, explain(report)
        assert (first.step, first.expected, first.verdict) == (4, "200 OK", Verdict.DIFFERS)
        assert "To tag bob-b differs from bob-a of the 180 Ringing" in first.detail
        ack = next(row.live for row in report.steps if row.expected == "ACK")
        assert isinstance(ack, Request)
        assert ack.to_tag == "bob-b"  # the 2xx's tag makes the dialog (§12.1.2)

    def test_a_2xx_whose_cseq_names_another_method_is_reported(self, direct: Path) -> None:
        def answer(endpoint: ScriptedEndpoint, request: Request,
                   transaction: ServerTransaction | None, now: float) -> None:
            if transaction is None or request.method == "ACK":
                return
            if request.method != "INVITE":
                endpoint.answer(transaction, 200, now)
                return
            contact = [("Contact", "<sip:bob@127.0.0.1>")]
            endpoint.answer(transaction, 180, now, to_tag="bob-a", headers=contact)
            ok = build_response(request, 200, to_tag="bob-a", headers=contact,
                                body=sdp("127.0.0.1", 3456), content_type="application/sdp")
            ok.headers.set("CSeq", f"{request.cseq.number} BYE")  # §8.2.6.2: must be INVITE
            endpoint.layer.send_stateless(ok, transaction.peer)  # after the 180, no transaction

        report = replay_against(direct, answer)
        first = report.first_divergence
        assert first is not None, explain(report)
        assert (first.step, first.expected, first.verdict) == (4, "200 OK", Verdict.DIFFERS)
        assert first.detail == "CSeq method BYE in answer to INVITE"

    def test_486_instead_of_200_ends_the_replay(self, direct: Path) -> None:
        report = replay_against(direct, callee(final=486))
        assert labels(report)[3:] == [
            ("<-", "486 Busy Here", "wrong"), ("->", "-", "skipped"), ("->", "-", "skipped"),
            ("<-", "-", "skipped")], explain(report)
        assert report.steps[3].detail == "expected 200 OK, got 486 Busy Here"


def cancelled_call() -> list[tuple[float, Peer, Peer, bytes]]:
    """INVITE, 100, 180, CANCEL (the INVITE's branch, §9.1), its 200, 487, ACK (§17.1.1.3)."""
    invite, trying, ringing = (data for _, _, _, data in direct_call()[1:4])

    def same_branch(method: str) -> bytes:
        return crlf(f"""
            {method} sip:bob@10.0.0.2:5060 SIP/2.0
            Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-direct-1
            Max-Forwards: 70
            {FROM}
            {TO}{";tag=bob-1" if method == "ACK" else ""}
            {DIALOG}
            CSeq: 1 {method}
            Content-Length: 0

        """)

    def answer(status: str, method: str) -> bytes:
        tag = ";tag=bob-1" if method == "INVITE" else ""
        return crlf(f"""
            SIP/2.0 {status}
            Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-direct-1
            {FROM}
            {TO}{tag}
            {DIALOG}
            CSeq: 1 {method}
            Content-Length: 0

        """)

    return [(0.0, ALICE, BOB, invite), (0.1, BOB, ALICE, trying), (0.2, BOB, ALICE, ringing),
            (2.0, ALICE, BOB, same_branch("CANCEL")), (2.1, BOB, ALICE, answer("200 OK", "CANCEL")),
            (2.1, BOB, ALICE, answer("487 Request Terminated", "INVITE")),
            (2.2, ALICE, BOB, same_branch("ACK"))]


def ringing_until_cancelled() -> Handler:
    """A scripted UAS that rings; a CANCEL gets 200 and the INVITE 487 (§9.2)."""

    def answer(endpoint: ScriptedEndpoint, request: Request,
               transaction: ServerTransaction | None, now: float) -> None:
        if transaction is None or request.method == "ACK":
            return
        if request.method == "INVITE":
            endpoint.answer(transaction, 180, now, to_tag="bob-a",
                            headers=[("Contact", "<sip:bob@127.0.0.1>")])
        elif request.method == "CANCEL":
            endpoint.answer(transaction, 200, now)
            invite = endpoint.layer.find_server_transaction_for_cancel(request)
            assert invite is not None
            endpoint.answer(invite, 487, now, to_tag="bob-a")

    return answer


class TestCancelledCall:
    """A CANCEL and the ACK of the 487 keep the INVITE's new branch (§9.1, §17.1.1.3)."""

    def test_cancel_and_failure_ack_replayed_with_the_invite_branch(
            self, tmp_path: Path) -> None:
        pcap = tmp_path / "cancelled.pcap"
        write_pcap(pcap, [(t, udp_frame(data, src[:2], dst[:2])) for t, src, dst, data
                          in cancelled_call()])
        report = replay_against(pcap, ringing_until_cancelled())
        assert report.ok, explain(report)
        assert [(r.expected, r.got, str(r.verdict)) for r in report.steps] == [
            ("INVITE", "INVITE", "sent"), ("100 Trying", "100 Trying", "ok"),
            ("180 Ringing", "180 Ringing", "ok"), ("CANCEL", "CANCEL", "sent"),
            ("200 OK", "200 OK", "ok"), ("487 Request Terminated", "487 Request Terminated", "ok"),
            ("ACK", "ACK", "sent")]
        invite, cancel = report.steps[0].live, report.steps[3].live
        assert invite is not None
        assert cancel is not None
        assert cancel.branch == invite.branch
        assert report.steps[-1].detail == "by the INVITE transaction (§17.1.1.3)"


class _SlowCallee(asyncio.DatagramProtocol):
    """Keeps every INVITE copy; answers 100 Trying to the third, then says nothing."""

    def __init__(self) -> None:
        self.copies: list[bytes] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # (Python 3.11's selector transport does not subclass DatagramTransport.)
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self.copies.append(data)
        if len(self.copies) == 3 and self.transport is not None:
            invite = parse_message(data)
            assert isinstance(invite, Request)
            self.transport.sendto(build_response(invite, 100).to_bytes(), addr)


class TestRetransmissions:
    """Our INVITE is sent again by Timer A only while the live side is silent (§17.1.1.2)."""

    def test_a_silent_callee_gets_the_same_invite_until_it_answers(self, direct: Path) -> None:
        slow = _SlowCallee()

        async def scenario() -> ReplayReport:
            loop = asyncio.get_running_loop()
            transport, _ = await loop.create_datagram_endpoint(
                lambda: slow, local_addr=("127.0.0.1", 0))
            port = transport.get_extra_info("sockname")[1]
            try:
                return await replay(direct, target=f"127.0.0.1:{port}", timeout=0.5,
                                    timers=TimerConfig(t1=0.1, t2=0.4))
            finally:
                transport.close()

        report = run(scenario(), SCENARIO)
        assert len(slow.copies) == 3  # at 0, T1 and 3*T1; none after the 100 Trying
        assert len(set(slow.copies)) == 1  # one transaction: the same bytes, the same branch
        assert labels(report)[:3] == [("->", "INVITE", "sent"), ("<-", "100 Trying", "ok"),
                                      ("<-", "-", "missing")]


class TestBrokenCaller:
    """A callee replay waits for the INVITE and reports a caller that never ACKs (§13.2.2.4)."""

    @staticmethod
    async def caller_without_ack(replayer: Replayer) -> None:
        """INVITE the replayer, take its 200, send no ACK; BYE after the ACK step timed out."""
        ids = IdSource("rude-caller")
        endpoint = ScriptedEndpoint(ids=ids)
        transports = TransportManager()
        driver = EndpointDriver(endpoint, transports)
        local = await transports.listen_udp("127.0.0.1", 0)
        assert replayer.local is not None
        invite = build_request("INVITE", f"sip:bob@127.0.0.1:{replayer.local.port}",
                               from_="<sip:alice@127.0.0.1>", to="<sip:bob@127.0.0.1>",
                               via_host=local.host, via_port=local.port, ids=ids,
                               contact=f"<sip:alice@127.0.0.1:{local.port}>",
                               body=sdp("127.0.0.1", 4000), content_type="application/sdp")
        driver.call(endpoint.layer.send_request, invite, replayer.local)
        try:
            async with asyncio.timeout(5):
                while not any(r.status == 200 for r in endpoint.responses()):
                    await asyncio.sleep(0.01)
            ok = next(r for r in endpoint.responses() if r.status == 200)
            await asyncio.sleep(STEP * 1.25)
            bye = build_request("BYE", str(ok.contact[0].uri), from_=invite.from_,
                                to=ok.headers.get("To") or "", via_host=local.host,
                                via_port=local.port, ids=ids, call_id=invite.call_id, cseq=2)
            driver.call(endpoint.layer.send_request, bye, replayer.local)
            await asyncio.sleep(0.3)
        finally:
            await transports.close()
            await driver.close()

    def test_a_missing_ack_is_reported_at_its_step(self, direct: Path) -> None:
        async def scenario() -> ReplayReport:
            async with Replayer(direct, as_="callee", timeout=STEP) as replayer:
                running = asyncio.create_task(replayer.run())
                await self.caller_without_ack(replayer)
                return await running

        report = run(scenario(), SCENARIO)
        first = report.first_divergence
        assert first is not None, explain(report)
        assert (first.step, first.expected, first.verdict) == (5, "ACK", Verdict.MISSING)
        assert first.detail == f"expected ACK, nothing within {STEP:g} s"
        assert labels(report)[5:] == [("<-", "BYE", "ok"), ("->", "200 OK", "sent")]

    def test_callee_replay_against_a_direct_siplab_caller_matches(self, direct: Path) -> None:
        async def scenario() -> ReplayReport:
            async with Replayer(direct, as_="callee", timeout=STEP) as replayer:
                assert replayer.local is not None
                running = asyncio.create_task(replayer.run())
                where = f"udp://127.0.0.1:{replayer.local.port}"  # calls the replayer directly
                async with UserAgent("sip:alice@127.0.0.1", transport=where,
                                     ids=IdSource("alice")) as alice:
                    call = await alice.call(f"sip:bob@127.0.0.1:{replayer.local.port}")
                    await call.established(timeout=2)
                    await call.bye(timeout=2)
                return await running

        report = run(scenario(), SCENARIO)
        assert report.ok, explain(report)


# -- real peers: sipp and baresip ------------------------------------------------------------


async def _sipp_call(directory: Path) -> Path:
    """sipp's built-in uac calls its built-in uas, captured by tshark on lo."""
    sipp = require_peer("sipp", "sip-tester")
    pcap = directory / "sipp-call.pcapng"
    uas_port, uac_port = free_port(), free_port()
    common = ["-i", "127.0.0.1", "-m", "1", "-nostdin", "-timeout", "10s", "-timeout_error"]
    async with LiveCapture(pcap, f"udp port {uas_port} or udp port {uac_port}"):
        uas = await asyncio.create_subprocess_exec(
            sipp, "-sn", "uas", "-p", str(uas_port), *common, cwd=directory,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        uac = await asyncio.create_subprocess_exec(
            sipp, f"127.0.0.1:{uas_port}", "-sn", "uac", "-p", str(uac_port), *common,
            cwd=directory, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        try:
            async with asyncio.timeout(SCENARIO):
                code = await uac.wait()  # the call is over (the uas lingers 4 s: timewait)
        finally:
            for process in (uac, uas):
                if process.returncode is None:
                    process.kill()
                    await process.wait()
    assert code == 0, f"sipp's uac failed: exit status {code}"
    return pcap


class TestRealPeers:
    """Captures of sipp and baresip, replayed against LabServer and a live siplab phone."""

    pytestmark = pytest.mark.interop

    def test_sipp_call_replayed_as_caller_against_labserver_and_a_phone(
            self, tmp_path: Path) -> None:
        pcap = run(_sipp_call(tmp_path), SCENARIO * 2)

        async def scenario() -> ReplayReport:
            async with lab_with("service", auto_answer=True) as (server, _):
                return await replay(pcap, as_="caller", target=target_of(server), timeout=STEP)

        report = run(scenario(), SCENARIO)
        assert report.ok, explain(report)
        got = [(row.expected, row.got, str(row.verdict)) for row in report.steps]
        assert got[:3] == [("INVITE", "INVITE", "sent"),  # sipp's uas sent no 100:
                           ("", "100 Trying", "note"),  # the LabServer's is a note
                           ("180 Ringing", "180 Ringing", "ok")]
        assert "a proxy on the live path" in report.steps[3].detail  # Record-Route: a note

    def test_baresip_call_with_its_rtp_is_heard_by_the_live_callee(
            self, baresip_call_capture: Path) -> None:
        heard: list[Invitation] = []

        async def scenario() -> ReplayReport:
            async with lab_with("bob") as (server, bob):
                async def answer(invitation: Invitation) -> None:
                    heard.append(invitation)
                    await invitation.progress(180)
                    await invitation.accept()

                bob.on_invite = answer
                return await replay(baresip_call_capture, as_="alice",
                                    target=target_of(server), timeout=STEP * 3, rtp=True)

        report = run(scenario(), SCENARIO * 2)
        assert report.ok, explain(report)
        assert report.rtp_sent > 50, explain(report)  # 1.5 s of 20 ms packets
        bye = next(row for row in report.steps if row.expected == "BYE")
        assert bye.time > 1.4  # the BYE waited for the RTP, sent at its captured pace
        recording = heard[0].heard
        assert recording is not None
        assert recording.rate is not None
        assert abs(dominant_frequency(recording.samples, recording.rate) - 440.0) < 5

    def test_baresip_registration_is_challenged_and_answered_afresh(
            self, baresip_call_capture: Path) -> None:
        messages = read_pcap(baresip_call_capture).sip_messages
        register = next(m for m in messages if m.label == "REGISTER")

        async def scenario() -> ReplayReport:
            async with AsyncExitStack() as stack:
                server = await stack.enter_async_context(lab_server())
                return await replay(baresip_call_capture, call_id=register.call_id,
                                    target=target_of(server), password=USERS["alice"],
                                    timeout=STEP)

        report = run(scenario(), SCENARIO)
        assert report.ok, explain(report)
        assert [(r.expected, r.got) for r in report.steps] == [
            ("REGISTER", "REGISTER"), ("401 Unauthorized", "401 Unauthorized"),
            ("REGISTER", "REGISTER"), ("200 OK", "200 OK")]
        challenge, answered = report.steps[1].live, report.steps[2].live
        assert challenge is not None
        assert answered is not None
        asked = challenge.headers.get("WWW-Authenticate") or ""
        nonce = asked.split('nonce="')[1].split('"')[0]
        assert f'nonce="{nonce}"' in (answered.headers.get("Authorization") or "")

    def test_a_stale_authorization_is_challenged_again_and_answered(
            self, baresip_call_capture: Path, tmp_path: Path) -> None:
        messages = read_pcap(baresip_call_capture).sip_messages
        first = next(m for m in messages if m.label == "REGISTER")
        dialog = [m for m in messages if m.call_id == first.call_id]
        # Only the REGISTER that carried credentials, and its 200: a refresh, say.
        authorized = [m for m in dialog if "Authorization" in m.message.headers]
        answer = next(m for m in dialog if m.label == "200 OK")
        pcap = write_capture(tmp_path / "refresh.pcap", [authorized[0], answer])
        stale = authorized[0].message.headers.get("Authorization") or ""

        async def scenario() -> ReplayReport:
            async with AsyncExitStack() as stack:
                server = await stack.enter_async_context(lab_server())
                return await replay(pcap, target=target_of(server), password=USERS["alice"],
                                    timeout=STEP)

        report = run(scenario(), SCENARIO)
        assert report.ok, explain(report)
        assert labels(report) == [("->", "REGISTER", "sent"), ("<-", "401 Unauthorized", "note"),
                                  ("<-", "200 OK", "ok")]
        sent = report.steps[0].live
        assert sent is not None
        assert "Authorization" not in sent.headers
        assert stale
        assert "challenge not in the capture" in report.steps[1].detail
