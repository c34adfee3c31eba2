"""Fuzzing the URI and header-value parsers (RFC 3261 §19.1, §20, §25; RFC 3966).

``parse_uri``, ``parse_address``/``parse_addresses``, ``parse_via``/``parse_vias``,
``parse_cseq``, ``parse_params``, ``split_commas``, ``tag_of`` and ``via_branch``
on any text raise nothing but SipParseError; what parses writes back to the
same value. Oracles: :func:`tests.fuzz.targets.sip_uri` and
:func:`~tests.fuzz.targets.sip_headers` (atheris: ``fuzz/fuzz_sip_uri.py``,
``fuzz/fuzz_sip_headers.py``).
"""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from tests.fuzz import targets
from tests.fuzz.seeds import seeds
from tests.fuzz.strategies import FUZZ, fuzz_input, token_text

SCHEMES = st.sampled_from(["sip:", "sips:", "SIP:", "tel:", "urn:", "mailto:", "x-1+.:", ""])


@FUZZ
@given(fuzz_input(seeds("sip_uri")))
@example(b"sip:alice@example.com:" + b"9" * 5000)
@example("sip:alice@example.com:5²60".encode())
@example(b"sip:[2001:db8::1]:99999;transport=udp")
@example(b"sip:%zz@h;%=1?&&")
def test_any_text_is_a_uri_or_a_sip_parse_error(data: bytes) -> None:
    targets.sip_uri(data)


@FUZZ
@given(st.builds(lambda scheme, rest: (scheme + rest).encode(), SCHEMES, token_text()))
def test_uri_shaped_text_is_a_uri_or_a_sip_parse_error(data: bytes) -> None:
    targets.sip_uri(data)


@FUZZ
@given(fuzz_input(seeds("sip_headers")))
@example(b'"unterminated <sip:a@b>;tag=1')
@example(b"SIP/2.0/UDP host:" + b"5" * 4400 + b";rport=" + b"9" * 4400)
@example("SIP/2.0/UDP host;rport=²;branch=z9hG4bK1".encode())
@example(b"4294967296 INVITE")
@example(b"<sip:a@b>;tag=x;tag=y, <sip:c@d;lr>,,")
def test_any_header_value_is_read_or_refused_with_sip_parse_error(data: bytes) -> None:
    targets.sip_headers(data)


@FUZZ
@given(token_text(20).map(str.encode))
def test_header_values_glued_from_troublemakers_are_read_or_refused(data: bytes) -> None:
    targets.sip_headers(data)
