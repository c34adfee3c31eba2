"""The parser's fast path reads a message exactly as the careful path does (RFC 3261 §7.3).

``parse_message`` reads plain header lines (``Name: value``, CRLF, no folding)
with a quick path that leaves values unstripped and builds the ``(name, value)``
list only when someone iterates (``siplab/sip/header_block.py``); anything
unusual goes the careful way. These tests check from the outside that the two
agree, and that a parsed message whose headers are then changed reads the
changes.
"""

from __future__ import annotations

import pytest

from siplab.errors import SipParseError
from siplab.sip.headers import Headers
from siplab.sip.message import Request, parse_message
from tests.sip.corpus_loader import load_corpus

CORPUS = load_corpus()

# A folded line sends a whole message down the careful path.
FOLDED_EXTRA = b"X-Folded: one\r\n two\r\n"


def with_folded_line(data: bytes) -> bytes:
    """The same message with one more header, folded, placed after the first line."""
    first_end = data.index(b"\r\n") + 2
    return data[:first_end] + FOLDED_EXTRA + data[first_end:]


def fields(data: bytes) -> tuple[object, ...]:
    m = parse_message(data)
    return (m.call_id, m.cseq, m.from_tag, m.to_tag, m.branch, m.via_count, m.body,
            m.headers.get_all("Via"), m.headers.get_list("Record-Route"),
            m.headers.get("Content-Length"), m.headers.get_all("Contact"))


class TestSameAsTheCarefulPath:
    @pytest.mark.parametrize("name", sorted(CORPUS))
    def test_corpus_message_reads_the_same_with_a_folded_line_added(self, name: str) -> None:
        plain = CORPUS[name]
        assert fields(with_folded_line(plain)) == fields(plain)

    @pytest.mark.parametrize("name", sorted(CORPUS))
    def test_corpus_message_lines_are_the_careful_lines_minus_the_extra_one(
        self, name: str
    ) -> None:
        plain = list(parse_message(CORPUS[name]).headers)
        careful = list(parse_message(with_folded_line(CORPUS[name])).headers)
        assert careful[0] == ("X-Folded", "one two")
        assert careful[1:] == plain

    def test_blanks_around_a_value_are_not_part_of_it(self) -> None:
        m = parse_message(
            b"OPTIONS sip:b@example.com SIP/2.0\r\n"
            b"Via: \t SIP/2.0/UDP a.example.com;branch=z9hG4bK1 \t\r\n"
            b"Call-ID:   c1@a.example.com  \r\n"
            b"CSeq:\t7 OPTIONS\t\r\n"
            b"From:<sip:a@example.com>;tag=f1 \r\n"
            b"To: <sip:b@example.com>;tag=t1\t\r\n"
            b"Content-Length:  0 \r\n\r\n"
        )
        assert (m.call_id, m.cseq.number, m.from_tag, m.to_tag, m.branch, m.via_count) == (
            "c1@a.example.com", 7, "f1", "t1", "z9hG4bK1", 1)
        assert m.headers.get("Call-ID") == "c1@a.example.com"
        assert ("CSeq", "7 OPTIONS") in list(m.headers)
        assert b"\r\nCall-ID: c1@a.example.com\r\n" in m.to_bytes()

    def test_repeated_headers_keep_their_order(self) -> None:
        m = parse_message(
            b"SIP/2.0 200 OK\r\n"
            b"Via: SIP/2.0/UDP p1.example.com;branch=z9hG4bKp1\r\n"
            b"Record-Route: <sip:p1.example.com;lr>\r\n"
            b"v: SIP/2.0/UDP p2.example.com;branch=z9hG4bKp2, SIP/2.0/UDP a.example.com\r\n"
            b"Record-Route: <sip:p2.example.com;lr>\r\n"
            b"Call-ID: c1\r\nCSeq: 1 INVITE\r\n"
            b"From: <sip:a@example.com>;tag=f\r\nTo: <sip:b@example.com>;tag=t\r\n"
            b"l: 0\r\nContent-Length: 00\r\n\r\n"
        )
        assert m.branch == "z9hG4bKp1"
        assert m.via_count == 3
        assert [via.host for via in m.via] == ["p1.example.com", "p2.example.com", "a.example.com"]
        assert m.headers.get_list("Record-Route") == [
            "<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
        assert [str(a.uri) for a in m.record_route] == [
            "sip:p1.example.com;lr", "sip:p2.example.com;lr"]
        assert len(m.headers) == 10

    def test_repeated_content_length_that_disagrees_is_an_error(self) -> None:
        with pytest.raises(SipParseError, match="two different Content-Length"):
            parse_message(
                b"OPTIONS sip:b@example.com SIP/2.0\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1\r\n"
                b"Via: SIP/2.0/UDP b;branch=z9hG4bK2\r\nContent-Length: 0\r\nl: 1\r\n\r\nx"
            )

    def test_parsed_headers_equal_the_same_headers_built_by_hand(self) -> None:
        m = parse_message(
            b"OPTIONS sip:b@example.com SIP/2.0\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1\r\n"
            b"i: c1\r\nX-Custom:  kept as written \r\n\r\n"
        )
        assert m.headers == Headers([("Via", "SIP/2.0/UDP a;branch=z9hG4bK1"), ("i", "c1"),
                                     ("X-Custom", "kept as written")])
        assert "call-id" in m.headers
        assert "X-CUSTOM" in m.headers
        assert "To" not in m.headers


class TestChangesAfterParsing:
    def parsed(self) -> Request:
        m = parse_message(CORPUS["invite_with_sdp_and_record_route"])
        assert isinstance(m, Request)
        _ = (m.call_id, m.cseq, m.branch, m.via_count, m.from_tag, m.to_tag)  # read once
        return m

    def test_proxy_adding_a_via_changes_branch_and_count(self) -> None:
        m = self.parsed()
        count = m.via_count
        m.headers.prepend("Via", "SIP/2.0/UDP proxy.example.com;branch=z9hG4bKnew")
        assert m.branch == "z9hG4bKnew"
        assert m.via_count == count + 1

    def test_replaced_cseq_and_call_id_are_read_again(self) -> None:
        m = self.parsed()
        m.headers.set("CSeq", "99 INVITE")
        m.headers.set("i", "other-call")
        assert m.cseq.number == 99
        assert m.call_id == "other-call"
        assert m.headers.get_all("Call-ID") == ["other-call"]

    def test_removed_header_is_missing(self) -> None:
        m = self.parsed()
        m.headers.remove("To")
        with pytest.raises(SipParseError, match="missing To"):
            _ = m.to_tag

    def test_copy_reads_like_the_original(self) -> None:
        m = self.parsed()
        clone = m.copy()
        assert clone == m
        clone.headers.replace_first("From", "<sip:eve@example.com>;tag=eve")
        assert (clone.from_tag, m.from_tag) == ("eve", "9fxc7e2b")
