"""HTTPS for the fake apiserver: a throw-away CA and a serving certificate for loopback.

:func:`generate` makes, in memory, a self-signed CA (``kcs-fake-ca``, valid one day) and a
serving certificate it signed for ``127.0.0.1``, ``::1``, ``localhost`` and the in-cluster
names (``kubernetes``, ``kubernetes.default``, ``kubernetes.default.svc``, ...), as a
kube-apiserver's. The CA's key is thrown away at once: nothing else can ever be signed by
it. Uses the ``cryptography`` package (imported only when HTTPS is asked for).
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ServingCertificate", "generate", "server_context"]

_DNS = ("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local")


@dataclass(frozen=True, slots=True)
class ServingCertificate:
    """PEM bytes: the CA certificate (what clients trust), the serving certificate and its
    private key (what the server presents)."""

    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes


def generate(host: str = "127.0.0.1") -> ServingCertificate:
    """A fresh CA and a serving certificate for ``host`` and the loopback names."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)
    start, end = now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=1)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kcs-fake-ca")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    ips = {ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")}
    with contextlib.suppress(ValueError):
        ips.add(ipaddress.ip_address(host))
    names: list[x509.GeneralName] = [x509.DNSName(d) for d in _DNS]
    names += [x509.IPAddress(ip) for ip in sorted(ips, key=str)]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(end)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    return ServingCertificate(
        ca.public_bytes(pem),
        cert.public_bytes(pem),
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                          serialization.NoEncryption()),
    )


def server_context(certificate: ServingCertificate) -> ssl.SSLContext:
    """A TLS server context presenting ``certificate`` (TLS 1.2 or newer)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = Path(tmp) / "tls.crt", Path(tmp) / "tls.key"
        cert.write_bytes(certificate.cert_pem)
        key.write_bytes(certificate.key_pem)
        key.chmod(0o600)
        ctx.load_cert_chain(cert, key)
    return ctx
