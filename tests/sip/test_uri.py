"""SIP, SIPS, tel and other URIs (RFC 3261 §19.1, §25.1; RFC 3966; RFC 5118).

The comparison tests follow the equivalent and non-equivalent pairs listed in
RFC 3261 §19.1.4, with the hosts moved under example.com.
"""

from __future__ import annotations

import pytest

from siplab.errors import SipParseError
from siplab.sip.uri import AbsoluteUri, SipUri, TelUri, parse_uri, uri_equal


def sip(text: str) -> SipUri:
    uri = parse_uri(text)
    assert isinstance(uri, SipUri)
    return uri


class TestParse:
    """§19.1.1: the parts of a SIP URI."""

    def test_every_part_of_a_sip_uri(self) -> None:
        uri = sip("sip:alice:secret@atlanta.example.com:5060;transport=TCP;lr?subject=project")
        assert uri.scheme == "sip"
        assert (uri.user, uri.password, uri.host, uri.port) == (
            "alice", "secret", "atlanta.example.com", 5060)
        assert uri.params == (("transport", "TCP"), ("lr", None))
        assert uri.headers == "subject=project"
        assert uri.transport == "tcp"
        assert uri.lr
        assert uri.host_port == "atlanta.example.com:5060"
        assert uri.address_of_record == "sip:alice@atlanta.example.com"

    def test_sips_and_upper_case_scheme(self) -> None:
        assert sip("sips:bob@biloxi.example.com").secure
        assert sip("SIP:bob@biloxi.example.com").scheme == "sip"
        assert not sip("sip:bob@biloxi.example.com").secure

    def test_uri_without_user(self) -> None:
        uri = sip("sip:ss1.atlanta.example.com;lr")
        assert uri.user is None
        assert uri.lr
        assert uri.address_of_record == "sip:ss1.atlanta.example.com"

    def test_user_part_may_hold_semicolons_and_commas(self) -> None:
        # user-unreserved includes ; , ? / (§25.1): the '@' decides.
        uri = sip("sip:alice;day=tuesday,x@atlanta.example.com;transport=udp")
        assert uri.user == "alice;day=tuesday,x"
        assert uri.params == (("transport", "udp"),)

    def test_escaped_uri_round_trips_verbatim(self) -> None:
        text = "sip:%61lice@atlanta.example.com;x=%41?h=%20"
        uri = sip(text)
        assert uri.user == "%61lice"
        assert str(uri) == text

    def test_ipv6_reference_with_port(self) -> None:
        uri = sip("sip:[2001:db8::10]:5070")
        assert (uri.host, uri.port) == ("[2001:db8::10]", 5070)
        assert uri.host_for_socket == "2001:db8::10"
        assert uri.host_port == "[2001:db8::10]:5070"
        assert str(uri) == "sip:[2001:db8::10]:5070"

    def test_ipv6_reference_with_user_and_params(self) -> None:
        uri = sip("sip:bob@[2001:db8::20];maddr=[2001:db8::1];transport=udp")
        assert uri.host == "[2001:db8::20]"
        assert uri.port is None
        assert uri.param("maddr") == "[2001:db8::1]"

    def test_ipv4_host_and_trailing_dot(self) -> None:
        assert sip("sip:192.0.2.4:5060").host == "192.0.2.4"
        assert sip("sip:bob@biloxi.example.com.").host == "biloxi.example.com."

    def test_two_kilobyte_uri(self) -> None:
        user = "a" * 2048
        uri = sip(f"sip:{user}@example.com;p={'b' * 100}")
        assert uri.user == user
        assert len(str(uri)) > 2048

    def test_long_bad_host_fails_quickly(self) -> None:
        # Regression: the host regex backtracked exponentially (1 s at 24
        # characters, doubling with each one); this would never finish.
        for host in ("a" * 64 + "!", "a-" * 2000 + "!", "ab." * 1000 + "-"):
            with pytest.raises(SipParseError, match="bad host"):
                parse_uri(f"sip:{host}")

    def test_with_param_replaces_or_appends(self) -> None:
        uri = sip("sip:bob@biloxi.example.com;transport=udp")
        assert str(uri.with_param("transport", "tcp")) == "sip:bob@biloxi.example.com;transport=tcp"
        assert str(uri.with_param("lr")) == "sip:bob@biloxi.example.com;transport=udp;lr"

    @pytest.mark.parametrize(
        "text",
        [
            "", "sip", "bob@example.com", "sip:", "sip:@example.com", "sip:bob@",
            "sip:bob@exa mple.com", "sip:bob@-example.com", "sip:bob@example-.com",
            "sip:bob@example..com", "sip:bob@example.com:", "sip:bob@example.com:port",
            "sip:bob@example.com:65536", "sip:bob@example.com:" + "1" * 5000,
            "sip:bob@example.com:٥٠٦٠", "sip:[2001:db8::1", "sip:[2001:db8::1]5060",
            "sip:[zz::1]", "sip:bob@example.com;=x", "sip:bob@example.com;a=<b>",
            "sip:bob@example.com;a=\"b\"", "sip:bob@example.com?a=<b>", "sip:bo b@example.com",
            "sip:bob:p@ss@example.com", "1sip:bob@example.com", "tel:", "tel:xyz",
            "mailto:", "http://exa mple.com", "urn:<x>",
        ],
    )
    def test_malformed_uri_raises_parse_error(self, text: str) -> None:
        with pytest.raises(SipParseError) as info:
            parse_uri(text)
        assert info.value.where  # the URI, or the part of it that is wrong

    def test_tel_uri(self) -> None:
        uri = parse_uri("tel:+1-212-555-0101;ext=42")
        assert isinstance(uri, TelUri)
        assert uri.number == "+1-212-555-0101"
        assert uri.is_global
        assert uri.param("ext") == "42"
        assert str(uri) == "tel:+1-212-555-0101;ext=42"
        local = parse_uri("tel:7042;phone-context=example.com")
        assert isinstance(local, TelUri)
        assert not local.is_global
        assert local.scheme == "tel"

    @pytest.mark.parametrize("text", ["mailto:alice@atlanta.example.com",
                                      "urn:service:sos", "http://example.com/x?y=1"])
    def test_unknown_scheme_is_an_absolute_uri(self, text: str) -> None:
        uri = parse_uri(text)
        assert isinstance(uri, AbsoluteUri)
        assert str(uri) == text
        assert uri.scheme == text.split(":", 1)[0]


# RFC 3261 §19.1.4, "the following are equivalent".
EQUIVALENT = [
    ("sip:%61lice@atlanta.example.com;transport=TCP",
     "sip:alice@AtLanTa.ExAmPlE.CoM;Transport=tcp"),
    ("sip:carol@chicago.example.com", "sip:carol@chicago.example.com;newparam=5"),
    ("sip:carol@chicago.example.com", "sip:carol@chicago.example.com;security=on"),
    ("sip:carol@chicago.example.com;newparam=5", "sip:carol@chicago.example.com;security=on"),
    ("sip:biloxi.example.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.example.com",
     "sip:biloxi.example.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.example.com"),
    ("sip:alice@atlanta.example.com?subject=project%20x&priority=urgent",
     "sip:alice@atlanta.example.com?priority=urgent&subject=project%20x"),
]

# RFC 3261 §19.1.4, "the following are not equivalent".
NOT_EQUIVALENT = [
    ("SIP:ALICE@AtLanTa.ExAmPlE.CoM;Transport=udp", "sip:alice@AtLanTa.ExAmPlE.CoM;Transport=UDP"),
    ("sip:bob@biloxi.example.com", "sip:bob@biloxi.example.com:5060"),
    ("sip:bob@biloxi.example.com", "sip:bob@biloxi.example.com;transport=udp"),
    ("sip:bob@biloxi.example.com", "sip:bob@biloxi.example.com:6000;transport=tcp"),
    ("sip:carol@chicago.example.com", "sip:carol@chicago.example.com?Subject=next%20meeting"),
    ("sip:bob@phone21.boxesbybob.example.com", "sip:bob@192.0.2.4"),
]


class TestUriEqual:
    """§19.1.4: comparing URIs."""

    @pytest.mark.parametrize(("a", "b"), EQUIVALENT)
    def test_equivalent_pairs_from_section_19_1_4(self, a: str, b: str) -> None:
        assert uri_equal(parse_uri(a), parse_uri(b))
        assert uri_equal(parse_uri(b), parse_uri(a))

    @pytest.mark.parametrize(("a", "b"), NOT_EQUIVALENT)
    def test_non_equivalent_pairs_from_section_19_1_4(self, a: str, b: str) -> None:
        assert not uri_equal(parse_uri(a), parse_uri(b))
        assert not uri_equal(parse_uri(b), parse_uri(a))

    def test_escaped_user_equals_plain_user(self) -> None:
        assert uri_equal(parse_uri("sip:%61lice@example.com"), parse_uri("sip:alice@example.com"))

    def test_user_ttl_method_maddr_in_one_uri_only_never_match(self) -> None:
        base = parse_uri("sip:bob@biloxi.example.com")
        for extra in (";user=phone", ";ttl=1", ";method=INVITE", ";maddr=192.0.2.1"):
            assert not uri_equal(base, parse_uri("sip:bob@biloxi.example.com" + extra))

    def test_user_and_password_compare_case_sensitively(self) -> None:
        assert not uri_equal(parse_uri("sip:Bob@example.com"), parse_uri("sip:bob@example.com"))
        assert not uri_equal(parse_uri("sip:b:X@example.com"), parse_uri("sip:b:x@example.com"))
        assert not uri_equal(parse_uri("sip:b@example.com"), parse_uri("sip:example.com"))

    def test_uri_header_names_compare_case_insensitively(self) -> None:
        a = parse_uri("sip:carol@chicago.example.com?Subject=next%20meeting")
        assert uri_equal(a, parse_uri("sip:carol@chicago.example.com?subject=next%20meeting"))
        assert not uri_equal(a, parse_uri("sip:carol@chicago.example.com?Subject=Next%20meeting"))

    def test_address_of_record_is_canonical(self) -> None:
        # §10.3 step 5: no port, no parameters, escapes undone, host case folded.
        uri = sip("sip:%61lice@ATLANTA.example.com:5070;transport=tcp?x=1")
        assert uri.address_of_record == "sip:alice@atlanta.example.com"
        assert sip("sips:%41%40b@h").address_of_record == "sips:A%40b@h"  # '@' stays escaped

    def test_sip_and_sips_differ(self) -> None:
        assert not uri_equal(parse_uri("sip:b@example.com"), parse_uri("sips:b@example.com"))

    def test_tel_uris_ignore_visual_separators(self) -> None:
        assert uri_equal(parse_uri("tel:+1-212-555-0101"), parse_uri("tel:+1.212.555.0101"))
        assert not uri_equal(parse_uri("tel:+1-212-555-0101"), parse_uri("tel:+1-212-555-0102"))

    def test_other_schemes_compare_as_text(self) -> None:
        assert uri_equal(parse_uri("mailto:a@b.example"), parse_uri("mailto:a@b.example"))
        assert not uri_equal(parse_uri("mailto:a@b.example"), parse_uri("sip:a@b.example"))
