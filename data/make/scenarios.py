"""The calls behind data/captures: real peers on the loopback interface, captured by dumpcap.

Each recipe starts what it needs (siplab's LabServer, siplab phones, sipp,
Kamailio), captures the loopback interface while the call happens
(:class:`make.capture.Capture`), and stops everything. Passwords are fixed
and ids seeded, so two runs make the same story (times, ports and the random
parts of RTP differ). The SIP server listens on :data:`Setup.sip_port`:
5060 inside the private network namespace ``make_data.py`` prefers, so
Wireshark decodes SIP without being told.

| recipe                  | peers                          | what goes wrong                       |
|-------------------------|--------------------------------|---------------------------------------|
| call_basic              | siplab -> LabServer -> siplab  | nothing: a call with DTMF             |
| call_loss_jitter        | siplab -> LabServer -> siplab  | bob's RTP: 5 % lost, 0-30 ms late     |
| call_missing_ack        | sipp -> LabServer -> siplab    | the caller never ACKs the 200         |
| call_cancelled          | siplab -> LabServer -> siplab  | no 180; the caller gives up (CANCEL)  |
| call_488_codec_mismatch | sipp -> LabServer -> siplab    | G.729 only offered: 488               |
| register_wrong_password | siplab -> Kamailio             | wrong password: 403                   |
| call_forked             | siplab -> LabServer -> 2 x bob | one of bob's phones is CANCELled      |
| call_kamailio           | siplab -> Kamailio -> siplab   | nothing: 407, Record-Route, BYE via it|
"""

from __future__ import annotations

import asyncio
import random
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from make.capture import Capture

from siplab.aio.audio import ToneSource, WavSource
from siplab.aio.errors import RegistrationError
from siplab.aio.server import LabServer
from siplab.aio.useragent import UserAgent
from siplab.ids import IdSource
from siplab.lab.kamailio import Kamailio
from siplab.sdp import NegotiationError

__all__ = ["Setup", "RECIPES"]

HOST = "127.0.0.1"
PASSWORDS = {"alice": "alice-secret", "bob": "bob-secret"}
WAIT = 10.0  # seconds for any one step
SIPP_DIR = Path(__file__).resolve().parent / "sipp"


@dataclass(frozen=True, slots=True)
class Setup:
    """Where things listen and where files go."""

    sip_port: int  # the LabServer's (or Kamailio's) UDP port
    ws_port: int
    audio_dir: Path
    seed: str = "siplab-data"


# -- helpers ---------------------------------------------------------------------------------


async def lab_server(setup: Setup, name: str) -> LabServer:
    server = LabServer(udp=[(HOST, setup.sip_port)], users=PASSWORDS,
                       ids=IdSource(f"{setup.seed}-{name}-server"))
    await server.start()
    return server


async def phone(setup: Setup, name: str, user: str, port: int, **options: Any) -> UserAgent:
    """A started, registered siplab phone of ``user`` at the server on ``port``."""
    ua = UserAgent(f"sip:{user}@{HOST}", PASSWORDS.get(user, "wrong"),
                   transport=f"udp://{HOST}:{port}", ids=IdSource(f"{setup.seed}-{name}"),
                   **options)
    await ua.start()
    await ua.register(timeout=WAIT)
    return ua


async def stop_all(*things: Any) -> None:
    for thing in things:
        await thing.stop()


def impair(endpoint: Any, *, loss: float, max_delay: float, seed: int) -> None:
    """Make an RTP endpoint's *sending* lossy and jittery, like a bad network would.

    Every packet the endpoint sends is dropped with probability ``loss``, or
    else sent after a random delay of 0 to ``max_delay`` seconds (two packets
    20 ms apart may then swap places). This wraps the endpoint's private
    send step: a test-bench trick, not something siplab offers.
    """
    rng = random.Random(seed)
    send = endpoint._send_packet
    loop = asyncio.get_running_loop()

    def lossy_send(packet: Any) -> None:
        if rng.random() < loss:
            return
        loop.call_later(rng.uniform(0.0, max_delay), send, packet)

    endpoint._send_packet = lossy_send


async def sipp(scenario: str, target_port: int, service: str, *args: str) -> str:
    """Run one sipp call of ``scenario`` against 127.0.0.1:``target_port``; its output."""
    binary = shutil.which("sipp")
    if binary is None:
        raise RuntimeError("sipp is not installed (apt-get install sip-tester)")
    work = Path(tempfile.mkdtemp(prefix="siplab-sipp-"))
    command = [binary, f"{HOST}:{target_port}", "-sf", str(SIPP_DIR / f"{scenario}.xml"),
               "-i", HOST, "-m", "1", "-s", service, "-nostdin", "-timeout", "60s",
               "-timeout_error", "-mp", "16000", *args]
    process = await asyncio.create_subprocess_exec(
        *command, cwd=work, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output, _ = await asyncio.wait_for(process.communicate(), 90)
    text = output.decode("utf-8", "replace")
    if process.returncode != 0:
        raise RuntimeError(f"sipp {scenario} failed ({process.returncode}):\n{text[-3000:]}")
    shutil.rmtree(work, ignore_errors=True)
    return text


# -- the recipes ----------------------------------------------------------------------------------


async def call_basic(setup: Setup, out: Path) -> None:
    """Alice plays the melody, bob a 660 Hz tone; then alice presses 1 5 9 # (RFC 4733)."""
    with Capture(out):
        server = await lab_server(setup, "basic")
        alice = await phone(setup, "basic-alice", "alice", setup.sip_port)
        bob = await phone(setup, "basic-bob", "bob", setup.sip_port)
        call = await alice.call("bob", source=WavSource(setup.audio_dir / "melody.wav"))
        invitation = await bob.next_invitation(timeout=WAIT)
        await invitation.progress()
        await asyncio.sleep(0.3)  # ringing
        await invitation.accept(source=ToneSource(660, 0.3))
        await call.established(timeout=WAIT)
        await asyncio.sleep(2.2)  # the melody
        await call.send_dtmf("159#", timeout=WAIT)
        await asyncio.sleep(0.5)
        await call.bye(timeout=WAIT)
        assert invitation.dtmf_received == "159#", invitation.dtmf_received
        await stop_all(alice, bob, server)


async def call_loss_jitter(setup: Setup, out: Path) -> None:
    """A 4 s call whose bob -> alice RTP loses 5 % and is delayed 0-30 ms at random."""
    with Capture(out):
        server = await lab_server(setup, "loss")
        alice = await phone(setup, "loss-alice", "alice", setup.sip_port)
        bob = await phone(setup, "loss-bob", "bob", setup.sip_port)
        call = await alice.call("bob", source=ToneSource(440, 0.3))
        invitation = await bob.next_invitation(timeout=WAIT)
        await invitation.progress()
        await invitation.accept(source=WavSource(setup.audio_dir / "melody.wav", loop=True))
        impair(invitation.media, loss=0.05, max_delay=0.030, seed=7)
        await call.established(timeout=WAIT)
        await asyncio.sleep(4.0)
        await call.bye(timeout=WAIT)
        await stop_all(alice, bob, server)


def _inactive_answer(port: int) -> bytes:
    return ("v=0\r\no=bob 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            f"m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=inactive\r\n").encode()


async def call_missing_ack(setup: Setup, out: Path) -> None:
    """sipp calls bob and never ACKs: bob's 200 is retransmitted until Timer H, then BYE."""
    with Capture(out):
        server = await lab_server(setup, "noack")
        bob = await phone(setup, "noack-bob", "bob", setup.sip_port, media=False)

        async def answer() -> None:
            invitation = await bob.next_invitation(timeout=WAIT)
            await invitation.progress()
            await asyncio.sleep(0.2)
            await invitation.accept(body=_inactive_answer(40000))
            await invitation.terminated(timeout=45)

        answering = asyncio.create_task(answer())
        await sipp("uac_no_ack", setup.sip_port, "bob")
        await answering
        await stop_all(bob, server)


async def call_cancelled(setup: Setup, out: Path) -> None:
    """Bob's phone never rings (no 180); after 4 s alice gives up: CANCEL, 487."""
    with Capture(out):
        server = await lab_server(setup, "cancel")
        alice = await phone(setup, "cancel-alice", "alice", setup.sip_port)
        bob = await phone(setup, "cancel-bob", "bob", setup.sip_port)
        call = await alice.call("bob", source=ToneSource(440))
        invitation = await bob.next_invitation(timeout=WAIT)  # and say nothing
        await asyncio.sleep(4.0)
        cause = await call.cancel(timeout=WAIT)
        await invitation.terminated(timeout=WAIT)
        assert cause == "cancelled", cause
        await stop_all(alice, bob, server)


async def call_488_codec_mismatch(setup: Setup, out: Path) -> None:
    """sipp offers only G.729; bob (PCMU, PCMA, G.722, Opus) answers 488."""
    with Capture(out):
        server = await lab_server(setup, "488")
        bob = await phone(setup, "488-bob", "bob", setup.sip_port)

        async def answer() -> None:
            invitation = await bob.next_invitation(timeout=WAIT)
            try:
                await invitation.accept()  # nothing to answer G.729 with: 488 goes out
            except NegotiationError:
                return
            raise AssertionError("bob accepted a G.729-only offer")

        answering = asyncio.create_task(answer())
        await sipp("uac_offer_g729", setup.sip_port, "bob")
        await answering
        await stop_all(bob, server)


async def register_wrong_password(setup: Setup, out: Path) -> None:
    """Alice registers at Kamailio with a wrong password: 401, then 403."""
    work = Path(tempfile.mkdtemp(prefix="siplab-kamailio-"))
    with Kamailio(work, setup.sip_port, setup.ws_port, "the-real-password") as kamailio:
        kamailio.start()
        with Capture(out):
            alice = UserAgent(kamailio.aor("alice"), "a-wrong-password",
                              transport=kamailio.transport,
                              ids=IdSource(f"{setup.seed}-wrongpw-alice"))
            await alice.start()
            try:
                await alice.register(timeout=WAIT)
            except RegistrationError as error:
                if error.status != 403:
                    raise
            else:
                raise AssertionError("a wrong password was accepted")
            await alice.stop()
    shutil.rmtree(work, ignore_errors=True)


async def call_forked(setup: Setup, out: Path) -> None:
    """Bob has two phones (desk, laptop); both ring, the laptop answers, the desk is CANCELled."""
    with Capture(out):
        server = await lab_server(setup, "fork")
        alice = await phone(setup, "fork-alice", "alice", setup.sip_port)
        desk = await phone(setup, "fork-desk", "bob", setup.sip_port, user_agent="bob-desk")
        laptop = await phone(setup, "fork-laptop", "bob", setup.sip_port,
                             user_agent="bob-laptop")
        call = await alice.call("bob", source=ToneSource(440, 0.3))
        on_desk = await desk.next_invitation(timeout=WAIT)
        on_laptop = await laptop.next_invitation(timeout=WAIT)
        await on_desk.progress()
        await on_laptop.progress()
        await asyncio.sleep(1.0)
        await on_laptop.accept(source=ToneSource(660, 0.3))
        await call.established(timeout=WAIT)
        assert await on_desk.terminated(timeout=WAIT) == "cancelled"
        await asyncio.sleep(1.0)
        await call.bye(timeout=WAIT)
        await stop_all(alice, desk, laptop, server)


async def call_kamailio(setup: Setup, out: Path) -> None:
    """Alice calls bob through Kamailio: 407 for the INVITE, Record-Route, BYE through it."""
    work = Path(tempfile.mkdtemp(prefix="siplab-kamailio-"))
    password = "class-password"
    with Kamailio(work, setup.sip_port, setup.ws_port, password) as kamailio:
        kamailio.start()
        with Capture(out):
            alice = UserAgent(kamailio.aor("alice"), password, transport=kamailio.transport,
                              ids=IdSource(f"{setup.seed}-kam-alice"))
            bob = UserAgent(kamailio.aor("bob"), password, transport=kamailio.transport,
                            ids=IdSource(f"{setup.seed}-kam-bob"))
            for ua in (alice, bob):
                await ua.start()
                await ua.register(timeout=WAIT)
            call = await alice.call("bob", source=ToneSource(440, 0.3))
            invitation = await bob.next_invitation(timeout=WAIT)
            await invitation.progress()
            await invitation.accept(source=ToneSource(660, 0.3))
            await call.established(timeout=WAIT)
            await asyncio.sleep(1.0)
            await call.bye(timeout=WAIT)
            await stop_all(alice, bob)
    shutil.rmtree(work, ignore_errors=True)


Recipe = Callable[[Setup, Path], Awaitable[None]]

#: File name (without .pcap) -> the recipe that makes it, in the order of the table above.
RECIPES: dict[str, Recipe] = {
    "call_basic": call_basic,
    "call_loss_jitter": call_loss_jitter,
    "call_missing_ack": call_missing_ack,
    "call_cancelled": call_cancelled,
    "call_488_codec_mismatch": call_488_codec_mismatch,
    "register_wrong_password": register_wrong_password,
    "call_forked": call_forked,
    "call_kamailio": call_kamailio,
}
