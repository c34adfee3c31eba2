"""What each parser promises on any input: the fuzz oracles, shared by hypothesis and atheris.

Every function here takes raw bytes, feeds them to one parser, and then uses
what parsed the way siplab itself would (typed accessors, negotiation,
writing back). The contract being checked is the one in DESIGN.md: bad
input raises the parser's *documented* error, and nothing else:

=================  ===============================================
parser             documented errors
=================  ===============================================
SIP message, URI,  :class:`~siplab.errors.SipParseError`
headers, digest    (RFC 3261 §7, §19, §20, §25; RFC 7616)
SDP                :class:`~siplab.sdp.SdpParseError`; negotiation
                   also :class:`~siplab.sdp.NegotiationError` (488)
RTP, RTCP, DTMF    :class:`~siplab.rtp.packet.RtpParseError` (RFC 3550, 4733)
pcap reader        ``siplab.lab.pcap.PcapError``
=================  ===============================================

Any other exception (``ValueError`` from ``int()``, ``IndexError``,
``OverflowError``, ``UnicodeError``...) escapes and fails the test or stops
the fuzzer: it is a bug. A failed ``assert`` is a broken round trip
(``parse(write(x)) == x``), a bug too.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

from siplab.errors import SipParseError
from siplab.rtp.dtmf import DtmfReceiver, TelephoneEvent
from siplab.rtp.packet import RtpPacket, RtpParseError, is_rtp, looks_like_rtcp, parse_rtp
from siplab.rtp.rtcp import parse_rtcp
from siplab.sdp import (
    Capabilities,
    NegotiationError,
    SdpParseError,
    SessionDescription,
    create_offer,
    negotiate,
    parse,
    process_answer,
)
from siplab.sip.auth import parse_challenge, parse_credentials
from siplab.sip.build import build_response, mark_received, response_destination
from siplab.sip.framing import StreamFramer
from siplab.sip.grammar import is_token, parse_params, split_commas, split_unquoted, unquote
from siplab.sip.headers import (
    Address,
    parse_address,
    parse_addresses,
    parse_cseq,
    parse_via,
    parse_vias,
    tag_of,
    via_branch,
)
from siplab.sip.message import Request, Response, parse_message
from siplab.sip.uri import SipUri, TelUri, Uri, parse_uri, uri_equal

__all__ = [
    "TARGETS",
    "sip_message",
    "sip_uri",
    "sip_headers",
    "sip_digest",
    "sdp",
    "rtp",
    "rtcp",
    "dtmf",
    "stream_framer",
    "pcap",
    "pcap_available",
]


def _allowed(read: Callable[[], Any], *errors: type[Exception]) -> Any:
    """``read()``, or None if it raised one of ``errors`` (SipParseError by default)."""
    allowed = errors or (SipParseError,)
    try:
        return read()
    except allowed:
        return None


def _text(data: bytes) -> str:
    # Header values reach the header parsers as str; any bytes become some str.
    return data.decode("utf-8", errors="replace")


# --- SIP ---------------------------------------------------------------------------------

_ACCESSORS = (
    "call_id", "cseq", "from_", "to", "from_tag", "to_tag", "via", "top_via", "branch",
    "via_count", "contact", "route", "record_route", "max_forwards", "expires",
    "content_length", "content_type", "label", "start_line",
)


def _use_uri(uri: Uri) -> None:
    assert uri_equal(uri, uri)
    assert parse_uri(str(uri)) == uri, "a parsed URI writes back to the same URI"
    if isinstance(uri, SipUri):
        _ = (uri.address_of_record, uri.host_for_socket, uri.transport, uri.lr, uri.host_port,
             uri.secure)
    elif isinstance(uri, TelUri):
        _ = uri.is_global


def _use_address(address: Address) -> None:
    _ = (str(address), address.tag, address.display_name, address.params, address.is_wildcard)
    _allowed(lambda: address.sip_uri)
    if not address.wildcard:
        _use_uri(address.uri)
        written = str(address)
        again = parse_address(written)
        assert (again.uri, again.params) == (address.uri, address.params)
        # On parameters as the grammar wants them (tokens, one tag), the fast reader agrees.
        tags = [name for name, _ in address.params if name.lower() == "tag"]
        if address.tag and len(tags) == 1 and all(v is None or is_token(v)
                                                  for _, v in address.params):
            assert tag_of(written) == address.tag, "tag_of agrees with the full parse"


def _use_message(message: Request | Response) -> None:
    for name in _ACCESSORS:
        _allowed(lambda name=name: getattr(message, name))
    for read in (lambda: [message.from_], lambda: [message.to], lambda: message.contact,
                 lambda: message.route, lambda: message.record_route):
        for address in _allowed(read) or ():
            _use_address(address)
    for via in _allowed(lambda: message.via) or ():
        _ = (via.branch, via.received, via.rport, via.wants_rport, via.sent_by)
        assert parse_via(str(via)) == via, "a parsed Via writes back to the same Via"
        response_destination(via)
    for name in ("Allow", "Supported", "Require", "Accept", "Via", "Contact"):
        _allowed(lambda name=name: message.header_list(name))
    _allowed(message.validate)
    _ = (message.missing_headers(), str(message), message.body, len(message.headers))
    assert message.copy() == message
    if isinstance(message, Request):
        _allowed(lambda: _use_uri(message.uri))
        _allowed(lambda: mark_received(message.copy(), "192.0.2.1", 5060))
        _allowed(lambda: build_response(message, 400, "Bad Request", to_tag="fz"))
    assert parse_message(message.to_bytes()) == message, "parse(m.to_bytes()) == m"


def sip_message(data: bytes) -> None:
    """parse_message, then every typed accessor a UA or proxy reads, then the round trip."""
    message = _allowed(lambda: parse_message(data))
    if message is not None:
        _use_message(message)


def sip_uri(data: bytes) -> None:
    """parse_uri on any text; what parses compares equal to itself and writes back."""
    uri = _allowed(lambda: parse_uri(_text(data)))
    if uri is not None:
        _use_uri(uri)


def sip_headers(data: bytes) -> None:
    """Every header-value parser (address, Via, CSeq, params, lists) on the same text."""
    text = _text(data)
    for address in _allowed(lambda: parse_addresses(text)) or ():
        _use_address(address)
    address = _allowed(lambda: parse_address(text))
    if address is not None:
        _use_address(address)
        _allowed(lambda: tag_of(text))
    for via in _allowed(lambda: parse_vias(text)) or ():
        assert parse_via(str(via)) == via
    via = _allowed(lambda: parse_via(text))
    _allowed(lambda: via_branch(text))
    if via is not None:
        _ = (via.branch, via.rport, via.sent_by)
        response_destination(via)
    cseq = _allowed(lambda: parse_cseq(text))
    if cseq is not None:
        assert 0 <= cseq.number < 2**31
        assert parse_cseq(str(cseq)) == cseq
    _allowed(lambda: parse_params(text))
    _allowed(lambda: split_commas(text))
    _allowed(lambda: split_unquoted(text, ";"))
    _ = unquote(text)


def sip_digest(data: bytes) -> None:
    """parse_challenge and parse_credentials; what parses writes back to the same value."""
    text = _text(data)
    challenge = _allowed(lambda: parse_challenge(text))
    if challenge is not None:
        _ = challenge.algorithm_name
        assert parse_challenge(str(challenge)) == challenge, "a challenge writes back"
    credentials = _allowed(lambda: parse_credentials(text))
    if credentials is not None:
        assert parse_credentials(str(credentials)) == credentials, "credentials write back"


# --- SDP ---------------------------------------------------------------------------------

_SDP_ERRORS = (SdpParseError, NegotiationError)
_PLAIN = Capabilities()
_WEBRTC = Capabilities(audio=("opus", "PCMU"), video=("VP8",), accept_webrtc=True,
                       data_channel=True, rtcp_mux=True, single_codec=True)


def _use_description(sd: SessionDescription) -> None:
    _ = (sd.groups, sd.is_webrtc, sd.direction_attribute, sd.lines())
    for media in sd.media:
        _ = (
            media.codecs, media.rtpmaps, media.payload_types, media.direction, media.ptime,
            media.maxptime, media.rtcp_mux, media.rtcp_port, media.mid, media.ssrcs,
            media.ice_ufrag, media.ice_pwd, media.candidates, media.fingerprint, media.setup,
            media.is_rejected, media.is_webrtc, sd.direction_of(media), sd.connection_of(media),
        )
        for codec in media.codecs:
            _ = (codec.encoding, codec.fmtp_params, codec.label)


def sdp(data: bytes) -> None:
    """parse; every typed view; the round trip; then answer it, and read it as an answer."""
    sd = _allowed(lambda: parse(data), SdpParseError)
    if sd is None:
        return
    _use_description(sd)
    assert parse(str(sd)) == sd, "parse(str(sd)) == sd"
    for caps in (_PLAIN, _WEBRTC):
        negotiation = _allowed(lambda caps=caps: negotiate(sd, caps), *_SDP_ERRORS)
        if negotiation is not None:
            assert parse(str(negotiation.answer)) == negotiation.answer
    _allowed(lambda: process_answer(create_offer(session_id=1), sd), *_SDP_ERRORS)


# --- RTP, RTCP, DTMF ---------------------------------------------------------------------


def rtp(data: bytes) -> None:
    """parse_rtp; a parsed packet writes back to bytes that parse to the same packet."""
    _ = (is_rtp(data), looks_like_rtcp(data))
    packet = _allowed(lambda: parse_rtp(data), RtpParseError)
    if packet is not None:
        assert parse_rtp(packet.to_bytes()) == packet, "parse_rtp(p.to_bytes()) == p"
        _ = packet.header_size


def rtcp(data: bytes) -> None:
    """parse_rtcp on a compound packet: only RtpParseError (RtcpParseError) is allowed."""
    packets = _allowed(lambda: parse_rtcp(data), RtpParseError)
    for packet in packets or ():
        _ = repr(packet)


def dtmf(data: bytes) -> None:
    """TelephoneEvent.parse, and a DtmfReceiver fed the bytes as a stream of event packets."""
    _allowed(lambda: TelephoneEvent.parse(data), RtpParseError)
    receiver = DtmfReceiver(payload_type=101)
    now = 0.0
    for start in range(0, min(len(data), 400), 6):
        chunk = data[start : start + 6]
        timestamp = int.from_bytes(chunk[:2], "big") & 0x3 if len(chunk) > 4 else 0
        packet = RtpPacket(101, start & 0xFFFF, timestamp, 1, chunk[2:])
        now += 0.02
        _allowed(lambda packet=packet, now=now: receiver.receive(packet, now), RtpParseError)
        receiver.handle_timer(now)
    receiver.handle_timer(now + 10)
    _ = receiver.digits


# --- the stream framer -------------------------------------------------------------------


def stream_framer(data: bytes) -> None:
    """Feed a stream whole and in chunks (the first bytes say where to cut): same outcome.

    Either both feeds raise SipParseError, or both give the same messages and
    keep the same bytes buffered. Every framed message then goes through
    :func:`sip_message`.
    """
    cuts_spec, stream = data[:8], data[8:]
    cuts = sorted({(byte * (i + 1) * 7) % (len(stream) + 1) for i, byte in enumerate(cuts_spec)})
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    small = {"max_header_bytes": 2048, "max_body_bytes": 4096}  # reach the limits too

    whole = StreamFramer(**small)
    whole_messages = _allowed(lambda: whole.feed(stream))
    pieces = StreamFramer(**small)
    piece_messages: list[bytes] = []
    failed = False
    for chunk in chunks:
        try:
            piece_messages.extend(pieces.feed(chunk))
        except SipParseError:
            failed = True
            break
    if whole_messages is None:
        assert failed, "the whole stream was refused, so must its chunks be"
        return
    assert not failed, "the chunks were refused, but not the whole stream"
    assert piece_messages == whole_messages
    assert pieces.buffered == whole.buffered
    for message in whole_messages:
        sip_message(message)


# --- pcap --------------------------------------------------------------------------------


def pcap_available() -> bool:
    """True once ``siplab/lab/pcap.py`` (written by another engineer) is importable."""
    try:
        from siplab.lab import pcap as _pcap  # noqa: F401
    except ImportError:
        return False
    return True


@contextlib.contextmanager
def _as_file(data: bytes) -> Iterator[str]:
    handle, path = tempfile.mkstemp(suffix=".pcap", prefix="siplab-fuzz-")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        yield path
    finally:
        os.unlink(path)


def pcap(data: bytes) -> None:
    """read_pcap on the bytes as a capture file, then the RTP statistics of what it read.

    The reader's documented error is PcapError (missing, empty, truncated or
    not a capture); inside a capture, packets that are not what they claim are
    skipped, never raised.
    """
    from siplab.lab.analysis import rtp_streams
    from siplab.lab.pcap import PcapError, read_pcap, scan_capture

    with _as_file(data) as path:
        capture = _allowed(lambda: read_pcap(path, progress=False), PcapError)
        if capture is None:
            return
        bulk = scan_capture(path, keep=False, progress=False)  # the rtp_streams path
    assert [m.data for m in bulk.sip_messages] == [m.data for m in capture.sip_messages]
    _ = (repr(capture), capture.frames, capture.undecoded, len(capture.packets))
    for wire in capture.sip_messages:
        _ = (wire.label, wire.call_id, wire.has_sdp, wire.transport)
    for media in capture.rtp_packets:
        _allowed(lambda media=media: media.rtp, RtpParseError)
    for stats in rtp_streams(capture):
        _ = repr(stats)


#: name -> oracle, for the fuzz/ scripts and the seed corpus.
TARGETS: dict[str, Callable[[bytes], None]] = {
    "sip_message": sip_message,
    "sip_uri": sip_uri,
    "sip_headers": sip_headers,
    "sip_digest": sip_digest,
    "sdp": sdp,
    "rtp": rtp,
    "rtcp": rtcp,
    "dtmf": dtmf,
    "stream_framer": stream_framer,
    "pcap": pcap,
}
