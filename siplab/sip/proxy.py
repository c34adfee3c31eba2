"""A stateful, forking proxy (RFC 3261 §16).

A proxy sits between user agents and forwards their requests: Alice's
INVITE for ``sip:bob@example.com`` reaches the proxy of example.com, which asks
the location service where Bob is and sends the INVITE on to each of Bob's
registered phones. A *stateful* proxy keeps, for each request it forwards, a
server transaction towards the caller and one client transaction per target
(a *branch*), tied together by a **response context** (§16.7)::

    Alice                  proxy                  Bob's desk           Bob's browser
      | INVITE bob@ex.com    |                        |                        |
      |--------------------->| INVITE (branch 1)      |                        |
      |<-- 100 Trying -------|----------------------->|                        |
      |                      | INVITE (branch 2)      |                        |
      |                      |------------------------------------------------>|
      |<-- 180 Ringing ------|<-- 180 Ringing --------|                        |
      |                      |<------------------------------- 180 Ringing ----|
      |<-- 200 OK -----------|<-- 200 OK -------------|                        |
      |                      | CANCEL (branch 2)      |                        |
      |                      |------------------------------------------------>|
      |                      |<---------------------------- 200 OK, 487 -------|

How one request goes through (the steps of §16, each a method below):

1. **Validate** (§16.3): Max-Forwards 0 -> 483 Too Many Hops; the request
   already passed through here with the same loop hash -> 482 Loop Detected;
   a ``Proxy-Require`` we do not support -> 420; not a SIP URI -> 416.
2. **Route preprocessing** (§16.4): a Route header naming us was put there by
   our own Record-Route; remove it (two, after a double Record-Route). A
   Request-URI naming us with Route headers came from a strict router: the
   real Request-URI is the last Route.
3. **Targets** (§16.5): a Request-URI in our domain is looked up in the
   location service (404 no such user, 480 known user with no binding); any
   other URI (a contact, in a mid-dialog request) is its own target.
4. **Forward** (§16.6) to every target at once: copy, new Request-URI,
   Max-Forwards minus one, our Via on top with a branch that carries the loop
   hash, and a Record-Route on requests that create dialogs (INVITE,
   SUBSCRIBE, REFER) so that the ACK, the BYE and re-INVITEs come through us.
5. **Responses** (§16.7): our Via is removed; 100 Trying stays here; other
   1xx go up at once; every 2xx to an INVITE goes up at once and the other
   branches are CANCELled; a 6xx cancels the others too. When every branch
   has a final response and no 2xx went up, the *best* one goes up (§16.7
   step 6: a 6xx, else the lowest class, preferring 401/407 whose challenges
   are merged). A timeout counts as 408, a transport error as 503 (§16.9).
6. **CANCEL** from the caller (§16.10): 200 to the CANCEL, then CANCEL on
   every pending branch; their 487 becomes the final response.
7. **Timer C** (§16.6 step 11, §16.8): a branch that rings for 3 minutes
   gets a CANCEL; one that never answered at all counts as 408.

ACK for a 2xx is not part of any transaction: it is forwarded statelessly
(§16.11), and so is a late 2xx that outlived its transaction.

**Two Record-Routes**: when the request arrives on one transport and leaves
on another (a UDP phone calling a WebSocket browser), the proxy records
itself twice, one URI per side, so that each side's route set starts with an
address it can reach (Kamailio does the same). Which addresses are "us", how
a URI becomes a transport address, the ``flow=`` token and the loop hash
live in :mod:`siplab.sip.routing`.
"""

from __future__ import annotations

import heapq
import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

from siplab.errors import InvalidStateError, LocalProtocolError
from siplab.ids import BRANCH_MAGIC_COOKIE, IdSource
from siplab.sip.build import build_cancel, build_response, make_via, response_destination
from siplab.sip.message import Request, Response
from siplab.sip.registrar import Binding, Registrar
from siplab.sip.routing import (
    LocalAddresses,
    loop_hash,
    parse_flow_token,
    record_route_value,
)
from siplab.sip.transaction import ClientTransaction, ServerTransaction
from siplab.sip.transaction_layer import TransactionLayer
from siplab.sip.transport import Peer, peer_for_uri
from siplab.sip.uri import SipUri, Uri

__all__ = [
    "TIMER_C",
    "RECORD_ROUTE_METHODS",
    "choose_best_response",
    "BranchState",
    "Branch",
    "ResponseContext",
    "Prepared",
    "ProxyCore",
]

logger = logging.getLogger("siplab.proxy")

#: Timer C: how long a branch may ring before the proxy cancels it (§16.6 step 11: > 3 min).
TIMER_C = 180.0
#: Requests that can create a dialog and so get a Record-Route.
RECORD_ROUTE_METHODS = frozenset({"INVITE", "SUBSCRIBE", "REFER"})
# §16.7 step 6: in the 4xx class, responses that let the caller retry are preferred.
_PREFERRED_4XX = (401, 407, 415, 420, 484)


def choose_best_response(responses: Sequence[Response]) -> Response:
    """The final response a proxy forwards when no 2xx came (§16.7 step 6).

    A 6xx wins (the callee said "nowhere"); otherwise the lowest class, and in
    the 4xx class one the caller can act on (401, 407, 415, 420, 484). Among
    equals, the first to arrive. ``responses`` are in arrival order.
    """
    if not responses:
        raise ValueError("no responses to choose from")
    for response in responses:
        if response.status >= 600:
            return response
    lowest = min(r.status // 100 for r in responses)
    candidates = [r for r in responses if r.status // 100 == lowest]
    if lowest == 4:
        for status in _PREFERRED_4XX:
            for response in candidates:
                if response.status == status:
                    return response
    return candidates[0]


class BranchState(StrEnum):
    """Where one forwarded copy of the request stands."""

    TRYING = "Trying"  # sent, nothing back yet
    PROCEEDING = "Proceeding"  # a provisional response came
    COMPLETED = "Completed"  # a final response came (or a timeout / error counted as one)


class Target(NamedTuple):
    """Where one branch goes: the new Request-URI, the next hop, the binding it came from."""

    uri: Uri
    peer: Peer
    binding: Binding | None = None


class Prepared(NamedTuple):
    """A request after route preprocessing (§16.4), with what it looked like on arrival."""

    request: Request  # a copy with our Route entries removed
    received: Request  # the request as it arrived (its loop hash names our branches)
    flow: Peer | None  # the flow= of the last Route entry of ours that was removed

    @property
    def loop(self) -> str:
        """:func:`~siplab.sip.routing.loop_hash` of the request as received."""
        return loop_hash(self.received)


@dataclass(eq=False, slots=True)
class Branch:
    """One target of a response context: the forwarded request and its client transaction."""

    context: ResponseContext
    index: int
    target: Target
    request: Request | None = None
    transaction: ClientTransaction | None = None
    state: BranchState = BranchState.TRYING
    response: Response | None = None
    final_order: int = 0
    cancel_wanted: bool = False
    cancel_sent: bool = False
    timer_c: _TimerC | None = None

    def stop_timer_c(self) -> None:
        if self.timer_c is not None:
            self.timer_c.branch = None  # its heap entry goes stale
            self.timer_c = None


@dataclass(eq=False, slots=True)
class _TimerC:
    """A Timer C deadline in the heap; ``branch`` is None once it was stopped, so a
    stale entry keeps no finished call alive."""

    deadline: float
    branch: Branch | None


@dataclass(eq=False, slots=True)
class ResponseContext:
    """The state a stateful proxy keeps for one forwarded request (§16.7)."""

    request: Request
    transaction: ServerTransaction
    source: Peer
    loop: str
    branches: list[Branch] = field(default_factory=list)
    final_sent: bool = False
    finals: int = 0

    @property
    def is_invite(self) -> bool:
        return self.request.method == "INVITE"

    @property
    def all_final(self) -> bool:
        return all(b.state is BranchState.COMPLETED for b in self.branches)


class ProxyCore:
    """The proxy half of the server: forwards requests and relays responses (§16).

    It shares the server's :class:`TransactionLayer` and reads the
    registrar's location service; :class:`~siplab.sip.server.ServerCore`
    feeds it the layer's events.
    """

    def __init__(
        self,
        layer: TransactionLayer,
        registrar: Registrar,
        local: LocalAddresses,
        *,
        ids: IdSource,
        record_route: bool = True,
        timer_c: float = TIMER_C,
    ) -> None:
        self.layer = layer
        self.registrar = registrar
        self.location = registrar.location
        self.local = local
        self.ids = ids
        self.record_route = record_route
        self.timer_c = timer_c
        self._contexts: dict[ServerTransaction, ResponseContext] = {}
        self._branches: dict[ClientTransaction, Branch] = {}
        self._cancels: set[ClientTransaction] = set()
        self._timers: list[tuple[float, int, _TimerC]] = []
        self._order = itertools.count()

    @property
    def context_count(self) -> int:
        """Response contexts still alive (forwarded requests not yet forgotten)."""
        return len(self._contexts)

    def contexts(self) -> list[ResponseContext]:
        return list(self._contexts.values())

    # -- §16.3 and §16.4: validation and route preprocessing ------------------------------

    def prepare(self, request: Request) -> Prepared:
        """Route preprocessing (§16.4) on a copy; the original stays with its transaction.

        A request without Route headers has nothing to take out, and is not
        copied: the proxy only reads it (each branch forwards a copy of its own).
        """
        if "Route" not in request.headers:
            return Prepared(request, request, None)
        work = request.copy()
        routes = work.route
        uri = work.uri
        if (routes and isinstance(uri, SipUri) and uri.lr and uri.user is None
                and self.local.is_us(uri)):
            # A strict router (RFC 2543) put our Record-Route URI (it has
            # ``lr``) into the Request-URI; the real one travels as the last Route.
            work.uri = routes[-1].uri
            work.headers.remove("Route")
            for route in routes[:-1]:
                work.headers.add("Route", str(route))
            routes = routes[:-1]
        flow: Peer | None = None
        for _ in range(2):  # ours, and ours again after a double Record-Route
            if not routes or not self.local.is_us(routes[0].uri):
                break
            work.headers.pop_first("Route")
            first = routes.pop(0).uri
            flow = parse_flow_token(first.param("flow")) if isinstance(first, SipUri) else None
        return Prepared(work, request, flow)

    def _looped(self, request: Request, loop: str) -> bool:
        """§16.3 step 4: one of our Vias carries this request's loop hash."""
        mark = BRANCH_MAGIC_COOKIE + loop
        return any(
            (via.branch or "").startswith(mark)
            and self.local.sent_by_us(via.host, via.port, via.transport)
            for via in request.via
        )

    # -- §16.5: targets --------------------------------------------------------------------

    def _targets(self, prepared: Prepared, source: Peer,
                 now: float) -> list[Target] | tuple[int, str]:
        request = prepared.request
        routes = request.route
        if routes:  # another element asked to be visited first: go there
            hop = peer_for_uri(routes[0].uri)
            if hop is None:
                return 480, f"Temporarily Unavailable (cannot reach {routes[0].uri})"
            return [Target(request.uri, hop)]
        uri = request.uri
        aor = self.registrar.aor_of(uri) if self.local.is_our_domain(uri) else None
        if aor is not None:
            bindings = [b for b in self.location.bindings(aor, now)
                        if isinstance(b.uri, SipUri)]
            if bindings:
                return [Target(b.uri, b.source, b) for b in bindings]
            user = uri.user if isinstance(uri, SipUri) else None
            if user is not None and self.registrar.is_known_user(user):
                return 480, "Temporarily Unavailable (not registered)"
            return 404, "Not Found"
        if self.local.is_our_domain(uri):
            return 404, "Not Found"
        binding = self.location.lookup_contact(uri, now)
        if binding is not None:  # a registered contact: reach it where it registered from
            return [Target(uri, binding.source, binding)]
        if prepared.flow is not None and prepared.flow != source:
            return [Target(uri, prepared.flow)]
        hop = peer_for_uri(uri)
        if hop is None:
            return 480, f"Temporarily Unavailable (no route to {uri})"
        return [Target(uri, hop)]

    # -- §16.6: forwarding --------------------------------------------------------------------

    def forward(self, prepared: Prepared, transaction: ServerTransaction, source: Peer,
                now: float) -> None:
        """Validate, find the targets and forward to all of them (§16.3-§16.6)."""
        request, loop = prepared.request, prepared.loop
        refusal = self._validate(request, loop)
        if refusal is None:
            found = self._targets(prepared, source, now)
            if isinstance(found, list):
                self._fork(request, loop, transaction, source, found, now)
                return
            refusal = (found[0], found[1], [])
        status, reason, headers = refusal
        logger.debug("%s %s refused: %d %s", request.method, request.uri_text, status, reason)
        self._reply(transaction, request, status, reason, now, headers)

    def _fork(self, request: Request, loop: str, transaction: ServerTransaction, source: Peer,
              targets: list[Target], now: float) -> None:
        """Make the response context and send one branch to each target (§16.6)."""
        context = ResponseContext(request, transaction, source, loop)
        self._contexts[transaction] = context
        if logger.isEnabledFor(logging.DEBUG):  # the list is written only for the log
            logger.debug("%s %s -> %s", request.method, request.uri_text,
                         ", ".join(f"{t.uri} via {t.peer}" for t in targets))
        for index, target in enumerate(targets):
            self._start_branch(context, index, target, now)
        self._finish_if_all_final(context, now)  # every branch may have failed at once

    def _validate(self, request: Request,
                  loop: str) -> tuple[int, str | None, list[tuple[str, str]]] | None:
        if request.uri.scheme not in ("sip", "sips"):
            return 416, None, []
        if request.max_forwards == 0:
            return 483, None, []
        if self._looped(request, loop):
            return 482, None, []
        unsupported = request.header_list("Proxy-Require")
        if unsupported:
            return 420, None, [("Unsupported", ", ".join(unsupported))]
        return None

    def _start_branch(self, context: ResponseContext, index: int, target: Target,
                      now: float) -> None:
        branch = Branch(context, index, target)
        context.branches.append(branch)
        listener = self.local.listener_for(target.peer.transport)
        if listener is None:
            self._complete(branch, self._synthetic(context.request, 503,
                                                   f"Service Unavailable (no "
                                                   f"{target.peer.transport} listener)"))
            return
        out = context.request.copy()
        if not out.route:
            out.uri = target.uri
        max_forwards = out.max_forwards
        out.headers.set("Max-Forwards", str(69 if max_forwards is None else max_forwards - 1))
        if (self.record_route and out.method in RECORD_ROUTE_METHODS
                and out.to_tag is None):
            self._add_record_route(out, context.source, listener)
        via_branch = f"{BRANCH_MAGIC_COOKIE}{context.loop}.{index}"
        out.headers.prepend("Via", make_via(listener.transport, listener.host, listener.port,
                                            via_branch, rport=False))
        branch.request = out
        try:
            branch.transaction = self.layer.send_request(out, target.peer, now)
        except LocalProtocolError:
            # The same request is already being forwarded with this branch: it
            # reached us twice, a "merged request" (§8.2.2.2).
            self._complete(branch, self._synthetic(out, 482, None))
            return
        self._branches[branch.transaction] = branch
        if context.is_invite:
            self._set_timer_c(branch, now + self.timer_c)

    def _add_record_route(self, request: Request, source: Peer, out_listener: Peer) -> None:
        """§16.6 step 4: stay on the path; twice when the transport changes."""
        in_listener = self.local.listener_for(source.transport) or out_listener
        flow = source if source.reliable else None
        if in_listener != out_listener:
            request.headers.prepend("Record-Route", record_route_value(in_listener, flow))
            request.headers.prepend("Record-Route", record_route_value(out_listener, None))
        else:
            request.headers.prepend("Record-Route", record_route_value(out_listener, flow))

    # -- §16.7: the response context ------------------------------------------------------

    def on_response(self, response: Response, transaction: ClientTransaction,
                    now: float) -> None:
        """A response to one of our branches (or to one of our CANCELs, which is ignored)."""
        branch = self._branches.get(transaction)
        if branch is None:
            return
        context = branch.context
        status = response.status
        if status < 200:
            if branch.state is BranchState.TRYING:
                branch.state = BranchState.PROCEEDING
            if branch.cancel_wanted:
                self._send_cancel(branch, now)
            if status == 100 or branch.state is BranchState.COMPLETED:
                return  # 100 is hop by hop (§16.7 step 5)
            if context.is_invite and not branch.cancel_sent:
                self._set_timer_c(branch, now + self.timer_c)  # ringing again: reset Timer C
            if not context.final_sent:
                self._send_upstream(context, response, now)
            return
        branch.stop_timer_c()
        if status < 300:
            if branch.state is not BranchState.COMPLETED:
                self._complete(branch, response)
            if context.is_invite or not context.final_sent:
                context.final_sent = True
                self._send_upstream(context, response, now)  # every 2xx to an INVITE goes up
                self._cancel_pending(context, now)
            return
        if branch.state is BranchState.COMPLETED:
            return  # a real answer after Timer C already counted this branch as 408
        self._complete(branch, response)
        if status >= 600:
            self._cancel_pending(context, now)  # §16.7 step 5: a 6xx ends the search
        self._finish_if_all_final(context, now)

    def on_timeout(self, transaction: ClientTransaction, now: float) -> None:
        """Timer B or F ran out on a branch: it counts as a 408 (§16.7 step 2)."""
        self._fail_branch(transaction, 408, None, now)

    def on_transport_failed(self, transaction: ClientTransaction | ServerTransaction,
                            now: float) -> None:
        """A branch could not be sent: it counts as 503 (§16.9). The caller's side gone:
        stop ringing everyone."""
        if isinstance(transaction, ServerTransaction):
            context = self._contexts.get(transaction)
            if context is not None:
                self._cancel_pending(context, now)
            return
        self._fail_branch(transaction, 503, None, now)

    def on_terminated(self, transaction: ClientTransaction | ServerTransaction,
                      now: float) -> None:
        """A transaction ended: forget the response context once all of its have."""
        if isinstance(transaction, ServerTransaction):
            context = self._contexts.get(transaction)
        else:
            self._cancels.discard(transaction)
            branch = self._branches.get(transaction)
            context = branch.context if branch is not None else None
        if context is not None:
            self._drop_if_done(context)

    def _fail_branch(self, transaction: ClientTransaction, status: int, reason: str | None,
                     now: float) -> None:
        branch = self._branches.get(transaction)
        if branch is None or branch.state is BranchState.COMPLETED:
            return
        assert branch.request is not None
        branch.stop_timer_c()
        self._complete(branch, self._synthetic(branch.request, status, reason))
        self._finish_if_all_final(branch.context, now)

    def _complete(self, branch: Branch, response: Response) -> None:
        context = branch.context
        context.finals += 1
        branch.state = BranchState.COMPLETED
        branch.response = response
        branch.final_order = context.finals

    def _synthetic(self, request: Request, status: int, reason: str | None) -> Response:
        """A response the proxy makes up for a branch (timeout, transport error)."""
        return build_response(request, status, reason, to_tag=self.ids.tag())

    def _finish_if_all_final(self, context: ResponseContext, now: float) -> None:
        """§16.7 step 6: every branch has answered and no 2xx went up: send the best."""
        if context.final_sent or not context.all_final or not context.branches:
            return
        finals = sorted((b for b in context.branches if b.response is not None),
                        key=lambda b: b.final_order)
        responses = [b.response for b in finals if b.response is not None]
        best = choose_best_response(responses)
        out = best.copy()
        if best.status in (401, 407):  # §16.7 step 7: every challenge goes up together
            for name in ("WWW-Authenticate", "Proxy-Authenticate"):
                lines = [v for r in responses if r.status in (401, 407)
                         for v in r.headers.get_all(name)]
                out.headers.remove(name)
                for value in dict.fromkeys(lines):
                    out.headers.add(name, value)
        if best.status == 503:  # §16.7 step 6: "503 from downstream" must not mean "me"
            out = Response(500, None, out.headers, out.body)
        context.final_sent = True
        logger.debug("%s %s: best of %s is %d", context.request.method,
                     context.request.uri_text, [r.status for r in responses], out.status)
        self._send_upstream(context, out, now)

    def _send_upstream(self, context: ResponseContext, response: Response, now: float) -> None:
        """Remove our Via and send the response to the caller (§16.7 step 3, 8, 9)."""
        out = response.copy()
        top = out.top_via
        if (top.branch or "").startswith(BRANCH_MAGIC_COOKIE + context.loop) and \
                self.local.sent_by_us(top.host, top.port, top.transport):
            out.headers.pop_first("Via")  # (a response made up here has no Via of ours)
        transaction = context.transaction
        if not transaction.terminated:
            try:
                self.layer.send_response(transaction, out, now)
                return
            except InvalidStateError:
                pass  # a late 2xx after a final: it still goes up, statelessly
        self.layer.send_stateless(out, context.source)

    # -- CANCEL (§16.10) and Timer C (§16.8) --------------------------------------------------

    def handle_cancel(self, cancel: Request, transaction: ServerTransaction, now: float) -> None:
        """A CANCEL from the caller: 200 to it, then cancel every pending branch."""
        invite = self.layer.find_server_transaction_for_cancel(cancel)
        if invite is None:
            # RFC 3261 would forward it statelessly; this proxy never forwards an
            # INVITE statelessly, so nobody downstream could know the INVITE either.
            self._reply(transaction, cancel, 481, None, now)
            return
        self._reply(transaction, cancel, 200, None, now)
        context = self._contexts.get(invite)
        if context is not None and not context.final_sent:
            logger.debug("CANCEL for %s: cancelling %d branches", context.request.uri_text,
                         len(context.branches))
            self._cancel_pending(context, now)

    def _cancel_pending(self, context: ResponseContext, now: float) -> None:
        if not context.is_invite:
            return  # a non-INVITE request cannot be cancelled usefully (§9.1)
        for branch in context.branches:
            if branch.state is not BranchState.COMPLETED and branch.transaction is not None:
                branch.cancel_wanted = True
                self._send_cancel(branch, now)

    def _send_cancel(self, branch: Branch, now: float) -> None:
        """CANCEL a branch, but only once it has answered provisionally (§9.1)."""
        transaction = branch.transaction
        if (branch.cancel_sent or branch.state is BranchState.TRYING or transaction is None
                or transaction.terminated or branch.request is None):
            return
        branch.cancel_sent = True
        cancel = self.layer.send_request(build_cancel(branch.request), branch.target.peer, now)
        self._cancels.add(cancel)
        if branch.state is not BranchState.COMPLETED:
            # A callee that never answers the CANCEL must not keep the call forever.
            self._set_timer_c(branch, now + 64 * self.layer.timers.t1)

    def _set_timer_c(self, branch: Branch, deadline: float) -> None:
        branch.stop_timer_c()
        branch.timer_c = _TimerC(deadline, branch)
        heapq.heappush(self._timers, (deadline, next(self._order), branch.timer_c))

    def get_timer(self) -> float | None:
        """The next Timer C deadline, or None."""
        while self._timers and self._timers[0][2].branch is None:
            heapq.heappop(self._timers)
        return self._timers[0][0] if self._timers else None

    def handle_timer(self, now: float) -> None:
        """Fire every Timer C due at or before ``now`` (§16.8)."""
        while (deadline := self.get_timer()) is not None and deadline <= now:
            _, _, entry = heapq.heappop(self._timers)
            branch = entry.branch
            assert branch is not None
            branch.stop_timer_c()
            if branch.state is BranchState.COMPLETED:
                continue
            context = branch.context
            if branch.state is BranchState.PROCEEDING and not branch.cancel_sent:
                logger.debug("Timer C: cancelling branch %d of %s", branch.index,
                             context.request.uri_text)
                branch.cancel_wanted = True
                self._send_cancel(branch, now)
                continue
            # No answer at all, or no answer to our CANCEL: behave as if 408 came,
            # and stop waiting for the real one (§9.1, §16.8).
            branch.cancel_wanted = True
            assert branch.request is not None
            self._complete(branch, self._synthetic(branch.request, 408, None))
            self._finish_if_all_final(context, now)
            if branch.transaction is not None:
                self.layer.abandon(branch.transaction, now)

    # -- ACK and late 2xx: stateless forwarding (§16.11) ----------------------------------------

    def forward_ack(self, ack: Request, source: Peer, now: float) -> None:
        """Forward the ACK for a 2xx along its Route, without a transaction."""
        prepared = self.prepare(ack)
        request, loop = prepared.request, prepared.loop
        if request is ack:  # prepare() did not copy it, and it is changed below
            request = ack.copy()
        if self._validate(request, loop) is not None or (
                not request.route and self.local.is_us(request.uri)):
            logger.debug("ACK %s dropped", request.uri_text)
            return
        found = self._targets(prepared, source, now)
        if isinstance(found, tuple):
            logger.debug("ACK %s dropped: %d %s", request.uri_text, *found)
            return
        target = found[0]
        listener = self.local.listener_for(target.peer.transport)
        if listener is None:
            return
        if not request.route:
            request.uri = target.uri
        max_forwards = request.max_forwards
        request.headers.set("Max-Forwards", str(69 if max_forwards is None else max_forwards - 1))
        request.headers.prepend("Via", make_via(listener.transport, listener.host, listener.port,
                                                BRANCH_MAGIC_COOKIE + loop, rport=False))
        self.layer.send_stateless(request, target.peer)

    def forward_stray_response(self, response: Response) -> bool:
        """A 2xx to an INVITE that matched no transaction goes up statelessly (§16.7)."""
        if not (200 <= response.status < 300 and response.cseq.method == "INVITE"):
            return False
        vias = response.via
        if len(vias) < 2 or not self.local.sent_by_us(vias[0].host, vias[0].port,
                                                      vias[0].transport):
            return False
        host, port = response_destination(vias[1])
        out = response.copy()
        out.headers.pop_first("Via")
        self.layer.send_stateless(out, Peer(host, port, vias[1].transport.lower()))
        return True

    # -- helpers ------------------------------------------------------------------------------

    def _reply(self, transaction: ServerTransaction, request: Request, status: int,
               reason: str | None, now: float, headers: Sequence[tuple[str, str]] = ()) -> None:
        response = build_response(request, status, reason, to_tag=self.ids.tag(),
                                  headers=headers)
        try:
            self.layer.send_response(transaction, response, now)
        except InvalidStateError:
            logger.debug("could not send %d: %s", status, transaction)

    def _drop_if_done(self, context: ResponseContext) -> None:
        if not context.transaction.terminated:
            return
        if any(b.transaction is not None and not b.transaction.terminated
               for b in context.branches):
            return
        self._contexts.pop(context.transaction, None)
        for branch in context.branches:
            branch.stop_timer_c()
            if branch.transaction is not None:
                self._branches.pop(branch.transaction, None)
        # A context and its branches point at each other; undone, reference counting
        # frees them now rather than the garbage collector some time later.
        context.branches.clear()
        if not self._contexts:  # a dict keeps the room it once needed: give it back
            self._contexts.clear()
            if not self._branches:
                self._branches.clear()
