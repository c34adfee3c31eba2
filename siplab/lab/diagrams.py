"""State diagrams drawn from the state tables themselves, so they cannot drift from the code.

siplab writes its state machines as tables, ``(state, input) -> (next state,
actions)`` (see :mod:`siplab.sip.transaction`, RFC 3261 §17 and RFC 6026;
:mod:`siplab.sip.registration`, §10.2; :mod:`siplab.sip.invite_table`, §13-15).
The code only looks rows up, so the table *is* the behaviour, and a drawing
made from the table is a drawing of the behaviour. :func:`diagram` makes one::

    siplab.lab.diagram("INVITE client")          # RFC 3261 Figure 5, with RFC 6026's Accepted
    siplab.lab.diagram("registration")
    siplab.lab.diagram("INVITE client", highlight=transaction)   # where it is, how it got there

How the picture is made (matplotlib only, no Graphviz):

* **Layers.** The initial state is at the top (a black dot points at it,
  labelled with what creates the machine). Each state sits one layer below
  the lowest state with a row leading to it (the longest path from the top,
  after leaving out the rows that go back up), and Terminated is always at
  the bottom. Within a layer, states are ordered by the mean position of
  their neighbours, a few sweeps down and up, to keep crossings few.
* **Edges.** All rows from one state to another make one arrow, labelled one
  line per group of inputs that share their actions: ``1xx / stop Timers
  A+B, pass to TU``. Each arrow takes the straightest curve that crosses no
  state and as few other arrows as can be (short arrows are placed first);
  its label sits on it, or just beside it where that spot is taken. Layers
  are pushed apart where their labels need the room. ``actions="short"``
  (the default) merges timer actions and cuts long lists with ``…``;
  ``"full"`` writes them all; ``"none"`` only the inputs.
* **Self-loops** (rows that stay in their state, like Timer A's
  retransmissions) are loops on the state, with their rows listed in the
  margin beside it.
* **Highlight.** Given a live object (a transaction, a registration, a
  session), its current state is filled in, every row in its ``history`` is
  drawn over in orange with its step numbers, and the history is listed
  under the diagram.

Each artist carries a ``gid`` (``state:Calling``, ``edge:Calling->Proceeding``,
``edge-label:...``, ``path:3:Calling->Proceeding:1xx``, ``history``) so a test
or a student can read the picture back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from siplab.lab.diagrams_layout import (
    CHAR_IN,
    LABEL_FONT,
    LINE_IN,
    NODE_H,
    Actions,
    Layout,
    Machine,
    edge_lines,
    format_row,
    layout,
    machine,
    machines,
    path_of,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyBboxPatch

__all__ = ["diagram", "machines", "machine", "layout", "path_of", "Machine", "Layout"]

_INK = "#333333"
_HIGHLIGHT = "#e76f51"
_CURRENT = "#ffd166"

Point = tuple[float, float]
Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in inches


def diagram(machine_name_or_table: object, *, highlight: object | None = None,
            actions: Actions = "short", title: str | None = None) -> Figure:
    """Draw a state machine from its table; with ``highlight``, show where a live object is.

    ``machine_name_or_table``: ``"INVITE client"``, ``"non-INVITE client"``,
    ``"INVITE server"``, ``"non-INVITE server"``, ``"registration"``,
    ``"outgoing session"``, ``"incoming session"``, one of their tables, or a
    live object (which is then also the highlight). ``highlight``: a
    transaction, a registration or a session (anything with ``state``,
    ``table`` and ``history``); it must run the machine drawn. ``actions``:
    ``"short"``, ``"full"`` or ``"none"`` (see the module docstring).
    """
    if highlight is None and hasattr(machine_name_or_table, "history"):
        highlight = machine_name_or_table
    m = machine(machine_name_or_table)
    if highlight is not None and getattr(highlight, "table", m.table) is not m.table:
        raise ValueError(f"{highlight!r} does not run the {m.name} machine")
    return _Drawing(m, layout(m, actions), actions).draw(highlight, title)


# -- geometry helpers -----------------------------------------------------------------------


def _bezier(p0: Point, p1: Point, rad: float, t: float) -> Point:
    """A point of matplotlib's ``arc3`` curve from p0 to p1 (a quadratic Bézier whose
    control point is ``rad`` times the chord away from the chord's middle)."""
    dx, dy = p1[0] - p0[0], p1[1] - p0[1]
    cx, cy = (p0[0] + p1[0]) / 2 + rad * dy, (p0[1] + p1[1]) / 2 - rad * dx
    u = 1 - t
    return (u * u * p0[0] + 2 * u * t * cx + t * t * p1[0],
            u * u * p0[1] + 2 * u * t * cy + t * t * p1[1])


def _overlap(a: Box, b: Box) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return w * h if w > 0 and h > 0 else 0.0


def _inside(p: Point, box: Box, margin: float = 0.0) -> bool:
    return (box[0] - margin <= p[0] <= box[2] + margin
            and box[1] - margin <= p[1] <= box[3] + margin)


def _crossings(a: list[Point], b: list[Point]) -> int:
    """How many times two polylines cross (their shared end points do not count)."""
    def side(p: Point, q: Point, r: Point) -> float:
        return (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0])

    count = 0
    for i in range(1, len(a) - 2):
        for j in range(1, len(b) - 2):
            p, q, r, s = a[i], a[i + 1], b[j], b[j + 1]
            if (side(p, q, r) * side(p, q, s) < 0) and (side(r, s, p) * side(r, s, q) < 0):
                count += 1
    return count


def _text_box(center: Point, lines: Sequence[str]) -> Box:
    width = max((len(line) for line in lines), default=1) * CHAR_IN + 0.12
    height = len(lines) * LINE_IN + 0.08
    return (center[0] - width / 2, center[1] - height / 2,
            center[0] + width / 2, center[1] + height / 2)


@dataclass(slots=True)
class _Edge:
    src: str
    dst: str
    lines: list[str]
    rad: float = 0.0
    label_at: Point = (0.0, 0.0)
    label_box: Box = (0.0, 0.0, 0.0, 0.0)


@dataclass(slots=True)
class _Loop:
    state: str
    lines: list[str]
    side: int  # +1 right, -1 left
    outer: Point = (0.0, 0.0)
    note_at: Point = (0.0, 0.0)


class _Drawing:
    """Places every label first (in inches), then draws it all on one Figure."""

    def __init__(self, m: Machine, lay: Layout, actions: Actions) -> None:
        self.m, self.lay, self.actions = m, lay, actions
        self.node_box: dict[str, Box] = {}
        for state, (x, y) in lay.position.items():
            width = max(1.15, 0.085 * len(state) + 0.45)
            self.node_box[state] = (x - width / 2, y - NODE_H / 2, x + width / 2, y + NODE_H / 2)
        x, y = lay.position[m.initial]
        self.start_dot: Point = (x, y + 1.0)
        self.start_lines = ([format_row([m.start_input], m.start_actions, actions)]
                            if m.start_input else [])
        self.placed: list[Box] = list(self.node_box.values())
        self.edges = self._place_edges()
        self.loops = self._place_loops()

    # -- placing -------------------------------------------------------------------------

    def _place_edges(self) -> list[_Edge]:
        """Choose each arrow's curve, then its label's place; short arrows first."""
        pairs = self.lay.edges
        layer = self.lay.layer
        order = sorted((pair for pair in pairs if pair[0] != pair[1]),
                       key=lambda pair: abs(layer[pair[0]] - layer[pair[1]]))
        out: list[_Edge] = []
        drawn: list[list[Point]] = []
        for src, dst in order:
            edge = _Edge(src, dst, edge_lines(pairs[(src, dst)], self.actions))
            both_ways = (dst, src) in pairs
            candidates = [0.2, 0.35, 0.5, 0.7] if both_ways else \
                [0.0, 0.2, -0.2, 0.35, -0.35, 0.5, -0.5, 0.7, -0.7]
            edge.rad = min(candidates, key=lambda rad: self._cost(src, dst, rad, drawn))
            drawn.append(self._curve(src, dst, edge.rad))
            out.append(edge)
        self.curves = drawn
        fine = {(e.src, e.dst): [_bezier(self.lay.position[e.src], self.lay.position[e.dst],
                                         e.rad, i / 60) for i in range(61)] for e in out}
        for edge in out:
            others = [p for key, curve in fine.items() if key != (edge.src, edge.dst)
                      for p in curve]
            self._place_label(edge, others)
        if self.start_lines:
            x, y = self.start_dot
            box = _text_box((0, 0), self.start_lines)
            width, height = box[2] - box[0], box[3] - box[1]
            self.start_box = (x + 0.15, y - 0.5 - height / 2, x + 0.15 + width,
                              y - 0.5 + height / 2)
            self.placed.append(self.start_box)
        return sorted(out, key=lambda e: list(pairs).index((e.src, e.dst)))  # table order

    def _place_label(self, edge: _Edge, other_curves: list[Point]) -> None:
        """On the curve if there is room there, else just beside it (left or right);
        never on a state, on another label or, if it can be helped, on another arrow."""
        p0, p1 = self.lay.position[edge.src], self.lay.position[edge.dst]
        best: tuple[float, Point, Box] | None = None
        for t in (0.5, 0.42, 0.58, 0.34, 0.66, 0.27, 0.73):
            at = _bezier(p0, p1, edge.rad, t)
            centred = _text_box(at, edge.lines)
            width = centred[2] - centred[0]
            for shift in (0.0, -width / 2 - 0.06, width / 2 + 0.06):
                box = (centred[0] + shift, centred[1], centred[2] + shift, centred[3])
                nodes = sum(_overlap(box, other) for other in self.node_box.values())
                labels = sum(_overlap(box, other) for other in self.placed)
                crossed = sum(1 for point in other_curves if _inside(point, box))
                cost = 10 * nodes + labels + 0.02 * crossed
                if best is None or cost < best[0] - 1e-9:
                    best = (cost, (at[0] + shift, at[1]), box)
                if cost == 0:
                    break
            if best is not None and best[0] == 0:
                break
        assert best is not None
        edge.label_at, edge.label_box = best[1], best[2]
        self.placed.append(edge.label_box)

    def _curve(self, src: str, dst: str, rad: float) -> list[Point]:
        p0, p1 = self.lay.position[src], self.lay.position[dst]
        return [_bezier(p0, p1, rad, i / 20) for i in range(21)]

    def _cost(self, src: str, dst: str, rad: float, drawn: list[list[Point]]) -> float:
        """How bad a curve is: crossing a state is very bad, crossing an arrow bad,
        bending a little."""
        curve = self._curve(src, dst, rad)
        others = [box for state, box in self.node_box.items() if state not in (src, dst)]
        hits = sum(1 for point in curve[3:18] for box in others if _inside(point, box, 0.15))
        crossings = sum(_crossings(curve, other) for other in drawn)
        return 100 * hits + 10 * crossings + abs(rad)

    def _freer_side(self, state: str, load: dict[int, int]) -> int:
        """The side of a centred state with less in the way of its loop (then: fewer notes)."""
        box = self.node_box[state]
        cost = {}
        for side in (1, -1):
            x = box[2] if side > 0 else box[0] - 0.6
            region = (x, box[1] - 0.3, x + 0.6, box[3] + 0.3)
            points = sum(1 for curve in self.curves for p in curve if _inside(p, region))
            cost[side] = 10 * sum(_overlap(region, other) for other in self.placed) + points
        if cost[1] != cost[-1]:
            return 1 if cost[1] < cost[-1] else -1
        return 1 if load[1] <= load[-1] else -1

    def _place_loops(self) -> list[_Loop]:
        loops = []
        load = {1: 0, -1: 0}
        for (src, dst), rows in self.lay.edges.items():
            if src != dst:
                continue
            x = self.lay.position[src][0]
            side = 1 if x > 0 else -1 if x < 0 else self._freer_side(src, load)
            lines = edge_lines(rows, self.actions, loop=True)
            load[side] += len(lines)
            box = self.node_box[src]
            edge_x = box[2] if side > 0 else box[0]
            loops.append(_Loop(src, lines, side, (edge_x + side * 0.42, self.lay.position[src][1])))
        # The rows of each loop go in the margin on its side, top to bottom, never overlapping.
        right = max(b[2] for b in self.placed) + 0.45
        left = min(b[0] for b in self.placed) - 0.45
        for side, margin in ((1, right), (-1, left)):
            floor = float("inf")
            on_side = sorted((lp for lp in loops if lp.side == side), key=lambda lp: -lp.outer[1])
            for loop in on_side:
                height = len(loop.lines) * LINE_IN + 0.08
                centre = min(loop.outer[1], floor - height / 2 - 0.12)
                loop.note_at = (margin, centre)
                floor = centre - height / 2
                width = max(len(line) for line in loop.lines) * CHAR_IN + 0.12
                x0 = margin if side > 0 else margin - width
                self.placed.append((x0, centre - height / 2, x0 + width, centre + height / 2))
        return loops

    # -- drawing -------------------------------------------------------------------------

    def draw(self, highlight: object | None, title: str | None) -> Figure:
        from matplotlib.figure import Figure

        steps = path_of(self.m, getattr(highlight, "history", ())) if highlight else []
        history = self._history_lines(steps)
        top = max(max(b[3] for b in self.placed), self.start_dot[1] + 0.1) + 0.25
        left = min(b[0] for b in self.placed) - 0.25
        right = max(b[2] for b in self.placed) + 0.25
        bottom = min(b[1] for b in self.placed) - 0.25
        history_top = bottom
        if history:
            bottom -= len(history) * LINE_IN * 1.1 + 0.3
        title = title or f"{self.m.name} state machine" + (
            f" ({self.m.reference})" if self.m.reference else "")
        top += 0.45
        right = max(right, left + len(title) * 11 * 0.6 / 72 + 0.4)
        figure = Figure(figsize=(right - left, top - bottom), dpi=100)
        axes = figure.add_axes((0, 0, 1, 1))
        axes.set_xlim(left, right)
        axes.set_ylim(bottom, top)
        axes.set_axis_off()
        axes.text(left + 0.2, top - 0.25, title, fontsize=11, fontweight="bold", va="center",
                  gid="title")
        current = str(getattr(highlight, "state", "")) if highlight is not None else None
        patches = {state: self._draw_state(axes, state, state == current)
                   for state in self.lay.states}
        self._draw_start(axes, patches, steps)
        for edge in self.edges:
            self._draw_edge(axes, edge, patches, [s for s in steps
                                                  if (s[1], s[3]) == (edge.src, edge.dst)])
        for loop in self.loops:
            self._draw_loop(axes, loop, [s for s in steps
                                         if s[1] == s[3] == loop.state and s[1] != "start"])
        if history:
            axes.text(left + 0.2, history_top - 0.15, "\n".join(history), fontsize=7,
                      family="monospace", va="top", ha="left", gid="history", color=_INK)
        return figure

    def _history_lines(self, steps: list[tuple[int, str, str, str, float]]) -> list[str]:
        if not steps:
            return []
        rows = {(str(state), name) for state, name in self.m.table}
        lines = ["path taken (history):"]
        for number, src, name, dst, time in steps[:40]:
            known = src == "start" or (src, name) in rows
            note = "" if known else "   (not a table row)"
            lines.append(f"{number:3d}. {time:9.3f}  {src} --{name}--> {dst}{note}")
        if len(steps) > 40:
            lines.append(f"     … {len(steps) - 40} more")
        return lines

    def _draw_state(self, axes: Axes, state: str, current: bool) -> FancyBboxPatch:
        from matplotlib.patches import FancyBboxPatch

        x0, y0, x1, y1 = self.node_box[state]
        patch = FancyBboxPatch((x0, y0), x1 - x0, y1 - y0,
                               boxstyle="round,pad=0,rounding_size=0.12",
                               facecolor=_CURRENT if current else "#f4f4f4",
                               edgecolor=_HIGHLIGHT if current else _INK,
                               lw=2.4 if current else 1.2, zorder=3, gid=f"state:{state}")
        axes.add_patch(patch)
        if state == "Terminated":  # a final state: drawn with a double border
            axes.add_patch(FancyBboxPatch((x0 - 0.05, y0 - 0.05), x1 - x0 + 0.1, y1 - y0 + 0.1,
                                          boxstyle="round,pad=0,rounding_size=0.15",
                                          facecolor="none", edgecolor=_INK, lw=1.0, zorder=3))
        axes.text((x0 + x1) / 2, (y0 + y1) / 2, state, ha="center", va="center", fontsize=10,
                  fontweight="bold", zorder=4, gid="state-label")
        if current:
            axes.text(x1 + 0.05, y1 + 0.02, "now", ha="left", va="bottom", fontsize=7,
                      color=_HIGHLIGHT, fontweight="bold", zorder=4, gid="current-state")
        return patch

    def _label(self, axes: Axes, at: Point, lines: list[str], gid: str) -> None:
        axes.text(at[0], at[1], "\n".join(lines), ha="center", va="center", fontsize=LABEL_FONT,
                  color=_INK, zorder=5, gid=gid, linespacing=1.1,
                  bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.9})

    def _badge(self, axes: Axes, at: Point, steps: list[tuple[int, str, str, str, float]]) -> None:
        numbers = ",".join(str(s[0]) for s in steps[:6]) + ("…" if len(steps) > 6 else "")
        axes.text(at[0], at[1], numbers, ha="right", va="center", fontsize=7, color="white",
                  fontweight="bold", zorder=6, gid="path-badge",
                  bbox={"boxstyle": "round,pad=0.2", "fc": _HIGHLIGHT, "ec": "none"})

    def _arrow(self, axes: Axes, gid: str, highlighted: bool = False,
               **geometry: Any) -> None:
        from matplotlib.patches import FancyArrowPatch

        style: dict[str, Any] = {"color": _INK, "lw": 1.1, "zorder": 2}
        if highlighted:
            style = {"color": _HIGHLIGHT, "lw": 3.2, "alpha": 0.75, "zorder": 1}
        axes.add_patch(FancyArrowPatch(arrowstyle="-|>", mutation_scale=12, gid=gid,
                                       **style, **geometry))

    def _draw_start(self, axes: Axes, patches: dict[str, FancyBboxPatch],
                    steps: list[tuple[int, str, str, str, float]]) -> None:
        from matplotlib.patches import Circle

        initial = self.m.initial
        axes.add_patch(Circle(self.start_dot, 0.09, color=_INK, zorder=3, gid="start"))
        geometry: dict[str, Any] = {"posA": self.start_dot, "posB": self.lay.position[initial],
                    "patchB": patches[initial], "shrinkA": 6}
        self._arrow(axes, f"edge:start->{initial}", **geometry)
        taken = [s for s in steps if s[1] == "start"]
        for number, src, name, dst, _ in taken:
            self._arrow(axes, f"path:{number}:{src}->{dst}:{name}", True, **geometry)
        if self.start_lines:
            x0, y0, _, y1 = self.start_box
            axes.text(x0, (y0 + y1) / 2, "\n".join(self.start_lines), ha="left", va="center",
                      fontsize=LABEL_FONT, color=_INK, zorder=5,
                      gid=f"edge-label:start->{initial}")
            if taken:
                self._badge(axes, (x0 - 0.05, (y0 + y1) / 2), taken)

    def _draw_edge(self, axes: Axes, edge: _Edge, patches: dict[str, FancyBboxPatch],
                   taken: list[tuple[int, str, str, str, float]]) -> None:
        geometry: dict[str, Any] = {
            "posA": self.lay.position[edge.src], "posB": self.lay.position[edge.dst],
            "patchA": patches[edge.src], "patchB": patches[edge.dst],
            "connectionstyle": f"arc3,rad={edge.rad}",
        }
        self._arrow(axes, f"edge:{edge.src}->{edge.dst}", **geometry)
        for number, src, name, dst, _ in taken:
            self._arrow(axes, f"path:{number}:{src}->{dst}:{name}", True, **geometry)
        self._label(axes, edge.label_at, edge.lines, f"edge-label:{edge.src}->{edge.dst}")
        if taken:
            self._badge(axes, (edge.label_box[0] - 0.04, edge.label_box[3] - 0.06), taken)

    def _draw_loop(self, axes: Axes, loop: _Loop,
                   taken: list[tuple[int, str, str, str, float]]) -> None:
        from matplotlib.path import Path

        box = self.node_box[loop.state]
        x = box[2] if loop.side > 0 else box[0]
        y = self.lay.position[loop.state][1]
        reach = loop.side * 0.55
        path = Path([(x, y + 0.1), (x + reach, y + 0.5), (x + reach, y - 0.5), (x, y - 0.1)],
                    [Path.MOVETO, Path.CURVE4, Path.CURVE4, Path.CURVE4])
        self._arrow(axes, f"edge:{loop.state}->{loop.state}", path=path)
        for number, src, name, dst, _ in taken:
            self._arrow(axes, f"path:{number}:{src}->{dst}:{name}", True, path=path)
        nx, ny = loop.note_at
        axes.plot([loop.outer[0], nx - loop.side * 0.04], [loop.outer[1], ny], ls=":",
                  lw=0.8, color="#888888", zorder=1, gid="loop-leader")
        axes.text(nx, ny, "\n".join(loop.lines), ha="left" if loop.side > 0 else "right",
                  va="center", fontsize=LABEL_FONT, color=_INK, zorder=5, linespacing=1.1,
                  gid=f"edge-label:{loop.state}->{loop.state}")
        if taken:
            self._badge(axes, (loop.outer[0] + (0.0 if loop.side > 0 else -0.0), y + 0.42), taken)
