"""Registering with ``await``: :class:`Registerer` (RFC 3261 §10.2, RFC 3665 §2).

A phone registers to receive calls: it tells the registrar "calls for
``sip:alice@example.com`` reach me at this Contact, for the next 600 s". The
sans-I/O :class:`~siplab.sip.registration.Registration` does all of it
(digest challenge, 423 Interval Too Brief, refreshing before expiry, one
REGISTER at a time). This class, like SIP.js's ``Registerer``, only lets you
wait for the outcome::

    registerer = ua.registerer(expires=600)
    await registerer.register()          # returns when Registered
    print(registerer.contacts)           # every binding of the AOR, ours included
    await registerer.unregister()

A failure raises :class:`~siplab.aio.errors.RegistrationError` with the
registrar's status (403 for a wrong password); a refresh that fails later is
visible in :attr:`Registerer.state` and :attr:`Registerer.events`.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from siplab.aio.errors import RegistrationError, RequestError
from siplab.sip.events import (
    Event,
    Registered,
    RegistrationFailed,
    RegistrationQueried,
    RequestFailed,
    Unregistered,
)
from siplab.sip.headers import Address
from siplab.sip.registration import RegistrationState

if TYPE_CHECKING:
    from siplab.aio.useragent import UserAgent

__all__ = ["Registerer", "RegistrationState"]


class Registerer:
    """The registration of one user agent's address of record (see the module docstring).

    ``expires``: the lifetime asked for (None: the user agent's
    ``register_expires``). Read :attr:`state`, :attr:`contacts`,
    :attr:`expires` (what the registrar granted) and :attr:`events`.
    """

    def __init__(self, ua: UserAgent, expires: int | None = None) -> None:
        self.ua = ua
        self.requested_expires = expires
        self.events: list[Event] = []
        self._waiters: dict[str, list[asyncio.Future[Any]]] = {
            "register": [], "unregister": [], "query": []}

    def __repr__(self) -> str:
        return f"<Registerer {self.ua.uri} {self.state}>"

    @property
    def state(self) -> RegistrationState:
        registration = self.ua.core.registration if self.ua.running else None
        return registration.state if registration is not None else RegistrationState.Unregistered

    @property
    def contacts(self) -> tuple[Address, ...]:
        """Every binding of our address of record that the last 200 OK listed."""
        registration = self.ua.core.registration if self.ua.running else None
        return registration.contacts if registration is not None else ()

    @property
    def expires(self) -> int | None:
        """Seconds the registrar granted our binding (None when not registered)."""
        registration = self.ua.core.registration if self.ua.running else None
        return registration.expires_granted if registration is not None else None

    async def register(self, timeout: float | None = None) -> None:
        """REGISTER and wait for the outcome; raises RegistrationError on failure.

        The binding is then refreshed by itself before it expires.
        """
        with self.ua._acting() as now:
            self.ua.core.register(now, self.requested_expires)
            waiting = self._wait("register")  # before the events are delivered
        await self._outcome(waiting, timeout)

    async def unregister(self, all_contacts: bool = False, timeout: float | None = None) -> None:
        """Remove our binding (Expires: 0), or every binding of the AOR (``Contact: *``)."""
        with self.ua._acting() as now:
            self.ua.core.unregister(now, all_contacts)
            waiting = self._wait("unregister")  # before the events are delivered
        await self._outcome(waiting, timeout)

    async def query(self, timeout: float | None = None) -> list[Address]:
        """Ask the registrar for the current bindings (a REGISTER without Contact, §10.2.3)."""
        with self.ua._acting() as now:
            self.ua.core.query_registrations(now)
            waiting = self._wait("query")  # before the events are delivered
        result: list[Address] = await self._outcome(waiting, timeout)
        return result

    # -- the events, routed here by the user agent -----------------------------------------

    def _on_event(self, event: Event) -> None:
        self.events.append(event)
        match event:
            case Registered():
                self._settle("register", None)
            case Unregistered():
                self._settle("unregister", None)
            case RegistrationQueried(contacts=contacts):
                self._settle("query", list(contacts))
            case RegistrationFailed(status=status, reason=reason):
                error = RegistrationError(status, reason)
                self._settle("register", error=error)
                self._settle("unregister", error=error)
            case RequestFailed(status=status, reason=reason):  # a query that failed
                self._settle("query", error=RegistrationError(status, reason))

    def _wait(self, kind: str) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiters[kind].append(future)
        return future

    def _settle(self, kind: str, result: object = None,
                error: BaseException | None = None) -> None:
        waiters, self._waiters[kind] = self._waiters[kind], []
        for future in waiters:
            if future.done():
                continue
            if error is None:
                future.set_result(result)
            else:
                future.set_exception(error)
                future.exception()  # retrieved: the waiter may have given up already

    async def _outcome(self, future: asyncio.Future[Any], timeout: float | None) -> Any:
        try:
            async with asyncio.timeout(timeout):
                return await asyncio.shield(future)
        finally:
            for waiters in self._waiters.values():
                if future in waiters and not future.done():
                    waiters.remove(future)

    def _stop(self, error: RequestError) -> None:
        for kind in self._waiters:
            self._settle(kind, error=error)
