"""WebRTC between a browser and siplab: audio both ways, a data channel, video (issue 6).

JsSIP and SIP.js run in headless Chromium (``web/phone.html``), with its fake
microphone (a beep) and fake camera (a moving pattern), registered over
WebSocket (RFC 7118) with the test's :class:`~siplab.aio.server.LabServer`;
siplab runs as the command-line phone (``siplab answer``, ``siplab call
--webrtc``, real processes) or as a :class:`~siplab.aio.useragent.UserAgent`
on the lab's loop. The server only signals: the media goes peer to peer over
ICE on 127.0.0.1 (RFC 8445), keyed by DTLS-SRTP (RFC 5764), which the
browser's own ``getStats()`` confirms (``dtlsState`` "connected", an SRTP
cipher).

* a browser calls ``siplab answer``: siplab hears the beeps (its call line's
  RMS, the WAV it records), the browser decodes siplab's tone (getStats:
  packets received, audio energy);
* ``siplab call --webrtc`` calls a browser, which answers: the same, the other way;
* the data channel (RFC 8831): a text message and a 16 KiB file each way,
  whichever side opened the channel (the offerer does);
* video (VP8): frames decoded on both sides, whoever calls;
* baresip, a SIP phone on UDP, and a browser: they share no media path and
  the server relays no media, so each refuses the other's offer with 488.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from siplab.aio.audio import read_wav
from siplab.aio.session import Session
from siplab.call import NO_COMMON_PATH, NO_MEDIA_RELAY, MediaPath
from tests.browser.conftest import STEP_TIMEOUT, USERS, BrowserPhone, Lab, OpenPhone, _failed
from tests.browser.test_jssip_sipjs import first_seen
from tests.interop.baresip import Baresip
from tests.test_cli_media import CALL_LINE, CliProcess

pytestmark = pytest.mark.interop

LIBRARIES = ["jssip", "sipjs"]
ESTABLISHED = {"ok": True, "status": 200, "reason": "OK", "cause": "established"}
#: What each library says when siplab sent the BYE (JsSIP's cause is "Terminated";
#: web/phone.js says who ended the call).
ENDED_BY_SIPLAB = {lib: {"ok": True, "status": None, "reason": None,
                         "cause": f"ended by remote: {cause}"}
                   for lib, cause in (("jssip", "Terminated"), ("sipjs", "BYE"))}
#: SRTP protection profiles that DTLS can agree (RFC 5764 §4.1.2, RFC 7714 §14.2), as
#: getStats() names them (the "Profile" column of IANA's DTLS-SRTP registry).
SRTP_CIPHERS = {"SRTP_AES128_CM_HMAC_SHA1_80", "SRTP_AES128_CM_HMAC_SHA1_32",
                "SRTP_AEAD_AES_128_GCM", "SRTP_AEAD_AES_256_GCM"}
#: 50 packets of 20 ms: a second of audio decoded.
A_SECOND = 50
#: The size of the file sent each way (the issue's 16 KB, one data channel message).
FILE_SIZE = 16 * 1024


def assert_webrtc_transport(stats: dict[str, Any]) -> None:
    """The browser's getStats(): ICE connected, DTLS done, SRTP keyed from it."""
    assert stats["connectionState"] == "connected", stats
    assert stats["dtlsState"] == "connected", stats
    assert stats["srtpCipher"] in SRTP_CIPHERS, stats


def until(lab: Lab, condition: Callable[[], bool], what: str,
          timeout: float = STEP_TIMEOUT) -> None:
    """Wait (bounded) until ``condition()``, evaluated on the lab's loop, is true."""
    deadline = time.monotonic() + timeout
    while not lab.call(condition):
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout} s: {what}")
        time.sleep(0.05)


def heard_seconds(session: Session) -> float:
    return session.heard.duration if session.heard is not None else 0.0


def heard_rms(session: Session) -> float:
    return session.heard.rms() if session.heard is not None else 0.0


def registered(phone: BrowserPhone, lab: Lab) -> BrowserPhone:
    assert phone.register(phone.name, USERS[phone.name], lab.ws_url)["ok"]
    return phone


# --- siplab on the command line ---------------------------------------------------------------


@pytest.fixture
def cli(lab: Lab) -> Iterator[Callable[..., CliProcess]]:
    """``cli("answer", "--tone", "440")``: a siplab process as carol at the lab's UDP port.

    Stopped with SIGTERM at the end (killed if it does not exit).
    """
    udp = lab.server.address("udp")
    assert udp is not None
    started: list[CliProcess] = []

    def start(command: str, *args: str) -> CliProcess:
        process = CliProcess(command, *args, "--user", "carol", "--password", USERS["carol"],
                             "--server", f"{udp.host}:{udp.port}")
        started.append(process)
        return process

    yield start
    for process in started:
        if process.process.poll() is None:
            try:
                process.stop()
            except Exception:
                process.kill()


@pytest.mark.parametrize("lib", LIBRARIES)
def test_browser_calls_siplab_answer_and_each_hears_the_other(
        lib: str, lab: Lab, open_phone: OpenPhone, cli: Callable[..., CliProcess],
        tmp_path: Path) -> None:
    """The browser's WebRTC offer to ``siplab answer``: audio both ways over DTLS-SRTP.

    ``siplab answer`` (a real process) answers the offer on its WebRTC path
    with Opus, its first choice, sends a 440 Hz tone and records what it
    hears. The browser decodes the tone (getStats: a second of packets, audio
    energy above zero), and siplab's RTCP receiver reports about the browser's
    audio reach it (getStats: remote-inbound-rtp, no loss, a round-trip time);
    after the
    browser's BYE, ``siplab answer`` prints its line for the call: the packets
    it received and the RMS of the beeps it heard, which its WAV holds too.
    """
    heard = tmp_path / "heard.wav"
    answer = cli("answer", "--tone", "440", "--record", str(heard), "--codecs", "opus,PCMU")
    answer.wait_for(re.compile(r"^registered sip:carol@"), "err")
    alice = registered(open_phone("alice", lib), lab)

    assert alice.call("sip:carol@127.0.0.1") == ESTABLISHED
    stats = alice.wait_for_audio(packets=A_SECOND)
    assert_webrtc_transport(stats)
    assert stats["codec"] == "audio/opus/48000", stats  # siplab's first choice
    assert stats["totalAudioEnergy"] > 0, stats  # siplab's tone, decoded by the browser
    # siplab's RTCP receiver reports on the browser's audio (RFC 3550 §6.4.2), the first
    # 1.25 to 3.75 s after the first packet: the browser's remote-inbound-rtp.
    stats = alice.wait_for_stats(
        lambda s: s["remoteInbound"] is not None and s["remoteInbound"]["roundTripTime"]
        is not None, "an RTCP receiver report from siplab with a round-trip time")
    report = stats["remoteInbound"]
    assert report["packetsLost"] == 0, report  # loopback
    assert 0 <= report["jitter"] < 0.02, report  # seconds
    assert 0 <= report["roundTripTime"] < 0.5, report
    alice.hangup()
    alice.wait_until("phone.state === 'idle'")

    line = answer.wait_for(CALL_LINE)
    assert (line["way"], line["peer"], line["codec"]) == (
        "from", "sip:alice@127.0.0.1", "opus"), line.string
    assert int(line["received"]) >= A_SECOND, line.string
    assert int(line["rms"]) > 0, line.string  # the browser's beeps
    assert line["cause"] == "remote bye", line.string
    recorded = answer.wait_for(re.compile(r"^recorded (?P<path>.+)$"), "err")
    samples, rate = read_wav(Path(recorded["path"]))
    assert samples.size >= rate, (samples.size, rate)  # more than a second
    assert np.sqrt(np.mean(samples.astype(float) ** 2)) > 0


@pytest.mark.parametrize("lib", LIBRARIES)
def test_siplab_call_with_webrtc_reaches_the_browser_which_answers(
        lib: str, lab: Lab, open_phone: OpenPhone, cli: Callable[..., CliProcess]) -> None:
    """``siplab call alice --webrtc``: the browser rings, answers, and both hear audio.

    siplab's offer is WebRTC's (UDP/TLS/RTP/SAVPF, ICE, a DTLS fingerprint),
    which the browser accepts. ``siplab call`` hangs up after 2 s, prints its
    line (packets received, RMS of the beeps) and exits 0: connected, and
    audio arrived.
    """
    alice = registered(open_phone("alice", lib), lab)

    call = cli("call", "alice", "--webrtc", "--tone", "440", "--duration", "2")
    alice.wait_until("phone.state === 'ringing'")
    assert alice.answer() == ESTABLISHED
    stats = alice.wait_for_audio(packets=A_SECOND)
    assert_webrtc_transport(stats)
    # siplab offers its codecs in the CLI's order (PCMU first); the browser takes the first.
    assert stats["codec"] == "audio/PCMU/8000", stats
    assert stats["totalAudioEnergy"] > 0, stats
    alice.wait_until("phone.state === 'idle'")
    assert alice.last_call == ENDED_BY_SIPLAB[lib]

    assert call.finish(timeout=STEP_TIMEOUT) == 0, call.err
    line = CALL_LINE.match(call.out[0])
    assert line is not None, call.out
    assert (line["way"], line["peer"], line["codec"]) == (
        "to", "sip:alice@127.0.0.1", "PCMU"), line.string
    assert int(line["received"]) >= A_SECOND, line.string
    assert int(line["rms"]) > 0, line.string


# --- the data channel -------------------------------------------------------------------------


@pytest.mark.parametrize("offerer", ["browser", "siplab"])
@pytest.mark.parametrize("lib", LIBRARIES)
def test_a_message_and_a_16k_file_cross_the_data_channel_both_ways(
        lib: str, offerer: str, lab: Lab, open_phone: OpenPhone) -> None:
    """RFC 8831 over the call's DTLS association: text and a 16 KiB file, each way.

    The offerer opens the channel before its offer (the browser's "chat", or
    siplab's "siplab"), the answerer takes it from the offer's
    ``m=application``. A file is a JSON header and its bytes (web/phone.js,
    siplab.aio.webrtc_data): what arrives is byte for byte what was sent.
    """
    carol = lab.user_agent("carol")
    alice = registered(open_phone("alice", lib), lab)
    session: Session
    if offerer == "browser":
        alice.start_call("sip:carol@127.0.0.1", data=True)
        invitation = lab.run(carol.next_invitation(timeout=STEP_TIMEOUT))
        assert b"m=application " in invitation.request.body
        lab.run(invitation.accept(source="tone:440"))
        assert alice.outcome() == ESTABLISHED
        session, label = invitation, "chat"
    else:
        inviter = lab.run(carol.call("sip:alice@127.0.0.1", webrtc=True, source="tone:440"))
        alice.wait_until("phone.state === 'ringing'")
        assert alice.answer() == ESTABLISHED
        lab.run(inviter.established(timeout=STEP_TIMEOUT))
        session, label = inviter, "siplab"
    assert session.path is MediaPath.WEBRTC
    channel = session.data_channel
    assert channel is not None
    lab.run(channel.opened(timeout=STEP_TIMEOUT))
    alice.channel_open()
    assert alice.channel_label == label

    alice.send_text("hello from the browser")
    assert lab.run(channel.next_message(timeout=STEP_TIMEOUT)) == "hello from the browser"
    lab.call(channel.send, "hello from siplab")
    assert alice.texts_received() == ["hello from siplab"]

    from_browser, from_siplab = os.urandom(FILE_SIZE), os.urandom(FILE_SIZE)
    alice.send_file("from-browser.bin", from_browser)
    received = lab.run(channel.next_file(timeout=STEP_TIMEOUT))
    assert (received.name, received.data) == ("from-browser.bin", from_browser)
    lab.run(channel.send_file(from_siplab, name="from-siplab.bin"))
    assert alice.files_received() == [("from-siplab.bin", from_siplab)]

    lab.run(session.bye(timeout=STEP_TIMEOUT))
    alice.wait_until("phone.state === 'idle'")
    assert alice.last_call == ENDED_BY_SIPLAB[lib]


# --- video ------------------------------------------------------------------------------------


@pytest.mark.parametrize("caller", ["browser", "siplab"])
@pytest.mark.parametrize("lib", LIBRARIES)
def test_a_video_call_shows_frames_on_both_sides(lib: str, caller: str, lab: Lab,
                                                 open_phone: OpenPhone) -> None:
    """VP8 both ways: the browser decodes siplab's 320x240 test pattern, siplab the camera's.

    siplab's frames carry their number (``pattern_number``); Chromium's fake
    camera draws its own moving pattern, which siplab receives as RGB arrays.
    """
    carol = lab.user_agent("carol", video=True)
    alice = registered(open_phone("alice", lib), lab)
    session: Session
    if caller == "browser":
        alice.start_call("sip:carol@127.0.0.1", video=True)
        invitation = lab.run(carol.next_invitation(timeout=STEP_TIMEOUT))
        assert b"m=video " in invitation.request.body
        lab.run(invitation.accept(source="tone:440"))
        assert alice.outcome() == ESTABLISHED
        session = invitation
    else:
        session = lab.run(carol.call("sip:alice@127.0.0.1", webrtc=True, video=True,
                                     source="tone:440"))
        alice.wait_until("phone.state === 'ringing'")
        assert alice.answer(video=True) == ESTABLISHED
        lab.run(session.established(timeout=STEP_TIMEOUT))

    stats = alice.wait_for_video(frames=10)
    assert_webrtc_transport(stats)
    video = stats["video"]
    assert video["codec"] == "video/VP8", video
    assert (video["frameWidth"], video["frameHeight"]) == (320, 240), video
    assert video["framesEncoded"] > 0, video  # the camera goes the other way
    until(lab, lambda: session.video is not None and session.video.count >= 10,
          "siplab decoded 10 frames of the browser's camera")
    frame = lab.call(lambda: session.video.last if session.video is not None else None)
    assert frame is not None
    assert (frame.ndim, frame.shape[2]) == (3, 3), frame.shape  # (height, width, RGB)
    assert frame.std() > 0  # a picture, not a blank frame
    until(lab, lambda: heard_seconds(session) >= 0.5, "siplab heard half a second of audio")
    assert lab.call(heard_rms, session) > 0

    lab.run(session.bye(timeout=STEP_TIMEOUT))
    alice.wait_until("phone.state === 'idle'")
    assert alice.last_call == ENDED_BY_SIPLAB[lib]


# --- a SIP phone and a browser: no common media path ------------------------------------------


@pytest.fixture
def baresip(lab: Lab, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Baresip]:
    """baresip (a UDP SIP phone, plain RTP only) registered at the lab as bob, auto-answering."""

    async def start() -> Baresip:
        phone = Baresip(tmp_path, source=("tone", 440))
        await phone.start()
        udp = lab.server.address("udp")
        assert udp is not None
        await phone.add_account("sip:bob@127.0.0.1", USERS["bob"], udp, answermode="auto")
        await phone.event("REGISTER_OK")
        return phone

    phone = lab.run(start())
    try:
        yield phone
    finally:
        lab.run(phone.stop())
        if _failed(request):
            print(phone.explain())


def refusal_sent_by(lab: Lab, agent: str, transport: str) -> str:
    """The 488 the server passed on over ``transport`` whose ``agent`` header matches."""
    for record in lab.records:
        text = record.data.decode("utf-8", "replace")
        if record.direction == "out" and record.transport == transport and \
                text.startswith("SIP/2.0 488 ") and agent in text:
            return text
    raise AssertionError(f"no 488 from {agent} sent over {transport}:\n{lab.ladder()}")


#: How each library reports baresip's 488 to the page (JsSIP's cause, SIP.js's word).
BARESIP_REFUSAL_CAUSE = {"jssip": "Incompatible SDP (remote)", "sipjs": "Rejected"}


@pytest.mark.parametrize("lib", LIBRARIES)
def test_baresip_and_a_browser_refuse_each_others_offer_with_488(
        lib: str, lab: Lab, open_phone: OpenPhone, baresip: Baresip) -> None:
    """A SIP phone and a browser share no media path, and LabServer relays no media.

    baresip (a SIP phone on UDP) speaks plain RTP/AVP only; a browser speaks
    WebRTC only (ICE, DTLS-SRTP, UDP/TLS/RTP/SAVPF). The lab server signals
    between them but does not translate media, so neither call can work, and
    each ends at once with 488 Not Acceptable Here (RFC 3261 §21.4.26), by
    design and not by a timeout:

    * the browser calls baresip: baresip finds no audio format it can use in
      the WebRTC offer (its event says "No audio codecs") and answers 488
      itself, which the server passes back to the browser;
    * baresip calls the browser: the page sees a plain RTP offer and refuses
      it before it rings, with a Warning (304) that names the reason, the
      words siplab's own user agents use (``siplab.call.NO_COMMON_PATH``,
      ``NO_MEDIA_RELAY``).
    """
    alice = registered(open_phone("alice", lib), lab)

    start = lab.mark()
    assert alice.call("sip:bob@127.0.0.1") == {
        "ok": False, "status": 488, "reason": "Not Acceptable Here",
        "cause": BARESIP_REFUSAL_CAUSE[lib]}
    assert lab.run(baresip.event("CALL_CLOSED"))["param"] == "No audio codecs"
    assert "Server: baresip" in refusal_sent_by(lab, "baresip", "ws")
    assert first_seen(lab.labels("ws", since=start)) == [
        "<- INVITE", "-> 100 Trying", "-> 488 Not Acceptable Here", "<- ACK"]
    assert first_seen(lab.labels("udp", since=start)) == [
        "-> INVITE", "<- 488 Not Acceptable Here", "-> ACK"]

    start = lab.mark()
    lab.run(baresip.dial("sip:alice@127.0.0.1"))
    assert lab.run(baresip.event("CALL_CLOSED"))["param"] == "488 Not Acceptable Here"
    refusal = refusal_sent_by(lab, "Warning: 304 siplab-phone", "udp")
    assert NO_COMMON_PATH in refusal, refusal
    assert NO_MEDIA_RELAY in refusal, refusal
    assert "the offer is plain RTP (SIP phones), RTP/AVP" in refusal, refusal
    assert alice.state == "idle"  # the page never rang
    last = alice.last_call
    assert last is not None
    assert (last["ok"], last["status"], last["reason"]) == (False, 488, "Not Acceptable Here")
    # SIP.js sends 180 Ringing by itself before the page hears of the INVITE; JsSIP
    # lets the page refuse first.
    ringing = ["<- 180 Ringing"] if lib == "sipjs" else []
    assert first_seen(lab.labels("ws", since=start)) == [
        "-> INVITE", "<- 100 Trying", *ringing, "<- 488 Not Acceptable Here", "-> ACK"]
    stats = lab.wait_idle()
    assert stats.idle, stats
