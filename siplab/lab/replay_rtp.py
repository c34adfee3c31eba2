"""The media of a replay: our RTP sockets, and the captured RTP sent again with its pacing.

The SDP a replay sends names *its own* address and ports (RFC 3264 §5: the
offer says where to send media *to* the offerer), so the replay binds one UDP
socket per ``m=`` line of its captured SDP; whatever the live side sends there
is counted and dropped.

With ``rtp=True`` the RTP packets our side sent in the capture are sent again,
unchanged (same SSRC, sequence numbers and timestamps, RFC 3550 §5.1), from
the socket of their ``m=`` line to the address and port the live side's SDP
gave for that line, each at its captured time after the first one: the
pacing of the original stream, so its jitter and gaps are the capture's.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from siplab.lab.pcap import MediaPacket
from siplab.lab.replay_script import ReplayScript, media_addresses
from siplab.sip.message import Request, Response

__all__ = ["RtpReplay"]


class _Sink(asyncio.DatagramProtocol):
    """An RTP socket of ours: counts what arrives."""

    def __init__(self, owner: RtpReplay) -> None:
        self.owner = owner

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self.owner.received += 1


class RtpReplay:
    """Our RTP sockets, and the captured RTP of our side (see the module docstring)."""

    def __init__(self, script: ReplayScript, sockets: list[asyncio.DatagramTransport]) -> None:
        self.sockets = sockets
        self.ports = [int(s.get_extra_info("sockname")[1]) for s in sockets]
        self.packets: list[MediaPacket] = sorted(script.media, key=lambda p: p.time)
        ours = next((media_addresses(s.message) for s in script.steps
                     if s.sends and media_addresses(s.message)), [])
        self._line = {address: index for index, address in enumerate(ours)}
        self.remote: list[tuple[str, int]] = []  # from the live side's SDP, one per m= line
        self.sent = 0
        self.received = 0
        self._task: asyncio.Task[None] | None = None
        self._base = 0.0  # loop time of the first packet

    @classmethod
    async def open(cls, script: ReplayScript, host: str) -> RtpReplay:
        loop = asyncio.get_running_loop()
        sockets: list[asyncio.DatagramTransport] = []
        replay = cls(script, sockets)
        for _ in range(script.sdp_media_lines):
            transport, _ = await loop.create_datagram_endpoint(lambda: _Sink(replay),
                                                               local_addr=(host, 0))
            sockets.append(transport)
        replay.ports = [int(s.get_extra_info("sockname")[1]) for s in sockets]
        return replay

    def learn(self, live: Request | Response) -> None:
        """Note where the live side wants media (the latest SDP it sent)."""
        found = media_addresses(live)
        if found:
            self.remote = found

    def maybe_start(self, captured_time: float) -> None:
        """Start sending once the replay reaches the capture's first RTP packet."""
        if self._task is None and self.packets and self.remote and \
                self.packets[0].time <= captured_time:
            loop = asyncio.get_running_loop()
            self._base = loop.time()
            self._task = loop.create_task(self._send_all())

    async def caught_up(self, captured_time: float) -> None:
        """Wait until the RTP captured before ``captured_time`` has gone out."""
        if self._task is None or self._task.done():
            return
        loop = asyncio.get_running_loop()
        due = self._base + captured_time - self.packets[0].time
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(0.0, due - loop.time())):
                await asyncio.shield(self._task)

    async def _send_all(self) -> None:
        loop = asyncio.get_running_loop()
        first = self.packets[0].time
        for packet in self.packets:
            index = self._line.get((packet.src.host, packet.src.port), 0)
            if index >= len(self.sockets) or index >= len(self.remote) or \
                    not self.remote[index][1]:
                continue
            delay = self._base + (packet.time - first) - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self.sockets[index].sendto(packet.data, self.remote[index])
            self.sent += 1

    def describe(self) -> str:
        if not self.packets:
            return "RTP: the capture has no RTP from this side"
        if self._task is None:
            return (f"RTP: not sent ({len(self.packets)} captured packets; the live side gave "
                    "no SDP)")
        where = ", ".join(f"{host}:{port}" for host, port in self.remote)
        span = self.packets[-1].time - self.packets[0].time
        return (f"RTP: sent {self.sent} of {len(self.packets)} captured packets to {where} "
                f"over {span:.2f} s as captured; received {self.received}")

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        for sock in self.sockets:
            sock.close()
