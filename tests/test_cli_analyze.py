"""``siplab analyze PCAP``: the RTP streams table, as JSON too, and one-line errors.

A missing, empty, truncated or non-capture file ends with one line on stderr
that names the file and says what is wrong, and exit status 1 (the file is
bad); a bad option exits 2 (argparse). The table lists one row per stream
with tshark's columns (tests/lab/test_analysis.py checks the numbers).
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from siplab.cli import main
from siplab.lab.pcapfile import udp_frame, write_pcap

ROOT = Path(__file__).resolve().parents[1]


def capture(path: Path, packets: int = 20) -> Path:
    frames = []
    for i in range(packets):
        rtp = struct.pack("!BBHII", 0x80, 8, 100 + i, 160 * i, 0xCAFE) + bytes(160)
        frames.append((1_700_000_000 + 0.02 * i, udp_frame(rtp, ("10.0.0.1", 40001),
                                                           ("10.0.0.2", 40000))))
    write_pcap(path, frames)
    return path


def test_table_has_a_row_per_stream(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", str(capture(tmp_path / "one.pcap"))]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "RTP Streams" in lines[0]
    assert "Max Jitter(ms)" in lines[1]
    row = lines[2].split()
    assert row[2:7] == ["10.0.0.1", "40001", "10.0.0.2", "40000", "0x0000cafe"]
    assert row[7:10] == ["PCMA", "20", "0"]
    assert len(lines) == 4


def test_json_lists_the_streams(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", str(capture(tmp_path / "one.pcap")), "--json"]) == 0
    [stream] = json.loads(capsys.readouterr().out)
    assert (stream["ssrc"], stream["packets"], stream["lost"]) == (0xCAFE, 20, 0)
    assert stream["src"] == {"host": "10.0.0.1", "port": 40001}
    assert stream["encoding"] == "PCMA"


def write_broken(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"{kind}.pcap"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        path.write_bytes(capture(tmp_path / "whole.pcap").read_bytes()[:-50])
    elif kind == "not-a-pcap":
        path.write_text("this is a text file, not a capture\n")
    return path  # "missing": never written


@pytest.mark.parametrize(("kind", "words"), [
    ("missing", "no such file"),
    ("empty", "empty file"),
    ("truncated", "truncated"),
    ("not-a-pcap", "not a pcap or pcapng capture"),
])
def test_bad_file_exits_1_with_one_line(tmp_path: Path, kind: str, words: str) -> None:
    path = write_broken(tmp_path, kind)
    done = subprocess.run([sys.executable, "-m", "siplab", "analyze", str(path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.startswith(f"siplab: error: {path}: ")
    assert words in line


def test_bad_option_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["analyze", str(tmp_path / "x.pcap"), "--no-such-option"])
    assert stopped.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
