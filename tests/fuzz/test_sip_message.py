"""Fuzzing parse_message and every typed accessor on what it returns (RFC 3261 §7, §20, §25).

The contract (DESIGN.md): any bytes either parse or raise SipParseError; a
parsed message's typed accessors (Call-ID, CSeq, From/To and their tags, Via
and branch, Contact, Route, Max-Forwards, Expires, Content-Length,
validate()...) either answer or raise SipParseError; and
``parse_message(m.to_bytes()) == m``. The oracle is
:func:`tests.fuzz.targets.sip_message`, which the atheris target
``fuzz/fuzz_sip_message.py`` runs for longer.
"""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from tests.fuzz import targets
from tests.fuzz.seeds import seeds, sip_messages
from tests.fuzz.strategies import FUZZ, fuzz_input, troublesome_text

OPTIONS = (b"OPTIONS sip:lab@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1"
           b"\r\nMax-Forwards: 70\r\nFrom: <sip:t@127.0.0.1>;tag=1\r\nTo: <sip:lab@127.0.0.1>\r\n"
           b"Call-ID: c1\r\nCSeq: 1 OPTIONS\r\n")


@FUZZ
@given(fuzz_input(seeds("sip_message")))
# Numbers a parser must not hand to int() as they are: Unicode digits, 4300+ digits.
@example(OPTIONS + "Content-Length: ²\r\n\r\n".encode())
@example(OPTIONS + b"Expires: " + b"9" * 5000 + b"\r\nMax-Forwards: \xd9\xa1\r\n\r\n")
@example(OPTIONS.replace(b"CSeq: 1", b"CSeq: " + b"1" * 4400) + b"\r\n")
@example(OPTIONS.replace(b":5070", b":" + b"5" * 4400) + b"\r\n")
@example(b"SIP/2.0 \xc2\xb200 OK\r\n\r\n")
def test_any_bytes_parse_or_raise_sip_parse_error_and_accessors_answer(data: bytes) -> None:
    targets.sip_message(data)


@st.composite
def corpus_message_with_one_odd_value(draw: st.DrawFn) -> bytes:
    """A corpus message in which one header's value is replaced by troublesome text."""
    message = draw(st.sampled_from(sip_messages()))
    head, _, body = message.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    index = draw(st.integers(1, len(lines) - 1))
    name = lines[index].partition(b":")[0]
    value = draw(troublesome_text()).replace("\r", "").replace("\n", "")
    lines[index] = name + b": " + value.encode("utf-8")
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


@FUZZ
@given(corpus_message_with_one_odd_value())
def test_one_odd_header_value_is_read_or_refused_with_sip_parse_error(data: bytes) -> None:
    targets.sip_message(data)
