"""The hold helpers: flipping the SDP direction attribute (RFC 3264 §6.1, §8, §8.4)."""

from __future__ import annotations

import pytest

from siplab.aio.hold import answer_direction, direction_of, minimal_sdp, with_direction
from tests.helpers import crlf

OFFER = crlf("""
    v=0
    o=- 4242 7 IN IP4 127.0.0.1
    s=-
    c=IN IP4 127.0.0.1
    t=0 0
    m=audio 40000 RTP/AVP 0
    a=rtpmap:0 PCMU/8000
    a=sendrecv

""").rstrip(b"\r\n") + b"\r\n"

TWO_MEDIA_NO_DIRECTION = crlf("""
    v=0
    o=- 1 1 IN IP4 127.0.0.1
    s=-
    t=0 0
    m=audio 40000 RTP/AVP 0
    m=video 40002 RTP/AVP 96
""")


def test_hold_replaces_sendrecv_with_sendonly_and_bumps_the_version() -> None:
    held = with_direction(OFFER, "sendonly")
    assert b"a=sendonly\r\n" in held
    assert b"a=sendrecv" not in held
    assert b"o=- 4242 8 IN IP4 127.0.0.1\r\n" in held  # §8: a new offer, a new version
    assert direction_of(held) == "sendonly"
    assert direction_of(with_direction(held, "sendrecv")) == "sendrecv"


def test_direction_is_added_to_every_media_section_when_missing() -> None:
    held = with_direction(TWO_MEDIA_NO_DIRECTION, "inactive").decode()
    assert held.split("\r\n")[-5:] == ["m=audio 40000 RTP/AVP 0", "a=inactive",
                                       "m=video 40002 RTP/AVP 96", "a=inactive", ""]
    assert direction_of(TWO_MEDIA_NO_DIRECTION) is None


@pytest.mark.parametrize(("offer", "answer"), [("sendonly", "recvonly"),
                                                ("recvonly", "sendonly"),
                                                ("inactive", "inactive"),
                                                ("sendrecv", "sendrecv"), (None, "sendrecv")])
def test_answer_mirrors_the_offered_direction(offer: str | None, answer: str) -> None:
    assert answer_direction(offer) == answer


def test_minimal_sdp_has_one_audio_stream_with_the_direction() -> None:
    body = minimal_sdp("sendonly", "127.0.0.1", 99)
    assert body.startswith(b"v=0\r\no=- 99 1 IN IP4 127.0.0.1\r\n")
    assert b"m=audio 9 RTP/AVP 0\r\n" in body
    assert direction_of(body) == "sendonly"
    with pytest.raises(ValueError, match="direction"):
        with_direction(body, "upside-down")
