"""The mypyc-compiled SIP core: built, used when asked for, never stale, and the same core.

``siplab.compiled_core`` compiles the server's modules of ``siplab.sip`` into
``build/compiled/``; ``SIPLAB_COMPILED=1`` makes a process run them. The
benchmark's LabServer and the load test run that build, so it must behave as
the plain Python does: the core's own tests (tests/sip) and the torture set
(tests/torture) run again here, in a process that runs the compiled modules.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from siplab.compiled_core import (
    COMPILED_MODULES,
    CompiledCoreError,
    is_built,
    source_digest,
    use_compiled_core,
)
from tests.helpers import compiled_core_env

ROOT = Path(__file__).resolve().parents[1]


def run_python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, text=True,
                          capture_output=True, timeout=60)


def test_every_compiled_module_exists_in_the_core() -> None:
    for name in COMPILED_MODULES:
        assert (ROOT / "siplab" / "sip" / f"{name}.py").is_file(), name


def test_without_the_variable_a_process_runs_the_plain_python() -> None:
    env = {**os.environ, "SIPLAB_COMPILED": "0"}
    done = run_python("import siplab.sip.message as m, siplab.sip.native as n; "
                      "print(m.__file__, n.COMPILED)", env)
    assert done.returncode == 0, done.stderr
    path, compiled = done.stdout.split()
    assert path.endswith("siplab/sip/message.py")
    assert compiled == "False"


def test_with_siplab_compiled_the_core_modules_are_the_built_extensions() -> None:
    env = compiled_core_env()
    done = run_python(
        "import siplab.sip, sys, siplab.sip.native as n\n"
        f"names = {COMPILED_MODULES!r}\n"
        "print(n.COMPILED, all(not sys.modules['siplab.sip.' + m].__file__.endswith('.py')"
        " for m in names), sys.modules['siplab.sip.useragent'].__file__)", env)
    assert done.returncode == 0, done.stderr
    compiled, all_built, server = done.stdout.split()
    assert compiled == "True"
    assert all_built == "True"
    assert server.endswith("siplab/sip/useragent.py")  # the rest stays Python


def test_a_missing_build_is_an_error_that_says_how_to_make_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIPLAB_COMPILED", "1")
    path: list[str] = []
    with pytest.raises(CompiledCoreError, match=r"python -m siplab\.compiled_core build"):
        use_compiled_core(path, tmp_path / "nothing")
    assert path == []


def test_a_build_of_other_sources_is_refused_not_used(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "SOURCE_DIGEST").write_text("0" * 64 + "\n")
    monkeypatch.setenv("SIPLAB_COMPILED", "1")
    assert not is_built(tmp_path)
    with pytest.raises(CompiledCoreError, match="built from other sources"):
        use_compiled_core([], tmp_path)
    (tmp_path / "SOURCE_DIGEST").write_text(source_digest() + "\n")
    path: list[str] = []
    assert use_compiled_core(path, tmp_path)
    assert path == [str(tmp_path / "siplab" / "sip")]


@pytest.mark.slow
def test_the_core_and_torture_tests_pass_on_the_compiled_core() -> None:
    env = compiled_core_env()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x",
         "tests/sip", "tests/torture"],
        cwd=ROOT, env=env, text=True, capture_output=True, timeout=600)
    tail = "\n".join(done.stdout.splitlines()[-30:])
    assert done.returncode == 0, f"on the compiled core:\n{tail}\n{done.stderr[-2000:]}"
    assert " passed" in tail
    assert "failed" not in tail


def test_the_command_says_in_one_line_that_the_build_is_missing(tmp_path: Path) -> None:
    env = {**os.environ, "SIPLAB_COMPILED": "1"}
    done = run_python(
        "import siplab.compiled_core as c, pathlib, sys\n"
        f"c.use_compiled_core.__defaults__ = (pathlib.Path({str(tmp_path)!r}),)\n"
        "from siplab.cli import main\n"
        "sys.exit(main(['server', '--udp', '127.0.0.1:0', '--open']))", env)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"siplab: error: SIPLAB_COMPILED=1 but there is no compiled core in {tmp_path}: "
        "run `python -m siplab.compiled_core build` (needs gcc and mypy)"]
