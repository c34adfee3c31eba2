"""Numbers read from the network reach int() only as short ASCII digit strings.

Python's ``int()`` refuses strings of over 4300 digits (ValueError), and
``str.isdigit()`` is true for ``"²"`` (and for other scripts' digits), which
``int()`` refuses too.
A peer can put either wherever SIP carries a number. These helpers read such
numbers outside the message parser, and each was found raising ValueError:

* the ``flow=`` token of a Route the proxy reads back (RFC 5626 flows,
  ``siplab.sip.routing.parse_flow_token``);
* the status in a ``message/sipfrag`` NOTIFY body after a REFER (RFC 3420,
  RFC 3515 §2.4.5; ``siplab.sip.invite_midcall.sipfrag_status``);
* ``Min-Expires`` of a 423 and the ``expires`` a registrar grants in its 200
  (RFC 3261 §10.2.8, §10.2.4; ``siplab.sip.registration``);
* the ``Duration=`` of a DTMF INFO (RFC 6086, ``siplab.call.parse_dtmf``), the
  code of a Warning header (§20.43, ``siplab.call.parse_warnings``) and the
  version in an SDP ``o=`` line that a hold re-INVITE counts up (RFC 3264 §8,
  ``siplab.aio.hold.with_direction``).

Now they read such a value as absent, and the user agent goes on.
"""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from siplab.aio.hold import with_direction
from siplab.call import parse_dtmf, parse_warnings
from siplab.lab import SimNetwork
from siplab.sip.events import Registered, RegistrationFailed
from siplab.sip.invite_midcall import sipfrag_status
from siplab.sip.message import Request, Response
from siplab.sip.registration import Registration, RegistrationState
from siplab.sip.routing import parse_flow_token
from siplab.sip.transaction import ServerTransaction
from tests.fuzz.strategies import FUZZ, token_text
from tests.sip.ladders import drain, phone
from tests.sip.scripted import ScriptedEndpoint

#: Digit strings int() refuses or that overflow their field.
HOSTILE_NUMBERS = ["²", "١٢٣", "9" * 5000, "99999999999", "-1", "", "1e3", "0x10", "٣٦٠٠"]
NUMBER_TEXT = st.sampled_from(HOSTILE_NUMBERS) | token_text(4) | st.text(max_size=12)


@FUZZ
@given(st.sampled_from(["udp", "tcp", "ws", "x"]), NUMBER_TEXT, NUMBER_TEXT)
@example("udp", "192.0.2.1", "²")
@example("ws", "[2001:db8::1]", "9" * 5000)
@example("tcp", "192.0.2.1", "99999999999")
def test_flow_token_gives_a_peer_with_a_real_port_or_none(
    transport: str, host: str, port: str,
) -> None:
    peer = parse_flow_token(f"{transport}:{host}:{port}")
    assert peer is None or 0 <= peer.port <= 65535


@FUZZ
@given(NUMBER_TEXT)
@example("²00")
@example("2" * 5000)
def test_sipfrag_status_is_a_status_code_or_none(code: str) -> None:
    status = sipfrag_status(f"SIP/2.0 {code} OK\r\n".encode())
    assert status is None or 0 <= status <= 999  # three digits; callers read 0 as 500


@FUZZ
@given(NUMBER_TEXT.filter(lambda text: "\r" not in text and "\n" not in text
                          and "\x00" not in text))
@example("²")
@example("9" * 5000)
def test_min_expires_is_a_number_or_none(value: str) -> None:
    response = Response(423, headers=[("Min-Expires", value)])
    minimum = Registration._min_expires(response)
    assert minimum is None or minimum >= 0


REGISTRAR_HOST = "10.0.0.9"


def register_against(answer: int, header: str, value: str) -> tuple[list[object], Registration]:
    """Alice registers with a registrar that answers ``answer`` carrying ``value``."""

    def handler(endpoint: ScriptedEndpoint, request: Request,
                transaction: ServerTransaction | None, now: float) -> None:
        if transaction is None:
            return
        if header == "Contact":  # the 200 grants the binding with this expires
            contact = request.contact[0].with_param("expires", value)
            endpoint.answer(transaction, answer, now, headers=[("Contact", str(contact))])
        else:
            endpoint.answer(transaction, answer, now, headers=[(header, value)])

    net = SimNetwork(delay=0.01)
    net.add(ScriptedEndpoint(handler), REGISTRAR_HOST, 5060, name="registrar")
    alice = phone(net, "alice", domain=REGISTRAR_HOST)
    registration = alice.register(net.now)
    net.run_until(2.0)
    return list(drain(alice)), registration


@pytest.mark.parametrize("value", ["²", "9" * 5000, "١٢٠"])
def test_granted_expires_that_is_no_number_falls_back_to_what_was_asked(value: str) -> None:
    events, registration = register_against(200, "Contact", value)
    assert any(isinstance(event, Registered) for event in events)
    assert registration.state is RegistrationState.Registered
    assert registration.expires_granted == registration.expires


@pytest.mark.parametrize("value", ["²", "9" * 5000])
def test_423_whose_min_expires_is_no_number_fails_the_registration(value: str) -> None:
    events, registration = register_against(423, "Min-Expires", value)
    assert any(isinstance(event, RegistrationFailed) for event in events)
    assert registration.state is RegistrationState.Failed


@FUZZ
@given(NUMBER_TEXT)
@example("²")
@example("9" * 5000)
def test_dtmf_duration_is_a_number_or_none(value: str) -> None:
    press = parse_dtmf(f"Signal=5\r\nDuration={value}\r\n".encode(), "application/dtmf-relay")
    assert press is not None
    assert press.digit == "5"
    assert press.duration_ms is None or 0 <= press.duration_ms < 10**6


@FUZZ
@given(NUMBER_TEXT)
@example("²²²")
@example("٣٠٥")
def test_warning_code_is_three_ascii_digits_or_the_warning_is_skipped(code: str) -> None:
    for found, _, _ in parse_warnings(f'{code} siplab "text"'):
        assert 0 <= found <= 999


@FUZZ
@given(NUMBER_TEXT)
@example("²")
@example("9" * 5000)
def test_hold_counts_up_an_sdp_version_only_when_it_is_a_number(version: str) -> None:
    body = f"v=0\r\no=- 1 {version} IN IP4 192.0.2.1\r\ns=-\r\n".encode()
    held = with_direction(body, "sendonly").decode()
    assert "a=sendonly" in held
    if version.isascii() and version.isdigit() and len(version) <= 20:
        assert f"o=- 1 {int(version) + 1} IN" in held
