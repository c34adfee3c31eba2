"""The offerer's side of offer/answer (RFC 3264 §5, §7, §8; RFC 4317 §2.3).

siplab's first offer is checked as text; then both halves are run against
each other (siplab calls siplab) and against answers shaped like Asterisk's
and RFC 4317's, and a re-INVITE's offer is checked for the §8 rules: same
session id, version + 1 when something changed, hold as sendonly/inactive.
"""

from __future__ import annotations

import pytest

from siplab.errors import LocalProtocolError
from siplab.ids import IdSource
from siplab.sdp import (
    Capabilities,
    Direction,
    NegotiationError,
    Outcome,
    SessionDescription,
    create_offer,
    negotiate,
    parse,
    process_answer,
    update_offer,
)
from tests.sdp.samples import ASTERISK_ANSWER, sdp


def test_siplab_offer_with_default_capabilities() -> None:
    offer = create_offer(address="192.0.2.1", audio_port=40000, session_id=1234)
    assert str(offer) == sdp("""
        v=0
        o=- 1234 1 IN IP4 192.0.2.1
        s=siplab
        c=IN IP4 192.0.2.1
        t=0 0
        m=audio 40000 RTP/AVP 111 9 0 8 110 101
        a=rtpmap:111 opus/48000/2
        a=fmtp:111 minptime=10;useinbandfec=1
        a=rtpmap:9 G722/8000
        a=rtpmap:0 PCMU/8000
        a=rtpmap:8 PCMA/8000
        a=rtpmap:110 telephone-event/48000
        a=fmtp:110 0-16
        a=rtpmap:101 telephone-event/8000
        a=fmtp:101 0-16
        a=ptime:20
        a=sendrecv
    """)


def test_offer_session_ids_come_from_the_injected_id_source() -> None:
    first = create_offer(ids=IdSource(7))
    assert first.origin.session_id == create_offer(ids=IdSource(7)).origin.session_id
    assert first.origin.session_id.isdigit()


def test_offer_with_video_rtcp_mux_and_ipv6() -> None:
    caps = Capabilities(audio=("PCMU",), telephone_event=False, video=("VP8",), rtcp_mux=True)
    offer = create_offer(caps, address="2001:db8::5", audio_port=5000, video_port=5002,
                         session_id=1)
    assert str(offer.connection) == "IN IP6 2001:db8::5"
    assert [m.lines()[0] for m in offer.media] == [
        "m=audio 5000 RTP/AVP 0", "m=video 5002 RTP/AVP 96",
    ]
    assert all(m.rtcp_mux for m in offer.media)


class TestSiplabCallsSiplab:
    """Both halves agree on one call: codec, payload numbers, ports, DTMF."""

    def test_both_sides_derive_matching_media_parameters(self) -> None:
        offer = create_offer(address="192.0.2.1", audio_port=40000, ids=IdSource(1))
        callee = negotiate(
            offer, Capabilities(audio=("PCMA", "PCMU")), address="192.0.2.2", port=50000
        )
        caller = process_answer(offer, callee.answer)
        mine, theirs = caller.audio, callee.audio
        assert mine is not None
        assert theirs is not None
        assert (mine.payload_type, theirs.payload_type) == (8, 8)
        assert (mine.remote_address, mine.remote_port) == ("192.0.2.2", 50000)
        assert (theirs.remote_address, theirs.remote_port) == ("192.0.2.1", 40000)
        assert (mine.local_port, theirs.local_port) == (40000, 50000)
        assert mine.telephone_event_pt == theirs.telephone_event_pt == 101
        assert mine.direction is theirs.direction is Direction.SENDRECV
        assert caller.chosen == callee.chosen
        assert [r["result"] for r in caller.table()] == [
            "dropped", "dropped", "kept", "chosen", "dropped", "kept",
        ]

    def test_hold_and_resume_by_reinvite(self) -> None:
        """RFC 3264 §8.4: hold is sendonly (we still send music), resume is sendrecv."""
        offer = create_offer(ids=IdSource(2))
        held = update_offer(offer, hold=True)
        callee = negotiate(held, Capabilities(), address="192.0.2.2")
        assert callee.audio is not None
        assert callee.audio.direction is Direction.RECVONLY
        caller = process_answer(held, callee.answer)
        assert caller.audio is not None
        assert caller.audio.direction is Direction.SENDONLY

        resumed = update_offer(held, hold=False)
        assert resumed.origin.session_version == offer.origin.session_version + 2
        again = process_answer(resumed, negotiate(resumed, Capabilities()).answer)
        assert again.audio is not None
        assert again.audio.direction is Direction.SENDRECV


class TestUpdateOffer:
    """RFC 3264 §8: the same o= session id; the version goes up only when something changed."""

    def test_hold_from_sendrecv_and_from_recvonly(self) -> None:
        offer = create_offer(session_id=9)
        held = update_offer(offer, hold=True)
        assert held.origin == offer.origin.next_version()
        assert held.media[0].direction is Direction.SENDONLY
        listening = update_offer(offer, direction="recvonly")
        assert update_offer(listening, hold=True).media[0].direction is Direction.INACTIVE
        assert update_offer(
            update_offer(listening, hold=True), hold=False
        ).media[0].direction is Direction.RECVONLY

    def test_an_unchanged_offer_keeps_its_version(self) -> None:
        offer = create_offer(session_id=9)
        assert update_offer(offer) == offer
        assert update_offer(offer, direction=Direction.SENDRECV).origin == offer.origin

    def test_the_previous_offer_is_not_modified(self) -> None:
        offer = create_offer(session_id=9)
        text = str(offer)
        update_offer(offer, hold=True, disable=[0])
        assert str(offer) == text

    def test_hold_and_direction_together_are_refused(self) -> None:
        with pytest.raises(LocalProtocolError):
            update_offer(create_offer(), hold=True, direction="inactive")


class TestProcessAnswer:
    """Reading the answer: the answer's first codec, under the answer's number (RFC 3264 §6.1)."""

    def test_an_asterisk_answer(self) -> None:
        offer = create_offer(Capabilities(audio=("PCMU", "PCMA")), audio_port=40000)
        result = process_answer(offer, ASTERISK_ANSWER)
        params = result.audio
        assert params is not None
        assert (params.remote_address, params.remote_port, params.remote_rtcp_port) == (
            "192.0.2.20", 14562, 14563,
        )
        assert (params.payload_type, params.codec_name, params.clock_rate) == (0, "PCMU", 8000)
        assert (params.telephone_event_pt, params.ptime) == (101, 20)
        assert params.direction is Direction.SENDRECV
        assert result.role == "offerer"

    def test_rfc4317_section_2_3_answerer_renumbers_ilbc(self) -> None:
        """§2.3: Alice offers iLBC as 97, Bob answers it as 99; Alice sends with 99."""
        offer = sdp("""
            v=0
            o=alice 2890844526 2890844526 IN IP4 host.atlanta.example.com
            s=-
            c=IN IP4 host.atlanta.example.com
            t=0 0
            m=audio 49170 RTP/AVP 0 8 97
            a=rtpmap:0 PCMU/8000
            a=rtpmap:8 PCMA/8000
            a=rtpmap:97 iLBC/8000
            m=video 51372 RTP/AVP 31 32
            a=rtpmap:31 H261/90000
            a=rtpmap:32 MPV/90000
        """)
        bob = sdp("""
            v=0
            o=bob 2808844564 2808844564 IN IP4 host.biloxi.example.com
            s=-
            c=IN IP4 host.biloxi.example.com
            t=0 0
            m=audio 49172 RTP/AVP 99
            a=rtpmap:99 iLBC/8000
            m=video 51374 RTP/AVP 31
            a=rtpmap:31 H261/90000
        """)
        result = process_answer(offer, bob)
        assert result.audio is not None
        assert result.video is not None
        assert (result.audio.payload_type, result.audio.codec_name) == (99, "iLBC")
        assert (result.audio.remote_address, result.audio.remote_port) == (
            "host.biloxi.example.com", 49172,
        )
        assert (result.video.payload_type, result.video.codec_name) == (31, "H261")
        audio_rows = result.streams[0].formats
        assert [(f.payload_type, f.outcome) for f in audio_rows] == [
            (0, Outcome.DROPPED), (8, Outcome.DROPPED), (97, Outcome.CHOSEN),
        ]
        assert audio_rows[2].reason.endswith("(renumbered to 99)")

    def test_an_answer_with_the_wrong_number_of_m_lines_is_refused(self) -> None:
        offer = create_offer()
        answer = parse(ASTERISK_ANSWER)
        answer.media.append(answer.media[0].copy())
        with pytest.raises(NegotiationError, match="RFC 3264 §6"):
            process_answer(offer, answer)

    def test_an_answer_rejecting_everything_is_refused(self) -> None:
        offer = create_offer()
        answer: SessionDescription = parse(ASTERISK_ANSWER)
        answer.media[0].port = 0
        with pytest.raises(NegotiationError) as caught:
            process_answer(offer, answer)
        assert caught.value.status == 488
        assert caught.value.negotiation is not None
        assert caught.value.negotiation.streams[0].reason == "the answerer rejected it (port 0)"

    def test_an_answer_listing_no_offered_codec_rejects_the_stream(self) -> None:
        offer = create_offer(Capabilities(audio=("PCMU",)))
        with pytest.raises(NegotiationError, match="lists no codec we offered"):
            process_answer(offer, ASTERISK_ANSWER.replace("RTP/AVP 0 8 101", "RTP/AVP 8"))
