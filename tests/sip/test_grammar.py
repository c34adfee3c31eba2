"""The lexical pieces headers are made of (RFC 3261 §7.3.1, §25.1).

Tokens, quoted strings, ``;name=value`` parameters and comma-separated lists
that must not be split inside quotes or ``<...>``.
"""

from __future__ import annotations

import pytest

from siplab.errors import SipParseError
from siplab.sip.grammar import (
    format_params,
    get_param,
    is_token,
    parse_params,
    quote,
    remove_param,
    set_param,
    split_commas,
    split_unquoted,
    unquote,
)


class TestTokens:
    """§25.1 token."""

    @pytest.mark.parametrize("text", ["INVITE", "z9hG4bK-1.2_3", "a!%*_+`'~", "X"])
    def test_tokens(self, text: str) -> None:
        assert is_token(text)

    @pytest.mark.parametrize("text", ["", "a b", "a,b", "a;b", '"a"', "a:b", "é", "a\n"])
    def test_not_tokens(self, text: str) -> None:
        assert not is_token(text)


class TestLists:
    """§7.3.1: ``Name: a, b`` is the same as two lines."""

    def test_plain_split_strips_and_drops_empty_elements(self) -> None:
        assert split_commas(" a ,b,, c ,") == ["a", "b", "c"]
        assert split_commas("   ") == []
        assert split_commas("single") == ["single"]

    def test_no_split_inside_quotes(self) -> None:
        value = '"Smith, John" <sip:j@x>, "Doe, \\"Jane\\", Jr" <sip:d@y>'
        assert split_commas(value) == ['"Smith, John" <sip:j@x>', '"Doe, \\"Jane\\", Jr" <sip:d@y>']

    def test_no_split_inside_angle_brackets(self) -> None:
        assert split_commas("<sip:a,b@x;p=1>, <sip:c@y>") == ["<sip:a,b@x;p=1>", "<sip:c@y>"]

    def test_quote_inside_brackets_and_bracket_inside_quotes(self) -> None:
        assert split_commas('"a<b", <sip:"x,y"@z>') == ['"a<b"', '<sip:"x,y"@z>']

    def test_unterminated_quote_or_bracket_is_an_error(self) -> None:
        with pytest.raises(SipParseError, match="unterminated quoted string"):
            split_commas('"abc, def')
        with pytest.raises(SipParseError, match="without a closing"):
            split_commas("<sip:a@b, c")
        with pytest.raises(SipParseError, match="unterminated"):
            split_commas('"ends, in an escape\\"')

    def test_split_unquoted_keeps_pieces_unstripped(self) -> None:
        assert split_unquoted(' a ;b="x;y"; c', ";") == [" a ", 'b="x;y"', " c"]

    def test_a_hundred_elements(self) -> None:
        value = ",".join(f"<sip:u{i}@h>;q=0.{i % 10}" for i in range(100))
        parts = split_commas(value)
        assert len(parts) == 100
        assert parts[99] == "<sip:u99@h>;q=0.9"


class TestParams:
    """§25.1 generic-param and the URI parameters of §19.1.1."""

    def test_parse_names_values_and_flags(self) -> None:
        params = parse_params(";tag=1928301774;lr ; q = 0.7;x=\"a;b\"")
        assert params == (("tag", "1928301774"), ("lr", None), ("q", "0.7"), ("x", '"a;b"'))

    def test_empty_text_has_no_params(self) -> None:
        assert parse_params("") == ()

    def test_empty_value_is_not_a_flag(self) -> None:
        assert parse_params(";tag=") == (("tag", ""),)

    @pytest.mark.parametrize("text", ["tag=1", ";", ";a=1;", ";=1", ";a b=1", ';x="open'])
    def test_malformed_params(self, text: str) -> None:
        with pytest.raises(SipParseError):
            parse_params(text)

    def test_format_round_trips(self) -> None:
        params = (("branch", "z9hG4bK1"), ("rport", None), ("received", "192.0.2.1"))
        assert format_params(params) == ";branch=z9hG4bK1;rport;received=192.0.2.1"
        assert parse_params(format_params(params)) == params

    def test_get_param_is_case_insensitive_and_flags_read_empty(self) -> None:
        params = (("Branch", "z9hG4bK1"), ("lr", None))
        assert get_param(params, "branch") == "z9hG4bK1"
        assert get_param(params, "LR") == ""
        assert get_param(params, "maddr") is None

    def test_set_param_replaces_in_place_or_appends(self) -> None:
        params = (("a", "1"), ("B", "2"), ("b", "3"))
        assert set_param(params, "b", "9") == (("a", "1"), ("B", "9"))
        assert set_param(params, "c", None) == (*params, ("c", None))

    def test_remove_param(self) -> None:
        assert remove_param((("a", "1"), ("A", "2"), ("b", None)), "a") == (("b", None),)


class TestQuoting:
    """§25.1 quoted-string and quoted-pair."""

    @pytest.mark.parametrize("text", ["", "plain", 'with "quotes"', "back\\slash", 'mix \\" "'])
    def test_quote_then_unquote_is_identity(self, text: str) -> None:
        assert unquote(quote(text)) == text

    def test_quote_escapes(self) -> None:
        assert quote('a"b\\c') == '"a\\"b\\\\c"'

    def test_unquote_leaves_unquoted_text_alone(self) -> None:
        assert unquote("token") == "token"
        assert unquote('"') == '"'
