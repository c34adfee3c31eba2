"""``siplab analyze`` against ``tshark -z rtp,streams`` on a million RTP packets.

    .venv/bin/python bench/analyze.py                 # ~1 min: 1,000,000 packets, 3 runs each
    .venv/bin/python bench/analyze.py --quick         # a few seconds, for CI smoke runs
    .venv/bin/python bench/analyze.py --packets 2000000 --runs 5 --keep big.pcap

The capture is generated first, with siplab's own struct-based writer
(``siplab.lab.pcapfile``; scapy would take an hour): an INVITE and its 200 OK
whose SDP announce two of the streams (one of them Opus, whose 48 kHz clock
only the SDP gives), then ``--streams`` RTP streams of 20 ms packets,
interleaved in time order, with loss, duplicates, swapped arrivals, up to
15 ms of jitter, sequence numbers that wrap past 65535 (every stream starts
near the top) and one stream whose RTP timestamps wrap past 2**32. Streams
that the SDP does not announce are found by the heuristic on both sides
(tshark: ``-o rtp.heuristic_rtp:TRUE``).

Both tools then run as whole processes, once each untimed (the disk cache,
and siplab's ``.pyc`` files, kept in the temporary directory as an installed
package keeps them), then side by side, ``--runs`` times each, alternating, so
that load from elsewhere on the machine hits both:

    python -m siplab analyze CAPTURE --json --no-progress
    tshark -r CAPTURE -q -z rtp,streams -o rtp.heuristic_rtp:TRUE

The table gives the median wall-clock time and the median CPU time (user +
system, of the process and its children) of each, and the ratios. Then every
stream is compared: packets and lost must be identical, every delta and
jitter column within 0.001 ms. The target (from the issue) is siplab at least
twice as fast as tshark, with identical counts and jitter within 0.001 ms.
The script prints PASS or FAIL for each and exits 0 whatever the verdicts: it
is a measurement, not a test. Without tshark it says so and exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from siplab.lab.pcapfile import udp_frame, write_pcap  # noqa: E402

T0 = 1_700_000_000.0
A, B = "10.1.0.1", "10.1.0.2"
PAYLOAD = bytes(160)
TARGET_SPEEDUP = 2.0
JITTER_TOLERANCE_MS = 0.001
COLUMNS = ("min_delta", "mean_delta", "max_delta", "min_jitter", "mean_jitter", "max_jitter")
_STREAM_LINE = re.compile(
    r"^\s*-?[\d.]+\s+-?[\d.]+\s+(?P<src>\S+)\s+(?P<sport>\d+)\s+(?P<dst>\S+)\s+(?P<dport>\d+)"
    r"\s+0x(?P<ssrc>[0-9A-Fa-f]+)\s+.+?\s+(?P<packets>\d+)\s+(?P<lost>-?\d+) \([-\d.]+%\)"
    + "".join(rf"\s+(?P<f{i}>-?[\d.]+)" for i in range(6)) + r"\s*X?\s*$")


# -- the capture ---------------------------------------------------------------------------------


def sdp_invite() -> list[tuple[float, bytes]]:
    """INVITE and 200 OK whose SDP announce stream 0 (PCMU) and stream 1 (Opus, PT 111)."""
    frames = []
    for number, (first_line, host, port) in enumerate(
            [("INVITE sip:bob@10.1.0.2 SIP/2.0", A, 20000),
             ("SIP/2.0 200 OK", B, 30000)]):
        body = (f"v=0\r\no=- 1 1 IN IP4 {host}\r\ns=-\r\nc=IN IP4 {host}\r\nt=0 0\r\n"
                f"m=audio {port} RTP/AVP 0 111\r\na=rtpmap:0 PCMU/8000\r\n"
                f"a=rtpmap:111 opus/48000/2\r\n").encode()
        to_tag = ";tag=b" if number else ""
        head = (f"{first_line}\r\nVia: SIP/2.0/UDP 10.1.0.1:5060;branch=z9hG4bK-bench\r\n"
                f"From: <sip:alice@10.1.0.1>;tag=a\r\nTo: <sip:bob@10.1.0.2>{to_tag}\r\n"
                f"Call-ID: bench@10.1.0.1\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        src, dst = ((A, 5060), (B, 5060)) if number == 0 else ((B, 5060), (A, 5060))
        frames.append((T0 + 0.01 * number, udp_frame(head + body, src, dst)))
    return frames


def stream_packets(index: int, count: int, rng: random.Random) -> Iterator[tuple[float, bytes]]:
    """``count`` packets of stream ``index`` with loss, duplicates, swaps, jitter, wraps."""
    if index == 0:
        src, dst, pt, step = (A, 20000), (B, 30000), 0, 160  # announced in the SDP
    elif index == 1:
        src, dst, pt, step = (B, 30000), (A, 20000), 111, 960  # Opus: 48 kHz from the SDP
    else:
        pt, step = (8, 9, 0)[index % 3], 160
        src, dst = (A, 40000 + 2 * index), (B, 50000 + 2 * index)  # the heuristic finds them
    prefix = udp_frame(bytes(12) + PAYLOAD, src, dst, checksum=False)[:-(12 + len(PAYLOAD))]
    ssrc = 0x51AB0000 + index
    seq = 65536 - 1000 - 97 * index  # every stream wraps 65535 -> 0 early on
    stamp = (1 << 32) - 50_000 if index == 2 else rng.randrange(1 << 31)
    start = T0 + 0.05 + 0.0013 * index
    pending: tuple[float, bytes] | None = None
    produced, i = 0, -1
    while produced < count:
        i += 1
        if i and rng.random() < 0.02:
            continue  # lost: its sequence number never appears
        marker = 0x80 if i == 0 else 0
        rtp = struct.pack("!BBHII", 0x80, pt | marker, (seq + i) & 0xFFFF,
                          (stamp + step * i) & 0xFFFFFFFF, ssrc)
        when = start + 0.02 * i + rng.random() * 0.015
        frame = (when, prefix + rtp + PAYLOAD)
        if pending is None and rng.random() < 0.01:
            pending = frame  # arrives after the next one: reordered
            continue
        out = [frame]
        if pending is not None:
            out.append(pending)
            pending = None
        if rng.random() < 0.005:
            out.append((when + 0.0005, prefix + rtp + PAYLOAD))  # duplicated
        for item in out[:count - produced]:
            yield item
            produced += 1


def generate(path: Path, packets: int, streams: int, seed: int = 2024) -> int:
    """Write the capture; return the number of RTP packets in it."""
    rng = random.Random(seed)
    per_stream = packets // streams
    merged: list[tuple[float, int, bytes]] = []
    for index in range(streams):
        count = per_stream + (packets - per_stream * streams if index == 0 else 0)
        for order, (when, frame) in enumerate(stream_packets(index, count, rng)):
            merged.append((when, index * 10_000_000 + order, frame))
    merged.sort(key=lambda item: (item[0], item[1]))
    frames = sdp_invite() + [(when, frame) for when, _, frame in merged]
    write_pcap(path, frames)
    return len(merged)


# -- running both ------------------------------------------------------------------------------


def bytecode_env(directory: Path) -> dict[str, str]:
    """The environment for the siplab child: ``.pyc`` files cached in ``directory``.

    An installed siplab runs from compiled bytecode (pip writes the ``.pyc``
    files). A shell with ``PYTHONDONTWRITEBYTECODE=1`` (as in some CI jobs and
    these VMs) would make every run compile siplab's sources again, ~0.1 s that
    a student never pays; the warm-up run writes them to ``directory`` instead
    (``PYTHONPYCACHEPREFIX``), leaving the checkout untouched.
    """
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(directory / "pycache")
    return env


def run_with_usage(command: Sequence[str], env: dict[str, str] | None = None
                   ) -> tuple[float, float, str]:
    """Run ``command``; return (wall s, CPU s of it and its children, stdout)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, cwd=ROOT, check=False, env=env)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode:
        raise RuntimeError(f"{command[0]} exited {done.returncode}: "
                           f"{done.stderr.decode()[-500:]}")
    return wall, cpu, done.stdout.decode()


def parse_tshark(text: str) -> dict[tuple[str, int, str, int, int], dict[str, float]]:
    rows = {}
    for line in text.splitlines():
        match = _STREAM_LINE.match(line)
        if match:
            key = (match["src"], int(match["sport"]), match["dst"], int(match["dport"]),
                   int(match["ssrc"], 16))
            rows[key] = {"packets": int(match["packets"]), "lost": int(match["lost"]),
                         **{name: float(match[f"f{i}"]) for i, name in enumerate(COLUMNS)}}
    return rows


def parse_siplab(text: str) -> dict[tuple[str, int, str, int, int], dict[str, float]]:
    rows = {}
    for stream in json.loads(text):
        key = (stream["src"]["host"], stream["src"]["port"], stream["dst"]["host"],
               stream["dst"]["port"], stream["ssrc"])
        rows[key] = {"packets": stream["packets"], "lost": stream["lost"],
                     **{name: stream[f"{name}_ms"] for name in COLUMNS}}
    return rows


def compare(ours: dict[Any, dict[str, float]], theirs: dict[Any, dict[str, float]]
            ) -> tuple[bool, float, list[str]]:
    """(counts identical, largest column difference in ms, problems)."""
    problems = []
    if set(ours) != set(theirs):
        problems.append(f"streams differ: only siplab {sorted(set(ours) - set(theirs))}, "
                        f"only tshark {sorted(set(theirs) - set(ours))}")
    counts_ok = not problems
    worst = 0.0
    for key in sorted(set(ours) & set(theirs)):
        mine, reference = ours[key], theirs[key]
        if (mine["packets"], mine["lost"]) != (reference["packets"], reference["lost"]):
            counts_ok = False
            problems.append(f"{key}: siplab {mine['packets']}/{mine['lost']} packets/lost, "
                            f"tshark {reference['packets']}/{reference['lost']}")
        for name in COLUMNS:
            worst = max(worst, abs(mine[name] - reference[name]))
    return counts_ok, worst, problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--packets", type=int, default=1_000_000, help="RTP packets to generate")
    parser.add_argument("--streams", type=int, default=8, help="RTP streams (at least 3)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each tool (median)")
    parser.add_argument("--quick", action="store_true",
                        help="20,000 packets, one run each: a smoke test")
    parser.add_argument("--keep", metavar="PCAP", help="write the capture here and keep it")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args(argv)
    if args.quick:
        args.packets, args.runs = 20_000, 1
    args.streams = max(3, args.streams)

    tshark = shutil.which("tshark")
    directory = Path(tempfile.mkdtemp(prefix="siplab-bench-analyze-"))
    capture = Path(args.keep) if args.keep else directory / "rtp.pcap"
    try:
        started = time.perf_counter()
        rtp_packets = generate(capture, args.packets, args.streams)
        size = capture.stat().st_size
        print(f"capture: {capture} ({rtp_packets:,} RTP packets in {args.streams} streams, "
              f"{size / 1e6:.0f} MB), written in {time.perf_counter() - started:.1f} s")
        if tshark is None:
            print("tshark: skipped (not installed: apt-get install tshark)")
            return 0
        ours_cmd = [sys.executable, "-m", "siplab", "analyze", str(capture), "--json",
                    "--no-progress"]
        theirs_cmd = [tshark, "-r", str(capture), "-q", "-z", "rtp,streams",
                      "-o", "rtp.heuristic_rtp:TRUE"]
        timings: dict[str, list[tuple[float, float]]] = {"siplab analyze": [], "tshark": []}
        outputs: dict[str, str] = {}
        envs = {"siplab analyze": bytecode_env(directory), "tshark": None}
        for name, command in (("siplab analyze", ours_cmd), ("tshark", theirs_cmd)):
            run_with_usage(command, envs[name])  # untimed: .pyc files, the disk cache
        for _ in range(args.runs):
            for name, command in (("siplab analyze", ours_cmd), ("tshark", theirs_cmd)):
                wall, cpu, out = run_with_usage(command, envs[name])
                timings[name].append((wall, cpu))
                outputs[name] = out
        medians = {name: (statistics.median(w for w, _ in runs),
                          statistics.median(c for _, c in runs))
                   for name, runs in timings.items()}
        counts_ok, worst, problems = compare(parse_siplab(outputs["siplab analyze"]),
                                             parse_tshark(outputs["tshark"]))
        wall_ratio = medians["tshark"][0] / medians["siplab analyze"][0]
        cpu_ratio = medians["tshark"][1] / medians["siplab analyze"][1]

        print(f"\n{'tool':<16} {'median wall s':>14} {'median CPU s':>13}   runs (wall s)")
        for name, (wall, cpu) in medians.items():
            runs = ", ".join(f"{w:.2f}" for w, _ in timings[name])
            print(f"{name:<16} {wall:>14.2f} {cpu:>13.2f}   {runs}")
        print(f"{'tshark/siplab':<16} {wall_ratio:>13.2f}x {cpu_ratio:>12.2f}x")
        streams = len(parse_siplab(outputs["siplab analyze"]))
        print(f"\nstreams compared: {streams}; packets and lost identical: "
              f"{'yes' if counts_ok else 'NO'}; largest delta/jitter difference: {worst:.6f} ms")
        for problem in problems:
            print(f"  {problem}")
        fast = wall_ratio >= TARGET_SPEEDUP
        agree = counts_ok and worst <= JITTER_TOLERANCE_MS
        print(f"\n{'PASS' if fast else 'FAIL'}: siplab analyze is {wall_ratio:.2f}x tshark's speed "
              f"(target >= {TARGET_SPEEDUP:.0f}x, wall clock)")
        print(f"{'PASS' if agree else 'FAIL'}: identical packet and loss counts, every delta and "
              f"jitter within {JITTER_TOLERANCE_MS} ms")
        if args.json:
            Path(args.json).write_text(json.dumps({
                "packets": rtp_packets, "streams": streams, "runs": args.runs,
                "timings": timings, "median": medians, "wall_ratio": wall_ratio,
                "cpu_ratio": cpu_ratio, "counts_identical": counts_ok,
                "largest_difference_ms": worst, "problems": problems,
                "pass_speed": fast, "pass_agreement": agree}, indent=2))
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
