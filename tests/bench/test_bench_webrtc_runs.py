"""``bench/webrtc.py --quick`` runs to the end and prints its tables.

A smoke test of the benchmark script, not a benchmark: it checks that the
script exits 0, prints a row per WebRTC call count, the setup times of both
paths (WebRTC and plain) in both directions, the plain path's row, the
comparison table and the two target lines. The numbers are not checked; the
targets (>= 20 calls, <= 1 s setup) are for bench/, and depend on how busy the
machine is.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "webrtc.py"


@pytest.mark.timeout(150)
def test_webrtc_bench_quick_prints_its_tables_and_verdicts(tmp_path: Path) -> None:
    out_json = tmp_path / "webrtc.json"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--json", str(out_json)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    lines = done.stdout.splitlines()
    assert lines[0].startswith("machine: ")
    assert "aiortc" in lines[0]
    webrtc_rows = [line for line in lines if re.match(r"\s+\d+\s+\d+\s+\d+\s+\d+\s", line)]
    assert [int(row.split()[0]) for row in webrtc_rows][:2] == [2, 5]
    for path in ("webrtc", "plain"):
        for direction in ("caller hears callee", "callee hears caller"):
            assert any(line.startswith(f"{path:<7} {direction}") for line in lines), path
    assert any(line.startswith("webrtc  ICE + DTLS connected") for line in lines)
    table = lines.index("Both paths on this machine, now")
    assert lines[table + 2].split()[0] == "plain"
    assert lines[table + 3].split()[0] == "webrtc"
    verdicts = [line for line in lines if line.startswith(("PASS: ", "FAIL: "))]
    assert len(verdicts) == 2
    results = json.loads(out_json.read_text())
    assert [row["calls"] for row in results["webrtc_load"]] == [2, 5]
    assert results["setup"]["webrtc"]["caller"]
    assert results["plain_load"]["calls"] == 10
