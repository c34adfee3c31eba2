"""The text ladder (sngrep-like) of siplab.lab.ladder_text: the same model as the drawing.

RFC 3665 draws its flows in ASCII; a terminal gets the same: lifelines as
``|``, one label line and one arrow line per message, retransmissions
(RFC 3261 §17.1.1.2) dashed, lost datagrams stopping in an ``X``.
"""

from __future__ import annotations

import re
from pathlib import Path

from siplab.lab import text_ladder
from siplab.lab.ladder_model import build_model
from siplab.lab.ladder_text import format_model
from tests.lab.ladder_captures import call_capture, forked_call

ARROW = re.compile(r"^\s+([0-9.]+)\s+\|")


def arrow_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if ARROW.match(line)]


def test_text_ladder_has_a_column_per_endpoint_and_two_lines_per_message() -> None:
    lab = forked_call()
    text = text_ladder(lab.net)
    lines = text.splitlines()
    assert lines[0].split() == ["alice", "server", "bob", "bob-mobile"]
    assert lines[1].split() == ["10.0.0.1:5060", "10.0.0.100:5060", "10.0.0.2:5060",
                                "10.0.0.4:5060"]
    assert len(arrow_lines(text)) == len(lab.net.records)
    columns = [i for i, char in enumerate(lines[2]) if char == "|"]
    assert len(columns) == 4
    labels = [lines[lines.index(line) - 1].strip(" |") for line in arrow_lines(text)]
    assert labels[:4] == ["REGISTER", "401 Unauthorized", "REGISTER", "200 OK"]


def test_arrows_point_from_sender_to_receiver() -> None:
    lab = forked_call()
    text = text_ladder(lab.net)
    lines = text.splitlines()
    columns = [i for i, char in enumerate(lines[2]) if char == "|"]
    invite_label = next(i for i, line in enumerate(lines) if line.strip().startswith("|")
                        and "INVITE" in line)
    arrow = lines[invite_label + 1]
    assert arrow.startswith("    3.000")
    assert arrow[columns[0] + 1] == "-"
    assert arrow[columns[1] - 1] == ">"
    ok = next(i for i, line in enumerate(lines) if "100 Trying" in line)
    assert lines[ok + 1][columns[0] + 1] == "<"  # server -> alice


def test_lost_and_retransmitted_messages_are_drawn_differently() -> None:
    lab = forked_call(lose_first_invite_to_desk=True)
    text = text_ladder(lab.net)
    lines = text.splitlines()
    lost = next(i for i, line in enumerate(lines) if "INVITE (lost)" in line)
    assert "X" in lines[lost + 1]
    assert ">" not in lines[lost + 1]
    again = next(i for i, line in enumerate(lines) if "INVITE (retransmission)" in line)
    assert "- - - ->|" in lines[again + 1]


def test_cseq_sdp_and_colour_options() -> None:
    lab = forked_call()
    text = text_ladder(lab.net, cseq=True, sdp=True)
    assert "INVITE · CSeq 1" in text
    assert text.count("offer PCMU") == 3
    assert text.count("answer PCMU") == 2
    coloured = text_ladder(lab.net, color=True)
    assert "\x1b[34m" in coloured
    assert "\x1b[0m" in coloured
    assert re.sub(r"\x1b\[[0-9;]*m", "", coloured) == text_ladder(lab.net)


def test_text_ladder_of_a_capture_shows_rtp_and_long_waits(tmp_path: Path) -> None:
    path = call_capture(tmp_path / "call.pcap")
    text = text_ladder(path)
    assert "RTP PCMU 45 pkts (0.9 s)" in text
    assert "=====>" in text
    assert "<=====" in text
    without_rtp = text_ladder(path, rtp=False)
    assert "1.0 s later" in without_rtp  # ACK to BYE, nothing between


def test_an_empty_model_says_so() -> None:
    assert format_model(build_model([])) == "(no SIP messages)"
