"""DTMF keys on an RTP stream (RFC 4733), for the event loop: sending, hearing, waiting.

The sans-I/O :class:`~siplab.rtp.DtmfSender` and
:class:`~siplab.rtp.DtmfReceiver` know the packets: a key travels as several
telephone-event packets with one timestamp, the first marked, the last three
flagged "end" (RFC 4733 §2.5). :class:`DtmfChannel` adds what an endpoint on
the event loop needs around them:

* a future per :meth:`DtmfChannel.send`, done when the keys have gone out, so
  ``await endpoint.send_dtmf("123")`` waits for them;
* the keys heard, in order, from RFC 4733 packets and from any other way the
  application reports (SIP INFO, RFC 6086), and a callback for each.

Sending shares the audio stream's SSRC, sequence numbers and media clock (the
:class:`~siplab.rtp.RtpSender` passed in); the endpoint pauses its audio
while :attr:`DtmfChannel.busy`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from siplab.rtp import DtmfReceiver, DtmfSender, RtpPacket, RtpSender

__all__ = ["DtmfChannel"]


class DtmfChannel:
    """RFC 4733 keys both ways on one RTP stream; ``payload_type`` None means not negotiated."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sender: RtpSender) -> None:
        self._loop = loop
        self._rtp = sender
        self.sender: DtmfSender | None = None
        self.receiver: DtmfReceiver | None = None
        self.heard: list[str] = []
        #: Called with each key heard.
        self.on_digit: Callable[[str], None] | None = None
        self._waiters: list[asyncio.Future[None]] = []

    @property
    def payload_type(self) -> int | None:
        return self.sender.payload_type if self.sender is not None else None

    def configure(self, payload_type: int | None) -> None:
        """Use the negotiated telephone-event payload type (None: the peer has none)."""
        if payload_type is None:
            self.sender = self.receiver = None
            return
        if self.sender is None or self.sender.payload_type != payload_type:
            self.sender = DtmfSender(self._rtp, payload_type)
        if self.receiver is None:
            self.receiver = DtmfReceiver(payload_type)
        self.receiver.payload_type = payload_type

    # --- sending ---------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """True while keys are queued or going out (the audio pauses meanwhile)."""
        return self.sender is not None and self.sender.busy

    def send(self, digits: str) -> asyncio.Future[None]:
        """Queue ``digits``; the future is done when the last end packet went out."""
        assert self.sender is not None
        self.sender.send(digits, self._loop.time())
        waiter: asyncio.Future[None] = self._loop.create_future()
        self._waiters.append(waiter)
        return waiter

    def poll(self, now: float) -> list[RtpPacket]:
        """The event packets due by ``now``; wakes the waiters once everything is sent."""
        if self.sender is None:
            return []
        packets = self.sender.poll(now)
        if not self.sender.busy:
            self.finish()
        return packets

    def finish(self) -> None:
        """Wake every waiter (the keys were sent, or sending stopped)."""
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    # --- hearing ---------------------------------------------------------------------

    @property
    def digits(self) -> str:
        """Every key heard so far, in order."""
        return "".join(self.heard)

    def receive(self, packet: RtpPacket, now: float) -> None:
        """A telephone-event packet arrived."""
        if self.receiver is not None:
            for key in self.receiver.receive(packet, now):
                self.record(key.digit)

    def handle_timer(self, now: float) -> None:
        """Close a key whose end packets were all lost (RFC 4733 §2.5.2)."""
        if self.receiver is not None:
            for key in self.receiver.handle_timer(now):
                self.record(key.digit)

    def record(self, digit: str | None) -> None:
        """A key heard, by RTP or another way (SIP INFO)."""
        if digit is None:
            return
        self.heard.append(digit)
        if self.on_digit is not None:
            self.on_digit(digit)
