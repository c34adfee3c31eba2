"""The torture messages through the parser (RFC 4475 §3.1.1, §3.1.2; RFC 3261 §7, §25).

Every ``valid_*`` message parses, passes ``validate()`` (the mandatory headers
of §8.1.1 are there and readable), has exactly the fields listed for it in
:data:`EXPECTED`, and writes back to bytes that parse to an equal message.
Every ``invalid_*`` message is refused with SipParseError by ``parse_message``
(when it cannot be cut out or read at all) or by ``validate()`` (when it reads
but breaks a rule), with a message naming the problem (:data:`REFUSED`).
A test checks that every file in ``messages/`` has its entry here.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from siplab.errors import SipParseError
from siplab.sip.message import Request, Response, parse_message
from tests.torture.corpus import describe, load, names

#: What the parser must read from each valid message: ``"accessor.attribute"`` (or
#: ``"header:Name"``, ``"list:Name"`` for the comma-split elements) -> value. URIs
#: and addresses compare by their text.
EXPECTED: dict[str, dict[str, Any]] = {
    "valid_odd_whitespace_and_case": {
        "method": "OPTIONS", "uri": "sip:192.0.2.1:5060",
        "call_id": "odd-whitespace-1@example.com",
        "cseq": (8, "OPTIONS"), "from_.display_name": "Odd Spacer", "from_tag": "f1",
        "to.uri": "sip:192.0.2.1:5060", "branch": "z9hG4bKodd1", "top_via.host": "192.0.2.2",
        "top_via.port": 5070, "top_via.transport": "UDP", "top_via.wants_rport": True,
        "max_forwards": 70, "content_length": 0,
        "header:Subject": "a subject that is folded over three lines",
    },
    "valid_register_odd_spacing": {
        "method": "REGISTER", "uri": "sip:192.0.2.1", "call_id": "register-odd-spacing@example.com",
        "cseq": (1, "REGISTER"), "from_tag": "reg1", "to.uri": "sip:alice@192.0.2.1",
        "contact.0.uri": "sip:alice@192.0.2.2:5070", "contact.0.params": (("expires", "600"),),
        "expires": 600, "branch": "z9hG4bKreg-odd", "max_forwards": 70,
    },
    "valid_compact_forms": {
        "method": "OPTIONS", "call_id": "compact-forms@example.com",
        "from_.display_name": "Compact",
        "from_tag": "c1", "branch": "z9hG4bKcompact", "contact.0.uri": "sip:compact@192.0.2.2:5070",
        "list:Supported": ["timer", "100rel"], "header:Subject": "compact subject",
        "content_type": "application/sdp", "content_length": 89, "body.startswith": b"v=0\r\n",
    },
    "valid_escaped_uris": {
        "method": "REGISTER", "uri.params": (("%74ransport", "udp"),), "to.uri.user": "%61lice",
        "to.uri.address_of_record": "sip:alice@192.0.2.1",
        "contact.0.uri.params": (("n%61me", "v%61lue%25%34%31"),),
        "contact.0.uri.headers": "subject=%48i", "contact.0.params": (("expires", "600"),),
    },
    "valid_unusual_method_characters": {
        "method": "!interesting-Method0123456789_*+`.%indeed'~",
        "cseq": (139122385, "!interesting-Method0123456789_*+`.%indeed'~"),
    },
    "valid_unknown_method": {"method": "NEWMETHOD", "cseq": (1, "NEWMETHOD")},
    "valid_unknown_request_uri_scheme": {
        "uri.scheme": "nobodyKnowsThisScheme", "uri.rest": "totallyopaquecontent",
        "to.uri": "nobodyKnowsThisScheme:totallyopaquecontent",
    },
    "valid_unknown_schemes_in_headers": {
        "from_.uri": "tel:+1-212-555-0101;phone-context=example.com", "from_.display_name": "Phone",
        "from_tag": "sch1", "contact.0.uri": "urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6",
        "contact.1.uri": "mailto:someone@example.com",
    },
    "valid_long_values": {
        "from_.display_name": "a" * 2000, "from_tag": "t" * 2000,
        "call_id": "c" * 2000 + "@example.com", "header:X-Long-Header": "h" * 2000,
        "via_count": 10, "branch": "z9hG4bKlong", "via.9.host": "192.0.2.18",
    },
    "valid_60kb_header": {"header:Subject": "x" * 60000, "call_id": "huge-header@example.com"},
    "valid_repeated_headers": {
        "via_count": 5, "via.2.transport": "TCP", "via.2.port": 5061, "via.4.host": "[2001:db8::5]",
        "list:Supported": [f"ext{i}" for i in range(1, 41)],
        "headers.get_all": ("X-Repeat", [f"value number {i}" for i in range(1, 41)]),
    },
    "valid_bare_lf_line_endings": {
        "method": "OPTIONS", "call_id": "bare-lf@example.com", "branch": "z9hG4bKbarelf",
    },
    "valid_leading_crlf_keepalives": {"method": "OPTIONS", "call_id": "leading-crlf@example.com"},
    "valid_extra_bytes_after_the_message": {
        "method": "OPTIONS", "body": b"", "call_id": "extra-bytes@example.com",
    },
    "valid_content_length_shorter_than_body": {"body": b"hello", "content_length": 5},
    "valid_no_content_length_over_udp": {
        "body": b"the whole rest\r\n", "content_length": None, "content_type": "text/plain",
    },
    "valid_quoted_display_names": {
        "from_.display_name": 'Alice "the" <sip:admin@example.com>, Esq.',
        "from_.uri": "sip:alice@example.com", "from_tag": "q1", "to.display_name": "Server",
        "to.uri": "sip:192.0.2.1:5060", "contact.0.display_name": "\\ back\\slash",
    },
    "valid_semicolon_in_user_part": {
        "from_.uri.user": "user;par=u%40example.net", "from_.uri.host": "example.com",
        "from_.uri.params": (),
    },
    "valid_unknown_transports": {
        "via_count": 5, "via.1.transport": "SCTP", "via.2.transport": "TLS-SCTP",
        "via.3.transport": "UNKNOWN", "via.4.params": (("branch", "z9hG4bKudp"),
                                                       ("maddr", "192.0.2.99"), ("ttl", "15")),
    },
    "valid_max_forwards_zero": {"max_forwards": 0},
    "valid_tel_and_ipv6_uris": {
        "from_.uri.number": "+358-555-1234567", "from_.uri.params": (("postd", "pp22"),),
        "contact.0.uri.host": "[2001:db8::10]", "contact.0.uri.port": 5070,
        "contact.0.uri.transport": "udp",
    },
    "valid_unusual_reason_phrase": {
        "status": 200, "reason": "= 2**3 * 5**2 но сто девяносто девять - простое",
        "from_tag": "11141343", "to_tag": "2229", "cseq": (35, "INVITE"),
    },
    "valid_empty_reason_phrase": {"status": 100, "reason": "", "to_tag": "902jndnke3"},
    "valid_call_id_with_every_word_character": {
        "call_id": "0ha0isnda977644900765@192.0.2.15-.!%*_+`'~()<>:\\\"/[]?{}",
    },
    "valid_lowercase_sip_version": {"version": "sip/2.0", "top_via.transport": "UDP"},
}

#: Invalid messages: which step refuses them, and words the error must contain.
REFUSED: dict[str, tuple[str, str]] = {
    "invalid_content_length_larger_than_body": ("parse", "Content-Length says 9999"),
    "invalid_content_length_negative": ("parse", "Content-Length is not a number"),
    "invalid_content_length_not_a_number": ("parse", "Content-Length is not a number"),
    "invalid_content_length_overlarge": ("parse", "Content-Length is not a number"),
    "invalid_content_length_twice": ("parse", "two different Content-Length values"),
    "invalid_missing_to": ("validate", "missing To header"),
    "invalid_missing_from": ("validate", "missing From header"),
    "invalid_missing_call_id": ("validate", "missing Call-ID header"),
    "invalid_missing_cseq": ("validate", "missing CSeq header"),
    "invalid_missing_via": ("validate", "missing Via header"),
    "invalid_missing_max_forwards": ("validate", "missing Max-Forwards header"),
    "invalid_nul_in_header": ("parse", "NUL byte"),
    "invalid_nul_in_request_uri": ("parse", "NUL byte"),
    "invalid_unterminated_quote_in_display_name": ("validate", "unterminated quoted display name"),
    "invalid_unterminated_quote_in_via": ("validate", "unterminated quoted string"),
    "invalid_request_uri_in_angle_brackets": ("validate", "not a URI"),
    "invalid_request_uri_with_embedded_space": ("parse", "request line must be"),
    "invalid_request_line_with_double_spaces": ("parse", "request line must be"),
    "invalid_request_line_trailing_space": ("parse", "request line must be"),
    "invalid_request_uri_bad_ipv6_reference": ("validate", "bad IPv6 reference"),
    "invalid_request_uri_port_too_large": ("validate", "bad port"),
    "invalid_sip_version_7": ("validate", "SIP version 'SIP/7.0' is not supported"),
    "invalid_cseq_method_mismatch": ("validate", "CSeq method does not match"),
    "invalid_unknown_method_cseq_mismatch": ("validate", "CSeq method does not match"),
    "invalid_cseq_overlarge": ("validate", "CSeq number must be below 2**31"),
    "invalid_display_name_with_comma": ("validate", "bad display name"),
    "invalid_via_without_sent_by": ("validate", "Via without sent-by"),
    "invalid_via_bad_sent_protocol": ("validate", "bad Via sent-protocol"),
    "invalid_300_via_lines": ("parse", "more than 256 header lines"),
    "invalid_header_without_colon": ("parse", "header line without ':'"),
    "invalid_header_name_with_space": ("parse", "bad header name"),
    "invalid_not_utf8": ("parse", "not UTF-8"),
    "invalid_no_end_of_headers": ("parse", "no empty line after the headers"),
    "invalid_message_over_64kb": ("parse", "over the 65535 limit"),
    "invalid_response_overlarge_status": ("parse", "bad status line"),
    "invalid_ack_missing_call_id": ("validate", "missing Call-ID header"),
    "invalid_start_line_garbage": ("parse", "request line must be"),
}


def read(message: Request | Response, path: str) -> Any:
    """The value ``path`` names: ``"from_.uri.user"``, ``"contact.0.uri"``, ``"header:Subject"``."""
    if path.startswith("header:"):
        return message.headers.get(path[7:])
    if path.startswith("list:"):
        return message.header_list(path[5:])
    value: Any = message
    for step in path.split("."):
        value = value[int(step)] if step.isdigit() else getattr(value, step)
    return value


def matches(value: Any, expected: Any) -> bool:
    if callable(value) and not isinstance(expected, tuple | list):  # body.startswith
        return bool(value(expected))
    if callable(value):  # headers.get_all: ("X-Repeat", [...])
        return bool(value(expected[0]) == expected[1])
    if isinstance(expected, str) and not isinstance(value, str):
        return str(value) == expected  # URIs and addresses by their text
    return bool(value == expected)


def test_every_message_file_has_its_expectations_and_a_description() -> None:
    assert sorted(EXPECTED) == names("valid")
    assert sorted(REFUSED) == names("invalid")
    for name in names("valid") + names("invalid"):
        assert len(describe(name)) > 20, f"{name}.txt needs a comment saying what it tests"


@pytest.mark.parametrize("name", names("valid"))
def test_valid_message_is_read_with_the_intended_fields(name: str) -> None:
    message = parse_message(load(name))
    message.validate()
    wrong = {path: read(message, path) for path, expected in EXPECTED[name].items()
             if not matches(read(message, path), expected)}
    assert not wrong, f"{name}: {describe(name)}"
    assert parse_message(message.to_bytes()) == message


@pytest.mark.parametrize("name", names("invalid"))
def test_invalid_message_is_refused_with_a_reason(name: str) -> None:
    stage, words = REFUSED[name]
    data = load(name)
    if stage == "parse":
        with pytest.raises(SipParseError, match=re.escape(words)):
            parse_message(data)
        return
    message = parse_message(data)
    with pytest.raises(SipParseError, match=re.escape(words)):
        message.validate()
