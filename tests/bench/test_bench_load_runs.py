"""``bench/load.py --quick`` runs to the end and prints a row for each scenario.

This is a smoke test of the load benchmark (issue 4), not a benchmark: sipp
drives Kamailio and siplab's LabServer at a few dozen registrations and calls
per second (RFC 3665 §2.1 registration with digest, §3.2 a call through a
proxy), and the test checks that the script exits 0, measured both servers,
and printed the table with both rows and the target lines. The rates
themselves are not checked; they belong to bench/, not to tests.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import require_peer
from tests.interop.kamailio import find_kamailio

pytestmark = [pytest.mark.interop, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "load.py"
#: The script's own bound is about a minute; this one kills it if it hangs.
TIMEOUT = 150


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, object]]:
    require_peer("sipp", "sip-tester")
    find_kamailio()
    out_json = tmp_path_factory.mktemp("bench") / "load.json"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--max-rate", "50", "--json", str(out_json)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout, json.loads(out_json.read_text())


def _rows(stdout: str) -> dict[str, str]:
    """The table's rows by scenario: the lines after the header and its rule."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("scenario "))
    rows: dict[str, str] = {}
    for line in lines[start + 2 :]:
        if not line.strip():
            break
        rows[line.split(" (")[0]] = line
    return rows


@pytest.mark.timeout(TIMEOUT + 30)
def test_load_bench_quick_prints_a_row_for_registrations_and_for_calls(
    quick_run: tuple[str, dict[str, object]],
) -> None:
    stdout, _ = quick_run
    rows = _rows(stdout)
    assert set(rows) == {"REGISTER/s", "calls/s"}, stdout
    for row in rows.values():
        # Both servers held at least the first rate: a number in each column, and a ratio.
        assert re.search(r"\)\s+[\d,]+\+?\s+[\d,]+\+?\s+\d+%", row), row
        assert "n/a" not in row, row


@pytest.mark.timeout(TIMEOUT + 30)
def test_load_bench_quick_prints_the_target_lines_and_writes_json(
    quick_run: tuple[str, dict[str, object]],
) -> None:
    stdout, record = quick_run
    assert "target REGISTER/s (digest): LabServer at" in stdout
    assert "target calls/s (proxy): LabServer at" in stdout
    assert " cores, Python " in stdout  # the machine the figures come from
    results = record["results"]
    assert isinstance(results, dict)
    for scenario in ("register", "calls"):
        for server in ("kamailio", "siplab"):
            figures = results[scenario][server]
            assert figures["rate"] > 0, (scenario, server, figures)
            assert figures["cpu_per_op_us"] is not None, (scenario, server, figures)
    assert record["steps"], "every step is recorded"
