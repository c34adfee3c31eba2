"""A traced call's media in the pcap: RTP and RTCP next to the SIP (RFC 3550, RFC 4566 §5.14).

``Trace(rtp=True)`` attached to two siplab user agents keeps the RTP and RTCP
packets of their call as well as its SIP. ``to_pcap`` writes them as UDP
frames between the ports the SDP offer and answer named, so tshark needs no
heuristics and no "decode as": it reads the SDP, sets up the RTP conversation
(its "Setup frame" points at the SIP message that carried the SDP), and
decodes the packets as RTP. The checks:

* tshark finds every traced RTP packet, with the SSRC each endpoint sent
  with and payload type 0 (PCMU, RFC 3551), each set up by the SDP;
* its RTCP (SR/RR, then BYE when the call ends) is on the odd port above;
* ``tshark -z rtp,streams`` and :func:`siplab.lab.rtp_streams` agree on the
  capture: the same streams, packets, loss, and deltas and jitter to 0.01 ms;
  and ``rtp_streams`` of the Trace itself gives the same table.
"""

from __future__ import annotations

import asyncio
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

import siplab.lab
from siplab.aio.audio import ToneSource
from siplab.aio.rtp import RtpEndpoint
from siplab.lab import Trace, rtp_streams
from siplab.rtp import parse_rtp
from tests.helpers import require_peer
from tests.lab.captures import STREAM_COLUMNS, TsharkStream, tshark_streams

TALK = 1.0  # seconds of audio each way
CALL_TIMEOUT = 15.0


@dataclass
class MediaCall:
    trace: Trace
    pcap: Path
    ssrcs: dict[str, int]  # alice's and bob's sending SSRC
    ports: dict[str, tuple[int, int]]  # their RTP and RTCP ports
    sent: dict[str, int]  # RTP packets each sent


async def traced_media_call(pcap: Path) -> MediaCall:
    """alice calls bob (PCMU, both sending a tone) for TALK seconds; traced with RTP."""
    trace = Trace(rtp=True)
    async with await siplab.lab.start(transports=("udp",), seed="trace-rtp") as lab:
        alice = await lab.user_agent("alice", "udp", codecs=("PCMU",))
        bob = await lab.user_agent("bob", "udp", codecs=("PCMU",), auto_answer=True,
                                   audio_source=ToneSource(440))
        trace.attach(alice, bob)
        outgoing = await alice.call("bob", source=ToneSource(1000))
        await outgoing.established(timeout=5)
        incoming = await bob.next_invitation(timeout=5)
        await incoming.established(timeout=5)
        await asyncio.sleep(TALK)
        endpoints = {"alice": outgoing.media, "bob": incoming.media}
        await outgoing.hangup()
        await incoming.terminated(timeout=5)
        for media in endpoints.values():  # the last RTCP (BYE) is sent as the media closes
            assert media is not None
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 3
            while not media.closed and loop.time() < deadline:
                await asyncio.sleep(0.01)
    plain = {name: m for name, m in endpoints.items() if isinstance(m, RtpEndpoint)}
    assert len(plain) == 2  # the plain RTP/AVP path: siplab's own RTP endpoints
    ssrcs = {name: m.sender.ssrc for name, m in plain.items()}
    ports = {name: (m.local_port, m.local_rtcp_port) for name, m in plain.items()}
    sent = {name: m.sender.packets_sent for name, m in plain.items()}
    trace.to_pcap(pcap)
    return MediaCall(trace, pcap, ssrcs, ports, sent)


@pytest.fixture(scope="module")
def call(tmp_path_factory: pytest.TempPathFactory) -> MediaCall:
    async def bounded() -> MediaCall:
        async with asyncio.timeout(CALL_TIMEOUT):
            return await traced_media_call(tmp_path_factory.mktemp("trace-rtp") / "call.pcap")

    return asyncio.run(bounded())


def tshark_rtp(pcap: Path) -> list[tuple[int, int, int, int, bool]]:
    """(source port, destination port, SSRC, payload type, set up by SDP) of every packet
    tshark decodes as RTP, without its RTP heuristics."""
    tshark = require_peer("tshark", "tshark")
    result = subprocess.run(
        [tshark, "-r", str(pcap), "-n", "-Y", "rtp", "-T", "fields", "-E", "separator=,",
         "-e", "udp.srcport", "-e", "udp.dstport", "-e", "rtp.ssrc", "-e", "rtp.p_type",
         "-e", "rtp.setup-frame"],
        capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    rows = []
    for line in result.stdout.splitlines():
        sport, dport, ssrc, payload_type, setup = line.split(",")
        rows.append((int(sport), int(dport), int(ssrc, 16), int(payload_type), bool(setup)))
    return rows


def tshark_rtcp_types(pcap: Path) -> list[str]:
    tshark = require_peer("tshark", "tshark")
    result = subprocess.run(
        [tshark, "-r", str(pcap), "-n", "-Y", "rtcp", "-T", "fields", "-e", "rtcp.pt"],
        capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


class TestTracedMediaCall:
    """alice and bob talk PCMU for a second through a LabServer, traced with rtp=True."""

    def test_trace_keeps_each_rtp_packet_once(self, call: MediaCall) -> None:
        rtp = [p for p in call.trace.media if p.kind == "rtp"]
        by_ssrc = {ssrc: [p for p in rtp if parse_rtp(p.data).ssrc == ssrc]
                   for ssrc in call.ssrcs.values()}
        for name, ssrc in call.ssrcs.items():
            assert len(by_ssrc[ssrc]) == call.sent[name]  # sent by one, heard by the other
        assert len(rtp) == sum(call.sent.values())

    def test_tshark_decodes_the_rtp_from_the_sdp(self, call: MediaCall) -> None:
        decoded = tshark_rtp(call.pcap)
        assert len(decoded) == sum(call.sent.values())
        assert all(setup for *_, setup in decoded)  # conversations set up by SIP/SDP
        alice_rtp, bob_rtp = call.ports["alice"][0], call.ports["bob"][0]
        assert {(s, d, ssrc, pt) for s, d, ssrc, pt, _ in decoded} == {
            (alice_rtp, bob_rtp, call.ssrcs["alice"], 0),
            (bob_rtp, alice_rtp, call.ssrcs["bob"], 0),
        }

    def test_tshark_decodes_the_rtcp_reports_and_byes(self, call: MediaCall) -> None:
        types = tshark_rtcp_types(call.pcap)
        assert types
        assert all(t.split(",")[0] in ("200", "201") for t in types)  # SR or RR first
        assert sum("203" in t.split(",") for t in types) == 2  # one BYE from each end

    def test_rtp_streams_agree_with_tshark(self, call: MediaCall) -> None:
        theirs = {row.key: row for row in tshark_streams(call.pcap)}
        ours = rtp_streams(call.pcap)
        assert len(ours) == len(theirs) == 2
        for stream in ours:
            row: TsharkStream = theirs[(stream.src.host, stream.src.port, stream.dst.host,
                                        stream.dst.port, stream.ssrc)]
            assert (stream.payload_type, stream.encoding) == (0, "PCMU")
            assert row.payload.startswith("g711U")
            assert (stream.packets, stream.lost) == (row.packets, row.lost)
            for column in STREAM_COLUMNS:
                assert getattr(stream, f"{column}_ms") == pytest.approx(
                    row.values[column], abs=0.01), column

    def test_rtp_streams_of_the_trace_match_those_of_its_pcap(self, call: MediaCall) -> None:
        from_pcap = rtp_streams(call.pcap)
        from_trace = rtp_streams(call.trace)
        assert [(s.ssrc, s.src, s.dst, s.packets, s.lost) for s in from_trace] == [
            (s.ssrc, s.src, s.dst, s.packets, s.lost) for s in from_pcap]
        for mine, theirs in zip(from_trace, from_pcap, strict=True):
            assert mine.max_jitter_ms == pytest.approx(theirs.max_jitter_ms, abs=0.01)
