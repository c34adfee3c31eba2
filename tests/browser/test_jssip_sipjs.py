"""JsSIP and SIP.js in headless Chromium against siplab's LabServer (issue 4).

The two libraries the seed systems run in their web pages, talking SIP over
WebSocket (RFC 7118) to :class:`~siplab.aio.server.LabServer`:

* REGISTER with digest (RFC 3261 §10.2, §22; RFC 3665 §2.1), and a wrong
  password refused with 403, as the library itself reports it (§2.5);
* MESSAGE (RFC 3428) both ways between a browser and a siplab user agent on
  UDP, the server bridging WebSocket and UDP;
* a call from JsSIP to SIP.js through the server (RFC 3261 §13-16, RFC 3665
  §3.2), the audio flowing peer to peer between the two browsers (WebRTC:
  ICE, DTLS-SRTP, Opus) while the server only signals;
* a call between a browser and a siplab user agent, each way: siplab answers
  the browser's WebRTC offer on its WebRTC path (aiortc: ICE, DTLS-SRTP), and
  audio flows both ways; a plain RTP/AVP offer from siplab is refused by the
  page with 488 Not Acceptable Here (RFC 3261 §21.4.26) and a Warning saying
  why, and each side ends cleanly.

The browser side is ``web/phone.html`` (see ``web/phone.js``): one page that
loads either library and offers the same small API, ``window.phone``. The
assertions read the ladder as the server saw it (``lab.labels()``: ``<-``
received, ``->`` sent), and what each library reported.
"""

from __future__ import annotations

import re

import pytest

from siplab.aio.errors import CallFailed
from siplab.aio.session import Session
from siplab.call import NO_COMMON_PATH, NO_MEDIA_RELAY
from tests.browser.conftest import STEP_TIMEOUT, USERS, Lab, OpenPhone

pytestmark = pytest.mark.interop

LIBRARIES = ["jssip", "sipjs"]
DIGEST_REGISTRATION = ["<- REGISTER", "-> 401 Unauthorized", "<- REGISTER", "-> 200 OK"]

#: What siplab offers by default: plain RTP (RFC 3551 PCMU), no ICE, no DTLS-SRTP.
PLAIN_RTP_OFFER = (
    "v=0\r\n"
    "o=carol 1 1 IN IP4 127.0.0.1\r\n"
    "s=-\r\n"
    "c=IN IP4 127.0.0.1\r\n"
    "t=0 0\r\n"
    "m=audio 40000 RTP/AVP 0\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
).encode("ascii")


def first_seen(labels: list[str]) -> list[str]:
    """``labels`` without repeats: a UDP leg may retransmit (Timers A, E, G, §17)."""
    return list(dict.fromkeys(labels))


# --- REGISTER ---------------------------------------------------------------------------------


@pytest.mark.parametrize("lib", LIBRARIES)
def test_browser_registers_with_digest(lib: str, lab: Lab, open_phone: OpenPhone) -> None:
    """RFC 3665 §2.1: REGISTER, 401 with a challenge, REGISTER with credentials, 200 OK."""
    alice = open_phone("alice", lib)

    result = alice.register("alice", USERS["alice"], lab.ws_url)

    assert result == {"ok": True, "status": 200, "reason": "OK", "cause": "Registered"}
    assert lab.labels() == DIGEST_REGISTRATION
    assert lab.stats().bindings == 1


@pytest.mark.parametrize(("lib", "cause"), [("jssip", "Rejected"), ("sipjs", "Unregistered")])
def test_browser_with_a_wrong_password_is_refused_with_403(lib: str, cause: str, lab: Lab,
                                                           open_phone: OpenPhone) -> None:
    """RFC 3665 §2.5: the credentials do not match, the registrar answers 403 Forbidden.

    The library must report that 403 itself and stop (no retry loop): JsSIP's
    ``registrationFailed`` event carries the response and the cause
    ``"Rejected"`` (its name for 403 and 603); SIP.js's ``onReject`` delegate
    gets the response and its Registerer stays ``Unregistered``.
    """
    alice = open_phone("alice", lib)

    result = alice.register("alice", "not-the-password", lab.ws_url)

    assert result == {"ok": False, "status": 403, "reason": "Forbidden", "cause": cause}
    assert lab.labels() == ["<- REGISTER", "-> 401 Unauthorized", "<- REGISTER", "-> 403 Forbidden"]
    assert lab.stats().bindings == 0


# --- MESSAGE ----------------------------------------------------------------------------------


@pytest.mark.parametrize("lib", LIBRARIES)
def test_browser_and_siplab_exchange_messages_both_ways(lib: str, lab: Lab,
                                                        open_phone: OpenPhone) -> None:
    """RFC 3428: MESSAGE from a browser (WebSocket) to siplab (UDP) and back, 200 OK each.

    The server looks each recipient up in its location service and bridges the
    two transports: towards the browser it can only use the WebSocket the
    browser opened (its Contact's host ends in ``.invalid``, RFC 7118 §5.2).
    """
    carol = lab.user_agent("carol")
    alice = open_phone("alice", lib)
    assert alice.register("alice", USERS["alice"], lab.ws_url)["ok"]
    start = lab.mark()

    sent = alice.message("sip:carol@127.0.0.1", "hello from the browser")
    assert sent == {"ok": True, "status": 200, "reason": "OK", "cause": None}
    received = lab.run(carol.next_message(timeout=STEP_TIMEOUT))
    assert received.text == "hello from the browser"
    assert str(received.sender.uri) == "sip:alice@127.0.0.1"

    reply = lab.run(carol.message("sip:alice@127.0.0.1", "hello from siplab",
                                  timeout=STEP_TIMEOUT))
    assert reply.status == 200
    alice.wait_until("phone.messages.length === 1")
    assert alice.messages == [{"from": "sip:carol@127.0.0.1", "body": "hello from siplab",
                               "contentType": "text/plain"}]

    assert lab.labels("ws", since=start) == ["<- MESSAGE", "-> 200 OK", "-> MESSAGE", "<- 200 OK"]
    assert first_seen(lab.labels("udp", since=start)) == [
        "-> MESSAGE", "<- 200 OK", "<- MESSAGE", "-> 200 OK"]


# --- calls ------------------------------------------------------------------------------------


def test_jssip_calls_sipjs_and_both_hear_audio(lab: Lab, open_phone: OpenPhone) -> None:
    """RFC 3665 §3.2 through the lab server: INVITE, 100, 180, 200, ACK, then BYE, 200.

    The server only signals (its Record-Route keeps it on the path of the ACK
    and the BYE); the audio goes from browser to browser. Both report RTP
    audio packets received by getStats(), and more a second later: the stream
    is live, not a burst at set-up. After the BYE the server holds nothing
    once its transactions' absorbing timers have run out.
    """
    alice = open_phone("alice", "jssip")
    bob = open_phone("bob", "sipjs")
    assert alice.register("alice", USERS["alice"], lab.ws_url)["ok"]
    assert bob.register("bob", USERS["bob"], lab.ws_url)["ok"]
    start = lab.mark()

    alice.start_call("sip:bob@127.0.0.1")
    bob.wait_until("phone.state === 'ringing'")
    established = {"ok": True, "status": 200, "reason": "OK", "cause": "established"}
    assert bob.answer() == established
    assert alice.outcome() == established

    # Audio flows: each side has received packets, and a second later many more.
    first = {phone.name: phone.wait_for_audio() for phone in (alice, bob)}
    bob.page.wait_for_timeout(1000)  # 50 packets of 20 ms each way, two beeps
    later = {phone.name: phone.stats() for phone in (alice, bob)}
    for name in ("alice", "bob"):
        before, after = first[name], later[name]
        assert after is not None
        assert after["packetsReceived"] >= before["packetsReceived"] + 25, (name, before, after)
        assert after["packetsSent"] >= before["packetsSent"] + 25, (name, before, after)
        assert after["codec"] == "audio/opus/48000", after
        # Chromium's fake microphone beeps every 500 ms: the sound got through, decoded.
        assert after["totalAudioEnergy"] > 0, (name, after)

    alice.hangup()
    bob.wait_until("phone.state === 'idle'")
    alice.wait_until("phone.state === 'idle'")
    # JsSIP calls the end of a call by BYE "Terminated"; phone.js says who sent it.
    assert alice.last_call == {"ok": True, "status": None, "reason": None,
                               "cause": "ended by local: Terminated"}
    assert bob.last_call == {"ok": True, "status": None, "reason": None,
                             "cause": "ended by remote: BYE"}
    assert lab.labels(since=start) == [
        "<- INVITE", "-> 100 Trying", "-> INVITE",  # from alice; on to bob
        "<- 100 Trying", "<- 180 Ringing", "-> 180 Ringing",  # bob's SIP.js rings
        "<- 200 OK", "-> 200 OK",                   # bob answers
        "<- ACK", "-> ACK",                         # alice's ACK, routed by Record-Route
        "<- BYE", "-> BYE", "<- 200 OK", "-> 200 OK",
    ]
    stats = lab.wait_idle()
    assert stats.idle, stats


def test_jssip_calls_siplab_which_answers_the_webrtc_offer(lab: Lab,
                                                           open_phone: OpenPhone) -> None:
    """Bridging WebSocket and UDP: the INVITE gets through, and siplab answers it with WebRTC.

    The offer is ``UDP/TLS/RTP/SAVPF`` (ICE, DTLS-SRTP); a siplab user agent
    answers it on its WebRTC path (aiortc) with 127.0.0.1 host candidates, and
    audio flows peer to peer while the server only signals: siplab hears the
    fake microphone's beeps, the browser receives siplab's tone.
    """
    carol = lab.user_agent("carol")
    alice = open_phone("alice", "jssip")
    assert alice.register("alice", USERS["alice"], lab.ws_url)["ok"]
    start = lab.mark()

    alice.start_call("sip:carol@127.0.0.1")
    invitation = lab.run(carol.next_invitation(timeout=STEP_TIMEOUT))
    offer = invitation.request.body.decode()
    # WebRTC's offer: the SAVPF profile over DTLS, ICE credentials, a certificate fingerprint.
    assert re.search(r"^m=audio \d+ UDP/TLS/RTP/SAVPF ", offer, re.MULTILINE), offer
    assert "a=ice-ufrag:" in offer, offer
    assert "a=fingerprint:sha-256 " in offer, offer
    lab.run(invitation.accept(source="tone:440"))
    assert re.search(r"^m=audio \d+ UDP/TLS/RTP/SAVPF ", invitation.local_body.decode(),
                     re.MULTILINE)

    result = alice.outcome()
    assert result == {"ok": True, "status": 200, "reason": "OK", "cause": "established"}
    alice.page.wait_for_timeout(1200)  # ICE, DTLS, then two of the fake microphone's beeps
    heard = alice.stats()  # siplab's tone reached the browser, decoded
    assert heard is not None
    assert heard["connectionState"] == "connected", heard
    assert heard["packetsReceived"] >= 25, heard
    assert heard["totalAudioEnergy"] > 0, heard
    assert lab.run(_rms(invitation)) > 0  # siplab heard the browser
    alice.hangup()
    assert lab.run(invitation.terminated(timeout=STEP_TIMEOUT)) == "remote bye"
    assert alice.state == "idle"
    assert lab.labels("ws", since=start)[:4] == [
        "<- INVITE", "-> 100 Trying", "-> 200 OK", "<- ACK"]
    stats = lab.wait_idle()
    assert stats.idle, stats


@pytest.mark.parametrize("lib", LIBRARIES)
def test_siplab_calls_a_browser_which_refuses_a_plain_rtp_offer_with_488(
        lib: str, lab: Lab, open_phone: OpenPhone) -> None:
    """The other way, with a plain RTP/AVP offer (PCMU, no ICE, no DTLS) written by hand.

    A browser speaks only WebRTC and the server relays no media, so the page
    (web/phone.js) refuses such an offer at once, before it rings: 488 Not
    Acceptable Here with a Warning (RFC 3261 §20.43, code 304) in the words
    siplab's own user agents use. siplab's CallFailed carries both; JsSIP
    lets the page refuse before any 180, SIP.js sends its 180 Ringing first.
    """
    carol = lab.user_agent("carol")
    alice = open_phone("alice", lib)
    assert alice.register("alice", USERS["alice"], lab.ws_url)["ok"]
    start = lab.mark()

    call = lab.run(carol.call("sip:alice@127.0.0.1", body=PLAIN_RTP_OFFER))
    with pytest.raises(CallFailed) as failure:
        lab.run(call.established(timeout=STEP_TIMEOUT))

    assert (failure.value.status, failure.value.reason) == (488, "Not Acceptable Here")
    warning = failure.value.warning
    assert warning is not None
    assert warning.startswith(f"{NO_COMMON_PATH}: the offer is plain RTP (SIP phones), RTP/AVP"), \
        warning
    assert warning.endswith(NO_MEDIA_RELAY), warning
    assert lab.run(call.terminated(timeout=STEP_TIMEOUT)) == "rejected"
    assert alice.state == "idle"
    assert alice.last_call == {"ok": False, "status": 488, "reason": "Not Acceptable Here",
                               "cause": warning}
    ringing = ["<- 180 Ringing"] if lib == "sipjs" else []
    assert lab.labels("ws", since=start) == [
        "-> INVITE", "<- 100 Trying", *ringing, "<- 488 Not Acceptable Here", "-> ACK"]
    assert first_seen(lab.labels("udp", since=start)) == [
        "<- INVITE", "-> 100 Trying", *[label.replace("<-", "->") for label in ringing],
        "-> 488 Not Acceptable Here", "<- ACK"]
    stats = lab.wait_idle()
    assert stats.idle, stats


async def _rms(session: Session) -> float:
    """The RMS level of what a siplab session heard (read on the lab's loop)."""
    return session.heard.rms() if session.heard is not None else 0.0


# --- the page itself ----------------------------------------------------------------------------


@pytest.mark.parametrize("lib", LIBRARIES)
def test_phone_page_registers_from_its_own_form(lib: str, lab: Lab, open_phone: OpenPhone) -> None:
    """What a student does by hand: fill in phone.html's form and press Register."""
    alice = open_phone("alice", lib)
    page = alice.page
    page.fill("#uri", "sip:alice@127.0.0.1")
    page.fill("#password", USERS["alice"])
    page.fill("#ws", lab.ws_url)

    page.click("#register")

    page.wait_for_function("() => /registered +200 OK/.test(document.querySelector('#log')"
                           ".textContent)", timeout=STEP_TIMEOUT * 1000)
    assert lab.labels() == DIGEST_REGISTRATION
    assert page.text_content("#library") == f"({lib})"
