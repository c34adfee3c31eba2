"""Who a user agent is and how it behaves: :class:`UserAgentConfig`, and secrets kept out of logs.

The configuration a SIP phone asks for, as JsSIP's and SIP.js's UA options do:
the address of record (``sip:alice@example.com``, the name people call), the
digest user name and password for the registrar or proxy that challenges us
(RFC 3261 §22), the transport address we send from, an optional outbound proxy
(every request outside a dialog goes there), the Contact to register, how long
a registration should last, and the methods we accept (the Allow header).

A password must never reach a log or a notebook output: the ``repr`` of a
config shows ``password=NOT SHOWN``, and :func:`redact` blanks secrets in any
text about to be logged. (The messages themselves never hold the password:
digest sends a hash.)
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from siplab.errors import LocalProtocolError
from siplab.sip.timers import TimerConfig
from siplab.sip.transport import Peer
from siplab.sip.uri import SipUri, parse_uri

__all__ = [
    "UserAgentConfig",
    "DEFAULT_ALLOW",
    "HIDDEN",
    "redact",
]

#: The methods a user agent accepts by default (the Allow header); the other
#: :data:`~siplab.sip.uas_checks.KNOWN_METHODS` get 405.
DEFAULT_ALLOW = ("INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "INFO", "REFER", "NOTIFY",
                 "MESSAGE")
HIDDEN = "NOT SHOWN"


def redact(text: str, *secrets: str | None) -> str:
    """``text`` with every secret replaced by ``NOT SHOWN``, for logs (JsSIP does the same)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, HIDDEN)
    return text


@dataclass(frozen=True, repr=False)
class UserAgentConfig:
    """Who the user agent is and how it behaves. ``aor`` and ``contact`` may be strings.

    ``local`` is the transport address we send from (it may be given later, with
    :meth:`UserAgentCore.set_local`, once a socket is bound); ``outbound`` the
    proxy every out-of-dialog request goes to (None: straight to the
    Request-URI's host and port). ``password`` never shows in ``repr``.
    """

    aor: SipUri
    username: str | None = None  # the digest user name; default: the user part of aor
    password: str | None = field(default=None, compare=False)
    display_name: str | None = None
    local: Peer | None = None
    outbound: Peer | None = None
    contact: SipUri | None = None  # default: sip:user@local.host:local.port;transport=x
    user_agent: str | None = "siplab/0.1"
    register_expires: int = 600
    auto_answer: bool = False  # ring then answer every call (with an empty body)
    keepalive_interval: float | None = None  # in-dialog OPTIONS every so many seconds
    timers: TimerConfig | None = None
    allow: tuple[str, ...] = DEFAULT_ALLOW

    def __post_init__(self) -> None:
        for name in ("aor", "contact"):
            value = getattr(self, name)
            if isinstance(value, str):
                parsed = parse_uri(value)
                if not isinstance(parsed, SipUri):
                    raise LocalProtocolError(f"{name} must be a sip: or sips: URI, not {value}")
                object.__setattr__(self, name, parsed)

    @property
    def auth_user(self) -> str:
        return self.username or self.aor.user or ""

    def __repr__(self) -> str:
        parts = []
        for item in fields(self):
            value = getattr(self, item.name)
            shown = HIDDEN if item.name == "password" and value is not None else repr(value)
            parts.append(f"{item.name}={shown}")
        return f"UserAgentConfig({', '.join(parts)})"
