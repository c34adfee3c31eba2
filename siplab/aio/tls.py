"""TLS for the lab: a self-signed certificate made on first use, and the SSL contexts.

SIP over TLS (``sips:``, RFC 3261 §26.2, port 5061) and SIP over secure
WebSocket (``wss://``, RFC 7118) wrap the same messages in TLS: the client
checks that the server holds the private key of a certificate it trusts, for
the name it connected to, and then everything on the connection is encrypted
(a capture shows TLS records, not SIP; that is the point).

A certificate is normally signed by a certificate authority the client
already trusts. A lab on a laptop has none, so :func:`lab_certificate` makes
a *self-signed* one: an ECDSA P-256 key and a certificate for ``localhost``,
``127.0.0.1`` and ``::1`` (in its subjectAltName, which is what clients
check), valid for a year, written once to ``~/.cache/siplab/tls/`` (or
``$XDG_CACHE_HOME/siplab/tls``, or a directory you give) and reused while it
is valid. The key file is readable by its owner only.

Nobody trusts a self-signed certificate by default. siplab's own user agent
trusts the lab's (:func:`client_context` adds it to the system's authorities);
a browser must be told once (open ``https://127.0.0.1:8443/`` and accept it),
or given a certificate made with ``mkcert``: pass ``tls_cert``/``tls_key`` to
:class:`~siplab.aio.server.LabServer` (``--tls-cert``/``--tls-key``).
``verify=False`` turns every check off; only ask for it knowingly.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "CertificatePair",
    "lab_certificate",
    "default_tls_dir",
    "server_context",
    "client_context",
    "LAB_NAMES",
]

#: The names the lab certificate is made for (subjectAltName).
LAB_NAMES = ("localhost", "127.0.0.1", "::1")
#: A certificate this close to its end is made again.
_RENEW_BEFORE = datetime.timedelta(days=7)
_VALIDITY = datetime.timedelta(days=365)


@dataclass(frozen=True, slots=True)
class CertificatePair:
    """Where a certificate (PEM) and its private key (PEM) are."""

    cert: Path
    key: Path


def default_tls_dir() -> Path:
    """``$XDG_CACHE_HOME/siplab/tls``, else ``~/.cache/siplab/tls``."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "siplab" / "tls"


def lab_certificate(directory: str | os.PathLike[str] | None = None, *,
                    names: tuple[str, ...] = LAB_NAMES) -> CertificatePair:
    """The lab's self-signed certificate in ``directory``, made now if missing or expiring."""
    folder = Path(directory) if directory is not None else default_tls_dir()
    pair = CertificatePair(folder / "lab-cert.pem", folder / "lab-key.pem")
    if not _still_good(pair):
        _make(pair, names)
    return pair


def _still_good(pair: CertificatePair) -> bool:
    if not (pair.cert.exists() and pair.key.exists()):
        return False
    from cryptography import x509

    try:
        certificate = x509.load_pem_x509_certificate(pair.cert.read_bytes())
    except ValueError:
        return False
    now = datetime.datetime.now(datetime.UTC)
    return certificate.not_valid_after_utc - now > _RENEW_BEFORE


def _make(pair: CertificatePair, names: tuple[str, ...]) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "siplab lab server"),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "siplab (self-signed)")])
    alternatives: list[x509.GeneralName] = []
    for name in names:
        try:
            alternatives.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alternatives.append(x509.DNSName(name))
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)  # self-signed: it vouches for itself
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.SubjectAlternativeName(alternatives), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )
    pair.cert.parent.mkdir(parents=True, exist_ok=True)
    key_bytes = key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption())
    descriptor = os.open(pair.key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(key_bytes)
    pair.cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))


def server_context(pair: CertificatePair) -> ssl.SSLContext:
    """The context a TLS or WSS listener presents ``pair`` with."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pair.cert, pair.key)
    return context


def client_context(*, ca_file: str | os.PathLike[str] | None = None,
                   verify: bool = True) -> ssl.SSLContext:
    """The context a user agent connects with: the system's authorities, plus ``ca_file``
    (default: the lab certificate, if one was made). ``verify=False`` checks nothing."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    trusted = Path(ca_file) if ca_file is not None else default_tls_dir() / "lab-cert.pem"
    if trusted.exists():
        context.load_verify_locations(cafile=trusted)
    elif ca_file is not None:
        raise FileNotFoundError(f"no certificate at {trusted}")
    return context
