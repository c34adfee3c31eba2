"""Putting a call on hold: the SDP direction attribute, flipped in a re-INVITE (RFC 3264 §8.4).

A call is put on hold by sending a new offer in a re-INVITE (RFC 3261 §14)
whose media direction says "I will not listen any more"::

    a=sendrecv   normal call: both sides send and receive
    a=sendonly   hold: I keep sending (music on hold) but do not expect media
    a=recvonly   the answer to sendonly: I only receive
    a=inactive   nobody sends anything

The callee answers with the mirror image (RFC 3264 §6.1: sendonly is
answered recvonly, recvonly sendonly, inactive inactive), and taking the
call off hold is another re-INVITE with ``a=sendrecv``. Each new offer
increments the version number in the ``o=`` line (RFC 3264 §8).

These helpers edit only those lines of an SDP body; the full offer/answer
model (codecs, ports) is :mod:`siplab.sdp`'s job and comes with the media.
When a call has no SDP at all, :func:`minimal_sdp` writes a small audio
offer whose port 9 (discard) says no real media stream is behind it yet.
"""

from __future__ import annotations

__all__ = ["DIRECTIONS", "direction_of", "with_direction", "answer_direction", "minimal_sdp"]

#: The four direction attributes (RFC 3264 §5.1, RFC 4566 §6).
DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")

_MIRROR = {"sendonly": "recvonly", "recvonly": "sendonly", "inactive": "inactive"}


def _lines(body: bytes) -> list[str]:
    return body.decode("utf-8", "replace").splitlines()


def _is_direction(line: str) -> bool:
    return line.startswith("a=") and line[2:].strip() in DIRECTIONS


def direction_of(body: bytes) -> str | None:
    """The first direction attribute in an SDP body (None: none, which means sendrecv)."""
    for line in _lines(body):
        if _is_direction(line):
            return line[2:].strip()
    return None


def answer_direction(offered: str | None) -> str:
    """The direction that answers ``offered`` (RFC 3264 §6.1): sendonly -> recvonly..."""
    return _MIRROR.get(offered or "sendrecv", "sendrecv")


def with_direction(body: bytes, direction: str) -> bytes:
    """``body`` with every direction attribute set to ``direction`` and the o= version + 1.

    If the body has no direction attribute, one is added to every media
    section (or at the end, when there is no ``m=`` line).
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"a direction is one of {', '.join(DIRECTIONS)}, not {direction!r}")
    lines = _lines(body)
    found = any(_is_direction(line) for line in lines)
    out: list[str] = []
    in_media = False
    for line in lines:
        if line.startswith("m=") and in_media and not found:
            out.append(f"a={direction}")  # close the previous media section
        if line.startswith("m="):
            in_media = True
        if _is_direction(line):
            out.append(f"a={direction}")
        elif line.startswith("o="):
            out.append(_next_version(line))
        else:
            out.append(line)
    if not found:
        out.append(f"a={direction}")
    return ("\r\n".join(out) + "\r\n").encode("utf-8")


def _next_version(origin: str) -> str:
    """``o=- 123 1 IN IP4 ...`` -> ``o=- 123 2 IN IP4 ...`` (RFC 3264 §8)."""
    fields = origin.split(" ")
    # ASCII digits only and at most 20 (RFC 4566: a 64-bit number): int() refuses "²",
    # which isdigit() accepts, and a 5,000-digit version would be slow to convert.
    version = fields[2] if len(fields) >= 3 else ""
    if 0 < len(version) <= 20 and version.isascii() and version.isdigit():
        fields[2] = str(int(version) + 1)
    return " ".join(fields)


def minimal_sdp(direction: str = "sendrecv", host: str = "127.0.0.1",
                session_id: int = 0) -> bytes:
    """A small audio offer (PCMU) with ``direction``, for calls that had no SDP."""
    family = "IP6" if ":" in host else "IP4"
    lines = [
        "v=0",
        f"o=- {session_id} 1 IN {family} {host}",
        "s=siplab",
        f"c=IN {family} {host}",
        "t=0 0",
        "m=audio 9 RTP/AVP 0",
        "a=rtpmap:0 PCMU/8000",
        f"a={direction}",
    ]
    return ("\r\n".join(lines) + "\r\n").encode("ascii")
