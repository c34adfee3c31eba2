"""A SIP lab in one line: ``lab = await siplab.lab.start()`` (a server and ready accounts).

A notebook about SIP needs a registrar and proxy to talk to, accounts on it,
and phones. :func:`start` sets all of that up on the loopback interface::

    lab = await siplab.lab.start()          # LabServer on free ports: UDP, TCP, WS
    lab.accounts["alice"]                   # Account(name='alice', uri='sip:alice@127.0.0.1',
                                            #         username='alice', password=NOT SHOWN)
    alice = await lab.user_agent("alice")               # started and registered, over UDP
    bob = await lab.user_agent("bob", transport="ws")   # a browser-like phone on WebSocket
    call = await alice.call("bob")
    ...
    await lab.stop()                        # every phone it made, then the server

Each account gets a random password (from an :class:`~siplab.ids.IdSource`:
``seed=`` makes them, and every tag and branch, the same on every run). The
server only listens on 127.0.0.1, on ports the system picks, so two notebooks
never fight over 5060. :meth:`Lab.user_agent` returns a
:class:`~siplab.aio.useragent.UserAgent` that is already registered (pass
``register=False`` to watch the REGISTER yourself).

Importing :mod:`siplab.lab` stays cheap: the asyncio layer (and websockets)
is imported only when :func:`start` runs.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any

from siplab.errors import LocalProtocolError
from siplab.ids import IdSource
from siplab.sip.transport import Peer

if TYPE_CHECKING:
    from siplab.aio.server import LabServer
    from siplab.aio.useragent import UserAgent

__all__ = ["start", "Lab", "Account", "DEFAULT_USERS", "LAB_TRANSPORTS"]

#: The accounts a lab has unless told otherwise.
DEFAULT_USERS = ("alice", "bob", "carol", "dave")
#: The transports a lab server listens on.
LAB_TRANSPORTS = ("udp", "tcp", "ws")
_HOST = "127.0.0.1"
_PASSWORD_LENGTH = 12


@dataclass(frozen=True, slots=True, repr=False)
class Account:
    """One user of the lab: the address people call, and the digest credentials."""

    name: str
    uri: str  # the address of record, sip:alice@127.0.0.1
    username: str  # the digest user name
    password: str = field(repr=False)

    def __repr__(self) -> str:
        return (f"Account(name={self.name!r}, uri={self.uri!r}, username={self.username!r}, "
                "password=NOT SHOWN)")


class Lab:
    """A running lab: :attr:`server`, :attr:`accounts`, and the phones it made.

    Made by :func:`start`. :attr:`udp` and :attr:`tcp` are the server's
    addresses (None for a transport it does not listen on), :attr:`ws_url`
    its WebSocket URL.
    """

    def __init__(self, server: LabServer, accounts: dict[str, Account],
                 ids: IdSource, seed: int | str | None) -> None:
        self.server = server
        self.accounts = accounts
        self.ids = ids
        self.seed = seed
        self.user_agents: list[UserAgent] = []

    def __repr__(self) -> str:
        where = ", ".join(str(p) for p in self.server.addresses)
        return f"<Lab {where} accounts={list(self.accounts)} phones={len(self.user_agents)}>"

    @property
    def udp(self) -> Peer | None:
        return self.server.address("udp")

    @property
    def tcp(self) -> Peer | None:
        return self.server.address("tcp")

    @property
    def ws_url(self) -> str | None:
        urls = self.server.ws_urls
        return urls[0] if urls else None

    def url(self, transport: str = "udp") -> str:
        """The transport URL of the server for ``transport`` (``udp://127.0.0.1:40123``...)."""
        transport = transport.lower()
        if transport == "ws" and self.ws_url is not None:
            return self.ws_url
        peer = self.server.address(transport)
        if peer is None or transport == "ws":
            listening = ", ".join(p.transport for p in self.server.addresses)
            raise LocalProtocolError(f"the lab server has no {transport} listener "
                                     f"(it listens on {listening})")
        return f"{transport}://{peer.host}:{peer.port}"

    async def user_agent(self, name: str, transport: str = "udp", *, register: bool = True,
                         **options: Any) -> UserAgent:
        """A started phone for account ``name`` over ``transport``, registered unless
        ``register=False``. Other keywords go to :class:`~siplab.aio.useragent.UserAgent`
        (``auto_answer=True``, ``debug=True``...). :meth:`stop` stops it."""
        from siplab.aio.useragent import UserAgent

        account = self.accounts.get(name)
        if account is None:
            raise LocalProtocolError(f"no account {name!r} in this lab "
                                     f"(there are {', '.join(self.accounts)})")
        if "ids" not in options and self.seed is not None:
            options["ids"] = IdSource(f"{self.seed}-{name}-{len(self.user_agents)}")
        ua = UserAgent(account.uri, account.password, auth_user=account.username,
                       transport=self.url(transport), **options)
        await ua.start()
        self.user_agents.append(ua)
        if register:
            await ua.register(timeout=10.0)
        return ua

    async def stop(self, timeout: float = 5.0) -> None:
        """Stop every phone made by :meth:`user_agent` (hanging up, unregistering), then
        the server; waits at most about ``timeout`` seconds for the phones."""
        phones, self.user_agents = self.user_agents, []
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await asyncio.gather(*(ua.stop() for ua in phones), return_exceptions=True)
        await self.server.stop()

    async def __aenter__(self) -> Lab:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        traceback: TracebackType | None) -> None:
        await self.stop()


async def start(users: Iterable[str] = DEFAULT_USERS,
                transports: Iterable[str] = LAB_TRANSPORTS,
                seed: int | str | None = None, **server_options: Any) -> Lab:
    """Start a LabServer on free loopback ports with one account per user name.

    ``transports``: any of "udp", "tcp", "ws". ``seed``: make passwords, tags
    and branches repeatable. Other keywords go to
    :class:`~siplab.aio.server.LabServer` (``timers=``, ``trace=``...).
    Use the result as ``async with await siplab.lab.start() as lab:`` or call
    ``await lab.stop()``.
    """
    from siplab.aio.server import LabServer

    chosen = [t.lower() for t in transports]
    unknown = [t for t in chosen if t not in LAB_TRANSPORTS]
    if unknown or not chosen:
        raise LocalProtocolError(f"a lab listens on some of {', '.join(LAB_TRANSPORTS)}, "
                                 f"not {unknown or 'nothing'}")
    ids = IdSource(seed)
    accounts = {
        name: Account(name, f"sip:{name}@{_HOST}", name, ids.token(_PASSWORD_LENGTH))
        for name in users
    }
    listeners = {t: [(_HOST, 0)] if t in chosen else [] for t in LAB_TRANSPORTS}
    server = LabServer(udp=listeners["udp"], tcp=listeners["tcp"], ws=listeners["ws"],
                       users={a.username: a.password for a in accounts.values()},
                       ids=IdSource(f"{seed}-server") if seed is not None else None,
                       **server_options)
    await server.start()
    return Lab(server, accounts, ids, seed)
