"""RTCP receiver reports on the WebRTC path: siplab reports on the audio it plays itself.

siplab takes each decrypted audio packet before aiortc sees it (it plays them
with its own jitter buffer and decoders), so aiortc's receiver has nothing to
report. :mod:`siplab.aio.webrtc_rtcp` sends the RFC 3550 §6.4.2 receiver
reports instead, SRTCP-protected, as the audio source's SSRC. What a student
(or a browser's ``getStats()``) checks is what is asserted: on each side,
aiortc's sender shows a ``remote-inbound-rtp`` entry for its audio, with the
peer's loss and jitter figures and a round-trip time computed from the LSR and
DLSR our report echoed (§6.4.1).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from siplab.aio.webrtc import WebRtcEndpoint
from siplab.aio.webrtc_rtcp import cname_in_sdp
from siplab.rtp import ReceiverReport, cname_of
from tests.aio.phones import run
from tests.aio.test_webrtc import WAIT, endpoint, phones, webrtc_call

#: Mean seconds between reports in this test (RFC 3550 §6.2's 5 s would make it slow):
#: the first report comes 0.25 to 0.75 s after the first audio packet.
INTERVAL = 1.0


async def remote_inbound_audio(end: WebRtcEndpoint) -> dict[str, Any] | None:
    """aiortc's ``remote-inbound-rtp`` entry for the audio it sends: the peer's report."""
    stats = await end.peer_stats()
    return next((s for s in stats.values()
                 if s["type"] == "remote-inbound-rtp" and s["kind"] == "audio"), None)


class TestReceiverReports:
    """Each side reports on the audio it receives: the other side's sender sees it."""

    def test_each_sender_sees_loss_jitter_and_round_trip_time_of_its_audio(
            self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(WebRtcEndpoint, "rtcp_interval", INTERVAL)

        async def scenario() -> None:
            async with phones() as (_, alice, bob):
                outgoing, incoming = await webrtc_call(alice, bob)
                ends = [endpoint(outgoing), endpoint(incoming)]
                reports: list[dict[str, Any]] = []
                async with asyncio.timeout(WAIT):
                    for end in ends:
                        while True:  # until a report echoed the sender's last SR
                            report = await remote_inbound_audio(end)
                            if report is not None and report["roundTripTime"] is not None:
                                break
                            await asyncio.sleep(0.1)
                        reports.append(report)
                for end, report in zip(ends, reports, strict=True):
                    assert report["packetsLost"] == 0, report  # loopback loses nothing
                    assert report["fractionLost"] == 0, report
                    assert end.params is not None
                    frame = end.params.clock_rate * 0.02  # 20 ms, in RTP timestamp units
                    assert 0 <= report["jitter"] < frame, report  # loopback: well under
                    assert 0 <= report["roundTripTime"] < 0.5, report
                    stats = end.stats()
                    assert end.reports is not None
                    assert stats.rtcp_sent >= 1, stats
                    assert stats.rtcp_received >= 1, stats
                    # The peer's reports about our audio, read by siplab too (up to one
                    # packet high: aiortc stamps its SR with its last RTP packet's time).
                    assert stats.rtt_ms is not None, stats
                    assert 0 <= stats.rtt_ms < 500, stats
                    # What went out: RR + SDES as our audio source, aiortc's CNAME for it.
                    sent = [p for _, way, ps in end.reports.reporter.log if way == "out"
                            for p in ps]
                    first = sent[0]
                    assert isinstance(first, ReceiverReport), sent
                    assert first.ssrc == end.local_ssrc, sent
                    assert [b.ssrc for b in first.reports] == [end.remote_ssrc], sent
                    sdp = end.pc.localDescription.sdp
                    cname = cname_in_sdp(sdp, end.local_ssrc)
                    assert cname is not None, sdp
                    assert cname_of(sent, end.local_ssrc) == cname, sent
                await outgoing.bye(timeout=WAIT)
                await incoming.terminated(timeout=WAIT)
                for end in ends:  # no report after the call (RFC 3550 §6.6)
                    assert end.reports is not None
                    assert end.reports.stopped

        run(scenario(), timeout=20)
