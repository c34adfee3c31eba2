"""The transaction tables are complete, consistent and really drive the code (§17, RFC 6026).

The notebooks draw the state diagrams from :data:`siplab.sip.transaction.MACHINES`,
so these tests check that what is drawn is what runs: every state is
reachable, every message from the network has a row in every live state,
every running timer has a row where it can fire, every path a transaction
takes follows the table, and changing a row changes the behaviour.
"""

from __future__ import annotations

from collections import deque

import pytest

from siplab.sip.build import build_response
from siplab.sip.message import Request, parse_message
from siplab.sip.timers import TIMER_NAMES
from siplab.sip.transaction import (
    ACTIONS,
    INITIAL_STATES,
    MACHINES,
    START_ACTIONS,
    START_INPUT,
    InviteClientTransaction,
    InviteServerTransaction,
    NonInviteClientTransaction,
    NonInviteServerTransaction,
    Table,
    Transaction,
    TransactionState,
    Transition,
)
from siplab.sip.transport import Peer
from tests.helpers import crlf

State = TransactionState
KINDS = list(MACHINES)

#: What can reach each machine from outside, whatever the TU does. Every live
#: state must have a row for each (absorbing is fine), or a late copy on the
#: network would crash the transaction.
NETWORK_INPUTS = {
    "INVITE client": {"1xx", "2xx", "300-699", "transport error"},
    "non-INVITE client": {"1xx", "2xx", "300-699", "transport error"},
    "INVITE server": {"request", "ACK", "transport error"},
    "non-INVITE server": {"request", "transport error"},
}
TU_INPUTS = {"send 1xx", "send 2xx", "send 300-699"}
TIMER_INPUTS = {f"Timer {letter}" for letter in TIMER_NAMES}


def reachable(table: Table, initial: State) -> set[State]:
    seen, todo = {initial}, deque([initial])
    while todo:
        state = todo.popleft()
        for (source, _), transition in table.items():
            if source is state and transition.next_state not in seen:
                seen.add(transition.next_state)
                todo.append(transition.next_state)
    return seen


def timer_actions(actions: tuple[str, ...]) -> list[tuple[str, str]]:
    """("start", "A"), ("stop", "B")... from a row's actions ("reset ... to T2" restarts)."""
    found = []
    for action in actions:
        words = action.split()
        if len(words) >= 3 and words[1] == "Timer":
            verb = "start" if words[0] in ("start", "double", "reset") else words[0]
            found.append((verb, words[2]))
    return found


def test_there_are_the_four_machines_of_rfc_3261() -> None:
    assert KINDS == ["INVITE client", "non-INVITE client", "INVITE server", "non-INVITE server"]
    assert INITIAL_STATES == {
        "INVITE client": State.CALLING,
        "non-INVITE client": State.TRYING,
        "INVITE server": State.PROCEEDING,
        "non-INVITE server": State.TRYING,
    }
    assert set(START_ACTIONS) == set(START_INPUT) == set(KINDS)


def test_states_use_the_rfc_names() -> None:
    assert [str(s) for s in State] == [
        "Calling", "Trying", "Proceeding", "Completed", "Confirmed", "Accepted", "Terminated"
    ]


@pytest.mark.parametrize("kind", KINDS)
def test_every_state_of_a_table_is_reachable_from_the_initial_state(kind: str) -> None:
    table = MACHINES[kind]
    states = {s for s, _ in table} | {t.next_state for t in table.values()}
    assert reachable(table, INITIAL_STATES[kind]) == states
    assert State.TERMINATED in states


@pytest.mark.parametrize(
    ("kind", "states"),
    [
        ("INVITE client", {"Calling", "Proceeding", "Completed", "Accepted", "Terminated"}),
        ("non-INVITE client", {"Trying", "Proceeding", "Completed", "Terminated"}),
        ("INVITE server", {"Proceeding", "Completed", "Confirmed", "Accepted", "Terminated"}),
        ("non-INVITE server", {"Trying", "Proceeding", "Completed", "Terminated"}),
    ],
)
def test_each_machine_has_the_states_the_rfc_draws(kind: str, states: set[str]) -> None:
    assert {str(s) for s in reachable(MACHINES[kind], INITIAL_STATES[kind])} == states


@pytest.mark.parametrize("kind", KINDS)
def test_terminated_is_final(kind: str) -> None:
    assert [key for key in MACHINES[kind] if key[0] is State.TERMINATED] == []


@pytest.mark.parametrize("kind", KINDS)
def test_every_live_state_has_a_row_for_every_network_input(kind: str) -> None:
    table = MACHINES[kind]
    for state in reachable(table, INITIAL_STATES[kind]) - {State.TERMINATED}:
        missing = {name for name in NETWORK_INPUTS[kind] if (state, name) not in table}
        assert not missing, f"{kind} {state} has no row for {missing}"


@pytest.mark.parametrize("kind", KINDS)
def test_inputs_and_actions_come_from_the_known_vocabulary(kind: str) -> None:
    table = MACHINES[kind]
    allowed_inputs = NETWORK_INPUTS[kind] | TIMER_INPUTS
    if kind.endswith("server"):
        allowed_inputs |= TU_INPUTS
    for (_, name), transition in table.items():
        assert name in allowed_inputs
        assert isinstance(transition, Transition)
        for action in transition.actions:
            assert action in ACTIONS or timer_actions((action,)), action
    for action in START_ACTIONS[kind]:
        assert action in ACTIONS or timer_actions((action,)), action


@pytest.mark.parametrize("kind", KINDS)
def test_every_running_timer_has_a_row_where_it_can_fire(kind: str) -> None:
    """Walk (state, running timers) from the start: no timer can fire without a row,
    and nothing but Terminated is reached with no way out."""
    table = MACHINES[kind]

    def after(running: frozenset[str], actions: tuple[str, ...]) -> frozenset[str]:
        timers = set(running)
        for verb, letter in timer_actions(actions):
            if verb == "start":
                timers.add(letter)
            else:
                timers.discard(letter)
        return frozenset(timers)

    start = (INITIAL_STATES[kind], after(frozenset(), START_ACTIONS[kind]))
    seen, todo = {start}, deque([start])
    while todo:
        state, running = todo.popleft()
        if state is State.TERMINATED:
            continue
        moves = []
        for letter in running:
            row = table.get((state, f"Timer {letter}"))
            assert row is not None, f"{kind}: Timer {letter} can run in {state} without a row"
            moves.append((row, running - {letter}))
        for (source, name), row in table.items():
            if source is state and not name.startswith("Timer "):
                moves.append((row, running))
        for row, timers in moves:
            target = row.next_state, after(timers, row.actions)
            if target not in seen:
                seen.add(target)
                todo.append(target)
    assert any(state is State.TERMINATED for state, _ in seen)


@pytest.mark.parametrize("kind", KINDS)
def test_every_started_timer_can_fire_somewhere(kind: str) -> None:
    table = MACHINES[kind]
    started = {letter for row in table.values() for verb, letter in timer_actions(row.actions)
               if verb == "start"}
    started |= {letter for verb, letter in timer_actions(START_ACTIONS[kind]) if verb == "start"}
    fired = {name.removeprefix("Timer ") for _, name in table if name.startswith("Timer ")}
    assert started == fired


# -- the code follows the tables --------------------------------------------------------------

INVITE = crlf("""
    INVITE sip:bob@biloxi.example.com SIP/2.0
    Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKnashds8
    Max-Forwards: 70
    To: Bob <sip:bob@biloxi.example.com>
    From: Alice <sip:alice@atlanta.example.com>;tag=1928301774
    Call-ID: a84b4c76e66710
    CSeq: 314159 INVITE
    Content-Length: 0

""")
BYE = crlf("""
    BYE sip:bob@biloxi.example.com SIP/2.0
    Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKnashds9
    Max-Forwards: 70
    To: Bob <sip:bob@biloxi.example.com>;tag=a6c85cf
    From: Alice <sip:alice@atlanta.example.com>;tag=1928301774
    Call-ID: a84b4c76e66710
    CSeq: 314160 BYE
    Content-Length: 0

""")
ACK = crlf("""
    ACK sip:bob@biloxi.example.com SIP/2.0
    Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKnashds8
    Max-Forwards: 70
    To: Bob <sip:bob@biloxi.example.com>;tag=a6c85cf
    From: Alice <sip:alice@atlanta.example.com>;tag=1928301774
    Call-ID: a84b4c76e66710
    CSeq: 314159 ACK
    Content-Length: 0

""")
PEER = Peer("192.0.2.9", 5060)


def req(data: bytes) -> Request:
    message = parse_message(data)
    assert isinstance(message, Request)
    return message


def finish(tx: Transaction) -> None:
    while (deadline := tx.get_timer()) is not None:
        tx.handle_timer(deadline)


def scenarios() -> list[Transaction]:
    """A spread of paths through all four machines, over UDP and TCP."""
    done: list[Transaction] = []
    for peer in (PEER, PEER._replace(transport="tcp")):
        invite, bye = req(INVITE), req(BYE)
        for statuses in ([], [180], [180, 180, 486, 486], [486, 486], [180, 200, 200], [200]):
            tx_ic = InviteClientTransaction(invite, peer, now=0.0)
            for i, status in enumerate(statuses):
                if tx_ic.terminated:  # over TCP copies never come; the layer would drop them
                    break
                tx_ic.receive_response(build_response(invite, status, to_tag="t"), 0.1 * (i + 1))
            finish(tx_ic)
            done.append(tx_ic)
        for statuses in ([], [100], [100, 200, 200], [404]):
            tx_nc = NonInviteClientTransaction(bye, peer, now=0.0)
            tx_nc.handle_timer(0.5)
            for i, status in enumerate(statuses):
                if tx_nc.terminated:
                    break
                tx_nc.receive_response(build_response(bye, status, to_tag="t"), 1 + i)
            finish(tx_nc)
            done.append(tx_nc)
        for statuses, ack in (([100, 180, 486], True), ([486], False), ([100, 200], True)):
            tx_is = InviteServerTransaction(invite, peer, now=0.0)
            tx_is.receive_request(invite, 0.1)
            for status in statuses:
                tx_is.send_response(build_response(invite, status, to_tag="a6c85cf"), 0.2)
            tx_is.receive_request(invite, 0.3)
            if ack and not tx_is.terminated:
                tx_is.receive_request(req(ACK), 0.4)
            finish(tx_is)
            done.append(tx_is)
        for statuses in ([200], [100, 100, 481]):
            tx_ns = NonInviteServerTransaction(bye, peer, now=0.0)
            tx_ns.receive_request(bye, 0.05)
            for status in statuses:
                tx_ns.send_response(build_response(bye, status, to_tag="a6c85cf"), 0.1)
                if not tx_ns.terminated:
                    tx_ns.receive_request(bye, 0.2)
            finish(tx_ns)
            done.append(tx_ns)
    return done


def test_every_step_a_transaction_takes_is_a_row_of_its_table() -> None:
    used: set[tuple[str, State, str]] = set()
    transactions = scenarios()
    for tx in transactions:
        _first_time, first_input, first_state = tx.history[0]
        assert (first_input, first_state) == (START_INPUT[tx.kind], INITIAL_STATES[tx.kind])
        for (_, _, before), (_, name, after) in zip(tx.history, tx.history[1:], strict=False):
            row = MACHINES[tx.kind].get((before, name))
            assert row is not None, f"{tx.kind}: {before} --{name}--> {after} is not in the table"
            assert row.next_state is after
            used.add((tx.kind, before, name))
    # The scenarios exercise most of the rows (the rest are transport errors and absorptions).
    assert len(used) >= 40
    # An INVITE client that got only a 1xx waits in Proceeding: RFC 3261 gives it no timer
    # there (the TU ends it with CANCEL). Everything else finished.
    waiting = [tx for tx in transactions if not tx.terminated]
    assert {(tx.kind, tx.state) for tx in waiting} == {("INVITE client", State.PROCEEDING)}


def test_changing_a_row_changes_what_the_transaction_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The code has no second copy of the machine: it reads the table."""
    patched = dict(MACHINES["non-INVITE client"])
    # Make a 200 in Trying go straight to Terminated, without passing it up.
    patched[(State.TRYING, "2xx")] = Transition(State.TERMINATED, ())
    monkeypatch.setitem(MACHINES, "non-INVITE client", patched)
    bye = req(BYE)
    tx = NonInviteClientTransaction(bye, PEER, now=0.0)
    tx.receive_response(build_response(bye, 200, to_tag="t"), 0.1)
    assert tx.state is State.TERMINATED
    assert [type(e).__name__ for e in iter(tx.next_event, None)] == ["TransactionTerminated"]


def shortest_paths(kind: str) -> dict[State, list[str]]:
    """For each state, the shortest list of non-timer inputs that reaches it."""
    table = MACHINES[kind]
    paths: dict[State, list[str]] = {INITIAL_STATES[kind]: []}
    todo = deque([INITIAL_STATES[kind]])
    while todo:
        state = todo.popleft()
        for (source, name), row in table.items():
            if source is state and not name.startswith("Timer ") and row.next_state not in paths:
                paths[row.next_state] = [*paths[state], name]
                todo.append(row.next_state)
    return paths


def new_transaction(kind: str) -> Transaction:
    invite, bye = req(INVITE), req(BYE)
    if kind == "INVITE client":
        return InviteClientTransaction(invite, PEER, now=0.0)
    if kind == "non-INVITE client":
        return NonInviteClientTransaction(bye, PEER, now=0.0)
    if kind == "INVITE server":
        return InviteServerTransaction(invite, PEER, now=0.0)
    return NonInviteServerTransaction(bye, PEER, now=0.0)


def feed(tx: Transaction, name: str, now: float) -> None:
    """Give the transaction the input called ``name`` in the tables."""
    status = {"1xx": 180, "2xx": 200, "300-699": 486}
    if name in status:
        assert isinstance(tx, InviteClientTransaction | NonInviteClientTransaction)
        tx.receive_response(build_response(tx.request, status[name], to_tag="t"), now)
    elif name.startswith("send "):
        assert isinstance(tx, InviteServerTransaction | NonInviteServerTransaction)
        tx.send_response(build_response(tx.request, status[name[5:]], to_tag="t"), now)
    elif name == "request":
        assert isinstance(tx, InviteServerTransaction | NonInviteServerTransaction)
        tx.receive_request(tx.request, now)
    elif name == "ACK":
        assert isinstance(tx, InviteServerTransaction)
        tx.receive_request(req(ACK), now)
    elif name == "transport error":
        tx.transport_error(now)
    else:
        letter = name.removeprefix("Timer ")
        deadline = tx.running_timers[letter]  # the timer must be running to fire
        tx.handle_timer(deadline)


@pytest.mark.parametrize("kind", KINDS)
def test_every_row_of_every_table_is_what_the_transaction_does(kind: str) -> None:
    """Walk each table from the initial state: reach every row's state with real
    messages, give it the row's input, and land in the row's next state."""
    paths = shortest_paths(kind)
    for (state, name), row in MACHINES[kind].items():
        tx = new_transaction(kind)
        for step in paths[state]:
            feed(tx, step, 0.1)
        assert tx.state is state, f"{kind}: path {paths[state]} did not reach {state}"
        feed(tx, name, 0.2)
        last = [entry for entry in tx.history if entry[1] == name][-1]
        assert last[2] is row.next_state, f"{kind}: {state} --{name}--> {last[2]}"
