"""Reading a Dockerfile the way ``docker build`` does, for tests that cannot build it.

No Docker engine runs where the tests run, so ``tests/docker`` replays the parts
of ``docker/Dockerfile`` that matter without one: the ``COPY`` instructions (into
a temporary folder standing for the image's ``WORKDIR``) and the ``RUN`` that
calls ``scripts/install.sh``, with the ``ARG``/``ENV`` values in force at that
point and the variables set on the command line itself.

Only the Dockerfile syntax the project uses is understood: instructions with
``\\`` continuations, comment lines (also inside a continuation, as Docker
allows), ``RUN`` flags such as ``--mount=...``, ``COPY --chown=... SRC... DEST``,
``ENV K=V ...`` and ``ARG K=V``. Anything else fails loudly rather than being
guessed at.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

__all__ = [
    "ROOT",
    "LAB_DOCKERFILE",
    "Instruction",
    "Copy",
    "InstallStep",
    "read_instructions",
    "parse_copy",
    "install_step",
    "exposed_ports",
    "repository_files",
    "replay_copies",
]

ROOT = Path(__file__).resolve().parents[2]
LAB_DOCKERFILE = ROOT / "docker" / "Dockerfile"
INSTALL_SCRIPT = "scripts/install.sh"

_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


@dataclass(frozen=True, slots=True)
class Instruction:
    """One instruction: ``RUN``, ``COPY``... and the rest of its (joined) line."""

    keyword: str
    arguments: str
    line: int  # where it starts, 1-based


@dataclass(frozen=True, slots=True)
class Copy:
    """``COPY [--flags] SRC... DEST``: sources in the build context, a destination."""

    sources: tuple[str, ...]
    destination: str


@dataclass(frozen=True, slots=True)
class InstallStep:
    """The ``RUN`` that calls scripts/install.sh, and what the image holds by then."""

    command: str  # the shell command of the RUN, flags removed
    environment: dict[str, str]  # ARG defaults and ENV before it, then `NAME=value` in it
    argv: list[str]  # the install command itself: ["bash", "scripts/install.sh", ...]
    workdir: str  # WORKDIR in force (the repository copy)
    base_image: str  # FROM
    copies_before: list[Copy] = field(default_factory=list)
    copies_after: list[Copy] = field(default_factory=list)


def read_instructions(path: Path) -> list[Instruction]:
    """The instructions of a Dockerfile, continuations joined, comments dropped."""
    instructions: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not pending):
            continue  # a comment (Docker drops them inside continuations too), or a gap
        if not pending:
            start = number
        continued = stripped.endswith("\\")
        pending.append(stripped[:-1].strip() if continued else stripped)
        if not continued:
            text = " ".join(part for part in pending if part)
            keyword, _, arguments = text.partition(" ")
            instructions.append(Instruction(keyword.upper(), arguments.strip(), start))
            pending = []
    if pending:
        raise ValueError(f"{path}: the instruction at line {start} ends with a continuation")
    return instructions


def _without_flags(arguments: str) -> str:
    """Drop leading ``--flag=value`` words (``RUN --mount=...``, ``COPY --chown=...``)."""
    while arguments.startswith("--"):
        _, _, arguments = arguments.partition(" ")
        arguments = arguments.lstrip()
    return arguments


def parse_copy(instruction: Instruction) -> Copy:
    """``COPY`` in shell form (the exec form ``["a", "b"]`` is not used here)."""
    words = shlex.split(_without_flags(instruction.arguments))
    if len(words) < 2 or instruction.arguments.lstrip().startswith("["):
        raise ValueError(f"line {instruction.line}: cannot read COPY {instruction.arguments!r}")
    return Copy(tuple(words[:-1]), words[-1])


def _assignments(arguments: str) -> dict[str, str]:
    """``ENV A=1 B="two words"`` or ``ARG A=1`` (an ARG without a default sets nothing)."""
    values: dict[str, str] = {}
    for word in shlex.split(arguments):
        name, equals, value = word.partition("=")
        if equals:
            values[name] = value
    return values


def _shell_segments(command: str) -> list[list[str]]:
    """The simple commands of ``a && b && c``, each as shell words (quotes removed)."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    segments: list[list[str]] = [[]]
    for word in lexer:
        if word in ("&&", ";", "||"):
            segments.append([])
        elif set(word) <= set("|&;<>()"):
            raise ValueError(f"cannot replay the shell operator {word!r} in {command!r}")
        else:
            segments[-1].append(word)
    return [segment for segment in segments if segment]


def install_step(path: Path = LAB_DOCKERFILE) -> InstallStep:
    """Find the one ``RUN`` that calls scripts/install.sh and what surrounds it."""
    environment: dict[str, str] = {}
    workdir = "/"
    base_image = ""
    copies: list[Copy] = []
    found: InstallStep | None = None
    for instruction in read_instructions(path):
        if instruction.keyword == "FROM":
            base_image = instruction.arguments.split()[0]
        elif instruction.keyword in ("ARG", "ENV") and found is None:
            environment.update(_assignments(instruction.arguments))
        elif instruction.keyword == "WORKDIR" and found is None:
            workdir = str(PurePosixPath(workdir) / instruction.arguments)
        elif instruction.keyword == "COPY":
            copies.append(parse_copy(instruction))
        elif instruction.keyword == "RUN" and INSTALL_SCRIPT in instruction.arguments:
            if found is not None:
                raise ValueError(f"{path}: more than one RUN calls {INSTALL_SCRIPT}")
            command = _without_flags(instruction.arguments)
            (segment,) = [s for s in _shell_segments(command)
                          if any(word.endswith(INSTALL_SCRIPT) for word in s)]
            variables = {}
            while segment and _ASSIGNMENT.match(segment[0]):
                name, _, value = segment.pop(0).partition("=")
                variables[name] = value
            found = InstallStep(command, {**environment, **variables}, segment, workdir,
                                base_image, copies_before=copies)
            copies = []
    if found is None:
        raise ValueError(f"{path}: no RUN calls {INSTALL_SCRIPT}")
    found.copies_after.extend(copies)
    return found


def exposed_ports(path: Path) -> set[str]:
    """``EXPOSE 5060/udp 8888`` -> {"5060/udp", "8888/tcp"}."""
    ports: set[str] = set()
    for instruction in read_instructions(path):
        if instruction.keyword == "EXPOSE":
            ports.update(p if "/" in p else f"{p}/tcp" for p in instruction.arguments.split())
    return ports


def repository_files(root: Path = ROOT) -> list[str]:
    """The files a build context would send: tracked or new, never git-ignored ones
    (.venv, caches, node_modules, build output), as paths relative to ``root``."""
    listing = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=root, capture_output=True, check=True, timeout=30)
    names = [name for name in listing.stdout.decode("utf-8").split("\0") if name]
    # web/node_modules is ignored by the Dockerfile's ignore file, not by git.
    return [name for name in names
            if (root / name).is_file() and not name.startswith("web/node_modules/")]


def replay_copies(copies: list[Copy], workdir: str, target: Path,
                  files: list[str] | None = None, root: Path = ROOT) -> list[Path]:
    """Do what ``COPY`` does into ``target``, which stands for ``workdir``.

    A folder source copies its contents into the destination folder; file sources
    go into a destination ending in "/" (or become it). Destinations outside
    ``workdir`` (``/usr/local/bin/...``) are left out: they are not the repository.
    Returns the files written.
    """
    files = repository_files(root) if files is None else files
    written: list[Path] = []
    for copy in copies:
        destination = PurePosixPath(workdir) / copy.destination
        try:
            relative = destination.relative_to(workdir)
        except ValueError:
            continue
        for source in copy.sources:
            source = source.rstrip("/")
            if (root / source).is_dir():
                inside = [name for name in files if name.startswith(f"{source}/")]
                if not inside:
                    raise FileNotFoundError(f"COPY {source}/: nothing there to copy")
                pairs = [(name, Path(relative) / name[len(source) + 1:]) for name in inside]
            elif (root / source).is_file():
                into_folder = copy.destination.endswith("/") or len(copy.sources) > 1
                name = Path(relative) / PurePosixPath(source).name if into_folder else relative
                pairs = [(source, Path(name))]
            else:
                raise FileNotFoundError(f"COPY {source}: no such file in the build context")
            for name, where in pairs:
                (target / where).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(root / name, target / where)
                written.append(target / where)
    return written
