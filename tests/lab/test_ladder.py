"""Ladder diagrams (RFC 3665 call flows) drawn by siplab.lab.ladder, read back from artists.

What a student must be able to trust in the picture: one lifeline per element
named after its SIP user (RFC 3261 §8.1.1.8 Contact, §20.20 From), arrows in
the order the messages left, labelled with method or status and reason
(§7.1, §7.2); retransmissions (§17.1.1.2) dashed and marked; lost datagrams
ending in a cross; one colour per dialog (§12: Call-ID and both tags, which
forking, §16.7, multiplies); SDP offer and answer (RFC 3264) summarised; a
SimNetwork run drawn identically every time.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from matplotlib.figure import Figure

from siplab.aio.transport import TraceRecord
from siplab.lab import SimNetwork, Trace, ladder, ladder_pages
from siplab.lab.ladder import DIALOG_COLOURS
from siplab.lab.ladder_model import (
    MAX_ROW_GAP,
    MIN_ROW_GAP,
    RtpBand,
    build_model,
    row_positions,
    sdp_summary,
)
from siplab.sip.message import Request, Response, parse_message
from siplab.sip.transport import Peer
from tests.helpers import crlf
from tests.lab.figures import (
    arrow_annotations,
    arrow_colour,
    arrow_style,
    artists,
    figure_data,
    texts,
)
from tests.lab.ladder_captures import EPOCH, basic_call, call_capture, forked_call, rtp_packets

FORKED_CALL = [
    "INVITE", "100 Trying", "INVITE", "INVITE", "100 Trying", "100 Trying",
    "180 Ringing", "180 Ringing", "180 Ringing", "180 Ringing", "200 OK", "200 OK",
    "CANCEL", "ACK", "200 OK", "487 Request Terminated", "ACK", "ACK", "BYE", "BYE",
    "200 OK", "200 OK",
]  # fmt: skip


def message_labels(figure: Figure) -> list[str]:
    return texts(figure, "message-label")


def call_part(labels: list[str]) -> list[str]:
    """The labels from the first INVITE on (the REGISTERs before it left out)."""
    first = next(i for i, label in enumerate(labels) if label.startswith("INVITE"))
    return labels[first:]


class TestForkedCall:
    """§16.7: the proxy forks the INVITE to Bob's two registered devices."""

    def test_ladder_has_one_lifeline_per_endpoint_named_as_on_the_network(self) -> None:
        figure = ladder(forked_call().net)
        assert texts(figure, "lifeline-name") == ["alice", "server", "bob", "bob-mobile"]
        assert texts(figure, "lifeline-address") == [
            "10.0.0.1:5060", "10.0.0.100:5060", "10.0.0.2:5060", "10.0.0.4:5060"]
        assert len(artists(figure, "lifeline")) == 4

    def test_arrow_labels_follow_the_order_the_messages_were_sent(self) -> None:
        lab = forked_call()
        figure = ladder(lab.net)
        sent = sorted(lab.net.records, key=lambda r: r.time_sent)
        assert message_labels(figure) == [r.label for r in sent]
        assert call_part(message_labels(figure)) == FORKED_CALL
        assert len(arrow_annotations(figure)) == len(sent)

    def test_arrows_go_from_sender_to_receiver_lifeline(self) -> None:
        figure = ladder(forked_call().net)
        columns = {"alice": 0, "server": 1, "bob": 2, "bob-mobile": 3}
        arrows = arrow_annotations(figure)
        invites = [a for a, label in zip(arrows, message_labels(figure), strict=True)
                   if label == "INVITE"]
        # alice -> server, then the server forks to bob-mobile and to bob
        assert [(a.xyann[0], a.xy[0]) for a in invites] == [
            (columns["alice"], columns["server"]), (columns["server"], columns["bob-mobile"]),
            (columns["server"], columns["bob"])]

    def test_each_dialog_has_its_own_colour_and_the_forked_invite_the_calls(self) -> None:
        figure = ladder(forked_call().net)
        colour: dict[str, list[object]] = {}
        for arrow, label in zip(arrow_annotations(figure), message_labels(figure), strict=True):
            colour.setdefault(label, []).append(arrow_colour(arrow))
        ringing = colour["180 Ringing"]
        desk, mobile = ringing[0], ringing[1]  # bob's 180 first: it rang first on the desk
        assert desk != mobile
        assert all(c == desk for c in colour["487 Request Terminated"])
        assert colour["BYE"][0] == colour["BYE"][1] == mobile
        invite = colour["INVITE"][0]
        assert invite not in (desk, mobile)  # two dialogs in one call: the call's own colour
        assert colour["REGISTER"][0] != invite
        legend = figure.legends[0]
        assert len(legend.get_texts()) == len({*[c for cs in colour.values() for c in cs]})

    def test_same_seed_gives_an_identical_figure(self) -> None:
        first = figure_data(ladder(forked_call(seed=7).net, sdp=True, cseq=True))
        second = figure_data(ladder(forked_call(seed=7).net, sdp=True, cseq=True))
        assert first == second
        other = figure_data(ladder(forked_call(seed=8).net, sdp=True, cseq=True))
        assert other != first  # tags and Call-IDs differ: the legend says so

    def test_records_without_the_network_name_lifelines_by_sip_user(self) -> None:
        lab = forked_call()
        figure = ladder(lab.net.records)
        # Contact users: alice, bob (desk) and bob (mobile). The server forwards requests
        # (two Vias) and writes no Server header of its own: it keeps its address.
        assert texts(figure, "lifeline-name") == ["alice", "10.0.0.100:5060", "bob", "bob"]
        assert texts(figure, "lifeline-address") == ["10.0.0.1:5060", "10.0.0.2:5060",
                                                     "10.0.0.4:5060"]

    def test_names_override_lifeline_names(self) -> None:
        lab = forked_call()
        figure = ladder(lab.net, names={"bob": "Bob's desk", "10.0.0.4:5060": "Bob's mobile"})
        assert texts(figure, "lifeline-name") == ["alice", "server", "Bob's desk",
                                                  "Bob's mobile"]


class TestLossAndRetransmission:
    """§17.1.1.2: Timer A resends a lost INVITE; the copy is dashed and marked."""

    def test_lost_invite_ends_in_a_cross_and_its_copy_is_a_dashed_retransmission(self) -> None:
        lab = forked_call(lose_first_invite_to_desk=True)
        figure = ladder(lab.net)
        labels = message_labels(figure)
        assert "INVITE (lost)" in labels
        lost_at = labels.index("INVITE (lost)")
        assert labels.index("INVITE (retransmission)") > lost_at
        assert len(artists(figure, "lost-marker")) == sum(r.dropped for r in lab.net.records)
        arrows = arrow_annotations(figure)
        styles = [arrow_style(arrows[i]) for i, label in enumerate(labels)
                  if "(retransmission)" in label]
        solid = arrow_style(arrows[labels.index("INVITE")])
        assert styles
        assert all(style != solid for style in styles)
        # The lost arrow stops short of bob's lifeline, where the cross is.
        marker = artists(figure, "lost-marker")[0]
        assert 1 < marker.get_xdata()[0] < 2
        assert arrows[lost_at].xy[0] == marker.get_xdata()[0]

    def test_a_retransmitted_response_is_marked_too(self) -> None:
        invite = parse_message(crlf("""
            INVITE sip:bob@10.0.0.2 SIP/2.0
            Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa1
            From: <sip:alice@10.0.0.1>;tag=a
            To: <sip:bob@10.0.0.2>
            Call-ID: c1
            CSeq: 1 INVITE
            Contact: <sip:alice@10.0.0.1:5060>
            Max-Forwards: 70
            Content-Length: 0

        """))
        assert isinstance(invite, Request)
        ok = Response(200, headers=[*invite.headers, ("Contact", "<sip:bob@10.0.0.2:5060>")])
        ok.headers.set("To", "<sip:bob@10.0.0.2>;tag=b")
        rows = [(0.0, ("10.0.0.1", 5060), ("10.0.0.2", 5060), invite),
                (0.1, ("10.0.0.2", 5060), ("10.0.0.1", 5060), ok),
                (0.6, ("10.0.0.2", 5060), ("10.0.0.1", 5060), ok)]
        figure = ladder(rows)
        assert message_labels(figure) == ["INVITE", "200 OK", "200 OK (retransmission)"]
        assert texts(figure, "lifeline-name") == ["alice", "bob"]


class TestLabels:
    def test_cseq_option_adds_the_cseq(self) -> None:
        labels = call_part(message_labels(ladder(forked_call().net, cseq=True)))
        assert labels[:2] == ["INVITE · CSeq 1", "100 Trying · CSeq 1 INVITE"]

    def test_sdp_option_summarises_offer_and_answer(self) -> None:
        figure = ladder(forked_call().net, sdp=True)
        assert texts(figure, "sdp-label") == ["offer PCMU"] * 3 + ["answer PCMU"] * 2
        assert texts(ladder(forked_call().net), "sdp-label") == []

    def test_sdp_summary_names_codecs_telephone_event_and_direction(self) -> None:
        body = crlf("""
            v=0
            o=- 1 1 IN IP4 10.0.0.1
            s=-
            c=IN IP4 10.0.0.1
            t=0 0
            m=audio 4000 RTP/AVP 0 8 101
            a=rtpmap:101 telephone-event/8000
            a=sendonly
        """)
        invite = Request("INVITE", "sip:bob@10.0.0.2", [("Content-Type", "application/sdp")],
                         body)
        assert sdp_summary(invite) == "offer PCMU PCMA te sendonly"
        answer = Response(200, headers=[("Content-Type", "application/sdp")], body=body)
        assert sdp_summary(answer, request_had_sdp=True) == "answer PCMU PCMA te sendonly"
        assert sdp_summary(answer, request_had_sdp=False) == "offer PCMU PCMA te sendonly"


class TestTimeAxis:
    """A compressed time axis: every message its own row, longer waits more room."""

    def test_rows_keep_order_with_a_minimum_and_a_maximum_gap(self) -> None:
        times = [0.0, 0.0, 0.001, 0.01, 0.5, 32.5, 32.51]
        rows = row_positions(times)
        gaps = [b - a for a, b in itertools.pairwise(rows)]
        assert all(MIN_ROW_GAP <= gap <= MAX_ROW_GAP for gap in gaps)
        assert gaps[0] == MIN_ROW_GAP  # at the same instant
        assert gaps[2] < gaps[3] < gaps[4]  # 9 ms < 490 ms < 32 s
        assert gaps[4] == MAX_ROW_GAP

    def test_ticks_show_the_real_time_and_long_waits_are_marked(self) -> None:
        lab = forked_call()
        figure = ladder(lab.net)
        ticks = [t.get_text() for t in figure.axes[0].get_yticklabels()]
        first = min(r.time_sent for r in lab.net.records)
        assert ticks == [f"{r.time_sent - first:.3f}"
                         for r in sorted(lab.net.records, key=lambda r: r.time_sent)]
        assert texts(figure, "time-break") == []  # registrations 1 s apart: no break
        records = list(lab.net.records)
        late = records[-1]
        moved = type(late)(late.time_sent + 40, late.time_delivered, late.src, late.dst,
                           late.first_line, late.label, late.data)
        assert texts(ladder([*records[:-1], moved]), "time-break") == ["40.0 s later"]


class TestSources:
    def test_a_list_of_messages_gets_guessed_addresses_and_numbers(self) -> None:
        """§18: a request goes to its Request-URI (here Bob's Contact), a response
        back to the top Via (the proxy's)."""
        lab = forked_call()
        messages = [parse_message(r.data) for r in lab.records("server", "bob")]
        figure = ladder(messages)
        assert texts(figure, "lifeline-name") == ["10.0.0.100:5060", "bob"]
        assert message_labels(figure) == [line[3:] for line in lab.hop("server", "bob")]
        ticks = [t.get_text() for t in figure.axes[0].get_yticklabels()]
        assert ticks[:3] == ["#1", "#2", "#3"]
        assert figure.axes[0].get_ylabel() == "message"

    def test_an_empty_network_draws_an_empty_ladder(self) -> None:
        figure = ladder(SimNetwork())
        assert message_labels(figure) == []

    def test_a_pcap_is_read_with_its_rtp_streams_as_bands(self, tmp_path: Path) -> None:
        path = call_capture(tmp_path / "call.pcap")
        figure = ladder(path)
        assert texts(figure, "lifeline-name") == ["alice", "10.0.0.100:5060", "bob"]
        assert call_part(message_labels(figure))[:2] == ["INVITE", "100 Trying"]
        bands = artists(figure, "rtp-band")
        assert len(bands) == 2
        assert texts(figure, "rtp-label") == ["RTP PCMU 45 pkts  alice → bob",
                                              "RTP PCMU 45 pkts  bob → alice"]
        # Between the lifelines of alice (column 0) and bob (column 2), after the ACK.
        assert {(b.get_x(), b.get_x() + b.get_width()) for b in bands} == {(0, 2)}
        assert artists(ladder(path, rtp=False), "rtp-band") == []

    def test_a_trace_is_drawn_with_the_rtp_it_recorded(self) -> None:
        lab = basic_call()
        trace = Trace(rtp=True)
        for r in lab.net.records:
            trace(TraceRecord(EPOCH + r.time_sent, "out", "udp", r.src, r.dst, r.data))
        ack = next(r.time_sent for r in lab.net.records if r.first_line.startswith("ACK"))
        for time, src, dst, data in rtp_packets(Peer("10.0.0.1", 4000), Peer("10.0.0.2", 4000),
                                                EPOCH + ack + 0.05, 0.5, ssrc=7):
            trace(TraceRecord(time, "out", "rtp", src, dst, data))
        figure = ladder(trace)
        assert texts(figure, "lifeline-name") == ["alice", "10.0.0.100:5060", "bob"]
        assert message_labels(figure) == [r.label for r in lab.net.records]
        assert texts(figure, "rtp-label") == ["RTP PCMU 25 pkts  alice → bob"]

    def test_rtp_bands_given_by_media_address_find_their_lifelines(self) -> None:
        lab = forked_call()
        invite_at = next(r.time_sent for r in lab.net.records
                         if r.first_line.startswith("INVITE"))
        band = RtpBand("10.0.0.4:4000", "10.0.0.1:4000", invite_at + 1.1, invite_at + 1.2,
                       "RTP PCMU")
        model = build_model(lab.net, rtp=[band])
        assert [(s.src, s.dst) for s in model.streams] == [("bob-mobile", "alice")]
        figure = ladder(lab.net, rtp=[band])
        assert texts(figure, "rtp-label") == ["RTP PCMU  bob-mobile → alice"]


class TestPages:
    def test_long_ladders_are_split_into_pages_of_the_given_size(self) -> None:
        lab = forked_call()
        count = len(lab.net.records)
        pages = ladder_pages(lab.net, max_messages_per_page=10)
        assert [len(message_labels(p)) for p in pages] == [10] * (count // 10) + (
            [count % 10] if count % 10 else [])
        assert [label for p in pages for label in message_labels(p)] == message_labels(
            ladder(lab.net))
        for page in pages:  # every page has every lifeline
            assert texts(page, "lifeline-name") == ["alice", "server", "bob", "bob-mobile"]
        assert figure_data(ladder(lab.net, max_messages_per_page=10, page=2)) == \
            figure_data(pages[1])
        assert "(page 2 of" in pages[1].texts[0].get_text()

    def test_asking_for_a_page_that_does_not_exist_is_an_error(self) -> None:
        with pytest.raises(ValueError, match="page 9 does not exist"):
            ladder(forked_call().net, page=9)


def test_colours_cycle_through_the_palette() -> None:
    assert len(set(DIALOG_COLOURS)) == len(DIALOG_COLOURS) >= 8
