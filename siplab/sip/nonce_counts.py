"""The digest server's one memory: the highest ``nc`` seen for each nonce in use.

A client that answers a challenge with ``qop`` counts the requests it sends
with one nonce in ``nc`` (1, 2, 3..., RFC 7616 §3.4). The server refuses an
``nc`` it has already seen for that nonce: a request captured on the network
and sent again is a *replay* (RFC 7616 §5.5, RFC 3261 §22.4). So the server
(:class:`~siplab.sip.auth_server.DigestServer`) remembers, for each nonce used,
its ``issued_at`` and the highest ``nc`` so far, here.

That memory must stay bounded, whatever the traffic:

* a nonce that has expired needs no memory (it is refused anyway), so it is
  let go;
* beyond ``cap`` nonces those *first used* longest ago are forgotten, and
  from then on a nonce not held here that was issued no later than the
  newest of them counts as expired (``forgotten_until``): the server can no
  longer tell its replay from a first use, so it refuses it, with
  ``stale=TRUE``, and the client asks for a new nonce. Forgetting never lets
  a replay in; a nonce still held is judged by its ``nc`` alone.

Why first use, and why recent nonces are never forgotten: a nonce is used
after it is issued, and forgetting one expires every nonce issued no later
than it, including nonces in 401s still on their way to their clients, and
nonces whose first request was lost and is being resent. The 401s sent
without a transaction carry nonces whose ``issued_at`` is rounded down to a
step of several seconds (:mod:`siplab.sip.auth_server`), all the nonces of
one step sharing it. So a nonce whose ``issued_at`` is less than ``protect``
old is kept even past the cap. The digest server makes that a step plus the
32 s (Timer F) for which a client resends a request: any nonce that may still
be used for the first time. The memory then holds what the clients used in
those seconds, which only a client with the right password adds to.

How: the nonces wait in a queue in the order of first use, and each use lets
go of at most :data:`_FORGET_PER_USE` from its front, the expired ones and,
past the cap, the old enough ones. So the memory shrinks a little with every
registration and never all at once: forgetting a few hundred thousand nonces
in one go, when a server at ten thousand registrations a second passed the
cap, held it up for a fifth of a second (the load test), long enough for sipp
to resend its requests.
"""

from __future__ import annotations

import math
from collections import deque

__all__ = ["DEFAULT_CAP", "NonceCounts"]

#: The default cap, about 200 bytes a nonce: 20 MB when full. Nonces younger
#: than ``protect`` are kept beyond it (at 10,000 registrations a second and
#: the digest server's 48 s, some 480,000 of them).
DEFAULT_CAP = 100_000

#: The most nonces one use lets go of: more than one, so that a memory past
#: its cap shrinks back while nonces keep coming.
_FORGET_PER_USE = 8


class NonceCounts:
    """The highest ``nc`` seen for each nonce used: ``cap`` of them, and the recent ones.

    ``lifetime`` is the nonces' lifetime: the memory of one is kept that long
    after it was issued, or until the cap makes room; a nonce issued less than
    ``protect`` ago stays past the cap.
    """

    __slots__ = ("lifetime", "cap", "protect", "forgotten_until", "_seen", "_order")

    def __init__(self, lifetime: float, cap: int, protect: float = 0.0) -> None:
        self.lifetime = lifetime
        self.cap = cap
        #: A nonce issued (as its issued_at says) less than this long ago is kept past the cap.
        self.protect = protect
        #: Nonces issued at or before this time may have been forgotten: expired.
        self.forgotten_until = -math.inf
        self._seen: dict[str, tuple[float, int]] = {}  # nonce -> (issued_at, highest nc)
        # The nonces by first use; the same str objects as the keys, so that a
        # nonce costs the memory no more objects than its entry does.
        self._order: deque[str] = deque()

    def __len__(self) -> int:
        return len(self._seen)

    def last(self, nonce: str) -> int | None:
        """The highest ``nc`` seen with ``nonce``, or None if it is not remembered."""
        seen = self._seen.get(nonce)
        return None if seen is None else seen[1]

    def record(self, nonce: str, issued_at: float, nc: int, now: float) -> None:
        """Remember that ``nonce`` came with ``nc`` at ``now`` (the caller checked it is higher)."""
        seen = self._seen
        if nonce not in seen:
            self._order.append(nonce)
        seen[nonce] = (issued_at, nc)
        self._let_go(now)

    def _let_go(self, now: float) -> None:
        """Forget up to _FORGET_PER_USE nonces from the front: expired, or old past the cap."""
        order, seen = self._order, self._seen
        oldest_valid = now - self.lifetime
        oldest_kept = now - self.protect
        for _ in range(_FORGET_PER_USE):
            if not order:
                return
            nonce = order[0]
            issued_at = seen[nonce][0]
            if issued_at >= oldest_valid:  # not expired: only a full memory forgets it
                if len(seen) <= self.cap or issued_at >= oldest_kept:
                    return
                self.forgotten_until = max(self.forgotten_until, issued_at)
            order.popleft()
            del seen[nonce]
