"""Reading and writing session descriptions (RFC 8866 §5, §6, §9; RFC 3551 §6).

The real-world samples (``tests/sdp/samples.py``) must parse, write back
character for character, and give a user agent the values it acts on:
addresses, ports, codecs, directions, ICE and DTLS parameters. Then the
corners: static payload types, session-level defaults, editing helpers, and
malformed descriptions, each rejected with an SdpParseError (400) that names
the line.
"""

from __future__ import annotations

import pytest

from siplab.errors import RemoteProtocolError
from siplab.sdp import (
    Attribute,
    Codec,
    Connection,
    Direction,
    MediaDescription,
    Origin,
    SdpParseError,
    SessionDescription,
    parse,
)
from tests.sdp.samples import (
    ASTERISK_ANSWER,
    BARESIP_OFFER,
    CHROME_OFFER,
    FIREFOX_OFFER,
    JSSIP_OFFER,
    LINPHONE_OFFER,
    SIPP_OFFER,
    sdp,
)


def encodings(media: MediaDescription) -> list[str]:
    return [f"{c.payload_type} {c.encoding}" for c in media.codecs]


class TestRealWorldSamples:
    """Each sample round-trips exactly (RFC 8866 §5 keeps unknown attributes) and reads right."""

    def test_sdp_chrome_offer(self) -> None:
        sd = parse(CHROME_OFFER)
        assert str(sd) == CHROME_OFFER
        assert sd.origin == Origin("-", "4611731400430051336", 2, "127.0.0.1")
        assert sd.groups == [("BUNDLE", ["0", "1", "2"])]
        assert sd.is_webrtc
        assert [(m.media, m.port, m.proto, m.mid) for m in sd.media] == [
            ("audio", 9, "UDP/TLS/RTP/SAVPF", "0"),
            ("video", 9, "UDP/TLS/RTP/SAVPF", "1"),
            ("application", 9, "UDP/DTLS/SCTP", "2"),
        ]
        audio, video, data = sd.media
        assert encodings(audio) == [
            "111 opus/48000/2", "63 red/48000/2", "9 G722/8000", "0 PCMU/8000", "8 PCMA/8000",
            "13 CN/8000", "110 telephone-event/48000", "126 telephone-event/8000",
        ]
        opus = audio.codecs[0]
        assert opus.fmtp_params == {"minptime": "10", "useinbandfec": "1"}
        assert opus.rtcp_fb == ("transport-cc",)
        assert audio.rtcp_mux
        assert audio.rtcp_port == 9
        assert audio.direction is Direction.SENDRECV
        assert (audio.ice_ufrag, audio.ice_pwd) == ("Fa3r", "1tuN2gTA0bI0vrMjPYuMpbV6")
        assert audio.candidates == []  # trickle ICE: candidates come later
        assert audio.fingerprint is not None
        assert audio.fingerprint.algorithm == "sha-256"
        assert audio.fingerprint.value.startswith("7B:8B:F0")
        assert audio.setup == "actpass"
        assert audio.ssrcs == [2607947206]
        assert sd.connection is None
        assert audio.connection == Connection("0.0.0.0")
        # AV1 on 35: below 96 but outside RFC 3551's table, so its rtpmap decides.
        assert encodings(video)[-2:] == ["35 AV1/90000", "36 rtx/90000"]
        assert video.codec(96) == Codec(
            96, "VP8", 90000, 1, None,
            ("goog-remb", "transport-cc", "ccm fir", "nack", "nack pli"),
        )
        assert video.codec(97) == Codec(97, "rtx", 90000, 1, "apt=96")
        assert video.ssrcs == [1918202020, 3455669844]
        assert data.formats == ["webrtc-datachannel"]
        assert data.codecs == []
        assert data.attribute("sctp-port") == "5000"

    def test_sdp_firefox_offer(self) -> None:
        sd = parse(FIREFOX_OFFER)
        assert str(sd) == FIREFOX_OFFER
        assert sd.origin.username == "mozilla...THIS_IS_SDPARTA-115.0"
        audio, video = sd.media
        # Firefox writes the fingerprint once, at session level.
        assert audio.fingerprint is None
        assert (sd.attribute("fingerprint") or "").startswith("sha-256 1E:7A")
        assert encodings(audio) == [
            "109 opus/48000/2", "9 G722/8000", "0 PCMU/8000", "8 PCMA/8000",
            "101 telephone-event/8000",
        ]
        assert audio.codec(101) == Codec(101, "telephone-event", 8000, 1, "0-15")
        # "G722/8000/1" is read as one channel and kept as written.
        assert "a=rtpmap:9 G722/8000/1" in str(sd)
        assert video.direction is Direction.RECVONLY
        assert sd.direction_of(video) is Direction.RECVONLY
        assert [c.encoding for c in video.codecs][:2] == ["VP8/90000", "rtx/90000"]

    def test_sdp_jssip_offer(self) -> None:
        sd = parse(JSSIP_OFFER)
        assert str(sd) == JSSIP_OFFER
        (audio,) = sd.media
        assert (audio.port, audio.connection) == (54400, Connection("203.0.113.45"))
        host, srflx = audio.candidates
        assert (host.type, host.address.endswith(".local"), host.port) == ("host", True, 54400)
        assert (srflx.type, srflx.address, srflx.component, srflx.transport) == (
            "srflx", "203.0.113.45", 1, "udp",
        )
        assert srflx.extension("raddr") == "0.0.0.0"
        assert srflx.extension("network-id") == "1"
        assert srflx.priority == 1686052607

    def test_sdp_baresip_offer(self) -> None:
        sd = parse(BARESIP_OFFER)
        assert str(sd) == BARESIP_OFFER
        assert sd.attribute("tool") == "baresip 1.0.0"
        (audio,) = sd.media
        assert audio.bandwidths[0].type == "AS"
        assert audio.bandwidths[0].value == 106
        assert audio.codecs[0] == Codec(96, "opus", 48000, 2, "stereo=1;sprop-stereo=1")
        assert audio.ptime == 20
        assert audio.maxptime is None
        assert sd.connection_of(audio) == Connection("192.0.2.10")

    def test_sdp_sipp_offer(self) -> None:
        sd = parse(SIPP_OFFER)
        assert str(sd) == SIPP_OFFER
        assert sd.origin == Origin("user1", "53655765", 2353687637, "127.0.1.1")
        (audio,) = sd.media
        assert (audio.media, audio.port, audio.proto, audio.formats) == (
            "audio", 6000, "RTP/AVP", ["0"],
        )
        assert audio.codecs == [Codec(0, "PCMU", 8000)]
        assert not sd.is_webrtc

    def test_sdp_linphone_offer(self) -> None:
        sd = parse(LINPHONE_OFFER)
        assert str(sd) == LINPHONE_OFFER
        assert sd.name == "Talk"
        (audio,) = sd.media
        assert audio.rtcp_port == 7079
        # G729 (18) has no rtpmap but keeps its fmtp; a=rtcp-fb:* applies to every codec.
        g729 = audio.codec(18)
        assert g729 == Codec(18, "G729", 8000, 1, "annexb=yes", ("trr-int 1000", "ccm tmmbr"))
        assert [c.clock_rate for c in audio.codecs if c.is_telephone_event] == [48000, 16000, 8000]
        assert [c.component for c in audio.candidates] == [1, 2]

    def test_sdp_asterisk_answer(self) -> None:
        sd = parse(ASTERISK_ANSWER)
        assert str(sd) == ASTERISK_ANSWER
        assert sd.name == "Asterisk"
        (audio,) = sd.media
        assert (audio.ptime, audio.maxptime) == (20, 150)
        assert encodings(audio) == ["0 PCMU/8000", "8 PCMA/8000", "101 telephone-event/8000"]


class TestStaticPayloadTypes:
    """RFC 3551 §6: payload types 0-34 have fixed meanings; dynamic ones need an rtpmap."""

    def test_static_numbers_without_rtpmap_get_their_rfc3551_names(self) -> None:
        sd = parse(sdp("""
            v=0
            o=- 1 1 IN IP4 192.0.2.1
            s=-
            c=IN IP4 192.0.2.1
            t=0 0
            m=audio 5004 RTP/AVP 0 8 9 3 18 13 96 19
        """))
        assert encodings(sd.media[0]) == [
            "0 PCMU/8000", "8 PCMA/8000", "9 G722/8000", "3 GSM/8000", "18 G729/8000",
            "13 CN/8000",
        ]  # 96 (dynamic, no rtpmap) and 19 (reserved) name nothing
        assert sd.media[0].payload_types == [0, 8, 9, 3, 18, 13, 96, 19]

    def test_g722_is_signalled_at_8000_although_it_samples_at_16000(self) -> None:
        sd = parse(SIPP_OFFER.replace("RTP/AVP 0", "RTP/AVP 9").replace("rtpmap:0 PCMU", "x:0"))
        assert sd.media[0].codec(9) == Codec(9, "G722", 8000)

    def test_an_rtpmap_overrides_the_static_meaning(self) -> None:
        sd = parse(SIPP_OFFER.replace("rtpmap:0 PCMU/8000", "rtpmap:0 PCMU/16000"))
        assert sd.media[0].codec(0) == Codec(0, "PCMU", 16000)


class TestSessionLevelDefaults:
    """RFC 8866 §5: session-level c= and direction apply to streams that have none."""

    TEXT = sdp("""
        v=0
        o=- 7 7 IN IP4 192.0.2.1
        s=-
        c=IN IP4 192.0.2.1
        t=0 0
        a=sendonly
        m=audio 5004 RTP/AVP 0
        m=video 5006 RTP/AVP 31
        c=IN IP4 192.0.2.99
        a=inactive
    """)

    def test_direction_and_connection_are_inherited(self) -> None:
        sd = parse(self.TEXT)
        audio, video = sd.media
        assert audio.direction_attribute is None
        assert audio.direction is Direction.SENDRECV  # what the line itself says
        assert sd.direction_of(audio) is Direction.SENDONLY  # what it means
        assert sd.direction_of(video) is Direction.INACTIVE
        assert sd.connection_of(audio) == Connection("192.0.2.1")
        assert sd.connection_of(video) == Connection("192.0.2.99")

    def test_direction_mirror_and_restrict(self) -> None:
        assert Direction.SENDONLY.reversed() is Direction.RECVONLY
        assert Direction.INACTIVE.reversed() is Direction.INACTIVE
        assert Direction.SENDRECV.restrict(Direction.SENDONLY) is Direction.SENDONLY
        assert Direction.RECVONLY.restrict(Direction.SENDONLY) is Direction.INACTIVE


class TestEditing:
    """Helpers that build modified descriptions without touching the original."""

    def test_with_direction_replaces_the_attribute_in_place(self) -> None:
        media = parse(BARESIP_OFFER).media[0]
        held = media.with_direction("sendonly")
        names = [a.name for a in held.attributes]
        assert names.index("sendonly") == [a.name for a in media.attributes].index("sendrecv")
        assert held.direction is Direction.SENDONLY
        assert media.direction is Direction.SENDRECV  # the original is unchanged

    def test_with_direction_adds_one_when_missing(self) -> None:
        media = parse(SIPP_OFFER).media[0]
        assert media.with_direction(Direction.INACTIVE).attributes[-1] == Attribute("inactive")

    def test_copy_is_deep(self) -> None:
        sd = parse(SIPP_OFFER)
        twin = sd.copy()
        twin.media[0].attributes.append(Attribute("ptime", "30"))
        twin.media[0].formats.append("8")
        assert sd == parse(SIPP_OFFER)
        assert twin != sd

    def test_a_description_built_by_hand_prints_in_rfc_order(self) -> None:
        sd = SessionDescription(
            origin=Origin("-", "42", 1, "192.0.2.5"),
            connection=Connection.for_address("192.0.2.5"),
            media=[MediaDescription("audio", 4000, "RTP/AVP", ["0"], attributes=[
                Attribute("rtpmap", "0 PCMU/8000"), Attribute("sendrecv"),
            ])],
        )
        assert str(sd) == sdp("""
            v=0
            o=- 42 1 IN IP4 192.0.2.5
            s=-
            c=IN IP4 192.0.2.5
            t=0 0
            m=audio 4000 RTP/AVP 0
            a=rtpmap:0 PCMU/8000
            a=sendrecv
        """)
        assert parse(sd.to_bytes()) == sd
        assert SessionDescription.parse(str(sd)) == sd

    def test_ipv6_connection(self) -> None:
        assert str(Connection.for_address("2001:db8::1")) == "IN IP6 2001:db8::1"
        assert Origin().next_version().session_version == 1


class TestLenientWhereHarmless:
    """What real user agents get wrong without changing the meaning is accepted."""

    def test_lf_only_input_is_written_back_with_crlf(self) -> None:
        lf = SIPP_OFFER.replace("\r\n", "\n")
        assert str(parse(lf)) == SIPP_OFFER

    def test_blank_lines_at_the_end_are_ignored(self) -> None:
        assert str(parse(SIPP_OFFER + "\r\n\r\n")) == SIPP_OFFER

    def test_session_lines_out_of_order_are_written_back_in_rfc_order(self) -> None:
        shuffled = sdp("""
            v=0
            o=user1 53655765 2353687637 IN IP4 127.0.1.1
            s=-
            t=0 0
            c=IN IP4 127.0.1.1
            m=audio 6000 RTP/AVP 0
            a=rtpmap:0 PCMU/8000
        """)
        assert str(parse(shuffled)) == SIPP_OFFER

    def test_empty_session_name_and_missing_t_line(self) -> None:
        sd = parse("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=\r\n")
        assert sd.name == ""
        assert sd.times == []
        assert sd.media == []
        assert str(sd) == "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=\r\n"

    def test_bytes_are_decoded_as_utf8(self) -> None:
        text = SIPP_OFFER.replace("s=-", "s=Café")
        assert parse(text.encode()).name == "Café"

    def test_a_rejected_stream_needs_no_connection_line(self) -> None:
        sd = parse("v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nm=video 0 RTP/AVP 31\r\n")
        assert sd.media[0].is_rejected


GOOD_HEAD = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"


@pytest.mark.parametrize(
    ("text", "line_number", "words"),
    [
        pytest.param("o=- 1 1 IN IP4 h\r\ns=-\r\n", 1, "no v= line", id="no-v-line"),
        pytest.param("v=1\r\n", 1, "unsupported SDP version", id="v-is-not-0"),
        pytest.param(GOOD_HEAD + "m=audio\r\n", 6, "bad m= line", id="m-line-too-short"),
        pytest.param(GOOD_HEAD + "m=audio 49170 RTP/AVP\r\n", 6, "bad m= line", id="no-format"),
        pytest.param(GOOD_HEAD + "m=audio abc RTP/AVP 0\r\n", 6, "port 'abc'", id="port-text"),
        pytest.param(GOOD_HEAD + "m=audio 70000 RTP/AVP 0\r\n", 6, "port '70000'", id="port-big"),
        pytest.param(GOOD_HEAD + "m=audio 4000/0 RTP/AVP 0\r\n", 6, "port count", id="count-0"),
        pytest.param(
            "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n",
            5, "no c= line", id="c-missing-for-media-with-a-port",
        ),
        pytest.param("Hello, world!\r\n", 1, "not an SDP line", id="garbage"),
        pytest.param("v=0\r\n<html>\r\n", 2, "not an SDP line", id="html"),
        pytest.param(GOOD_HEAD + "x=whatever\r\n", 6, "unknown line type 'x='", id="type-x"),
        pytest.param(GOOD_HEAD + "\r\na=x\r\n", 6, "empty line", id="empty-line-inside"),
        pytest.param("v=0\r\ns=-\r\n", None, "missing o=", id="no-o-line"),
        pytest.param("v=0\r\no=- 1 1 IN IP4 h\r\n", None, "missing s=", id="no-s-line"),
        pytest.param("v=0\r\no=- 1 1 IN IP4\r\ns=-\r\n", 2, "bad o= line", id="o-5-fields"),
        pytest.param("v=0\r\no=- 1 x IN IP4 h\r\ns=-\r\n", 2, "session version", id="o-vers"),
        pytest.param(GOOD_HEAD + "o=- 2 2 IN IP4 h\r\n", 6, "duplicate o=", id="two-o-lines"),
        pytest.param("v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nc=IN IP4 \r\n", 4, "bad c=", id="c=2"),
        pytest.param(GOOD_HEAD + "b=AS\r\n", 6, "bad b= line", id="b-no-value"),
        pytest.param(GOOD_HEAD + "t=now later\r\n", 6, "bad t= line", id="t-words"),
        pytest.param("v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nr=7d\r\n", 4, "r= line before", id="r"),
        pytest.param(GOOD_HEAD + "m=audio 0 RTP/AVP 0\r\ns=x\r\n", 7, "not allowed", id="s-in-m"),
        pytest.param(GOOD_HEAD + "m=audio 0 RTP/AVP 0\r\ni=a\r\ni=b\r\n", 8, "dupl", id="two-i"),
        pytest.param(GOOD_HEAD + "a=:x\r\n", 6, "without an attribute name", id="a-no-name"),
        pytest.param(
            GOOD_HEAD + "m=audio 4000 RTP/AVP 96\r\na=rtpmap:96 opus\r\n",
            7, "bad a=rtpmap", id="rtpmap-without-rate",
        ),
        pytest.param(
            GOOD_HEAD + "m=audio 4000 RTP/AVP 0\r\na=ptime:twenty\r\n",
            7, "bad a=ptime", id="ptime-text",
        ),
        pytest.param(GOOD_HEAD + "a=rtcp:x\r\n", 6, "bad a=rtcp", id="rtcp-port-text"),
        pytest.param(GOOD_HEAD + "v=0\r\n", 6, "only on the first line", id="second-v"),
        pytest.param("", None, "empty session description", id="empty"),
        pytest.param(b"v=0\r\ns=\xff\r\n", None, "not UTF-8", id="not-utf8"),
    ],
)
def test_malformed_sdp_raises_sdp_parse_error_naming_the_line(
    text: str | bytes, line_number: int | None, words: str
) -> None:
    with pytest.raises(SdpParseError) as caught:
        parse(text)
    error = caught.value
    assert words in str(error)
    assert error.line_number == line_number
    if line_number is not None:
        assert f"line {line_number}" in str(error)
    assert isinstance(error, RemoteProtocolError)
    assert isinstance(error, ValueError)
    assert (error.status, error.reason) == (400, "Bad Request")
