"""siplab calls siplab on the WebRTC path: aiortc behind the same Call and Session API.

Two siplab phones register with a LabServer on 127.0.0.1; alice offers
``UDP/TLS/RTP/SAVPF`` (``ua.call(..., webrtc=True)``) and bob answers it with
aiortc, as a browser would: ICE (RFC 8445) on loopback host candidates,
DTLS-SRTP (RFC 5763, RFC 5764), rtcp-mux (RFC 5761) and BUNDLE (RFC 9143). The
server only signals. What a student would check is what is asserted:

* the codec both sides agreed on, and the 1 kHz tone each side heard: its
  frequency (FFT, within ±2 Hz) and its SNR after alignment;
* DTMF as RFC 4733 telephone-events inside the SRTP session;
* the data channel (RFC 8831): text both ways, a 16 KB file both ways;
* VP8 video (RFC 7741) frames arriving on both sides, of the right shape;
* hold and resume by re-INVITE (RFC 3264 §8.4) without renegotiating ICE/DTLS;
* hanging up closes the peer connection: no task, socket or thread left.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
import pytest

import siplab.lab
from siplab.aio.audio import Recorder, ToneSource
from siplab.aio.session import Session
from siplab.aio.useragent import UserAgent
from siplab.aio.webrtc import WebRtcEndpoint
from siplab.aio.webrtc_tracks import pattern_number
from siplab.call import MediaPath
from siplab.lab import Lab
from siplab.rtp import g711
from tests.aio.phones import run

FREQ = 1000.0
#: Amplitude 0.7, as the plain path's tests (tests/aio/test_media_calls.py explain why).
AMPLITUDE = 0.7
#: codec -> minimum SNR (dB) after alignment. Measured here on this path, steady over runs:
#: PCMU 40.2, PCMA 45.9, G722 47.7, Opus 42.1 (siplab encodes and decodes with the plain
#: path's codecs; aiortc carries the packets). The bounds are the plain path's
#: (tests/aio/test_media_calls.py): 35, 35, 40 and 30, leaving 5 to 12 dB of margin. A
#: broken path falls far below: a -3 dB level error alone gives 10.7 dB (seen while aiortc's
#: encoder upmixed mono to stereo), a lost or doubled frame or a wrong rate less than 20 dB.
QUALITY = {"PCMU": 35.0, "PCMA": 35.0, "G722": 40.0, "opus": 30.0}
#: Seconds of each recording left out: ICE, DTLS and the jitter buffer (20 ms) settle.
SKIP = 0.3
TALK = 1.2
WAIT = 5.0


def tone() -> ToneSource:
    return ToneSource(FREQ, AMPLITUDE)


@asynccontextmanager
async def phones(alice_options: dict[str, Any] | None = None,
                 bob_options: dict[str, Any] | None = None,
                 ) -> AsyncIterator[tuple[Lab, UserAgent, UserAgent]]:
    """A lab server and two registered phones; bob answers by himself, playing the tone."""
    bob_settings: dict[str, Any] = {"auto_answer": True, "audio_source": tone()}
    bob_settings.update(bob_options or {})
    async with await siplab.lab.start(transports=("udp",), seed="webrtc") as lab:
        alice = await lab.user_agent("alice", **(alice_options or {}))
        bob = await lab.user_agent("bob", **bob_settings)
        yield lab, alice, bob


async def webrtc_call(alice: UserAgent, bob: UserAgent, **options: Any) -> tuple[Session, Session]:
    """alice calls bob offering WebRTC; both sides once established and connected."""
    options.setdefault("source", tone())
    outgoing = await alice.call("bob", webrtc=True, **options)
    await outgoing.established(timeout=WAIT)
    incoming = await bob.next_invitation(timeout=WAIT)
    await incoming.established(timeout=WAIT)
    for session in (outgoing, incoming):
        assert isinstance(session.media, WebRtcEndpoint)
        await session.media.connected(timeout=WAIT)
    return outgoing, incoming


def heard_tone(recorder: Recorder | None) -> tuple[float, float]:
    """(frequency, SNR dB) of a recording of the test tone, its first SKIP s left out."""
    assert recorder is not None
    assert recorder.rate is not None
    steady = recorder.samples[int(SKIP * recorder.rate):]
    assert steady.size >= recorder.rate // 2, recorder
    reference = g711.tone(FREQ, 0.5, recorder.rate, AMPLITUDE)
    return g711.dominant_frequency(steady, recorder.rate), g711.snr_db(reference, steady)


def endpoint(session: Session) -> WebRtcEndpoint:
    assert isinstance(session.media, WebRtcEndpoint)
    return session.media


class TestAudio:
    """Each codec a browser offers, both ways, on the WebRTC path (RFC 7874 §3: Opus, G.711)."""

    @pytest.mark.parametrize("codec", ["opus", "G722", "PCMU", "PCMA"])
    def test_each_side_hears_the_tone_through_dtls_srtp(self, codec: str) -> None:
        async def scenario() -> None:
            only = {"codecs": (codec,)}
            async with phones(only, only) as (_, alice, bob):
                outgoing, incoming = await webrtc_call(alice, bob)
                assert outgoing.path is incoming.path is MediaPath.WEBRTC
                assert outgoing.codec == incoming.codec == codec
                assert b"UDP/TLS/RTP/SAVPF" in outgoing.local_body
                assert b"a=fingerprint:sha-256" in incoming.local_body
                await asyncio.sleep(TALK + SKIP)
                for session in (outgoing, incoming):
                    frequency, snr = heard_tone(session.heard)
                    assert abs(frequency - FREQ) <= 2.0, (session, frequency)
                    assert snr >= QUALITY[codec], (session.direction, codec, snr)
                    stats = endpoint(session).stats()
                    assert stats.packets_received >= 50, stats
                    assert stats.lost == 0, stats
                    # Played by siplab's own playout, as on the plain path: 20 ms a frame,
                    # nothing concealed on loopback.
                    assert session.heard is not None
                    assert session.heard.duration == pytest.approx(stats.frames_played * 0.02)
                    assert stats.concealed_frames == 0, stats
                await outgoing.bye(timeout=WAIT)

        run(scenario(), timeout=20)


class TestDtmf:
    """RFC 4733 telephone-events in the SRTP session, both ways."""

    def test_keys_pressed_on_either_side_arrive_as_telephone_events(self) -> None:
        async def scenario() -> None:
            async with phones() as (_, alice, bob):
                outgoing, incoming = await webrtc_call(alice, bob)
                assert b"telephone-event/" in incoming.local_body
                await outgoing.send_dtmf("1#9", timeout=WAIT)
                await incoming.send_dtmf("*0", timeout=WAIT)
                async with asyncio.timeout(WAIT):
                    while incoming.dtmf_received != "1#9" or outgoing.dtmf_received != "*0":
                        await asyncio.sleep(0.02)
                assert [p.method for p in incoming.dtmf_presses] == ["rfc4733"] * 3
                await outgoing.bye(timeout=WAIT)

        run(scenario(), timeout=20)


class TestDataChannel:
    """RFC 8831 data channel: messages and a 16 KB file, each way."""

    def test_text_bytes_and_a_16_kb_file_cross_both_ways(self) -> None:
        async def scenario() -> None:
            async with phones() as (_, alice, bob):
                outgoing, incoming = await webrtc_call(alice, bob)
                mine, theirs = outgoing.data_channel, incoming.data_channel
                assert mine is not None
                assert theirs is not None
                await mine.opened(timeout=WAIT)
                await theirs.opened(timeout=WAIT)
                mine.send("hello bob")
                theirs.send(b"\x00\x01hello alice")
                assert await theirs.next_message(timeout=WAIT) == "hello bob"
                assert await mine.next_message(timeout=WAIT) == b"\x00\x01hello alice"
                alice_file = os.urandom(16 * 1024)
                bob_file = bytes(range(256)) * 64  # 16 KB too
                await mine.send_file(alice_file, name="from-alice.bin", timeout=WAIT)
                await theirs.send_file(bob_file, name="from-bob.bin", timeout=WAIT)
                got = await theirs.next_file(timeout=WAIT)
                back = await mine.next_file(timeout=WAIT)
                assert (got.name, got.data) == ("from-alice.bin", alice_file)
                assert (back.name, back.data) == ("from-bob.bin", bob_file)
                assert theirs.messages == ["hello bob"]  # the file is not a message
                await outgoing.bye(timeout=WAIT)

        run(scenario(), timeout=20)


class TestVideo:
    """VP8 (RFC 7741): siplab's test pattern out, frames as numpy arrays in."""

    def test_frames_of_the_test_pattern_arrive_on_both_sides(self) -> None:
        async def scenario() -> None:
            async with phones({"video": True}, {"video": True}) as (_, alice, bob):
                outgoing, incoming = await webrtc_call(alice, bob)
                assert b"m=video" in outgoing.local_body
                assert b"VP8/90000" in incoming.local_body
                async with asyncio.timeout(WAIT):
                    while min(len(s.video_frames) for s in (outgoing, incoming)) < 10:
                        await asyncio.sleep(0.05)
                for session in (outgoing, incoming):
                    assert session.video is not None
                    assert session.video.count >= 10
                    frame = session.video_frames[-1]
                    assert frame.shape == (240, 320, 3)
                    assert frame.dtype == np.uint8
                    numbers = [pattern_number(f) for f in session.video_frames]
                    assert numbers == sorted(numbers), numbers  # in order, counting up
                    assert numbers[-1] > numbers[0]
                await outgoing.bye(timeout=WAIT)

        run(scenario(), timeout=20)


class TestHold:
    """RFC 3264 §8.4 on the WebRTC path: the re-INVITE keeps ICE and DTLS; audio stops, then
    comes back."""

    def test_hold_stops_the_held_sides_audio_and_resume_brings_it_back(self) -> None:
        async def scenario() -> None:
            async with phones() as (_, alice, bob):
                outgoing, incoming = await webrtc_call(alice, bob)
                bob_end = endpoint(incoming)
                pc_before = bob_end.pc
                await outgoing.hold(timeout=WAIT)
                assert b"a=sendonly" in outgoing.local_body
                assert b"a=recvonly" in incoming.local_body
                assert b"a=ice-ufrag" in outgoing.local_body  # the same connection, still up
                await asyncio.sleep(0.2)  # what was already on its way
                before = endpoint(outgoing).stats().packets_received
                await asyncio.sleep(0.5)
                assert endpoint(outgoing).stats().packets_received == before  # bob is quiet
                assert endpoint(incoming).stats().packets_received > 0  # alice still sends
                await outgoing.unhold(timeout=WAIT)
                await asyncio.sleep(0.5)
                assert endpoint(outgoing).stats().packets_received >= before + 15
                assert bob_end.pc is pc_before
                assert bob_end.connection_state == "connected"
                await outgoing.bye(timeout=WAIT)

        run(scenario(), timeout=20)


class TestHangUp:
    """The end of the call closes the peer connection: ICE, DTLS, SCTP, the decoder threads."""

    def test_bye_closes_both_peer_connections_and_leaves_nothing_running(self) -> None:
        async def scenario() -> None:
            async with phones({"video": True}, {"video": True}) as (_, alice, bob):
                # A first call loads aiortc and starts asyncio's executor: not leaks.
                warm_up, other = await webrtc_call(alice, bob)
                await warm_up.bye(timeout=WAIT)
                await other.terminated(timeout=WAIT)
                tasks = len(asyncio.all_tasks())
                descriptors = len(os.listdir("/proc/self/fd"))
                threads = {t.name for t in threading.enumerate()}
                outgoing, incoming = await webrtc_call(alice, bob)
                await asyncio.sleep(0.3)
                assert len(os.listdir("/proc/self/fd")) > descriptors  # the ICE socket...
                await outgoing.bye(timeout=WAIT)
                assert await incoming.terminated(timeout=WAIT) == "remote bye"
                for session in (outgoing, incoming):
                    assert endpoint(session).closed
                    assert endpoint(session).pc.connectionState == "closed"
                assert alice.open_media == bob.open_media == []
                await asyncio.sleep(0.1)
                assert len(asyncio.all_tasks()) <= tasks
                assert len(os.listdir("/proc/self/fd")) <= descriptors
                decoders = {t.name for t in threading.enumerate()} - threads
                assert not {name for name in decoders if "decoder" in name}, decoders

        run(scenario(), timeout=25)
