"""A throw-away key and certificate for the sandbox's STARTTLS, made in-process.

``cryptography`` makes the key and signs the certificate: the same on every OS, no
`openssl` binary on PATH, no config file to write around LibreSSL/OpenSSL differences. The
certificate is self-signed and also marked as a CA, so the very same file is what a client
passes as `--cafile` to verify the sandbox (strict X.509 checks, as Python 3.13 enables by
default, accept it).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from smtpsh.protocol.errors import SmtpshError

SUBJECT_ORG = "smtpsh sandbox"
SUBJECT_CN = "localhost"
SUBJECT_DNS_NAMES = ("localhost",)
SUBJECT_IP_ADDRESSES = ("127.0.0.1", "::1")
VALID_DAYS = 30
# Backdated a little: a client whose clock is a few minutes behind still accepts it.
BACKDATE = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class CertFiles:
    cert: Path
    key: Path


class CertError(SmtpshError):
    """The certificate could not be made; the message is one line for the user."""

    fault = "local"


async def make_certificate(directory: Path) -> CertFiles:
    """Write cert.pem and key.pem into `directory` (which should be private, mode 0700)."""
    # Key generation and signing take a few ms (EC P-256); a thread keeps the loop free.
    try:
        return await asyncio.to_thread(write_certificate, directory)
    except ImportError as exc:  # a broken install: the sandbox starts without STARTTLS
        raise CertError(f"cannot load the cryptography package: {exc}") from None


def write_certificate(directory: Path) -> CertFiles:
    """The blocking part of make_certificate: the key is written mode 0600 from the start."""
    cert_pem, key_pem = certificate_pem()
    files = CertFiles(cert=directory / "cert.pem", key=directory / "key.pem")
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
        fd = os.open(files.key, flags, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(key_pem)
        files.cert.write_bytes(cert_pem)
    except OSError as exc:
        raise CertError(f"cannot write it in {directory}: {exc.strerror or exc}") from None
    return files


def certificate_pem(now: dt.datetime | None = None) -> tuple[bytes, bytes]:
    """(certificate, private key), both PEM: an EC P-256 key, self-signed, CA:TRUE."""
    # Imported here: only a sandbox with TLS pays for cryptography (~25 ms).
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = now or dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, SUBJECT_ORG),
            x509.NameAttribute(NameOID.COMMON_NAME, SUBJECT_CN),
        ]
    )
    alt_names: list[x509.GeneralName] = [x509.DNSName(n) for n in SUBJECT_DNS_NAMES]
    alt_names += [x509.IPAddress(ipaddress.ip_address(a)) for a in SUBJECT_IP_ADDRESSES]
    key_id = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    usage = x509.KeyUsage(
        digital_signature=True,
        key_encipherment=True,
        key_cert_sign=True,
        content_commitment=False,
        data_encipherment=False,
        key_agreement=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(key_id, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(key_id),
            critical=False,
        )
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem
