"""Where the random parts of SIP come from: tags, branches, Call-IDs, cnonces.

RFC 3261 needs fresh random strings in many places: the ``tag`` parameter of
From and To (§19.3), the Via ``branch`` that names a transaction and must start
with the magic cookie ``z9hG4bK`` (§8.1.1.7), the Call-ID of a dialog (§8.1.1.4)
and the client nonce of digest authentication (RFC 7616 §3.4).

Every object in siplab draws them from an injected :class:`IdSource`. Give it a
seed and a whole call (every tag, branch and Call-ID) is identical on every run,
which is what lets a notebook step a call and get the same ladder each time.
Without a seed the strings come from the operating system's secure generator.
"""

from __future__ import annotations

import os
import random
import threading

__all__ = ["IdSource", "BRANCH_MAGIC_COOKIE"]

#: RFC 3261 §8.1.1.7: a branch starting with this was made by an RFC 3261 element.
BRANCH_MAGIC_COOKIE = "z9hG4bK"

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"

# Bytes from the operating system are fetched this many at a time: a busy
# registrar makes two tags per REGISTER, and one system call per tag cost it
# more than parsing the REGISTER did.
_POOL_SIZE = 4096

# Bumped in a child process after fork(): a pool the parent filled must not be
# used by both of them, or they would hand out the same tags.
_fork_generation = 0


def _after_fork_in_child() -> None:
    global _fork_generation
    _fork_generation += 1


os.register_at_fork(after_in_child=_after_fork_in_child)


class IdSource:
    """A source of random identifiers, reproducible when seeded."""

    def __init__(self, seed: int | str | None = None) -> None:
        self._rng: random.Random | None = None if seed is None else random.Random(seed)
        self._pool = b""
        self._used = 0
        self._generation = _fork_generation
        self._lock = threading.Lock()  # two threads must never get the same bytes

    def _os_bytes(self, count: int) -> bytes:
        """``count`` bytes from the OS's secure generator, taken from a pool."""
        with self._lock:
            used = self._used
            if used + count > len(self._pool) or self._generation != _fork_generation:
                self._pool, used = os.urandom(max(_POOL_SIZE, count)), 0
                self._generation = _fork_generation
            self._used = used + count
            return self._pool[used:used + count]

    def _token(self, length: int) -> str:
        if self._rng is None:
            # Hexadecimal: four random bits per character (a tag of ten has 40,
            # above the 32 that §19.3 asks for), written by one C call.
            return self._os_bytes((length + 1) // 2).hex()[:length]
        rng = self._rng
        return "".join(rng.choice(_ALPHABET) for _ in range(length))

    def tag(self) -> str:
        """A From/To tag (RFC 3261 §19.3 asks for at least 32 bits of randomness)."""
        return self._token(10)

    def branch(self) -> str:
        """A Via branch, unique per transaction, with the RFC 3261 magic cookie."""
        return BRANCH_MAGIC_COOKIE + self._token(16)

    def call_id(self, host: str | None = None) -> str:
        """A Call-ID; ``host`` (if given) is appended as ``@host`` like most phones do."""
        local = self._token(20)
        return f"{local}@{host}" if host else local

    def cnonce(self) -> str:
        """A digest client nonce (RFC 7616 §3.4)."""
        return self._token(16)

    def nonce_bytes(self, length: int = 16) -> bytes:
        """Random bytes, for server nonces and secrets."""
        if self._rng is None:
            return self._os_bytes(length)  # the OS's bytes too, a system call saved
        return bytes(self._rng.getrandbits(8) for _ in range(length))

    def token(self, length: int = 12) -> str:
        """A random lower-case alphanumeric string of ``length`` characters."""
        return self._token(length)
