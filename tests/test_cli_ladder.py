"""``siplab ladder PCAP``: the ladder of a capture as PNG, SVG or text (DESIGN.md, CLI).

Like every subcommand it exits non-zero with one line on bad input: a missing,
empty, truncated or non-pcap file, or no output asked for. The capture is a
basic call through a proxy (RFC 3665 §3.8 style) with its RTP.
"""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import pytest

from siplab.cli import main
from tests.lab.ladder_captures import call_capture


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return call_capture(tmp_path_factory.mktemp("ladder") / "call.pcap")


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk
    return width, height


def test_ladder_writes_a_png(capture: Path, tmp_path: Path,
                             capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "call.png"
    assert main(["ladder", str(capture), "-o", str(out), "--sdp", "--cseq"]) == 0
    width, height = png_size(out)
    assert 600 <= width <= 2000
    assert 1000 <= height <= 10000
    assert f"wrote {out} (22 SIP messages)" in capsys.readouterr().out


def test_ladder_writes_an_svg_with_the_labels_as_text(capture: Path, tmp_path: Path) -> None:
    out = tmp_path / "call.svg"
    assert main(["ladder", str(capture), "-o", str(out)]) == 0
    text = out.read_text()
    assert text.startswith("<?xml")
    assert "<svg" in text
    assert out.stat().st_size > 10_000


def test_ladder_pages_go_to_numbered_files(capture: Path, tmp_path: Path) -> None:
    out = tmp_path / "call.png"
    assert main(["ladder", str(capture), "-o", str(out), "--per-page", "10"]) == 0
    assert [p.name for p in sorted(tmp_path.iterdir())] == ["call-2.png", "call-3.png",
                                                            "call.png"]


def test_ladder_text_prints_the_ascii_ladder(capture: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ladder", str(capture), "--text"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["alice", "10.0.0.100:5060", "bob"]
    assert "INVITE" in out
    assert "|------------------>|" in out
    assert "RTP PCMU 45 pkts" in out
    assert "\x1b[" not in out


@pytest.mark.parametrize(("content", "message"), [
    (None, "No such file"),
    (b"", "empty"),
    (b"this is not a capture file at all, just text\n" * 3, "not a"),
    ("truncated", "truncated"),
])
def test_bad_captures_exit_non_zero_with_one_line(
    content: bytes | str | None, message: str, capture: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "bad.pcap"
    if content == "truncated":
        path.write_bytes(capture.read_bytes()[:3000])
    elif isinstance(content, bytes):
        path.write_bytes(content)
    assert main(["ladder", str(path), "-o", str(tmp_path / "out.png")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("siplab: error: ")
    assert message.lower() in err.lower()
    assert not (tmp_path / "out.png").exists()


def test_a_capture_without_sip_says_so(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    from siplab.sip.transport import Peer
    from tests.lab.ladder_captures import rtp_packets, write_pcap

    path = write_pcap(tmp_path / "rtp.pcap", rtp_packets(Peer("10.0.0.1", 4000),
                                                         Peer("10.0.0.2", 4000), 1.0, 0.1,
                                                         ssrc=1))
    assert main(["ladder", str(path), "--text"]) == 1
    assert capsys.readouterr().err == f"siplab: error: {path}: no SIP messages in this capture\n"


@pytest.mark.parametrize(("args", "message"), [
    ([], "give -o OUT.png"),
    (["-o", "out.jpg"], "-o must end in .png, .svg, .pdf"),
    (["--text", "--per-page", "0"], "--per-page must be at least 1"),
])
def test_usage_errors_exit_2_with_one_line(args: list[str], message: str, capture: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ladder", str(capture), *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert message in err


def test_siplab_ladder_as_a_process_exits_1_with_one_line(tmp_path: Path) -> None:
    """The console entry point, not only main(): a missing capture, one line, exit 1."""
    done = subprocess.run([sys.executable, "-m", "siplab", "ladder", "nope.pcap", "-o",
                           str(tmp_path / "out.png")], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr == "siplab: error: nope.pcap: no such file\n"
