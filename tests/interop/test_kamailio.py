"""Kamailio as registrar and proxy for sipp and siplab (RFC 3261 §10, §16, §22; RFC 3428, 7118).

Kamailio runs with siplab's own configuration, ``docker/kamailio/kamailio.cfg``
(:class:`~tests.interop.kamailio.Kamailio`): digest with one password for
every user (401 for REGISTER, 407 for INVITE and MESSAGE, 403 for a wrong
password), bindings in memory, Record-Route (twice when the transport
changes), loose routing of in-dialog requests, 404 for a user nobody
registered, and SIP over WebSocket.

First sipp proves the configuration, because sipp is the reference everyone
trusts:

* sipp registers over UDP and TCP: 401 with an MD5 challenge, then 200 with
  the binding; with a wrong password the second answer is 403;
* a sipp registered as bob takes a call from another sipp through Kamailio,
  the ACK and BYE following the Record-Route (the benchmark's call scenario).

Then siplab's user agents (:class:`~siplab.aio.useragent.UserAgent`, the
asyncio API a notebook uses) do what the course does with Kamailio::

    alice (siplab)             Kamailio                  bob (siplab)
      | REGISTER, 401, REGISTER, 200 |  REGISTER, 401, REGISTER, 200 |
      |----------------------------->|<------------------------------|
      | INVITE bob, 407, INVITE      |                               |
      |----------------------------->| INVITE (Record-Route: kam)    |
      |                              |------------------------------>|
      |<------ 100, 180, 200 --------|<--------- 180, 200 -----------|
      | ACK, BYE (Route: kam)        |                               |
      |----------------------------->|------------------------------>|
      | MESSAGE bob, 407, MESSAGE    |                               |
      |----------------------------->|------------------------------>|

over UDP, over TCP, from UDP to TCP, and with one side on a WebSocket; plus
a wrong password (403), a user nobody registered (404) and a call cancelled
while ringing (487). Every siplab phone keeps each message it sent or
received (the transport's trace hook); when a test fails it prints them with
Kamailio's log (:class:`Lab`), and a sipp test prints sipp's traces with it.
The whole file runs in about 6 s; every wait is bounded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from types import TracebackType

import pytest

from siplab.aio.errors import CallFailed, RegistrationError, RequestError
from siplab.aio.session import Invitation, Inviter
from siplab.aio.transport import TraceRecord
from siplab.aio.useragent import UserAgent
from siplab.sip.message import Request, Response, parse_message
from siplab.sip.uri import SipUri
from tests.interop.kamailio import LOOPBACK, Kamailio, KamailioError, free_port
from tests.interop.peers import Sipp, SippResult

pytestmark = pytest.mark.interop

PASSWORD = "lab-secret"
WRONG_PASSWORD = "not-the-password"
TRANSPORTS = ["udp", "tcp"]
#: Seconds a phone waits for one answer or event.
WAIT = 5.0


def sdp(port: int) -> bytes:
    """A minimal audio offer or answer (RFC 4566): one PCMU stream on 127.0.0.1.

    Kamailio carries it without reading it; no media flows in these tests.
    """
    return (f"v=0\r\no=siplab {port} 1 IN IP4 {LOOPBACK}\r\ns=-\r\nc=IN IP4 {LOOPBACK}\r\n"
            f"t=0 0\r\nm=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n").encode("ascii")


def two_ports() -> tuple[int, int]:
    """The SIP port (UDP and TCP) and the WebSocket port: free and different."""
    sip = free_port()
    ws = free_port()
    while ws == sip:
        ws = free_port()
    return sip, ws


@pytest.fixture
def kamailio(tmp_path: Path) -> Iterator[Kamailio]:
    sip, ws = two_ports()
    with Kamailio(tmp_path, sip, sip, ws, PASSWORD) as server:
        yield server


# -- sipp against Kamailio ---------------------------------------------------------------------


def check_sipp_passed(result: SippResult, why: str) -> None:
    assert result.returncode == 0, why
    assert result.successful_calls == 1, why
    assert result.failed_calls == 0, why
    assert result.errors.strip() == "", why


def sipp_register(kamailio: Kamailio, transport: str, tmp_path: Path, scenario: str,
                  password: str) -> SippResult:
    async def run() -> SippResult:
        sipp = Sipp(f"{scenario}_{transport}", scenario, transport, tmp_path,
                    target=kamailio.udp if transport == "udp" else kamailio.tcp,
                    service="alice", args=["-au", "alice", "-ap", password])
        try:
            await sipp.start()
            return await sipp.finish()
        finally:
            await sipp.kill()

    return asyncio.run(run())


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_sipp_registers_at_kamailio_with_md5_digest(
        kamailio: Kamailio, transport: str, tmp_path: Path) -> None:
    result = sipp_register(kamailio, transport, tmp_path, "register_digest", PASSWORD)
    why = f"{result.explain()}\n{kamailio.explain()}"
    check_sipp_passed(result, why)
    assert result.trace.count("SIP/2.0 401 Unauthorized") == 1, why
    assert result.trace.count("SIP/2.0 200 OK") == 1, why
    challenge = next(line for line in result.trace.splitlines()
                     if line.startswith("WWW-Authenticate:"))
    # The realm is the To domain; MD5 (sipp knows nothing else) with qop=auth.
    assert f'realm="{LOOPBACK}"' in challenge, why
    assert "algorithm=MD5" in challenge, why
    assert 'qop="auth"' in challenge, why
    assert 'Authorization: Digest username="alice"' in result.trace, why
    # Kamailio logs the binding just after it sent the 200: wait for the line.
    asyncio.run(kamailio.logged(f"bindings of sip:alice@{LOOPBACK}:{kamailio.udp.port} saved"))


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_sipp_with_a_wrong_password_gets_401_then_403_from_kamailio(
        kamailio: Kamailio, transport: str, tmp_path: Path) -> None:
    result = sipp_register(kamailio, transport, tmp_path, "register_wrong_password",
                           WRONG_PASSWORD)
    why = f"{result.explain()}\n{kamailio.explain()}"
    check_sipp_passed(result, why)
    assert result.trace.count("SIP/2.0 401 Unauthorized") == 1, why
    assert result.trace.count("SIP/2.0 403 Wrong password") == 1, why
    assert "authentication result -2" in kamailio.log, why  # -2: invalid password
    assert "saved" not in kamailio.log, why


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_sipp_calls_a_registered_sipp_through_kamailio(transport: str, tmp_path: Path) -> None:
    shared_call_id = "call-%u@siplab.test"  # see sipp/uas_registered.xml
    sip, ws = two_ports()
    # sipp's uac_call.xml does not answer a 407: calls go unchallenged here.
    with Kamailio(tmp_path, sip, sip, ws, PASSWORD, auth_calls=False) as kamailio:
        target = kamailio.udp if transport == "udp" else kamailio.tcp

        async def run() -> tuple[SippResult, SippResult]:
            callee = Sipp("callee", "uas_registered", transport, tmp_path, target=target,
                          service="bob", args=["-au", "bob", "-ap", PASSWORD,
                                               "-cid_str", shared_call_id])
            caller = Sipp("caller", "uac_call", transport, tmp_path, target=target,
                          service="bob", args=["-cid_str", shared_call_id])
            try:
                await callee.start()
                await kamailio.logged(f"bindings of sip:bob@{LOOPBACK}:{target.port} saved")
                await caller.start()
                return await caller.finish(), await callee.finish()
            finally:
                await caller.kill()
                await callee.kill()

        caller, callee = asyncio.run(run())
        why = f"{caller.explain()}\n{callee.explain()}\n{kamailio.explain()}"
    check_sipp_passed(caller, why)
    check_sipp_passed(callee, why)
    # Kamailio stayed on the path (Record-Route), so the ACK and the BYE came through it.
    assert f"Record-Route: <sip:{LOOPBACK}:{target.port};" in caller.trace, why
    for method in ("ACK", "BYE"):
        sent = [block for block in caller.trace.split("\n\n") if block.startswith(method + " ")]
        assert len(sent) == 1, why
        assert f"Route: <sip:{LOOPBACK}:{target.port};" in sent[0], why
    assert kamailio.log.count("ACK sip:bob@") == 1, why
    assert kamailio.log.count("BYE sip:bob@") == 1, why


# -- siplab user agents against Kamailio ---------------------------------------------------------


class Phone:
    """A siplab :class:`~siplab.aio.useragent.UserAgent` that uses Kamailio as its server.

    Its address of record is ``sip:user@<kamailio>:<sip port>``, so the
    registrar, the realm and "myself" are all Kamailio, and every request goes
    first to ``udp://``, ``tcp://`` or ``ws://<kamailio>:<ws port>/`` (the
    outbound proxy). Over a WebSocket it writes a made-up ``.invalid`` host in
    its Via and Contact, as RFC 7118 §5.2 says: only the connection reaches it.

    Incoming calls ring (180) and are answered with an SDP answer, unless
    ``answer_calls`` is False; they are kept in :attr:`invitations`. Every
    message the phone sent or received is kept in :attr:`wire`.
    """

    def __init__(self, user: str, transport: str, kamailio: Kamailio, password: str) -> None:
        self.name = f"{user} ({transport})"
        self.transport = transport
        server = {"udp": f"udp://{kamailio.host}:{kamailio.udp.port}",
                  "tcp": f"tcp://{kamailio.host}:{kamailio.tcp.port}",
                  "ws": kamailio.ws_url}[transport]
        self.aor = f"sip:{user}@{kamailio.host}:{kamailio.udp.port}"
        self.ua = UserAgent(self.aor, password, transport=server)
        self.ua.on_invite = self._ring
        self.answer_calls = True
        self.invitations: list[Invitation] = []
        self.wire: list[TraceRecord] = []

    async def start(self) -> None:
        await self.ua.start()
        # UserAgent has no trace option: hook the TransportManager its driver owns.
        driver = self.ua._driver
        assert driver is not None
        driver.transports.trace = self.wire.append

    async def _ring(self, invitation: Invitation) -> None:
        self.invitations.append(invitation)
        await invitation.progress(180)
        if self.answer_calls:
            await invitation.accept(sdp(40002))

    async def invitation(self, timeout: float = WAIT) -> Invitation:
        """The first call this phone received (waiting for it at most ``timeout`` s)."""
        async with asyncio.timeout(timeout):
            while not self.invitations:
                await asyncio.sleep(0.01)
        return self.invitations[0]

    async def call(self, target: Phone | str) -> Inviter:
        """Call ``target`` and wait until the call is established."""
        inviter = await self.ua.call(target.aor if isinstance(target, Phone) else target,
                                     body=sdp(40000))
        await inviter.established(timeout=WAIT)
        return inviter

    async def message(self, target: Phone | str, text: str) -> Response:
        return await self.ua.message(target.aor if isinstance(target, Phone) else target,
                                     text, timeout=WAIT)

    # -- what went over the wire ------------------------------------------------------------

    def wire_messages(self, direction: str) -> list[tuple[Request | Response, TraceRecord]]:
        """Messages in (``"in"``) or out, parsed; a retransmission (the same bytes) once."""
        seen: set[bytes] = set()
        messages = []
        for record in self.wire:
            if record.direction == direction and record.data not in seen:
                seen.add(record.data)
                messages.append((parse_message(record.data), record))
        return messages

    def sent(self, method: str) -> list[tuple[Request, TraceRecord]]:
        return [(m, r) for m, r in self.wire_messages("out")
                if isinstance(m, Request) and m.method == method]

    def received(self, method: str) -> list[tuple[Request, TraceRecord]]:
        return [(m, r) for m, r in self.wire_messages("in")
                if isinstance(m, Request) and m.method == method]

    def responses(self, method: str) -> list[Response]:
        return [m for m, _ in self.wire_messages("in")
                if isinstance(m, Response) and m.cseq.method == method]

    def answers(self, method: str) -> list[int]:
        """The status codes received for ``method``, in order."""
        return [response.status for response in self.responses(method)]

    def explain(self) -> str:
        lines = [f"=== {self.name}: messages on the wire ==="]
        for record in self.wire:
            arrow = "->" if record.direction == "out" else "<-"
            lines.append(f"--- {record.transport} {record.local.host}:{record.local.port} "
                         f"{arrow} {record.remote.host}:{record.remote.port}")
            lines.append(record.data.decode("utf-8", "replace").replace("\r\n", "\n"))
        return "\n".join(lines)


class Lab:
    """Kamailio and the phones of one test. A failure inside shows everything they saw."""

    def __init__(self, kamailio: Kamailio) -> None:
        self.kamailio = kamailio
        self.phones: list[Phone] = []

    async def phone(self, user: str, transport: str, password: str = PASSWORD,
                    register: bool = True) -> Phone:
        phone = Phone(user, transport, self.kamailio, password)
        self.phones.append(phone)
        await phone.start()
        if register:
            await phone.ua.registerer().register(timeout=WAIT)
        return phone

    def explain(self) -> str:
        return "\n".join([*(phone.explain() for phone in self.phones), self.kamailio.explain()])

    async def __aenter__(self) -> Lab:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        traceback: TracebackType | None) -> None:
        for phone in self.phones:  # hangs up, unregisters, closes (bounded by its timeout)
            await phone.ua.stop(timeout=1.0)
        if isinstance(error, Exception):
            raise AssertionError(f"{type(error).__name__}: {error}\n\n{self.explain()}") \
                from error


def in_lab(kamailio: Kamailio, scenario: Callable[[Lab], Awaitable[None]]) -> None:
    """Run ``scenario`` with a fresh :class:`Lab` on a new event loop, at most 20 s."""

    async def run() -> None:
        async with Lab(kamailio) as lab, asyncio.timeout(20):
            await scenario(lab)

    asyncio.run(run())


def names_kamailio(uri: object, kamailio: Kamailio) -> bool:
    return isinstance(uri, SipUri) and uri.host == kamailio.host and uri.port in (
        kamailio.udp.port, kamailio.tcp.port, kamailio.ws.port)


def check_registered_with_digest(phone: Phone, kamailio: Kamailio) -> None:
    """401 with an MD5 challenge, then 200 listing the phone's Contact."""
    assert phone.answers("REGISTER") == [401, 200]
    www = phone.responses("REGISTER")[0].headers.get("WWW-Authenticate") or ""
    assert "algorithm=MD5" in www
    assert f'realm="{kamailio.host}"' in www
    assert phone.ua.registerer().contacts, "the 200 lists our binding"


@pytest.mark.parametrize(("caller_transport", "callee_transport"),
                         [("udp", "udp"), ("tcp", "tcp"), ("udp", "tcp")])
def test_siplab_phones_register_and_call_through_kamailio(
        kamailio: Kamailio, caller_transport: str, callee_transport: str) -> None:
    async def scenario(lab: Lab) -> None:
        alice = await lab.phone("alice", caller_transport)
        bob = await lab.phone("bob", callee_transport)
        check_registered_with_digest(alice, kamailio)
        check_registered_with_digest(bob, kamailio)

        call = await alice.call(bob)
        answered = await bob.invitation()
        await answered.established(timeout=WAIT)
        # The INVITE was challenged by the proxy (407), then sent with credentials.
        assert alice.answers("INVITE")[0] == 407
        invites = alice.sent("INVITE")
        assert len(invites) == 2
        assert invites[1][0].headers.get("Proxy-Authorization") is not None
        # Bob got it from Kamailio, credentials removed, Kamailio in Via and Record-Route;
        # crossing from UDP to TCP, Kamailio records two routes, one for each side.
        [(invite, record)] = bob.received("INVITE")
        assert record.remote.host == kamailio.host
        assert invite.headers.get("Proxy-Authorization") is None
        assert invite.via_count == 2
        routes = invite.record_route
        assert len(routes) == (1 if caller_transport == callee_transport else 2)
        assert all(names_kamailio(route.uri, kamailio) for route in routes)

        assert await call.bye(timeout=WAIT) == "bye"
        assert await answered.terminated(timeout=WAIT) == "remote bye"
        # Two ACKs: the one for the 407 ends at Kamailio, which sent the 407 (§17.1.1.3);
        # the one for the 200 belongs to the dialog and goes end to end.
        [(ack_407, _), ack_200] = alice.sent("ACK")
        assert ack_407.route == []
        assert ack_407.cseq.number == invites[0][0].cseq.number
        # The ACK for the 200 and the BYE went to Kamailio with a Route naming it
        # (loose routing, §16.12), and reached bob through it.
        server = kamailio.udp if caller_transport == "udp" else kamailio.tcp
        for request, record in (ack_200, alice.sent("BYE")[0]):
            assert names_kamailio(request.route[0].uri, kamailio)
            assert record.remote.port == server.port
            [(forwarded, record)] = bob.received(request.method)
            assert record.remote.host == kamailio.host
            assert forwarded.route == []  # Kamailio took its own Route headers out
        assert alice.answers("BYE") == [200]

    in_lab(kamailio, scenario)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_siplab_phones_exchange_messages_through_kamailio(
        kamailio: Kamailio, transport: str) -> None:
    async def scenario(lab: Lab) -> None:
        alice = await lab.phone("alice", transport)
        bob = await lab.phone("bob", transport)

        assert (await alice.message(bob, "Hello Bob")).status == 200
        received = await bob.ua.next_message(timeout=WAIT)
        assert received.text == "Hello Bob"
        assert str(received.sender.uri) == alice.aor

        assert (await bob.message(alice, "Hi Alice")).status == 200
        assert (await alice.ua.next_message(timeout=WAIT)).text == "Hi Alice"
        # Each MESSAGE met the proxy's challenge first (407), then went through.
        assert alice.answers("MESSAGE") == [407, 200]
        assert bob.answers("MESSAGE") == [407, 200]

    in_lab(kamailio, scenario)


def test_siplab_phone_on_websocket_calls_and_is_called_by_a_udp_phone(
        kamailio: Kamailio) -> None:
    async def scenario(lab: Lab) -> None:
        carol = await lab.phone("carol", "ws")
        bob = await lab.phone("bob", "udp")
        check_registered_with_digest(carol, kamailio)
        register, record = carol.sent("REGISTER")[0]
        assert record.transport == "ws"
        assert record.remote.port == kamailio.ws.port
        contact = register.contact[0].uri
        assert isinstance(contact, SipUri)
        assert contact.host.endswith(".invalid")  # RFC 7118 §5.2

        # carol (WS) calls bob (UDP): Kamailio records a route for each side.
        call = await carol.call(bob)
        [(invite, _)] = bob.received("INVITE")
        transports = sorted(route.uri.param("transport") or "udp" for route in
                            invite.record_route if isinstance(route.uri, SipUri))
        assert [t.lower() for t in transports] == ["udp", "ws"]
        await call.bye(timeout=WAIT)
        await (await bob.invitation()).terminated(timeout=WAIT)

        # bob (UDP) calls carol (WS): Kamailio finds carol's connection from her
        # binding, and bob's ACK and BYE find it from the alias in carol's Contact.
        call = await bob.call(carol)
        # Kamailio wrote the WebSocket's real address into carol's Contact as ";alias=",
        # so bob's ACK and BYE, sent to that Contact, can be routed to her connection.
        ok = [r for r in bob.responses("INVITE") if r.status == 200][-1]
        assert "alias=" in str(ok.contact[0].uri)
        assert await call.bye(timeout=WAIT) == "bye"
        assert await (await carol.invitation()).terminated(timeout=WAIT) == "remote bye"
        [(bye, record)] = carol.received("BYE")
        assert record.transport == "ws"
        assert record.remote.port == kamailio.ws.port
        assert isinstance(bye.uri, SipUri)
        assert bye.uri.host.endswith(".invalid")  # carol's own Contact, the alias removed
        assert "alias=" not in bye.uri_text

        # MESSAGE both ways.
        assert (await bob.message(carol, "to the browser")).status == 200
        assert (await carol.ua.next_message(timeout=WAIT)).text == "to the browser"
        assert (await carol.message(bob, "from the browser")).status == 200
        assert (await bob.ua.next_message(timeout=WAIT)).text == "from the browser"

    in_lab(kamailio, scenario)


def test_siplab_phone_with_a_wrong_password_is_refused_with_403(kamailio: Kamailio) -> None:
    async def scenario(lab: Lab) -> None:
        mallory = await lab.phone("mallory", "udp", password=WRONG_PASSWORD, register=False)
        with pytest.raises(RegistrationError) as refused:
            await mallory.ua.registerer().register(timeout=WAIT)
        assert refused.value.status == 403
        assert mallory.answers("REGISTER") == [401, 403]

    in_lab(kamailio, scenario)


def test_calls_and_messages_to_an_unregistered_user_get_404(kamailio: Kamailio) -> None:
    async def scenario(lab: Lab) -> None:
        alice = await lab.phone("alice", "udp")
        nobody = f"sip:nobody@{kamailio.host}:{kamailio.udp.port}"
        with pytest.raises(CallFailed) as failed:
            await alice.call(nobody)
        assert failed.value.status == 404
        with pytest.raises(RequestError) as refused:
            await alice.message(nobody, "anyone there?")
        assert refused.value.status == 404

    in_lab(kamailio, scenario)


def test_a_call_cancelled_while_ringing_ends_with_487(kamailio: Kamailio) -> None:
    async def scenario(lab: Lab) -> None:
        alice = await lab.phone("alice", "udp")
        bob = await lab.phone("bob", "udp")
        bob.answer_calls = False  # bob's phone rings and rings
        call = await alice.ua.call(bob.aor, body=sdp(40000))
        assert (await call.progressed(timeout=WAIT)).status == 180
        assert await call.cancel(timeout=WAIT) == "cancelled"
        assert await (await bob.invitation()).terminated(timeout=WAIT) == "cancelled"
        # Kamailio answered alice's CANCEL itself (§16.10) and sent its own to bob,
        # on the branch of the INVITE it forwarded; the INVITE ended with 487.
        assert alice.answers("CANCEL") == [200]
        assert alice.answers("INVITE")[-1] == 487
        [(cancel, record)] = bob.received("CANCEL")
        assert record.remote.port == kamailio.udp.port
        [(invite, _)] = bob.received("INVITE")
        assert cancel.branch == invite.branch

    in_lab(kamailio, scenario)


def test_a_configuration_error_fails_with_kamailios_own_words(tmp_path: Path) -> None:
    broken = tmp_path / "broken.cfg"
    broken.write_text('#!KAMAILIO\nloadmodule "tm.so"\nrequest_route {\n  t_relay(\n}\n')
    sip, ws = two_ports()
    with pytest.raises(KamailioError, match=r"(?s)rejected .*broken\.cfg.*parse error"), \
            Kamailio(tmp_path, sip, sip, ws, PASSWORD, config=broken):
        pass
