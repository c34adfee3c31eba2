"""Byte mutations for fuzzing: the same damage for hypothesis, atheris and the flood test.

A parser is rarely broken by random bytes: most of them fail on the first
character. What breaks parsers is *almost* valid input: a real message with
one number made enormous, a quote left open, a CRLF where none belongs, a
Unicode digit where an ASCII one was expected (``"²".isdigit()`` is true,
``int("²")`` is an error). :data:`TOKENS` is that dictionary of troublemakers,
and :func:`mutate` applies a few of them, plus flips, deletions, duplicated
and swapped lines, to a seed such as a corpus message.

Standard library only: ``fuzz/_harness.py`` uses it as its fallback mutator
and ``tests/torture/test_flood.py`` to make its 10,000 datagrams.
"""

from __future__ import annotations

import random

__all__ = ["TOKENS", "MUTATIONS", "mutate", "apply_mutation"]

#: Fragments that tend to break parsers: SIP and SDP punctuation, line ends,
#: numbers too large for int() or for their field, non-ASCII digits, NUL.
TOKENS: tuple[bytes, ...] = (
    b"\r\n", b"\n", b"\r", b"\r\n\r\n", b"\r\n ", b"\r\n\t", b" ", b"\t", b"  ",
    b",", b";", b":", b"=", b'"', b"\\", b"<", b">", b"[", b"]", b"@", b"?", b"&", b"%",
    b"%00", b"%zz", b"/", b"*", b"#", b"+", b"-", b".", b"..", b"\x00", b"\x7f", b"\xff",
    b"\xc3\xa9", b"\xc2\xb2", b"\xd9\xa1", b"\xef\xbc\x91", b"\xe2\x80\xa8",
    b"0", b"-1", b"65536", b"4294967296", b"2147483648", b"99999999999",
    b"9" * 25, b"1" * 4400, b"1." + b"9" * 400, b"9" * 400 + b".0", b"0x10", b"1e999",
    b"SIP/2.0", b"SIP/7.0", b"sip:", b"sips:", b"tel:", b"urn:x", b"sip:a@[::1]:5060",
    b"Content-Length: ", b"l: ", b"Via: SIP/2.0/UDP h;branch=z9hG4bK1", b"v: ",
    b";tag=", b";branch=", b";rport", b";received=", b";lr", b";transport=tcp",
    b"Digest ", b'realm="', b"nonce=", b"nc=00000001", b"qop=auth",
    b"v=0", b"m=audio ", b"a=rtpmap:", b"a=fmtp:", b"a=ptime:", b"c=IN IP4 ",
    b"RTP/AVP", b"telephone-event/8000",
)

#: The kinds of damage :func:`mutate` does.
MUTATIONS = ("flip", "insert_token", "replace_token", "insert_random", "delete",
             "duplicate", "duplicate_line", "swap_lines", "drop_line_end", "truncate",
             "repeat_token", "case")


def apply_mutation(data: bytearray, kind: str, rng: random.Random) -> bytearray:
    """Apply one mutation of ``kind`` to ``data`` (in place when it can) and return it."""
    size = len(data)
    at = rng.randrange(size + 1)
    if kind == "flip" and size:
        data[min(at, size - 1)] ^= 1 << rng.randrange(8)
    elif kind == "insert_token":
        data[at:at] = rng.choice(TOKENS)
    elif kind == "replace_token":
        data[at : at + rng.randrange(1, 12)] = rng.choice(TOKENS)
    elif kind == "insert_random":
        data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 9)))
    elif kind == "delete":
        del data[at : at + rng.randrange(1, 24)]
    elif kind == "duplicate" and size:
        start = rng.randrange(size)
        piece = data[start : start + rng.randrange(1, 64)]
        data[at:at] = piece * rng.randrange(1, 4)
    elif kind == "repeat_token":
        data[at:at] = rng.choice(TOKENS) * rng.randrange(2, 300)
    elif kind == "truncate":
        del data[at:]
    elif kind == "case" and size:
        start = rng.randrange(size)
        data[start : start + 16] = bytes(data[start : start + 16]).swapcase()
    elif kind in ("duplicate_line", "swap_lines", "drop_line_end"):
        lines = bytes(data).split(b"\r\n")
        i = rng.randrange(len(lines))
        if kind == "duplicate_line":
            lines[i:i] = [lines[i]] * rng.choice((1, 1, 2, 50))
        elif kind == "swap_lines":
            j = rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
        elif i + 1 < len(lines):
            lines[i : i + 2] = [lines[i] + lines[i + 1]]
        data = bytearray(b"\r\n".join(lines))
    return data


def mutate(seed: bytes, rng: random.Random, rounds: int | None = None,
           max_size: int = 70_000) -> bytes:
    """``seed`` with 1-5 (or ``rounds``) random mutations, capped at ``max_size`` bytes."""
    data = bytearray(seed)
    for _ in range(rounds if rounds is not None else rng.randint(1, 5)):
        data = apply_mutation(data, rng.choice(MUTATIONS), rng)
        if len(data) > max_size:
            del data[max_size:]
    return bytes(data)
