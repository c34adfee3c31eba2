"""``bench/report.py`` (what ``make bench`` runs) gathers the benchmarks into one table.

A smoke test of the report, not a benchmark: the two fastest scripts run in
their ``--quick`` form (bench/parse.py and bench/startup.py, a few seconds),
and the report must print one table with a row for each figure they give, the
PASS/FAIL lines they printed, and the machine; ``--write`` must produce the
Markdown of BENCHMARKS.md, and ``--from`` must rebuild it from the kept files
without running anything. The numbers themselves are not checked. The other
scripts' ``--quick`` runs have their own tests (tests/bench/test_bench_*_runs.py);
here their JSON is read through the report's readers, from a failed or
reshaped run as well.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "report.py"


def report_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_report", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def run_report(*args: str) -> str:
    done = subprocess.run([sys.executable, str(SCRIPT), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=240, check=False)
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    out = tmp_path_factory.mktemp("bench-report")
    stdout = run_report("--quick", "--only", "parse", "--only", "startup", "--out", str(out),
                        "--write", str(out / "BENCHMARKS.md"), "--json", str(out / "report.json"))
    return stdout, out


def table(stdout: str) -> list[str]:
    lines = stdout.split("siplab benchmark report", 1)[1].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("measure "))
    end = lines.index("", start)
    return lines[start + 2:end]


@pytest.mark.timeout(300)
def test_report_prints_one_table_with_the_parser_and_startup_ratios(
        quick_report: tuple[str, Path]) -> None:
    stdout, _ = quick_report
    rows = table(stdout)
    measures = [row.split("  ")[0] for row in rows]
    for peer in ("bare split", "sipmessage", "aiosipua", "sippy", "pyVoIP"):
        assert f"parser: typed fields, msg/s vs {peer}" in measures
    for figure in ("start-up: import siplab, ms", "start-up: siplab --help, ms",
                   "start-up: heavy libraries imported"):
        assert figure in measures
    assert not any("could not read" in row or "no JSON" in row for row in rows), rows
    parser_row = next(row for row in rows if "vs bare split" in row)
    assert parser_row.split("x  ")[0].endswith(tuple("0123456789"))  # a ratio such as 0.37x


@pytest.mark.timeout(300)
def test_report_lists_every_verdict_and_the_machine(quick_report: tuple[str, Path]) -> None:
    stdout, out = quick_report
    assert "(bench/parse.py)" in stdout
    assert "(bench/startup.py)" in stdout
    assert any(line.startswith(("PASS: siplab --help", "FAIL: siplab --help"))
               for line in stdout.splitlines())
    for machine in ("CPU: ", "cores; RAM ", "Python CPython 3."):
        assert machine in stdout
    record = json.loads((out / "report.json").read_text())
    assert record["status"] == {"parse": "ok", "startup": "ok"}
    assert record["machine"]["cores"] >= 1


@pytest.mark.timeout(300)
def test_write_makes_the_markdown_and_from_rebuilds_it_without_running(
        quick_report: tuple[str, Path]) -> None:
    _, out = quick_report
    written = (out / "BENCHMARKS.md").read_text()
    for heading in ("# Benchmarks", "## Summary", "## Machine", "### bench/parse.py (ok",
                    "### bench/startup.py (ok"):
        assert heading in written
    assert "| parser: typed fields, msg/s vs sipmessage |" in written

    again = out / "again.md"
    stdout = run_report("--from", str(out), "--only", "parse", "--only", "startup",
                        "--only", "load", "--write", str(again))
    assert not any(line.startswith("== bench/") for line in stdout.splitlines())  # nothing ran
    assert next(row for row in table(stdout) if row.startswith("bench/load.py")).split()[1:] == \
        ["not", "run"]
    rebuilt = again.read_text()
    summary = written.split("## Summary")[1].split("## Verdicts")[0].strip().splitlines()
    assert all(line in rebuilt.splitlines() for line in summary)  # the same figures
    assert "| bench/load.py | not run |" in rebuilt


def test_a_failed_or_reshaped_bench_gets_a_row_that_says_so() -> None:
    report = report_module()
    failed = report.Ran("media", "exit 1", 3.0, "Traceback ...\n", None)
    reshaped = report.Ran("analyze", "ok", 1.0, "", {"median": {}})
    timed_out = report.Ran("webrtc", "timed out after 900 s", 900.0, "", None)
    rows = report.summarise([failed, reshaped, timed_out])
    assert [(row.what, row.siplab) for row in rows] == [
        ("bench/media.py", "exit 1"),
        ("bench/analyze.py", "could not read its JSON"),
        ("bench/webrtc.py", "timed out after 900 s"),
    ]
