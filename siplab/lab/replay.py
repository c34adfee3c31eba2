"""Replaying one side of a captured call against a live phone or server: :func:`replay`.

A capture shows how a call *went*. Replaying it asks whether a live system
still behaves that way: siplab plays one side (the caller, say) message by
message and waits for the other side to answer as the capture did::

    report = await replay("call.pcap", as_="caller", target="127.0.0.1:5060")
    print(report)          # one row per step: expected, got, verdict
    report.ok              # True when every step matched

The pcap exercises are built on this: a student's phone is the live side, and
the report says where it parts from the reference ("expected 180 Ringing after
INVITE, got 200 OK"). ``siplab replay`` is the same from a shell.

Three parts, each in its own module:

1. **The script** (:mod:`~siplab.lab.replay_script`): one dialog of the
   capture, one side of it, without retransmissions.
2. **Rewriting** (:mod:`~siplab.lab.replay_rewrite`): new Call-ID, tags and
   branches; our address in Via, Contact and SDP; the live peer's tag, Contact
   and Record-Route in later requests; fresh digest answers. A fresh dialog
   forms (RFC 3261 §8.1.1, §12, §22).
3. **Our end of the wire** (:mod:`~siplab.lab.replay_live`): siplab's own
   transaction layer (§17), so retransmissions, the ACK of a 3xx-6xx and the
   matching of responses are right without being written twice.

Each *expect* step waits at most ``timeout`` seconds for the live side and
gets a :class:`~siplab.lab.replay_report.Verdict`. A final answer of the wrong
class (486 where the capture had 200) ends the replay; the steps left are
``skipped``. A live call the script left up is ended with ACK and BYE.
With ``rtp=True`` the captured RTP of our side is sent again too
(:mod:`~siplab.lab.replay_rtp`).

How an *expect* step judges what the live side sent -- which answer stands
for the captured one, a challenge the capture did not have -- is in
:mod:`~siplab.lab.replay_expect`, a base class of :class:`Replayer`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from siplab.errors import InvalidStateError, LocalProtocolError, SipError
from siplab.ids import IdSource
from siplab.lab.replay_expect import Expectations
from siplab.lab.replay_live import Live, LiveSide, peer_of, resolve
from siplab.lab.replay_report import ReplayReport, ReplayStep, Verdict
from siplab.lab.replay_rewrite import Rewriter, credentials_for
from siplab.lab.replay_rtp import RtpReplay
from siplab.lab.replay_script import (
    ReplayError,
    ReplayScript,
    ScriptStep,
    build_script,
    load_capture,
)
from siplab.sip.auth import add_authorization
from siplab.sip.build import build_cancel, build_response
from siplab.sip.message import Request, Response
from siplab.sip.timers import TimerConfig
from siplab.sip.transaction import ClientTransaction, Transaction
from siplab.sip.transport import Peer, uri_host
from siplab.sip.uri import SipUri

if TYPE_CHECKING:
    from siplab.aio.transport import TraceRecord

__all__ = ["replay", "Replayer", "ReplayReport", "ReplayStep", "Verdict", "ReplayError",
           "peer_of", "DEFAULT_TIMEOUT"]

#: Seconds an expect step waits for the live side.
DEFAULT_TIMEOUT = 5.0
#: Seconds the replay listens after its last step, for messages the capture did not have.
SETTLE = 0.2


async def replay(source: Any, *, as_: str = "caller", target: Any = None,
                 **options: Any) -> ReplayReport:
    """Replay side ``as_`` of a capture against ``target`` (``"host:port"``).

    ``source``: a pcap path, a Capture, a Trace or WireMessages; ``options``
    are :class:`Replayer`'s. Returns the report.
    """
    async with Replayer(source, as_=as_, target=target, **options) as replayer:
        return await replayer.run()


class Replayer(Expectations):
    """One replay: ``await start()`` (binds; returns our address), ``await run()``, ``close()``.

    ``as_``: "caller", "callee", an address or a user of the capture.
    ``target``: where our requests go (``"host:port"``, a Peer or a tuple),
    every one of them, as to an outbound proxy (§8.1.2): a LabServer, or the
    phone itself. Needed for the caller; optional for the callee (answers go
    back by Via, requests to where the live INVITE came from). ``transport``: "udp" or
    "tcp". ``local``: our ``(host, port)`` (default: a free port on the
    address that reaches the target). ``register``: as the callee, first
    REGISTER the captured callee's address of record at ``target`` (a
    LabServer, Kamailio) so that calls to it reach us; removed at the end.
    ``username``/``password`` answer digest challenges (the user defaults to
    the captured Authorization's, else our From's). ``timeout``: seconds each
    expect step waits. ``rtp``: send the captured RTP too. ``call_id``: the
    dialog to replay. ``ids``, ``timers``, ``trace`` (a
    :class:`~siplab.lab.trace.Trace`), ``on_step`` (called with each row).
    """

    def __init__(self, source: Any, *, as_: str = "caller", target: Any = None,
                 transport: str = "udp", local: tuple[str, int] | None = None,
                 call_id: str | None = None, username: str | None = None,
                 password: str | None = None, register: bool = False,
                 timeout: float = DEFAULT_TIMEOUT, rtp: bool = False,
                 ids: IdSource | None = None, timers: TimerConfig | None = None,
                 trace: Callable[[TraceRecord], None] | None = None,
                 on_step: Callable[[ReplayStep], None] | None = None,
                 settle: float = SETTLE) -> None:
        if transport not in ("udp", "tcp"):
            raise LocalProtocolError(f"replay runs over udp or tcp, not {transport}")
        if not timeout > 0:
            raise LocalProtocolError("the timeout must be above 0 seconds")
        messages, media, name = load_capture(source)
        self.script: ReplayScript = build_script(messages, as_, call_id=call_id, media=media,
                                                 source=name)
        self.target = peer_of(target, transport) if target is not None else None
        if self.target is None and (self.script.role == "caller" or register):
            raise LocalProtocolError(f"replaying the {self.script.role} needs a target HOST:PORT")
        self.transport = transport
        self.local_address = local
        self.username = username or self.script.username
        self.password = password
        self.register = register
        self.timeout = timeout
        self.rtp = rtp
        self.ids = ids if ids is not None else IdSource()
        self.timers = timers or TimerConfig()
        self.on_step = on_step
        self.settle = settle
        self.local: Peer | None = None
        self.rows: list[ReplayStep] = []
        self.live = LiveSide(self.script, timers=self.timers, trace=trace,
                             connect_timeout=timeout, is_ours=self._is_ours,
                             our_branches=self._our_branches, on_failure=self._failed)
        self._rewriter: Rewriter | None = None
        self._media: RtpReplay | None = None
        # (captured branch, method) -> what we sent for it / the live request it stands for
        self._sent: dict[tuple[str | None, str], tuple[Request, ClientTransaction | None]] = {}
        self._answered: dict[tuple[str | None, str], Live] = {}
        self._challenges: dict[str, Response] = {}  # challenge header -> latest live 401/407
        self._nonce_counts: dict[str, int] = {}
        self._live_2xx: Response | None = None  # the live 2xx of our INVITE (caller)
        self._ended = False  # a BYE went either way
        self._registration: Request | None = None
        self._current = 0
        self._aborted: str | None = None
        self._peer_from: Peer | None = None  # where the live side's first request came from
        self._started_at = 0.0

    # -- starting and stopping ------------------------------------------------------------

    async def start(self) -> Peer:
        """Bind our socket (and one RTP socket per ``m=`` line); return our SIP address."""
        from siplab.aio.server_url import source_host

        if self.target is not None:  # resolved once: a bad name fails here, in one line
            self.target = await resolve(self.target)
        host, port = self.local_address or (
            source_host(self.target.host) if self.target else "127.0.0.1", 0)
        connect = self.target if self.script.role == "caller" or self.register else None
        self.local = await self.live.open(self.transport, host, port, connect)
        self._media = await RtpReplay.open(self.script, self.local.host)
        self._rewriter = Rewriter(ids=self.ids, local=self.local, captured_peer=self.script.peer,
                                  target=self.target, media_host=self.local.host,
                                  media_ports=self._media.ports)
        return self.local

    async def close(self) -> None:
        if self._media is not None:
            self._media.close()
        await self.live.close()

    async def __aenter__(self) -> Replayer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- running the script --------------------------------------------------------------

    async def run(self) -> ReplayReport:
        """Play every step, then tidy up; return the report (its rows also in :attr:`rows`)."""
        if self._rewriter is None:
            await self.start()
        self._started_at = self._now()
        if self.register:
            await self._register(expires=None)
        for step in self.script.steps:
            self._current = self.live.step = step.number
            if self._aborted is not None:
                self._row(step, "-", Verdict.SKIPPED, self._aborted)
                continue
            if self.rtp and self._media is not None:
                self._media.maybe_start(step.wire.time)
                if step.sends:
                    await self._media.caught_up(step.wire.time)
            if step.sends:
                self._send(step)
            elif isinstance(step.message, Response):
                await self._expect_response(step, step.message)
            else:
                await self._expect_request(step, step.message)
        await self.live.wait(self._now() + self.settle, lambda: False)
        self._leftovers()
        await self._end_live_call()
        if self._registration is not None:
            await self._register(expires=0)
        return self.report()

    def report(self) -> ReplayReport:
        media = self._media
        notes = [media.describe()] if self.rtp and media is not None else []
        return ReplayReport(self.script.source, self.script.role, self.script.call_id,
                            self.local, self.target, list(self.rows),
                            media.sent if media else 0, media.received if media else 0, notes)

    # -- our messages ---------------------------------------------------------------------

    def _send(self, step: ScriptStep) -> None:
        captured = step.message
        if isinstance(captured, Response):
            self._send_response(step, captured)
            return
        if captured.method == "ACK" and self.script.acks_failure(captured):
            sent = self._sent.get((captured.branch, "INVITE"))
            final = sent[1].last_response if sent and sent[1] else None
            if final is not None and final.status >= 300:
                self._row(step, "ACK", Verdict.SENT, "by the INVITE transaction (§17.1.1.3)")
            else:
                self._row(step, "-", Verdict.SKIPPED, "no 3xx-6xx to acknowledge")
            return
        if captured.method == "CANCEL":
            invite = self._sent.get((captured.branch, "INVITE"))
            if invite is None:
                self._row(step, "-", Verdict.SKIPPED, "no INVITE to cancel")
                return
            request = build_cancel(invite[0])  # the INVITE's branch (§9.1)
        else:
            request = self._rewriter_of().request(captured)
            if "Authorization" in captured.headers or "Proxy-Authorization" in captured.headers:
                self._add_credentials(request)  # the captured ones answered a stale nonce
        transaction = None
        try:
            if request.method == "ACK":
                self.live.send_ack(request, self._destination())
            else:
                transaction = self.live.send_request(request, self._destination())
        except (SipError, ValueError) as error:
            self._row(step, "-", Verdict.FAILED, str(error))
            return
        self._ended |= request.method == "BYE"
        self._sent[(captured.branch, captured.method)] = (request, transaction)
        self._row(step, request.label, Verdict.SENT, live=request)

    def _add_credentials(self, request: Request) -> None:
        if self.password is None:
            return
        for challenge in self._challenges.values():
            with contextlib.suppress(SipError):
                for name, value in credentials_for(
                        request, challenge, username=self.username, password=self.password,
                        ids=self.ids, nonce_counts=self._nonce_counts):
                    request.headers.insert(len(request.headers) - 1, name, value)

    def _send_response(self, step: ScriptStep, captured: Response) -> None:
        live = self._answered.get((captured.branch, captured.cseq.method))
        if live is None or live.transaction is None or not isinstance(live.message, Request):
            self._row(step, "-", Verdict.SKIPPED, "the request it answers never came")
            return
        response = self._rewriter_of().response(captured, live.message)
        try:
            self.live.send_response(live.transaction, response)
        except (SipError, ValueError) as error:
            self._row(step, "-", Verdict.FAILED, str(error))
            return
        if captured.cseq.method == "INVITE" and 200 <= captured.status < 300 and \
                not live.peer.reliable:
            self.live.resend_until_acked(response, live.peer, self.timers)
        self._row(step, response.label, Verdict.SENT, live=response)

    # -- what belongs to the replayed dialog (asked by the LiveSide) ---------------------------

    def _is_ours(self, request: Request, peer: Peer) -> bool:
        calls = self._rewriter_of().call_ids
        ours = calls.get(self.script.call_id)
        if ours is None and self.script.role == "callee" and request.to_tag is None and \
                request.method == self.script.method:
            ours = calls[self.script.call_id] = request.call_id  # the live dialog starts
            self._peer_from = peer
        return request.call_id == ours

    def _our_branches(self) -> set[str]:
        return set(self._rewriter_of().branches.values())

    def _failed(self, transaction: Transaction) -> None:
        self._extra_row(transaction.request, Verdict.FAILED,
                        f"could not reach {transaction.peer}", direction="->")

    # -- before and after the script -------------------------------------------------------

    def _leftovers(self) -> None:
        """Rows for what the live side sent that no step took; its requests get answers."""
        for live in self.live.inbox:
            if live.used:
                continue
            message = live.message
            if isinstance(message, Response) and message.status == 100:
                self._extra(live, Verdict.NOTE, "100 Trying not in the capture (hop by hop)")
                continue
            self._extra(live, Verdict.UNEXPECTED, f"{message.label} not in the capture")
            if isinstance(message, Request) and live.transaction is not None:
                status = 603 if message.method == "INVITE" else 200
                answer = build_response(message, status,
                                        to_tag=None if message.to_tag else self.ids.tag())
                with contextlib.suppress(SipError, ValueError):
                    self.live.send_response(live.transaction, answer)

    async def _end_live_call(self) -> None:
        """A live call our INVITE set up and the script left up: ACK it if needed, BYE it."""
        answer, rewriter = self._live_2xx, self._rewriter
        if answer is None or self._ended or rewriter is None or self.script.role != "caller":
            return
        invite = next((sent for (_, method), (sent, _) in self._sent.items()
                       if method == "INVITE"), None)
        if invite is None:
            return
        ack, bye = rewriter.ending(invite, answer, self._next_cseq())
        if answer.cseq.number not in self.live.acks:
            self.live.send_ack(ack, self._destination())
        _, final = await self.live.transact(bye, self._destination(), self.timeout)
        got = final.label if final is not None else "no answer"
        self._extra_row(bye, Verdict.NOTE, f"cleanup: the script left the live call up ({got})",
                        direction="->")

    async def _register(self, *, expires: int | None) -> None:
        """As the callee: REGISTER the captured callee at the target first, so that a call to
        it comes to us (§10.2); ``expires=0`` removes the binding at the end."""
        initial = self.script.initial
        aor = initial.to.uri if initial is not None else None
        if not isinstance(aor, SipUri) or aor.user is None:
            self._abort("no callee address to register")
            return
        request = self._rewriter_of().registration(aor, 600 if expires is None else expires,
                                                   self._registration)
        request, final = await self.live.transact(request, self._destination(), self.timeout,
                                                  self._retry)
        self._registration = request
        ok = final is not None and 200 <= final.status < 300
        what = "registered" if expires is None else "removed"
        detail = (f"{aor.address_of_record} {what} at {_text(self._local())}" if ok
                  else f"could not register {aor.address_of_record}")
        self._add(ReplayStep(0 if expires is None else self._current, "->",
                             "REGISTER (setup)" if expires is None else "REGISTER (end)",
                             final.label if final is not None else "-",
                             Verdict.NOTE if ok else Verdict.FAILED, detail,
                             self._now() - self._started_at, final))
        if not ok:
            self._registration = None
            self._abort("could not register")

    def _next_cseq(self) -> int:
        return max(sent.cseq.number for sent, _ in self._sent.values()) + 1

    def _retry(self, request: Request, challenge: Response) -> Request | None:
        """``request`` again, answering a 401/407 (None without a password)."""
        if self.password is None:
            return None
        return add_authorization(request, challenge, username=self.username,
                                 password=self.password, ids=self.ids,
                                 nonce_counts=self._nonce_counts)

    # -- plumbing -----------------------------------------------------------------------------

    def _rewriter_of(self) -> Rewriter:
        if self._rewriter is None:
            raise InvalidStateError("the replayer has not been started")
        return self._rewriter

    def _local(self) -> Peer:
        if self.local is None:
            raise InvalidStateError("the replayer has not been started")
        return self.local

    def _destination(self) -> Peer:
        """Where our requests go: the target, else where the live INVITE came from."""
        if self.target is not None:
            return self.target
        if self._peer_from is not None:
            return self._peer_from
        raise InvalidStateError("no target, and the live side has not called yet")

    def _abort(self, reason: str) -> None:
        if self._aborted is None:
            self._aborted = f"not run: {reason}"

    def _row(self, step: ScriptStep, got: str, verdict: Verdict, detail: str = "", *,
             live: Request | Response | None = None) -> None:
        self._add(ReplayStep(step.number, "->" if step.sends else "<-", step.label, got,
                             verdict, detail, self._now() - self._started_at, live))

    def _extra(self, live: Live, verdict: Verdict, detail: str) -> None:
        """A row for a live message no step expected, at the step when it came."""
        self._add(ReplayStep(live.step, "<-", "", live.message.label, verdict, detail,
                             live.time - self._started_at, live.message))

    def _extra_row(self, message: Request | Response, verdict: Verdict, detail: str, *,
                   direction: str = "<-") -> None:
        self._add(ReplayStep(self._current, direction, "", message.label, verdict, detail,
                             self._now() - self._started_at, message))

    def _add(self, row: ReplayStep) -> None:
        self.rows.append(row)
        if self.on_step is not None:
            self.on_step(row)

    def _now(self) -> float:
        return asyncio.get_running_loop().time()


def _text(peer: Peer) -> str:
    return f"{uri_host(peer.host)}:{peer.port}"
