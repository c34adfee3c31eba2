"""Capturing the loopback interface with dumpcap, the way Wireshark does, into a small pcap.

``with Capture(path):`` runs ``dumpcap -i lo`` while the block runs. Two
details make the file complete and clean:

* dumpcap needs a moment to open the interface: :meth:`Capture.start` waits
  until it says ``File: ...`` on stderr (packets sent before that are missed);
* the kernel hands captured packets to dumpcap in blocks, and a block still
  pending when dumpcap stops is lost. So on the way out a *marker* datagram
  (to a port of its own) is sent every 100 ms until dumpcap has written it:
  everything sent before it is in the file too. Then SIGINT stops dumpcap,
  and ``tshark -r raw -Y '!(udp.port == MARKER)' -F pcap -w path`` keeps
  everything but the markers, in the classic libpcap format every tool reads.

Every wait is bounded; dumpcap is killed if it does not stop.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

__all__ = ["Capture", "CaptureError"]

START_TIMEOUT = 15.0
MARKER_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0


class CaptureError(RuntimeError):
    """dumpcap or tshark is missing, or the capture did not work."""


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise CaptureError(f"{name} is not installed (apt-get install tshark)")
    return found


class Capture:
    """Capture ``interface`` (lo) into ``path`` (pcap) while the ``with`` block runs."""

    def __init__(self, path: Path, interface: str = "lo", capture_filter: str = "udp or tcp"):
        self.path = path
        self.interface = interface
        self.capture_filter = capture_filter
        self.marker = b"siplab-data-marker"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            self.marker_port = probe.getsockname()[1]
        self._work = Path(tempfile.mkdtemp(prefix="siplab-capture-"))
        self.raw = self._work / "raw.pcapng"
        self._stderr = self._work / "dumpcap.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [_tool("dumpcap"), "-i", self.interface, "-q", "-w", str(self.raw),
                   "-f", f"({self.capture_filter}) or udp port {self.marker_port}"]
        with self._stderr.open("wb") as log:
            self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL,
                                            stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + START_TIMEOUT
        while "File:" not in self._said():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self._kill()
                raise CaptureError(f"dumpcap did not start: {self._said()}")
            time.sleep(0.05)

    def _said(self) -> str:
        return self._stderr.read_text("utf-8", "replace") if self._stderr.exists() else ""

    def stop(self) -> None:
        """Flush with markers, stop dumpcap, write ``path`` without the markers."""
        assert self.process is not None
        deadline = time.monotonic() + MARKER_TIMEOUT
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            while self.marker not in (self.raw.read_bytes() if self.raw.exists() else b""):
                if time.monotonic() > deadline:
                    self._kill()
                    raise CaptureError("the marker never reached the capture file")
                sender.sendto(self.marker, ("127.0.0.1", self.marker_port))
                time.sleep(0.1)
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self._kill()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([_tool("tshark"), "-r", str(self.raw), "-Y",
                        f"!(udp.port == {self.marker_port})", "-F", "pcap",
                        "-w", str(self.path)], check=True, capture_output=True, timeout=60)
        shutil.rmtree(self._work, ignore_errors=True)

    def _kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(STOP_TIMEOUT)

    def __enter__(self) -> Capture:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if error is None:
            self.stop()
        else:
            self._kill()
