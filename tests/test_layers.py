"""The package's shape: DESIGN.md's import direction, a light import, a sane CLI.

Layers, lowest first (DESIGN.md, "Layout"):

    0  siplab (the package itself), siplab.errors, siplab.ids
    1  siplab.sip, siplab.sdp, siplab.rtp     none of the three imports another
    2  siplab.call (and siplab.call_dtmf, siplab.call_refusal)
    3  siplab.aio
    4  siplab.lab
    5  siplab.cli (and its siplab.cli_* subcommand modules), siplab.__main__

A module may import from its own layer or a lower one. The layer-0 modules and
``siplab.sip`` may import nothing from outside siplab but the standard library.
Every module under siplab/ is read with :mod:`ast`, so imports inside
functions and ``if TYPE_CHECKING:`` blocks count too, and relative imports are
resolved. The self-tests at the end feed the checker bad sources, so the rules
cannot pass by checking nothing.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIR = ROOT / "siplab"

# Package (or module) directly under siplab -> layer; "" is siplab/__init__.py.
LAYERS: dict[str, int] = {
    "": 0,
    "errors": 0,
    "ids": 0,
    "compiled_core": 0,  # picks the build of layer 1 the process runs; stdlib only at run time
    "sip": 1,
    "sdp": 1,
    "rtp": 1,
    "call": 2,
    "call_dtmf": 2,
    "call_refusal": 2,
    "aio": 3,
    "lab": 4,
    "cli": 5,
    "cli_server": 5,
    "cli_phone": 5,
    "cli_capture": 5,
    "__main__": 5,
}
# Level-1 cores that must not import each other.
INDEPENDENT_CORES = frozenset({"sip", "sdp", "rtp"})
# Parts of siplab that may import only the standard library (and lower siplab layers).
STDLIB_ONLY = frozenset({"", "errors", "ids", "sip"})

HEAVY_MODULES = ("numpy", "matplotlib", "scapy", "aiortc", "websockets", "ipywidgets")


@dataclass(frozen=True, slots=True)
class Module:
    """One module of siplab: its dotted name, whether it is a package, and its source."""

    name: str
    is_package: bool
    source: str
    path: str


@dataclass(frozen=True, slots=True)
class ImportRef:
    """One imported module, fully resolved (``None`` if a relative import leaves siplab)."""

    target: str | None
    lineno: int
    text: str


def unit_of(name: str) -> str:
    """The layer unit of a dotted siplab name: ``siplab.sip.message`` -> ``sip``."""
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else ""


def discover_modules(package_dir: Path = PACKAGE_DIR) -> list[Module]:
    """Every ``.py`` file under ``package_dir`` as a :class:`Module`."""
    modules = []
    for path in sorted(package_dir.rglob("*.py")):
        relative = path.relative_to(package_dir.parent).with_suffix("")
        parts = list(relative.parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
        modules.append(
            Module(
                name=".".join(parts),
                is_package=is_package,
                source=path.read_text(encoding="utf-8"),
                path=str(path.relative_to(package_dir.parent)),
            )
        )
    return modules


def known_names(package_dir: Path = PACKAGE_DIR) -> frozenset[str]:
    """Dotted names of every module and package directory under ``package_dir``."""
    names = {m.name for m in discover_modules(package_dir)}
    for directory in [package_dir, *(p for p in package_dir.rglob("*") if p.is_dir())]:
        if directory.name != "__pycache__":
            names.add(".".join(directory.relative_to(package_dir.parent).parts))
    return frozenset(names)


def imports_of(module: Module, known: Iterable[str] = ()) -> Iterator[ImportRef]:
    """Yield every module that ``module`` imports, anywhere in its body.

    ``from X import a`` names the submodule ``X.a`` when that is a known module
    (or a layer of siplab), and ``X`` otherwise.
    """
    known = frozenset(known)
    tree = ast.parse(module.source, filename=module.path)
    for node in ast.walk(tree):
        text = ast.unparse(node) if isinstance(node, ast.Import | ast.ImportFrom) else ""
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield ImportRef(alias.name, node.lineno, text)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve_from(module, node)
            if base is None:
                yield ImportRef(None, node.lineno, text)
                continue
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                is_layer = base == "siplab" and alias.name in LAYERS
                yield ImportRef(
                    candidate if candidate in known or is_layer else base, node.lineno, text
                )


def _resolve_from(module: Module, node: ast.ImportFrom) -> str | None:
    if node.level == 0:
        return node.module or ""
    package = module.name.split(".") if module.is_package else module.name.split(".")[:-1]
    if node.level - 1 >= len(package):
        return None
    base = package[: len(package) - (node.level - 1)]
    if node.module:
        base.append(node.module)
    return ".".join(base)


def layer_violations(module: Module, known: Iterable[str] = ()) -> list[str]:
    """Imports of siplab modules that point up the layers or across the cores."""
    unit = unit_of(module.name)
    where = f"{module.path}"
    if unit not in LAYERS:
        return [
            f"{where}: {module.name} is in no layer; add {unit!r} to LAYERS in "
            "tests/test_layers.py (and to DESIGN.md)"
        ]
    found = []
    for ref in imports_of(module, known):
        at = f"{where}:{ref.lineno}: `{ref.text}`"
        if ref.target is None:
            found.append(f"{at} reaches above the siplab package")
            continue
        if ref.target != "siplab" and not ref.target.startswith("siplab."):
            continue
        target_unit = unit_of(ref.target)
        if target_unit == unit:
            continue
        if target_unit not in LAYERS:
            found.append(f"{at} imports {ref.target}, which is in no layer")
        elif LAYERS[target_unit] > LAYERS[unit]:
            found.append(
                f"{at} points up: siplab.{unit or '__init__'} (layer {LAYERS[unit]}) "
                f"imports {ref.target} (layer {LAYERS[target_unit]})"
            )
        elif unit in INDEPENDENT_CORES and target_unit in INDEPENDENT_CORES:
            found.append(
                f"{at} couples two cores: siplab.{unit} imports {ref.target}; "
                "sip, sdp and rtp must not import each other"
            )
    return found


def stdlib_violations(module: Module, known: Iterable[str] = ()) -> list[str]:
    """Imports from outside the standard library in a stdlib-only part of siplab."""
    if unit_of(module.name) not in STDLIB_ONLY:
        return []
    found = []
    for ref in imports_of(module, known):
        if ref.target is None or ref.target == "siplab" or ref.target.startswith("siplab."):
            continue
        top = ref.target.split(".")[0]
        if top not in sys.stdlib_module_names:
            found.append(
                f"{module.path}:{ref.lineno}: `{ref.text}` imports {top}, which is not in "
                "the standard library"
            )
    return found


# --- the real tree -------------------------------------------------------------


def test_every_module_is_found_and_parses() -> None:
    modules = {m.name for m in discover_modules()}
    assert {"siplab", "siplab.cli", "siplab.errors", "siplab.ids"} <= modules
    for module in discover_modules():
        ast.parse(module.source, filename=module.path)


def test_imports_point_down_the_layers() -> None:
    known = known_names()
    found = [v for m in discover_modules() for v in layer_violations(m, known)]
    assert not found, "imports against DESIGN.md's layers:\n" + "\n".join(found)


def test_core_packages_import_only_the_standard_library() -> None:
    known = known_names()
    found = [v for m in discover_modules() for v in stdlib_violations(m, known)]
    assert not found, "the core must use only the standard library:\n" + "\n".join(found)


def test_import_siplab_is_light() -> None:
    code = textwrap.dedent(
        f"""
        import importlib.util, json, sys
        import siplab, siplab.cli
        if importlib.util.find_spec("siplab.sip") is not None:
            import siplab.sip
        heavy = {list(HEAVY_MODULES)!r}
        print(json.dumps(sorted(name for name in heavy if name in sys.modules)))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [], "heavy modules imported by `import siplab`"


# --- the command line ----------------------------------------------------------


def run_siplab(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "siplab", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_help_exits_zero() -> None:
    result = run_siplab("--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: siplab")


def test_cli_version_prints_the_package_version() -> None:
    import siplab

    result = run_siplab("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"siplab {siplab.__version__}"


def test_cli_bad_argument_gives_one_line_error() -> None:
    result = run_siplab("--bogus")
    assert result.returncode != 0
    assert result.stdout == ""
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("siplab: error:"), result.stderr
    assert "Traceback" not in result.stderr


# --- the checker catches what it should (so the tests above cannot pass vacuously)


def fake(name: str, source: str, *, is_package: bool = False) -> Module:
    return Module(name, is_package, textwrap.dedent(source), f"<fake {name}>")


FAKE_KNOWN = frozenset({"siplab", "siplab.sip", "siplab.sip.message", "siplab.sip.grammar"})


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        pytest.param(
            fake("siplab.sip.message", "from siplab.lab import ladder\n"),
            "points up",
            id="absolute-upward",
        ),
        pytest.param(
            fake("siplab.sip.message", "def f():\n    from ..aio import transport\n"),
            "siplab.aio",
            id="relative-upward-inside-a-function",
        ),
        pytest.param(
            fake("siplab.call", "from siplab import cli\n"),
            "siplab.cli",
            id="from-siplab-import-a-higher-layer",
        ),
        pytest.param(
            fake("siplab.sdp.model", "import siplab.sip.message\n"),
            "couples two cores",
            id="core-imports-core",
        ),
        pytest.param(
            fake("siplab.rtp", "from ..sip import message\n", is_package=True),
            "couples two cores",
            id="core-package-relative-import",
        ),
        pytest.param(
            fake("siplab.errors", "from .ids import IdSource\nimport siplab.sip\n"),
            "points up",
            id="level-0-imports-level-1",
        ),
        pytest.param(
            fake("siplab.sip.message", "from .... import x\n"),
            "above the siplab package",
            id="relative-import-leaves-siplab",
        ),
        pytest.param(
            fake("siplab.gadgets", "import os\n"),
            "in no layer",
            id="module-outside-every-layer",
        ),
    ],
)
def test_layer_checker_reports_an_upward_import(module: Module, expected: str) -> None:
    found = layer_violations(module, FAKE_KNOWN)
    assert len(found) >= 1
    assert expected in found[-1]


@pytest.mark.parametrize(
    "module",
    [
        pytest.param(fake("siplab.sip.message", "import numpy as np\n"), id="numpy-at-top"),
        pytest.param(
            fake("siplab.ids", "def f():\n    from websockets import connect\n"),
            id="websockets-in-a-function",
        ),
        pytest.param(
            fake("siplab.sip.auth", "if TYPE_CHECKING:\n    import scapy.all\n"),
            id="scapy-under-type-checking",
        ),
    ],
)
def test_stdlib_checker_reports_a_third_party_import(module: Module) -> None:
    found = stdlib_violations(module, FAKE_KNOWN)
    assert len(found) == 1
    assert "not in the standard library" in found[0]


def test_checkers_accept_imports_that_follow_the_design() -> None:
    core = fake(
        "siplab.sip.message",
        """\
        from __future__ import annotations
        import re
        from collections.abc import Mapping
        from . import grammar
        from .grammar import token
        from ..errors import SipParseError
        from siplab.ids import IdSource
        """,
    )
    driver = fake(
        "siplab.aio.transport",
        """\
        import asyncio
        import websockets
        from ..sip import message
        from siplab import call, errors
        """,
    )
    assert layer_violations(core, FAKE_KNOWN) == []
    assert stdlib_violations(core, FAKE_KNOWN) == []
    assert layer_violations(driver, FAKE_KNOWN) == []
    assert stdlib_violations(driver, FAKE_KNOWN) == []  # aio may use third-party libraries
    assert [ref.target for ref in imports_of(core, FAKE_KNOWN)][3:5] == [
        "siplab.sip.grammar",
        "siplab.sip.grammar",
    ]
