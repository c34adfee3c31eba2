"""baresip, a real SIP phone, against siplab's LabServer and UserAgent (RFC 3261, 3264, 3550).

baresip (Debian ``baresip-core`` 1.0) runs headless, driven over its
``ctrl_tcp`` control port (:class:`~tests.interop.baresip.Baresip`). It
registers at siplab's :class:`~siplab.aio.server.LabServer` with digest
(§22, RFC 8760), and calls, or is called by, a siplab
:class:`~siplab.aio.useragent.UserAgent` registered at the same server::

    baresip (alice)               LabServer                 siplab UA (bob)
      | REGISTER, 401, REGISTER, 200 |                               |
      |----------------------------->|                               |
      | INVITE bob (SDP offer)       |                               |
      |----------------------------->| INVITE (Record-Route: lab)    |
      |                              |------------------------------>|
      |<------ 100, 180, 200 (SDP answer) ---------------------------|
      | ACK, BYE (Route: lab)        |                               |
      |----------------------------->|------------------------------>|

and the other way round, baresip answering by itself (``answermode=auto``);
each call is hung up once by each side, over UDP and once over TCP. Calls
also end before they start: cancelled by either side while the other rings
(CANCEL, 487), or rejected by baresip (486). The server keeps every message it
sent and received (its ``trace`` hook): a failing test prints them, with
baresip's events and its log (which has baresip's own SIP trace).

The signalling tests (§10, §13-16) leave media out of it: siplab's SDP offer
and answer are built with :mod:`siplab.sdp` and name a UDP port the test
holds and never reads, so baresip's RTP goes nowhere.

The audio tests (RFC 3264 offer/answer, RFC 3550/3551 RTP) let siplab's own
media do the SDP and the RTP, with PCMU, PCMA and G.722, in both directions.
baresip plays a 440 Hz tone, siplab a 1000 Hz one; each side must hear the
other's: siplab's recording and the WAV baresip wrote of what it decoded are
each measured by FFT (within 2 Hz), and baresip's own RTP counters must show
siplab's packets arrived.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

import siplab.lab
from siplab.aio.audio import ToneSource
from siplab.aio.errors import CallFailed
from siplab.aio.session import Invitation, Session
from siplab.aio.transport import TraceRecord
from siplab.aio.useragent import UserAgent
from siplab.lab import Lab
from siplab.rtp.g711 import dominant_frequency, rms
from siplab.sdp import Capabilities, answer, create_offer, parse, process_answer
from siplab.sip.events import IncomingCall
from siplab.sip.message import Request, Response, parse_message
from siplab.sip.transport import Peer
from siplab.sip.uri import SipUri
from tests.interop.baresip import WAIT, Baresip, read_wav

pytestmark = pytest.mark.interop

LOOPBACK = "127.0.0.1"
#: The hard bound on one test's scenario, in seconds.
SCENARIO_TIMEOUT = 20.0
PCMU_ONLY = Capabilities(audio=("PCMU",))


class Wire:
    """Every SIP message LabServer sent or received (its trace hook), for asserts and ladders."""

    def __init__(self) -> None:
        self.records: list[TraceRecord] = []

    def __call__(self, record: TraceRecord) -> None:
        self.records.append(record)

    def messages(self, direction: str | None = None
                 ) -> list[tuple[Request | Response, TraceRecord]]:
        """The messages in order, parsed; ``direction`` "in" or "out" keeps one side."""
        return [(parse_message(r.data), r) for r in self.records
                if direction is None or r.direction == direction]

    def requests(self, method: str, direction: str = "in") -> list[Request]:
        return [m for m, _ in self.messages(direction)
                if isinstance(m, Request) and m.method == method]

    def statuses(self, method: str, direction: str = "out") -> list[int]:
        """The status codes of the responses to ``method`` (by default: those the server sent)."""
        return [m.status for m, _ in self.messages(direction)
                if isinstance(m, Response) and m.cseq.method == method]

    def ladder(self) -> str:
        lines = []
        for message, record in self.messages():
            arrow = "<-" if record.direction == "in" else "->"
            lines.append(f"  {record.transport} lab {arrow} {record.remote.host}:"
                         f"{record.remote.port}  {message.label}  ({message.call_id})")
        return "\n".join(lines) or "  (nothing)"

    def explain(self) -> str:
        lines = ["=== LabServer: ladder ===", self.ladder(), "=== LabServer: messages ==="]
        for record in self.records:
            arrow = "<-" if record.direction == "in" else "->"
            lines.append(f"--- {record.transport} {record.local.host}:{record.local.port} "
                         f"{arrow} {record.remote.host}:{record.remote.port}")
            lines.append(record.data.decode("utf-8", "replace").replace("\r\n", "\n"))
        return "\n".join(lines)


class Scene:
    """One test's world: a LabServer (UDP and TCP), baresip, and siplab phones.

    On the way out everything is stopped (bounded); if the scenario raised,
    the error is re-raised with the server's messages and baresip's log.
    """

    def __init__(self, tmp_path: Path, **baresip_options: Any) -> None:
        self.tmp_path = tmp_path
        self.wire = Wire()
        self.baresip = Baresip(tmp_path, **baresip_options)
        self.calls: list[Session] = []  # siplab's calls with media, explained on failure
        self._lab: Lab | None = None
        # Where siplab's hand-written SDP says it receives RTP: a port we hold, never read.
        self._rtp_sink: socket.socket | None = None
        self.rtp_sink_port = 0

    @property
    def lab(self) -> Lab:
        assert self._lab is not None, "enter the scene first"
        return self._lab

    def server(self, transport: str) -> Peer:
        address = self.lab.server.address(transport)
        assert address is not None
        return address

    def password(self, user: str) -> str:
        return self.lab.accounts[user].password

    async def register_baresip(self, user: str = "alice", transport: str = "udp",
                               password: str | None = None, **options: Any) -> None:
        """Give baresip the account ``user`` (registering at the lab over ``transport``)."""
        await self.baresip.add_account(
            self.lab.accounts[user].uri,
            self.password(user) if password is None else password,
            self.server(transport), transport=transport, **options)

    async def phone(self, user: str = "bob") -> UserAgent:
        """A siplab user agent registered at the lab over UDP."""
        return await self.lab.user_agent(user)

    def explain(self) -> str:
        return "\n".join([*(media_story(call) for call in self.calls), self.wire.explain(),
                          self.baresip.explain()])

    async def __aenter__(self) -> Scene:
        self._lab = await siplab.lab.start(transports=("udp", "tcp"), trace=self.wire)
        try:
            self._rtp_sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self._rtp_sink.bind((LOOPBACK, 0))
            self.rtp_sink_port = self._rtp_sink.getsockname()[1]
            await self.baresip.start()
        except BaseException:
            await self._close()
            raise
        return self

    async def _close(self) -> None:
        try:
            await self.baresip.stop()
        finally:
            await self.lab.stop(timeout=2.0)
            if self._rtp_sink is not None:
                self._rtp_sink.close()

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        traceback: TracebackType | None) -> None:
        await self._close()
        if isinstance(error, Exception):
            raise AssertionError(f"{type(error).__name__}: {error}\n\n{self.explain()}") \
                from error


def play(tmp_path: Path, scenario: Callable[[Scene], Awaitable[None]],
         **baresip_options: Any) -> None:
    """Run ``scenario`` in a fresh :class:`Scene` on a new event loop, bounded."""

    async def run() -> None:
        async with Scene(tmp_path, **baresip_options) as scene, \
                asyncio.timeout(SCENARIO_TIMEOUT):
            await scenario(scene)

    asyncio.run(run())


def audio_answer(invitation: Invitation, port: int) -> bytes:
    """siplab's SDP answer to baresip's offer (RFC 3264 §6): PCMU on 127.0.0.1:``port``."""
    return str(answer(invitation.remote_body, PCMU_ONLY, address=LOOPBACK, port=port)).encode()


def incoming_calls(session: Session) -> list[IncomingCall]:
    return [event for event in session.events if isinstance(event, IncomingCall)]


# -- registration ------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_baresip_registers_at_labserver_with_digest(tmp_path: Path, transport: str) -> None:
    async def scenario(scene: Scene) -> None:
        await scene.register_baresip("alice", transport)
        registered = await scene.baresip.event("REGISTER_OK")
        assert registered["param"] == "200 OK"
        assert registered["accountaor"] == "sip:alice@127.0.0.1"

        # The server challenged the first REGISTER and accepted the second (§22.1).
        assert scene.wire.statuses("REGISTER") == [401, 200]
        first, second = scene.wire.requests("REGISTER")
        assert first.headers.get("Authorization") is None
        credentials = second.headers.get("Authorization") or ""
        assert credentials.startswith('Digest username="alice"')
        assert 'realm="127.0.0.1"' in credentials
        # The location service binds alice to baresip's Contact: its own SIP port.
        [binding] = list(scene.lab.server.core.location)
        assert binding.aor == "sip:alice@127.0.0.1"
        contact = binding.uri
        assert contact == second.contact[0].uri
        assert isinstance(contact, SipUri)
        assert (contact.host, contact.port) == (LOOPBACK, scene.baresip.sip_port)
        assert binding.source.transport == transport
        if transport == "tcp":
            assert contact.transport == "tcp"
        # baresip agrees.
        assert "OK" in await scene.baresip.command("reginfo")

    play(tmp_path, scenario)


def test_baresip_with_a_wrong_password_reports_403(tmp_path: Path) -> None:
    async def scenario(scene: Scene) -> None:
        await scene.register_baresip("alice", "udp", password="not-the-password")
        failed = await scene.baresip.event("REGISTER_FAIL")
        assert failed["param"].startswith("403"), failed
        assert scene.wire.statuses("REGISTER") == [401, 403]
        assert list(scene.lab.server.core.location) == []
        assert "REGISTER_OK" not in scene.baresip.event_types()

    play(tmp_path, scenario)


# -- calls -------------------------------------------------------------------------------------


async def check_routed_through_the_lab(scene: Scene, call_id: str) -> None:
    """ACK and BYE of the call followed the Record-Route: they reached the server (§16.12)."""
    for method in ("ACK", "BYE"):
        seen = [r for r in scene.wire.requests(method) if r.call_id == call_id]
        assert seen, f"no {method} of call {call_id} went through the server"


#: (baresip's transport to the lab, who hangs up): each side once over UDP, and TCP once.
CALL_CASES = [("udp", "baresip"), ("udp", "siplab"), ("tcp", "siplab")]


@pytest.mark.parametrize(("transport", "hangs_up"), CALL_CASES)
def test_baresip_calls_a_siplab_phone(tmp_path: Path, transport: str, hangs_up: str) -> None:
    async def scenario(scene: Scene) -> None:
        await scene.register_baresip("alice", transport)
        await scene.baresip.event("REGISTER_OK")
        bob = await scene.phone("bob")

        await scene.baresip.dial("sip:bob@127.0.0.1")
        invitation = await bob.next_invitation(timeout=WAIT)
        [incoming] = incoming_calls(invitation)
        assert str(incoming.request.from_.uri) == "sip:alice@127.0.0.1"
        offer = parse(invitation.remote_body)
        assert offer.media[0].media == "audio"
        assert offer.media[0].proto == "RTP/AVP"
        await invitation.progress(180)
        await scene.baresip.event("CALL_RINGING")
        await invitation.accept(audio_answer(invitation, port=scene.rtp_sink_port))
        established = await scene.baresip.event("CALL_ESTABLISHED")
        assert established["direction"] == "outgoing"
        assert established["peeruri"].split(";")[0] == "sip:bob@127.0.0.1"
        await invitation.established(timeout=WAIT)
        assert "ESTABLISHED" in await scene.baresip.list_calls()

        if hangs_up == "baresip":
            await scene.baresip.hangup()
            assert await invitation.terminated(timeout=WAIT) == "remote bye"
            await scene.baresip.event("CALL_CLOSED")
        else:
            assert await invitation.bye(timeout=WAIT) == "bye"
            closed = await scene.baresip.event("CALL_CLOSED")
            assert "peer" in closed["param"], closed  # "Connection reset by peer"
        await check_routed_through_the_lab(scene, invitation.call_id)
        assert bob.sessions == []

    play(tmp_path, scenario)


@pytest.mark.parametrize(("transport", "hangs_up"), CALL_CASES)
def test_siplab_phone_calls_baresip_which_answers_by_itself(
        tmp_path: Path, transport: str, hangs_up: str) -> None:
    async def scenario(scene: Scene) -> None:
        await scene.register_baresip("alice", transport, answermode="auto")
        await scene.baresip.event("REGISTER_OK")
        bob = await scene.phone("bob")

        offer = create_offer(PCMU_ONLY, address=LOOPBACK, audio_port=scene.rtp_sink_port)
        call = await bob.call("alice", body=str(offer).encode())
        await call.established(timeout=WAIT)
        established = await scene.baresip.event("CALL_ESTABLISHED")
        assert established["direction"] == "incoming"
        assert established["peeruri"].split(";")[0] == "sip:bob@127.0.0.1"
        # baresip's 200 carried its answer: PCMU, what siplab offered.
        negotiation = process_answer(offer, call.remote_body)
        assert negotiation.audio is not None
        assert negotiation.audio.codec_name == "PCMU"

        if hangs_up == "siplab":
            assert await call.bye(timeout=WAIT) == "bye"
            closed = await scene.baresip.event("CALL_CLOSED")
            assert "peer" in closed["param"], closed
        else:
            await scene.baresip.hangup()
            assert await call.terminated(timeout=WAIT) == "remote bye"
            await scene.baresip.event("CALL_CLOSED")
        await check_routed_through_the_lab(scene, call.call_id)
        assert bob.sessions == []

    play(tmp_path, scenario)




# -- calls that end before they start (§9, §13.3.1.3) ------------------------------------------


def test_baresip_cancels_its_call_while_siplab_rings(tmp_path: Path) -> None:
    async def scenario(scene: Scene) -> None:
        await scene.register_baresip("alice")
        await scene.baresip.event("REGISTER_OK")
        bob = await scene.phone("bob")

        await scene.baresip.dial("sip:bob@127.0.0.1")
        invitation = await bob.next_invitation(timeout=WAIT)
        await invitation.progress(180)
        await scene.baresip.event("CALL_RINGING")
        await scene.baresip.hangup()  # before the answer: CANCEL
        assert await invitation.terminated(timeout=WAIT) == "cancelled"
        await scene.baresip.event("CALL_CLOSED")
        # The server answered baresip's CANCEL, cancelled its own branch to bob,
        # and both INVITEs ended with 487 (§16.10).
        assert scene.wire.statuses("CANCEL") == [200]
        assert scene.wire.statuses("CANCEL", direction="in") == [200]
        assert scene.wire.statuses("INVITE", direction="in")[-1] == 487
        assert scene.wire.statuses("INVITE")[-1] == 487

    play(tmp_path, scenario)


def test_siplab_cancels_its_call_while_baresip_rings(tmp_path: Path) -> None:
    async def scenario(scene: Scene) -> None:
        await scene.register_baresip("alice")  # answermode=manual: it rings
        await scene.baresip.event("REGISTER_OK")
        bob = await scene.phone("bob")

        call = await bob.call("alice")  # siplab's own offer and RTP endpoint
        await scene.baresip.event("CALL_INCOMING")
        assert (await call.progressed(timeout=WAIT)).status == 180
        assert await call.cancel(timeout=WAIT) == "cancelled"
        closed = await scene.baresip.event("CALL_CLOSED")
        assert "peer" in closed["param"], closed
        assert scene.wire.statuses("INVITE", direction="in")[-1] == 487
        assert bob.open_media == []  # the RTP endpoint was closed with the call

    play(tmp_path, scenario)


def test_baresip_rejects_a_call_from_siplab(tmp_path: Path) -> None:
    async def scenario(scene: Scene) -> None:
        await scene.register_baresip("alice")
        await scene.baresip.event("REGISTER_OK")
        bob = await scene.phone("bob")

        call = await bob.call("alice")
        await scene.baresip.event("CALL_INCOMING")
        await scene.baresip.hangup()  # an incoming call not answered: 486
        with pytest.raises(CallFailed) as failure:
            await call.established(timeout=WAIT)
        assert failure.value.status == 486
        assert call.cause == "rejected"
        await scene.baresip.event("CALL_CLOSED")
        assert bob.open_media == []

    play(tmp_path, scenario)

# -- audio (issue 5) ---------------------------------------------------------------------------
#
# baresip plays a 440 Hz tone (a WAV this test writes, through its aufile module), siplab a
# 1000 Hz one (ToneSource): two different tones, so neither side can pass by hearing itself.
# siplab's side of the call is its own media (UserAgent(media=True): the Call writes the SDP,
# the RTP endpoint paces, decodes and records). baresip's side is checked with baresip's
# own eyes: the RTP packet counts it logs when a call ends (rtp_stats), and the WAV its
# sndfile filter wrote of what it decoded.

BARESIP_TONE = 440.0
SIPLAB_TONE = 1000.0
#: The codecs both sides have (baresip-core's g711 and g722 modules; siplab's numpy G.711
#: and PyAV's G.722).
AUDIO_CODECS = ["PCMU", "PCMA", "G722"]
#: Seconds of audio siplab must have heard (and sent) before the call is hung up.
LISTEN = 1.5
#: The start of each recording left out of the analysis: the jitter buffer filling, the
#: first packets of a resampler (G.722 is sampled at 16 kHz).
SETTLE = 0.2
#: Seconds of siplab's tone baresip must have decoded, after SETTLE. Less than LISTEN - SETTLE:
#: on a loaded machine baresip may end the call before it has read the last packets queued on
#: its RTP socket.
MIN_DECODED = 0.8
#: Packets siplab sent before the hang-up that baresip may not have counted, for the same
#: reason (10 packets: 200 ms).
UNCOUNTED = 10
#: How close the measured frequency must be (the issue's figure).
FREQUENCY_TOLERANCE = 2.0
#: A tone at amplitude 0.5 has an RMS of 0.5 * 32767 / sqrt(2) = 11585; G.711 and G.722
#: keep it within a few per cent. Half of that rules out a faint leak or a wrong decoder.
MIN_RMS = 5000.0


async def listen(session: Session) -> int:
    """Wait (bounded) until siplab heard :data:`LISTEN` s and sent as much.

    Returns the number of packets siplab had sent by then.
    """
    async with asyncio.timeout(WAIT):
        while True:
            heard, media = session.heard, session.media
            assert heard is not None, "the call records nothing"
            assert media is not None, "the call has no media"
            stats = media.stats()
            if heard.duration >= LISTEN and stats.packets_sent * 0.02 >= LISTEN:
                return stats.packets_sent
            await asyncio.sleep(0.05)


def media_story(session: Session) -> str:
    """siplab's side of the call's media, for a failure message."""
    lines = [f"=== siplab call {session.call_id}: codec {session.codec} ==="]
    if session.negotiation is not None:
        lines.append(session.negotiation.explain())
    if session.media is not None:
        lines.append(repr(session.media.stats()))
    if session.heard is not None:
        lines.append(f"heard {session.heard.duration:.2f} s at {session.heard.rate} Hz, "
                     f"RMS {session.heard.rms():.0f}")
    return "\n".join(lines)


async def check_both_heard(scene: Scene, session: Session, codec: str,
                           sent_before_hangup: int) -> None:
    """After the call: siplab heard baresip's tone, baresip heard siplab's (its own record)."""
    media, heard = session.media, session.heard
    assert media is not None
    assert heard is not None
    assert heard.rate is not None
    sent = media.stats().packets_sent
    await scene.baresip.stop()  # its statistics and WAV files are complete once it has exited
    heard.to_wav(scene.tmp_path / "siplab-heard.wav")

    # siplab heard baresip's tone, at the level it was sent.
    assert session.codec == codec
    samples = heard.samples[int(SETTLE * heard.rate):]
    assert dominant_frequency(samples, heard.rate) == pytest.approx(
        BARESIP_TONE, abs=FREQUENCY_TOLERANCE)
    assert rms(samples) > MIN_RMS

    # baresip used the codec too, and counted siplab's packets: those sent before the hang-up
    # (but the last few, which may still be queued when the call ends), none never sent.
    log = scene.baresip.log
    assert f"Set audio decoder: {codec}" in log
    assert f"Set audio encoder: {codec}" in log
    [counts] = scene.baresip.rtp_counts()
    assert sent_before_hangup - UNCOUNTED <= counts.received <= sent, counts
    assert counts.receive_errors == 0, counts
    # ... and decoded them into siplab's tone.
    wav = scene.baresip.decoded_wav()
    assert wav is not None, "baresip's sndfile filter wrote nothing"
    decoded, rate = read_wav(wav)
    decoded = decoded[int(SETTLE * rate):]
    assert len(decoded) >= MIN_DECODED * rate, f"baresip decoded only {len(decoded) / rate:.2f} s"
    assert dominant_frequency(decoded, rate) == pytest.approx(
        SIPLAB_TONE, abs=FREQUENCY_TOLERANCE)
    assert rms(decoded) > MIN_RMS


AUDIO_OPTIONS: dict[str, Any] = {"record": True, "source": ("tone", BARESIP_TONE)}


@pytest.mark.parametrize("codec", AUDIO_CODECS)
def test_siplab_calls_baresip_and_each_hears_the_other(tmp_path: Path, codec: str) -> None:
    async def scenario(scene: Scene) -> None:
        await scene.register_baresip("alice", answermode="auto")
        await scene.baresip.event("REGISTER_OK")
        bob = await scene.lab.user_agent("bob", codecs=(codec,))  # offers this codec only

        call = await bob.call("alice", source=ToneSource(SIPLAB_TONE))
        scene.calls.append(call)
        await call.established(timeout=WAIT)
        await scene.baresip.event("CALL_ESTABLISHED")
        sent = await listen(call)
        assert await call.bye(timeout=WAIT) == "bye"
        await scene.baresip.event("CALL_CLOSED")
        await check_both_heard(scene, call, codec, sent)

    play(tmp_path, scenario, **AUDIO_OPTIONS)


@pytest.mark.parametrize("codec", AUDIO_CODECS)
def test_baresip_calls_siplab_and_each_hears_the_other(tmp_path: Path, codec: str) -> None:
    async def scenario(scene: Scene) -> None:
        # baresip offers this codec only; siplab accepts with its default list.
        await scene.register_baresip("alice", audio_codecs=(codec,))
        await scene.baresip.event("REGISTER_OK")
        bob = await scene.phone("bob")

        await scene.baresip.dial("sip:bob@127.0.0.1")
        invitation = await bob.next_invitation(timeout=WAIT)
        scene.calls.append(invitation)
        await invitation.progress(180)
        await invitation.accept(source=ToneSource(SIPLAB_TONE))
        await scene.baresip.event("CALL_ESTABLISHED")
        sent = await listen(invitation)
        await scene.baresip.hangup()
        assert await invitation.terminated(timeout=WAIT) == "remote bye"
        await check_both_heard(scene, invitation, codec, sent)

    play(tmp_path, scenario, **AUDIO_OPTIONS)
