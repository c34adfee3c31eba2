"""Hypothesis strategies and budgets shared by the fuzz suite.

:func:`fuzz_input` mixes random bytes with mutated seeds (the same mutations
``fuzz/`` uses, drawn through hypothesis so that failures shrink); the
settings keep every test to a few hundred examples so that the whole
``tests/fuzz`` folder runs well under a minute.
"""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from tests.fuzz.mutate import TOKENS, mutate

__all__ = ["FUZZ", "QUICK", "fuzz_input", "mutated", "troublesome_text", "token_text"]

_HEALTH = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]

#: The budget of one fuzz test: enough to find the bugs this suite was built on
#: (see the @example lines), small enough for the suite's 60-second budget.
FUZZ = settings(max_examples=800, deadline=None, suppress_health_check=_HEALTH)
#: For slower targets (negotiation, the pcap reader, sockets).
QUICK = settings(max_examples=300, deadline=None, suppress_health_check=_HEALTH)


def mutated(seeds: Sequence[bytes]) -> st.SearchStrategy[bytes]:
    """A seed with a few mutations from tests/fuzz/mutate.py."""
    return st.builds(mutate, st.sampled_from(list(seeds)), st.randoms(use_true_random=False))


def fuzz_input(seeds: Sequence[bytes], max_random: int = 600) -> st.SearchStrategy[bytes]:
    """Mostly mutated seeds, sometimes random bytes."""
    return st.one_of(mutated(seeds), mutated(seeds), st.binary(max_size=max_random))


_TOKEN_TEXT = [token.decode("utf-8", errors="replace") for token in TOKENS if len(token) < 100]


def token_text(max_pieces: int = 12) -> st.SearchStrategy[str]:
    """Text glued from the troublemakers of tests/fuzz/mutate.py and short words."""
    piece = st.sampled_from(_TOKEN_TEXT) | st.text("abcAZ019-_.!~*", min_size=1, max_size=6)
    return st.lists(piece, max_size=max_pieces).map("".join)


def troublesome_text() -> st.SearchStrategy[str]:
    """Token glue or arbitrary Unicode: what a header value or an SDP field may hold."""
    return token_text() | st.text(max_size=60)
