"""The asyncio RTP endpoint on real UDP sockets (RFC 3550, RFC 3551, RFC 4961, RFC 4733).

Two :class:`RtpEndpoint` objects on 127.0.0.1, their parameters from a real
SDP offer/answer (siplab.sdp), or an endpoint and a plain socket that records
what arrives "on the wire". What is asserted is what a student would check in
Wireshark or in the recording:

* each codec carries a 1 kHz tone both ways: its frequency (FFT, ±2 Hz) and
  its SNR against an ideal tone after alignment;
* pacing (RFC 3551 §4.2): a packet every 20 ms, computed from the start time
  so that the 100th packet leaves 2 s after the first; sequence numbers +1,
  timestamps + 160 (G.711, and G.722 whose RTP clock is 8000, RFC 3551
  §4.5.2) or + 960 (Opus, RFC 7587 §4.1); the marker bit on the first packet;
* symmetric RTP (RFC 4961): a wrong address in the peer's SDP does not matter
  once its packets arrive;
* loss: a shim drops every 10th packet; the receiver conceals each with
  silence of the same length and its recording stays on the call's time line;
* RTCP (RFC 3550 §6): SR and RR both ways, the round-trip time, BYE on close;
* DTMF (RFC 4733) as telephone-events; directions (RFC 3264 §5.1);
* the statistics agree with Wireshark's way of counting the same packets.

The tone's amplitude is 0.7 of full scale: 1000 Hz divides 8000 Hz, so each
period hits the same eight G.711 quantizer steps, and at 0.5 those are coarse
ones (33.8 dB for PCMU); at 0.7 PCMU gives 40.2 dB and PCMA 45.9 dB. G.722 and
Opus thresholds are justified in tests/aio/test_codecs.py (measured 47.5 and
40.5 dB). The endpoints use a 100 ms jitter buffer here (20 ms is the default)
so that a busy test machine does not turn a late packet into a silent frame.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import socket
import statistics
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import numpy as np
import pytest

from siplab.aio.audio import Recorder, ToneSource
from siplab.aio.rtp import RtpEndpoint
from siplab.errors import InvalidStateError, LocalProtocolError
from siplab.rtp import (
    Bye,
    ReceiverReport,
    RtpPacket,
    SenderReport,
    SourceDescription,
    WiresharkStats,
    cname_of,
    g711,
    parse_rtp,
)
from siplab.sdp import (
    Capabilities,
    Direction,
    MediaParameters,
    create_offer,
    negotiate,
    process_answer,
)

T = TypeVar("T")
HOST = "127.0.0.1"
AMPLITUDE = 0.7
#: codec -> (minimum SNR dB, seconds of warm-up skipped): see the module docstring.
QUALITY = {"PCMU": (35.0, 0.1), "PCMA": (35.0, 0.1), "G722": (40.0, 0.1), "opus": (30.0, 0.5)}
JITTER = 0.1


def run(coroutine: Coroutine[Any, Any, T], timeout: float = 8.0) -> T:
    async def bounded() -> T:
        async with asyncio.timeout(timeout):
            return await coroutine

    return asyncio.run(bounded())


async def until(condition: Callable[[], bool], timeout: float = 3.0) -> None:
    """Wait until ``condition()`` holds, polling; fail after ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


def offer_answer(
    codec: str, offerer_port: int, answerer_port: int, **caps: Any
) -> tuple[MediaParameters, MediaParameters]:
    """(offerer's, answerer's) parameters from a real offer/answer for ``codec``."""
    capabilities = Capabilities(audio=(codec,), **caps)
    offer = create_offer(capabilities, audio_port=offerer_port)
    answered = negotiate(offer, capabilities, port=answerer_port)
    offered = process_answer(offer, answered.answer, capabilities)
    assert offered.audio is not None
    assert answered.audio is not None
    return offered.audio, answered.audio


async def endpoint(**options: Any) -> RtpEndpoint:
    options.setdefault("jitter_delay", JITTER)
    return await RtpEndpoint.open(HOST, **options)


class Wire(asyncio.DatagramProtocol):
    """A plain UDP socket that records every datagram: (data, source, arrival time)."""

    def __init__(self) -> None:
        self.datagrams: list[tuple[bytes, tuple[str, int], float]] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.datagrams.append((data, addr, asyncio.get_running_loop().time()))

    @property
    def port(self) -> int:
        assert self.transport is not None
        return int(self.transport.get_extra_info("sockname")[1])

    def close(self) -> None:
        assert self.transport is not None
        self.transport.close()


async def wire() -> Wire:
    _, protocol = await asyncio.get_running_loop().create_datagram_endpoint(
        Wire, local_addr=(HOST, 0)
    )
    return protocol


class Relay:
    """A shim between two endpoints: forwards RTP both ways, dropping every ``drop_every``-th
    packet from left to right, and records what it forwarded to the right and when."""

    def __init__(self, left: Wire, right: Wire, target: tuple[str, int], drop_every: int) -> None:
        self.left, self.right, self.target, self.drop_every = left, right, target, drop_every
        self.count = 0
        self.dropped: list[int] = []  # sequence numbers
        self.forwarded: list[tuple[bytes, float]] = []
        self.left_peer: tuple[str, int] | None = None
        left.datagram_received = self._from_left  # type: ignore[method-assign]
        right.datagram_received = self._from_right  # type: ignore[method-assign]

    def _from_left(self, data: bytes, addr: tuple[str, int]) -> None:
        self.left_peer = addr
        self.count += 1
        if self.count % self.drop_every == 0:
            self.dropped.append(parse_rtp(data).sequence_number)
            return
        self.forwarded.append((data, asyncio.get_running_loop().time()))
        assert self.right.transport is not None
        self.right.transport.sendto(data, self.target)

    def _from_right(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.left_peer is not None:
            assert self.left.transport is not None
            self.left.transport.sendto(data, self.left_peer)


def packets(capture: Wire) -> list[Any]:
    return [parse_rtp(data) for data, _, _ in capture.datagrams]


def snr_and_frequency(recorder: Recorder, warm_up: float) -> tuple[float, float]:
    """SNR (dB) of a recorded 1 kHz tone against an ideal one, after alignment, and its
    dominant frequency; the first ``warm_up`` seconds are skipped."""
    assert recorder.rate is not None
    rate = recorder.rate
    steady = recorder.samples[round(warm_up * rate) :]
    assert steady.size >= rate // 2, recorder
    reference = ToneSource(1000, AMPLITUDE).read(steady.size + rate // 100, rate)
    lag = g711.align(reference, steady, min_overlap=steady.size)
    return g711.snr_db(reference, steady, lag=lag), g711.dominant_frequency(steady, rate)


# --- audio both ways, each codec --------------------------------------------------------------


@pytest.mark.parametrize("codec", ["PCMU", "PCMA", "G722", "opus"])
def test_each_codec_carries_a_tone_both_ways(codec: str) -> None:
    minimum, warm_up = QUALITY[codec]

    async def scenario() -> None:
        alice, bob = await endpoint(), await endpoint()
        mine, theirs = offer_answer(codec, alice.local_port, bob.local_port)
        heard_by_alice, heard_by_bob = Recorder(), Recorder()
        bob.start(theirs, source=ToneSource(1000, AMPLITUDE), sink=heard_by_bob)
        alice.start(mine, source=ToneSource(1000, AMPLITUDE), sink=heard_by_alice)
        await asyncio.sleep(1.3)
        await alice.close()
        await bob.close()
        for me, peer, heard in ((alice, bob, heard_by_alice), (bob, alice, heard_by_bob)):
            stats = me.stats()
            assert stats.codec == codec
            assert stats.lost == 0
            assert stats.concealed_frames == 0
            assert stats.packets_received > 50
            # Time-aligned: one 20 ms frame recorded per packet played, nothing else.
            assert heard.duration == pytest.approx(stats.frames_played * 0.02)
            assert stats.frames_played >= peer.stats().packets_sent - 8  # <= 100 ms buffered
            snr, frequency = snr_and_frequency(heard, warm_up)
            assert snr >= minimum, f"{codec}: {snr:.1f} dB"
            assert abs(frequency - 1000) <= 2

    run(scenario())


# --- pacing and numbering, seen on the wire ----------------------------------------------------


@pytest.mark.parametrize(("codec", "step", "size"), [("PCMU", 160, 160), ("G722", 160, 160),
                                                     ("opus", 960, None)])
def test_sequence_numbers_and_timestamps_step_per_packet(
    codec: str, step: int, size: int | None
) -> None:
    async def scenario() -> None:
        capture = await wire()
        alice = await endpoint()
        mine, _ = offer_answer(codec, alice.local_port, capture.port)
        alice.start(mine, source=ToneSource(1000, AMPLITUDE))
        await until(lambda: len(capture.datagrams) >= 12)
        await alice.close()
        capture.close()
        sent = [p for p in packets(capture) if p.payload_type == mine.payload_type][:12]
        assert [p.marker for p in sent] == [True] + [False] * 11
        assert {p.ssrc for p in sent} == {alice.stats().ssrc}
        for before, after in itertools.pairwise(sent):
            assert after.sequence_number == (before.sequence_number + 1) % 65536
            assert (after.timestamp - before.timestamp) % 2**32 == step
        if size is not None:
            assert {len(p.payload) for p in sent} == {size}

    run(scenario())


def test_packets_leave_every_20_ms_and_do_not_drift() -> None:
    async def scenario() -> None:
        capture = await wire()
        alice = await endpoint()
        mine, _ = offer_answer("PCMU", alice.local_port, capture.port)
        alice.start(mine, source=ToneSource(1000, AMPLITUDE))
        await until(lambda: len(capture.datagrams) >= 101, timeout=4.0)
        await alice.close()
        capture.close()
        times = [arrival for _, _, arrival in capture.datagrams[:101]]
        gaps = np.diff(times)
        assert statistics.median(gaps) == pytest.approx(0.020, abs=0.001)
        # Deadlines come from the start time: the 100th packet is 2 s after the first,
        # not 2 s plus a hundred small delays.
        assert times[100] - times[0] == pytest.approx(2.0, abs=0.008)
        stamps = [p.timestamp for p in packets(capture)[:101]]
        assert (stamps[100] - stamps[0]) % 2**32 == 16000

    run(scenario(), timeout=10.0)


# --- symmetric RTP ---------------------------------------------------------------------------


def test_symmetric_rtp_answers_to_where_the_peers_packets_come_from() -> None:
    async def scenario() -> None:
        decoy = await wire()  # where alice's SDP says bob is: wrong (a NAT, say)
        alice, bob = await endpoint(), await endpoint()
        mine, theirs = offer_answer("PCMU", alice.local_port, bob.local_port)
        alice.start(dataclasses.replace(mine, remote_port=decoy.port), source=ToneSource())
        await until(lambda: len(decoy.datagrams) >= 3)  # until then: the SDP address
        assert not alice.latched
        heard = Recorder()
        bob.start(theirs, source=ToneSource(), sink=heard)
        await until(lambda: alice.latched)
        assert alice.remote_address == (HOST, bob.local_port)
        await until(lambda: bob.stats().packets_received >= 10)
        decoy_count = len(decoy.datagrams)
        await asyncio.sleep(0.1)
        assert len(decoy.datagrams) == decoy_count  # nothing more to the wrong address
        await alice.close()
        await bob.close()
        decoy.close()
        assert heard.duration > 0.1

    run(scenario())


# --- loss, concealment, statistics -----------------------------------------------------------


def test_lost_packets_are_concealed_and_the_recording_stays_aligned() -> None:
    async def scenario() -> None:
        alice, bob = await endpoint(), await endpoint()
        left, right = await wire(), await wire()
        mine, theirs = offer_answer("PCMU", alice.local_port, bob.local_port)
        relay = Relay(left, right, (HOST, bob.local_port), drop_every=10)
        heard = Recorder()
        # 1013 Hz does not divide the 20 ms frame: a frame out of place would show.
        bob.start(dataclasses.replace(theirs, remote_port=right.port), sink=heard)
        alice.start(dataclasses.replace(mine, remote_port=left.port),
                    source=ToneSource(1013, AMPLITUDE))
        await asyncio.sleep(1.05)
        await alice.close()
        await until(lambda: bob.playout.buffered == 0)
        await bob.close()
        left.close()
        right.close()

        sent = alice.stats().packets_sent
        last_forwarded = parse_rtp(relay.forwarded[-1][0]).sequence_number
        first = parse_rtp(relay.forwarded[0][0]).sequence_number
        frames = (last_forwarded - first) % 65536 + 1  # from the first to the last that came
        stats = bob.stats()
        assert len(relay.dropped) >= 4
        inside = [s for s in relay.dropped if (s - first) % 65536 < frames]
        assert stats.lost == len(inside)
        assert stats.concealed_frames == len(inside)
        # The recording is the call's time line: one frame per packet sent, within one.
        assert len(heard) == frames * 160
        assert abs(len(heard) - sent * 160) <= 160
        reference = ToneSource(1013, AMPLITUDE).read(frames * 160, 8000)
        for k in range(frames):
            recorded = heard.samples[160 * k : 160 * (k + 1)]
            if (first + k) % 65536 in relay.dropped:
                assert not recorded.any(), f"frame {k} should be silence"
            else:
                expected = reference[160 * k : 160 * (k + 1)]
                assert g711.snr_db(expected, recorded, lag=0) > 30, f"frame {k} out of place"

    run(scenario())


def test_statistics_agree_with_wireshark_counting_the_same_packets() -> None:
    async def scenario() -> None:
        alice, bob = await endpoint(), await endpoint()
        left, right = await wire(), await wire()
        mine, theirs = offer_answer("PCMU", alice.local_port, bob.local_port)
        relay = Relay(left, right, (HOST, bob.local_port), drop_every=10)
        arrivals: list[float] = []
        bob.on_packet = lambda packet, now: arrivals.append(now)
        bob.start(dataclasses.replace(theirs, remote_port=right.port))
        alice.start(dataclasses.replace(mine, remote_port=left.port), source=ToneSource())
        await asyncio.sleep(0.5)
        alice.send_dtmf("5")  # telephone-events have their own rules in Wireshark
        await asyncio.sleep(0.6)
        await alice.close()
        await until(lambda: len(arrivals) == len(relay.forwarded))
        await bob.close()
        left.close()
        right.close()

        # The same packets, as a capture between the relay and bob would show them.
        dynamic = {c.payload_type: (c.name, c.clock_rate) for c in theirs.codecs}
        on_the_wire, same_times = WiresharkStats(dynamic), WiresharkStats(dynamic)
        for (data, sent_at), arrived_at in zip(relay.forwarded, arrivals, strict=True):
            on_the_wire.receive(parse_rtp(data), sent_at)
            same_times.receive(parse_rtp(data), arrived_at)
        stats = bob.stats()
        last = parse_rtp(relay.forwarded[-1][0]).sequence_number
        dropped = [s for s in relay.dropped if (last - s) % 65536 < 30000]  # before the last
        assert len(dropped) >= 4
        assert stats.packets_received == on_the_wire.packets == len(relay.forwarded)
        assert stats.wireshark_lost == on_the_wire.lost == stats.lost == len(dropped)
        # Fed the arrival times bob saw, every figure is identical ...
        assert (stats.max_delta_ms, stats.max_jitter_ms, stats.mean_jitter_ms) == (
            same_times.max_delta,
            same_times.max_jitter,
            same_times.mean_jitter,
        )
        # ... and the relay's times, a hop earlier, are within a millisecond or two.
        assert stats.max_delta_ms == pytest.approx(on_the_wire.max_delta, abs=2.0)
        assert stats.mean_jitter_ms == pytest.approx(on_the_wire.mean_jitter, abs=1.0)
        assert stats.max_delta_ms >= 35  # at least the gap of a lost packet

    run(scenario())


# --- RTCP ---------------------------------------------------------------------------------------


def test_rtcp_reports_go_both_ways_and_give_the_round_trip_time() -> None:
    async def scenario() -> None:
        alice = await endpoint(rtcp_interval=0.2)
        bob = await endpoint(rtcp_interval=0.2)
        mine, theirs = offer_answer("PCMU", alice.local_port, bob.local_port)
        # bob only listens: he sends receiver reports, alice sender reports.
        bob.start(dataclasses.replace(theirs, direction=Direction.RECVONLY))
        alice.start(mine, source=ToneSource())
        await until(lambda: alice.rtt is not None and bob.stats().rtcp_received >= 2)
        await alice.close()
        await bob.close()
        assert alice.rtt is not None
        assert 0 <= alice.rtt < 0.05
        from_alice = [packets for _, way, packets in bob.rtcp_log if way == "in"]
        from_bob = [packets for _, way, packets in alice.rtcp_log if way == "in"]
        report = from_alice[-1][0]
        assert isinstance(report, SenderReport)
        assert report.ssrc == alice.stats().ssrc
        assert report.packet_count > 0
        assert cname_of(from_alice[-1], report.ssrc) == alice.sender.cname
        assert isinstance(from_alice[-1][1], SourceDescription)
        answer = from_bob[-1][0]
        assert isinstance(answer, ReceiverReport)
        assert answer.reports[0].ssrc == alice.stats().ssrc
        assert answer.reports[0].lsr != 0  # bob echoes alice's last SR: hence the RTT

    run(scenario())


def test_close_sends_an_rtcp_bye_and_frees_both_ports() -> None:
    async def scenario() -> None:
        alice, bob = await endpoint(), await endpoint()
        assert alice.local_port % 2 == 0
        assert alice.local_rtcp_port == alice.local_port + 1
        mine, theirs = offer_answer("PCMU", alice.local_port, bob.local_port)
        bob.start(theirs)
        alice.start(mine, source=ToneSource())
        await until(lambda: bob.stats().packets_received > 3)
        ports = (alice.local_port, alice.local_rtcp_port)
        await alice.close(reason="hung up")
        await until(lambda: bob.remote_bye is not None)
        assert isinstance(bob.remote_bye, Bye)
        assert bob.remote_bye.sources == (alice.stats().ssrc,)
        assert bob.remote_bye.reason == "hung up"
        await bob.close()
        for port in ports:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                probe.bind((HOST, port))  # free again
        with pytest.raises(InvalidStateError):
            alice.update(mine)

    run(scenario())


def test_rtcp_mux_carries_rtp_and_rtcp_on_one_port() -> None:
    async def scenario() -> None:
        alice = await endpoint(rtcp_mux=True, rtcp_interval=0.2)
        bob = await endpoint(rtcp_mux=True, rtcp_interval=0.2)
        assert alice.local_rtcp_port == alice.local_port
        mine, theirs = offer_answer("PCMU", alice.local_port, bob.local_port, rtcp_mux=True)
        assert mine.rtcp_mux
        assert mine.remote_rtcp_port == bob.local_port
        heard = Recorder()
        bob.start(theirs, source=ToneSource(), sink=heard)
        alice.start(mine, source=ToneSource(1000, AMPLITUDE))
        await until(lambda: alice.rtt is not None and bob.stats().rtcp_received > 0)
        await until(lambda: heard.duration >= 0.2)
        await alice.close()
        await bob.close()
        assert bob.stats().packets_ignored == 0  # no RTCP mistaken for RTP
        assert abs(g711.dominant_frequency(heard.samples, 8000) - 1000) <= 2

    run(scenario())


# --- DTMF -------------------------------------------------------------------------------------


def test_dtmf_digits_arrive_as_telephone_events() -> None:
    async def scenario() -> None:
        alice, bob = await endpoint(), await endpoint()
        mine, theirs = offer_answer("PCMU", alice.local_port, bob.local_port)
        assert mine.telephone_event_pt == 101
        keys: list[str] = []
        bob.on_dtmf = keys.append
        heard = Recorder()
        bob.start(theirs, sink=heard)
        alice.start(mine, source=ToneSource(1000, AMPLITUDE))
        await asyncio.sleep(0.2)
        await asyncio.wait_for(alice.send_dtmf("123#*"), 3.0)
        await until(lambda: bob.dtmf_received == "123#*")
        assert keys == list("123#*")
        bob.record_dtmf("9")  # as a SIP INFO would: same list
        assert bob.dtmf_received == "123#*9"
        with pytest.raises(LocalProtocolError):
            alice.send_dtmf("1", method="info")
        await asyncio.sleep(0.2)
        await alice.close()
        await bob.close()
        # The audio paused during the keys and its time line went on: silence there.
        assert bob.stats().concealed_frames >= 50
        assert bob.stats().lost == 0

    run(scenario())


# --- directions -------------------------------------------------------------------------------


def test_direction_changes_stop_sending_and_playing() -> None:
    async def scenario() -> None:
        alice, bob = await endpoint(jitter_delay=0.02), await endpoint(jitter_delay=0.02)
        mine, theirs = offer_answer("PCMU", alice.local_port, bob.local_port)
        heard_by_alice, heard_by_bob = Recorder(), Recorder()
        bob.start(theirs, source=ToneSource(), sink=heard_by_bob)
        alice.start(mine, source=ToneSource(), sink=heard_by_alice)

        async def flows(seconds: float = 0.2) -> tuple[bool, bool]:
            """(alice's audio reaches bob's recording, bob's reaches alice's) meanwhile."""
            await asyncio.sleep(0.06)  # let what is in flight and buffered settle
            before = (len(heard_by_bob), len(heard_by_alice))
            await asyncio.sleep(seconds)
            return len(heard_by_bob) > before[0], len(heard_by_alice) > before[1]

        assert await flows() == (True, True)
        for direction, expected in [
            (Direction.RECVONLY, (False, True)),  # alice stops sending, still plays
            (Direction.SENDONLY, (True, False)),  # alice sends, stops playing
            (Direction.INACTIVE, (False, False)),
            (Direction.SENDRECV, (True, True)),
        ]:
            alice.update(dataclasses.replace(mine, direction=direction))
            assert (alice.sending, alice.playing) == (direction.sends, direction.receives)
            assert await flows() == expected, direction
        await alice.close()
        await bob.close()

    run(scenario())


def test_media_clock_runs_on_while_not_sending() -> None:
    async def scenario() -> None:
        capture = await wire()
        alice = await endpoint()
        mine, _ = offer_answer("PCMU", alice.local_port, capture.port)
        alice.start(mine, source=ToneSource())
        await until(lambda: len(capture.datagrams) >= 5)
        alice.update(dataclasses.replace(mine, direction=Direction.RECVONLY))  # hold
        held_at = len(capture.datagrams)
        await asyncio.sleep(0.3)
        assert len(capture.datagrams) == held_at
        alice.update(mine)  # resume
        await until(lambda: len(capture.datagrams) >= held_at + 3)
        await alice.close()
        capture.close()
        sent = packets(capture)
        before, after = sent[held_at - 1], sent[held_at]
        arrived = [arrival for _, _, arrival in capture.datagrams]
        elapsed = arrived[held_at] - arrived[held_at - 1]
        assert after.marker  # a new talkspurt (RFC 3551 §4.1)
        assert after.sequence_number == (before.sequence_number + 1) % 65536
        # The timestamp says how much time passed, to within a packet (RFC 3550 §5.1).
        assert abs((after.timestamp - before.timestamp) % 2**32 - elapsed * 8000) <= 160

    run(scenario())


# --- the start of a call --------------------------------------------------------------------


def test_packets_that_arrive_before_start_are_played() -> None:
    async def scenario() -> None:
        alice, bob = await endpoint(), await endpoint()
        mine, theirs = offer_answer("PCMU", alice.local_port, bob.local_port)
        bob.start(theirs, source=ToneSource(1000, AMPLITUDE))  # the answerer starts first
        await until(lambda: bob.stats().packets_sent >= 5)
        heard = Recorder()
        alice.start(mine, sink=heard)
        await asyncio.sleep(0.3)
        await alice.close()
        await bob.close()
        stats = alice.stats()
        assert stats.first_packet_time is not None
        assert stats.first_audio_time is not None
        assert stats.packets_received >= bob.stats().packets_sent - 8
        assert stats.concealed_frames == 0
        reference = ToneSource(1000, AMPLITUDE).read(len(heard), 8000)
        assert g711.snr_db(reference, heard.samples, lag=0) > 35  # from bob's first packet

    run(scenario())


def test_start_and_update_guard_their_order() -> None:
    async def scenario() -> None:
        alice = await endpoint()
        mine, _ = offer_answer("PCMU", alice.local_port, 40000)
        with pytest.raises(InvalidStateError):
            alice.update(mine)
        alice.start(mine)
        with pytest.raises(InvalidStateError):
            alice.start(mine)
        await alice.close()

    run(scenario())


def test_update_switches_the_codec_mid_call() -> None:
    async def scenario() -> None:
        alice, bob = await endpoint(), await endpoint()
        # Both offer PCMU and PCMA; the answer keeps both, so bob decodes either.
        capabilities = Capabilities(audio=("PCMU", "PCMA"))
        offer = create_offer(capabilities, audio_port=alice.local_port)
        answered = negotiate(offer, capabilities, port=bob.local_port)
        mine = process_answer(offer, answered.answer, capabilities).audio
        assert mine is not None
        assert answered.audio is not None
        heard = Recorder()
        seen: list[int] = []
        bob.on_packet = lambda packet, now: seen.append(packet.payload_type)
        bob.start(answered.audio, sink=heard)
        alice.start(mine, source=ToneSource(1000, AMPLITUDE))
        await asyncio.sleep(0.3)
        alice.update(dataclasses.replace(mine, payload_type=8, codec_name="PCMA"))
        assert alice.codec == "PCMA"
        await asyncio.sleep(0.3)
        await alice.close()
        await until(lambda: bob.playout.buffered == 0)
        await bob.close()
        assert seen[0] == 0
        assert seen[-1] == 8
        assert sorted(set(seen)) == [0, 8]
        assert bob.stats().lost == 0
        assert abs(g711.dominant_frequency(heard.samples, 8000) - 1000) <= 2

    run(scenario())


def test_endpoints_of_one_loop_share_one_scheduler() -> None:
    async def scenario() -> None:
        first, second = await endpoint(), await endpoint()
        assert first.scheduler is second.scheduler
        await first.close()
        await second.close()

    run(scenario())



def test_garbage_and_foreign_payload_types_are_ignored_and_a_new_ssrc_starts_afresh() -> None:
    async def scenario() -> None:
        peer = await wire()
        bob = await endpoint()
        _, theirs = offer_answer("PCMU", peer.port, bob.local_port)
        heard = Recorder()
        bob.start(theirs, sink=heard)
        assert peer.transport is not None
        target = (HOST, bob.local_port)

        def send(ssrc: int, seq: int, pt: int = 0) -> None:
            packet = RtpPacket(pt, seq, 160 * seq, ssrc, payload=bytes(160))
            peer.transport.sendto(packet.to_bytes(), target)  # type: ignore[union-attr]

        peer.transport.sendto(b"not rtp", target)
        send(1, 1, pt=34)  # H.263: not negotiated on this stream
        for seq in range(1, 6):
            send(1, seq)
        await until(lambda: bob.stats().packets_received == 5)
        assert bob.stats().packets_ignored == 2
        assert bob.stats().remote_ssrc == 1
        for seq in range(900, 903):  # the peer restarted: new SSRC, new numbers
            send(2, seq)
        await until(lambda: bob.stats().remote_ssrc == 2 and bob.receiver.received == 3)
        assert bob.stats().lost == 0  # counted from the new source's first packet
        assert bob.wireshark.packets == 3
        await bob.close()
        peer.close()

    run(scenario())
