"""Rewriting captured messages so that a fresh dialog forms, and comparing the live answers.

A captured message cannot simply be sent again. Its Call-ID, tags and branches
belong to a dialog and transactions that ended long ago (RFC 3261 §8.1.1.4,
§12, §17); its Via and Contact name an address that is not ours; its SDP asks
for media at a port nobody listens on; its Authorization answers a nonce the
server has forgotten (§22). The :class:`Rewriter` keeps the mapping from the
captured values to the new ones, the same way for every message, so that the
messages still fit together:

============================  =====================================================
captured                      sent
============================  =====================================================
Call-ID                       a new one (the callee side learns the caller's)
our tag (From, or To of our   a new one, the same for every message that had it
responses)
the peer's tag                the tag the *live* peer gave (learned from its answers)
Via branch                    a new one per transaction; a CANCEL and the ACK of a
                              3xx-6xx keep their INVITE's (§9.1, §17.1.1.3)
Via sent-by, Contact          our socket's address and port
SDP ``c=``, ``o=``, ``m=``    our address and our RTP socket's port
Request-URI of a request in   the live peer's Contact (its *remote target*, §12.1.2)
a dialog
Request-URI naming the        the target's address (a domain such as
captured peer's address       ``sip:bob@example.com`` is kept)
Route                         in a dialog, the live route set from its Record-Route
                              (§12.1.2); outside, none: everything goes to the target
CSeq                          kept (plus one for each challenge answered on the way)
Content-Length                counted again
Authorization                 dropped; answered afresh when the live server challenges
============================  =====================================================

Our responses are built from the *live* request (:func:`~siplab.sip.build.build_response`
copies its Via, From, To, Call-ID, CSeq and Record-Route, §8.2.6) with the
captured status, reason, headers and body.

When a live message arrives in place of a captured one, :meth:`Rewriter.absorb`
learns from it (the peer's tag, its Contact, the route set) and compares what
matters for the dialog: a To tag missing or changed between a 180 and its 200,
a Contact missing, Record-Route differences, a CSeq that does not fit, a body of
another type. Each difference is a :class:`Finding`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from siplab.errors import SipError
from siplab.ids import IdSource
from siplab.sip.auth import Challenge, authorize, challenges_from, choose_challenge
from siplab.sip.build import build_request, build_response, make_via
from siplab.sip.grammar import remove_param, set_param
from siplab.sip.headers import header_key, parse_address, parse_addresses
from siplab.sip.message import Request, Response
from siplab.sip.transport import Peer, uri_host
from siplab.sip.uri import SipUri, parse_uri

__all__ = ["Rewriter", "Finding", "DIALOG_METHODS", "rewrite_sdp", "credentials_for"]

#: Requests that make a dialog, whose answers must carry Contact and a To tag (§12.1).
DIALOG_METHODS = frozenset({"INVITE", "SUBSCRIBE", "REFER"})
#: Headers of a captured request that are never sent as they were.
_DROPPED = frozenset({"via", "route", "record-route", "authorization", "proxy-authorization",
                      "content-length"})
#: Headers a response takes from the live request (build_response) rather than the capture.
_FROM_REQUEST = frozenset({"via", "from", "to", "call-id", "cseq", "record-route",
                           "content-length", "content-type"})
_PORT_RE = re.compile(r"^(\d+)(/\d+)?$")


@dataclass(frozen=True, slots=True)
class Finding:
    """A difference between a captured message and the live one; ``serious`` ones fail it."""

    text: str
    serious: bool = True


def rewrite_sdp(body: bytes, host: str, ports: Sequence[int]) -> bytes:
    """An SDP body with our address in ``o=`` and ``c=`` and our ports in ``m=`` (RFC 8866).

    ``ports[i]`` replaces the port of the i-th ``m=`` line (a port 0, a
    refused stream, stays 0; with no port given for a line, its port stays).
    Every other line is kept byte for byte.
    """
    family = "IP6" if ":" in host else "IP4"
    out = []
    media = -1
    for line in body.decode("utf-8", "replace").split("\n"):
        end = "\r" if line.endswith("\r") else ""
        text = line[:-1] if end else line
        if text.startswith("o="):
            parts = text[2:].split(" ")
            if len(parts) >= 6:
                parts[4:6] = [family, host]
                text = "o=" + " ".join(parts)
        elif text.startswith("c="):
            parts = text[2:].split(" ")
            if len(parts) >= 3:
                text = f"c={parts[0]} {family} {host}"
        elif text.startswith("m="):
            media += 1
            parts = text[2:].split(" ")
            match = _PORT_RE.match(parts[1]) if len(parts) > 1 else None
            if match and match.group(1) != "0" and media < len(ports):
                parts[1] = f"{ports[media]}{match.group(2) or ''}"
                text = "m=" + " ".join(parts)
        elif text.startswith("a=rtcp:") and 0 <= media < len(ports):
            text = f"a=rtcp:{ports[media] + 1}" + (f" IN {family} {host}" if " " in text else "")
        out.append(text + end)
    return "\n".join(out).encode("utf-8")


def credentials_for(request: Request, challenge: Response, *, username: str, password: str,
                    ids: IdSource, nonce_counts: dict[str, int]) -> list[tuple[str, str]]:
    """Fresh ``Authorization``/``Proxy-Authorization`` lines for ``request``, answering the
    challenges of a live 401/407 (§22.2, §22.3): one per realm, the request keeping its
    CSeq and branch (a captured request after a captured challenge, not a retry)."""
    lines = []
    for asked, answer in (("WWW-Authenticate", "Authorization"),
                          ("Proxy-Authenticate", "Proxy-Authorization")):
        realms: dict[str, list[Challenge]] = {}
        for found in challenges_from(challenge, asked):
            realms.setdefault(found.realm, []).append(found)
        for candidates in realms.values():
            chosen = choose_challenge(candidates)
            if chosen is None:
                continue
            nc = nonce_counts[chosen.nonce] = nonce_counts.get(chosen.nonce, 0) + 1
            credentials = authorize(chosen, method=request.method, uri=request.uri_text,
                                    username=username, password=password, ids=ids, nc=nc,
                                    body=request.body)
            lines.append((answer, str(credentials)))
    return lines


class Rewriter:
    """The captured-to-live mapping of one replay (see the module docstring).

    ``local``: our socket (Via, Contact). ``target``: where our requests go;
    a captured Request-URI naming ``captured_peer`` is pointed there instead.
    ``media_host`` and ``media_ports``: our RTP sockets, one per ``m=`` line.
    """

    def __init__(self, *, ids: IdSource, local: Peer, captured_peer: Peer,
                 target: Peer | None, media_host: str, media_ports: Sequence[int]) -> None:
        self.ids = ids
        self.local = local
        self.captured_peer = captured_peer
        self.target = target
        self.media_host = media_host
        self.media_ports = list(media_ports)
        self.call_ids: dict[str, str] = {}
        self.our_tags: dict[str, str] = {}
        self.peer_tags: dict[str, str] = {}  # captured peer tag -> live tag
        self._peer_tag_from: dict[str, str] = {}  # ... and the label of the message that gave it
        self.branches: dict[str, str] = {}
        self.remote_target: str | None = None  # the live peer's Contact URI
        self.route_set: list[str] = []  # Route values for our requests in the dialog
        self._route_set_final = False  # set from a 2xx (or the INVITE): no more changes
        self.cseq_offset = 0  # challenges answered in this replay (each took a CSeq number)

    # -- the mappings ---------------------------------------------------------------------

    def call_id(self, captured: str) -> str:
        if captured not in self.call_ids:
            self.call_ids[captured] = self.ids.call_id(self.local.host)
        return self.call_ids[captured]

    def our_tag(self, captured: str) -> str:
        if captured not in self.our_tags:
            self.our_tags[captured] = self.ids.tag()
        return self.our_tags[captured]

    def peer_tag(self, captured: str) -> str:
        """The live peer's tag for a captured one; the latest live tag if that one was never
        seen (its message went missing), else the captured tag itself."""
        if captured in self.peer_tags:
            return self.peer_tags[captured]
        if self.peer_tags:
            return list(self.peer_tags.values())[-1]
        return captured

    def branch(self, captured: str | None) -> str:
        if captured is None:
            return self.ids.branch()
        if captured not in self.branches:
            self.branches[captured] = self.ids.branch()
        return self.branches[captured]

    # -- what we send ---------------------------------------------------------------------

    def request(self, captured: Request) -> Request:
        """A captured request of ours, rewritten (ACK for a 2xx, BYE, INVITE, REGISTER...)."""
        in_dialog = captured.to_tag is not None
        via = make_via(self.local.transport, self.local.host, self.local.port,
                       self.branch(captured.branch))
        lines: list[tuple[str, str]] = [("Via", via)]
        routes = [("Route", value) for value in self.route_set] if in_dialog else []
        for name, value in captured.headers:
            key = header_key(name)
            if key in _DROPPED:
                continue
            if key == "call-id":
                value = self.call_id(value.strip())
            elif key == "from":
                value = self._retag(value, ours=True)
            elif key == "to":
                value = self._retag(value, ours=False)
            elif key == "cseq":
                number, _, method = value.strip().partition(" ")
                value = f"{int(number) + self.cseq_offset} {method.strip()}"
            elif key == "contact":
                value = self.contact(value)
            lines.append((name, value))
            if key == "max-forwards" and routes:  # Route right after it, as build_request does
                lines.extend(routes)
                routes = []
        lines[1:1] = routes
        body = self.body(captured)
        lines.append(("Content-Length", str(len(body))))
        return Request(captured.method, self._request_uri(captured, in_dialog), lines, body)

    def response(self, captured: Response, live_request: Request) -> Response:
        """Our captured response, answering the live request it stands for (§8.2.6)."""
        extra = []
        for name, value in captured.headers:
            key = header_key(name)
            if key in _FROM_REQUEST or key in ("authorization", "proxy-authorization"):
                continue
            extra.append((name, self.contact(value) if key == "contact" else value))
        to_tag = captured.to_tag
        tag = self.our_tag(to_tag) if to_tag is not None and captured.status != 100 else None
        return build_response(live_request, captured.status, captured.reason, to_tag=tag,
                              headers=extra, body=self.body(captured),
                              content_type=captured.headers.get("Content-Type"))

    def registration(self, aor: SipUri, expires: int, previous: Request | None) -> Request:
        """A REGISTER binding ``aor`` to our address (§10.2), the next of ``previous``."""
        local, host = self.local, uri_host(self.local.host)
        suffix = "" if local.transport == "udp" else f";transport={local.transport}"
        return build_request(
            "REGISTER", f"sip:{aor.host}", from_=f"<{aor.address_of_record}>",
            to=f"<{aor.address_of_record}>", via_host=host, via_port=local.port,
            transport=local.transport, ids=self.ids,
            call_id=previous.call_id if previous is not None else None,
            cseq=previous.cseq.number + 1 if previous is not None else 1,
            contact=f"<sip:{aor.user}@{host}:{local.port}{suffix}>",
            headers=[("Expires", str(expires))])

    def ending(self, invite: Request, answer: Response, cseq: int) -> tuple[Request, Request]:
        """The ACK of ``answer`` (a 2xx to our ``invite``) and a BYE with CSeq ``cseq``, sent
        in its dialog (§13.2.2.4, §15.1.1): to the remote target, along the route set."""
        uri = self.remote_target or invite.uri_text

        def request(method: str, number: int) -> Request:
            return build_request(method, uri, from_=invite.headers.get("From") or "",
                                 to=answer.headers.get("To") or "", ids=self.ids,
                                 via_host=uri_host(self.local.host), via_port=self.local.port,
                                 transport=self.local.transport, call_id=answer.call_id,
                                 cseq=number, route=self.route_set)

        return request("ACK", answer.cseq.number), request("BYE", cseq)

    def body(self, message: Request | Response) -> bytes:
        content_type = (message.headers.get("Content-Type") or "").lower()
        if message.body and "application/sdp" in content_type:
            return rewrite_sdp(message.body, self.media_host, self.media_ports)
        return message.body

    def contact(self, value: str) -> str:
        """A Contact value with our host and port (user and parameters kept)."""
        try:
            addresses = parse_addresses(value)
        except (SipError, ValueError):
            return value
        out = []
        for address in addresses:
            uri = address.uri
            if address.is_wildcard or not isinstance(uri, SipUri):
                out.append(str(address))
                continue
            params = remove_param(uri.params, "transport")
            if self.local.transport != "udp" or uri.transport is not None:
                params = set_param(params, "transport", self.local.transport)
            uri = replace(uri, host=uri_host(self.local.host), port=self.local.port,
                          params=params)
            out.append(str(replace(address, uri=uri)))
        return ", ".join(out)

    def _retag(self, value: str, *, ours: bool) -> str:
        try:
            address = parse_address(value)
        except (SipError, ValueError):
            return value
        tag = address.tag
        if tag is None:
            return value
        live = self.our_tag(tag) if ours else self.peer_tag(tag)
        return str(address.with_param("tag", live))

    def _request_uri(self, captured: Request, in_dialog: bool) -> str:
        if in_dialog and self.remote_target is not None:
            return self.remote_target
        try:
            uri = parse_uri(captured.uri_text)
        except (SipError, ValueError):
            return captured.uri_text
        peer = self.captured_peer
        if self.target is not None and isinstance(uri, SipUri) and \
                uri.host_for_socket == peer.host and (uri.port or 5060) == peer.port:
            # Sent straight to the captured peer's address: send it to the live one.
            return str(replace(uri, host=uri_host(self.target.host), port=self.target.port))
        return captured.uri_text

    # -- what the live side sent ----------------------------------------------------------

    def absorb(self, captured: Request | Response, live: Request | Response,
               sent: Request | None = None) -> list[Finding]:
        """Learn from the live message that stands for ``captured`` and compare the two.

        ``sent``: for a response, the live request it answers (its CSeq must match).
        """
        findings: list[Finding] = []
        try:
            self._learn_call_id(captured, live, findings)
            self._learn_tags(captured, live, findings)
            self._learn_dialog(live)
            findings += _compare(captured, live, sent)
        except (SipError, ValueError) as error:
            findings.append(Finding(f"cannot read the live {live.label}: {error}"))
        return findings

    def _learn_call_id(self, captured: Request | Response, live: Request | Response,
                       findings: list[Finding]) -> None:
        known = self.call_ids.get(captured.call_id)
        if known is None:
            self.call_ids[captured.call_id] = live.call_id  # the peer started the dialog
        elif live.call_id != known:
            findings.append(Finding(f"Call-ID {live.call_id} is not this dialog's ({known})"))

    def _learn_tags(self, captured: Request | Response, live: Request | Response,
                    findings: list[Finding]) -> None:
        # A response carries the peer's tag in To; a request from the peer, in From.
        theirs, name = (captured.to_tag, "To") if isinstance(captured, Response) else \
            (captured.from_tag, "From")
        got = live.to_tag if isinstance(live, Response) else live.from_tag
        if isinstance(live, Request) and captured.to_tag is not None:
            ours = self.our_tags.get(captured.to_tag)
            if ours is not None and live.to_tag != ours:
                findings.append(Finding(f"To tag {live.to_tag} is not ours ({ours})"))
        if theirs is None or (isinstance(live, Response) and live.status == 100):
            return
        if got is None:
            findings.append(Finding(f"{name} tag missing (the captured {captured.label} "
                                    "had one)"))
            return
        before = self.peer_tags.get(theirs)
        if before is not None and before != got:
            findings.append(Finding(f"{name} tag {got} differs from {before} of the "
                                    f"{self._peer_tag_from[theirs]} (the capture kept one tag)"))
            if not (isinstance(live, Response) and live.status < 300):
                return  # keep the earlier tag; a 2xx's tag makes the dialog (§12.1.2)
        self.peer_tags[theirs] = got
        self._peer_tag_from[theirs] = live.label

    def _learn_dialog(self, live: Request | Response) -> None:
        """Remote target and route set (§12.1.1, §12.1.2), from the live side's messages."""
        if isinstance(live, Request):
            if live.contact and live.method != "REGISTER":
                self.remote_target = str(live.contact[0].uri)
            if live.to_tag is None and live.method in DIALOG_METHODS:
                self.route_set = live.headers.get_list("Record-Route")
                self._route_set_final = True
            return
        if live.cseq.method not in DIALOG_METHODS or not 100 < live.status < 300:
            return
        if live.contact:
            self.remote_target = str(live.contact[0].uri)
        if not self._route_set_final:
            self.route_set = list(reversed(live.headers.get_list("Record-Route")))
            self._route_set_final = live.status >= 200


def _compare(captured: Request | Response, live: Request | Response,
             sent: Request | None) -> list[Finding]:
    """The header differences that matter for the dialog (see the module docstring)."""
    findings: list[Finding] = []
    method = captured.method if isinstance(captured, Request) else captured.cseq.method
    if live.cseq.method != method:
        findings.append(Finding(f"CSeq method {live.cseq.method} in answer to {method}"))
    if sent is not None and isinstance(live, Response) and live.cseq.number != sent.cseq.number:
        findings.append(Finding(f"CSeq {live.cseq.number} does not match the request's "
                                f"{sent.cseq.number}"))
    dialog_forming = method in DIALOG_METHODS and (
        isinstance(captured, Request) or 100 < captured.status < 300)
    bindings = method == "REGISTER" and isinstance(captured, Response) and captured.status < 300
    if (dialog_forming or bindings) and captured.contact and not live.contact:
        findings.append(Finding(f"Contact missing (the captured {captured.label} had one)"))
    if dialog_forming:
        findings += _compare_record_route(captured, live)
    captured_type = _content_type(captured)
    live_type = _content_type(live)
    if captured_type and not live_type:
        findings.append(Finding(f"no body (the capture had {captured_type})"))
    elif captured_type and live_type != captured_type:
        findings.append(Finding(f"Content-Type {live_type} (the capture had {captured_type})"))
    elif live_type and not captured_type:
        findings.append(Finding(f"a {live_type} body the capture did not have", serious=False))
    return findings


def _compare_record_route(captured: Request | Response,
                          live: Request | Response) -> list[Finding]:
    """A path that record-routed in the capture must do it live: in-dialog requests go
    through those proxies (§16.6 step 4, §12.1.2). Another count is a note: a proxy more
    or less on the live path, or one that records its route twice because it bridges two
    transports (RFC 5658)."""
    before = len(captured.headers.get_list("Record-Route"))
    now = len(live.headers.get_list("Record-Route"))
    if before == now:
        return []
    if now == 0:
        return [Finding(f"Record-Route missing (the capture had {before})")]
    if before == 0:
        return [Finding(f"{now} Record-Route the capture did not have (a proxy on the live "
                        "path)", serious=False)]
    return [Finding(f"{now} Record-Route, the capture had {before} (another path)",
                    serious=False)]


def _content_type(message: Request | Response) -> str:
    if not message.body:
        return ""
    value = message.headers.get("Content-Type") or "(none)"
    return value.split(";")[0].strip().lower()
