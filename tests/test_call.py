"""The Call: offers and answers of one invite session, and the media parameters they decide.

RFC 3264 (offer/answer: §5 the offer, §6 the answer, §8 re-offers and hold
§8.4), RFC 3261 §13.2.1 (where offers and answers travel), §14.2 (glare: 491),
§20.43 (Warning), §21.4.26 (488). Two Calls play caller and callee here, with
the SDP bytes passed between them by hand, as a SIP ladder would carry them.
"""

from __future__ import annotations

import pytest

from siplab.call import (
    DTMF,
    DTMF_RELAY,
    NO_COMMON_PATH,
    NO_MEDIA_RELAY,
    TRANSITIONS,
    WARNING_MISC,
    Call,
    DtmfPress,
    MediaPath,
    OfferAnswerState,
    dtmf_relay_body,
    parse_dtmf,
    parse_warnings,
    warning_header,
)
from siplab.errors import InvalidStateError, RemoteProtocolError
from siplab.ids import IdSource
from siplab.sdp import Capabilities, Direction, NegotiationError, SdpParseError, parse
from tests.sdp.samples import BARESIP_OFFER, CHROME_OFFER, SIPP_OFFER

CALLER_PORT = 40000
CALLEE_PORT = 40002


def caller(*codecs: str) -> Call:
    caps = Capabilities(audio=codecs) if codecs else Capabilities()
    return Call(caps, address="127.0.0.1", port=CALLER_PORT, ids=IdSource("caller"))


def callee(*codecs: str) -> Call:
    caps = Capabilities(audio=codecs) if codecs else Capabilities()
    return Call(caps, address="127.0.0.1", port=CALLEE_PORT, ids=IdSource("callee"))


def connected(caller_codecs: tuple[str, ...] = ("PCMU", "PCMA"),
              callee_codecs: tuple[str, ...] = ("PCMU", "PCMA")) -> tuple[Call, Call]:
    """INVITE with the offer, 200 with the answer: both sides stable."""
    alice, bob = caller(*caller_codecs), callee(*callee_codecs)
    alice.accept_answer(bob.answer_offer(alice.offer()))
    return alice, bob


def direction(body: bytes) -> Direction:
    sd = parse(body)
    return sd.direction_of(sd.media[0])


class TestInitialOfferAnswer:
    """RFC 3264 §5-§6: the INVITE's offer, the 200's answer."""

    def test_caller_offers_every_codec_in_its_preference_with_telephone_event(self) -> None:
        offer = parse(caller("PCMA", "PCMU", "opus").offer())
        [audio] = offer.media
        assert (audio.port, audio.proto) == (CALLER_PORT, "RTP/AVP")
        names = [c.name for c in audio.codecs]
        assert names[:3] == ["PCMA", "PCMU", "opus"]
        assert "telephone-event" in names[3:]
        assert offer.direction_of(audio) is Direction.SENDRECV

    def test_callee_answers_with_its_own_preference_and_both_see_the_same_codec(self) -> None:
        alice, bob = connected(("opus", "PCMU", "PCMA"), ("PCMA", "PCMU"))
        assert alice.codec == bob.codec == "PCMA"
        assert alice.state is bob.state is OfferAnswerState.STABLE
        assert alice.path is bob.path is MediaPath.PLAIN

    def test_each_side_sends_to_the_port_the_other_side_wrote(self) -> None:
        alice, bob = connected()
        assert alice.params is not None
        assert bob.params is not None
        assert (alice.params.remote_port, alice.params.local_port) == (CALLEE_PORT, CALLER_PORT)
        assert (bob.params.remote_port, bob.params.local_port) == (CALLER_PORT, CALLEE_PORT)
        assert alice.params.remote_rtcp_port == CALLEE_PORT + 1  # RFC 3550 §11
        assert alice.params.payload_type == bob.params.payload_type == 0
        assert alice.params.telephone_event_pt == bob.params.telephone_event_pt == 101

    @pytest.mark.parametrize(("codec", "payload_type", "clock_rate", "step"), [
        ("PCMU", 0, 8000, 160),
        ("PCMA", 8, 8000, 160),
        ("G722", 9, 8000, 160),  # 16 kHz audio, 8000 RTP clock (RFC 3551 §4.5.2)
        ("opus", 111, 48000, 960),
    ])
    def test_each_known_codec_negotiates_with_its_rtp_numbers(
            self, codec: str, payload_type: int, clock_rate: int, step: int) -> None:
        alice, bob = connected((codec,), (codec,))
        for side in (alice, bob):
            assert side.params is not None
            assert side.codec == codec
            assert (side.params.payload_type, side.params.clock_rate) == (payload_type,
                                                                          clock_rate)
            assert side.params.timestamp_step == step

    def test_negotiation_table_explains_every_offered_format(self) -> None:
        _alice, bob = connected(("opus", "PCMU"), ("PCMU",))
        assert bob.negotiation is not None
        rows = {row["codec"]: row["result"] for row in bob.negotiation.table()}
        assert rows["PCMU/8000"] == "chosen"
        assert rows["opus/48000/2"] == "dropped"
        assert "PCMU" in bob.explain()

    def test_callee_answers_sipps_pcmu_offer_toward_sipps_media_address(self) -> None:
        bob = callee()
        answer = parse(bob.answer_offer(SIPP_OFFER.encode()))
        assert [c.name for c in answer.media[0].codecs] == ["PCMU"]
        assert bob.params is not None
        assert (bob.params.remote_address, bob.params.remote_port) == ("127.0.1.1", 6000)

    def test_callee_keeps_baresips_dynamic_opus_number(self) -> None:
        bob = callee("opus", "PCMU")
        bob.answer_offer(BARESIP_OFFER.encode())
        assert bob.params is not None
        assert (bob.codec, bob.params.payload_type) == ("opus", 96)

    def test_history_tells_the_exchange_in_order(self) -> None:
        alice, bob = connected()
        assert [(r.sender, r.kind, r.purpose) for r in alice.history] == [
            ("local", "offer", "call"), ("remote", "answer", "call")]
        assert [(r.sender, r.kind) for r in bob.history] == [
            ("remote", "offer"), ("local", "answer")]
        assert bob.history[1].body == alice.history[1].body

    def test_offer_in_the_200_and_answer_in_the_ack_when_the_invite_had_none(self) -> None:
        """RFC 3261 §13.2.1: an INVITE without SDP; the callee offers in its 200."""
        alice, bob = caller(), callee()
        offer = bob.offer()  # in the 200
        assert bob.state is OfferAnswerState.HAVE_LOCAL_OFFER
        answer = alice.answer_offer(offer)  # in the ACK
        bob.accept_answer(answer)
        assert alice.codec == bob.codec == "opus"  # both prefer it by default
        assert bob.state is OfferAnswerState.STABLE


class TestRefusals:
    """488 when nothing fits (RFC 3264 §6), 400 for malformed SDP, 488 for a path not answered."""

    def test_no_common_codec_raises_488_with_a_warning_that_names_the_codecs(self) -> None:
        bob = callee("PCMA")
        with pytest.raises(NegotiationError) as raised:
            bob.answer_offer(caller("opus").offer())
        refusal = bob.refusal(raised.value)
        assert (refusal.status, refusal.reason) == (488, "Not Acceptable Here")
        [(name, value)] = refusal.headers
        assert name == "Warning"
        [(code, agent, text)] = parse_warnings(value)
        assert (code, agent) == (305, "siplab")  # Incompatible media format
        assert "no common codec" in text
        assert "opus" in text
        assert bob.state is OfferAnswerState.IDLE
        assert bob.failure is raised.value
        assert bob.history[-1].outcome.startswith("488 Not Acceptable Here")

    def test_malformed_sdp_raises_400_naming_the_line(self) -> None:
        bob = callee()
        broken = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nm=audio notaport RTP/AVP 0\r\n"
        with pytest.raises(SdpParseError) as raised:
            bob.answer_offer(broken)
        refusal = bob.refusal(raised.value)
        assert refusal.status == 400
        [(code, _, text)] = parse_warnings(refusal.headers[0][1])
        assert code == WARNING_MISC
        assert "line 4" in text
        assert bob.state is OfferAnswerState.IDLE

    def test_webrtc_offer_to_a_plain_only_call_is_refused_with_488_naming_the_paths(
            self) -> None:
        bob = callee()  # capabilities without accept_webrtc: the plain path only
        with pytest.raises(NegotiationError) as raised:
            bob.answer_offer(CHROME_OFFER.encode())
        assert NO_COMMON_PATH in str(raised.value)
        assert "UDP/TLS/RTP/SAVPF" in str(raised.value)
        assert NO_MEDIA_RELAY in str(raised.value)
        refusal = bob.refusal(raised.value)
        [(code, _, text)] = parse_warnings(refusal.headers[0][1])
        assert (refusal.status, code) == (488, 304)  # Media type not available
        assert text.startswith(NO_COMMON_PATH)

    def test_plain_offer_to_a_webrtc_only_call_is_refused_with_488(self) -> None:
        bob = Call(Capabilities(), port=CALLEE_PORT, ids=IdSource("b"),
                   paths=(MediaPath.WEBRTC,))
        with pytest.raises(NegotiationError) as raised:
            bob.answer_offer(caller().offer())
        assert str(raised.value).startswith(f"{NO_COMMON_PATH}: the offer is plain RTP")
        assert NO_MEDIA_RELAY in str(raised.value)

    def test_webrtc_offer_takes_the_webrtc_path_when_capabilities_accept_it(self) -> None:
        bob = Call(Capabilities(accept_webrtc=True), port=CALLEE_PORT, ids=IdSource("b"))
        bob.answer_offer(CHROME_OFFER.encode())
        assert bob.path is MediaPath.WEBRTC
        assert bob.codec == "opus"

    def test_an_answer_that_accepts_nothing_raises_and_leaves_the_offer_open(self) -> None:
        alice = caller("PCMU")
        offer = parse(alice.offer())
        rejected = offer.copy()
        rejected.media[0].port = 0
        with pytest.raises(NegotiationError):
            alice.accept_answer(str(rejected).encode())
        assert alice.state is OfferAnswerState.HAVE_LOCAL_OFFER
        assert alice.history[-1].outcome.startswith("488")

    def test_warning_text_is_one_quoted_line_whatever_it_contains(self) -> None:
        name, value = warning_header(305, 'a "quoted"\r\nword', agent="host.example")
        assert name == "Warning"
        assert "\r" not in value
        assert "\n" not in value
        assert parse_warnings(value) == [(305, "host.example", 'a "quoted" word')]


class TestHoldAndResume:
    """RFC 3264 §8.4: hold is a re-offer with sendonly, answered recvonly; resume goes back."""

    def test_hold_offers_sendonly_with_the_next_version_and_is_answered_recvonly(self) -> None:
        alice, bob = connected()
        first = parse(alice.history[0].body).origin
        hold = alice.hold()
        assert alice.state is OfferAnswerState.HAVE_LOCAL_OFFER
        assert direction(hold) is Direction.SENDONLY
        assert parse(hold).origin.session_version == first.session_version + 1
        answer = bob.answer_reoffer(hold)
        assert direction(answer) is Direction.RECVONLY
        alice.accept_answer(answer)
        assert alice.params is not None
        assert bob.params is not None
        assert alice.params.direction is Direction.SENDONLY  # music on hold, not listening
        assert (alice.params.sends, alice.params.receives) == (True, False)
        assert bob.params.direction is Direction.RECVONLY  # bob stops sending
        assert (bob.params.sends, bob.params.receives) == (False, True)
        assert alice.held
        assert bob.remote_hold

    def test_resume_restores_sendrecv_on_both_sides(self) -> None:
        alice, bob = connected()
        alice.accept_answer(bob.answer_reoffer(alice.hold()))
        resume = alice.resume()
        assert direction(resume) is Direction.SENDRECV
        alice.accept_answer(bob.answer_reoffer(resume))
        assert alice.params is not None
        assert bob.params is not None
        assert alice.params.direction is bob.params.direction is Direction.SENDRECV
        assert not alice.held
        assert not bob.remote_hold
        assert [r.purpose for r in alice.history if r.sender == "local"] == [
            "call", "hold", "resume"]

    def test_callee_can_hold_the_call_it_answered(self) -> None:
        alice, bob = connected()
        hold = bob.hold()  # re-offer built from bob's own answer
        assert direction(hold) is Direction.SENDONLY
        bob.accept_answer(alice.answer_reoffer(hold))
        assert alice.params is not None
        assert alice.params.direction is Direction.RECVONLY

    def test_while_holding_a_refresh_from_the_peer_is_answered_sendonly(self) -> None:
        alice, bob = connected()
        alice.accept_answer(bob.answer_reoffer(alice.hold()))
        answer = alice.answer_reoffer(bob.reoffer())  # bob refreshes: sendrecv offered
        assert direction(answer) is Direction.SENDONLY
        assert alice.held

    def test_a_refused_reoffer_is_withdrawn_and_media_stays_as_it_was(self) -> None:
        alice, _bob = connected()
        before = alice.local_sdp
        alice.hold()  # ... answered 488 (or 491)
        alice.withdraw_offer()
        assert alice.state is OfferAnswerState.STABLE
        assert alice.local_sdp is before
        assert alice.params is not None
        assert alice.params.direction is Direction.SENDRECV
        assert not alice.held


class TestOfferAnswerStates:
    """The machine of RFC 3264 §4 (TRANSITIONS): one offer outstanding per direction."""

    def test_an_offer_arriving_while_ours_is_unanswered_is_glare_491(self) -> None:
        alice, bob = connected()
        alice.hold()
        with pytest.raises(RemoteProtocolError) as raised:
            alice.answer_reoffer(bob.reoffer())
        assert (raised.value.status, raised.value.reason) == (491, "Request Pending")

    @pytest.mark.parametrize("misuse", ["accept_answer", "hold", "withdraw_offer",
                                        "answer_reoffer"])
    def test_verbs_out_of_order_raise_invalid_state(self, misuse: str) -> None:
        alice = caller()
        verb = getattr(alice, misuse)
        arguments = [SIPP_OFFER.encode()] if misuse in ("accept_answer", "answer_reoffer") else []
        with pytest.raises(InvalidStateError):
            verb(*arguments)

    def test_a_second_first_offer_is_refused(self) -> None:
        alice, _ = connected()
        with pytest.raises(InvalidStateError):
            alice.offer()
        with pytest.raises(InvalidStateError):
            alice.answer_offer(SIPP_OFFER.encode())

    def test_the_table_lists_every_state(self) -> None:
        assert {state for state, _ in TRANSITIONS} == set(OfferAnswerState)


class TestDtmfInInfo:
    """DTMF in SIP INFO (RFC 6086): application/dtmf-relay and application/dtmf bodies."""

    def test_dtmf_relay_body_round_trips(self) -> None:
        body = dtmf_relay_body("5")
        assert body == b"Signal=5\r\nDuration=160\r\n"
        assert parse_dtmf(body, DTMF_RELAY) == DtmfPress("5", "info", 160)

    @pytest.mark.parametrize(("body", "content_type", "expected"), [
        (b"Signal= #\r\nDuration= 250\r\n", "application/dtmf-relay", DtmfPress("#", "info", 250)),
        (b"signal=10\n", "Application/DTMF-Relay", DtmfPress("*")),
        (b"Signal=a\r\n", DTMF_RELAY, DtmfPress("A")),
        (b"7", DTMF, DtmfPress("7")),
        (b"Signal=X\r\n", DTMF_RELAY, None),
        (b"Signal=5\r\n", "text/plain", None),
    ])
    def test_parse_dtmf_reads_what_pbxs_send(self, body: bytes, content_type: str,
                                             expected: DtmfPress | None) -> None:
        assert parse_dtmf(body, content_type) == expected

    def test_dtmf_relay_body_refuses_a_non_digit(self) -> None:
        with pytest.raises(ValueError, match="DTMF digit"):
            dtmf_relay_body("x")
