"""The lossy-network scenario below the sockets: Linux network namespaces and ``tc netem``.

tests/faults/test_lossy_udp.py impairs the datagrams inside the process.
The kernel can do it for real: in a network namespace made for the test
(``ip netns add``), ``tc qdisc add dev lo root netem loss 30%`` makes the
namespace's loopback lose, delay, duplicate or reorder packets, and the same
scenario (tests/faults/netem_scenario.py) runs there in a child process.
Nothing leaves the namespace, and it is deleted afterwards.

This needs root, iproute2 and a kernel with the netem qdisc
(``sch_netem``); without them the test is skipped and says which is missing.
(Measured on the machines of this project: namespaces work as root, but the
kernel has no netem, so the in-process impairment is what runs.)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NETEM_SETTINGS = {
    "10% loss": "loss 10% delay 5ms",
    "30% loss": "loss 30% delay 5ms",
    "bad wifi": "loss 10% delay 10ms 20ms duplicate 10% reorder 20%",
}


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)


@contextmanager
def namespace(netem: str | None = None) -> Iterator[str]:
    """A fresh network namespace with loopback up (and netem on it), deleted afterwards."""
    name = f"siplab-{uuid.uuid4().hex[:8]}"
    made = _ip("netns", "add", name)
    if made.returncode != 0:
        raise OSError(made.stderr.strip() or "ip netns add failed")
    try:
        _ip("-n", name, "link", "set", "lo", "up")
        if netem is not None:
            added = _ip("netns", "exec", name, "tc", "qdisc", "add", "dev", "lo", "root",
                        "netem", *netem.split())
            if added.returncode != 0:
                raise OSError(added.stderr.strip() or "tc qdisc add netem failed")
        yield name
    finally:
        _ip("netns", "delete", name)


@cache
def netem_missing() -> str | None:
    """Why netem cannot be used here, or None when it can."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None or shutil.which("tc") is None:
        return "iproute2 (ip, tc) is not installed"
    try:
        with namespace("loss 1%"):
            return None
    except OSError as error:
        return f"no netem here: {error}"


@pytest.mark.parametrize("setting", list(NETEM_SETTINGS))
def test_scenario_completes_under_netem(setting: str) -> None:
    missing = netem_missing()
    if missing is not None:
        pytest.skip(missing)
    with namespace(NETEM_SETTINGS[setting]) as name:
        done = subprocess.run(
            ["ip", "netns", "exec", name, sys.executable, "-m", "tests.faults.netem_scenario"],
            cwd=ROOT, capture_output=True, text=True, timeout=80,
        )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "netem scenario completed" in done.stdout
