"""How long ``import siplab`` and ``siplab --help`` take to start, beside Python and the peers.

Run it from the repository root::

    .venv/bin/python bench/startup.py             # ~15 s: 15 runs of each command
    .venv/bin/python bench/startup.py --quick     # ~2 s smoke run (CI: tests/bench/)
    .venv/bin/python bench/startup.py --runs 30 --json startup.json

**Why it matters.** A student types ``siplab --help`` or runs the first cell of
a notebook; a class runs ``siplab call`` in loops. DESIGN.md keeps the heavy
libraries (aiortc, scapy, matplotlib, numpy, ipywidgets) out of ``import
siplab`` and out of the CLI's start, imported only by the modules that use
them. This script measures that promise and checks it.

**What it runs.** Each command as a fresh process, round-robin (so a burst of
load from another process hits every command alike), ``--runs`` times; the
median wall-clock time from ``fork`` to exit and the median CPU time (user +
system of the child) are reported:

* ``python -c pass``: the interpreter alone, the floor for anything in Python;
* ``python -c "import siplab"``: the package;
* ``python -c "import siplab.sip"``: the sans-I/O SIP core a notebook uses first;
* ``siplab --help``: the console script, as a student types it;
* the peers' own "print your version" start (``sipp -v``, ``tshark -v``,
  ``kamailio -v``): what a compiled tool costs to start on this machine, when
  it is installed.

The ratios printed are each command's median over ``python -c pass`` (what
siplab adds to Python's own start) and over the peers' (``siplab --help`` /
``tshark -v``...). Then one more child lists which heavy modules ``import
siplab`` and the CLI's parser pulled in: there should be none.

**Reading the numbers.** Start-up is dominated by the disk cache and by
other processes: the first run after a change also compiles ``.pyc`` files,
so one untimed run of each command comes first. The script exits 0 whatever
the verdicts; it is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
#: Target: ``siplab --help`` starts within this many times ``python -c pass``.
TARGET_HELP_OVER_PYTHON = 4.0
#: Modules DESIGN.md keeps out of ``import siplab`` and the CLI's start.
HEAVY = ("aiortc", "av", "scapy", "matplotlib", "numpy", "ipywidgets", "websockets",
         "cryptography", "IPython")
#: What the child of :func:`heavy_modules` runs: import siplab and build the CLI parser.
_HEAVY_PROBE = """
import sys, contextlib, io
import siplab
from siplab import cli
with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
    cli.main(["--help"])
heavy = {heavy!r}
print(" ".join(sorted(name for name in heavy if name in sys.modules)))
"""


@dataclass
class Command:
    """One command to time, and what its runs took."""

    name: str
    argv: list[str]
    peer: bool = False  # a compiled tool of the comparison, not Python
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    failed: str | None = None

    @property
    def median_wall(self) -> float:
        return statistics.median(self.wall) if self.wall else float("nan")

    @property
    def median_cpu(self) -> float:
        return statistics.median(self.cpu) if self.cpu else float("nan")


def siplab_script() -> list[str]:
    """The ``siplab`` console script next to this Python, else ``python -m siplab``."""
    script = Path(sys.executable).with_name("siplab")
    return [str(script)] if script.exists() else [sys.executable, "-m", "siplab"]


def commands() -> list[Command]:
    python = sys.executable
    found = [
        Command("python -c pass", [python, "-c", "pass"]),
        Command("import siplab", [python, "-c", "import siplab"]),
        Command("import siplab.sip", [python, "-c", "import siplab.sip"]),
        Command("siplab --help", [*siplab_script(), "--help"]),
    ]
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/local/sbin", "/usr/sbin"])
    for tool in ("sipp", "tshark", "kamailio"):
        binary = shutil.which(tool, path=search)
        if binary is not None:
            found.append(Command(f"{tool} -v", [binary, "-v"], peer=True))
    return found


def time_once(argv: list[str], *, any_status: bool = False) -> tuple[float, float]:
    """Wall-clock and CPU seconds (user + system) of one run of ``argv``; a non-zero exit
    is an error unless ``any_status`` (``sipp -v`` exits 99)."""
    started = time.perf_counter()
    child = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0 and not any_status:
        raise RuntimeError(f"exit {child.returncode}")
    return wall, usage.ru_utime + usage.ru_stime


def measure(found: list[Command], runs: int) -> None:
    """One untimed run each (``.pyc`` files, disk cache), then ``runs`` rounds."""
    for command in found:
        try:
            time_once(command.argv, any_status=command.peer)
        except (OSError, RuntimeError) as error:
            command.failed = str(error)
    for _ in range(runs):
        for command in found:
            if command.failed is None:
                wall, cpu = time_once(command.argv, any_status=command.peer)
                command.wall.append(wall)
                command.cpu.append(cpu)


def heavy_modules() -> list[str]:
    """The heavy modules that ``import siplab`` plus the CLI's ``--help`` imported."""
    probe = _HEAVY_PROBE.format(heavy=HEAVY)
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=True)
    return done.stdout.split()


def report(found: list[Command], heavy: list[str], runs: int) -> tuple[list[str], dict[str, Any]]:
    """The table, the ratio lines and the verdicts; and the same as a JSON record."""
    by_name = {c.name: c for c in found}
    floor = by_name["python -c pass"].median_wall
    help_ = by_name["siplab --help"].median_wall
    lines = [f"Start-up, median of {runs} runs each (fresh processes, round-robin)", "",
             f"{'command':<20} {'wall ms':>8} {'CPU ms':>7} {'/ python -c pass':>17}",
             "-" * 55]
    for command in found:
        if command.failed is not None:
            lines.append(f"{command.name:<20} skipped: {command.failed}")
            continue
        lines.append(f"{command.name:<20} {command.median_wall * 1e3:>8.1f} "
                     f"{command.median_cpu * 1e3:>7.1f} {command.median_wall / floor:>16.2f}x")
    ratios: dict[str, float] = {
        "import siplab / python -c pass": by_name["import siplab"].median_wall / floor,
        "siplab --help / python -c pass": help_ / floor,
        "import siplab - python -c pass (ms)":
            (by_name["import siplab"].median_wall - floor) * 1e3,
    }
    lines.append("")
    for peer in (c for c in found if c.peer and c.failed is None):
        ratio = help_ / peer.median_wall
        ratios[f"siplab --help / {peer.name}"] = ratio
        lines.append(f"siplab --help takes {ratio:.2f}x the time of {peer.name}")
    lines.append(f"heavy modules imported by import siplab + siplab --help: "
                 f"{', '.join(heavy) if heavy else 'none'}")
    passed_light = not heavy
    passed_help = help_ / floor <= TARGET_HELP_OVER_PYTHON
    lines.append("")
    lines.append(f"{'PASS' if passed_light else 'FAIL'}: no heavy library ({', '.join(HEAVY)}) "
                 "at start-up")
    lines.append(f"{'PASS' if passed_help else 'FAIL'}: siplab --help within "
                 f"{TARGET_HELP_OVER_PYTHON:g}x python -c pass ({help_ / floor:.2f}x)")
    record = {
        "runs": runs,
        "commands": [{**asdict(c), "median_wall_s": c.median_wall, "median_cpu_s": c.median_cpu}
                     for c in found],
        "ratios": ratios,
        "heavy_modules": heavy,
        "targets": [{"passed": passed_light, "what": "no heavy library at start-up"},
                    {"passed": passed_help,
                     "what": f"siplab --help within {TARGET_HELP_OVER_PYTHON:g}x python -c pass"}],
    }
    return lines, record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="timed runs of each command")
    parser.add_argument("--quick", action="store_true", help="3 runs each: a smoke test")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results here")
    args = parser.parse_args(argv)
    runs = 3 if args.quick else max(1, args.runs)
    found = commands()
    measure(found, runs)
    for required in ("python -c pass", "import siplab", "siplab --help"):
        failed = next(c.failed for c in found if c.name == required)
        if failed is not None:
            print(f"bench/startup.py: {required} failed: {failed}", file=sys.stderr)
            return 1
    lines, record = report(found, heavy_modules(), runs)
    print("\n".join(lines))
    if args.json:
        args.json.write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
