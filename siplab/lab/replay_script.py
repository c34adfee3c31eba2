"""What a replay sends and what it waits for: one side of one dialog of a capture.

A capture of a call holds both ends of the conversation and, through a proxy,
every message twice (caller to proxy, proxy to callee). To play *one* end again
against a live phone or server (:mod:`siplab.lab.replay`), siplab first cuts a
**script** out of the capture:

1. **the dialog**: every message with one Call-ID (RFC 3261 §8.1.1.4, §12): the
   first call (INVITE) in the capture, else the first registration (REGISTER),
   or the Call-ID asked for. A REGISTER has no dialog, but its Call-ID ties the
   REGISTER, the 401 challenge and the REGISTER that answers it together
   (§10.2.4), which is what a replay needs.
2. **the side**, an *endpoint* (address and port) of that dialog: the *caller*
   sent the first request; the *callee* received the copy of it with the most
   Via headers, since every proxy on the way adds one (§16.6 step 8). An
   address (``127.0.0.1:5062``) or a user name (``bob``, from From, To, the
   Request-URI or a Contact) names an endpoint directly.
3. **the leg**: only the messages that endpoint sent (*send* steps) or
   received (*expect* steps), in capture order.
4. **no retransmissions**: over UDP a request is sent again by Timers A and E
   and a 2xx until its ACK comes (§17.1.1.2, §13.3.1.4). A copy has the same
   branch and CSeq (and status) as the first; only the first is a step. The
   replay retransmits on its own if the live side is slow.

Nothing here touches the network: a script is plain data, printed in a notebook
with :meth:`ReplayScript.describe`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from siplab.errors import SipError
from siplab.lab.pcap import Capture, MediaPacket, WireMessage, read_pcap
from siplab.sip.auth import parse_credentials
from siplab.sip.message import Request, Response
from siplab.sip.transport import Peer
from siplab.sip.uri import SipUri

__all__ = ["ReplayError", "ScriptStep", "ReplayScript", "build_script", "load_capture",
           "media_addresses", "ROLES"]

#: The two ends a replay can play by name.
ROLES = ("caller", "callee")


class ReplayError(SipError, ValueError):
    """The capture cannot be replayed as asked (no call in it, no such side...): one line."""


@dataclass(frozen=True, slots=True)
class ScriptStep:
    """One message of the script: ``sends`` (our side sent it) or else expected from the peer."""

    number: int  # 1-based, as the report's step column counts
    sends: bool
    wire: WireMessage

    @property
    def message(self) -> Request | Response:
        return self.wire.message

    @property
    def label(self) -> str:
        return self.wire.label

    @property
    def is_request(self) -> bool:
        return isinstance(self.wire.message, Request)

    @property
    def method(self) -> str:
        """The request's method, or for a response the method its CSeq names."""
        message = self.wire.message
        return message.method if isinstance(message, Request) else message.cseq.method


@dataclass(slots=True)
class ReplayScript:
    """One side of one dialog of a capture, ready to replay (see the module docstring)."""

    steps: list[ScriptStep]
    role: str  # "caller" or "callee"
    side: Peer  # the endpoint replayed, as it was in the capture
    peer: Peer  # the endpoint it talked to most (the proxy, or the other phone)
    call_id: str
    method: str  # of the request that started it: INVITE, REGISTER...
    source: str = "capture"  # the file name, for the report
    initial: Request | None = None  # the first request, as the side sent or received it
    media: list[MediaPacket] = field(default_factory=list)  # RTP our side sent

    def describe(self) -> str:
        """The script as text: one line per step."""
        lines = [f"{self.source}: {self.method} dialog {self.call_id}, replayed as the {self.role} "
                 f"({_text(self.side)} in the capture, talking to {_text(self.peer)})"]
        for step in self.steps:
            arrow = "->" if step.sends else "<-"
            lines.append(f"{step.number:>4}  {arrow}  {step.label}")
        return "\n".join(lines)

    def acks_failure(self, ack: Request) -> bool:
        """Is this captured ACK the one of a 3xx-6xx (its INVITE's branch, §17.1.1.3)?"""
        return any(step.method == "INVITE" and step.is_request
                   and step.message.branch == ack.branch for step in self.steps)

    @property
    def username(self) -> str:
        """The digest user of our captured Authorization, else the user of our From (or To)."""
        for step in self.steps:
            for name in ("Authorization", "Proxy-Authorization"):
                value = step.message.headers.get(name) if step.sends else None
                if value:
                    with contextlib.suppress(SipError):
                        return parse_credentials(value).username
        if self.initial is not None:
            with contextlib.suppress(SipError, ValueError):
                address = self.initial.from_ if self.role == "caller" else self.initial.to
                if isinstance(address.uri, SipUri) and address.uri.user:
                    return address.uri.user
        return "anonymous"

    @property
    def sdp_media_lines(self) -> int:
        """How many ``m=`` lines our side's SDP bodies have at most (one RTP socket each)."""
        most = 0
        for step in self.steps:
            if step.sends and _is_sdp(step.message):
                body = step.message.body.decode("utf-8", "replace")
                most = max(most, sum(1 for line in body.splitlines() if line.startswith("m=")))
        return most


def load_capture(source: Any) -> tuple[list[WireMessage], list[MediaPacket], str]:
    """The SIP messages and RTP packets of ``source``, and a name for it.

    ``source``: a pcap/pcapng path (read with :func:`~siplab.lab.pcap.read_pcap`,
    which raises :class:`~siplab.lab.pcap.PcapError` for a bad file), a
    :class:`~siplab.lab.pcap.Capture`, a :class:`~siplab.lab.trace.Trace`, or
    WireMessages and MediaPackets.
    """
    name = "capture"
    if isinstance(source, str | os.PathLike):
        name = Path(source).name
        source = read_pcap(source)
    if isinstance(source, Capture):
        if source.path is not None:
            name = source.path.name
        return list(source.sip_messages), list(source.rtp_packets), name
    if hasattr(source, "records") and hasattr(source, "wire"):  # a Trace
        items = list(source.wire())
        name = "trace"
    else:
        items = list(source)
    messages = [item for item in items if isinstance(item, WireMessage)]
    media = [item for item in items if isinstance(item, MediaPacket) and item.kind == "rtp"]
    if len(messages) + sum(isinstance(i, MediaPacket) for i in items) != len(items):
        raise TypeError("replay() reads a capture path, a Capture, a Trace, or WireMessages")
    return messages, media, name


def build_script(messages: Iterable[WireMessage], as_: str = "caller", *,
                 call_id: str | None = None, media: Iterable[MediaPacket] = (),
                 source: str = "capture") -> ReplayScript:
    """Cut the script for side ``as_`` out of a capture's messages (see the module docstring).

    ``as_``: ``"caller"``, ``"callee"``, an address ``host:port`` or a user name.
    Raises :class:`ReplayError` when there is nothing to replay.
    """
    messages = list(messages)
    if not messages:
        raise ReplayError(f"{source}: no SIP messages in this capture")
    chosen = call_id if call_id is not None else _first_dialog(messages, source)
    dialog = [m for m in messages if m.call_id == chosen]
    if not dialog:
        raise ReplayError(f"{source}: no message with Call-ID {chosen}")
    first = next((m for m in dialog if isinstance(m.message, Request)
                  and m.message.to_tag is None and m.message.method != "ACK"), None)
    if first is None:
        raise ReplayError(f"{source}: the dialog {chosen} has no request that starts it")
    first_request = first.message
    assert isinstance(first_request, Request)
    caller, callee = _ends(dialog, first_request)
    side = _side(as_, dialog, caller, callee, source)
    role = "caller" if side == caller else "callee"
    leg = [m for m in dialog if _same(m.src, side) or _same(m.dst, side)]
    steps = [ScriptStep(number, _same(m.src, side), m)
             for number, m in enumerate(_without_retransmissions(leg), 1)]
    others: dict[Peer, int] = {}
    for step in steps:
        other = step.wire.dst if step.sends else step.wire.src
        others[other] = others.get(other, 0) + 1
    peer = max(others, key=lambda p: others[p])
    initial = next((s.message for s in steps if isinstance(s.message, Request)
                    and s.message.method == first_request.method and s.message.to_tag is None),
                   None)
    assert initial is None or isinstance(initial, Request)
    return ReplayScript(steps, role, side, peer, chosen, first_request.method, source, initial,
                        _our_media(steps, media))


def _first_dialog(messages: list[WireMessage], source: str) -> str:
    """The Call-ID of the first INVITE, else of the first REGISTER."""
    for method in ("INVITE", "REGISTER"):
        for wire in messages:
            message = wire.message
            if isinstance(message, Request) and message.method == method and \
                    message.to_tag is None and wire.call_id is not None:
                return wire.call_id
    raise ReplayError(f"{source}: no INVITE or REGISTER in this capture (give --call-id)")


def _ends(dialog: list[WireMessage], first: Request) -> tuple[Peer, Peer]:
    """The caller (sent the first request, fewest Vias) and the callee (got the most Vias)."""
    copies = [m for m in dialog if isinstance(m.message, Request)
              and m.message.method == first.method and m.message.to_tag is None
              and m.message.cseq.number == first.cseq.number]
    fewest = min(copies, key=lambda m: m.message.via_count)
    most = max(copies, key=lambda m: (m.message.via_count, dialog.index(m)))
    return fewest.src, most.dst


def _same(a: Peer, b: Peer) -> bool:
    """One endpoint: same address and port (a TCP capture names the transport too)."""
    return a.host == b.host and a.port == b.port


def _side(as_: str, dialog: list[WireMessage], caller: Peer, callee: Peer,
          source: str) -> Peer:
    wanted = as_.strip()
    if wanted in ROLES:
        return caller if wanted == "caller" else callee
    endpoints = {w.src for w in dialog} | {w.dst for w in dialog}
    host, colon, port = wanted.rpartition(":")
    if colon and _is_port(port):
        host = host.strip("[]")
        for endpoint in endpoints:
            if endpoint.host == host and endpoint.port == int(port):
                return caller if _same(endpoint, caller) else (
                    callee if _same(endpoint, callee) else endpoint)
        raise ReplayError(f"{source}: no endpoint {wanted} in dialog "
                          f"{dialog[0].call_id} (there are "
                          f"{', '.join(sorted(_text(e) for e in endpoints))})")
    names = _users(dialog, caller, callee)
    for endpoint, users in names.items():
        if wanted.lower() in users:
            return endpoint
    known = sorted({u for users in names.values() for u in users})
    raise ReplayError(f"{source}: --as {wanted!r} is not caller, callee, an address or a user of "
                      f"this dialog (users: {', '.join(known) or 'none'})")


def _users(dialog: list[WireMessage], caller: Peer, callee: Peer) -> dict[Peer, set[str]]:
    """User names of each end: From (caller), To and Request-URI (callee), Contacts sent."""
    names: dict[Peer, set[str]] = {caller: set(), callee: set()}
    for wire in dialog:
        message = wire.message
        try:
            if isinstance(message, Request) and message.to_tag is None:
                if _same(wire.src, caller):
                    names[caller].add(_user(message.from_.uri))
                if _same(wire.dst, callee):
                    names[callee].add(_user(message.to.uri))
                    names[callee].add(_user(message.uri))
            for contact in message.contact:
                for end in (caller, callee):
                    if _same(wire.src, end):
                        names[end].add(_user(contact.uri))
        except (SipError, ValueError):
            continue
    return {end: {u.lower() for u in users if u} for end, users in names.items()}


def _user(uri: object) -> str:
    return (uri.user or "") if isinstance(uri, SipUri) else ""


def _without_retransmissions(leg: list[WireMessage]) -> list[WireMessage]:
    """Keep the first copy of each message: requests by branch and CSeq (an ACK by its CSeq
    alone: some phones give a resent ACK a new branch), responses by branch, CSeq and status."""
    seen: set[tuple[object, ...]] = set()
    kept = []
    for wire in leg:
        message = wire.message
        try:
            cseq = message.cseq
        except (SipError, ValueError):
            continue  # no CSeq: cannot be replayed
        if isinstance(message, Request):
            branch = None if message.method == "ACK" else message.branch
            key: tuple[object, ...] = (wire.src, "request", message.method, cseq, branch)
        else:
            key = (wire.src, "response", message.status, cseq, message.branch, message.to_tag)
        if key not in seen:
            seen.add(key)
            kept.append(wire)
    return kept


def _is_sdp(message: Request | Response) -> bool:
    content_type = (message.headers.get("Content-Type") or "").lower()
    return bool(message.body) and "application/sdp" in content_type


def media_addresses(message: Request | Response) -> list[tuple[str, int]]:
    """``(address, port)`` of each ``m=`` line of a message's SDP (0 ports included)."""
    if not _is_sdp(message):
        return []
    session_host = ""
    found: list[tuple[str, int]] = []
    for line in message.body.decode("utf-8", "replace").splitlines():
        if line.startswith("c=") and len(line.split()) >= 3:
            host = line.split()[2].split("/")[0]
            if found:  # a media-level c= line overrides the session's for its m= line
                found[-1] = (host, found[-1][1])
            else:
                session_host = host
        elif line.startswith("m=") and len(line.split()) >= 2:
            port = line.split()[1].split("/")[0]
            found.append((session_host, int(port) if _is_port(port) else 0))
    return found


def _our_media(steps: list[ScriptStep], media: Iterable[MediaPacket]) -> list[MediaPacket]:
    """The RTP packets our side sent: from an address and port its own SDP named."""
    ours = {address for step in steps if step.sends for address in media_addresses(step.message)}
    return [packet for packet in media if (packet.src.host, packet.src.port) in ours]


def _is_port(text: str) -> bool:
    """ASCII digits, five at most: int() refuses "²" (which isdigit() accepts)."""
    return text.isascii() and text.isdigit() and len(text) <= 5


def _text(peer: Peer) -> str:
    host = f"[{peer.host}]" if ":" in peer.host else peer.host
    return f"{host}:{peer.port}"
