"""The report of a replay: one row per step, a verdict each, and a table to print.

:func:`siplab.lab.replay.replay` gives a :class:`ReplayReport`. Printed, it is a
table a student reads top to bottom like the ladder of the call::

    step     time  dir  expected                got                     verdict     detail
       1    0.000  ->   INVITE                  INVITE                  sent
       2    0.002  <-   100 Trying              100 Trying              ok
       3    0.004  <-   180 Ringing             200 OK                  missing     expected...
       4    0.004  <-   200 OK                  200 OK                  ok
    ...

(the detail of step 3 reads "expected 180 Ringing after INVITE, got 200 OK").

A :class:`Verdict` that passes (``ok``, ``sent``, ``note``) means the live
system did what the capture shows; every other one is a *divergence*, and
:attr:`ReplayReport.first_divergence` is where to start looking.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from siplab.sip.message import Request, Response
from siplab.sip.transport import Peer

__all__ = ["Verdict", "ReplayStep", "ReplayReport", "format_header", "format_row"]


class Verdict(StrEnum):
    """How one step went."""

    OK = "ok"  # the live side sent what the capture had
    SENT = "sent"  # we sent our captured message
    NOTE = "note"  # a difference that does not count (a 100 Trying, a challenge answered)
    MISSING = "missing"  # the capture had it; the live side skipped it or sent another first
    WRONG = "wrong"  # another final status
    DIFFERS = "differs"  # a header that matters differs (a To tag, Contact, Record-Route...)
    UNEXPECTED = "unexpected"  # the live side sent something the capture did not have
    SKIPPED = "skipped"  # not run: an earlier divergence made it meaningless
    FAILED = "failed"  # could not be sent

    @property
    def passed(self) -> bool:
        return self in (Verdict.OK, Verdict.SENT, Verdict.NOTE)


@dataclass(frozen=True, slots=True)
class ReplayStep:
    """One row of the report: a step of the script, or a message that came around it."""

    step: int  # the script's step number (0: setup, such as registering first)
    direction: str  # "->" we sent it, "<-" the live side did
    expected: str  # the captured label ("180 Ringing"), "" when the capture had nothing
    got: str  # the live label, or "-" when nothing came
    verdict: Verdict
    detail: str = ""
    time: float = 0.0  # seconds since the replay started
    live: Request | Response | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class ReplayReport:
    """What a replay found, step by step; ``print(report)`` shows the table."""

    source: str  # the capture's file name
    role: str  # "caller" or "callee"
    call_id: str  # the captured dialog's Call-ID
    local: Peer | None  # our socket
    target: Peer | None  # where our requests went
    steps: list[ReplayStep]
    rtp_sent: int = 0
    rtp_received: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every step matched (notes allowed)."""
        return all(step.verdict.passed for step in self.steps)

    @property
    def divergences(self) -> list[ReplayStep]:
        return [step for step in self.steps if not step.verdict.passed]

    @property
    def first_divergence(self) -> ReplayStep | None:
        return next(iter(self.divergences), None)

    def table(self) -> str:
        """The rows as a text table, then the notes and a summary line."""
        return "\n".join([format_header(), *(format_row(s) for s in self.steps), self.summary()])

    def summary(self) -> str:
        where = f"{self.target.transport} {_text(self.target)}" if self.target else "a live peer"
        head = f"replay of {self.source} as the {self.role} against {where}: "
        first = self.first_divergence
        if first is None:
            verdict = "every step matched"
        else:
            count = len(self.divergences)
            verdict = (f"{count} divergence{'s' if count > 1 else ''}, the first at step "
                       f"{first.step}: {first.detail or first.verdict}")
        return "\n".join([*(f"  {note}" for note in self.notes), head + verdict])

    def __str__(self) -> str:
        return self.table()


_COLUMNS = (("step", 4), ("time", 7), ("dir", 3), ("expected", 22), ("got", 22),
            ("verdict", 10))


def format_header() -> str:
    """The table's first line."""
    return "  ".join(name.rjust(width) if name in ("step", "time") else name.ljust(width)
                     for name, width in _COLUMNS) + "  detail"


def format_row(row: ReplayStep) -> str:
    """One row of the table (the CLI prints them as they come)."""
    cells = (str(row.step).rjust(4), f"{row.time:7.3f}", row.direction.ljust(3),
             _cut(row.expected or "(not captured)", 22), _cut(row.got, 22),
             str(row.verdict).ljust(10))
    return ("  ".join(cells) + ("  " + row.detail if row.detail else "")).rstrip()


def _cut(text: str, width: int) -> str:
    return (text if len(text) <= width else text[:width - 1] + "~").ljust(width)


def _text(peer: Peer) -> str:
    host = f"[{peer.host}]" if ":" in peer.host else peer.host
    return f"{host}:{peer.port}"
