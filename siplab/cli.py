"""The ``siplab`` command line.

Layer 5, the top: it may import anything in siplab, and nothing imports it.
Keep this module light so that ``siplab --help`` is fast: each subcommand
imports what it needs (asyncio drivers, matplotlib, scapy) inside its handler,
never at module level.

Adding a subcommand (later issues add ``server``, ``call``, ``answer``,
``ladder``, ``analyze`` and ``replay``; see DESIGN.md):

1. write ``_add_<name>(subparsers)``, which calls ``subparsers.add_parser``,
   adds the arguments and sets ``handler=_run_<name>`` with ``set_defaults``;
2. write ``_run_<name>(args) -> int``, which does the imports and the work
   and returns the exit status;
3. append ``_add_<name>`` to ``_SUBCOMMANDS``.

Bad arguments end with argparse's one-line ``siplab: error: ...`` and exit 2;
a failure while running (a malformed message, a missing file) ends with the
same one-line form and exit 1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import TypeAlias

from siplab import __version__
from siplab.errors import SipError

__all__ = ["build_parser", "main"]

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
Handler: TypeAlias = Callable[[argparse.Namespace], int]

PROG = "siplab"

_DESCRIPTION = """\
siplab: a SIP/WebRTC teaching lab.
Start with `bash scripts/lab.sh` and the notebooks in notebooks/.
"""

_NO_COMMANDS_YET = (
    "No commands yet: server, call, answer, ladder, analyze and replay "
    "arrive with later issues."
)

# Functions that add one subcommand each to the parser; see the module docstring.
_SUBCOMMANDS: list[Callable[[Subparsers], None]] = []


def build_parser() -> argparse.ArgumentParser:
    """Return the ``siplab`` argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=None if _SUBCOMMANDS else _NO_COMMANDS_YET,
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    subparsers: Subparsers = parser.add_subparsers(
        title="commands", dest="command", metavar="COMMAND"
    )
    for add_subcommand in _SUBCOMMANDS:
        add_subcommand(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 0
    try:
        return handler(args)
    except KeyboardInterrupt:
        return 130
    except (SipError, OSError) as exc:
        # A malformed message (SipParseError is a SipError), a missing capture file.
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
