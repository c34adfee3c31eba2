"""The lab server's core: a registrar and a stateful proxy behind one endpoint (RFC 3261 §10, §16).

What Kamailio or Asterisk do for a classroom, :class:`ServerCore` does sans-I/O:
it owns one :class:`~siplab.sip.transaction_layer.TransactionLayer`, reads
the layer's events, and decides for every new request who answers it::

    request arrives
      |-- malformed (the layer could not read it) --> 400 with the parse error,
      |                                              if the start line is a request
      |-- ACK (for a 2xx) ------------------------> proxy, forwarded statelessly
      |-- CANCEL ---------------------------------> proxy: 200, cancel the branches
      |-- for us: our domain, no Route left
      |     |-- REGISTER without credentials -----> 401, sent with no transaction (§8.2.7)
      |     |-- REGISTER -------------------------> registrar (§10.3)
      |     |-- OPTIONS without user -------------> 200 with Allow (§11)
      |     |-- anything else without user -------> 405 (a method we know) or 501
      |     '-- for a user ---------------------> proxy: location lookup, forking
      '-- anything else --------------------------> proxy: forward (§16)

Failed authentications are answered late once a source or a user name has
failed too often (:mod:`siplab.sip.auth_throttle`): the response is held
back on a timer, so password guessing is slow and correct passwords are not.

Like every sans-I/O endpoint it has the five verbs of DESIGN.md, so the same
object runs in :class:`~siplab.lab.SimNetwork` and under
``siplab.aio.server.LabServer``. Its timers are the layer's, Timer C of the
proxy and the next binding expiry, so bindings disappear on time and
``stats()`` goes back to zero when the calls are over.

The server's own events (drained with :meth:`ServerCore.next_event`) are
:class:`BindingsChanged`, :class:`BindingRemoved` and the layer's
:class:`~siplab.sip.events.MessageDiscarded`. The queue is bounded: a server
nobody drains (on a SimNetwork) does not grow without end.
"""

from __future__ import annotations

import heapq
import itertools
import logging
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote

from siplab.errors import (
    InvalidStateError,
    LocalProtocolError,
    RemoteProtocolError,
    SipError,
    SipParseError,
)
from siplab.ids import IdSource
from siplab.sip.auth import challenges_from, parse_credentials
from siplab.sip.auth_server import AuthStatus, DigestServer
from siplab.sip.auth_throttle import AuthThrottle, ThrottleConfig
from siplab.sip.build import build_response
from siplab.sip.events import (
    BindingRemoved,
    BindingsChanged,
    Event,
    MessageDiscarded,
    RequestReceived,
    ResponseReceived,
    TransactionTerminated,
    TransactionTimedOut,
    TransportFailed,
)
from siplab.sip.message import Request, Response, parse_message
from siplab.sip.proxy import TIMER_C, ProxyCore
from siplab.sip.registrar import LocationService, Registrar
from siplab.sip.routing import LocalAddresses
from siplab.sip.timers import TimerConfig
from siplab.sip.transaction import ClientTransaction, ServerTransaction
from siplab.sip.transaction_layer import TransactionLayer
from siplab.sip.transport import Peer
from siplab.sip.uas_checks import Refusal, bad_request_response, error_reason, refusal
from siplab.sip.uri import SipUri

__all__ = [
    "ServerConfig",
    "ServerStats",
    "ServerCore",
    "BindingsChanged",
    "BindingRemoved",
    "SERVER_METHODS",
]

logger = logging.getLogger("siplab.server")

#: What the server itself answers when a request is addressed to it (Allow); the
#: other :data:`~siplab.sip.uas_checks.KNOWN_METHODS` get 405, unknown ones 501.
SERVER_METHODS = ("OPTIONS", "REGISTER")
#: How many server events are kept for next_event() before the oldest are dropped.
MAX_QUEUED_EVENTS = 1000


@dataclass(frozen=True, slots=True, repr=False)
class ServerConfig:
    """How a lab server is set up.

    ``listen``: every address the server receives on, one per transport
    (``Peer("127.0.0.1", 5060, "udp")``...). A URI names the server when its
    host and port are one of these (FACTS.md). ``domains``: other names the
    server answers to (the listener hosts always count); the first one names
    the AORs and is the default digest realm. ``users``: user name ->
    password; ``None`` is *open mode*, where anyone may register as anyone.
    ``digest_algorithms``: offered in this order, one WWW-Authenticate each.
    Only MD5 by default: sipp 3.6 answers the *first* challenge and JsSIP
    3.13 and SIP.js 0.21 the *last*, and none of the three knows SHA-256
    (FACTS.md), so offering ``("MD5", "SHA-256")`` would lock the browsers
    out and ``("SHA-256", "MD5")`` sipp. Add SHA-256 for RFC 8760 exercises.
    ``authenticate_calls``: also challenge (407) requests our users send
    through the proxy; by default only REGISTER is challenged.
    ``auth_throttle``: when failed authentications start being answered late
    (:class:`~siplab.sip.auth_throttle.ThrottleConfig`); None answers at once.
    """

    listen: tuple[Peer, ...]
    domains: tuple[str, ...] = ()
    users: Mapping[str, str] | None = field(default=None, compare=False)
    realm: str | None = None
    digest_algorithms: tuple[str, ...] = ("MD5",)
    authenticate_calls: bool = False
    record_route: bool = True
    min_expires: int = 60
    max_expires: int = 3600
    default_expires: int = 3600
    timer_c: float = TIMER_C
    nonce_lifetime: float = 300.0
    auth_throttle: ThrottleConfig | None = field(default_factory=ThrottleConfig)

    def __post_init__(self) -> None:
        if not self.listen:
            raise ValueError("a server needs at least one listening address")
        object.__setattr__(self, "listen", tuple(self.listen))
        object.__setattr__(self, "domains", tuple(self.domains))

    def __repr__(self) -> str:
        users = "open" if self.users is None else f"<{len(self.users)} users, passwords NOT SHOWN>"
        listen = ", ".join(str(p) for p in self.listen)
        return f"ServerConfig(listen=[{listen}], domains={self.domains!r}, users={users})"


@dataclass(frozen=True, slots=True)
class ServerStats:
    """What the server holds right now; all zero but the bindings when it is idle."""

    server_transactions: int
    client_transactions: int
    response_contexts: int
    bindings: int
    aors: int
    flows: int  # distinct connections (TCP, WS) that bindings are reached over

    @property
    def idle(self) -> bool:
        """No transaction and no response context left."""
        return not (self.server_transactions or self.client_transactions
                    or self.response_contexts)


class ServerCore:
    """The registrar and proxy of the lab, as one sans-I/O endpoint.

    ``ids`` gives tags, branches and the digest secret (a seeded IdSource
    makes every run identical); ``timers`` sets T1/T2/T4 for its transactions.
    """

    def __init__(self, config: ServerConfig, *, ids: IdSource,
                 timers: TimerConfig | None = None) -> None:
        self.config = config
        self.ids = ids
        self.local = LocalAddresses(config.listen, config.domains)
        self.layer = TransactionLayer(timers=timers)
        self.digest: DigestServer | None = None
        if config.users is not None:
            self.digest = DigestServer(
                config.realm or self.local.domains[0],
                secret=ids.nonce_bytes(32),
                algorithms=config.digest_algorithms,
                nonce_lifetime=config.nonce_lifetime,
                ids=ids,
                # A client resends its answer to a 401 for up to Timer F.
                first_use_window=(timers or TimerConfig()).duration("F", reliable=False),
            )
        self.registrar = Registrar(
            self.local.domains,
            users=config.users,
            digest=self.digest,
            ids=ids,
            min_expires=config.min_expires,
            max_expires=config.max_expires,
            default_expires=config.default_expires,
        )
        self.location: LocationService = self.registrar.location
        self.layer.stateless_answer = self._answer_statelessly
        self.proxy = ProxyCore(self.layer, self.registrar, self.local, ids=ids,
                               record_route=config.record_route, timer_c=config.timer_c)
        self._events: deque[Event] = deque(maxlen=MAX_QUEUED_EVENTS)
        self._outbox: list[tuple[bytes, Peer]] = []
        self.throttle = (AuthThrottle(config.auth_throttle)
                         if config.auth_throttle is not None and self.digest is not None else None)
        # Failures answered late: (when, order, transaction, response), earliest first.
        self._held: list[tuple[float, int, ServerTransaction, Response]] = []
        self._held_order = itertools.count()

    def __repr__(self) -> str:
        return f"<ServerCore {self.config!r} {self.stats()}>"

    # -- the endpoint contract ------------------------------------------------------------

    def receive_datagram(self, data: bytes, peer: Peer, now: float) -> None:
        """Take one message from ``peer`` and act on it."""
        self.layer.receive_datagram(data, peer, now)
        self._pump(now)

    def datagrams_to_send(self) -> list[tuple[bytes, Peer]]:
        out = self.layer.datagrams_to_send()
        if self._outbox:
            out.extend(self._outbox)
            self._outbox = []
        return out

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        """The earliest of: a transaction timer, Timer C, the next binding expiry."""
        # (Asked after every datagram: written out rather than with a list and min().)
        earliest = self.layer.get_timer()
        for deadline in (self.proxy.get_timer(), self.location.get_timer(),
                         self._held[0][0] if self._held else None):
            if deadline is not None and (earliest is None or deadline < earliest):
                earliest = deadline
        return earliest

    def handle_timer(self, now: float) -> None:
        while self._held and self._held[0][0] <= now:
            _, _, transaction, response = heapq.heappop(self._held)
            logger.info("%s for a failed authentication, held back, goes out now",
                        response.label)
            self._send(transaction, response, now)
        self.layer.handle_timer(now)
        self._pump(now)
        self.proxy.handle_timer(now)
        self._pump(now)
        for binding in self.location.expire(now):
            logger.debug("binding %s of %s expired", binding.uri, binding.aor)
            self._events.append(BindingRemoved(binding, "expired"))
        if self.throttle is not None:
            self.throttle.sweep(now)

    def transport_error(self, peer: Peer, now: float) -> None:
        """Sending to ``peer`` failed. Over a connection (TCP, WS), the bindings
        reached through it are dead too: a browser that closed its tab is gone."""
        self.layer.transport_error(peer, now)
        self._pump(now)
        if peer.reliable:
            for binding in [b for b in self.location if b.source == peer]:
                self.location.remove(binding)
                self._events.append(BindingRemoved(binding, "flow failed"))

    def stats(self) -> ServerStats:
        """Counters for tests and load runs: what is still open right now."""
        return ServerStats(
            server_transactions=len(self.layer.server_transactions),
            client_transactions=len(self.layer.client_transactions),
            response_contexts=self.proxy.context_count,
            bindings=len(self.location),
            aors=self.location.aor_count,
            flows=len({b.source for b in self.location if b.source.reliable}),
        )

    # -- dispatching the layer's events ---------------------------------------------------------

    def _pump(self, now: float) -> None:
        while (event := self.layer.next_event()) is not None:
            try:
                self._handle(event, now)
            except SipError:  # one odd message must not stop the server
                logger.exception("while handling %s", type(event).__name__)

    def _handle(self, event: Event, now: float) -> None:
        if type(event) is RequestReceived:  # nearly every event: skip the pattern matching
            self._on_request(event.request, event.transaction, event.peer, now)
            return
        match event:
            case RequestReceived(request=request, transaction=transaction, peer=peer):
                self._on_request(request, transaction, peer, now)
            case ResponseReceived(response=response, transaction=transaction):
                self.proxy.on_response(response, transaction, now)
            case TransactionTimedOut(transaction=transaction):
                if isinstance(transaction, ClientTransaction):
                    self.proxy.on_timeout(transaction, now)
            case TransportFailed(transaction=transaction):
                if isinstance(transaction, ClientTransaction | ServerTransaction):
                    self.proxy.on_transport_failed(transaction, now)
            case TransactionTerminated(transaction=transaction):
                if isinstance(transaction, ClientTransaction | ServerTransaction):
                    self.proxy.on_terminated(transaction, now)
            case MessageDiscarded(data=data, peer=peer):
                self._on_discarded(data, peer)
                self._events.append(event)

    def _on_discarded(self, data: bytes, peer: Peer) -> None:
        """Bytes the layer could not use: a broken request gets its 400 (§16.3 step 1)."""
        try:
            message = parse_message(data)
            message.validate()
        except ValueError as error:  # SipParseError
            response = bad_request_response(data, str(error), to_tag=self.ids.tag())
            if response is not None:
                logger.debug("400 for a malformed request from %s: %s", peer, error)
                # Straight back to the sender: its Via may be what is broken.
                self._outbox.append((response.to_bytes(), peer))
            return
        if isinstance(message, Response):  # matched no transaction: maybe a late 2xx
            self.proxy.forward_stray_response(message)

    def _on_request(self, request: Request, transaction: ServerTransaction | None, peer: Peer,
                    now: float) -> None:
        if request.method == "ACK":
            try:
                self.proxy.forward_ack(request, peer, now)
            except RemoteProtocolError as error:
                logger.debug("ACK dropped: %s", error)
            return
        assert transaction is not None  # only an ACK comes without one
        try:
            self._dispatch(request, transaction, peer, now)
        except RemoteProtocolError as error:  # a header value we could not read, say
            self._reply(transaction, request, error.status, error_reason(str(error)), now)
        except LocalProtocolError:  # our own mistake: say so, and keep serving
            logger.exception("while handling %s %s", request.method, request.uri_text)
            self._reply(transaction, request, 500, None, now)

    def _dispatch(self, request: Request, transaction: ServerTransaction, peer: Peer,
                  now: float) -> None:
        method = request.method
        if method == "CANCEL":
            self.proxy.handle_cancel(request, transaction, now)
            return
        if method == "REGISTER" and not request.headers.get("Route") and \
                self.local.is_our_domain(request.uri):
            # The common case, made short: route preprocessing (§16.4) would only
            # copy the request, and the registrar reads it without changing it.
            self._register(request, transaction, peer, now)
            return
        prepared = self.proxy.prepare(request)
        work = prepared.request
        uri = work.uri
        if not work.route and self.local.is_our_domain(uri):
            if method == "REGISTER":
                self._register(work, transaction, peer, now)
                return
            if isinstance(uri, SipUri) and uri.user is None:
                self._serve_locally(work, transaction, now)
                return
        if method == "OPTIONS" and work.max_forwards == 0:  # §16.3 step 3: answer it here
            self._serve_locally(work, transaction, now)
            return
        if self.config.authenticate_calls:
            if work is request:  # _authorized takes our credentials out: not of the original
                prepared = prepared._replace(request=request.copy())
                work = prepared.request
            if not self._authorized(work, transaction, peer, now):
                return
        self.proxy.forward(prepared, transaction, peer, now)

    # -- what the server answers itself -----------------------------------------------------------

    def _answer_statelessly(self, request: Request, peer: Peer, now: float) -> Response | None:
        """The layer asks first about each new request: a REGISTER for us without
        credentials gets its 401 with no transaction (Registrar.stateless_challenge)."""
        if (request.method == "REGISTER" and not request.headers.get("Route")
                and self.local.is_our_domain(request.uri)):
            return self.registrar.stateless_challenge(request, now)
        return None

    def _register(self, request: Request, transaction: ServerTransaction, peer: Peer,
                  now: float) -> None:
        response = self.registrar.handle_register(request, peer, now)
        self._send_or_hold(transaction, request, response, peer, now)
        if response.status == 200 and request.headers.get("Contact") is not None:
            aor = self.registrar.aor_of(request.to.uri)
            if aor is not None:
                bindings = tuple(self.location.bindings(aor, now))
                logger.debug("%s now has %d bindings", aor, len(bindings))
                self._events.append(BindingsChanged(aor, bindings))

    def _serve_locally(self, request: Request, transaction: ServerTransaction,
                       now: float) -> None:
        """Answer as a user agent would (§8.2): 501, 405 or 420 as a phone does; else
        the request is an OPTIONS (a REGISTER for our domain went to the registrar)."""
        answer = refusal(request, SERVER_METHODS) or Refusal(
            200, None, [("Allow", ", ".join(SERVER_METHODS)), ("Accept", "application/sdp")])
        self._reply(transaction, request, answer.status, answer.reason, now, answer.headers)

    def _authorized(self, request: Request, transaction: ServerTransaction, peer: Peer,
                    now: float) -> bool:
        """With ``authenticate_calls``: is this request from one of our users proven? (§22.3)"""
        digest, users = self.digest, self.config.users
        if digest is None or users is None or request.to_tag is not None:
            return True  # open mode, or inside a dialog that was authorized at its start
        sender = request.from_.uri
        if not self.local.is_our_domain(sender):
            return True  # someone else's user calling ours: not ours to challenge
        result = digest.check_request(request, now, password_for=users, proxy=True)
        if result.ok:
            if not isinstance(sender, SipUri) or unquote(sender.user or "") != result.username:
                self._reply(transaction, request, 403, f"Forbidden ({result.username} may not "
                                                       f"send as {sender})", now)
                return False
            _remove_our_credentials(request, digest.realm)
            return True
        if result.status in (AuthStatus.WRONG_PASSWORD, AuthStatus.UNKNOWN_USER):
            forbidden = build_response(request, 403, to_tag=self.ids.tag())
            self._send_or_hold(transaction, request, forbidden, peer, now)
        else:
            self._send(transaction, digest.challenge_response(
                request, now, status=407, stale=result.stale, to_tag=self.ids.tag()), now)
        return False

    def _reply(self, transaction: ServerTransaction, request: Request, status: int,
               reason: str | None, now: float,
               headers: list[tuple[str, str]] | None = None) -> None:
        response = build_response(request, status, reason, to_tag=self.ids.tag(),
                                  headers=headers or ())
        self._send(transaction, response, now)

    def _send_or_hold(self, transaction: ServerTransaction, request: Request,
                      response: Response, peer: Peer, now: float) -> None:
        """Send ``response``, or hold it back if it tells a throttled failure (see module doc)."""
        delay = 0.0
        if self.throttle is not None and _failed_authentication(request, response):
            keys = [f"source {peer.host}"]
            user = _username(request)
            if user is not None:
                keys.append(f"user {user}")
            delay = self.throttle.failed(keys, now)
        if delay <= 0:
            self._send(transaction, response, now)
            return
        logger.info("%s to %s held back %.1f s: too many failed authentications",
                    response.label, peer.host, delay)
        heapq.heappush(self._held, (now + delay, next(self._held_order), transaction, response))

    def _send(self, transaction: ServerTransaction, response: Response, now: float) -> None:
        try:
            self.layer.send_response(transaction, response, now)
        except InvalidStateError as error:  # the transaction already answered or ended
            logger.debug("could not send %s: %s", response.label, error)


def _failed_authentication(request: Request, response: Response) -> bool:
    """True for a 403, or a 401/407 that is not ``stale``, to a request with credentials:
    a wrong password, an unknown user, a forged or replayed nonce."""
    if not (request.headers.get("Authorization") or request.headers.get("Proxy-Authorization")):
        return False
    if response.status == 403:
        return True
    if response.status not in (401, 407):
        return False
    header = "WWW-Authenticate" if response.status == 401 else "Proxy-Authenticate"
    try:
        return not any(challenge.stale for challenge in challenges_from(response, header))
    except SipParseError:
        return True


def _username(request: Request) -> str | None:
    for header in ("Authorization", "Proxy-Authorization"):
        for value in request.headers.get_all(header):
            try:
                return parse_credentials(value).username
            except SipParseError:
                continue
    return None


def _remove_our_credentials(request: Request, realm: str) -> None:
    """Take out the Proxy-Authorization meant for us; later hops need not see it."""
    kept = []
    for value in request.headers.get_all("Proxy-Authorization"):
        try:
            if parse_credentials(value).realm == realm:
                continue
        except SipParseError:
            pass
        kept.append(value)
    request.headers.remove("Proxy-Authorization")
    for value in kept:
        request.headers.add("Proxy-Authorization", value)
