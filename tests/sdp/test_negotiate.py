"""The answerer's side of offer/answer (RFC 3264 §5, §6, §8; RFC 4317; RFC 4733 §2.1).

First the RFC 4317 examples, worked through with siplab as Bob (or Alice when
she answers): each test builds Bob's capabilities from what the section says
he supports and checks the answer's m-lines, payload numbers and directions
against the RFC's. RFC 4317 writes ``s=`` with a single space; the fixtures
here write ``s=-`` so the source has no trailing spaces. The answers also
carry ``a=ptime`` and an explicit direction, which the RFC leaves out; the
checks are on what the RFC's examples are about.

Then the rules one by one: the answerer's preference order, the offerer's
payload numbers, telephone-event by rate, mirrored directions, rejected
m-lines, 488 with a reason, and the explanation table.
"""

from __future__ import annotations

import pytest

from siplab.errors import RemoteProtocolError
from siplab.sdp import (
    Capabilities,
    Codec,
    Direction,
    NegotiationError,
    Outcome,
    SdpParseError,
    SessionDescription,
    answer,
    negotiate,
    parse,
    process_answer,
    update_offer,
)
from tests.sdp.samples import BARESIP_OFFER, CHROME_OFFER, LINPHONE_OFFER, SIPP_OFFER, sdp

ALICE = "host.atlanta.example.com"
BOB = "host.biloxi.example.com"


def alice(media: str = "", *, version: int = 2890844526, address: str = ALICE) -> str:
    """Alice's SDP as RFC 4317 writes it: her session lines, then ``media`` (dedented)."""
    head = f"v=0\no=alice 2890844526 {version} IN IP4 {ALICE}\ns=-\nc=IN IP4 {address}\nt=0 0\n"
    return sdp(head) + (sdp(media) if media.strip() else "")

#: RFC 4317 §2.1 and §2.2's offer: three audio codecs (iLBC on dynamic 97), two video.
AUDIO_VIDEO_OFFER = alice("""
    m=audio 49170 RTP/AVP 0 8 97
    a=rtpmap:0 PCMU/8000
    a=rtpmap:8 PCMA/8000
    a=rtpmap:97 iLBC/8000
    m=video 51372 RTP/AVP 31 32
    a=rtpmap:31 H261/90000
    a=rtpmap:32 MPV/90000
""")


def m_lines(sd: SessionDescription) -> list[str]:
    return [media.lines()[0] for media in sd.media]


def directions(sd: SessionDescription) -> list[str]:
    return [sd.direction_of(media).value for media in sd.media if media.port != 0]


def as_bob(
    offer: str | SessionDescription, caps: Capabilities, **options: object
) -> SessionDescription:
    """Bob's answer, with Bob's o= line from RFC 4317."""
    return answer(
        offer, caps, address=BOB, username="bob", session_id=2808844564,
        session_version=2808844564, **options,  # type: ignore[arg-type]
    )


class TestRfc4317CodecNegotiation:
    """RFC 4317 §2: codec negotiation and selection."""

    def test_section_2_1_answerer_keeps_one_codec_per_stream(self) -> None:
        """§2.1: Bob supports only PCMU and MPV; Alice and Bob may send only those."""
        caps = Capabilities(audio=("PCMU",), video=("MPV/90000",), telephone_event=False)
        bob = as_bob(AUDIO_VIDEO_OFFER, caps, port=[49174, 49170])
        assert str(bob.origin) == f"bob 2808844564 2808844564 IN IP4 {BOB}"
        assert m_lines(bob) == ["m=audio 49174 RTP/AVP 0", "m=video 49170 RTP/AVP 32"]
        assert bob.media[0].attribute_values("rtpmap") == ["0 PCMU/8000"]
        assert bob.media[1].attribute_values("rtpmap") == ["32 MPV/90000"]
        assert directions(bob) == ["sendrecv", "sendrecv"]

    def test_section_2_2_video_rejected_then_audio_narrowed(self) -> None:
        """§2.2: Bob takes PCMU and PCMA, declines video; Alice then narrows to PCMU."""
        caps = Capabilities(audio=("PCMU", "PCMA"))
        first = as_bob(AUDIO_VIDEO_OFFER, caps, port=49172)
        assert m_lines(first) == ["m=audio 49172 RTP/AVP 0 8", "m=video 0 RTP/AVP 31 32"]

        second_offer = alice(version=2890844527, media="""
            m=audio 51372 RTP/AVP 0
            a=rtpmap:0 PCMU/8000
            m=video 0 RTP/AVP 31
            a=rtpmap:31 H261/90000
        """)
        second = answer(second_offer, caps, address=BOB, port=49172, previous=first)
        assert m_lines(second) == ["m=audio 49172 RTP/AVP 0", "m=video 0 RTP/AVP 31"]
        # "the version number is incremented in both SDP messages in the second exchange"
        assert second.origin == first.origin.next_version()
        # An unchanged answer keeps its version (§2.5's second answer, RFC 3264 §8).
        again = answer(second_offer, caps, address=BOB, port=49172, previous=second)
        assert again.origin == second.origin

    def test_section_2_2_with_a_single_codec_answerer(self) -> None:
        """Capabilities.single_codec: the answer keeps only the best match."""
        caps = Capabilities(audio=("PCMU", "PCMA"), single_codec=True)
        negotiation = negotiate(AUDIO_VIDEO_OFFER, caps, address=BOB, port=49172)
        assert m_lines(negotiation.answer)[0] == "m=audio 49172 RTP/AVP 0"
        pcma = negotiation.streams[0].formats[1]
        assert (pcma.outcome, pcma.reason) == (
            Outcome.DROPPED,
            "only one audio codec kept: the answerer's first choice (Capabilities.single_codec)",
        )

    def test_section_2_4_a_telephone_event_stream_is_answered_recvonly(self) -> None:
        """§2.4: two audio streams; Bob takes iLBC and receives the sendonly DTMF stream."""
        offer = alice("""
            m=audio 49170 RTP/AVP 0 97
            a=rtpmap:0 PCMU/8000
            a=rtpmap:97 iLBC/8000
            m=audio 49172 RTP/AVP 98
            a=rtpmap:98 telephone-event/8000
            a=sendonly
        """)
        bob = as_bob(offer, Capabilities(audio=("iLBC/8000",)), port=[49172, 49174])
        assert m_lines(bob) == ["m=audio 49172 RTP/AVP 97", "m=audio 49174 RTP/AVP 98"]
        assert directions(bob) == ["sendrecv", "recvonly"]

    def test_section_2_6_first_stream_declined_second_accepted(self) -> None:
        """§2.6: PCMU alone, or iLBC with RFC 2833 tones: Bob declines the first."""
        offer = alice("""
            m=audio 49170 RTP/AVP 0
            a=rtpmap:0 PCMU/8000
            m=audio 51372 RTP/AVP 97 101
            a=rtpmap:97 iLBC/8000
            a=rtpmap:101 telephone-event/8000
        """)
        bob = as_bob(offer, Capabilities(audio=("iLBC/8000",)), port=[49168, 49170])
        assert m_lines(bob) == ["m=audio 0 RTP/AVP 0", "m=audio 49170 RTP/AVP 97 101"]
        assert bob.media[1].attribute_values("rtpmap") == [
            "97 iLBC/8000", "101 telephone-event/8000",
        ]


class TestRfc4317HoldAndResume:
    """RFC 4317 §3 and §4.3: hold, resume and deletion in later exchanges (RFC 3264 §8)."""

    OFFER = alice("""
        m=audio 49170 RTP/AVP 0 97
        a=rtpmap:0 PCMU/8000
        a=rtpmap:97 iLBC/8000
    """)
    ALICE_CAPS = Capabilities(audio=("PCMU", "iLBC/8000"), telephone_event=False)
    BOB_CAPS = Capabilities(audio=("iLBC/8000",), telephone_event=False)

    def test_section_3_1_bob_answers_on_hold_then_resumes(self) -> None:
        bob_answer = as_bob(self.OFFER, self.BOB_CAPS, port=49172, direction="sendonly")
        assert m_lines(bob_answer) == ["m=audio 49172 RTP/AVP 97"]
        assert directions(bob_answer) == ["sendonly"]
        alice_view = process_answer(self.OFFER, bob_answer).audio
        assert alice_view is not None
        assert alice_view.direction is Direction.RECVONLY
        assert not alice_view.sends

        bob_offer = update_offer(bob_answer, hold=False)
        assert str(bob_offer.origin) == f"bob 2808844564 2808844565 IN IP4 {BOB}"
        assert directions(bob_offer) == ["sendrecv"]
        alice_answer = answer(
            bob_offer, self.ALICE_CAPS, address=ALICE, port=49178, previous=parse(self.OFFER)
        )
        assert str(alice_answer.origin) == f"alice 2890844526 2890844527 IN IP4 {ALICE}"
        assert m_lines(alice_answer) == ["m=audio 49178 RTP/AVP 97"]
        assert directions(alice_answer) == ["sendrecv"]

    def test_section_3_2_hold_one_of_two_streams(self) -> None:
        """§3.2: Bob holds the audio but not the tone stream.

        RFC 4317 shows Alice answering "identical SDP to the initial offer",
        without a=recvonly on the held stream; RFC 3264 §6.1 requires an
        answer to sendonly to be recvonly or inactive, and siplab follows it.
        """
        offer = alice("""
            m=audio 49170 RTP/AVP 0 97
            a=rtpmap:0 PCMU/8000
            a=rtpmap:97 iLBC/8000
            m=audio 49172 RTP/AVP 98
            a=rtpmap:98 telephone-event/8000
            a=sendonly
        """)
        bob_answer = as_bob(offer, Capabilities(audio=("iLBC/8000",)), port=[49172, 49174])
        bob_offer = update_offer(bob_answer, hold=True, streams=[0])
        assert m_lines(bob_offer) == ["m=audio 49172 RTP/AVP 97", "m=audio 49174 RTP/AVP 98"]
        assert directions(bob_offer) == ["sendonly", "recvonly"]
        assert bob_offer.origin.session_version == 2808844565

        alice_caps = Capabilities(audio=("PCMU", "iLBC/8000"))
        alice_answer = answer(
            bob_offer, alice_caps, address=ALICE, port=[49170, 49172], previous=parse(offer)
        )
        assert m_lines(alice_answer) == [
            "m=audio 49170 RTP/AVP 97", "m=audio 49172 RTP/AVP 98",
        ]
        assert directions(alice_answer) == ["recvonly", "sendonly"]
        assert alice_answer.origin.session_version == 2890844527

    def test_section_4_3_video_deleted_in_a_later_offer(self) -> None:
        offer = alice("""
            m=audio 49170 RTP/AVP 97
            a=rtpmap:97 iLBC/8000
            m=video 51372 RTP/AVP 31
            a=rtpmap:31 H261/90000
        """)
        caps = Capabilities(audio=("iLBC/8000",), video=("H261/90000",))
        bob_answer = as_bob(offer, caps, port=[49174, 49170])
        assert m_lines(bob_answer) == ["m=audio 49174 RTP/AVP 97", "m=video 49170 RTP/AVP 31"]
        bob_offer = update_offer(bob_answer, disable=[1])
        assert m_lines(bob_offer) == ["m=audio 49174 RTP/AVP 97", "m=video 0 RTP/AVP 31"]
        alice_answer = answer(
            bob_offer, caps, address=ALICE, port=[49170, 51372], previous=parse(offer)
        )
        assert m_lines(alice_answer) == ["m=audio 49170 RTP/AVP 97", "m=video 0 RTP/AVP 31"]

    def test_section_5_1_an_offer_without_media_gets_an_answer_without_media(self) -> None:
        bob = as_bob(alice(""), Capabilities())
        assert bob.media == []
        assert bob.times == parse(alice("")).times

    def test_section_5_2_black_holed_offer_is_accepted_but_not_sent_to(self) -> None:
        """§5.2: c=0.0.0.0 in the offer: Bob accepts, and cannot send media to Alice."""
        offer = alice(address="0.0.0.0", media="""
            m=audio 23442 RTP/AVP 97
            a=rtpmap:97 iLBC/8000
        """)
        bob = negotiate(offer, self.BOB_CAPS, address=BOB, port=49170)
        assert m_lines(bob.answer) == ["m=audio 49170 RTP/AVP 97"]
        params = bob.audio
        assert params is not None
        assert params.remote_address == "0.0.0.0"
        assert (params.sends, params.receives) == (False, True)


def plain_offer(formats: str, *rtpmaps: str, extra: str = "") -> str:
    """A plain RTP/AVP offer from 192.0.2.7:4000 with the given formats and rtpmaps."""
    lines = ["v=0", "o=- 1 1 IN IP4 192.0.2.7", "s=-", "c=IN IP4 192.0.2.7", "t=0 0"]
    lines += [f"m=audio 4000 RTP/AVP {formats}", *(f"a=rtpmap:{r}" for r in rtpmaps)]
    lines += [extra] if extra else []
    return "\r\n".join(lines) + "\r\n"


def answered_formats(offer: str, caps: Capabilities) -> list[str]:
    return answer(offer, caps).media[0].formats


class TestCodecChoice:
    """RFC 3264 §6.1: the answerer's order, the offerer's numbers, DTMF by rate."""

    def test_matches_are_listed_in_the_answerers_preference_order(self) -> None:
        # baresip offers 96 opus, 9 G722, 0 PCMU, 8 PCMA, 101 telephone-event.
        assert answered_formats(BARESIP_OFFER, Capabilities()) == ["96", "9", "0", "8", "101"]
        assert answered_formats(BARESIP_OFFER, Capabilities(audio=("PCMA", "PCMU"))) == [
            "8", "0", "101",
        ]
        assert answered_formats(BARESIP_OFFER, Capabilities(audio=("PCMU", "G722"))) == [
            "0", "9", "101",
        ]

    def test_dynamic_payload_numbers_are_kept_from_the_offer(self) -> None:
        media = answer(BARESIP_OFFER, Capabilities(audio=("opus",))).media[0]
        assert media.formats == ["96", "101"]
        assert media.attribute_values("rtpmap") == ["96 opus/48000/2", "101 telephone-event/8000"]
        assert media.attribute_values("fmtp")[0] == "96 minptime=10;useinbandfec=1"

    def test_telephone_event_is_matched_by_clock_rate(self) -> None:
        offer = plain_offer(
            "111 0 110 126", "111 opus/48000/2", "0 PCMU/8000",
            "110 telephone-event/48000", "126 telephone-event/8000",
        )
        assert answered_formats(offer, Capabilities(audio=("opus",))) == ["111", "110"]
        assert answered_formats(offer, Capabilities(audio=("PCMU",))) == ["0", "126"]
        both = negotiate(offer, Capabilities(audio=("opus", "PCMU")))
        assert both.answer.media[0].formats == ["111", "0", "110", "126"]
        assert both.audio is not None
        assert (both.audio.telephone_event_pt, both.audio.telephone_event_rate) == (110, 48000)
        dropped = negotiate(offer, Capabilities(audio=("PCMU",))).streams[0].formats[2]
        assert (dropped.payload_type, dropped.outcome) == (110, Outcome.DROPPED)
        assert dropped.reason.startswith("clock rate differs")

    def test_telephone_event_at_8000_goes_with_any_codec_when_nothing_else_fits(self) -> None:
        negotiation = negotiate(BARESIP_OFFER, Capabilities(audio=("opus",)))
        assert negotiation.audio is not None
        assert negotiation.audio.telephone_event_pt == 101
        assert negotiation.streams[0].formats[-1].reason == (
            "DTMF; no telephone-event at 48000 Hz was offered"
        )

    def test_telephone_event_can_be_turned_off(self) -> None:
        caps = Capabilities(audio=("PCMU",), telephone_event=False)
        assert answered_formats(BARESIP_OFFER, caps) == ["0"]

    def test_telephone_event_without_digits_is_dropped_for_its_fmtp(self) -> None:
        offer = plain_offer("0 101", "101 telephone-event/8000", extra="a=fmtp:101 32-41")
        negotiation = negotiate(offer, Capabilities(audio=("PCMU",)))
        assert negotiation.answer.media[0].formats == ["0"]
        assert negotiation.streams[0].formats[1].reason.startswith("fmtp mismatch")

    def test_a_codec_offered_twice_is_kept_once(self) -> None:
        offer = plain_offer("111 109", "111 opus/48000/2", "109 OPUS/48000/2")
        negotiation = negotiate(offer, Capabilities(audio=("opus",)))
        assert negotiation.answer.media[0].formats == ["111"]
        assert negotiation.streams[0].formats[1].reason == "same codec already kept as pt 111"

    def test_a_dynamic_number_without_rtpmap_names_nothing(self) -> None:
        negotiation = negotiate(plain_offer("0 97", "0 PCMU/8000"), Capabilities())
        assert negotiation.streams[0].formats[1].reason == (
            "dynamic payload type without a=rtpmap (RFC 8866 §6.6)"
        )

    def test_dtmf_alone_does_not_make_a_call(self) -> None:
        offer = plain_offer("3 101", "101 telephone-event/8000")
        with pytest.raises(NegotiationError) as caught:
            negotiate(offer, Capabilities())
        negotiation = caught.value.negotiation
        assert negotiation is not None
        assert [f.reason for f in negotiation.streams[0].formats] == [
            "not supported", "no audio codec to go with it",
        ]


@pytest.mark.parametrize(
    ("offered", "ours", "answered"),
    [
        ("sendrecv", "sendrecv", "sendrecv"),
        ("sendonly", "sendrecv", "recvonly"),
        ("recvonly", "sendrecv", "sendonly"),
        ("inactive", "sendrecv", "inactive"),
        ("sendrecv", "sendonly", "sendonly"),  # we hold the call while answering
        ("recvonly", "sendonly", "sendonly"),
        ("sendonly", "sendonly", "inactive"),  # both on hold
        ("sendrecv", "inactive", "inactive"),
    ],
)
def test_directions_are_mirrored(offered: str, ours: str, answered: str) -> None:
    """RFC 3264 §6.1: sendonly -> recvonly, recvonly -> sendonly, inactive -> inactive."""
    offer = SIPP_OFFER + f"a={offered}\r\n"
    negotiation = negotiate(offer, Capabilities(), direction=ours)
    assert directions(negotiation.answer) == [answered]
    assert negotiation.audio is not None
    assert negotiation.audio.direction.value == answered


def test_a_session_level_direction_is_mirrored_too() -> None:
    offer = SIPP_OFFER.replace("t=0 0\r\n", "t=0 0\r\na=sendonly\r\n")
    assert directions(answer(offer, Capabilities())) == ["recvonly"]


class TestRejectedStreams:
    """RFC 3264 §6: one answer m-line per offered one, in order; port 0 rejects."""

    OFFER = sdp("""
        v=0
        o=- 5 5 IN IP4 192.0.2.7
        s=-
        c=IN IP4 192.0.2.7
        t=0 0
        m=audio 4000 RTP/AVP 0
        m=image 4002 udptl t38
        m=audio 4004 RTP/SAVP 0
        a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR
        m=video 4006 RTP/AVP 31
        m=message 4008 TCP/MSRP *
        m=audio 4010 RTP/AVPF 0
        m=audio 0 RTP/AVP 8
    """)

    def test_unsupported_m_lines_get_port_0_and_keep_their_formats(self) -> None:
        negotiation = negotiate(self.OFFER, Capabilities(), port=6000)
        assert m_lines(negotiation.answer) == [
            "m=audio 6000 RTP/AVP 0",
            "m=image 0 udptl t38",
            "m=audio 0 RTP/SAVP 0",
            "m=video 0 RTP/AVP 31",
            "m=message 0 TCP/MSRP *",
            "m=audio 0 RTP/AVPF 0",
            "m=audio 0 RTP/AVP 8",
        ]
        assert [s.reason for s in negotiation.streams[1:]] == [
            "media type 'image' not supported",
            "RTP/SAVP (SRTP keyed with a=crypto, RFC 4568) not supported",
            "video not accepted (Capabilities.video is empty)",
            "media type 'message' not supported",
            "RTP/AVPF (RTCP feedback, RFC 4585) not supported on the plain path",
            "the offer disabled this stream (port 0)",
        ]
        assert [s.accepted for s in negotiation.streams] == [True] + [False] * 6
        assert {f.outcome for s in negotiation.streams[1:] for f in s.formats} == {
            Outcome.REJECTED
        }

    def test_a_reoffer_keeps_the_rejected_m_line(self) -> None:
        first = answer(self.OFFER, Capabilities())
        again = update_offer(first, hold=True)
        assert [m.port for m in again.media][1:] == [0] * 6


class TestNotAcceptable:
    """RFC 3261 §13.3.1.3, RFC 3264 §6: nothing acceptable -> 488 Not Acceptable Here."""

    def test_no_common_codec_is_488_and_lists_what_was_offered(self) -> None:
        offer = plain_offer("3 18", "3 GSM/8000", "18 G729/8000")
        with pytest.raises(NegotiationError) as caught:
            answer(offer, Capabilities())
        error = caught.value
        assert isinstance(error, RemoteProtocolError)
        assert (error.status, error.reason) == (488, "Not Acceptable Here")
        assert error.warning_code == 305  # RFC 3261 §20.43 "Incompatible media format"
        assert "no common codec: offered GSM/8000, G729/8000" in str(error)
        assert "siplab accepts audio opus/48000/2, G722/8000, PCMU/8000, PCMA/8000" in str(error)
        assert error.negotiation is not None
        assert [row["result"] for row in error.negotiation.table()] == ["dropped", "dropped"]

    def test_only_unknown_media_types_is_488_with_warning_304(self) -> None:
        offer = sdp("""
            v=0
            o=- 5 5 IN IP4 192.0.2.7
            s=-
            c=IN IP4 192.0.2.7
            t=0 0
            m=image 4002 udptl t38
        """)
        with pytest.raises(NegotiationError) as caught:
            answer(offer, Capabilities())
        assert caught.value.warning_code == 304  # "Media type not available"

    def test_a_webrtc_offer_on_the_plain_path_is_488(self) -> None:
        with pytest.raises(NegotiationError, match="answered by the WebRTC path"):
            answer(CHROME_OFFER, Capabilities())

    def test_malformed_sdp_is_400_not_488(self) -> None:
        with pytest.raises(SdpParseError) as caught:
            answer("v=0\r\nm=audio x RTP/AVP 0\r\n", Capabilities())
        assert caught.value.status == 400


def test_webrtc_offer_answered_when_the_webrtc_path_asks() -> None:
    """With accept_webrtc, codecs are chosen here; the WebRTC adapter adds ICE and DTLS."""
    caps = Capabilities(video=("VP8",), accept_webrtc=True, data_channel=True)
    negotiation = negotiate(CHROME_OFFER, caps, port=9)
    sd = negotiation.answer
    assert [m.formats for m in sd.media] == [
        ["111", "9", "0", "8", "110", "126"], ["96"], ["webrtc-datachannel"],
    ]
    assert sd.attribute("group") == "BUNDLE 0 1 2"
    assert [m.mid for m in sd.media] == ["0", "1", "2"]
    assert sd.media[0].rtcp_mux
    assert sd.media[2].attribute("sctp-port") == "5000"
    assert negotiation.audio is not None
    assert negotiation.audio.is_webrtc
    assert negotiation.audio.rtcp_mux
    reasons = {row["codec"]: row["reason"] for row in negotiation.table()}
    assert reasons["red/48000/2"] == "not supported"
    assert reasons["CN/8000"] == "not supported"
    assert reasons["rtx/90000"] == "not supported"


def test_the_explanation_table_for_a_baresip_offer() -> None:
    negotiation = negotiate(BARESIP_OFFER, Capabilities(audio=("G722", "PCMU")))
    assert negotiation.table() == [
        {"m-line": 0, "media": "audio", "pt": 96, "codec": "opus/48000/2", "result": "dropped",
         "reason": "not supported here (not in Capabilities.audio)"},
        {"m-line": 0, "media": "audio", "pt": 9, "codec": "G722/8000", "result": "chosen",
         "reason": "the best match: siplab's preference #1"},
        {"m-line": 0, "media": "audio", "pt": 0, "codec": "PCMU/8000", "result": "kept",
         "reason": "also acceptable: siplab's preference #2"},
        {"m-line": 0, "media": "audio", "pt": 8, "codec": "PCMA/8000", "result": "dropped",
         "reason": "not supported here (not in Capabilities.audio)"},
        {"m-line": 0, "media": "audio", "pt": 101, "codec": "telephone-event/8000",
         "result": "kept", "reason": "DTMF at the 8000 Hz rate of a kept codec (RFC 4733 §2.1)"},
    ]
    assert negotiation.chosen == Codec(9, "G722", 8000)
    text = negotiation.explain().splitlines()
    assert text[0].split() == ["m-line", "media", "pt", "codec", "result", "reason"]
    assert text[2].split()[:5] == ["0", "audio", "9", "G722/8000", "chosen"]


class TestMediaParameters:
    """What the answerer hands its RTP layer (RFC 3550 §11, RFC 3605, RFC 5761, RFC 8866 §6.4)."""

    def test_for_a_baresip_offer(self) -> None:
        params = negotiate(BARESIP_OFFER, Capabilities(), port=40000).audio
        assert params is not None
        assert (params.remote_address, params.remote_port, params.remote_rtcp_port) == (
            "192.0.2.10", 10166, 10167,
        )
        assert (params.local_port, params.payload_type, params.codec_name) == (40000, 96, "opus")
        assert (params.clock_rate, params.channels, params.ptime) == (48000, 2, 20)
        assert params.timestamp_step == 960
        assert params.telephone_event_pt == 101
        assert params.direction is Direction.SENDRECV
        assert not params.is_webrtc
        assert [c.payload_type for c in params.codecs] == [96, 9, 0, 8, 101]
        assert params.codec_for(8) == Codec(8, "PCMA", 8000)

    def test_the_send_fmtp_is_the_peers_while_the_answer_writes_ours(self) -> None:
        negotiation = negotiate(BARESIP_OFFER, Capabilities(audio=("opus",)))
        assert negotiation.audio is not None
        assert negotiation.audio.fmtp == "stereo=1;sprop-stereo=1"  # what baresip wants
        assert negotiation.answer.media[0].codec(96) == Codec(
            96, "opus", 48000, 2, "minptime=10;useinbandfec=1"  # what we want
        )

    def test_g722_advances_the_timestamp_by_its_8000_clock(self) -> None:
        params = negotiate(BARESIP_OFFER, Capabilities(audio=("G722",))).audio
        assert params is not None
        assert (params.clock_rate, params.timestamp_step) == (8000, 160)

    def test_rtcp_port_from_a_rtcp_attribute(self) -> None:
        params = negotiate(LINPHONE_OFFER, Capabilities(audio=("PCMU",))).audio
        assert params is not None
        assert params.remote_rtcp_port == 7079

    @pytest.mark.parametrize(("accept", "rtcp_port"), [(True, 4000), (False, 4001)])
    def test_rtcp_mux_when_both_sides_agree(self, accept: bool, rtcp_port: int) -> None:
        offer = plain_offer("0", "0 PCMU/8000", extra="a=rtcp-mux")
        negotiation = negotiate(offer, Capabilities(rtcp_mux=accept))
        assert negotiation.answer.media[0].rtcp_mux is accept
        assert negotiation.audio is not None
        assert negotiation.audio.remote_rtcp_port == rtcp_port

    @pytest.mark.parametrize(
        ("extra", "ptime"), [("a=ptime:30", 30), ("a=maxptime:10", 10), ("", 20)]
    )
    def test_ptime_follows_what_the_peer_asked_for(self, extra: str, ptime: int) -> None:
        params = negotiate(plain_offer("0", extra=extra), Capabilities()).audio
        assert params is not None
        assert params.ptime == ptime
