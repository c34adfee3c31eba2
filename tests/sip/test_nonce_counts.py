"""The nc memory: replays refused, memory bounded, forgetting never lets a replay in.

RFC 7616 §3.4 (nc counts the requests sent with one nonce) and §5.5
(replays). :class:`~siplab.sip.nonce_counts.NonceCounts` keeps the highest nc
of each nonce used, forgets the first used beyond its cap, and from then on
every nonce issued no later than those counts as expired. The stateless 401s'
nonces share one ``issued_at`` per 16 s step, so nonces younger than a step
and Timer F (48 s) are kept past the cap: those still on their way to their
clients survive, and so do the answers a client is still resending.
"""

from __future__ import annotations

from siplab.sip.auth_server import AuthStatus
from siplab.sip.nonce_counts import NonceCounts
from tests.sip.test_auth import server
from tests.sip.test_auth_server import challenge_of, register_with, verify


class TestNonceCounts:
    """The memory itself: highest nc, the cap, the sweep."""

    def test_counts_remember_the_highest_nc_of_each_nonce(self) -> None:
        counts = NonceCounts(lifetime=300.0, cap=10)
        assert counts.last("n") is None
        counts.record("n", 1.0, 1, now=2.0)
        counts.record("n", 1.0, 3, now=3.0)
        assert counts.last("n") == 3
        assert len(counts) == 1

    def test_counts_forget_the_nonces_first_used_longest_ago_beyond_the_cap(self) -> None:
        counts = NonceCounts(lifetime=300.0, cap=4)
        for nonce, issued in [("c", 3.0), ("a", 1.0), ("d", 4.0), ("b", 2.0), ("e", 5.0)]:
            counts.record(nonce, issued, 1, now=10.0)
        assert len(counts) == 4
        assert counts.last("c") is None  # first used, first forgotten
        assert counts.forgotten_until == 3.0  # so a, b and c now count as expired
        assert counts.last("a") == 1  # issued before c, used after it: still known

    def test_counts_keep_recent_nonces_past_the_cap_and_forget_them_once_older(self) -> None:
        counts = NonceCounts(lifetime=300.0, cap=4, protect=32.0)
        for n in range(8):
            counts.record(f"n{n}", 100.0, 1, now=101.0)
        assert len(counts) == 8  # all issued less than 32 s ago
        assert counts.forgotten_until < 0.0
        counts.record("later", 139.0, 1, now=140.0)  # the first eight are 40 s old now
        assert len(counts) == 4
        assert counts.last("n4") is None  # the first five used, forgotten
        assert counts.last("n5") == 1
        assert counts.forgotten_until == 100.0

    def test_each_use_lets_go_of_a_few_so_that_no_use_waits_long(self) -> None:
        counts = NonceCounts(lifetime=300.0, cap=10, protect=32.0)
        for n in range(5000):
            counts.record(f"n{n}", 100.0, 1, now=101.0)  # recent: all kept
        counts.record("x", 150.0, 1, now=150.0)  # now they are old enough: 8 go
        assert len(counts) == 5001 - 8
        assert counts.last("n7") is None
        assert counts.last("n8") == 1
        for n in range(500):  # and 7 fewer with each use after it
            counts.record(f"y{n}", 150.0, 1, now=150.0)
        assert len(counts) == 5001 - 8 - 7 * 500

    def test_counts_sweep_the_expired_nonces(self) -> None:
        counts = NonceCounts(lifetime=300.0, cap=10)
        counts.record("old", 0.0, 1, now=1.0)
        counts.record("new", 200.0, 1, now=201.0)
        counts.record("newer", 350.0, 1, now=351.0)  # a sweep is due: "old" expired at 300
        assert (counts.last("old"), counts.last("new"), len(counts)) == (None, 1, 2)
        assert counts.forgotten_until < 0.0  # expiring is not forgetting


def registrations(max_tracked_nonces: int, count: int = 400, lag: float = 1.0) -> list[AuthStatus]:
    """One REGISTER every 0.5 s, each 401 answered ``lag`` s after it was sent."""
    registrar = server(max_tracked_nonces=max_tracked_nonces)
    behind = round(lag / 0.5)  # 401s on their way, or answers still being resent
    statuses = []
    sent = []
    for n in range(count):
        now = 1000.0 + n * 0.5
        request = register_with("CSeq: 1 ", f"CSeq: {n + 1} ")
        sent.append(challenge_of(registrar.stateless_challenge_response(request, now)))
        if n >= behind:
            statuses.append(verify(registrar, sent[n - behind], now))
    return statuses


class TestMemorySpansAStep:
    """Forgetting spares this step's nonces, whatever the cap."""

    def test_server_answers_every_registration_when_the_memory_spans_a_step(self) -> None:
        # 64 kept as 48 after forgetting, at 2 a second: 24 s, more than a 16 s step.
        assert set(registrations(max_tracked_nonces=64)) == {AuthStatus.OK}

    def test_server_answers_every_registration_when_the_cap_spans_less_than_a_step(
            self) -> None:
        # 8 nonces are 4 s of registrations, but the recent ones are kept
        # past the cap: none on its way is expired by forgetting.
        assert set(registrations(max_tracked_nonces=8)) == {AuthStatus.OK}

    def test_server_takes_a_nonce_first_used_as_late_as_timer_f_allows(self) -> None:
        # A client whose answers to 401s are lost resends them for up to
        # 64*T1 = 32 s (Timer F), and a stateless nonce's issued_at may be up
        # to a 16 s step older than its 401: at 31 s late, some are 47 s old
        # when first used, past the cap, and still taken (the load test's
        # requests 17 to 34 s late were refused as stale when only two steps
        # were kept).
        assert set(registrations(max_tracked_nonces=8, lag=31.0)) == {AuthStatus.OK}
