"""The stateless 401's nonce: the same for every copy of a request, new for a new request.

RFC 3261 §8.2.7 (a UAS answering without a transaction), RFC 7616 §3.3
(nonce, stale) and §3.4 (nc). ``DigestServer.stateless_challenge_response``
computes its nonce from the request's MAC and the time rounded down to
``nonce_step`` (16 s). These tests hold it to what ``verify`` needs: it
verifies with the right password, it is never accepted later than
``nonce_lifetime`` after it was really issued, it is never born stale, and
its nc is still checked.
"""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from siplab.sip.auth import Challenge, parse_challenge
from siplab.sip.auth_server import AuthStatus, DigestServer
from siplab.sip.message import Request, Response, parse_message
from tests.sip.test_auth import USERS, answer, register, server


def register_with(old: str, new: str) -> Request:
    """Alice's first REGISTER with ``old`` replaced by ``new``."""
    text = register().to_bytes()
    assert old.encode() in text
    request = parse_message(text.replace(old.encode(), new.encode()))
    assert isinstance(request, Request)
    return request


def challenge_of(response: Response) -> Challenge:
    return parse_challenge(response.headers.get("WWW-Authenticate") or "")


def verify(registrar: DigestServer, challenge: Challenge, now: float, *,
           password: str = "wonderland", nc: int = 1) -> AuthStatus:
    credentials = answer(challenge, password=password, nc=nc)
    return registrar.verify(credentials, method="REGISTER", password_for=USERS, now=now).status


class TestStatelessNonce:
    """§8.2.7: every copy of a request gets the same 401; another request another nonce."""

    def test_server_gives_every_copy_in_a_step_the_same_401_bytes(self) -> None:
        registrar = server()
        first = registrar.stateless_challenge_response(register(), 100.0)
        for now in (100.5, 101.5, 103.5, 111.9):  # Timer E's resends, up to the step's end
            again = registrar.stateless_challenge_response(register(), now)
            assert again.to_bytes() == first.to_bytes()

    def test_server_gives_a_new_nonce_past_a_step_boundary(self) -> None:
        # The trade-off of the step: a copy that crosses a boundary (here at
        # 112 s) gets a new nonce, the same To tag.
        registrar = server()
        before = registrar.stateless_challenge_response(register(), 111.9)
        after = registrar.stateless_challenge_response(register(), 112.0)
        assert challenge_of(before).nonce != challenge_of(after).nonce
        assert before.to_tag == after.to_tag

    def test_server_gives_another_request_another_nonce(self) -> None:
        registrar = server()
        requests = [
            register(),
            register_with("CSeq: 1 REGISTER", "CSeq: 2 REGISTER"),
            register_with("Call-ID: 1j9FpLxk3uxtm8tn", "Call-ID: 2j9FpLxk3uxtm8tn"),
            register_with("branch=z9hG4bKfirst01", "branch=z9hG4bKfirst02"),
            register_with("tag=a73kszlfl", "tag=b73kszlfl"),
        ]
        nonces = {registrar.stateless_nonce(request, 100.0) for request in requests}
        assert len(nonces) == len(requests)

    def test_server_gives_challenges_with_state_a_random_nonce(self) -> None:
        registrar = server()
        assert registrar.make_nonce(100.0) != registrar.make_nonce(100.0)
        first = registrar.challenge_response(register(), 100.0)
        again = registrar.challenge_response(register(), 100.0)
        assert challenge_of(first).nonce != challenge_of(again).nonce

    def test_stateless_nonce_verifies_with_the_right_password_only(self) -> None:
        challenge = challenge_of(server().stateless_challenge_response(register(), 100.0))
        assert verify(server(), challenge, 100.1) is AuthStatus.OK
        assert verify(server(), challenge, 100.1, password="guess") is AuthStatus.WRONG_PASSWORD

    def test_stateless_nonce_is_stale_once_its_lifetime_has_passed(self) -> None:
        registrar = server(nonce_lifetime=300.0)
        challenge = challenge_of(registrar.stateless_challenge_response(register(), 100.0))
        assert registrar.nonce_issued_at(challenge.nonce) == 96.0  # a step of 16 s
        assert verify(server(), challenge, 395.9) is AuthStatus.OK
        # 300 s after the 96.0 it says: early (before 400.0), never late.
        assert verify(server(), challenge, 396.1) is AuthStatus.NONCE_EXPIRED

    def test_stateless_nonce_used_twice_with_one_nc_is_a_replay(self) -> None:
        registrar = server()
        challenge = challenge_of(registrar.stateless_challenge_response(register(), 100.0))
        assert verify(registrar, challenge, 100.1) is AuthStatus.OK
        assert verify(registrar, challenge, 100.2) is AuthStatus.NC_REPLAY
        assert verify(registrar, challenge, 100.3, nc=2) is AuthStatus.OK

    @given(now=st.floats(0.0, 1e9), lifetime=st.floats(1e-3, 1e6))
    def test_rounding_never_makes_a_just_issued_nonce_stale(self, now: float,
                                                            lifetime: float) -> None:
        registrar = server(nonce_lifetime=lifetime)
        nonce = registrar.stateless_nonce(register(), now)
        issued = registrar.nonce_issued_at(nonce)
        assert issued is not None
        assert registrar.nonce_step <= lifetime / 4
        assert now - registrar.nonce_step - 2 * math.ulp(now) <= issued <= now
        challenge = challenge_of(registrar.stateless_challenge_response(register(), now))
        assert challenge.nonce == nonce
        fresh = server(nonce_lifetime=lifetime)  # its own nc memory for each check
        assert verify(fresh, challenge, now) is AuthStatus.OK
        assert verify(server(nonce_lifetime=lifetime), challenge, now + lifetime / 2) \
            is AuthStatus.OK
        too_late = math.nextafter(now + lifetime, math.inf)  # never after it really expired
        assert verify(server(nonce_lifetime=lifetime), challenge, too_late) \
            is AuthStatus.NONCE_EXPIRED

    def test_stateless_nonces_of_this_step_outlive_a_memory_smaller_than_the_step(self) -> None:
        # Forgetting one of them would expire them all, the ones still on
        # their way in 401s too: nonces this young are kept past the cap.
        registrar = server(max_tracked_nonces=4)
        challenges = [
            challenge_of(registrar.stateless_challenge_response(
                register_with("CSeq: 1 ", f"CSeq: {cseq} "), 100.0))
            for cseq in range(1, 7)
        ]
        for challenge in challenges:
            assert verify(registrar, challenge, 100.1) is AuthStatus.OK
        assert registrar.tracked_nonces == 6
        later = registrar.stateless_challenge_response(register_with("CSeq: 1 ", "CSeq: 9 "),
                                                       100.2)
        assert registrar.nonce_issued_at(challenge_of(later).nonce) == 96.0  # the step's start
        assert verify(registrar, challenge_of(later), 100.3) is AuthStatus.OK
        assert verify(registrar, challenges[0], 100.4) is AuthStatus.NC_REPLAY
        assert verify(registrar, challenges[0], 100.4, nc=2) is AuthStatus.OK
