"""baresip for the interop tests: configured, started, driven over TCP, stopped.

baresip is a small, modular SIP phone written in C (Debian ``baresip-core``;
version 1.0 here). The tests run it headless, on 127.0.0.1 only, with a
configuration directory of their own (``baresip -f <tmp>/baresip``), so it
never reads ``~/.baresip`` and two tests never share anything:

* ``config``: SIP on ``sip_listen 127.0.0.1:<free port>`` (UDP and TCP),
  ``net_interface 127.0.0.1`` so that its Contact and its SDP ``c=`` line say
  127.0.0.1 and not the machine's other address; no sound card: the audio
  source is a WAV file of a sine wave this harness writes (the ``aufile``
  module; baresip resamples it to each codec's rate), and the player is an
  ``aubridge`` device nobody listens to. (baresip's own sine generator,
  ``ausine``, would need a 48 kHz stereo source configuration; a file is
  simpler, and any sound can go in it.) With ``record=True`` the
  ``sndfile`` filter writes everything baresip decoded to
  ``dump-<time>-dec.wav`` (and what it encoded to ``...-enc.wav``): what
  baresip *heard*. ``rtp_stats yes`` makes it log its RTP statistics when a
  call ends. Only the modules named here are loaded: no STUN, TURN or ICE,
  nothing that reaches beyond the loopback interface.
* ``accounts`` starts empty. Accounts are added once the control connection
  is up (``uanew``), so the test sees every registration event.
* It is controlled through the ``ctrl_tcp`` module: commands and answers are
  JSON objects in netstrings (``12:{"a":"b"...},``) on a TCP connection, and
  baresip sends its events (``REGISTER_OK``, ``CALL_INCOMING``,
  ``CALL_ESTABLISHED``, ``CALL_CLOSED``...) on the same connection. stdin is
  closed (the ``stdio`` module is not loaded); stdout and stderr, with the
  SIP trace (``-s``), go to ``baresip.log``.

::

    async with Baresip(tmp_path) as phone:
        await phone.add_account("sip:alice@127.0.0.1", password, server=lab.udp,
                                answermode="auto")
        await phone.event("REGISTER_OK")
        await phone.dial("sip:bob@127.0.0.1")
        await phone.event("CALL_ESTABLISHED")
        await phone.hangup()
        print(phone.explain())        # its log and every event, when something failed

Every wait is bounded; the process is asked to ``quit`` and killed if it has
not exited :data:`STOP_TIMEOUT` seconds later.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import wave
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from siplab.sip.transport import Peer
from tests.helpers import require_peer
from tests.interop.peers import LOOPBACK, free_port

__all__ = [
    "Baresip",
    "BaresipError",
    "CODEC_NAMES",
    "RtpCounts",
    "MODULES",
    "START_TIMEOUT",
    "STOP_TIMEOUT",
    "WAIT",
    "read_wav",
    "write_tone_wav",
]

MODULE_PATH = Path("/usr/lib/baresip/modules")
#: The modules every test loads: the codecs, the file source, the null player.
MODULES = ("g711", "g722", "aufile", "aubridge")
#: Seconds baresip may take to open its control port.
START_TIMEOUT = 10.0
#: Seconds between ``quit`` and SIGKILL.
STOP_TIMEOUT = 3.0
#: Seconds a test waits for one event or answer.
WAIT = 5.0
#: Lines of the log shown by :meth:`Baresip.explain`.
LOG_LINES = 300
#: baresip's names for siplab's codecs in an account's ``audio_codecs``: name/rate/channels.
#: A bare name means 8000 Hz to baresip, and it registers G.722 at its 16 kHz sampling rate
#: (the SDP says G722/8000, RFC 3551 §4.5.2): "G722" alone is "not found" and ignored.
CODEC_NAMES = {"PCMU": "PCMU/8000/1", "PCMA": "PCMA/8000/1", "G722": "G722/16000/1"}
#: The rate of the tone WAV and of baresip's audio source (``ausrc_srate``); baresip
#: resamples it to each codec's rate.
SOURCE_RATE = 48000

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
#: The table ``rtp_stats yes`` makes baresip log when a call ends (baresip 1.0's call.c).
_RTP_STATS = re.compile(r"audio\s+Transmit:\s+Receive:\s*\n"
                        r"packets:\s+(\d+)\s+(\d+)\s*\n"
                        r".*\n"
                        r"errors:\s+(\d+)\s+(\d+)")


@dataclass(frozen=True, slots=True)
class RtpCounts:
    """baresip's own count of the audio RTP packets of one call, logged when it ended."""

    sent: int
    received: int
    send_errors: int
    receive_errors: int


class BaresipError(RuntimeError):
    """baresip died, refused a command, or never sent the event a test waited for."""


def write_tone_wav(path: Path, frequency: float, seconds: float = 10.0,
                   rate: int = SOURCE_RATE, amplitude: float = 0.5) -> Path:
    """Write a mono 16-bit WAV of a sine wave: the sound baresip sends (``aufile``)."""
    t = np.arange(int(seconds * rate)) / rate
    samples = np.round(amplitude * 32767 * np.sin(2 * np.pi * frequency * t)).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())
    return path


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """The samples (int16, first channel) and the rate of a 16-bit WAV file."""
    with wave.open(str(path), "rb") as wav:
        rate = wav.getframerate()
        channels = wav.getnchannels()
        if wav.getsampwidth() != 2:
            raise BaresipError(f"{path}: {8 * wav.getsampwidth()}-bit samples, not 16")
        data = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    return data[::channels].astype(np.int16), rate


def _netstring(payload: dict[str, Any]) -> bytes:
    data = json.dumps(payload).encode("utf-8")
    return b"%d:%s," % (len(data), data)


class Baresip:
    """One baresip process on 127.0.0.1, configured in ``tmp_path / name``.

    ``source``: what it sends in a call: ``("tone", hz)`` plays a WAV of a
    sine this harness writes, ``("wav", path)`` a 16-bit WAV file of your own
    at :data:`SOURCE_RATE` (both through ``aufile``). ``record``: load the
    ``sndfile`` filter, which writes what baresip decoded and encoded to WAV
    files (:meth:`decoded_wav`). ``sip_trace``: log every SIP message (``-s``).
    """

    def __init__(self, tmp_path: Path, name: str = "baresip", *,
                 source: tuple[str, Any] = ("tone", 440), record: bool = False,
                 sip_trace: bool = True) -> None:
        self.binary = require_peer("baresip", "baresip-core")
        self.name = name
        self.directory = tmp_path / name
        self.directory.mkdir(parents=True, exist_ok=True)
        self.log_file = self.directory / "baresip.log"
        self.sip_port = free_port()
        self.ctrl_port = free_port()
        while self.ctrl_port == self.sip_port:
            self.ctrl_port = free_port()
        self.source = source
        self.record = record
        self.sip_trace = sip_trace
        self.events: list[dict[str, Any]] = []
        self.process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._listener: asyncio.Task[None] | None = None
        self._answers: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._changed = asyncio.Event()
        self._taken: set[int] = set()  # indices of events already returned by event()
        self._tokens = 0

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<Baresip {state} sip=127.0.0.1:{self.sip_port} ctrl={self.ctrl_port}>"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    @property
    def sip(self) -> Peer:
        """Where baresip listens for SIP (UDP and TCP share the port)."""
        return Peer(LOOPBACK, self.sip_port, "udp")

    # -- configuration ------------------------------------------------------------------

    def _audio_source(self) -> str:
        kind, value = self.source
        if kind == "tone":
            wav = write_tone_wav(self.directory / f"tone-{value}.wav", float(value))
            return f"aufile,{wav}"
        if kind == "wav":
            return f"aufile,{Path(value).resolve()}"
        raise ValueError(f"unknown audio source {self.source!r}")

    def config_text(self) -> str:
        """The ``config`` file: loopback SIP, file audio, no sound card, ctrl_tcp."""
        modules = [*MODULES, *(("sndfile",) if self.record else ())]
        lines = [
            "# Written by tests/interop/baresip.py for one test.",
            "poll_method            epoll",
            f"sip_listen             {LOOPBACK}:{self.sip_port}",
            f"net_interface          {LOOPBACK}",  # Contact and SDP c= say 127.0.0.1
            "call_local_timeout     30",
            "call_max_calls         4",
            f"audio_source           {self._audio_source()}",
            f"ausrc_srate            {SOURCE_RATE}",
            "audio_player           aubridge,nobody",  # a device no source reads: a null player
            "audio_alert            aubridge,nobody",
            "audio_level            no",
            "audio_buffer           20-160",
            "rtcp_mux               no",
            "jitter_buffer_delay    1-10",
            "rtp_stats              yes",  # its RTP statistics in the log when a call ends
            "statmode_default       off",  # no status line every 100 ms in the log
            f"module_path            {MODULE_PATH}",
            *(f"module                 {m}.so" for m in modules),
            "module_tmp             account.so",
            "module_app             menu.so",  # the commands: dial, hangup, accept, uanew...
            "module_app             ctrl_tcp.so",
            f"ctrl_tcp_listen        {LOOPBACK}:{self.ctrl_port}",
            f"snd_path               {self.directory}",
        ]
        return "\n".join(lines) + "\n"

    # -- starting and stopping ------------------------------------------------------------

    async def start(self) -> None:
        """Write the configuration, start baresip, connect to its control port."""
        (self.directory / "config").write_text(self.config_text())
        (self.directory / "accounts").write_text("")  # accounts come with add_account()
        (self.directory / "contacts").write_text("")
        command = [self.binary, "-f", str(self.directory), *(("-s",) if self.sip_trace else ())]
        with self.log_file.open("wb") as log:
            self.process = await asyncio.create_subprocess_exec(
                *command, cwd=self.directory, stdin=asyncio.subprocess.DEVNULL,
                stdout=log, stderr=asyncio.subprocess.STDOUT)
        try:
            await self._connect()
        except BaseException:
            await self.stop()
            raise
        self._listener = asyncio.create_task(self._listen())

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_TIMEOUT
        while True:
            if not self.running:
                raise BaresipError(f"baresip exited while starting\n{self.explain()}")
            try:
                self._reader, self._writer = await asyncio.open_connection(
                    LOOPBACK, self.ctrl_port)
                return
            except OSError:
                if loop.time() > deadline:
                    raise BaresipError(f"baresip's ctrl_tcp port {self.ctrl_port} did not open "
                                       f"within {START_TIMEOUT} s\n{self.explain()}") from None
                await asyncio.sleep(0.02)

    async def stop(self) -> None:
        """``quit`` (baresip hangs up and unregisters), then SIGKILL if it is still running."""
        process = self.process
        if process is None:
            return
        if self.running and self._writer is not None:
            with contextlib.suppress(OSError, BaresipError, TimeoutError):
                await self.command("quit", timeout=1.0)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(STOP_TIMEOUT):
                await process.wait()
        if process.returncode is None:
            process.kill()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(STOP_TIMEOUT):
                    await process.wait()
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()

    async def __aenter__(self) -> Baresip:
        await self.start()
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        traceback: TracebackType | None) -> None:
        await self.stop()

    # -- the control connection ---------------------------------------------------------

    async def _listen(self) -> None:
        """Read netstrings: answers resolve their command, events go to :attr:`events`."""
        assert self._reader is not None
        try:
            while True:
                length = await self._reader.readuntil(b":")
                data = await self._reader.readexactly(int(length[:-1]) + 1)
                message = json.loads(data[:-1])
                if message.get("response"):
                    future = self._answers.pop(str(message.get("token")), None)
                    if future is not None and not future.done():
                        future.set_result(message)
                elif message.get("event"):
                    self.events.append(message)
                self._changed.set()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # baresip quit or died: waits see it through self.running
        finally:
            self._changed.set()

    async def command(self, command: str, params: str = "", timeout: float = WAIT) -> str:
        """Run a command (``dial``, ``hangup``, ``accept``, ``uanew``, ``callstat``...).

        Returns the text baresip answered; raises BaresipError if it said the
        command failed or did not answer within ``timeout`` seconds.
        """
        if self._writer is None:
            raise BaresipError("baresip is not started")
        self._tokens += 1
        token = f"t{self._tokens}"
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._answers[token] = future
        self._writer.write(_netstring({"command": command, "params": params, "token": token}))
        await self._writer.drain()
        try:
            async with asyncio.timeout(timeout):
                answer = await future
        except TimeoutError:
            raise BaresipError(f"no answer to {command!r} within {timeout} s "
                               f"(its log: {self.log_file})") from None
        finally:
            self._answers.pop(token, None)
        text = _ANSI.sub("", str(answer.get("data", "")))
        if not answer.get("ok"):
            raise BaresipError(f"baresip refused {command} {params}: {text}")
        return text

    async def event(self, kind: str, timeout: float = WAIT, **fields: str) -> dict[str, Any]:
        """The next event of type ``kind`` (``CALL_ESTABLISHED``...) not returned before.

        ``fields`` must match too (``direction="incoming"``). Raises
        BaresipError with the log after ``timeout`` seconds.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for index, event in enumerate(self.events):
                if index not in self._taken and event.get("type") == kind and \
                        all(event.get(k) == v for k, v in fields.items()):
                    self._taken.add(index)
                    return event
            remaining = deadline - loop.time()
            if remaining <= 0 or (not self.running and self._listener is not None
                                  and self._listener.done()):
                raise BaresipError(f"no {kind} event {fields or ''} within {timeout} s; "
                                   f"events so far: {self.event_types()} "
                                   f"(its log: {self.log_file})")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self._changed.wait()

    def event_types(self) -> list[str]:
        """The type of every event so far, in order (``["REGISTERING", "REGISTER_OK"...]``)."""
        return [str(event.get("type")) for event in self.events]

    # -- what a test does -------------------------------------------------------------------

    async def add_account(self, aor: str, password: str | None, server: Peer, *,
                          transport: str = "udp", answermode: str = "manual",
                          regint: int = 60,
                          audio_codecs: tuple[str, ...] | None = None) -> str:
        """Create a user agent for ``aor`` (``uanew``): it registers at ``server`` at once.

        ``server`` is the outbound proxy every request goes to; ``transport``
        "udp" or "tcp"; ``answermode`` "manual" or "auto" (answer every call);
        ``regint`` the registration interval in seconds (0: do not register);
        ``audio_codecs`` limits and orders the codecs: siplab's names
        (``("G722", "PCMU")``), translated with :data:`CODEC_NAMES`.
        """
        uri = aor if transport == "udp" else f"{aor};transport={transport}"
        outbound = f"sip:{server.host}:{server.port}"
        if transport != "udp":
            outbound += f";transport={transport}"
        params = [f'outbound="{outbound}"', f"regint={regint}", f"answermode={answermode}"]
        if password is not None:
            params.insert(0, f"auth_pass={password}")
        if audio_codecs is not None:
            names = ",".join(CODEC_NAMES.get(name, name) for name in audio_codecs)
            params.append(f"audio_codecs={names}")
        return await self.command("uanew", f"<{uri}>;" + ";".join(params))

    async def dial(self, uri: str) -> str:
        return await self.command("dial", uri)

    async def accept(self) -> str:
        return await self.command("accept")

    async def hangup(self) -> str:
        return await self.command("hangup")

    async def list_calls(self) -> str:
        return await self.command("listcalls")

    async def call_status(self) -> str:
        """``callstat``: the current call, its codec and RTP counters."""
        return await self.command("callstat")

    # -- reading what it said ---------------------------------------------------------------

    @property
    def log(self) -> str:
        text = self.log_file.read_text("utf-8", "replace") if self.log_file.exists() else ""
        return _ANSI.sub("", text)

    def rtp_counts(self) -> list[RtpCounts]:
        """baresip's RTP packet counts for every call that ended, in order (``rtp_stats``)."""
        return [RtpCounts(*map(int, match.groups())) for match in _RTP_STATS.finditer(self.log)]

    def decoded_wav(self) -> Path | None:
        """The last WAV of what baresip decoded (the ``sndfile`` filter), if any."""
        dumps = sorted(self.directory.glob("dump-*-dec.wav"))
        return dumps[-1] if dumps else None

    def explain(self) -> str:
        """Its events and the end of its log, for a failure message."""
        lines = [f"=== {self.name}: events ==="]
        lines += [f"  {json.dumps(event)}" for event in self.events] or ["  (none)"]
        log = self.log.splitlines()
        shown = log[-LOG_LINES:]
        lines.append(f"=== {self.name}: log ({self.log_file}"
                     + (f", last {len(shown)} of {len(log)} lines" if len(log) > len(shown)
                        else "") + ") ===")
        lines += shown
        return "\n".join(lines)
