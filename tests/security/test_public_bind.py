"""The lab server says so when it listens where other machines can reach it.

A lab server is meant for loopback: on any other address, anyone on the
network can register and call through it. What a notebook starts
(:func:`siplab.lab.start`) listens on 127.0.0.1 only; ``siplab server`` binds
exactly the HOST:PORT it is given. ``LabServer`` logs a warning and
lists such listeners in :attr:`~siplab.aio.server.LabServer.public_addresses`;
``siplab server`` prints a warning line on stderr for each. To bind 0.0.0.0
without exposing anything, the command runs in a network namespace of its own
(``unshare --net``: only a private loopback exists there); without unshare
(or root) that test is skipped.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from siplab.aio.server import LabServer, is_loopback
from siplab.ids import IdSource
from tests.security.lab import LOOPBACK, run

ROOT = Path(__file__).resolve().parents[2]
WARNING = "is not a loopback address"


def server_output(listen: str, *, isolated: bool) -> tuple[str, str]:
    """Start ``siplab server --udp LISTEN --open``, wait for its "users:" line, stop it;
    return its stdout and stderr."""
    command = [sys.executable, "-m", "siplab", "server", "--udp", listen, "--open"]
    if isolated:
        command = ["unshare", "--net", "sh", "-c",
                   'ip link set lo up 2>/dev/null; exec "$@"', "sh", *command]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:  # bounded by the timeout of communicate() below
            lines.append(line)
            if line.startswith("users:"):
                break
        process.send_signal(signal.SIGTERM)
        rest, errors = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=5)
    return "".join(lines) + rest, errors


def unshare_missing() -> str | None:
    if shutil.which("unshare") is None:
        return "unshare (util-linux) is not installed"
    if os.geteuid() != 0:
        return "unshare --net needs root"
    probe = subprocess.run(["unshare", "--net", "true"], capture_output=True, timeout=10)
    return None if probe.returncode == 0 else "unshare --net is not permitted here"


def test_siplab_server_warns_on_stderr_when_listening_on_every_address() -> None:
    missing = unshare_missing()
    if missing is not None:
        pytest.skip(missing)
    out, errors = server_output("0.0.0.0:0", isolated=True)
    assert "listening on udp 0.0.0.0:" in out
    [warning] = [line for line in errors.splitlines() if line.startswith("siplab: warning:")]
    assert warning.startswith("siplab: warning: udp 0.0.0.0:")
    assert WARNING in warning


def test_siplab_server_on_loopback_prints_no_warning() -> None:
    out, errors = server_output(f"{LOOPBACK}:0", isolated=False)
    assert f"listening on udp {LOOPBACK}:" in out
    assert WARNING not in errors


def test_labserver_lists_and_logs_public_listeners(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> list[str]:
        async with LabServer(udp=[(LOOPBACK, 0)], open=True, ids=IdSource("bind")) as server:
            return [str(peer) for peer in server.public_addresses]

    with caplog.at_level(logging.WARNING, logger="siplab.server"):
        assert run(scenario()) == []
    assert WARNING not in caplog.text


def test_lab_start_listens_on_loopback_only(caplog: pytest.LogCaptureFixture) -> None:
    """The notebooks' ``siplab.lab.start()`` binds every transport on loopback, silently."""
    from siplab.lab import start

    async def scenario() -> tuple[list[str], list[str]]:
        lab = await start(seed="bind")
        try:
            server = lab.server
            return ([peer.host for peer in server.addresses],
                    [str(peer) for peer in server.public_addresses])
        finally:
            await lab.stop()

    with caplog.at_level(logging.WARNING, logger="siplab"):
        hosts, public = run(scenario())
    assert len(hosts) == 3  # udp, tcp, ws
    assert all(is_loopback(host) for host in hosts), hosts
    assert public == []
    assert WARNING not in caplog.text
