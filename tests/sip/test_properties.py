"""Properties of the message layer, checked on generated input (RFC 3261 §7, §19, §25).

1. Any bytes either parse or raise SipParseError, nothing else; after a parse,
   every typed accessor either works or raises SipParseError, and the message
   written back parses to an equal message. Inputs: random bytes, corpus
   messages with bytes flipped, inserted, deleted, lines duplicated and CRLFs
   dropped, and messages assembled from generated header lines.
2. Messages built from generated methods, URIs, headers and bodies survive
   ``parse_message(m.to_bytes()) == m``; URIs and addresses survive their own
   round trips, and the fast tag/branch readers agree with the full parse.
3. ``parse_uri`` on any text raises only SipParseError.
4. A StreamFramer fed the same bytes in any chunking yields the same messages.

The budget is bounded (a few hundred examples per property) so the file runs in
seconds.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from siplab.errors import SipParseError
from siplab.sip.build import (
    build_ack_for_failure,
    build_cancel,
    build_response,
    mark_received,
    response_destination,
)
from siplab.sip.framing import StreamFramer
from siplab.sip.grammar import TOKEN_CHARS, quote
from siplab.sip.headers import (
    COMPACT_FORMS,
    Address,
    Headers,
    header_key,
    parse_address,
    parse_via,
    parse_vias,
    tag_of,
    via_branch,
)
from siplab.sip.message import MAX_MESSAGE_SIZE, Message, Request, Response, parse_message
from siplab.sip.uri import SipUri, TelUri, parse_uri
from tests.sip.corpus_loader import load_corpus

CORPUS = load_corpus()
CORPUS_MESSAGES = [CORPUS[name] for name in sorted(CORPUS)]

FUZZ = settings(max_examples=400, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
ROUND_TRIP = settings(max_examples=300, deadline=None,
                      suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

ACCESSORS = (
    "call_id", "cseq", "from_", "to", "from_tag", "to_tag", "via", "top_via", "branch",
    "via_count", "contact", "route", "record_route", "max_forwards", "expires",
    "content_length", "content_type", "label", "start_line",
)


def attempt(read: Any) -> Any:
    """Call ``read()``; a SipParseError is an allowed answer, anything else fails."""
    try:
        return read()
    except SipParseError:
        return None


def read_everything(message: Request | Response) -> None:
    """Touch every typed accessor the way a user agent or proxy would."""
    for name in ACCESSORS:
        attempt(lambda name=name: getattr(message, name))
    for address in (attempt(lambda: message.from_), attempt(lambda: message.to),
                    *(attempt(lambda: message.contact) or ()),
                    *(attempt(lambda: message.route) or ())):
        if address is not None:
            _ = (str(address), address.tag, address.display_name, address.params)
            attempt(lambda address=address: address.sip_uri)
    for via in attempt(lambda: message.via) or ():
        _ = (str(via), via.branch, via.received, via.rport, via.wants_rport, via.sent_by)
        response_destination(via)
    attempt(message.validate)
    _ = (message.missing_headers(), str(message), message.body)
    for name in ("Allow", "Supported", "Via", "Contact"):
        attempt(lambda name=name: message.header_list(name))
    assert message.copy() == message
    if isinstance(message, Request):
        attempt(lambda: message.uri)
        attempt(lambda: mark_received(message.copy(), "192.0.2.1", 5060))
        attempt(lambda: build_response(message, 200, to_tag="t1"))
        attempt(lambda: build_cancel(message))
        attempt(lambda: build_ack_for_failure(message, build_response(message, 486)))
    # What was read writes back to bytes that read the same (a tidy form).
    assert parse_message(message.to_bytes()) == message


def parse_or_refuse(data: bytes) -> None:
    try:
        message = parse_message(data)
    except SipParseError:
        return
    read_everything(message)


# -- 1. anything parses or is refused ----------------------------------------------


@FUZZ
@given(st.binary(max_size=1500))
def test_random_bytes_parse_or_raise_parse_error(data: bytes) -> None:
    parse_or_refuse(data)


@st.composite
def mutated_corpus_message(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(CORPUS_MESSAGES)))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "insert", "delete", "duplicate_line",
                                     "drop_crlf", "truncate", "swap_lines"]))
        position = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[position] ^= draw(st.integers(1, 255))
        elif kind == "insert":
            data[position:position] = draw(st.sampled_from(
                [b"\r\n", b"\n", b"\r", b" ", b"\t", b",", b";", b'"', b"<", b">", b":",
                 b"\x00", b"\xff", b"\r\n ", b"\r\n\r\n", b"%", b"["]) | st.binary(max_size=8))
        elif kind == "delete":
            del data[position : position + draw(st.integers(1, 20))]
        elif kind in ("duplicate_line", "swap_lines", "drop_crlf"):
            lines = bytes(data).split(b"\r\n")
            i = draw(st.integers(0, len(lines) - 1))
            if kind == "duplicate_line":
                lines.insert(i, lines[i])
            elif kind == "swap_lines":
                j = draw(st.integers(0, len(lines) - 1))
                lines[i], lines[j] = lines[j], lines[i]
            elif i + 1 < len(lines):
                lines[i : i + 2] = [lines[i] + lines[i + 1]]
            data = bytearray(b"\r\n".join(lines))
        elif kind == "truncate":
            del data[position:]
    return bytes(data)


@FUZZ
@given(mutated_corpus_message())
def test_mutated_corpus_messages_parse_or_raise_parse_error(data: bytes) -> None:
    parse_or_refuse(data)


HEADER_NAMES = st.sampled_from(
    ["Via", "v", "From", "f", "To", "t", "Call-ID", "i", "CSeq", "Contact", "m", "Route",
     "Record-Route", "Max-Forwards", "Expires", "Content-Length", "l", "Content-Type", "c",
     "Allow", "Supported", "X-Custom", "Subject"]
) | st.text(alphabet=sorted(TOKEN_CHARS), min_size=1, max_size=12)

VALUE_PIECES = st.sampled_from(
    ["SIP/2.0/UDP ", "SIP / 2.0 / TCP ", "host.example.com", "[2001:db8::1]", ":5060", ";branch=",
     "z9hG4bK", ";rport", ";received=192.0.2.1", ";tag=", "abc", ", ", ",", ";", "<", ">",
     "sip:", "sips:", "tel:+1-555", "alice@", '"', '"Smith, J" ', "\\", "%41", "*", " ", "\t",
     "1", "0", "99999999999", "INVITE", " INVITE", "=", "?", "&", "application/sdp", "é", ""]
)


#: Any character a header value may hold: not CR, LF or NUL, and encodable.
TEXT_CHARS = st.characters(blacklist_characters="\r\n\x00", blacklist_categories=("Cs",))


@st.composite
def header_value(draw: st.DrawFn) -> str:
    if draw(st.booleans()):
        return "".join(draw(st.lists(VALUE_PIECES, max_size=12)))
    return draw(st.text(TEXT_CHARS, max_size=40))


@st.composite
def assembled_message(draw: st.DrawFn) -> bytes:
    start = draw(st.sampled_from([
        "INVITE sip:bob@biloxi.example.com SIP/2.0", "ACK sip:b@h SIP/2.0",
        "SIP/2.0 200 OK", "SIP/2.0 180 ", "REGISTER sips:[2001:db8::1]:5061 SIP/2.0",
        "OPTIONS tel:+1-555-0100 SIP/2.0", "X sip: SIP/2.0", "SIP/2.0 487 Request Terminated",
    ]))
    lines = [start]
    for _ in range(draw(st.integers(0, 14))):
        name = draw(HEADER_NAMES)
        separator = draw(st.sampled_from([": ", ":", " : ", ":\t"]))
        lines.append(name + separator + draw(header_value()))
        if draw(st.integers(0, 9)) == 0:
            lines.append(draw(st.sampled_from([" ", "\t"])) + draw(header_value()))
    eol = draw(st.sampled_from(["\r\n", "\r\n", "\r\n", "\n"]))
    body = draw(st.binary(max_size=40))
    return (eol.join(lines) + eol + eol).encode("utf-8") + body


@FUZZ
@given(assembled_message())
def test_messages_from_generated_header_lines_parse_or_raise_parse_error(data: bytes) -> None:
    parse_or_refuse(data)


# -- 2. generated valid messages round-trip -----------------------------------------

LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)
HOST = (
    st.lists(LABEL, min_size=1, max_size=4).map(".".join)
    | st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t)))
    | st.sampled_from(["[2001:db8::1]", "[::1]", "[2001:db8:0:0:1::5]"])
)
USER = st.text(alphabet="abcXYZ019-_.!~*'()&=+$,;?/", min_size=1, max_size=12) | st.from_regex(
    r"[a-z]{1,4}%[0-9A-F]{2}[a-z]{0,3}", fullmatch=True)
TOKEN = st.text(alphabet=sorted(TOKEN_CHARS), min_size=1, max_size=10)
URI_PARAM_VALUE = st.text(alphabet="abcXYZ019-_.!~*'()[]/:&+$", max_size=10)
URI_PARAMS = st.lists(
    st.tuples(TOKEN, st.none() | URI_PARAM_VALUE), max_size=4).map(tuple)


@st.composite
def sip_uri(draw: st.DrawFn) -> SipUri:
    user = draw(st.none() | USER)
    return SipUri(
        host=draw(HOST),
        user=user,
        password=None if user is None else draw(
            st.none() | st.text(alphabet="abcXYZ019-_.!~*'()&=+$,", max_size=6)),
        port=draw(st.none() | st.integers(0, 65535)),
        params=draw(URI_PARAMS),
        headers=draw(st.none() | st.text(alphabet="abcXYZ019-_.!~*'()[]/?:+$=&", max_size=12)),
        scheme=draw(st.sampled_from(["sip", "sips"])),
    )


ANY_URI = sip_uri() | st.builds(
    TelUri, st.from_regex(r"\+?[0-9][0-9\-.()]{0,12}", fullmatch=True),
    st.lists(st.tuples(TOKEN, st.none() | TOKEN), max_size=2).map(tuple))


@ROUND_TRIP
@given(sip_uri())
def test_generated_sip_uris_round_trip(uri: SipUri) -> None:
    assert parse_uri(str(uri)) == uri


HEADER_PARAM_VALUE = st.none() | TOKEN | st.text(TEXT_CHARS, max_size=8).map(quote)


@st.composite
def address(draw: st.DrawFn) -> Address:
    display = draw(st.none() | st.text(TEXT_CHARS, max_size=15))
    params = draw(st.lists(st.tuples(TOKEN, HEADER_PARAM_VALUE), max_size=3))
    if draw(st.booleans()):
        params.append(("tag", draw(TOKEN)))
    return Address(draw(ANY_URI), display, tuple(params))


@ROUND_TRIP
@given(address())
def test_generated_addresses_round_trip_and_tag_of_agrees(value: Address) -> None:
    text = str(value)
    parsed = parse_address(text)
    assert parsed.uri == value.uri
    assert parsed.params == value.params
    assert parsed.display_name == value.display_name
    assert tag_of(text) == value.tag


@st.composite
def via_value(draw: st.DrawFn) -> str:
    vias = []
    for _ in range(draw(st.integers(1, 3))):
        params = [("branch", "z9hG4bK" + draw(TOKEN))] if draw(st.booleans()) else []
        params += draw(st.lists(st.tuples(TOKEN, HEADER_PARAM_VALUE), max_size=3))
        port = draw(st.none() | st.integers(0, 65535))
        transport = draw(st.sampled_from(["UDP", "TCP", "TLS", "WS", "WSS"]))
        from siplab.sip.headers import Via

        vias.append(str(Via(transport, draw(HOST), port, tuple(params))))
    return draw(st.sampled_from([", ", ",", " ,\t"])).join(vias)


@ROUND_TRIP
@given(via_value())
def test_generated_vias_parse_and_via_branch_agrees(value: str) -> None:
    vias = parse_vias(value)
    assert via_branch(value) == vias[0].branch
    assert [parse_via(str(via)) for via in vias] == vias


def is_content_length(name: str) -> bool:
    return header_key(name) == "content-length"


HEADER_LINE = st.tuples(
    HEADER_NAMES.filter(lambda name: not is_content_length(name)),
    header_value(),
)
METHOD = st.sampled_from(["INVITE", "ACK", "BYE", "CANCEL", "REGISTER", "OPTIONS", "MESSAGE",
                          "SUBSCRIBE", "NOTIFY", "REFER", "INFO", "PRACK", "UPDATE"]) | TOKEN
REASON = st.text(TEXT_CHARS, max_size=30)


@st.composite
def generated_message(draw: st.DrawFn) -> Message:
    headers = Headers(draw(st.lists(HEADER_LINE, max_size=20)))
    if draw(st.booleans()):
        headers.add("Via", draw(via_value()))
    if draw(st.booleans()):
        headers.add("From", str(draw(address())))
    message: Message
    if draw(st.booleans()):
        uri = draw(ANY_URI | st.sampled_from(["mailto:a@b.example", "urn:service:sos"]))
        message = Request(draw(METHOD), uri, headers)
    else:
        message = Response(draw(st.integers(100, 699)), draw(st.none() | REASON), headers)
    body = draw(st.binary(max_size=300))
    if draw(st.booleans()):
        message.set_body(body, draw(st.none() | st.just("application/sdp")))
    else:
        message.body = body  # no Content-Length: a datagram's body is the rest
    return message


@ROUND_TRIP
@given(generated_message())
def test_generated_messages_round_trip(message: Request | Response) -> None:
    data = message.to_bytes()
    assert len(data) <= MAX_MESSAGE_SIZE
    parsed = parse_message(data)
    assert parsed == message
    assert parsed.to_bytes() == data
    read_everything(parsed)


# -- 3. parse_uri on anything ---------------------------------------------------------

URI_TEXT = st.text(max_size=80) | st.builds(
    lambda scheme, rest: scheme + rest,
    st.sampled_from(["sip:", "sips:", "tel:", "SIP:", "mailto:", "x-y:", ""]),
    st.text(alphabet="ab1:@;=?&[]%.-_<>\" ,/+*#()~!'$\t\u00e9", max_size=60),
)


@FUZZ
@given(URI_TEXT)
def test_parse_uri_raises_only_parse_error(text: str) -> None:
    try:
        uri = parse_uri(text)
    except SipParseError:
        return
    assert parse_uri(str(uri)) == uri  # a parsed URI writes back to the same URI


# -- 4. framing does not depend on how the stream is cut ----------------------------


@st.composite
def chunked_stream(draw: st.DrawFn) -> tuple[list[bytes], list[bytes], int]:
    messages = draw(st.lists(st.sampled_from(CORPUS_MESSAGES), min_size=1, max_size=4))
    stream = b""
    for message in messages:
        stream += draw(st.sampled_from([b"", b"", b"\r\n", b"\r\n\r\n", b"\r\n\r\n\r\n"]))
        stream += message
    stream += draw(st.sampled_from([b"", b"\r\n\r\n"]))
    cuts = sorted(draw(st.lists(st.integers(0, len(stream)), max_size=12)))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    return messages, chunks, len(stream)


@ROUND_TRIP
@given(chunked_stream())
def test_framer_yields_the_same_messages_however_the_stream_is_cut(
    case: tuple[list[bytes], list[bytes], int],
) -> None:
    messages, chunks, _ = case
    whole = StreamFramer()
    at_once = whole.feed(b"".join(chunks))
    piecewise = StreamFramer()
    pieces: list[bytes] = []
    for chunk in chunks:
        pieces.extend(piecewise.feed(chunk))
    assert at_once == pieces == messages
    assert whole.pings == piecewise.pings
    assert piecewise.buffered == 0


def test_compact_forms_table_has_one_letter_keys() -> None:
    # The generators above rely on every compact form being one letter.
    assert all(len(short) == 1 for short in COMPACT_FORMS)
