"""Kamailio for a notebook: the class's server if there is one, else a private one on loopback.

The course ends by running the same user agents against
[Kamailio](https://www.kamailio.org), the SIP server most deployments use,
configured by siplab's own ``docker/kamailio/kamailio.cfg`` (registrar,
digest with one shared password, record-routing stateful proxy, SIP over
WebSocket; ``docker/kamailio/README.md`` explains every route). A notebook
gets one of two servers, with the same three things to use, a transport URL,
the address of record of a user and the password::

    server = class_server() or start_kamailio()   # None: no class server configured
    alice = UserAgent(server.aor("alice"), server.password, transport=server.transport)

* :func:`class_server` reads the **class Kamailio** an instructor runs
  (``docker/INSTRUCTORS.md``) from the environment the lab container gets:
  ``SIPLAB_CLASS_SERVER`` (``udp://kamailio:5060``), ``SIPLAB_CLASS_DOMAIN``,
  ``SIPLAB_CLASS_PASSWORD`` and ``SIPLAB_CLASS_WS``.
* :func:`start_kamailio` starts a **private Kamailio** on free 127.0.0.1 ports
  when the ``kamailio`` binary is installed (Debian ``kamailio`` and
  ``kamailio-websocket-modules``), the way the interop tests do: it checks
  the configuration (``kamailio -c``), runs ``kamailio -DD -E`` with its
  runtime files in a directory of its own, waits until an OPTIONS to its UDP
  port is answered 200 (at most ``timeout`` seconds), and :meth:`Kamailio.stop`
  sends SIGTERM, then SIGKILL to its process group.

The configuration takes its settings from ``KAMAILIO_*`` environment
variables; they are set for Kamailio's process only. Kamailio relays no
media: RTP goes straight between the phones.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from siplab.errors import SipError
from siplab.sip.transport import Peer

__all__ = [
    "CONFIG_VARIABLE",
    "ClassServer",
    "Kamailio",
    "KamailioError",
    "class_server",
    "find_config",
    "find_kamailio",
    "free_port",
    "start_kamailio",
]

#: Use this kamailio.cfg instead of the repository's ``docker/kamailio/kamailio.cfg``.
CONFIG_VARIABLE = "SIPLAB_KAMAILIO_CFG"
_HOST = "127.0.0.1"
_START_TIMEOUT = 10.0  # seconds until the first OPTIONS is answered
_STOP_TIMEOUT = 5.0  # seconds between SIGTERM and SIGKILL
_CHECK_TIMEOUT = 20.0  # seconds for kamailio -c
_SHARED_MB, _PRIVATE_MB = 32, 4  # small memory: it starts in milliseconds
_LOG_LINES = 60


class KamailioError(SipError, RuntimeError):
    """Kamailio is not installed, refused its configuration, died, or never answered."""


# -- the class's server ------------------------------------------------------------------


@dataclass(frozen=True, slots=True, repr=False)
class ClassServer:
    """The class Kamailio named by the ``SIPLAB_CLASS_*`` variables (docker/INSTRUCTORS.md).

    ``transport`` is where packets go (``udp://kamailio:5060``), ``domain`` the
    host part of every address (``sip:alice@kamailio``), ``ws`` the WebSocket
    URL a browser-like phone uses. ``prefix`` keeps your users apart from the
    rest of the class: ``aor("alice")`` is ``sip:<prefix>-alice@<domain>``.
    """

    transport: str
    domain: str
    password: str = field(repr=False)
    ws: str | None = None
    prefix: str = ""

    def __repr__(self) -> str:
        return (f"ClassServer(transport={self.transport!r}, domain={self.domain!r}, "
                f"ws={self.ws!r}, prefix={self.prefix!r}, password=NOT SHOWN)")

    @property
    def label(self) -> str:
        return f"the class Kamailio at {self.transport}"

    def user(self, name: str) -> str:
        """The user name for ``name`` on the shared server (with your prefix)."""
        return f"{self.prefix}-{name}" if self.prefix else name

    def aor(self, name: str) -> str:
        """The address of record of user ``name``: ``sip:<prefix>-name@domain``."""
        return f"sip:{self.user(name)}@{self.domain}"


def class_server(environ: Mapping[str, str] | None = None) -> ClassServer | None:
    """The class Kamailio from ``SIPLAB_CLASS_SERVER`` and friends, or None if it is not set.

    Raises :class:`KamailioError` when the server is set without its password.
    The prefix is ``$JUPYTERHUB_USER`` (one name per student on a hub), else
    the login name.
    """
    env = os.environ if environ is None else environ
    transport = env.get("SIPLAB_CLASS_SERVER", "").strip()
    if not transport:
        return None
    password = env.get("SIPLAB_CLASS_PASSWORD", "")
    if not password:
        raise KamailioError("SIPLAB_CLASS_SERVER is set but SIPLAB_CLASS_PASSWORD is not "
                            "(ask your instructor, docker/INSTRUCTORS.md)")
    domain = env.get("SIPLAB_CLASS_DOMAIN", "").strip()
    if not domain:  # udp://kamailio:5060 -> kamailio:5060
        domain = transport.split("://", 1)[-1].rstrip("/")
    prefix = env.get("JUPYTERHUB_USER") or _login()
    return ClassServer(transport, domain, password, env.get("SIPLAB_CLASS_WS") or None,
                       re.sub(r"[^A-Za-z0-9._-]", "", prefix))


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


# -- a private Kamailio -----------------------------------------------------------------------


def find_kamailio() -> str | None:
    """The ``kamailio`` binary, or None (it lives in /usr/sbin, which a PATH may lack)."""
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/local/sbin", "/usr/sbin"])
    return shutil.which("kamailio", path=search)


def find_config() -> Path:
    """``$SIPLAB_KAMAILIO_CFG``, else ``docker/kamailio/kamailio.cfg`` of this checkout."""
    configured = os.environ.get(CONFIG_VARIABLE)
    path = Path(configured) if configured else (
        Path(__file__).resolve().parents[2] / "docker" / "kamailio" / "kamailio.cfg")
    if not path.is_file():
        raise KamailioError(f"no Kamailio configuration at {path}: install siplab from a "
                            f"checkout (pip install -e .) or set {CONFIG_VARIABLE}")
    return path


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 (Kamailio binds both on one number)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((_HOST, 0))
            port = int(tcp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind((_HOST, port))
                except OSError:
                    continue
                return port
    raise KamailioError("no port free for both UDP and TCP on 127.0.0.1")


class Kamailio:
    """A Kamailio process on 127.0.0.1 (see the module docstring); made by :func:`start_kamailio`.

    ``udp``/``tcp`` (one port number) and ``ws`` are its listeners; the domain it
    serves is ``127.0.0.1:<port>``, so ``aor("alice")`` is
    ``sip:alice@127.0.0.1:<port>``. ``log`` is what it logged (one line per
    request, response and routing decision).
    """

    def __init__(self, directory: Path, sip_port: int, ws_port: int, password: str, *,
                 auth_calls: bool = True, log_level: int = 2, config: Path | None = None,
                 binary: str | None = None) -> None:
        if any(c in password for c in '"\\\r\n'):
            raise KamailioError('the password is a quoted string in the config: no " or \\')
        found = binary or find_kamailio()
        if found is None:
            raise KamailioError("kamailio is not installed (apt-get install kamailio "
                                "kamailio-websocket-modules)")
        self.binary = found
        self.config = config or find_config()
        self.directory = directory
        self.udp = Peer(_HOST, sip_port, "udp")
        self.tcp = Peer(_HOST, sip_port, "tcp")
        self.ws = Peer(_HOST, ws_port, "ws")
        self.password = password
        self.run_dir = directory / "run"
        self.log_file = directory / "kamailio.log"
        self.settings = {
            "KAMAILIO_LISTEN_IP": _HOST,
            "KAMAILIO_UDP_PORT": str(sip_port),
            "KAMAILIO_TCP_PORT": str(sip_port),
            "KAMAILIO_WS_PORT": str(ws_port),
            "KAMAILIO_PASSWORD": password,
            "KAMAILIO_AUTH_CALLS": "1" if auth_calls else "0",
            "KAMAILIO_CHILDREN": "1",
            "KAMAILIO_LOG_LEVEL": str(log_level),
        }
        self.process: subprocess.Popen[bytes] | None = None

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<Kamailio {self.transport} ws {self.ws_url} {state}>"

    # -- what a notebook uses ------------------------------------------------------------------

    @property
    def transport(self) -> str:
        """The UDP transport URL, for ``UserAgent(transport=...)``."""
        return f"udp://{self.udp.host}:{self.udp.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.ws.host}:{self.ws.port}/"

    @property
    def domain(self) -> str:
        return f"{self.udp.host}:{self.udp.port}"

    @property
    def label(self) -> str:
        return f"a private Kamailio at {self.transport}"

    def user(self, name: str) -> str:
        return name

    def aor(self, name: str) -> str:
        """The address of record of user ``name``: ``sip:name@127.0.0.1:<port>``."""
        return f"sip:{name}@{self.domain}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def log(self) -> str:
        return self.log_file.read_text("utf-8", "replace") if self.log_file.exists() else ""

    def log_lines(self, text: str = "") -> list[str]:
        """The log lines containing ``text`` (all of them by default)."""
        return [line for line in self.log.splitlines() if text in line]

    # -- starting and stopping ------------------------------------------------------------------

    @property
    def command(self) -> list[str]:
        return [self.binary, "-DD", "-E", "-f", str(self.config), "-m", str(_SHARED_MB),
                "-M", str(_PRIVATE_MB), "-Y", str(self.run_dir),
                "-P", str(self.run_dir / "kamailio.pid"), "-w", str(self.directory)]

    def _environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KAMAILIO_")}
        env.update(self.settings)
        return env

    def start(self, timeout: float = _START_TIMEOUT) -> None:
        """Check the configuration, start Kamailio, wait until it answers OPTIONS."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        try:
            check = subprocess.run(
                [self.binary, "-c", "-f", str(self.config), "-m", str(_SHARED_MB),
                 "-M", str(_PRIVATE_MB), "-Y", str(self.run_dir)],
                env=self._environment(), cwd=self.directory, stdin=subprocess.DEVNULL,
                capture_output=True, timeout=_CHECK_TIMEOUT, check=False)
        except subprocess.TimeoutExpired as error:
            raise KamailioError(f"kamailio -c still running after {_CHECK_TIMEOUT} s") from error
        if check.returncode != 0:
            said = (check.stdout + check.stderr).decode("utf-8", "replace")
            raise KamailioError(f"kamailio rejected {self.config}:\n{said[-3000:]}")
        with self.log_file.open("wb") as log:
            # A session of its own, so that stop() reaches every worker it forks.
            self.process = subprocess.Popen(
                self.command, env=self._environment(), cwd=self.directory,
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, timeout: float) -> None:
        """An OPTIONS to the UDP port every 100 ms until a 200 comes back (a liveness probe)."""
        deadline = time.monotonic() + timeout
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind((_HOST, 0))
            probe.settimeout(0.1)
            port = probe.getsockname()[1]
            attempt = 0
            while time.monotonic() < deadline:
                assert self.process is not None
                if self.process.poll() is not None:
                    raise KamailioError(f"kamailio exited with {self.process.returncode}:\n"
                                        f"{self.explain()}")
                attempt += 1
                probe.sendto(self._options(port, attempt), (self.udp.host, self.udp.port))
                with contextlib.suppress(TimeoutError, ConnectionRefusedError):
                    if probe.recv(65535).startswith(b"SIP/2.0 200 "):
                        return
        raise KamailioError(f"kamailio did not answer OPTIONS within {timeout} s:\n"
                            f"{self.explain()}")

    def _options(self, port: int, attempt: int) -> bytes:
        target = f"sip:{self.udp.host}:{self.udp.port}"
        return (f"OPTIONS {target} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP {_HOST}:{port};branch=z9hG4bK-probe-{attempt};rport\r\n"
                "Max-Forwards: 70\r\n"
                f"From: <sip:probe@{_HOST}>;tag=probe{attempt}\r\n"
                f"To: <{target}>\r\n"
                f"Call-ID: probe-{os.getpid()}-{port}\r\n"
                f"CSeq: {attempt} OPTIONS\r\n"
                "Content-Length: 0\r\n\r\n").encode("ascii")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL to its process group after a few seconds (twice is harmless)."""
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(_STOP_TIMEOUT)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)  # a worker that outlived the main process

    def explain(self) -> str:
        """The end of Kamailio's log."""
        return "\n".join(self.log.splitlines()[-_LOG_LINES:])

    def __enter__(self) -> Kamailio:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()


def start_kamailio(password: str | None = None, *, auth_calls: bool = True,
                   directory: str | os.PathLike[str] | None = None, log_level: int = 2,
                   timeout: float = _START_TIMEOUT) -> Kamailio:
    """Start a private Kamailio on free 127.0.0.1 ports; raise :class:`KamailioError` if
    it is not installed or does not come up. ``password``: every user's (random by
    default). ``directory``: where its log and runtime files go (a new temporary one
    by default). Stop it with :meth:`Kamailio.stop` (or use it in a ``with``)."""
    if find_kamailio() is None:
        raise KamailioError("kamailio is not installed (apt-get install kamailio "
                            "kamailio-websocket-modules)")
    where = Path(directory) if directory is not None else Path(
        tempfile.mkdtemp(prefix="siplab-kamailio-"))
    sip_port = free_port()
    ws_port = free_port()
    while ws_port == sip_port:
        ws_port = free_port()
    kamailio = Kamailio(where, sip_port, ws_port, password or secrets.token_hex(8),
                        auth_calls=auth_calls, log_level=log_level)
    kamailio.start(timeout)
    return kamailio
