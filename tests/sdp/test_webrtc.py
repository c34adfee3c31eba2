"""SDP on the WebRTC path: telephone-events added to an engine's SDP, and re-answers.

RFC 4733 §7.1.1 (telephone-event in SDP), RFC 3264 §8 and §8.4 (re-offers,
hold), RFC 8842 §5 (``a=setup``: the DTLS role stays across a re-answer),
RFC 9143 (BUNDLE: one payload type space for every m-line).
"""

from __future__ import annotations

import pytest

from siplab.sdp import Codec, Direction, NegotiationError, parse
from siplab.sdp.webrtc import (
    REOFFER_STREAMS_CHANGED,
    add_telephone_events,
    answer_setup,
    free_payload_type,
    reanswer,
    rtp_streams,
)
from tests.sdp.samples import CHROME_OFFER

EVENT_8K = Codec(126, "telephone-event", 8000, 1, "0-16")
EVENT_48K = Codec(110, "telephone-event", 48000, 1, "0-16")


def answer_like_aiortc(direction: str = "sendrecv") -> str:
    """An answer an engine wrote: ICE, DTLS (setup:active), opus only, no telephone-event."""
    return (
        "v=0\r\no=- 3900000000 3900000000 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
        "a=group:BUNDLE 0 2\r\n"
        "m=audio 40000 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 127.0.0.1\r\n"
        f"a={direction}\r\na=mid:0\r\na=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\n"
        "a=ice-ufrag:abcd\r\na=ice-pwd:0123456789012345678901\r\n"
        "a=fingerprint:sha-256 AA:BB\r\na=setup:active\r\n"
        "m=video 0 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 127.0.0.1\r\na=mid:1\r\n"
        "m=application 40000 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 127.0.0.1\r\n"
        "a=mid:2\r\na=sctp-port:5000\r\na=setup:active\r\n"
    )


class TestTelephoneEvents:
    def test_events_are_added_after_the_codec_lines_of_the_audio_m_line(self) -> None:
        sd = add_telephone_events(parse(answer_like_aiortc()), [EVENT_48K])
        audio = sd.media[0]
        assert audio.formats == ["111", "110"]
        names = [a.name for a in audio.attributes]
        assert names.index("fmtp") == names.index("rtpmap") + 2  # 111's rtpmap, 110's, its fmtp
        assert [c.encoding for c in audio.codecs] == ["opus/48000/2", "telephone-event/48000"]
        assert parse(str(sd)) == sd  # still a description a parser reads back

    def test_a_rate_already_present_is_not_added_twice(self) -> None:
        once = add_telephone_events(parse(answer_like_aiortc()), [EVENT_8K])
        twice = add_telephone_events(once, [EVENT_8K])
        assert str(twice) == str(once)

    def test_a_payload_type_taken_elsewhere_in_the_bundle_gets_a_free_one(self) -> None:
        sd = parse(answer_like_aiortc())
        assert free_payload_type(sd, 96) == 97  # the (rejected) video line has 96
        taken = add_telephone_events(sd, [Codec(96, "telephone-event", 8000, 1, "0-16")])
        assert taken.media[0].formats == ["111", "97"]


class TestReanswer:
    def test_hold_is_answered_recvonly_with_the_same_ice_and_dtls_and_a_new_version(
            self) -> None:
        ours = parse(answer_like_aiortc())
        reoffer = parse(answer_like_aiortc("sendonly").replace("a=setup:active",
                                                                "a=setup:actpass"))
        new = reanswer(ours, reoffer, [Direction.RECVONLY, None, None])
        assert new.media[0].direction_attribute is Direction.RECVONLY
        assert new.media[0].ice_ufrag == "abcd"
        assert new.media[0].setup == "active"  # actpass offered: our DTLS role stays
        assert new.origin.session_version == ours.origin.session_version + 1
        assert new.media[2].direction_attribute is None  # the data channel has none

    def test_an_unchanged_reanswer_keeps_the_version(self) -> None:
        ours = parse(answer_like_aiortc())
        same = parse(answer_like_aiortc().replace("a=setup:active", "a=setup:actpass"))
        new = reanswer(ours, same, [Direction.SENDRECV, None, None])
        assert new.origin.session_version == ours.origin.session_version

    def test_a_reoffer_that_adds_a_stream_is_refused_with_488(self) -> None:
        bigger = parse(answer_like_aiortc())
        bigger.media.append(bigger.media[0].copy())  # a second audio stream, say
        with pytest.raises(NegotiationError) as raised:
            reanswer(parse(answer_like_aiortc()), bigger, [None, None, None, None])
        assert str(raised.value) == REOFFER_STREAMS_CHANGED
        assert raised.value.status == 488

    @pytest.mark.parametrize(("offered", "ours", "theirs", "expected"), [
        ("active", "actpass", "passive", "passive"),
        ("passive", "actpass", "active", "active"),
        ("actpass", "active", None, "active"),
        ("actpass", "actpass", "active", "passive"),  # we offered first; they took active
        ("actpass", "actpass", "passive", "active"),
    ])
    def test_the_dtls_role_of_the_first_exchange_is_kept(
            self, offered: str, ours: str, theirs: str | None, expected: str) -> None:
        assert answer_setup(offered, ours, theirs) == expected

    def test_only_live_audio_and_video_lines_carry_a_direction(self) -> None:
        assert rtp_streams(parse(answer_like_aiortc())) == [0]
        assert rtp_streams(parse(CHROME_OFFER)) == [0, 1]
