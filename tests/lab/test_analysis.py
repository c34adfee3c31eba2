"""rtp_streams(): Wireshark's RTP stream statistics (RFC 3550 §6.4.1, A.8; tshark -z rtp,streams).

The counting rules are WiresharkStats' (tests/rtp/test_wireshark.py checks
them by hand and against tshark). Here: its column-at-a-time path gives the
same numbers as the packet-at-a-time one, float for float; streams are told
apart and their clock rates found from the SDP as Wireshark does; and on
captures with loss, duplicates, reordering, jitter and wrap-arounds (written
with siplab's own fast pcap writer) and on a real sipp call, every stream's
packets and lost equal tshark's, and every delta and jitter column is within
0.01 ms of it (in practice within 0.001).
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass
from pathlib import Path

import pytest

from siplab.aio.transport import TraceRecord
from siplab.lab import RtpStreamStats, Trace, read_pcap, rtp_streams
from siplab.lab.analysis import format_streams, stream_dict
from siplab.lab.pcapfile import udp_frame, write_pcap
from siplab.rtp.packet import RtpPacket
from siplab.rtp.wireshark import WiresharkStats
from siplab.sip.transport import Peer
from tests.helpers import crlf, require_peer
from tests.lab.captures import STREAM_COLUMNS, TsharkStream, tshark_streams

T0 = 1_700_000_000.0
A, B = "10.0.0.1", "10.0.0.2"
TOLERANCE_MS = 0.01


# -- the column path is the packet path -----------------------------------------------------


def random_stream(rng: random.Random, count: int) -> list[tuple[float, int, int, int]]:
    """(time s, seq, timestamp, second octet) with every irregularity WiresharkStats knows."""
    rows = []
    seq, stamp, now = rng.randrange(65536), rng.randrange(1 << 32), rng.random() * 100
    for _ in range(count):
        now += rng.choice((0.02, 0.02, 0.019, 0.035, 0.0005, 0.1))
        step = rng.choice((1, 1, 1, 1, 2, 0, -1, 300))
        seq = (seq + step) % 65536
        stamp = (stamp + rng.choice((160, 160, 160, 0, -320, 8000, 1 << 31))) % (1 << 32)
        pt = rng.choice((0, 0, 0, 8, 13, 19, 101, 111))
        rows.append((now, seq, stamp, pt | (0x80 if rng.random() < 0.05 else 0)))
    return rows


@pytest.mark.parametrize("seed", range(20))
def test_columns_give_the_same_numbers_as_packets_float_for_float(seed: int) -> None:
    rng = random.Random(seed)
    rows = random_stream(rng, rng.randrange(1, 400))
    rtpmap = {101: ("telephone-event", 8000), 111: ("opus", 48000)}
    one_by_one, columns = WiresharkStats(rtpmap), WiresharkStats(rtpmap)
    for now, seq, stamp, octet in rows:
        one_by_one.receive(RtpPacket(octet & 0x7F, seq, stamp, 1, marker=bool(octet & 0x80)), now)
    cut = rng.randrange(len(rows) + 1)  # in two chunks, as the reader flushes them
    for part in (rows[:cut], rows[cut:]):
        columns.receive_columns([r[0] for r in part], [r[1] for r in part],
                                [r[2] for r in part], [r[3] for r in part])
    assert columns.snapshot() == one_by_one.snapshot()
    assert (columns.cycles, columns.wrong_timestamps) == (one_by_one.cycles,
                                                          one_by_one.wrong_timestamps)


# -- synthetic captures, compared with tshark ----------------------------------------------------


def sdp_message(first_line: str, host: str, port: int, rtpmaps: list[str], number: int) -> bytes:
    lines = ["v=0", f"o=- 1 1 IN IP4 {host}", "s=-", f"c=IN IP4 {host}", "t=0 0",
             f"m=audio {port} RTP/AVP 0 96 111 101", *(f"a=rtpmap:{m}" for m in rtpmaps)]
    body = "\r\n".join(lines).encode() + b"\r\n"
    to_tag = ";tag=b" if first_line.startswith("SIP/") else ""
    return crlf(f"""
        {first_line}
        Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-an{number}
        From: <sip:alice@10.0.0.1>;tag=a
        To: <sip:bob@10.0.0.2>{to_tag}
        Call-ID: analysis@10.0.0.1
        CSeq: 1 INVITE
        Content-Type: application/sdp
        Content-Length: {len(body)}

    """) + body


@dataclass
class Sent:
    time: float
    src: tuple[str, int]
    dst: tuple[str, int]
    data: bytes


def stream(rng: random.Random, src: tuple[str, int], dst: tuple[str, int], *, ssrc: int,
           seq: int, stamp: int, step: int, pt: int, count: int, start: float,
           jitter_ms: float = 10.0, loss: float = 0.05, duplicates: float = 0.03,
           swaps: float = 0.04) -> list[Sent]:
    """One 20 ms stream with loss, duplicates, swapped arrivals and jitter injected."""
    out: list[Sent] = []
    for i in range(count):
        if i and rng.random() < loss:
            continue
        header = struct.pack("!BBHII", 0x80, pt | (0x80 if i == 0 else 0), (seq + i) % 65536,
                             (stamp + step * i) % (1 << 32), ssrc)
        when = start + 0.02 * i + rng.random() * jitter_ms / 1000
        out.append(Sent(when, src, dst, header + bytes(80)))
        if rng.random() < duplicates:
            out.append(Sent(when + 0.001, src, dst, header + bytes(80)))
    for i in range(len(out) - 1):
        if rng.random() < swaps:
            out[i].time, out[i + 1].time = out[i + 1].time, out[i].time
    return out


def synthetic_capture(path: Path, seed: int = 7) -> Path:
    rng = random.Random(seed)
    offer_map = ["96 L16/16000", "111 opus/48000/2", "101 telephone-event/8000"]
    answer_map = ["96 telephone-event/8000", "111 opus/48000/2", "101 telephone-event/8000"]
    signalling = [
        Sent(T0, (A, 5060), (B, 5060),
             sdp_message("INVITE sip:bob@10.0.0.2 SIP/2.0", A, 40001, offer_map, 1)),
        Sent(T0 + 0.05, (B, 5060), (A, 5060),
             sdp_message("SIP/2.0 200 OK", B, 50000, answer_map, 1)),
    ]
    a_side, b_side = (A, 40001), (B, 50000)  # the offerer's port is odd: only SDP finds it
    media = [
        # PCMU with sequence numbers wrapping 65535 -> 0
        *stream(rng, a_side, b_side, ssrc=0xA1, seq=65400, stamp=1000, step=160, pt=0,
                count=400, start=T0 + 0.1),
        # opus: dynamic, 48 kHz from the SDP (960 per 20 ms)
        *stream(rng, b_side, a_side, ssrc=0xB1, seq=10, stamp=(1 << 32) - 50_000, step=960,
                pt=111, count=400, start=T0 + 0.1),
        # PT 96 both ways: L16/16000 in the offer, telephone-event in the answer
        *stream(rng, b_side, a_side, ssrc=0xB2, seq=500, stamp=0, step=320, pt=96, count=100,
                start=T0 + 1.0),
        *stream(rng, a_side, b_side, ssrc=0xA2, seq=500, stamp=0, step=320, pt=96, count=100,
                start=T0 + 1.0),
        # unsignalled, found by the heuristic: PCMA, and a dynamic type with no clock rate
        *stream(rng, (A, 30001), (B, 30000), ssrc=0xC1, seq=65000, stamp=5, step=160, pt=8,
                count=700, start=T0 + 0.2, jitter_ms=25),
        *stream(rng, (B, 30000), (A, 30001), ssrc=0xC2, seq=1, stamp=5, step=160, pt=98,
                count=50, start=T0 + 0.3),
    ]
    sent = signalling + sorted(media, key=lambda s: s.time)
    write_pcap(path, [(s.time, udp_frame(s.data, s.src, s.dst, ident=i))
                      for i, s in enumerate(sent)])
    return path


def key(stream: RtpStreamStats) -> tuple[str, int, str, int, int]:
    return (stream.src.host, stream.src.port, stream.dst.host, stream.dst.port, stream.ssrc)


def assert_same_streams(ours: list[RtpStreamStats], reference: list[RtpStreamStats]) -> None:
    """Every field equal; means and jitter within 1e-9 ms (the bulk path sums in another
    order than the packet-by-packet loop, siplab.lab.analysis_bulk)."""
    assert len(ours) == len(reference)
    for mine, theirs in zip(ours, reference, strict=True):
        for name in theirs.__slots__:
            expected = getattr(theirs, name)
            if isinstance(expected, float) and name.endswith("_ms"):
                assert getattr(mine, name) == pytest.approx(expected, rel=0, abs=1e-9), name
            else:
                assert getattr(mine, name) == expected, name


def check_against_tshark(ours: list[RtpStreamStats], theirs: list[TsharkStream]) -> None:
    by_key = {row.key: row for row in theirs}
    assert sorted(by_key) == sorted(key(s) for s in ours)
    for stream in ours:
        row = by_key[key(stream)]
        assert (stream.packets, stream.lost) == (row.packets, row.lost), key(stream)
        assert stream.problem == row.problem, key(stream)
        for name in STREAM_COLUMNS:
            assert getattr(stream, f"{name}_ms") == pytest.approx(
                row.values[name], abs=TOLERANCE_MS), (key(stream), name)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthetic_capture(tmp_path_factory.mktemp("analysis") / "synthetic.pcap")


class TestSyntheticCapture:
    def test_streams_are_told_apart_and_named_from_the_sdp(self, synthetic: Path) -> None:
        streams = {s.ssrc: s for s in rtp_streams(synthetic)}
        assert sorted(streams) == [0xA1, 0xA2, 0xB1, 0xB2, 0xC1, 0xC2]
        assert (streams[0xB1].encoding, streams[0xB1].clock_rate) == ("opus", 48000)
        # PT 96 is read with the receiver's SDP: L16 towards the offerer, DTMF the other way
        assert (streams[0xB2].encoding, streams[0xB2].clock_rate) == ("L16", 16000)
        assert (streams[0xA2].encoding, streams[0xA2].clock_rate) == ("telephone-event", 0)
        assert (streams[0xC2].encoding, streams[0xC2].clock_rate) == ("PT98", 0)
        assert streams[0xA1].src == Peer(A, 40001)
        assert streams[0xA1].start_time >= T0 + 0.1

    @pytest.mark.interop
    def test_every_stream_agrees_with_tshark(self, synthetic: Path) -> None:
        require_peer("tshark", "tshark")
        check_against_tshark(rtp_streams(synthetic), tshark_streams(synthetic))

    def test_a_capture_gives_the_same_streams_as_its_path(self, synthetic: Path) -> None:
        capture = read_pcap(synthetic)  # the general reader; a path takes the bulk reader
        assert_same_streams(rtp_streams(synthetic), rtp_streams(capture))
        # From packets (with the SIP whose SDP names the payload types): their times are
        # epoch floats (0.2 us apart at best), not offsets from the capture's first second.
        from_packets = rtp_streams([*capture.sip_messages, *capture.rtp_packets])
        for mine, reference in zip(from_packets, rtp_streams(synthetic), strict=True):
            assert (key(mine), mine.encoding, mine.packets, mine.lost) == (
                key(reference), reference.encoding, reference.packets, reference.lost)
            for name in STREAM_COLUMNS:
                assert getattr(mine, f"{name}_ms") == pytest.approx(
                    getattr(reference, f"{name}_ms"), abs=1e-3)


def test_long_streams_are_analysed_in_chunks_with_the_same_result(tmp_path: Path) -> None:
    rng = random.Random(3)
    sent = stream(rng, (A, 30001), (B, 30000), ssrc=5, seq=100, stamp=0, step=160, pt=0,
                  count=70_000, start=T0)  # more than one 65,536-frame chunk
    path = tmp_path / "long.pcap"
    write_pcap(path, [(s.time, udp_frame(s.data, s.src, s.dst, checksum=False)) for s in sent])
    [ours] = rtp_streams(path)
    reference = WiresharkStats()
    for s in sent:  # the time as the file holds it: whole seconds and microseconds
        seconds, micros = divmod(round(s.time * 1_000_000), 1_000_000)
        reference.receive(RtpPacket.parse(s.data), (seconds - int(T0)) + micros * 1e-6)
    assert (ours.packets, ours.lost, ours.sequence_errors) == (
        reference.packets, reference.lost, reference.sequence_errors)
    for name in ("max_jitter", "mean_jitter", "min_jitter", "max_delta", "mean_delta"):
        assert getattr(ours, f"{name}_ms") == pytest.approx(
            getattr(reference, name), rel=0, abs=1e-9), name


# -- a trace's own RTP -----------------------------------------------------------------------------


def test_trace_with_rtp_gives_the_streams_its_pcap_gives(tmp_path: Path) -> None:
    trace = Trace(rtp=True)
    local, remote = Peer("127.0.0.1", 40000, "rtp"), Peer("127.0.0.1", 40010, "rtp")
    for i in range(50):
        packet = RtpPacket(0, 1000 + i, 160 * i, 0x77, payload=bytes(160)).to_bytes()
        trace(TraceRecord(T0 + 0.02 * i + (0.003 if i % 7 == 0 else 0), "out", "rtp", local,
                          remote, packet))
    [from_trace] = rtp_streams(trace)
    [from_pcap] = rtp_streams(trace.to_pcap(tmp_path / "trace-rtp.pcap"))
    assert (from_trace.packets, from_trace.lost) == (50, 0)
    assert from_trace.max_jitter_ms == pytest.approx(from_pcap.max_jitter_ms, abs=1e-3)
    assert from_trace.src == Peer("127.0.0.1", 40000) == from_pcap.src


# -- a real peer -------------------------------------------------------------------------------


@pytest.mark.interop
def test_sipp_call_streams_agree_with_tshark(sipp_rtp_capture: Path) -> None:
    ours = rtp_streams(sipp_rtp_capture)
    check_against_tshark(ours, tshark_streams(sipp_rtp_capture))
    encodings = sorted(s.encoding for s in ours)
    assert encodings == ["PCMA", "PCMA", "PT101", "telephone-event"]
    dtmf = [s for s in ours if s.payload_type == 101]
    assert all(s.lost < 0 for s in dtmf)  # sipp's DTMF capture repeats sequence numbers


@pytest.mark.interop
def test_baresip_call_streams_agree_with_tshark(baresip_call_capture: Path) -> None:
    ours = rtp_streams(baresip_call_capture)
    check_against_tshark(ours, tshark_streams(baresip_call_capture))
    invites = [m for m in read_pcap(baresip_call_capture).sip_messages if m.label == "INVITE"]
    assert len(invites) == 2
    assert all(m.has_sdp for m in invites)  # the offer, to the server and on to siplab
    pcmu = [s for s in ours if s.encoding == "PCMU" and s.packets >= 50]
    assert len(pcmu) >= 2, ours  # a tone each way: 20 ms packets for 1.5 s and more


def test_table_and_json_forms(synthetic: Path) -> None:
    streams = rtp_streams(synthetic)
    lines = format_streams(streams, T0).splitlines()
    assert "RTP Streams" in lines[0]
    assert len(lines) == len(streams) + 3
    assert "0x000000a1" in lines[2]
    assert "PCMU" in lines[2]
    values = stream_dict(streams[0], T0)
    assert values["src"] == {"host": A, "port": 40001}
    assert values["ssrc_hex"] == "0x000000a1"
    assert 0.1 <= float(values["start_time"]) < 0.2  # type: ignore[arg-type]
