"""``siplab ladder``, ``analyze``, ``replay`` and ``redact``: working with a capture.

Each reads a pcap or pcapng file (made by tcpdump, Wireshark or the lab's
notebooks; :mod:`siplab.lab.pcap` reads it):

* ``ladder`` draws its SIP ladder, the sequence diagram of RFC 3261's
  examples (§24: one lifeline per endpoint, one arrow per message), as PNG,
  SVG, PDF or text (:mod:`siplab.lab.ladder`);
* ``analyze`` prints its RTP streams with Wireshark's statistics: packets,
  lost, delta and jitter (RFC 3550 §6.4.1, A.8) (:mod:`siplab.lab.analysis`);
* ``replay`` plays one side of a captured call or registration again against
  a live phone or server, with fresh Call-ID, tags, branches (§8.1.1) and
  digest answers (RFC 8760), and checks the other side answers as it did
  (:mod:`siplab.lab.replay`);
* ``redact`` copies it with the digest answers hidden, so that it can be
  shared (:mod:`siplab.lab.redact`).

The heavy libraries (matplotlib, scapy) are imported inside each handler, so
``siplab --help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from siplab.cli import (
    PROG,
    Subparsers,
    UsageError,
    parse_host_port,
    positive_number,
    print_progress,
)

__all__ = ["add_ladder", "add_analyze", "add_replay", "add_redact"]


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


def add_ladder(subparsers: Subparsers) -> None:
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


def add_analyze(subparsers: Subparsers) -> None:
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


def add_replay(subparsers: Subparsers) -> None:
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
    parser.add_argument("--timeout", type=positive_number("seconds", 3600), default=5.0,
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
            print_progress(f"{script.source}: replaying the {script.role} of {script.method} "
                      f"{script.call_id} ({len(script.steps)} steps) from {local}")
            if script.role == "callee" and not args.register:
                print_progress(f"waiting for the {script.method} on {local}")
            print(format_header(), flush=True)
            report = await replayer.run()
        print(report.summary(), flush=True)
        return 0 if report.ok else 1

    return asyncio.run(run())


def add_redact(subparsers: Subparsers) -> None:
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
