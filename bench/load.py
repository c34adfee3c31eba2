"""LabServer under sipp load, side by side with Kamailio on the same machine (issue 4).

Run it from the repository root::

    .venv/bin/python bench/load.py                 # the issue's figures: 20 s steps, ~20 min
    .venv/bin/python bench/load.py --quick         # a smoke run at low rates, under a minute
    .venv/bin/python bench/load.py --duration 60 --json load.json

**What is measured.** Two scenarios, each against Kamailio 5.6 (the
configuration of ``docker/kamailio/``, one UDP worker, logging only warnings)
and against siplab's :class:`~siplab.aio.server.LabServer` (``siplab server``
in a process of its own), over UDP on 127.0.0.1, with the sipp scenarios of
the interop tests (``tests/interop/sipp/``):

* **REGISTER with digest** (``register_digest.xml``, RFC 3665 §2.1): REGISTER,
  401 with an MD5 challenge, REGISTER with credentials, 200. One sipp "call"
  is one registration, so its call rate is registrations per second.
* **calls through the proxy** (RFC 3665 §3.2): a sipp UAS registers as bob
  (``register_digest.xml`` from the UAS's own port, so the binding is where
  the proxy will send), then answers every call (``uas_answer.xml``); a sipp
  UAC calls bob at the server (``uac_call.xml``): INVITE, 100, 180, 200, ACK,
  300 ms, BYE, 200. Both proxies are stateful and record-route; calls are not
  challenged (Kamailio's ``KAMAILIO_AUTH_CALLS=0``, LabServer's default).

**Which LabServer.** By default LabServer runs its SIP core compiled by mypyc
(``SIPLAB_COMPILED=1``, :mod:`siplab.compiled_core`): the same source as the
plain Python the course reads, as C extension modules, which is how an
instructor serves a class. ``--core plain`` measures the plain Python instead.
The first line of the output says which ran.

Each figure is **the highest rate held for a minute, from a fresh start,
with zero failures and without falling behind**: sipp exits 0, every call of
the step succeeded (UAC and UAS), the step ended on time (a server that
falls behind makes sipp wait, and the rate was not held), and sipp resent at
most :data:`RESENT_SHARE` (1%) as many messages as the step had calls. sipp
resends a request that has no answer after T1 = 500 ms (RFC 3261 §17.1.2.2):
a server that makes it resend is answering later than the network's round
trip is allowed to take, which is queueing, not serving; and each copy is
more work for a server that is already behind. Near the edge of the CPU such
a run may still end without a failed call, after hundreds of thousands of
copies, but the same rate run again fails: the 1% keeps the figure at a rate
that is held, not one that was survived once.

A full step is **the load test's minute** (``tests/load`` holds these rates
for a minute, from a fresh server): the server is started afresh for it,
and the same load runs ``--settle`` seconds (40) before the step's measured
20 s. A stateful server keeps every finished transaction 64*T1 = 32 s to
absorb retransmissions (Timers J, L, M); only after that do old
transactions end as fast as new ones start, and the server does both kinds
of work. Before that its memory grows, by about 2 GB at 10,000 REGISTER/s,
and the kernel hands it out a page at a time: on these VMs a fresh
LabServer spent 40% of its CPU in the kernel then, against 20% once its
memory had grown, and failed at a rate it held when warmed by earlier steps.
Starting afresh counts that cost, as a class's server started in the
morning pays it.

The search starts low and multiplies the rate by 1.5 with short probes
until one fails, then confirms the best rate with a full step and bisects
towards the failure with full steps. Every sipp process is bounded in count
(``-m``) and time (``-timeout``, and a kill after that).

**CPU.** At the start of each step's measured seconds (after settling) and
at its end, the server's CPU time (user + system, from ``/proc/PID/stat``;
every process of Kamailio's session) is read, and divided by the operations
of those seconds: microseconds of CPU per REGISTER and
per call, at the reported rate. These VMs are noisy (FACTS.md): compare the
two servers within one run, and read the CPU figures next to the rates.

**Pauses.** ``siplab server`` runs full garbage collections itself, when few
transactions are open (:func:`~siplab.aio.server.tune_gc_for_serving`):
CPython's own, under load, walked every lingering transaction and stalled
the server for a second, and the retransmissions that followed made it fail
at a third of the rate its CPU allows. After a stall, LabServer reads every
datagram waiting in its socket before its timers run (so no INVITE is
retransmitted whose 180 is already there).

**Buffers.** sipp runs with ``-buff_size 4194304``, Kamailio with
``maxbuffer=4194304`` (its configuration), and LabServer's
:class:`~siplab.aio.transport.TransportManager` asks for 4 MiB socket
buffers: with small buffers a short stall drops datagrams and the rate
collapses into retransmissions, whatever the CPU (FACTS.md).
"""

from __future__ import annotations

import argparse
import datetime
import functools
import json
import math
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from siplab.compiled_core import is_built  # noqa: E402  (after the path is set)

__all__ = ["main"]

LOOPBACK = "127.0.0.1"
SCENARIOS = ROOT / "tests" / "interop" / "sipp"
#: Every account's password, on both servers (Kamailio's config has one for all).
PASSWORD = "lab"
#: Accounts: alice registers; each call step has a callee of its own (see Bench).
CALLEES = 100
USERS = ("alice", *(f"callee{n}" for n in range(1, CALLEES + 1)))
#: sipp's -buff_size: 4 MiB socket buffers, like both servers (FACTS.md).
SIPP_BUFFER = 4 * 1024 * 1024
#: Kamailio's shared memory (MiB): tm keeps each finished transaction a few
#: seconds, which at 1,000 calls/s is more than the tests' 32 MiB.
KAMAILIO_SHARED_MB = 256
KAMAILIO_PRIVATE_MB = 8
#: How long a server may take to start answering.
START_TIMEOUT = 15.0
#: Extra seconds a step may take beyond its duration and still count as "held".
LATE_ALLOWANCE = 1.5
#: sipp may resend at most this share of a step's calls (see the module docstring).
RESENT_SHARE = 0.01
TICKS = os.sysconf("SC_CLK_TCK")

SCENARIO_NAMES = {"register": "REGISTER/s (digest)", "calls": "calls/s (proxy)"}
SERVER_NAMES = {"kamailio": "Kamailio", "siplab": "LabServer"}
#: The issue's target: LabServer at this share of Kamailio's rate, on both scenarios.
TARGET_SHARE = 0.25


# -- CPU time, ports, the machine ------------------------------------------------------------


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of one process (all its threads) so far; 0 if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = text[text.rindex(")") + 2 :].split()  # after "pid (comm) "
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14, 15)


def session_pids(session: int) -> list[int]:
    """Every process of a session: Kamailio's main process and the workers it forked."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with suppress(OSError, ValueError, IndexError):
            text = (entry / "stat").read_text()
            if int(text[text.rindex(")") + 2 :].split()[3]) == session:  # field 6: session
                pids.append(int(entry.name))
    return pids


def free_port() -> int:
    """A UDP port of 127.0.0.1 below the ephemeral range, free right now."""
    import socket

    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    draw = random.Random()
    for _ in range(200):
        port = draw.randrange(10000, max(low, 10001))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, \
                socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            try:
                udp.bind((LOOPBACK, port))
                tcp.bind((LOOPBACK, port))  # Kamailio binds TCP on its SIP port too
            except OSError:
                continue
            return port
    raise RuntimeError("no free port on 127.0.0.1")


def udp_bound(port: int) -> bool:
    """Has a process bound 127.0.0.1:``port`` for UDP (read from /proc/net/udp)?"""
    for line in Path("/proc/net/udp").read_text().splitlines()[1:]:
        local = line.split()[1]
        address, _, hex_port = local.partition(":")
        if int(hex_port, 16) == port and address in ("0100007F", "00000000"):
            return True
    return False


def _first_line(command: Sequence[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "not found"
    lines = [line.strip() for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    return lines[0] if lines else "?"


def machine() -> dict[str, Any]:
    """CPU, cores, date and the versions of everything measured."""
    cpu = platform.machine()
    with suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    from siplab import __version__

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "load_average": os.getloadavg(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "siplab": __version__,
        "sipp": _first_line(["sipp", "-v"]),
        "kamailio": _first_line([_kamailio_binary() or "kamailio", "-v"]),
    }


def _kamailio_binary() -> str | None:
    import shutil

    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/local/sbin", "/usr/sbin"])
    return shutil.which("kamailio", path=search)


# -- sipp ----------------------------------------------------------------------------------


@dataclass
class SippRun:
    """How one sipp process ended."""

    returncode: int
    successful: int
    failed: int
    retransmissions: int
    output: str


class Sipp:
    """One sipp process on 127.0.0.1 (UDP, one socket), with 4 MiB buffers, bounded in time.

    ``target`` is where it sends (None: a UAS that waits for calls on ``port``).
    It stops after ``count`` calls or ``timeout`` seconds (sipp's own
    ``-timeout``), and is killed ten seconds after that.
    """

    def __init__(self, workdir: Path, name: str, scenario: str, port: int, *, count: int,
                 timeout: float, target: tuple[str, int] | None = None,
                 service: str = "service", rate: float | None = None,
                 args: Sequence[str] = ()) -> None:
        self.name = name
        self.stats_file = workdir / f"{name}-{time.monotonic_ns()}.csv"
        self.timeout = timeout
        self.command = [
            "sipp", *([f"{target[0]}:{target[1]}"] if target else []),
            "-sf", str(SCENARIOS / f"{scenario}.xml"),
            "-t", "u1", "-i", LOOPBACK, "-p", str(port),
            "-s", service, "-m", str(count),
            *(["-r", f"{rate:g}"] if rate is not None else []),
            "-buff_size", str(SIPP_BUFFER),
            "-nostdin", "-timeout", f"{math.ceil(timeout)}s", "-timeout_error",
            "-trace_stat", "-stf", str(self.stats_file),
            *args,
        ]
        self.process: subprocess.Popen[str] | None = None
        self.started = 0.0

    def start(self) -> None:
        self.started = time.monotonic()
        self.process = subprocess.Popen(self.command, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        text=True, start_new_session=True)

    def finish(self) -> SippRun:
        """Wait for sipp (killing it when it overstays) and read its statistics."""
        assert self.process is not None, "start() first"
        try:
            output, _ = self.process.communicate(timeout=self.timeout + 10)
        except subprocess.TimeoutExpired:
            self.kill()
            output, _ = self.process.communicate()
            output += "\n(killed: still running after its timeout)"
        stats = self._last_stats()
        return SippRun(
            returncode=self.process.returncode,
            successful=int(stats.get("SuccessfulCall(C)") or 0),
            failed=int(stats.get("FailedCall(C)") or 0),
            retransmissions=int(stats.get("Retransmissions(C)") or 0),
            output=output[-1500:],
        )

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            with suppress(subprocess.TimeoutExpired):
                self.process.wait(5)

    def _last_stats(self) -> dict[str, str]:
        # -trace_stat writes a header row and a row per period; the last row is
        # written when sipp exits and holds the cumulative (C) counters.
        try:
            rows = [line.split(";") for line in self.stats_file.read_text().splitlines()]
        except OSError:
            return {}
        return dict(zip(rows[0], rows[-1], strict=False)) if len(rows) >= 2 else {}


# -- the two servers -----------------------------------------------------------------------


class Server(Protocol):
    """A SIP server under test: where it listens and the processes whose CPU counts."""

    name: str
    port: int

    def pids(self) -> list[int]: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...


class LabServerProcess:
    """``siplab server`` in a process of its own, so that its CPU is its own."""

    name = "siplab"

    def __init__(self, workdir: Path, *, compiled: bool = True) -> None:
        self.port = free_port()
        self.log = workdir / "labserver.log"
        # The SIP core compiled by mypyc (siplab.compiled_core), or plain Python.
        self.env = {**os.environ, "SIPLAB_COMPILED": "1" if compiled else "0"}
        users = workdir / "users.txt"
        users.write_text("".join(f"{user}:{PASSWORD}\n" for user in USERS))
        self.command = [sys.executable, "-m", "siplab", "server",
                        "--udp", f"{LOOPBACK}:{self.port}", "--users-file", str(users)]
        self.process: subprocess.Popen[bytes] | None = None

    def pids(self) -> list[int]:
        return [self.process.pid] if self.process is not None else []

    def start(self) -> None:
        # Output goes to a file: a pipe nobody reads would block a server that warns a lot.
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(self.command, cwd=ROOT, stdin=subprocess.DEVNULL,
                                            stdout=log, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.monotonic() + START_TIMEOUT
        while not udp_bound(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"siplab server did not start:\n{self.log.read_text()}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


class KamailioProcess:
    """Kamailio with the lab's configuration, one UDP worker, logging warnings only."""

    name = "kamailio"

    def __init__(self, workdir: Path) -> None:
        from tests.interop.kamailio import Kamailio

        class BenchKamailio(Kamailio):
            @property
            def command(self) -> list[str]:  # more memory than the tests need (see above)
                command = list(super().command)
                command[command.index("-m") + 1] = str(KAMAILIO_SHARED_MB)
                command[command.index("-M") + 1] = str(KAMAILIO_PRIVATE_MB)
                return command

        directory = Path(tempfile.mkdtemp(prefix="kamailio-", dir=workdir))
        self.port = free_port()
        ws_port = free_port()
        while ws_port == self.port:
            ws_port = free_port()
        self.kamailio = BenchKamailio(directory, self.port, self.port, ws_port,
                                      password=PASSWORD, children=1, auth_calls=False,
                                      log_level=1)

    def pids(self) -> list[int]:
        process = self.kamailio.process
        return session_pids(process.pid) if process is not None else []

    def start(self) -> None:
        self.kamailio.start()

    def stop(self) -> None:
        self.kamailio.stop()


def cpu_seconds(server: Server) -> float:
    return sum(process_cpu(pid) for pid in server.pids())


def wait_idle(server: Server, limit: float = 5.0) -> None:
    """Let the server finish what the last step left (its CPU stops moving), at most ``limit``."""
    deadline = time.monotonic() + limit
    last = cpu_seconds(server)
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = cpu_seconds(server)
        if now - last < 0.01:
            return
        last = now


# -- one step: a rate held for a duration ---------------------------------------------------


@dataclass
class Step:
    """One run at one rate: did the server hold it, and what did it cost?"""

    server: str
    scenario: str
    rate: float
    duration: float
    ok: bool
    successful: int
    failed: int
    retransmissions: int
    elapsed: float
    cpu: float  # server CPU seconds during the step's measured seconds (after settling)
    why: str = ""
    measured: float = 1.0  # the share of the operations done in those seconds

    @property
    def cpu_per_op_us(self) -> float | None:
        ops = self.successful * self.measured
        return self.cpu / ops * 1e6 if ops else None


class CpuWindow:
    """The server's CPU seconds from ``after`` seconds on (read by a timer thread) to finish()."""

    def __init__(self, server: Server, after: float) -> None:
        self.server = server
        self.start: float | None = None
        self.timer = threading.Timer(after, self._read_start)
        self.timer.daemon = True
        if after > 0:
            self.timer.start()
        else:
            self._read_start()

    def _read_start(self) -> None:
        self.start = cpu_seconds(self.server)

    def finish(self) -> float:
        self.timer.cancel()
        end = cpu_seconds(self.server)
        return end - self.start if self.start is not None else 0.0


class Bench:
    """Runs the steps of one scenario against one server; ``log`` prints a line per step.

    alice registers from the same port at every step, so each REGISTER
    replaces her one binding. A call step has a callee of its own
    (``callee1``, ``callee2``...) on fresh ports: the calls of a failed step
    leave retransmissions behind, which must not reach the next step's sipps,
    and a callee that registered once has exactly one binding to be called at.
    """

    def __init__(self, server: Server, workdir: Path, log: Callable[[str], None],
                 settings: Settings) -> None:
        self.server = server
        self.settings = settings
        self.workdir = workdir
        self.log = log
        self.target = (LOOPBACK, server.port)
        self.register_port = free_port()
        self.uac_port = self.uas_port = 0
        self.callees = iter(USERS[1:])
        self.last_failed = False

    def step(self, scenario: str, rate: float, duration: float) -> Step:
        full = duration >= self.settings.duration
        if full:  # the load test's minute, from a fresh server (see the module docstring)
            self.server.stop()
            self.server.start()
        else:
            # A failed step leaves work behind (retransmissions, transactions timing
            # out): let the server finish it first.
            wait_idle(self.server, 20.0 if self.last_failed else 5.0)
        self.uac_port = free_port()
        self.uas_port = free_port()
        while self.uas_port in (self.uac_port, self.register_port):
            self.uas_port = free_port()
        run = self._register_step if scenario == "register" else self._call_step
        # Full steps settle first (see the module docstring); ramp-up probes do not.
        settle = self.settings.settle if full else 0.0
        step = run(rate, duration, settle)
        self.last_failed = not step.ok
        verdict = "ok  " if step.ok else "FAIL"
        cost = f"{step.cpu_per_op_us:7.0f} us/op" if step.cpu_per_op_us else "     - us/op"
        held = f"{settle:.0f}+{duration:.0f}s" if settle else f"{duration:.0f}s"
        self.log(f"  {SERVER_NAMES[step.server]:<9} {scenario:<8} {rate:8.0f}/s x {held:>6} "
                 f"{verdict} {step.successful:7d} ok {step.failed:5d} failed "
                 f"{step.retransmissions:6d} retrans {step.elapsed:6.1f}s {cost}"
                 f"{'  (' + step.why + ')' if step.why else ''}")
        return step

    def _sipp(self, name: str, scenario: str, port: int, count: int, timeout: float,
              **kwargs: Any) -> Sipp:
        return Sipp(self.workdir, name, scenario, port, count=count, timeout=timeout, **kwargs)

    def _register_step(self, rate: float, duration: float, settle: float) -> Step:
        count = max(1, round(rate * (settle + duration)))
        sipp = self._sipp("register", "register_digest", self.register_port, count,
                          _timeout(settle + duration), target=self.target, service="alice",
                          rate=rate, args=["-au", "alice", "-ap", PASSWORD])
        try:
            sipp.start()
            window = CpuWindow(self.server, settle)
            result = sipp.finish()
            elapsed = time.monotonic() - sipp.started
            cpu = window.finish()
        finally:
            sipp.kill()
        why = (_verdict(result, count, "sipp") or _late(elapsed, settle + duration)
               or _resent(result.retransmissions, count))
        return Step(self.server.name, "register", rate, duration, not why, result.successful,
                    result.failed, result.retransmissions, elapsed, cpu, why,
                    duration / (settle + duration))

    def _call_step(self, rate: float, duration: float, settle: float) -> Step:
        count = max(1, round(rate * (settle + duration)))
        callee = next(self.callees, None)
        if callee is None:
            raise RuntimeError(f"more than {CALLEES} call steps: raise CALLEES")
        # The callee registers from the port its UAS will answer on: the proxy sends
        # calls where the REGISTER came from (and Kamailio to the Contact: the same).
        register = self._sipp("callee-register", "register_digest", self.uas_port, 1, 10,
                              target=self.target, service=callee,
                              args=["-au", callee, "-ap", PASSWORD])
        uas = self._sipp("callee", "uas_answer", self.uas_port, count,
                         _timeout(settle + duration) + 5)
        uac = self._sipp("caller", "uac_call", self.uac_port, count, _timeout(settle + duration),
                         target=self.target, service=callee, rate=rate)
        with ExitStack() as cleanup:
            for sipp in (register, uas, uac):
                cleanup.callback(sipp.kill)
            register.start()
            registered = register.finish()
            if _verdict(registered, 1, "register"):
                why = f"{callee} could not register: " + _verdict(registered, 1, "register")
                return Step(self.server.name, "calls", rate, duration, False, 0, 0, 0, 0.0, 0.0,
                            why)
            uas.start()
            deadline = time.monotonic() + 5
            while not udp_bound(self.uas_port) and time.monotonic() < deadline:
                time.sleep(0.01)
            uac.start()
            window = CpuWindow(self.server, settle)
            calling = uac.finish()
            elapsed = time.monotonic() - uac.started
            called = uas.finish()
            cpu = window.finish()
        retransmissions = calling.retransmissions + called.retransmissions
        why = (_verdict(calling, count, "caller") or _verdict(called, count, "callee")
               or _late(elapsed, settle + duration + 0.5)  # + the 300 ms between ACK and BYE
               or _resent(retransmissions, count))
        return Step(self.server.name, "calls", rate, duration, not why, calling.successful,
                    calling.failed + called.failed, retransmissions, elapsed, cpu, why,
                    duration / (settle + duration))


def _timeout(duration: float) -> float:
    return 2 * duration + 10


def _verdict(run: SippRun, count: int, who: str) -> str:
    """Why a sipp run does not count as zero failures, or "" if it does."""
    if run.successful == count and run.failed == 0 and run.returncode == 0:
        return ""
    last = run.output.strip().splitlines()[-1:] if run.returncode not in (0, 1) else []
    return (f"{who}: {run.successful}/{count} ok, {run.failed} failed, exit {run.returncode}"
            + (f": {last[0][:120]}" if last else ""))


def _resent(retransmissions: int, count: int) -> str:
    allowed = RESENT_SHARE * count
    return (f"sipp resent {retransmissions} messages, more than {allowed:.0f}"
            if retransmissions > allowed else "")


def _late(elapsed: float, duration: float) -> str:
    allowed = duration * 1.05 + LATE_ALLOWANCE
    return f"took {elapsed:.1f} s, more than {allowed:.1f} s" if elapsed > allowed else ""


# -- the search: the highest rate held with zero failures --------------------------------------


@dataclass
class Settings:
    duration: float
    settle: float
    probe: float
    start_rate: float
    max_rate: float
    factor: float
    bisections: int


@dataclass
class Found:
    """The highest rate held for a full step, with the step that proved it."""

    rate: float
    step: Step | None
    capped: bool  # the search stopped at --max-rate, not at a failure
    steps: list[Step] = field(default_factory=list)


def search(run: Callable[[float, float], Step], settings: Settings) -> Found:
    """Ramp up with short probes, then confirm and bisect with full-length steps."""
    steps: list[Step] = []

    def attempt(rate: float, duration: float) -> Step:
        step = run(rate, duration)
        steps.append(step)
        return step

    # 1. Ramp: multiply by ``factor`` until a short probe fails (or the cap).
    low: float | None = None
    high: float | None = None
    rate = settings.start_rate
    while True:
        if attempt(rate, settings.probe).ok:
            low = rate
            if rate >= settings.max_rate:
                break
            rate = min(settings.max_rate, math.floor(rate * settings.factor))
        else:
            high = rate
            break
    # 2. Confirm the best probe with a full step; if it fails, go down.
    best: Step | None = None
    candidate = low
    while candidate is not None and candidate >= 1:
        step = attempt(candidate, settings.duration)
        if step.ok:
            best = step
            break
        high = candidate
        candidate = math.floor(candidate / settings.factor)
        if len(steps) > 40:  # bounded, whatever happens
            break
    # 3. Bisect between the confirmed rate and the lowest failure, with full steps.
    if best is not None and high is not None:
        for _ in range(settings.bisections):
            if high / best.rate < 1.06 or high - best.rate < 2:
                break
            middle = round(math.sqrt(best.rate * high))
            step = attempt(middle, settings.duration)
            if step.ok:
                best = step
            else:
                high = middle
    capped = best is not None and best.rate >= settings.max_rate
    return Found(best.rate if best else 0.0, best, capped, steps)


# -- the report ------------------------------------------------------------------------------


def _rate(found: Found | None) -> str:
    if found is None:
        return "n/a"
    return f"{found.rate:,.0f}{'+' if found.capped else ''}"


def _cpu(found: Found | None) -> str:
    per_op = found.step.cpu_per_op_us if found is not None and found.step else None
    return "n/a" if per_op is None else f"{per_op:,.0f}"


def table(results: dict[str, dict[str, Found]]) -> list[str]:
    header = (f"{'scenario':<20} {'Kamailio':>10} {'LabServer':>10} {'ratio':>7}   "
              f"{'CPU us/op Kamailio':>18} {'CPU us/op LabServer':>19}")
    lines = [header, "-" * len(header)]
    for scenario, by_server in results.items():
        kamailio, siplab = by_server.get("kamailio"), by_server.get("siplab")
        ratio = (f"{siplab.rate / kamailio.rate:.0%}" if kamailio and siplab and kamailio.rate
                 else "n/a")
        lines.append(f"{SCENARIO_NAMES[scenario]:<20} {_rate(kamailio):>10} {_rate(siplab):>10} "
                     f"{ratio:>7}   {_cpu(kamailio):>18} {_cpu(siplab):>19}")
    return lines


def verdicts(results: dict[str, dict[str, Found]]) -> list[str]:
    lines = []
    for scenario, by_server in results.items():
        kamailio, siplab = by_server.get("kamailio"), by_server.get("siplab")
        if kamailio is None or siplab is None or not kamailio.rate:
            lines.append(f"target {SCENARIO_NAMES[scenario]}: n/a (one server was not measured)")
            continue
        share = siplab.rate / kamailio.rate
        mark = "PASS" if share >= TARGET_SHARE else "FAIL"
        note = " (both capped by --max-rate)" if kamailio.capped and siplab.capped else ""
        lines.append(f"target {SCENARIO_NAMES[scenario]}: LabServer at {share:.0%} of "
                     f"Kamailio's rate (>= {TARGET_SHARE:.0%}, zero failures): {mark}{note}")
    return lines


# -- the command line -------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="REGISTER/s and calls/s: LabServer vs Kamailio under sipp load.")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: short steps from 10/s up to --max-rate (default 50)")
    parser.add_argument("--duration", type=float, default=None,
                        help="seconds a rate must be held (default 20; --quick: 2)")
    parser.add_argument("--settle", type=float, default=None,
                        help="seconds of the same load before each full step is measured, so "
                             "that it is held in steady state (default 40: past 64*T1, and "
                             "with the step a minute; --quick: 0)")
    parser.add_argument("--probe", type=float, default=None,
                        help="seconds of each ramp-up probe (default duration/4, at least 2)")
    parser.add_argument("--start-rate", type=float, default=None,
                        help="first rate tried (default 100/s; --quick: 10/s)")
    parser.add_argument("--max-rate", type=float, default=None,
                        help="never try more than this (default 50,000/s; --quick: 50/s)")
    parser.add_argument("--scenario", choices=tuple(SCENARIO_NAMES), action="append",
                        help="run only this scenario (may be repeated)")
    parser.add_argument("--server", choices=tuple(SERVER_NAMES), action="append",
                        help="measure only this server (may be repeated)")
    parser.add_argument("--core", choices=("compiled", "plain"), default="compiled",
                        help="LabServer's SIP core: compiled by mypyc (the default; "
                             "python -m siplab.compiled_core build makes it) or plain Python")
    parser.add_argument("--json", metavar="FILE", help="also write every step and figure here")
    parser.add_argument("--workdir", metavar="DIR",
                        help="keep sipp's statistics and the servers' logs here")
    args = parser.parse_args(argv)
    if args.core == "compiled" and not is_built():
        parser.error("--core compiled, but the compiled core is not built (or is stale): "
                     "run python -m siplab.compiled_core build, or use --core plain")
    quick = args.quick
    duration = args.duration or (2.0 if quick else 20.0)
    args.settings = Settings(
        duration=duration,
        settle=args.settle if args.settle is not None else (0.0 if quick else 40.0),
        probe=args.probe or (1.0 if quick else max(2.0, duration / 4)),
        start_rate=args.start_rate or (10.0 if quick else 100.0),
        max_rate=args.max_rate or (50.0 if quick else 50_000.0),
        factor=2.0 if quick else 1.5,
        bisections=0 if quick else 4,
    )
    return args


@contextmanager
def _workdir(path: str | None) -> Iterator[Path]:
    if path is not None:
        Path(path).mkdir(parents=True, exist_ok=True)
        yield Path(path)
        return
    with tempfile.TemporaryDirectory(prefix="siplab-load-") as directory:
        yield Path(directory)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    settings: Settings = args.settings
    # SIGTERM (a test's timeout, a kill) unwinds like Ctrl-C: servers and sipps are stopped.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    scenarios = args.scenario or list(SCENARIO_NAMES)
    servers = args.server or list(SERVER_NAMES)
    started = time.monotonic()

    def log(line: str) -> None:
        print(f"[{time.monotonic() - started:6.1f}s] {line}", flush=True)

    info = machine()
    core = "compiled by mypyc" if args.core == "compiled" else "plain Python"
    print(f"siplab {info['siplab']} LabServer (SIP core {core}) vs {info['kamailio']}, "
          f"load from {info['sipp']}")
    print(f"{info['cpu']}, {info['cores']} cores, Python {info['python']}, "
          f"Linux {info['kernel']}, {info['date']}")
    print(f"rate held {settings.duration:g} s with zero failures and at most "
          f"{RESENT_SHARE:.0%} resent, after {settings.settle:g} s of the same load on a fresh "
          f"server; probes of {settings.probe:g} s "
          f"from {settings.start_rate:g}/s, x{settings.factor:g}, at most {settings.max_rate:g}/s")
    results: dict[str, dict[str, Found]] = {scenario: {} for scenario in scenarios}
    notes: list[str] = []
    with _workdir(args.workdir) as workdir:
        for name in servers:
            for scenario in scenarios:  # a fresh server for each search
                server: LabServerProcess | KamailioProcess
                try:
                    server = KamailioProcess(workdir) if name == "kamailio" else \
                        LabServerProcess(workdir, compiled=args.core == "compiled")
                    server.start()
                except (KeyboardInterrupt, SystemExit):
                    raise
                except BaseException as error:  # also pytest.skip() from require_peer
                    notes.append(f"{SERVER_NAMES[name]} not measured: {error}".splitlines()[0])
                    log(notes[-1])
                    break
                try:
                    log(f"{SERVER_NAMES[name]} listening on udp {LOOPBACK}:{server.port} "
                        f"(pids {server.pids()})")
                    bench = Bench(server, workdir, log, settings)
                    found = search(functools.partial(bench.step, scenario), settings)
                    results[scenario][name] = found
                    log(f"{SERVER_NAMES[name]} {SCENARIO_NAMES[scenario]}: {_rate(found)}")
                finally:
                    server.stop()
    print()
    for line in [*table(results), "", *verdicts(results), *notes]:
        print(line)
    print(f"(total {time.monotonic() - started:.0f} s; '+' = stopped at --max-rate; CPU per op "
          f"at the reported rate, from /proc/PID/stat)")
    if args.json:
        record = {
            "machine": info,
            "labserver_core": args.core,
            "settings": asdict(settings),
            "results": {scenario: {name: {"rate": found.rate, "capped": found.capped,
                                          "cpu_per_op_us": found.step.cpu_per_op_us
                                          if found.step else None}
                                   for name, found in by_server.items()}
                        for scenario, by_server in results.items()},
            "steps": [asdict(step) for by_server in results.values()
                      for found in by_server.values() for step in found.steps],
            "notes": notes,
        }
        Path(args.json).write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
