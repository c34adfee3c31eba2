"""Fixtures for the browser tests: web/ over HTTP, headless Chromium, and a LabServer.

The browser tests put the same JsSIP and SIP.js people run in their web pages
against siplab (issue 4). Three things run side by side:

* **the page**: ``web/`` (``phone.html`` and the committed bundles in
  ``web/dist/``) served by the standard library's ``http.server`` on a free
  port of 127.0.0.1. A page needs a *secure context* for ``getUserMedia`` and
  WebRTC, and ``http://127.0.0.1`` counts as one;
* **the browser**: Debian's Chromium, driven by playwright's sync API with
  ``executable_path`` (playwright never downloads a browser here), with the
  flags of FACTS.md: fake microphone and camera, no permission prompts, no
  calls home, and WebRTC allowed between two loopback addresses. Each phone
  gets its own browser context, so two phones are as separate as two browsers;
* **the lab**: :class:`~siplab.aio.server.LabServer` (and siplab user agents)
  on an asyncio loop in a background thread, because playwright's sync API
  owns the main thread. :meth:`Lab.run` hands a coroutine to that loop and
  waits, bounded, for its result.

Every SIP message LabServer sends or receives is kept through its ``trace``
hook. When a test fails, its teardown prints the ladder of those messages and
each browser's console (the phone's event log is in it), so a failing run
explains itself.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import functools
import http.server
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

from siplab.aio.server import LabServer
from siplab.aio.transport import TraceRecord
from siplab.aio.useragent import UserAgent
from siplab.sip.server import ServerStats
from siplab.sip.timers import TimerConfig
from tests.helpers import require_peer

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page

__all__ = ["CHROMIUM_FLAGS", "USERS", "STEP_TIMEOUT", "BrowserPhone", "OpenPhone", "Lab"]

T = TypeVar("T")

WEB_DIR = Path(__file__).resolve().parents[2] / "web"
LOOPBACK = "127.0.0.1"

#: Chromium's command line (FACTS.md). Headless as root needs --no-sandbox; the
#: next four keep it from calling outside hosts; the fake media flags give it a
#: microphone playing a beep and grant getUserMedia without a prompt; and
#: WebRTC between two 127.0.0.1 endpoints needs the last one.
CHROMIUM_FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--allow-loopback-in-peer-connection",
)

#: The lab's accounts (user -> password).
USERS = {"alice": "alice-secret", "bob": "bob-secret", "carol": "carol-secret"}

#: T1 a tenth of RFC 3261's 500 ms: a finished transaction lingers 64*T1 = 3.2 s
#: instead of 32 s (Timers J, L, M), so "the server is idle again" can be
#: checked within a test's time. Loopback round trips are far below 50 ms.
LAB_TIMERS = TimerConfig(t1=0.05, t2=0.4, t4=0.5, timer_d=0.5)

#: How long one step (a registration, a message, a call set-up) may take.
STEP_TIMEOUT = 10.0


# --- reporting failures -----------------------------------------------------------------


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the test item, so fixtures know if the test failed."""
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


def _failed(request: pytest.FixtureRequest) -> bool:
    reports = request.node.stash.get(_REPORTS, {})
    return any(report.failed for report in reports.values())


# --- the page -----------------------------------------------------------------------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per file fetched is noise; the browser console says what failed

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")  # always the bundles on disk now
        super().end_headers()


@pytest.fixture(scope="session")
def web_url() -> Iterator[str]:
    """``http://127.0.0.1:PORT/``, serving ``web/`` for the duration of the session."""
    for bundle in ("jssip.bundle.js", "sipjs.bundle.js"):
        if not (WEB_DIR / "dist" / bundle).exists():
            pytest.fail(f"web/dist/{bundle} is missing: run `npm ci && npm run build` in web/")
    handler = functools.partial(_QuietHandler, directory=str(WEB_DIR))
    server = http.server.ThreadingHTTPServer((LOOPBACK, 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="web/ server", daemon=True)
    thread.start()
    try:
        yield f"http://{LOOPBACK}:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# --- the browser ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """Debian's Chromium, headless, with :data:`CHROMIUM_FLAGS`; one per test module.

    playwright's ``launch`` gives it a fresh temporary profile
    (``--user-data-dir``) and deletes it on close. Not one per session:
    while playwright's sync API is active, the main thread counts as running
    an event loop, and the other tests' ``asyncio.run()`` would refuse to start.
    """
    executable = require_peer("chromium", "chromium")
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True, args=list(CHROMIUM_FLAGS), timeout=30_000)
        try:
            yield browser
        finally:
            browser.close()


class BrowserPhone:
    """One ``phone.html`` page, and Python methods for its ``window.phone`` API (web/phone.js).

    Every call is bounded: a promise that does not settle within its timeout
    raises instead of hanging the test.
    """

    def __init__(self, name: str, lib: str, context: BrowserContext, page: Page) -> None:
        self.name = name
        self.lib = lib
        self.context = context
        self.page = page
        self.console: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.console.append(f"page error: {error}"))

    def __repr__(self) -> str:
        return f"<BrowserPhone {self.name} ({self.lib})>"

    def _console(self, message: ConsoleMessage) -> None:
        self.console.append(f"{message.type}: {message.text}")

    def _run(self, method: str, *args: Any, timeout: float = STEP_TIMEOUT) -> Any:
        return self.page.evaluate(
            """([method, args, ms]) => Promise.race([
                phone[method](...args),
                new Promise((_, reject) => setTimeout(
                    () => reject(new Error(`phone.${method}() took more than ${ms} ms`)), ms)),
            ])""",
            [method, list(args), int(timeout * 1000)],
        )

    # the API of web/phone.js
    def register(self, user: str, password: str, ws_url: str) -> dict[str, Any]:
        uri = f"sip:{user}@{LOOPBACK}"
        return dict(self._run("register", {"uri": uri, "password": password, "wsUrl": ws_url}))

    def message(self, target: str, text: str) -> dict[str, Any]:
        return dict(self._run("message", target, text))

    def call(self, target: str, timeout: float = STEP_TIMEOUT, *, video: bool = False,
             data: bool = False) -> dict[str, Any]:
        """Call and wait for the outcome (answered, or refused)."""
        return dict(self._run("call", target, {"video": video, "data": data}, timeout=timeout))

    def start_call(self, target: str, *, video: bool = False, data: bool = False) -> None:
        """Call without waiting: the test answers on the other side first. See :meth:`outcome`.

        ``video``: send the fake camera too; ``data``: open a data channel
        before the offer, so the offer has an ``m=application`` line.
        """
        self.page.evaluate("([target, options]) => { window.callOutcome = "
                           "phone.call(target, options); }",
                           [target, {"video": video, "data": data}])

    def outcome(self, timeout: float = STEP_TIMEOUT) -> dict[str, Any]:
        """How the call :meth:`start_call` made turned out (bounded wait)."""
        return dict(self.page.evaluate(
            """(ms) => Promise.race([window.callOutcome, new Promise((_, reject) =>
                setTimeout(() => reject(new Error(`no call outcome in ${ms} ms`)), ms))])""",
            int(timeout * 1000)))

    def answer(self, *, video: bool = False) -> dict[str, Any]:
        return dict(self._run("answer", {"video": video}))

    def hangup(self) -> None:
        self._run("hangup")

    def stats(self) -> dict[str, Any] | None:
        result = self._run("stats")
        return dict(result) if result is not None else None

    def wait_for_stats(self, condition: Callable[[dict[str, Any]], bool], what: str,
                       timeout: float = STEP_TIMEOUT) -> dict[str, Any]:
        """Poll :meth:`stats` until ``condition(stats)`` holds (bounded); return them.

        (Not ``page.wait_for_function``: getStats() is asynchronous, and a
        predicate that returns a promise counts as true at once.)
        """
        deadline = time.monotonic() + timeout
        while True:
            stats = self.stats()
            if stats is not None and condition(stats):
                return stats
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: not within {timeout} s: {what}; {stats}")
            self.page.wait_for_timeout(100)

    def wait_for_audio(self, packets: int = 1, timeout: float = STEP_TIMEOUT) -> dict[str, Any]:
        """Wait until getStats() counts ``packets`` audio packets received; return the stats."""
        return self.wait_for_stats(lambda s: s["packetsReceived"] >= packets,
                                   f"{packets} audio packets received", timeout)

    def wait_for_video(self, frames: int = 1, timeout: float = STEP_TIMEOUT) -> dict[str, Any]:
        """Wait until getStats() counts ``frames`` video frames decoded; return the stats."""
        return self.wait_for_stats(lambda s: s["video"]["framesDecoded"] >= frames,
                                   f"{frames} video frames decoded", timeout)

    # the data channel
    def channel_open(self, timeout: float = STEP_TIMEOUT) -> None:
        self._run("channelOpen", timeout=timeout)

    def send_text(self, text: str) -> None:
        self._run("sendText", text)

    def send_file(self, name: str, data: bytes) -> None:
        self._run("sendFile", name, base64.b64encode(data).decode("ascii"))

    @property
    def channel_label(self) -> str | None:
        return self.read("phone.channel?.label ?? null")  # type: ignore[no-any-return]

    def texts_received(self, count: int = 1, timeout: float = STEP_TIMEOUT) -> list[str]:
        """The text messages the data channel brought, once there are ``count`` (bounded)."""
        self.wait_until(f"phone.received.texts.length >= {int(count)}", timeout)
        return list(self.read("phone.received.texts"))

    def files_received(self, count: int = 1,
                       timeout: float = STEP_TIMEOUT) -> list[tuple[str, bytes]]:
        """(name, bytes) of each file the data channel brought, once there are ``count``."""
        self.wait_until(f"phone.received.files.length >= {int(count)}", timeout)
        return [(f["name"], base64.b64decode(f["base64"]))
                for f in self.read("phone.received.files")]

    def stop(self) -> None:
        self._run("stop", timeout=3.0)

    def read(self, expression: str) -> Any:
        """The value of a JS expression about the phone: ``read("phone.state")``."""
        return self.page.evaluate(f"() => {expression}")

    @property
    def state(self) -> str:
        return str(self.read("phone.state"))

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.read("phone.messages"))

    @property
    def last_call(self) -> dict[str, Any] | None:
        return self.read("phone.lastCall")  # type: ignore[no-any-return]

    def wait_until(self, condition: str, timeout: float = STEP_TIMEOUT) -> None:
        """Wait until the JS expression ``condition`` is true in the page (bounded)."""
        self.page.wait_for_function(f"() => {condition}", timeout=timeout * 1000)


#: What the ``open_phone`` fixture is: ``open_phone("alice", "jssip")``.
OpenPhone = Callable[[str, str], BrowserPhone]


@pytest.fixture
def open_phone(chromium: Browser, web_url: str, lab: Lab,
               request: pytest.FixtureRequest) -> Iterator[OpenPhone]:
    """``open_phone(name, lib)``: a new page running ``lib`` ("jssip" or "sipjs").

    On teardown every phone un-registers and its page closes; if the test
    failed, the console of every page and the server's ladder are printed.
    """
    phones: list[BrowserPhone] = []

    def open_(name: str, lib: str) -> BrowserPhone:
        context = chromium.new_context()
        page = context.new_page()
        phone = BrowserPhone(name, lib, context, page)
        phones.append(phone)
        page.goto(f"{web_url}phone.html?lib={lib}", timeout=STEP_TIMEOUT * 1000)
        page.wait_for_function("() => window.phone || window.phoneError",
                               timeout=STEP_TIMEOUT * 1000)
        error = page.evaluate("() => window.phoneError")
        if error:
            pytest.fail(f"phone.html?lib={lib} did not start: {error}")
        return phone

    try:
        yield open_
    finally:
        for phone in phones:
            try:
                phone.stop()
            except Exception as error:  # a page already broken must not hide the first error
                phone.console.append(f"(stop() failed at teardown: {error})")
        if _failed(request):
            for phone in phones:
                print(f"\n===== console of {phone.name} ({phone.lib}) =====")
                print("\n".join(phone.console) or "(empty)")
        for phone in phones:
            phone.context.close()


# --- the lab ---------------------------------------------------------------------------------


class Lab:
    """A LabServer (UDP and WS on 127.0.0.1) on an asyncio loop in its own thread.

    :meth:`run` runs a coroutine on that loop and returns its result (bounded);
    :attr:`records` is every message the server sent or received.
    """

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="lab loop",
                                       daemon=True)
        self.records: list[TraceRecord] = []
        self.server = LabServer(udp=[(LOOPBACK, 0)], ws=[(LOOPBACK, 0)], users=USERS,
                                timers=LAB_TIMERS, trace=self.records.append)
        self.closers: list[Callable[[], Coroutine[Any, Any, None]]] = []

    def start(self) -> None:
        self.thread.start()
        self.run(self.server.start())

    def close(self) -> None:
        for closer in reversed(self.closers):
            try:
                self.run(closer(), timeout=5.0)
            except Exception as error:
                print(f"lab: closing failed: {error!r}")
        try:
            self.run(self.server.stop(), timeout=5.0)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=5)
            if not self.thread.is_alive():
                self.loop.close()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = STEP_TIMEOUT) -> T:
        """Run ``coroutine`` on the lab's loop; TimeoutError after ``timeout`` seconds."""

        async def bounded() -> T:
            async with asyncio.timeout(timeout):
                return await coroutine

        future = asyncio.run_coroutine_threadsafe(bounded(), self.loop)
        try:
            return future.result(timeout + 1.0)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"the lab did not finish within {timeout} s") from None

    def call(self, function: Callable[..., T], *args: Any) -> T:
        """Call a plain function on the lab's loop (where siplab's objects live)."""

        async def call() -> T:
            return function(*args)

        return self.run(call())

    def user_agent(self, user: str, **options: Any) -> UserAgent:
        """A siplab :class:`UserAgent` for ``user`` on UDP, registered with the server.

        ``options`` go to the UserAgent (``video=True``, ``codecs=...``). It
        lives on the lab's loop: call its coroutines through :meth:`run`.
        """
        udp = self.server.address("udp")
        assert udp is not None

        async def start() -> UserAgent:
            ua = UserAgent(f"sip:{user}@{LOOPBACK}", USERS[user],
                           transport=f"udp://{udp.host}:{udp.port}", timers=LAB_TIMERS,
                           **options)
            await ua.start()
            self.closers.append(ua.stop)
            await ua.register(timeout=STEP_TIMEOUT)
            return ua

        return self.run(start())

    @property
    def ws_url(self) -> str:
        return self.server.ws_urls[0]

    def stats(self) -> ServerStats:
        return self.call(self.server.stats)

    def wait_idle(self, timeout: float = 64 * LAB_TIMERS.t1 + 2.0) -> ServerStats:
        """Wait until the server holds no transaction and no proxy context (bounded).

        A finished transaction stays a while to absorb retransmissions (at
        most 64*T1 with :data:`LAB_TIMERS`): "idle" is reached when the last
        of those timers has fired.
        """
        deadline = time.monotonic() + timeout
        while True:
            stats = self.stats()
            if stats.idle or time.monotonic() > deadline:
                return stats
            time.sleep(0.1)

    def mark(self) -> int:
        """A bookmark in :attr:`records`: pass it to :meth:`labels` as ``since``."""
        return len(self.records)

    def labels(self, transport: str | None = None, since: int = 0) -> list[str]:
        """The messages as the server saw them: ``["<- REGISTER", "-> 401 Unauthorized"...]``.

        ``<-`` is a message the server received, ``->`` one it sent.
        ``transport`` ("ws" or "udp") keeps one leg of a bridged exchange;
        ``since`` (from :meth:`mark`) skips what came before.
        """
        return [f"{'<-' if r.direction == 'in' else '->'} {_label(r.data)}"
                for r in list(self.records)[since:]
                if transport is None or r.transport == transport]

    def ladder(self) -> str:
        """The server's messages, one line each, then each message in full."""
        if not self.records:
            return "(no SIP message)"
        start = self.records[0].time
        lines = []
        for record in list(self.records):
            arrow = "<-" if record.direction == "in" else "->"
            first = record.data.split(b"\r\n", 1)[0].decode("utf-8", "replace")
            lines.append(f"{record.time - start:8.3f} {record.transport:>3} server {arrow} "
                         f"{record.remote.host}:{record.remote.port:<5}  {first}")
        full = [f"--- {r.direction} {r.transport} {r.remote.host}:{r.remote.port}\n"
                + r.data.decode("utf-8", "replace").replace("\r\n", "\n")
                for r in self.records]
        return "\n".join(lines) + "\n\n" + "\n".join(full)


def _label(data: bytes) -> str:
    """``INVITE`` for a request, ``180 Ringing`` for a response."""
    first = data.split(b"\r\n", 1)[0].decode("utf-8", "replace")
    if first.startswith("SIP/2.0 "):
        return first.removeprefix("SIP/2.0 ")
    return first.split(" ", 1)[0]


@pytest.fixture
def lab(request: pytest.FixtureRequest) -> Iterator[Lab]:
    """A running :class:`Lab`; on failure its ladder is printed at teardown."""
    lab = Lab()
    lab.start()
    try:
        yield lab
    finally:
        if _failed(request):
            print("\n===== LabServer: SIP ladder =====")
            print(lab.ladder())
        lab.close()
