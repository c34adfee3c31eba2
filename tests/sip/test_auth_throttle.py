"""Counting failed authentications per source and user: when answers start to wait, and how long.

siplab.sip.auth_throttle: ``max_failures`` failures within ``window``
seconds are answered at once; each one after that waits ``delay``, doubling,
at most ``max_delay``. Old failures are forgotten, and so are the oldest
keys beyond ``max_tracked`` (a flood of sources cannot grow the memory).
"""

from __future__ import annotations

import pytest

from siplab.sip.auth_throttle import AuthThrottle, ThrottleConfig

CONFIG = ThrottleConfig(max_failures=5, window=60.0, delay=2.0, max_delay=16.0)


def test_the_first_failures_are_answered_at_once_then_later_and_later() -> None:
    throttle = AuthThrottle(CONFIG)
    delays = [throttle.failed(["source 192.0.2.1"], float(t)) for t in range(10)]
    assert delays == [0, 0, 0, 0, 0, 2, 4, 8, 16, 16]


def test_the_worst_of_source_and_user_decides() -> None:
    throttle = AuthThrottle(CONFIG)
    for t in range(5):  # five sources, one user each time: the user is the one guessed
        assert throttle.failed([f"source 192.0.2.{t}", "user alice"], t) == 0
    assert throttle.failed(["source 192.0.2.99", "user alice"], 5) == 2
    assert throttle.failed(["source 192.0.2.99", "user bob"], 6) == 0
    assert throttle.failures("user alice", 6) == 6


def test_failures_older_than_the_window_are_forgotten() -> None:
    throttle = AuthThrottle(CONFIG)
    for t in range(6):
        throttle.failed(["source 192.0.2.1"], t)
    assert throttle.failures("source 192.0.2.1", 30) == 6
    assert throttle.failures("source 192.0.2.1", 62.5) == 3  # t = 3, 4, 5 are within 60 s
    assert throttle.failed(["source 192.0.2.1"], 100) == 0


def test_sweep_forgets_keys_whose_failures_left_the_window() -> None:
    throttle = AuthThrottle(CONFIG)
    throttle.failed(["source 192.0.2.1", "user alice"], 0.0)
    throttle.failed(["source 192.0.2.2"], 30.0)
    throttle.sweep(70.0)
    assert throttle.tracked == 1
    assert throttle.failures("source 192.0.2.2", 70.0) == 1
    throttle.sweep(100.0)
    assert throttle.tracked == 0


def test_memory_is_bounded_by_max_tracked() -> None:
    throttle = AuthThrottle(ThrottleConfig(max_tracked=100))
    for n in range(1000):
        throttle.failed([f"source 10.0.{n // 256}.{n % 256}"], n / 1000)
    assert throttle.tracked == 100
    assert throttle.failures("source 10.0.3.231", 1.0) == 1  # the newest stay


@pytest.mark.parametrize("options", [{"window": 0}, {"delay": 5, "max_delay": 1},
                                     {"max_failures": -1}])
def test_config_refuses_nonsense(options: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"need|must"):
        ThrottleConfig(**options)  # type: ignore[arg-type]
