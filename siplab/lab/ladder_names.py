"""Who is who on a ladder: the name over each lifeline (RFC 3261 §8.1.1.8, §16.6, §20.41).

A capture knows endpoints only by transport address (``192.0.2.4:5060``); a
student wants to read "alice", "bob" and "Kamailio". The messages say who
they are, if one reads the right header from the right sender.
:func:`endpoint_names` picks, for each address, the first of:

1. the SIP user of a **Contact** that points at that very address: a user
   agent says "reach me here" (§8.1.1.8, §10.2.1);
2. the **From** user of a request it started itself -- one Via, since every
   proxy on the way adds its own (§16.6 step 8);
3. its **User-Agent** (§20.41) or **Server** (§20.35) product, ``Kamailio``
   from ``Kamailio (5.6.3 (x86_64/linux))``;
4. else the address itself.

A **proxy** (it sends requests with more than one Via) passes on the From,
Contact and User-Agent of what it forwards, so it is named only by what it
surely wrote itself: the User-Agent of a request it started (a CANCEL,
§16.10), or the Server of a 100 Trying (never forwarded, §16.7 step 3) or of
its answer to a REGISTER. Names given by the caller (``names=``, a
SimNetwork's node names) come before all of these.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from siplab.errors import SipError
from siplab.lab.ladder_sources import SourceRow
from siplab.sip.message import Request, Response
from siplab.sip.transport import default_port
from siplab.sip.uri import SipUri

__all__ = ["endpoint_names", "host_port", "shorten"]


def host_port(address: str) -> str:
    return address.split(" ", 1)[0].lower()


def _product(value: str) -> str:
    """``Kamailio (5.6.3 (x86_64/linux))`` -> ``Kamailio``; ``baresip v1.0`` -> ``baresip``."""
    token = value.strip().split(" ", 1)[0].split("/", 1)[0]
    return shorten(token, 20)


def endpoint_names(rows: Sequence[SourceRow], hints: Mapping[str, str]) -> dict[str, str]:
    """The automatic name of each endpoint key (see the module docstring for the order).

    An endpoint that forwards requests (it sends requests with more than one
    Via, §16.6 step 8) is a proxy. A proxy passes on the From, Contact and
    User-Agent of the requests it forwards and the Server of the responses,
    so it is named only by what it surely wrote itself: the User-Agent of a
    request it started (one Via: a CANCEL, §16.10) or the Server of a 100
    Trying (never forwarded, §16.7 step 3) or of its answer to a REGISTER.
    """
    by_contact: dict[str, str] = {}
    by_from: dict[str, str] = {}
    by_user_agent: dict[str, str] = {}  # requests it started
    by_own_server: dict[str, str] = {}  # responses it surely made
    by_server: dict[str, str] = {}  # any response it sent
    forwarders: set[str] = set()
    for row in rows:
        message = row.message
        if message is None:
            continue
        try:
            for contact in message.contact:
                uri = contact.uri
                if isinstance(uri, SipUri) and uri.user:
                    port = uri.port or default_port(uri.transport or "udp")
                    if f"{uri.host}:{port}".lower() == host_port(row.src_address):
                        by_contact.setdefault(row.src, uri.user)
            if isinstance(message, Request):
                if message.via_count > 1:
                    forwarders.add(row.src)
                    continue
                product = message.headers.get("User-Agent")
                if product:
                    by_user_agent.setdefault(row.src, _product(product))
                uri = message.from_.uri
                if message.method not in ("ACK", "CANCEL") and isinstance(uri, SipUri) \
                        and uri.user:
                    by_from.setdefault(row.src, uri.user)
            elif isinstance(message, Response):
                product = message.headers.get("Server")
                if product:
                    own = message.status == 100 or message.cseq.method == "REGISTER"
                    (by_own_server if own else by_server).setdefault(row.src, _product(product))
        except SipError:
            continue
    names: dict[str, str] = {}
    for row in rows:
        for key, address in ((row.src, row.src_address), (row.dst, row.dst_address)):
            if key in names:
                continue
            if key in forwarders:
                found = by_own_server.get(key) or by_user_agent.get(key)
            else:
                found = (by_contact.get(key) or by_from.get(key) or by_user_agent.get(key)
                         or by_own_server.get(key) or by_server.get(key))
            names[key] = hints.get(key) or found or address
    return names


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
