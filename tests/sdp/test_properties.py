"""Properties of the SDP layer, checked on generated input (RFC 8866 §5, RFC 3264 §6).

1. Any text either parses or raises SdpParseError, nothing else; what parses
   writes back to text that parses to an equal description, and every typed
   view (codecs, candidates, directions, ...) reads it without raising.
   Inputs: random text, and the real-world samples with lines deleted,
   duplicated, swapped and characters replaced.
2. Generated SessionDescriptions survive ``parse(str(sd)) == sd``.
3. Any offer is either answered or refused with NegotiationError; an answer
   has one m-line per offered one (§6), accepted streams list only offered
   formats, directions are mirrored, and the answer itself round-trips.

The budget is bounded (a few hundred examples per property) so the file runs
in seconds.
"""

from __future__ import annotations

import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from siplab.sdp import (
    Attribute,
    Bandwidth,
    Capabilities,
    Connection,
    Direction,
    MediaDescription,
    NegotiationError,
    Origin,
    SdpParseError,
    SessionDescription,
    Timing,
    negotiate,
    parse,
)
from tests.sdp import samples

SAMPLES = [getattr(samples, name) for name in samples.__all__ if name != "sdp"]

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ROUND_TRIP = settings(
    max_examples=200, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def read_everything(sd: SessionDescription) -> None:
    """Touch every typed view the way a user agent or a notebook would."""
    _ = (sd.groups, sd.is_webrtc, sd.direction_attribute)
    for media in sd.media:
        _ = (
            media.codecs, media.rtpmaps, media.payload_types, media.direction, media.ptime,
            media.maxptime, media.rtcp_mux, media.rtcp_port, media.mid, media.ssrcs,
            media.ice_ufrag, media.ice_pwd, media.candidates, media.fingerprint, media.setup,
            sd.direction_of(media), sd.connection_of(media),
        )
        for codec in media.codecs:
            _ = (codec.encoding, codec.fmtp_params, codec.label)


def check_parse(text: str) -> None:
    try:
        sd = parse(text)
    except SdpParseError:
        return
    read_everything(sd)
    assert parse(str(sd)) == sd


# --- 1. anything parses or raises SdpParseError -------------------------------------

LINE_PIECES = st.sampled_from([
    "v=0", "v=1", "o=- 1 1 IN IP4 192.0.2.1", "o=- x y", "s=-", "s=", "c=IN IP4 192.0.2.1",
    "c=IN", "t=0 0", "t=a b", "r=7d 1h", "b=AS:64", "b=AS:x", "m=audio 4000 RTP/AVP 0 8",
    "m=audio 0 RTP/AVP 0", "m=video x RTP/AVP 31", "m=audio 99999 RTP/AVP 0", "a=sendonly",
    "a=rtpmap:0 PCMU/8000", "a=rtpmap:96 opus", "a=rtpmap:200 x/1", "a=fmtp:101 0-15",
    "a=ptime:20", "a=ptime:x", "a=rtcp:9 IN IP4 0.0.0.0", "a=candidate:1 1 udp 1 h 9 typ host",
    "a=candidate:x", "a=fingerprint:sha-256", "a=ssrc:x", "a=group:BUNDLE", "a=", "a=:",
    "x=1", "", " ", "=", "m=", "i=\u00e9", "z=0 -1h",
])


@FUZZ
@given(st.text(max_size=400))
def test_random_text_parses_or_raises_sdp_parse_error(text: str) -> None:
    check_parse(text)


@FUZZ
@given(st.lists(LINE_PIECES, max_size=14), st.sampled_from(["\r\n", "\n"]))
def test_shuffled_sdp_lines_parse_or_raise_sdp_parse_error(lines: list[str], end: str) -> None:
    check_parse(end.join(["v=0", *lines]) + end)


@FUZZ
@given(st.sampled_from(SAMPLES), st.data())
def test_damaged_samples_parse_or_raise_sdp_parse_error(sample: str, data: st.DataObject) -> None:
    lines = sample.split("\r\n")[:-1]
    for _ in range(data.draw(st.integers(1, 4))):
        where = data.draw(st.integers(0, len(lines) - 1))
        match data.draw(st.sampled_from(["delete", "duplicate", "swap", "char"])):
            case "delete" if len(lines) > 1:
                del lines[where]
            case "duplicate":
                lines.insert(where, lines[where])
            case "swap":
                other = data.draw(st.integers(0, len(lines) - 1))
                lines[where], lines[other] = lines[other], lines[where]
            case "char" if lines[where]:
                at = data.draw(st.integers(0, len(lines[where]) - 1))
                char = data.draw(st.sampled_from(" =:/x0\t\u00e9\x00"))
                lines[where] = lines[where][:at] + char + lines[where][at + 1:]
            case _:
                pass
    check_parse("\r\n".join(lines) + "\r\n")


# --- 2. generated descriptions round-trip -------------------------------------------

TOKEN = st.text(alphabet=string.ascii_letters + string.digits + "-._+/*", min_size=1, max_size=10)
TEXT = st.text(
    st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)), max_size=16
)
NUMBER = st.integers(0, 2**40)
#: Attributes siplab checks while parsing: generated separately, well formed.
CHECKED = {"rtpmap", "fmtp", "ptime", "maxptime", "rtcp"}

ATTRIBUTE = st.one_of(
    st.builds(
        Attribute,
        TOKEN.filter(lambda name: ":" not in name and name not in CHECKED),
        st.none() | TEXT,
    ),
    st.builds(
        lambda pt, name, rate: Attribute("rtpmap", f"{pt} {name}/{rate}"),
        st.integers(0, 127), TOKEN.filter(lambda t: "/" not in t), st.integers(1, 96000),
    ),
    st.builds(lambda ms: Attribute("ptime", str(ms)), st.integers(1, 200)),
    st.builds(lambda pt, p: Attribute("fmtp", f"{pt} {p}"), st.integers(0, 127), TEXT),
    st.sampled_from([Attribute(d.value) for d in Direction]),
)
CONNECTION = st.builds(Connection, TOKEN, TOKEN, TOKEN)
BANDWIDTH = st.builds(Bandwidth, TOKEN, NUMBER)
MEDIA = st.builds(
    MediaDescription,
    media=TOKEN,
    port=st.integers(0, 65535),
    proto=TOKEN,
    formats=st.lists(TOKEN, min_size=1, max_size=5),
    port_count=st.none() | st.integers(1, 8),
    information=st.none() | TEXT,
    connections=st.lists(CONNECTION, max_size=2),
    bandwidths=st.lists(BANDWIDTH, max_size=2),
    key=st.none() | TEXT,
    attributes=st.lists(ATTRIBUTE, max_size=6),
)


def with_connections(sd: SessionDescription) -> SessionDescription:
    """RFC 8866 §5.7: a stream with a port needs a c= line somewhere."""
    for media in sd.media:
        if media.port != 0 and not media.connections and sd.connection is None:
            media.connections.append(Connection("192.0.2.1"))
    return sd


DESCRIPTION = st.builds(
    SessionDescription,
    origin=st.builds(Origin, TOKEN, TOKEN, NUMBER, TOKEN, TOKEN, TOKEN),
    name=TEXT,
    information=st.none() | TEXT,
    uri=st.none() | TEXT,
    emails=st.lists(TEXT, max_size=2),
    phones=st.lists(TEXT, max_size=2),
    connection=st.none() | CONNECTION,
    bandwidths=st.lists(BANDWIDTH, max_size=2),
    times=st.lists(
        st.builds(Timing, NUMBER, NUMBER, st.lists(TEXT, max_size=2).map(tuple)), max_size=2
    ),
    zone=st.none() | TEXT,
    key=st.none() | TEXT,
    attributes=st.lists(ATTRIBUTE, max_size=5),
    media=st.lists(MEDIA, max_size=4),
).map(with_connections)


@ROUND_TRIP
@given(DESCRIPTION)
def test_generated_descriptions_round_trip(sd: SessionDescription) -> None:
    text = str(sd)
    assert parse(text) == sd
    assert str(parse(text)) == text
    assert parse(text.replace("\r\n", "\n")) == sd
    read_everything(sd)


# --- 3. any offer is answered or refused, and the answer follows RFC 3264 §6 ---------

OFFERED_CODECS = [
    "PCMU/8000", "PCMA/8000", "G722/8000", "opus/48000/2", "opus/48000/1", "GSM/8000",
    "telephone-event/8000", "telephone-event/48000", "VP8/90000", "H264/90000", "iLBC/8000",
]


@st.composite
def offered_streams(draw: st.DrawFn) -> MediaDescription:
    # Weighted towards what is usually accepted, so both outcomes are exercised.
    media = draw(st.sampled_from(["audio"] * 4 + ["video", "application", "image"]))
    proto = draw(st.sampled_from(["RTP/AVP"] * 4 + ["RTP/SAVP", "UDP/TLS/RTP/SAVPF"]))
    picks = draw(st.lists(st.sampled_from(OFFERED_CODECS), min_size=1, max_size=5))
    pts = draw(st.lists(st.integers(0, 127), min_size=len(picks), max_size=len(picks),
                        unique=True))
    attributes = [Attribute("rtpmap", f"{pt} {name}") for pt, name in zip(pts, picks, strict=True)]
    if draw(st.booleans()):
        attributes.append(Attribute(draw(st.sampled_from([d.value for d in Direction]))))
    port = draw(st.sampled_from([0, 4000, 5004, 6000]))
    return MediaDescription(media, port, proto, [str(pt) for pt in pts], attributes=attributes)


OFFER = st.builds(
    SessionDescription,
    origin=st.just(Origin("-", "1", 1, "192.0.2.7")),
    connection=st.just(Connection("192.0.2.7")),
    media=st.lists(offered_streams(), max_size=4),
)
CAPABILITIES = st.builds(
    Capabilities,
    audio=st.lists(st.sampled_from(["opus", "G722", "PCMU", "PCMA", "iLBC/8000"]),
                   unique=True, max_size=4).map(tuple),
    telephone_event=st.booleans(),
    video=st.sampled_from([(), ("VP8",)]),
    accept_webrtc=st.booleans(),
    single_codec=st.booleans(),
)


@ROUND_TRIP
@given(OFFER, CAPABILITIES, st.sampled_from(list(Direction)))
def test_any_offer_is_answered_by_the_rules_or_refused(
    offer: SessionDescription, caps: Capabilities, ours: Direction
) -> None:
    try:
        negotiation = negotiate(offer, caps, direction=ours)
    except NegotiationError as error:
        refused = error.negotiation
        assert refused is not None
        assert not refused.accepted  # 488 only when no stream at all can be accepted
        return
    answer = negotiation.answer
    assert parse(str(answer)) == answer
    assert len(answer.media) == len(offer.media)
    for offered, answered, stream in zip(offer.media, answer.media, negotiation.streams,
                                         strict=True):
        assert (answered.media, answered.proto) == (offered.media, offered.proto)
        assert stream.accepted == (answered.port != 0)
        if answered.port == 0:
            continue
        assert set(answered.formats) <= set(offered.formats)
        if stream.parameters is not None:
            expected = offer.direction_of(offered).reversed().restrict(ours)
            assert answer.direction_of(answered) is expected
            assert stream.parameters.payload_type == int(answered.formats[0])
