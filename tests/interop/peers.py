"""Both sides of the sipp interop tests: sipp processes, and siplab on real sockets.

**sipp** (:class:`Sipp`) runs as a subprocess bound to 127.0.0.1 (``-i``,
``-ci``) on a free port (``-p``), with one of the scenarios in
``tests/interop/sipp/``. It stops by itself after ``-m`` calls or after
``-timeout``, and is killed if it is still running after
:data:`SIPP_TIMEOUT` seconds. It leaves three files in the test's
``tmp_path``: its message trace (``-trace_msg``), the messages it did not
expect (``-trace_err``) and its statistics (``-trace_stat``), which give
the number of successful and failed calls (:class:`SippResult`).

**siplab** runs on real sockets of 127.0.0.1, through its public asyncio API:

* :class:`SiplabServer`: the :class:`~siplab.aio.server.LabServer`
  (registrar and proxy), listening on UDP and TCP;
* :class:`SiplabPhone`: a :class:`~siplab.aio.useragent.UserAgent` that
  answers every call: 180 Ringing, then 200 OK with an SDP answer (the
  INVITE carried the offer, so the 2xx must carry the answer, RFC 3261
  §13.2.1, RFC 3264).

The server keeps every message on the wire (the ``trace`` hook), the phone
every event its user agent reported, and :class:`SiplabLog` everything
siplab logged; :func:`explain` prints them with sipp's own trace, so that a
failing test says what happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import random
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from siplab.aio.debug import disable_debug, enable_debug
from siplab.aio.server import LabServer
from siplab.aio.session import Invitation
from siplab.aio.transport import TraceRecord
from siplab.aio.useragent import UserAgent
from siplab.sip.events import Event
from siplab.sip.registrar import Binding
from siplab.sip.server import ServerStats
from siplab.sip.transaction import TransactionState
from siplab.sip.transport import Peer
from tests.helpers import require_peer

__all__ = [
    "LOOPBACK",
    "SCENARIOS",
    "SIPP_TIMEOUT",
    "AFTER_THE_TIMERS",
    "free_port",
    "sdp_offer",
    "Sipp",
    "SippResult",
    "SiplabLog",
    "SiplabPhone",
    "SiplabServer",
    "explain",
]

LOOPBACK = "127.0.0.1"
SCENARIOS = Path(__file__).parent / "sipp"
#: The hard bound on one sipp process, in seconds; scenarios stop themselves after 10 s.
SIPP_TIMEOUT = 30.0
#: How long the server may take to register a sipp.
EVENT_TIMEOUT = 10.0
#: How far SiplabServer.settle() runs the server's clock: more than the longest
#: lingering transaction timer (64*T1 = 32 s), less than a binding's life (600 s).
AFTER_THE_TIMERS = 40.0
#: sipp's -t: one socket (UDP) or one connection (TCP) for all calls.
SIPP_TRANSPORT = {"udp": "u1", "tcp": "t1"}
#: Transaction states in which nothing more is awaited: the transaction only
#: absorbs retransmissions until its Timer J, I, K, D, L or M ends it (§17, RFC 6026).
ABSORBING = frozenset({TransactionState.COMPLETED, TransactionState.CONFIRMED,
                       TransactionState.ACCEPTED, TransactionState.TERMINATED})

E = TypeVar("E", bound=Event)


def free_port() -> int:
    """A port number free for both UDP and TCP on 127.0.0.1, below the ephemeral range.

    The port is only checked, not held, until sipp or the server binds it.
    One from the kernel's ephemeral range (``bind(0)``) could meanwhile be
    handed to any socket that binds or connects without a port (a phone's
    socket, a TCP connection), so the port is drawn from below that range.
    """
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    draw = random.Random()
    for _ in range(100):
        port = draw.randrange(10000, max(low, 10001))
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp, \
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            try:
                tcp.bind((LOOPBACK, port))
                udp.bind((LOOPBACK, port))
            except OSError:
                continue
            return port
    raise RuntimeError("no port free for both UDP and TCP on 127.0.0.1")


def _bound(port: int, transport: str) -> bool:
    """Has some process bound 127.0.0.1:``port`` (UDP) or listens there (TCP)?

    Read from the kernel's socket tables (``/proc/net/udp``, ``/proc/net/tcp``)
    rather than probed with a socket of our own, which could take the port
    in the instant sipp tries to bind it.
    """
    wanted_state = "07" if transport == "udp" else "0A"  # UDP "unconnected", TCP LISTEN
    for line in Path(f"/proc/net/{transport}").read_text().splitlines()[1:]:
        fields = line.split()
        address, _, hex_port = fields[1].partition(":")
        if int(hex_port, 16) == port and fields[3] == wanted_state and \
                address in ("0100007F", "00000000"):
            return True
    return False


def sdp_offer(port: int = 40000) -> bytes:
    """A minimal audio offer or answer (RFC 4566): one PCMU stream on 127.0.0.1."""
    return (
        "v=0\r\n"
        f"o=siplab {port} 1 IN IP4 {LOOPBACK}\r\n"
        "s=-\r\n"
        f"c=IN IP4 {LOOPBACK}\r\n"
        "t=0 0\r\n"
        f"m=audio {port} RTP/AVP 0\r\n"
        "a=rtpmap:0 PCMU/8000\r\n"
    ).encode("ascii")


# -- sipp --------------------------------------------------------------------------------------


@dataclass
class SippResult:
    """How one sipp process ended, with what it wrote."""

    name: str
    port: int  # sipp's -p: the port of its Via, Contact and (UDP) socket
    returncode: int
    output: str
    trace: str
    errors: str
    stats: dict[str, str]

    @property
    def successful_calls(self) -> int:
        return int(self.stats.get("SuccessfulCall(C)") or 0)

    @property
    def failed_calls(self) -> int:
        return int(self.stats.get("FailedCall(C)") or 0)

    def explain(self) -> str:
        return (f"=== sipp {self.name}: exit code {self.returncode}, "
                f"{self.successful_calls} successful, {self.failed_calls} failed calls ===\n"
                f"--- output (tail) ---\n{self.output[-2000:]}\n"
                f"--- unexpected messages (-trace_err) ---\n{self.errors or '(none)'}\n"
                f"--- messages (-trace_msg) ---\n{self.trace or '(none)'}\n")


class Sipp:
    """One sipp process: ``await start()``, then ``await finish()`` for its :class:`SippResult`.

    ``target`` is where it sends (a UAC scenario, or one that registers
    first); None for a scenario that starts by receiving (a UAS, which
    listens on :attr:`port`). ``calls`` is ``-m``; ``args`` are more options.
    """

    def __init__(self, name: str, scenario: str, transport: str, tmp_path: Path, *,
                 target: Peer | None = None, service: str = "service", calls: int = 1,
                 args: Sequence[str] = ()) -> None:
        self.name = name
        self.scenario = scenario
        self.transport = transport
        self.target = target  # may be set until start()
        self.service = service
        self.calls = calls
        self.args = list(args)
        self.port = free_port()
        self.cwd = tmp_path
        self.files = {kind: tmp_path / f"{name}_{kind}" for kind in
                      ("messages.log", "errors.log", "stats.csv")}
        self.process: asyncio.subprocess.Process | None = None

    def command(self) -> list[str]:
        target = self.target
        return [
            require_peer("sipp", "sip-tester"),
            *([f"{target.host}:{target.port}"] if target is not None else []),
            "-sf", str(SCENARIOS / f"{self.scenario}.xml"),
            "-t", SIPP_TRANSPORT[self.transport],
            "-i", LOOPBACK, "-ci", LOOPBACK, "-p", str(self.port),
            "-s", self.service,
            "-m", str(self.calls),
            "-timeout", "10s", "-timeout_error",
            "-nostdin",
            "-trace_msg", "-message_file", str(self.files["messages.log"]),
            "-trace_err", "-error_file", str(self.files["errors.log"]),
            "-trace_stat", "-stf", str(self.files["stats.csv"]),
            *self.args,
        ]

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            *self.command(), cwd=self.cwd, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)

    async def listening(self, timeout: float = 5.0) -> None:
        """Wait until sipp has bound its port (a UAS must listen before it is called)."""
        async with asyncio.timeout(timeout):
            while not _bound(self.port, self.transport):
                if self.process is not None and self.process.returncode is not None:
                    return  # it died; finish() will say why
                await asyncio.sleep(0.01)

    async def finish(self, timeout: float = SIPP_TIMEOUT) -> SippResult:
        """Wait for sipp to exit (killing it after ``timeout`` s) and read what it wrote."""
        assert self.process is not None, "start() first"
        process = self.process
        output = b""
        try:
            async with asyncio.timeout(timeout):
                output, _ = await process.communicate()
        except TimeoutError:
            output = b"(killed: still running after %.0f s)\n" % timeout
        finally:
            await self.kill()
        return SippResult(
            name=self.name,
            port=self.port,
            returncode=process.returncode if process.returncode is not None else -9,
            output=output.decode("utf-8", "replace"),
            trace=_read(self.files["messages.log"]),
            errors=_read(self.files["errors.log"]),
            stats=_last_stats(self.files["stats.csv"]),
        )

    async def kill(self) -> None:
        """Kill the process if it still runs (on timeout, or when a test fails early)."""
        process = self.process
        if process is not None and process.returncode is None:
            process.kill()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5):
                    await process.wait()


def _read(path: Path) -> str:
    return path.read_text("utf-8", "replace") if path.exists() else ""


def _last_stats(path: Path) -> dict[str, str]:
    """The last row of sipp's -trace_stat file (sipp writes one more when it exits)."""
    rows = list(csv.reader(_read(path).splitlines(), delimiter=";"))
    if len(rows) < 2:
        return {}
    return dict(zip(rows[0], rows[-1], strict=False))


# -- siplab ------------------------------------------------------------------------------------


class SiplabLog:
    """Everything siplab logs while a test runs (``with SiplabLog() as log:``).

    :func:`~siplab.aio.debug.enable_debug` sends every ``siplab.*`` logger to
    one stream at DEBUG level: each message in and out (its first line; the
    server's ``trace`` and sipp's own trace have them whole) and every
    decision of the user agent, the transactions, the registrar and the proxy.
    """

    name = "siplab log"

    def __init__(self) -> None:
        self.stream = io.StringIO()

    def __enter__(self) -> SiplabLog:
        enable_debug(self.stream)
        return self

    def __exit__(self, *exc_info: object) -> None:
        disable_debug()

    def explain(self) -> str:
        return f"=== {self.name} ===\n{self.stream.getvalue() or '(empty)'}"


class SiplabPhone:
    """A siplab :class:`~siplab.aio.useragent.UserAgent` that answers every call.

    ``server`` is its transport URL (``udp://127.0.0.1:5060``): the lab server,
    or sipp itself when the phone talks to sipp directly. With ``answer``
    (the default) an ``on_invite`` callback rings and answers each call:
    180 Ringing, then 200 OK carrying an SDP answer, since the INVITE carried
    the offer (RFC 3261 §13.2.1, RFC 3264). ``auto_answer=True`` leaves that
    to the user agent's own option instead.
    """

    name = "siplab phone"

    def __init__(self, user: str, server: str, *, password: str | None = None,
                 answer: bool = True, auto_answer: bool = False) -> None:
        self.ua = UserAgent(f"sip:{user}@{LOOPBACK}", password, transport=server,
                            auto_answer=auto_answer)
        self.invitations: list[Invitation] = []
        self.events: list[Event] = []
        self.ua.on_invite = self._answer if answer else self.invitations.append

    async def __aenter__(self) -> SiplabPhone:
        await self.ua.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.ua.stop()
        self.collect_events()

    async def _answer(self, invitation: Invitation) -> None:
        self.invitations.append(invitation)
        await invitation.progress(180)
        await invitation.accept(sdp_offer(40002))

    @property
    def local(self) -> Peer:
        """Our socket's address (UDP) or our end of the connection to the server (TCP)."""
        assert self.ua.local is not None, "start the phone first"
        return self.ua.local

    def collect_events(self) -> list[Event]:
        """Every event the user agent reported so far (drained from ``ua.events``)."""
        while not self.ua.events.empty():
            self.events.append(self.ua.events.get_nowait())
        return self.events

    def of_type(self, kind: type[E]) -> list[E]:
        return [event for event in self.collect_events() if isinstance(event, kind)]

    def explain(self) -> str:
        lines = [f"=== {self.name} {self.ua.uri}: events ==="]
        lines += [f"  {event!r}"[:300] for event in self.collect_events()] or ["  (none)"]
        return "\n".join(lines)


class SiplabServer:
    """siplab's :class:`~siplab.aio.server.LabServer` (registrar and proxy) on UDP and TCP.

    Both listeners share one free port of 127.0.0.1. ``users`` maps user
    names to passwords; digest offers MD5 first (sipp knows nothing else,
    FACTS.md). The server's state is read from its core: the location
    service's bindings and ``stats()``.
    """

    name = "siplab server"

    def __init__(self, users: dict[str, str]) -> None:
        self.wire: list[TraceRecord] = []
        port = free_port()
        self.lab = LabServer(udp=[(LOOPBACK, port)], tcp=[(LOOPBACK, port)], users=users,
                             trace=self._traced)
        self.waiting_before: list[str] | None = None  # see settle()
        self.stats_after: ServerStats | None = None

    async def __aenter__(self) -> SiplabServer:
        await self.lab.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.lab.stop()

    def url(self, transport: str) -> str:
        """The transport URL a user agent is given: ``udp://127.0.0.1:port``."""
        address = self.address(transport)
        return f"{transport}://{address.host}:{address.port}"

    def address(self, transport: str) -> Peer:
        address = self.lab.address(transport)
        assert address is not None
        return address

    def bindings(self) -> list[Binding]:
        """Every binding in the location service right now."""
        return list(self.lab.core.location)

    async def registered(self, user: str, timeout: float = EVENT_TIMEOUT) -> None:
        """Wait until ``user`` has a binding (TimeoutError after ``timeout`` s)."""
        async with asyncio.timeout(timeout):
            while not any(b.aor.startswith(f"sip:{user}@") for b in self.bindings()):
                await asyncio.sleep(0.01)

    def waiting(self) -> list[str]:
        """Transactions still waiting for something (a response, an answer from us)."""
        layer = self.lab.core.layer
        return [repr(transaction) for transaction in
                (*layer.client_transactions.values(), *layer.server_transactions.values())
                if transaction.state not in ABSORBING]

    def settle(self, seconds: float = AFTER_THE_TIMERS) -> None:
        """Note what is still waiting, then run the server's clock ``seconds`` ahead.

        The transactions of a finished call linger on purpose, to absorb
        retransmissions: up to 64*T1 = 32 s (Timers J, L and M). Rather than
        wait that long, the test moves the core's clock (the event loop's
        ``loop.time()``, which the driver gives it): every timer due by then
        fires. :attr:`waiting_before` and :attr:`stats_after` keep the two
        readings for the test's assertions. Nothing may be waiting, so the
        timers that fire only end transactions and send nothing.
        """
        self.waiting_before = self.waiting()
        core = self.lab.core
        core.handle_timer(asyncio.get_running_loop().time() + seconds)
        self.stats_after = core.stats()

    def _traced(self, record: TraceRecord) -> None:
        self.wire.append(record)

    def explain(self) -> str:
        lines = [f"=== {self.name}: still waiting {self.waiting_before}, "
                 f"after the timers {self.stats_after} ===", "bindings:"]
        lines += [f"  {b.aor} -> {b.uri} from {b.source}" for b in self.bindings()] or ["  none"]
        lines.append(f"=== {self.name}: messages on the wire ===")
        for record in self.wire:
            arrow = "->" if record.direction == "out" else "<-"
            lines.append(f"--- {record.transport} {record.local.host}:{record.local.port} "
                         f"{arrow} {record.remote.host}:{record.remote.port}")
            lines.append(record.data.decode("utf-8", "replace").replace("\r\n", "\n"))
        return "\n".join(lines)


def explain(*parts: SippResult | SiplabServer | SiplabPhone | SiplabLog) -> str:
    """Everything a failing test should print: sipp's traces and siplab's records."""
    return "\n".join(part.explain() for part in parts)
