"""The course notebooks run, are committed clean, match their sources, and grade their exercises.

STYLE.md "Notebooks": each notebook is committed without outputs and executed
in CI; exercises have automatic checks, and the solutions live apart, in
``notebooks/solutions/NAME.md``. The notebooks are built from the
percent-format sources in ``notebooks/_build/`` by ``notebooks/_build/build.py``.

An exercise is a code cell tagged ``exercise`` holding a placeholder; the
next cell tagged ``check`` (and ``raises-exception``, so "Run All" goes on
past it in JupyterLab and nbclient) must fail on the placeholder and pass
with the solution: the code block under the heading named after the exercise
cell's id in the solutions file.

Each notebook is executed on a fresh ``python3`` kernel, which must be the
Python running the tests (the venv's: ipykernel's kernelspec says ``python``,
which jupyter_client replaces with ``sys.executable``), with 60 s per cell.
"""

from __future__ import annotations

import copy
import importlib.util
import re
import sys
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbformat.notebooknode import NotebookNode

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
BUILD = NOTEBOOKS / "_build"
SOLUTIONS = NOTEBOOKS / "solutions"
CELL_TIMEOUT = 60  # seconds
PROBE = "import sys; print(sys.executable)"
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")

NOTEBOOK_PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))


def _name(path: Path) -> str:
    return path.stem


def build_module() -> ModuleType:
    """notebooks/_build/build.py, imported from its path (notebooks/ is not a package)."""
    spec = importlib.util.spec_from_file_location("siplab_notebook_build", BUILD / "build.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read(path: Path) -> NotebookNode:
    return nbformat.read(path, as_version=4)


@cache
def _execute_cached(path: Path, replacements: tuple[tuple[str, str], ...]) -> NotebookNode:
    notebook = read(path)
    for cell in notebook.cells:
        for cell_id, source in replacements:
            if cell.get("id") == cell_id:
                cell.source = source
    # One extra cell at the end tells which Python the kernel ran.
    notebook.cells.append(nbformat.v4.new_code_cell(PROBE, id="probe-python"))
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    try:
        client.execute()
    except CellExecutionError as error:
        plain = ANSI_ESCAPE.sub("", str(error))  # IPython colours its tracebacks
        pytest.fail(f"{path.name} failed in a cell:\n{plain}", pytrace=False)
    return notebook


def execute(path: Path, replacements: dict[str, str] | None = None) -> NotebookNode:
    """Run the notebook top to bottom on a fresh kernel; a failing cell fails the test.

    ``replacements`` maps cell ids to new sources (the solutions). Results are
    cached per run, so the tests below share one execution of each variant.
    """
    return copy.deepcopy(_execute_cached(path, tuple(sorted((replacements or {}).items()))))


def errors(cell: NotebookNode) -> list[dict[str, Any]]:
    return [out for out in cell.get("outputs", []) if out.get("output_type") == "error"]


def stdout(cell: NotebookNode) -> str:
    return "".join(out.get("text", "") for out in cell.get("outputs", [])
                   if out.get("output_type") == "stream" and out.get("name") == "stdout")


def tagged(notebook: NotebookNode, tag: str) -> list[NotebookNode]:
    return [cell for cell in notebook.cells if tag in cell.metadata.get("tags", [])]


def solutions(path: Path) -> dict[str, str]:
    """``{exercise cell id: solution code}`` from notebooks/solutions/NAME.md."""
    text = (SOLUTIONS / f"{path.stem}.md").read_text("utf-8")
    found = {}
    for section in re.split(r"^## ", text, flags=re.MULTILINE)[1:]:
        heading, _, body = section.partition("\n")
        code = re.search(r"```python\n(.*?)```", body, re.DOTALL)
        assert code is not None, f"solution {heading.strip()!r} has no ```python block"
        found[heading.strip()] = code.group(1).rstrip("\n")
    return found


def exercises(notebook: NotebookNode) -> list[tuple[NotebookNode, NotebookNode]]:
    """Each exercise cell with the first check cell after it."""
    pairs = []
    cells = notebook.cells
    for index, cell in enumerate(cells):
        if "exercise" in cell.metadata.get("tags", []):
            check = next((c for c in cells[index + 1:] if "check" in c.metadata.get("tags", [])),
                         None)
            assert check is not None, f"exercise cell {cell.id} has no check cell after it"
            pairs.append((cell, check))
    return pairs


def test_there_are_notebooks() -> None:
    assert [p.name for p in NOTEBOOK_PATHS][:1] == ["00_start_here.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOK_PATHS, ids=_name)
def test_notebook_runs_top_to_bottom_on_a_fresh_kernel(path: Path) -> None:
    notebook = execute(path)
    # Only check cells may fail (they do, on the placeholders); nothing else.
    for cell in notebook.cells:
        if cell.cell_type == "code" and "check" not in cell.metadata.get("tags", []):
            assert errors(cell) == [], f"{path.name}, cell {cell.id}: {errors(cell)}"
    assert stdout(notebook.cells[-1]).strip() == sys.executable, (
        "the kernel ran another Python than the tests' (is the venv's ipykernel the "
        "python3 kernel?)"
    )


@pytest.mark.parametrize("path", NOTEBOOK_PATHS, ids=_name)
def test_notebook_is_committed_without_outputs(path: Path) -> None:
    for cell in read(path).cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}, cell {cell.id} has outputs"
            assert cell.execution_count is None, f"{path.name}, cell {cell.id} has a count"


@pytest.mark.parametrize("path", NOTEBOOK_PATHS, ids=_name)
def test_notebook_is_exactly_what_its_source_builds(path: Path) -> None:
    source = BUILD / f"{path.stem}.py"
    assert source.exists(), f"{path.name} has no source {source.relative_to(ROOT)}"
    built = build_module().render(source)
    assert path.read_text("utf-8") == built, (
        f"{path.name} differs from {source.relative_to(ROOT)}: "
        "run python notebooks/_build/build.py and commit both"
    )


def test_every_source_has_its_notebook() -> None:
    built = {p.stem for p in build_module().sources()}
    assert built == {p.stem for p in NOTEBOOK_PATHS}


@pytest.mark.parametrize("path", NOTEBOOK_PATHS, ids=_name)
def test_notebook_opens_with_goals_and_ends_with_recap(path: Path) -> None:
    cells = read(path).cells
    first, last = cells[0].source, cells[-1].source
    for words in ("Goals", "Prerequisites", "Time to learn"):
        assert words in first, f"{path.name}: the first cell should state its {words}"
    for words in ("Recap", "What's next"):
        assert words in last, f"{path.name}: the last cell should have a {words}"


@pytest.mark.parametrize("path", NOTEBOOK_PATHS, ids=_name)
def test_exercise_checks_fail_on_the_placeholder(path: Path) -> None:
    notebook = execute(path)
    for exercise, check in exercises(notebook):
        assert "raises-exception" in check.metadata.get("tags", []), (
            f"{path.name}: check cell {check.id} needs the raises-exception tag"
        )
        assert [e["ename"] for e in errors(check)] == ["AssertionError"], (
            f"{path.name}: check cell {check.id} passed with the placeholder of {exercise.id}"
        )


@pytest.mark.parametrize("path", NOTEBOOK_PATHS, ids=_name)
def test_exercise_checks_pass_with_the_solutions(path: Path) -> None:
    pairs = exercises(read(path))
    if not pairs:
        pytest.skip(f"{path.name} has no exercise")
    answers = solutions(path)
    missing = sorted({exercise.id for exercise, _ in pairs} - answers.keys())
    assert not missing, f"notebooks/solutions/{path.stem}.md has no section for {missing}"
    notebook = execute(path, answers)
    by_id = {cell.id: cell for cell in notebook.cells}
    for cell in notebook.cells:
        assert errors(cell) == [], f"{path.name}, cell {cell.id}: {errors(cell)}"
    for _, check in pairs:
        assert "Correct" in stdout(by_id[check.id]), f"{path.name}: {check.id} said nothing"
