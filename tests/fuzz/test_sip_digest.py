"""Fuzzing the digest header parsers (RFC 7616 §3.3, §3.4; RFC 8760; RFC 3261 §22, §25.1).

``parse_challenge`` (WWW-Authenticate, Proxy-Authenticate) and
``parse_credentials`` (Authorization, Proxy-Authorization) raise nothing but
SipParseError on any text, and what parses writes back to an equal value.
Oracle: :func:`tests.fuzz.targets.sip_digest` (atheris: ``fuzz/fuzz_sip_digest.py``).
"""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from tests.fuzz import targets
from tests.fuzz.seeds import seeds
from tests.fuzz.strategies import FUZZ, fuzz_input, token_text

PARAMS = st.lists(
    st.tuples(st.sampled_from(["realm", "nonce", "qop", "algorithm", "username", "uri",
                               "response", "nc", "cnonce", "opaque", "stale", "domain", "x"]),
              token_text(4) | token_text(4).map(lambda v: '"' + v + '"')),
    max_size=10,
)


@FUZZ
@given(fuzz_input(seeds("sip_digest")))
@example(b'Digest realm="a", nonce="b", nc=' + b"f" * 5000)
@example(b'Digest realm="a\\", nonce="b"')
@example(b'Digest realm="a", nonce="b", qop="auth,,auth-int,"')
@example(b'Digest username="a", realm="r", nonce="n", uri="sip:x", response="r", '
         b"nc=0000000\xd9\xa1")
def test_any_auth_header_is_read_or_refused_with_sip_parse_error(data: bytes) -> None:
    targets.sip_digest(data)


@FUZZ
@given(PARAMS, st.sampled_from([", ", ",", " ,\t", " "]))
def test_digest_headers_with_any_parameters_are_read_or_refused(
    params: list[tuple[str, str]], separator: str,
) -> None:
    text = "Digest " + separator.join(f"{name}={value}" for name, value in params)
    targets.sip_digest(text.encode())
