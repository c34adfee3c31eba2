"""The quick paths every request takes agree with the careful ones (RFC 3261 §8.1.1, §8.2.6).

A server parses the top Via and the From of every request, validates the
request, marks its top Via (RFC 3581) and builds a response that copies the
request's headers. Each of those steps has a quick path for the usual shape
(``siplab/sip/headers.py``: ``parse_via`` and ``_parse_address``;
``siplab/sip/message.py``: ``validate``; ``siplab/sip/build.py``;
``Headers.replace_first``), and leaves anything else to the careful code.
These tests check from the outside that both give the same values and the
same errors, on odd input and on every message of the corpus.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from siplab.errors import SipParseError
from siplab.sip.build import build_response, mark_received
from siplab.sip.grammar import split_commas
from siplab.sip.headers import (
    Headers,
    _parse_address,
    _parse_address_carefully,
    _parse_via_carefully,
    check_address,
    parse_via,
)
from siplab.sip.message import Message, Request, Response, parse_message
from tests.sip.corpus_loader import load_corpus
from tests.sip.test_message_fast_path import with_folded_line

CORPUS = load_corpus()
REQUESTS = sorted(name for name, data in CORPUS.items() if not data.startswith(b"SIP/"))


def outcome(read: Callable[[str], object], text: str) -> object:
    """What ``read(text)`` gives: its value, or the text of its SipParseError."""
    try:
        return read(text)
    except SipParseError as error:
        return ("error", str(error))


VIAS = [
    "SIP/2.0/UDP 127.0.0.1:15098;branch=z9hG4bK-1-1",
    "SIP/2.0/UDP 127.0.0.1:15098;branch=z9hG4bK-1-1;rport",
    "SIP/2.0/UDP 127.0.0.1:15098;rport=5060;received=192.0.2.1;branch=z9hG4bK1",
    "SIP/2.0/udp pc33.atlanta.example.com;branch=z9hG4bK776asdhds",
    "SIP/2.0/TCP [2001:db8::1]:5061;branch=z9hG4bK1;received=[2001:db8::2]",
    "SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bKnashds7",
    "SIP/2.0/UDP a.example.com;branch=",
    "SIP/2.0/UDP a.example.com;branch=a=b;ttl=16;maddr=224.2.0.1",
    "SIP/2.0/UDP a.example.com;BRANCH=z9hG4bK1;;x",
    "SIP/2.0/UDP a.example.com",
    "SIP/2.0/UDP a.example.com:65535",
    "SIP/2.0/UDP a.example.com:65536;branch=z9hG4bK1",
    "SIP/2.0/UDP a.example.com:0x10",
    "SIP/2.0/UDP a..example.com;branch=z9hG4bK1",
    "SIP/2.0/UDP a.example.com;branch=z9hG4bK1 ",
    " SIP/2.0/UDP a.example.com;branch=z9hG4bK1",
    "SIP/2.0/UDP  a.example.com;branch=z9hG4bK1",
    "SIP / 2.0 / UDP a.example.com : 5060 ; branch = z9hG4bK1",
    "sip/2.0/UDP a.example.com;branch=z9hG4bK1",
    "SIP/3.0/UDP a.example.com;branch=z9hG4bK1",
    "SIP/2.0/UDP a@example.com;branch=z9hG4bK1",
    'SIP/2.0/UDP a.example.com;x="q;r";branch=z9hG4bK1',
    "SIP/2.0/UDP a.example.com;b\u00e4d=1",
    "SIP/2.0/UDP a.example.com;branch=z9hG4bK1\u00a0",
    "SIP/2.0/UDP a.example.com;=1",
    "SIP/2.0/UDP ;branch=z9hG4bK1",
    "SIP/2.0/UDP",
    "",
]

ADDRESSES = [
    "<sip:alice@127.0.0.1:15099>;tag=4242SIPpTag1",
    "<sip:alice@127.0.0.1:15099>",
    "<sip:alice@127.0.0.1:15098;transport=UDP>;expires=600;q=0.5",
    '"Alice Smith" <sip:alice@atlanta.example.com>;tag=1928301774',
    '"" <sip:alice@atlanta.example.com>',
    '"A <b> ;c" <sip:alice@atlanta.example.com>;tag=1',
    '"Esc \\"aped\\"" <sip:alice@atlanta.example.com>',
    "Alice <sip:alice@atlanta.example.com>;tag=1",
    "Alice  Smith\t<sip:alice@atlanta.example.com>",
    "Alice, Smith <sip:alice@atlanta.example.com>",
    "<sip:alice@atlanta.example.com>;tag=",
    "<sip:alice@atlanta.example.com>;lr;tag=a=b",
    "<sip:alice@atlanta.example.com>;x=\"q\";tag=1",
    "<sip:alice@atlanta.example.com> ;tag=1",
    "<sip:alice@atlanta.example.com>;tag=1 ",
    " <sip:alice@atlanta.example.com>",
    "< sip:alice@atlanta.example.com >",
    "<sip:alice@[2001:db8::1]:5060;transport=tcp>",
    "<sip:alice@atlanta.example.com:99999>;tag=1",
    "<sip:alice@bad_host!>;tag=1",
    "<sips:bob@biloxi.example.com?subject=x&priority=urgent>",
    "<tel:+1-212-555-0101>;tag=1",
    "<urn:service:sos>",
    "<mailto:alice@example.com>",
    "<sip:alice@atlanta.example.com>;b\u00e4d=1",
    "<sip:alice@atlanta.example.com>;tag=\u00e4",
    "<sip:alice@atlanta.example.com>;;tag=1",
    "<sip:alice@atlanta.example.com",
    "<>",
    "*",
    "sip:alice@atlanta.example.com;tag=1",
    "",
]


class TestViaAndAddressReadLikeTheCarefulReaders:
    @pytest.mark.parametrize("text", VIAS)
    def test_via_reads_as_the_careful_reader_reads_it(self, text: str) -> None:
        assert outcome(parse_via, text) == outcome(_parse_via_carefully, text)

    @pytest.mark.parametrize("text", ADDRESSES)
    def test_address_reads_as_the_careful_reader_reads_it(self, text: str) -> None:
        assert outcome(_parse_address, text) == outcome(_parse_address_carefully, text)

    @pytest.mark.parametrize("text", ADDRESSES)
    def test_check_address_raises_what_parse_address_raises(self, text: str) -> None:
        expected = outcome(_parse_address_carefully, text)
        checked = outcome(check_address, text)
        assert checked == (expected if isinstance(expected, tuple) else None)
        assert outcome(check_address, text) == checked  # when remembered too

    @pytest.mark.parametrize("name", sorted(CORPUS))
    def test_every_via_and_address_of_the_corpus_reads_the_same(self, name: str) -> None:
        headers = parse_message(CORPUS[name]).headers
        for value in headers.get_list("Via"):
            assert outcome(parse_via, value) == outcome(_parse_via_carefully, value)
        for header in ("From", "To", "Contact", "Route", "Record-Route"):
            for value in headers.get_all(header):
                for part in split_commas(value) if header != "From" else [value]:
                    assert outcome(_parse_address, part) == outcome(
                        _parse_address_carefully, part)

    def test_a_via_made_quickly_behaves_like_one_made_by_its_constructor(self) -> None:
        text = "SIP/2.0/UDP 127.0.0.1:15098;branch=z9hG4bK1;rport"
        quick, careful = parse_via(text), _parse_via_carefully(text)
        assert quick == careful
        assert hash(quick) == hash(careful)
        assert str(quick) == text
        assert (quick.branch, quick.wants_rport, quick.sent_by) == (
            "z9hG4bK1", True, "127.0.0.1:15098")
        with pytest.raises(AttributeError):
            quick.host = "elsewhere"  # type: ignore[misc]


def message_lacking(*names: str) -> bytes:
    lines = {
        "Via": "SIP/2.0/UDP a.example.com;branch=z9hG4bK1",
        "Max-Forwards": "70",
        "From": "<sip:a@example.com>;tag=f1",
        "To": "<sip:b@example.com>",
        "Call-ID": "c1@a.example.com",
        "CSeq": "1 OPTIONS",
    }
    text = "".join(f"{name}: {value}\r\n" for name, value in lines.items() if name not in names)
    return f"OPTIONS sip:b@example.com SIP/2.0\r\n{text}Content-Length: 0\r\n\r\n".encode()


def validation(message: Message) -> str | None:
    try:
        message.validate()
    except SipParseError as error:
        return str(error)
    return None


class TestValidateSaysWhatTheCarefulChecksSay:
    @pytest.mark.parametrize(
        "lacking",
        [(), ("Via",), ("Max-Forwards",), ("From", "To"), ("Call-ID", "CSeq", "Max-Forwards"),
         ("Via", "From", "To", "Call-ID", "CSeq", "Max-Forwards")],
    )
    def test_missing_headers_are_named_alike_however_the_message_was_read(
        self, lacking: tuple[str, ...]
    ) -> None:
        data = message_lacking(*lacking)
        quick = parse_message(data)
        careful = parse_message(with_folded_line(data))  # the careful header reader
        built = Request("OPTIONS", "sip:b@example.com", list(quick.headers))  # no index
        assert quick.missing_headers() == careful.missing_headers() == built.missing_headers()
        assert quick.missing_headers() == [name for name in lacking if name != "Content-Length"]
        assert validation(quick) == validation(careful) == validation(built)

    @pytest.mark.parametrize(
        "via",
        ["SIP/2.0/UDP a.example.com;branch=z9hG4bK1, SIP/2.0/UDP b;branch=z9hG4bK0",
         ",", " , ", "SIP/2.0/UDP a.example.com:99999", "SIP/2.0/UDP a.example.com, junk"],
    )
    def test_every_via_element_is_checked(self, via: str) -> None:
        data = message_lacking("Via").replace(b"Max-Forwards", f"Via: {via}\r\nMax-Forwards"
                                              .encode(), 1)
        quick = parse_message(data)
        built = Request("OPTIONS", "sip:b@example.com", list(quick.headers))
        assert validation(quick) == validation(built)
        try:
            _ = built.via
            expected = None
        except SipParseError as error:
            expected = str(error)
        assert validation(quick) == expected

    @pytest.mark.parametrize("value", ADDRESSES)
    def test_from_is_checked_as_from_reads_it(self, value: str) -> None:
        data = message_lacking("From").replace(b"To:", f"From: {value}\r\nTo:".encode(), 1)
        message = parse_message(data)
        try:
            _ = message.from_
            expected = None
        except SipParseError as error:
            expected = str(error)
        assert validation(parse_message(data)) == expected  # the rest of it is valid

    def test_a_response_needs_no_max_forwards(self) -> None:
        response = parse_message(CORPUS["200_ok_register"])
        assert isinstance(response, Response)
        assert "Max-Forwards" not in response.headers
        assert validation(response) is None


def checked_copy(response: Response) -> Response:
    """The same response made by the public constructor, which checks every line."""
    return Response(response.status, response.reason, list(response.headers), response.body)


class TestBuildResponseChecksWhatItAdds:
    @pytest.mark.parametrize("name", REQUESTS)
    def test_response_equals_one_whose_every_line_was_checked(self, name: str) -> None:
        request = parse_message(CORPUS[name])
        assert isinstance(request, Request)
        for status in (100, 180, 200, 401):
            response = build_response(request, status, to_tag="t1",
                                      headers=[("Contact", " <sip:x@y> ")])
            assert response == checked_copy(response)
            assert parse_message(response.to_bytes()) == response
            folded = parse_message(with_folded_line(CORPUS[name]))
            assert isinstance(folded, Request)
            assert build_response(folded, status, to_tag="t1") == build_response(
                request, status, to_tag="t1")

    def test_response_reads_its_headers_like_a_parsed_one(self) -> None:
        request = parse_message(CORPUS["register_sipp_style"])
        assert isinstance(request, Request)
        response = build_response(request, 401, to_tag="t1",
                                  headers=[("WWW-Authenticate", 'Digest realm="x"')])
        again = parse_message(response.to_bytes())
        for name in ("Via", "From", "To", "Call-ID", "CSeq", "WWW-Authenticate",
                     "Content-Length"):
            assert response.headers.get_all(name) == again.headers.get_all(name)
        assert response.top_via == again.top_via == request.top_via
        assert (response.to_tag, response.cseq) == ("t1", request.cseq)

    @pytest.mark.parametrize("tag", ["t\r\nX-Evil: 1", "t\n", "t\x00"])
    def test_to_tag_with_cr_lf_or_nul_is_refused(self, tag: str) -> None:
        request = parse_message(CORPUS["register_sipp_style"])
        assert isinstance(request, Request)
        with pytest.raises(ValueError, match="header 'To' value contains CR, LF or NUL"):
            build_response(request, 401, to_tag=tag)

    def test_to_tag_with_blanks_after_it_is_stripped_as_before(self) -> None:
        request = parse_message(CORPUS["register_sipp_style"])
        assert isinstance(request, Request)
        response = build_response(request, 401, to_tag="t1 \t")
        assert response.headers.get("To", "").endswith(";tag=t1")
        assert response == checked_copy(response)

    @pytest.mark.parametrize(
        ("line", "error"),
        [(("X Bad", "1"), "bad header name"), (("X-Ok", "a\r\nb"), "contains CR, LF or NUL"),
         (("", "1"), "bad header name")],
    )
    def test_extra_lines_are_checked(self, line: tuple[str, str], error: str) -> None:
        request = parse_message(CORPUS["register_sipp_style"])
        assert isinstance(request, Request)
        with pytest.raises(ValueError, match=error):
            build_response(request, 200, headers=[line])
        with pytest.raises(ValueError, match="CR, LF or NUL"):
            build_response(request, 200, body=b"x", content_type="a/b\r\nX: y")


class TestMarkedViaKeepsTheParsedIndex:
    """mark_received replaces the top Via in place; every read agrees with a rebuilt copy."""

    DATA = (b"REGISTER sip:127.0.0.1 SIP/2.0\r\n"
            b"Via: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bK1;rport\r\n"
            b"v: SIP/2.0/UDP p.example.com;branch=z9hG4bK0\r\n"
            b"Max-Forwards: 70\r\nFrom: <sip:a@x>;tag=f\r\nTo: <sip:a@x>\r\n"
            b"Call-ID: c1\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n")

    def reads(self, message: Message) -> tuple[object, ...]:
        return (message.branch, message.via_count, message.top_via, message.via,
                message.headers.get_all("Via"), list(message.headers),
                "via" in message.headers, message.to_bytes())

    @pytest.mark.parametrize("careful", [False, True])
    @pytest.mark.parametrize("iterated", [False, True])
    def test_reads_after_marking_agree_with_a_rebuilt_copy(self, careful: bool,
                                                           iterated: bool) -> None:
        message = parse_message(with_folded_line(self.DATA) if careful else self.DATA)
        assert isinstance(message, Request)
        message.validate()
        if iterated:
            _ = list(message.headers)  # the (name, value) list, made before the change
        mark_received(message, "192.0.2.9", 6000)
        rebuilt = Request(message.method, message.uri_text, list(message.headers))
        assert self.reads(message) == self.reads(rebuilt)
        assert message.top_via.received == "192.0.2.9"
        assert message.top_via.rport == 6000
        assert message.headers.get_all("Via")[1] == "SIP/2.0/UDP p.example.com;branch=z9hG4bK0"
        assert parse_message(message.to_bytes()) == message

    def test_replace_first_of_a_header_that_is_not_there_adds_nothing(self) -> None:
        message = parse_message(self.DATA)
        assert not message.headers.replace_first("Route", "<sip:p>")
        assert "Route" not in message.headers
        headers = Headers([("Via", "a")])
        assert headers.replace_first("v", "b")
        assert headers.get_all("Via") == ["b"]
