"""A phone that runs by itself: answer every call, or make one, and report each in one line.

``siplab answer`` and ``siplab call`` (:mod:`siplab.cli`) are these two
coroutines around a :class:`~siplab.aio.useragent.UserAgent` with media; a
notebook can run them too, to keep a bot answering while it calls it::

    async with UserAgent("sip:pybot@127.0.0.1", "secret", transport=url,
                         auto_answer=True, audio_source="tone:440") as bot:
        await bot.register()
        await answer_calls(bot, stop, duration=10, record="heard.wav")

Every call ends with :func:`call_line`: who, the codec, RTP packets sent and
received (RFC 3550 counts), and the RMS level of what was heard, in dBFS
(decibels relative to full scale: 0 dBFS is the loudest a 16-bit sample
gets, a full-scale sine is -3 dBFS, silence is -inf).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Callable
from pathlib import Path

from siplab.aio.errors import CallFailed
from siplab.aio.session import Invitation, Session
from siplab.aio.useragent import UserAgent
from siplab.errors import SipError

__all__ = ["answer_calls", "place_call", "call_line", "recording_path", "ANSWER_TIMEOUT"]

#: How long a call may take to be answered, or to end once hung up, in seconds.
ANSWER_TIMEOUT = 30.0

#: Where each line goes (print, by default).
Report = Callable[[str], None]


def recording_path(base: str | Path, number: int) -> Path:
    """heard.wav for the first call, heard-2.wav for the second..."""
    path = Path(base)
    return path if number == 1 else path.with_name(f"{path.stem}-{number}{path.suffix}")


def call_line(number: int, session: Session) -> str:
    """One line about a finished call: who, codec, packets both ways, level heard, cause."""
    peer = session.remote_identity.uri
    direction = "from" if session.direction == "incoming" else "to"
    if session.codec is None or session.media is None:
        status = f"{session.status} " if session.status is not None else ""
        return f"call {number} {direction} {peer}: no media ({status}{session.cause})"
    stats = session.media.stats()
    rms = session.heard.rms() if session.heard is not None else 0.0
    dbfs = 20 * math.log10(rms / 32768) if rms > 0 else float("-inf")
    seconds = session.heard.duration if session.heard is not None else 0.0
    return (f"call {number} {direction} {peer}: codec {session.codec}, "
            f"sent {stats.packets_sent} packets, received {stats.packets_received} packets, "
            f"heard RMS {rms:.0f} ({dbfs:.1f} dBFS) for {seconds:.1f} s, "
            f"ended: {session.cause}")


def _finish(number: int, session: Session, record: str | Path | None, report: Report,
            note: Report) -> None:
    report(call_line(number, session))
    if record is not None and session.heard is not None and len(session.heard):
        note(f"recorded {session.heard.to_wav(recording_path(record, number))}")


async def _talk(session: Session, duration: float | None, stop: asyncio.Event) -> None:
    """Wait until the call ends, ``duration`` runs out or ``stop`` is set; then hang up."""
    ended = asyncio.ensure_future(session.terminated())
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait([ended, stopped], timeout=duration,
                           return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
    if not ended.done():
        with contextlib.suppress(SipError, TimeoutError):
            await session.hangup(timeout=ANSWER_TIMEOUT)
        ended.cancel()


async def answer_calls(ua: UserAgent, stop: asyncio.Event, *, duration: float | None = None,
                       record: str | Path | None = None, report: Report = print,
                       note: Report = print) -> int:
    """Follow every call ``ua`` answers (``auto_answer=True``) until ``stop`` is set.

    Each call is hung up after ``duration`` seconds (None: when the caller
    hangs up, or at ``stop``), its line goes to ``report`` and its recording
    to ``record`` (numbered from the second call on; ``note`` says where).
    Returns the number of calls.
    """
    calls: set[asyncio.Task[None]] = set()
    count = 0

    async def follow(invitation: Invitation, number: int) -> None:
        try:
            await invitation.established(timeout=ANSWER_TIMEOUT)
        except (SipError, TimeoutError):
            pass  # refused (488, 400) or cancelled: the line says so
        else:
            await _talk(invitation, duration, stop)
        with contextlib.suppress(TimeoutError):
            await invitation.terminated(timeout=ANSWER_TIMEOUT)
        _finish(number, invitation, record, report, note)

    def on_invite(invitation: Invitation) -> None:
        nonlocal count
        count += 1
        task = asyncio.ensure_future(follow(invitation, count))
        calls.add(task)
        task.add_done_callback(calls.discard)

    ua.on_invite = on_invite
    await stop.wait()
    if calls:
        await asyncio.wait(list(calls), timeout=ANSWER_TIMEOUT)
    return count


async def place_call(ua: UserAgent, target: str, stop: asyncio.Event, *,
                     duration: float | None, record: str | Path | None = None,
                     report: Report = print, note: Report = print) -> Session:
    """Call ``target``, talk for ``duration`` seconds (or until it hangs up), report the call.

    Raises CallFailed when the call is not answered (after reporting it).
    """
    session = await ua.call(target)
    try:
        await session.established(timeout=ANSWER_TIMEOUT)
    except CallFailed:
        _finish(1, session, None, report, note)
        raise
    await _talk(session, duration, stop)
    _finish(1, session, record, report, note)
    return session
