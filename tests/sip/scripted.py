"""Scripted SIP endpoints for tests: a transaction layer with a few lines of test code on top.

A :class:`ScriptedEndpoint` is a :class:`~siplab.sip.transaction_layer.TransactionLayer`
whose transaction user is the test: every request that reaches it is kept in
``requests`` and handed to ``handler(endpoint, request, transaction, now)``,
which answers with :meth:`ScriptedEndpoint.answer`. Retransmissions and
the ACK for a 3xx-6xx stay in the transaction layer, as in a real element.
Put it on a :class:`~siplab.lab.SimNetwork` like any endpoint.

:class:`ScriptedRegistrar` is a tiny registrar (RFC 3261 §10.3, RFC 3665 §2)
with digest (MD5 by default), 423 Interval Too Brief, queries, Contact: * and
forced answers (``force=[503]``), enough to test a registering user agent
while the real registrar is elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from siplab.ids import IdSource
from siplab.sip.auth_server import AuthStatus, DigestServer
from siplab.sip.build import build_response
from siplab.sip.events import Event, RequestReceived, ResponseReceived
from siplab.sip.headers import Address
from siplab.sip.message import Request, Response
from siplab.sip.timers import TimerConfig
from siplab.sip.transaction import ServerTransaction
from siplab.sip.transaction_layer import TransactionLayer
from siplab.sip.transport import Peer

__all__ = ["Handler", "ScriptedEndpoint", "ScriptedRegistrar"]

#: handler(endpoint, request, transaction, now); transaction is None for an ACK of a 2xx.
Handler = Callable[["ScriptedEndpoint", Request, "ServerTransaction | None", float], None]


class ScriptedEndpoint:
    """A transaction layer answered by a test function (the sans-I/O endpoint verbs)."""

    def __init__(self, handler: Handler | None = None, *, ids: IdSource | None = None,
                 timers: TimerConfig | None = None, auto_100: bool = True) -> None:
        self.layer = TransactionLayer(timers=timers, auto_100=auto_100)
        self.ids = ids or IdSource(1234)
        self.handler = handler
        self.requests: list[Request] = []  # every request the layer passed up, ACKs too
        self.events: list[Event] = []  # every layer event, in order
        self.outbox: list[tuple[bytes, Peer]] = []  # raw datagrams queued by send_raw

    # -- endpoint verbs -----------------------------------------------------------------------

    def receive_datagram(self, data: bytes, peer: Peer, now: float) -> None:
        self.layer.receive_datagram(data, peer, now)
        self._dispatch(now)

    def datagrams_to_send(self) -> list[tuple[bytes, Peer]]:
        raw, self.outbox = self.outbox, []
        return raw + self.layer.datagrams_to_send()

    def next_event(self) -> Event | None:
        return None

    def get_timer(self) -> float | None:
        return self.layer.get_timer()

    def handle_timer(self, now: float) -> None:
        self.layer.handle_timer(now)
        self._dispatch(now)

    # -- answering ----------------------------------------------------------------------------

    def answer(self, transaction: ServerTransaction, status: int, now: float, *,
               reason: str | None = None, to_tag: str | None = None,
               headers: Iterable[tuple[str, str]] = (), body: bytes = b"",
               content_type: str | None = None) -> Response:
        """Send a response through ``transaction`` (a fresh To tag unless given)."""
        response = build_response(transaction.request, status, reason,
                                  to_tag=to_tag or self.ids.tag(), headers=headers, body=body,
                                  content_type=content_type)
        self.layer.send_response(transaction, response, now)
        return response

    def send_raw(self, data: bytes, peer: Peer) -> None:
        """Put bytes on the wire as they are (malformed messages, hand-made requests)."""
        self.outbox.append((data, peer))

    def responses(self) -> list[Response]:
        """Every response that reached this endpoint's client transactions."""
        return [e.response for e in self.events if isinstance(e, ResponseReceived)]

    def methods(self) -> list[str]:
        return [r.method for r in self.requests]

    def _dispatch(self, now: float) -> None:
        while (event := self.layer.next_event()) is not None:
            self.events.append(event)
            if isinstance(event, RequestReceived):
                self.requests.append(event.request)
                self.on_request(event.request, event.transaction, now)

    def on_request(self, request: Request, transaction: ServerTransaction | None,
                   now: float) -> None:
        if self.handler is not None:
            self.handler(self, request, transaction, now)
        elif transaction is not None and request.method != "ACK":
            self.answer(transaction, 200, now)


class ScriptedRegistrar(ScriptedEndpoint):
    """A registrar in a few lines: digest, 423, bindings with expiry, queries (RFC 3665 §2).

    ``users`` maps user names to passwords (None: no authentication). A wrong
    password gets 403 Forbidden. ``force`` lists statuses to answer the next
    REGISTERs with, one each, before the normal logic (``[503]``, ``[401, 401]``).
    """

    def __init__(self, *, users: Mapping[str, str] | None = None, realm: str = "siplab",
                 min_expires: int = 0, max_expires: int = 3600,
                 algorithms: tuple[str, ...] = ("MD5",), force: Iterable[int] = (),
                 ids: IdSource | None = None, timers: TimerConfig | None = None) -> None:
        super().__init__(ids=ids, timers=timers)
        self.users = users
        self.min_expires = min_expires
        self.max_expires = max_expires
        self.force = list(force)
        self.digest = DigestServer(realm, secret=b"scripted registrar", algorithms=algorithms,
                                   ids=self.ids)
        self.bindings: dict[str, dict[str, tuple[Address, float]]] = {}

    def contacts(self, aor: str, now: float) -> list[Address]:
        """The live bindings of ``aor``, with their remaining expires."""
        live = {k: v for k, v in self.bindings.get(aor, {}).items() if v[1] > now}
        self.bindings[aor] = live
        return [a.with_param("expires", str(int(at - now))) for a, at in live.values()]

    def on_request(self, request: Request, transaction: ServerTransaction | None,
                   now: float) -> None:
        if transaction is None or request.method == "ACK":
            return
        if request.method != "REGISTER":
            self.answer(transaction, 405, now, headers=[("Allow", "REGISTER")])
            return
        if self.force:
            self.answer(transaction, self.force.pop(0), now)
            return
        if self.users is not None:
            result = self.digest.check_request(request, now, password_for=self.users)
            if result.status in (AuthStatus.NO_CREDENTIALS, AuthStatus.NONCE_EXPIRED):
                self.layer.send_response(transaction, self.digest.challenge_response(
                    request, now, stale=result.stale), now)
                return
            if not result.ok:
                self.answer(transaction, 403, now)
                return
        aor = request.to.sip_uri.address_of_record
        header_expires = request.expires
        table = self.bindings.setdefault(aor, {})
        for contact in request.contact:
            if contact.is_wildcard:
                table.clear()
                continue
            value = contact.param("expires")
            expires = int(value) if value is not None else (
                header_expires if header_expires is not None else 3600)
            if 0 < expires < self.min_expires:
                self.answer(transaction, 423, now,
                            headers=[("Min-Expires", str(self.min_expires))])
                return
            key = str(contact.uri)
            if expires == 0:
                table.pop(key, None)
            else:
                bare = Address(contact.uri, contact.display_name)
                table[key] = (bare, now + min(expires, self.max_expires))
        lines = [("Contact", str(a)) for a in self.contacts(aor, now)]
        self.answer(transaction, 200, now, headers=lines)
