#!/usr/bin/env python3
"""Make the test PKI for the loopback Postfix: one CA and three server certificates.

Files written into DIR (default /var/lib/smtpsh-test):
  ca.pem / ca.key                  test CA (the only trust anchor tests use)
  server.pem / server.key          mx.smtpsh.test, localhost, 127.0.0.1, ::1
  wrong-name.pem / wrong-name.key  only wrong.smtpsh.test (hostname check must fail)
  expired.pem / expired.key        valid names, not_after in the past

Existing files are kept unless one is missing or the CA/server certificate is close to
expiry, so re-runs are fast and tests that pinned a certificate keep working.
"""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_DIR = Path("/var/lib/smtpsh-test")
GOOD_NAMES = ("mx.smtpsh.test", "localhost")
GOOD_IPS = ("127.0.0.1", "::1")
RENEW_MARGIN = dt.timedelta(days=30)
DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class LeafSpec:
    stem: str
    common_name: str
    dns_names: tuple[str, ...]
    ip_names: tuple[str, ...]
    not_before_days: int  # relative to now; negative = in the past
    not_after_days: int


# Knowledge as data: one row per certificate a listener presents.
LEAVES = (
    LeafSpec("server", "mx.smtpsh.test", GOOD_NAMES, GOOD_IPS, -1, 3650),
    LeafSpec("wrong-name", "wrong.smtpsh.test", ("wrong.smtpsh.test",), (), -1, 3650),
    LeafSpec("expired", "mx.smtpsh.test", GOOD_NAMES, GOOD_IPS, -400, -30),
)


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    path.chmod(0o644)


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "smtpsh test PKI"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def make_ca(now: dt.datetime) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _key()
    name = _name("smtpsh test CA")
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - DAY)
        .not_valid_after(now + 3650 * DAY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def make_leaf(
    spec: LeafSpec,
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    now: dt.datetime,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _key()
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in spec.dns_names]
    sans += [x509.IPAddress(ipaddress.ip_address(a)) for a in spec.ip_names]
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(spec.common_name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + spec.not_before_days * DAY)
        .not_valid_after(now + spec.not_after_days * DAY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
            critical=False,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key


def all_paths(out: Path) -> list[Path]:
    stems = ["ca", *(s.stem for s in LEAVES)]
    return [out / f"{stem}.{ext}" for stem in stems for ext in ("pem", "key")]


def needs_renewal(out: Path, now: dt.datetime) -> bool:
    if not all(p.is_file() for p in all_paths(out)):
        return True
    for stem in ("ca", "server"):
        try:
            cert = x509.load_pem_x509_certificate((out / f"{stem}.pem").read_bytes())
        except ValueError:
            return True
        if cert.not_valid_after_utc - now < RENEW_MARGIN:
            return True
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Make the smtpsh test CA and certificates.")
    parser.add_argument("dir", nargs="?", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--force", action="store_true", help="regenerate even if present")
    parser.add_argument(
        "--key-group", default=None, help="group that may read the keys (e.g. postfix)"
    )
    args = parser.parse_args(argv)
    out: Path = args.dir
    now = dt.datetime.now(dt.timezone.utc)
    out.mkdir(parents=True, exist_ok=True)
    out.chmod(0o755)
    if not args.force and not needs_renewal(out, now):
        print(f"certs: present in {out}")
        return 0
    ca_cert, ca_key = make_ca(now)
    _write_cert(out / "ca.pem", ca_cert)
    _write_key(out / "ca.key", ca_key)
    for spec in LEAVES:
        cert, key = make_leaf(spec, ca_cert, ca_key, now)
        _write_cert(out / f"{spec.stem}.pem", cert)
        _write_key(out / f"{spec.stem}.key", key)
    if args.key_group:
        for spec in LEAVES:
            shutil.chown(out / f"{spec.stem}.key", group=args.key_group)
    (out / "ca.key").chmod(0o600)  # only the CA key stays private to root
    print(f"certs: generated in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
