"""Make the captures and audio in data/ (see data/README.md for what each file shows).

    python data/make_data.py all                 # everything (about a minute: one call
                                                 # waits 32 s for Timer H)
    python data/make_data.py audio               # data/audio/*.wav only
    python data/make_data.py call_basic call_forked   # some captures
    python data/make_data.py --list              # the names

Captures need dumpcap and tshark (Debian ``tshark``), sipp (``sip-tester``)
and Kamailio (``kamailio``, ``kamailio-websocket-modules``), and the right to
capture on the loopback interface (root, or dumpcap's capabilities).

When it can (as root, with ``unshare`` and ``ip``), the script re-runs itself
in a private network namespace: a loopback interface of its own, where
nothing else on the machine sends packets into the capture and the SIP
server can take the standard port 5060, which Wireshark decodes as SIP
without being told. ``--here`` skips that and uses free ports on the
machine's own loopback instead.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

DATA = Path(__file__).resolve().parent
sys.path.insert(0, str(DATA))  # the make/ package next to this file

from make.audio import make_audio  # noqa: E402
from make.scenarios import RECIPES, Setup  # noqa: E402

IN_NAMESPACE = "SIPLAB_DATA_NETNS"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
        tcp.bind(("127.0.0.1", 0))
        return int(tcp.getsockname()[1])


def can_use_namespace() -> bool:
    return (os.geteuid() == 0 and shutil.which("unshare") is not None
            and shutil.which("ip") is not None)


def rerun_in_namespace(argv: list[str]) -> int:
    """This script again, inside ``unshare --net`` with its loopback interface up."""
    script = 'ip link set lo up && exec "$@"'
    command = ["unshare", "--net", "--", "sh", "-c", script, "sh",
               sys.executable, str(Path(__file__).resolve()), *argv]
    env = dict(os.environ, **{IN_NAMESPACE: "1"})
    return subprocess.run(command, env=env, check=False).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="all, audio, or capture names (--list)")
    parser.add_argument("--list", action="store_true", help="list the capture names")
    parser.add_argument("--here", action="store_true",
                        help="do not use a private network namespace")
    args = parser.parse_args(argv)
    if args.list or not args.names:
        print("audio\n" + "\n".join(RECIPES))
        return 0
    unknown = [n for n in args.names if n not in ("all", "audio", *RECIPES)]
    if unknown:
        parser.error(f"unknown: {', '.join(unknown)} (see --list)")
    wants_captures = any(n != "audio" for n in args.names)
    if wants_captures and not args.here and os.environ.get(IN_NAMESPACE) != "1" \
            and can_use_namespace():
        return rerun_in_namespace(list(argv if argv is not None else sys.argv[1:]))

    audio_dir = DATA / "audio"
    if "all" in args.names or "audio" in args.names or not (audio_dir / "melody.wav").exists():
        for path in make_audio(audio_dir):
            print(f"wrote {path.relative_to(DATA.parent)} ({path.stat().st_size} bytes)")
    names = list(RECIPES) if "all" in args.names else [n for n in args.names if n in RECIPES]
    in_namespace = os.environ.get(IN_NAMESPACE) == "1"
    setup = Setup(sip_port=5060 if in_namespace else free_port(),
                  ws_port=8080 if in_namespace else free_port(), audio_dir=audio_dir)
    for name in names:
        out = DATA / "captures" / f"{name}.pcap"
        print(f"making {out.relative_to(DATA.parent)} ...", flush=True)
        asyncio.run(RECIPES[name](setup, out))
        print(f"wrote {out.relative_to(DATA.parent)} ({out.stat().st_size} bytes)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
