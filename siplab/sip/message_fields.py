"""Six fields read from every message, in few steps (RFC 3261 §12, §17.1.3, §17.2.3, §18.1.2).

A transaction layer matches each message it receives by the branch of its
top Via and its CSeq (§17.1.3, §17.2.3); a dialog by its Call-ID and the
From and To tags (§12); a user agent drops a response that carries more
than one Via (§18.1.2). So a server reads these six values from every
message, often more than once, and :class:`TransactionFields`, a base class
of :class:`~siplab.sip.message.Message`, reads them with as few Python steps
as it can:

* the header's text comes straight from the index that the parser built
  (``headers._first``: lookup key -> the text after the colon, blanks
  around it; see :class:`~siplab.sip.headers.Headers`), and through the
  slower ``Headers._first_value`` only when that index does not have it
  (headers built by code or changed since, or a header that is missing,
  which is an error);
* the usual spelling of each value (``...>;tag=1928301774``,
  ``314159 INVITE``, ``...;branch=z9hG4bK776asdhds``) is read in place with
  a few string methods, as :func:`~siplab.sip.headers.tag_of`,
  :func:`~siplab.sip.headers.parse_cseq` and
  :func:`~siplab.sip.headers.via_branch` read it first. Anything else is
  handed to them, so the answer, and the
  :class:`~siplab.errors.SipParseError` for a malformed value, are theirs;
* no Python call that can be avoided, since a call is a noticeable part of
  reading one field: each property looks its header up itself.
"""

from __future__ import annotations

from collections.abc import Iterable

from siplab.errors import SipParseError
from siplab.sip.grammar import split_commas
from siplab.sip.headers import CSeq, Headers, parse_cseq, tag_of, via_branch

__all__ = ["TransactionFields"]

# What CSeq(number, method) calls, without the Python-level wrapper around it.
_tuple_new = tuple.__new__


class TransactionFields:
    """Call-ID, CSeq, From and To tags, top Via branch and Via count of a message."""

    # The CSeq read last, with the text it was read from (see ``cseq``).
    __slots__ = ("_cseq",)
    _cseq: tuple[str, CSeq] | None
    headers: Headers  # a slot of Message, which this class is a base of

    @property
    def call_id(self) -> str:
        """The Call-ID, which names the dialog together with the two tags."""
        value = self.headers._first.get("call-id")
        if value is None:  # not in the parser's index: not read by it, or not there
            value = self.headers._first_value("call-id")
            if value is None:
                raise SipParseError("missing Call-ID header")
        value = value.strip()
        if not value:
            raise SipParseError("empty Call-ID", where="header 'Call-ID'")
        return value

    @property
    def cseq(self) -> CSeq:
        # Remembered in a slot of its own rather than in _parse_once's cache:
        # every layer reads the CSeq of every message (transaction matching,
        # dialogs, the registrar), and a slot is the cheapest cache there is.
        text = self.headers._first.get("cseq")
        if text is None:
            text = self.headers._first_value("cseq")
            if text is None:
                raise SipParseError("missing CSeq header")
        known = self._cseq
        if known is not None and known[0] == text:
            return known[1]
        # parse_cseq's first test, here: "314159 INVITE".
        number, _, method = text.strip(" \t").partition(" ")
        if text.isascii() and number.isdigit() and method.isalpha() and len(number) < 10:
            value = _tuple_new(CSeq, (int(number), method))
        else:
            value = parse_cseq(text.strip(" \t"))
        self._cseq = (text, value)
        return value

    @property
    def from_tag(self) -> str | None:
        value = self.headers._first.get("from")
        if value is None:
            value = self.headers._first_value("from")
            if value is None:
                raise SipParseError("missing From header")
        # tag_of's first test, here: ``...>;tag=abc``, no quotes after the '>'.
        params = value.rpartition(">")[2]
        if '"' not in params:
            _, found, rest = params.partition(";tag=")
            if found:
                tag = rest.partition(";")[0] if ";" in rest else rest
                if tag and " " not in tag and "\t" not in tag and "," not in tag:
                    return tag
            elif ";" not in params:
                return None  # no parameter at all, so no tag
        return tag_of(value)

    @property
    def to_tag(self) -> str | None:
        value = self.headers._first.get("to")
        if value is None:
            value = self.headers._first_value("to")
            if value is None:
                raise SipParseError("missing To header")
        # As in from_tag (the request that opens a dialog has no To tag).
        params = value.rpartition(">")[2]
        if '"' not in params:
            _, found, rest = params.partition(";tag=")
            if found:
                tag = rest.partition(";")[0] if ";" in rest else rest
                if tag and " " not in tag and "\t" not in tag and "," not in tag:
                    return tag
            elif ";" not in params:
                return None
        return tag_of(value)

    @property
    def branch(self) -> str | None:
        """The branch parameter of the top Via: the transaction's name (§17.1.3)."""
        value = self.headers._first.get("via")
        if value is None:
            value = self.headers._first_value("via")
            if value is None:
                raise SipParseError("missing Via header")
        # via_branch's first test, here: one Via element, ``;branch=`` as written.
        if '"' not in value and "," not in value:
            _, found, rest = value.partition(";branch=")
            if found:
                branch = rest.partition(";")[0] if ";" in rest else rest
                if branch and " " not in branch and "\t" not in branch:
                    return branch
        return via_branch(value)

    @property
    def via_count(self) -> int:
        """How many Via elements there are, across lines and commas."""
        headers = self.headers
        line = headers._first.get("via")
        if line is not None:
            # From the parser's index: the first Via line and, in _more, the others.
            if "," not in line and "via" not in headers._more:
                # One line with one element, the usual case. rstrip returns
                # the same string, without a copy, when it has nothing to strip.
                return 1 if line.rstrip(" \t") else 0
            texts = headers._more.get("via")
            lines: Iterable[str] = (line, *texts) if texts else (line,)
        else:
            lines = headers._values("via") or ()
        count = 0
        for line in lines:
            if "," in line:
                count += len(split_commas(line.strip(" \t")))  # as _values gives it
            elif line.rstrip(" \t"):
                count += 1
        return count
