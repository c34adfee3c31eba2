"""Build the course notebooks from their percent-format sources.

Every ``notebooks/_build/NAME.py`` (except this file) is the source of
``notebooks/NAME.ipynb``. The source is a plain Python file in the "percent"
format that jupytext, VS Code and Spyder understand: a line ``# %%`` starts a
code cell, ``# %% [markdown]`` a markdown cell whose lines are written as
comments. Options after the marker become cell metadata, each ``key=JSON``::

    # %% [markdown]
    # ## A heading
    #
    # Some text.

    # %% tags=["exercise"] id="exercise-timer-b"
    answer = None

``id`` sets the cell id (otherwise ``cell-NN`` by position); anything else,
such as ``tags``, goes into the cell's metadata. Text before the first marker
(a docstring saying what the file is) is not part of the notebook.

The notebooks are written without outputs or execution counts, with stable
cell ids, so that building twice gives the same bytes and a review diff shows
only what changed in the source. tests/notebooks/test_notebooks.py checks that
the committed notebooks are exactly what this script makes.

    python notebooks/_build/build.py          # write notebooks/*.ipynb
    python notebooks/_build/build.py --check  # exit 1 if any notebook is out of date
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import nbformat
from nbformat.notebooknode import NotebookNode

__all__ = ["BUILD_DIR", "NOTEBOOKS_DIR", "sources", "notebook_from_source", "render", "main"]

BUILD_DIR = Path(__file__).resolve().parent
NOTEBOOKS_DIR = BUILD_DIR.parent

_MARKER = re.compile(r"^# %%(?:\s+\[(?P<kind>\w+)\])?(?P<options>.*)$")
_OPTION = re.compile(r"\s*(?P<key>[\w-]+)=(?P<value>\[[^\]]*\]|\"[^\"]*\"|\S+)")

KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def sources() -> list[Path]:
    """The notebook sources, in course order (by file name)."""
    return sorted(p for p in BUILD_DIR.glob("*.py") if p.name != Path(__file__).name
                  and not p.name.startswith("_"))


def _options(text: str, where: str) -> dict[str, object]:
    options: dict[str, object] = {}
    rest = text
    while rest.strip():
        match = _OPTION.match(rest)
        if match is None:
            raise ValueError(f"{where}: cannot read cell options {rest.strip()!r} (want key=JSON)")
        options[match["key"]] = json.loads(match["value"])
        rest = rest[match.end():]
    return options


def _cell(kind: str, lines: list[str], options: dict[str, object], index: int,
          where: str) -> NotebookNode:
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    cell_id = str(options.pop("id", f"cell-{index:02d}"))
    if kind == "markdown":
        text = []
        for number, line in enumerate(lines):
            if line != "#" and not line.startswith("# "):
                raise ValueError(f"{where}: markdown line {number + 1} is not a comment: {line!r}")
            text.append(line[2:])
        cell = nbformat.v4.new_markdown_cell("\n".join(text), id=cell_id)
    elif kind == "code":
        cell = nbformat.v4.new_code_cell("\n".join(lines), id=cell_id)
    else:
        raise ValueError(f"{where}: unknown cell kind [{kind}]")
    cell.metadata.update(options)
    return cell


def notebook_from_source(path: Path) -> NotebookNode:
    """Read one percent-format source into a notebook (no outputs, stable ids)."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata = {
        "kernelspec": dict(KERNELSPEC),
        "language_info": {"name": "python"},
        "siplab": {"source": f"_build/{path.name}"},
    }
    kind: str | None = None
    options: dict[str, object] = {}
    lines: list[str] = []
    start = 0
    for number, line in enumerate(path.read_text("utf-8").splitlines(), start=1):
        marker = _MARKER.match(line)
        if marker is None:
            lines.append(line)
            continue
        if kind is not None:
            where = f"{path.name}:{start}"
            notebook.cells.append(_cell(kind, lines, options, len(notebook.cells), where))
        kind = marker["kind"] or "code"
        options = _options(marker["options"], f"{path.name}:{number}")
        lines, start = [], number
    if kind is None:
        raise ValueError(f"{path.name}: no '# %%' cell marker")
    notebook.cells.append(_cell(kind, lines, options, len(notebook.cells), f"{path.name}:{start}"))
    ids = [cell.id for cell in notebook.cells]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError(f"{path.name}: duplicate cell ids {duplicates}")
    nbformat.validate(notebook)
    return notebook


def render(path: Path) -> str:
    """The exact text of the .ipynb built from ``path`` (what is committed)."""
    text: str = nbformat.writes(notebook_from_source(path))
    return text if text.endswith("\n") else text + "\n"


def target(path: Path) -> Path:
    return NOTEBOOKS_DIR / f"{path.stem}.ipynb"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="only check that every notebook is up to date")
    args = parser.parse_args(argv)
    stale = []
    for source in sources():
        text = render(source)
        out = target(source)
        current = out.read_text("utf-8") if out.exists() else None
        if current == text:
            continue
        stale.append(out)
        if not args.check:
            out.write_text(text, "utf-8")
            print(f"wrote {out.relative_to(NOTEBOOKS_DIR.parent)}")
    if args.check and stale:
        names = ", ".join(str(p.relative_to(NOTEBOOKS_DIR.parent)) for p in stale)
        print(f"out of date: {names}; run python notebooks/_build/build.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
