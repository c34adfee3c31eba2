"""DTMF as RTP telephone-events (RFC 4733 §2.3 payload, §2.5 sending and receiving, §3.2 codes)."""

from __future__ import annotations

import pytest

from siplab.errors import LocalProtocolError
from siplab.ids import IdSource
from siplab.rtp.dtmf import (
    DtmfReceiver,
    DtmfSender,
    TelephoneEvent,
    digit_to_event,
    event_to_digit,
)
from siplab.rtp.packet import RtpPacket, RtpParseError
from siplab.rtp.stream import RtpSender


def send_all(
    digits: str, *, duration: float = 0.1, interval: float = 0.05
) -> tuple[RtpSender, list[RtpPacket]]:
    """Every packet a DtmfSender emits for ``digits``, polled on its own timer."""
    rtp = RtpSender(0, ids=IdSource(4), sequence_number=65530, timestamp=1000)
    sender = DtmfSender(rtp, 101, duration=duration, interval=interval)
    sender.send(digits, now=0.0)
    packets: list[RtpPacket] = []
    while (deadline := sender.get_timer()) is not None:
        packets += sender.poll(deadline)
    assert not sender.busy
    return rtp, packets


def receive_all(packets: list[RtpPacket]) -> DtmfReceiver:
    receiver = DtmfReceiver(101)
    for i, packet in enumerate(packets):
        receiver.receive(packet, now=0.01 * i)
    receiver.handle_timer(now=100.0)
    return receiver


class TestPayload:
    """§2.3 and §3.2."""

    def test_digit_codes(self) -> None:
        assert [digit_to_event(d) for d in "0123456789*#ABCD"] == list(range(16))
        assert digit_to_event("b") == 13
        assert event_to_digit(11) == "#"
        assert event_to_digit(16) is None  # flash is an event but not a key
        with pytest.raises(LocalProtocolError):
            digit_to_event("E")

    def test_end_packet_known_bytes(self) -> None:
        event = TelephoneEvent(event=5, end=True, volume=10, duration=800)
        assert event.to_bytes() == bytes.fromhex("058A0320")  # 5 | E=1 R=0 vol=10 | 800
        assert TelephoneEvent.parse(bytes.fromhex("058A0320")) == event
        assert TelephoneEvent.parse(bytes.fromhex("0B0A00A0")).digit == "#"

    def test_short_payload_is_refused(self) -> None:
        with pytest.raises(RtpParseError, match="3 octets"):
            TelephoneEvent.parse(b"\x01\x02\x03")


class TestSender:
    """§2.5.1: marker on the first packet, one timestamp per event, end sent three times."""

    def test_one_key_is_start_update_and_three_ends(self) -> None:
        _, packets = send_all("5", duration=0.1, interval=0.05)
        events = [TelephoneEvent.parse(p.payload) for p in packets]
        assert [p.marker for p in packets] == [True, False, False, False, False]
        assert [e.end for e in events] == [False, False, True, True, True]
        assert [e.duration for e in events] == [400, 800, 800, 800, 800]
        assert {p.timestamp for p in packets} == {1000}
        assert {p.payload_type for p in packets} == {101}
        assert [p.sequence_number for p in packets] == [65530, 65531, 65532, 65533, 65534]
        assert packets[2].payload == packets[3].payload == packets[4].payload

    def test_packets_are_due_every_interval(self) -> None:
        rtp = RtpSender(0, ids=IdSource(4))
        sender = DtmfSender(rtp, duration=0.1, interval=0.05, gap=0.05)
        sender.send("12", now=3.0)
        times = []
        while (deadline := sender.get_timer()) is not None:
            times.append(round(deadline, 3))
            sender.poll(deadline)
        first = [3.0, 3.05, 3.1, 3.15, 3.2]
        assert times == first + [round(t + 0.25, 3) for t in first]

    def test_each_key_has_its_own_timestamp_and_audio_moves_past_it(self) -> None:
        rtp, packets = send_all("12")
        assert len({p.timestamp for p in packets}) == 2
        assert packets[5].timestamp - packets[0].timestamp == 0.25 * 8000
        audio = rtp.next_packet(bytes(160), samples=160)
        assert audio.timestamp == packets[5].timestamp + 800
        assert audio.sequence_number == (packets[-1].sequence_number + 1) % 65536

    def test_invalid_key_queues_nothing(self) -> None:
        sender = DtmfSender(RtpSender(0, ids=IdSource(1)))
        with pytest.raises(LocalProtocolError):
            sender.send("12X", now=0.0)
        assert not sender.busy


class TestReceiver:
    """§2.5.2: events named by their timestamp, robust to loss and repetition."""

    DIGITS = "123*#ABCD0"

    def test_digits_round_trip(self) -> None:
        _, packets = send_all(self.DIGITS)
        receiver = receive_all(packets)
        assert receiver.digits == self.DIGITS
        assert all(e.ended and e.duration == 800 for e in receiver.events)

    def test_lost_start_packets_still_give_the_digit(self) -> None:
        _, packets = send_all(self.DIGITS)
        assert receive_all([p for p in packets if not p.marker]).digits == self.DIGITS

    def test_repeated_end_packets_and_duplicated_datagrams_count_once(self) -> None:
        _, packets = send_all(self.DIGITS)
        doubled = [copy for p in packets for copy in (p, p)]
        assert receive_all(doubled).digits == self.DIGITS

    def test_event_without_end_packets_is_closed_by_the_next_one(self) -> None:
        _, packets = send_all("45")
        no_end_for_4 = [p for p in packets[:5] if not TelephoneEvent.parse(p.payload).end]
        receiver = DtmfReceiver(101)
        heard = [d for p in no_end_for_4 + packets[5:6] for d in receiver.receive(p, 0.0)]
        assert [(d.digit, d.ended) for d in heard] == [("4", False)]

    def test_event_without_end_packets_is_closed_by_the_timeout(self) -> None:
        _, packets = send_all("7")
        receiver = DtmfReceiver(101, timeout=0.5)
        assert receiver.receive(packets[0], now=1.0) == []
        assert receiver.get_timer() == 1.5
        assert receiver.handle_timer(now=1.4) == []
        (closed,) = receiver.handle_timer(now=1.5)
        assert (closed.digit, closed.ended, receiver.digits) == ("7", False, "7")

    def test_only_the_telephone_event_payload_type_is_read(self) -> None:
        receiver = DtmfReceiver(101)
        assert receiver.receive(RtpPacket(0, 1, 0, 1, payload=bytes(160)), now=0.0) == []
        assert receiver.digits == ""
