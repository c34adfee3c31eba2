"""Playout: the jitter buffer, decoding and concealment between packets and the sink.

RFC 3550 §5.1: the RTP timestamp places each packet's samples on the time
line. A missing packet leaves a hole that :class:`Playout` fills with silence
of exactly its length, so the recording stays aligned; telephone-events
(RFC 4733) are never decoded as audio; a large timestamp jump (a restart)
starts playout afresh instead of filling seconds of silence.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import numpy as np

from siplab.aio.audio import Recorder
from siplab.aio.playout import Playout
from siplab.rtp import RtpPacket, g711
from siplab.sdp import Capabilities, create_offer, negotiate

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T], timeout: float = 5.0) -> T:
    async def bounded() -> T:
        async with asyncio.timeout(timeout):
            return await coroutine

    return asyncio.run(bounded())


def pcmu_params() -> Any:
    caps = Capabilities(audio=("PCMU",))
    return negotiate(create_offer(caps, audio_port=40000), caps, port=40002).audio


def frame(seq: int, value: int, *, pt: int = 0, timestamp: int | None = None) -> RtpPacket:
    payload = g711.encode("PCMU", np.full(160, value, dtype=np.int16))
    stamp = 160 * seq if timestamp is None else timestamp
    return RtpPacket(pt, seq, stamp, ssrc=7, payload=payload)


def test_missing_packets_become_silence_of_their_length() -> None:
    async def scenario() -> None:
        playout = Playout(asyncio.get_running_loop(), delay=0.02)
        playout.configure(pcmu_params(), frame_step=160)
        playout.sink = recorder = Recorder()
        for seq in (0, 1, 4, 5):  # 2 and 3 never came
            playout.push(frame(seq, 1000 * (seq + 1)), now=0.02 * seq, audio=True)
        playout.play(now=1.0)
        samples = recorder.samples
        assert samples.size == 6 * 160
        levels = [int(g711.decode("PCMU", g711.encode("PCMU", [1000 * (s + 1)]))[0])
                  for s in (0, 1, 4, 5)]
        assert [int(samples[160 * k]) for k in (0, 1, 4, 5)] == levels
        assert not samples[320:640].any()
        assert playout.concealed_frames == 2
        assert playout.frames_played == 4

    run(scenario())


def test_telephone_events_are_not_played_as_audio() -> None:
    async def scenario() -> None:
        params = pcmu_params()
        playout = Playout(asyncio.get_running_loop(), delay=0.02)
        playout.configure(params, frame_step=160)
        playout.sink = recorder = Recorder()
        playout.push(frame(0, 500), now=0.0, audio=True)
        event = RtpPacket(params.telephone_event_pt, 1, 160, ssrc=7, payload=bytes(4))
        playout.push(event, now=0.02, audio=False)
        playout.push(frame(2, 500), now=0.04, audio=True)
        playout.play(now=1.0)
        assert playout.frames_played == 2
        assert recorder.samples.size == 3 * 160  # the event's time is silence

    run(scenario())


def test_a_timestamp_jump_restarts_playout_instead_of_filling_silence() -> None:
    async def scenario() -> None:
        playout = Playout(asyncio.get_running_loop(), delay=0.02)
        playout.configure(pcmu_params(), frame_step=160)
        playout.sink = recorder = Recorder()
        playout.push(frame(0, 500), now=0.0, audio=True)
        playout.play(now=0.05)
        playout.push(frame(1, 500, timestamp=160 + 8000 * 60), now=0.06, audio=True)  # +60 s
        playout.play(now=0.2)
        assert recorder.samples.size == 2 * 160
        assert playout.concealed_frames == 0

    run(scenario())


def test_the_first_packet_plays_when_its_delay_is_over() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        playout = Playout(loop, delay=0.03)
        playout.configure(pcmu_params(), frame_step=160)
        playout.sink = Recorder()
        arrived = loop.time()
        playout.push(frame(0, 500), now=arrived, audio=True)
        while playout.first_audio_time is None:
            await asyncio.sleep(0.002)
        assert 0.03 <= playout.first_audio_time - arrived < 0.045

    run(scenario())
