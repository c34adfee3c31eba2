"""A LabServer and phones for the fault tests, and the checks every fault test ends with.

The timers are fast (T1 = 50 ms, T2 = 100 ms: a UDP request is sent again
every 100 ms, and Timer F gives up after 64*T1 = 3.2 s), so that SIP's
retransmissions can beat a 30 % loss within seconds. :func:`settle` then
runs every clock 40 s ahead, as tests/interop/test_sipp_server.py does: the
transactions that linger to absorb retransmissions (Timers D, I, J, K, L, M)
end, and every table must be empty.

:func:`lab` also keeps every transaction the server and the phones ever
created (:class:`Recorded`), not only the live ones, so that :func:`settle`
can check that each one took one of its machine's RFC paths to Terminated
(:data:`RFC_PATHS`) and was ended by the timer that closes that path, never
by a timeout (Timer B, F or H) or a transport error: through loss,
retransmission must have carried every transaction, not given up on it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, TypeVar

from siplab.aio.server import LabServer
from siplab.aio.useragent import UserAgent
from siplab.ids import IdSource
from siplab.sip.timers import TimerConfig
from siplab.sip.transaction import Transaction, TransactionState
from siplab.sip.transaction_layer import TransactionLayer
from siplab.sip.transport import Peer

__all__ = ["FAST", "LOOPBACK", "USERS", "RFC_PATHS", "Recorded", "run", "server", "phone",
           "lab", "settle", "eventually", "url_for", "record_transactions", "rfc_path_errors"]

T = TypeVar("T")
LOOPBACK = "127.0.0.1"
USERS = {"alice": "alice-fault-pw", "bob": "bob-fault-pw"}
FAST = TimerConfig(t1=0.05, t2=0.1, t4=0.1, timer_d=0.5)


_ST = TransactionState
#: The ways each machine of RFC 3261 §17 (with RFC 6026's Accepted) goes from its
#: first state to Terminated when the network only loses, delays, copies and
#: reorders datagrams, and the input that ends each way: the timer that closes
#: the state before Terminated. Proceeding is optional wherever a 1xx may or may
#: not have been sent (or survived the loss).
RFC_PATHS: dict[str, dict[tuple[TransactionState, ...], str]] = {
    "INVITE client": {  # §17.1.1.2: a 2xx (Accepted, Timer M) or a failure (Completed, Timer D)
        (_ST.CALLING, _ST.ACCEPTED, _ST.TERMINATED): "Timer M",
        (_ST.CALLING, _ST.PROCEEDING, _ST.ACCEPTED, _ST.TERMINATED): "Timer M",
        (_ST.CALLING, _ST.COMPLETED, _ST.TERMINATED): "Timer D",
        (_ST.CALLING, _ST.PROCEEDING, _ST.COMPLETED, _ST.TERMINATED): "Timer D",
    },
    "non-INVITE client": {  # §17.1.2.2
        (_ST.TRYING, _ST.COMPLETED, _ST.TERMINATED): "Timer K",
        (_ST.TRYING, _ST.PROCEEDING, _ST.COMPLETED, _ST.TERMINATED): "Timer K",
    },
    "INVITE server": {  # §17.2.1: a 2xx (Accepted, Timer L), or a failure ACKed (Timer I)
        (_ST.PROCEEDING, _ST.ACCEPTED, _ST.TERMINATED): "Timer L",
        (_ST.PROCEEDING, _ST.COMPLETED, _ST.CONFIRMED, _ST.TERMINATED): "Timer I",
    },
    "non-INVITE server": {  # §17.2.2
        (_ST.TRYING, _ST.COMPLETED, _ST.TERMINATED): "Timer J",
        (_ST.TRYING, _ST.PROCEEDING, _ST.COMPLETED, _ST.TERMINATED): "Timer J",
    },
}


class Recorded(dict[Any, Any]):
    """A transaction table that remembers every transaction ever put in it.

    The layer deletes a transaction as soon as it is Terminated; ``every``
    keeps it, with its ``history``, for :func:`rfc_path_errors`.
    """

    def __init__(self) -> None:
        super().__init__()
        self.every: list[Transaction] = []

    def __setitem__(self, key: Any, transaction: Any) -> None:
        self.every.append(transaction)
        super().__setitem__(key, transaction)


def record_transactions(layer: TransactionLayer) -> None:
    """Swap ``layer``'s two (empty) tables for :class:`Recorded` ones."""
    assert not layer.client_transactions
    assert not layer.server_transactions
    layer._clients = Recorded()  # a test's window into the layer
    layer._servers = Recorded()


def recorded(layer: TransactionLayer) -> list[Transaction]:
    tables = (layer._clients, layer._servers)
    return [t for table in tables if isinstance(table, Recorded) for t in table.every]


def rfc_path_errors(transactions: list[Transaction]) -> list[str]:
    """What went wrong, one line per transaction that did not end as RFC_PATHS says."""
    errors = []
    for transaction in transactions:
        states = [state for _, _, state in transaction.history]
        path = tuple(state for i, state in enumerate(states) if i == 0 or state != states[i - 1])
        ended_by = transaction.history[-1][1]
        expected = RFC_PATHS[transaction.kind].get(path)
        if expected is None or ended_by != expected:
            errors.append(f"{transaction.kind} {transaction.request.method} "
                          f"{' -> '.join(path)} ended by {ended_by!r}:\n"
                          + transaction.format_history())
    return errors


def run(coroutine: Coroutine[Any, Any, T], timeout: float = 20.0) -> T:
    """Run one scenario on a fresh event loop, bounded by ``timeout`` seconds."""

    async def bounded() -> T:
        async with asyncio.timeout(timeout):
            return await coroutine

    return asyncio.run(bounded())


def server(**options: Any) -> LabServer:
    """A LabServer on free loopback ports (UDP, TCP, WS) with the fault tests' users."""
    options.setdefault("users", USERS)
    options.setdefault("timers", FAST)
    return LabServer(udp=[(LOOPBACK, 0)], tcp=[(LOOPBACK, 0)], ws=[(LOOPBACK, 0)],
                     ids=IdSource("fault-server"), **options)


def url_for(lab_server: LabServer, transport: str) -> str:
    if transport == "ws":
        return lab_server.ws_urls[0]
    peer = lab_server.address(transport)
    assert peer is not None
    return f"{transport}://{peer.host}:{peer.port}"


def phone(lab_server: LabServer, name: str, transport: str = "udp", **options: Any) -> UserAgent:
    options.setdefault("ids", IdSource(f"fault-{name}"))
    options.setdefault("timers", FAST)
    options.setdefault("media", False)
    return UserAgent(f"sip:{name}@{LOOPBACK}", USERS[name],
                     transport=url_for(lab_server, transport), **options)


@asynccontextmanager
async def lab(names: tuple[str, ...], transport: str = "udp", *,
              server_options: dict[str, Any] | None = None,
              register: bool = True,
              **phone_options: Any) -> AsyncIterator[tuple[LabServer, list[UserAgent]]]:
    """A started server and one started (and registered) phone per name; all stopped after."""
    async with AsyncExitStack() as stack:
        lab_server = server(**(server_options or {}))
        await lab_server.start()
        stack.push_async_callback(lab_server.stop)
        record_transactions(lab_server.core.layer)
        phones = []
        for name in names:
            ua = phone(lab_server, name, transport, **phone_options)
            await ua.start()
            stack.push_async_callback(ua.stop, 2.0)
            record_transactions(ua.core.layer)
            phones.append(ua)
        if register:
            await asyncio.gather(*(ua.register(timeout=10) for ua in phones))
        yield lab_server, phones


async def eventually(check: Callable[[], bool | Awaitable[bool]], timeout: float,
                     what: str) -> None:
    """Wait until ``check()`` is true, looking every 20 ms; fail after ``timeout`` seconds."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                result = check()
                if not isinstance(result, bool):
                    result = await result
                if result:
                    return
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"not within {timeout} s: {what}") from None


def settle(lab_server: LabServer, *phones: UserAgent) -> None:
    """Run every clock 40 s ahead; every transaction must then be over (§17: Terminated),
    and every one ever recorded must have taken an RFC path there (:data:`RFC_PATHS`)."""
    layers = [lab_server.core.layer, *(ua.core.layer for ua in phones)]
    seen = [t for layer in layers
            for t in (*layer.client_transactions.values(), *layer.server_transactions.values())]
    later = asyncio.get_running_loop().time() + 40.0
    lab_server.core.handle_timer(later)
    for ua in phones:
        ua.core.handle_timer(later)
    for layer in layers:
        assert dict(layer.client_transactions) == {}, layer.client_transactions
        assert dict(layer.server_transactions) == {}, layer.server_transactions
    assert all(t.state is TransactionState.TERMINATED for t in seen), \
        [(t, t.state) for t in seen if t.state is not TransactionState.TERMINATED]
    stats = lab_server.stats()
    assert stats.idle, stats
    every = [t for layer in layers for t in recorded(layer)]
    assert every, "no transaction was recorded (lab() records them)"
    errors = rfc_path_errors(every)
    assert not errors, f"{len(errors)} of {len(every)} transactions:\n" + "\n".join(errors[:3])


def connection_of(lab_server: LabServer, ua: UserAgent) -> Peer:
    """The server's end of ``ua``'s connection: the remote address it knows ``ua`` by."""
    assert ua.local is not None
    for _, remote in lab_server.transports.open_connections():
        if remote.port == ua.local.port:
            return remote
    raise AssertionError(f"no connection from {ua.local}")
