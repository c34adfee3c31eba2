"""The digest server's one memory: the highest ``nc`` seen for each nonce in use.

A client that answers a challenge with ``qop`` counts the requests it sends
with one nonce in ``nc`` (1, 2, 3..., RFC 7616 §3.4). The server refuses an
``nc`` it has already seen for that nonce: a request captured on the network
and sent again is a *replay* (RFC 7616 §5.5, RFC 3261 §22.4). So the server
(:class:`~siplab.sip.auth_server.DigestServer`) remembers, for each nonce used,
its ``issued_at`` and the highest ``nc`` so far, here.

That memory must stay bounded, whatever the traffic:

* a nonce that has expired needs no memory (it is refused anyway), so every
  quarter lifetime the expired ones are swept away;
* beyond ``cap`` nonces the quarter *first used* longest ago is forgotten, and
  from then on a nonce not held here that was issued no later than the
  newest of them counts as expired (``forgotten_until``): the server can no
  longer tell its replay from a first use, so it refuses it, with
  ``stale=TRUE``, and the client asks for a new nonce. Forgetting never lets
  a replay in; a nonce still held is judged by its ``nc`` alone.

Why first use, and why the cap is large: a nonce is used after it is issued,
so forgetting spares every nonce issued since the last forgotten one was first
used. The 401s sent without a transaction carry nonces whose ``issued_at`` is
rounded down to a step of several seconds (:mod:`siplab.sip.auth_server`), all
the nonces of one step sharing it; if the memory spanned less than a step,
forgetting would expire the nonces of the current step, including those in
401s still on their way to their clients. So ``cap`` must hold more than a
step of registrations at the rate the server serves.
"""

from __future__ import annotations

import itertools
import math

__all__ = ["DEFAULT_CAP", "NonceCounts"]

#: The default cap. It must span more than a step of registrations: LabServer
#: answers some 3,000 a second, and the 75,000 nonces kept after forgetting a
#: quarter last 25 s. About 200 bytes each, 20 MB when full.
DEFAULT_CAP = 100_000


class NonceCounts:
    """The highest ``nc`` seen for each nonce used, at most ``cap`` of them.

    ``lifetime`` is the nonces' lifetime: the memory of one is kept that long
    after it was issued, or until the cap makes room.
    """

    __slots__ = ("lifetime", "cap", "forgotten_until", "_seen", "_next_sweep")

    def __init__(self, lifetime: float, cap: int) -> None:
        self.lifetime = lifetime
        self.cap = cap
        #: Nonces issued at or before this time may have been forgotten: expired.
        self.forgotten_until = -math.inf
        # nonce -> (issued_at, highest nc seen), in the order of first use
        self._seen: dict[str, tuple[float, int]] = {}
        self._next_sweep = -math.inf

    def __len__(self) -> int:
        return len(self._seen)

    def last(self, nonce: str) -> int | None:
        """The highest ``nc`` seen with ``nonce``, or None if it is not remembered."""
        seen = self._seen.get(nonce)
        return None if seen is None else seen[1]

    def record(self, nonce: str, issued_at: float, nc: int, now: float) -> None:
        """Remember that ``nonce`` came with ``nc`` at ``now`` (the caller checked it is higher)."""
        self._seen[nonce] = (issued_at, nc)
        # _sweep only when it has something to do (a sweep is due, or the
        # cap is passed), rather than for every request.
        if now >= self._next_sweep or len(self._seen) > self.cap:
            self._sweep(now)

    def _sweep(self, now: float) -> None:
        """Forget the expired nonces (each quarter lifetime), and the first used past the cap."""
        if now >= self._next_sweep:
            oldest_valid = now - self.lifetime
            self._seen = {
                nonce: seen for nonce, seen in self._seen.items() if seen[0] >= oldest_valid
            }
            self._next_sweep = now + self.lifetime / 4
        excess = len(self._seen) - self.cap
        if excess > 0:
            # A dict keeps its keys in the order they came: the first ones are
            # the nonces first used longest ago (a later nc keeps the place).
            dropped = list(itertools.islice(self._seen.items(), max(excess, self.cap // 4)))
            for nonce, _ in dropped:
                del self._seen[nonce]
            newest = max(issued_at for _, (issued_at, _) in dropped)
            self.forgotten_until = max(self.forgotten_until, newest)
