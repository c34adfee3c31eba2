"""A browser-like user agent on WebSocket and a UDP phone, calling each other through
the server (RFC 7118; RFC 3261 §16.6 step 4, double Record-Route).

A user agent on ``ws`` (what JsSIP and SIP.js are) has no address anyone can
connect to: its Via and Contact hosts are invented ``.invalid`` names
(RFC 7118 §5.2) and everything it sends or receives goes over its one
connection to the server. When a call crosses from UDP to WebSocket the
proxy records its route twice, one URI per side, so that each side's route
set starts with an address it can reach; on the browser's side the URI also
carries a ``flow=`` token naming the connection.

Loss is put on the UDP phone's link only: a WebSocket runs over TCP, which
does not lose messages (and the transactions do not retransmit over it).
"""

from __future__ import annotations

import pytest

from siplab.sip.events import SessionEstablished, SessionTerminated
from siplab.sip.message import Request, parse_message
from tests.sip.flows import DOMAIN, LOSSES, SDP, FlowLab, Loss, acked, sdp

VARIANTS = [None, *LOSSES]
SESSION = ["-> INVITE", "<- 100 Trying", "<- 180 Ringing", "<- 200 OK", "-> ACK"]
BYE_FORWARD, BYE_BACK = ["-> BYE", "<- 200 OK"], ["<- BYE", "-> 200 OK"]
UDP_SIDE = "<sip:10.0.0.100:5060;lr>"
WS_SIDE = "<sip:10.0.0.100:8080;transport=ws;lr>"


def invites_to(lab: FlowLab, name: str) -> list[Request]:
    found = [parse_message(r.data) for r in lab.records("server", name)
             if not r.dropped and lab.net.name_of(r.dst) == name]
    return [m for m in found if isinstance(m, Request) and m.method == "INVITE"]


def ended(lab: FlowLab) -> bool:
    return all(lab.reported(name, SessionTerminated) for name in ("alice", "bob"))


@pytest.mark.parametrize("loss", VARIANTS, ids=str)
def test_websocket_caller_to_udp_phone(loss: Loss | None) -> None:
    """Alice in a browser calls Bob's desk phone; Bob hangs up. Bob's BYE finds
    Alice's WebSocket through the flow token in the route set."""
    lab = FlowLab(ws=True)
    alice = lab.ua("alice", transport="ws")
    bob = lab.ua("bob")
    lab.registered("alice", "bob")
    if loss is not None:
        loss.apply(lab, "bob")
    alice.call(f"sip:bob@{DOMAIN}", lab.now, body=SDP)
    incoming = lab.incoming("bob", 40)
    bob.progress(incoming, lab.now)
    lab.run(0.1)
    bob.accept(incoming, lab.now, body=sdp("bob"))
    lab.until(lambda: lab.reported("alice", SessionEstablished) and acked(incoming))
    bob.bye(incoming, lab.now)
    lab.until(lambda: ended(lab))
    # Under loss on Bob's side, Alice's hop carries the copies too: Bob resends his
    # 200 until an ACK reaches him (§13.3.1.4), and Alice ACKs every copy.
    lab.check(loss, {("alice", "server"): [*SESSION, *BYE_BACK],
                     ("server", "bob"): [*SESSION, *BYE_BACK]})
    invite = invites_to(lab, "bob")[0]
    assert invite.headers.get_all("Record-Route") == [
        UDP_SIDE, "<sip:10.0.0.100:8080;transport=ws;lr;flow=ws:10.0.0.1:40000>"]
    assert invite.top_via.host == "10.0.0.100"
    assert invite.via[-1].host.endswith(".invalid")
    assert str(invite.contact[0].uri).endswith(".invalid;transport=ws")
    assert lab.last("alice", SessionTerminated).cause == "remote bye"
    assert lab.server.stats().flows == 1  # Alice's connection
    lab.assert_clean()


@pytest.mark.parametrize("loss", VARIANTS, ids=str)
def test_udp_phone_to_websocket_callee(loss: Loss | None) -> None:
    """Alice's desk phone calls Bob in a browser; Alice hangs up. The proxy reaches
    Bob's ``.invalid`` contact over the connection he registered on."""
    lab = FlowLab(ws=True)
    alice = lab.ua("alice")
    bob = lab.ua("bob", transport="ws")
    lab.registered("alice", "bob")
    if loss is not None:
        loss.apply(lab, "alice")
    outgoing = alice.call(f"sip:bob@{DOMAIN}", lab.now, body=SDP)
    incoming = lab.incoming("bob", 40)
    bob.progress(incoming, lab.now)
    lab.run(0.1)
    bob.accept(incoming, lab.now, body=sdp("bob"))
    lab.until(lambda: lab.reported("alice", SessionEstablished) and acked(incoming))
    alice.bye(outgoing, lab.now)
    lab.until(lambda: ended(lab))
    # Bob resends his 200 over the WebSocket too when Alice's ACK is lost on the UDP
    # side: the 2xx is retransmitted end to end, whatever the first hop (§13.3.1.4).
    lab.check(loss, {("alice", "server"): [*SESSION, *BYE_FORWARD],
                     ("server", "bob"): [*SESSION, *BYE_FORWARD]})
    invite = invites_to(lab, "bob")[0]
    assert invite.headers.get_all("Record-Route") == [WS_SIDE, UDP_SIDE]
    assert invite.uri_text.endswith(".invalid;transport=ws")  # Bob's registered contact
    assert all(r.dst.transport == "ws" for r in lab.records("server", "bob"))
    assert outgoing.dialog is not None
    assert [str(r) for r in outgoing.dialog.route_set] == [UDP_SIDE, WS_SIDE]
    assert incoming.dialog is not None
    assert [str(r) for r in incoming.dialog.route_set] == [WS_SIDE, UDP_SIDE]
    assert lab.last("bob", SessionTerminated).cause == "remote bye"
    lab.assert_clean()
