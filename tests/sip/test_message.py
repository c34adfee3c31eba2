"""Reading and writing whole SIP messages (RFC 3261 §7, §18.3, §20, §25).

The corpus in ``tests/sip/corpus/`` is the backbone: every message there must
parse, write itself back byte for byte, and give a user agent the typed fields
it acts on. The rest checks the grammar's corners one by one (folding, compact
forms, start lines, Content-Length) and that every failure is a
:class:`SipParseError` that says where.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from siplab.errors import SipParseError
from siplab.sip.headers import Headers
from siplab.sip.message import (
    MAX_HEADER_LINES,
    MAX_MESSAGE_SIZE,
    Request,
    Response,
    parse_message,
)
from siplab.sip.uri import SipUri
from tests.helpers import crlf
from tests.sip.corpus_loader import CORPUS_DIR, load_corpus

CORPUS = load_corpus()

#: Corpus files written with folding or odd whitespace: they parse to the same
#: object after a round trip, but the bytes written back are the tidy form.
NOT_VERBATIM = {"invite_folded_and_odd_spacing"}

CALL = "2xTb9vxSit55XU7p8@atlanta.example.com"
REG = "1j9FpLxk3uxtm8tn@192.0.2.101"

# What a user agent reads from each corpus message:
# (method or status, Request-URI, Call-ID, CSeq, From tag, To tag, top branch,
#  Via count, first Contact, Content-Type, body length)
EXPECTED: dict[str, tuple[Any, ...]] = {
    "100_trying": (100, None, CALL, (101, "INVITE"), "9fxc7e2b", None,
                   "z9hG4bK83a0f2.1", 2, None, None, 0),
    "180_ringing": (180, None, CALL, (101, "INVITE"), "9fxc7e2b", "314159",
                    "z9hG4bK83a0f2.1", 2, "sip:bob@client.biloxi.example.com", None, 0),
    "200_ok_register": (200, None, REG, (2, "REGISTER"), "a73kszlfl", "37GkEhwl6",
                        "z9hG4bKnashd92", 1, "sip:alice@192.0.2.101:5060", None, 0),
    "200_ok_with_sdp": (200, None, CALL, (101, "INVITE"), "9fxc7e2b", "314159",
                        "z9hG4bK83a0f2.1", 2, "sip:bob@client.biloxi.example.com",
                        "application/sdp", 201),
    "302_moved_temporarily": (302, None, "3b8e0d6f1a2c@pc33.atlanta.example.com",
                              (1, "INVITE"), "1a7e3d05", "9d4c2e71", "z9hG4bK6b2c0e4", 1,
                              "sip:bob@192.0.2.201", None, 0),
    "401_www_authenticate": (401, None, REG, (1, "REGISTER"), "a73kszlfl", "1410948204",
                             "z9hG4bKnashd91", 1, None, None, 0),
    "407_proxy_authenticate": (407, None, "5d0f8a1c3e7b@pc33.atlanta.example.com",
                               (1, "INVITE"), "4d1f7a90", "b27e1a56", "z9hG4bK3f0a7c1", 1,
                               None, None, 0),
    "487_request_terminated": (487, None, CALL, (101, "INVITE"), "9fxc7e2b", "314159",
                               "z9hG4bK74bf9", 1, None, None, 0),
    "ack": ("ACK", "sip:bob@client.biloxi.example.com", CALL, (101, "ACK"), "9fxc7e2b",
            "314159", "z9hG4bK74bfa", 1, None, None, 0),
    "bye": ("BYE", "sip:alice@pc33.atlanta.example.com", CALL, (231, "BYE"), "314159",
            "9fxc7e2b", "z9hG4bKnashds7", 1, None, None, 0),
    "cancel": ("CANCEL", "sip:bob@client.biloxi.example.com", CALL, (101, "CANCEL"),
               "9fxc7e2b", None, "z9hG4bK74bf9", 1, None, None, 0),
    "info_dtmf": ("INFO", "sip:bob@client.biloxi.example.com", CALL, (102, "INFO"),
                  "9fxc7e2b", "314159", "z9hG4bK5a0c8f3", 1,
                  "sip:alice@pc33.atlanta.example.com", "application/dtmf-relay", 24),
    "invite_compact_forms": ("INVITE", "sip:bob@biloxi.example.com",
                             "7f3b9d20c1a84e56@pc33.atlanta.example.com", (8, "INVITE"),
                             "5c2a91e3", None, "z9hG4bK74gh5", 1,
                             "sip:alice@pc33.atlanta.example.com:5060", "application/sdp", 240),
    "invite_folded_and_odd_spacing": ("INVITE", "sip:bob@biloxi.example.com",
                                      "0ha0isndaksdj@192.0.2.101", (9, "INVITE"), "8321234356",
                                      None, "z9hG4bKkdjuw2", 1,
                                      "sip:alice@pc33.atlanta.example.com", None, 0),
    "invite_from_baresip": ("INVITE", "sip:bob@192.0.2.201", "9a3bf1e07c2d5864",
                            (21301, "INVITE"), "48a1f0c7e9b23d65", None,
                            "z9hG4bK5d8a0c2f1b3e94a7", 1,
                            "sip:carol-0x55d1e8a3c2b0@192.0.2.55:5060", "application/sdp", 354),
    "invite_from_sipjs_webrtc": ("INVITE", "sip:bob@atlanta.example.com",
                                 "hf0ep1n7b3q4rj2c9mds", (2, "INVITE"), "ul6v1ce2tk", None,
                                 "z9hG4bK3021894", 1,
                                 "sip:k2l0p3m9@r2k9d0vn3a7e.invalid;transport=ws;ob",
                                 "application/sdp", 1474),
    "invite_ipv6": ("INVITE", "sip:bob@[2001:db8::20]:5070", "6c1f0e92b7a3@[2001:db8::10]",
                    (1, "INVITE"), "3e9b1c70", None, "z9hG4bKd1e6f0a", 1,
                    "sip:alice@[2001:db8::10]:5060;transport=udp", "application/sdp", 138),
    "invite_with_sdp_and_record_route": ("INVITE", "sip:bob@client.biloxi.example.com", CALL,
                                         (101, "INVITE"), "9fxc7e2b", None, "z9hG4bK83a0f2.1",
                                         2, "sip:alice@pc33.atlanta.example.com",
                                         "application/sdp", 240),
    "message_rfc3428": ("MESSAGE", "sip:bob@biloxi.example.com", "c6f1e8b2d4@192.0.2.101",
                        (1, "MESSAGE"), "7f1c30a2", None, "z9hG4bK0c3e1a5f", 1, None,
                        "text/plain", 47),
    "notify_with_event": ("NOTIFY", "sip:alice@192.0.2.101:5060",
                          "2f7c1a9e5d3b@voicemail.atlanta.example.com", (4, "NOTIFY"),
                          "9c1d3e7f", "6b2a8e40", "z9hG4bK4e2a8b1", 1,
                          "sip:voicemail.atlanta.example.com",
                          "application/simple-message-summary", 97),
    "options": ("OPTIONS", "sip:biloxi.example.com", "4e9c1b7d20a5f3@pc33.atlanta.example.com",
                (4711, "OPTIONS"), "5f0d2c9b", None, "z9hG4bKq7d8s9a1", 1,
                "sip:alice@pc33.atlanta.example.com", None, 0),
    "refer": ("REFER", "sip:bob@client.biloxi.example.com", CALL, (103, "REFER"), "9fxc7e2b",
              "314159", "z9hG4bK9e4d2c1", 1, "sip:alice@pc33.atlanta.example.com", None, 0),
    "register_from_jssip_ws": ("REGISTER", "sip:atlanta.example.com", "4qqp2a8spo7hb1nk35ur3k",
                               (1, "REGISTER"), "v1o9s5c3mf", None, "z9hG4bK9583071", 1,
                               "sip:q8d3h2vk@5c1kj0b7hq2f.invalid;transport=ws", None, 0),
    "register_sipp_style": ("REGISTER", "sip:127.0.0.1:5060", "1-4711@127.0.0.1",
                            (1, "REGISTER"), "4711SIPpTag001", None, "z9hG4bK-4711-1-0", 1,
                            "sip:sipp@127.0.0.1:5061", None, 0),
    "register_wildcard_unregister": ("REGISTER", "sip:biloxi.example.com",
                                     "70b5c2d81e4f@client.biloxi.example.com",
                                     (1826, "REGISTER"), "a9c0e12f", None, "z9hG4bK7a1d3c9", 1,
                                     "*", None, 0),
    "register_with_authorization": ("REGISTER", "sip:atlanta.example.com", REG,
                                    (2, "REGISTER"), "a73kszlfl", None, "z9hG4bKnashd92", 1,
                                    "sip:alice@192.0.2.101:5060", None, 0),
    "response_multi_via_one_line": (200, None, "61c0f2e8a4b9@pc33.atlanta.example.com",
                                    (4712, "OPTIONS"), "5f0d2c9b", "2b7f61", "z9hG4bK1c5e.2", 3,
                                    None, None, 0),
    "subscribe": ("SUBSCRIBE", "sip:bob@biloxi.example.com",
                  "8d1c4b7a2e9f@pc33.atlanta.example.com", (17, "SUBSCRIBE"), "0f6e3a2c", None,
                  "z9hG4bK0b1f7e", 1, "sip:alice@pc33.atlanta.example.com;transport=tcp", None, 0),
}


def options(*extra: str, body: str = "") -> bytes:
    """A small valid OPTIONS with ``extra`` header lines, as wire bytes."""
    lines = [
        "OPTIONS sip:bob@biloxi.example.com SIP/2.0",
        "Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK1",
        "Max-Forwards: 70",
        "From: <sip:alice@atlanta.example.com>;tag=1",
        "To: <sip:bob@biloxi.example.com>",
        "Call-ID: c1@atlanta.example.com",
        "CSeq: 1 OPTIONS",
        *extra,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode("utf-8")


def parse_request(data: bytes) -> Request:
    message = parse_message(data)
    assert isinstance(message, Request)
    return message


def parse_response(data: bytes) -> Response:
    message = parse_message(data)
    assert isinstance(message, Response)
    return message


# -- the corpus ---------------------------------------------------------------------


class TestCorpus:
    """Real-world messages (see tests/sip/corpus_loader.py) parse and write back."""

    def test_corpus_has_every_file_described_here(self) -> None:
        assert set(CORPUS) == set(EXPECTED)
        assert len(CORPUS) >= 25

    @pytest.mark.parametrize("path", sorted(CORPUS_DIR.glob("*.txt")), ids=lambda p: p.stem)
    def test_corpus_file_is_lf_only_text(self, path: Any) -> None:
        raw = path.read_bytes()
        assert b"\r" not in raw
        raw.decode("utf-8")

    @pytest.mark.parametrize("name", sorted(CORPUS))
    def test_corpus_content_length_equals_crlf_body_length(self, name: str) -> None:
        # Read without siplab: the number written in the file is the wire length.
        data = CORPUS[name]
        head, sep, body = data.partition(b"\r\n\r\n")
        assert sep
        lengths = re.findall(rb"\r\n(?:Content-Length|l)[ \t]*:[ \t]*([0-9]+)", head, re.I)
        assert len(lengths) == 1
        assert int(lengths[0]) == len(body)
        assert b"\n" not in data.replace(b"\r\n", b"")

    @pytest.mark.parametrize("name", sorted(CORPUS))
    def test_corpus_message_round_trips(self, name: str) -> None:
        message = parse_message(CORPUS[name])
        assert parse_message(message.to_bytes()) == message
        if name not in NOT_VERBATIM:
            assert message.to_bytes() == CORPUS[name]

    @pytest.mark.parametrize("name", sorted(CORPUS))
    def test_corpus_message_gives_the_fields_a_user_agent_needs(self, name: str) -> None:
        (start, ruri, call_id, cseq, from_tag, to_tag, branch, via_count, contact,
         content_type, body_length) = EXPECTED[name]
        message = parse_message(CORPUS[name])
        if isinstance(start, int):
            assert isinstance(message, Response)
            assert message.status == start
            assert message.label.startswith(str(start))
        else:
            assert isinstance(message, Request)
            assert message.method == start
            assert message.uri_text == ruri
            assert str(message.uri) == ruri
        assert message.call_id == call_id
        assert tuple(message.cseq) == cseq
        assert message.from_tag == from_tag
        assert message.from_.tag == from_tag
        assert message.to_tag == to_tag
        assert message.to.tag == to_tag
        assert message.branch == branch
        assert message.top_via.branch == branch
        assert message.via[0].branch == branch
        assert message.via_count == via_count == len(message.via)
        contacts = message.contact
        assert (str(contacts[0]) if contacts and contacts[0].is_wildcard
                else str(contacts[0].uri) if contacts else None) == contact
        assert message.content_type == content_type
        assert message.content_length == len(message.body) == body_length
        message.validate()
        assert message.missing_headers() == []

    def test_invite_through_a_proxy_has_both_vias_and_record_route(self) -> None:
        invite = parse_request(CORPUS["invite_with_sdp_and_record_route"])
        hosts = [(via.transport, via.host, via.port) for via in invite.via]
        assert hosts == [("UDP", "ss1.atlanta.example.com", 5060),
                         ("UDP", "pc33.atlanta.example.com", 5060)]
        assert invite.via[1].received == "192.0.2.101"
        assert invite.max_forwards == 69
        (proxy,) = invite.record_route
        assert isinstance(proxy.uri, SipUri)
        assert proxy.uri.lr
        assert invite.body.startswith(b"v=0\r\no=alice ")
        assert invite.body.endswith(b"a=sendrecv\r\n")

    def test_message_body_length_counts_utf8_bytes(self) -> None:
        message = parse_request(CORPUS["message_rfc3428"])
        assert message.body.decode("utf-8") == "Lunch at the café at noon? Bring the résumé."
        assert message.from_.display_name is None  # addr-spec form, tag outside the URI
        assert str(message.from_.uri) == "sip:alice@atlanta.example.com"
        assert message.headers.get("Content-Type") == "text/plain;charset=UTF-8"

    def test_jssip_register_over_wss_keeps_quoted_instance_id(self) -> None:
        register = parse_request(CORPUS["register_from_jssip_ws"])
        assert register.top_via.transport == "WSS"
        assert register.top_via.host.endswith(".invalid")
        (contact,) = register.contact
        assert contact.param("+sip.instance") == '"<urn:uuid:6f3e8c2a-0d41-4c5b-9a6e-2b7f1d9c4e30>"'
        assert contact.param("+sip.ice") == ""
        assert contact.param("expires") == "600"
        assert register.header_list("Supported") == ["path", "gruu", "outbound"]

    def test_webrtc_invite_carries_ice_and_dtls_attributes(self) -> None:
        invite = parse_request(CORPUS["invite_from_sipjs_webrtc"])
        body = invite.body.decode("ascii")
        assert "m=audio 50423 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\r\n" in body
        assert "a=fingerprint:sha-256 " in body
        assert "a=setup:actpass\r\n" in body
        assert invite.from_.display_name == "Alice (browser)"

    def test_compact_forms_read_like_full_names(self) -> None:
        invite = parse_request(CORPUS["invite_compact_forms"])
        assert invite.headers.get("Subject") == "Lunch plans"
        assert invite.headers.get("Session-Expires") == "1800;refresher=uac"
        assert invite.header_list("Supported") == ["timer", "100rel"]
        assert invite.header_list("Allow-Events") == ["talk", "hold", "refer"]
        assert invite.from_.display_name == "Alice Liddell"
        assert [name for name, _ in invite.headers][:4] == ["v", "f", "t", "i"]

    def test_folded_and_oddly_spaced_message_reads_the_same_values(self) -> None:
        invite = parse_request(CORPUS["invite_folded_and_odd_spacing"])
        assert invite.headers.get("Subject") == (
            "a subject that goes on and on, folded with a tab and then with a space"
        )
        assert invite.from_.display_name == "Alice"
        assert invite.headers.get("To") == "Bob <sip:bob@biloxi.example.com>"
        assert invite.headers.get("Contact") == "<sip:alice@pc33.atlanta.example.com>"
        via = invite.top_via
        assert (via.protocol, via.transport, via.host, via.port) == (
            "SIP/2.0", "UDP", "pc33.atlanta.example.com", None)
        assert invite.max_forwards == 70

    def test_multi_via_line_splits_into_three_hops(self) -> None:
        response = parse_response(CORPUS["response_multi_via_one_line"])
        assert len(response.headers.get_all("Via")) == 1
        assert [v.host for v in response.via] == [
            "proxy2.biloxi.example.com", "ss1.atlanta.example.com", "pc33.atlanta.example.com"]
        assert response.via[2].transport == "TCP"

    def test_redirect_lists_contacts_with_q_values_and_a_tel_uri(self) -> None:
        response = parse_response(CORPUS["302_moved_temporarily"])
        contacts = response.contact
        assert [c.param("q") for c in contacts] == ["0.7", "0.3", "0.1"]
        assert contacts[1].display_name == "Bob (mobile, work)"
        assert str(contacts[2].uri) == "tel:+1-555-0100"

    def test_proxy_challenge_has_two_algorithms_in_order(self) -> None:
        response = parse_response(CORPUS["407_proxy_authenticate"])
        challenges = response.headers.get_all("Proxy-Authenticate")
        assert [c.rsplit("algorithm=", 1)[1] for c in challenges] == ["SHA-256", "MD5"]


# -- header lines: folding, compact forms, case, spacing -------------------------


class TestHeaderLines:
    """§7.3.1: header field format, folding; §7.3.3 compact forms."""

    def test_folded_value_continues_with_space_and_tab(self) -> None:
        data = options("Subject: one", " two", "\tthree", "  \t four")
        assert parse_message(data).headers.get("Subject") == "one two three four"

    def test_continuation_of_only_blanks_adds_nothing(self) -> None:
        message = parse_message(options("Subject: one", "   ", "X-Next: 1"))
        assert message.headers.get("Subject") == "one"
        assert parse_message(message.to_bytes()) == message

    def test_folded_message_writes_back_unfolded(self) -> None:
        message = parse_message(options("Subject: one", " two"))
        assert b"Subject: one two\r\n" in message.to_bytes()
        assert parse_message(message.to_bytes()) == message

    def test_continuation_before_any_header_is_an_error(self) -> None:
        data = b"OPTIONS sip:b@example.com SIP/2.0\r\n folded\r\nCSeq: 1 OPTIONS\r\n\r\n"
        with pytest.raises(SipParseError) as info:
            parse_message(data)
        assert info.value.where == "line 2"

    @pytest.mark.parametrize(
        ("compact", "full"),
        [("i", "Call-ID"), ("m", "Contact"), ("e", "Content-Encoding"), ("l", "Content-Length"),
         ("f", "From"), ("t", "To"), ("v", "Via"), ("c", "Content-Type"), ("k", "Supported"),
         ("s", "Subject"), ("o", "Event"), ("u", "Allow-Events"), ("r", "Refer-To"),
         ("b", "Referred-By"), ("x", "Session-Expires")],
    )
    def test_compact_form_equals_full_name(self, compact: str, full: str) -> None:
        value = "0" if full == "Content-Length" else "some-value"

        def one_header(line: str) -> Request:
            return parse_request(f"OPTIONS sip:b@example.com SIP/2.0\r\n{line}\r\n\r\n".encode())

        short = one_header(f"{compact}: {value}")
        upper = one_header(f"{compact.upper()}: {value}")
        long = one_header(f"{full}: {value}")
        assert short.headers.get(full) == long.headers.get(compact) == value
        assert upper.headers.get(full.lower()) == value
        assert short.headers == long.headers  # equality folds compact forms too

    def test_header_names_are_case_insensitive(self) -> None:
        message = parse_message(options("cOnTeNt-TyPe: text/plain", "X-CUSTOM: 1"))
        assert message.content_type == "text/plain"
        assert message.headers.get("x-custom") == "1"
        assert ("cOnTeNt-TyPe", "text/plain") in message.headers.items()

    def test_odd_spacing_around_colon_slash_and_semicolon(self) -> None:
        data = crlf("""
            OPTIONS sip:bob@biloxi.example.com SIP/2.0
            Via :  SIP / 2.0 / UDP host ; branch = z9hG4bK1
            CSeq :	7    OPTIONS
            Content-Length : 0

        """)
        message = parse_message(data)
        via = message.top_via
        assert (via.protocol, via.transport, via.host, via.branch) == (
            "SIP/2.0", "UDP", "host", "z9hG4bK1")
        assert message.branch == "z9hG4bK1"
        assert tuple(message.cseq) == (7, "OPTIONS")
        assert message.content_length == 0

    def test_unknown_headers_are_kept_verbatim_and_in_order(self) -> None:
        extra = ["X-B: 2", "P-Weird-Thing: ;;a=\"b\";<c>", "X-A: 1", "X-B: 3"]
        message = parse_message(options(*extra))
        assert message.headers.items()[-4:] == [tuple(line.split(": ", 1)) for line in extra]
        assert message.headers.get_all("x-b") == ["2", "3"]
        assert message.to_bytes() == options(*extra)

    def test_empty_header_values_are_kept(self) -> None:
        message = parse_message(options("Subject:", "Organization:   ", "Supported: "))
        assert message.headers.get("Subject") == ""
        assert message.headers.get("Organization") == ""
        assert message.header_list("Supported") == []
        assert parse_message(message.to_bytes()) == message

    def test_header_with_a_hundred_comma_elements(self) -> None:
        value = ", ".join(f"tag{i}" for i in range(100))
        message = parse_message(options(f"Supported: {value}"))
        assert message.header_list("Supported") == [f"tag{i}" for i in range(100)]

    def test_empty_value_of_a_required_header_raises_parse_error(self) -> None:
        message = parse_message(options().replace(b"Call-ID: c1@atlanta.example.com",
                                                  b"Call-ID: "))
        assert message.headers.get("Call-ID") == ""
        with pytest.raises(SipParseError, match="empty Call-ID"):
            _ = message.call_id
        message = parse_message(crlf("""
            OPTIONS sip:b@example.com SIP/2.0
            Via:
            CSeq: 1 OPTIONS

        """))
        for name in ("top_via", "via"):
            with pytest.raises(SipParseError):
                getattr(message, name)
        assert message.via_count == 0
        assert message.branch is None

    def test_header_line_without_colon_is_an_error_naming_the_line(self) -> None:
        with pytest.raises(SipParseError) as info:
            parse_message(options("Just some text"))
        assert info.value.where == "line 8"

    def test_bad_header_name_is_an_error(self) -> None:
        with pytest.raises(SipParseError, match="bad header name"):
            parse_message(options("X(1): y"))


# -- the whole message: framing of a datagram, limits -------------------------------


class TestDatagram:
    """§7.5 (CRLF before the start line), §18.3 (Content-Length), §18.1.1 (size)."""

    def test_lf_only_message_is_accepted(self) -> None:
        data = options("Content-Length: 2", body="hi").replace(b"\r\n", b"\n")
        message = parse_message(data)
        assert message.body == b"hi"
        assert message.cseq.method == "OPTIONS"
        assert message.to_bytes() == options("Content-Length: 2", body="hi")

    def test_lf_only_message_may_carry_crlf_in_its_body(self) -> None:
        data = b"MESSAGE sip:b@example.com SIP/2.0\nContent-Length: 6\n\nab\r\n\r\n"
        assert parse_message(data).body == b"ab\r\n\r\n"

    def test_mixed_line_endings_are_an_error(self) -> None:
        data = options("Subject: x", "X-A: 1").replace(b"Subject: x\r\n", b"Subject: x\n")
        with pytest.raises(SipParseError, match="stray CR or LF"):
            parse_message(data)

    def test_bare_cr_inside_a_value_is_an_error(self) -> None:
        with pytest.raises(SipParseError):
            parse_message(options("Subject: a\rb"))

    def test_leading_crlfs_are_skipped(self) -> None:
        data = b"\r\n\r\n\r\n" + options("Content-Length: 0")
        assert parse_message(data) == parse_message(options("Content-Length: 0"))

    def test_only_crlfs_is_an_empty_message(self) -> None:
        for data in (b"", b"\r\n", b"\r\n\r\n\r\n"):
            with pytest.raises(SipParseError, match="empty message"):
                parse_message(data)

    def test_body_shorter_than_content_length_is_an_error(self) -> None:
        with pytest.raises(SipParseError) as info:
            parse_message(options("Content-Length: 10", body="short"))
        assert info.value.where == "body"

    def test_bytes_after_content_length_are_dropped(self) -> None:
        message = parse_message(options("Content-Length: 5", body="hello and more"))
        assert message.body == b"hello"
        assert parse_message(message.to_bytes()) == message

    def test_datagram_without_content_length_takes_the_rest_as_body(self) -> None:
        message = parse_message(options(body="v=0\r\n"))
        assert message.body == b"v=0\r\n"
        assert message.content_length is None

    def test_two_different_content_lengths_are_an_error(self) -> None:
        with pytest.raises(SipParseError, match="two different Content-Length"):
            parse_message(options("Content-Length: 2", "l: 3", body="abc"))

    def test_two_equal_content_lengths_are_fine(self) -> None:
        message = parse_message(options("Content-Length: 2", "l: 02", body="abc"))
        assert message.body == b"ab"

    @pytest.mark.parametrize("value", ["-1", "abc", "1 2", "٣", "1" * 5000, ""])
    def test_content_length_that_is_not_a_number_is_an_error(self, value: str) -> None:
        with pytest.raises(SipParseError, match="Content-Length"):
            parse_message(options(f"Content-Length: {value}"))

    def test_content_length_with_a_long_run_of_spaces_is_quick(self) -> None:
        # Regression: a lazy regex made this quadratic (seconds for 60 kB).
        data = options("l: 1" + " " * 60000 + "x")
        with pytest.raises(SipParseError):
            parse_message(data)

    def test_nul_byte_in_the_headers_is_an_error(self) -> None:
        with pytest.raises(SipParseError, match="NUL"):
            parse_message(options("Subject: a\x00b"))

    def test_nul_byte_in_the_body_is_fine(self) -> None:
        message = parse_message(options("Content-Length: 3", body="a\x00b"))
        assert message.body == b"a\x00b"

    def test_header_section_that_is_not_utf8_is_an_error(self) -> None:
        data = options("Subject: caf\xe9").replace("é".encode(), b"\xe9")
        with pytest.raises(SipParseError, match="not UTF-8") as info:
            parse_message(data)
        assert info.value.where is not None
        assert info.value.where.startswith("byte ")

    def test_body_that_is_not_utf8_is_fine(self) -> None:
        data = options("Content-Length: 2") + b"\xff\xfe"
        assert parse_message(data).body == b"\xff\xfe"

    def test_header_count_over_the_limit_is_an_error(self) -> None:
        base = 6  # header lines options() always writes
        fits = [f"X-H: {i}" for i in range(MAX_HEADER_LINES - base)]
        assert len(parse_message(options(*fits)).headers) == MAX_HEADER_LINES
        with pytest.raises(SipParseError, match="header lines"):
            parse_message(options(*fits, "X-H: one too many"))

    def test_message_over_64_kib_is_an_error(self) -> None:
        body = "x" * (MAX_MESSAGE_SIZE - len(options("Content-Length: 00000")))
        data = options(f"Content-Length: {len(body):05d}", body=body)
        assert len(data) == MAX_MESSAGE_SIZE
        assert len(parse_message(data).body) == len(body)
        with pytest.raises(SipParseError, match="limit"):
            parse_message(data + b"x")

    def test_no_empty_line_after_the_headers_is_an_error(self) -> None:
        with pytest.raises(SipParseError, match="no empty line"):
            parse_message(b"OPTIONS sip:b@example.com SIP/2.0\r\nCSeq: 1 OPTIONS\r\n")

    def test_bytearray_and_memoryview_are_accepted_str_is_not(self) -> None:
        data = options()
        assert parse_message(bytearray(data)) == parse_message(memoryview(data)) == \
            parse_message(data)
        with pytest.raises(TypeError):
            parse_message(data.decode())  # type: ignore[arg-type]


# -- start lines ---------------------------------------------------------------------


class TestStartLine:
    """§7.1 Request-Line and §7.2 Status-Line."""

    def test_two_kilobyte_request_uri_parses(self) -> None:
        user = "u" * 2048
        data = options().replace(b"sip:bob@biloxi", f"sip:{user}@biloxi".encode(), 1)
        request = parse_request(data)
        assert isinstance(request.uri, SipUri)
        assert request.uri.user == user
        assert request.to_bytes() == data

    def test_status_line_with_empty_reason_keeps_the_space(self) -> None:
        # Status-Line = SIP-Version SP Status-Code SP Reason-Phrase: the phrase
        # may be empty, the SP before it is required and written back.
        response = parse_response(b"SIP/2.0 200 \r\nCSeq: 1 OPTIONS\r\n\r\n")
        assert (response.status, response.reason) == (200, "")
        assert response.to_bytes().startswith(b"SIP/2.0 200 \r\n")
        assert response.label == "200"

    def test_status_line_without_the_second_space_is_tolerated(self) -> None:
        # Decided: "SIP/2.0 200" (no SP, no phrase) is read as an empty phrase,
        # because the phrase is for humans and nothing is lost; it is written
        # back in the grammar's form, with the SP.
        response = parse_response(b"SIP/2.0 200\r\nCSeq: 1 OPTIONS\r\n\r\n")
        assert (response.status, response.reason) == (200, "")
        assert parse_message(response.to_bytes()) == response

    def test_reason_phrase_keeps_spaces_and_utf8(self) -> None:
        response = parse_response("SIP/2.0 486 Occupé, rappelez  plus tard\r\n\r\n".encode())
        assert response.reason == "Occupé, rappelez  plus tard"
        assert response.label == "486 Occupé, rappelez  plus tard"

    def test_other_sip_version_parses_so_that_a_ua_can_answer_505(self) -> None:
        request = parse_request(options().replace(b"SIP/2.0\r\n", b"SIP/7.0\r\n", 1))
        assert request.version == "SIP/7.0"
        assert request.start_line == "OPTIONS sip:bob@biloxi.example.com SIP/7.0"
        response = parse_response(b"SIP/3.1 200 OK\r\n\r\n")
        assert response.version == "SIP/3.1"

    @pytest.mark.parametrize(
        "line",
        [
            "OPTIONS sip:bob@biloxi.example.com",  # no version
            "OPTIONS  sip:bob@biloxi.example.com SIP/2.0",  # two spaces
            "OPTIONS sip:bob@biloxi.example.com SIP/2.0 ",  # trailing space
            " OPTIONS sip:bob@biloxi.example.com SIP/2.0",  # leading space
            "OPTIONS sip:bob@biloxi.example.com HTTP/1.1",
            "OPTIONS sip:bob@biloxi.example.com SIP/2",
            "OPTIONS sip:bob@biloxi.example.com SIP/٢.0",  # non-ASCII digit
            "OPT(IONS sip:bob@biloxi.example.com SIP/2.0",
            "OPTIONS sip:bob\t@biloxi.example.com SIP/2.0",
            "SIP/2.0 20 OK",
            "SIP/2.0 2000 OK",
            "SIP/2.0 099 Too Low",
            "SIP/2.0 700 Too High",
            "SIP/2.0 2x0 OK",
            "SIP/2.0 ٢00 OK",
            "SIP/2.0  200 OK",
            "SIP/2.0",
            "SIP/two 200 OK",
            "GET / HTTP/1.1",
            "INVITE",
        ],
    )
    def test_malformed_start_line_names_the_line(self, line: str) -> None:
        data = (line + "\r\nCSeq: 1 OPTIONS\r\n\r\n").encode()
        with pytest.raises(SipParseError) as info:
            parse_message(data)
        assert info.value.where is not None
        assert info.value.where == repr(line[:80])

    def test_lower_case_version_is_accepted(self) -> None:
        assert parse_response(b"sip/2.0 180 Ringing\r\n\r\n").status == 180

    def test_request_uri_is_kept_verbatim_and_parsed_lazily(self) -> None:
        request = parse_request(options().replace(b"sip:bob@", b"sip:%62ob@", 1))
        assert request.uri_text == "sip:%62ob@biloxi.example.com"
        assert isinstance(request.uri, SipUri)
        assert request.uri.user == "%62ob"

    def test_unparsable_request_uri_raises_on_access(self) -> None:
        request = parse_request(options().replace(b"sip:bob@biloxi.example.com", b"sip:", 1))
        with pytest.raises(SipParseError):
            _ = request.uri
        with pytest.raises(SipParseError):
            request.validate()

    def test_unknown_scheme_request_uri(self) -> None:
        request = parse_request(options().replace(b"sip:bob@biloxi.example.com",
                                                  b"mailto:bob@biloxi.example.com", 1))
        assert str(request.uri) == "mailto:bob@biloxi.example.com"


# -- typed accessors and validation --------------------------------------------------


class TestAccessors:
    """Malformed values surface as SipParseError when read, never another exception."""

    @pytest.mark.parametrize(
        "value",
        ["", "1", "INVITE", "one INVITE", "-1 INVITE", "1 INV ITE", "2147483648 INVITE",
         "1" * 5000 + " INVITE", "1 INVITE extra", "1 <INVITE>", "\u0661 INVITE"],
    )
    def test_bad_cseq_raises_parse_error(self, value: str) -> None:
        message = parse_message(options().replace(b"CSeq: 1 OPTIONS", f"CSeq: {value}".encode()))
        with pytest.raises(SipParseError):
            _ = message.cseq
        with pytest.raises(SipParseError):
            message.validate()

    def test_cseq_accepts_tabs_and_spaces_as_separator(self) -> None:
        for value in ("5\tINFO", "5 \t INFO", "  5  INFO  ", "2147483647 INFO"):
            message = parse_message(options().replace(b"CSeq: 1 OPTIONS",
                                                      f"CSeq: {value}".encode()))
            assert message.cseq.method == "INFO"

    @pytest.mark.parametrize(
        "value",
        ["", "SIP/2.0/UDP", "SIP/2.0 host", "SIP/2.0/UDP host:port", "SIP/2.0/UDP [::1",
         "SIP/2.0/UDP user@host", "SIP/2.0/UDP host?x=1", "SIP/2.0/UDP host;branch=\"x",
         "SIP/2.0/UDP host;=1", "garbage", "SIP/2.0/UDP host:99999"],
    )
    def test_bad_via_raises_parse_error(self, value: str) -> None:
        data = options().replace(b"Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK1",
                                 f"Via: {value}".encode())
        message = parse_message(data)
        for name in ("via", "top_via"):
            with pytest.raises(SipParseError):
                getattr(message, name)
        with pytest.raises(SipParseError):
            message.validate()

    @pytest.mark.parametrize(
        "value",
        ["", "<sip:alice@atlanta.example.com", "\"Alice <sip:a@b>", "Alice Smith (x) <sip:a@b>",
         "<sip:a@b> tag=1", "<http//x>", "sip:a b@c", "<sip:alice@>;tag=1", "<>"],
    )
    def test_bad_from_raises_parse_error(self, value: str) -> None:
        data = options().replace(b"From: <sip:alice@atlanta.example.com>;tag=1",
                                 f"From: {value}".encode())
        message = parse_message(data)
        with pytest.raises(SipParseError):
            _ = message.from_
        with pytest.raises(SipParseError):
            message.validate()

    @pytest.mark.parametrize(
        ("header", "accessor"),
        [("Call-ID", "call_id"), ("CSeq", "cseq"), ("From", "from_"), ("To", "to"),
         ("From", "from_tag"), ("To", "to_tag"), ("Via", "via"), ("Via", "top_via"),
         ("Via", "branch")],
    )
    def test_missing_header_raises_parse_error(self, header: str, accessor: str) -> None:
        message = parse_message(options())
        message.headers.remove(header)
        with pytest.raises(SipParseError, match=f"missing {header}"):
            getattr(message, accessor)

    @pytest.mark.parametrize("name", ["Max-Forwards", "Expires", "Content-Length"])
    @pytest.mark.parametrize("value", ["-1", "1.5", "seventy", "\u0667\u0660", "9" * 5000])
    def test_bad_number_header_raises_parse_error(self, name: str, value: str) -> None:
        message = parse_message(options())
        message.headers.set(name, value)
        with pytest.raises(SipParseError, match=name):
            getattr(message, name.lower().replace("-", "_"))

    def test_missing_headers_lists_what_section_8_1_1_requires(self) -> None:
        request = Request("OPTIONS", "sip:bob@biloxi.example.com", [("CSeq", "1 OPTIONS")])
        assert request.missing_headers() == ["Via", "From", "To", "Call-ID", "Max-Forwards"]
        response = Response(200, headers=[("Via", "SIP/2.0/UDP h;branch=z9hG4bK1")])
        assert response.missing_headers() == ["From", "To", "Call-ID", "CSeq"]
        with pytest.raises(SipParseError, match="missing From, To, Call-ID, CSeq headers"):
            response.validate()

    def test_validate_accepts_a_complete_request(self) -> None:
        parse_message(options()).validate()

    def test_validate_refuses_cseq_method_that_differs(self) -> None:
        message = parse_message(options().replace(b"CSeq: 1 OPTIONS", b"CSeq: 1 INVITE"))
        with pytest.raises(SipParseError, match="CSeq method") as info:
            message.validate()
        assert info.value.where == "header 'CSeq'"

    def test_validate_refuses_ack_whose_cseq_says_invite(self) -> None:
        # §17.1.1.3 and §13.2.2.4: an ACK's CSeq method is ACK.
        data = options().replace(b"OPTIONS sip:", b"ACK sip:").replace(
            b"CSeq: 1 OPTIONS", b"CSeq: 1 INVITE")
        with pytest.raises(SipParseError, match="CSeq method"):
            parse_message(data).validate()

    def test_validate_refuses_a_bad_max_forwards(self) -> None:
        message = parse_message(options().replace(b"Max-Forwards: 70", b"Max-Forwards: x"))
        with pytest.raises(SipParseError, match="Max-Forwards"):
            message.validate()

    def test_content_type_drops_parameters_and_case(self) -> None:
        message = parse_message(options("Content-Type: Application/SDP ; charset=utf-8"))
        assert message.content_type == "application/sdp"


# -- building and changing messages -------------------------------------------------


class TestMessageObjects:
    """Constructing, copying, comparing and writing messages."""

    def test_request_written_by_hand_round_trips(self) -> None:
        request = Request("MESSAGE", "sip:bob@biloxi.example.com",
                          [("Via", "SIP/2.0/TCP h;branch=z9hG4bK9"), ("Subject", "hi")])
        request.set_body("¡hola!".encode(), "text/plain")
        assert request.content_length == len("¡hola!".encode())
        assert parse_message(request.to_bytes()) == request
        request.set_body(b"")
        assert request.content_type is None
        assert request.content_length == 0

    def test_header_values_are_stored_as_they_read_back(self) -> None:
        request = Request("OPTIONS", "sip:b@example.com", [("Subject", "  padded\t")])
        assert request.headers.get("Subject") == "padded"
        assert parse_message(request.to_bytes()) == request

    @pytest.mark.parametrize("value", ["a\r\nVia: evil", "a\nb", "a\rb", "a\x00b"])
    def test_header_injection_is_refused(self, value: str) -> None:
        with pytest.raises(ValueError, match="CR, LF or NUL"):
            Request("OPTIONS", "sip:b@example.com", [("Subject", value)])
        request = Request("OPTIONS", "sip:b@example.com")
        with pytest.raises(ValueError, match="CR, LF or NUL"):
            request.headers.add("Subject", value)

    @pytest.mark.parametrize("name", ["", "Bad Name", "X:Y", "Ü"])
    def test_bad_header_name_is_refused(self, name: str) -> None:
        with pytest.raises(ValueError, match="bad header name"):
            Headers([(name, "x")])

    @pytest.mark.parametrize("uri", ["", "sip:a b", "sip:a\tb", "sip:a\r\n"])
    def test_bad_request_uri_is_refused(self, uri: str) -> None:
        with pytest.raises(ValueError, match="Request-URI"):
            Request("OPTIONS", uri)

    @pytest.mark.parametrize("method", ["", "IN VITE", "INVITE\r\n", "INV;ITE"])
    def test_bad_method_is_refused(self, method: str) -> None:
        with pytest.raises(ValueError, match="bad method"):
            Request(method, "sip:b@example.com")

    @pytest.mark.parametrize(("status", "reason"), [(99, "x"), (700, "x"), (200, "a\r\nb"),
                                                    (200, "a\x00b")])
    def test_bad_response_is_refused(self, status: int, reason: str) -> None:
        with pytest.raises(ValueError, match=r"status must be|reason phrase"):
            Response(status, reason)

    def test_response_reason_defaults_to_the_rfc_phrase(self) -> None:
        assert Response(486).reason == "Busy Here"
        assert Response(180).label == "180 Ringing"
        assert Response(180).is_provisional
        assert not Response(180).is_final
        assert Response(603).is_final

    def test_copy_is_independent_and_equal(self) -> None:
        original = parse_request(CORPUS["invite_with_sdp_and_record_route"])
        clone = original.copy()
        assert clone == original
        assert clone is not original
        clone.headers.set("Max-Forwards", "68")
        assert clone != original
        assert original.max_forwards == 69
        response = parse_response(CORPUS["180_ringing"])
        assert response.copy() == response

    def test_request_and_response_never_compare_equal(self) -> None:
        assert parse_message(CORPUS["options"]) != parse_message(CORPUS["200_ok_register"])
        assert parse_message(CORPUS["options"]) != "OPTIONS"

    def test_str_is_the_wire_text(self) -> None:
        message = parse_message(CORPUS["bye"])
        assert str(message) == CORPUS["bye"].decode()
        assert bytes(message) == CORPUS["bye"]
