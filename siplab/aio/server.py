"""The lab server on real sockets: siplab's registrar and proxy, listening (RFC 3261 §10, §16, §18).

A classroom needs a SIP server that phones register with and call through:
Kamailio or Asterisk in production, :class:`LabServer` here. All its SIP is
in :class:`~siplab.sip.server.ServerCore`, the sans-I/O registrar (§10.3) and
stateful proxy (§16) that the simulated network runs too. This module only
gives it sockets::

    async with LabServer(udp=[("127.0.0.1", 5060)], ws=[("127.0.0.1", 8080)],
                         users={"alice": "secret", "bob": "secret"}) as server:
        print(server.addresses)   # [Peer('127.0.0.1', 5060, 'udp'), Peer(..., 8080, 'ws')]
        ...

:meth:`LabServer.start` binds every listener through one
:class:`~siplab.aio.transport.TransportManager` (port 0 picks a free port),
builds the :class:`~siplab.sip.server.ServerConfig` with the addresses really
bound (the proxy must know every one of them to recognise itself in a Route,
FACTS.md), and hands the core to an
:class:`~siplab.aio.driver.EndpointDriver`. A phone on UDP and a browser on a
WebSocket can then call each other: the proxy bridges the two transports.

``users`` maps user names to passwords: REGISTER is challenged with digest
(RFC 8760, MD5 offered first for sipp's sake). ``open=True`` lets anyone
register as anyone, for exercises that are not about authentication.
The command line ``siplab server`` is this class (see :mod:`siplab.cli`).

A lab server is meant for the loopback interface. Listening on any other
address lets anyone who reaches the machine register and call through it, so
that is logged as a warning (:attr:`LabServer.public_addresses` lists them).

**Security.** ``tls=`` and ``wss=`` listeners speak SIP over TLS (§26.2) and
secure WebSocket (RFC 7118) with the lab's self-signed certificate, made on
first start in ``~/.cache/siplab/tls`` (:mod:`siplab.aio.tls`), or the
``tls_cert``/``tls_key`` files given. WebSocket handshakes from web pages of
other hosts are refused (``ws_origins``, :mod:`siplab.aio.origins`).
Digest nonces expire after ``nonce_lifetime`` seconds and replays are
refused (:mod:`siplab.sip.auth_server`); repeated wrong passwords are
answered later and later (``auth_throttle``, :mod:`siplab.sip.auth_throttle`).

**Faults.** :meth:`LabServer.restart` stops and starts again on the same
ports with an empty location service, as a crashed server would (phones
register again by themselves); ``impairment=`` makes its UDP lossy
(:mod:`siplab.aio.lossy`).

A process that does nothing but serve (``siplab server``) also calls
:func:`tune_gc_for_serving`: under load a SIP server keeps every finished
transaction for up to 32 s, and Python's garbage collector would otherwise
walk all of them every few seconds, stalling the event loop. A server in
such a process then runs the full collections itself, at quiet moments.
"""

from __future__ import annotations

import asyncio
import gc
import ipaddress
import logging
import os
import ssl
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from siplab.aio.driver import SERVER_TICK, EndpointDriver
from siplab.aio.origins import OriginPolicy
from siplab.aio.transport import TraceRecord, TransportManager
from siplab.errors import InvalidStateError, LocalProtocolError
from siplab.ids import IdSource
from siplab.sip.auth_throttle import ThrottleConfig
from siplab.sip.server import ServerConfig, ServerCore, ServerStats
from siplab.sip.timers import TimerConfig
from siplab.sip.transport import Peer

if TYPE_CHECKING:
    from siplab.aio.lossy import Impairment
    from siplab.aio.tls import CertificatePair

__all__ = ["LabServer", "Listener", "is_loopback", "tune_gc_for_serving",
           "FULL_COLLECTION_INTERVAL"]

logger = logging.getLogger("siplab.server")

#: Where to listen: ``(host, port)``; port 0 asks the system for a free port.
Listener = tuple[str, int]

_TRANSPORTS = ("udp", "tcp", "ws", "tls", "wss")
_SECURE = ("tls", "wss")

#: Generation-1 collections between two automatic full collections once
#: :func:`tune_gc_for_serving` ran (CPython's default is 10): so many that the
#: automatic ones never come; the server runs them itself (below).
FULL_COLLECTION_INTERVAL = 1_000_000
#: Seconds between two looks at whether a full collection would be cheap now.
QUIET_CHECK_INTERVAL = 30.0
#: A full collection walks every live object, and a lingering transaction is a
#: few dozen of them: with fewer open transactions than this it takes a few
#: milliseconds, so it runs at the next look.
QUIET_TRANSACTIONS = 2_000
#: ... and after this many seconds it runs whatever the load, so that garbage
#: with reference cycles cannot pile up without end.
FULL_COLLECTION_MAX_INTERVAL = 600.0

#: Seconds between two gc.freeze() calls while serving (see tune_gc_for_serving).
FREEZE_INTERVAL = 0.1

_collect_when_quiet = False  # set by tune_gc_for_serving


def tune_gc_for_serving() -> None:
    """Leave full garbage collections to the server, for a process that only runs one.

    CPython frees most objects at once by reference counting; its cyclic
    collector visits young objects often (cheap) and *all* objects in a
    full collection, after ten collections of the middle generation (and
    once the old objects grew by a quarter). A server under load keeps every
    finished transaction for up to 64*T1 = 32 s (Timers J, L and M absorb
    retransmissions), hundreds of thousands of objects that are alive and
    will be freed by reference counting anyway. Walking them all took a
    second at a thousand registrations per second (measured with
    ``gc.callbacks``): a second during which sipp's requests go unanswered
    and are retransmitted, and the extra load makes the server fall further
    behind until sipp gives up. Even made a hundred times rarer, one such
    pause came in every twenty-second step of ``bench/load.py``.

    So this keeps the young collections as they are and switches the
    automatic full ones off; every :class:`LabServer` of the process then
    runs them itself when they are cheap (fewer than
    :data:`QUIET_TRANSACTIONS` open transactions, looked at every
    :data:`QUIET_CHECK_INTERVAL` seconds) and at the latest every
    :data:`FULL_COLLECTION_MAX_INTERVAL` seconds. The proxy, the registrar and
    the transactions make no reference cycles while serving (the load test,
    ``tests/load``, checks memory comes back), so little waits for them. It
    changes the whole interpreter, so a Jupyter kernel that runs a
    :class:`LabServer` next to other work should not call it.

    The young collections need help too. CPython starts one when allocations
    minus deallocations pass a threshold (700), but the young generation
    holds every object made since the last one that is still alive. Under a
    steady load deallocations (transactions ending after 32 s) cancel out
    allocations, the count stays low, and the young generation grows to
    hundreds of thousands of living objects: one young collection then took
    a fifth of a second, several came together, and sipp retransmitted
    (measured with ``gc.callbacks`` in ``tests/load``). So every
    :data:`FREEZE_INTERVAL` seconds the server moves every object the
    collector tracks into its *permanent* generation (:func:`gc.freeze`, a
    constant-time splice of lists): young collections then see a tenth of a
    second of objects at most. The full collections above unfreeze first, so
    they still find any garbage with cycles.
    """
    global _collect_when_quiet
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_COLLECTION_INTERVAL)
    _collect_when_quiet = True


def is_loopback(host: str) -> bool:
    """True for ``localhost``, ``127.x.x.x`` and ``::1``: addresses no other machine reaches."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class LabServer:
    """A registrar and proxy listening on UDP, TCP and WebSocket (see the module docstring).

    ``udp``, ``tcp``, ``ws``: listeners, each a list of ``(host, port)``.
    ``users``: name -> password, or ``open=True`` for no authentication.
    ``domain``: the name in the users' addresses (``sip:alice@domain``); the
    listener hosts are always accepted too. ``ids`` (an
    :class:`~siplab.ids.IdSource`, seed it for repeatable tags and nonces),
    ``timers`` (T1, T2, T4) and ``trace`` (called with every
    :class:`~siplab.aio.transport.TraceRecord`) go to the core and transports.
    ``tls``, ``wss``: secure listeners, with ``tls_cert`` and ``tls_key``
    (PEM files) or the lab certificate made in ``tls_dir`` (default
    ``~/.cache/siplab/tls``). ``ws_origins``: the web origins allowed to open
    a WebSocket (None: same host; ``["*"]``: any). ``nonce_lifetime``,
    ``min_expires`` and ``auth_throttle`` go to the
    :class:`~siplab.sip.server.ServerConfig`; ``impairment`` makes UDP lossy.
    """

    def __init__(
        self,
        *,
        udp: Iterable[Listener] = (),
        tcp: Iterable[Listener] = (),
        ws: Iterable[Listener] = (),
        tls: Iterable[Listener] = (),
        wss: Iterable[Listener] = (),
        users: Mapping[str, str] | None = None,
        open: bool = False,
        domain: str | None = None,
        ids: IdSource | None = None,
        timers: TimerConfig | None = None,
        trace: Callable[[TraceRecord], None] | None = None,
        tls_cert: str | os.PathLike[str] | None = None,
        tls_key: str | os.PathLike[str] | None = None,
        tls_dir: str | os.PathLike[str] | None = None,
        ws_origins: Iterable[str] | None = None,
        nonce_lifetime: float = 300.0,
        min_expires: int = 60,
        auth_throttle: ThrottleConfig | None = ThrottleConfig(),  # noqa: B008 (frozen)
        impairment: Impairment | None = None,
    ) -> None:
        if users is None and not open:
            raise LocalProtocolError("give the server users={name: password}, or open=True "
                                     "to let anyone register")
        if users is not None and open:
            raise LocalProtocolError("users= and open=True exclude each other")
        if (tls_cert is None) != (tls_key is None):
            raise LocalProtocolError("give both tls_cert= and tls_key=, or neither")
        self.listeners: list[tuple[str, str, int]] = [
            (transport, host, int(port))
            for transport, pairs in zip(_TRANSPORTS, (udp, tcp, ws, tls, wss), strict=True)
            for host, port in pairs
        ]
        self._users = dict(users) if users is not None else None
        self.tls_cert, self.tls_key, self.tls_dir = tls_cert, tls_key, tls_dir
        #: The certificate the TLS and WSS listeners present, once started.
        self.tls_certificate: CertificatePair | None = None
        self.origins = OriginPolicy(ws_origins)
        self.nonce_lifetime = nonce_lifetime
        self.min_expires = min_expires
        self.auth_throttle = auth_throttle
        self.impairment = impairment
        self.domain = domain
        self.ids = ids if ids is not None else IdSource()
        self.timers = timers
        self._trace_hook = trace
        self.addresses: list[Peer] = []
        self._core: ServerCore | None = None
        self._driver: EndpointDriver | None = None
        self._quiet_check: asyncio.TimerHandle | None = None
        self._freezer: asyncio.TimerHandle | None = None
        self._last_full_collection = 0.0

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        where = ", ".join(str(peer) for peer in self.addresses) or "not bound"
        users = "open" if self._users is None else f"{len(self._users)} users"
        return f"<LabServer {state} {where} ({users}, passwords NOT SHOWN)>"

    # -- what it is ---------------------------------------------------------------------

    @property
    def trace(self) -> Callable[[TraceRecord], None] | None:
        """Called with every message in and out; may be set (or cleared) at any time."""
        return self._trace_hook

    @trace.setter
    def trace(self, hook: Callable[[TraceRecord], None] | None) -> None:
        # Handed to the transports themselves: without a hook they make no records at all.
        self._trace_hook = hook
        if self._driver is not None:
            self._driver.transports.trace = hook

    @property
    def running(self) -> bool:
        return self._driver is not None

    @property
    def open(self) -> bool:
        """True when anyone may register without a password."""
        return self._users is None

    @property
    def users(self) -> tuple[str, ...]:
        """The user names (never the passwords)."""
        return tuple(self._users or ())

    @property
    def core(self) -> ServerCore:
        """The sans-I/O registrar and proxy (its location service, its transaction layer)."""
        if self._core is None:
            raise InvalidStateError("the server has not been started")
        return self._core

    def address(self, transport: str) -> Peer | None:
        """The first address bound for ``transport`` ("udp", "tcp", "ws"), or None."""
        return next((p for p in self.addresses if p.transport == transport.lower()), None)

    @property
    def ws_urls(self) -> list[str]:
        """``ws://host:port/`` (and ``wss://``) for every WebSocket listener: what JsSIP and
        SIP.js connect to."""
        return [f"{p.transport}://{_host_text(p.host)}:{p.port}/" for p in self.addresses
                if p.transport in ("ws", "wss")]

    @property
    def public_addresses(self) -> list[Peer]:
        """The listeners that are not on loopback: reachable from other machines."""
        return [peer for peer in self.addresses if not is_loopback(peer.host)]

    @property
    def transports(self) -> TransportManager:
        """The listeners and connections (to close a client's connection, say)."""
        if self._driver is None:
            raise InvalidStateError("the server is not running")
        return self._driver.transports

    def stats(self) -> ServerStats:
        """What the server holds: open transactions, response contexts, bindings, flows.

        A stopped server holds nothing (its sockets are closed, so no
        transaction of it can go on): all zero.
        """
        if self._core is None or not self.running:
            return ServerStats(0, 0, 0, 0, 0, 0)
        return self._core.stats()

    # -- starting and stopping ---------------------------------------------------------

    async def start(self) -> None:
        """Bind every listener, then start serving. Raises OSError if a port is taken."""
        if self.running:
            raise InvalidStateError("the server is already running")
        if not self.listeners:
            raise LocalProtocolError("a server needs at least one listener: "
                                     "udp=, tcp=, ws=, tls= or wss=")
        transports = self._transport_manager()
        context = self._server_ssl() if any(t in _SECURE for t, _, _ in self.listeners) else None
        bound: list[Peer] = []
        try:
            for transport, host, port in self.listeners:
                if transport == "udp":
                    peer = await transports.listen_udp(host, port)
                elif transport == "tcp":
                    peer = await transports.listen_tcp(host, port)
                elif transport == "tls":
                    assert context is not None
                    peer = await transports.listen_tls(host, port, context)
                else:  # any path: JsSIP and SIP.js users write ws://host:port or .../ws
                    peer = await transports.listen_ws(
                        host, port, path=None, origins=self.origins,
                        context=context if transport == "wss" else None)
                if not is_loopback(peer.host):
                    logger.warning("listening on %s, which is not a loopback address: anyone "
                                   "who can reach this machine can register and call through "
                                   "this lab server", peer)
                bound.append(peer)
        except BaseException:
            await transports.close()
            raise
        config = ServerConfig(
            listen=tuple(bound),
            domains=(self.domain,) if self.domain else (),
            users=self._users,
            nonce_lifetime=self.nonce_lifetime,
            min_expires=self.min_expires,
            default_expires=max(self.min_expires, 3600),
            max_expires=max(self.min_expires, 3600),
            auth_throttle=self.auth_throttle,
        )
        self.addresses = bound
        # A restart binds the same ports again (port 0 was a choice made once).
        self.listeners = [(peer.transport, host, peer.port)
                          for (_, host, _), peer in zip(self.listeners, bound, strict=True)]
        self._core = ServerCore(config, ids=self.ids, timers=self.timers)
        self._driver = EndpointDriver(self._core, transports, on_event=self._on_event,
                                      queue_events=False, tick=SERVER_TICK)
        if _collect_when_quiet:
            self._last_full_collection = time.monotonic()
            self._quiet_check = asyncio.get_running_loop().call_later(
                QUIET_CHECK_INTERVAL, self._collect_if_quiet)
            self._freezer = asyncio.get_running_loop().call_later(
                FREEZE_INTERVAL, self._freeze_survivors)
        logger.info("lab server running: %s", ", ".join(str(p) for p in bound))

    def _freeze_survivors(self) -> None:
        """Keep the young generation young (see tune_gc_for_serving)."""
        self._freezer = None
        if not self.running:
            return
        gc.freeze()
        self._freezer = asyncio.get_running_loop().call_later(
            FREEZE_INTERVAL, self._freeze_survivors)

    def _collect_if_quiet(self) -> None:
        """Run a full collection if it is cheap now, or overdue (see tune_gc_for_serving)."""
        self._quiet_check = None
        if not self.running:
            return
        stats = self.stats()
        open_transactions = stats.server_transactions + stats.client_transactions
        overdue = time.monotonic() - self._last_full_collection >= FULL_COLLECTION_MAX_INTERVAL
        if open_transactions < QUIET_TRANSACTIONS or overdue:
            started = time.monotonic()
            gc.unfreeze()  # a full collection looks at everything
            found = gc.collect()
            self._last_full_collection = time.monotonic()
            logger.debug("full collection with %d transactions open: %d objects freed in "
                         "%.0f ms", open_transactions, found,
                         (self._last_full_collection - started) * 1000)
        self._quiet_check = asyncio.get_running_loop().call_later(
            QUIET_CHECK_INTERVAL, self._collect_if_quiet)

    def _transport_manager(self) -> TransportManager:
        if self.impairment is None:
            return TransportManager(trace=self._trace_hook)
        from siplab.aio.lossy import ImpairedTransportManager

        return ImpairedTransportManager(self.impairment, trace=self._trace_hook)

    def _server_ssl(self) -> ssl.SSLContext:
        from siplab.aio.tls import CertificatePair, lab_certificate, server_context

        if self.tls_cert is not None and self.tls_key is not None:
            pair = CertificatePair(Path(self.tls_cert), Path(self.tls_key))
        else:
            pair = lab_certificate(self.tls_dir)
        self.tls_certificate = pair
        logger.info("TLS certificate %s", pair.cert)
        return server_context(pair)

    async def restart(self, timeout: float = 3.0) -> None:
        """Stop, then start again on the same ports, with nothing remembered: the
        bindings, transactions and nonces of before are gone (a crash and a restart)."""
        await self.stop(timeout)
        await self.start()

    async def stop(self, timeout: float = 3.0) -> None:
        """Close every listener and connection (waits at most about ``timeout`` s)."""
        driver, self._driver = self._driver, None
        if driver is None:
            return
        if self._quiet_check is not None:
            self._quiet_check.cancel()
            self._quiet_check = None
        if self._freezer is not None:
            self._freezer.cancel()
            self._freezer = None
        await driver.transports.close(timeout)
        await driver.close()
        logger.info("lab server stopped")

    async def __aenter__(self) -> LabServer:
        await self.start()
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        traceback: TracebackType | None) -> None:
        await self.stop()


    # -- what the core reports ----------------------------------------------------------

    def _on_event(self, event: object) -> None:
        logger.debug("%s", event)


def _host_text(host: str) -> str:
    return f"[{host}]" if ":" in host else host
