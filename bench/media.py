"""How many two-way G.711 calls one core carries, and how soon a call's audio starts.

Run it from the repository root::

    .venv/bin/python bench/media.py              # about two minutes
    .venv/bin/python bench/media.py --quick      # ~15 s smoke run (CI: tests/bench/)
    .venv/bin/python bench/media.py --counts 100,200,300 --duration 8 --json media.json
    .venv/bin/python bench/media.py --far        # also: the calls' far ends in a 2nd process

**Concurrent calls** (issue 5 target: >= 200 two-way calls with < 1% late
packets). N calls are 2N :class:`~siplab.aio.rtp.RtpEndpoint` objects in this
one process (one event loop, so one core), paired by a real SDP offer/answer
(:mod:`siplab.sdp`) for PCMU at 20 ms. Every endpoint sends a 1 kHz tone
(encoded each frame) and decodes what it receives into a sink, as a call does;
no SIP is involved, because signalling is not what limits concurrency. N
rises until more than 1% of the packets are late, where *late* means sent
more than one packet time (20 ms) after its schedule (or never: a frame
skipped because the loop stalled for more than 100 ms), or arriving after the
jitter buffer had already played past it. A one-second warm-up is not
counted. On a busy machine (this process waiting more than 10% of the time for
a CPU) a count over the limit is run again, up to twice, and every attempt is
printed: the neighbours' load is not siplab's cost. Columns: packets per
second sent (both directions), CPU % of one core (user + system time of this
process over wall time), wait % (time this
process was ready to run but another process had the CPU, from Linux's
``/proc/self/schedstat``), CPU microseconds per packet sent (its sending,
receiving, decoding and playing), late %, loss % (RFC 3550: expected -
received, e.g. datagrams the kernel dropped), and the scheduler's worst
lateness in ms. From the CPU per packet the script also prints how many calls
one core would carry at 80% busy: the figure to quote when the wait column
shows that other processes were taking the CPU.

With ``--far`` the same counts run again with each call's other end in a
second process (the machine's other core): the row is then one process's side
of N calls, as a user agent or a media server carries them, and its late %
includes our packets that the far end received too late.

**Call setup time** (target <= 50 ms): from the moment the caller's
``call()`` is asked to send the INVITE (it opens the RTP endpoint, writes the
offer and sends at once) to the first decoded audio frame, on loopback, through a LabServer with two
siplab UserAgents (the answering one auto-answers), median and p95 over 20
calls, for each direction: the caller hearing the callee and the callee
hearing the caller. If the user agent cannot carry media yet, the script says
so and measures the RTP part alone (endpoints opened, offer/answer, start,
first decoded frame).

**Reading the numbers.** These 2-core VMs are shared and noisy (check
``uptime``): a busy neighbour takes CPU from the event loop and shows up as
late packets. Quote the largest N under 1% and the medians, and compare runs
on the same machine. The script exits 0 whatever the verdicts.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.metadata
import json
import os
import platform
import statistics
import sys
import time
from asyncio.subprocess import PIPE
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from siplab.aio.audio import ToneSource  # noqa: E402
from siplab.aio.rtp import RtpEndpoint  # noqa: E402
from siplab.aio.scheduler import MediaScheduler  # noqa: E402
from siplab.sdp import Capabilities, create_offer, negotiate, process_answer  # noqa: E402

#: The issue's targets.
TARGET_CALLS = 200
TARGET_SETUP_MS = 50.0
LATE_LIMIT = 1.0  # percent
#: A row over the limit while this process waited more than BUSY_WAIT % of the time for a
#: CPU that other processes had is run again, up to BUSY_RETRIES times; every attempt is
#: printed (and kept in the JSON), and the count passes if one attempt does.
BUSY_WAIT = 10.0
BUSY_RETRIES = 2


class CountingSink:
    """Takes decoded audio and keeps only its length: a call's speaker, without the memory."""

    def __init__(self) -> None:
        self.samples = 0

    def write(self, samples: np.ndarray[Any, Any], rate: int) -> None:
        self.samples += samples.size


@dataclass
class LoadRow:
    calls: int
    packets_per_s: float
    cpu_percent: float
    wait_percent: float | None  # runnable, but another process had the CPU (Linux schedstat)
    cpu_us_per_packet: float
    late_percent: float
    loss_percent: float
    max_lag_ms: float
    sent: int
    late_sent: int
    skipped: int
    late_arrivals: int
    attempt: int = 1  # a row over the limit on a busy machine is run again (BUSY_RETRIES)


def _run_queue_wait() -> float | None:
    """Seconds this process has waited for a CPU while runnable (Linux), or None."""
    try:
        return int(Path("/proc/self/schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return None


# --- concurrent calls -------------------------------------------------------------------


def _totals(endpoints: list[RtpEndpoint]) -> dict[str, int]:
    totals = {"sent": 0, "late_sent": 0, "skipped": 0, "late_arrivals": 0, "lost": 0,
              "expected": 0}
    for endpoint in endpoints:
        totals["sent"] += endpoint.sender.packets_sent
        totals["late_sent"] += endpoint.late_sent
        totals["skipped"] += endpoint.frames_skipped
        totals["late_arrivals"] += endpoint.playout.late_arrivals
        totals["lost"] += endpoint.receiver.lost
        totals["expected"] += endpoint.receiver.expected
    return totals


CAPS = Capabilities(audio=("PCMU",), telephone_event=False)


def _params(offerer_port: int, answerer_port: int) -> tuple[Any, Any]:
    """(offerer's, answerer's) MediaParameters for a PCMU call between two ports."""
    offer = create_offer(CAPS, audio_port=offerer_port)
    answered = negotiate(offer, CAPS, port=answerer_port)
    return process_answer(offer, answered.answer, CAPS).audio, answered.audio


async def run_calls(
    calls: int, duration: float, warmup: float = 1.0, *, far: bool = False
) -> LoadRow:
    """``calls`` two-way PCMU calls for ``warmup`` + ``duration`` seconds; the row for them.

    With ``far``, the other end of every call runs in a child process (on the other
    core), and the row is this process's: its side of ``calls`` calls.
    """
    scheduler = MediaScheduler()
    ours = [await RtpEndpoint.open(scheduler=scheduler) for _ in range(calls)]
    child = None
    if far:
        child = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--far-end", stdin=PIPE, stdout=PIPE
        )
        assert child.stdin is not None
        assert child.stdout is not None
        child.stdin.write(json.dumps([e.local_port for e in ours]).encode() + b"\n")
        theirs_ports = json.loads(await child.stdout.readline())
        endpoints = ours
        for endpoint, port in zip(ours, theirs_ports, strict=True):
            endpoint.start(_params(endpoint.local_port, port)[0], source=ToneSource(1000),
                           sink=CountingSink())
    else:
        endpoints = []
        for a in ours:  # set up first, then start them all together
            b = await RtpEndpoint.open(scheduler=scheduler)
            a_params, b_params = _params(a.local_port, b.local_port)
            b.start(b_params, source=ToneSource(1000), sink=CountingSink())
            a.start(a_params, source=ToneSource(1000), sink=CountingSink())
            endpoints += [a, b]
    try:
        await asyncio.sleep(warmup)
        before = _totals(endpoints)
        scheduler.max_lag = 0.0
        cpu0, wall0, wait0 = time.process_time(), time.perf_counter(), _run_queue_wait()
        await asyncio.sleep(duration)
        cpu1, wall1, wait1 = time.process_time(), time.perf_counter(), _run_queue_wait()
        after = _totals(endpoints)
    finally:
        for endpoint in endpoints:
            await endpoint.close()
    delta = {key: after[key] - before[key] for key in after}
    if child is not None:  # our packets that the far end had to drop count too
        assert child.stdin is not None
        assert child.stdout is not None
        child.stdin.write(b"stop\n")
        far_end = json.loads(await child.stdout.readline())
        delta["late_arrivals"] += far_end["late_arrivals"]
        await child.wait()
    sent = max(1, delta["sent"])
    # A frame skipped because the loop stalled was due and never sent: the latest of all.
    late = delta["late_sent"] + delta["skipped"] + delta["late_arrivals"]
    due = sent + delta["skipped"]
    wall = wall1 - wall0
    waited = None if wait0 is None or wait1 is None else 100 * (wait1 - wait0) / wall
    return LoadRow(
        calls=calls,
        packets_per_s=delta["sent"] / wall,
        cpu_percent=100 * (cpu1 - cpu0) / wall,
        wait_percent=waited,
        cpu_us_per_packet=1e6 * (cpu1 - cpu0) / sent,
        late_percent=100 * late / due,
        loss_percent=100 * max(0, delta["lost"]) / max(1, delta["expected"]),
        max_lag_ms=1000 * scheduler.max_lag,
        sent=delta["sent"],
        late_sent=delta["late_sent"],
        skipped=delta["skipped"],
        late_arrivals=delta["late_arrivals"],
    )


async def far_end() -> None:
    """The child process of ``--far``: the other ends of the calls, until told to stop.

    Reads our ports (one JSON line), answers with its own, plays and records like
    a call's far end, and on "stop" prints how many of our packets came too late.
    """
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    their_ports = json.loads(await reader.readline())
    scheduler = MediaScheduler()
    ours = [await RtpEndpoint.open(scheduler=scheduler) for _ in their_ports]
    print(json.dumps([e.local_port for e in ours]), flush=True)
    for endpoint, port in zip(ours, their_ports, strict=True):
        endpoint.start(_params(port, endpoint.local_port)[1], source=ToneSource(1000),
                       sink=CountingSink())
    await reader.readline()
    print(json.dumps(_totals(ours)), flush=True)
    for endpoint in ours:
        await endpoint.close()


def concurrency(
    counts: list[int], duration: float, *, rise: bool, far: bool = False
) -> list[LoadRow]:
    """One fresh event loop per N. With ``rise``, stop at the first row over the limit, and
    go on past the list (by 100 calls) until one is; without, run exactly ``counts``."""
    rows: list[LoadRow] = []
    pending = list(counts)
    while pending:
        calls = pending.pop(0)
        for attempt in range(1, BUSY_RETRIES + 2):
            gc.collect()
            row = asyncio.run(run_calls(calls, duration, far=far))
            row.attempt = attempt
            rows.append(row)
            busy = (row.wait_percent or 0.0) > BUSY_WAIT
            if not (rise and row.late_percent > LATE_LIMIT and busy and attempt <= BUSY_RETRIES):
                print(_load_line(row), flush=True)
                break
            print(f"{_load_line(row)}  (machine busy: waited {row.wait_percent:.0f}%; again)",
                  flush=True)
        if rise and row.late_percent > LATE_LIMIT:
            break
        if rise and not pending:
            pending.append(calls + 100)
    return rows


LOAD_HEADER = (
    f"{'calls':>6} {'pkt/s':>8} {'CPU %':>6} {'wait %':>6} {'us/pkt':>6} {'late %':>7} "
    f"{'loss %':>7} {'max lag ms':>10}"
)


def _load_line(row: LoadRow) -> str:
    wait = f"{row.wait_percent:>6.0f}" if row.wait_percent is not None else f"{'-':>6}"
    return (
        f"{row.calls:>6} {row.packets_per_s:>8.0f} {row.cpu_percent:>6.0f} {wait} "
        f"{row.cpu_us_per_packet:>6.1f} {row.late_percent:>7.2f} {row.loss_percent:>7.2f} "
        f"{row.max_lag_ms:>10.1f}"
    )


# --- call setup time -----------------------------------------------------------------------


async def setup_times_sip(calls: int) -> tuple[list[float], list[float]] | None:
    """(caller hears callee, callee hears caller) in ms through a LabServer, or None if the
    user agents cannot carry media yet."""
    try:
        import siplab.lab
        from siplab.aio.useragent import UserAgent  # noqa: F401
    except ImportError:
        return None
    caller_ms: list[float] = []
    callee_ms: list[float] = []
    loop = asyncio.get_running_loop()
    try:
        async with await siplab.lab.start(transports=("udp",), seed="bench") as lab:
            alice = await lab.user_agent("alice", "udp")
            bob = await lab.user_agent(
                "bob", "udp", auto_answer=True, audio_source=ToneSource(1000)
            )
            for _ in range(calls):
                sent_at = loop.time()
                outgoing = await alice.call("bob", source=ToneSource(1000))
                await outgoing.established(timeout=5.0)
                incoming = await bob.next_invitation(timeout=5.0)
                mine, theirs = outgoing.media, incoming.media
                if mine is None or theirs is None:
                    return None
                deadline = loop.time() + 2.0
                while (
                    mine.first_audio_time is None or theirs.first_audio_time is None
                ) and loop.time() < deadline:
                    await asyncio.sleep(0.002)
                if mine.first_audio_time is not None:
                    caller_ms.append(1000 * (mine.first_audio_time - sent_at))
                if theirs.first_audio_time is not None:
                    callee_ms.append(1000 * (theirs.first_audio_time - sent_at))
                await outgoing.hangup()
                await asyncio.sleep(0.05)
    except (TypeError, AttributeError) as error:  # an API that is not there yet
        print(f"(SIP setup measurement unavailable: {error})")
        return None
    return caller_ms, callee_ms


async def setup_times_rtp(calls: int) -> tuple[list[float], list[float]]:
    """The RTP part alone: open, offer/answer, start both, until each decodes a frame."""
    loop = asyncio.get_running_loop()
    caller_ms: list[float] = []
    callee_ms: list[float] = []
    for _ in range(calls):
        t0 = loop.time()
        a, b = await RtpEndpoint.open(), await RtpEndpoint.open()
        a_params, b_params = _params(a.local_port, b.local_port)
        b.start(b_params, source=ToneSource(1000), sink=CountingSink())
        a.start(a_params, source=ToneSource(1000), sink=CountingSink())
        deadline = loop.time() + 2.0
        while (a.first_audio_time is None or b.first_audio_time is None) and (
            loop.time() < deadline
        ):
            await asyncio.sleep(0.002)
        if a.first_audio_time is not None:
            caller_ms.append(1000 * (a.first_audio_time - t0))
        if b.first_audio_time is not None:
            callee_ms.append(1000 * (b.first_audio_time - t0))
        await a.close()
        await b.close()
    return caller_ms, callee_ms


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


# --- the report ----------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for package in ("numpy", "av"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return {
        "python": platform.python_version(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "load": os.getloadavg(),
        "platform": platform.platform(),
        **versions,
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small counts, short runs (CI)")
    parser.add_argument("--counts", help="comma-separated call counts (default rises from 50)")
    parser.add_argument("--duration", type=float, help="measured seconds per count")
    parser.add_argument("--setup-calls", type=int, help="calls timed for setup (default 20)")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument(
        "--far", action="store_true",
        help="also measure with the calls' other ends in a second process: one core's side",
    )
    parser.add_argument("--far-end", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.far_end:
        asyncio.run(far_end())
        return 0

    if args.quick:
        counts, duration, setup_calls, rise = [10, 25], 1.0, 5, False
    else:
        counts, duration, setup_calls, rise = [50, 100, 150, 175, 200, 225, 250, 300], 5.0, 20, True
    if args.counts:
        counts = [int(c) for c in args.counts.split(",")]
        rise = False
    duration = args.duration or duration
    setup_calls = args.setup_calls or setup_calls

    info = machine()
    print(
        f"machine: {info['cpu']}, {info['cores']} cores, load {info['load'][0]:.2f}; "
        f"Python {info['python']}, numpy {info['numpy']}, av {info['av']}"
    )
    print(f"\nConcurrent two-way PCMU calls, one event loop, {duration:g} s each after 1 s warm-up")
    print(LOAD_HEADER)
    print("-" * len(LOAD_HEADER))
    rows = concurrency(counts, duration, rise=rise)
    counts_run = [row.calls for row in rows]
    passing = [row.calls for row in rows if row.late_percent <= LATE_LIMIT]
    best = max(passing, default=0)
    # What one core would carry at 80% busy, from the CPU each packet cost at the largest N
    # (a busy loop handles several datagrams per wake-up, so the cost per packet falls with
    # load; a call sends 100 packets/s both ways): the figure to compare when other
    # processes took the CPU.
    cost = max(rows, key=lambda row: row.calls).cpu_us_per_packet
    estimate = int(0.8 / (100 * cost * 1e-6))
    waits = [row.wait_percent for row in rows if row.wait_percent is not None]
    if waits and max(waits) > 10:
        print(f"note: this process waited up to {max(waits):.0f}% of the time for a CPU that "
              "other processes had; late packets then measure the machine, not siplab")
    print(f"CPU per packet at {max(counts_run)} calls: {cost:.1f} us -> one core at 80% "
          f"carries ~{estimate} two-way calls")
    far_rows: list[LoadRow] = []
    if args.far:
        print("\nThe same, with each call's other end in a second process: this process's side")
        print(LOAD_HEADER)
        print("-" * len(LOAD_HEADER))
        far_rows = concurrency(counts, duration, rise=rise, far=True)

    print(f"\nCall setup time, INVITE sent -> first decoded audio frame, {setup_calls} calls")
    sip = asyncio.run(setup_times_sip(setup_calls))
    how = "through LabServer, two UserAgents, UDP"
    if sip is None or not sip[0]:
        print("the UserAgent cannot carry media yet: RTP endpoints alone (offer -> first frame)")
        sip = asyncio.run(setup_times_rtp(setup_calls))
        how = "RTP endpoints alone (no SIP)"
    caller, callee = sip
    print(f"{'direction':<22} {'median ms':>9} {'p95 ms':>7} {'calls':>5}   ({how})")
    for name, values in (("caller hears callee", caller), ("callee hears caller", callee)):
        if values:
            print(
                f"{name:<22} {statistics.median(values):>9.1f} {_p95(values):>7.1f} "
                f"{len(values):>5}"
            )
    setup_median = statistics.median(caller) if caller else float("inf")

    print()
    verdict_calls = "PASS" if best >= TARGET_CALLS else "FAIL"
    print(f"{verdict_calls}: {best} two-way calls under {LATE_LIMIT:g}% late "
          f"(target >= {TARGET_CALLS})")
    verdict_setup = "PASS" if setup_median <= TARGET_SETUP_MS else "FAIL"
    print(f"{verdict_setup}: setup median {setup_median:.1f} ms, caller hearing callee "
          f"(target <= {TARGET_SETUP_MS:g} ms; {how})")

    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "machine": info,
                    "duration": duration,
                    "load": [asdict(row) for row in rows],
                    "load_far": [asdict(row) for row in far_rows],
                    "max_calls_under_1pct_late": best,
                    "cpu_us_per_packet": cost,
                    "estimated_calls_at_80pct_core": estimate,
                    "setup": {"how": how, "caller_ms": caller, "callee_ms": callee},
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
