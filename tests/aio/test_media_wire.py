"""A siplab phone's SDP as a scripted peer sees it on the wire (RFC 3261 §13.2.1, §20.43).

A bare UDP socket plays the caller, writing each request by hand, so the test
reads exactly the bytes a phone would get:

* an INVITE **without** an offer: the phone offers in its 200 OK and takes
  the answer from the ACK, then sends RTP to the port that answer names;
* an INVITE whose SDP is malformed: ``400`` with a ``Warning: 399`` naming
  the bad line, and the phone answers the next INVITE normally.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from siplab.aio.useragent import UserAgent
from siplab.call import Call, parse_warnings
from siplab.rtp import parse_rtp
from siplab.sdp import Capabilities, parse
from siplab.sip.message import Response, parse_message
from tests.aio.phones import lab_and_phones, run
from tests.helpers import crlf

WAIT = 5.0
PCMU_ONLY = (
    "v=0\r\no=raw 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)


class RawPeer:
    """A UDP socket that sends hand-written SIP to a phone and reads what comes back."""

    def __init__(self, sock: socket.socket, phone: UserAgent) -> None:
        self.sock = sock
        self.port = sock.getsockname()[1]
        assert phone.local is not None
        self.phone = (phone.local.host, phone.local.port)

    def send(self, text: str, body: bytes = b"") -> None:
        """``text`` (ending with ``Content-Length: 0`` and a blank line), with ``body`` as SDP."""
        head = crlf(text)
        if body:
            head = head.replace(b"Content-Length: 0", b"Content-Type: application/sdp\r\n"
                                b"Content-Length: %d" % len(body))
        self.sock.sendto(head + body, self.phone)

    async def final_response(self) -> Response:
        """The first final response (provisional ones are skipped)."""
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(WAIT):
            while True:
                data, _ = await loop.sock_recvfrom(self.sock, 65536)
                message = parse_message(data)
                if isinstance(message, Response) and message.status >= 200:
                    return message

    def invite(self, call_id: str, branch: str, body: bytes = b"") -> None:
        self.send(f"""
            INVITE sip:bob@{self.phone[0]}:{self.phone[1]} SIP/2.0
            Via: SIP/2.0/UDP 127.0.0.1:{self.port};branch={branch};rport
            Max-Forwards: 70
            From: <sip:raw@127.0.0.1>;tag=raw-{call_id}
            To: <sip:bob@127.0.0.1>
            Call-ID: {call_id}
            CSeq: 1 INVITE
            Contact: <sip:raw@127.0.0.1:{self.port}>
            Content-Length: 0

        """, body)

    def in_dialog(self, method: str, ok: Response, cseq: int, branch: str,
                  body: bytes = b"") -> None:
        assert ok.contact
        self.send(f"""
            {method} {ok.contact[0].uri} SIP/2.0
            Via: SIP/2.0/UDP 127.0.0.1:{self.port};branch={branch};rport
            Max-Forwards: 70
            From: <sip:raw@127.0.0.1>;tag=raw-{ok.call_id}
            To: {ok.headers.get("To")}
            Call-ID: {ok.call_id}
            CSeq: {cseq} {method}
            Content-Length: 0

        """, body)


@asynccontextmanager
async def raw_peer_and_bob() -> AsyncIterator[tuple[RawPeer, UserAgent, socket.socket]]:
    """bob (auto-answering, playing silence) and a raw peer with an RTP socket of its own."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sip, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rtp:
        for sock in (sip, rtp):
            sock.bind(("127.0.0.1", 0))
            sock.setblocking(False)
        async with lab_and_phones("udp", "bob", auto_answer=True,
                                  audio_source="tone:1000") as (_, [bob]):
            yield RawPeer(sip, bob), bob, rtp


def test_invite_without_offer_gets_an_offer_in_the_200_and_the_answer_in_the_ack() -> None:
    async def scenario() -> None:
        async with raw_peer_and_bob() as (peer, bob, rtp):
            peer.invite("offerless-1", "z9hG4bKraw-1")
            ok = await peer.final_response()
            assert ok.status == 200
            offer = parse(ok.body)
            assert [c.name for c in offer.media[0].codecs][:4] == ["PCMU", "PCMA", "G722",
                                                                    "opus"]
            rtp_port = rtp.getsockname()[1]
            answer = Call(Capabilities(audio=("PCMU",)), port=rtp_port).answer_offer(ok.body)
            peer.in_dialog("ACK", ok, 1, "z9hG4bKraw-2", answer)

            invitation = await bob.next_invitation(timeout=WAIT)
            loop = asyncio.get_running_loop()
            async with asyncio.timeout(WAIT):
                data, _ = await loop.sock_recvfrom(rtp, 2048)  # bob's audio, to our port
            assert parse_rtp(data).payload_type == 0
            assert invitation.codec == "PCMU"
            assert invitation.media is not None
            assert invitation.media.started

            peer.in_dialog("BYE", ok, 2, "z9hG4bKraw-3")
            assert (await peer.final_response()).status == 200
            assert await invitation.terminated(timeout=WAIT) == "remote bye"
            assert bob.open_media == []

    run(scenario(), timeout=15)


def test_malformed_sdp_gets_400_with_a_warning_and_the_phone_goes_on() -> None:
    async def scenario() -> None:
        async with raw_peer_and_bob() as (peer, bob, rtp):
            broken = b"v=0\r\no=raw 1 1 IN IP4 127.0.0.1\r\ns=-\r\nm=audio 7 RTP/AVP\r\n"
            peer.invite("broken-1", "z9hG4bKraw-4", broken)
            refused = await peer.final_response()
            assert refused.status == 400
            [(code, _, text)] = parse_warnings(refused.headers.get("Warning"))
            assert code == 399
            assert "malformed SDP" in text
            assert bob.open_media == []

            body = PCMU_ONLY.format(port=rtp.getsockname()[1]).encode()
            peer.invite("fine-1", "z9hG4bKraw-5", body)
            ok = await peer.final_response()
            assert ok.status == 200
            assert b"m=audio" in ok.body
            peer.in_dialog("ACK", ok, 1, "z9hG4bKraw-6")
            peer.in_dialog("BYE", ok, 2, "z9hG4bKraw-7")
            assert (await peer.final_response()).status == 200

    run(scenario(), timeout=15)
