"""The header lines of a message: names, compact forms, and lookups (RFC 3261 §7.3).

A SIP message carries its headers as ``Name: value`` lines. Four rules make
them trickier than they look:

* names are case-insensitive, and many have a one-letter *compact form*
  (``v`` is Via, ``f`` is From, ``i`` is Call-ID, §7.3.3);
* a header may appear several times, and for list headers (Via, Contact,
  Route...) ``Via: a, b`` means exactly the same as two Via lines (§7.3.1);
* order matters between lines of the same name (the top Via is the last hop);
* a line starting with whitespace continues the previous one (folding).

:class:`Headers` keeps every line in order, as written, and looks names up
case-insensitively with compact forms folded in. Every lookup goes through a
*lookup key*, the lower-case full name (:func:`header_key`: ``"V"`` and
``"via"`` are both ``"via"``). The typed values (Address, Via, CSeq) live in
:mod:`siplab.sip.headers`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from types import MappingProxyType

from siplab.sip.grammar import is_token, split_commas
from siplab.sip.native import COMPILED

__all__ = [
    "COMPACT_FORMS",
    "LIST_HEADERS",
    "canonical_name",
    "header_key",
    "Headers",
]

#: Compact forms (RFC 3261 §7.3.3 and the RFCs that added more), to full names.
COMPACT_FORMS: dict[str, str] = {
    "a": "Accept-Contact",
    "b": "Referred-By",
    "c": "Content-Type",
    "d": "Request-Disposition",
    "e": "Content-Encoding",
    "f": "From",
    "i": "Call-ID",
    "j": "Reject-Contact",
    "k": "Supported",
    "l": "Content-Length",
    "m": "Contact",
    "n": "Identity-Info",
    "o": "Event",
    "r": "Refer-To",
    "s": "Subject",
    "t": "To",
    "u": "Allow-Events",
    "v": "Via",
    "x": "Session-Expires",
    "y": "Identity",
}
_COMPACT_KEYS = {short: full.lower() for short, full in COMPACT_FORMS.items()}

#: Names whose case is not simply "capitalize each word".
_SPECIAL_CASE = {
    "call-id": "Call-ID",
    "cseq": "CSeq",
    "www-authenticate": "WWW-Authenticate",
    "mime-version": "MIME-Version",
    "rack": "RAck",
    "rseq": "RSeq",
    "sip-etag": "SIP-ETag",
    "sip-if-match": "SIP-If-Match",
}

#: Headers whose value is a comma-separated list (``1#element`` in RFC 3261 §25).
LIST_HEADERS = frozenset(
    {
        "via",
        "contact",
        "route",
        "record-route",
        "path",
        "service-route",
        "allow",
        "allow-events",
        "supported",
        "require",
        "proxy-require",
        "unsupported",
        "accept",
        "accept-encoding",
        "accept-language",
        "content-encoding",
        "content-language",
        "in-reply-to",
        "alert-info",
        "call-info",
        "error-info",
        "reply-to",
        "p-asserted-identity",
    }
)


def _known_keys() -> dict[str, str]:
    # Lookup keys of the spellings seen on nearly every message, precomputed.
    names = [
        "Via", "Max-Forwards", "To", "From", "Call-ID", "CSeq", "Contact", "Route",
        "Record-Route", "Allow", "Supported", "Require", "User-Agent", "Server",
        "Content-Type", "Content-Length", "Expires", "Authorization", "WWW-Authenticate",
        "Proxy-Authenticate", "Proxy-Authorization", "Accept", "Subject", "Date", "Event",
        "Allow-Events", "Session-Expires", "Min-SE", "Refer-To", "Referred-By", "Timestamp",
        "Call-Id", "Cseq", "Www-Authenticate", "Content-Disposition", "Organization",
        "Subscription-State", "Accept-Language", "Reason", "Privacy", "P-Asserted-Identity",
    ]
    keys = {name: name.lower() for name in names}
    keys.update({name.lower(): name.lower() for name in names})
    keys.update(_COMPACT_KEYS)
    keys.update({short.upper(): full for short, full in _COMPACT_KEYS.items()})
    return keys


def header_key(name: str) -> str:
    """The lookup key of a header name: lower case, compact form expanded."""
    known = _KNOWN_KEYS.get(name)  # the usual spellings, worked out once
    if known is not None:
        return known
    key = name.lower()
    if len(key) == 1:
        return _COMPACT_KEYS.get(key, key)
    return key


def canonical_name(name: str) -> str:
    """The usual spelling of a header name: ``call-id`` -> ``Call-ID``, ``v`` -> ``Via``."""
    key = header_key(name)
    special = _SPECIAL_CASE.get(key)
    if special:
        return special
    return "-".join(part.capitalize() for part in key.split("-"))


_KNOWN_KEYS = _known_keys()
_new_object = object.__new__  # an instance without running __init__

#: ``Headers._first`` of headers the parser did not read (built by code, or
#: changed since): an empty mapping rather than None, so that the fields every
#: message is asked for can try ``headers._first.get(key)`` without testing
#: first (siplab/sip/message_fields.py). Read-only, so that it can be shared.
_NOT_READ: Mapping[str, str] = MappingProxyType({})


class Headers:
    """An ordered, multi-valued, case-insensitive list of header fields.

    Each entry is one header line ``(name, value)`` with the name as written.
    Lookups fold case and compact forms: ``h.get("call-id")`` finds an ``i:``
    line. For list headers, :meth:`get_list` splits comma-separated values.
    """

    __slots__ = ("_item_list", "_index", "_lines", "_first", "_more")

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        # Lines from a caller are checked like add() checks them, so that a value
        # with a CRLF cannot smuggle a header (or a whole message) onto the wire.
        self._item_list: list[tuple[str, str]] | None = [
            (name, _check_header(name, value)) for name, value in items
        ]
        # key -> values: built on the first lookup, dropped on every change.
        # Tuples rather than lists: the garbage collector stops tracking a tuple
        # of strings, and a busy server keeps many messages.
        self._index: dict[str, tuple[str, ...]] | None = None
        # Filled only by the parser's fast path (siplab/sip/header_block.py),
        # which has checked that every line is a plain ``Name: value`` and has
        # done the least it can per line. ``_first`` maps each lookup key to
        # the text after the colon of its first line, blanks still around it
        # (they are stripped when read); ``_more`` maps a key that has several
        # lines (Via, Record-Route...) to the texts of the others, in order.
        # The ``(name, value)`` list is made from ``_lines`` only if someone
        # iterates over the headers or changes them: reading a few fields
        # costs a few dictionary lookups. The careful path fills ``_first``
        # and ``_more`` too, with the values already unfolded and stripped.
        # replace_first keeps them true; any other change drops them.
        self._lines: list[str] | None = None
        self._first: Mapping[str, str] = _NOT_READ
        self._more: dict[str, list[str]] = {}

    @classmethod
    def _trusted(cls, items: list[tuple[str, str]]) -> Headers:
        # Used by copy() and the parser's careful path: takes ownership of a built list.
        obj = cls() if COMPILED else _new_object(cls)  # see siplab.sip.native
        obj._item_list, obj._index = items, None
        obj._lines, obj._first, obj._more = None, _NOT_READ, {}
        return obj

    @property
    def _items(self) -> list[tuple[str, str]]:
        items = self._item_list
        if items is None:
            lines = self._lines or ()
            items = [(name, value.strip(" \t"))
                     for name, _, value in (line.partition(":") for line in lines)]
            self._item_list, self._lines = items, None
        return items

    @_items.setter
    def _items(self, items: list[tuple[str, str]]) -> None:
        self._item_list, self._lines = items, None
        self._changed()

    def _changed(self) -> None:
        # After any change, every view built from the old lines is dropped.
        self._index, self._first = None, _NOT_READ
        self._more = {}

    def forget_index(self) -> None:
        """Keep the lines, drop the lookup index (it is built again when a header is read).

        The parser indexes every line by its lookup key, which copies each
        value once more; a message that is kept but no longer read (a
        transaction waiting to absorb retransmissions) does not need that.
        """
        if self._index is not None or self._first is not _NOT_READ:
            self._changed()

    def _first_value(self, key: str) -> str | None:
        """The value of the first line with lookup key ``key`` ("call-id", "via")."""
        first = self._first
        if first is not _NOT_READ:
            value = first.get(key)
            return None if value is None else value.strip(" \t")
        found = self._lookup().get(key)
        return found[0] if found else None

    def _values(self, key: str) -> tuple[str, ...] | None:
        """The values of every line with lookup key ``key``, in order, or None."""
        index = self._index
        if index is not None:
            return index.get(key)
        first = self._first
        if first is _NOT_READ:
            return self._lookup().get(key)
        value = first.get(key)
        if value is None:
            return None
        more = self._more.get(key)
        if more is None:  # the usual case: one line of this name
            return (value.strip(" \t"),)
        return (value.strip(" \t"), *[text.strip(" \t") for text in more])

    def _lookup(self) -> dict[str, tuple[str, ...]]:
        index = self._index
        if index is None:
            first = self._first
            if first is not _NOT_READ:
                index = {key: (text.strip(" \t"),) for key, text in first.items()}
                for key, texts in self._more.items():
                    index[key] += tuple(text.strip(" \t") for text in texts)
            else:
                index = {}
                known = _KNOWN_KEYS
                for name, value in self._items:
                    key = known.get(name) or header_key(name)
                    found = index.get(key)
                    index[key] = (value,) if found is None else (*found, value)
            self._index = index
        return index

    # -- reading ---------------------------------------------------------------

    def get(self, name: str, default: str | None = None) -> str | None:
        """The value of the first line called ``name``, or ``default``."""
        # header_key and _first_value, written out: a server calls this a dozen
        # times per request, and two Python calls are much of what it costs.
        key = _KNOWN_KEYS.get(name) or header_key(name)
        first = self._first
        if first is not _NOT_READ:
            found = first.get(key)
            if found is None:
                return default
            return found.strip(" \t")
        values = self._lookup().get(key)
        return values[0] if values else default

    def get_all(self, name: str) -> list[str]:
        """The values of every line called ``name``, in order (not comma-split)."""
        return list(self._values(_KNOWN_KEYS.get(name) or header_key(name)) or ())

    def get_list(self, name: str) -> list[str]:
        """Every element of a list header, across lines, split at commas."""
        lines = self._values(header_key(name))
        if not lines:
            return []
        if len(lines) == 1:
            return split_commas(lines[0])
        out: list[str] = []
        for line in lines:
            out.extend(split_commas(line))
        return out

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        key = _KNOWN_KEYS.get(name) or header_key(name)
        first = self._first
        return key in first if first is not _NOT_READ else key in self._lookup()

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._items)

    def __len__(self) -> int:
        items = self._item_list
        return len(items) if items is not None else len(self._lines or ())

    def items(self) -> list[tuple[str, str]]:
        """A copy of the lines, as ``(name, value)`` pairs in order."""
        return list(self._items)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        if len(self._items) != len(other._items):
            return False
        return all(
            value_a == value_b and header_key(name_a) == header_key(name_b)
            for (name_a, value_a), (name_b, value_b) in zip(self._items, other._items, strict=True)
        )

    def __hash__(self) -> int:  # mutable container
        raise TypeError("Headers is not hashable")

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"

    def copy(self) -> Headers:
        return Headers._trusted(list(self._items))

    # -- changing --------------------------------------------------------------

    def add(self, name: str, value: str) -> None:
        """Append a line at the end."""
        value = _check_header(name, value)
        self._items.append((name, value))
        self._changed()

    def insert(self, position: int, name: str, value: str) -> None:
        """Insert a line at ``position`` (0 is the top), as a proxy adds its Via."""
        value = _check_header(name, value)
        self._items.insert(position, (name, value))
        self._changed()

    def prepend(self, name: str, value: str) -> None:
        """Insert a line above the first line of the same name (or at the top).

        This is how a proxy adds a Via or a Record-Route: the new value comes
        first among its kind, wherever that kind sits in the message.
        """
        key = header_key(name)
        for i, (existing, _) in enumerate(self._items):
            if header_key(existing) == key:
                self.insert(i, name, value)
                return
        self.insert(0, name, value)

    def set(self, name: str, value: str) -> None:
        """Replace every line called ``name`` by one line (where the first was)."""
        value = _check_header(name, value)
        key = header_key(name)
        out: list[tuple[str, str]] = []
        placed = False
        for existing, old in self._items:
            if header_key(existing) == key:
                if not placed:
                    out.append((existing, value))
                    placed = True
            else:
                out.append((existing, old))
        if not placed:
            out.append((name, value))
        self._items = out
        self._changed()

    def replace_first(self, name: str, value: str) -> bool:
        """Replace the value of the first line called ``name``; False if there is none."""
        value = _check_header(name, value)
        key = header_key(name)
        first = self._first
        if isinstance(first, dict) and key in first:
            # The parser's index stays true: only the first value of ``key``
            # changes, which is what ``_first`` holds. Keeping it spares every
            # later lookup the rebuilding of the index, and a message that was
            # never iterated keeps its lines as read (a server does this to the
            # top Via of each request that asks for rport, RFC 3581).
            lines = self._lines
            if lines is not None:  # the fast path's "Name: value" lines, as read
                for i, line in enumerate(lines):
                    existing = line.partition(":")[0]
                    if (_KNOWN_KEYS.get(existing) or header_key(existing)) == key:
                        lines[i] = f"{existing}: {value}"
                        break
            else:
                items = self._items
                for i, (existing, _) in enumerate(items):
                    if header_key(existing) == key:
                        items[i] = (existing, value)
                        break
            first[key] = value
            self._index = None
            return True
        for i, (existing, _) in enumerate(self._items):
            if header_key(existing) == key:
                self._items[i] = (existing, value)
                self._changed()
                return True
        return False

    def remove(self, name: str) -> int:
        """Remove every line called ``name``; returns how many were removed."""
        key = header_key(name)
        before = len(self._items)
        self._items = [(n, v) for n, v in self._items if header_key(n) != key]
        self._changed()
        return before - len(self._items)

    def pop_first(self, name: str) -> str | None:
        """Remove the first *element* of a list header and return it.

        ``Via: a, b`` becomes ``Via: b``; a line left empty disappears. This is
        how a proxy strips its own Via from a response (§16.7 step 3).
        """
        key = header_key(name)
        for i, (existing, value) in enumerate(self._items):
            if header_key(existing) == key:
                parts = split_commas(value)
                if not parts:
                    continue
                if len(parts) == 1:
                    del self._items[i]
                else:
                    self._items[i] = (existing, ", ".join(parts[1:]))
                self._changed()
                return parts[0]
        return None


def _check_header(name: str, value: str) -> str:
    # Returns the value as a parser would read it back: without the spaces and
    # tabs around it (§7.3.1), so that parse_message(m.to_bytes()) == m holds.
    # The usual names are known tokens, which spares the regular expression.
    if name not in _KNOWN_KEYS and not is_token(name):
        raise ValueError(f"bad header name {name!r}")
    if "\r" in value or "\n" in value or "\x00" in value:
        raise ValueError(f"header {name!r} value contains CR, LF or NUL")
    return value.strip(" \t")
