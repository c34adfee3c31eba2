"""Cutting messages out of a TCP stream (RFC 3261 §18.3, §7.5; RFC 5626 §3.5.1).

On a stream, Content-Length is mandatory and is the only way to find where a
message ends; CRLFs between messages are keep-alives (a CRLFCRLF is a ping).
"""

from __future__ import annotations

import pytest

from siplab.errors import SipParseError
from siplab.sip.framing import StreamFramer
from siplab.sip.message import parse_message
from tests.helpers import crlf
from tests.sip.corpus_loader import load_corpus

CORPUS = load_corpus()
INVITE = CORPUS["invite_with_sdp_and_record_route"]
BYE = CORPUS["bye"]


class TestStreamFramer:
    """§18.3: framing by Content-Length."""

    def test_two_messages_in_one_feed(self) -> None:
        framer = StreamFramer()
        assert framer.feed(INVITE + BYE) == [INVITE, BYE]
        assert framer.buffered == 0

    def test_one_message_in_three_feeds_split_in_header_and_body(self) -> None:
        framer = StreamFramer()
        head_end = INVITE.index(b"\r\n\r\n")
        cuts = [head_end // 2, head_end + 4 + 10]
        assert framer.feed(INVITE[: cuts[0]]) == []
        assert framer.feed(INVITE[cuts[0] : cuts[1]]) == []
        assert framer.buffered == cuts[1]
        assert framer.feed(INVITE[cuts[1] :]) == [INVITE]
        assert framer.buffered == 0

    def test_split_inside_the_empty_line(self) -> None:
        framer = StreamFramer()
        head_end = BYE.index(b"\r\n\r\n")
        assert framer.feed(BYE[: head_end + 3]) == []
        assert framer.feed(BYE[head_end + 3 :]) == [BYE]

    def test_byte_at_a_time(self) -> None:
        framer = StreamFramer()
        stream = INVITE + BYE
        out: list[bytes] = []
        for i in range(len(stream)):
            out.extend(framer.feed(stream[i : i + 1]))
        assert out == [INVITE, BYE]

    def test_crlf_keep_alives_between_messages_are_skipped_and_pings_counted(self) -> None:
        framer = StreamFramer()
        assert framer.feed(b"\r\n\r\n" + INVITE + b"\r\n" + BYE + b"\r\n\r\n") == [INVITE, BYE]
        assert framer.pings == 2  # two CRLFCRLF; the single CRLF is no ping
        assert framer.buffered == 0

    def test_ping_split_across_reads_is_still_a_ping(self) -> None:
        framer = StreamFramer()
        for piece in (b"\r\n", b"\r", b"\n"):
            assert framer.feed(piece) == []
        assert framer.pings == 1
        assert framer.feed(b"\r\n\r\n\r\n\r\n") == []
        assert framer.pings == 3

    def test_lone_crlf_before_a_message_does_not_pair_with_a_later_one(self) -> None:
        framer = StreamFramer()
        assert framer.feed(b"\r\n" + BYE) == [BYE]
        assert framer.feed(b"\r\n") == []
        assert framer.pings == 0

    def test_body_is_taken_by_content_length_not_by_what_follows(self) -> None:
        message = crlf("""
            MESSAGE sip:bob@biloxi.example.com SIP/2.0
            Content-Length: 8

        """) + b"\r\n\r\nabcd"  # a body that looks like keep-alives and a new message
        framer = StreamFramer()
        assert framer.feed(message + BYE) == [message, BYE]
        assert parse_message(message).body == b"\r\n\r\nabcd"

    def test_compact_content_length(self) -> None:
        message = b"MESSAGE sip:b@example.com SIP/2.0\r\nL: 2\r\n\r\nhi"
        assert StreamFramer().feed(message) == [message]

    def test_missing_content_length_is_an_error(self) -> None:
        with pytest.raises(SipParseError, match="Content-Length is required") as info:
            StreamFramer().feed(b"OPTIONS sip:b@example.com SIP/2.0\r\nCSeq: 1 OPTIONS\r\n\r\n")
        assert info.value.where == "stream"

    @pytest.mark.parametrize("value", [b"", b"x", b"-1", b"1 2"])
    def test_content_length_that_is_not_a_number_is_an_error(self, value: bytes) -> None:
        with pytest.raises(SipParseError, match="not a number"):
            StreamFramer().feed(b"OPTIONS sip:b@example.com SIP/2.0\r\nContent-Length: "
                                + value + b"\r\n\r\n")

    @pytest.mark.parametrize("value", [b"1025", b"99999999999", b"9" * 5000])
    def test_content_length_over_the_limit_is_an_error(self, value: bytes) -> None:
        framer = StreamFramer(max_body_bytes=1024)
        with pytest.raises(SipParseError, match="over 1024"):
            framer.feed(b"OPTIONS sip:b@example.com SIP/2.0\r\nContent-Length: " + value
                        + b"\r\n\r\n")

    def test_header_section_over_the_limit_is_an_error_while_waiting(self) -> None:
        framer = StreamFramer(max_header_bytes=100)
        assert framer.feed(b"OPTIONS sip:b@example.com SIP/2.0\r\n") == []
        with pytest.raises(SipParseError, match="no end of headers within 100 bytes"):
            framer.feed(b"X-Filler: " + b"x" * 100)

    def test_header_section_over_the_limit_is_an_error_when_complete(self) -> None:
        framer = StreamFramer(max_header_bytes=100)
        with pytest.raises(SipParseError, match="no end of headers"):
            framer.feed(b"OPTIONS sip:b@example.com SIP/2.0\r\nX-Filler: " + b"x" * 100
                        + b"\r\nContent-Length: 0\r\n\r\n")

    def test_header_section_at_the_limit_is_fine(self) -> None:
        head = b"OPTIONS sip:b@example.com SIP/2.0\r\nContent-Length: 0"
        framer = StreamFramer(max_header_bytes=len(head))
        assert framer.feed(head + b"\r\n\r\n") == [head + b"\r\n\r\n"]
