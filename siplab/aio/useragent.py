"""A SIP phone you drive with ``await``: :class:`UserAgent` (the friendly asyncio API).

This is what a notebook uses. It looks like SIP.js (a ``UserAgent`` that
starts and stops, a ``Registerer``, ``Inviter`` and ``Invitation`` sessions,
messages) with ``async``/``await`` in place of promises::

    async with UserAgent("sip:alice@127.0.0.1", "secret",
                         transport="udp://127.0.0.1:5060") as alice:
        await alice.registerer().register()
        call = await alice.call("bob")                  # sip:bob@127.0.0.1
        await call.established(timeout=10)
        await call.hold()
        await call.bye()
        reply = await alice.message("bob", "hello")     # the 200 OK

Everything SIP is decided by the sans-I/O
:class:`~siplab.sip.useragent.UserAgentCore` (in :attr:`UserAgent.core`);
this module only gives it a socket and the clock through an
:class:`~siplab.aio.driver.EndpointDriver`, and turns the core's events into
resolved futures, callbacks and queues:

* registration events go to the :class:`~siplab.aio.registerer.Registerer`;
* call events go to the :class:`~siplab.aio.session.Session` they are about;
  a new call is an :class:`~siplab.aio.session.Invitation`, handed to
  ``ua.on_invite`` and queued for :meth:`UserAgent.next_invitation`;
* a MESSAGE goes to ``ua.on_message`` and :meth:`UserAgent.next_message`;
* the answer to a MESSAGE, OPTIONS, INFO or REFER resolves the ``await``
  that sent it (or raises :class:`~siplab.aio.errors.RequestError`);
* and every event is also put on :attr:`UserAgent.events`, for a notebook
  that wants to print them all.

**Media** (``media=True``, the default): a call whose SDP is left to siplab
(no ``body=``) gets an RTP endpoint and a :class:`~siplab.call.Call` (see
:mod:`siplab.aio.session_media`), playing ``audio_source`` (or the call's
``source=``) and recording what it hears; with ``auto_answer=True`` every
INVITE is answered with an SDP answer (or refused with 488/400).

**Two media paths** (DESIGN.md): a SIP phone's plain RTP/AVP, and a browser's
WebRTC (ICE, DTLS-SRTP, through aiortc: :mod:`siplab.aio.webrtc`). ``webrtc``
says which this user agent speaks: ``None`` (the default) answers each offer
on its own path and offers plain RTP; ``True`` makes it a WebRTC endpoint like
a browser (it offers WebRTC and refuses plain offers with 488); ``False`` a
plain SIP phone (it refuses WebRTC offers with 488). ``ua.call(target,
webrtc=True)`` offers WebRTC for one call; ``video=True`` adds a VP8 test
pattern to WebRTC calls.

``transport`` names the server every request goes to first (the *outbound
proxy*, as JsSIP's ``sockets`` and SIP.js's ``transportOptions.server``):
``udp://host:port``, ``tcp://host:port``, ``tls://host:port``,
``ws://host:port/path`` or ``wss://host:port/path``. Over UDP the user agent
binds its own socket (on 127.0.0.1 when the server is on loopback); over
TCP, TLS and WebSocket it connects to the server and receives everything
over that one connection, as a browser does (RFC 7118). TLS trusts the
system's authorities and the lab's own certificate (``tls_ca`` names
another; ``tls_verify=False`` checks nothing, see :mod:`siplab.aio.tls`).

**When things go wrong** (what JsSIP and SIP.js do too):

* the connection to the server drops (the server closed it, or restarted):
  the user agent connects again, after 0.5, 1, 2... s (at most
  :data:`MAX_RECONNECT_DELAY` apart), and registers again at once if it was
  registered (RFC 5626 §4.4 in spirit), keeping its Contact;
* a registration refresh fails: the registration retries by itself with
  backoff (:mod:`siplab.sip.registration`);
* the peer of a call vanishes: no RTP (nor RTCP) from it for ``rtp_timeout``
  seconds ends the call with a BYE whose cause is ``"rtp timeout"``
  (``keepalive_interval`` sends in-call OPTIONS too: a 408/481 or silence
  ends the call, cause ``"keepalive failed"``).

The class is long, so two of its parts live next door, mixed into it: how it
reaches (and reaches again) its server, :mod:`siplab.aio.ua_connection`, and
how the core's events become futures, callbacks and queues,
:mod:`siplab.aio.ua_dispatch`.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import os
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from siplab.aio.debug import enable_debug
from siplab.aio.driver import EndpointDriver
from siplab.aio.errors import RequestError
from siplab.aio.registerer import Registerer
from siplab.aio.server_url import ServerUrl, parse_transport_url
from siplab.aio.session import Invitation, Inviter, Session
from siplab.aio.transport import TraceRecord
from siplab.aio.ua_connection import MAX_RECONNECT_DELAY, ServerConnection, reconnect_delay
from siplab.aio.ua_dispatch import MAX_QUEUED as MAX_QUEUED  # re-exported
from siplab.aio.ua_dispatch import EventDispatch, IncomingMessage, fail_all
from siplab.call import MediaPath
from siplab.errors import InvalidStateError, LocalProtocolError
from siplab.ids import IdSource
from siplab.sdp import Capabilities
from siplab.sip.events import (
    Event,
)
from siplab.sip.headers import Address, parse_address
from siplab.sip.invite import Session as CoreSession
from siplab.sip.invite_table import SessionState
from siplab.sip.message import Response
from siplab.sip.registration import RegistrationState
from siplab.sip.timers import TimerConfig
from siplab.sip.transport import Peer
from siplab.sip.ua_config import HIDDEN, UserAgentConfig
from siplab.sip.uri import SipUri, Uri, parse_uri
from siplab.sip.useragent import UserAgentCore

if TYPE_CHECKING:
    from siplab.aio.audio import AudioSource
    from siplab.aio.lossy import Impairment
    from siplab.aio.media import AnyMedia, MediaPool
    from siplab.aio.scheduler import MediaScheduler

__all__ = ["UserAgent", "IncomingMessage", "MAX_RECONNECT_DELAY", "reconnect_delay"]

logger = logging.getLogger("siplab.ua")

#: The codecs a user agent offers and accepts by default, best first (G.711 first:
#: every phone has it, and a student can read its samples).
DEFAULT_CODECS = ("PCMU", "PCMA", "G722", "opus")
#: Seconds without RTP or RTCP from the peer before a call is ended (RFC 3550 §6.3.5
#: times a member out after five reporting intervals; 30 s is what phones commonly use).
DEFAULT_RTP_TIMEOUT = 30.0


class UserAgent(ServerConnection, EventDispatch):
    """A SIP user agent on real sockets (see the module docstring).

    ``uri``: our address of record (``sip:alice@127.0.0.1``). ``password``
    and ``auth_user`` (default: the user part of ``uri``) answer digest
    challenges. ``transport``: the server's URL, or a list of them tried in
    order by :meth:`start`. ``auto_answer``: ring and answer every call
    (and re-INVITE) at once. ``register_expires``: the lifetime a REGISTER
    asks for. ``keepalive_interval``: in-call OPTIONS every so many seconds.
    ``debug``: log every message and decision (:func:`siplab.aio.debug.enable_debug`).
    ``ids`` and ``timers`` go to the core (seeded ids, fast timers in tests).
    ``media``, ``codecs``, ``audio_source``, ``record``: the calls' audio (see the
    module docstring); ``media_scheduler`` paces their RTP (default: the loop's).
    ``webrtc`` (None: both paths, True: WebRTC only, False: plain only) and
    ``video``: the media paths (see the module docstring).
    ``trace``: called with every SIP message in and out, a
    :class:`~siplab.aio.transport.TraceRecord` (a :class:`siplab.lab.Trace`); may be set later.
    ``rtp_timeout``: seconds without media from the peer that end a call (None: never).
    ``tls_ca``, ``tls_verify``: whom TLS trusts. ``reconnect``: connect again when the
    connection to the server drops. ``impairment``: a lossy UDP network
    (:mod:`siplab.aio.lossy`).
    """

    def __init__(
        self,
        uri: str | SipUri,
        password: str | None = None,
        *,
        auth_user: str | None = None,
        display_name: str | None = None,
        transport: str | list[str] = "udp://127.0.0.1:5060",
        user_agent: str | None = "siplab/0.1",
        contact: str | None = None,
        debug: bool = False,
        auto_answer: bool = False,
        register_expires: int = 600,
        keepalive_interval: float | None = None,
        ids: IdSource | None = None,
        timers: TimerConfig | None = None,
        media: bool = True,
        codecs: tuple[str, ...] | list[str] = DEFAULT_CODECS,
        audio_source: AudioSource | str | None = None,
        record: bool = True,
        media_scheduler: MediaScheduler | None = None,
        trace: Callable[[TraceRecord], None] | None = None,
        webrtc: bool | None = None,
        video: bool = False,
        rtp_timeout: float | None = DEFAULT_RTP_TIMEOUT,
        tls_ca: str | os.PathLike[str] | None = None,
        tls_verify: bool = True,
        reconnect: bool = True,
        impairment: Impairment | None = None,
    ) -> None:
        parsed = parse_uri(uri) if isinstance(uri, str) else uri
        if not isinstance(parsed, SipUri) or not parsed.user:
            raise LocalProtocolError(f"a user agent needs a sip: address with a user, not {uri}")
        self.uri = parsed
        urls = [transport] if isinstance(transport, str) else list(transport)
        if not urls:
            raise LocalProtocolError("give at least one transport URL")
        self.servers = [parse_transport_url(url) for url in urls]
        self._password = password
        self.auth_user = auth_user
        self.display_name = display_name
        self.user_agent = user_agent
        self.contact = contact
        self.debug = debug
        self.auto_answer = auto_answer
        self.register_expires = register_expires
        self.keepalive_interval = keepalive_interval
        self.ids = ids if ids is not None else IdSource()
        self.timers = timers
        # Called with every message in and out (siplab.lab.Trace); may be set at any time.
        self.trace = trace
        self.media = media
        self.capabilities = Capabilities(audio=tuple(codecs))  # checks the names now
        self.audio_source = audio_source
        self.record = record
        self.media_scheduler = media_scheduler
        self.rtp_timeout = rtp_timeout
        self.tls_ca = tls_ca
        self.tls_verify = tls_verify
        self.reconnect = reconnect
        self.impairment = impairment
        self.reconnections = 0  # how many times the connection to the server was re-opened
        self._reconnecting: asyncio.Task[None] | None = None
        self.webrtc = webrtc
        self.video = video
        self.media_paths = _media_paths(webrtc)  # the paths whose offers we answer
        self._media_pool: MediaPool | None = None
        self.on_invite: Callable[[Invitation], Any] | None = None
        self.on_message: Callable[[IncomingMessage], Any] | None = None
        self.events: asyncio.Queue[Event] = asyncio.Queue()
        self.server: ServerUrl | None = None  # the one start() reached
        self.local: Peer | None = None  # our socket's address
        self._core: UserAgentCore | None = None
        self._driver: EndpointDriver | None = None
        self._stopped = False
        self._registerer: Registerer | None = None
        self._sessions: dict[CoreSession, Session] = {}
        self._invitations: asyncio.Queue[Invitation] = asyncio.Queue()
        self._messages: asyncio.Queue[IncomingMessage] = asyncio.Queue()
        self._pending: dict[tuple[str, str], list[asyncio.Future[Any]]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        if debug:
            enable_debug()

    def __repr__(self) -> str:
        password = HIDDEN if self._password is not None else None
        where = self.server or self.servers[0]
        state = "running" if self.running else "stopped"
        return f"<UserAgent {self.uri} via {where} password={password} {state}>"

    # -- what it is ----------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._driver is not None

    @property
    def core(self) -> UserAgentCore:
        """The sans-I/O user agent (its registration, sessions, transaction layer)."""
        if self._core is None:
            raise InvalidStateError("the user agent has not been started")
        return self._core

    @property
    def local_host(self) -> str:
        return self.local.host if self.local is not None else "127.0.0.1"

    @property
    def sessions(self) -> list[Session]:
        """The calls not yet over."""
        return [s for s in self._sessions.values() if s.state is not SessionState.Terminated]

    # -- starting and stopping ---------------------------------------------------------------

    async def start(self) -> None:
        """Bind a UDP socket, or connect to the server over TCP or WebSocket."""
        if self.running:
            raise InvalidStateError("the user agent is already running")
        failure: OSError | None = None
        for server in self.servers:
            transports = self._transport_manager(server)
            try:
                server, local = await self._open(transports, server)
            except OSError as error:
                logger.info("cannot reach %s: %s", server, error)
                await transports.close()
                failure = error
                continue
            config = UserAgentConfig(
                aor=self.uri, username=self.auth_user, password=self._password,
                display_name=self.display_name, local=local, outbound=server.peer,
                contact=self._contact_uri(),
                user_agent=self.user_agent, register_expires=self.register_expires,
                # With media, auto-answer happens here (the answer needs SDP and a port).
                auto_answer=self.auto_answer and not self.media,
                keepalive_interval=self.keepalive_interval,
                timers=self.timers,
            )
            self.server, self.local = server, local
            self._core = UserAgentCore(config, ids=self.ids, timers=self.timers)
            self._driver = EndpointDriver(self._core, transports, on_event=self._dispatch,
                                          queue_events=False)
            transports.on_message = self._received
            transports.on_disconnect = self._disconnected
            logger.info("%s started on %s, server %s", self.uri, local, server)
            return
        assert failure is not None
        raise failure

    async def stop(self, timeout: float = 3.0) -> None:
        """Hang up every call, unregister, close the socket; waits at most about ``timeout``."""
        driver = self._driver
        if driver is None:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout / 2):
                await self._end_calls()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout / 2):
                await self._unregister()
        self._driver = None
        self._stopped = True
        stopped = RequestError(None, "the user agent stopped")
        for futures in self._pending.values():
            fail_all(futures, stopped)
        self._pending.clear()
        for session in self._sessions.values():
            session._stop(stopped)
        if self._registerer is not None:
            self._registerer._stop(stopped)
        for task in list(self._tasks):
            task.cancel()
        if self._media_pool is not None:
            await self._media_pool.close_all()
        await driver.close()
        logger.info("%s stopped", self.uri)

    async def _end_calls(self) -> None:
        live = self.sessions
        for session in live:
            if session.state is not SessionState.Terminating:
                with contextlib.suppress(LocalProtocolError), self._acting() as now:
                    session.core.hangup(now)
        await asyncio.gather(*(s.terminated() for s in live), return_exceptions=True)

    async def _unregister(self) -> None:
        registerer = self._registerer
        if registerer is not None and registerer.state is RegistrationState.Registered:
            with contextlib.suppress(RequestError, LocalProtocolError):
                await registerer.unregister()

    async def __aenter__(self) -> UserAgent:
        await self.start()
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        traceback: TracebackType | None) -> None:
        await self.stop()

    def _trace(self, record: TraceRecord) -> None:
        if self.trace is not None:
            self.trace(record)

    # -- registration --------------------------------------------------------------------------

    def registerer(self, expires: int | None = None) -> Registerer:
        """The registration of our address of record (one per user agent)."""
        if self._registerer is None:
            self._registerer = Registerer(self, expires)
        elif expires is not None:
            self._registerer.requested_expires = expires
        return self._registerer

    async def register(self, expires: int | None = None, timeout: float | None = None) -> None:
        """Shortcut for ``await ua.registerer(expires).register()``."""
        await self.registerer(expires).register(timeout)

    # -- calls ---------------------------------------------------------------------------------

    async def call(self, target: Address | Uri | str, body: bytes | None = None,
                   content_type: str | None = "application/sdp",
                   headers: list[tuple[str, str]] | None = None, *,
                   source: AudioSource | str | None = None,
                   record: bool | None = None, webrtc: bool | None = None,
                   video: bool | None = None) -> Inviter:
        """Call ``target`` ("bob", "bob@host", "sip:bob@host"): send the INVITE.

        Without ``body`` (and with media on) the INVITE carries siplab's offer
        and the call plays ``source`` (default: ``audio_source``), recording
        unless ``record=False``. The offer is WebRTC's if ``webrtc`` (default:
        the user agent's ``webrtc``), with VP8 video if ``video``. Returns
        once the INVITE is sent; ``await inviter.established()`` waits for the answer.
        """
        address = self._address(target)
        media = None
        if body is None and self.media:
            media = await self._open_media(source, record, webrtc=webrtc, video=video)
            try:
                body = await media.offer()
            except BaseException:
                await self._close_media(media)
                raise
        try:
            with self._acting() as now:
                core = self.core.call(address, now, body=body or b"",
                                      content_type=content_type, headers=headers or ())
                inviter = self._session_for(core, media)
        except BaseException:
            if media is not None:
                await self._close_media(media)
            raise
        assert isinstance(inviter, Inviter)
        return inviter

    @property
    def open_media(self) -> list[AnyMedia]:
        """The calls' media (RTP endpoints) not closed yet: empty once every call is over."""
        return list(self._media_pool.open_media) if self._media_pool is not None else []

    async def next_invitation(self, timeout: float | None = None) -> Invitation:
        """The next incoming call (also given to ``on_invite``)."""
        async with asyncio.timeout(timeout):
            return await self._invitations.get()

    # -- requests outside calls ---------------------------------------------------------------

    async def message(self, target: Address | Uri | str, text: str | bytes,
                      content_type: str = "text/plain", timeout: float | None = None) -> Response:
        """Send a MESSAGE (RFC 3428); returns the 2xx, raises RequestError otherwise."""
        body = text.encode("utf-8") if isinstance(text, str) else text
        with self._acting() as now:
            request = self.core.message(self._address(target), body, now, content_type)
            waiting = self._expect(request.call_id, "MESSAGE")
        result: Response = await self._outcome(waiting, timeout)
        return result

    async def next_message(self, timeout: float | None = None) -> IncomingMessage:
        """The next MESSAGE received (also given to ``on_message``)."""
        async with asyncio.timeout(timeout):
            return await self._messages.get()

    async def options(self, target: Address | Uri | str | None = None,
                      timeout: float | None = None) -> Response:
        """Send OPTIONS (§11) to ``target`` (default: the server); returns the 2xx."""
        if target is None:
            server = self._running_server()
            host = f"[{server.host}]" if ":" in server.host else server.host
            target = f"sip:{host}:{server.port}"
        with self._acting() as now:
            request = self.core.options(self._address(target), now)
            waiting = self._expect(request.call_id, "OPTIONS")
        result: Response = await self._outcome(waiting, timeout)
        return result

    # -- plumbing for Session and Registerer ------------------------------------------------------

    def _session_for(self, core: CoreSession, media: AnyMedia | None = None) -> Session:
        session = self._sessions.get(core)
        if session is None:
            kind = Inviter if core.direction == "outgoing" else Invitation
            session = self._sessions[core] = kind(self, core, media)
        return session

    def _address(self, target: Address | Uri | str) -> Address:
        """``bob`` -> ``sip:bob@<our domain>``, ``bob@host`` -> ``sip:bob@host``."""
        if isinstance(target, Address):
            return target
        if not isinstance(target, str):
            return Address(target)
        text = target.strip()
        if not text.startswith(("sip:", "sips:", "tel:", "<", '"')):
            if "@" not in text:
                text = f"{text}@{self.uri.host_port}"
            text = f"sip:{text}"
        return parse_address(text)

    def _contact_uri(self) -> SipUri | None:
        if self.contact is None:
            return None
        uri = parse_uri(self.contact)
        if not isinstance(uri, SipUri):
            raise LocalProtocolError(f"contact must be a sip: URI, not {self.contact}")
        return uri

    def _running_server(self) -> ServerUrl:
        if self.server is None:
            raise InvalidStateError("the user agent is not running: await ua.start() first")
        return self.server

    async def _open_media(self, source: AudioSource | str | None, record: bool | None, *,
                          offer: bytes | None = None, webrtc: bool | None = None,
                          video: bool | None = None) -> AnyMedia:
        """A call's media on our host (plain RTP or WebRTC), its Call, source and recorder."""
        if self._media_pool is None:
            from siplab.aio.media import MediaPool  # numpy and PyAV load with the first call

            self._media_pool = MediaPool(capabilities=self.capabilities, ids=self.ids,
                                         source=self.audio_source, record=self.record,
                                         scheduler=self.media_scheduler,
                                         paths=self.media_paths, webrtc=bool(self.webrtc),
                                         video=self.video)
        return await self._media_pool.open(self.local_host, source, record, offer=offer,
                                           webrtc=webrtc, video=video, trace=self.trace)

    def _close_media(self, media: AnyMedia) -> asyncio.Future[None]:
        assert self._media_pool is not None
        return self._media_pool.close(media)

    def _session_number(self) -> int:
        """A number for a new SDP o= line (RFC 4566 §5.2)."""
        return int(self.ids.token(8), 36) % 10**10


def _media_paths(webrtc: bool | None) -> frozenset[MediaPath]:
    """The paths a user agent answers: plain, WebRTC (needs aiortc installed), or both."""
    available = importlib.util.find_spec("aiortc") is not None
    if webrtc and not available:
        raise LocalProtocolError("WebRTC needs aiortc: pip install aiortc (or siplab[webrtc])")
    if webrtc is None:
        both = {MediaPath.PLAIN, MediaPath.WEBRTC} if available else {MediaPath.PLAIN}
        return frozenset(both)
    return frozenset({MediaPath.WEBRTC if webrtc else MediaPath.PLAIN})
