"""Dialogs: the relationship two user agents keep during a call (RFC 3261 §12, §13.2.2.4, §16.12).

A *transaction* is one request and its responses. A *dialog* is longer-lived:
the peer-to-peer relationship that an INVITE (or a SUBSCRIBE, or a REFER)
creates between two user agents, and inside which every later request of the
call travels: the ACK, a re-INVITE that puts the call on hold, the BYE.

A dialog is named by three strings, its **dialog ID** (§12)::

    Call-ID  +  local tag  +  remote tag

Each side sees the same dialog with the two tags swapped: for Alice, who sent
the INVITE, the local tag is her From tag and the remote tag is Bob's To tag;
for Bob it is the other way round. :func:`dialog_id_of` reads the ID a message
belongs to.

What a dialog remembers (the exact field list of §12)
------------------------------------------------------

* **dialog ID**: Call-ID, local tag, remote tag; which dialog a message is in.
* **local sequence number**: the CSeq number of the last request *we* sent in
  the dialog; the next one gets this plus one (§12.2.1.1).
* **remote sequence number**: the CSeq number of the last request the *peer*
  sent; a request with a lower number is out of order and gets 500 (§12.2.2).
* **local URI**, **remote URI**: our address and the peer's (the From and the
  To of our requests).
* **remote target**: the peer's Contact URI, where the peer *itself* can be
  reached. Later requests go there, not to the address of record
  (``sip:bob@biloxi.example.com`` may ring five phones; the Contact names the
  one that answered). A *target refresh* request (re-INVITE, UPDATE) or its 2xx
  may change it.
* **secure flag**: true when the dialog was made over TLS to a ``sips:`` URI.
* **route set**: the proxies that asked, with Record-Route, to stay on the
  path. Every request in the dialog goes through them, in order, as Route
  headers. It is fixed once the dialog is confirmed.

The route set is the only subtle part. A proxy that wants to see the BYE
adds ``Record-Route: <sip:ss1.example.com;lr>`` to the INVITE; the callee copies
the Record-Route list into its responses. The callee keeps the list in the
order it arrived (the proxy nearest the callee is first for it); the caller
keeps it **reversed** (the proxy nearest the caller first), so each side lists
the proxies in the order its own requests will pass them (§12.1.1, §12.1.2).

Early and confirmed
-------------------

A provisional response with a To tag (``180 Ringing``) makes an **early**
dialog: the callee has been reached but has not answered. The 2xx makes it
**confirmed**, and at that moment the caller takes the route set and remote
target from the 2xx (§13.2.2.4). A failure response ends an early dialog
(§12.3), a BYE ends a confirmed one (§15). Forking can give one INVITE several
early dialogs, one per To tag, of which at most one is normally confirmed.

Why the dialog builds the ACK for a 2xx
---------------------------------------

The INVITE client transaction is done with the call once the 2xx arrives (it
only lingers, RFC 6026's Accepted state, to pass retransmitted 2xx up), so the
ACK for a 2xx is *not* part of it: it is a new request of its own, without a
transaction, sent end to end along the route set, with a new branch and the
INVITE's CSeq number (§13.2.2.4). Only the dialog knows the remote target and
the route set, so :meth:`Dialog.create_ack` makes it. The ACK for a *failure*
(3xx-6xx) is different: it goes hop by hop, inside the INVITE's transaction,
with the INVITE's branch, and the transaction layer builds it
(:func:`siplab.sip.build.build_ack_for_failure`).

This module works on messages only: it never reads a clock, never sends, and
knows nothing about transactions. The user agent core feeds it what it sends
and receives, and sends what it builds.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import NamedTuple

from siplab.errors import InvalidStateError, LocalProtocolError, RemoteProtocolError
from siplab.ids import IdSource
from siplab.sip.build import build_request
from siplab.sip.grammar import remove_param
from siplab.sip.headers import Address, CSeq
from siplab.sip.message import Message, Request, Response
from siplab.sip.uri import SipUri, Uri

__all__ = [
    "DialogState",
    "Role",
    "DialogId",
    "Dialog",
    "dialog_id_of",
    "TARGET_REFRESH_METHODS",
]

#: Requests that may change the remote target (§12.2; UPDATE: RFC 3311;
#: SUBSCRIBE and NOTIFY: RFC 6665). They must carry a Contact.
TARGET_REFRESH_METHODS = frozenset({"INVITE", "UPDATE", "SUBSCRIBE", "NOTIFY"})


class DialogState(StrEnum):
    """The life of a dialog (§12): early, then confirmed, then terminated."""

    Early = "Early"
    Confirmed = "Confirmed"
    Terminated = "Terminated"


class Role(StrEnum):
    """Which end of a request a user agent is on (§6: roles last one transaction).

    A dialog's role is the role its user agent had in the request that created
    the dialog: the caller is the UAC, the callee the UAS, for the whole call,
    even when the callee later sends the BYE.
    """

    UAC = "UAC"
    UAS = "UAS"


class DialogId(NamedTuple):
    """Call-ID + local tag + remote tag: the name of a dialog, as one side sees it (§12)."""

    call_id: str
    local_tag: str
    remote_tag: str


def dialog_id_of(message: Message, *, role: Role | str) -> DialogId | None:
    """The ID of the dialog ``message`` belongs to, or None if it is outside any dialog.

    ``role`` is our role in the message's transaction. As the UAC (we send the
    request, we receive its responses) our tag is in From and the peer's in To;
    as the UAS (we receive the request, we send its responses) it is the other
    way round (§12.2.1.1, §12.2.2). A message without both tags (an initial
    INVITE, a 100 Trying) is not in a dialog.
    """
    from_tag, to_tag = message.from_tag, message.to_tag
    if not from_tag or not to_tag:
        return None
    if Role(role) is Role.UAC:
        return DialogId(message.call_id, from_tag, to_tag)
    return DialogId(message.call_id, to_tag, from_tag)


def _without_tag(address: Address) -> Address:
    # The local and remote URIs are addresses; the tags are kept apart.
    return replace(address, params=remove_param(address.params, "tag"))


def _contact_uri(message: Message, what: str) -> Uri | None:
    contacts = message.contact
    if not contacts:
        return None
    if contacts[0].is_wildcard:
        raise RemoteProtocolError(f"Contact '*' in {what}")
    return contacts[0].uri


def _secure(request: Request) -> bool:
    # §12.1.1/§12.1.2: secure when the request went over TLS to a sips: URI.
    # The top Via names the transport of the hop the request travelled
    # (WSS is SIP over secure WebSocket, RFC 7118).
    return request.uri.scheme == "sips" and request.top_via.transport in ("TLS", "WSS")


def _request_uri_form(uri: Uri) -> Uri:
    # §12.2.1.1: a strict router's URI goes into the Request-URI "stripping any
    # parameters that are not allowed in a Request-URI". Table 1 of §19.1.1
    # forbids only the method parameter and the ?headers part there.
    if isinstance(uri, SipUri):
        return replace(uri, params=remove_param(uri.params, "method"), headers=None)
    return uri


@dataclass(slots=True)
class Dialog:
    """The state of one dialog, as one user agent keeps it (§12).

    Build one with :meth:`from_uac_response` (the caller, from the 1xx/2xx it
    received) or :meth:`from_uas_request` (the callee, from the INVITE it
    answers). Fields that §12 lets change are changed in place by
    :meth:`update_from_response` and :meth:`receive_request`.
    """

    call_id: str
    local_tag: str
    remote_tag: str
    local_uri: Address
    remote_uri: Address
    remote_target: Uri
    route_set: list[Address]
    local_seq: int | None
    remote_seq: int | None
    secure: bool
    state: DialogState
    role: Role
    #: CSeq of the request that created the dialog, to tell its responses from
    #: responses to later requests (an UPDATE or PRACK in the early dialog).
    creating_cseq: CSeq = field(default=CSeq(0, "INVITE"), repr=False)

    # -- creating a dialog -----------------------------------------------------

    @classmethod
    def from_uac_response(cls, request: Request, response: Response) -> Dialog:
        """The caller's dialog, made by a 101-299 response with a To tag (§12.1.2).

        Route set: the response's Record-Route list, *reversed*. Remote target:
        the response's Contact. Local sequence number: the request's CSeq.
        A 1xx makes an early dialog, a 2xx a confirmed one.
        """
        if not 101 <= response.status <= 299:
            raise LocalProtocolError(
                f"only 101-299 responses create dialogs (§12.1), not {response.status}"
            )
        if response.call_id != request.call_id:
            raise LocalProtocolError("the response does not answer this request (Call-ID)")
        local_tag, remote_tag = request.from_tag, response.to_tag
        if not local_tag:
            raise LocalProtocolError("the request has no From tag (§8.1.1.3)")
        if not remote_tag:
            raise RemoteProtocolError(
                f"{response.label} has no To tag, so it cannot create a dialog (§12.1.2)"
            )
        remote_target = _contact_uri(response, response.label)
        if remote_target is None:
            if response.status >= 200:
                raise RemoteProtocolError(
                    f"{response.label} has no Contact: no remote target (§12.1.2)"
                )
            # Tolerated in a 1xx: the 2xx, which must have one, sets it.
            remote_target = request.uri
        return cls(
            call_id=request.call_id,
            local_tag=local_tag,
            remote_tag=remote_tag,
            local_uri=_without_tag(request.from_),
            remote_uri=_without_tag(request.to),
            remote_target=remote_target,
            route_set=list(reversed(response.record_route)),
            local_seq=request.cseq.number,
            remote_seq=None,
            secure=_secure(request),
            state=DialogState.Confirmed if response.status >= 200 else DialogState.Early,
            role=Role.UAC,
            creating_cseq=request.cseq,
        )

    @classmethod
    def from_uas_request(
        cls,
        request: Request,
        local_tag: str,
        *,
        state: DialogState = DialogState.Early,
    ) -> Dialog:
        """The callee's dialog, made when it answers ``request`` with a 1xx/2xx (§12.1.1).

        ``local_tag`` is the To tag the callee puts in its responses. Route set:
        the request's Record-Route list *in order*. Remote target: the request's
        Contact. Remote sequence number: the request's CSeq. The dialog is
        early until the callee sends its 2xx (:meth:`confirm`); pass
        ``state=DialogState.Confirmed`` when answering with a 2xx straight away.
        """
        remote_tag = request.from_tag
        if not remote_tag:
            raise RemoteProtocolError(f"{request.method} has no From tag (§8.1.1.3)")
        remote_target = _contact_uri(request, request.method)
        if remote_target is None:
            raise RemoteProtocolError(
                f"{request.method} has no Contact: no remote target (§12.1.1)"
            )
        return cls(
            call_id=request.call_id,
            local_tag=local_tag,
            remote_tag=remote_tag,
            local_uri=_without_tag(request.to),
            remote_uri=_without_tag(request.from_),
            remote_target=remote_target,
            route_set=list(request.record_route),
            local_seq=None,
            remote_seq=request.cseq.number,
            secure=_secure(request),
            state=state,
            role=Role.UAS,
            creating_cseq=request.cseq,
        )

    # -- reading -----------------------------------------------------------------

    @property
    def id(self) -> DialogId:
        return DialogId(self.call_id, self.local_tag, self.remote_tag)

    @property
    def next_hop(self) -> Uri:
        """The URI a request of this dialog is sent to (§8.1.2): the UA resolves it.

        The first entry of the route set if there is one, else the remote
        target. With a strict router first this is also the Request-URI; with a
        loose router it is the first Route header.
        """
        return self.route_set[0].uri if self.route_set else self.remote_target

    # -- changing state ---------------------------------------------------------

    def confirm(self) -> None:
        """Early -> confirmed: the callee has sent its 2xx (§12.1.1)."""
        if self.state is DialogState.Terminated:
            raise InvalidStateError("the dialog is terminated")
        self.state = DialogState.Confirmed

    def terminate(self) -> None:
        """The dialog is over: BYE sent or received, or the early dialog failed (§12.3)."""
        self.state = DialogState.Terminated

    def update_from_response(self, response: Response) -> None:
        """Take in a response to a request we sent in this dialog (§12.2.1.2, §13.2.2.4).

        * a 2xx to the creating INVITE confirms an early dialog, and the route
          set and remote target are recomputed from that 2xx;
        * a 2xx to a target refresh request (re-INVITE, UPDATE) replaces the
          remote target with its Contact, but never the route set;
        * a 3xx-6xx to the creating request ends an early dialog (§12.3), and
          481 or 408 to any request ends the dialog (§12.2.1.2).

        Responses arriving after the dialog ended (the 200 to our BYE) are ignored.
        """
        self._check_id(dialog_id_of(response, role=Role.UAC))
        if self.state is DialogState.Terminated:
            return
        status, cseq = response.status, response.cseq
        if status in (408, 481):
            self.terminate()
            return
        creating = self.role is Role.UAC and cseq == self.creating_cseq
        if status >= 300:
            if creating and self.state is DialogState.Early:
                self.terminate()
            return
        if status < 200:
            return
        contact = _contact_uri(response, response.label)
        if creating and self.state is DialogState.Early:
            if contact is None:
                raise RemoteProtocolError(
                    f"{response.label} has no Contact: no remote target (§12.1.2)"
                )
            self.route_set = list(reversed(response.record_route))
            self.remote_target = contact
            self.state = DialogState.Confirmed
        elif cseq.method in TARGET_REFRESH_METHODS and contact is not None:
            self.remote_target = contact

    def receive_request(self, request: Request) -> None:
        """Check and take in a request the peer sent in this dialog (§12.2.2).

        A CSeq number lower than the last one seen means the request is out of
        order: :class:`RemoteProtocolError` with status 500 is raised, for the
        UA to answer with. A higher number (gaps are normal: a challenged
        request is re-sent with a new number) becomes the remote sequence
        number. A target refresh request with a Contact replaces the remote
        target; Record-Route in it changes nothing. ACK and CANCEL reuse the
        number of the request they follow and are not checked.
        """
        self._check_id(dialog_id_of(request, role=Role.UAS))
        if self.state is DialogState.Terminated:
            raise RemoteProtocolError(
                "the dialog is terminated", status=481, reason="Call/Transaction Does Not Exist"
            )
        if request.method in ("ACK", "CANCEL"):
            return
        number = request.cseq.number
        if self.remote_seq is not None and number < self.remote_seq:
            raise RemoteProtocolError(
                f"CSeq {number} is lower than {self.remote_seq}: out of order (§12.2.2)",
                status=500,
                reason="Server Internal Error",
            )
        self.remote_seq = number
        if request.method in TARGET_REFRESH_METHODS:
            contact = _contact_uri(request, request.method)
            if contact is not None:
                self.remote_target = contact

    def _check_id(self, found: DialogId | None) -> None:
        if found != self.id:
            raise LocalProtocolError(f"the message belongs to dialog {found}, not {self.id}")

    # -- building requests ------------------------------------------------------

    def _route(self) -> tuple[Uri, list[Address]]:
        # §12.2.1.1: the Request-URI and the Route headers, from the route set.
        if not self.route_set:
            return self.remote_target, []
        first = self.route_set[0]
        if isinstance(first.uri, SipUri) and first.uri.lr:
            # Loose routing (§16.12): the Request-URI names the destination and
            # the proxies are visited through the Route headers.
            return self.remote_target, list(self.route_set)
        # Strict routing (RFC 2543): the next proxy must be in the Request-URI,
        # so the destination rides along as the last Route header.
        rest = [*self.route_set[1:], Address(self.remote_target)]
        return _request_uri_form(first.uri), rest

    def _build(
        self,
        method: str,
        cseq: int,
        *,
        via_host: str,
        via_port: int | None,
        transport: str,
        ids: IdSource,
        body: bytes,
        content_type: str | None,
        headers: Iterable[tuple[str, str]],
        contact: Address | str | None,
    ) -> Request:
        uri, route = self._route()
        return build_request(
            method,
            uri,
            from_=self.local_uri.with_param("tag", self.local_tag),
            to=self.remote_uri.with_param("tag", self.remote_tag),
            via_host=via_host,
            via_port=via_port,
            transport=transport,
            ids=ids,
            call_id=self.call_id,
            cseq=cseq,
            contact=contact,
            route=route,
            headers=headers,
            body=body,
            content_type=content_type,
        )

    def create_request(
        self,
        method: str,
        *,
        via_host: str,
        ids: IdSource,
        via_port: int | None = None,
        transport: str = "UDP",
        body: bytes = b"",
        content_type: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
        contact: Address | str | None = None,
    ) -> Request:
        """A new request inside the dialog: BYE, re-INVITE, INFO, UPDATE... (§12.2.1.1).

        To and From carry the remote and local URIs and tags, the Call-ID is the
        dialog's, and the CSeq number is the local sequence number plus one
        (which becomes the new local sequence number; the first request of a
        callee starts at 1). The Request-URI and Route headers follow the route
        set (see :attr:`next_hop` for where to send it). Target refresh
        requests need ``contact``. The ACK for a 2xx is :meth:`create_ack`; a
        CANCEL copies the request it cancels (:func:`~siplab.sip.build.build_cancel`).
        """
        if method in ("ACK", "CANCEL"):
            helper = "create_ack()" if method == "ACK" else "build_cancel(request)"
            raise LocalProtocolError(f"use {helper} to make a {method}, not create_request()")
        if self.state is DialogState.Terminated:
            raise InvalidStateError(f"cannot send {method}: the dialog is terminated")
        if method == "BYE" and self.role is Role.UAS and self.state is DialogState.Early:
            raise InvalidStateError("the callee must not send BYE on an early dialog (§15)")
        if method in TARGET_REFRESH_METHODS and contact is None:
            raise LocalProtocolError(f"a {method} in a dialog must carry a Contact (§12.2.1.1)")
        cseq = 1 if self.local_seq is None else self.local_seq + 1
        request = self._build(
            method, cseq, via_host=via_host, via_port=via_port, transport=transport, ids=ids,
            body=body, content_type=content_type, headers=headers, contact=contact,
        )
        self.local_seq = cseq
        return request

    def create_ack(
        self,
        invite_cseq: int,
        *,
        via_host: str,
        ids: IdSource,
        via_port: int | None = None,
        transport: str = "UDP",
        body: bytes = b"",
        content_type: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
    ) -> Request:
        """The ACK for a 2xx to the INVITE whose CSeq number is ``invite_cseq`` (§13.2.2.4).

        Built like any request in the dialog (same Request-URI and Route rules),
        with a new branch, but with the INVITE's CSeq number and method ACK; the
        local sequence number does not move. Pass the INVITE's credentials
        (Authorization lines) in ``headers``, and the SDP answer in ``body``
        when the 2xx carried the offer.
        """
        if self.state is not DialogState.Confirmed:
            raise InvalidStateError(f"an ACK for a 2xx needs a confirmed dialog, not {self.state}")
        return self._build(
            "ACK", invite_cseq, via_host=via_host, via_port=via_port, transport=transport,
            ids=ids, body=body, content_type=content_type, headers=headers, contact=None,
        )
