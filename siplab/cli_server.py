"""``siplab server``: the lab's registrar and proxy on the command line.

One subcommand: it starts a :class:`~siplab.aio.server.LabServer` (a
registrar, RFC 3261 §10, and a proxy, §16, with digest authentication,
RFC 8760 / RFC 7616) on the listeners asked for (UDP, TCP and TLS §18,
WebSocket RFC 7118), prints where it listens, and serves until Ctrl-C or
SIGTERM. It bridges transports, so a UDP phone and a browser on a WebSocket
can call each other.

A lab server belongs on loopback: with no listener given it listens on
127.0.0.1 only (:data:`siplab.cli.DEFAULT_LISTENERS`), and on any other
address it warns that anyone who reaches the machine may register and call
through it. The argument helpers it uses (:func:`~siplab.cli.parse_users`,
:func:`~siplab.cli.server_listeners`...) live in :mod:`siplab.cli`.
"""

from __future__ import annotations

import argparse
import sys

from siplab.cli import (
    PROG,
    Subparsers,
    UsageError,
    parse_users,
    read_users_file,
    server_listeners,
)

__all__ = ["add_server"]


_SERVER_DESCRIPTION = """\
Run the lab's registrar and proxy (siplab.aio.LabServer) until Ctrl-C or SIGTERM.
Phones register with it and call each other through it; a UDP phone and a
WebSocket browser can call each other (it bridges the transports).

A lab server belongs on loopback (127.0.0.1): on any other address, anyone
who reaches the machine can register and call through it, and a warning says so
on stderr. With no listener given it listens on loopback only: UDP and TCP
127.0.0.1:5060, WebSocket 127.0.0.1:8080. --tls and --wss use a self-signed
certificate made on first start in ~/.cache/siplab/tls (its path is printed),
or --tls-cert/--tls-key. Web pages
may open a WebSocket only from the server's own host, or from each --ws-origin.

For a whole class, SIPLAB_COMPILED=1 in the environment runs the SIP core
compiled by mypyc, about twice as fast (python -m siplab.compiled_core build).

example:
  siplab server --udp 127.0.0.1:5060 --tcp 127.0.0.1:5060 --ws 127.0.0.1:8080 \\
                --users alice:secret,bob:secret
  siplab server --wss 127.0.0.1:8443 --tls 127.0.0.1:5061 --users alice:secret
"""


def add_server(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "server",
        help="run the lab registrar and proxy (UDP, TCP, WebSocket)",
        description=_SERVER_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    listen = parser.add_argument_group(
        "listeners (each may be repeated; none: UDP and TCP 127.0.0.1:5060, WS 127.0.0.1:8080)")
    for transport, example in (("udp", "127.0.0.1:5060"), ("tcp", "127.0.0.1:5060"),
                               ("ws", "127.0.0.1:8080"), ("tls", "127.0.0.1:5061"),
                               ("wss", "127.0.0.1:8443")):
        listen.add_argument(f"--{transport}", action="append", default=[],
                            metavar="HOST:PORT",
                            help=f"listen for SIP over {transport.upper()} "
                                 f"(e.g. {example}; port 0 = any free port)")
    secure = parser.add_argument_group("TLS and WebSocket security")
    secure.add_argument("--tls-cert", metavar="FILE",
                        help="certificate (PEM) for --tls/--wss (default: a self-signed one)")
    secure.add_argument("--tls-key", metavar="FILE", help="its private key (PEM)")
    secure.add_argument("--ws-origin", action="append", default=None, metavar="ORIGIN",
                        help="a web origin allowed to open a WebSocket, e.g. "
                             "http://127.0.0.1:8000 (repeatable; * = any; default: same host)")
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


def _run_server(args: argparse.Namespace) -> int:
    try:
        listeners = server_listeners(args)
        if (args.tls_cert is None) != (args.tls_key is None):
            raise UsageError("give both --tls-cert and --tls-key, or neither")
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
    from siplab.aio.server import LabServer, tune_gc_for_serving

    if args.debug:
        enable_debug()
    tune_gc_for_serving()  # this process only serves: rare full collections (see there)

    async def serve() -> None:
        server = LabServer(udp=listeners["udp"], tcp=listeners["tcp"], ws=listeners["ws"],
                           tls=listeners["tls"], wss=listeners["wss"],
                           users=users, open=args.open, domain=args.domain,
                           tls_cert=args.tls_cert, tls_key=args.tls_key,
                           ws_origins=args.ws_origin)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        async with server:
            for peer in server.addresses:
                host = f"[{peer.host}]" if ":" in peer.host else peer.host
                print(f"listening on {peer.transport} {host}:{peer.port}", flush=True)
            for peer in server.public_addresses:
                host = f"[{peer.host}]" if ":" in peer.host else peer.host
                print(f"{PROG}: warning: {peer.transport} {host}:{peer.port} is not a loopback "
                      "address: anyone who can reach this machine can register and call "
                      "through this lab server", file=sys.stderr, flush=True)
            if server.tls_certificate is not None:
                print(f"TLS certificate: {server.tls_certificate.cert}", flush=True)
            names = ", ".join(server.users) if users is not None else "anyone (--open)"
            print(f"users: {names}", flush=True)
            await stop.wait()
        print("stopped", flush=True)

    asyncio.run(serve())
    return 0
