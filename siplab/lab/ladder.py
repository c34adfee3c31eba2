"""Ladder diagrams: SIP messages drawn as arrows between endpoints (RFC 3665 style).

The pictures in RFC 3665 and RFC 3261 §24 are *ladders*: one vertical line
per element (a phone, a proxy), time running down, one arrow per message.
:func:`ladder` draws one with matplotlib from whatever you have::

    fig = siplab.lab.ladder(net)                  # a SimNetwork run
    fig = siplab.lab.ladder("call.pcap", sdp=True)
    fig = siplab.lab.ladder(trace, cseq=True)     # a Trace of a live call
    fig.savefig("call.svg")

What the picture tells you (the rules live in :mod:`siplab.lab.ladder_model`):

* **lifelines** are named after the SIP user, else the User-Agent/Server
  product, else the address; the address is always printed under the name;
* **arrows** carry the method or ``status reason``; ``cseq=True`` adds the
  CSeq, ``sdp=True`` a summary of the SDP (``offer PCMU PCMA te``);
* **colours** are dialogs (Call-ID + tags); the legend at the bottom says which;
* **dashed** arrows marked ``(retransmission)`` are copies (Timer A/E/G, or a
  response resent for a retransmitted request);
* an arrow ending in a cross (**x**) was lost (SimNetwork records say so);
* the **time axis is compressed**: every message gets its own row, a longer
  wait gets more space (logarithmically), a wait of over a second is drawn
  as ``≈`` with its length; the real time of each message (seconds since
  the first) is printed on the left;
* **RTP streams** are shaded bands between the two endpoints, from the first
  to the last packet.

A page holds ``max_messages_per_page`` messages (100 by default).
:func:`ladder` always returns one Figure (page 1, or ``page=n``), as the
DESIGN.md contract says; :func:`ladder_pages` returns every page. Figures are
made with :class:`matplotlib.figure.Figure`, not pyplot, so no GUI backend is
needed (saving a PNG uses Agg) and nothing is left open in pyplot's list; a
notebook shows a returned Figure like any other.

Every artist carries a ``gid`` naming what it is (``lifeline``,
``lifeline-name``, ``message``, ``message-label``, ``sdp-label``,
``lost-marker``, ``time-break``, ``rtp-band``...), so tests and curious
students can read the drawing back without looking at pixels.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from siplab.lab.ladder_model import (
    BREAK_AFTER,
    LadderModel,
    build_model,
    position_of_time,
    row_positions,
)
from siplab.lab.ladder_sources import read_capture, resolve_rtp

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from siplab.lab.ladder_model import Arrow

__all__ = ["ladder", "ladder_pages", "draw_model", "DIALOG_COLOURS"]

#: Colours of dialogs, in order of first appearance (matplotlib's tab10 without grey).
DIALOG_COLOURS = (
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e",
    "#8c564b", "#e377c2", "#17becf", "#bcbd22",
)  # fmt: skip
_RTP_COLOUR = "#2a9d8f"
_LIFELINE_GAP_IN = 2.3  # inches between two lifelines
_MARGIN_LEFT_IN = 0.85  # room for the time labels
_MARGIN_RIGHT_IN = 0.35
_TITLE_IN = 0.45
_HEADER_ROWS = 2.2  # rows above the first message for the lifeline names
_LOST_FRACTION = 0.7  # a lost message's arrow stops this far towards its destination


def ladder_pages(
    source: object,
    *,
    cseq: bool = False,
    sdp: bool = False,
    max_messages_per_page: int = 100,
    names: Mapping[str, str] | None = None,
    title: str | None = None,
    rtp: Iterable[object] | bool | None = None,
) -> list[Figure]:
    """Every page of the ladder of ``source``; see :func:`ladder` for the arguments."""
    source = read_capture(source)
    model = build_model(source, names=names, rtp=resolve_rtp(source, rtp))
    return draw_model(model, cseq=cseq, sdp=sdp, max_messages_per_page=max_messages_per_page,
                      title=title)


def ladder(
    source: object,
    *,
    cseq: bool = False,
    sdp: bool = False,
    max_messages_per_page: int = 100,
    names: Mapping[str, str] | None = None,
    title: str | None = None,
    rtp: Iterable[object] | bool | None = None,
    page: int = 1,
) -> Figure:
    """Draw the ladder of ``source`` and return the matplotlib Figure (one page).

    ``source``: a :class:`~siplab.lab.SimNetwork`, a list of its Records, a
    Trace, a Capture or a pcap path (through :func:`siplab.lab.flow`), a list
    of FlowRows, a list of :class:`~siplab.sip.Request`/``Response`` objects
    or their bytes (addresses guessed from Via and Request-URI, numbered
    instead of timed), or ``(time, src, dst, message)`` tuples.

    ``cseq`` adds the CSeq to each label, ``sdp`` the SDP summary under the
    arrow. ``names`` renames lifelines (keys: address ``"10.0.0.1:5060"``,
    SimNetwork name, or the automatic name). ``rtp`` lists RTP streams to draw
    (RtpStreamStats or :class:`~siplab.lab.ladder_model.RtpBand`); by default
    those :func:`siplab.lab.rtp_streams` finds in a capture; ``False`` for none.
    With more than ``max_messages_per_page`` messages the ladder has several
    pages: ``page`` picks one (from 1), :func:`ladder_pages` gives them all.
    """
    source = read_capture(source)
    model = build_model(source, names=names, rtp=resolve_rtp(source, rtp))
    [figure] = draw_model(model, cseq=cseq, sdp=sdp, title=title, page=page,
                          max_messages_per_page=max_messages_per_page)
    return figure


def draw_model(model: LadderModel, *, cseq: bool = False, sdp: bool = False,
               max_messages_per_page: int = 100, title: str | None = None,
               page: int | None = None) -> list[Figure]:
    """Draw a :class:`~siplab.lab.ladder_model.LadderModel`, one Figure per page
    (only page ``page``, counted from 1, when it is given)."""
    if max_messages_per_page < 1:
        raise ValueError("max_messages_per_page must be at least 1")
    arrows = model.arrows
    chunks = [arrows[i:i + max_messages_per_page]
              for i in range(0, len(arrows), max_messages_per_page)] or [[]]
    if page is not None and not 1 <= page <= len(chunks):
        raise ValueError(f"page {page} does not exist: the ladder has {len(chunks)} page(s)")
    all_times = [a.time for a in arrows]
    all_rows = row_positions(all_times)
    figures = []
    for number, chunk in enumerate(chunks, 1):
        if page is not None and number != page:
            continue
        page_title = title
        if len(chunks) > 1:
            page_title = f"{title or 'SIP ladder'}  (page {number} of {len(chunks)})"
        first = chunk[0].index if chunk else 0
        rows = all_rows[first:first + len(chunk)]
        figures.append(_draw_page(model, chunk, rows, all_times, all_rows, cseq=cseq,
                                  sdp=sdp, title=page_title))
    return figures


def _draw_page(model: LadderModel, arrows: list[Arrow], rows: list[float],
               all_times: list[float], all_rows: list[float], *, cseq: bool, sdp: bool,
               title: str | None) -> Figure:
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    count = len(model.lifelines)
    offset = rows[0] if rows else 0.0
    ys = [row - offset for row in rows]
    bottom = (ys[-1] if ys else 0.0) + 1.0
    if not arrows or arrows[-1] is model.arrows[-1]:  # the last page: room for late RTP
        for band in model.streams:
            end = position_of_time(band.end, all_times, all_rows) - offset
            bottom = max(bottom, end + 0.5)
    top = -_HEADER_ROWS
    row_in = 0.36 if sdp else 0.27
    groups = sorted({a.dialog for a in arrows})
    legend_in = 0.2 + 0.17 * len(groups) if groups else 0.1
    title_in = _TITLE_IN if title else 0.15
    width_in = max(6.5, _MARGIN_LEFT_IN + _MARGIN_RIGHT_IN + _LIFELINE_GAP_IN * max(count, 2))
    axes_h_in = (bottom - top) * row_in
    height_in = title_in + axes_h_in + legend_in
    figure = Figure(figsize=(width_in, height_in), dpi=100)
    axes = figure.add_axes((
        _MARGIN_LEFT_IN / width_in, legend_in / height_in,
        1 - (_MARGIN_LEFT_IN + _MARGIN_RIGHT_IN) / width_in, axes_h_in / height_in,
    ))
    axes.set_xlim(-0.5, max(count - 1, 1) + 0.5)
    axes.set_ylim(bottom, top)
    for spine in axes.spines.values():
        spine.set_visible(False)
    axes.set_xticks([])
    axes.set_yticks(ys, [f"{a.time:.3f}" if model.timed else f"#{a.index + 1}"
                         for a in arrows], fontsize=7)
    axes.tick_params(axis="y", length=0, colors="#555555")
    axes.set_ylabel("time (s), compressed" if model.timed else "message", fontsize=8,
                    color="#555555")
    if title:
        figure.suptitle(title, fontsize=11, y=1 - 0.12 / height_in, va="top")

    for column, line in enumerate(model.lifelines):
        axes.plot([column, column], [-0.7, bottom], color="#9a9a9a", lw=1.0, zorder=1,
                  gid="lifeline")
        axes.text(column, -1.45, line.name, ha="center", va="center", fontsize=10,
                  fontweight="bold", gid="lifeline-name",
                  bbox={"boxstyle": "round,pad=0.3", "fc": "#f4f4f4", "ec": "#9a9a9a"})
        if line.address != line.name:
            axes.text(column, -0.85, line.address, ha="center", va="center", fontsize=7,
                      color="#555555", gid="lifeline-address")

    _draw_streams(axes, model, all_times, all_rows, offset, (top, bottom))
    _draw_breaks(axes, model, arrows, ys, count)
    for arrow, y in zip(arrows, ys, strict=True):
        _draw_arrow(axes, model, arrow, y, cseq=cseq, sdp=sdp)

    if groups:
        handles = [Line2D([], [], color=DIALOG_COLOURS[g % len(DIALOG_COLOURS)], lw=2)
                   for g in groups]
        labels = [model.dialogs[g].label for g in groups]
        figure.legend(handles, labels, loc="lower left", fontsize=7, frameon=False,
                      bbox_to_anchor=(_MARGIN_LEFT_IN / width_in, 0.02 / height_in),
                      title="colours: dialogs (RFC 3261 §12)", title_fontsize=7,
                      alignment="left")
    return figure


def _draw_arrow(axes: Axes, model: LadderModel, arrow: Arrow, y: float, *, cseq: bool,
                sdp: bool) -> None:
    colour = DIALOG_COLOURS[arrow.dialog % len(DIALOG_COLOURS)]
    x0, x1 = model.column(arrow.src), model.column(arrow.dst)
    style = "--" if arrow.retransmission else "-"
    label = arrow.text(cseq=cseq)
    if x0 == x1:  # a message to itself: a small loop on the right
        axes.annotate("", xy=(x0, y + 0.3), xytext=(x0, y - 0.3), gid="message",
                      arrowprops={"arrowstyle": "-|>", "color": colour, "lw": 1.3,
                                  "linestyle": style, "connectionstyle": "arc3,rad=-1.2"})
        axes.text(x0 + 0.12, y, label, ha="left", va="center", fontsize=8, color=colour,
                  gid="message-label")
        return
    end = x0 + (x1 - x0) * _LOST_FRACTION if arrow.lost else x1
    axes.annotate("", xy=(end, y), xytext=(x0, y), gid="message", zorder=3,
                  arrowprops={"arrowstyle": "-" if arrow.lost else "-|>", "color": colour,
                              "lw": 1.3, "linestyle": style, "shrinkA": 0, "shrinkB": 0})
    if arrow.lost:
        axes.plot([end], [y], marker="x", markersize=9, markeredgewidth=2.2, color=colour,
                  zorder=4, gid="lost-marker")
    middle = (x0 + x1) / 2
    axes.text(middle, y - 0.1, label, ha="center", va="bottom", fontsize=8, color=colour,
              gid="message-label", zorder=5)
    if sdp and arrow.sdp:
        axes.text(middle, y + 0.1, arrow.sdp, ha="center", va="top", fontsize=7,
                  style="italic", color=colour, gid="sdp-label", zorder=5)


def _draw_breaks(axes: Axes, model: LadderModel, arrows: list[Arrow], ys: list[float],
                 count: int) -> None:
    """``≈ 32.0 s`` across the lifelines where the wait between two rows was long."""
    if not model.timed:
        return
    for i in range(1, len(arrows)):
        wait = arrows[i].time - arrows[i - 1].time
        if wait <= BREAK_AFTER:
            continue
        middle = (ys[i] + ys[i - 1]) / 2
        for column in range(count):
            axes.text(column, middle, "≈", ha="center", va="center", fontsize=12,
                      color="#9a9a9a", gid="time-break-mark",
                      bbox={"boxstyle": "square,pad=0.05", "fc": "white", "ec": "none"})
        axes.text(-0.45, middle, f"{wait:.1f} s later", ha="left", va="center", fontsize=7,
                  style="italic", color="#555555", gid="time-break")


def _draw_streams(axes: Axes, model: LadderModel, times: list[float], rows: list[float],
                  offset: float, limits: tuple[float, float]) -> None:
    from matplotlib.patches import Rectangle

    top, bottom = limits
    for number, band in enumerate(model.streams):
        y0 = position_of_time(band.start, times, rows) - offset
        y1 = position_of_time(band.end, times, rows) - offset
        y0, y1 = max(y0, top + _HEADER_ROWS - 0.5), min(y1, bottom)
        if y1 <= y0:
            continue  # the stream is on another page
        x0, x1 = sorted((model.column(band.src), model.column(band.dst)))
        axes.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, facecolor=_RTP_COLOUR, alpha=0.13,
                                 edgecolor=_RTP_COLOUR, lw=0.8, zorder=0, gid="rtp-band"))
        source = model.lifelines[model.column(band.src)].name
        target = model.lifelines[model.column(band.dst)].name
        axes.text((x0 + x1) / 2, y0 + 0.35 + 0.45 * (number % 2),
                  f"{band.label}  {source} → {target}", ha="center", va="center",
                  fontsize=7, color=_RTP_COLOUR, gid="rtp-label", zorder=2)
