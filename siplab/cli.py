"""The ``siplab`` command line.

Layer 5, the top: it may import anything in siplab, and nothing imports it.
Keep this module light so that ``siplab --help`` is fast: each subcommand
imports what it needs (asyncio drivers, matplotlib, scapy) inside its handler,
never at module level.

``siplab server`` runs the lab's registrar and proxy
(:class:`~siplab.aio.server.LabServer`). Adding a subcommand (later issues add
``call``, ``answer``, ``ladder``, ``analyze`` and ``replay``; see DESIGN.md):

1. write ``_add_<name>(subparsers)``, which calls ``subparsers.add_parser``,
   adds the arguments and sets ``handler=_run_<name>`` with ``set_defaults``;
2. write ``_run_<name>(args) -> int``, which does the imports and the work
   and returns the exit status;
3. append ``_add_<name>`` to ``_SUBCOMMANDS``.

Bad arguments end with argparse's one-line ``siplab: error: ...`` and exit 2
(a handler that checks its own arguments raises :class:`UsageError`, printed
the same way);
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

__all__ = ["build_parser", "main", "parse_host_port", "parse_users", "read_users_file"]

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

class UsageError(Exception):
    """A bad argument found by a handler: printed as one ``siplab: error:`` line, exit 2."""


# --- siplab server ----------------------------------------------------------------

_SERVER_DESCRIPTION = """\
Run the lab's registrar and proxy (siplab.aio.LabServer) until Ctrl-C or SIGTERM.
Phones register with it and call each other through it; a UDP phone and a
WebSocket browser can call each other (it bridges the transports).

example:
  siplab server --udp 127.0.0.1:5060 --tcp 127.0.0.1:5060 --ws 127.0.0.1:8080 \\
                --users alice:secret,bob:secret
"""


def _add_server(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "server",
        help="run the lab registrar and proxy (UDP, TCP, WebSocket)",
        description=_SERVER_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    listen = parser.add_argument_group("listeners (at least one; each may be repeated)")
    for transport, example in (("udp", "127.0.0.1:5060"), ("tcp", "127.0.0.1:5060"),
                               ("ws", "127.0.0.1:8080")):
        listen.add_argument(f"--{transport}", action="append", default=[],
                            metavar="HOST:PORT",
                            help=f"listen for SIP over {transport.upper()} "
                                 f"(e.g. {example}; port 0 = any free port)")
    auth = parser.add_argument_group("accounts (one of these)")
    auth.add_argument("--users", metavar="USER:PASSWORD,...",
                      help="accounts allowed to register, e.g. alice:secret,bob:secret")
    auth.add_argument("--users-file", metavar="FILE",
                      help="accounts, one user:password per line (# starts a comment)")
    auth.add_argument("--open", action="store_true",
                      help="no authentication: anyone may register as anyone")
    parser.add_argument("--domain", help="the domain of the accounts (default: the listen host)")
    parser.add_argument("--debug", action="store_true",
                        help="log every SIP message and decision to stderr")
    parser.set_defaults(handler=_run_server)


def parse_host_port(text: str) -> tuple[str, int]:
    """``127.0.0.1:5060``, ``localhost:0`` or ``[::1]:5060`` -> (host, port)."""
    host, colon, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not colon or not host or not port.isdigit() or int(port) > 65535:
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


def _run_server(args: argparse.Namespace) -> int:
    try:
        listeners = {transport: [parse_host_port(value) for value in getattr(args, transport)]
                     for transport in ("udp", "tcp", "ws")}
        if not any(listeners.values()):
            raise UsageError("give at least one listener: --udp, --tcp or --ws HOST:PORT")
        chosen = [args.users is not None, args.users_file is not None, args.open]
        if sum(chosen) != 1:
            raise UsageError("give exactly one of --users, --users-file or --open")
        users: dict[str, str] | None = None
        if args.users is not None:
            users = parse_users(args.users)
        elif args.users_file is not None:
            users = read_users_file(args.users_file)
    except UsageError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2

    import asyncio
    import signal

    from siplab.aio.debug import enable_debug
    from siplab.aio.server import LabServer

    if args.debug:
        enable_debug()

    async def serve() -> None:
        server = LabServer(udp=listeners["udp"], tcp=listeners["tcp"], ws=listeners["ws"],
                           users=users, open=args.open, domain=args.domain)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        async with server:
            for peer in server.addresses:
                host = f"[{peer.host}]" if ":" in peer.host else peer.host
                print(f"listening on {peer.transport} {host}:{peer.port}", flush=True)
            names = ", ".join(server.users) if users is not None else "anyone (--open)"
            print(f"users: {names}", flush=True)
            await stop.wait()
        print("stopped", flush=True)

    asyncio.run(serve())
    return 0


# Functions that add one subcommand each to the parser; see the module docstring.
_SUBCOMMANDS: list[Callable[[Subparsers], None]] = [_add_server]


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
