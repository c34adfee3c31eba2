"""The location service: where each address of record can be reached (RFC 3261 §10, §16.5).

The registrar (:mod:`siplab.sip.registrar`) writes here what REGISTER
requests say: "calls for ``sip:alice@example.com`` go to
``sip:alice@10.0.0.1:5060`` for the next hour". Each such fact is a
:class:`Binding`; one address of record (AOR) may have several (a desk phone
and a browser), ordered by their preference ``q`` and then newest first. The
proxy reads them back when a call for Alice arrives ("where is Alice?",
§16.5), and the server expires them by the clock
(:meth:`LocationService.get_timer`, :meth:`LocationService.expire`), so a
phone that vanished is not rung forever.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from urllib.parse import unquote

from siplab.sip.headers import Address
from siplab.sip.transport import Peer
from siplab.sip.uri import SipUri, Uri, uri_equal

__all__ = ["Binding", "LocationService"]


@dataclass(frozen=True, slots=True)
class Binding:
    """One contact registered for an address of record (§10.3).

    ``contact`` is the Contact the user agent sent, without its ``expires``
    parameter (the 200 writes the remaining time there). ``source`` is where
    the REGISTER came from: the route to a WebSocket client or a phone behind
    NAT. ``call_id`` and ``cseq`` order the updates of the binding (§10.3
    step 7). ``updated_at`` breaks ties between equal ``q`` values: newest first.
    """

    aor: str
    contact: Address
    expires_at: float
    call_id: str
    cseq: int
    source: Peer
    updated_at: float
    q: float = 1.0
    instance: str | None = None
    reg_id: str | None = None

    @property
    def uri(self) -> Uri:
        """The contact URI: where requests for the AOR are sent (the new Request-URI)."""
        return self.contact.uri

    def remaining(self, now: float) -> int:
        """Whole seconds left before the binding expires (never negative)."""
        return max(0, math.ceil(self.expires_at - now - 1e-9))

    def contact_value(self, now: float) -> str:
        """The binding as a 200 lists it: ``<sip:alice@10.0.0.1>;expires=3599``."""
        return str(self.contact.with_param("expires", str(self.remaining(now))))

    def same_device(self, uri: Uri, instance: str | None, reg_id: str | None) -> bool:
        """True if a new contact replaces this binding: same URI, or same instance."""
        if instance is not None and instance == self.instance and reg_id == self.reg_id:
            return True
        own = self.contact.uri
        # A phone refreshing its binding sends the contact text it sent last
        # time, and the parser hands out one URI object per text: the very
        # same object is equal under every rule of uri_equal, no need to ask.
        return own is uri or uri_equal(own, uri)


def _preference(binding: Binding) -> tuple[float, float]:
    # The order of a Contact list: highest q first, then the newest.
    return (-binding.q, -binding.updated_at)


def _contact_key(uri: Uri) -> tuple[str, ...]:
    # A rough key for the contact index; uri_equal makes the final decision.
    if isinstance(uri, SipUri):
        user = uri.user or ""
        # unquote() returns a user without '%' unchanged: skip the call for it.
        return (unquote(user) if "%" in user else user, uri.host.lower(), str(uri.port))
    return (str(uri).lower(),)


class LocationService:
    """Every binding, by address of record, with timer-driven expiry (§10, §16.5).

    ``bindings(aor, now)`` is what the proxy asks ("where is Bob?"),
    ``lookup_contact(uri)`` answers the reverse question for a request whose
    Request-URI is a contact ("which connection reaches this browser?").
    """

    def __init__(self) -> None:
        self._by_aor: dict[str, list[Binding]] = {}
        self._by_contact: dict[tuple[str, ...], list[Binding]] = {}
        # (expires_at, order, binding); entries of replaced bindings go stale
        # and are skipped when they reach the top.
        self._heap: list[tuple[float, int, Binding]] = []
        self._order = itertools.count()
        self._count = 0

    def __len__(self) -> int:
        """How many bindings are stored (expired ones go at the next :meth:`expire`)."""
        return self._count

    @property
    def aor_count(self) -> int:
        """How many addresses of record have at least one binding."""
        return len(self._by_aor)

    def aors(self) -> list[str]:
        return sorted(self._by_aor)

    def __iter__(self) -> Iterator[Binding]:
        for bindings in self._by_aor.values():
            yield from bindings

    def bindings(self, aor: str, now: float) -> list[Binding]:
        """The live bindings of ``aor``: highest ``q`` first, then the newest."""
        stored = self._by_aor.get(aor)
        if stored is None:
            return []
        live = [b for b in stored if b.expires_at > now]
        if len(live) > 1:  # most AORs have one binding: nothing to order
            live.sort(key=_preference)
        return live

    def lookup_contact(self, uri: Uri, now: float | None = None) -> Binding | None:
        """The binding whose contact URI equals ``uri`` (§19.1.4), or None."""
        for binding in self._by_contact.get(_contact_key(uri), ()):
            if (now is None or binding.expires_at > now) and uri_equal(binding.uri, uri):
                return binding
        return None

    def set_bindings(self, aor: str, bindings: Iterable[Binding]) -> None:
        """Replace every binding of ``aor`` at once (a REGISTER is all or nothing)."""
        for old in self._by_aor.pop(aor, ()):
            self._unindex(old)
        new = list(bindings)
        if new:
            self._by_aor[aor] = new
        self._count += len(new)
        by_contact, heap = self._by_contact, self._heap
        for binding in new:
            by_contact.setdefault(_contact_key(binding.uri), []).append(binding)
            heapq.heappush(heap, (binding.expires_at, next(self._order), binding))
        if len(heap) > 2 * self._count + 64:
            # Every refresh leaves the replaced binding's entry behind, until its
            # old expiry time (an hour, say): keep the heap to the live ones.
            # Identity by id(): every stale entry still holds its binding, so no
            # live binding can share its id; one set test per entry instead of
            # a scan of the AOR's bindings.
            live = {id(b) for stored in self._by_aor.values() for b in stored}
            self._heap = [entry for entry in heap if id(entry[2]) in live]
            heapq.heapify(self._heap)

    def remove(self, binding: Binding) -> bool:
        """Remove one binding (its flow failed, say); False if it was not stored."""
        if not self._alive(binding):
            return False
        rest = [b for b in self._by_aor[binding.aor] if b is not binding]
        if rest:
            self._by_aor[binding.aor] = rest
        else:
            del self._by_aor[binding.aor]
        self._unindex(binding)
        return True

    def _unindex(self, binding: Binding) -> None:
        self._count -= 1
        key = _contact_key(binding.uri)
        same = [b for b in self._by_contact.get(key, ()) if b is not binding]
        if same:
            self._by_contact[key] = same
        else:
            self._by_contact.pop(key, None)

    def _alive(self, binding: Binding) -> bool:
        return any(b is binding for b in self._by_aor.get(binding.aor, ()))

    def get_timer(self) -> float | None:
        """When the next binding expires, or None without bindings."""
        while self._heap and not self._alive(self._heap[0][2]):
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    def expire(self, now: float) -> list[Binding]:
        """Remove every binding whose time is up (at or before ``now``); return them."""
        gone: list[Binding] = []
        while self._heap and self._heap[0][0] <= now:
            _, _, binding = heapq.heappop(self._heap)
            if self.remove(binding):
                gone.append(binding)
        return gone
