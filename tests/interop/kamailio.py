"""Kamailio for the interop tests: configured, started, checked alive, stopped.

Kamailio is the SIP server most deployments run (Debian packages
``kamailio`` and ``kamailio-websocket-modules``). The tests start it with
siplab's own configuration, ``docker/kamailio/kamailio.cfg`` (registrar,
digest with one static password, record-routing stateful proxy, SIP over
WebSocket), the same file the docker compose of the course uses. The
configuration takes its settings from environment variables
(``KAMAILIO_UDP_PORT``...; the table is at the top of the file), which is
what a compose file's ``environment:`` sets too; :class:`Kamailio` sets them
for its own process only.

::

    with Kamailio(tmp_path, udp_port=p, tcp_port=p, ws_port=q, password="lab") as kamailio:
        ...  # register to kamailio.udp / kamailio.tcp / kamailio.ws
        print(kamailio.explain())  # its log, when something went wrong

What :class:`Kamailio` does, in order:

1. ``kamailio -c -f kamailio.cfg``: check the configuration; an error fails
   the test with Kamailio's own words (:class:`KamailioError`);
2. ``kamailio -DD -E -f kamailio.cfg -m 32 -M 4 -Y <tmp>/run -P <tmp>/run/kamailio.pid``:
   run in the foreground (``-DD``: the main process does not daemonize, it
   forks its workers and waits), log to stderr (``-E``, kept in
   ``<tmp>/kamailio.log``), with small shared (``-m``, MiB) and private
   (``-M``) memory so it starts in a few milliseconds, and with its runtime
   files in the test's own directory, never ``/var/run``, so tests can run
   side by side;
3. wait (at most :data:`START_TIMEOUT` s) until it answers an OPTIONS sent to
   its UDP port with 200 OK, the way a monitoring probe checks a SIP server;
4. on exit: SIGTERM (Kamailio then stops its workers), and if it is still
   running after :data:`STOP_TIMEOUT` s, SIGKILL to its whole process group.
   The log stays in ``tmp_path`` for the failure message.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

import pytest

from siplab.lab.kamailio import free_port
from siplab.sip.transport import Peer
from tests.helpers import require_peer

__all__ = [
    "CONFIG",
    "Kamailio",
    "KamailioError",
    "LOOPBACK",
    "START_TIMEOUT",
    "STOP_TIMEOUT",
    "free_port",
]

#: The configuration under test, shared with the docker compose.
CONFIG = Path(__file__).resolve().parents[2] / "docker" / "kamailio" / "kamailio.cfg"
LOOPBACK = "127.0.0.1"
#: Seconds Kamailio may take to answer its first OPTIONS.
START_TIMEOUT = 10.0
#: Seconds between SIGTERM and SIGKILL.
STOP_TIMEOUT = 5.0
#: Seconds ``kamailio -c`` may take.
CHECK_TIMEOUT = 20.0
#: Shared and private memory in MiB: plenty for a test, quick to set up.
SHARED_MEMORY_MB = 32
PRIVATE_MEMORY_MB = 4
#: Lines of the log shown by :meth:`Kamailio.explain`.
LOG_LINES = 400


class KamailioError(RuntimeError):
    """Kamailio refused its configuration, died, or never answered."""


def find_kamailio() -> str:
    """The kamailio binary (it lives in /usr/sbin, which a user's PATH may lack)."""
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/local/sbin", "/usr/sbin"])
    found = shutil.which("kamailio", path=search)
    return found if found is not None else require_peer("kamailio", "kamailio")


def require_module(module: str, package: str) -> None:
    """End the test for a Kamailio module that is not installed: fail in CI, else skip."""
    message = f"needs Kamailio's {module} module: apt-get install {package}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (CI=true: scripts/install.sh should have installed it)")
    pytest.skip(message)


class Kamailio:
    """One Kamailio process on 127.0.0.1, configured by ``docker/kamailio/kamailio.cfg``.

    ``udp_port`` and ``tcp_port`` may be equal (one SIP port, as 5060 usually
    is); ``ws_port`` must differ from both. ``password`` is every user's
    digest password. ``auth_calls=False`` lets INVITE and MESSAGE through
    without a 407 challenge (REGISTER is always challenged). ``children`` is
    the number of workers per listener; one is the default (FACTS.md).
    """

    def __init__(self, tmp_path: Path, udp_port: int, tcp_port: int, ws_port: int,
                 password: str = "lab", children: int = 1, *, host: str = LOOPBACK,
                 auth_calls: bool = True, log_level: int = 2, config: Path = CONFIG) -> None:
        if ws_port in (udp_port, tcp_port) and ws_port != 0:
            raise ValueError("the WebSocket port must differ from the SIP ports")
        if any(c in password for c in '"\\\r\n'):
            raise ValueError("the password is a quoted string in the config: no \" or \\")
        self.directory = tmp_path
        self.host = host
        self.udp = Peer(host, udp_port, "udp")
        self.tcp = Peer(host, tcp_port, "tcp")
        self.ws = Peer(host, ws_port, "ws")
        self.password = password
        self.config = config
        self.binary = find_kamailio()
        self.run_dir = tmp_path / "kamailio-run"
        self.pid_file = self.run_dir / "kamailio.pid"
        self.log_file = tmp_path / "kamailio.log"
        self.settings = {
            "KAMAILIO_LISTEN_IP": host,
            "KAMAILIO_UDP_PORT": str(udp_port),
            "KAMAILIO_TCP_PORT": str(tcp_port),
            "KAMAILIO_WS_PORT": str(ws_port),
            "KAMAILIO_PASSWORD": password,
            "KAMAILIO_AUTH_CALLS": "1" if auth_calls else "0",
            "KAMAILIO_CHILDREN": str(children),
            "KAMAILIO_LOG_LEVEL": str(log_level),
        }
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.ws.port}/"

    @property
    def command(self) -> list[str]:
        """How the harness runs it (the settings go in the environment)."""
        return [self.binary, "-DD", "-E", "-f", str(self.config),
                "-m", str(SHARED_MEMORY_MB), "-M", str(PRIVATE_MEMORY_MB),
                "-Y", str(self.run_dir), "-P", str(self.pid_file), "-w", str(self.directory)]

    def _environment(self) -> dict[str, str]:
        # Settings from the caller's own environment would clash with ours.
        env = {k: v for k, v in os.environ.items() if not k.startswith("KAMAILIO_")}
        env.update(self.settings)
        return env

    # -- the three steps --------------------------------------------------------------------

    def check(self) -> str:
        """``kamailio -c``: parse the configuration; its output, or KamailioError."""
        try:
            result = subprocess.run(
                [self.binary, "-c", "-f", str(self.config), "-m", str(SHARED_MEMORY_MB),
                 "-M", str(PRIVATE_MEMORY_MB), "-Y", str(self.run_dir)],
                env=self._environment(), cwd=self.directory, stdin=subprocess.DEVNULL,
                capture_output=True, timeout=CHECK_TIMEOUT, check=False)
        except subprocess.TimeoutExpired as error:
            raise KamailioError(f"kamailio -c still running after {CHECK_TIMEOUT} s") from error
        output = (result.stdout + result.stderr).decode("utf-8", "replace")
        if result.returncode != 0:
            missing = re.search(r"could not find module <(websocket|xhttp)>", output)
            if missing is not None:  # a peer that is not installed, like a missing binary
                require_module(missing.group(1), "kamailio-websocket-modules")
            raise KamailioError(
                f"kamailio rejected {self.config} (exit {result.returncode}):\n{output}")
        return output

    def start(self) -> None:
        """Check the configuration, start Kamailio, wait until it answers OPTIONS."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.check()
        with self.log_file.open("wb") as log:
            # A session of its own: the stop can reach every worker it forked, and
            # nothing else, through the process group.
            self.process = subprocess.Popen(
                self.command, env=self._environment(), cwd=self.directory,
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Send OPTIONS to the UDP port every 100 ms until a 200 comes back."""
        deadline = time.monotonic() + timeout
        attempt = 0
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind((LOOPBACK, 0))
            probe.settimeout(0.1)
            local_port = probe.getsockname()[1]
            while time.monotonic() < deadline:
                assert self.process is not None
                if self.process.poll() is not None:
                    raise KamailioError(f"kamailio exited with {self.process.returncode} "
                                        f"while starting\n{self.explain()}")
                attempt += 1
                probe.sendto(self._options(local_port, attempt), (self.udp.host, self.udp.port))
                with contextlib.suppress(TimeoutError, ConnectionRefusedError):
                    answer = probe.recv(65535)
                    if answer.startswith(b"SIP/2.0 200 "):
                        return
        raise KamailioError(f"kamailio did not answer OPTIONS within {timeout} s\n"
                            f"{self.explain()}")

    def _options(self, local_port: int, attempt: int) -> bytes:
        """A keep-alive OPTIONS to the server itself (no user part: REQINIT answers it)."""
        target = f"sip:{self.udp.host}:{self.udp.port}"
        return (
            f"OPTIONS {target} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {LOOPBACK}:{local_port};branch=z9hG4bK-probe-{attempt};rport\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:probe@{LOOPBACK}>;tag=probe{attempt}\r\n"
            f"To: <{target}>\r\n"
            f"Call-ID: probe-{os.getpid()}-{local_port}\r\n"
            f"CSeq: {attempt} OPTIONS\r\n"
            "Content-Length: 0\r\n"
            "\r\n"
        ).encode("ascii")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL to the process group after :data:`STOP_TIMEOUT` s."""
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(STOP_TIMEOUT)
        # A worker that outlived its main process (it should not) goes too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)

    # -- reading what it said ---------------------------------------------------------------

    @property
    def log(self) -> str:
        return self.log_file.read_text("utf-8", "replace") if self.log_file.exists() else ""

    async def logged(self, text: str, count: int = 1, timeout: float = 5.0) -> None:
        """Wait until ``text`` is in the log ``count`` times (the config logs each decision)."""
        deadline = time.monotonic() + timeout
        while self.log.count(text) < count:
            if time.monotonic() > deadline:
                raise KamailioError(f"{text!r} not logged {count} times within {timeout} s\n"
                                    f"{self.explain()}")
            await asyncio.sleep(0.02)

    def explain(self) -> str:
        """The end of Kamailio's log, for a failure message."""
        lines = self.log.splitlines()
        shown = lines[-LOG_LINES:]
        skipped = f"({len(lines) - len(shown)} earlier lines in {self.log_file})\n" \
            if len(lines) > len(shown) else ""
        return f"=== kamailio log ===\n{skipped}" + "\n".join(shown)

    def __enter__(self) -> Kamailio:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()
