"""DTMF as RTP telephone-events: pressing keys in a call (RFC 4733).

A phone's keys make dual-tone sounds (DTMF). Squeezed through a low-bitrate
codec those tones arrive distorted, so RFC 4733 sends the *key* instead, in
its own RTP payload type (negotiated in SDP as ``telephone-event/8000``,
usually 101), sharing the audio stream's SSRC, sequence numbers and clock::

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |     event     |E|R| volume    |          duration             |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

``event`` is the key (0-9, then * = 10, # = 11, A-D = 12-15; §3.2),
``E`` marks the end of the event, ``volume`` is the power in -dBm0 (0-63),
``duration`` how long the event has lasted so far, in timestamp units.

How one key press travels (§2.5.1):

* every packet of one event carries the **same RTP timestamp**, the instant
  the key went down; that timestamp is what names the event;
* the first packet has the **marker bit** set;
* while the key is held, an update goes out every 50 ms or so with a growing
  duration (sequence numbers still go up by one per packet);
* the **end packet** (E bit) is sent **three times**, same timestamp and
  duration, so that losing one or two still ends the event.

The receiver (§2.5.2) therefore keys events on the timestamp: a new
timestamp is a new key press, even when its first (marked) packet was lost;
a repeated end packet of an event already reported is ignored; and if an
event's end never arrives, the next event, or a timeout, closes it.
"""

from __future__ import annotations

import math
import struct
from collections import deque
from dataclasses import dataclass, replace

from siplab.errors import LocalProtocolError
from siplab.rtp.packet import RtpPacket, RtpParseError
from siplab.rtp.stream import RtpSender

__all__ = [
    "DTMF_DIGITS",
    "digit_to_event",
    "event_to_digit",
    "TelephoneEvent",
    "DtmfDigit",
    "DtmfSender",
    "DtmfReceiver",
]

#: The DTMF keys in event-code order: event n is ``DTMF_DIGITS[n]`` (RFC 4733 §3.2).
DTMF_DIGITS = "0123456789*#ABCD"


def digit_to_event(digit: str) -> int:
    """The event code of a DTMF key: "0"-"9" -> 0-9, "*" -> 10, "#" -> 11, "A"-"D" -> 12-15."""
    index = DTMF_DIGITS.find(digit.upper()) if len(digit) == 1 else -1
    if index < 0:
        raise LocalProtocolError(f"{digit!r} is not a DTMF key (0-9, *, #, A-D)")
    return index


def event_to_digit(event: int) -> str | None:
    """The DTMF key of an event code, or None for other events (16 is "flash")."""
    return DTMF_DIGITS[event] if 0 <= event < len(DTMF_DIGITS) else None


@dataclass(frozen=True, slots=True)
class TelephoneEvent:
    """The four-octet telephone-event payload (RFC 4733 §2.3)."""

    event: int
    end: bool = False
    volume: int = 10  # -dBm0; 10 is a typical key press
    duration: int = 0  # timestamp units since the event started

    def __post_init__(self) -> None:
        if not 0 <= self.event <= 255:
            raise LocalProtocolError(f"event {self.event} is not 0-255")
        if not 0 <= self.volume <= 63:
            raise LocalProtocolError(f"volume {self.volume} is not 0-63")
        if not 0 <= self.duration <= 0xFFFF:
            raise LocalProtocolError(f"duration {self.duration} is not 16 bits")

    @property
    def digit(self) -> str | None:
        return event_to_digit(self.event)

    @classmethod
    def parse(cls, payload: bytes) -> TelephoneEvent:
        """Read the payload; a longer one (several 4-octet blocks) yields its first event."""
        if len(payload) < 4:
            raise RtpParseError(f"telephone-event payload of {len(payload)} octets; need 4")
        event, flags, duration = struct.unpack_from("!BBH", payload)
        return cls(event, bool(flags & 0x80), flags & 0x3F, duration)

    def to_bytes(self) -> bytes:
        flags = (0x80 if self.end else 0) | self.volume
        return struct.pack("!BBH", self.event, flags, self.duration)


@dataclass(frozen=True, slots=True)
class DtmfDigit:
    """One key press as the receiver heard it."""

    digit: str | None  # None for events that are not DTMF keys
    event: int
    timestamp: int  # RTP timestamp naming the event
    duration: int  # longest duration heard, timestamp units
    volume: int
    ended: bool  # an end packet arrived (False: closed by the next event or a timeout)


@dataclass(slots=True)
class _Step:
    at: float
    digit: int  # index into the send queue's digits
    event: TelephoneEvent
    marker: bool
    last_of_digit: bool


class DtmfSender:
    """Turns a string of keys into timed telephone-event packets, sans-I/O.

    ``send(digits, now)`` queues them; ``get_timer()`` says when the next packet
    is due and ``poll(now)`` returns the packets due by then. Packets are
    numbered by the shared :class:`RtpSender` when they are polled, so they
    interleave correctly with audio. Each key lasts ``duration`` seconds,
    with an update every ``interval``, then three end packets ``interval``
    apart, then ``gap`` seconds before the next key.
    """

    def __init__(
        self,
        rtp: RtpSender,
        payload_type: int = 101,
        *,
        duration: float = 0.1,
        interval: float = 0.05,
        gap: float = 0.05,
        volume: int = 10,
    ) -> None:
        if duration <= 0 or interval <= 0 or gap < 0:
            raise LocalProtocolError("duration and interval must be positive, gap not negative")
        if round(duration * rtp.clock_rate) > 0xFFFF:
            raise LocalProtocolError("a key longer than the 16-bit duration field allows")
        self.rtp = rtp
        self.payload_type = payload_type
        self.duration = duration
        self.interval = interval
        self.gap = gap
        self.volume = volume
        self._steps: deque[_Step] = deque()
        self._free_at: float | None = None  # when the queue's last key is over
        self._digits = 0
        self._event_timestamp = 0
        self._event_started_at: float | None = None

    @property
    def busy(self) -> bool:
        """True while keys are queued or being sent (an endpoint may mute audio meanwhile)."""
        return bool(self._steps)

    def send(self, digits: str, now: float) -> None:
        """Queue ``digits`` (0-9, *, #, A-D), from ``now`` or after the keys queued earlier."""
        events = [digit_to_event(d) for d in digits]  # validate all before queueing any
        start = now if self._free_at is None else max(now, self._free_at)
        rate = self.rtp.clock_rate
        total = round(self.duration * rate)
        updates = max(1, math.ceil(self.duration / self.interval - 1e-9))
        for code in events:
            index = self._digits
            self._digits += 1
            for k in range(updates):
                so_far = min(round((k + 1) * self.interval * rate), total)
                event = TelephoneEvent(code, False, self.volume, so_far)
                self._steps.append(_Step(start + k * self.interval, index, event, k == 0, False))
            end = TelephoneEvent(code, True, self.volume, total)
            for j in range(3):  # RFC 4733 §2.5.1.4: the end packet three times
                at = start + self.duration + j * self.interval
                self._steps.append(_Step(at, index, end, False, j == 2))
            start += self.duration + 2 * self.interval + self.gap
        self._free_at = start

    def get_timer(self) -> float | None:
        """When the next packet is due, or None."""
        return self._steps[0].at if self._steps else None

    def poll(self, now: float) -> list[RtpPacket]:
        """The packets due at or before ``now``, numbered by the RTP sender."""
        out: list[RtpPacket] = []
        while self._steps and self._steps[0].at <= now:
            step = self._steps.popleft()
            if step.marker:
                self._start_event(step.at)
            packet = self.rtp.next_packet(
                step.event.to_bytes(),
                samples=0,
                marker=step.marker,
                payload_type=self.payload_type,
                timestamp=self._event_timestamp,
            )
            out.append(packet)
            if step.last_of_digit:
                # Audio that follows must not reuse the event's timestamp.
                self.rtp.skip_to(self._event_timestamp + step.event.duration)
        return out

    def _start_event(self, at: float) -> None:
        if self._event_started_at is not None:
            # Between events the media clock keeps pace with real time.
            elapsed = round((at - self._event_started_at) * self.rtp.clock_rate)
            self.rtp.skip_to(self._event_timestamp + elapsed)
        self._event_timestamp = self.rtp.timestamp
        self._event_started_at = at


class DtmfReceiver:
    """Turns received telephone-event packets back into key presses (RFC 4733 §2.5.2).

    Feed it every RTP packet of the stream; it looks only at ``payload_type``.
    ``receive`` returns the key presses that packet completed; ``digits`` is
    everything heard so far. An event whose end packets were all lost is
    closed by the next event or, ``timeout`` seconds after its last packet,
    by ``handle_timer``.
    """

    def __init__(self, payload_type: int = 101, *, timeout: float = 0.5) -> None:
        self.payload_type = payload_type
        self.timeout = timeout
        self.events: list[DtmfDigit] = []
        self._current: DtmfDigit | None = None
        self._last_packet_at = 0.0
        self._finished: deque[int] = deque(maxlen=16)  # timestamps of events already reported

    @property
    def digits(self) -> str:
        return "".join(e.digit for e in self.events if e.digit is not None)

    def receive(self, packet: RtpPacket, now: float) -> list[DtmfDigit]:
        """Account for one packet; returns the key presses it completed (usually none or one)."""
        if packet.payload_type != self.payload_type:
            return []
        event = TelephoneEvent.parse(packet.payload)
        if packet.timestamp in self._finished:
            return []  # a repeated end packet, or a straggler, of an event already reported
        done: list[DtmfDigit] = []
        current = self._current
        if current is not None and current.timestamp != packet.timestamp:
            done.append(self._finish(ended=False))  # its end packets were lost
            current = None
        if current is None:
            # A new timestamp starts a new event, marker bit or not (the first may be lost).
            current = DtmfDigit(
                event.digit, event.event, packet.timestamp, 0, event.volume, ended=False
            )
        self._current = replace(
            current, duration=max(current.duration, event.duration), volume=event.volume
        )
        self._last_packet_at = now
        if event.end:
            done.append(self._finish(ended=True))
        return done

    def get_timer(self) -> float | None:
        """When an event still open would be closed for want of its end packet."""
        return None if self._current is None else self._last_packet_at + self.timeout

    def handle_timer(self, now: float) -> list[DtmfDigit]:
        """Close an open event whose timeout has passed."""
        deadline = self.get_timer()
        if deadline is None or now < deadline:
            return []
        return [self._finish(ended=False)]

    def _finish(self, *, ended: bool) -> DtmfDigit:
        current = self._current
        assert current is not None
        self._current = None
        heard = replace(current, ended=ended)
        self._finished.append(current.timestamp)
        self.events.append(heard)
        return heard
