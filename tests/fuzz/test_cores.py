"""Fuzzing the sans-I/O cores behind the parsers: the lab server and the user agent.

A parser that refuses bad input is only half of it: the code that reads a
parsed message's values must cope too (RFC 3261 §8.2 and §16.3: a request
that cannot be used is answered, never raised out of the core). Here the
cores get damaged messages straight from the "network", in memory:

* ``ServerCore`` (registrar and proxy), open and with digest accounts, gets
  any bytes, then its timers run out;
* a ``UserAgentCore`` that registers or calls gets the answer to its own
  request with one header value replaced by troublesome text (Contact
  ``expires``, Expires, Min-Expires, WWW-Authenticate, Record-Route, RSeq,
  Content-Type and SDP...), which is where the registration bugs of
  tests/fuzz/test_numbers_from_the_network.py lived;
* an auto-answering user agent gets damaged requests (INVITE with damaged
  SDP, BYE, OPTIONS...).

Nothing may raise out of ``receive_datagram`` or ``handle_timer``: an INVITE
or a 3xx whose Contact does not parse is answered 400 (or ends the call), and
a call whose remote target cannot be reached (``transport=ws`` on a ``.invalid``
host, in an INVITE that came over UDP) ends with the cause ``"unreachable"``.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from siplab.ids import IdSource
from siplab.sip.build import build_response
from siplab.sip.message import Request, parse_message
from siplab.sip.server import ServerConfig, ServerCore
from siplab.sip.transport import Peer
from siplab.sip.useragent import UserAgentConfig, UserAgentCore
from tests.fuzz.seeds import sdp_texts, sip_messages
from tests.fuzz.strategies import QUICK, fuzz_input, troublesome_text

SERVER = Peer("192.0.2.1", 5060)
PHONE = Peer("192.0.2.20", 5060)
SENDER = Peer("192.0.2.9", 5070)
ODD_HEADERS = ["Contact", "Expires", "Min-Expires", "WWW-Authenticate", "Proxy-Authenticate",
               "Record-Route", "Route", "RSeq", "Require", "Supported", "Content-Type",
               "Retry-After", "Allow", "Session-Expires", "Via", "CSeq", "Call-ID", "From",
               "To", "Max-Forwards", "Content-Length"]


def run_out(core: ServerCore | UserAgentCore, now: float) -> None:
    """Drain what the core sends and reports, then let every timer fire."""
    for later in (now, now + 40.0, now + 400.0, now + 4000.0):
        core.handle_timer(later)
        core.datagrams_to_send()
        while core.next_event() is not None:
            pass


def server(open_mode: bool) -> ServerCore:
    config = ServerConfig(listen=(SERVER,), domains=("example.com",),
                          users=None if open_mode else {"alice": "secret"})
    return ServerCore(config, ids=IdSource("fuzz-server"))


def phone(**options: object) -> UserAgentCore:
    config = UserAgentConfig(aor="sip:alice@192.0.2.1", local=PHONE, password="secret",
                             **options)  # type: ignore[arg-type]
    return UserAgentCore(config, ids=IdSource("fuzz-phone"))


@QUICK
@given(fuzz_input(sip_messages()), st.booleans())
def test_server_core_takes_any_bytes_without_raising(data: bytes, open_mode: bool) -> None:
    core = server(open_mode)
    core.receive_datagram(data, SENDER, 1.0)
    run_out(core, 1.0)


def sent_request(core: UserAgentCore) -> Request:
    data = [d for d, _ in core.datagrams_to_send()]
    request = parse_message(data[-1])
    assert isinstance(request, Request)
    return request


@st.composite
def odd_answer(draw: st.DrawFn) -> tuple[int, str, str]:
    status = draw(st.sampled_from([100, 180, 183, 200, 202, 301, 302, 401, 403, 404, 407, 408,
                                   423, 480, 486, 488, 491, 500, 503, 603]))
    name = draw(st.sampled_from(ODD_HEADERS))
    value = draw(troublesome_text()).replace("\r", "").replace("\n", "").replace("\x00", "")
    return status, name, value


@QUICK
@given(odd_answer(), st.booleans())
def test_user_agent_reads_any_answer_to_its_register_without_raising(
    answer: tuple[int, str, str], second_round: bool,
) -> None:
    status, name, value = answer
    ua = phone()
    ua.register(0.0)
    request = sent_request(ua)
    contact = f"{request.headers.get('Contact')};expires={value}"
    headers = [(name, value)] if name != "Contact" else [("Contact", contact)]
    if second_round:  # the odd value on the second answer, after a challenge
        challenge = 'Digest realm="example.com", nonce="abc", algorithm=MD5, qop="auth"'
        response = build_response(request, 401, headers=[("WWW-Authenticate", challenge)])
        ua.receive_datagram(response.to_bytes(), SERVER, 0.1)
        request = sent_request(ua)
    try:
        response = build_response(request, status, headers=headers)
    except ValueError:  # a value the builder itself refuses to put on the wire
        return
    ua.receive_datagram(response.to_bytes(), SERVER, 0.2)
    run_out(ua, 0.2)


@QUICK
@given(odd_answer(), st.sampled_from(sdp_texts()))
def test_user_agent_reads_any_answer_to_its_invite_without_raising(
    answer: tuple[int, str, str], body: bytes,
) -> None:
    status, name, value = answer
    ua = phone()
    ua.call("sip:bob@192.0.2.1", 0.0, body=sdp_texts()[0], content_type="application/sdp")
    request = sent_request(ua)
    try:
        response = build_response(request, status, to_tag="bob1", headers=[(name, value)],
                                  body=body if status < 300 else b"",
                                  content_type="application/sdp" if status < 300 else None)
    except ValueError:
        return
    ua.receive_datagram(response.to_bytes(), SERVER, 0.1)
    run_out(ua, 0.1)


@QUICK
@given(fuzz_input(sip_messages()))
def test_auto_answering_user_agent_takes_any_request_without_raising(data: bytes) -> None:
    ua = phone(auto_answer=True)
    ua.receive_datagram(data, SENDER, 1.0)
    run_out(ua, 1.0)
