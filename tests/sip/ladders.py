"""Ladder tests for user agents: a network of UAs, their events, and label lists.

``phones(net, "alice", "bob")`` puts one :class:`~siplab.sip.useragent.UserAgentCore`
per name on a :class:`~siplab.lab.SimNetwork` (alice at 10.0.0.1, bob at
10.0.0.2, carol at 10.0.0.3...), each with its own seeded IdSource.
:func:`assert_ladder` compares ``net.labels()`` with the expected ladder and,
when they differ, prints the whole network log, which is what one wants to
read then.
"""

from __future__ import annotations

from typing import Any, TypeVar

from siplab.ids import IdSource
from siplab.lab import SimNetwork
from siplab.sip.events import Event
from siplab.sip.transport import Peer
from siplab.sip.useragent import UserAgentConfig, UserAgentCore

__all__ = ["HOSTS", "phone", "phones", "assert_ladder", "drain", "names", "only"]

HOSTS = {"alice": "10.0.0.1", "bob": "10.0.0.2", "carol": "10.0.0.3", "dave": "10.0.0.4"}

E = TypeVar("E", bound=Event)


def phone(net: SimNetwork, name: str, *, seed: int | None = None, domain: str | None = None,
          **options: Any) -> UserAgentCore:
    """A user agent called ``name`` at ``HOSTS[name]:5060``, added to ``net``.

    Its address of record is ``sip:name@<domain or its own host>``; ``options``
    go to :class:`UserAgentConfig` (``password=``, ``auto_answer=``...).
    """
    host = HOSTS[name]
    config = UserAgentConfig(aor=f"sip:{name}@{domain or host}", local=Peer(host, 5060),
                             **options)
    ua = UserAgentCore(config, ids=IdSource(seed if seed is not None else name))
    net.add(ua, host, 5060, name=name)
    return ua


def phones(net: SimNetwork, *names: str, **options: Any) -> list[UserAgentCore]:
    return [phone(net, name, **options) for name in names]


def assert_ladder(net: SimNetwork, expected: list[str]) -> None:
    """``net.labels() == expected``, with the network log in the failure message."""
    labels = net.labels()
    assert labels == expected, f"ladder differs:\n{net.format_log()}\n\ngot {labels}"


def drain(ua: UserAgentCore) -> list[Event]:
    """Every event the UA has queued, in order."""
    return list(iter(ua.next_event, None))


def names(events: list[Event]) -> list[str]:
    """Event class names, to assert the order of what happened."""
    return [type(event).__name__ for event in events]


def only(events: list[Event], kind: type[E]) -> E:
    """The one event of ``kind`` in ``events`` (fails if there are none or several)."""
    found = [event for event in events if isinstance(event, kind)]
    assert len(found) == 1, f"expected one {kind.__name__}, got {names(events)}"
    return found[0]
