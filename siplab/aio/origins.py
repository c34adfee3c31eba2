"""Which web pages may open a SIP WebSocket to the lab server: the Origin check (RFC 6455 §10.2).

A browser lets *any* page it shows open a WebSocket to any address, the lab
server on ``ws://127.0.0.1:8080`` included: a page from some other site,
open in a student's browser, could register as the student's phone or place
calls. What the browser does add is the page's **Origin** in the handshake
(``Origin: http://127.0.0.1:8000``), and a server that cares refuses the
origins it does not know (RFC 6455 §4.2.2 and §10.2, RFC 7118 §7).

:class:`OriginPolicy` decides, for each handshake:

* no ``Origin`` at all: a client that is not a browser (siplab's own user
  agent, sipp, a test): allowed, such clients are not tricked into anything;
* with an allow-list (``LabServer(ws_origins=[...])``, ``siplab server
  --ws-origin URL``): exactly those origins (``scheme://host:port``, compared
  without case), or any with ``"*"``;
* without one (the default): pages from the *same host* as the server, the
  host the browser connected to (its ``Host`` header). A page on loopback
  (``localhost``, ``127.0.0.1``, ``::1``) may reach a server on loopback
  whatever the spelling, since both are this machine.

A refused handshake gets ``403 Forbidden``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

__all__ = ["OriginPolicy"]


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _host_of_header(host_header: str) -> str:
    """``127.0.0.1:8080`` -> ``127.0.0.1``; ``[::1]:8080`` -> ``::1``."""
    text = host_header.strip()
    if text.startswith("["):
        return text[1:].partition("]")[0].lower()
    return text.rpartition(":")[0].lower() if text.count(":") == 1 else text.lower()


class OriginPolicy:
    """Allowed WebSocket origins: a list, ``"*"``, or (None) the same host (module doc)."""

    def __init__(self, allowed: Iterable[str] | None = None) -> None:
        self.allowed = (None if allowed is None
                        else frozenset(origin.strip().rstrip("/").lower() for origin in allowed))

    def __repr__(self) -> str:
        shown = "same host" if self.allowed is None else ", ".join(sorted(self.allowed))
        return f"<OriginPolicy {shown}>"

    def allows(self, origin: str | None, host_header: str | None) -> bool:
        """True if a handshake with ``Origin: origin`` to ``Host: host_header`` may go on."""
        if origin is None:
            return True  # not a browser
        wanted = origin.strip().rstrip("/").lower()
        if self.allowed is not None:
            return "*" in self.allowed or wanted in self.allowed
        try:
            page_host = (urlsplit(wanted).hostname or "").lower()
        except ValueError:
            return False
        server_host = _host_of_header(host_header or "")
        if not page_host or not server_host:
            return False  # "null" (a file:// page, a sandbox) or no Host: not the same host
        return page_host == server_host or (_is_loopback(page_host) and
                                            _is_loopback(server_host))
