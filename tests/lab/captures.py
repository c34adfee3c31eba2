"""tshark on both sides of the lab's capture tests: capturing on lo, and reading what it decoded.

:class:`LiveCapture` runs ``tshark -i lo`` (or ``-i any`` with a chosen link
type) writing a pcapng file, waits until dumpcap says "Capture started"
(before that, packets are missed, tests/interop/test_tshark_decode.py), and on
the way out makes sure everything sent was written before it stops tshark:
the kernel hands packets to dumpcap in blocks, a block only when it is full
or after a timeout, and a block still pending when dumpcap is stopped is
lost. So a *marker* datagram (its own port, in the capture filter) is sent
until its bytes show up in the file: everything sent before it is there too.
Then SIGINT makes tshark close the file and exit. Every wait is bounded; it is
killed if it hangs.

:func:`tshark_sip` lists the SIP messages tshark decoded (``-T json``, one
entry per message even when one frame carries two), :func:`tshark_streams`
parses ``-z rtp,streams``. Both are what siplab's readers are compared with.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

from tests.helpers import require_peer

__all__ = ["LiveCapture", "TsharkSip", "tshark_sip", "tshark_streams", "TsharkStream",
           "STREAM_COLUMNS"]

START_TIMEOUT = 15.0  # seconds for dumpcap to open the interface
STOP_TIMEOUT = 10.0
MARKER_TIMEOUT = 10.0  # seconds for the marker to reach the file
MARKER_EVERY = 0.1  # seconds between two markers
CAPTURE_LIMIT = 60  # tshark's own bound on a capture (-a duration)


def cannot_capture(reason: str) -> None:
    message = f"tshark cannot capture: {reason}"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


class LiveCapture:
    """``async with LiveCapture(path, "udp port 5080") as capture:`` captures on lo meanwhile."""

    def __init__(self, path: Path, capture_filter: str, *, interface: str = "lo",
                 link_type: str | None = None) -> None:
        self.path = path
        self.capture_filter = capture_filter
        self.interface = interface
        self.link_type = link_type  # "LINUX_SLL", "LINUX_SLL2" for -i any
        self.process: asyncio.subprocess.Process | None = None
        self.said = ""
        self.marker = b"siplab-capture-marker-" + secrets.token_hex(8).encode()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            self.marker_port = probe.getsockname()[1]

    async def __aenter__(self) -> LiveCapture:
        tshark = require_peer("tshark", "tshark")
        capture_filter = f"({self.capture_filter}) or (udp dst port {self.marker_port})"
        command = [tshark, "-i", self.interface, "-n", "-f", capture_filter,
                   "-a", f"duration:{CAPTURE_LIMIT}", "-w", str(self.path)]
        if self.link_type is not None:
            command += ["-y", self.link_type]
        self.process = await asyncio.create_subprocess_exec(
            *command, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE)
        assert self.process.stderr is not None
        async with asyncio.timeout(START_TIMEOUT):
            while "Capture started" not in self.said:
                line = await self.process.stderr.readline()
                if not line:
                    await self.process.wait()
                    cannot_capture(f"exit status {self.process.returncode}: {self.said.strip()}")
                self.said += line.decode("utf-8", "replace")
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        traceback: TracebackType | None) -> None:
        process = self.process
        if process is None or process.returncode is not None:
            return
        if error is None:
            await self._written()
        process.send_signal(signal.SIGINT)  # dumpcap closes the file, then exits
        try:
            async with asyncio.timeout(STOP_TIMEOUT):
                assert process.stderr is not None
                self.said += (await process.stderr.read()).decode("utf-8", "replace")
                await process.wait()
        except TimeoutError:
            process.kill()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5):
                    await process.wait()


    async def _written(self) -> None:
        """Send the marker until dumpcap has written it (see the module docstring)."""
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            async with asyncio.timeout(MARKER_TIMEOUT):
                while not (self.path.exists() and self.marker in self.path.read_bytes()):
                    sender.sendto(self.marker, ("127.0.0.1", self.marker_port))
                    await asyncio.sleep(MARKER_EVERY)


@dataclass(frozen=True)
class TsharkSip:
    """One SIP message as tshark decoded it."""

    frame: int
    time: float
    src: tuple[str, int]
    dst: tuple[str, int]
    label: str  # "INVITE" or "180 Ringing", as siplab's Message.label
    call_id: str


def _first(layer: dict[str, Any], name: str) -> str | None:
    value = layer.get(name)
    if isinstance(value, list):
        value = value[0]
    return value if isinstance(value, str) else None


def _sip_layers(layers: dict[str, Any]) -> list[dict[str, Any]]:
    found = layers.get("sip")
    if found is None:
        return []
    return found if isinstance(found, list) else [found]


def tshark_sip(pcap: Path, *options: str) -> list[TsharkSip]:
    """Every SIP message tshark finds in ``pcap``, in frame order (``options``: -d, -o ...)."""
    tshark = require_peer("tshark", "tshark")
    result = subprocess.run(
        [tshark, "-r", str(pcap), "-n", *options, "-Y", "sip", "-T", "json",
         "--no-duplicate-keys"],
        capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    messages = []
    for packet in json.loads(result.stdout or "[]"):
        layers = packet["_source"]["layers"]
        frame = layers["frame"]
        ip = layers.get("ip") or layers.get("ipv6") or {}
        if isinstance(ip, list):
            ip = ip[0]
        l4 = layers.get("udp") or layers.get("tcp") or {}
        src = _first(ip, "ip.src") or _first(ip, "ipv6.src") or ""
        dst = _first(ip, "ip.dst") or _first(ip, "ipv6.dst") or ""
        sport = _first(l4, "udp.srcport") or _first(l4, "tcp.srcport") or "0"
        dport = _first(l4, "udp.dstport") or _first(l4, "tcp.dstport") or "0"
        for sip in _sip_layers(layers):
            request = _first(sip, "sip.Request-Line")
            status = _first(sip, "sip.Status-Line")
            if request is not None:
                label = request.split(" ", 1)[0]
            elif status is not None:
                label = status.split(" ", 1)[1].strip()
            else:
                continue
            headers = sip.get("sip.msg_hdr_tree", {})
            call_id = _first(headers, "sip.Call-ID") or ""
            messages.append(TsharkSip(int(_first(frame, "frame.number") or 0),
                                      float(_first(frame, "frame.time_epoch") or 0),
                                      (src, int(sport)), (dst, int(dport)), label, call_id))
    return messages


STREAM_COLUMNS = ("min_delta", "mean_delta", "max_delta", "min_jitter", "mean_jitter",
                  "max_jitter")
_STREAM_LINE = re.compile(
    r"^\s*(?P<start>-?[\d.]+)\s+(?P<end>-?[\d.]+)\s+(?P<src>\S+)\s+(?P<sport>\d+)\s+"
    r"(?P<dst>\S+)\s+(?P<dport>\d+)\s+0x(?P<ssrc>[0-9A-Fa-f]+)\s+(?P<payload>.+?)\s+"
    r"(?P<packets>\d+)\s+(?P<lost>-?\d+) \([-\d.]+%\)"
    + "".join(rf"\s+(?P<f{i}>-?[\d.]+)" for i in range(6)) + r"\s*(?P<problem>X)?\s*$")


@dataclass(frozen=True)
class TsharkStream:
    """One row of ``tshark -z rtp,streams``."""

    src: tuple[str, int]
    dst: tuple[str, int]
    ssrc: int
    payload: str
    packets: int
    lost: int
    values: dict[str, float]  # STREAM_COLUMNS -> ms
    problem: bool

    @property
    def key(self) -> tuple[str, int, str, int, int]:
        return (*self.src, *self.dst, self.ssrc)


def tshark_streams(pcap: Path, *options: str) -> list[TsharkStream]:
    """``tshark -q -z rtp,streams -o rtp.heuristic_rtp:TRUE`` on ``pcap``, parsed."""
    tshark = require_peer("tshark", "tshark")
    result = subprocess.run(
        [tshark, "-r", str(pcap), "-n", "-q", "-z", "rtp,streams",
         "-o", "rtp.heuristic_rtp:TRUE", *options],
        capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    rows = []
    for line in result.stdout.splitlines():
        match = _STREAM_LINE.match(line)
        if match:
            rows.append(TsharkStream(
                (match["src"], int(match["sport"])), (match["dst"], int(match["dport"])),
                int(match["ssrc"], 16), match["payload"].strip(), int(match["packets"]),
                int(match["lost"]),
                {name: float(match[f"f{i}"]) for i, name in enumerate(STREAM_COLUMNS)},
                match["problem"] is not None))
    return rows
