"""``bench/media.py --quick`` runs to the end and prints its tables.

A smoke test of the benchmark script, not a benchmark: it checks that the
script exits 0, prints a row per call count and a setup-time row per
direction, and the two target lines. The numbers are not checked; the
targets (>= 200 calls, <= 50 ms setup) are for bench/, and depend on how busy
the machine is.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "media.py"


@pytest.mark.timeout(150)
def test_media_bench_quick_prints_its_tables_and_verdicts(tmp_path: Path) -> None:
    out_json = tmp_path / "media.json"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--json", str(out_json)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    lines = done.stdout.splitlines()
    assert lines[0].startswith("machine: ")
    load_rows = [line for line in lines if re.match(r"\s+\d+\s+\d+\s+\d+\s", line)]
    assert [int(row.split()[0]) for row in load_rows] == [10, 25]
    assert any(line.startswith("caller hears callee") for line in lines)
    assert any(line.startswith("callee hears caller") for line in lines)
    verdicts = [line for line in lines if line.startswith(("PASS: ", "FAIL: "))]
    assert len(verdicts) == 2
    results = json.loads(out_json.read_text())
    assert [row["calls"] for row in results["load"]] == [10, 25]
    assert results["setup"]["caller_ms"]
    assert any(line.startswith("CPU per packet at 25 calls") for line in lines)
