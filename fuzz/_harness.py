"""What every fuzz/fuzz_*.py script shares: atheris when it is there, a plain loop when not.

Each script names one oracle of ``tests/fuzz/targets.py`` (the same functions
the hypothesis suite in ``tests/fuzz/`` runs) and calls :func:`main`:

* **atheris** (coverage-guided, libFuzzer underneath): the siplab modules are
  imported with coverage instrumentation, the seed corpus of
  ``tests/fuzz/seeds.py`` is written into ``fuzz/corpus/<target>/`` (where
  libFuzzer also keeps what it discovers), crashes go to ``fuzz/crashes/``.
  Every libFuzzer flag works: ``-max_total_time=60``, ``-runs=1000``,
  ``-jobs=2``, or a crash file to replay.
* **--fallback** (or atheris not installed): a random-mutation loop over the
  same seeds with ``tests/fuzz/mutate.py``; it understands ``-max_total_time=N``,
  ``-runs=N`` and ``-seed=N``, and replays files given as arguments. It finds
  shallower bugs than atheris but needs nothing beyond the standard library.

An exception the oracle does not allow stops the run with the input saved and
the traceback printed: that is a bug to fix (see fuzz/README.md).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import random
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # the scripts run as `python fuzz/fuzz_x.py` from anywhere
    sys.path.insert(0, str(ROOT))

from tests.fuzz.mutate import mutate  # noqa: E402

__all__ = ["instrumented", "main", "CORPUS_DIR", "CRASH_DIR"]

CORPUS_DIR = ROOT / "fuzz" / "corpus"
CRASH_DIR = ROOT / "fuzz" / "crashes"


@functools.cache
def _use_atheris() -> bool:
    if "--fallback" in sys.argv:
        return False
    try:
        import atheris  # noqa: F401
    except ImportError:
        print("atheris is not installed (pip install -e '.[fuzz]'); "
              "using the random-mutation fallback", file=sys.stderr)
        return False
    return True


@contextlib.contextmanager
def instrumented() -> Iterator[None]:
    """Import siplab inside this block so that atheris sees which branches an input takes."""
    if _use_atheris():
        import atheris

        with atheris.instrument_imports(include=["siplab"]):
            yield
    else:
        yield


def _write_seeds(name: str, seeds: list[bytes]) -> Path:
    folder = CORPUS_DIR / name
    folder.mkdir(parents=True, exist_ok=True)
    for seed in seeds:
        path = folder / ("seed-" + hashlib.sha1(seed).hexdigest()[:16])
        if not path.exists():
            path.write_bytes(seed)
    return folder


def _flag(args: list[str], name: str, default: int) -> int:
    for arg in args:
        if arg.startswith(f"-{name}="):
            return int(arg.split("=", 1)[1])
    return default


def _fallback(name: str, target: Callable[[bytes], None], corpus: Path, args: list[str]) -> int:
    files = [Path(arg) for arg in args if not arg.startswith("-") and Path(arg).is_file()]
    if files:  # replay crash files, as libFuzzer does
        for path in files:
            target(path.read_bytes())
            print(f"{path}: no failure")
        return 0
    seconds = _flag(args, "max_total_time", 60)
    runs = _flag(args, "runs", -1)
    rng = random.Random(_flag(args, "seed", int(time.time())))
    pool = [path.read_bytes() for path in sorted(corpus.iterdir()) if path.is_file()] or [b""]
    started = time.monotonic()
    deadline = started + seconds
    done = 0
    while (runs < 0 or done < runs) and time.monotonic() < deadline:
        data = mutate(rng.choice(pool), rng) if rng.random() < 0.97 else rng.randbytes(
            rng.randrange(64))
        try:
            target(data)
        except Exception:
            CRASH_DIR.mkdir(parents=True, exist_ok=True)
            path = CRASH_DIR / f"{name}-crash-{hashlib.sha1(data).hexdigest()[:16]}"
            path.write_bytes(data)
            traceback.print_exc()
            print(f"\n{name}: failure after {done} inputs; input saved to {path}",
                  file=sys.stderr)
            return 1
        done += 1
    print(f"{name}: {done} inputs in {time.monotonic() - started:.0f} s (fallback mutator), "
          "no failure")
    return 0


def main(name: str, target: Callable[[bytes], None], seeds: list[bytes]) -> None:
    """Fuzz ``target`` (an oracle of tests/fuzz/targets.py) starting from ``seeds``."""
    corpus = _write_seeds(name, seeds)
    args = [arg for arg in sys.argv[1:] if arg != "--fallback"]
    if not _use_atheris():
        sys.exit(_fallback(name, target, corpus, args))
    import atheris

    CRASH_DIR.mkdir(parents=True, exist_ok=True)
    if not any(arg.startswith("-artifact_prefix=") for arg in args):
        args.append(f"-artifact_prefix={CRASH_DIR}/{name}-")
    if not any(not arg.startswith("-") for arg in args):
        args.append(str(corpus))  # libFuzzer reads the seeds and adds what it finds
    atheris.Setup([sys.argv[0], *args], target)
    atheris.Fuzz()
