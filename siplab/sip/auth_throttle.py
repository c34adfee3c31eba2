"""Slowing down password guessing: failed digest answers cost more and more time.

A lab server is a tempting target for a classmate with a password list: each
guess is one REGISTER, and the registrar answers ``403 Forbidden`` in a
millisecond (RFC 3261 §22, RFC 3665 §2.5). :class:`AuthThrottle` makes
guessing slow without locking anybody out: it counts the failed attempts of
each *source address* and of each *user name* over a sliding ``window``, and
once one of them has failed ``max_failures`` times, every further failure is
answered only after a delay (``delay`` seconds, doubling with each failure,
at most ``max_delay``). The answer itself does not change, so the attacker
learns nothing new, and a *correct* password is never delayed: the throttle
only decides when a failure is told.

The server core holds such a response back with a timer, like every other
timer of the sans-I/O core (nothing sleeps): the UDP client's
retransmissions meanwhile are absorbed by the server transaction, and
``max_delay`` stays well below the client's 32 s Timer F.

The memory is bounded: failures older than ``window`` are forgotten
(:meth:`AuthThrottle.sweep`), and at most ``max_tracked`` sources and users
are remembered (the oldest go first).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["ThrottleConfig", "AuthThrottle"]


@dataclass(frozen=True, slots=True)
class ThrottleConfig:
    """When failed authentications start being answered late, and how late (seconds)."""

    max_failures: int = 5  # answered at once; the next ones are delayed
    window: float = 60.0  # how long a failure counts
    delay: float = 2.0  # the first delayed answer waits this long
    max_delay: float = 16.0  # doubling per further failure, up to this
    max_tracked: int = 10_000  # sources and users remembered

    def __post_init__(self) -> None:
        if self.max_failures < 0 or self.max_tracked < 1:
            raise ValueError("max_failures must be >= 0 and max_tracked >= 1")
        if self.window <= 0 or self.delay < 0 or self.max_delay < self.delay:
            raise ValueError("need window > 0 and 0 <= delay <= max_delay")


class AuthThrottle:
    """Failed authentications by key (``"source 192.0.2.1"``, ``"user alice"``), and the delay
    the next failure's answer gets."""

    def __init__(self, config: ThrottleConfig | None = None) -> None:
        self.config = config or ThrottleConfig()
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def __repr__(self) -> str:
        return f"<AuthThrottle {len(self._failures)} keys, {self.config}>"

    @property
    def tracked(self) -> int:
        """How many sources and users have failures remembered."""
        return len(self._failures)

    def failures(self, key: str, now: float) -> int:
        """Failures of ``key`` within the window ending at ``now``."""
        times = self._failures.get(key)
        if times is None:
            return 0
        self._expire(times, now)
        return len(times)

    def failed(self, keys: Iterable[str], now: float) -> float:
        """Record one failure for each of ``keys``; return how long its answer must wait."""
        config = self.config
        worst = 0
        for key in keys:
            times = self._failures.pop(key, None) or deque()
            self._expire(times, now)
            times.append(now)
            while len(times) > config.max_failures + 32:  # enough to reach max_delay
                times.popleft()
            self._failures[key] = times  # now the most recent key
            worst = max(worst, len(times))
        while len(self._failures) > config.max_tracked:
            self._failures.popitem(last=False)
        beyond = worst - config.max_failures
        if beyond <= 0:
            return 0.0
        return min(config.max_delay, config.delay * 2.0 ** min(beyond - 1, 30))

    def sweep(self, now: float) -> None:
        """Forget every key whose last failure left the window (the server's timer calls it)."""
        while self._failures:
            key, times = next(iter(self._failures.items()))
            if times and times[-1] > now - self.config.window:
                return  # keys are ordered by their last failure: the rest are newer
            del self._failures[key]

    def _expire(self, times: deque[float], now: float) -> None:
        while times and times[0] <= now - self.config.window:
            times.popleft()
