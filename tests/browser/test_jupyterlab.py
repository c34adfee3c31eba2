"""Two Dialer widgets call each other in a real JupyterLab, clicked in Debian's Chromium.

The headless widget tests (tests/lab/test_widgets.py) click buttons in
Python. This one checks the whole chain a student uses: JupyterLab 4 serves
a notebook, the browser renders ipywidgets 8 (the jupyterlab-manager
extension), a click travels over the kernel's comm channel to the kernel's
asyncio loop, the siplab phones there send SIP (REGISTER, INVITE, 180, 200,
ACK, BYE: RFC 3261 §10, §13, §15) and RTP, and the widgets' new values travel
back to the page.

JupyterLab runs from the venv on 127.0.0.1, on a free port, with a token,
its own settings, workspace and runtime directories in the test's temporary
directory (news and update checks off, so it calls nobody; notebook
windowing off, so every cell is in the page), and a notebook written by the
test. It is shut down through its API in ``finally`` (which also stops the
kernel), then terminated if it lingers. A screenshot of the call in progress
(both dialers, the timer, the live ladder) is kept in
``artifacts/<test name>/``, with JupyterLab's log.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import nbformat
import pytest

from tests.interop.peers import free_port

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

LOOPBACK = "127.0.0.1"
SERVER_START = 45.0  # seconds for JupyterLab to answer /api
WIDGETS_SHOWN = 60.0  # kernel start, siplab.lab.start(), phones made, widgets rendered
STEP = 15.0  # one click and its outcome (a REGISTER, an answered INVITE...)

#: The notebook the browser runs: a lab, two dialers, a live ladder of the lab's server.
CELLS = [
    "import siplab.lab\n\nlab = await siplab.lab.start(users=('alice', 'bob'))",
    "phones = siplab.lab.dialers(lab, 'alice', 'bob')\nphones",
    "siplab.lab.LiveLadder(lab, interval=0.3)",
]

#: JupyterLab settings for a test: no news or update checks (no calls outside the
#: machine, no pop-up over the widgets), no notebook windowing (every cell rendered), and
#: the notebook's kernel started without asking.
SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
        {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings":
        {"windowingMode": "none", "autoStartDefaultKernel": True},
}


def write_notebook(directory: Path) -> Path:
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "language": "python",
                                       "display_name": "Python 3 (ipykernel)"}
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in CELLS]
    path = directory / "dialers.ipynb"
    nbformat.write(notebook, path)
    return path


class JupyterLab:
    """``jupyter lab`` from the venv, on loopback, in its own directories (see module doc)."""

    def __init__(self, base: Path, log: Path) -> None:
        self.base = base
        self.root = base / "notebooks"
        self.root.mkdir()
        self.runtime = base / "runtime"
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.url = f"http://{LOOPBACK}:{self.port}"
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        settings = self.base / "settings"
        for name, values in SETTINGS.items():
            path = settings / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values), "utf-8")
        env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(self.runtime),
                   JUPYTER_CONFIG_DIR=str(self.base / "config"),
                   JUPYTER_DATA_DIR=str(self.base / "data"),
                   IPYTHONDIR=str(self.base / "ipython"))
        command = [
            sys.executable, "-m", "jupyterlab", "--no-browser",
            f"--ServerApp.ip={LOOPBACK}", f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0", f"--ServerApp.token={self.token}",
            f"--ServerApp.root_dir={self.root}",
            f"--LabApp.user_settings_dir={settings}",
            f"--LabApp.workspaces_dir={self.base / 'workspaces'}",
        ]
        if os.geteuid() == 0:
            command.append("--allow-root")
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out,
                                            stderr=subprocess.STDOUT, env=env,
                                            start_new_session=True)
        deadline = time.monotonic() + SERVER_START
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"jupyter lab exited with {self.process.returncode}:\n"
                            f"{self.log_tail()}")
            with contextlib.suppress(OSError):
                if self._request("GET", "/api", timeout=2.0) == 200:
                    return
            time.sleep(0.2)
        pytest.fail(f"jupyter lab did not answer /api within {SERVER_START} s:\n"
                    f"{self.log_tail()}")

    def _request(self, method: str, path: str, timeout: float) -> int:
        request = urllib.request.Request(f"{self.url}{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status)

    def stop(self) -> None:
        """Shut down through the API (kernels first), then terminate, then kill (bounded)."""
        process = self.process
        if process is None:
            return
        with contextlib.suppress(OSError, urllib.error.URLError):
            self._request("POST", "/api/shutdown", timeout=5.0)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        self._kill_kernels()

    def _kill_kernels(self) -> None:
        """Kernels run in their own sessions: end any still running on our connection
        files (their command lines name our runtime directory), by process id."""
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                command = (entry / "cmdline").read_bytes()
                if str(self.runtime).encode() in command:
                    os.kill(int(entry.name), signal.SIGKILL)

    def log_tail(self, size: int = 4000) -> str:
        return self.log.read_text("utf-8", "replace")[-size:] if self.log.exists() else ""


@pytest.fixture
def jupyterlab(tmp_path: Path, artifacts_dir: Path) -> Iterator[JupyterLab]:
    server = JupyterLab(tmp_path, artifacts_dir / "jupyterlab.log")
    try:
        server.start()
        yield server
    finally:
        server.stop()


def in_dialer(name: str, role: str) -> str:
    """The CSS selector of a control of a dialer: ``.siplab-dialer-alice .siplab-call``."""
    return f".siplab-dialer-{name} .siplab-{role}"


def text_of(page: Page, selector: str) -> str:
    return str(page.locator(selector).first.text_content() or "").strip()


def wait_for_text(page: Page, selector: str, pattern: str, timeout: float = STEP) -> None:
    """Wait until the text of ``selector`` matches the (JavaScript) regular expression."""
    page.wait_for_function(
        "([selector, pattern]) => new RegExp(pattern).test("
        "document.querySelector(selector)?.textContent ?? '')",
        arg=[selector, pattern], timeout=timeout * 1000)


def run_all_cells(page: Page) -> None:
    """JupyterLab's menu: Run > Run All Cells, once the kernel is idle.

    The command acts on the notebook that has the focus; while JupyterLab is
    still settling right after loading it may do nothing, so the first code
    cell's prompt is checked (``[*]`` or a number; a markdown cell has none)
    and the menu used again if needed.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.get_by_text("| Idle").first.wait_for(timeout=WIDGETS_SHOWN * 1000)
    first_prompt = page.locator(".jp-CodeCell .jp-InputPrompt").first
    for _ in range(3):
        page.locator(".jp-CodeCell").first.click()
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
        page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
        with contextlib.suppress(PlaywrightTimeout):
            page.wait_for_function(
                "(element) => /\\[[*0-9]+\\]/.test(element.textContent)",
                arg=first_prompt.element_handle(), timeout=5000)
            return
    pytest.fail("Run > Run All Cells did not start the notebook")


@pytest.mark.interop
def test_alice_calls_bob_with_dialer_widgets_in_jupyterlab(
        chromium: Browser, jupyterlab: JupyterLab, artifacts_dir: Path) -> None:
    notebook = write_notebook(jupyterlab.root)
    context = chromium.new_context(viewport={"width": 1400, "height": 1500})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    screenshot = artifacts_dir / "jupyterlab-dialers-call.png"
    try:
        page.goto(f"{jupyterlab.url}/lab/tree/{notebook.name}?token={jupyterlab.token}",
                  timeout=STEP * 1000)
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=WIDGETS_SHOWN * 1000)
        run_all_cells(page)

        # The phones are made (their Register buttons come alive) and the ladder is there.
        for name in ("alice", "bob"):
            page.wait_for_selector(f"{in_dialer(name, 'register')}:not([disabled])",
                                   timeout=WIDGETS_SHOWN * 1000)
        page.wait_for_selector(".siplab-ladder pre", timeout=STEP * 1000)

        # Alice and Bob register: their lights turn green.
        for name in ("alice", "bob"):
            page.click(in_dialer(name, "register"))
        for name in ("alice", "bob"):
            page.wait_for_selector(in_dialer(name, "light-green"), timeout=STEP * 1000)

        # Alice dials bob and calls; Bob sees the notice and answers.
        page.fill(f"{in_dialer('alice', 'number')} input", "bob")
        page.click(in_dialer("alice", "call"))
        wait_for_text(page, in_dialer("bob", "incoming"), "Incoming call from")
        assert "sip:alice@127.0.0.1" in text_of(page, in_dialer("bob", "incoming"))
        page.click(in_dialer("bob", "answer"))

        # The call runs: both timers pass a second, the codec is shown, RTP flows.
        for name in ("alice", "bob"):
            page.wait_for_function(
                "(selector) => (document.querySelector(selector)?.textContent ?? '')"
                ".trim() >= '00:01'", arg=in_dialer(name, "timer"), timeout=STEP * 1000)
        assert text_of(page, in_dialer("alice", "status")) == "in call with bob"
        assert text_of(page, in_dialer("alice", "codec")) == "codec: PCMU"
        wait_for_text(page, in_dialer("bob", "stats"), r"received [1-9]\d*")

        # The live ladder has drawn the call: INVITE ... 200 OK ... ACK.
        wait_for_text(page, ".siplab-ladder pre", r"INVITE[\s\S]*200 OK[\s\S]*ACK")
        page.screenshot(path=str(screenshot), full_page=True)

        # Alice hangs up: both phones are free again.
        page.click(in_dialer("alice", "hangup"))
        wait_for_text(page, in_dialer("alice", "status"), "^last call: we hung up$")
        wait_for_text(page, in_dialer("bob", "status"), "^last call: the other side hung up$")
        wait_for_text(page, ".siplab-ladder pre", r"INVITE[\s\S]*ACK[\s\S]*BYE[\s\S]*200 OK")
        page.screenshot(path=str(artifacts_dir / "jupyterlab-dialers-hung-up.png"),
                        full_page=True)
        assert errors == [], f"errors in the page: {errors}"
    except Exception:
        with contextlib.suppress(Exception):
            page.screenshot(path=str(artifacts_dir / "jupyterlab-failure.png"), full_page=True)
        print(f"===== JupyterLab log =====\n{jupyterlab.log_tail()}")
        with contextlib.suppress(Exception):
            for name in ("alice", "bob"):
                log = page.locator(f"{in_dialer(name, 'log')} textarea").input_value()
                print(f"===== {name}'s dialer log (newest first) =====\n{log}")
        raise
    finally:
        context.close()
    assert screenshot.exists()
