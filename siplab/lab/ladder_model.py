"""What a ladder diagram shows, worked out before anything is drawn.

A *ladder* (a sequence diagram, RFC 3665's "call flow") draws one vertical
lifeline per SIP endpoint and one arrow per message, top to bottom in time.
This module turns the messages of a source (read by
:mod:`siplab.lab.ladder_sources` from a SimNetwork, a Trace, a capture or a
list of messages) into a :class:`LadderModel`: the lifelines, the arrows and what each arrow means.
:mod:`siplab.lab.ladder` draws the model with matplotlib and
:mod:`siplab.lab.ladder_text` prints it for a terminal, so both show the same
thing. The rules, each one a small piece of RFC 3261:

* **Who is who.** A lifeline is one transport address (one SimNetwork node).
  It is named, in this order: by ``names=``, by the SimNetwork node name, by
  the SIP user of a Contact that points at that very address (a user agent
  says "reach me here", §8.1.1.8), by the From user of a request it started
  (one Via: nobody forwarded it, §16.6 step 8 adds one per proxy), by its
  User-Agent or Server product (§20.41, §20.35), else by its address. A
  proxy (it forwards requests) is named by its product or address only.
* **Retransmissions** (§17.1.1.2, §17.2.1): a request with the same branch,
  CSeq and method, or a response with the same status, branch, CSeq and To
  tag, sent again between the same two addresses. Over UDP that is Timer A,
  E or G at work, or a response resent because the request came again.
* **Dialogs** (§12): a dialog is the Call-ID plus the two tags. Each gets a
  colour; the messages before the callee's tag existed (the INVITE, 100
  Trying, CANCEL) take the colour of their call's dialog when the call has
  only one, and the call's own colour when forking gave it several.
* **SDP** (RFC 3264): a body in an INVITE or UPDATE is an *offer*; in an ACK
  or PRACK an *answer*; in a response, an answer if its request carried an
  offer, else the offer. Summarised as ``offer PCMU PCMA te`` (``te`` is
  telephone-event, RFC 4733).
* **Time** (:func:`row_positions`): one row per message, then more space for
  longer waits, growing with the logarithm of the wait, so bursts stay
  readable and a 32 s Timer B does not take a page.

Two of these rules have their own module: who is who in
:mod:`siplab.lab.ladder_names`, and the time axis in :mod:`siplab.lab.ladder_time`
(their names are importable from here too).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from siplab.errors import SipError
from siplab.lab.ladder_names import endpoint_names, host_port, shorten
from siplab.lab.ladder_sources import SourceRow, address_text, collect_rows
from siplab.lab.ladder_time import (
    BREAK_AFTER,
    MAX_ROW_GAP,
    MIN_ROW_GAP,
    position_of_time,
    row_positions,
)
from siplab.lab.network import first_line as datagram_first_line
from siplab.lab.network import label_of
from siplab.sip.message import Message, Request, Response

__all__ = [
    "Lifeline",
    "Arrow",
    "DialogGroup",
    "RtpBand",
    "LadderModel",
    "build_model",
    "sdp_summary",
    "row_positions",
    "position_of_time",
    "MIN_ROW_GAP",
    "MAX_ROW_GAP",
    "BREAK_AFTER",
]


# -- the model ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Lifeline:
    """One endpoint: a column of the ladder."""

    key: str  # what arrows refer to it by
    name: str  # "alice", "Kamailio" or "10.0.0.1:5060"
    address: str  # "10.0.0.1:5060", shown under the name


@dataclass(frozen=True, slots=True)
class DialogGroup:
    """A colour of the ladder: one dialog (Call-ID and both tags), or one call."""

    index: int
    call_id: str
    tags: tuple[str, ...]  # (From tag, To tag) of a dialog; () for the call as a whole
    dialogs: int = 0  # how many dialogs the call has (forking makes several)

    @property
    def label(self) -> str:
        call = shorten(self.call_id, 18)
        if not self.tags:
            if self.dialogs > 1:
                return f"Call-ID {call}  no To tag yet (the call forked: {self.dialogs} dialogs)"
            return f"Call-ID {call}"
        return f"Call-ID {call}  tags {'/'.join(shorten(t, 10) for t in self.tags)}"


@dataclass(frozen=True, slots=True)
class Arrow:
    """One message of the ladder, with everything the drawing needs to know."""

    index: int  # 0, 1, 2... in ladder order
    time: float  # seconds after the first message (its number, for untimed lists)
    src: str  # Lifeline.key
    dst: str
    label: str  # "INVITE", "180 Ringing"
    message: Message | None = field(repr=False)  # None when the bytes are not SIP
    protocol: str = "SIP"
    lost: bool = False
    lost_reason: str | None = None
    retransmission: bool = False
    dialog: int = 0  # DialogGroup.index
    cseq: str | None = None  # "1 INVITE"
    sdp: str | None = None  # "offer PCMU PCMA te"

    def text(self, *, cseq: bool = False) -> str:
        """The arrow's label as drawn: ``INVITE (retransmission)``, ``200 OK · CSeq 1 INVITE``.

        With ``cseq`` a request shows its CSeq number (the method is the label)
        and a response the whole CSeq, which says what it answers.
        """
        out = self.label
        if cseq and self.cseq:
            number, _, method = self.cseq.partition(" ")
            out += f" · CSeq {number}" if method == self.label else f" · CSeq {self.cseq}"
        if self.retransmission:
            out += " (retransmission)"
        if self.lost:
            out += " (lost)"
        return out


@dataclass(frozen=True, slots=True)
class RtpBand:
    """An RTP stream to draw as a band between two endpoints.

    ``src`` and ``dst`` are media addresses (``"10.0.0.1:4000"``), lifeline
    names or lifeline keys; ``start`` and ``end`` are on the same clock as the
    source's messages (capture times for a pcap, ``net.now`` for a SimNetwork).
    """

    src: str
    dst: str
    start: float
    end: float
    label: str = "RTP"


@dataclass(slots=True)
class LadderModel:
    """Lifelines left to right, arrows top to bottom, dialog colours and RTP bands."""

    lifelines: list[Lifeline]
    arrows: list[Arrow]
    dialogs: list[DialogGroup]
    streams: list[RtpBand]  # with src/dst turned into lifeline keys, times relative
    timed: bool = True  # False: the source had no times, arrows are just numbered
    start: float = 0.0  # the absolute time of the first message

    def column(self, key: str) -> int:
        return next(i for i, line in enumerate(self.lifelines) if line.key == key)

    def labels(self) -> list[str]:
        return [arrow.label for arrow in self.arrows]


# -- what each message is -------------------------------------------------------------------


def _retransmission_key(row: SourceRow) -> tuple[object, ...] | None:
    message = row.message
    if message is None:
        return None if row.data is None else (row.src, row.dst, row.data)
    try:
        if isinstance(message, Request):
            return (row.src, row.dst, "request", message.method, message.branch,
                    str(message.cseq))
        assert isinstance(message, Response)
        return (row.src, row.dst, "response", message.status, message.branch,
                str(message.cseq), message.to_tag)
    except SipError:
        return None if row.data is None else (row.src, row.dst, row.data)


_DIALOG_METHODS = ("INVITE", "SUBSCRIBE", "REFER", "NOTIFY")


def _dialog_ids(messages: Sequence[Message | None]) -> tuple[list[DialogGroup], list[int]]:
    """One colour per dialog, in order of first appearance (see the module docstring)."""
    # First pass: which tag pairs are dialogs (created by a 101-299 with a To tag, §12.1).
    dialogs_of_call: dict[str, list[tuple[str, ...]]] = {}
    for message in messages:
        if not isinstance(message, Response) or not 101 <= message.status <= 299:
            continue
        try:
            if message.cseq.method not in _DIALOG_METHODS or not message.to_tag:
                continue
            pair = (message.from_tag or "", message.to_tag)
            known = dialogs_of_call.setdefault(message.call_id, [])
            if pair not in known:
                known.append(pair)
        except SipError:
            continue
    groups: dict[tuple[str, tuple[str, ...]], DialogGroup] = {}
    out = []
    for message in messages:
        call_id, tags = "(not SIP)", cast(tuple[str, ...], ())
        if message is not None:
            try:
                call_id = message.call_id
                dialogs = dialogs_of_call.get(call_id, [])
                tags_now = (message.from_tag or "", message.to_tag or "")
                reverse = (tags_now[1], tags_now[0])
                if len(dialogs) == 1:
                    tags = dialogs[0]
                elif tags_now in dialogs:
                    tags = tags_now
                elif reverse in dialogs:
                    tags = reverse
            except SipError:
                call_id = "(unreadable)"
        group = groups.get((call_id, tags))
        if group is None:
            count = len(dialogs_of_call.get(call_id, []))
            group = groups[(call_id, tags)] = DialogGroup(len(groups), call_id, tags, count)
        out.append(group.index)
    return list(groups.values()), out


def _media_codecs(body: bytes) -> list[tuple[str, list[str], str | None]] | None:
    from siplab.sdp import parse  # only when a body is there

    try:
        description = parse(body.decode("utf-8", errors="replace"))
    except (SipError, ValueError):
        return None
    out: list[tuple[str, list[str], str | None]] = []
    for media in description.media:
        if media.port == 0:
            out.append((media.media, ["rejected"], None))
            continue
        names = ["te" if c.is_telephone_event else c.name for c in media.codecs]
        direction = str(media.direction)
        out.append((media.media, names, None if direction == "sendrecv" else direction))
    return out


def sdp_summary(message: Message, request_had_sdp: bool = False) -> str | None:
    """``offer PCMU PCMA te`` / ``answer PCMU sendonly`` for a message with an SDP body.

    ``request_had_sdp`` says, for a response, whether its request carried an
    offer (then the response's SDP is the answer, RFC 3264 §4; else it is the offer).
    """
    if not message.body or (message.content_type or "application/sdp") != "application/sdp":
        return None
    if isinstance(message, Request):
        role = "answer" if message.method in ("ACK", "PRACK") else "offer"
    else:
        role = "answer" if request_had_sdp else "offer"
    media = _media_codecs(message.body)
    if media is None:
        return f"{role} (unreadable SDP)"
    parts = []
    for kind, codecs, direction in media:
        text = " ".join(codecs[:5]) + (" …" if len(codecs) > 5 else "")
        if len(media) > 1:
            text = f"{kind}: {text}"
        if direction:
            text += f" {direction}"
        parts.append(text)
    return f"{role} {', '.join(parts)}".rstrip()


def _sdp_summaries(messages: Sequence[Message | None]) -> list[str | None]:
    offered: set[tuple[str, int, str]] = set()  # (Call-ID, CSeq number, method) with an offer
    out: list[str | None] = []
    for message in messages:
        summary = None
        if message is not None and message.body:
            try:
                key = (message.call_id, message.cseq.number, message.cseq.method)
                if isinstance(message, Request):
                    summary = sdp_summary(message)
                    if summary and summary.startswith("offer"):
                        offered.add(key)
                else:
                    summary = sdp_summary(message, key in offered)
            except SipError:
                summary = None
        out.append(summary)
    return out


# -- putting it together --------------------------------------------------------------------


def _media_owners(arrows: Sequence[Arrow]) -> dict[str, str]:
    """Media address (``10.0.0.1:4000``) -> the lifeline that first announced it in SDP."""
    from siplab.sdp import parse

    owners: dict[str, str] = {}
    for arrow in arrows:
        message = arrow.message
        if message is None or not message.body or arrow.sdp is None:
            continue
        try:
            description = parse(message.body.decode("utf-8", errors="replace"))
        except (SipError, ValueError):
            continue
        for media in description.media:
            connection = media.connection or description.connection
            if connection is not None and media.port:
                owners.setdefault(f"{connection.host}:{media.port}".lower(), arrow.src)
    return owners


def _stream_attr(stream: object, *names: str) -> Any:
    for name in names:
        value = getattr(stream, name, None)
        if value is not None:
            return value
    return None


def _as_band(stream: object) -> RtpBand | None:
    """An RtpBand from itself or from an RtpStreamStats-like object."""
    if isinstance(stream, RtpBand):
        return stream
    start = _stream_attr(stream, "start", "start_time", "first_time")
    end = _stream_attr(stream, "end", "end_time", "last_time")
    src, dst = _stream_attr(stream, "src"), _stream_attr(stream, "dst")
    if start is None or end is None or src is None or dst is None:
        return None
    parts = ["RTP"]
    codec = _stream_attr(stream, "codec", "encoding", "payload_name")
    payload_type = _stream_attr(stream, "payload_type")
    if codec:
        parts.append(str(codec))
    elif payload_type is not None:
        parts.append(f"pt {payload_type}")
    packets = _stream_attr(stream, "packets")
    if packets is not None:
        parts.append(f"{packets} pkts")
    lost = _stream_attr(stream, "lost")
    if lost:
        parts.append(f"{lost} lost")
    return RtpBand(address_text(src), address_text(dst), float(start), float(end),
                   " ".join(parts))


def build_model(source: object, *, names: Mapping[str, str] | None = None,
                rtp: Iterable[object] | None = None) -> LadderModel:
    """Work out the ladder of ``source`` (see :func:`collect_rows` for what it may be).

    ``names`` renames lifelines; its keys may be addresses (``"10.0.0.1:5060"``),
    SimNetwork names or the automatic names. ``rtp`` lists streams to draw as
    bands (:class:`RtpBand` or RtpStreamStats-like objects with src, dst and
    start/end times).
    """
    rows, hints = collect_rows(source)
    timed = all(row.time is not None for row in rows)
    start = min((row.time for row in rows if row.time is not None), default=0.0)
    auto = endpoint_names(rows, hints)
    addresses: dict[str, str] = {}
    for row in rows:
        addresses.setdefault(row.src, row.src_address)
        addresses.setdefault(row.dst, row.dst_address)
    rename = dict(names or {})

    def display(key: str) -> str:
        for candidate in (key, addresses[key], host_port(addresses[key]), auto[key]):
            if candidate in rename:
                return rename[candidate]
        return auto[key]

    lifelines = [Lifeline(key, display(key), addresses[key]) for key in addresses]
    messages = [row.message for row in rows]
    dialogs, dialog_of = _dialog_ids(messages)
    summaries = _sdp_summaries(messages)
    seen: set[tuple[object, ...]] = set()
    arrows = []
    for i, row in enumerate(rows):
        key = _retransmission_key(row)
        again = key is not None and key in seen
        if key is not None:
            seen.add(key)
        message = row.message
        cseq = None
        if message is not None:
            try:
                cseq = str(message.cseq)
            except SipError:
                cseq = None
        label = row.label or (message.label if message is not None else None)
        if label is None:
            label = label_of(datagram_first_line(row.data or b""))
        arrows.append(Arrow(
            index=i, time=(row.time - start) if timed and row.time is not None else float(i),
            src=row.src, dst=row.dst, label=label, message=message, protocol=row.protocol,
            lost=row.lost, lost_reason=row.lost_reason, retransmission=again,
            dialog=dialog_of[i], cseq=cseq, sdp=summaries[i],
        ))
    model = LadderModel(lifelines, arrows, dialogs, [], timed=timed, start=start)
    if rtp is not None:
        _add_streams(model, rtp)
    return model


def _add_streams(model: LadderModel, streams: Iterable[object]) -> None:
    owners = _media_owners(model.arrows)
    by_name = {line.name: line.key for line in model.lifelines}
    keys = {line.key for line in model.lifelines}

    def lifeline_for(address: str) -> str:
        address = address.lower()
        if address in keys:
            return address
        if address in by_name:
            return by_name[address]
        if address in owners:
            return owners[address]
        host = address.rsplit(":", 1)[0]
        same_host = [line.key for line in model.lifelines
                     if host_port(line.address).rsplit(":", 1)[0] == host]
        if len(same_host) == 1:
            return same_host[0]
        model.lifelines.append(Lifeline(address, address, address))  # media from elsewhere
        keys.add(address)
        return address

    for stream in streams:
        band = _as_band(stream)
        if band is None:
            raise TypeError(f"cannot draw {stream!r} as an RTP band: it needs src, dst "
                            "and start/end times")
        model.streams.append(RtpBand(
            lifeline_for(band.src), lifeline_for(band.dst),
            band.start - model.start, band.end - model.start, band.label,
        ))
