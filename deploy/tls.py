"""Certificates for the frontend's mTLS: a private CA, the frontend's certificate, client certificates.

Made once per state directory (`<state>/tls/`), kept while they have more than a week to live.
Keys are EC P-256 in PKCS#8 PEM, readable by their owner only.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = timedelta(days=90)
RENEW_BEFORE = timedelta(days=7)
# The clients that get a certificate: the app's processes, Temporal's own system worker, the Web UI.
CLIENTS = ("returns-app", "temporal-system-worker", "temporal-ui")


@dataclass(frozen=True)
class CertificatePair:
    cert: Path
    key: Path


@dataclass(frozen=True)
class TLSFiles:
    ca: Path
    server: CertificatePair
    clients: dict[str, CertificatePair]
    server_name: str

    def client(self, name: str) -> CertificatePair:
        return self.clients[name]


def ensure_certificates(directory: Path, server_name: str) -> TLSFiles:
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    files = TLSFiles(
        ca=directory / "ca.pem",
        server=_pair(directory, "frontend"),
        clients={name: _pair(directory, name) for name in CLIENTS},
        server_name=server_name,
    )
    pairs = [files.server, *files.clients.values()]
    if _still_good(files.ca) and all(_still_good(pair.cert) and pair.key.exists() for pair in pairs):
        return files
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = _certificate("returns-on-temporal local CA", ca_key.public_key(), ca_key, None, is_ca=True)
    _write(files.ca, ca_cert.public_bytes(serialization.Encoding.PEM))
    server_names = [
        x509.DNSName(server_name),
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    ]
    _issue(files.server, server_name, ca_cert, ca_key, ExtendedKeyUsageOID.SERVER_AUTH, server_names)
    for name, pair in files.clients.items():
        _issue(pair, name, ca_cert, ca_key, ExtendedKeyUsageOID.CLIENT_AUTH, [x509.DNSName(name)])
    return files


def _pair(directory: Path, name: str) -> CertificatePair:
    return CertificatePair(cert=directory / f"{name}.pem", key=directory / f"{name}-key.pem")


def _still_good(cert_file: Path) -> bool:
    if not cert_file.exists():
        return False
    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    return cert.not_valid_after_utc - datetime.now(UTC) > RENEW_BEFORE


def _issue(
    pair: CertificatePair,
    common_name: str,
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    usage: x509.ObjectIdentifier,
    alt_names: list[x509.GeneralName],
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _certificate(common_name, key.public_key(), ca_key, ca_cert, usage=usage, alt_names=alt_names)
    _write(pair.cert, cert.public_bytes(serialization.Encoding.PEM))
    _write(
        pair.key,
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
        private=True,
    )


def _certificate(
    common_name: str,
    public_key: ec.EllipticCurvePublicKey,
    signing_key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate | None,
    *,
    is_ca: bool = False,
    usage: x509.ObjectIdentifier | None = None,
    alt_names: list[x509.GeneralName] | None = None,
) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject if issuer else subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))  # tolerate a little clock skew
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=0 if is_ca else None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )
    if is_ca:
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
    else:
        builder = builder.add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True
        )
    if issuer is not None:
        issuer_key_id = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer_key_id), critical=False
        )
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if alt_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
    return builder.sign(signing_key, hashes.SHA256())


def _write(path: Path, data: bytes, private: bool = False) -> None:
    path.write_bytes(data)
    path.chmod(0o600 if private else 0o644)
