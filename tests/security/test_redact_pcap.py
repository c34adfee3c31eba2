"""Redacting a capture made anywhere: digest answers hidden, everything else as it was.

``siplab.lab.redact_pcap`` (and ``siplab redact in.pcap -o out.pcap``) rewrites
a pcap so that the ``response`` and ``cnonce`` of every Authorization and
Proxy-Authorization header (RFC 3261 §22.4, RFC 7616) read ``NOT SHOWN...``,
over UDP, TCP (a message cut into segments, several messages in one segment:
RFC 9293) and WebSocket (masked client frames: RFC 6455 §5.3). The captures
here are real registrations through a LabServer, written by
``Trace.to_pcap(redact=False)`` (no capture tool runs offline), then cut into
other TCP segment sizes with scapy. tshark checks the result: every message
decodes as before, every digest answer it finds is a placeholder, and no
checksum went bad.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from siplab.aio.server import LabServer
from siplab.aio.useragent import UserAgent
from siplab.ids import IdSource
from siplab.lab import Trace, WireMessage, read_pcap, redact_pcap
from siplab.lab.redact import hide_credentials, placeholder
from tests.helpers import crlf, require_peer
from tests.security.lab import LOOPBACK, USERS, run

#: A body that quotes an Authorization header: it is a body, so it must stay.
QUOTED_BODY = 'Authorization: Digest response="0123456789abcdef0123456789abcdef"'
SECRET_RE = re.compile(rb'(?:response|cnonce)="([^"]+)"')


@dataclass
class Captured:
    pcap: Path
    secrets: set[bytes]  # every response= and cnonce= value sent
    tcp_port: int  # the LabServer's TCP listener: tshark decodes it as SIP (-d)


async def register_everywhere(trace: Trace) -> int:
    """alice registers over UDP, TCP and WebSocket (401, then 200), sends bob a MESSAGE
    over TCP; each unregisters when it stops."""
    async with LabServer(udp=[(LOOPBACK, 0)], tcp=[(LOOPBACK, 0)], ws=[(LOOPBACK, 0)],
                         users=USERS, ids=IdSource("redact-pcap"), trace=trace) as server:
        for transport in ("udp", "tcp", "ws"):
            peer = server.address(transport)
            assert peer is not None
            url = f"{transport}://{peer.host}:{peer.port}"
            async with UserAgent(f"sip:alice@{LOOPBACK}", USERS["alice"], transport=url,
                                 media=False, trace=trace) as alice:
                await alice.register(timeout=5)
                if transport == "tcp":
                    tcp_port = peer.port
                    async with UserAgent(f"sip:bob@{LOOPBACK}", USERS["bob"], transport=url,
                                         media=False, trace=trace) as bob:
                        await bob.register(timeout=5)
                        await alice.message("bob", QUOTED_BODY, timeout=5)
    return tcp_port


@pytest.fixture(scope="module")
def captured(tmp_path_factory: pytest.TempPathFactory) -> Captured:
    trace = Trace()
    tcp_port = run(register_everywhere(trace))
    pcap = trace.to_pcap(tmp_path_factory.mktemp("redact") / "plain.pcap", redact=False)
    secrets = {m.group(1) for record in trace.records
               for m in SECRET_RE.finditer(record.data.partition(b"\r\n\r\n")[0])}
    return Captured(pcap, secrets, tcp_port)


def resegment(src: Path, dst: Path, size: int) -> Path:
    """``src`` with the data of each direction of the plain SIP-over-TCP connections cut
    again into segments of ``size`` bytes: small sizes split messages, large ones put
    several messages in one segment. (WebSocket connections stay as written: tshark
    finds them by their HTTP upgrade, which must start a segment.)"""
    from scapy.layers.inet import TCP
    from scapy.packet import Raw
    from scapy.utils import rdpcap, wrpcap

    packets = list(rdpcap(str(src)))
    flows: dict[tuple[Any, ...], list[Any]] = {}
    kept: list[Any] = []
    for packet in packets:
        if TCP in packet and bytes(packet[TCP].payload):
            ip = packet[TCP].underlayer
            flows.setdefault((ip.src, ip.dst, packet[TCP].sport, packet[TCP].dport),
                             []).append(packet)
        else:
            kept.append(packet)
    for segments in flows.values():
        data = b"".join(bytes(p[TCP].payload) for p in segments)
        if data.startswith((b"GET ", b"HTTP/")):
            kept.extend(segments)
            continue
        starts, offset = [], 0
        for packet in segments:
            starts.append(offset)
            offset += len(bytes(packet[TCP].payload))
        first_seq = segments[0][TCP].seq
        for index, at in enumerate(range(0, len(data), size)):
            owner = max(i for i, start in enumerate(starts) if start <= at)
            template = segments[owner].copy()
            tcp = template[TCP]
            tcp.remove_payload()
            tcp.seq = (first_seq + at) & 0xFFFFFFFF
            tcp.chksum = None
            ip = tcp.underlayer
            for name in ("len", "plen", "chksum"):
                if name in ip.fields:
                    delattr(ip, name)
            tcp.add_payload(Raw(load=data[at:at + size]))
            template.time = segments[owner].time + index * 1e-7
            kept.append(template.__class__(bytes(template)))
            kept[-1].time = template.time
    kept.sort(key=lambda packet: float(packet.time))
    wrpcap(str(dst), kept)
    return dst


@pytest.fixture(scope="module", params=["as-written", "split-97", "coalesced-4000", "pcapng"])
def plain_and_redacted(request: pytest.FixtureRequest, captured: Captured,
                       tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp(request.param)
    plain = captured.pcap
    if request.param == "pcapng":  # what tshark and dumpcap write by default
        editcap = require_peer("editcap", "wireshark-common")
        plain = folder / "plain.pcapng"
        subprocess.run([editcap, "-F", "pcapng", str(captured.pcap), str(plain)],
                       check=True, capture_output=True, timeout=60)
    elif request.param != "as-written":
        plain = resegment(captured.pcap, folder / "plain.pcap",
                          int(request.param.split("-")[1]))
    report = redact_pcap(plain, folder / "redacted.pcap")
    assert report.values >= 2 * 6  # a response and a cnonce per answered request, at least
    assert (report.fragments, report.unreadable_websocket_bytes) == (0, 0)
    return plain, report.path


def tshark_fields(pcap: Path, *fields: str, display: str = "sip",
                  port: int = 0) -> list[list[str]]:
    """The ``fields`` of every frame tshark shows with the filter ``display``."""
    tshark = require_peer("tshark", "tshark")
    options = [option for field in fields for option in ("-e", field)]
    if port:
        options += ["-d", f"tcp.port=={port},sip"]
    result = subprocess.run(
        [tshark, "-r", str(pcap), "-n", "-o", "tcp.check_checksum:TRUE",
         "-o", "udp.check_checksum:TRUE", "-Y", display, "-T", "fields",
         "-E", "occurrence=a", "-E", "aggregator=|", *options],
        capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return [line.split("\t") for line in result.stdout.splitlines()]


class TestRedactedCapture:
    """The redacted copy decodes as the original did, without the digest answers."""

    def test_every_message_decodes_with_the_same_method_or_status(
            self, plain_and_redacted: tuple[Path, Path], captured: Captured) -> None:
        plain, redacted = plain_and_redacted
        fields = ("frame.number", "sip.Method", "sip.Status-Code")
        before = tshark_fields(plain, *fields, port=captured.tcp_port)
        after = tshark_fields(redacted, *fields, port=captured.tcp_port)
        assert after == before
        labels = [label for row in before for column in row[1:] for label in column.split("|")]
        # Every REGISTER (4 registrations, 4 unregistrations) challenged once, then answered.
        assert labels.count("REGISTER") == 2 * labels.count("401") >= 12
        assert {"200", "MESSAGE"} <= set(labels), labels

    def test_tshark_finds_only_placeholders_where_the_answers_were(
            self, plain_and_redacted: tuple[Path, Path], captured: Captured) -> None:
        plain, redacted = plain_and_redacted
        fields = ("sip.auth.digest.response", "sip.auth.cnonce")
        port = captured.tcp_port
        seen_before = {v.strip('"') for row in tshark_fields(plain, *fields, port=port)
                       for c in row for v in c.split("|") if v}
        seen_after = {v.strip('"') for row in tshark_fields(redacted, *fields, port=port)
                      for c in row for v in c.split("|") if v}
        assert {value.encode() for value in seen_before} == captured.secrets
        assert seen_after
        assert all(value.startswith(("NOT SHOWN", "x")) for value in seen_after), seen_after

    def test_no_answer_from_the_original_is_left_in_any_byte(
            self, plain_and_redacted: tuple[Path, Path], captured: Captured) -> None:
        _, redacted = plain_and_redacted
        raw = redacted.read_bytes()
        messages = b"".join(m.data for m in read_pcap(redacted).sip_messages)  # unmasked WS
        for secret in captured.secrets:
            assert secret not in raw
            assert secret not in messages

    def test_lengths_sequence_numbers_and_checksums_still_hold(
            self, plain_and_redacted: tuple[Path, Path]) -> None:
        plain, redacted = plain_and_redacted
        assert redacted.stat().st_size == plain.stat().st_size
        bad = "tcp.checksum.status == 0 || udp.checksum.status == 0 || tcp.analysis.flags"
        assert tshark_fields(redacted, "frame.number", display=bad) == \
            tshark_fields(plain, "frame.number", display=bad)
        assert tshark_fields(redacted, "tcp.seq_raw", "tcp.len", display="tcp") == \
            tshark_fields(plain, "tcp.seq_raw", "tcp.len", display="tcp")

    def test_a_body_that_quotes_a_header_is_not_touched(
            self, plain_and_redacted: tuple[Path, Path]) -> None:
        _, redacted = plain_and_redacted
        bodies = [m.message.body for m in read_pcap(redacted).sip_messages
                  if m.label == "MESSAGE"]
        assert bodies
        assert all(body == QUOTED_BODY.encode() for body in bodies)


def test_placeholders_keep_every_length() -> None:
    head = crlf("""
        REGISTER sip:127.0.0.1 SIP/2.0
        Authorization: Digest username="alice", response="6629fae49393a05397450978507c4ef1",
         cnonce="0a4f", nc=00000001, qop=auth
        Proxy-Authorization: Basic YWxpY2U6c2VjcmV0
        Content-Length: 0

        """)
    hidden, count = hide_credentials(head)
    assert count == 3
    assert len(hidden) == len(head)
    assert b'response="NOT SHOWN.......................",' in hidden
    assert b'cnonce="xxxx"' in hidden
    assert b"Basic NOT-SHOWN......." in hidden
    assert placeholder(9) == b"NOT SHOWN"


def test_a_udp_message_cut_into_ip_fragments_is_redacted_in_its_pieces(tmp_path: Path) -> None:
    """Over 1,472 bytes a UDP message goes as IPv4 fragments (RFC 791), as siplab's own
    writer cuts it; the answer may sit in any piece, the UDP checksum in the first."""
    from siplab.lab.pcapwrite import write_trace
    from siplab.sip.message import parse_message
    from siplab.sip.transport import Peer

    answer = "6629fae49393a05397450978507c4ef1"
    data = crlf(f"""
        REGISTER sip:127.0.0.1 SIP/2.0
        Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-big
        Max-Forwards: 70
        From: <sip:alice@127.0.0.1>;tag=a1
        To: <sip:alice@127.0.0.1>
        Call-ID: big@127.0.0.1
        CSeq: 2 REGISTER
        X-Padding: {"p" * 1600}
        Authorization: Digest username="alice", realm="127.0.0.1", nonce="n0nce",
         uri="sip:127.0.0.1", response="{answer}", algorithm=MD5,
         cnonce="0a4f113b", qop=auth, nc=00000001
        Content-Length: 0

        """)
    message = WireMessage(1.0, Peer(LOOPBACK, 5070, "udp"), Peer(LOOPBACK, 5060, "udp"),
                          data, parse_message(data))
    plain = write_trace([message], tmp_path / "big.pcap")
    report = redact_pcap(plain, tmp_path / "big-redacted.pcap")
    assert (report.values, report.changed_frames, report.fragments) == (2, 2, 0)
    assert answer.encode() not in report.path.read_bytes()
    assert tshark_fields(report.path, "sip.auth.digest.response", "sip.auth.cnonce") == \
        [['"NOT SHOWN......................."', '"xxxxxxxx"']]
    bad = "udp.checksum.status == 0 || ip.checksum.status == 0"
    assert tshark_fields(report.path, "frame.number", display=bad) == []


def test_command_line_redacts_and_bad_input_is_one_line(captured: Captured,
                                                        tmp_path: Path) -> None:
    out = tmp_path / "shared.pcap"
    done = subprocess.run([sys.executable, "-m", "siplab", "redact", str(captured.pcap),
                           "-o", str(out)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "credential values hidden" in done.stdout
    assert not any(secret in out.read_bytes() for secret in captured.secrets)

    text = tmp_path / "notes.txt"
    text.write_text("not a capture\n")
    bad = subprocess.run([sys.executable, "-m", "siplab", "redact", str(text), "-o", str(out)],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0
    assert len(bad.stderr.strip().splitlines()) == 1
    assert "not a pcap" in bad.stderr
