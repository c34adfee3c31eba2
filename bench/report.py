"""Every benchmark, one run, one table of ratios: what ``make bench`` runs (issue 10).

Run it from the repository root::

    .venv/bin/python bench/report.py                        # every bench, full size (~30 min)
    .venv/bin/python bench/report.py --quick                # every bench's smoke run (~1-2 min)
    .venv/bin/python bench/report.py --only parse --only startup
    .venv/bin/python bench/report.py --write BENCHMARKS.md  # ...and record the figures there
    .venv/bin/python bench/report.py --from artifacts/bench --write BENCHMARKS.md  # no new run

**What it does.** It runs each script of :data:`BENCHES` as a process of its
own, one after the other (never two at once: they would measure each other),
with ``--json FILE`` (and ``--quick`` when given), shows its output as it
comes, and keeps the output and the JSON in ``--out`` (``artifacts/bench/``).
Then it reads the JSON files and prints one table: each row is one figure
for siplab, the figure it is compared with (a peer measured in the same run,
or the issue's target) and their ratio, written so that a ratio above 1 is
siplab ahead (for times: the other's time over siplab's). Below the table
come the PASS/FAIL lines every script printed, and the machine.

A bench that fails, times out or is not installed gets a row that says so;
the others still run, and the script exits 0 (a measurement, not a test). A
JSON whose shape a script changed gives a "could not read" row rather than a
crash: the scripts are maintained by others, and this report only reads them.

``--write FILE`` writes the same table, the machine (CPU model, cores, RAM,
OS, Python and every peer's version) and each script's own output as
Markdown: that is BENCHMARKS.md. ``--from DIR`` builds the report from a
previous run's files without running anything.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "artifacts" / "bench"
#: The benchmarks, in the order they run, and how long a full run may take (seconds).
BENCHES: dict[str, tuple[str, float]] = {
    "parse": ("bench/parse.py", 600.0),
    "load": ("bench/load.py", 3600.0),
    "media": ("bench/media.py", 900.0),
    "analyze": ("bench/analyze.py", 900.0),
    "webrtc": ("bench/webrtc.py", 900.0),
    "startup": ("bench/startup.py", 300.0),
}
#: What a script added to bench/ later, and not listed above yet, may take.
OTHER_TIMEOUT = 1800.0
QUICK_TIMEOUT = 300.0
#: Progress lines of the scripts ("[  12.3s] ...", "timing ..."), left out of BENCHMARKS.md.
_PROGRESS = re.compile(r"^\[\s*\d+(\.\d+)?s\] |^timing ")


@dataclass
class Ran:
    """One script's run: its exit status, output and JSON (None when there is none)."""

    name: str
    status: str  # "ok", "exit N", "timed out after N s", "not run"
    seconds: float = 0.0
    output: str = ""
    record: dict[str, Any] | None = None

    @property
    def verdicts(self) -> list[str]:
        return [line for line in self.output.splitlines() if line.startswith(("PASS:", "FAIL:"))]


@dataclass
class Row:
    """One line of the table."""

    what: str
    siplab: str
    other: str = ""
    ratio: str = ""
    note: str = ""


@dataclass
class Report:
    runs: list[Ran]
    rows: list[Row] = field(default_factory=list)
    machine: dict[str, Any] = field(default_factory=dict)
    quick: bool = False
    started: str = ""
    seconds: float = 0.0


def discover() -> None:
    """Add any other ``bench/*.py`` script (not ``_*.py``, not this one) to :data:`BENCHES`,
    so that a new benchmark runs in ``make bench`` before anyone teaches this report to read
    its JSON (its PASS/FAIL lines are shown meanwhile)."""
    here = Path(__file__).resolve()
    for script in sorted(here.parent.glob("*.py")):
        if script.name.startswith("_") or script.resolve() == here:
            continue
        if script.stem not in BENCHES:
            BENCHES[script.stem] = (f"bench/{script.name}", OTHER_TIMEOUT)


# -- the machine ------------------------------------------------------------------------------

#: The peers' version commands, and the Python packages whose versions matter to a figure.
PEER_COMMANDS = {"Kamailio": ["kamailio", "-v"], "sipp": ["sipp", "-v"],
                 "tshark": ["tshark", "-v"]}
PACKAGES = ("siplab", "sipmessage", "sippy", "aiosipua", "pyVoIP", "aiortc", "aioice", "av",
            "numpy", "websockets")


def _first_line(command: list[str]) -> str:
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/local/sbin", "/usr/sbin"])
    binary = shutil.which(command[0], path=search)
    if binary is None:
        return "not installed"
    try:
        done = subprocess.run([binary, *command[1:]], capture_output=True, text=True,
                              timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"unknown ({error})"
    lines = [line.strip() for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    return lines[0] if lines else "unknown"


def _proc_field(path: str, key: str) -> str | None:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return line.split(":", 1)[1].strip() if ":" in line else line.split("=", 1)[1]
    except OSError:
        pass
    return None


def describe_machine() -> dict[str, Any]:
    """CPU model, cores, RAM, OS, Python, and the versions of siplab's peers."""
    memory = _proc_field("/proc/meminfo", "MemTotal")
    os_name = _proc_field("/etc/os-release", "PRETTY_NAME=")
    packages = {}
    for package in PACKAGES:
        try:
            packages[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            packages[package] = "not installed"
    return {
        "cpu": _proc_field("/proc/cpuinfo", "model name") or platform.machine(),
        "cores": os.cpu_count(),
        "ram_gib": round(int(memory.split()[0]) / 2**20, 1) if memory else None,
        "os": (os_name or platform.system()).strip('"'),
        "kernel": platform.release(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "load_average_before": list(os.getloadavg()),
        "peers": {name: _first_line(command) for name, command in PEER_COMMANDS.items()},
        "packages": packages,
    }


def machine_lines(machine: dict[str, Any]) -> list[str]:
    if not machine:
        return []
    packages = machine.get("packages", {})
    load = [f"{value:.2f}" for value in machine.get("load_average_before", [])[:1]
            + machine.get("load_average_after", [])[:1]]
    return [
        f"CPU: {machine.get('cpu')}, {machine.get('cores')} cores; RAM {machine.get('ram_gib')} "
        f"GiB; load average (1 min) before/after: {' / '.join(load) or '-'}",
        f"OS: {machine.get('os')}, Linux {machine.get('kernel')}; Python "
        f"{machine.get('python')}",
        "peers: " + "; ".join(f"{name}: {version}"
                              for name, version in machine.get("peers", {}).items()),
        "packages: " + ", ".join(f"{name} {version}" for name, version in packages.items()),
    ]


# -- running ------------------------------------------------------------------------------------


def run_bench(name: str, out: Path, *, quick: bool, extra: Sequence[str] = ()) -> Ran:
    """Run one script, echoing its output, bounded by its time limit; keep output and JSON."""
    script, limit = BENCHES[name]
    if quick:
        limit = QUICK_TIMEOUT
    json_path, out_path = out / f"{name}.json", out / f"{name}.out"
    json_path.unlink(missing_ok=True)
    command = [sys.executable, script, "--json", str(json_path),
               *(["--quick"] if quick else []), *extra]
    print(f"== {' '.join(command[1:])}", flush=True)
    started = time.monotonic()
    child = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines: list[str] = []
    timed_out = False
    try:
        assert child.stdout is not None
        for line in child.stdout:  # ends when the child exits or is killed below
            print(line, end="", flush=True)
            lines.append(line)
            if time.monotonic() - started > limit:
                timed_out = True
                break
        if timed_out:
            os.killpg(child.pid, signal.SIGTERM)  # the bench's own group: sipps, servers...
        child.wait(timeout=max(1.0, limit - (time.monotonic() - started)) if not timed_out
                   else 30)
    except subprocess.TimeoutExpired:
        timed_out = True
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait(timeout=30)
    seconds = time.monotonic() - started
    output = "".join(lines)
    out_path.write_text(output)
    if timed_out:
        status = f"timed out after {limit:.0f} s"
    else:
        status = "ok" if child.returncode == 0 else f"exit {child.returncode}"
    (out / f"{name}.status").write_text(f"{status}\n{seconds:.1f}\n")
    return Ran(name, status, seconds, output, _read_json(json_path))


def load_previous(name: str, out: Path) -> Ran:
    """A run kept in ``out`` by an earlier call (``--from``)."""
    status_file = out / f"{name}.status"
    if not status_file.exists():
        return Ran(name, "not run")
    status, seconds = [*status_file.read_text().splitlines(), "0"][:2]
    output_file = out / f"{name}.out"
    output = output_file.read_text() if output_file.exists() else ""
    return Ran(name, status, float(seconds), output, _read_json(out / f"{name}.json"))


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


# -- reading each script's JSON -------------------------------------------------------------------


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _x(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio:.2f}x"


def _median(values: Sequence[float]) -> float | None:
    ordered = sorted(values)
    if not ordered:
        return None
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def rows_parse(record: dict[str, Any]) -> list[Row]:
    parsers = {p["name"]: p for p in record["parsers"]}
    siplab = parsers["siplab"]["msgs_per_s"]["fields"]
    rows = []
    for name, parser in parsers.items():
        if name == "siplab":
            continue
        if parser.get("unavailable"):
            rows.append(Row(f"parser: typed fields, msg/s vs {name}", _rate(siplab),
                            "not installed"))
            continue
        theirs = parser["msgs_per_s"].get("fields")
        subset = parser["handled"].get("fields", 0) < len(record["corpus"])
        note = "floor, not a parser" if name == "bare split" else \
            ("peer reads only part of the corpus" if subset else "")
        rows.append(Row(f"parser: typed fields, msg/s vs {name}", _rate(siplab),
                        _rate(theirs), _x(siplab / theirs if theirs else None), note))
    return rows


def rows_load(record: dict[str, Any]) -> list[Row]:
    rows = []
    labels = {"register": "LabServer: REGISTER/s with digest", "calls": "LabServer: calls/s"}
    for scenario, by_server in record["results"].items():
        ours, theirs = by_server.get("siplab"), by_server.get("kamailio")
        ours_rate = ours["rate"] if ours else None
        theirs_rate = theirs["rate"] if theirs else None
        cpu = [f"{who} {server['cpu_per_op_us']:,.0f} us" for who, server in
               (("CPU/op: siplab", ours), ("Kamailio", theirs))
               if server and server.get("cpu_per_op_us") is not None]
        capped = " (capped by --max-rate)" if any(s and s.get("capped") for s in (ours, theirs)) \
            else ""
        rows.append(Row(f"{labels.get(scenario, scenario)} vs Kamailio",
                        _rate(ours_rate), _rate(theirs_rate),
                        _x(ours_rate / theirs_rate if ours_rate and theirs_rate else None),
                        ", ".join(cpu) + capped))
    return rows


def rows_media(record: dict[str, Any]) -> list[Row]:
    best = record["max_calls_under_1pct_late"]
    caller = _median(record["setup"]["caller_ms"])
    waits = [row["wait_percent"] for row in record["load"] if row.get("wait_percent") is not None]
    busy = f"; waited for the CPU up to {max(waits):.0f}% of the time" if waits else ""
    return [
        Row("media: two-way PCMU calls, one core, < 1% late", str(best), "target 200",
            _x(best / 200), f"~{record['estimated_calls_at_80pct_core']} at 80% of a core "
            f"({record['cpu_us_per_packet']:.1f} us/packet){busy}"),
        Row("media: call setup, INVITE -> first audio, ms", f"{caller:.1f}" if caller else "-",
            "target 50", _x(50 / caller if caller else None), record["setup"]["how"]),
    ]


def rows_analyze(record: dict[str, Any]) -> list[Row]:
    ours_wall, ours_cpu = record["median"]["siplab analyze"]
    tshark_wall, tshark_cpu = record["median"]["tshark"]
    agree = "identical counts" if record["counts_identical"] else "COUNTS DIFFER"
    return [Row(f"pcap analysis: {record['packets']:,} RTP packets, wall s vs tshark",
                f"{ours_wall:.2f}", f"{tshark_wall:.2f}", _x(record["wall_ratio"]),
                f"CPU {ours_cpu:.2f} vs {tshark_cpu:.2f} s; {agree}, jitter within "
                f"{record['largest_difference_ms']:.4f} ms")]


def rows_webrtc(record: dict[str, Any]) -> list[Row]:
    webrtc = _median(record["setup"]["webrtc"]["caller"])
    plain = _median(record["setup"]["plain"]["caller"])
    smallest = min(record["webrtc_load"], key=lambda row: row["calls"], default=None)
    note = "" if smallest is None else (
        f"{smallest['calls']} calls: {smallest['late_percent']:.1f}% late"
        + (f", load average {smallest['load']:.1f}" if smallest.get("load") is not None else ""))
    return [
        Row("WebRTC: concurrent aiortc calls, < 1% late", str(record["best_calls"]),
            "target 20", _x(record["best_calls"] / 20), note),
        Row("WebRTC: call setup, INVITE -> first audio, ms",
            f"{webrtc:.1f}" if webrtc else "-", f"plain RTP {plain:.1f}" if plain else "-",
            _x(plain / webrtc if plain and webrtc else None), "target <= 1000 ms"),
    ]


def rows_startup(record: dict[str, Any]) -> list[Row]:
    walls = {c["name"]: c["median_wall_s"] for c in record["commands"] if c["wall"]}
    floor = walls["python -c pass"]
    rows = []
    for name in ("import siplab", "import siplab.sip", "siplab --help"):
        if name in walls:
            rows.append(Row(f"start-up: {name}, ms", f"{walls[name] * 1e3:.0f}",
                            f"python -c pass {floor * 1e3:.0f}", _x(floor / walls[name]),
                            f"takes {walls[name] / floor:.2f}x Python's own start"))
    for peer in ("tshark -v", "sipp -v", "kamailio -v"):
        if peer in walls and "siplab --help" in walls:
            rows.append(Row(f"start-up: siplab --help vs {peer}, ms",
                            f"{walls['siplab --help'] * 1e3:.0f}", f"{walls[peer] * 1e3:.0f}",
                            _x(walls[peer] / walls["siplab --help"]), "a compiled tool"))
    heavy = record.get("heavy_modules") or []
    rows.append(Row("start-up: heavy libraries imported", ", ".join(heavy) or "none", "", "",
                    "aiortc, scapy, numpy, matplotlib... load only when used"))
    return rows


READERS: dict[str, Callable[[dict[str, Any]], list[Row]]] = {
    "parse": rows_parse, "load": rows_load, "media": rows_media, "analyze": rows_analyze,
    "webrtc": rows_webrtc, "startup": rows_startup,
}


def summarise(runs: list[Ran]) -> list[Row]:
    rows: list[Row] = []
    for ran in runs:
        if ran.record is None:
            rows.append(Row(f"{BENCHES[ran.name][0]}", ran.status if ran.status != "ok"
                            else "no JSON written"))
            continue
        reader = READERS.get(ran.name)
        if reader is None:
            rows.append(Row(f"{BENCHES[ran.name][0]}", "see its output",
                            note="bench/report.py does not read this script's JSON yet"))
            continue
        try:
            rows.extend(reader(ran.record))
        except (KeyError, TypeError, ValueError, IndexError, ZeroDivisionError) as error:
            rows.append(Row(f"{BENCHES[ran.name][0]}", "could not read its JSON",
                            note=f"{type(error).__name__}: {error}"))
        if ran.status != "ok":
            rows.append(Row(f"{BENCHES[ran.name][0]}", ran.status))
    return rows


# -- printing -----------------------------------------------------------------------------------

HEADINGS = ("measure", "siplab", "compared with", "ratio", "note")


def table_text(rows: list[Row]) -> list[str]:
    cells = [HEADINGS, *((r.what, r.siplab, r.other, r.ratio, r.note) for r in rows)]
    widths = [max(len(c[i]) for c in cells) for i in range(4)]
    lines = []
    for index, cell in enumerate(cells):
        lines.append(f"{cell[0]:<{widths[0]}}  {cell[1]:>{widths[1]}}  {cell[2]:>{widths[2]}}  "
                     f"{cell[3]:>{widths[3]}}  {cell[4]}".rstrip())
        if index == 0:
            lines.append("-" * len(lines[0]))
    return lines


def table_markdown(rows: list[Row]) -> list[str]:
    lines = ["| " + " | ".join(HEADINGS) + " |", "| --- | ---: | ---: | ---: | --- |"]
    for r in rows:
        lines.append(f"| {r.what} | {r.siplab} | {r.other} | {r.ratio} | {r.note} |")
    return lines


def verdict_lines(runs: list[Ran]) -> list[str]:
    return [f"{verdict} ({BENCHES[ran.name][0]})" for ran in runs for verdict in ran.verdicts]


def text_report(report: Report) -> list[str]:
    mode = "quick (smoke) sizes: rough figures" if report.quick else "full sizes"
    return [
        "", "=" * 30 + " siplab benchmark report " + "=" * 30,
        f"one run, {mode}, started {report.started}, {report.seconds:.0f} s; a ratio above 1 "
        "is siplab ahead", "", *table_text(report.rows), "", *verdict_lines(report.runs), "",
        *machine_lines(report.machine),
    ]


def markdown_report(report: Report) -> str:
    mode = "quick (smoke) sizes, rough figures" if report.quick else "full sizes"
    parts = [
        "# Benchmarks",
        "",
        "The latest figures, from one run of `make bench` (`bench/report.py`: every script "
        f"of `bench/`, one after the other; {mode}), started {report.started}, "
        f"{report.seconds / 60:.0f} min in all. Regenerate with "
        "`make bench BENCH_ARGS=\"--write BENCHMARKS.md\"`; `bench/README.md` says what "
        "each script measures and how.",
        "",
        "These VMs are shared and noisy (15-50% between runs): compare the figures within "
        "one run, and quote the ratios. A ratio above 1 is siplab ahead; for times it is the "
        "other's time over siplab's.",
        "",
        "## Summary",
        "",
        *table_markdown(report.rows),
        "",
        "## Verdicts (the targets of the issues, as each script printed them)",
        "",
        *(f"- {line}" for line in verdict_lines(report.runs)),
        "",
        "## Machine",
        "",
        *(f"- {line}" for line in machine_lines(report.machine)),
        "",
        "## Each script's own output",
    ]
    for ran in report.runs:
        kept = [line for line in ran.output.splitlines() if not _PROGRESS.match(line)]
        parts += ["", f"### {BENCHES[ran.name][0]} ({ran.status}, {ran.seconds:.0f} s)", "",
                  "```text", *kept, "```"]
    return "\n".join(parts) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    discover()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="every script's smoke run")
    parser.add_argument("--only", action="append", choices=tuple(BENCHES),
                        help="run only this bench (may be repeated)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="where each script's JSON and output are kept (artifacts/bench)")
    parser.add_argument("--from", dest="previous", type=Path, metavar="DIR",
                        help="run nothing: report the files an earlier run kept in DIR")
    parser.add_argument("--write", type=Path, metavar="FILE",
                        help="also write the report as Markdown (BENCHMARKS.md)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the table as JSON")
    args = parser.parse_args(argv)
    names = args.only or list(BENCHES)
    started = time.monotonic()
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    machine = describe_machine()
    if args.previous is not None:
        runs = [load_previous(name, args.previous) for name in names]
        quick = '"quick": true' in (args.previous / "settings.json").read_text() \
            if (args.previous / "settings.json").exists() else args.quick
        if (args.previous / "machine.json").exists():
            machine = json.loads((args.previous / "machine.json").read_text())
            when = machine.get("date", when)
        seconds = sum(ran.seconds for ran in runs)
    else:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "settings.json").write_text(json.dumps({"quick": args.quick}) + "\n")
        runs = [run_bench(name, args.out, quick=args.quick) for name in names]
        machine["load_average_after"] = list(os.getloadavg())
        machine["date"] = when
        (args.out / "machine.json").write_text(json.dumps(machine, indent=2) + "\n")
        quick, seconds = args.quick, time.monotonic() - started
    report = Report(runs, summarise(runs), machine, quick, when, seconds)
    print("\n".join(text_report(report)))
    if args.write:
        args.write.write_text(markdown_report(report))
        print(f"\nwrote {args.write}")
    if args.json:
        args.json.write_text(json.dumps({
            "rows": [r.__dict__ for r in report.rows],
            "verdicts": verdict_lines(runs), "machine": machine,
            "status": {ran.name: ran.status for ran in runs}}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
