"""Timer values of RFC 3261 §17 (Table 4) and RFC 6026, from T1, T2 and T4."""

from __future__ import annotations

import dataclasses

import pytest

from siplab.sip.timers import RETRANSMISSION_TIMERS, TIMER_NAMES, TimerConfig

UDP, TCP = False, True


@pytest.mark.parametrize(
    ("timer", "unreliable", "reliable"),
    [
        ("A", 0.5, 0.5),
        ("B", 32.0, 32.0),
        ("D", 32.0, 0.0),
        ("E", 0.5, 0.5),
        ("F", 32.0, 32.0),
        ("G", 0.5, 0.5),
        ("H", 32.0, 32.0),
        ("I", 5.0, 0.0),
        ("J", 32.0, 0.0),
        ("K", 5.0, 0.0),
        ("L", 32.0, 32.0),
        ("M", 32.0, 32.0),
    ],
)
def test_default_timer_values_follow_table_4(timer: str, unreliable: float,
                                              reliable: float) -> None:
    config = TimerConfig()
    assert config.duration(timer, UDP) == unreliable
    assert config.duration(timer, TCP) == reliable


def test_defaults_are_the_rfc_constants() -> None:
    config = TimerConfig()
    assert (config.t1, config.t2, config.t4) == (0.5, 4.0, 5.0)


def test_duration_accepts_timer_a_or_a() -> None:
    config = TimerConfig()
    assert config.duration("Timer B", UDP) == config.duration("B", UDP) == 32.0
    assert config.duration("timer b".title(), UDP) == 32.0


def test_unknown_timer_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown SIP timer"):
        TimerConfig().duration("C", UDP)


def test_custom_t1_scales_the_64_t1_timers_but_not_timer_d() -> None:
    config = TimerConfig(t1=0.25, t2=2.0, t4=2.5)
    assert config.duration("B", UDP) == 16.0
    assert config.duration("F", UDP) == 16.0
    assert config.duration("H", UDP) == 16.0
    assert config.duration("L", UDP) == 16.0
    assert config.duration("M", TCP) == 16.0
    assert config.duration("A", UDP) == 0.25
    assert config.duration("K", UDP) == 2.5
    assert config.duration("I", UDP) == 2.5
    # §17.1.1.2: Timer D is "at least 32 seconds" over UDP, whatever T1 is.
    assert config.duration("D", UDP) == 32.0
    assert TimerConfig(timer_d=40.0).duration("D", UDP) == 40.0


def test_retransmission_timers_are_not_used_over_reliable_transports() -> None:
    config = TimerConfig()
    for timer in TIMER_NAMES:
        assert config.is_used(timer, UDP)
        assert config.is_used(timer, TCP) == (timer not in RETRANSMISSION_TIMERS)
    assert {"A", "E", "G"} == RETRANSMISSION_TIMERS


def test_timer_a_doubles_without_limit() -> None:
    config = TimerConfig()
    intervals = [0.5]
    for _ in range(6):
        intervals.append(config.next_interval("A", intervals[-1]))
    assert intervals == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0]


@pytest.mark.parametrize("timer", ["E", "G"])
def test_timers_e_and_g_double_up_to_t2(timer: str) -> None:
    config = TimerConfig()
    intervals = [0.5]
    for _ in range(6):
        intervals.append(config.next_interval(timer, intervals[-1]))
    assert intervals == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0]


def test_only_a_e_g_have_a_next_interval() -> None:
    with pytest.raises(ValueError, match="does not retransmit"):
        TimerConfig().next_interval("B", 32.0)


def test_config_is_frozen_and_checked() -> None:
    config = TimerConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.t1 = 1.0  # type: ignore[misc]
    with pytest.raises(ValueError, match="T1"):
        TimerConfig(t1=5.0, t2=4.0)
    with pytest.raises(ValueError, match="T1"):
        TimerConfig(t1=0.0)
