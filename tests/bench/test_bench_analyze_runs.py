"""``bench/analyze.py --quick`` runs to the end and prints its table and verdicts.

A smoke test of the benchmark script, not a benchmark: it generates a small
capture (20,000 RTP packets) with siplab's writer, runs ``siplab analyze`` and
``tshark -z rtp,streams`` on it once each, and must print both rows, the
ratio, and the two verdict lines. The speed is not checked here (a small file
is dominated by start-up time); the agreement is, since it does not depend on
the size: the same packets and losses as tshark, jitter within 0.001 ms.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import require_peer

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "analyze.py"


@pytest.mark.timeout(150)
def test_analyze_bench_quick_prints_both_tools_and_agrees_with_tshark(tmp_path: Path) -> None:
    require_peer("tshark", "tshark")
    out_json = tmp_path / "analyze.json"
    done = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--json", str(out_json)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    lines = done.stdout.splitlines()
    assert any(line.startswith("siplab analyze") for line in lines), done.stdout
    assert any(line.startswith("tshark ") for line in lines), done.stdout
    assert any(line.startswith("tshark/siplab") for line in lines), done.stdout
    verdicts = [line for line in lines if line.startswith(("PASS:", "FAIL:"))]
    assert len(verdicts) == 2, done.stdout
    assert verdicts[1].startswith("PASS: identical packet and loss counts"), done.stdout
    results = json.loads(out_json.read_text())
    assert results["packets"] == 20_000
    assert results["streams"] == 8
    assert results["counts_identical"] is True
    assert results["largest_difference_ms"] <= 0.001
