"""Key presses in SIP INFO: the ``application/dtmf-relay`` body (RFC 6086, and no RFC at all).

A phone sends DTMF (the tones of its keypad: 0-9, * and #, A-D) in one of two
ways during a call:

* inside the RTP stream, as RFC 4733 telephone-events: :mod:`siplab.rtp.dtmf`;
* as SIP INFO requests in the dialog (RFC 6086 says how INFO carries an
  "info package"; it does not define one for DTMF), whose body names the key.

For the second, almost every PBX reads the body Cisco's phones send, of type
``application/dtmf-relay``, which no RFC defines::

    INFO sip:bob@192.0.2.4 SIP/2.0
    Content-Type: application/dtmf-relay

    Signal=5
    Duration=160

and some send the older ``application/dtmf``, whose body is only the digit
(draft-kaplan-dispatch-info-dtmf). :func:`dtmf_relay_body` writes the first;
:func:`parse_dtmf` reads both into a :class:`DtmfPress`, the same record an
RFC 4733 key press becomes, so an application sees one list of presses.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DTMF_RELAY", "DTMF", "DtmfPress", "dtmf_relay_body", "parse_dtmf"]

#: The INFO body type most PBXs use for key presses (Cisco's, no RFC): ``Signal=5``.
DTMF_RELAY = "application/dtmf-relay"
#: The older INFO body type whose body is only the digit (draft-kaplan-dispatch-info-dtmf).
DTMF = "application/dtmf"

#: What the ``Signal=`` of application/dtmf-relay may name; 10 and 11 are * and # in some PBXs.
_SIGNALS = {**{d: d for d in "0123456789*#ABCD"}, "10": "*", "11": "#",
            **{d.lower(): d for d in "ABCD"}}


@dataclass(frozen=True, slots=True)
class DtmfPress:
    """One key press received: the digit, how it came (``"info"`` or ``"rfc4733"``), and how
    long it was held in ms, when the sender said."""

    digit: str
    method: str = "info"
    duration_ms: int | None = None


def dtmf_relay_body(digit: str, duration_ms: int = 160) -> bytes:
    """The application/dtmf-relay body for one key press: ``Signal=5\\r\\nDuration=160\\r\\n``."""
    if len(digit) != 1 or digit.upper() not in "0123456789*#ABCD":
        raise ValueError(f"a DTMF digit is one of 0-9 * # A-D, not {digit!r}")
    return f"Signal={digit.upper()}\r\nDuration={duration_ms}\r\n".encode("ascii")


def parse_dtmf(body: bytes, content_type: str | None) -> DtmfPress | None:
    """The key press an INFO carries (``application/dtmf-relay`` or ``application/dtmf``).

    Returns ``None`` for any other body, or one that names no digit.
    """
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    text = body.decode("utf-8", "replace")
    if kind == DTMF:
        digit = _SIGNALS.get(text.strip())
        return DtmfPress(digit) if digit is not None else None
    if kind != DTMF_RELAY:
        return None
    fields: dict[str, str] = {}
    for line in text.splitlines():
        name, equals, value = line.partition("=")
        if equals:
            fields[name.strip().lower()] = value.strip()
    digit = _SIGNALS.get(fields.get("signal", ""))
    if digit is None:
        return None
    duration = fields.get("duration", "")
    # ASCII digits, at most 6 (over 16 minutes): int() refuses "²", which isdigit() accepts.
    return DtmfPress(digit, "info", _ascii_number(duration, 6))


def _ascii_number(text: str, max_digits: int) -> int | None:
    """``text`` as a number when it is 1 to ``max_digits`` ASCII digits, else None."""
    if 0 < len(text) <= max_digits and text.isascii() and text.isdigit():
        return int(text)
    return None
