"""flow(): the rows behind a ladder, the same as Wireshark lists them (RFC 3261 §7, §17).

Each row is one SIP message: time, source, destination, protocol ("SIP" or
"SIP/SDP", Wireshark's Protocol column), and the label a ladder writes on the
arrow ("INVITE", "180 Ringing"). On captures of real peers (sipp calling
sipp with RTP; siplab registering at Kamailio over UDP, TCP and WebSocket)
the rows must be tshark's SIP messages, in tshark's order, from and to the
same addresses, at the same times. From a SimNetwork run the rows carry the
simulated clock and mark the datagrams the network lost.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from siplab.aio.transport import TraceRecord
from siplab.lab import SimNetwork, Trace, flow, read_pcap
from siplab.lab.flow import FlowRow, format_flow
from siplab.lab.network import DropNext
from siplab.sip.transport import Peer
from tests.helpers import crlf
from tests.lab.captures import tshark_sip

A = Peer("10.0.0.1", 5060)
B = Peer("10.0.0.2", 5060)


def invite(with_sdp: bool = True) -> bytes:
    body = crlf("""
        v=0
        o=- 1 1 IN IP4 10.0.0.1
        s=-
        c=IN IP4 10.0.0.1
        t=0 0
        m=audio 49170 RTP/AVP 0
    """) if with_sdp else b""
    content_type = "Content-Type: application/sdp\r\n" if with_sdp else ""
    return crlf("""
        INVITE sip:bob@10.0.0.2 SIP/2.0
        Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-flow
        From: <sip:alice@10.0.0.1>;tag=f1
        To: <sip:bob@10.0.0.2>
        Call-ID: flow-1@10.0.0.1
        CSeq: 1 INVITE
        Max-Forwards: 70
    """) + content_type.encode() + f"Content-Length: {len(body)}\r\n\r\n".encode() + body


RINGING = crlf("""
    SIP/2.0 180 Ringing
    Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-flow
    From: <sip:alice@10.0.0.1>;tag=f1
    To: <sip:bob@10.0.0.2>;tag=b1
    Call-ID: flow-1@10.0.0.1
    CSeq: 1 INVITE
    Content-Length: 0

""")


class Sender:
    """A SimNetwork endpoint that sends what it is told to and keeps what it gets."""

    def __init__(self) -> None:
        self.outbox: list[tuple[bytes, Peer]] = []
        self.received: list[bytes] = []

    def receive_datagram(self, data: bytes, peer: Peer, now: float) -> None:
        self.received.append(data)

    def datagrams_to_send(self) -> list[tuple[bytes, Peer]]:
        out, self.outbox = self.outbox, []
        return out

    def get_timer(self) -> float | None:
        return None

    def handle_timer(self, now: float) -> None:
        pass


class TestRowsFromSiplab:
    def test_trace_rows_have_labels_protocols_and_endpoints(self) -> None:
        trace = Trace()
        trace(TraceRecord(1.0, "out", "udp", A, B, invite()))
        trace(TraceRecord(1.1, "out", "udp", B, A, RINGING))
        rows = flow(trace)
        assert [(r.time, r.src, r.dst, r.protocol, r.label) for r in rows] == [
            (1.0, A, B, "SIP/SDP", "INVITE"), (1.1, B, A, "SIP", "180 Ringing")]
        assert rows[0].call_id == "flow-1@10.0.0.1"
        assert rows[0].cseq is not None
        assert rows[0].cseq.method == "INVITE"
        assert rows[0].has_sdp
        assert not rows[1].has_sdp

    def test_trace_records_alone_are_deduplicated_like_a_trace(self) -> None:
        records = [TraceRecord(1.0, "out", "udp", A, B, invite(False)),
                   TraceRecord(1.01, "in", "udp", B, A, invite(False))]
        assert [r.label for r in flow(records)] == ["INVITE"]

    def test_resent_request_is_marked_as_a_retransmission(self) -> None:
        trace = Trace()
        for time in (1.0, 1.5):  # Timer A: the same INVITE again after T1 (§17.1.1.2)
            trace(TraceRecord(time, "out", "udp", A, B, invite()))
        assert [r.retransmission for r in flow(trace)] == [False, True]

    def test_simnetwork_rows_use_its_clock_and_mark_the_lost_datagram(self) -> None:
        net = SimNetwork(seed=1, delay=0.01)
        alice, bob = Sender(), Sender()
        a_at = net.add(alice, "10.0.0.1", 5060, name="alice")
        b_at = net.add(bob, "10.0.0.2", 5060, name="bob")
        net.link(a_at, b_at, loss=DropNext(1))
        alice.outbox.append((invite(), b_at))
        net.run()
        alice.outbox.append((invite(), b_at))  # resent: this one arrives
        net.run()
        rows = flow(net)
        assert [(r.label, r.dropped, r.retransmission) for r in rows] == [
            ("INVITE", True, False), ("INVITE", False, True)]
        assert rows[0].src == a_at
        assert rows[0].time == 0.0
        assert flow(net.records) == rows

    def test_text_table_has_one_line_per_row(self) -> None:
        rows = [FlowRow(5.0, A, B, "SIP/SDP", "INVITE", None),
                FlowRow(5.25, B, A, "SIP", "180 Ringing", None, retransmission=True)]
        lines = format_flow(rows).splitlines()
        assert lines[0].split()[:4] == ["0.000000", "10.0.0.1:5060", "->", "10.0.0.2:5060"]
        assert lines[1].endswith("180 Ringing (retransmission)")

    def test_anything_else_is_refused(self) -> None:
        with pytest.raises(TypeError):
            flow([1, 2, 3])

    def test_trace_records_in_any_order_give_rows_in_time_order(self) -> None:
        records = [TraceRecord(float(t), "out", "udp", A, B, invite(False)) for t in range(5)]
        random.Random(3).shuffle(records)
        assert [r.time for r in flow(records)] == sorted(r.time for r in records)


# -- real peers, captured by tshark ---------------------------------------------------------


def same_as_tshark(pcap: Path) -> list[FlowRow]:
    rows = flow(pcap)
    theirs = tshark_sip(pcap)
    assert [(r.frame, r.label, (r.src.host, r.src.port), (r.dst.host, r.dst.port), r.call_id)
            for r in rows] == [(m.frame, m.label, m.src, m.dst, m.call_id) for m in theirs]
    assert [r.time for r in rows] == pytest.approx([m.time for m in theirs], abs=1e-6)
    return rows


@pytest.mark.interop
def test_flow_of_a_sipp_call_with_rtp_equals_tshark(sipp_rtp_capture: Path) -> None:
    rows = same_as_tshark(sipp_rtp_capture)
    assert [r.label for r in rows] == ["INVITE", "180 Ringing", "200 OK", "ACK", "BYE",
                                       "200 OK"]
    assert [r.protocol for r in rows][:3] == ["SIP/SDP", "SIP", "SIP/SDP"]
    assert flow(read_pcap(sipp_rtp_capture)) == rows


@pytest.mark.interop
def test_flow_of_registrations_at_kamailio_equals_tshark(kamailio_register_capture: Path) -> None:
    rows = same_as_tshark(kamailio_register_capture)
    assert {r.transport for r in rows} == {"udp", "tcp", "ws"}
    for transport in ("udp", "tcp", "ws"):
        labels = [r.label for r in rows if r.transport == transport]
        # digest (§22): 401 first, then with credentials; and again to unregister (§10.2.2)
        assert labels[:4] == ["REGISTER", "401 Unauthorized", "REGISTER", "200 OK"], labels


@pytest.mark.interop
def test_flow_of_a_baresip_call_equals_tshark(baresip_call_capture: Path) -> None:
    rows = same_as_tshark(baresip_call_capture)
    labels = [r.label for r in rows]
    assert labels.count("INVITE") == 2  # baresip -> server -> siplab phone
    assert labels.count("BYE") == 2
