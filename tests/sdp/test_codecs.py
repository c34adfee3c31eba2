"""The codec table and Capabilities (RFC 3551 §6, RFC 7587 §7, RFC 4733 §2.1, §7.1.1).

What siplab claims to know must match the RFCs' numbers and rates, because
another implementation will compare them: PCMU 0, PCMA 8, G722 9 at an RTP
clock of 8000, opus always /48000/2, telephone-event matched by its events.
"""

from __future__ import annotations

import pytest

from siplab.errors import LocalProtocolError
from siplab.sdp import Capabilities, Codec
from siplab.sdp.codecs import (
    G722,
    KNOWN_CODECS,
    OPUS,
    PCMA,
    PCMU,
    TELEPHONE_EVENT,
    VP8,
    resolve_codec,
    telephone_events,
)
from siplab.sdp.offer import assign_payload_types


def test_known_codecs_have_the_rfc_numbers_and_rates() -> None:
    table = {c.name: (c.payload_type, c.encoding, c.media, c.fmtp) for c in KNOWN_CODECS}
    assert table == {
        "PCMU": (0, "PCMU/8000", "audio", None),
        "PCMA": (8, "PCMA/8000", "audio", None),
        "G722": (9, "G722/8000", "audio", None),  # RFC 3551 §4.5.2: 8000, not 16000
        "opus": (None, "opus/48000/2", "audio", "minptime=10;useinbandfec=1"),
        "telephone-event": (None, "telephone-event/8000", "audio", "0-16"),
        "VP8": (None, "VP8/90000", "video", None),
    }
    assert (OPUS.offer_payload_type, TELEPHONE_EVENT.offer_payload_type) == (111, 101)


class TestMatching:
    """Same name (any case), same clock rate, same channels; events by their list."""

    def test_names_compare_without_case(self) -> None:
        assert PCMU.mismatch(Codec(0, "pcmu", 8000)) is None
        assert OPUS.mismatch(Codec(109, "OPUS", 48000, 2)) is None

    def test_a_different_clock_rate_is_a_different_codec(self) -> None:
        reason = G722.mismatch(Codec(9, "G722", 16000))
        assert reason is not None
        assert reason.startswith("clock rate differs")

    def test_opus_must_be_signalled_with_two_channels(self) -> None:
        reason = OPUS.mismatch(Codec(111, "opus", 48000, 1))
        assert reason is not None
        assert reason.startswith("channels differ")

    def test_telephone_event_matches_at_any_rate_if_it_carries_digits(self) -> None:
        assert TELEPHONE_EVENT.mismatch(Codec(110, "telephone-event", 48000)) is None
        assert TELEPHONE_EVENT.mismatch(Codec(101, "telephone-event", 8000, 1, "0-15")) is None

    def test_telephone_event_without_dtmf_digits_is_an_fmtp_mismatch(self) -> None:
        reason = TELEPHONE_EVENT.mismatch(Codec(101, "telephone-event", 8000, 1, "32-41"))
        assert reason is not None
        assert reason.startswith("fmtp mismatch")

    @pytest.mark.parametrize(
        ("fmtp", "events"),
        [
            (None, set(range(16))),  # RFC 4733 §7.1.1: no fmtp means 0-15
            ("0-16", set(range(17))),
            ("0-15,66,70-72", {*range(16), 66, 70, 71, 72}),
            ("0-15, 32", {*range(16), 32}),
            ("x", None),
            ("9-3", None),
        ],
    )
    def test_telephone_event_lists(self, fmtp: str | None, events: set[int] | None) -> None:
        assert telephone_events(fmtp) == events


class TestCapabilities:
    """The answerer's preferences, validated when they are made."""

    def test_defaults(self) -> None:
        caps = Capabilities()
        assert [c.name for c in caps.audio_codecs] == ["opus", "G722", "PCMU", "PCMA"]
        assert caps.telephone_event
        assert caps.video_codecs == ()
        assert caps.ptime == 20
        assert not caps.accept_webrtc

    def test_lists_become_tuples_and_names_any_case(self) -> None:
        caps = Capabilities(audio=["pcma", "PCMU"])  # type: ignore[arg-type]
        assert caps.audio == ("pcma", "PCMU")
        assert caps.audio_codecs == (PCMA, PCMU)
        assert hash(caps) == hash(Capabilities(audio=("pcma", "PCMU")))

    def test_codecs_outside_the_table_are_named_with_their_rate(self) -> None:
        caps = Capabilities(audio=("iLBC/8000",), video=("H261/90000", "VP8"))
        (ilbc,) = caps.audio_codecs
        assert (ilbc.name, ilbc.clock_rate, ilbc.payload_type) == ("iLBC", 8000, None)
        h261, vp8 = caps.video_codecs
        assert h261.payload_type == 31  # static in RFC 3551
        assert vp8 is VP8
        assert resolve_codec("opus/48000/2") is OPUS

    @pytest.mark.parametrize(
        ("kwargs", "words"),
        [
            ({"audio": ("GSM",)}, "unknown codec 'GSM'"),
            ({"audio": ("PCMU", "pcmu")}, "twice"),
            ({"audio": ("telephone-event",)}, "telephone_event=True"),
            ({"audio": ("VP8",)}, "not audio codecs"),
            ({"video": ("PCMU",)}, "not video codecs"),
            ({"ptime": 0}, "ptime"),
        ],
    )
    def test_bad_capabilities_are_refused(self, kwargs: dict[str, object], words: str) -> None:
        with pytest.raises(LocalProtocolError, match=words):
            Capabilities(**kwargs)  # type: ignore[arg-type]


def test_offer_payload_numbers_are_static_or_the_usual_dynamic_ones() -> None:
    codecs = assign_payload_types(
        [OPUS, G722, PCMU, PCMA, resolve_codec("iLBC/8000"), resolve_codec("speex/16000")],
        telephone_event_rates=[48000, 8000, 8000],
    )
    assert [(c.payload_type, c.encoding) for c in codecs] == [
        (111, "opus/48000/2"),
        (9, "G722/8000"),
        (0, "PCMU/8000"),
        (8, "PCMA/8000"),
        (96, "iLBC/8000"),
        (97, "speex/16000"),  # 96 is taken: the next free dynamic number
        (110, "telephone-event/48000"),
        (101, "telephone-event/8000"),
    ]
