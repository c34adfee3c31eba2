"""Scripted SIP phones for testing the server core on a SimNetwork.

A :class:`Phone` is a bare :class:`TransactionLayer` with a few lines of
user-agent behaviour written out by hand (not the real UA core, so that the
server is tested against something independent):

* it **registers** (and answers a 401 once per challenge with
  :func:`siplab.sip.auth.add_authorization`, again when the nonce was stale);
* it **answers** an INVITE as told by ``answer``: ``"ok"`` (180 then 200),
  ``"ring"`` (180 and wait), a status such as ``486`` (that final response at
  once) or ``None`` (only the layer's 100 Trying); a CANCEL gets 200 and the
  INVITE 487; BYE, MESSAGE, OPTIONS and INFO get 200;
* it **calls**: INVITE through the server, ACK for every 2xx (built by the
  :class:`~siplab.sip.dialog.Dialog`, sent along the route set), BYE, CANCEL,
  MESSAGE.

A phone with ``transport="ws"`` behaves like a browser (RFC 7118): a
``.invalid`` host in Via and Contact, and everything goes to the server over
its one connection.

:class:`Lab` puts a :class:`ServerCore` and phones on one SimNetwork and
draws the ladder between two of them (:meth:`Lab.ladder`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from siplab.ids import IdSource
from siplab.lab import SimNetwork
from siplab.sip.auth import add_authorization, challenges_from
from siplab.sip.build import (
    build_cancel,
    build_request,
    build_response,
    make_via,
    response_destination,
)
from siplab.sip.dialog import Dialog
from siplab.sip.events import (
    Event,
    RequestReceived,
    ResponseReceived,
)
from siplab.sip.message import Request, Response, parse_message
from siplab.sip.server import ServerConfig, ServerCore, ServerStats
from siplab.sip.transaction import InviteServerTransaction, ServerTransaction
from siplab.sip.transaction_layer import TransactionLayer
from siplab.sip.transport import Peer, peer_for_uri

__all__ = ["DOMAIN", "SERVER", "SERVER_WS", "USERS", "Lab", "Phone", "RawPeer", "Reflector"]

DOMAIN = "biloxi.example.com"
SERVER = Peer("10.0.0.100", 5060, "udp")
SERVER_WS = Peer("10.0.0.100", 8080, "ws")
USERS = {"alice": "wonderland", "bob": "builder", "carol": "singer"}


class Phone:
    """A hand-scripted user agent: registers, calls, answers (tests only)."""

    def __init__(
        self,
        user: str,
        *,
        local: Peer,
        server: Peer,
        ids: IdSource,
        domain: str = DOMAIN,
        password: str | None = None,
        answer: str | int | None = "ok",
        contact: str | None = None,
    ) -> None:
        self.user = user
        self.local = local
        self.server = server
        self.ids = ids
        self.domain = domain
        self.password = password
        self.answer = answer
        self.layer = TransactionLayer()
        self.aor = f"sip:{user}@{domain}"
        self.ws = local.transport == "ws"
        if self.ws:
            self.via_host, self.via_port = f"{ids.token(8)}.invalid", None
            default_contact = f"sip:{ids.token(8)}@{self.via_host};transport=ws"
        else:
            self.via_host, self.via_port = local.host, local.port
            suffix = "" if local.transport == "udp" else f";transport={local.transport}"
            default_contact = f"sip:{user}@{local.host}:{local.port}{suffix}"
        self.contact_uri = contact or default_contact
        self.events: list[Event] = []
        self.received: list[Request] = []
        self.responses: list[Response] = []
        self.register_call_id = ids.call_id(self.via_host)
        self.register_cseq = 0
        self.nonce_counts: dict[str, int] = {}
        self._register: Request | None = None
        self._challenges = 0
        self._proxy_challenges: dict[str, int] = {}  # Call-ID -> 407s answered
        self.invite: Request | None = None
        self.dialog: Dialog | None = None
        self.incoming: Request | None = None
        self.incoming_tx: InviteServerTransaction | None = None

    def __repr__(self) -> str:
        return f"<Phone {self.aor} at {self.local}>"

    # -- the endpoint contract -------------------------------------------------------------

    def receive_datagram(self, data: bytes, peer: Peer, now: float) -> None:
        self.layer.receive_datagram(data, peer, now)
        self._pump(now)

    def datagrams_to_send(self) -> list[tuple[bytes, Peer]]:
        return self.layer.datagrams_to_send()

    def get_timer(self) -> float | None:
        return self.layer.get_timer()

    def handle_timer(self, now: float) -> None:
        self.layer.handle_timer(now)
        self._pump(now)

    # -- reading what happened --------------------------------------------------------------

    def statuses(self, method: str) -> list[int]:
        """Status codes of every response to ``method`` this phone received, in order."""
        return [r.status for r in self.responses if r.cseq.method == method]

    def last_response(self, method: str) -> Response:
        return [r for r in self.responses if r.cseq.method == method][-1]

    def methods_received(self) -> list[str]:
        return [r.method for r in self.received]

    # -- registering ----------------------------------------------------------------------------

    def register(self, now: float, *, expires: int | None = None,
                 contacts: Sequence[str] | None = None) -> Request:
        """REGISTER with our contact (or ``contacts``, e.g. ``["*"]``; ``[]`` is a query)."""
        self.register_cseq += 1
        values = [f"<{self.contact_uri}>"] if contacts is None else list(contacts)
        headers = [("Contact", value) for value in values]
        if expires is not None:
            headers.append(("Expires", str(expires)))
        request = build_request(
            "REGISTER", f"sip:{self.domain}", from_=f"<{self.aor}>", to=f"<{self.aor}>",
            via_host=self.via_host, via_port=self.via_port, transport=self.local.transport,
            ids=self.ids, call_id=self.register_call_id, cseq=self.register_cseq,
            headers=headers,
        )
        self._register = request
        self._challenges = 0
        self.layer.send_request(request, self.server, now)
        return request

    def unregister(self, now: float) -> Request:
        return self.register(now, contacts=[f"<{self.contact_uri}>;expires=0"])

    def _on_register_response(self, response: Response, now: float) -> None:
        request = self._register
        if response.status != 401 or request is None or self.password is None:
            return
        stale = any(c.stale for c in challenges_from(response))
        if self._challenges >= 1 and not stale:
            return  # we answered this kind of challenge already: the password is wrong
        self._challenges += 1
        retry = add_authorization(request, response, username=self.user,
                                  password=self.password, ids=self.ids,
                                  nonce_counts=self.nonce_counts)
        self.register_cseq = retry.cseq.number
        self._register = retry
        self.layer.send_request(retry, self.server, now)

    # -- calling ----------------------------------------------------------------------------------

    def _on_proxy_challenge(self, request: Request, response: Response, peer: Peer,
                            now: float) -> None:
        """A 407 from the proxy: answer it once per call (RFC 3261 §22.3)."""
        answered = self._proxy_challenges.get(request.call_id, 0)
        if self.password is None or answered >= 1:
            return
        self._proxy_challenges[request.call_id] = answered + 1
        retry = add_authorization(request, response, username=self.user,
                                  password=self.password, ids=self.ids,
                                  nonce_counts=self.nonce_counts)
        if retry.method == "INVITE":
            self.invite = retry
        self.layer.send_request(retry, peer, now)

    def _new_request(self, method: str, target: str, now: float, **extra: Any) -> Request:
        request = build_request(
            method, target, from_=f"<{self.aor}>", to=f"<{target}>", via_host=self.via_host,
            via_port=self.via_port, transport=self.local.transport, ids=self.ids, **extra,
        )
        self.layer.send_request(request, self.server, now)
        return request

    def call(self, target: str, now: float, *, max_forwards: int = 70) -> Request:
        """INVITE ``target`` through the server."""
        self.dialog = None
        self.invite = self._new_request("INVITE", target, now, contact=f"<{self.contact_uri}>",
                                        max_forwards=max_forwards)
        return self.invite

    def message(self, target: str, text: str, now: float) -> Request:
        return self._new_request("MESSAGE", target, now, body=text.encode(),
                                 content_type="text/plain")

    def options(self, target: str, now: float, *, max_forwards: int = 70,
                headers: Sequence[tuple[str, str]] = ()) -> Request:
        return self._new_request("OPTIONS", target, now, max_forwards=max_forwards,
                                 headers=headers)

    def send(self, method: str, target: str, now: float) -> Request:
        """Any other request out of dialog, through the server."""
        return self._new_request(method, target, now)

    def cancel(self, now: float) -> Request:
        assert self.invite is not None
        cancel = build_cancel(self.invite)
        self.layer.send_request(cancel, self.server, now)
        return cancel

    def next_hop(self) -> Peer:
        """Where a request in our dialog goes: the first Record-Route, or the peer's Contact."""
        assert self.dialog is not None
        if self.ws:
            return self.server  # a browser has one connection, to the server
        hop = peer_for_uri(self.dialog.next_hop)
        assert hop is not None, f"cannot reach {self.dialog.next_hop}"
        return hop

    def bye(self, now: float) -> Request:
        assert self.dialog is not None
        bye = self.dialog.create_request("BYE", via_host=self.via_host, via_port=self.via_port,
                                         transport=self.local.transport, ids=self.ids)
        self.layer.send_request(bye, self.next_hop(), now)
        return bye

    def _on_invite_response(self, response: Response, now: float) -> None:
        invite = self.invite
        if invite is None or not 200 <= response.status < 300:
            return
        if self.dialog is None:
            self.dialog = Dialog.from_uac_response(invite, response)
        ack = self.dialog.create_ack(invite.cseq.number, via_host=self.via_host,
                                     via_port=self.via_port, transport=self.local.transport,
                                     ids=self.ids)
        self.layer.send_stateless(ack, self.next_hop())

    # -- answering -----------------------------------------------------------------------------

    def _respond(self, transaction: ServerTransaction, request: Request, status: int,
                 now: float, **extra: Any) -> None:
        tag = self.dialog.local_tag if self.dialog is not None else self.ids.tag()
        self.layer.send_response(transaction, build_response(request, status, to_tag=tag,
                                                             **extra), now)

    def _on_request(self, request: Request, transaction: ServerTransaction | None,
                    now: float) -> None:
        self.received.append(request)
        if transaction is None:  # an ACK for our 2xx
            return
        match request.method:
            case "INVITE":
                assert isinstance(transaction, InviteServerTransaction)
                self._on_invite(request, transaction, now)
            case "CANCEL":
                self._respond(transaction, request, 200, now)
                invite = self.layer.find_server_transaction_for_cancel(request)
                if invite is not None and invite.last_response is not None and \
                        invite.last_response.status < 200:
                    self._respond(invite, invite.request, 487, now)
            case "BYE":
                self._respond(transaction, request, 200, now)
                if self.dialog is not None:
                    self.dialog.terminate()
            case _:
                self._respond(transaction, request, 200, now)

    def _on_invite(self, request: Request, transaction: InviteServerTransaction,
                   now: float) -> None:
        self.incoming, self.incoming_tx = request, transaction
        contact = [("Contact", f"<{self.contact_uri}>")]
        if self.answer in ("ok", "ring"):
            self.dialog = Dialog.from_uas_request(request, self.ids.tag())
            self._respond(transaction, request, 180, now)
        if self.answer == "ok":
            self._respond(transaction, request, 200, now, headers=contact)
            assert self.dialog is not None
            self.dialog.confirm()
        elif isinstance(self.answer, int):
            self._respond(transaction, request, self.answer, now)

    def answer_now(self, status: int, now: float) -> None:
        """Send a final response to the INVITE we are ringing for."""
        assert self.incoming is not None
        assert self.incoming_tx is not None
        headers = [("Contact", f"<{self.contact_uri}>")] if status < 300 else []
        self._respond(self.incoming_tx, self.incoming, status, now, headers=headers)
        if status < 300 and self.dialog is not None:
            self.dialog.confirm()

    # -- the events -------------------------------------------------------------------------------

    def _pump(self, now: float) -> None:
        while (event := self.layer.next_event()) is not None:
            self.events.append(event)
            if isinstance(event, RequestReceived):
                self._on_request(event.request, event.transaction, now)
            elif isinstance(event, ResponseReceived):
                response = event.response
                self.responses.append(response)
                if response.status == 407:
                    self._on_proxy_challenge(event.transaction.request, response,
                                             event.transaction.peer, now)
                elif response.cseq.method == "REGISTER":
                    self._on_register_response(response, now)
                elif response.cseq.method == "INVITE":
                    self._on_invite_response(response, now)


class RawPeer:
    """Sends the bytes it is given and keeps what it receives: for malformed input."""

    def __init__(self) -> None:
        self.outbox: list[tuple[bytes, Peer]] = []
        self.received: list[bytes] = []

    def send(self, data: bytes, to: Peer) -> None:
        self.outbox.append((data, to))

    def receive_datagram(self, data: bytes, peer: Peer, now: float) -> None:
        self.received.append(data)

    def datagrams_to_send(self) -> list[tuple[bytes, Peer]]:
        out, self.outbox = self.outbox, []
        return out

    def get_timer(self) -> float | None:
        return None

    def handle_timer(self, now: float) -> None:
        pass

    def responses(self) -> list[Response]:
        return [m for m in map(parse_message, self.received) if isinstance(m, Response)]


class Reflector(RawPeer):
    """A misconfigured stateless proxy that sends every request back to ``server``.

    It adds its own Via (RFC 3261 §16.11) and relays responses down the Via
    chain, so a request it reflects loops between it and the server.
    """

    def __init__(self, me: Peer, server: Peer) -> None:
        super().__init__()
        self.me, self.server = me, server

    def receive_datagram(self, data: bytes, peer: Peer, now: float) -> None:
        super().receive_datagram(data, peer, now)
        message = parse_message(data)
        if isinstance(message, Request):
            branch = f"z9hG4bKrefl{len(self.received)}"
            message.headers.prepend("Via", make_via("UDP", self.me.host, self.me.port, branch,
                                                    rport=False))
            self.send(message.to_bytes(), self.server)
        elif message.via_count > 1:  # (a response to its own REGISTER stays here)
            message.headers.pop_first("Via")
            host, port = response_destination(message.top_via)
            self.send(message.to_bytes(), Peer(host, port))


class Lab:
    """A ServerCore for ``DOMAIN`` and scripted phones on one SimNetwork.

    ``users=None`` runs the server in open mode. ``ws=True`` adds a WebSocket
    listener. Each phone gets its own seeded IdSource, so runs are identical.
    """

    def __init__(self, *, users: Mapping[str, str] | None = USERS, ws: bool = False,
                 seed: int = 1, delay: float = 0.01, **config: Any) -> None:
        self.seed = seed
        self.net = SimNetwork(seed=seed, delay=delay)
        listen = (SERVER, SERVER_WS) if ws else (SERVER,)
        self.config = ServerConfig(listen=listen, domains=(DOMAIN,), users=users, **config)
        self.server = ServerCore(self.config, ids=IdSource(f"server-{seed}"))
        for address in listen:
            self.net.add(self.server, address.host, address.port, name="server",
                         transport=address.transport)
        self.phones: list[Phone] = []
        self._mark = 0

    @property
    def now(self) -> float:
        return self.net.now

    def phone(self, user: str, host: str, port: int = 5060, *, name: str | None = None,
              transport: str = "udp", password: str | None = None, **options: Any) -> Phone:
        """A phone for ``user`` at ``host:port``; its password comes from USERS by default."""
        server = SERVER_WS if transport == "ws" else SERVER
        users = self.config.users or {}
        phone = Phone(user, local=Peer(host, port, transport), server=server,
                      ids=IdSource(f"{name or user}-{self.seed}"),
                      password=password if password is not None else users.get(user),
                      **options)
        self.net.add(phone, host, port, name=name or user, transport=transport)
        self.phones.append(phone)
        return phone

    def run(self, seconds: float = 2.0) -> None:
        """Let the network run for ``seconds`` of simulated time."""
        self.net.run_until(self.net.now + seconds)

    def mark(self) -> None:
        """Start the ladders here: what came before (the registrations, say) is left out."""
        self._mark = len(self.net.records)

    def ladder(self, a: str, b: str) -> list[str]:
        """The messages between endpoints ``a`` and ``b`` since the last :meth:`mark`:
        ``"-> INVITE"`` from a to b, ``"<- 100 Trying"`` from b to a, in delivery order."""
        out = []
        for record in self.net.records[self._mark:]:
            if record.dropped:
                continue
            src, dst = self.net.name_of(record.src), self.net.name_of(record.dst)
            if (src, dst) == (a, b):
                out.append(f"-> {record.label}")
            elif (src, dst) == (b, a):
                out.append(f"<- {record.label}")
        return out

    def settle(self) -> ServerStats:
        """Run past every transaction timer (Timer L, M, J: 64*T1) and report the stats."""
        self.run(64 * self.server.layer.timers.t1 + 1)
        return self.server.stats()

    def assert_clean(self, *, bindings: int = 0) -> None:
        """Nothing left behind: no transaction, no response context; ``bindings`` bindings."""
        stats = self.settle()
        assert stats.idle, stats
        assert stats.bindings == bindings, stats
        for phone in self.phones:
            assert not phone.layer.client_transactions, phone
            assert not phone.layer.server_transactions, phone
