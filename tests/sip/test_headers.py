"""Header fields: the ordered container and the typed values (RFC 3261 §7.3, §20, §25.1).

Headers keeps lines in order and looks them up case-insensitively with compact
forms folded in (§7.3.3); every change must be visible to the next lookup.
Address (From, To, Contact, Route), Via and CSeq are read from the text.
"""

from __future__ import annotations

import pytest

from siplab.errors import SipParseError
from siplab.sip.headers import (
    Address,
    Headers,
    Via,
    canonical_name,
    header_key,
    parse_address,
    parse_addresses,
    parse_cseq,
    parse_via,
    parse_vias,
    tag_of,
    via_branch,
)
from siplab.sip.uri import SipUri, TelUri


def lines(headers: Headers) -> list[tuple[str, str]]:
    return list(headers)


class TestHeadersContainer:
    """Order, multiple values and case-insensitive lookup (§7.3.1)."""

    def test_lookup_folds_case_and_compact_forms(self) -> None:
        headers = Headers([("v", "SIP/2.0/UDP a"), ("VIA", "SIP/2.0/UDP b"), ("i", "x@y")])
        assert headers.get_all("Via") == ["SIP/2.0/UDP a", "SIP/2.0/UDP b"]
        assert headers.get("call-id") == headers.get("CALL-ID") == "x@y"
        assert "Call-ID" in headers
        assert "i" in headers
        assert "Route" not in headers
        assert headers.get("Route") is None
        assert headers.get("Route", "-") == "-"
        assert 42 not in headers

    def test_add_appends_and_is_seen_by_the_next_lookup(self) -> None:
        headers = Headers([("Via", "v1")])
        assert headers.get_all("Via") == ["v1"]  # builds the index
        headers.add("v", "v2")
        assert headers.get_all("Via") == ["v1", "v2"]
        assert lines(headers) == [("Via", "v1"), ("v", "v2")]

    def test_insert_at_position(self) -> None:
        headers = Headers([("To", "t"), ("From", "f")])
        assert headers.get("From") == "f"
        headers.insert(1, "Call-ID", "c")
        assert lines(headers) == [("To", "t"), ("Call-ID", "c"), ("From", "f")]
        assert headers.get("call-id") == "c"

    def test_prepend_goes_above_the_first_of_its_kind(self) -> None:
        headers = Headers([("Max-Forwards", "70"), ("Via", "v1"), ("Via", "v2")])
        assert headers.get("Via") == "v1"
        headers.prepend("Via", "v0")
        assert lines(headers) == [("Max-Forwards", "70"), ("Via", "v0"), ("Via", "v1"),
                                  ("Via", "v2")]
        assert headers.get("Via") == "v0"
        headers.prepend("Record-Route", "<sip:p;lr>")  # none yet: goes to the top
        assert lines(headers)[0] == ("Record-Route", "<sip:p;lr>")
        assert headers.get_all("Record-Route") == ["<sip:p;lr>"]

    def test_set_replaces_every_line_where_the_first_was(self) -> None:
        headers = Headers([("A", "1"), ("Contact", "c1"), ("B", "2"), ("m", "c2")])
        assert headers.get_all("Contact") == ["c1", "c2"]
        headers.set("Contact", "c3")
        assert lines(headers) == [("A", "1"), ("Contact", "c3"), ("B", "2")]
        assert headers.get_all("contact") == ["c3"]
        headers.set("Expires", "60")
        assert lines(headers)[-1] == ("Expires", "60")
        assert headers.get("Expires") == "60"

    def test_replace_first_keeps_the_name_as_written(self) -> None:
        headers = Headers([("v", "a"), ("Via", "b")])
        assert headers.get("Via") == "a"
        assert headers.replace_first("Via", "a2")
        assert lines(headers) == [("v", "a2"), ("Via", "b")]
        assert headers.get_all("Via") == ["a2", "b"]
        assert not headers.replace_first("Route", "x")

    def test_remove_counts_and_forgets(self) -> None:
        headers = Headers([("Route", "r1"), ("X", "1"), ("route", "r2")])
        assert headers.get_all("Route") == ["r1", "r2"]
        assert headers.remove("ROUTE") == 2
        assert headers.get_all("Route") == []
        assert lines(headers) == [("X", "1")]
        assert headers.remove("Route") == 0

    def test_pop_first_takes_one_element_of_a_list_header(self) -> None:
        headers = Headers([("Via", "a, b"), ("Via", "c")])
        assert headers.get_list("Via") == ["a", "b", "c"]
        assert headers.pop_first("Via") == "a"
        assert headers.get_list("Via") == ["b", "c"]
        assert headers.pop_first("v") == "b"
        assert lines(headers) == [("Via", "c")]
        assert headers.pop_first("Via") == "c"
        assert headers.pop_first("Via") is None
        assert len(headers) == 0

    def test_pop_first_skips_an_empty_line(self) -> None:
        headers = Headers([("Route", ""), ("Route", "<sip:p;lr>")])
        assert headers.pop_first("Route") == "<sip:p;lr>"
        assert lines(headers) == [("Route", "")]

    def test_get_list_does_not_split_inside_quotes_or_brackets(self) -> None:
        headers = Headers([("Contact", '"Smith, John" <sip:j@x>, <sip:a,b@y;p=1>;q=0.5')])
        assert headers.get_list("Contact") == ['"Smith, John" <sip:j@x>', "<sip:a,b@y;p=1>;q=0.5"]

    def test_values_are_stripped_and_checked(self) -> None:
        headers = Headers()
        headers.add("Subject", "  hi ")
        headers.insert(0, "X", "\t1")
        headers.set("Y", "2 ")
        assert headers.replace_first("Subject", " there ")
        assert lines(headers) == [("X", "1"), ("Subject", "there"), ("Y", "2")]
        for change in (lambda: headers.add("Bad Name", "x"),
                       lambda: headers.insert(0, "X", "a\r\nb"),
                       lambda: headers.set("X", "a\nb"),
                       lambda: headers.replace_first("X", "a\x00b")):
            with pytest.raises(ValueError, match=r"bad header name|CR, LF or NUL"):
                change()

    def test_equality_folds_name_spelling_but_keeps_order(self) -> None:
        assert Headers([("v", "a"), ("CALL-ID", "c")]) == Headers([("Via", "a"), ("Call-ID", "c")])
        assert Headers([("Via", "a"), ("Via", "b")]) != Headers([("Via", "b"), ("Via", "a")])
        assert Headers([("X", "a")]) != Headers([("X", "A")])
        assert Headers([("X", "a")]) != Headers([("X", "a"), ("X", "a")])
        assert Headers() != [("X", "a")]
        with pytest.raises(TypeError):
            hash(Headers())

    def test_copy_is_independent(self) -> None:
        original = Headers([("Via", "a")])
        clone = original.copy()
        clone.add("Via", "b")
        assert original.get_all("Via") == ["a"]
        assert clone.get_all("Via") == ["a", "b"]
        assert original.items() == [("Via", "a")]

    @pytest.mark.parametrize(
        ("name", "canonical"),
        [("call-id", "Call-ID"), ("i", "Call-ID"), ("CSEQ", "CSeq"), ("v", "Via"),
         ("www-authenticate", "WWW-Authenticate"), ("x-my-header", "X-My-Header"),
         ("record-route", "Record-Route"), ("l", "Content-Length")],
    )
    def test_canonical_name(self, name: str, canonical: str) -> None:
        assert canonical_name(name) == canonical

    def test_header_key_expands_compact_forms_only_for_one_letter_names(self) -> None:
        assert header_key("F") == "from"
        assert header_key("From") == "from"
        assert header_key("q") == "q"  # no compact form: itself


class TestAddress:
    """name-addr and addr-spec with header parameters (§20.10, §20.20, §25.1)."""

    def test_name_addr_with_quoted_display_name(self) -> None:
        address = parse_address('"Alice Smith" <sip:alice@atlanta.example.com>;tag=1928301774')
        assert address.display_name == "Alice Smith"
        assert isinstance(address.uri, SipUri)
        assert address.uri.user == "alice"
        assert address.tag == "1928301774"

    def test_display_name_may_hold_comma_angle_brackets_and_escapes(self) -> None:
        address = parse_address(r'"Smith, <John> \"JJ\"" <sip:j@x.example.com>;tag=7')
        assert address.display_name == 'Smith, <John> "JJ"'
        assert str(address.uri) == "sip:j@x.example.com"
        assert address.tag == "7"

    def test_unquoted_token_display_name(self) -> None:
        address = parse_address("Bob Jones <sip:bob@biloxi.example.com>")
        assert address.display_name == "Bob Jones"
        assert str(address) == "Bob Jones <sip:bob@biloxi.example.com>"

    def test_addr_spec_parameters_belong_to_the_header(self) -> None:
        # §20: without <>, ';' starts header parameters, not URI parameters.
        address = parse_address("sip:alice@atlanta.example.com;tag=88sja8x")
        assert address.tag == "88sja8x"
        assert isinstance(address.uri, SipUri)
        assert address.uri.params == ()

    def test_uri_parameters_inside_brackets_stay_with_the_uri(self) -> None:
        address = parse_address("<sip:alice@pc33.atlanta.example.com;transport=tcp>;expires=60")
        assert isinstance(address.uri, SipUri)
        assert address.uri.transport == "tcp"
        assert address.param("expires") == "60"
        assert address.param("transport") is None

    def test_comma_inside_brackets_does_not_split(self) -> None:
        # A ',' is legal in a URI's user part (§25.1 user-unreserved) ...
        (one,) = parse_addresses("<sip:a,b@x.example.com>")
        assert isinstance(one.uri, SipUri)
        assert one.uri.user == "a,b"
        # ... but not in a URI parameter: <sip:a@b;x=1,2> stays one element,
        # and then that element is refused by the URI grammar.
        with pytest.raises(SipParseError, match="URI parameter"):
            parse_addresses("<sip:a@b.example.com;x=1,2>")

    def test_comma_separated_contacts_not_split_inside_quotes(self) -> None:
        contacts = parse_addresses('"Smith, John" <sip:j@x.example.com>, <sip:k@y.example.com>')
        assert [c.display_name for c in contacts] == ["Smith, John", None]

    def test_wildcard_contact(self) -> None:
        (star,) = parse_addresses(" * ")
        assert star.is_wildcard
        assert str(star) == "*"

    def test_tel_and_absolute_uris_in_addresses(self) -> None:
        assert isinstance(parse_address("<tel:+1-555-0100>;q=0.1").uri, TelUri)
        mail = parse_address("<mailto:alice@atlanta.example.com>")
        assert str(mail.uri) == "mailto:alice@atlanta.example.com"
        with pytest.raises(SipParseError, match="SIP URI"):
            _ = mail.sip_uri

    def test_str_quotes_display_names_that_need_it(self) -> None:
        uri = SipUri("example.com", "a")
        assert str(Address(uri, 'Smith, "J"')) == r'"Smith, \"J\"" <sip:a@example.com>'
        assert str(Address(uri, "")) == '"" <sip:a@example.com>'
        assert str(Address(uri, None, (("tag", "x"),))) == "<sip:a@example.com>;tag=x"
        for address in (Address(uri, 'Smith, "J"'), Address(uri, "Ann Lee", (("q", "1"),))):
            assert parse_address(str(address)) == address

    def test_with_param_sets_the_tag(self) -> None:
        address = parse_address("<sip:b@biloxi.example.com>").with_param("tag", "abc")
        assert str(address) == "<sip:b@biloxi.example.com>;tag=abc"

    @pytest.mark.parametrize(
        "text",
        ["", "<sip:a@b", '"unterminated <sip:a@b>', '"Alice" x <sip:a@b>', "Al(ice) <sip:a@b>",
         "<sip:a@b> tag=1", "<sip:a@b>;;", "sip:a b@c", "<not a uri>", '"a\\" <sip:a@b>'],
    )
    def test_malformed_address_raises_parse_error(self, text: str) -> None:
        with pytest.raises(SipParseError):
            parse_address(text)


class TestTagOf:
    """The fast tag reader agrees with the full parse."""

    @pytest.mark.parametrize(
        ("value", "tag"),
        [
            ("<sip:a@b.example.com>;tag=abc", "abc"),
            ('"A" <sip:a@b.example.com> ; TAG = abc ;x=1', "abc"),
            ("sip:a@b.example.com;tag=abc", "abc"),
            ("<sip:a@b.example.com;tag=uri>;tag=hdr", "hdr"),
            ("<sip:a@b.example.com;tag=uri>", None),
            ("<sip:a@b.example.com>;mytag=1", None),
            ('<sip:a@b.example.com>;x="a>b";tag=t1', "t1"),
            ('<sip:a@b.example.com>;x="c;tag=no";tag=t2', "t2"),
            ('"Bob > Alice" <sip:a@b.example.com>;tag=t3', "t3"),
        ],
    )
    def test_tag_of_reads_the_header_tag(self, value: str, tag: str | None) -> None:
        assert tag_of(value) == tag
        assert parse_address(value).tag == tag


class TestVia:
    """§20.42 Via; §18.2.1 received; RFC 3581 rport."""

    def test_full_via(self) -> None:
        via = parse_via("SIP/2.0/UDP pc33.atlanta.example.com:5066;branch=z9hG4bK776;rport;"
                        "received=192.0.2.1")
        assert (via.protocol, via.transport, via.host, via.port) == (
            "SIP/2.0", "UDP", "pc33.atlanta.example.com", 5066)
        assert via.branch == "z9hG4bK776"
        assert via.received == "192.0.2.1"
        assert via.wants_rport
        assert via.rport is None
        assert via.sent_by == "pc33.atlanta.example.com:5066"

    def test_transport_is_upper_cased_and_params_kept(self) -> None:
        via = parse_via("SIP/2.0/ws df7jal23ls0d.invalid;branch=z9hG4bKx;rport=5060")
        assert via.transport == "WS"
        assert via.rport == 5060
        assert str(via) == "SIP/2.0/WS df7jal23ls0d.invalid;branch=z9hG4bKx;rport=5060"

    def test_odd_spacing_is_allowed_around_slash_colon_and_semicolon(self) -> None:
        via = parse_via("SIP / 2.0 / TCP  host.example.com : 5070 ; branch = z9hG4bK1 ")
        assert (via.transport, via.host, via.port, via.branch) == (
            "TCP", "host.example.com", 5070, "z9hG4bK1")

    def test_ipv6_sent_by(self) -> None:
        via = parse_via("SIP/2.0/UDP [2001:db8::9:1]:5060;received=2001:db8::9:255")
        assert via.host == "[2001:db8::9:1]"
        assert via.port == 5060
        assert via.received == "2001:db8::9:255"

    def test_list_of_vias_in_one_value(self) -> None:
        vias = parse_vias("SIP/2.0/UDP a.example.com;branch=z9hG4bK1, "
                          "SIP/2.0/TCP b.example.com;branch=z9hG4bK2;x=\"q,r\"")
        assert [v.host for v in vias] == ["a.example.com", "b.example.com"]
        assert vias[1].param("x") == '"q,r"'

    @pytest.mark.parametrize("rport", ["²", "٣", "99999999999999999999", "x", ""])
    def test_rport_that_is_not_a_port_reads_as_none(self, rport: str) -> None:
        via = parse_via(f"SIP/2.0/UDP h.example.com;rport={rport}")
        assert via.rport is None
        assert via.wants_rport

    @pytest.mark.parametrize(
        "text",
        ["", "SIP/2.0/UDP", "SIP/2.0 host", "SIP/2.0/UDP ;branch=x", "SIP/2.0/UDP a b",
         "SIP/2.0/UDP user@host", "SIP/2.0/UDP host?h=1", "SIP/2.0/UDP host:70000"],
    )
    def test_malformed_via_raises_parse_error(self, text: str) -> None:
        with pytest.raises(SipParseError):
            parse_via(text)

    @pytest.mark.parametrize(
        ("value", "branch"),
        [
            ("SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b;branch=z9hG4bK2", "z9hG4bK1"),
            ("SIP/2.0/UDP a ; BRANCH = z9hG4bK1", "z9hG4bK1"),
            ('SIP/2.0/UDP a;x="p,q";branch=z9hG4bK3, SIP/2.0/UDP b;branch=z9', "z9hG4bK3"),
            ("SIP/2.0/UDP a;rport", None),
        ],
    )
    def test_via_branch_reads_the_top_branch(self, value: str, branch: str | None) -> None:
        assert via_branch(value) == branch
        assert parse_vias(value)[0].branch == branch

    def test_with_param_and_str(self) -> None:
        via = Via("TCP", "h.example.com", 5061, (("branch", "z9hG4bK1"),))
        assert str(via.with_param("received", "192.0.2.9")) == (
            "SIP/2.0/TCP h.example.com:5061;branch=z9hG4bK1;received=192.0.2.9")


class TestCSeq:
    """§20.16 CSeq."""

    def test_parse_and_str(self) -> None:
        cseq = parse_cseq("314159 INVITE")
        assert cseq == (314159, "INVITE")
        assert (cseq.number, cseq.method) == (314159, "INVITE")
        assert str(cseq) == "314159 INVITE"

    def test_extension_method_and_whitespace(self) -> None:
        assert parse_cseq("\t1\t\tX-CUSTOM.1 ") == (1, "X-CUSTOM.1")

    @pytest.mark.parametrize("value", ["", " ", "1", "INVITE", "1INVITE", "1 INV ITE",
                                       "x INVITE", "2147483648 INVITE", "1 INVITE;x",
                                       "99999999999 INVITE", "1" * 5000 + " INVITE"])
    def test_bad_cseq(self, value: str) -> None:
        with pytest.raises(SipParseError):
            parse_cseq(value)
