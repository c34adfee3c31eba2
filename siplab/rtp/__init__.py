"""Sans-I/O RTP and RTCP: the packets that carry a call's audio, and their bookkeeping.

SIP sets a call up; RTP (RFC 3550) carries the media, one UDP packet per
20 ms of audio, and RTCP reports how that is going. Modules, one concept each:

==================  ===========================================================
``packet``          the RTP packet (§5.1): parse, serialize, RTP/RTCP demux
``rtcp``            SR, RR, SDES, BYE, APP; compound packets; NTP time, RTT (§6)
``sequence``        16-bit sequence numbers and 32-bit timestamps that wrap
``stream``          receiver statistics (A.1, A.3, A.8) and the sender side
``wireshark``       the same statistics the way ``tshark -z rtp,streams`` counts
``jitter_buffer``   playing unevenly arriving packets on the sender's schedule
``dtmf``            key presses as telephone-events (RFC 4733)
``g711``            PCMU/PCMA codecs and audio measurements (numpy; import it
                    as ``siplab.rtp.g711``, it is not loaded by ``siplab.rtp``)
==================  ===========================================================

Nothing here opens a socket or reads a clock: arrival and send times are
``now`` arguments in seconds. ``siplab.aio.rtp`` drives these objects on a
real socket. This package imports neither ``siplab.sip`` nor ``siplab.sdp``.
"""

from __future__ import annotations

from siplab.rtp.dtmf import (
    DTMF_DIGITS,
    DtmfDigit,
    DtmfReceiver,
    DtmfSender,
    TelephoneEvent,
    digit_to_event,
    event_to_digit,
)
from siplab.rtp.jitter_buffer import JitterBuffer
from siplab.rtp.packet import (
    RTP_HEADER_SIZE,
    RtpExtension,
    RtpPacket,
    RtpParseError,
    is_rtp,
    looks_like_rtcp,
    parse_rtp,
)
from siplab.rtp.rtcp import (
    App,
    Bye,
    ReceiverReport,
    ReportBlock,
    RtcpPacket,
    RtcpParseError,
    RtcpType,
    RtcpUnknown,
    SdesChunk,
    SdesItemType,
    SenderReport,
    SourceDescription,
    cname_of,
    ntp_from_unix,
    ntp_short,
    ntp_short_from_unix,
    ntp_to_unix,
    parse_rtcp,
    round_trip_time,
    serialize_rtcp,
)
from siplab.rtp.sequence import extend_seq, extend_timestamp, seq_delta, timestamp_delta
from siplab.rtp.stream import RandomSource, ReceiverSnapshot, ReceiverStats, RtpSender
from siplab.rtp.wireshark import WiresharkSnapshot, WiresharkStats, wireshark_clock_rate

__all__ = [
    # packet
    "RtpPacket",
    "RtpExtension",
    "RtpParseError",
    "parse_rtp",
    "is_rtp",
    "looks_like_rtcp",
    "RTP_HEADER_SIZE",
    # rtcp
    "RtcpType",
    "SdesItemType",
    "ReportBlock",
    "SenderReport",
    "ReceiverReport",
    "SdesChunk",
    "SourceDescription",
    "Bye",
    "App",
    "RtcpUnknown",
    "RtcpPacket",
    "RtcpParseError",
    "parse_rtcp",
    "serialize_rtcp",
    "cname_of",
    "ntp_from_unix",
    "ntp_to_unix",
    "ntp_short",
    "ntp_short_from_unix",
    "round_trip_time",
    # sequence
    "seq_delta",
    "timestamp_delta",
    "extend_seq",
    "extend_timestamp",
    # stream
    "ReceiverStats",
    "ReceiverSnapshot",
    "RandomSource",
    "RtpSender",
    # wireshark
    "WiresharkStats",
    "WiresharkSnapshot",
    "wireshark_clock_rate",
    # jitter buffer
    "JitterBuffer",
    # dtmf
    "DTMF_DIGITS",
    "digit_to_event",
    "event_to_digit",
    "TelephoneEvent",
    "DtmfDigit",
    "DtmfSender",
    "DtmfReceiver",
]
