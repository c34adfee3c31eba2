"""``siplab.lab.start()``: a lab server on free loopback ports with ready accounts.

DESIGN.md "Public contracts": ``siplab.lab.start()`` gives a LabServer with
accounts; two phones from ``lab.user_agent`` register (RFC 3261 §10.2, with
digest, §22) and call each other (§13-15); ``lab.stop()`` stops the phones and
then the server.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

import siplab.lab
from siplab.errors import LocalProtocolError
from siplab.lab import Account, Lab
from siplab.sip.registration import RegistrationState

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]


def run(coroutine: Coroutine[Any, Any, T], timeout: float = 5.0) -> T:
    async def bounded() -> T:
        async with asyncio.timeout(timeout):
            return await coroutine

    return asyncio.run(bounded())


def test_start_listens_on_loopback_with_an_account_per_user() -> None:
    async def scenario() -> Lab:
        lab = await siplab.lab.start()
        await lab.stop()
        return lab

    lab = run(scenario())
    assert list(lab.accounts) == ["alice", "bob", "carol", "dave"]
    alice = lab.accounts["alice"]
    assert alice.uri == "sip:alice@127.0.0.1"
    assert alice.username == "alice"
    assert len(alice.password) == 12
    assert len({a.password for a in lab.accounts.values()}) == 4
    assert lab.udp is not None
    assert lab.udp.host == "127.0.0.1"
    assert lab.tcp is not None
    assert lab.ws_url is not None
    assert lab.ws_url.startswith("ws://127.0.0.1:")
    assert not lab.server.running


def test_account_repr_hides_the_password() -> None:
    account = Account("alice", "sip:alice@127.0.0.1", "alice", "s3cr3t-pass")
    assert "s3cr3t-pass" not in repr(account)
    assert "NOT SHOWN" in repr(account)


def test_seed_makes_the_passwords_repeatable() -> None:
    async def passwords(seed: int) -> dict[str, str]:
        async with await siplab.lab.start(users=("alice", "bob"), transports=("udp",),
                                          seed=seed) as lab:
            return {name: a.password for name, a in lab.accounts.items()}

    assert run(passwords(7)) == run(passwords(7))
    assert run(passwords(7)) != run(passwords(8))


def test_two_phones_register_and_call_each_other_then_stop_cleans_up() -> None:
    async def scenario() -> None:
        lab = await siplab.lab.start(seed=1)
        try:
            alice = await lab.user_agent("alice")  # UDP
            bob = await lab.user_agent("bob", transport="ws")
            assert alice.registerer().state is RegistrationState.Registered
            assert bob.registerer().state is RegistrationState.Registered
            assert lab.server.stats().bindings == 2
            call = await alice.call("bob")
            invitation = await bob.next_invitation(timeout=2)
            await invitation.accept()
            await call.established(timeout=2)
        finally:
            await lab.stop()
        assert not alice.running
        assert not bob.running
        assert call.cause == "bye"  # stop() hung the call up
        assert lab.user_agents == []
        assert not lab.server.running

    run(scenario())


def test_user_agent_without_registering() -> None:
    async def scenario() -> None:
        async with await siplab.lab.start(transports=("tcp",)) as lab:
            carol = await lab.user_agent("carol", transport="tcp", register=False)
            assert carol.registerer().state is RegistrationState.Unregistered
            assert lab.server.stats().bindings == 0
            with pytest.raises(LocalProtocolError, match="no udp listener"):
                await lab.user_agent("dave", transport="udp")
            with pytest.raises(LocalProtocolError, match="no account"):
                await lab.user_agent("mallory")

    run(scenario())


def test_importing_siplab_lab_does_not_load_the_asyncio_layer() -> None:
    code = ("import sys, siplab.lab; "
            "print(sorted(m for m in ('websockets', 'siplab.aio') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
