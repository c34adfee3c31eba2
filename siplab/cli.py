"""The ``siplab`` command line.

Layer 5, the top: it may import anything in siplab, and nothing imports it.
Keep this module light so that ``siplab --help`` is fast: each subcommand
imports what it needs (asyncio drivers, matplotlib, scapy) inside its handler,
never at module level.

This module holds :func:`main`, :func:`build_parser` and what several
subcommands share; each family of subcommands has its own module:

* :mod:`siplab.cli_server`: ``siplab server`` runs the lab's registrar and
  proxy (:class:`~siplab.aio.server.LabServer`);
* :mod:`siplab.cli_phone`: ``siplab answer`` and ``siplab call`` are a phone
  (:mod:`siplab.aio.phone`: a :class:`~siplab.aio.useragent.UserAgent` with
  media) that answers every call or makes one, plays a tone or a WAV file and
  records what it hears;
* :mod:`siplab.cli_capture`: ``siplab ladder``, ``analyze``, ``replay`` and
  ``redact`` read a capture (pcap or pcapng).

Adding a subcommand (see DESIGN.md):

1. write ``add_<name>(subparsers)`` in the module of its family, which calls
   ``subparsers.add_parser``, adds the arguments and sets
   ``handler=_run_<name>`` with ``set_defaults``;
2. write ``_run_<name>(args) -> int``, which does the imports and the work
   and returns the exit status;
3. append ``add_<name>`` to the list in :func:`_subcommands`.

Bad arguments end with one line, ``siplab: error: ...``, and exit 2 (argparse's
usage text is left out: :class:`_Parser`; a handler that checks its own
arguments raises :class:`UsageError`, printed the same way);
a failure while running (a malformed message, a missing file) ends with the
same one-line form and exit 1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn, TypeAlias

from siplab import __version__
from siplab.compiled_core import CompiledCoreError
from siplab.errors import SipError

__all__ = ["DEFAULT_LISTENERS", "build_parser", "main", "parse_host_port", "parse_users",
           "read_users_file", "server_listeners"]

Subparsers: TypeAlias = "argparse._SubParsersAction[_Parser]"
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


class UsageError(Exception):
    """A bad argument found by a handler: printed as one ``siplab: error:`` line, exit 2."""


class _Parser(argparse.ArgumentParser):
    """argparse's parser, but a bad argument is one line and exit 2 (no usage block)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{PROG}: error: {message}\n")


# --- arguments more than one subcommand reads -----------------------------------

def _short_number(text: str) -> bool:
    """ASCII digits, five at most: int() refuses "²" (which isdigit() accepts)."""
    return text.isascii() and text.isdigit() and len(text) <= 5


def parse_host_port(text: str) -> tuple[str, int]:
    """``127.0.0.1:5060``, ``localhost:0`` or ``[::1]:5060`` -> (host, port)."""
    host, colon, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not colon or not host or not _short_number(port) or int(port) > 65535:
        raise UsageError(f"expected HOST:PORT such as 127.0.0.1:5060, not {text!r}")
    return host, int(port)


def parse_users(text: str, source: str = "--users") -> dict[str, str]:
    """``alice:secret,bob:secret`` (or lines of a file) -> {"alice": "secret", ...}."""
    users: dict[str, str] = {}
    for item in text.split(","):
        item = item.strip()
        if item:
            _add_user(users, item, source)
    return users


def read_users_file(path: str) -> dict[str, str]:
    """One ``user:password`` per line; blank lines and ``#`` comments are skipped."""
    users: dict[str, str] = {}
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            line = line.strip()
            if line and not line.startswith("#"):
                _add_user(users, line, f"{path} line {number}")
    return users


def _add_user(users: dict[str, str], item: str, source: str) -> None:
    user, colon, password = item.partition(":")
    user = user.strip()
    if not colon or not user or not password:
        # Never echo the item: it may hold a password.
        raise UsageError(f"{source}: expected user:password")
    users[user] = password


#: Where ``siplab server`` listens when no listener is given: loopback only.
DEFAULT_LISTENERS = {"udp": [("127.0.0.1", 5060)], "tcp": [("127.0.0.1", 5060)],
                     "ws": [("127.0.0.1", 8080)], "tls": [], "wss": []}


def server_listeners(args: argparse.Namespace) -> dict[str, list[tuple[str, int]]]:
    """transport -> the (host, port) pairs to listen on; the loopback defaults if none."""
    listeners = {transport: [parse_host_port(value) for value in getattr(args, transport)]
                 for transport in ("udp", "tcp", "ws", "tls", "wss")}
    if not any(listeners.values()):
        return {transport: list(pairs) for transport, pairs in DEFAULT_LISTENERS.items()}
    return listeners


#: Codecs in the order a phone of the CLI prefers them (the design's default).
DEFAULT_CODECS = "PCMU,PCMA,G722,opus"
#: How long `siplab call` talks when --duration is not given, in seconds.
CALL_DURATION = 5.0


def positive_number(kind: str, upper: float) -> Callable[[str], float]:
    """An argparse ``type=``: a number of ``kind`` (seconds, hertz...) in (0, ``upper``]."""
    def convert(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a number of {kind}, not {text!r}") from None
        if not 0 < value <= upper:
            raise argparse.ArgumentTypeError(f"expected {kind} above 0 and at most {upper:g}, "
                                             f"not {text}")
        return value

    convert.__name__ = kind  # argparse names the type in its messages
    return convert


def print_progress(line: str) -> None:
    """Progress goes to stderr, so stdout holds only a command's results (a call's line)."""
    print(line, file=sys.stderr, flush=True)


# --- the parser and main ------------------------------------------------------------


def _subcommands() -> list[Callable[[Subparsers], None]]:
    """The functions that add one subcommand each to the parser (see the module docstring).

    Imported here, not at the top: the subcommands' modules import this one
    (:data:`PROG`, :class:`UsageError`, the shared helpers).
    """
    from siplab.cli_capture import add_analyze, add_ladder, add_redact, add_replay
    from siplab.cli_phone import add_answer, add_call
    from siplab.cli_server import add_server

    return [add_server, add_answer, add_call, add_ladder, add_analyze, add_replay, add_redact]


def build_parser() -> argparse.ArgumentParser:
    """Return the ``siplab`` argument parser with every subcommand registered."""
    subcommands = _subcommands()
    parser = _Parser(
        prog=PROG,
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=None if subcommands else _NO_COMMANDS_YET,
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    subparsers: Subparsers = parser.add_subparsers(
        title="commands", dest="command", metavar="COMMAND"
    )
    for add_subcommand in subcommands:
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
    except (SipError, OSError, CompiledCoreError) as exc:
        # A malformed message (SipParseError is a SipError), a missing capture
        # file, SIPLAB_COMPILED=1 without a build of the compiled core.
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
