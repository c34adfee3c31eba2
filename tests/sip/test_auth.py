"""Digest authentication: the RFCs' worked examples, the headers, the client and the server.

RFC 2617 §3.5 and RFC 7616 §3.9.1 (worked examples, checked with their fixed
cnonce), RFC 7616 §3.3-3.4 (header fields), RFC 8760 (SHA-256 in SIP, one
challenge per algorithm), RFC 3261 §22 (401/407, the retried request).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from siplab.errors import LocalProtocolError, SipParseError
from siplab.ids import IdSource
from siplab.sip.auth import (
    Challenge,
    Credentials,
    DigestClient,
    UnsupportedChallenge,
    add_authorization,
    authorize,
    challenges_from,
    choose_challenge,
    compute_response,
    parse_challenge,
    parse_credentials,
)
from siplab.sip.auth_server import AuthStatus, DigestServer
from siplab.sip.build import build_response
from siplab.sip.grammar import quote
from siplab.sip.message import Request, Response, parse_message
from tests.helpers import crlf

SECRET = b"siplab test secret, 32 bytes...."
USERS = {"alice": "wonderland", "bob": "builder"}


def register() -> Request:
    """Alice's first REGISTER, before any challenge."""
    message = parse_message(
        crlf("""
            REGISTER sip:example.com SIP/2.0
            Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKfirst01;rport
            Max-Forwards: 70
            To: <sip:alice@example.com>
            From: Alice <sip:alice@example.com>;tag=a73kszlfl
            Call-ID: 1j9FpLxk3uxtm8tn@192.0.2.10
            CSeq: 1 REGISTER
            Contact: <sip:alice@192.0.2.10:5060>
            Expires: 3600
            Content-Length: 0

        """)
    )
    assert isinstance(message, Request)
    return message


def on_the_wire(message: Request | Response) -> Request | Response:
    """What the peer reads: the message written to bytes and parsed back."""
    return parse_message(message.to_bytes())


def server(**options: Any) -> DigestServer:
    return DigestServer("example.com", secret=SECRET, ids=IdSource(7), **options)


def answer(challenge: Challenge, *, password: str = "wonderland", **options: Any) -> Credentials:
    """Alice's credentials for a REGISTER to sip:example.com."""
    return authorize(
        challenge,
        method="REGISTER",
        uri="sip:example.com",
        username="alice",
        password=password,
        ids=IdSource(3),
        **options,
    )


# -- the RFCs' worked examples ---------------------------------------------------------------

RFC2617_CHALLENGE = (
    'Digest realm="testrealm@host.com", qop="auth,auth-int", '
    'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"'
)
RFC2617_AUTHORIZATION = (
    'Digest username="Mufasa", realm="testrealm@host.com", '
    'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", qop=auth, '
    'nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1", '
    'opaque="5ccc069c403ebaf9f0171e9517f40e41"'
)
RFC7616_NONCE = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
RFC7616_CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
RFC7616_OPAQUE = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"


class TestWorkedExamples:
    """RFC 2617 §3.5, RFC 7616 §3.9.1 and the RFC 2069 example (with its erratum)."""

    def test_rfc2617_md5_qop_auth_response(self) -> None:
        response = compute_response(
            algorithm="MD5",
            username="Mufasa",
            realm="testrealm@host.com",
            password="Circle Of Life",
            method="GET",
            uri="/dir/index.html",
            nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
            qop="auth",
            nc=1,
            cnonce="0a4f113b",
        )
        assert response == "6629fae49393a05397450978507c4ef1"

    def test_rfc2617_authorize_builds_the_rfc_authorization_header(self) -> None:
        credentials = authorize(
            parse_challenge(RFC2617_CHALLENGE),
            method="GET",
            uri="/dir/index.html",
            username="Mufasa",
            password="Circle Of Life",
            ids=IdSource(1),
            cnonce="0a4f113b",
        )
        assert credentials == parse_credentials(RFC2617_AUTHORIZATION)

    @pytest.mark.parametrize(
        ("algorithm", "expected"),
        [
            ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
            ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
        ],
    )
    def test_rfc7616_responses(self, algorithm: str, expected: str) -> None:
        challenge = parse_challenge(
            f'Digest realm="http-auth@example.org", qop="auth, auth-int", '
            f'algorithm={algorithm}, nonce="{RFC7616_NONCE}", opaque="{RFC7616_OPAQUE}"'
        )
        credentials = authorize(
            challenge,
            method="GET",
            uri="/dir/index.html",
            username="Mufasa",
            password="Circle of Life",
            ids=IdSource(1),
            cnonce=RFC7616_CNONCE,
        )
        assert credentials.response == expected
        assert f"algorithm={algorithm}, " in str(credentials)
        assert "qop=auth, nc=00000001" in str(credentials)

    def test_rfc7616_sha256_authorization_header_checks_out(self) -> None:
        credentials = parse_credentials(
            f'Digest username="Mufasa", realm="http-auth@example.org", uri="/dir/index.html", '
            f'algorithm=SHA-256, nonce="{RFC7616_NONCE}", nc=00000001, '
            f'cnonce="{RFC7616_CNONCE}", qop=auth, '
            f'response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1", '
            f'opaque="{RFC7616_OPAQUE}"'
        )
        recomputed = compute_response(
            algorithm=credentials.algorithm,
            username=credentials.username,
            realm=credentials.realm,
            password="Circle of Life",
            method="GET",
            uri=credentials.uri,
            nonce=credentials.nonce,
            qop=credentials.qop,
            nc=credentials.nc,
            cnonce=credentials.cnonce,
        )
        assert recomputed == credentials.response

    def test_rfc2069_response_without_qop(self) -> None:
        # RFC 2069 §2.4 printed e966c932...; its erratum gives the value below.
        response = compute_response(
            algorithm=None,
            username="Mufasa",
            realm="testrealm@host.com",
            password="CircleOfLife",
            method="GET",
            uri="/dir/index.html",
            nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
        )
        assert response == "1949323746fe6a43ef61f9606e7febea"


# -- parsing and writing the headers -----------------------------------------------------------


class TestHeaders:
    """RFC 7616 §3.3 (challenge), §3.4 (credentials), RFC 3261 §25.1 (quoted strings)."""

    def test_parse_challenge_reads_every_field(self) -> None:
        challenge = parse_challenge(
            'Digest realm="atlanta.com", domain="sip:boxesbybob.com", qop="auth,auth-int", '
            'nonce="f84f1cec41e6cbe5aea9c8e88d359", opaque="", stale=TRUE, algorithm=MD5'
        )
        assert challenge == Challenge(
            realm="atlanta.com",
            nonce="f84f1cec41e6cbe5aea9c8e88d359",
            algorithm="MD5",
            qop=("auth", "auth-int"),
            opaque="",
            stale=True,
            domain="sip:boxesbybob.com",
        )

    def test_parse_challenge_tolerates_spaces_case_and_commas_in_quotes(self) -> None:
        challenge = parse_challenge(
            'digest  REALM = "Lab, Room 2" ,Nonce="n,1",,  qop=auth , Stale=true,algorithm=sha-256'
        )
        assert challenge.realm == "Lab, Room 2"
        assert challenge.nonce == "n,1"
        assert challenge.qop == ("auth",)
        assert challenge.stale is True
        assert challenge.algorithm_name == "SHA-256"

    def test_parse_challenge_keeps_unknown_params(self) -> None:
        challenge = parse_challenge(
            'Digest realm="r", nonce="n", charset=UTF-8, userhash=false, x-note="a, b"'
        )
        assert challenge.params == (
            ("charset", "UTF-8"),
            ("userhash", "false"),
            ("x-note", '"a, b"'),
        )
        assert str(challenge).endswith('charset=UTF-8, userhash=false, x-note="a, b"')

    def test_challenge_str_quotes_realm_nonce_opaque_but_not_algorithm_or_stale(self) -> None:
        challenge = Challenge(
            realm="example.com", nonce="abc", algorithm="SHA-256", qop=("auth",),
            opaque="xyz", stale=True,
        )  # fmt: skip
        assert str(challenge) == (
            'Digest realm="example.com", nonce="abc", opaque="xyz", stale=TRUE, '
            'algorithm=SHA-256, qop="auth"'
        )

    def test_credentials_str_quotes_strings_but_not_algorithm_qop_nc(self) -> None:
        credentials = Credentials(
            username="alice", realm="example.com", nonce="abc", uri="sip:example.com",
            response="0123abcd", algorithm="MD5", cnonce="c1", opaque="xyz", qop="auth", nc=10,
        )  # fmt: skip
        assert str(credentials) == (
            'Digest username="alice", realm="example.com", nonce="abc", uri="sip:example.com", '
            'response="0123abcd", algorithm=MD5, cnonce="c1", opaque="xyz", qop=auth, '
            "nc=0000000a"
        )

    def test_quoted_values_are_unescaped_and_escaped_back(self) -> None:
        challenge = parse_challenge(r'Digest realm="the \"lab\" \\ realm", nonce="n"')
        assert challenge.realm == 'the "lab" \\ realm'
        assert str(challenge) == r'Digest realm="the \"lab\" \\ realm", nonce="n"'

    @pytest.mark.parametrize(
        "value",
        [
            RFC2617_CHALLENGE,
            'Digest realm="example.com", nonce="n", algorithm=MD5-sess, qop="auth", stale=TRUE',
            'Digest realm="", nonce="", opaque="", domain="sip:a.example sip:b.example"',
        ],
    )
    def test_challenge_round_trips_through_str(self, value: str) -> None:
        challenge = parse_challenge(value)
        assert parse_challenge(str(challenge)) == challenge

    def test_credentials_round_trip_through_str(self) -> None:
        credentials = parse_credentials(RFC2617_AUTHORIZATION)
        assert parse_credentials(str(credentials)) == credentials
        assert credentials.nc == 1

    @pytest.mark.parametrize(
        ("value", "reason"),
        [
            ('Basic realm="example.com"', "not Digest"),
            ("", "missing authentication scheme"),
            ('Digest nonce="n"', "missing realm"),
            ('Digest realm="r"', "missing nonce"),
            ('Digest realm="r", nonce="n', "unterminated"),
            ('Digest realm="r" nonce="n"', "expected ','"),
            ('Digest realm="r", nonce', "no '='"),
            ('Digest realm="r", nonce=', "empty value"),
            ('Digest realm="r", realm="s", nonce="n"', "twice"),
            ('Digest realm="r", =x, nonce="n"', "parameter name"),
            ('Digest realm="r", nonce="a\r\nVia: x"', "control character"),
        ],
    )
    def test_malformed_challenge_raises_sip_parse_error(self, value: str, reason: str) -> None:
        with pytest.raises(SipParseError, match=reason):
            parse_challenge(value)

    @pytest.mark.parametrize(
        ("change", "reason"),
        [
            (("nc=00000001", "nc=1"), "bad nc"),
            (("nc=00000001", "nc=0000000G"), "bad nc"),
            (("nc=00000001", "nc=0000000A"), "bad nc"),
            (("nc=00000001", "nc=000000001"), "bad nc"),
            (('response="6629fae49393a05397450978507c4ef1", ', ""), "missing response"),
            (('username="Mufasa", ', ""), "missing username"),
            (('uri="/dir/index.html", ', ""), "missing uri"),
        ],
    )
    def test_malformed_credentials_raise_sip_parse_error(
        self, change: tuple[str, str], reason: str
    ) -> None:
        value = RFC2617_AUTHORIZATION.replace(*change)
        assert value != RFC2617_AUTHORIZATION
        with pytest.raises(SipParseError, match=reason):
            parse_credentials(value)


# Text that looks a lot like an auth header, to reach deep into the parser.
_PIECES = [
    "Digest ", "digest ", "realm", "nonce", "username", "uri", "response", "nc", "qop",
    "algorithm", "stale", "=", ",", '"', "\\", " ", "\t", "x", "00000001", "auth", "MD5", "<",
]  # fmt: skip
_NAMES = ["realm", "nonce", "username", "uri", "response", "nc", "qop", "algorithm", "stale",
          "opaque", "cnonce", "domain", "charset", "Realm", "NONCE"]  # fmt: skip
_VALUE = st.one_of(
    st.text(max_size=12).map(quote),
    st.text(alphabet="abcAUTHmd5-SHA256sess0123456789=/", min_size=1, max_size=10),
    st.sampled_from(["00000001", "0000000f", "auth", '"auth,auth-int"', "TRUE", "MD5-sess"]),
)
_REQUIRED = ["username", "realm", "nonce", "uri", "response"]
_PARAMS = st.tuples(
    st.lists(st.sampled_from(_REQUIRED), unique=True),  # often all of them, in any order
    st.lists(st.tuples(st.sampled_from(_NAMES), _VALUE), max_size=4),
    st.lists(_VALUE, min_size=5, max_size=5),
).map(
    lambda parts: (
        "Digest "
        + ", ".join(
            [f"{name}={value}" for name, value in zip(parts[0], parts[2], strict=False)]
            + [f"{name}={value}" for name, value in parts[1]]
        )
    )
)
_HEADERISH = st.one_of(
    st.text(max_size=80),
    st.lists(st.sampled_from(_PIECES), max_size=30).map("".join),
    st.lists(st.sampled_from(_PIECES), max_size=30).map(lambda parts: "Digest " + "".join(parts)),
    _PARAMS,
)


@given(_HEADERISH)
def test_random_text_is_a_challenge_or_a_sip_parse_error(text: str) -> None:
    try:
        challenge = parse_challenge(text)
    except SipParseError:
        return
    assert parse_challenge(str(challenge)) == challenge


@given(_HEADERISH)
def test_random_text_is_credentials_or_a_sip_parse_error(text: str) -> None:
    try:
        credentials = parse_credentials(text)
    except SipParseError:
        return
    assert parse_credentials(str(credentials)) == credentials


# -- choosing among challenges (RFC 8760) ----------------------------------------------------


def offered(*algorithms: str | None, qop: tuple[str, ...] = ("auth",)) -> list[Challenge]:
    return [Challenge("example.com", f"n{i}", a, qop) for i, a in enumerate(algorithms)]


class TestChooseChallenge:
    """RFC 8760 §2.3-2.4: one challenge per algorithm; the client answers one per realm."""

    def test_client_prefers_sha256_even_when_listed_second(self) -> None:
        chosen = choose_challenge(offered("MD5", "SHA-256"))
        assert chosen is not None
        assert chosen.algorithm == "SHA-256"

    def test_client_limited_to_md5_picks_md5(self) -> None:
        chosen = choose_challenge(offered("SHA-256", "MD5"), supported=("MD5",))
        assert chosen is not None
        assert chosen.algorithm == "MD5"

    def test_missing_algorithm_means_md5(self) -> None:
        chosen = choose_challenge(offered("SHA-512-256", None), supported=("MD5",))
        assert chosen is not None
        assert chosen.algorithm is None

    def test_sess_variant_is_covered_by_its_base_name(self) -> None:
        chosen = choose_challenge(offered("MD5", "SHA-256-sess"))
        assert chosen is not None
        assert chosen.algorithm == "SHA-256-sess"

    def test_unknown_algorithm_or_qop_is_skipped(self) -> None:
        assert choose_challenge(offered("SHA-512-256")) is None
        assert choose_challenge(offered("MD5", qop=("auth-conf",))) is None


# -- the client: retrying a challenged request -------------------------------------------------


def challenge_401(*lines: tuple[str, str], status: int = 401) -> Response:
    """A 401/407 for register() carrying the given challenge header lines."""
    return build_response(register(), status, to_tag="srv1", headers=list(lines))


class TestClient:
    """RFC 3261 §22.2-22.3 and §8.1.3.5: the retried request is a new transaction."""

    def test_retry_increments_cseq_changes_branch_keeps_dialog_ids(self) -> None:
        request = register()
        response = on_the_wire(challenge_401(("WWW-Authenticate", RFC2617_CHALLENGE)))
        assert isinstance(response, Response)
        retry = add_authorization(
            request, response, username="alice", password="wonderland", ids=IdSource(5)
        )
        assert retry.cseq.number == request.cseq.number + 1
        assert retry.cseq.method == "REGISTER"
        assert retry.branch != request.branch
        assert retry.branch is not None
        assert retry.branch.startswith("z9hG4bK")
        assert retry.call_id == request.call_id
        assert retry.from_tag == request.from_tag == "a73kszlfl"
        assert retry.headers.get("To") == request.headers.get("To")
        assert "Proxy-Authorization" not in retry.headers
        assert "Authorization" not in request.headers  # the original is untouched
        credentials = parse_credentials(retry.headers.get("Authorization") or "")
        assert (credentials.username, credentials.uri) == ("alice", "sip:example.com")
        lines = [name for name, _ in retry.headers]
        assert lines[-2:] == ["Authorization", "Content-Length"]

    def test_407_is_answered_with_proxy_authorization(self) -> None:
        response = challenge_401(
            ("Proxy-Authenticate", 'Digest realm="proxy.example.com", nonce="p1", qop="auth"'),
            status=407,
        )
        retry = add_authorization(
            register(), response, username="alice", password="wonderland", ids=IdSource(5)
        )
        assert "Authorization" not in retry.headers
        credentials = parse_credentials(retry.headers.get("Proxy-Authorization") or "")
        assert credentials.realm == "proxy.example.com"
        assert credentials.nonce == "p1"

    def test_nc_counts_up_when_a_nonce_is_reused(self) -> None:
        client = DigestClient("alice", "wonderland", ids=IdSource(5))
        response = challenge_401(("WWW-Authenticate", 'Digest realm="r", nonce="same", qop=auth'))
        first = client.add_authorization(register(), response)
        second = client.add_authorization(first, response)
        assert "nc=00000001" in (first.headers.get("Authorization") or "")
        assert "nc=00000002" in (second.headers.get("Authorization") or "")
        assert second.headers.get_all("Authorization") == [second.headers.get("Authorization")]
        assert second.cseq.number == 3
        other = client.authorize(
            Challenge("r", "fresh", qop=("auth",)), method="REGISTER", uri="sip:r"
        )
        assert other.nc == 1

    def test_answer_for_another_realm_is_kept(self) -> None:
        proxy_challenge = challenge_401(
            ("Proxy-Authenticate", 'Digest realm="proxy", nonce="p1", qop="auth"'), status=407
        )
        registrar_challenge = challenge_401(("WWW-Authenticate", 'Digest realm="reg", nonce="r1"'))
        client = DigestClient("alice", "wonderland", ids=IdSource(5))
        first = client.add_authorization(register(), proxy_challenge)
        second = client.add_authorization(first, registrar_challenge)
        assert parse_credentials(second.headers.get("Proxy-Authorization") or "").realm == "proxy"
        credentials = parse_credentials(second.headers.get("Authorization") or "")
        assert credentials.realm == "reg"
        assert credentials.qop is None
        assert credentials.nc is None

    def test_password_never_shows(self) -> None:
        client = DigestClient("alice", "s3cret-Pa55", ids=IdSource(5))
        response = challenge_401(("WWW-Authenticate", 'Digest realm="r", nonce="n", qop="auth"'))
        retry = client.add_authorization(register(), response)
        credentials = client.authorize(
            Challenge("r", "n", qop=("auth",)), method="REGISTER", uri="sip:r"
        )
        shown = [repr(client), str(client), repr(credentials), str(credentials), str(retry)]
        assert all("s3cret-Pa55" not in text for text in shown)
        assert "<hidden>" in repr(client)

    def test_unanswerable_challenges_raise(self) -> None:
        response = challenge_401(
            ("WWW-Authenticate", 'Digest realm="r", nonce="n", algorithm=SHA-512-256'),
            ("WWW-Authenticate", 'Basic realm="r"'),
        )
        with pytest.raises(UnsupportedChallenge, match="no digest challenge"):
            add_authorization(register(), response, username="a", password="b", ids=IdSource(5))
        with pytest.raises(LocalProtocolError, match="not a challenge"):
            add_authorization(
                register(),
                build_response(register(), 403),
                username="a",
                password="b",
                ids=IdSource(5),
            )

    def test_challenges_from_skips_other_schemes(self) -> None:
        response = challenge_401(
            ("WWW-Authenticate", 'Basic realm="r"'),
            ("WWW-Authenticate", 'Digest realm="r", nonce="n"'),
        )
        assert [c.nonce for c in challenges_from(response)] == ["n"]


# -- the server ------------------------------------------------------------------------------------


class TestServer:
    """RFC 7616 §3.3-3.4 (nonce, stale, nc), RFC 8760 §2.3 (challenge order), RFC 3261 §22."""

    @pytest.mark.parametrize("supported", [("SHA-256",), ("MD5",)])
    def test_register_challenge_and_retry_is_accepted(self, supported: tuple[str, ...]) -> None:
        registrar = server()
        request = register()
        first = registrar.check_request(request, 10.0, password_for=USERS)
        assert first.status is AuthStatus.NO_CREDENTIALS
        response = on_the_wire(registrar.challenge_response(request, 10.0))
        assert isinstance(response, Response)
        assert response.status == 401
        assert response.to_tag is not None
        client = DigestClient("alice", "wonderland", ids=IdSource(5), supported=supported)
        retry = on_the_wire(client.add_authorization(request, response))
        assert isinstance(retry, Request)
        assert f"algorithm={supported[0]}," in (retry.headers.get("Authorization") or "")
        result = registrar.check_request(retry, 11.0, password_for=USERS)
        assert result.ok, result
        assert result.username == "alice"

    def test_challenge_headers_follow_the_configured_algorithm_order(self) -> None:
        default = server().challenge_response(register(), 0.0).to_bytes()
        assert default.index(b"algorithm=MD5") < default.index(b"algorithm=SHA-256")
        rfc8760 = server(algorithms=("SHA-256", "MD5")).challenge_response(register(), 0.0)
        values = rfc8760.headers.get_all("WWW-Authenticate")
        assert [parse_challenge(v).algorithm for v in values] == ["SHA-256", "MD5"]
        assert len({parse_challenge(v).nonce for v in values}) == 1

    def test_407_uses_proxy_authenticate_and_proxy_authorization(self) -> None:
        proxy = server()
        response = proxy.challenge_response(register(), 0.0, status=407)
        assert response.headers.get_all("WWW-Authenticate") == []
        assert len(response.headers.get_all("Proxy-Authenticate")) == 2
        retry = add_authorization(
            register(), response, username="bob", password="builder", ids=IdSource(5)
        )
        assert proxy.check_request(retry, 1.0, password_for=USERS).ok is False
        assert proxy.check_request(retry, 1.0, password_for=USERS, proxy=True).ok

    def test_expired_nonce_gives_stale_and_the_client_recovers(self) -> None:
        registrar = server(nonce_lifetime=300.0)
        challenge = registrar.challenge(0.0)[0]
        late = registrar.verify(answer(challenge), method="REGISTER", password_for=USERS, now=301.0)
        assert late.status is AuthStatus.NONCE_EXPIRED
        assert late.stale
        response = registrar.challenge_response(register(), 301.0, stale=late.stale)
        assert "stale=TRUE" in (response.headers.get("WWW-Authenticate") or "")
        fresh = parse_challenge(response.headers.get("WWW-Authenticate") or "")
        assert registrar.verify(answer(fresh), method="REGISTER", password_for=USERS, now=302.0).ok

    def test_expired_nonce_with_wrong_password_is_not_stale(self) -> None:
        registrar = server()
        challenge = registrar.challenge(0.0)[0]
        credentials = answer(challenge, password="guess")
        result = registrar.verify(credentials, method="REGISTER", password_for=USERS, now=999.0)
        assert result.status is AuthStatus.WRONG_PASSWORD
        assert not result.stale

    def test_forged_nonces_are_rejected(self) -> None:
        registrar = server()
        genuine = registrar.challenge(0.0)[0]
        other = DigestServer("example.com", secret=b"another secret", ids=IdSource(7))
        tampered = genuine.nonce[:-1] + ("A" if genuine.nonce[-1] != "A" else "B")
        for nonce in [
            tampered,
            other.challenge(0.0)[0].nonce,
            "dcd98b7102dd2f0e8b11d0f600bfb0c093",
        ]:
            forged = Challenge(genuine.realm, nonce, genuine.algorithm, genuine.qop)
            result = registrar.verify(
                answer(forged), method="REGISTER", password_for=USERS, now=1.0
            )
            assert result.status is AuthStatus.NONCE_FORGED, nonce

    def test_wrong_opaque_is_rejected(self) -> None:
        registrar = server()
        genuine = registrar.challenge(0.0)[0]
        changed = Challenge(genuine.realm, genuine.nonce, "MD5", ("auth",), opaque="other")
        result = registrar.verify(answer(changed), method="REGISTER", password_for=USERS, now=1.0)
        assert result.status is AuthStatus.NONCE_FORGED

    def test_nc_replay_is_rejected(self) -> None:
        registrar = server()
        challenge = registrar.challenge(0.0)[0]

        def check(credentials: Credentials) -> AuthStatus:
            return registrar.verify(
                credentials, method="REGISTER", password_for=USERS, now=1.0
            ).status

        first = answer(challenge, nc=1)
        assert check(first) is AuthStatus.OK
        assert check(first) is AuthStatus.NC_REPLAY  # the very same request again
        assert check(answer(challenge, nc=5)) is AuthStatus.OK
        assert check(answer(challenge, nc=3)) is AuthStatus.NC_REPLAY  # lower than seen
        assert check(answer(challenge, nc=6)) is AuthStatus.OK

    def test_wrong_password_and_unknown_user_are_rejected(self) -> None:
        registrar = server()
        challenge = registrar.challenge(0.0)[0]
        wrong = registrar.verify(
            answer(challenge, password="guess"), method="REGISTER", password_for=USERS, now=1.0
        )
        assert wrong.status is AuthStatus.WRONG_PASSWORD
        lookup = {"bob": "builder"}.get
        unknown = registrar.verify(
            answer(challenge), method="REGISTER", password_for=lookup, now=1.0
        )
        assert unknown.status is AuthStatus.UNKNOWN_USER
        assert unknown.username == "alice"

    def test_response_for_another_method_is_rejected(self) -> None:
        registrar = server()
        credentials = answer(registrar.challenge(0.0)[0])
        result = registrar.verify(credentials, method="INVITE", password_for=USERS, now=1.0)
        assert result.status is AuthStatus.WRONG_PASSWORD

    @pytest.mark.parametrize("algorithm", ["MD5", "MD5-sess", "SHA-256", "SHA-256-sess"])
    def test_every_algorithm_is_accepted(self, algorithm: str) -> None:
        registrar = server(algorithms=(algorithm,))
        (challenge,) = registrar.challenge(0.0)
        assert challenge.algorithm == algorithm
        credentials = answer(challenge)
        assert credentials.algorithm == algorithm
        assert registrar.verify(credentials, method="REGISTER", password_for=USERS, now=1.0).ok

    def test_algorithm_not_offered_is_unsupported(self) -> None:
        md5_only = server(algorithms=("MD5",))
        sha = Challenge("example.com", md5_only.make_nonce(0.0), "SHA-256", ("auth",))
        result = md5_only.verify(answer(sha), method="REGISTER", password_for=USERS, now=1.0)
        assert result.status is AuthStatus.UNSUPPORTED

    def test_wrong_realm_and_missing_fields(self) -> None:
        registrar = server()
        challenge = registrar.challenge(0.0)[0]
        good = answer(challenge)
        elsewhere = Credentials(
            good.username, "elsewhere.com", good.nonce, good.uri, good.response, "MD5",
            good.cnonce, good.opaque, good.qop, good.nc,
        )  # fmt: skip
        no_nc = Credentials(
            good.username, good.realm, good.nonce, good.uri, good.response, "MD5",
            good.cnonce, good.opaque, good.qop, None,
        )  # fmt: skip
        no_qop = Credentials(good.username, good.realm, good.nonce, good.uri, good.response)
        results = [
            registrar.verify(c, method="REGISTER", password_for=USERS, now=1.0).status
            for c in (elsewhere, no_nc, no_qop)
        ]
        assert results == [
            AuthStatus.WRONG_REALM,
            AuthStatus.MISSING_FIELDS,
            AuthStatus.MISSING_FIELDS,
        ]

    def test_auth_int_covers_the_body(self) -> None:
        registrar = server(qop="auth-int")
        (challenge, _) = registrar.challenge(0.0)
        credentials = answer(challenge, body=b"v=0\r\n")
        assert credentials.qop == "auth-int"

        def check(body: bytes) -> AuthStatus:
            return registrar.verify(
                credentials, method="REGISTER", password_for=USERS, now=1.0, body=body
            ).status

        assert check(b"v=1\r\n") is AuthStatus.WRONG_PASSWORD  # a changed body fails
        assert check(b"v=0\r\n") is AuthStatus.OK

    def test_rfc2069_client_without_qop(self) -> None:
        registrar = server(qop=None)
        (challenge, _) = registrar.challenge(0.0)
        assert "qop" not in str(challenge)
        credentials = answer(challenge)
        assert credentials.nc is None
        assert credentials.cnonce is None
        assert registrar.verify(credentials, method="REGISTER", password_for=USERS, now=1.0).ok

    def test_digest_uri_may_differ_from_request_uri_like_sipp(self) -> None:
        registrar = server()
        challenge = registrar.challenge(0.0)[0]
        credentials = authorize(
            challenge, method="REGISTER", uri="sip:127.0.0.1:5060", username="bob",
            password="builder", ids=IdSource(1),
        )  # fmt: skip
        request = register()
        request.headers.add("Authorization", str(credentials))
        assert registrar.check_request(request, 1.0, password_for=USERS).ok

    def test_check_request_finds_its_realm_among_several(self) -> None:
        registrar = server()
        credentials = answer(registrar.challenge(0.0)[0])
        request = register()
        request.headers.add("Authorization", 'Digest username="a", realm="other"')
        request.headers.add("Authorization", str(credentials))
        assert registrar.check_request(request, 1.0, password_for=USERS).ok
        malformed = register()
        malformed.headers.add("Authorization", 'Digest username="a", realm="other"')
        result = registrar.check_request(malformed, 1.0, password_for=USERS)
        assert result.status is AuthStatus.MALFORMED
        assert "missing" in result.detail

    def test_nc_memory_is_bounded_and_forgotten_nonces_count_as_stale(self) -> None:
        # Used at 100 s: past the 48 s (a step and Timer F) nonces are kept beyond the cap.
        registrar = server(max_tracked_nonces=4, nonce_lifetime=300.0)
        nonces = [registrar.challenge(float(t))[0] for t in range(10)]
        for challenge in nonces:
            result = registrar.verify(
                answer(challenge), method="REGISTER", password_for=USERS, now=100.0
            )
            assert result.ok
            assert registrar.tracked_nonces <= 4
        # The first nonce's nc was forgotten: its replay is not accepted, only stale.
        replay = registrar.verify(
            answer(nonces[0]), method="REGISTER", password_for=USERS, now=101.0
        )
        assert replay.status is AuthStatus.NONCE_EXPIRED
        # Once the lifetime has passed, the expired ones are swept away.
        later = registrar.challenge(400.0)[0]
        assert registrar.verify(answer(later), method="REGISTER", password_for=USERS, now=401.0).ok
        assert registrar.tracked_nonces == 1

    def test_nonces_used_out_of_issue_order_are_never_replayed_once_forgotten(self) -> None:
        registrar = server(max_tracked_nonces=4, nonce_lifetime=300.0)
        nonces = [registrar.challenge(float(t))[0] for t in range(10)]
        used = [nonces[i] for i in (9, 2, 7, 0, 5, 1, 8, 3, 6, 4)]  # first used != first issued
        for challenge in used:  # a nonce older than a forgotten one is stale, never replayable
            first = registrar.verify(answer(challenge), method="REGISTER", password_for=USERS,
                                     now=100.0)
            assert first.status in (AuthStatus.OK, AuthStatus.NONCE_EXPIRED)
            assert registrar.tracked_nonces <= 4
        for challenge in nonces:  # a second use of any of them is refused, tracked or not
            again = registrar.verify(answer(challenge), method="REGISTER", password_for=USERS,
                                     now=101.0)
            assert again.status in (AuthStatus.NONCE_EXPIRED, AuthStatus.NC_REPLAY)

    def test_nonces_issued_within_two_steps_are_kept_past_the_cap(self) -> None:
        # Forgetting one would expire every nonce issued no later than it,
        # the stateless 401s of this very step among them (nonce_counts).
        registrar = server(max_tracked_nonces=4, nonce_lifetime=300.0)
        nonces = [registrar.challenge(100.0 + t / 10)[0] for t in range(10)]
        for challenge in nonces:
            assert registrar.verify(answer(challenge), method="REGISTER", password_for=USERS,
                                    now=101.0).ok
        assert registrar.tracked_nonces == 10
        # Issued after them, but labelled 96 s, before them: still good.
        late = challenges_from(registrar.stateless_challenge_response(register(), 101.5))[0]
        assert registrar.nonce_issued_at(late.nonce) == 96.0  # its 16 s step
        assert registrar.verify(answer(late), method="REGISTER", password_for=USERS,
                                now=101.6).ok

    def test_secret_is_not_shown_and_bad_settings_are_refused(self) -> None:
        assert "siplab test secret" not in repr(server())
        with pytest.raises(ValueError, match="unsupported"):
            server(algorithms=("SHA-512-256",))
        with pytest.raises(ValueError, match="qop"):
            server(qop="auth-conf")
        with pytest.raises(ValueError, match="401 or 407"):
            server().challenge_response(register(), 0.0, status=403)
