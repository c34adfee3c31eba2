"""From the core's events to what a notebook awaits: futures, callbacks and queues.

The sans-I/O :class:`~siplab.sip.useragent.UserAgentCore` reports what
happened as events (:mod:`siplab.sip.events`): a registration succeeded, a
call arrived, a MESSAGE came in, a request got its final answer.
:class:`EventDispatch`, mixed into :class:`~siplab.aio.useragent.UserAgent`,
routes each one to the object it is about:

=====================================  ==========================================
Registered, Unregistered, REGISTER's   the :class:`~siplab.aio.registerer.Registerer`
answers (RFC 3261 §10)
IncomingCall (§13.3)                   a new :class:`~siplab.aio.session.Invitation`,
                                       ``ua.on_invite`` and ``ua.next_invitation()``
MessageReceived (RFC 3428)             an :class:`IncomingMessage`, ``ua.on_message``
                                       and ``ua.next_message()``
the final answer to our MESSAGE,       the future ``await``-ed by the request's
OPTIONS, INFO, REFER (§8.1.3)          sender (a 2xx, or a RequestError)
a call's progress, end, re-INVITE...   the :class:`~siplab.aio.session.Session`
=====================================  ==========================================

Every event also goes on ``ua.events``. The other direction is here too:
:meth:`EventDispatch._acting` wraps each call of a core verb, giving it the
time and then sending what it produced (the sans-I/O "call, then flush" step).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from siplab.aio.errors import RequestError
from siplab.aio.session import Invitation
from siplab.errors import InvalidStateError
from siplab.sip.events import (
    Event,
    IncomingCall,
    InfoReceived,
    MessageReceived,
    NotifyReceived,
    ReferReceived,
    Registered,
    RegistrationFailed,
    RegistrationQueried,
    ReinviteReceived,
    RequestFailed,
    RequestSucceeded,
    SessionEstablished,
    SessionModified,
    SessionProgress,
    SessionTerminated,
    TransferCompleted,
    Unregistered,
)
from siplab.sip.headers import Address
from siplab.sip.invite_table import SessionState
from siplab.sip.message import Request

if TYPE_CHECKING:
    from siplab.aio.driver import EndpointDriver
    from siplab.aio.media import AnyMedia
    from siplab.aio.registerer import Registerer
    from siplab.aio.session import Session
    from siplab.sip.invite import Session as CoreSession
    from siplab.sip.transport import Peer
    from siplab.sip.uri import SipUri

__all__ = ["EventDispatch", "IncomingMessage", "MAX_QUEUED", "fail_all"]

logger = logging.getLogger("siplab.ua")

T = TypeVar("T")

#: How many events, invitations and messages are kept for a reader that never comes.
MAX_QUEUED = 1000


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    """A MESSAGE someone sent us (RFC 3428); it was answered 200 OK."""

    sender: Address
    text: str
    body: bytes
    content_type: str | None
    request: Request


class EventDispatch:
    """Core events in, futures, callbacks and queues out (mixed into
    :class:`~siplab.aio.useragent.UserAgent`)."""

    # Provided by UserAgent:
    uri: SipUri
    auto_answer: bool
    media: bool
    on_invite: Callable[[Invitation], Any] | None
    on_message: Callable[[IncomingMessage], Any] | None
    events: asyncio.Queue[Event]
    _driver: EndpointDriver | None
    _stopped: bool
    _sessions: dict[CoreSession, Session]
    _invitations: asyncio.Queue[Invitation]
    _messages: asyncio.Queue[IncomingMessage]
    _pending: dict[tuple[str, str], list[asyncio.Future[Any]]]
    _tasks: set[asyncio.Task[Any]]

    if TYPE_CHECKING:  # the user agent's own methods, which these use

        def registerer(self, expires: int | None = None) -> Registerer: ...

        def _session_for(self, core: CoreSession, media: AnyMedia | None = None) -> Session: ...

    def _dispatch(self, event: object) -> None:
        """Route one core event to the object it is about (the driver's on_event)."""
        if not isinstance(event, Event):
            return
        _put(self.events, event)
        match event:
            case Registered() | RegistrationFailed() | Unregistered() | RegistrationQueried():
                self.registerer()._on_event(event)
            case RequestSucceeded(kind="REGISTER") | RequestFailed(kind="REGISTER"):
                self.registerer()._on_event(event)
            case RequestSucceeded(kind=kind, request=request, response=response):
                self._resolve(request.call_id, kind, response)
            case RequestFailed(kind=kind, request=request, status=status, reason=reason):
                self._resolve(request.call_id, kind,
                              error=RequestError(status, reason, method=kind))
            case IncomingCall(session=core):
                invitation = self._session_for(core)
                assert isinstance(invitation, Invitation)
                invitation._on_event(event)
                _put(self._invitations, invitation)
                if self.auto_answer and self.media:
                    self._call_back(lambda _: invitation._auto_answer(), None)
                self._call_back(self.on_invite, invitation)
            case MessageReceived(request=request, sender=sender, body=body,
                                 content_type=content_type):
                message = IncomingMessage(sender, body.decode("utf-8", "replace"), body,
                                          content_type, request)
                _put(self._messages, message)
                self._call_back(self.on_message, message)
            case (SessionProgress() | SessionEstablished() | SessionTerminated()
                  | SessionModified() | ReinviteReceived() | InfoReceived() | ReferReceived()
                  | NotifyReceived() | TransferCompleted()):
                self._session_for(event.session)._on_event(event)
        self._sync_states()

    def _received(self, data: bytes, peer: Peer) -> None:
        """A message for the core (through the driver); then the sessions catch up, since
        some steps (an ACK arriving) change a call without an event."""
        assert self._driver is not None
        self._driver.datagram_received(data, peer)
        self._sync_states()

    def _sync_states(self) -> None:
        for core, session in list(self._sessions.items()):
            session._sync_state()
            if session.state is SessionState.Terminated and session._terminated.done():
                del self._sessions[core]  # over: nothing more will come for it

    @contextlib.contextmanager
    def _acting(self) -> Iterator[float]:
        """Around a call of a core verb: give it the time, then send what it produced."""
        driver = self._driver
        if driver is None:
            if self._stopped:
                # A notebook's last cell usually stops the lab; a cell run after it lands here.
                raise InvalidStateError(
                    f"{self.uri} was stopped (ua.stop() or lab.stop()): start it again, "
                    "or restart the kernel and run the notebook from the top")
            raise InvalidStateError("the user agent is not running: await ua.start() first")
        try:
            yield driver.now()
        finally:
            driver.flush()
            self._sync_states()

    def _expect(self, call_id: str, method: str) -> asyncio.Future[Any]:
        """A future for the answer to our ``method`` request in ``call_id``."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.setdefault((call_id, method), []).append(future)
        return future

    def _resolve(self, call_id: str, method: str, result: object = None,
                 error: BaseException | None = None) -> None:
        """The oldest request still waiting for ``method`` in ``call_id`` got its answer."""
        futures = self._pending.get((call_id, method))
        while futures:
            future = futures.pop(0)
            if not future.done():
                if error is None:
                    future.set_result(result)
                else:
                    future.set_exception(error)
                    future.exception()
                break
        if not futures:
            self._pending.pop((call_id, method), None)

    def _fail_pending(self, call_id: str, error: BaseException) -> None:
        for key in [k for k in self._pending if k[0] == call_id]:
            fail_all(self._pending.pop(key), error)

    async def _outcome(self, future: asyncio.Future[T], timeout: float | None) -> T:
        async with asyncio.timeout(timeout):
            return await asyncio.shield(future)

    def _call_back(self, callback: Callable[[Any], Any] | None, argument: object) -> None:
        """Call an application callback; a coroutine function runs as a task."""
        if callback is None:
            return
        try:
            result = callback(argument)
        except Exception:
            logger.exception("callback %r failed", callback)
            return
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            self._tasks.add(task)
            task.add_done_callback(self._callback_done)

    def _callback_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("callback task failed", exc_info=task.exception())


def _put(queue: asyncio.Queue[T], item: T) -> None:
    """Queue ``item``, dropping the oldest when nobody reads (MAX_QUEUED)."""
    if queue.qsize() >= MAX_QUEUED:
        queue.get_nowait()
    queue.put_nowait(item)


def fail_all(futures: list[asyncio.Future[Any]], error: BaseException) -> None:
    """Fail every future not yet done with ``error`` (marked as seen: no "never retrieved")."""
    for future in futures:
        if not future.done():
            future.set_exception(error)
            future.exception()
