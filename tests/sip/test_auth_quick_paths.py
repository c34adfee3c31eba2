"""Digest authentication's quick paths give what the careful ones give.

A registrar reads an ``Authorization`` header, checks a nonce, writes a
challenge and a stateless To tag for every REGISTER, so each of those has a
quick way for the usual shape (RFC 7616 §3.3-3.4 headers as sipp, JsSIP,
SIP.js and siplab write them; nonces this server wrote). These tests hold the
quick ways to the careful reader, to str(Challenge), and to the HMAC layout the
:mod:`siplab.sip.auth_server` docstring gives.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from siplab.errors import SipParseError
from siplab.ids import IdSource
from siplab.sip.auth import Challenge, parse_challenge
from siplab.sip.auth_headers import _read_auth_params, _read_auth_params_carefully
from siplab.sip.auth_server import DigestServer
from tests.sip.test_auth import _HEADERISH, register

SECRET = b"siplab test secret, 32 bytes...."


def server(realm: str = "example.com", **options: Any) -> DigestServer:
    return DigestServer(realm, secret=SECRET, ids=IdSource(7), **options)


def read(reader: Callable[[str, str], object], text: str) -> object:
    """What a reader makes of ``text``: its parameters, or its error message."""
    try:
        return reader(text, "test")
    except SipParseError as exc:
        return ("error", str(exc))


def careful(text: str) -> object:
    return read(_read_auth_params_carefully, text.strip(" \t"))


class TestReadingAuthParams:
    """RFC 7616 §3.4: the quick reader of ``Digest name=value, ...`` agrees with the careful one."""

    @pytest.mark.parametrize(
        "text",
        [
            # sipp: no blanks, no qop
            'Digest username="alice",realm="127.0.0.1",uri="sip:127.0.0.1:15099",'
            'nonce="QI9AAAAAAABk-7Tg1vQBON7F33tj18hxlPdq3sfsv-8",'
            'response="4db8f01f1eb4896962ba3c7bb8090bcb",algorithm=MD5',
            # JsSIP: algorithm first, qop and nc as tokens
            'Digest algorithm=MD5, username="alice", realm="example.com", nonce="abc", '
            'uri="sip:example.com", response="0123", opaque="xyz", qop=auth, '
            'cnonce="c1", nc=00000001',
            # siplab's own, with an empty quoted value and a comma inside quotes
            'Digest username="", realm="a, b", nonce="n", uri="sip:x;a=b,c", response="r"',
            # blanks around = and , and at the ends
            '  Digest  username = "a" ,realm= "r",\tnonce ="n" , uri=u,response=r  ',
            # a trailing comma, an empty element: the careful reader skips them
            'Digest realm="r", nonce="n",',
            'Digest realm="r",, nonce="n"',
            # spellings the quick reader leaves to the careful one
            'digest realm="r", nonce="n"',
            'DIGEST realm="r"',
            "Digest\trealm=r",
            r'Digest realm="the \"lab\"", nonce="n"',
            "Digest realm=a\\b, nonce=n",
            # mistakes: the careful reader says what is wrong
            'Digest realm="r" nonce="n"',
            'Digest realm="r", realm="s"',
            'Digest Realm="r", realm="s"',
            'Digest realm="r", nonce="a\r\nVia: x"',
            "Digest realm=a\x7fb",
            'Digest realm="r", nonce=',
            'Digest realm="r", nonce',
            'Digest realm="r", =x',
            'Digest realm=a"b',
            'Digest realm="r',
            "Digest ,",
            "Digest",
            'Basic realm="r"',
            "",
        ],
    )
    def test_quick_reader_gives_what_the_careful_reader_gives(self, text: str) -> None:
        assert read(_read_auth_params, text) == careful(text)

    @given(_HEADERISH)
    def test_quick_reader_agrees_with_the_careful_reader_on_random_text(self, text: str) -> None:
        assert read(_read_auth_params, text) == careful(text)

    @given(st.text(alphabet='Digest ramnoc=",\\\t\x00\x1f\x7fé-', max_size=40))
    def test_quick_reader_agrees_on_text_made_of_the_awkward_characters(self, text: str) -> None:
        assert read(_read_auth_params, "Digest " + text) == careful("Digest " + text)


def mac(*parts: bytes) -> bytes:
    """The docstring's MAC: HMAC-SHA256 of the parts joined by NUL bytes."""
    return hmac.new(SECRET, b"\x00".join(parts), hashlib.sha256).digest()


class TestServerQuickPaths:
    """The precomputed MACs and challenge texts give the documented bytes (RFC 7616 §3.3)."""

    def test_server_nonce_is_issued_at_random_and_their_mac(self) -> None:
        registrar = server(realm="r\u00e9alm")
        nonce = registrar.make_nonce(1234.5)
        raw = base64.urlsafe_b64decode(nonce + "=")
        issued, random_part, signature = raw[:8], raw[8:16], raw[16:]
        assert struct.unpack(">d", issued)[0] == 1234.5
        assert signature == mac(b"nonce", "r\u00e9alm".encode(), issued, random_part)[:16]
        assert registrar.nonce_issued_at(nonce) == 1234.5

    @pytest.mark.parametrize(
        "respell",
        [
            lambda n: n + "=",  # padded
            lambda n: n[:-1],  # a character short
            lambda n: n + "A",  # a character long
            # the same bytes, with unused low bits set in the last character
            lambda n: n[:-1] + "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".index(n[-1]) + 1
            ],
            lambda n: n.replace("-", "+").replace("_", "/"),  # standard base64 alphabet
            lambda n: n[:-1] + "\u00e9",  # not ASCII
            lambda n: n[:-1] + "\x00",
            lambda n: "",
        ],
    )
    def test_server_refuses_a_nonce_in_another_spelling(
        self, respell: Callable[[str], str]
    ) -> None:
        registrar = server()
        # One with a "-" or "_" in it, for the standard alphabet to change.
        nonce = next(
            nonce
            for nonce in (registrar.make_nonce(float(now)) for now in range(100))
            if "-" in nonce or "_" in nonce
        )
        assert registrar.nonce_issued_at(nonce) is not None
        respelled = respell(nonce)
        assert respelled != nonce
        assert registrar.nonce_issued_at(respelled) is None

    def test_server_stateless_tag_and_nonce_are_the_mac_of_what_retransmissions_share(
        self,
    ) -> None:
        request = register()
        request_mac = mac(
            b"request",
            b"SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKfirst01;rport",
            b"1j9FpLxk3uxtm8tn@192.0.2.10",
            b"1 REGISTER",
            b"a73kszlfl",
        )
        assert server().stateless_tag(request) == request_mac[:5].hex()
        assert server().stateless_tag(register()) == request_mac[:5].hex()
        raw = base64.urlsafe_b64decode(server().stateless_nonce(request, 100.0) + "=")
        issued, random_part, signature = raw[:8], raw[8:16], raw[16:]
        assert struct.unpack(">d", issued)[0] == 96.0  # 100 s, rounded down to a 16 s step
        assert random_part == request_mac[5:13]
        assert signature == mac(b"nonce", b"example.com", issued, random_part)[:16]

    @pytest.mark.parametrize("stale", [False, True])
    @pytest.mark.parametrize(
        "options",
        [
            {},
            {"algorithms": ("SHA-256", "MD5-sess")},
            {"qop": "auth,auth-int"},
            {"qop": None},
            {"realm": 'the "lab" \\ realm, nonce="n"'},
        ],
    )
    def test_server_challenge_text_is_what_str_challenge_writes(
        self, options: dict[str, Any], stale: bool
    ) -> None:
        registrar = server(**options)
        response = registrar.challenge_response(register(), 5.0, stale=stale, to_tag="t")
        values = response.headers.get_all("WWW-Authenticate")
        nonce = parse_challenge(values[0]).nonce
        assert registrar.nonce_issued_at(nonce) == 5.0
        assert values == [
            str(Challenge(registrar.realm, nonce, algorithm, registrar.qop,
                          registrar.opaque, stale))
            for algorithm in registrar.algorithms
        ]
