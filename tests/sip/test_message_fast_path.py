"""The parser's fast path reads a message exactly as the careful path does (RFC 3261 §7.3).

``parse_message`` reads plain header lines (``Name: value``, CRLF, no folding)
with a quick path that leaves values unstripped and builds the ``(name, value)``
list only when someone iterates (``siplab/sip/header_block.py``); anything
unusual goes the careful way. The usual start lines, and the usual spellings of
the six fields read from every message (``siplab/sip/message_fields.py``), have
quick paths too. These tests check from the outside that each quick path and
its careful counterpart agree, and that a parsed message whose headers are then
changed reads the changes.
"""

from __future__ import annotations

import pytest

from siplab.errors import SipParseError
from siplab.sip.headers import Headers, parse_cseq, tag_of, via_branch
from siplab.sip.message import Request, Response, _parse_start_line, parse_message
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


def start_line_outcome(read: object) -> tuple[object, ...]:
    """What a user sees of a start line: the message's first fields, or the error."""
    try:
        message = read() if callable(read) else read
    except SipParseError as exc:
        return ("error", str(exc))
    if isinstance(message, Request):
        return ("request", message.method, message.uri_text, message.version)
    assert isinstance(message, Response)
    return ("response", message.status, message.reason, message.version)


class TestStartLines:
    """The usual start lines are read at once; every line reads as the careful reader reads it."""

    @pytest.mark.parametrize(
        "line",
        [
            "INVITE sip:bob@biloxi.example.com SIP/2.0",
            "SIP/2.0 180 Ringing",
            "SIP/2.0 407 Proxy Authentication Required",
            "SIP/2.0 200",
            "SIP/2.0 200 ",
            "sip/2.0 200 OK",
            "SIP/2.1 200 OK",
            "SIP/2.0 099 Too Low",
            "SIP/2.0 700 Too High",
            "SIP/2.0 2000 OK",
            "INVITE sip:bob@biloxi.example.com sip/2.0",
            "INVITE  sip:bob@biloxi.example.com SIP/2.0",
            "INVITE sip:bob@biloxi.example.com SIP/2.0 extra",
            "INVITE sip:bob\tx SIP/2.0",
            "FOO-BAR sip:bob@biloxi.example.com SIP/2.0",
            "INVIT\u00c9 sip:bob@biloxi.example.com SIP/2.0",
            "INVITE",
        ],
    )
    def test_start_line_reads_as_the_careful_reader_reads_it(self, line: str) -> None:
        data = (line + "\r\nCSeq: 1 OPTIONS\r\n\r\n").encode()
        fast = start_line_outcome(lambda: parse_message(data))
        careful = start_line_outcome(lambda: _parse_start_line(line, Headers(), b""))
        assert fast == careful


class TestContentLength:
    """Content-Length read at once when it is the body's length, carefully otherwise (§18.3)."""

    @pytest.mark.parametrize(
        ("value", "body", "expected"),
        [
            (" 5", b"hello", b"hello"),
            ("5 \t", b"hello", b"hello"),
            ("05", b"hello", b"hello"),
            ("3", b"hello", b"hel"),
            ("0", b"", b""),
        ],
    )
    def test_body_is_cut_to_content_length(self, value: str, body: bytes, expected: bytes) -> None:
        data = f"OPTIONS sip:b@example.com SIP/2.0\r\nContent-Length:{value}\r\n\r\n".encode()
        assert parse_message(data + body).body == expected

    @pytest.mark.parametrize("value", ["6", "+5", "1_0", "\u0665", "-1", "", "5 5"])
    def test_content_length_longer_or_not_a_number_is_an_error(self, value: str) -> None:
        data = f"OPTIONS sip:b@example.com SIP/2.0\r\nContent-Length: {value}\r\n\r\nhello"
        with pytest.raises(SipParseError):
            parse_message(data.encode())


def plain_message(**values: str) -> bytes:
    """An OPTIONS whose headers are given by keyword (``call_id=...`` for Call-ID)."""
    headers = {"via": "SIP/2.0/UDP a.example.com;branch=z9hG4bK1",
               "from": "<sip:a@example.com>;tag=f1", "to": "<sip:b@example.com>",
               "call_id": "c1@a.example.com", "cseq": "1 OPTIONS"}
    headers.update(values)
    names = {"via": "Via", "from": "From", "to": "To", "call_id": "Call-ID", "cseq": "CSeq"}
    lines = "".join(f"{names[key]}: {value}\r\n" for key, value in headers.items())
    return f"OPTIONS sip:b@example.com SIP/2.0\r\n{lines}\r\n".encode()


class TestFieldsReadLikeTheHeaderReaders:
    """call_id, cseq, the tags, branch and via_count agree with the careful readers."""

    @pytest.mark.parametrize(
        "value",
        ["<sip:b@x>;tag=t1", "<sip:b@x>;tag=t1;x=y", "Bob <sip:b@x>", "sip:b@x;tag=t1",
         "<sip:b@x>;TAG=t1", "<sip:b@x>; tag = t1", "<sip:b@x>;tag=", "<sip:b@x;tag=inside>",
         '"A>;tag=no" <sip:b@x>;tag=t1', '<sip:b@x>;x="y";tag=t1', "<sip:b@x>;tag=t1 ",
         "<sip:b@x>;tag=a,b", "<sip:b@x>;x;tag=t1;tag=t2"],
    )
    def test_tags_read_as_tag_of_reads_them(self, value: str) -> None:
        m = parse_message(plain_message(to=value, **{"from": value}))
        assert m.to_tag == tag_of(value)
        assert m.from_tag == tag_of(value)
        careful = parse_message(with_folded_line(plain_message(to=value)))
        assert careful.to_tag == tag_of(value)

    @pytest.mark.parametrize(
        "value",
        ["SIP/2.0/UDP a;branch=z9hG4bK1", "SIP/2.0/UDP a;branch=z9hG4bK1;rport",
         "SIP/2.0/UDP a;branch=z9hG4bK1.2", "SIP/2.0/UDP a;rport;branch=z9hG4bKx;received=1.2.3.4",
         "SIP/2.0/UDP a ; branch = z9hG4bK1", "SIP/2.0/UDP a;BRANCH=z9hG4bK1", "SIP/2.0/UDP a",
         "SIP/2.0/UDP a;branch=", "SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b;branch=z9hG4bK2",
         'SIP/2.0/UDP a;x="q,;branch=no";branch=z9hG4bK1'],
    )
    def test_branch_reads_as_via_branch_reads_it(self, value: str) -> None:
        m = parse_message(plain_message(via=value))
        assert m.branch == via_branch(value)

    @pytest.mark.parametrize(
        "value",
        ["1 OPTIONS", "9   OPTIONS", "0001 OPTIONS", "1234567890 OPTIONS", "2147483647 OPTIONS",
         "7\tINFO", "7 FOO-BAR", "2147483648 OPTIONS", "1 OPTIONS x", "1 OPTI\u00d6NS", "1"],
    )
    def test_cseq_reads_as_parse_cseq_reads_it(self, value: str) -> None:
        m = parse_message(plain_message(cseq=value))
        try:
            expected: object = parse_cseq(value)
        except SipParseError as exc:
            expected = str(exc)
        try:
            got: object = m.cseq
        except SipParseError as exc:
            got = str(exc)
        assert got == expected

    def test_via_count_counts_lines_and_commas_and_skips_empty_ones(self) -> None:
        data = (b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP p1;branch=z9hG4bK1\r\n"
                b"Via: SIP/2.0/UDP p2;branch=z9hG4bK2 , SIP/2.0/UDP p3,\r\nVia: \r\n"
                b"From: <sip:a@x>;tag=f\r\nTo: <sip:b@x>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n\r\n")
        assert parse_message(data).via_count == 3
        assert parse_message(with_folded_line(data)).via_count == 3

    def test_fields_of_a_message_built_by_hand_are_read_too(self) -> None:
        m = Request("OPTIONS", "sip:b@example.com", [
            ("Via", "SIP/2.0/UDP a;branch=z9hG4bK1"), ("From", "<sip:a@x>;tag=f1"),
            ("To", "<sip:b@x>"), ("Call-ID", "c1"), ("CSeq", "3 OPTIONS")])
        assert (m.call_id, m.cseq.number, m.from_tag, m.to_tag, m.branch, m.via_count) == (
            "c1", 3, "f1", None, "z9hG4bK1", 1)

    def test_fields_of_a_folded_message_follow_changes(self) -> None:
        m = parse_message(with_folded_line(plain_message()))
        assert (m.cseq.number, m.branch) == (1, "z9hG4bK1")
        m.headers.set("CSeq", "5 OPTIONS")
        m.headers.prepend("Via", "SIP/2.0/UDP p;branch=z9hG4bKp")
        assert (m.cseq.number, m.branch, m.via_count) == (5, "z9hG4bKp", 2)
