"""Noticing that the other end of a call has vanished: the RTP timeout (RFC 3550 §6.3.5).

A call can lose its peer without any SIP saying so: the laptop's lid was
closed, the Wi-Fi dropped, the process was killed. No BYE will ever come, and
the call would last forever. What does stop is the peer's media: an active
RTP session sends a packet every 20 ms and an RTCP report every few seconds,
even on hold (RTCP carries on, §6.3). RFC 3550 §6.3.5 times a participant out
after five reporting intervals without a packet; phones and PBXs call this
the *RTP timeout* (30 s is common) and hang up with a BYE.

:class:`MediaWatchdog` is that rule for one call: it looks every so often
(a quarter of the timeout, at most a second) at when media last arrived, and
once nothing came for ``timeout`` seconds it calls ``on_timeout`` once. While
our own direction says we receive nothing (we put the call on hold with
``sendonly``, or it is ``inactive``), silence is expected and the clock is
reset. The session then ends the call with cause ``"rtp timeout"``
(:meth:`siplab.sip.invite.Session.media_timeout`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

__all__ = ["MediaWatchdog"]

logger = logging.getLogger("siplab.media")


class MediaWatchdog:
    """Calls ``on_timeout()`` once no media arrived for ``timeout`` seconds (see module doc).

    ``last_heard()`` gives the loop time media last arrived (None: never);
    ``expecting()`` says whether media should be arriving now.
    """

    def __init__(self, timeout: float, *, last_heard: Callable[[], float | None],
                 expecting: Callable[[], bool], on_timeout: Callable[[], None]) -> None:
        if timeout <= 0:
            raise ValueError("the media timeout is a number of seconds above 0")
        self.timeout = timeout
        self.last_heard = last_heard
        self.expecting = expecting
        self.on_timeout = on_timeout
        self.fired = False
        self._loop = asyncio.get_running_loop()
        self._since = self._loop.time()  # silence is counted from here at the earliest
        self._handle: asyncio.TimerHandle | None = None
        self._check_every = min(timeout / 4, 1.0)

    def start(self) -> None:
        self._since = self._loop.time()
        self._schedule()

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    @property
    def running(self) -> bool:
        return self._handle is not None

    def silence(self) -> float:
        """Seconds since media last arrived (or since watching began, or media was expected)."""
        heard = self.last_heard()
        latest = self._since if heard is None else max(heard, self._since)
        return self._loop.time() - latest

    def _schedule(self) -> None:
        self._handle = self._loop.call_later(self._check_every, self._check)

    def _check(self) -> None:
        self._handle = None
        if not self.expecting():
            self._since = self._loop.time()  # on hold: no media is due
        elif self.silence() >= self.timeout:
            self.fired = True
            logger.warning("no media from the peer for %.1f s: it is gone", self.silence())
            self.on_timeout()
            return
        self._schedule()
