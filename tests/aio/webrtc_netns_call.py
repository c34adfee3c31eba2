"""One siplab-to-siplab WebRTC call, for a loopback-only network namespace; prints one JSON line.

Run by tests/aio/test_webrtc_paths.py as::

    unshare --net sh -c 'ip link set lo up && python -m tests.aio.webrtc_netns_call'

Inside, the machine has no address but 127.0.0.1 and ::1, and aioice, left to
itself, would gather no ICE candidate at all (it leaves loopback out). The line
says what aioice found alone, which candidates siplab's offer and answer carry,
and what was heard, so the test can check that siplab offered 127.0.0.1 itself.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys

import siplab.lab
from siplab.aio.audio import ToneSource
from siplab.aio.webrtc import WebRtcEndpoint
from siplab.aio.webrtc_aiortc import machine_addresses
from siplab.rtp import g711

CANDIDATE = re.compile(rb"^a=candidate:\S+ \d+ udp \d+ (\S+) \d+ typ host", re.MULTILINE)


async def call() -> dict[str, object]:
    async with await siplab.lab.start(transports=("udp",), seed="netns") as lab:
        alice = await lab.user_agent("alice", codecs=("PCMU",))
        await lab.user_agent("bob", codecs=("PCMU",), auto_answer=True,
                             audio_source=ToneSource(1000, 0.7))
        outgoing = await alice.call("bob", webrtc=True, source=ToneSource(1000, 0.7))
        await outgoing.established(timeout=5)
        assert isinstance(outgoing.media, WebRtcEndpoint)
        await outgoing.media.connected(timeout=5)
        await asyncio.sleep(1.0)
        heard = outgoing.heard
        assert heard is not None
        assert heard.rate is not None
        steady = heard.samples[int(0.3 * heard.rate):]
        result = {
            "machine_addresses": machine_addresses(),
            "offer_candidates": sorted({c.decode() for c in
                                        CANDIDATE.findall(outgoing.local_body)}),
            "answer_candidates": sorted({c.decode() for c in
                                         CANDIDATE.findall(outgoing.remote_body)}),
            "connection": outgoing.media.connection_state,
            "codec": outgoing.codec,
            "received": outgoing.media.stats().packets_received,
            "frequency": round(g711.dominant_frequency(steady, heard.rate), 2)
            if steady.size else None,
        }
        await outgoing.bye(timeout=5)
        return result


def main() -> int:
    result = asyncio.run(asyncio.wait_for(call(), timeout=30))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
