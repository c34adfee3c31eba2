"""The numbers an RTP endpoint reports about its call, in one frozen snapshot.

Two views of the received stream sit side by side, because students compare
siplab with Wireshark and Wireshark does not count like RFC 3550
(:mod:`siplab.rtp.wireshark` explains the differences):

* RFC 3550 (Appendix A.1, A.3, A.8): ``lost``, ``reordered``, ``duplicates``
  and the interarrival jitter ``jitter_ms`` that RTCP reports carry;
* Wireshark's "RTP Streams" table: ``max_delta_ms`` (the longest gap between
  two packets), ``max_jitter_ms`` and ``mean_jitter_ms``, ``wireshark_lost``.

The playout side says what the listener got: ``frames_played``,
``concealed_frames`` (missing packets replaced by silence) and
``late_arrivals`` (packets that came after their turn and were dropped by the
jitter buffer). ``late_sent`` counts our packets that left more than one
packet time after their schedule, ``frames_skipped`` the frames never sent
because the event loop stalled for more than five packet times: signs that
the machine is overloaded.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from siplab.aio.rtp import RtpEndpoint

__all__ = ["RtpStats"]


@dataclass(frozen=True, slots=True)
class RtpStats:
    """A snapshot of one RTP endpoint's counters; times are loop times in seconds."""

    codec: str | None
    payload_type: int | None
    ssrc: int
    remote_ssrc: int | None
    remote_address: tuple[str, int] | None
    # sent
    packets_sent: int
    octets_sent: int
    late_sent: int
    frames_skipped: int
    # received, RFC 3550
    packets_received: int
    octets_received: int
    packets_ignored: int  # not RTP, or a payload type that was not negotiated
    expected: int
    lost: int
    reordered: int
    duplicates: int
    jitter_ms: float
    # received, as Wireshark counts
    max_delta_ms: float
    max_jitter_ms: float
    mean_jitter_ms: float
    wireshark_lost: int
    # played out
    frames_played: int
    concealed_frames: int
    late_arrivals: int
    first_packet_time: float | None
    first_audio_time: float | None
    # RTCP
    rtcp_sent: int
    rtcp_received: int
    rtt_ms: float | None

    @classmethod
    def collect(cls, endpoint: RtpEndpoint) -> RtpStats:
        """Read the counters of ``endpoint`` now."""
        receiver = endpoint.receiver
        wireshark = endpoint.wireshark
        params = endpoint.params
        return cls(
            codec=endpoint.codec,
            payload_type=params.payload_type if params is not None else None,
            ssrc=endpoint.sender.ssrc,
            remote_ssrc=endpoint.remote_ssrc,
            remote_address=endpoint.remote_address,
            packets_sent=endpoint.sender.packets_sent,
            octets_sent=endpoint.sender.octets_sent,
            late_sent=endpoint.late_sent,
            frames_skipped=endpoint.frames_skipped,
            packets_received=endpoint.packets_received,
            octets_received=endpoint.octets_received,
            packets_ignored=endpoint.packets_ignored,
            expected=receiver.expected,
            lost=receiver.lost,
            reordered=receiver.reordered,
            duplicates=receiver.duplicates,
            jitter_ms=receiver.jitter_ms,
            max_delta_ms=wireshark.max_delta,
            max_jitter_ms=wireshark.max_jitter,
            mean_jitter_ms=wireshark.mean_jitter,
            wireshark_lost=wireshark.lost,
            frames_played=endpoint.playout.frames_played,
            concealed_frames=endpoint.playout.concealed_frames,
            late_arrivals=endpoint.playout.late_arrivals,
            first_packet_time=endpoint.first_packet_time,
            first_audio_time=endpoint.first_audio_time,
            rtcp_sent=endpoint.rtcp.sent,
            rtcp_received=endpoint.rtcp.received,
            rtt_ms=endpoint.rtt * 1000 if endpoint.rtt is not None else None,
        )

    def as_dict(self) -> dict[str, object]:
        """The snapshot as a plain dict (``pandas.DataFrame([s.as_dict() for s in ...])``)."""
        return asdict(self)

    def summary(self) -> str:
        """One line for a console: codec, packets each way, loss, jitter."""
        rtt = f", rtt {self.rtt_ms:.1f} ms" if self.rtt_ms is not None else ""
        return (
            f"{self.codec or '-'}: sent {self.packets_sent}, received {self.packets_received}, "
            f"lost {self.lost}, jitter {self.jitter_ms:.2f} ms{rtt}"
        )
