"""``siplab answer`` and ``siplab call``: a phone with audio on the command line.

Both are a :mod:`siplab.aio.phone` (a :class:`~siplab.aio.useragent.UserAgent`
with media) that registers with a server (RFC 3261 §10, digest RFC 8760),
then either answers every INVITE (§13.3) or sends one (§13.2), negotiates
the audio with SDP offer/answer (RFC 3264), sends a tone or a WAV file over
RTP (RFC 3550), records what it hears, and hangs up with a BYE (§15).

What a script reads goes to stdout, one line per call (codec, packets sent
and received, the RMS level heard); progress goes to stderr. ``siplab call``
exits 0 only if the call connected and audio arrived. Plain RTP/AVP offers
(SIP phones) and WebRTC offers (browsers: ICE, DTLS-SRTP) are each answered
on their own path; ``--webrtc`` makes ``siplab call`` offer WebRTC.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from siplab.cli import (
    CALL_DURATION,
    DEFAULT_CODECS,
    PROG,
    Subparsers,
    UsageError,
    parse_host_port,
    positive_number,
    print_progress,
)

__all__ = ["add_answer", "add_call"]


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


#: How long registering may take, in seconds.
_REGISTER_TIMEOUT = 10.0


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
    send.add_argument("--tone", type=positive_number("Hz", 20000), metavar="HZ",
                      help="send a sine tone of this frequency (amplitude 0.5)")
    send.add_argument("--play", metavar="FILE.wav", help="send this WAV file (then silence)")
    media.add_argument("--record", metavar="FILE.wav",
                       help="write what is heard to this WAV file (a second call: FILE-2.wav)")
    media.add_argument("--duration", type=positive_number("seconds", 86400), metavar="SECONDS",
                       help="hang up after this many seconds of call")
    media.add_argument("--codecs", default=DEFAULT_CODECS, metavar="NAME,...",
                       help=f"codecs in order of preference (default: {DEFAULT_CODECS})")
    media.add_argument("--video", action="store_true",
                       help="on WebRTC calls, send a VP8 test pattern too")
    parser.add_argument("--debug", action="store_true",
                        help="log every SIP message and decision to stderr")


def add_answer(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "answer", help="register and answer every call with a tone or a file, recording",
        description=_ANSWER_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_phone_flags(parser)
    parser.set_defaults(handler=_run_answer)


def add_call(subparsers: Subparsers) -> None:
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
            print_progress(f"registered {uri} via {ua.server}; answering calls (Ctrl-C to stop)")
            await answer_calls(ua, stop, duration=args.duration, record=args.record,
                               report=_report, note=print_progress)
        print_progress("stopped")

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
                                           record=args.record, report=_report, note=print_progress)
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


def _stop_on_signals() -> Any:
    """An asyncio.Event set by SIGINT or SIGTERM (call inside the running loop)."""
    import asyncio
    import signal

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    return stop
