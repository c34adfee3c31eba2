"""What a UAS (and the server, for requests to itself) checks first: RFC 3261 §8.2.1-8.2.3.

The behaviour on the wire (501, 405, 420, 400) is tested end to end in
``test_useragent.py`` and ``test_server.py``; these are the functions both
cores share.
"""

from __future__ import annotations

from siplab.ids import IdSource
from siplab.sip.build import build_request
from siplab.sip.uas_checks import KNOWN_METHODS, bad_request_response, error_reason, refusal
from tests.helpers import crlf

MISSING_CALL_ID = crlf("""
    OPTIONS sip:biloxi.example.com SIP/2.0
    Via: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bKbroken1
    Max-Forwards: 70
    From: <sip:raw@biloxi.example.com>;tag=r1
    To: <sip:biloxi.example.com>
    CSeq: 1 OPTIONS
    Content-Length: 0

""")


def _request(method: str, *headers: tuple[str, str]):  # type: ignore[no-untyped-def]
    return build_request(method, "sip:bob@10.0.0.2", from_="<sip:a@10.0.0.1>",
                         to="<sip:bob@10.0.0.2>", via_host="10.0.0.1", ids=IdSource(1),
                         headers=headers)


class TestRefusal:
    """§8.2.1 (405, 501) and §8.2.2.3 (420), for a phone or the server alike."""

    def test_unknown_method_is_501_known_but_not_allowed_is_405_with_allow(self) -> None:
        assert refusal(_request("FROBNICATE"), ("OPTIONS",)) == (501, None, [])
        assert refusal(_request("INVITE"), ("OPTIONS", "REGISTER")) == \
            (405, None, [("Allow", "OPTIONS, REGISTER")])

    def test_unsupported_require_is_420_but_never_for_cancel(self) -> None:
        assert refusal(_request("OPTIONS", ("Require", "100rel")), ("OPTIONS",)) == \
            (420, None, [("Unsupported", "100rel")])
        assert refusal(_request("CANCEL", ("Require", "100rel")), ("CANCEL",)) is None

    def test_one_list_of_known_methods(self) -> None:
        assert {"INVITE", "REGISTER", "MESSAGE", "REFER", "PUBLISH"} <= KNOWN_METHODS


class TestBadRequestResponse:
    """The 400 for bytes that start like a request but cannot be read (§8.2, §16.3)."""

    def test_copies_the_lines_it_can_and_names_the_error(self) -> None:
        response = bad_request_response(MISSING_CALL_ID, "missing Call-ID header", to_tag="t")
        assert response is not None
        assert response.status == 400
        assert response.reason == "missing Call-ID header"
        assert [name for name, _ in response.headers] == [
            "Via", "From", "To", "CSeq", "Content-Length"]
        assert response.to_tag == "t"

    def test_nothing_for_a_response_garbage_or_an_ack(self) -> None:
        assert bad_request_response(b"SIP/2.0 200 OK\r\n\r\n", "x", to_tag="t") is None
        assert bad_request_response(b"\x00\x01\x02", "x", to_tag="t") is None
        assert bad_request_response(b"ACK sip:a@b SIP/2.0\r\n\r\n", "x", to_tag="t") is None

    def test_error_reason_is_one_printable_line_of_at_most_120_characters(self) -> None:
        assert error_reason("bad\r\nCSeq\x00") == "bad CSeq"
        assert len(error_reason("x" * 500)) == 120
        assert error_reason("") == "Bad Request"
