"""A ladder diagram as text, for a terminal (the way sngrep draws calls).

:func:`text_ladder` prints the same :class:`~siplab.lab.ladder_model.LadderModel`
that :func:`siplab.lab.ladder` draws, with characters::

                  alice                     server                      bob
              10.0.0.1:5060             10.0.0.100:5060           10.0.0.2:5060
                    |                         |                         |
                    |         INVITE          |                         |
       0.000        |------------------------>|                         |
                    |      100 Trying         |                         |
       0.010        |<------------------------|                         |

Each message takes two lines: its label, then its arrow with the time on
the left. A retransmission is dashed (``- - - ->``), a lost message stops
in an ``X`` before reaching its destination, a long wait is a line of ``:``
with its length, and an RTP stream is a ``=====>`` line where its first
packet went. ``color=True`` colours each dialog with ANSI escapes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from siplab.lab.ladder_model import BREAK_AFTER, Arrow, LadderModel, RtpBand, build_model
from siplab.lab.ladder_sources import read_capture, resolve_rtp

__all__ = ["text_ladder", "format_model"]

_TIME_WIDTH = 10
_MIN_GAP = 16
_MAX_GAP = 44
_ANSI = ("34", "31", "32", "35", "33", "36", "94", "91", "92")  # one per dialog colour


@dataclass(frozen=True, slots=True)
class _Event:
    time: float
    order: int
    arrow: Arrow | None = None
    band: RtpBand | None = None


def text_ladder(source: object, *, cseq: bool = False, sdp: bool = False,
                names: Mapping[str, str] | None = None,
                rtp: Iterable[object] | bool | None = None, color: bool = False) -> str:
    """The ladder of ``source`` as text; same sources and options as
    :func:`siplab.lab.ladder.ladder`, and ``color`` for ANSI colours per dialog."""
    source = read_capture(source)
    model = build_model(source, names=names, rtp=resolve_rtp(source, rtp))
    return format_model(model, cseq=cseq, sdp=sdp, color=color)


def _column_gap(model: LadderModel, cseq: bool, sdp: bool) -> int:
    """Characters between two lifelines: wide enough for most labels, within limits."""
    gap = _MIN_GAP
    for line in model.lifelines:
        gap = max(gap, len(line.name) + 3, len(line.address) + 3)
    for arrow in model.arrows:
        span = max(abs(model.column(arrow.dst) - model.column(arrow.src)), 1)
        width = len(arrow.text(cseq=cseq)) + 4
        if sdp and arrow.sdp:
            width = max(width, len(arrow.sdp) + 4)
        gap = max(gap, -(-width // span))
    return min(gap, _MAX_GAP)


def format_model(model: LadderModel, *, cseq: bool = False, sdp: bool = False,
                 color: bool = False) -> str:
    """Render a model as text lines (see the module docstring)."""
    if not model.lifelines:
        return "(no SIP messages)"
    gap = _column_gap(model, cseq, sdp)
    first = max(len(model.lifelines[0].name), len(model.lifelines[0].address)) // 2 + 2
    columns = [_TIME_WIDTH + first + i * gap for i in range(len(model.lifelines))]
    width = columns[-1] + gap // 2 + 2

    def blank() -> list[str]:
        line = [" "] * width
        for x in columns:
            line[x] = "|"
        return line

    def centred(text: str, x: int) -> list[str]:
        line = [" "] * width
        start = max(0, x - len(text) // 2)
        line[start:start + len(text)] = list(text)
        return line

    out = [centred(line.name, x) for line, x in zip(model.lifelines, columns, strict=True)]
    lines = [_merge(out), _merge([centred(line.address, x) for line, x in
                                  zip(model.lifelines, columns, strict=True)]), blank()]
    rendered = ["".join(line).rstrip() for line in lines]

    events = [_Event(a.time, 1, arrow=a) for a in model.arrows]
    events += [_Event(band.start, 0, band=band) for band in model.streams]
    events.sort(key=lambda e: (e.time, e.order))  # stable: arrows keep their order
    previous: float | None = None
    for event in events:
        if model.timed and previous is not None and event.time - previous > BREAK_AFTER:
            line = [" "] * width
            for x in columns:
                line[x] = ":"
            note = f"{event.time - previous:.1f} s later"
            line[1:1 + len(note)] = list(note)
            rendered.append("".join(line).rstrip())
        previous = event.time
        if event.arrow is not None:
            rendered.extend(_arrow_lines(model, event.arrow, columns, blank, cseq=cseq, sdp=sdp,
                                         color=color))
        elif event.band is not None:
            rendered.extend(_band_lines(model, event.band, columns, blank))
    return "\n".join(rendered)


def _merge(lines: list[list[str]]) -> list[str]:
    """Overlay lines of centred text (spaces are transparent)."""
    out = [" "] * max(len(line) for line in lines)
    for line in lines:
        for i, char in enumerate(line):
            if char != " ":
                out[i] = char
    return out


def _fit(text: str, room: int) -> str:
    return text if len(text) <= room else text[: max(room - 1, 1)] + "…"


def _paint(line: list[str], start: int, end: int, code: str | None) -> str:
    """The line as text, with [start, end) wrapped in an ANSI colour when ``code`` is given."""
    if code is None:
        return "".join(line).rstrip()
    return ("".join(line[:start]) + f"\x1b[{code}m" + "".join(line[start:end]) + "\x1b[0m"
            + "".join(line[end:])).rstrip()


def _arrow_lines(model: LadderModel, arrow: Arrow, columns: list[int],
                 blank: Callable[[], list[str]], *, cseq: bool, sdp: bool,
                 color: bool) -> list[str]:
    x0, x1 = columns[model.column(arrow.src)], columns[model.column(arrow.dst)]
    code = _ANSI[arrow.dialog % len(_ANSI)] if color else None
    time = f"{arrow.time:9.3f}" if model.timed else f"#{arrow.index + 1:>8}"
    label_line, arrow_line = blank(), blank()
    arrow_line[0:len(time)] = list(time)
    text = arrow.text(cseq=cseq)
    if x0 == x1:  # to itself
        arrow_line[x0 + 1:x0 + 4] = list("<-'")
        label_line[x0 + 1:x0 + 4] = list("--.")
        label_line[x0 + 5:x0 + 5 + len(text)] = list(text)
        return [_paint(label_line, x0, x0 + 5 + len(text), code),
                _paint(arrow_line, x0, x0 + 4, code)]
    left, right = min(x0, x1), max(x0, x1)
    room = right - left - 3
    text = _fit(text, room)
    start = left + 1 + (right - left - 1 - len(text)) // 2
    label_line[start:start + len(text)] = list(text)
    body = [("-" if (i % 2 == 0 or not arrow.retransmission) else " ")
            for i in range(right - left - 1)]
    if x1 > x0:
        body[-1] = ">"
    else:
        body[0] = "<"
    if arrow.lost:  # stops short, in an X, on the sender's side of the gap
        length = max(int((right - left - 1) * 0.7), 2)
        cut = ["-" if (i % 2 == 0 or not arrow.retransmission) else " "
               for i in range(length - 1)] + ["X"]
        blank_body = [" "] * (right - left - 1)
        body = cut + blank_body[length:] if x1 > x0 else blank_body[:-length] + cut[::-1]
    arrow_line[left + 1:right] = body
    out = [_paint(label_line, start, start + len(text), code),
           _paint(arrow_line, left + 1, right, code)]
    if sdp and arrow.sdp:
        summary = _fit(arrow.sdp, room)
        sdp_line = blank()
        begin = left + 1 + (right - left - 1 - len(summary)) // 2
        sdp_line[begin:begin + len(summary)] = list(summary)
        out.append(_paint(sdp_line, begin, begin + len(summary), code))
    return out


def _band_lines(model: LadderModel, band: RtpBand, columns: list[int],
                blank: Callable[[], list[str]]) -> list[str]:
    x0, x1 = columns[model.column(band.src)], columns[model.column(band.dst)]
    left, right = min(x0, x1), max(x0, x1)
    label_line, arrow_line = blank(), blank()
    time = f"{band.start:9.3f}"
    arrow_line[0:len(time)] = list(time)
    text = _fit(f"{band.label} ({band.end - band.start:.1f} s)", max(right - left - 3, 4))
    start = left + 1 + (right - left - 1 - len(text)) // 2
    label_line[start:start + len(text)] = list(text)
    body = ["="] * (right - left - 1)
    if x1 > x0:
        body[-1] = ">"
    else:
        body[0] = "<"
    arrow_line[left + 1:right] = body
    return ["".join(label_line).rstrip(), "".join(arrow_line).rstrip()]
