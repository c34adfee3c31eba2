"""A phone in a notebook: the :class:`Dialer` widget (ipywidgets 8, JupyterLab 4).

A dialer is a softphone's face on top of a :class:`~siplab.aio.useragent.UserAgent`::

    lab = await siplab.lab.start()
    siplab.lab.dialers(lab, "alice", "bob")        # two phones side by side

Each one has what a SIP phone has, and each control is one piece of SIP:

* a **registration light** with Register/Unregister: REGISTER binds our
  address of record to our Contact (RFC 3261 §10); grey, amber while the
  REGISTER (and its 401 digest round, §22) is on its way, green, red;
* a **number** and a **dial pad**: the number becomes the Request-URI of the
  INVITE (``bob`` means ``sip:bob@<our domain>``); during a call the keys
  are sent as RFC 4733 telephone-events in the RTP stream;
* **Call** (INVITE, §13), **Answer** (200 OK with the SDP answer, RFC 3264),
  **Reject** (486 Busy Here), **Hold**/**Resume** (a re-INVITE with
  ``a=sendonly``/``a=sendrecv``, RFC 3264 §8.4), **Hangup** (CANCEL before
  the answer, §9; BYE after, §15); each enabled only in the phases where it
  makes sense (the table :data:`~siplab.lab.widgets_state.BUTTONS`);
* an **incoming-call notice** (a 180 Ringing has gone back to the caller);
* a **message box**: MESSAGE requests (RFC 3428) to the number, and the ones
  received;
* the **call timer**, the negotiated **codec**, and live **RTP statistics**
  (packets each way, loss and RFC 3550 jitter), refreshed every second;
* a **log** of every event, one line per SIP message that mattered.

Nothing here decides anything about SIP: the dialer calls the user agent's
methods (``register()``, ``call()``, ``accept()``, ``hold()``...) and redraws
itself from the user agent's state whenever one of its events arrives. It
runs on the notebook's own asyncio loop (ipykernel runs one): a button click
schedules a coroutine, a task reads the user agent's event queue, and
another ticks the timer while a call is up. No threads.

The module is in three parts: :mod:`siplab.lab.widgets_state` decides what a
state means (the light's colour, the table of buttons each phase enables),
:mod:`siplab.lab.widgets_view` holds the widgets and draws them from the
state, and this module does what the buttons say and listens to the user agent.

The dialer takes its user agent over: it reads ``ua.events`` and sets
``ua.on_invite`` and ``ua.on_message``. Tests drive it as a person would, with
``dialer.call_button.click()`` and ``dialer.number.value = "bob"``, and wait
for the outcome with :meth:`Dialer.wait_until` or :meth:`Dialer.wait_for_phase`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from siplab.aio.errors import RequestError
from siplab.errors import LocalProtocolError, SipError
from siplab.lab.start import Account
from siplab.lab.widgets_state import Phase, describe_end, describe_event
from siplab.lab.widgets_view import KEYPAD, DialerView, user_of
from siplab.sip.invite_table import SessionState

if TYPE_CHECKING:
    from siplab.aio.session import Session
    from siplab.aio.useragent import IncomingMessage, UserAgent
    from siplab.call import DtmfPress
    from siplab.lab.start import Lab

__all__ = ["Dialer", "dialers", "KEYPAD"]

logger = logging.getLogger("siplab.lab.widgets")

_STEP_TIMEOUT = 10.0  # seconds a REGISTER, MESSAGE or re-INVITE may take


class Dialer(DialerView):
    """A phone for one user agent (see the module docstring).

    ``ua_or_account``: a :class:`~siplab.aio.useragent.UserAgent`, or an
    account of ``lab`` (its name, or an :class:`~siplab.lab.Account`), for
    which the dialer asks the lab for a phone that is not registered yet
    (click Register). ``name``: the label (default: the account's user).

    Every control is an attribute (see :class:`~siplab.lab.widgets_view.DialerView`):
    ``status_light``, ``register_button``, ``unregister_button``, ``number``,
    ``keypad`` (key -> button), ``call_button``, ``answer_button``,
    ``reject_button``, ``hold_button``, ``hangup_button``,
    ``incoming_notice``, ``status_label``, ``timer_label``, ``codec_label``,
    ``stats_label``, ``dtmf_label``, ``message_text``, ``send_button``,
    ``messages_area``, ``log_area``. What they show is also readable as
    values: :attr:`light`, :attr:`phase`, :attr:`session`,
    :attr:`call_seconds`, :attr:`rtp_stats`, :attr:`received_messages`,
    :attr:`log_lines`.
    """

    def __init__(self, ua_or_account: UserAgent | Account | str, *, lab: Lab | None = None,
                 name: str | None = None) -> None:
        if isinstance(ua_or_account, str | Account):
            account = ua_or_account if isinstance(ua_or_account, str) else ua_or_account.name
            if lab is None:
                raise LocalProtocolError(f"Dialer({account!r}) needs lab= to make its phone")
            super().__init__(name or account, None)
            making: Coroutine[Any, Any, None] = self._make_phone(lab, account)
        else:
            super().__init__(name or user_of(ua_or_account.uri), ua_or_account)
            making = self._adopt(ua_or_account)
        self.lab = lab
        self._actions: set[asyncio.Task[Any]] = set()  # button clicks still running
        self._watchers: set[asyncio.Task[None]] = set()  # one per call, until it is over
        self._ticker: asyncio.Task[None] | None = None
        self._pump: asyncio.Task[None] | None = None
        for button, action in ((self.register_button, self._register),
                               (self.unregister_button, self._unregister),
                               (self.call_button, self._call),
                               (self.answer_button, self._answer),
                               (self.reject_button, self._reject),
                               (self.hold_button, self._hold),
                               (self.hangup_button, self._hangup),
                               (self.send_button, self._send_message)):
            self._wire(button, action)
        for key, button in self.keypad.items():
            self._wire(button, functools.partial(self._key, key))
        self._ready = self._loop.create_task(making)
        self._ready.add_done_callback(self._made)

    def __repr__(self) -> str:
        return f"<Dialer {self.name} {self.light} {self.phase}>"

    def _wire(self, button: widgets.Button,
              action: Callable[[], Coroutine[Any, Any, None] | None]) -> None:
        button.on_click(lambda _: self._act(action))

    # -- waiting (for tests, and for notebook cells) ----------------------------------------

    async def ready(self, timeout: float = _STEP_TIMEOUT) -> UserAgent:
        """Wait until the dialer has its (started) user agent, and return it."""
        async with asyncio.timeout(timeout):
            await asyncio.shield(self._ready)
        assert self.ua is not None
        return self.ua

    async def wait_until(self, predicate: Callable[[], object],
                         timeout: float = _STEP_TIMEOUT) -> None:
        """Wait until ``predicate()`` is true, checking after every redraw (bounded)."""
        try:
            async with asyncio.timeout(timeout):
                while not predicate():
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            recent = "\n  ".join(self.log_lines[-6:])
            raise TimeoutError(f"{self!r}: not there after {timeout} s; status "
                               f"{self.status_label.value!r}; log:\n  {recent}") from None

    async def wait_for_phase(self, phase: Phase, timeout: float = _STEP_TIMEOUT) -> None:
        await self.wait_until(lambda: self.phase is phase, timeout)

    async def settled(self, timeout: float = _STEP_TIMEOUT) -> None:
        """Wait until every clicked action has finished and every event has been shown."""
        async with asyncio.timeout(timeout):
            while True:
                pending = [task for task in self._actions if not task.done()]
                if pending:
                    await asyncio.wait(pending)
                    continue
                await asyncio.sleep(0)  # let the event pump take what is queued
                if self.ua is None or self.ua.events.empty():
                    break
        self.refresh()

    # -- starting and stopping ------------------------------------------------------------

    async def _make_phone(self, lab: Lab, account: str) -> None:
        ua = await lab.user_agent(account, register=False)
        self.ua = ua
        await self._adopt(ua)

    async def _adopt(self, ua: UserAgent) -> None:
        if not ua.running:
            await ua.start()
        ua.on_invite = self._on_invite
        ua.on_message = self._on_message
        self._pump = self._loop.create_task(self._read_events(ua))

    def _made(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            self._log(f"could not start the phone: {error}")
        else:
            self._log(f"phone {self.ua.uri if self.ua else ''} ready")
        self.refresh()

    async def _read_events(self, ua: UserAgent) -> None:
        """The user agent's events, as they come: a line in the log, and a redraw."""
        while True:
            event = await ua.events.get()
            try:
                line = describe_event(event)
                if line is not None:
                    self._log(line)
                self.refresh()
            except Exception:  # a bug in drawing must not stop the dialer listening
                logger.exception("dialer %s: showing %r failed", self.name, event)

    def close(self) -> None:
        """Stop the dialer's tasks and close its widgets (the user agent keeps running)."""
        for task in (getattr(self, "_pump", None), getattr(self, "_ticker", None),
                     *getattr(self, "_actions", ()), *getattr(self, "_watchers", ())):
            if task is not None and not task.done():
                with contextlib.suppress(RuntimeError):  # the loop may be closed already
                    task.cancel()
        ua = getattr(self, "ua", None)
        if ua is not None and ua.on_invite == self._on_invite:
            ua.on_invite = ua.on_message = None
        super().close()

    # -- what the buttons do ----------------------------------------------------------------

    def _act(self, action: Callable[[], Coroutine[Any, Any, None] | None]) -> None:
        """Run a button's action on the dialer's loop; failures go to the log, not the cell."""
        def start() -> None:
            result = action()
            if result is None:
                self.refresh()
                return
            task = self._loop.create_task(self._guarded(result))
            self._actions.add(task)
            task.add_done_callback(self._actions.discard)

        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            start()
        else:  # a click handled outside the loop's thread
            self._loop.call_soon_threadsafe(start)

    async def _guarded(self, action: Coroutine[Any, Any, None]) -> None:
        try:
            await action
        except (SipError, TimeoutError, ValueError) as error:
            self._log(f"failed: {error or type(error).__name__}")
        except Exception as error:  # a bug: say what it was, on screen and in the log
            logger.exception("dialer %s: an action failed", self.name)
            self._log(f"failed: {type(error).__name__}: {error}")
        finally:
            self.refresh()

    async def _register(self) -> None:
        ua = await self.ready()
        self._registering, self._registration_error = True, None
        self._log("REGISTER sent")
        self.refresh()
        try:
            await ua.registerer().register(timeout=_STEP_TIMEOUT)
        except RequestError as error:
            self._registration_error = f"{error.status or ''} {error.reason}".strip()
        finally:
            self._registering = False

    async def _unregister(self) -> None:
        ua = await self.ready()
        self._log("REGISTER with Expires: 0 sent")
        await ua.registerer().unregister(timeout=_STEP_TIMEOUT)

    async def _call(self) -> None:
        ua = await self.ready()
        target = self.number.value.strip()
        if not target:
            self._log("type a number first (bob, or sip:bob@127.0.0.1)")
            return
        if self._dialing or self.phase is not Phase.IDLE:
            return
        self._dialing = True
        self._new_call()
        try:
            self._log(f"INVITE to {target}")
            session = await ua.call(target)
        finally:
            self._dialing = False
        self._follow(session)

    async def _answer(self) -> None:
        from siplab.aio.session import Invitation

        session = self.session
        if isinstance(session, Invitation) and self.phase is Phase.RINGING:
            await session.accept()

    async def _reject(self) -> None:
        from siplab.aio.session import Invitation

        session = self.session
        if isinstance(session, Invitation) and self.phase is Phase.RINGING:
            self._log("486 Busy Here sent")
            await session.reject(486)

    async def _hold(self) -> None:
        session = self.session
        if session is None:
            return
        if self.phase is Phase.IN_CALL:
            self._log("re-INVITE (a=sendonly): hold")
            await session.hold(timeout=_STEP_TIMEOUT)
        elif self.phase is Phase.ON_HOLD:
            self._log("re-INVITE (a=sendrecv): resume")
            await session.unhold(timeout=_STEP_TIMEOUT)

    async def _hangup(self) -> None:
        session = self.session
        if session is not None and self.phase in (Phase.CALLING, Phase.IN_CALL, Phase.ON_HOLD):
            self._log("CANCEL sent" if self.phase is Phase.CALLING else "BYE sent")
            await session.hangup(timeout=_STEP_TIMEOUT)

    def _key(self, key: str) -> Coroutine[Any, Any, None] | None:
        """A dial-pad key: a digit of the number, or an RFC 4733 event during a call."""
        if self.session is not None and self.phase in (Phase.IN_CALL, Phase.ON_HOLD):
            return self._send_dtmf(self.session, key)
        self.number.value += key
        return None

    async def _send_dtmf(self, session: Session, key: str) -> None:
        self.dtmf_sent += key
        self._log(f"DTMF {key} (RFC 4733 telephone-event)")
        self.refresh()
        await session.send_dtmf(key, timeout=_STEP_TIMEOUT)

    async def _send_message(self) -> None:
        ua = await self.ready()
        text = self.message_text.value
        target = self.number.value.strip()
        if not target and self.session is not None:
            target = str(self.session.remote_identity.uri)
        if not text or not target:
            self._log("type a number and a message first")
            return
        reply = await ua.message(target, text, timeout=_STEP_TIMEOUT)
        self._log(f"MESSAGE to {target}: {reply.status} {reply.reason}")
        self.message_lines.append(f"to {target}: {text}")
        self.message_text.value = ""

    # -- what the user agent tells it -----------------------------------------------------

    def _on_invite(self, invitation: Session) -> None:
        from siplab.aio.session import Invitation

        assert isinstance(invitation, Invitation)
        if self._dialing or self.phase is not Phase.IDLE:  # one call at a time, like a phone
            self._log(f"busy: 486 to {invitation.remote_identity.uri}")
            self._act(lambda: invitation.reject(486))
            return
        self._new_call()
        self._follow(invitation)
        self._act(lambda: invitation.progress(180))  # the caller hears it ringing

    def _on_message(self, message: IncomingMessage) -> None:
        self.received_messages.append(message)
        self.message_lines.append(f"from {user_of(message.sender.uri)}: {message.text}")
        self.refresh()

    def _on_dtmf(self, press: DtmfPress) -> None:
        self._log(f"DTMF {press.digit} heard")
        self.refresh()

    def _new_call(self) -> None:
        """Clear what the last call left on the screen."""
        self.session, self.rtp_stats, self.dtmf_sent, self._outcome = None, None, "", None
        self._answered_at = self._ended_at = None
        self.codec_label.value = "codec: -"

    def _follow(self, session: Session) -> None:
        """Make ``session`` the dialer's call and keep the screen in step with it."""
        self.session = session
        session.on_state_change = functools.partial(self._on_state_change, session)
        session.on_dtmf = self._on_dtmf
        watcher = self._loop.create_task(self._watch(session))
        self._watchers.add(watcher)
        watcher.add_done_callback(self._watchers.discard)
        self.refresh()

    def _on_state_change(self, session: Session, state: SessionState) -> None:
        if state is SessionState.Terminated and self._answered_at is not None \
                and self._ended_at is None and session is self.session:
            self._ended_at = self._loop.time()  # the timer stops with the call
        self.refresh()

    async def _watch(self, session: Session) -> None:
        """Start the timer when ``session`` is answered; note how it ended."""
        try:
            await session.established()
        except (RequestError, TimeoutError):
            pass  # rejected, cancelled, unanswered: the SessionTerminated line says which
        else:
            if self.session is session:
                self._answered_at = self._loop.time()
                self._ticker = self._loop.create_task(self._tick(session))
        try:
            cause: str | None = await session.terminated()
        except RequestError:
            cause = "the phone stopped"
        if self.session is not session:
            return  # a newer call has the screen
        if self._answered_at is not None and self._ended_at is None:
            self._ended_at = self._loop.time()
        self._outcome = describe_end(cause, session.status)
        self.refresh()

    async def _tick(self, session: Session) -> None:
        """Redraw once a second, on the second, while the call is up (timer, RTP stats)."""
        while self.session is session and self._ended_at is None:
            self.refresh()
            await asyncio.sleep(1.0 - self.call_seconds % 1.0 + 0.005)


def dialers(lab: Lab, *names: str) -> widgets.HBox:
    """Dialers for ``names`` (default: alice and bob) of ``lab``, side by side.

    ``box.children`` are the :class:`Dialer` s; each makes its own phone
    (not registered: click Register).
    """
    return widgets.HBox([Dialer(name, lab=lab) for name in names or ("alice", "bob")])
