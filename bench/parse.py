"""How fast, and how right, siplab reads SIP messages, next to the alternatives.

Run it from the repository root::

    .venv/bin/python bench/parse.py              # about a minute
    .venv/bin/python bench/parse.py --quick      # a few seconds, for CI smoke runs
    .venv/bin/python bench/parse.py --repeat 9 --json parse.json

Every parser reads the message corpus of ``tests/sip/corpus`` (realistic
requests and responses, some with compact forms, folding or odd spacing) at
three levels (see ``bench/_peers.py``): *parse*, *fields* (parse and read
Call-ID, CSeq number, From and To tags, the top Via's branch and the Via count
— what a transaction layer needs on every message, RFC 3261 §17.1.3, §17.2.3)
and *roundtrip* (parse and write back to bytes). The rows are siplab, a bare
split of the text that validates nothing (the floor), and the pure-Python SIP
parsers one would otherwise take from PyPI.

Correctness: each parser's fields are compared, message by message, with a
slow reference reading written straight from the RFC grammar
(``bench/_reference.py``, no siplab code). Speed: messages per second over the
whole corpus, cycling through it, best of ``--repeat`` runs of at least
``--min-time`` seconds each, timed with ``time.perf_counter`` and the garbage
collector left on (a server runs with it). A parser's rate counts only the
messages it handled without raising; a rate marked ``*`` is over a subset.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench._peers import LEVELS, Adapter, Fields, load_adapters  # noqa: E402
from bench._reference import reference_body, reference_fields  # noqa: E402
from tests.sip.corpus_loader import load_corpus  # noqa: E402

__all__ = ["main"]

FIELD_NAMES = ("call_id", "cseq", "from_tag", "to_tag", "branch", "via_count")
#: The issue's speed target: typed fields at this share of the bare split's parse rate.
TARGET_SHARE_OF_BARE = 0.50
SIPLAB = "siplab"
BARE = "bare split"


@dataclass
class Row:
    """What one parser did: its rates and the messages it got wrong."""

    adapter: Adapter
    #: level -> names of the messages it handled without an exception.
    handled: dict[str, list[str]] = field(default_factory=dict)
    #: level -> messages per second (None when n/a or nothing was handled).
    rate: dict[str, float | None] = field(default_factory=dict)
    #: message name -> short reason, for every message whose fields are not right.
    wrong: dict[str, str] = field(default_factory=dict)
    #: message name -> short reason, for round trips that change what the message says.
    roundtrip_wrong: dict[str, str] = field(default_factory=dict)


# -- correctness ------------------------------------------------------------------------


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence libraries that print while they parse (sippy reports short bodies)."""
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        yield


def _exc(exc: BaseException) -> str:
    return type(exc).__name__


def _diff(got: Fields, want: Fields) -> str:
    for name, g, w in zip(FIELD_NAMES, got, want, strict=True):
        if g != w:
            return f"{name} {g!r} != {w!r}"
    return "?"


def check(row: Row, corpus: dict[str, bytes], expected: dict[str, Fields],
          bodies: dict[str, bytes]) -> None:
    """Run every level once on every message; record what raised and what is wrong."""
    a = row.adapter
    for level in LEVELS:
        fn = a.level(level)
        if fn is None:
            continue
        handled = row.handled.setdefault(level, [])
        for name, data in corpus.items():
            try:
                with _quiet():
                    result = fn(data)
            except Exception as exc:
                if level == "parse":
                    row.wrong[name] = f"parse: {_exc(exc)}"
                elif level == "fields":
                    row.wrong.setdefault(name, f"fields: {_exc(exc)}")
                else:
                    row.roundtrip_wrong[name] = f"raised {_exc(exc)}"
                continue
            handled.append(name)
            if level == "fields" and result != expected[name]:
                row.wrong.setdefault(name, _diff(result, expected[name]))
            elif level == "roundtrip":
                problem = _roundtrip_problem(result, expected[name], bodies[name])
                if problem:
                    row.roundtrip_wrong[name] = problem
    if a.fields is None:
        for name in corpus:
            row.wrong.setdefault(name, "cannot read fields")


def _roundtrip_problem(output: bytes, want: Fields, body: bytes) -> str | None:
    """Why the written message no longer says the same thing, or None if it does."""
    try:
        got = reference_fields(output)
        got_body = reference_body(output)
    except Exception as exc:
        return f"output unreadable ({exc})"
    if got != want:
        return _diff(got, want)
    if got_body != body:
        return f"body {len(got_body)} bytes != {len(body)}"
    return None


# -- timing -----------------------------------------------------------------------------


def _run(fn: Callable[[bytes], Any], messages: Sequence[bytes], loops: int) -> float:
    perf_counter = time.perf_counter
    start = perf_counter()
    for _ in range(loops):
        for data in messages:
            fn(data)
    return perf_counter() - start


@dataclass
class Cell:
    """One (parser, level) measurement: how many corpus loops make a run, and the best run."""

    row: Row
    level: str
    fn: Callable[[bytes], Any]
    messages: list[bytes]
    loops: int = 1
    best: float = float("inf")  # seconds per loop

    def calibrate(self, min_time: float) -> None:
        """Find a loop count that lasts at least ``min_time`` (as timeit.autorange does)."""
        elapsed = _run(self.fn, self.messages, self.loops)
        while elapsed < min_time:
            guess = int(self.loops * min_time / max(elapsed, 1e-6) * 1.1) + 1
            self.loops = max(self.loops * 2, min(guess, self.loops * 100))
            elapsed = _run(self.fn, self.messages, self.loops)
        self.best = elapsed / self.loops

    def time_once(self) -> None:
        self.best = min(self.best, _run(self.fn, self.messages, self.loops) / self.loops)


def measure(rows: list[Row], corpus: dict[str, bytes], repeat: int, min_time: float) -> None:
    """Fill in every row's rates.

    The repeats go round-robin over all the cells rather than one cell at a time, so
    a burst of load from something else on the machine hits every parser alike
    instead of ruining one row.
    """
    cells: list[Cell] = []
    for row in rows:
        for level in LEVELS:
            fn = row.adapter.level(level)
            names = row.handled.get(level, [])
            row.rate[level] = None
            if fn is not None and names and not row.adapter.unavailable:
                cells.append(Cell(row, level, fn, [corpus[n] for n in names]))
    with _quiet():
        for cell in cells:
            cell.calibrate(min_time)
        for _ in range(repeat - 1):
            for cell in cells:
                cell.time_once()
    for cell in cells:
        cell.row.rate[cell.level] = len(cell.messages) / cell.best


# -- report -----------------------------------------------------------------------------


def _cpu_name() -> str:
    name = platform.processor()
    if name and name != platform.machine():
        return name
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return name or platform.machine()


def environment() -> dict[str, Any]:
    return {
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
    }


def _fmt_rate(row: Row, level: str, total: int) -> str:
    a = row.adapter
    if a.unavailable:
        return "-"
    value = row.rate.get(level)
    if level in a.missing:
        return "n/a"
    if value is None:
        return "0 (all raise)"
    star = "*" if len(row.handled.get(level, [])) < total else ""
    return f"{value:,.0f}{star}"


def table(rows: list[Row], total: int) -> list[str]:
    bare = next(r for r in rows if r.adapter.name == BARE)
    siplab = next(r for r in rows if r.adapter.name == SIPLAB)
    bare_parse = bare.rate.get("parse")
    siplab_fields = siplab.rate.get("fields")
    header = ("parser", "version", "parse msg/s", "fields msg/s", "roundtrip msg/s",
              "fields % bare", "siplab/peer", "wrong/total")
    lines: list[tuple[str, ...]] = [header]
    for row in rows:
        a = row.adapter
        fields_rate = row.rate.get("fields")
        share = ratio = "-"
        if fields_rate and bare_parse:
            share = f"{100 * fields_rate / bare_parse:.0f}%"
        if fields_rate and siplab_fields and a.name != SIPLAB:
            ratio = f"{siplab_fields / fields_rate:.1f}x"
        wrong = "-" if a.unavailable else f"{len(row.wrong)}/{total}"
        lines.append((a.name, a.version, _fmt_rate(row, "parse", total),
                      _fmt_rate(row, "fields", total), _fmt_rate(row, "roundtrip", total),
                      share, ratio, wrong))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = []
    for n, line in enumerate(lines):
        cells = [line[0].ljust(widths[0]), line[1].ljust(widths[1])]
        cells += [cell.rjust(width) for cell, width in zip(line[2:], widths[2:], strict=True)]
        out.append("  ".join(cells))
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return out


def targets(rows: list[Row], total: int, reference_ok: bool) -> list[tuple[bool, str]]:
    """The issue's targets for siplab, as (passed, sentence) pairs."""
    siplab = next(r for r in rows if r.adapter.name == SIPLAB)
    bare = next(r for r in rows if r.adapter.name == BARE)
    out: list[tuple[bool, str]] = []
    right = total - len(siplab.wrong)
    out.append((not siplab.wrong and reference_ok,
                f"siplab reads {right}/{total} corpus messages correctly"))
    fields_rate = siplab.rate.get("fields") or 0.0
    bare_parse = bare.rate.get("parse") or 0.0
    share = fields_rate / bare_parse if bare_parse else 0.0
    out.append((share >= TARGET_SHARE_OF_BARE,
                f"siplab reads typed fields at {100 * share:.0f}% of the bare split's parse "
                f"rate (target >= {100 * TARGET_SHARE_OF_BARE:.0f}%)"))
    peers = [r for r in rows if r.adapter.name not in (SIPLAB, BARE)
             and not r.adapter.unavailable and r.rate.get("fields")]
    if not peers:
        out.append((False, "no peer could be measured, so 'faster than every peer' is untested"))
    else:
        slowest = min(peers, key=lambda r: fields_rate / (r.rate.get("fields") or 1.0))
        margin = fields_rate / (slowest.rate.get("fields") or 1.0)
        out.append((margin > 1.0,
                    f"siplab reads typed fields faster than every peer "
                    f"(closest: {slowest.adapter.name}, siplab {margin:.1f}x)"))
    return out


def report(rows: list[Row], corpus: dict[str, bytes], env: dict[str, Any],
           args: argparse.Namespace, reference_disagreements: dict[str, str]) -> list[str]:
    total = len(corpus)
    out = [
        "SIP parser benchmark (bench/parse.py)",
        f"python {env['python']} on {env['platform']}",
        f"cpu {env['cpu']} x {env['cpu_count']}, {env['date']}",
        f"corpus: {total} messages from tests/sip/corpus, {sum(map(len, corpus.values())):,} "
        f"bytes; best of {args.repeat} runs of >= {args.min_time:g} s per cell",
        "",
        *table(rows, total),
        "",
        "msg/s counts only the messages a parser handled without an exception;",
        "'*' marks a rate over that subset. 'fields % bare' is the fields rate as a share of",
        "the bare split's parse rate; 'siplab/peer' is siplab's fields rate over the row's.",
        "wrong = raised, or a typed field differs from the reference reading.",
        "",
        "Messages each parser got wrong:",
    ]
    for row in rows:
        a = row.adapter
        if a.unavailable:
            out.append(f"  {a.name}: skipped, {a.unavailable}")
            continue
        if not row.wrong:
            out.append(f"  {a.name}: none")
            continue
        items = ", ".join(f"{n} ({row.wrong[n]})" for n in corpus if n in row.wrong)
        out.append(f"  {a.name}: {len(row.wrong)}/{total}: {items}")
    out.append("")
    out.append("Round trips whose output means something else (re-read by the reference):")
    for row in rows:
        a = row.adapter
        if a.unavailable:
            continue
        if "roundtrip" in a.missing:
            out.append(f"  {a.name}: n/a, {a.missing['roundtrip']}")
        elif not row.roundtrip_wrong:
            out.append(f"  {a.name}: none")
        else:
            items = ", ".join(
                f"{n} ({row.roundtrip_wrong[n]})" for n in corpus if n in row.roundtrip_wrong
            )
            out.append(f"  {a.name}: {len(row.roundtrip_wrong)}/{total}: {items}")
    if reference_disagreements:
        out.append("")
        out.append("siplab and the reference reading disagree (a bug in one of them):")
        out.extend(f"  {n}: {why}" for n, why in reference_disagreements.items())
    out.append("")
    for passed, sentence in targets(rows, total, not reference_disagreements):
        out.append(f"{'PASS' if passed else 'FAIL'}: {sentence}")
    return out


def to_json(rows: list[Row], corpus: dict[str, bytes], env: dict[str, Any],
            args: argparse.Namespace, reference_disagreements: dict[str, str]) -> dict[str, Any]:
    total = len(corpus)
    return {
        "environment": env,
        "settings": {"repeat": args.repeat, "min_time": args.min_time, "quick": args.quick},
        "corpus": sorted(corpus),
        "parsers": [
            {
                "name": r.adapter.name,
                "version": r.adapter.version,
                "unavailable": r.adapter.unavailable,
                "missing": r.adapter.missing,
                "msgs_per_s": r.rate,
                "handled": {level: len(names) for level, names in r.handled.items()},
                "wrong": r.wrong,
                "roundtrip_wrong": r.roundtrip_wrong,
            }
            for r in rows
        ],
        "reference_disagreements": reference_disagreements,
        "targets": [
            {"passed": p, "what": s}
            for p, s in targets(rows, total, not reference_disagreements)
        ],
    }


# -- main -------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, metavar="N",
                        help="timed runs per cell, the best one counts (default 5)")
    parser.add_argument("--min-time", type=float, default=0.3, metavar="S",
                        help="seconds each timed run lasts at least (default 0.3)")
    parser.add_argument("--quick", action="store_true",
                        help="one short run per cell (a smoke test, numbers are rough)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write results as JSON")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeat, args.min_time = 1, 0.02
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    corpus = load_corpus()
    if not corpus:
        print("bench/parse.py: the corpus is empty (tests/sip/corpus/*.txt)", file=sys.stderr)
        return 2
    # A message the reference cannot read (a deliberately broken one) has no right
    # answer to compare with, so it is left out, and said so.
    expected: dict[str, Fields] = {}
    bodies: dict[str, bytes] = {}
    for name, data in list(corpus.items()):
        try:
            expected[name], bodies[name] = reference_fields(data), reference_body(data)
        except ValueError as exc:  # UnreadableMessage, or headers that are not UTF-8
            print(f"bench/parse.py: leaving out {name}: {exc}", file=sys.stderr)
            del corpus[name]

    rows = [Row(a) for a in load_adapters()]
    for row in rows:
        check(row, corpus, expected, bodies)
    siplab = next(r for r in rows if r.adapter.name == SIPLAB)
    disagreements = dict(siplab.wrong)  # the reference and siplab were written apart

    print(f"timing {len(rows)} parsers x {len(LEVELS)} levels, {args.repeat} rounds ...",
          file=sys.stderr, flush=True)
    measure(rows, corpus, args.repeat, args.min_time)

    env = environment()
    print("\n".join(report(rows, corpus, env, args, disagreements)))
    if args.json:
        results = to_json(rows, corpus, env, args, disagreements)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
