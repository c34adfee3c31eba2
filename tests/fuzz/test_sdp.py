"""Fuzzing the SDP parser and offer/answer on what it reads (RFC 8866 §5, RFC 3264 §6).

Any bytes either parse or raise SdpParseError (→ 400); what parses reads
through every typed view, writes back to an equal description, and is
answered (as an offer, with plain and WebRTC capabilities) or refused with
NegotiationError (→ 488), and read as the answer to our own offer with the
same two errors only. Oracle: :func:`tests.fuzz.targets.sdp` (atheris:
``fuzz/fuzz_sdp.py``).
"""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from tests.fuzz import targets
from tests.fuzz.seeds import sdp_texts, seeds
from tests.fuzz.strategies import QUICK, fuzz_input, troublesome_text

BASE = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
AUDIO = b"m=audio 4000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n"


@QUICK
@given(fuzz_input(seeds("sdp")))
# int() of 4300+ digits raised ValueError from the o=, t=, b=, m= and a=rtpmap lines,
# and float() of 400 nines is infinity, which int() refused with OverflowError (a=ptime).
@example(BASE.replace(b"o=- 1 1", b"o=- 1 " + b"9" * 5000))
@example(BASE.replace(b"t=0 0", b"t=" + b"9" * 5000 + b" 0"))
@example(BASE + b"b=AS:" + b"9" * 5000 + b"\r\n")
@example(BASE + b"m=audio " + b"9" * 5000 + b" RTP/AVP 0\r\n")
@example(BASE + b"m=audio 4000/" + b"9" * 5000 + b" RTP/AVP 0\r\n")
@example(BASE + AUDIO + b"a=ptime:" + b"9" * 400 + b"\r\n")
@example(BASE + AUDIO + b"a=rtpmap:0 PCMU/" + b"9" * 5000 + b"\r\n")
@example(BASE + AUDIO + b"a=rtcp:" + b"9" * 5000 + b"\r\n")
# The same for the typed views and the answerer: a format or an SSRC of 4300+ digits.
@example(BASE + b"m=audio 4000 RTP/AVP 0 " + b"9" * 5000 + b"\r\n")
@example(BASE + AUDIO + b"a=ssrc:" + b"9" * 5000 + b" cname:x\r\n")
# A telephone-event payload type listed twice on the m= line: the answerer left the
# second one without a decision and raised KeyError.
@example(BASE + b"m=audio 4000 RTP/AVP 0 101 101\r\na=rtpmap:101 telephone-event/8000\r\n")
@example(BASE + b"m=audio 4000 RTP/AVP 101 101\r\na=rtpmap:101 telephone-event/8000\r\n")
def test_any_bytes_are_a_description_or_sdp_parse_error_and_negotiate_cleanly(
    data: bytes,
) -> None:
    targets.sdp(data)


@st.composite
def sample_with_one_odd_field(draw: st.DrawFn) -> bytes:
    """A real description in which one line keeps its type and gets a troublesome value."""
    lines = draw(st.sampled_from(sdp_texts())).split(b"\r\n")
    index = draw(st.integers(1, max(1, len(lines) - 2)))
    kind = lines[index][:2] or b"a="
    value = draw(troublesome_text()).replace("\r", "").replace("\n", "")
    keep = lines[index][2:].split(b" ")
    if draw(st.booleans()) and keep:  # replace one field of the line, or the whole value
        keep[draw(st.integers(0, len(keep) - 1))] = value.encode("utf-8")
        lines[index] = kind + b" ".join(keep)
    else:
        lines[index] = kind + value.encode("utf-8")
    return b"\r\n".join(lines)


@QUICK
@given(sample_with_one_odd_field())
def test_one_odd_field_in_a_real_description_is_read_or_refused(data: bytes) -> None:
    targets.sdp(data)
