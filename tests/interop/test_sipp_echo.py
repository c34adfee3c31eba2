"""A siplab phone calls sipp, which echoes its RTP back: the tone comes back (RFC 3550, 3551).

sipp's ``-rtp_echo`` sends every datagram that arrives on its media port
(``-mp``, the port its SDP answer gives: ``m=audio [media_port] RTP/AVP 0``)
back to where it came from, unchanged. A siplab phone calls sipp's
``uas_answer`` scenario directly (sipp is its outbound proxy), sends a
1 kHz tone in PCMU, and must hear its own tone: the packets went out paced
and well formed, sipp's media port was taken from its answer (RFC 3264 §5),
and what came back was decoded and recorded.

The echoed packets carry siplab's own SSRC. RFC 3550 §8.2 says a source that
sees its own SSRC from another address may have a collision or a loop; a
phone must still play such a stream, as this test's phone does.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from siplab.aio.useragent import UserAgent
from siplab.rtp.g711 import dominant_frequency, rms
from tests.interop.peers import LOOPBACK, Sipp, free_port

pytestmark = pytest.mark.interop

TONE = 1000.0
LISTEN = 1.0  # seconds of echoed audio to record
WAIT = 5.0


def free_even_port() -> int:
    """A free UDP port that is even, as an RTP port is (RFC 3550 §11)."""
    for _ in range(50):
        port = free_port()
        if port % 2 == 0 and port < 65534:
            return port
    pytest.fail("no free even port found")


def test_siplab_hears_its_own_tone_echoed_by_sipp(tmp_path: Path) -> None:
    media_port = free_even_port()
    sipp = Sipp("echo", "uas_answer", "udp", tmp_path,
                args=["-rtp_echo", "-mp", str(media_port)])

    async def run() -> tuple[float, float, int, str]:
        await sipp.start()
        try:
            await sipp.listening()
            ua = UserAgent(f"sip:alice@{LOOPBACK}", transport=f"udp://{LOOPBACK}:{sipp.port}",
                           codecs=("PCMU",))
            await ua.start()
            try:
                call = await ua.call(f"sip:sipp@{LOOPBACK}:{sipp.port}",
                                     source=f"tone:{TONE:g}")
                await call.established(timeout=WAIT)
                async with asyncio.timeout(WAIT + LISTEN):
                    while call.heard is None or call.heard.duration < LISTEN:
                        await asyncio.sleep(0.05)
                heard = call.heard
                samples = heard.samples[heard.rate // 5:]  # past the first 200 ms
                answer = call.remote_body.decode()
                await call.bye(timeout=WAIT)
                return (dominant_frequency(samples, heard.rate), rms(samples), heard.rate,
                        answer)
            finally:
                await ua.stop()
        finally:
            result = await sipp.finish()
            await sipp.kill()
            assert result.failed_calls == 0, result.explain()

    frequency, level, rate, answer = asyncio.run(run())
    assert f"m=audio {media_port} RTP/AVP 0" in answer  # sipp's echo port, from its SDP
    assert rate == 8000
    assert level > 1000, level  # a tone, not silence
    assert frequency == pytest.approx(TONE, abs=2)
