"""sipp accepts a siplab user agent in both roles of a call (RFC 3261 §12-15, §17, §18).

A whole call between sipp and siplab's :class:`~siplab.aio.useragent.UserAgent`
(wrapped by :class:`~tests.interop.peers.SiplabPhone`) on real sockets::

    caller (UAC)                          callee (UAS)
      | INVITE (SDP offer)                     |
      |--------------------------------------->|
      |<---------------- 100 Trying (optional) |
      |<---------------- 180 Ringing           |
      |<---------------- 200 OK (SDP answer)   |
      | ACK                                    |
      |--------------------------------------->|
      |          ... the call lasts a moment ...
      | BYE                                    |
      |--------------------------------------->|
      |<---------------- 200 OK                |

* **sipp calls siplab** (``sipp/uac_call.xml``); siplab rings and answers by
  itself. Over UDP sipp calls the phone's socket directly, and also through
  the :class:`~siplab.aio.server.LabServer` the phone registered with. Over
  TCP only through the server: a siplab phone on TCP, like a browser on a
  WebSocket, opens one connection to its server and is reached over it; it
  does not listen for connections of its own. Through the server, the route
  set (Record-Route, §12.1) brings sipp's ACK and BYE through the proxy.
* **siplab calls sipp** (``sipp/uas_answer.xml``), over UDP and TCP, with
  sipp as the phone's server (``udp://`` or ``tcp://`` sipp's address):
  siplab ACKs the 200 (§13.2.2.4), the call lasts a moment, siplab hangs up.

sipp's scenarios check what they receive (the SDP in the INVITE or the 200,
the dialog's To tag in the ACK) and fail the call otherwise, so "sipp is
satisfied" means: exit code 0, and its statistics count one successful call
and no failed one. siplab's side must tell the same story: the session was
established, then ended by the BYE it expected, and no call is left.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from siplab.sip.events import (
    IncomingCall,
    SessionEstablished,
    SessionProgress,
    SessionTerminated,
)
from siplab.sip.invite_table import SessionState
from tests.interop.peers import (
    LOOPBACK,
    SiplabLog,
    SiplabPhone,
    SiplabServer,
    Sipp,
    SippResult,
    explain,
    sdp_offer,
)

pytestmark = pytest.mark.interop

#: sipp's SDP: PCMU on its media port (6000, or the next free one).
SIPP_AUDIO = re.compile(rb"^m=audio \d+ RTP/AVP 0\r?$", re.MULTILINE)
#: How long the call lasts between the ACK and the BYE, in seconds.
TALK_TIME = 0.3
#: Bounds on siplab's side, in seconds.
WAIT = 5.0
USERS = {"bob": "builder"}


def check_sipp_passed(result: SippResult, why: str) -> None:
    assert result.returncode == 0, why
    assert result.successful_calls == 1, why
    assert result.failed_calls == 0, why
    assert result.errors.strip() == "", why


def messages(trace: str, *starts: str) -> list[str]:
    """The messages in a sipp -trace_msg file whose first line starts with one of ``starts``."""
    return [block for block in trace.split("\n\n") if block.startswith(starts)]


async def sipp_calls(phone: SiplabPhone, sipp: Sipp) -> SippResult:
    """Run the calling sipp to its end; then siplab's side must see the call end too."""
    await sipp.start()
    result = await sipp.finish()
    if phone.invitations:  # (if not, the assertions will say so)
        await phone.invitations[0].terminated(timeout=2.0)
    return result


@pytest.mark.parametrize(("transport", "route"), [
    ("udp", "direct"),
    ("udp", "through the server"),
    ("tcp", "through the server"),
])
def test_sipp_calls_a_siplab_phone_that_answers_and_takes_the_bye(
        transport: str, route: str, tmp_path: Path) -> None:
    server = SiplabServer(USERS) if route != "direct" else None
    sipp = Sipp("caller", "uac_call", transport, tmp_path, service="bob")

    async def run() -> tuple[SiplabPhone, SippResult]:
        try:
            if server is None:  # sipp is the phone's only peer: its "server"
                async with SiplabPhone("bob", f"udp://{LOOPBACK}:{sipp.port}") as phone:
                    sipp.target = phone.local
                    return phone, await sipp_calls(phone, sipp)
            async with server:
                async with SiplabPhone("bob", server.url(transport),
                                       password=USERS["bob"]) as phone:
                    await phone.ua.register(timeout=WAIT)
                    sipp.target = server.address(transport)
                    result = await sipp_calls(phone, sipp)
                server.settle()  # (the phone unregistered when it stopped)
                return phone, result
        finally:
            await sipp.kill()

    with SiplabLog() as log:
        phone, result = asyncio.run(run())
    why = explain(result, phone, log) if server is None else explain(result, phone, server, log)
    check_sipp_passed(result, why)

    # siplab's story: one call (sipp's offer), answered with ours, ended by sipp's BYE.
    [invitation] = phone.invitations
    assert invitation.cause == "remote bye", why
    assert invitation.state is SessionState.Terminated, why
    assert [type(e) for e in invitation.events] == \
        [IncomingCall, SessionEstablished, SessionTerminated], why
    assert SIPP_AUDIO.search(invitation.remote_body), why
    assert invitation.local_body == sdp_offer(40002), why
    assert invitation.request.top_via.transport == transport.upper(), why
    assert phone.ua.sessions == [], why

    # sipp's side: our answer, and its ACK and BYE to our Contact, along the route set.
    assert result.trace.count("SIP/2.0 180 Ringing") == 1, why
    assert "m=audio 40002 RTP/AVP 0" in result.trace, why
    contact = phone.ua.core.origin.contact.uri
    assert invitation.dialog is not None, why
    route_set = [str(route.uri) for route in invitation.dialog.route_set]
    for method in ("ACK", "BYE"):
        [sent] = messages(result.trace, f"{method} ")
        assert sent.startswith(f"{method} {contact} SIP/2.0"), why
        if server is not None:
            port = server.address(transport).port
            assert f"\nRoute: <sip:{LOOPBACK}:{port}" in sent, why
            assert route_set[0].startswith(f"sip:{LOOPBACK}:{port}"), why
        else:
            assert "\nRoute:" not in sent, why
            assert route_set == [], why
    if server is not None:
        assert server.waiting_before == [], why
        assert server.stats_after is not None, why
        assert server.stats_after.idle, why
        assert server.stats_after.bindings == 0, why


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_siplab_phone_calls_sipp_acks_the_200_and_hangs_up(
        transport: str, tmp_path: Path) -> None:
    sipp = Sipp("callee", "uas_answer", transport, tmp_path)

    async def run() -> tuple[SiplabPhone, SippResult, str | None]:
        cause = None
        try:
            await sipp.start()
            await sipp.listening()
            async with SiplabPhone("alice", f"{transport}://{LOOPBACK}:{sipp.port}") as phone:
                call = await phone.ua.call(f"sip:sipp@{LOOPBACK}:{sipp.port}", sdp_offer(40000))
                try:
                    await call.established(timeout=WAIT)
                    await asyncio.sleep(TALK_TIME)  # the call goes on for a moment
                    cause = await call.bye(timeout=WAIT)
                except Exception:  # the assertions below tell what happened
                    pass
                return phone, await sipp.finish(), cause
        finally:
            await sipp.kill()

    with SiplabLog() as log:
        phone, result, cause = asyncio.run(run())
    why = explain(result, phone, log)
    check_sipp_passed(result, why)

    # siplab's story: ringing, answered (with sipp's SDP answer), ended by our BYE.
    [ringing] = phone.of_type(SessionProgress)
    call = ringing.session
    assert ringing.response.status == 180, why
    assert [e.session for e in phone.of_type(SessionEstablished)] == [call], why
    [ended] = phone.of_type(SessionTerminated)
    assert (ended.session, ended.cause, cause) == (call, "bye", "bye"), why
    assert call.state is SessionState.Terminated, why
    assert SIPP_AUDIO.search(call.remote_body), why
    assert call.dialog is not None, why
    assert str(call.dialog.remote_target) == \
        f"sip:sipp@{LOOPBACK}:{result.port};transport={transport.upper()}", why
    assert phone.ua.sessions == [], why

    # sipp's side: our offer, then our ACK and our BYE, requests of the dialog.
    received = messages(result.trace, "INVITE ", "ACK ", "BYE ")
    assert [m.split(" ", 1)[0] for m in received] == ["INVITE", "ACK", "BYE"], why
    assert "m=audio 40000 RTP/AVP 0" in result.trace, why
    assert all(m.split(" ", 2)[1] == str(call.dialog.remote_target) for m in received[1:]), why


def test_sipp_calls_a_siplab_phone_with_auto_answer_and_gets_an_sdp_answer(
        tmp_path: Path) -> None:
    """``auto_answer=True`` answers the INVITE's offer in the 200 (RFC 3261 §13.2.1, RFC 3264
    §6): PCMU, the only codec sipp offers, on the RTP port siplab opened for the call,
    which is closed again after sipp's BYE."""
    sipp = Sipp("caller", "uac_call", "udp", tmp_path, service="bob")

    async def run() -> tuple[SiplabPhone, SippResult, int]:
        try:
            async with SiplabPhone("bob", f"udp://{LOOPBACK}:{sipp.port}", answer=False,
                                   auto_answer=True) as phone:
                sipp.target = phone.local
                result = await sipp_calls(phone, sipp)
                assert phone.ua.open_media == []
                [invitation] = phone.invitations
                assert invitation.call is not None
                return phone, result, invitation.call.port
        finally:
            await sipp.kill()

    phone, result, rtp_port = asyncio.run(run())
    why = explain(result, phone)
    check_sipp_passed(result, why)
    [invitation] = phone.invitations
    assert invitation.cause == "remote bye", why
    assert invitation.codec == "PCMU", why
    assert f"m=audio {rtp_port} RTP/AVP 0" in invitation.local_body.decode(), why
    assert f"m=audio {rtp_port} RTP/AVP 0" in result.trace, why  # sipp got our answer
