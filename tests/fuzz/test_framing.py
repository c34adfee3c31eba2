"""Fuzzing the stream framer with random chunking (RFC 3261 §18.3, RFC 5626 §3.5.1).

The same bytes fed whole or cut anywhere give the same outcome: the same
messages and the same bytes left buffered, or SipParseError in both cases
(Content-Length missing, not a number, over the limit; headers that never
end). Every framed message then goes through the message oracle. Oracle:
:func:`tests.fuzz.targets.stream_framer` (atheris: ``fuzz/fuzz_stream_framer.py``).
"""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from tests.fuzz import targets
from tests.fuzz.seeds import seeds, sip_messages
from tests.fuzz.strategies import FUZZ, fuzz_input

CUTS = st.binary(min_size=8, max_size=8)


@st.composite
def stream_of_corpus_messages(draw: st.DrawFn) -> bytes:
    parts = [draw(CUTS)]
    for message in draw(st.lists(st.sampled_from(sip_messages()), min_size=1, max_size=4)):
        parts.append(draw(st.sampled_from([b"", b"\r\n", b"\r\n\r\n", b"\r", b"\n"])))
        parts.append(message)
    return b"".join(parts)


@FUZZ
@given(fuzz_input(seeds("stream_framer"), max_random=300) | stream_of_corpus_messages())
@example(b"\x00" * 8 + b"OPTIONS sip:a SIP/2.0\r\nl: " + b"9" * 5000 + b"\r\n\r\n")
@example(b"\x03" * 8 + b"OPTIONS sip:a SIP/2.0\r\nContent-Length: \xc2\xb2\r\n\r\n")
@example(b"\x01" * 8 + b"\r\n\r" + b"\n\r\n" * 3 + b"X" * 3000)
def test_a_stream_cut_anywhere_frames_like_the_whole_stream(data: bytes) -> None:
    targets.stream_framer(data)
