"""The places where siplab reaches past aiortc's public API, each one explained.

siplab's WebRTC path (:mod:`siplab.aio.webrtc`) is aiortc's ``RTCPeerConnection``
used through its W3C-style API: tracks, transceivers, codec preferences,
``createOffer``/``createAnswer``, data channels. Three things a SIP lab needs
are not in that API (aiortc 1.16, aioice 0.13), and a fourth follows from the
second; they are done here, and only here, so that a student (or an aiortc
upgrade) finds them in one page.

1. **ICE host candidates on loopback** (RFC 8445 §5.1.1.1). aioice gathers one
   host candidate per address of the machine, from ``aioice.ice.get_host_addresses``,
   which leaves out 127.0.0.1 and ::1 on purpose (a loopback candidate is useless
   between two machines). In a classroom sandbox, on an offline laptop or inside
   ``unshare --net``, loopback is the *only* address, and two siplab phones (or a
   browser run with ``--allow-loopback-in-peer-connection``) on the same machine
   must meet there; and when the lab runs on 127.0.0.1, siplab must not send ICE
   checks to the machine's other addresses either. aiortc's ``RTCConfiguration``
   has no setting for the addresses, and aioice's ``Connection`` is created inside
   aiortc, so the supported knobs cannot reach it. siplab therefore wraps
   ``aioice.ice.get_host_addresses`` once (a public function of aioice's module,
   not a private attribute) with :func:`host_addresses_scope`: inside that scope,
   a :class:`contextvars.ContextVar` names the addresses to gather, and outside it
   the wrapper calls the original unchanged, so any other aiortc user of the
   process sees aioice's normal behaviour. The scope is set around
   ``setLocalDescription`` (where aiortc gathers), and the gathering tasks
   aiortc starts inherit it, as asyncio tasks inherit the context.
2. **Hearing RFC 4733 DTMF, and playing the audio.** aiortc has no
   telephone-event support: its RTP router drops a payload type it did not
   negotiate. :func:`tap_rtp` wraps the ``_handle_rtp_data`` method of *one*
   ``RTCDtlsTransport`` instance (the call's), so siplab sees each decrypted
   RTP packet first: telephone-events go to siplab's DTMF receiver, and audio
   packets to siplab's RFC 3550 statistics (loss, jitter) and its playout
   (jitter buffer, decoders), as on the plain path; neither goes on to aiortc,
   which decodes only the video.
3. **Sending RFC 4733 DTMF.** :func:`send_rtp` hands an RTP packet siplab
   built to the transport's ``_send_rtp``, which SRTP-protects it (RFC 3711)
   and sends it on the ICE pair, exactly as aiortc's own sender does. The same
   call sends siplab's RTCP receiver reports about the audio it plays: aiortc's
   ``_send_rtp`` tells RTCP from RTP (RFC 5761 §4) and protects it as SRTCP.
4. **Reading the peer's RTCP** (RFC 3550 §6.4). :func:`tap_rtcp` shows each
   decrypted RTCP compound of the call's transport to siplab
   (:mod:`siplab.aio.webrtc_rtcp`: the peer's SR sets the LSR our reports echo)
   and then hands it on to aiortc's router unchanged.

Also here: :func:`peer_configuration`, the ``RTCConfiguration`` siplab uses: no
STUN or TURN server (aiortc would otherwise ask ``stun.l.google.com``, out of
reach of a lab and of this machine's rules) and ``max-bundle`` (one ICE
transport, one socket, for audio, video and the data channel: RFC 9143).
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from typing import Any

import aioice.ice
from aiortc import RTCBundlePolicy, RTCConfiguration
from aiortc.rtcdtlstransport import RTCDtlsTransport

__all__ = [
    "peer_configuration",
    "host_addresses_scope",
    "ice_addresses_for",
    "machine_addresses",
    "tap_rtp",
    "send_rtp",
    "tap_rtcp",
    "RtpTap",
    "RtcpTap",
]

logger = logging.getLogger("siplab.webrtc")

#: The addresses aioice gathers host candidates on inside :func:`host_addresses_scope`.
_SCOPED_ADDRESSES: ContextVar[tuple[str, ...] | None] = ContextVar(
    "siplab_ice_host_addresses", default=None)

#: Marks the wrapper, so that installing it twice keeps one layer.
_WRAPPER_FLAG = "_siplab_scoped"

#: Called with each decrypted RTP packet and its arrival (ms); True means "consumed".
RtpTap = Callable[[bytes, int], bool]

#: Called with each decrypted RTCP compound, which then goes on to aiortc.
RtcpTap = Callable[[bytes], None]


def peer_configuration() -> RTCConfiguration:
    """No STUN/TURN servers (host candidates only), one bundled transport."""
    return RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)


def _original_host_addresses() -> Callable[[bool, bool], list[str]]:
    current: Callable[[bool, bool], list[str]] = aioice.ice.get_host_addresses
    inner = getattr(current, "__wrapped__", None)
    return inner if getattr(current, _WRAPPER_FLAG, False) and inner is not None else current


def _install() -> None:
    """Wrap aioice's address lookup once per process (see the module docstring, 1)."""
    if getattr(aioice.ice.get_host_addresses, _WRAPPER_FLAG, False):
        return
    original = aioice.ice.get_host_addresses

    def scoped(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        chosen = _SCOPED_ADDRESSES.get()
        if chosen is None:
            return original(use_ipv4, use_ipv6)
        return [a for a in chosen if (use_ipv6 if ":" in a else use_ipv4)]

    scoped.__wrapped__ = original  # type: ignore[attr-defined]
    setattr(scoped, _WRAPPER_FLAG, True)
    aioice.ice.get_host_addresses = scoped


@contextlib.contextmanager
def host_addresses_scope(addresses: Sequence[str]) -> Iterator[None]:
    """Inside, aioice gathers host candidates on ``addresses`` only (127.0.0.1 allowed)."""
    _install()
    token = _SCOPED_ADDRESSES.set(tuple(addresses))
    try:
        yield
    finally:
        _SCOPED_ADDRESSES.reset(token)


def machine_addresses() -> list[str]:
    """The addresses aioice would gather on by itself (loopback left out, as it does)."""
    return list(_original_host_addresses()(True, True))


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def ice_addresses_for(local_host: str) -> list[str]:
    """Where a call's ICE agent gathers: ``local_host`` if it is loopback, else the machine's.

    A user agent whose SIP socket is on 127.0.0.1 talks to a lab on this
    machine: its media stays on loopback too. Elsewhere aioice's own choice is
    kept, with 127.0.0.1 added when the machine has no other address at all
    (a loopback-only network namespace).
    """
    if _is_loopback(local_host):
        return ["::1" if ":" in local_host else "127.0.0.1"]
    return machine_addresses() or ["127.0.0.1"]


def tap_rtp(transport: RTCDtlsTransport, tap: RtpTap) -> None:
    """Let ``tap`` see every decrypted RTP packet of ``transport`` before aiortc routes it.

    Instance-level: only this transport (this call) is affected. A packet the
    tap consumes (returns True for) goes no further.
    """
    original: Callable[..., Any] = transport._handle_rtp_data
    if getattr(original, "_siplab_tap", None) is tap:
        return

    async def tapped(data: bytes, arrival_time_ms: int) -> None:
        if tap(data, arrival_time_ms):
            return
        await original(data, arrival_time_ms=arrival_time_ms)

    tapped._siplab_tap = tap  # type: ignore[attr-defined]
    transport._handle_rtp_data = tapped  # type: ignore[method-assign]


def tap_rtcp(transport: RTCDtlsTransport, tap: RtcpTap) -> None:
    """Let ``tap`` see every decrypted RTCP compound of ``transport``, then aiortc routes it.

    Instance-level, like :func:`tap_rtp`; the tap only looks: aiortc's senders
    still read the peer's report blocks (its ``remote-inbound-rtp`` statistics).
    """
    original: Callable[..., Any] = transport._handle_rtcp_data
    if getattr(original, "_siplab_tap", None) == tap:
        return

    async def tapped(data: bytes) -> None:
        try:
            tap(data)
        except Exception:  # a bug in siplab's reading must not stop aiortc's receive loop
            logger.exception("siplab could not read an RTCP compound")
        await original(data)

    tapped._siplab_tap = tap  # type: ignore[attr-defined]
    transport._handle_rtcp_data = tapped  # type: ignore[method-assign]


async def send_rtp(transport: RTCDtlsTransport, packet: bytes) -> bool:
    """SRTP-protect and send one RTP (or SRTCP-protect one RTCP) packet siplab built; False
    if the transport is down."""
    try:
        await transport._send_rtp(packet)
    except ConnectionError:
        return False
    return True
