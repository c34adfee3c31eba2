"""The SIP core compiled to C with mypyc, for a server that must go fast.

Everything siplab does runs as plain Python by default: that is the code the
course reads and steps through. The modules a server's hot path runs through
(parsing, headers, transactions, digest, the registrar) are also written so
that mypyc, the compiler that ships with mypy, can compile them into C
extension modules: the same source, type-checked, with the same behaviour,
running about twice as fast. aiohttp and websockets ship speedups the same
way, next to their plain-Python code.

The build goes to ``build/compiled/`` in the checkout, never next to the
``.py`` files, so an edited source is never shadowed by an old build::

    python -m siplab.compiled_core build    # scripts/install.sh does this
    SIPLAB_COMPILED=1 siplab server ...     # this process runs the build

With ``SIPLAB_COMPILED=1`` (the benchmark and the load test set it),
:func:`use_compiled_core` puts the build in front of ``siplab.sip``'s module
path; a missing build, or one made from other sources than these, is an
error rather than a silent fall back to plain Python. ``siplab.sip.native``
tells each module which way it runs.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

__all__ = [
    "BUILD_DIR",
    "COMPILED_MODULES",
    "CompiledCoreError",
    "build",
    "is_built",
    "source_digest",
    "use_compiled_core",
    "wanted",
]

_PACKAGE_DIR = Path(__file__).resolve().parent
#: Where ``build`` writes the extension modules (the checkout's build/ is git-ignored).
BUILD_DIR = _PACKAGE_DIR.parent / "build" / "compiled"
#: The modules of siplab.sip that are compiled: the server's path through the core.
#: The user agent's modules and the event classes stay Python: the UA's are
#: not on a server's path, and the tests subclass and patch some of them.
COMPILED_MODULES = (
    "addressing", "auth", "auth_headers", "auth_server", "auth_throttle", "build",
    "framing", "grammar", "header_block", "header_list", "headers", "location",
    "message", "message_fields", "native", "nonce_counts", "proxy", "registrar",
    "routing", "server", "status", "timers", "transaction", "transaction_layer", "transport", "uri",
)
_DIGEST_FILE = "SOURCE_DIGEST"
_GROUP = "siplab_core"  # mypyc's shared library is <group>__mypyc, found on sys.path


class CompiledCoreError(ImportError):
    """SIPLAB_COMPILED=1, but the compiled core cannot be used (one line says why)."""


def wanted() -> bool:
    """True when this process asked for the compiled core (``SIPLAB_COMPILED=1``)."""
    return os.environ.get("SIPLAB_COMPILED", "0") not in ("", "0")


def _sources() -> list[Path]:
    return [_PACKAGE_DIR / "sip" / f"{name}.py" for name in COMPILED_MODULES]


def source_digest() -> str:
    """SHA-256 over the compiled modules' sources and this Python's version."""
    digest = hashlib.sha256(sys.version.encode())
    for path in _sources():
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def is_built(build_dir: Path = BUILD_DIR) -> bool:
    """True when ``build_dir`` holds a build of exactly these sources for this Python."""
    digest_file = build_dir / _DIGEST_FILE
    return digest_file.is_file() and digest_file.read_text().strip() == source_digest()


def use_compiled_core(sip_path: list[str], build_dir: Path = BUILD_DIR) -> bool:
    """Put the compiled modules in front of ``siplab.sip.__path__`` when asked to.

    Called by ``siplab/sip/__init__.py`` before it imports any module; returns
    whether the build is in use. Raises :class:`CompiledCoreError` when it
    was asked for and is missing or stale.
    """
    if not wanted():
        return False
    if not (build_dir / _DIGEST_FILE).is_file():
        raise CompiledCoreError(
            f"SIPLAB_COMPILED=1 but there is no compiled core in {build_dir}: "
            "run `python -m siplab.compiled_core build` (needs gcc and mypy)")
    if not is_built(build_dir):
        raise CompiledCoreError(
            f"SIPLAB_COMPILED=1 but the compiled core in {build_dir} was built from other "
            "sources (or another Python): run `python -m siplab.compiled_core build` again")
    sip_path.insert(0, str(build_dir / "siplab" / "sip"))
    if str(build_dir) not in sys.path:
        sys.path.append(str(build_dir))  # for the shared library the modules load
    return True


def build(build_dir: Path = BUILD_DIR) -> None:
    """Compile :data:`COMPILED_MODULES` with mypyc into ``build_dir`` (about a minute)."""
    from mypyc.build import mypycify  # the build's own dependencies, only here
    from setuptools import setup  # type: ignore[import-untyped]

    root = _PACKAGE_DIR.parent
    temp = build_dir.parent / "compiled-temp"
    cwd = os.getcwd()
    os.chdir(root)  # mypyc names the modules by their paths from here
    try:
        paths = [str(path.relative_to(root)) for path in _sources()]
        setup(
            name="siplab-compiled-core",
            ext_modules=mypycify(paths, opt_level="3", group_name=_GROUP,
                                  target_dir=str(temp / "c")),
            script_args=["--quiet", "build_ext", "--build-lib", str(build_dir),
                         "--build-temp", str(temp)],
        )
    finally:
        os.chdir(cwd)
    (build_dir / _DIGEST_FILE).write_text(source_digest() + "\n")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args not in (["build"], ["build", "--force"]):
        print("usage: python -m siplab.compiled_core build [--force]", file=sys.stderr)
        return 2
    if is_built() and "--force" not in args:
        print(f"compiled core: up to date in {BUILD_DIR}")
        return 0
    build()
    print(f"compiled core: {len(COMPILED_MODULES)} modules compiled into {BUILD_DIR}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
