"""``bench/parse.py --quick`` runs to the end and prints its table.

This is a smoke test of the benchmark script, not a benchmark: it checks that
the script exits 0, prints a row for siplab and for the bare baseline, a row
(or a "skipped" note) for each PyPI peer, and the target lines. The numbers
themselves are not checked; speed targets live in bench/, not in tests. A peer
that is not installed is skipped by the script, and accepted here.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "parse.py"
#: Import name of each peer, as the table names it.
PEERS = {"sipmessage": "sipmessage", "aiosipua": "aiosipua", "sippy": "sippy", "pyVoIP": "pyVoIP"}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, object]]:
    out_json = tmp_path_factory.mktemp("bench") / "parse.json"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--json", str(out_json)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout, json.loads(out_json.read_text())


def _table_rows(stdout: str) -> dict[str, str]:
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("parser "))
    rows: dict[str, str] = {}
    for line in lines[start + 2 :]:
        if not line.strip():
            break
        name = "bare split" if line.startswith("bare split") else line.split()[0]
        rows[name] = line
    return rows


@pytest.mark.timeout(150)
def test_parse_bench_quick_prints_rows_for_siplab_and_the_bare_baseline(
    quick_run: tuple[str, dict[str, object]],
) -> None:
    stdout, _ = quick_run
    rows = _table_rows(stdout)
    assert "siplab" in rows
    assert "bare split" in rows
    # siplab does every level, so its row ends in a wrong/total count and has no n/a.
    assert re.search(r" \d+/\d+$", rows["siplab"])
    assert "n/a" not in rows["siplab"]


@pytest.mark.timeout(150)
def test_parse_bench_quick_lists_each_installed_peer_and_skips_missing_ones(
    quick_run: tuple[str, dict[str, object]],
) -> None:
    stdout, _ = quick_run
    rows = _table_rows(stdout)
    for name, module in PEERS.items():
        assert name in rows, f"no row for {name}"
        if importlib.util.find_spec(module) is None:
            assert f"{name}: skipped" in stdout


@pytest.mark.timeout(150)
def test_parse_bench_quick_prints_target_lines_and_writes_json(
    quick_run: tuple[str, dict[str, object]],
) -> None:
    stdout, results = quick_run
    verdicts = [line for line in stdout.splitlines() if line.startswith(("PASS: ", "FAIL: "))]
    assert len(verdicts) == 3
    parsers = results["parsers"]
    assert isinstance(parsers, list)
    assert [p["name"] for p in parsers][:2] == ["siplab", "bare split"]


@pytest.mark.timeout(150)
def test_parse_bench_quick_skips_a_peer_that_cannot_be_imported() -> None:
    # None in sys.modules makes "import sippy" raise, as if it were not installed.
    code = (
        "import runpy, sys; sys.modules['sippy'] = None; "
        f"sys.argv = [{str(SCRIPT)!r}, '--quick']; "
        f"runpy.run_path({str(SCRIPT)!r}, run_name='__main__')"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    assert "sippy: skipped, not importable" in done.stdout
    assert "siplab" in _table_rows(done.stdout)
