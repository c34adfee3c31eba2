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
* beyond ``cap`` nonces those *first used* longest ago are forgotten (up to a
  quarter of the cap, a chunk at a time), and
  from then on a nonce not held here that was issued no later than the
  newest of them counts as expired (``forgotten_until``): the server can no
  longer tell its replay from a first use, so it refuses it, with
  ``stale=TRUE``, and the client asks for a new nonce. Forgetting never lets
  a replay in; a nonce still held is judged by its ``nc`` alone.

Why first use, and why recent nonces are never forgotten: a nonce is used
after it is issued, and forgetting one expires every nonce issued no later
than it, including nonces in 401s still on their way to their clients. The
401s sent without a transaction carry nonces whose ``issued_at`` is rounded
down to a step of several seconds (:mod:`siplab.sip.auth_server`), all the
nonces of one step sharing it. So a nonce whose ``issued_at`` is less than
``protect`` old (two steps: the label of any nonce issued in the last step)
is kept even past the cap: the memory then holds what the clients used in
those seconds, which only a client with the right password adds to.
"""

from __future__ import annotations

import itertools
import math

__all__ = ["DEFAULT_CAP", "NonceCounts"]

#: The default cap, about 200 bytes a nonce: 20 MB when full. Nonces younger
#: than ``protect`` are kept beyond it (at 8,000 registrations a second and
#: two 16 s steps, some 256,000 of them).
DEFAULT_CAP = 100_000


#: The most nonces forgotten for one nonce used: about a millisecond of work.
_DROP_CHUNK = 2_048


class NonceCounts:
    """The highest ``nc`` seen for each nonce used: ``cap`` of them, and the recent ones.

    ``lifetime`` is the nonces' lifetime: the memory of one is kept that long
    after it was issued, or until the cap makes room; a nonce issued less than
    ``protect`` ago stays past the cap.
    """

    __slots__ = ("lifetime", "cap", "protect", "forgotten_until", "_seen", "_next_sweep",
                 "_next_drop")

    def __init__(self, lifetime: float, cap: int, protect: float = 0.0) -> None:
        self.lifetime = lifetime
        self.cap = cap
        #: A nonce issued (as its issued_at says) less than this long ago is kept past the cap.
        self.protect = protect
        #: Nonces issued at or before this time may have been forgotten: expired.
        self.forgotten_until = -math.inf
        # nonce -> (issued_at, highest nc seen), in the order of first use
        self._seen: dict[str, tuple[float, int]] = {}
        self._next_sweep = -math.inf
        self._next_drop = -math.inf  # when a drop that found too little may look again

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
        if now >= self._next_sweep or (len(self._seen) > self.cap and now >= self._next_drop):
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
            # They go from the front, up to the first one still too young, and
            # at most _DROP_CHUNK at a time: at ten thousand registrations a
            # second the recent ones pass the cap by far, and forgetting them
            # all at once, once they aged, held the server up for a fifth of
            # a second (the load test), long enough for sipp to resend.
            oldest_kept = now - self.protect
            wanted = min(max(excess, self.cap // 4), _DROP_CHUNK)
            dropped = list(itertools.islice(
                itertools.takewhile(lambda item: item[1][0] < oldest_kept, self._seen.items()),
                wanted))
            if len(dropped) < wanted:
                # The front is recent: look again once it has aged, rather than
                # for every nonce used meanwhile.
                self._next_drop = now + self.protect / 8
            for nonce, _ in dropped:
                del self._seen[nonce]
            if dropped:
                newest = max(issued_at for _, (issued_at, _) in dropped)
                self.forgotten_until = max(self.forgotten_until, newest)
