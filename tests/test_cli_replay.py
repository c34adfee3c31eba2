"""``siplab replay``: one side of a capture against a live peer, from the shell.

Bad input ends with one ``siplab: error:`` line: exit 2 for a bad argument
(``--target``, ``--timeout``, no target for the caller), exit 1 for a file
that is missing, empty or not a capture, or a capture with nothing to replay.
A replay prints a row per step and exits 0 only if every step matched. The
live peer here is a scripted callee (a bare transaction layer, RFC 3261 §17)
on its own event loop, since ``main()`` runs its own.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from siplab.aio.driver import EndpointDriver
from siplab.aio.transport import TransportManager
from siplab.cli import main
from siplab.ids import IdSource
from siplab.lab.pcapfile import udp_frame, write_pcap
from siplab.sip.transport import Peer
from tests.interop.peers import free_port
from tests.lab.test_replay import callee, direct_call
from tests.sip.scripted import ScriptedEndpoint


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.startswith("siplab: error: "), err
    assert err.count("\n") == 1, err
    return err


@pytest.fixture
def capture(tmp_path: Path) -> Path:
    """A direct call alice -> bob: INVITE, 100, 180, 200, ACK, BYE, 200 (with copies)."""
    path = tmp_path / "call.pcap"
    write_pcap(path, [(t, udp_frame(data, src[:2], dst[:2])) for t, src, dst, data
                      in direct_call()])
    return path


@contextmanager
def scripted_callee() -> Iterator[Peer]:
    """A scripted UAS (180, then 200 with SDP) on UDP, run by a loop in another thread."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    transports: list[TransportManager] = []

    async def start() -> Peer:
        manager = TransportManager()
        EndpointDriver(ScriptedEndpoint(callee(), ids=IdSource("cli")), manager)
        transports.append(manager)
        return await manager.listen_udp("127.0.0.1", 0)

    try:
        yield asyncio.run_coroutine_threadsafe(start(), loop).result(5)
    finally:
        if transports:
            asyncio.run_coroutine_threadsafe(transports[0].close(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


class TestBadInput:
    def test_missing_file(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        missing = tmp_path / "nothing.pcap"
        assert main(["replay", str(missing), "--target", "127.0.0.1:5060"]) == 1
        assert "nothing.pcap" in one_error_line(capsys)

    def test_empty_file(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        empty = tmp_path / "empty.pcap"
        empty.write_bytes(b"")
        assert main(["replay", str(empty), "--target", "127.0.0.1:5060"]) == 1
        assert "empty" in one_error_line(capsys)

    def test_not_a_capture(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        text = tmp_path / "notes.pcap"
        text.write_text("INVITE sip:bob@example.com SIP/2.0\n")
        assert main(["replay", str(text), "--target", "127.0.0.1:5060"]) == 1
        assert "not a pcap" in one_error_line(capsys)

    def test_capture_without_sip(self, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
        quiet = tmp_path / "dns.pcap"
        write_pcap(quiet, [(1.0, udp_frame(b"\x12\x34" * 10, ("10.0.0.1", 40000),
                                           ("10.0.0.2", 53)))])
        assert main(["replay", str(quiet), "--target", "127.0.0.1:5060"]) == 1
        assert "no SIP messages" in one_error_line(capsys)

    @pytest.mark.parametrize("target", ["nonsense", "127.0.0.1:99999", "127.0.0.1:", ":5060"])
    def test_bad_target(self, capture: Path, target: str,
                        capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["replay", str(capture), "--target", target]) == 2
        assert "HOST:PORT" in one_error_line(capsys)

    def test_target_that_does_not_resolve(self, capture: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["replay", str(capture), "--target", "no-such-host.invalid:5060"]) == 1
        assert "no-such-host.invalid" in one_error_line(capsys)

    def test_caller_without_target(self, capture: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["replay", str(capture)]) == 2
        assert "needs a target" in one_error_line(capsys)

    def test_unknown_side(self, capture: Path, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["replay", str(capture), "--as", "carol", "--target", "127.0.0.1:5060"]) == 1
        assert "users: alice, bob" in one_error_line(capsys)

    def test_bad_timeout(self, capture: Path, capsys: pytest.CaptureFixture[str]) -> None:
        with pytest.raises(SystemExit) as exit:  # argparse's own check
            main(["replay", str(capture), "--target", "127.0.0.1:5060", "--timeout", "0"])
        assert exit.value.code == 2
        assert "--timeout" in one_error_line(capsys)


class TestReplay:
    def test_a_matching_replay_prints_every_step_and_exits_0(
            self, capture: Path, capsys: pytest.CaptureFixture[str]) -> None:
        with scripted_callee() as address:
            status = main(["replay", str(capture), "--as", "caller", "--target",
                           f"{address.host}:{address.port}", "--timeout", "2"])
        out = capsys.readouterr().out
        assert status == 0, out
        lines = out.splitlines()
        assert lines[0].split() == ["step", "time", "dir", "expected", "got", "verdict",
                                    "detail"]
        assert [line.split()[2:] for line in lines[1:8]] == [
            ["->", "INVITE", "INVITE", "sent"],
            ["<-", "100", "Trying", "100", "Trying", "ok"],
            ["<-", "180", "Ringing", "180", "Ringing", "ok"],
            ["<-", "200", "OK", "200", "OK", "ok"],
            ["->", "ACK", "ACK", "sent"],
            ["->", "BYE", "BYE", "sent"],
            ["<-", "200", "OK", "200", "OK", "ok"]]
        assert lines[-1].endswith("every step matched")

    def test_nobody_answering_exits_1_with_the_missing_step(
            self, capture: Path, capsys: pytest.CaptureFixture[str]) -> None:
        status = main(["replay", str(capture), "--target", f"127.0.0.1:{free_port()}",
                       "--timeout", "0.3"])
        out = capsys.readouterr().out
        assert status == 1, out
        assert "expected 180 Ringing after INVITE, nothing within 0.3 s" in out
        assert "skipped" in out

    def test_callee_waits_for_the_invite(self, capture: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
        status = main(["replay", str(capture), "--as", "bob", "--timeout", "0.3"])
        out, err = capsys.readouterr()
        assert status == 1
        assert "waiting for the INVITE on udp:127.0.0.1:" in err
        assert "expected INVITE, nothing within 0.3 s" in out
