"""The ``siplab`` command line: ``siplab server`` run as a real process.

DESIGN.md ("Public contracts"): each subcommand has ``--help`` and exits
non-zero with a one-line error on bad input. ``siplab server`` prints where it
listens and who may register (never a password), answers SIP (here an OPTIONS
over UDP, RFC 3261 §11), and stops cleanly on SIGTERM or SIGINT.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from siplab.cli import (
    build_parser,
    main,
    parse_host_port,
    parse_users,
    read_users_file,
    server_listeners,
)
from siplab.sip.message import Response, parse_message
from tests.helpers import crlf

ROOT = Path(__file__).resolve().parents[1]
LISTENING = re.compile(r"listening on (udp|tcp|ws) (\S+):(\d+)")


class ServerProcess:
    """``python -m siplab server ...`` with its stdout read line by line, bounded."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "siplab", "server", *args], cwd=ROOT,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read_lines, daemon=True)
        self._reader.start()

    def read_until(self, predicate: re.Pattern[str], count: int, timeout: float = 5.0) -> None:
        """Read stdout until ``count`` lines match ``predicate`` (or fail after ``timeout``)."""
        deadline = time.monotonic() + timeout
        while sum(1 for line in self.lines if predicate.search(line)) < count:
            try:
                line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"server did not print enough lines: {self.lines}")
            if line is None:
                pytest.fail(f"server exited: {self.lines} {self.stderr()}")
            self.lines.append(line.rstrip("\n"))

    def _read_lines(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line)
        self._queue.put(None)

    def listeners(self) -> dict[str, tuple[str, int]]:
        found = (LISTENING.search(line) for line in self.lines)
        return {m.group(1): (m.group(2), int(m.group(3))) for m in found if m}

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 5.0) -> int:
        self.process.send_signal(signum)
        return self.process.wait(timeout)

    def stderr(self) -> str:
        assert self.process.stderr is not None
        return self.process.stderr.read() if self.process.poll() is not None else ""

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)
        self._reader.join(5)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def server() -> Iterator[ServerProcess]:
    started = ServerProcess("--udp", "127.0.0.1:0", "--tcp", "127.0.0.1:0",
                            "--ws", "127.0.0.1:0", "--users", "alice:pw-alice,bob:pw-bob")
    try:
        yield started
    finally:
        started.kill()


def options_over_udp(host: str, port: int) -> Response:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(2.0)
        local_port = sock.getsockname()[1]
        sock.sendto(crlf(f"""
            OPTIONS sip:{host}:{port} SIP/2.0
            Via: SIP/2.0/UDP 127.0.0.1:{local_port};branch=z9hG4bKcli1;rport
            Max-Forwards: 70
            From: <sip:cli@127.0.0.1>;tag=c1
            To: <sip:{host}:{port}>
            Call-ID: cli-options@test
            CSeq: 1 OPTIONS
            Content-Length: 0

        """), (host, port))
        response = parse_message(sock.recv(65536))
    assert isinstance(response, Response)
    return response


class TestServerCommand:
    def test_server_listens_answers_options_and_stops_on_sigterm(
            self, server: ServerProcess) -> None:
        server.read_until(LISTENING, 3)
        server.read_until(re.compile("^users: "), 1)
        listeners = server.listeners()
        assert sorted(listeners) == ["tcp", "udp", "ws"]
        assert "users: alice, bob" in server.lines
        assert not any("pw-alice" in line for line in server.lines)
        response = options_over_udp(*listeners["udp"])
        assert response.status == 200
        assert server.stop(signal.SIGTERM) == 0

    def test_server_stops_cleanly_on_sigint(self) -> None:
        started = ServerProcess("--udp", "127.0.0.1:0", "--open")
        try:
            started.read_until(LISTENING, 1)
            assert started.stop(signal.SIGINT) == 0
        finally:
            started.kill()

    def test_without_listeners_the_server_listens_on_loopback_only(self) -> None:
        args = build_parser().parse_args(["server", "--open"])
        assert server_listeners(args) == {
            "udp": [("127.0.0.1", 5060)], "tcp": [("127.0.0.1", 5060)],
            "ws": [("127.0.0.1", 8080)], "tls": [], "wss": []}
        args = build_parser().parse_args(["server", "--open", "--ws", "127.0.0.1:0"])
        assert server_listeners(args)["udp"] == []  # given listeners replace the defaults

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["--udp", "nowhere", "--open"], "HOST:PORT"),
            (["--udp", "127.0.0.1:99999", "--open"], "HOST:PORT"),
            (["--udp", "127.0.0.1:0"], "exactly one of"),
            (["--udp", "127.0.0.1:0", "--users", "alice"], "user:password"),
        ],
    )
    def test_bad_arguments_give_one_line_and_exit_2(self, args: list[str],
                                                    message: str) -> None:
        result = subprocess.run([sys.executable, "-m", "siplab", "server", *args], cwd=ROOT,
                                capture_output=True, text=True, timeout=30)
        assert result.returncode == 2
        assert result.stdout == ""
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("siplab: error:")
        assert message in lines[0]

    def test_server_help_names_the_flags(self, capsys: pytest.CaptureFixture[str]) -> None:
        with pytest.raises(SystemExit) as exited:
            main(["server", "--help"])
        assert exited.value.code == 0
        out = capsys.readouterr().out
        for flag in ("--udp", "--tcp", "--ws", "--users", "--users-file", "--open", "--domain",
                     "--debug"):
            assert flag in out


class TestArgumentParsing:
    def test_host_port_forms(self) -> None:
        assert parse_host_port("127.0.0.1:5060") == ("127.0.0.1", 5060)
        assert parse_host_port("localhost:0") == ("localhost", 0)
        assert parse_host_port("[::1]:5060") == ("::1", 5060)

    @pytest.mark.parametrize("text", ["127.0.0.1:\u00b2", "127.0.0.1:5\u0660", "127.0.0.1:65536",
                                      "127.0.0.1:" + "9" * 5000, "127.0.0.1", ":5060"])
    def test_a_bad_port_is_a_usage_error_not_a_traceback(self, text: str,
                                                          capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
        # "²" and Arabic-Indic digits pass str.isdigit() but int() refuses them.
        assert main(["server", "--udp", text]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1, err
        assert "expected HOST:PORT" in err[0]

    def test_users_list_and_file(self, tmp_path: Path) -> None:
        assert parse_users("alice:secret, bob:a:b") == {"alice": "secret", "bob": "a:b"}
        path = tmp_path / "users.txt"
        path.write_text("# the class\nalice:one\n\n  bob:two  \n", encoding="utf-8")
        assert read_users_file(str(path)) == {"alice": "one", "bob": "two"}

    def test_users_file_error_names_the_line_but_not_the_password(self, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]
                                                                  ) -> None:
        path = tmp_path / "users.txt"
        path.write_text("alice:one\nbob-without-password-xyz\n", encoding="utf-8")
        assert main(["server", "--udp", "127.0.0.1:0", "--users-file", str(path)]) == 2
        err = capsys.readouterr().err
        assert "line 2" in err
        assert "xyz" not in err
