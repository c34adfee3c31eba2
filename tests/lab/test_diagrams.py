"""State diagrams drawn from the state tables (siplab.lab.diagrams), read back from artists.

The tables are the behaviour (RFC 3261 §17 and RFC 6026 transactions, §10.2
registration, §13-15 sessions), so the drawing must show every row of them:
each (state, input) -> next state as a labelled arrow, self-loops included,
the initial state on top and Terminated at the bottom; and a live object's
``history`` must be drawn as the path it took.
"""

from __future__ import annotations

import pytest
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

from siplab.ids import IdSource
from siplab.lab import diagram
from siplab.lab.diagrams import machine, machines
from siplab.lab.diagrams_layout import format_row, layout, path_of
from siplab.sip.build import build_request, build_response
from siplab.sip.invite_table import SESSION_MACHINES
from siplab.sip.registration import REGISTRATION
from siplab.sip.transaction import (
    INITIAL_STATES,
    MACHINES,
    START_INPUT,
    InviteClientTransaction,
    NonInviteServerTransaction,
)
from siplab.sip.transport import Peer
from tests.lab.figures import artists
from tests.lab.ladder_captures import forked_call

ALL_MACHINES = sorted(machines())


def edge_rows(figure: Figure) -> dict[tuple[str, str], dict[str, str]]:
    """Each arrow's label read back as {input: actions}: one line per group of inputs
    with the same actions (``a or b / x, y``); wrapped lines start with two spaces."""
    out: dict[tuple[str, str], dict[str, str]] = {}
    for text in artists(figure, prefix="edge-label:"):
        src, dst = text.get_gid().removeprefix("edge-label:").split("->")
        groups: list[str] = []
        for line in text.get_text().split("\n"):
            if line.startswith("  ") and groups:
                groups[-1] += " " + line.strip()
            else:
                groups.append(line)
        rows: dict[str, str] = {}
        for group in groups:
            inputs, _, actions = group.partition(" / ")
            for name in inputs.split(" or "):
                rows[name] = actions
        out[(src, dst)] = rows
    return out


def table_rows(table: object) -> dict[tuple[str, str], dict[str, str]]:
    out: dict[tuple[str, str], dict[str, str]] = {}
    for (state, name), row in table.items():  # type: ignore[attr-defined]
        actions = ", ".join(row.actions) or ("(absorbed)" if row.next_state == state else "")
        out.setdefault((str(state), str(row.next_state)), {})[name] = actions
    return out


@pytest.mark.parametrize("name", ALL_MACHINES)
def test_every_table_row_is_a_labelled_arrow(name: str) -> None:
    m = machine(name)
    figure = diagram(name, actions="full")
    drawn = edge_rows(figure)
    start = drawn.pop(("start", m.initial), None)
    assert drawn == table_rows(m.table)
    arrows = {a.get_gid().removeprefix("edge:") for a in artists(figure, prefix="edge:")}
    assert arrows == {f"{src}->{dst}" for src, dst in table_rows(m.table)} | {
        f"start->{m.initial}"}
    if m.start_input is not None:
        assert start == {m.start_input: ", ".join(m.start_actions)}


@pytest.mark.parametrize("name", ALL_MACHINES)
def test_initial_state_is_on_top_and_terminated_at_the_bottom(name: str) -> None:
    m = machine(name)
    positions = layout(m).position
    top = max(y for _, y in positions.values())
    assert positions[m.initial][1] == top
    assert [s for s, (_, y) in positions.items() if y == top] == [m.initial]
    if "Terminated" in positions:
        bottom = min(y for _, y in positions.values())
        assert [s for s, (_, y) in positions.items() if y == bottom] == ["Terminated"]


def test_machines_are_the_code_tables_themselves() -> None:
    assert {name: m.table for name, m in machines().items()} == {
        **MACHINES, "registration": REGISTRATION,
        "outgoing session": SESSION_MACHINES["outgoing"],
        "incoming session": SESSION_MACHINES["incoming"],
    }
    for name, m in machines().items():
        if name in MACHINES:
            assert m.initial == INITIAL_STATES[name]
            assert m.start_input == START_INPUT[name]
        assert m.table is machine(m.table).table


def test_short_labels_merge_timer_actions_and_cut_long_lists() -> None:
    assert format_row(["1xx"], ["stop Timer A", "stop Timer B", "pass to TU"]) == \
        "1xx / stop Timers A+B, pass to TU"
    long = format_row(["300-699"], ["stop Timer A", "stop Timer B", "pass to TU", "send ACK",
                                    "start Timer D"])
    assert long == "300-699 / stop Timers A+B, pass to TU, … (+2)"
    assert format_row(["Timer D"], []) == "Timer D"
    assert format_row(["1xx"], [], loop=True) == "1xx / (absorbed)"
    assert format_row(["a", "b"], ["x"], "none") == "a or b"
    drawn = edge_rows(diagram("INVITE client"))
    assert drawn[("Calling", "Completed")] == {"300-699": "stop Timers A+B, pass to TU, … (+2)"}


def test_self_loops_are_drawn_with_their_rows_beside_them() -> None:
    figure = diagram("INVITE client")
    loops = {a.get_gid() for a in artists(figure, prefix="edge:")
             if a.get_gid().split(":")[1].split("->")[0] == a.get_gid().split("->")[1]}
    assert loops == {"edge:Calling->Calling", "edge:Proceeding->Proceeding",
                     "edge:Completed->Completed", "edge:Accepted->Accepted"}
    assert edge_rows(figure)[("Calling", "Calling")] == {
        "Timer A": "retransmit request, double Timer A"}


def invite_transaction() -> InviteClientTransaction:
    """An INVITE client transaction that retransmits twice, rings, and is answered."""
    invite = build_request("INVITE", "sip:bob@10.0.0.2", from_="<sip:alice@10.0.0.1>;tag=a",
                           to="<sip:bob@10.0.0.2>", via_host="10.0.0.1", ids=IdSource("d"))
    transaction = InviteClientTransaction(invite, Peer("10.0.0.2", 5060), now=0.0)
    transaction.handle_timer(0.5)
    transaction.handle_timer(1.5)
    transaction.receive_response(build_response(invite, 180, to_tag="b"), 1.6)
    transaction.receive_response(build_response(invite, 200, to_tag="b"), 2.0)
    return transaction


def highlighted_path(figure: Figure) -> list[tuple[str, str, str]]:
    steps = []
    for artist in artists(figure, prefix="path:"):
        _, number, edge, name = artist.get_gid().split(":", 3)
        src, dst = edge.split("->")
        steps.append((int(number), src, name, dst))
    return [step[1:] for step in sorted(steps)]


def test_highlight_draws_a_transactions_history_as_its_path() -> None:
    transaction = invite_transaction()
    figure = diagram("INVITE client", highlight=transaction)
    expected = [("start", "INVITE from TU", "Calling"), ("Calling", "Timer A", "Calling"),
                ("Calling", "Timer A", "Calling"), ("Calling", "1xx", "Proceeding"),
                ("Proceeding", "2xx", "Accepted")]
    assert highlighted_path(figure) == expected
    assert [(src, name, dst) for _, src, name, dst, _ in
            path_of(machine("INVITE client"), transaction.history)] == expected
    current = artists(figure, "state:Accepted")[0]
    others = artists(figure, "state:Calling")[0]
    assert to_hex(current.get_facecolor()) != to_hex(others.get_facecolor())
    history = artists(figure, "history")[0].get_text().splitlines()
    assert len(history) == 1 + len(transaction.history)
    assert "Proceeding --2xx--> Accepted" in history[-1]
    assert sorted(t.get_text() for t in artists(figure, "path-badge")) == ["1", "2,3", "4", "5"]


def test_a_live_object_alone_is_drawn_and_highlighted() -> None:
    request = build_request("OPTIONS", "sip:bob@10.0.0.2", from_="<sip:alice@10.0.0.1>;tag=a",
                            to="<sip:bob@10.0.0.2>", via_host="10.0.0.1", ids=IdSource("s"))
    server = NonInviteServerTransaction(request, Peer("10.0.0.1", 5060), now=0.0)
    server.send_response(build_response(request, 200), 0.1)
    figure = diagram(server)
    assert highlighted_path(figure) == [("start", "request received", "Trying"),
                                        ("Trying", "send 2xx", "Completed")]


def test_registration_and_session_paths_from_a_real_call() -> None:
    lab = forked_call()
    registration = lab.uas["alice"].registration
    assert registration is not None
    path = highlighted_path(diagram("registration", highlight=registration))
    assert path[:2] == [("Unregistered", "register", "Registering"),
                        ("Registering", "401/407", "Registering")]
    assert path[-1] == ("Registering", "2xx", "Registered")
    sessions = [e.session for e in lab.events("bob-mobile") if hasattr(e, "session")]
    incoming = sessions[0]
    path = highlighted_path(diagram("incoming session", highlight=incoming))
    assert path[0] == ("Initial", "receive INVITE", "Establishing")
    assert path[-1][2] == "Terminated"


def test_highlighting_an_object_of_another_machine_is_refused() -> None:
    with pytest.raises(ValueError, match="does not run the non-INVITE client machine"):
        diagram("non-INVITE client", highlight=invite_transaction())


def test_unknown_machine_names_list_the_known_ones() -> None:
    with pytest.raises(ValueError, match="INVITE client, non-INVITE client"):
        diagram("bogus")


def test_a_table_of_your_own_can_be_drawn() -> None:
    table = dict(MACHINES["non-INVITE server"])
    figure = diagram(table)
    assert edge_rows(figure).keys() >= {("Trying", "Completed"), ("Completed", "Terminated")}
    assert machine(table).initial == "Trying"
