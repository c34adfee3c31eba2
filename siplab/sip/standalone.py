"""A request outside any dialog: MESSAGE and OPTIONS (RFC 3428, RFC 3261 §11, §8.1.3).

The simplest thing a user agent does is send one request that stands alone:
a text MESSAGE (RFC 3428: "instant messaging", a request whose body is the
message) or an OPTIONS (§11: "what do you support?", answered with Allow,
Accept and Supported). No dialog is made, nothing follows; one non-INVITE
transaction carries it, retransmitting over UDP until the final response
(Timer E) or giving up after 64*T1 (Timer F).

The user agent core still has three things to do (§8.1.3): answer a 401/407
once with credentials (a proxy may challenge MESSAGEs like INVITEs), report
a 2xx as :class:`~siplab.sip.events.RequestSucceeded` and anything else, or
silence, as :class:`~siplab.sip.events.RequestFailed`. That is all of
:class:`StandaloneRequest`.
"""

from __future__ import annotations

from collections.abc import Callable

from siplab.ids import IdSource
from siplab.sip.addressing import Origin
from siplab.sip.build import build_request
from siplab.sip.events import Event, RequestFailed, RequestSucceeded
from siplab.sip.headers import Address
from siplab.sip.message import Request, Response

__all__ = ["StandaloneRequest"]

#: ``authorize(request, challenge)``: the request again with credentials, or None.
Authorize = Callable[[Request, Response], "Request | None"]


class StandaloneRequest:
    """One MESSAGE or OPTIONS outside any dialog, waiting for its final response."""

    __slots__ = ("kind", "request", "retried")

    def __init__(self, request: Request) -> None:
        self.kind = request.method
        self.request = request
        self.retried = False  # a challenge is answered once

    @classmethod
    def build(cls, method: str, target: Address, *, sender: Address, origin: Origin,
              ids: IdSource, body: bytes = b"", content_type: str | None = None,
              user_agent: str | None = None) -> StandaloneRequest:
        """A new request to ``target`` with a fresh Call-ID, From tag and branch (§8.1.1)."""
        request = build_request(
            method, target.uri, from_=sender, to=target, via_host=origin.via_host,
            via_port=origin.via_port, transport=origin.via_transport, ids=ids, body=body,
            content_type=content_type if body else None, user_agent=user_agent,
        )
        return cls(request)

    def on_response(self, response: Response,
                    authorize: Authorize) -> tuple[Request | None, Event | None]:
        """Take a response: (the request to send again, the event to report), either None."""
        if response.status < 200:
            return None, None
        if response.status in (401, 407) and not self.retried:
            retry = authorize(self.request, response)
            if retry is not None:
                self.request, self.retried = retry, True
                return retry, None
        if response.status < 300:
            return None, RequestSucceeded(self.kind, self.request, response)
        return None, RequestFailed(self.kind, self.request, response.status, response.reason)

    def on_failure(self, cause: str) -> Event:
        """No final response came (``cause`` "timeout"), or the transport failed."""
        return RequestFailed(self.kind, self.request, None, f"no response ({cause})")
