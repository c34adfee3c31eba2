"""SIP over TLS and secure WebSocket with the lab's self-signed certificate (§26.2, RFC 7118).

The lab server makes an ECDSA certificate for localhost, 127.0.0.1 and ::1
on first start (here in a temporary directory) and presents it on its
``tls=`` and ``wss=`` listeners; siplab's user agent trusts it when told
(``tls_ca``), refuses a server it cannot verify, and skips the check only when
asked (``tls_verify=False``). A phone on wss:// and one on tls:// register and
call each other through the server, which bridges the two.
"""

from __future__ import annotations

import ssl
import stat
from pathlib import Path

import pytest

from siplab.aio.server import LabServer
from siplab.aio.tls import lab_certificate
from siplab.aio.useragent import UserAgent
from siplab.ids import IdSource
from siplab.lab import Trace
from siplab.sip.registration import RegistrationState
from tests.security.lab import LOOPBACK, USERS, run


def secure_server(tls_dir: Path, trace: Trace | None = None) -> LabServer:
    return LabServer(tls=[(LOOPBACK, 0)], wss=[(LOOPBACK, 0)], users=USERS,
                     ids=IdSource("tls-lab"), tls_dir=tls_dir, trace=trace)


def phone(server: LabServer, name: str, transport: str, **options: object) -> UserAgent:
    peer = server.address(transport)
    assert peer is not None
    path = "/" if transport == "wss" else ""
    options.setdefault("tls_ca", server.tls_certificate.cert if server.tls_certificate else None)
    return UserAgent(f"sip:{name}@{LOOPBACK}", USERS[name],
                     transport=f"{transport}://{peer.host}:{peer.port}{path}",
                     ids=IdSource(f"tls-{name}"), media=False, **options)  # type: ignore[arg-type]


def test_lab_certificate_is_made_once_for_the_loopback_names(tmp_path: Path) -> None:
    from cryptography import x509

    pair = lab_certificate(tmp_path)
    assert stat.S_IMODE(pair.key.stat().st_mode) == 0o600  # the key: its owner only
    certificate = x509.load_pem_x509_certificate(pair.cert.read_bytes())
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1", "::1"]
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    made = pair.cert.read_bytes()
    assert lab_certificate(tmp_path).cert.read_bytes() == made  # reused, not made again


def test_phones_on_wss_and_tls_register_and_call_each_other(tmp_path: Path) -> None:
    async def scenario() -> None:
        trace = Trace()
        async with secure_server(tmp_path, trace) as server, \
                phone(server, "alice", "wss") as alice, phone(server, "bob", "tls") as bob:
            assert server.tls_certificate is not None
            assert server.tls_certificate.cert.parent == tmp_path
            assert [url.split(":")[0] for url in server.ws_urls] == ["wss"]
            await alice.register(timeout=5)
            await bob.register(timeout=5)
            assert alice.registerer().state is RegistrationState.Registered
            assert {b.source.transport for b in server.core.location} == {"wss", "tls"}
            call = await alice.call("bob")
            invitation = await bob.next_invitation(timeout=5)
            await invitation.accept()
            await call.established(timeout=5)
            assert await call.bye(timeout=5) == "bye"
            vias = {m.message.top_via.transport for m in trace.messages
                    if m.label == "INVITE"}
            assert vias == {"WSS", "TLS"}  # alice's leg and bob's leg

    run(scenario())


@pytest.mark.parametrize("transport", ["wss", "tls"])
def test_a_server_whose_certificate_is_not_trusted_is_refused(transport: str,
                                                             tmp_path: Path) -> None:
    async def scenario() -> None:
        stranger = lab_certificate(tmp_path / "another")  # some other self-signed certificate
        async with secure_server(tmp_path) as server:
            ua = phone(server, "alice", transport, tls_ca=stranger.cert)
            with pytest.raises(ssl.SSLCertVerificationError):
                await ua.start()
            assert not ua.running

    run(scenario())


def test_verify_false_connects_without_checking(tmp_path: Path) -> None:
    async def scenario() -> None:
        stranger = lab_certificate(tmp_path / "another")
        async with secure_server(tmp_path) as server, \
                phone(server, "alice", "wss", tls_ca=stranger.cert, tls_verify=False) as alice:
            await alice.register(timeout=5)

    run(scenario())
