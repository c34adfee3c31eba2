"""``siplab answer`` and ``siplab call`` as real processes, talking through ``siplab server``.

The command-line phone of issue 5 (DESIGN.md, "Public contracts"): ``siplab
answer`` registers (RFC 3261 §10), answers every call with an SDP answer
(RFC 3264), sends a tone, records what it hears and prints one line per
call; ``siplab call`` makes one call and exits 0 only if it connected and
audio arrived. Bad flags give one ``siplab: error:`` line and exit 2; SIGTERM
stops ``answer`` cleanly, hanging up a call in progress (BYE, §15).
"""

from __future__ import annotations

import asyncio
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from siplab.aio.audio import ToneSource, read_wav, write_wav
from siplab.aio.useragent import UserAgent
from siplab.rtp import g711
from tests.test_cli import LISTENING, ROOT, ServerProcess

USERS = {"pybot": "secret", "alice": "pw-alice"}
#: One line per call on answer's (and call's) stdout.
CALL_LINE = re.compile(
    r"^call (?P<number>\d+) (?P<way>from|to) (?P<peer>\S+): codec (?P<codec>\w+), "
    r"sent (?P<sent>\d+) packets, received (?P<received>\d+) packets, "
    r"heard RMS (?P<rms>\d+) \((?P<dbfs>-?[\d.]+|-inf) dBFS\) for (?P<seconds>[\d.]+) s, "
    r"ended: (?P<cause>.+)$"
)
READY = re.compile(r"^registered sip:pybot@")
WAIT = 10.0


class CliProcess:
    """``python -m siplab ARGS`` with stdout and stderr read line by line, every wait bounded."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "siplab", *args], cwd=ROOT, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.out: list[str] = []
        self.err: list[str] = []
        self._queues: dict[str, queue.Queue[str | None]] = {"out": queue.Queue(),
                                                           "err": queue.Queue()}
        for name, stream in (("out", self.process.stdout), ("err", self.process.stderr)):
            threading.Thread(target=self._read, args=(name, stream), daemon=True).start()

    def _read(self, name: str, stream: object) -> None:
        assert hasattr(stream, "__iter__")
        for line in stream:
            self._queues[name].put(line.rstrip("\n"))
        self._queues[name].put(None)

    def wait_for(self, pattern: re.Pattern[str], stream: str = "out",
                 timeout: float = WAIT) -> re.Match[str]:
        """The first line of ``stream`` matching ``pattern`` (fails after ``timeout``)."""
        lines = self.out if stream == "out" else self.err
        deadline = time.monotonic() + timeout
        while True:
            for line in lines:
                found = pattern.search(line)
                if found:
                    return found
            try:
                line = self._queues[stream].get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"no line matching {pattern.pattern!r}: {self.out} {self.err}")
            if line is None:
                pytest.fail(f"siplab exited ({self.process.poll()}): {self.out} {self.err}")
            lines.append(line)

    def finish(self, timeout: float = WAIT) -> int:
        """Wait for the exit; every remaining line is read into out and err."""
        code = self.process.wait(timeout)
        for name, lines in (("out", self.out), ("err", self.err)):
            while (line := self._queues[name].get(timeout=timeout)) is not None:
                lines.append(line)
        return code

    def stop(self, signum: int = signal.SIGTERM) -> int:
        self.process.send_signal(signum)
        return self.finish()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)


@pytest.fixture
def server() -> Iterator[dict[str, tuple[str, int]]]:
    """``siplab server`` on free UDP, TCP and WS ports with the two accounts."""
    started = ServerProcess("--udp", "127.0.0.1:0", "--tcp", "127.0.0.1:0", "--ws",
                            "127.0.0.1:0", "--users",
                            ",".join(f"{u}:{p}" for u, p in USERS.items()))
    try:
        started.read_until(LISTENING, 3)
        yield started.listeners()
    finally:
        started.kill()


def address(listeners: dict[str, tuple[str, int]], transport: str = "udp") -> str:
    host, port = listeners[transport]
    return f"{host}:{port}"


@pytest.fixture
def processes() -> Iterator[list[CliProcess]]:
    """Every siplab process a test starts; killed at the end if still running."""
    started: list[CliProcess] = []
    yield started
    for process in started:
        process.kill()


def start(processes: list[CliProcess], *args: str) -> CliProcess:
    process = CliProcess(*args)
    processes.append(process)
    return process


def answering(processes: list[CliProcess], listeners: dict[str, tuple[str, int]],
              *flags: str, transport: str = "udp") -> CliProcess:
    """``siplab answer`` as pybot, registered and ready."""
    process = start(processes, "answer", "--user", "pybot", "--password", USERS["pybot"],
                    "--server", address(listeners, transport), "--transport", transport,
                    *flags)
    process.wait_for(READY, "err")
    return process


def frequency_of(path: Path) -> float:
    samples, rate = read_wav(path)
    assert samples.size >= rate // 2, f"{path}: {samples.size} samples"
    return g711.dominant_frequency(samples[rate // 4:], rate)


async def call_pybot(listeners: dict[str, tuple[str, int]], *, freq: float,
                     hang_up_after: float | None = None) -> tuple[str, float]:
    """alice (in this process) calls pybot with a tone; returns (cause, frequency heard)."""
    host, port = listeners["udp"]
    async with UserAgent(f"sip:alice@{host}", USERS["alice"],
                         transport=f"udp://{host}:{port}") as alice:
        await alice.register(timeout=WAIT)
        call = await alice.call("pybot", source=ToneSource(freq, 0.5))
        await call.established(timeout=WAIT)
        if hang_up_after is not None:
            await asyncio.sleep(hang_up_after)
            await call.bye(timeout=WAIT)
        cause = await call.terminated(timeout=WAIT)
        assert call.heard is not None
        assert call.heard.rate is not None
        heard = call.heard.samples[call.heard.rate // 4:]
        return cause, g711.dominant_frequency(heard, call.heard.rate)


class TestAnswer:
    def test_answer_records_the_callers_tone_and_prints_one_line_per_call(
            self, server: dict[str, tuple[str, int]], processes: list[CliProcess],
            tmp_path: Path) -> None:
        heard = tmp_path / "heard.wav"
        answer = answering(processes, server, "--tone", "440", "--record", str(heard),
                           "--duration", "1.5")
        cause, frequency = asyncio.run(call_pybot(server, freq=1000))
        assert cause == "remote bye"  # answer hung up after --duration
        assert abs(frequency - 440) <= 2.0  # alice heard answer's --tone

        line = answer.wait_for(CALL_LINE)
        assert line["number"] == "1"
        assert (line["way"], line["peer"]) == ("from", "sip:alice@127.0.0.1")
        assert line["codec"] == "PCMU"
        assert int(line["sent"]) >= 50
        assert int(line["received"]) >= 50
        assert int(line["rms"]) > 5000
        assert line["cause"] == "bye"
        assert abs(frequency_of(heard) - 1000) <= 2.0  # the caller's tone

        assert answer.stop(signal.SIGTERM) == 0
        assert [CALL_LINE.match(line) is not None for line in answer.out] == [True]
        assert answer.err[-1] == "stopped"

    def test_a_second_call_gets_its_own_line_and_recording(
            self, server: dict[str, tuple[str, int]], processes: list[CliProcess],
            tmp_path: Path) -> None:
        heard = tmp_path / "heard.wav"
        answer = answering(processes, server, "--tone", "440", "--record", str(heard))
        for freq in (600, 1200):
            cause, _ = asyncio.run(call_pybot(server, freq=freq, hang_up_after=1.0))
            assert cause == "bye"
        answer.wait_for(re.compile(r"^call 2 "))
        assert abs(frequency_of(heard) - 600) <= 2.0
        assert abs(frequency_of(tmp_path / "heard-2.wav") - 1200) <= 2.0
        assert [CALL_LINE.match(line)["cause"] for line in answer.out] == [  # type: ignore[index]
            "remote bye", "remote bye"]
        assert answer.stop(signal.SIGINT) == 0

    def test_sigterm_during_a_call_hangs_up_and_exits_cleanly(
            self, server: dict[str, tuple[str, int]], processes: list[CliProcess]) -> None:
        answer = answering(processes, server, transport="ws")

        async def scenario() -> str:
            host, port = server["udp"]
            async with UserAgent(f"sip:alice@{host}", USERS["alice"],
                                 transport=f"udp://{host}:{port}") as alice:
                await alice.register(timeout=WAIT)
                call = await alice.call("pybot")
                await call.established(timeout=WAIT)
                answer.process.send_signal(signal.SIGTERM)
                return await call.terminated(timeout=WAIT)

        assert asyncio.run(scenario()) == "remote bye"
        assert answer.finish() == 0
        [line] = answer.out
        match = CALL_LINE.match(line)
        assert match is not None
        assert match["cause"] == "bye"
        assert answer.err[-1] == "stopped"


class TestCall:
    def test_call_exits_0_when_audio_flowed_and_records_the_answer(
            self, server: dict[str, tuple[str, int]], processes: list[CliProcess],
            tmp_path: Path) -> None:
        answer = answering(processes, server, "--tone", "440")
        recording = tmp_path / "call.wav"
        call = start(processes, "call", "sip:pybot@127.0.0.1", "--user", "alice",
                     "--password", USERS["alice"], "--server", address(server),
                     "--tone", "1000", "--record", str(recording), "--duration", "1.5")
        assert call.finish(timeout=20) == 0, call.err
        [line] = call.out
        match = CALL_LINE.match(line)
        assert match is not None, line
        assert (match["way"], match["peer"], match["codec"]) == ("to", "sip:pybot@127.0.0.1",
                                                                 "PCMU")
        assert int(match["received"]) >= 50
        assert match["cause"] == "bye"
        assert abs(frequency_of(recording) - 440) <= 2.0
        answer.wait_for(re.compile(r"^call 1 from sip:alice@127\.0\.0\.1: codec PCMU, .*"
                                   r"ended: remote bye$"))

    def test_call_plays_a_wav_file_with_opus_over_tcp(
            self, server: dict[str, tuple[str, int]], processes: list[CliProcess],
            tmp_path: Path) -> None:
        """--play: a 16 kHz WAV file, resampled to Opus's 48 kHz, heard by answer at 700 Hz."""
        played, heard = tmp_path / "play.wav", tmp_path / "heard.wav"
        write_wav(played, g711.tone(700, 2.0, 16000, 0.5), 16000)
        answer = answering(processes, server, "--codecs", "opus,PCMU", "--record", str(heard))
        call = start(processes, "call", "pybot", "--user", "alice", "--password",
                     USERS["alice"], "--server", address(server, "tcp"), "--transport", "tcp",
                     "--codecs", "opus", "--play", str(played), "--duration", "1.2")
        assert call.finish(timeout=20) == 0, call.err
        match = CALL_LINE.match(call.out[0])
        assert match is not None
        assert match["codec"] == "opus"
        answer.wait_for(CALL_LINE)
        assert abs(frequency_of(heard) - 700) <= 2.0

    def test_call_that_does_not_connect_exits_1_with_one_error_line(
            self, server: dict[str, tuple[str, int]], processes: list[CliProcess]) -> None:
        call = start(processes, "call", "sip:nobody@127.0.0.1", "--user", "alice",
                     "--password", USERS["alice"], "--server", address(server))
        assert call.finish(timeout=20) == 1
        assert len(call.out) == 1
        assert "no media" in call.out[0]
        [error] = [line for line in call.err if line.startswith("siplab: error:")]
        assert "INVITE failed: 4" in error  # 404 Not Found or 480 from the proxy


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["answer", "--server", "127.0.0.1:5060"], "--user"),
        (["answer", "--user", "pybot"], "--server"),
        (["answer", "--user", "pybot", "--server", "nowhere"], "HOST:PORT"),
        (["answer", "--user", "pybot", "--server", "127.0.0.1:5060", "--tone", "abc"],
         "--tone"),
        (["answer", "--user", "pybot", "--server", "127.0.0.1:5060", "--tone", "440",
          "--play", "x.wav"], "not allowed with"),
        (["answer", "--user", "pybot", "--server", "127.0.0.1:5060", "--play",
          "no-such-file.wav"], "no such file"),
        (["answer", "--user", "pybot", "--server", "127.0.0.1:5060", "--duration", "-1"],
         "--duration"),
        (["answer", "--user", "pybot", "--server", "127.0.0.1:5060", "--transport", "sctp"],
         "--transport"),
        (["answer", "--user", "pybot", "--server", "127.0.0.1:5060", "--codecs", "G729"],
         "--codecs"),
        (["answer", "--user", "py@bot", "--server", "127.0.0.1:5060"], "--user"),
        (["call", "--user", "alice", "--server", "127.0.0.1:5060"], "URI"),
        (["call", "bob", "--user", "alice", "--server", "127.0.0.1:5060", "--bogus"],
         "--bogus"),
    ],
)
def test_bad_arguments_give_one_line_and_exit_2(args: list[str], message: str) -> None:
    result = subprocess.run([sys.executable, "-m", "siplab", *args], cwd=ROOT,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("siplab: error:")
    assert message in lines[0]


def test_help_names_the_flags_of_both_commands() -> None:
    for command in ("answer", "call"):
        result = subprocess.run([sys.executable, "-m", "siplab", command, "--help"], cwd=ROOT,
                                capture_output=True, text=True, timeout=30)
        assert result.returncode == 0
        for flag in ("--user", "--password", "--server", "--transport", "--tone", "--play",
                     "--record", "--duration"):
            assert flag in result.stdout
