"""Captures of real peers, made once per test session for tests/lab (flow, RTP analysis).

* ``sipp_rtp_capture``: sipp calls sipp (the built-in ``uas`` scenario with
  ``-rtp_echo``, which sends every RTP packet back), playing sipp's own
  ``g711a.pcap`` and the RFC 4733 DTMF capture for the key 1
  (tests/lab/sipp/uac_rtp.xml). Four RTP streams: PCMA and telephone-event,
  each way; the DTMF capture repeats its end packets' sequence numbers, so
  Wireshark counts negative loss for those streams (FACTS.md).
* ``kamailio_register_capture``: a siplab UserAgent registers at Kamailio
  (digest: REGISTER, 401, REGISTER, 200) over UDP, TCP and WebSocket, then
  unregisters.
* ``baresip_call_capture``: baresip (the harness of tests/interop/baresip.py)
  calls a siplab phone through the LabServer; both send a tone for a second
  and a half (PCMU), baresip hangs up. The filter keeps the lab server's
  UDP port and every RTP/RTCP version-2 datagram (their ports are not known
  in advance), so RTP of other tests running meanwhile may be in it too: the
  comparison with tshark holds for whatever is in the file.

Each is captured by tshark on lo (:class:`~tests.lab.captures.LiveCapture`)
with a filter on the peers' ports, so other traffic on the machine stays out.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from siplab.aio.audio import ToneSource
from siplab.aio.useragent import UserAgent
from tests.helpers import require_peer
from tests.interop.kamailio import Kamailio
from tests.interop.peers import free_port
from tests.lab.captures import LiveCapture

SIPP_SCENARIO = Path(__file__).parent / "sipp" / "uac_rtp.xml"
SIPP_PCAPS = Path("/usr/share/sip-tester")  # Debian's sip-tester: g711a.pcap, dtmf_2833_*.pcap
SIPP_TIMEOUT = 30.0
KAMAILIO_PASSWORD = "lab-secret"


async def _run(command: list[str], cwd: Path, log: Path) -> asyncio.subprocess.Process:
    with log.open("wb") as out:
        return await asyncio.create_subprocess_exec(
            *command, cwd=cwd, stdin=asyncio.subprocess.DEVNULL, stdout=out,
            stderr=asyncio.subprocess.STDOUT)


async def _finish(process: asyncio.subprocess.Process) -> int:
    try:
        async with asyncio.timeout(SIPP_TIMEOUT):
            return await process.wait()
    except TimeoutError:
        process.kill()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                await process.wait()
        return -9


async def _sipp_call(directory: Path, pcap: Path) -> None:
    sipp = require_peer("sipp", "sip-tester")
    if not (SIPP_PCAPS / "g711a.pcap").exists():
        pytest.skip(f"needs sipp's pcaps in {SIPP_PCAPS}: apt-get install sip-tester")
    (directory / "pcap").symlink_to(SIPP_PCAPS)  # the scenario plays pcap/g711a.pcap
    uas_port, uac_port = free_port(), free_port()
    uas_media, uac_media = free_port(), free_port()  # sipp uses the next ports too (RTCP...)
    common = ["-i", "127.0.0.1", "-mi", "127.0.0.1", "-m", "1", "-nostdin",
              "-timeout", "20s", "-timeout_error"]
    capture_filter = (f"udp port {uas_port} or udp port {uac_port} or "
                      f"udp portrange {uas_media}-{uas_media + 3} or "
                      f"udp portrange {uac_media}-{uac_media + 3}")
    async with LiveCapture(pcap, capture_filter):
        uas = await _run([sipp, "-sn", "uas", "-p", str(uas_port), "-mp", str(uas_media),
                          "-rtp_echo", *common], directory, directory / "uas.log")
        try:
            uac = await _run([sipp, f"127.0.0.1:{uas_port}", "-sf", str(SIPP_SCENARIO),
                              "-p", str(uac_port), "-mp", str(uac_media), *common],
                             directory, directory / "uac.log")
            uac_status = await _finish(uac)
        finally:
            uas_status = await _finish(uas)
    logs = "\n".join(p.read_text("utf-8", "replace")[-2000:] for p in directory.glob("*.log"))
    assert (uac_status, uas_status) == (0, 0), f"sipp failed:\n{logs}"


@pytest.fixture(scope="session")
def sipp_rtp_capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A pcapng of a sipp call with RTP (see the module docstring)."""
    require_peer("tshark", "tshark")
    directory = tmp_path_factory.mktemp("sipp-rtp")
    pcap = directory / "sipp-call.pcapng"
    asyncio.run(_sipp_call(directory, pcap))
    return pcap


async def _register_everywhere(kamailio: Kamailio, pcap: Path) -> None:
    capture_filter = f"port {kamailio.udp.port} or port {kamailio.ws.port}"
    async with LiveCapture(pcap, capture_filter):
        for transport, url in (("udp", f"udp://127.0.0.1:{kamailio.udp.port}"),
                               ("tcp", f"tcp://127.0.0.1:{kamailio.tcp.port}"),
                               ("ws", kamailio.ws_url)):
            ua = UserAgent(f"sip:{transport}-user@127.0.0.1:{kamailio.udp.port}",
                           KAMAILIO_PASSWORD, transport=url, media=False)
            async with asyncio.timeout(10):
                async with ua:
                    await ua.register(timeout=5)


@pytest.fixture(scope="session")
def kamailio_register_capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A pcapng of siplab registering at Kamailio over UDP, TCP and WS (see the docstring)."""
    require_peer("tshark", "tshark")
    directory = tmp_path_factory.mktemp("kamailio-register")
    sip, ws = free_port(), free_port()
    while ws == sip:
        ws = free_port()
    pcap = directory / "kamailio-register.pcapng"
    with Kamailio(directory, sip, sip, ws, KAMAILIO_PASSWORD) as kamailio:
        asyncio.run(_register_everywhere(kamailio, pcap))
    return pcap


async def _baresip_call(tmp_path: Path, pcap: Path) -> None:
    from tests.interop.test_baresip import LISTEN, SIPLAB_TONE, WAIT, Scene

    async with Scene(tmp_path, source=("tone", 440.0)) as scene, asyncio.timeout(30):
        lab_udp = scene.server("udp").port
        rtp_v2 = "(udp[8] & 0xc0 == 0x80)"  # the first payload byte: RTP/RTCP version 2
        async with LiveCapture(pcap, f"udp port {lab_udp} or {rtp_v2}"):
            await scene.register_baresip("alice", audio_codecs=("PCMU",))
            await scene.baresip.event("REGISTER_OK")
            bob = await scene.phone("bob")
            await scene.baresip.dial("sip:bob@127.0.0.1")
            invitation = await bob.next_invitation(timeout=WAIT)
            await invitation.progress(180)
            await invitation.accept(source=ToneSource(SIPLAB_TONE))
            await scene.baresip.event("CALL_ESTABLISHED")
            async with asyncio.timeout(WAIT):
                while invitation.heard is None or invitation.heard.duration < LISTEN:
                    await asyncio.sleep(0.05)
            await scene.baresip.hangup()
            assert await invitation.terminated(timeout=WAIT) == "remote bye"


@pytest.fixture(scope="session")
def baresip_call_capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A pcapng of baresip calling a siplab phone, with RTP both ways (see the docstring)."""
    require_peer("tshark", "tshark")
    require_peer("baresip", "baresip-core")
    directory = tmp_path_factory.mktemp("baresip-call")
    pcap = directory / "baresip-call.pcapng"
    asyncio.run(_baresip_call(directory, pcap))
    return pcap
