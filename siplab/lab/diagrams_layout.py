"""The geometry of a state diagram, worked out from a state table (no matplotlib here).

:mod:`siplab.lab.diagrams` draws siplab's state machines from their tables;
this module does the thinking first: which machines exist (:func:`machines`),
how a row reads as a label (:func:`format_row`), where each state goes
(:func:`layout`: layers from the top, Terminated at the bottom, few
crossings) and which rows a live object went through (:func:`path_of`).
See :mod:`siplab.lab.diagrams` for the rules in words.
"""

from __future__ import annotations

import itertools
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "Machine",
    "machines",
    "machine",
    "format_row",
    "edge_lines",
    "Layout",
    "layout",
    "path_of",
    "Actions",
    "LAYER_GAP",
    "COLUMN_GAP",
    "NODE_H",
    "LABEL_FONT",
    "LINE_IN",
    "CHAR_IN",
]

Actions = Literal["short", "full", "none"]

#: Inches between two layers (at least), and between two states of one layer.
LAYER_GAP = 1.7
COLUMN_GAP = 3.4
#: Height of a state's box; the size of label text, and its estimated line height
#: and character width in inches (for placing labels before anything is drawn).
NODE_H = 0.42
LABEL_FONT = 7.0
LINE_IN = LABEL_FONT * 1.25 / 72
CHAR_IN = LABEL_FONT * 0.56 / 72
_WRAP = 46  # characters per label line


# -- the machines ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Machine:
    """A table and what the drawing needs besides it."""

    name: str
    table: Mapping[tuple[Any, str], Any]  # (state, input) -> row with next_state, actions
    initial: str
    start_input: str | None = None  # the arrow into the initial state
    start_actions: tuple[str, ...] = ()
    reference: str = ""


def machines() -> dict[str, Machine]:
    """Every machine siplab has, by name (a new dict each call)."""
    from siplab.sip import invite_table, registration, transaction

    out = {
        name: Machine(name, table, str(transaction.INITIAL_STATES[name]),
                      transaction.START_INPUT[name], transaction.START_ACTIONS[name],
                      "RFC 3261 §17, RFC 6026")
        for name, table in transaction.MACHINES.items()
    }
    out["registration"] = Machine("registration", registration.REGISTRATION,
                                  str(registration.REGISTRATION_INITIAL_STATE),
                                  reference="RFC 3261 §10.2")
    for direction, table in invite_table.SESSION_MACHINES.items():
        name = f"{direction} session"
        out[name] = Machine(name, table, str(invite_table.SESSION_INITIAL_STATE),
                            reference="RFC 3261 §13-15")
    return out


def machine(which: object) -> Machine:
    """A :class:`Machine` from its name (``"INVITE client"``, ``"registration"``,
    ``"outgoing session"``/``"outgoing"``), its table, or a live object with ``.table``."""
    known = machines()
    if isinstance(which, Machine):
        return which
    if isinstance(which, str):
        wanted = which.strip().lower()
        for name, found in known.items():
            if wanted in (name.lower(), name.lower().removesuffix(" session")):
                return found
        raise ValueError(f"no machine called {which!r}; choose one of {', '.join(known)}")
    table = getattr(which, "table", which)
    for found in known.values():
        if found.table is table:
            return found
    if isinstance(table, Mapping) and table:
        return Machine("state machine", table, _guess_initial(table))
    raise TypeError(f"cannot draw {which!r}: give a machine name, a table or a live object")


def _guess_initial(table: Mapping[tuple[Any, str], Any]) -> str:
    """A state that no other state leads to, else the first one in the table."""
    targets = {str(row.next_state) for (state, _), row in table.items()
               if row.next_state != state}
    states = [str(state) for state, _ in table]
    return next((s for s in states if s not in targets), states[0])


# -- rows as text ---------------------------------------------------------------------------


def _short_actions(actions: Sequence[str]) -> list[str]:
    """``stop Timer A, stop Timer B`` -> ``stop Timers A+B``; other actions as they are."""
    out: list[str] = []
    timers: dict[str, list[str]] = {}
    for action in actions:
        words = action.split(" ")
        if len(words) == 3 and words[1] == "Timer" and words[0] in ("start", "stop", "double"):
            letters = timers.get(words[0])
            if letters is not None and out and out[-1].startswith(words[0] + " Timer"):
                letters.append(words[2])
                out[-1] = f"{words[0]} Timers {'+'.join(letters)}"
                continue
            timers[words[0]] = [words[2]]
        out.append(action)
    return out


def format_row(inputs: Sequence[str], actions: Sequence[str], mode: Actions = "short",
               *, loop: bool = False) -> str:
    """One label line: ``1xx or 2xx / pass to TU``.

    A row of a self-loop with no action is marked ``(absorbed)``: the input is
    a late copy, dropped on purpose (a Completed client transaction absorbing
    1xx copies). Any other row without actions shows its input alone.
    """
    text = " or ".join(inputs)
    if mode == "none":
        return text
    if not actions:
        return f"{text} / (absorbed)" if loop else text
    items = list(actions) if mode == "full" else _short_actions(actions)
    shown = ", ".join(items)
    if mode == "short" and len(shown) > 40:
        kept: list[str] = []
        for item in items:
            if len(", ".join([*kept, item])) > 36:
                break
            kept.append(item)
        shown = ", ".join(kept) + f", … (+{len(items) - len(kept)})"
    return f"{text} / {shown}"


def edge_lines(rows: Sequence[tuple[str, tuple[str, ...]]], mode: Actions, *,
               loop: bool = False) -> list[str]:
    """Rows of one arrow as label lines, inputs with the same actions on one line."""
    grouped: dict[tuple[str, ...], list[str]] = {}
    for name, actions in rows:
        grouped.setdefault(actions, []).append(name)
    lines: list[str] = []
    for actions, inputs in grouped.items():
        lines.extend(textwrap.wrap(format_row(inputs, actions, mode, loop=loop), _WRAP,
                                   break_on_hyphens=False, subsequent_indent="  "))
    return lines


# -- layout ---------------------------------------------------------------------------------


@dataclass(slots=True)
class Layout:
    """States placed in layers: ``position[state] = (x, y)`` in inches, y growing upwards."""

    states: list[str]
    layer: dict[str, int]
    position: dict[str, tuple[float, float]]
    edges: dict[tuple[str, str], list[tuple[str, tuple[str, ...]]]] = field(default_factory=dict)


def layout(m: Machine, actions: Actions = "short") -> Layout:
    """Place the states of ``m`` in layers (see :mod:`siplab.lab.diagrams`).

    Layers are at least :data:`LAYER_GAP` apart, more where the labels of the
    arrows between them need the room (``actions`` says how long they are).
    """
    edges: dict[tuple[str, str], list[tuple[str, tuple[str, ...]]]] = {}
    states = [m.initial]
    for (state, name), row in m.table.items():
        src, dst = str(state), str(row.next_state)
        edges.setdefault((src, dst), []).append((name, tuple(row.actions)))
        for s in (src, dst):
            if s not in states:
                states.append(s)
    forward = _forward_edges(m.initial, states, edges)
    layer = dict.fromkeys(states, 0)
    for _ in states:  # longest path on the forward edges (they form no cycle)
        for src, dst in forward:
            layer[dst] = max(layer[dst], layer[src] + 1)
    final = "Terminated"
    if final in layer and any(layer[s] >= layer[final] for s in states if s != final):
        layer[final] = max(layer[s] for s in states if s != final) + 1
    rows: dict[int, list[str]] = {}
    for s in states:
        rows.setdefault(layer[s], []).append(s)
    order = _reduce_crossings(rows, edges)
    depths = sorted(order)
    gap = dict.fromkeys(depths, LAYER_GAP)  # gap[d]: from layer d to layer d + 1
    for (src, dst), rows_of_edge in edges.items():
        span = abs(layer[src] - layer[dst])
        if span == 0:
            continue
        height = len(edge_lines(rows_of_edge, actions)) * LINE_IN + NODE_H + 0.5
        for depth in range(min(layer[src], layer[dst]), max(layer[src], layer[dst])):
            gap[depth] = max(gap[depth], height / span)
    y = {depths[0]: 0.0}
    for before, depth in itertools.pairwise(depths):  # consecutive numbers
        y[depth] = y[before] - gap[before]
    position: dict[str, tuple[float, float]] = {}
    for depth, members in order.items():
        for i, s in enumerate(members):
            position[s] = ((i - (len(members) - 1) / 2) * COLUMN_GAP, y[depth])
    return Layout(states, layer, position, edges)


def _forward_edges(initial: str, states: list[str],
                   edges: Mapping[tuple[str, str], object]) -> list[tuple[str, str]]:
    """The edges that are not self-loops and do not go back up (a DFS from the top)."""
    successors: dict[str, list[str]] = {s: [] for s in states}
    for src, dst in edges:
        if src != dst:
            successors[src].append(dst)
    back: set[tuple[str, str]] = set()
    visited: set[str] = set()
    on_path: list[str] = []

    def visit(state: str) -> None:
        visited.add(state)
        on_path.append(state)
        for nxt in successors[state]:
            if nxt in on_path:
                back.add((state, nxt))
            elif nxt not in visited:
                visit(nxt)
        on_path.pop()

    for start in [initial, *states]:
        if start not in visited:
            visit(start)
    return [(s, d) for (s, d) in edges if s != d and (s, d) not in back]


def _reduce_crossings(rows: dict[int, list[str]],
                      edges: Mapping[tuple[str, str], object]) -> dict[int, list[str]]:
    """Order each layer by the mean position of its neighbours (barycenter heuristic)."""
    order = {depth: list(members) for depth, members in sorted(rows.items())}
    neighbours: dict[str, set[str]] = {}
    for src, dst in edges:
        if src != dst:
            neighbours.setdefault(src, set()).add(dst)
            neighbours.setdefault(dst, set()).add(src)
    for sweep in range(4):
        depths = sorted(order) if sweep % 2 == 0 else sorted(order, reverse=True)
        for depth in depths:
            index = {s: i - (len(m) - 1) / 2 for m in order.values() for i, s in enumerate(m)}
            members = order[depth]

            def weight(state: str, members: list[str] = members,
                       index: dict[str, float] = index) -> float:
                near = [index[n] for n in neighbours.get(state, ()) if n not in members]
                return sum(near) / len(near) if near else index[state]

            order[depth] = sorted(members, key=weight)  # stable: ties keep their order
    return order


# -- the path a live object took ------------------------------------------------------------


def path_of(m: Machine, history: Iterable[tuple[float, str, object]]
            ) -> list[tuple[int, str, str, str, float]]:
    """``history`` as steps ``(number, from state, input, to state, time)``, from 1.

    The first step of a transaction is its creation (``START_INPUT``), drawn
    as the arrow from the black dot: its "from state" is ``"start"``.
    """
    steps = []
    state = m.initial
    for number, (time, name, after) in enumerate(history, 1):
        if number == 1 and name == m.start_input:
            steps.append((number, "start", name, str(after), time))
        else:
            steps.append((number, state, name, str(after), time))
        state = str(after)
    return steps
