"""A replay's *expect* steps: waiting for the live side, and judging what it sent.

:class:`~siplab.lab.replay.Replayer` walks the script of one side of a
captured call. Where the capture has the *other* side speak, the replayer
waits (at most ``timeout`` seconds) for the live phone or server to say the
same, and writes one row with a :class:`~siplab.lab.replay_report.Verdict`.
:class:`Expectations`, a base class of the replayer, holds those steps:

* **a response** to one of our requests (RFC 3261 §8.1.3, §17.1): the live
  answer on the same client transaction (the rewritten branch) and method.
  The same status is ``ok`` (or ``differs``, when a header the capture had
  says something else); a ``100 Trying`` the capture lacks is only a note,
  since 100 is hop by hop (§17.2.1); a provisional the capture lacks is
  ``unexpected``; a final answer of another class (486 where the capture had
  200) is ``wrong`` and ends the replay;
* **a challenge** (401/407, §22.2) the capture did not have: the request is
  sent again with fresh digest credentials (RFC 8760 / RFC 7616) and the
  step goes on waiting for the captured answer;
* **a request** from the live side (an INVITE to the callee, a BYE): the next
  request received, of the captured method; its dialog is learned from it;
* **the ACK of our 3xx-6xx**, which the INVITE server transaction absorbs
  (§17.2.1): the step looks for it in that transaction's history.

Every live message matched teaches the rewriter the live side's tags,
Contact and route set (§12.1), so that our later requests fit its dialog.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from siplab.errors import LocalProtocolError, SipError
from siplab.ids import IdSource
from siplab.lab.replay_live import Live, LiveSide
from siplab.lab.replay_report import Verdict
from siplab.lab.replay_rewrite import Rewriter
from siplab.lab.replay_rtp import RtpReplay
from siplab.lab.replay_script import ReplayScript, ScriptStep
from siplab.sip.auth import add_authorization
from siplab.sip.message import Request, Response
from siplab.sip.transaction import ClientTransaction
from siplab.sip.transport import Peer

__all__ = ["Expectations"]


class Expectations:
    """The *expect* steps of a replay (a base class of :class:`~siplab.lab.replay.Replayer`,
    which provides the attributes below)."""

    # Provided by Replayer:
    script: ReplayScript
    live: LiveSide
    timeout: float
    username: str
    password: str | None
    ids: IdSource
    _media: RtpReplay | None
    _sent: dict[tuple[str | None, str], tuple[Request, ClientTransaction | None]]
    _answered: dict[tuple[str | None, str], Live]
    _challenges: dict[str, Response]
    _nonce_counts: dict[str, int]
    _live_2xx: Response | None
    _ended: bool

    if TYPE_CHECKING:  # the replayer's own methods, which these use

        def _rewriter_of(self) -> Rewriter: ...

        def _destination(self) -> Peer: ...

        def _abort(self, reason: str) -> None: ...

        def _now(self) -> float: ...

        def _row(self, step: ScriptStep, got: str, verdict: Verdict, detail: str = "", *,
                 live: Request | Response | None = None) -> None: ...

        def _extra(self, live: Live, verdict: Verdict, detail: str) -> None: ...

        def _extra_row(self, message: Request | Response, verdict: Verdict, detail: str, *,
                       direction: str = "<-") -> None: ...

    async def _expect_response(self, step: ScriptStep, captured: Response) -> None:
        deadline = self._now() + self.timeout
        while True:
            live = await self._next_response(captured, deadline)
            if live is None:
                if captured.status == 100:
                    self._row(step, "-", Verdict.NOTE, "no 100 Trying (optional, §17.2.1)")
                    return
                self._row(step, "-", Verdict.MISSING, f"expected {captured.label} after "
                          f"{captured.cseq.method}, nothing within {self.timeout:g} s")
                if captured.is_final:
                    self._abort(f"no answer to {captured.cseq.method}")
                return
            message = live.message
            assert isinstance(message, Response)
            if message.status in (401, 407) and captured.status != message.status:
                live.used = True
                if not self._answer_challenge(captured, message):
                    return
                deadline = self._now() + self.timeout
            elif message.status == captured.status:
                live.used = True
                self._matched(step, captured, message)
                return
            elif message.status == 100:
                live.used = True
                self._extra(live, Verdict.NOTE, "100 Trying not in the capture (hop by hop)")
            elif captured.status == 100:
                self._row(step, "-", Verdict.NOTE, "no 100 Trying (optional, §17.2.1)")
                return
            elif message.is_provisional:
                live.used = True
                self._extra(live, Verdict.UNEXPECTED, f"{message.label} not in the capture")
            elif captured.is_provisional:
                self._row(step, message.label, Verdict.MISSING, f"expected {captured.label} "
                          f"after {captured.cseq.method}, got {message.label}")
                return
            else:
                live.used = True
                self._matched(step, captured, message,
                              wrong=f"expected {captured.label}, got {message.label}")
                if (captured.status < 300) != (message.status < 300):
                    self._abort(f"{captured.cseq.method} was answered {message.label}")
                return

    async def _next_response(self, captured: Response, deadline: float) -> Live | None:
        """The next live answer to our request for ``captured`` (None: none before deadline)."""
        branch = self._rewriter_of().branches.get(captured.branch or "")
        method = captured.cseq.method
        await self.live.wait(deadline, lambda: self.live.next_response(branch, method)
                             is not None)
        return self.live.next_response(branch, method)

    def _matched(self, step: ScriptStep, captured: Request | Response,
                 live: Request | Response, *, wrong: str = "") -> None:
        sent = self._sent.get((captured.branch, captured.cseq.method)) \
            if isinstance(captured, Response) else None
        findings = self._rewriter_of().absorb(captured, live, sent[0] if sent else None)
        self._learn(live)
        if wrong:  # another status: its headers are another story
            self._row(step, live.label, Verdict.WRONG, wrong, live=live)
            return
        texts = [f.text for f in findings if f.serious]
        verdict = Verdict.DIFFERS if texts else Verdict.OK
        texts += [f.text for f in findings if not f.serious]
        self._row(step, live.label, verdict, "; ".join(texts), live=live)

    def _answer_challenge(self, captured: Response, live: Response) -> bool:
        """A 401/407 the capture did not have: send the request again with credentials."""
        self._learn(live)
        key = (captured.branch, captured.cseq.method)
        sent = self._sent.get(key)
        try:
            if self.password is None:
                raise LocalProtocolError("no password to answer it")
            if sent is None:
                raise LocalProtocolError("we sent nothing it could answer")
            retry = add_authorization(sent[0], live, username=self.username,
                                      password=self.password, ids=self.ids,
                                      nonce_counts=self._nonce_counts)
            transaction = self.live.send_request(retry, self._destination())
        except SipError as error:
            self._extra_row(live, Verdict.WRONG,
                            f"expected {captured.label}, got {live.label}: {error}")
            self._abort(f"challenged with {live.label}")
            return False
        rewriter = self._rewriter_of()
        if captured.branch is not None and retry.branch is not None:
            rewriter.branches[captured.branch] = retry.branch
        rewriter.cseq_offset += 1
        self._sent[key] = (retry, transaction)
        self._extra_row(live, Verdict.NOTE, f"challenge not in the capture: {retry.method} sent "
                        f"again with fresh credentials (CSeq {retry.cseq.number})")
        return True

    async def _expect_request(self, step: ScriptStep, captured: Request) -> None:
        if captured.method == "ACK" and self.script.acks_failure(captured):
            await self._expect_failure_ack(step, captured)
            return
        initial = captured.to_tag is None and captured.method != "ACK"
        await self.live.wait(self._now() + self.timeout,
                             lambda: self.live.next_request() is not None)
        live = self.live.next_request()
        if live is None or not isinstance(live.message, Request):
            self._row(step, "-", Verdict.MISSING,
                      f"expected {captured.method}, nothing within {self.timeout:g} s")
        elif live.message.method != captured.method:
            self._row(step, live.message.label, Verdict.MISSING,
                      f"expected {captured.method}, got {live.message.label}")
        else:
            live.used = True
            self._ended |= captured.method == "BYE"
            self._answered[(captured.branch, captured.method)] = live
            self._matched(step, captured, live.message)
            return
        if initial:
            self._abort(f"no {captured.method} came")

    async def _expect_failure_ack(self, step: ScriptStep, captured: Request) -> None:
        """The ACK of our 3xx-6xx is absorbed by the INVITE server transaction (§17.2.1)."""
        invite = self._answered.get((captured.branch, "INVITE"))
        transaction = invite.transaction if invite is not None else None
        if transaction is None:
            self._row(step, "-", Verdict.SKIPPED, "no INVITE was answered")
            return
        history = transaction.history
        if await self.live.wait(self._now() + self.timeout,
                                lambda: any(name == "ACK" for _, name, _ in history)):
            self._row(step, "ACK", Verdict.OK, "absorbed by the INVITE transaction (§17.2.1)")
        else:
            self._row(step, "-", Verdict.MISSING,
                      f"expected ACK, nothing within {self.timeout:g} s")

    def _learn(self, live: Request | Response) -> None:
        if isinstance(live, Response) and live.status in (401, 407):
            header = "WWW-Authenticate" if live.status == 401 else "Proxy-Authenticate"
            self._challenges[header] = live
        if isinstance(live, Response) and live.cseq.method == "INVITE" and \
                200 <= live.status < 300 and self._live_2xx is None:
            self._live_2xx = live
        if self._media is not None:
            self._media.learn(live)
