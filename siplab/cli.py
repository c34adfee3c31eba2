"""The ``siplab`` command line.

Layer 5, the top: it may import anything in siplab, and nothing imports it.
Keep this module light so that ``siplab --help`` is fast: each subcommand
imports what it needs (asyncio drivers, matplotlib, scapy) inside its handler,
never at module level.

``siplab server`` runs the lab's registrar and proxy
(:class:`~siplab.aio.server.LabServer`); ``siplab answer`` and ``siplab call``
are a phone (:mod:`siplab.aio.phone`: a :class:`~siplab.aio.useragent.UserAgent`
with media) that answers every call or makes one, plays a tone or a WAV file
and records what it hears.
Adding a subcommand (later issues add ``ladder``, ``analyze`` and ``replay``;
see DESIGN.md):

1. write ``_add_<name>(subparsers)``, which calls ``subparsers.add_parser``,
   adds the arguments and sets ``handler=_run_<name>`` with ``set_defaults``;
2. write ``_run_<name>(args) -> int``, which does the imports and the work
   and returns the exit status;
3. append ``_add_<name>`` to ``_SUBCOMMANDS``.

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
from pathlib import Path
from typing import Any, NoReturn, TypeAlias

from siplab import __version__
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


# --- siplab server ----------------------------------------------------------------

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

example:
  siplab server --udp 127.0.0.1:5060 --tcp 127.0.0.1:5060 --ws 127.0.0.1:8080 \\
                --users alice:secret,bob:secret
  siplab server --wss 127.0.0.1:8443 --tls 127.0.0.1:5061 --users alice:secret
"""


def _add_server(subparsers: Subparsers) -> None:
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


# --- siplab answer / siplab call: a phone with audio ------------------------------

_ANSWER_DESCRIPTION = """\
Register with a SIP server and answer every call: send a tone or a WAV file,
record what is heard, hang up after --duration seconds (or when the caller
does), until Ctrl-C or SIGTERM. One line per call on stdout: codec, packets
sent and received, RMS level of what was heard; progress goes to stderr.
Plain RTP/AVP offers (SIP phones) and WebRTC offers (browsers: ICE,
DTLS-SRTP) are each answered on their own path.

example:
  siplab answer --user pybot --password secret --server 127.0.0.1:5060 \\
                --tone 1000 --record heard.wav --duration 10
"""

_CALL_DESCRIPTION = """\
Call URI (sip:bob@127.0.0.1, or just bob), send a tone or a WAV file, record
what is heard, and hang up after --duration seconds (default 5) unless the
callee hangs up first. Prints one line for the call. Exit status 0 if the
call connected and audio arrived, 1 otherwise. --webrtc offers WebRTC (ICE,
DTLS-SRTP, as a browser does) instead of plain RTP/AVP.

example:
  siplab call sip:pybot@127.0.0.1 --user alice --password secret \\
              --server 127.0.0.1:5060 --tone 440 --record heard.wav
"""

#: Codecs in the order a phone of the CLI prefers them (the design's default).
DEFAULT_CODECS = "PCMU,PCMA,G722,opus"
#: How long `siplab call` talks when --duration is not given, in seconds.
CALL_DURATION = 5.0
#: How long registering may take, in seconds.
_REGISTER_TIMEOUT = 10.0


def _positive(kind: str, upper: float) -> Callable[[str], float]:
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


def _add_phone_flags(parser: argparse.ArgumentParser) -> None:
    account = parser.add_argument_group("account")
    account.add_argument("--user", required=True, help="the account's user name (sip:USER@host)")
    account.add_argument("--password", help="its password (digest authentication)")
    account.add_argument("--server", required=True, metavar="HOST:PORT",
                         help="the SIP server, e.g. 127.0.0.1:5060 (siplab server)")
    account.add_argument("--transport", choices=("udp", "tcp", "ws"), default="udp",
                         help="how to reach the server (default: udp)")
    media = parser.add_argument_group("audio")
    send = media.add_mutually_exclusive_group()
    send.add_argument("--tone", type=_positive("Hz", 20000), metavar="HZ",
                      help="send a sine tone of this frequency (amplitude 0.5)")
    send.add_argument("--play", metavar="FILE.wav", help="send this WAV file (then silence)")
    media.add_argument("--record", metavar="FILE.wav",
                       help="write what is heard to this WAV file (a second call: FILE-2.wav)")
    media.add_argument("--duration", type=_positive("seconds", 86400), metavar="SECONDS",
                       help="hang up after this many seconds of call")
    media.add_argument("--codecs", default=DEFAULT_CODECS, metavar="NAME,...",
                       help=f"codecs in order of preference (default: {DEFAULT_CODECS})")
    media.add_argument("--video", action="store_true",
                       help="on WebRTC calls, send a VP8 test pattern too")
    parser.add_argument("--debug", action="store_true",
                        help="log every SIP message and decision to stderr")


def _add_answer(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "answer", help="register and answer every call with a tone or a file, recording",
        description=_ANSWER_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_phone_flags(parser)
    parser.set_defaults(handler=_run_answer)


def _add_call(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "call", help="call a URI with a tone or a file, recording what is heard",
        description=_CALL_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("uri", metavar="URI", help="whom to call: sip:bob@127.0.0.1, or bob")
    _add_phone_flags(parser)
    parser.add_argument("--webrtc", action="store_true",
                        help="offer WebRTC (ICE, DTLS-SRTP, as a browser) instead of plain RTP")
    parser.set_defaults(handler=_run_call)


def _phone_settings(args: argparse.Namespace) -> dict[str, Any]:
    """Check the phone flags; the keywords for the UserAgent. Raises UsageError."""
    host, port = parse_host_port(args.server)
    if not args.user or any(c in args.user for c in "@:;<> "):
        raise UsageError(f"--user: expected a user name such as pybot, not {args.user!r}")
    if args.play is not None and not Path(args.play).is_file():
        raise UsageError(f"--play: no such file: {args.play}")
    codecs = tuple(name.strip() for name in args.codecs.split(",") if name.strip())
    known = {name.lower() for name in DEFAULT_CODECS.split(",")}
    unknown = [name for name in codecs if name.lower() not in known]
    if unknown or not codecs:
        raise UsageError(f"--codecs: expected some of {DEFAULT_CODECS}, not {args.codecs!r}")
    shown = f"[{host}]" if ":" in host else host
    url = f"{args.transport}://{shown}:{port}" + ("/" if args.transport == "ws" else "")
    source = f"tone:{args.tone:g}" if args.tone is not None else args.play
    return {"uri": f"sip:{args.user}@{shown}", "password": args.password, "transport": url,
            "codecs": codecs, "audio_source": source, "debug": args.debug,
            "webrtc": True if getattr(args, "webrtc", False) else None, "video": args.video}


def _run_answer(args: argparse.Namespace) -> int:
    try:
        settings = _phone_settings(args)
    except UsageError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2
    import asyncio

    from siplab.aio.phone import answer_calls
    from siplab.aio.useragent import UserAgent

    async def answer() -> None:
        stop = _stop_on_signals()
        uri = settings.pop("uri")
        async with UserAgent(uri, **settings, auto_answer=True) as ua:
            await ua.register(timeout=_REGISTER_TIMEOUT)
            _progress(f"registered {uri} via {ua.server}; answering calls (Ctrl-C to stop)")
            await answer_calls(ua, stop, duration=args.duration, record=args.record,
                               report=_report, note=_progress)
        _progress("stopped")

    try:
        asyncio.run(answer())
    except TimeoutError:
        print(f"{PROG}: error: the server did not answer in time", file=sys.stderr)
        return 1
    return 0


def _run_call(args: argparse.Namespace) -> int:
    try:
        settings = _phone_settings(args)
    except UsageError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2
    import asyncio

    from siplab.aio.errors import CallFailed
    from siplab.aio.phone import place_call
    from siplab.aio.useragent import UserAgent

    async def call() -> int:
        stop = _stop_on_signals()
        uri = settings.pop("uri")
        async with UserAgent(uri, **settings) as ua:
            if settings["password"] is not None:
                await ua.register(timeout=_REGISTER_TIMEOUT)
            try:
                session = await place_call(ua, args.uri, stop,
                                           duration=args.duration or CALL_DURATION,
                                           record=args.record, report=_report, note=_progress)
            except CallFailed as failure:
                print(f"{PROG}: error: {failure}", file=sys.stderr)
                return 1
            if session.media is None or not session.media.stats().packets_received:
                print(f"{PROG}: error: no audio arrived", file=sys.stderr)
                return 1
            return 0

    try:
        return asyncio.run(call())
    except TimeoutError:
        print(f"{PROG}: error: no answer in time", file=sys.stderr)
        return 1


def _report(line: str) -> None:
    """A call's line: stdout, one per call."""
    print(line, flush=True)


def _progress(line: str) -> None:
    """Everything else goes to stderr, so stdout holds only the calls' lines."""
    print(line, file=sys.stderr, flush=True)


def _stop_on_signals() -> Any:
    """An asyncio.Event set by SIGINT or SIGTERM (call inside the running loop)."""
    import asyncio
    import signal

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    return stop


# --- siplab ladder: the SIP ladder of a capture --------------------------------------

_LADDER_DESCRIPTION = """\
Draw the SIP ladder (sequence diagram) of a capture: one lifeline per endpoint,
one arrow per message (method or status), dialogs in colours, retransmissions
dashed, RTP streams as bands. Writes PNG, SVG or PDF (-o), or prints a text
ladder (--text). More than --per-page messages make several pages: OUT.png,
OUT-2.png, OUT-3.png...

examples:
  siplab ladder call.pcap -o call.png --sdp
  siplab ladder call.pcapng --text --cseq
"""
_LADDER_FORMATS = (".png", ".svg", ".pdf")


def _add_ladder(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "ladder",
        help="draw the SIP ladder of a pcap (PNG, SVG or text)",
        description=_LADDER_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("pcap", metavar="PCAP", help="a pcap or pcapng capture file")
    parser.add_argument("-o", "--output", metavar="OUT.png|OUT.svg",
                        help="write the drawing here (.png, .svg or .pdf)")
    parser.add_argument("--text", action="store_true", help="print the ladder as text")
    parser.add_argument("--cseq", action="store_true", help="add the CSeq to every label")
    parser.add_argument("--sdp", action="store_true",
                        help="add an SDP summary (offer/answer and codecs) under each arrow")
    parser.add_argument("--per-page", type=int, default=100, metavar="N",
                        help="messages per page of the drawing (default 100)")
    parser.add_argument("--title", help="a title for the drawing")
    parser.set_defaults(handler=_run_ladder)


def _run_ladder(args: argparse.Namespace) -> int:
    try:
        if args.output is None and not args.text:
            raise UsageError("give -o OUT.png (or .svg, .pdf), or --text")
        if args.output is not None and Path(args.output).suffix.lower() not in _LADDER_FORMATS:
            raise UsageError(f"-o must end in {', '.join(_LADDER_FORMATS)}: {args.output}")
        if args.per_page < 1:
            raise UsageError("--per-page must be at least 1")
    except UsageError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2

    from siplab.lab.ladder import ladder_pages
    from siplab.lab.ladder_text import text_ladder
    from siplab.lab.pcap import read_pcap

    capture = read_pcap(args.pcap)  # PcapError (a SipError): one line, exit 1, from main()
    if not capture.sip_messages:
        print(f"{PROG}: error: {args.pcap}: no SIP messages in this capture", file=sys.stderr)
        return 1
    if args.text:
        print(text_ladder(capture, cseq=args.cseq, sdp=args.sdp,
                          color=sys.stdout.isatty()))
    if args.output is not None:
        pages = ladder_pages(capture, cseq=args.cseq, sdp=args.sdp,
                             max_messages_per_page=args.per_page, title=args.title)
        out = Path(args.output)
        written = []
        for number, figure in enumerate(pages, 1):
            path = out if number == 1 else out.with_name(f"{out.stem}-{number}{out.suffix}")
            figure.savefig(path)
            written.append(str(path))
        print(f"wrote {', '.join(written)} ({len(capture.sip_messages)} SIP messages)")
    return 0


# --- siplab analyze: the RTP streams of a capture ----------------------------------

_ANALYZE_DESCRIPTION = """\
Print the RTP streams of a pcap or pcapng capture with the statistics Wireshark
gives (Telephony > RTP > RTP Streams, `tshark -q -z rtp,streams`): packets, lost,
min/mean/max delta between packets, min/mean/max jitter (RFC 3550), in ms.
RTP is found from the SDP of the SIP messages, else by a heuristic (version 2,
even destination port), as `tshark -o rtp.heuristic_rtp:TRUE` finds it.

examples:
  siplab analyze call.pcapng
  siplab analyze big.pcap --json > streams.json
"""


def _add_analyze(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "analyze",
        help="print the RTP streams of a pcap with Wireshark's statistics",
        description=_ANALYZE_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("pcap", metavar="PCAP", help="a pcap or pcapng capture file")
    parser.add_argument("--json", action="store_true",
                        help="print the streams as a JSON list instead of a table")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="show a progress bar (default: for big files, on a terminal)")
    parser.set_defaults(handler=_run_analyze)


def _run_analyze(args: argparse.Namespace) -> int:
    import json

    from siplab.lab.analysis import format_streams, rtp_streams, stream_dict
    from siplab.lab.pcap import scan_capture

    # A missing, empty, truncated or non-capture file raises PcapError (a SipError):
    # main() prints its one line and exits 1.
    capture = scan_capture(args.pcap, keep=False, progress=args.progress)
    streams = rtp_streams(capture)
    if args.json:
        print(json.dumps([stream_dict(s, capture.start_time) for s in streams], indent=2))
    else:
        print(format_streams(streams, capture.start_time))
    return 0


# --- siplab replay: one side of a captured call against a live phone or server --------

_REPLAY_DESCRIPTION = """\
Replay one side of a call (or registration) from a pcap against a live SIP phone
or server: its messages are sent again with a new Call-ID, tags, branches, our
address in Via/Contact/SDP and fresh digest answers, and the other side is
expected to answer as it did in the capture. One row per step (expected, got,
verdict); exit status 0 only if every step matched.

--as caller sends the first request to --target. --as callee waits for the
INVITE (on --listen, or after --register at --target, a server such as
`siplab server`).

examples:
  siplab replay call.pcap --as caller --target 127.0.0.1:5060
  siplab replay call.pcap --as callee --target 127.0.0.1:5060 --register \\
                --username bob --password secret
  siplab replay reg.pcap --call-id 8f2c@10.0.0.1 --target 127.0.0.1:5060 --password secret
"""


def _add_replay(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "replay",
        help="replay one side of a captured call against a live phone or server",
        description=_REPLAY_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("pcap", metavar="PCAP", help="a pcap or pcapng capture file")
    parser.add_argument("--as", dest="side", default="caller", metavar="SIDE",
                        help="caller, callee, an endpoint HOST:PORT or a user name of the "
                             "capture (default: caller)")
    parser.add_argument("--target", metavar="HOST:PORT",
                        help="where to send (needed for the caller and for --register)")
    parser.add_argument("--transport", choices=("udp", "tcp"), default="udp",
                        help="how to reach the target (default: udp)")
    parser.add_argument("--listen", metavar="HOST:PORT",
                        help="our address (default: a free port)")
    parser.add_argument("--call-id", metavar="ID",
                        help="the dialog to replay (default: the first INVITE, else REGISTER)")
    parser.add_argument("--register", action="store_true",
                        help="as the callee, first register its address at --target")
    parser.add_argument("--username", help="digest user (default: the captured one)")
    parser.add_argument("--password", help="answer digest challenges with this password")
    parser.add_argument("--rtp", action="store_true",
                        help="send the captured RTP of this side too, with its pacing")
    parser.add_argument("--timeout", type=_positive("seconds", 3600), default=5.0,
                        metavar="SECONDS", help="how long each step waits (default: 5)")
    parser.set_defaults(handler=_run_replay)


def _run_replay(args: argparse.Namespace) -> int:
    try:
        target = parse_host_port(args.target) if args.target is not None else None
        listen = parse_host_port(args.listen) if args.listen is not None else None
        if args.register and target is None:
            raise UsageError("--register needs --target HOST:PORT (the registrar)")
    except UsageError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2
    import asyncio

    from siplab.errors import LocalProtocolError
    from siplab.lab.replay import Replayer
    from siplab.lab.replay_report import ReplayStep, format_header, format_row

    def show(row: ReplayStep) -> None:
        print(format_row(row), flush=True)

    try:
        # A bad file, no call in it, an unknown side: a SipError, one line from main().
        replayer = Replayer(args.pcap, as_=args.side, target=target, transport=args.transport,
                            local=listen, call_id=args.call_id, username=args.username,
                            password=args.password, register=args.register,
                            timeout=args.timeout, rtp=args.rtp, on_step=show)
    except LocalProtocolError as error:  # the arguments do not fit this capture
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2

    async def run() -> int:
        async with replayer:
            local = replayer.local
            assert local is not None
            script = replayer.script
            _progress(f"{script.source}: replaying the {script.role} of {script.method} "
                      f"{script.call_id} ({len(script.steps)} steps) from {local}")
            if script.role == "callee" and not args.register:
                _progress(f"waiting for the {script.method} on {local}")
            print(format_header(), flush=True)
            report = await replayer.run()
        print(report.summary(), flush=True)
        return 0 if report.ok else 1

    return asyncio.run(run())


# Functions that add one subcommand each to the parser; see the module docstring.
def _add_redact(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "redact", help="copy a pcap with its digest answers hidden, to share it",
        description="Copy a pcap or pcapng capture with every Authorization and "
        "Proxy-Authorization response= and cnonce= (and Basic credentials) written as "
        "NOT SHOWN, over UDP, TCP and WebSocket; see siplab.lab.redact.")
    parser.add_argument("pcap", metavar="PCAP", help="the capture to redact")
    parser.add_argument("-o", "--output", required=True, metavar="OUT",
                        help="where to write the redacted copy")
    parser.set_defaults(handler=_run_redact)


def _run_redact(args: argparse.Namespace) -> int:
    from siplab.lab.redact import redact_pcap

    print(redact_pcap(args.pcap, args.output))  # PcapError, OSError: one line, exit 1
    return 0


_SUBCOMMANDS: list[Callable[[Subparsers], None]] = [
    _add_server, _add_answer, _add_call, _add_ladder, _add_analyze, _add_replay, _add_redact,
]


def build_parser() -> argparse.ArgumentParser:
    """Return the ``siplab`` argument parser with every subcommand registered."""
    parser = _Parser(
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
