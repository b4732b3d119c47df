"""The X.509 reader and the one-line explanations, checked against cryptography's reading."""

from __future__ import annotations

import datetime as dt
import ssl
from pathlib import Path

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st

from smtpsh.net.certinfo import (
    CertificateError,
    CertificateInfo,
    TLSInfo,
    chain_lines,
    describe_tls_error,
    describe_verify_error,
    parse_certificate,
    parse_pem,
    summary_lines,
    verification_line,
)

TEST_PKI = Path("/var/lib/smtpsh-test")


def make_cert(
    names: list[x509.GeneralName],
    *,
    cn: str = "mx.example.test",
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | None = None,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
) -> bytes:
    key = key or ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Exämple GmbH"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - dt.timedelta(days=1))
        .not_valid_after(not_after or now + dt.timedelta(days=30))
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    cert = builder.sign(key, hashes.SHA256())
    from cryptography.hazmat.primitives.serialization import Encoding

    return cert.public_bytes(Encoding.DER)


def test_reads_a_trustme_chain_like_cryptography_does() -> None:
    root = trustme.CA()
    issued = root.create_child_ca().issue_cert(
        "mail.example.test", "*.mx.example.test", "127.0.0.1", "::1"
    )
    blobs = [*issued.cert_chain_pems, root.cert_pem]
    pems = [blob.bytes().decode() for blob in blobs]
    ours = parse_pem("".join(pems))
    theirs = [x509.load_pem_x509_certificate(p.encode()) for p in pems]
    assert len(ours) == len(theirs) == 3
    for mine, ref in zip(ours, theirs, strict=True):
        assert mine.serial == ref.serial_number
        assert mine.not_before == ref.not_valid_before_utc
        assert mine.not_after == ref.not_valid_after_utc
        assert mine.sha256.replace(":", "").lower() == ref.fingerprint(hashes.SHA256()).hex()
        assert dict(mine.subject) == {a.rfc4514_attribute_name: a.value for a in ref.subject}
        assert dict(mine.issuer) == {a.rfc4514_attribute_name: a.value for a in ref.issuer}
    leaf, middle, top = ours
    assert leaf.dns_names == ("mail.example.test", "*.mx.example.test")
    assert leaf.ip_addresses == ("127.0.0.1", "::1")
    assert not leaf.is_ca and middle.is_ca and top.is_ca
    assert top.self_issued and not middle.self_issued and not leaf.self_issued
    assert leaf.issuer == middle.subject and middle.issuer == top.subject


def test_reads_the_test_pki() -> None:
    server_pem = TEST_PKI / "server.pem"
    if not server_pem.exists():
        pytest.skip("the test PKI is missing; run scripts/setup-test-env")
    cert = parse_pem(server_pem.read_text())[0]
    ref = x509.load_pem_x509_certificate(server_pem.read_bytes())
    assert cert.common_name == ref.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert cert.matches("127.0.0.1") and cert.matches("::1") and cert.matches("LOCALHOST")
    assert cert.key == "EC P-256" and cert.signature == "ecdsa-with-SHA256"


def test_unicode_names_rsa_keys_and_formatting() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = parse_certificate(make_cert([x509.DNSName("a.example.test")], key=key))
    assert cert.key == "RSA 2048" and cert.signature == "sha256WithRSAEncryption"
    assert cert.subject_text == "CN=mx.example.test, O=Exämple GmbH, C=DE"


@pytest.mark.parametrize(
    ("pattern", "host", "ok"),
    [
        ("mail.example.test", "mail.example.test", True),
        ("mail.example.test", "MAIL.Example.Test.", True),
        ("*.example.test", "mail.example.test", True),
        ("*.example.test", "a.b.example.test", False),  # one label only
        ("*.example.test", "example.test", False),
        ("*.test", "example.test", False),  # no wildcard right under a top-level domain
        ("mail.example.test", "other.example.test", False),
    ],
)
def test_dns_name_matching(pattern: str, host: str, ok: bool) -> None:
    cert = parse_certificate(make_cert([x509.DNSName(pattern)]))
    assert cert.matches(host) is ok


def test_ip_addresses_match_only_ip_sans() -> None:
    import ipaddress

    cert = parse_certificate(
        make_cert([x509.DNSName("127.0.0.1"), x509.IPAddress(ipaddress.ip_address("::1"))])
    )
    assert cert.matches("::1") and cert.matches("[::1]") and cert.matches("0:0::1")
    assert not cert.matches("127.0.0.1")  # a DNS SAN spelling an address does not count


def test_without_san_the_common_name_is_used() -> None:
    cert = parse_certificate(make_cert([], cn="legacy.example.test"))
    assert cert.names == ("legacy.example.test",) and cert.matches("legacy.example.test")


def test_validity_problems() -> None:
    now = dt.datetime.now(dt.UTC)
    old = parse_certificate(make_cert([], not_before=now - dt.timedelta(days=90),
                                      not_after=now - dt.timedelta(days=3)))  # fmt: skip
    assert old.validity_problem(now) == f"expired on {old.not_after:%Y-%m-%d %H:%M} UTC"
    future = parse_certificate(make_cert([], not_before=now + dt.timedelta(days=2)))
    assert (future.validity_problem(now) or "").startswith("not valid before")


def _info(der: bytes, name: str, *, checked: bool) -> TLSInfo:
    return TLSInfo(name, "TLSv1.3", "TLS_AES_128_GCM_SHA256", 128,
                   (parse_certificate(der),), checked, checked)  # fmt: skip


def test_summary_of_an_unverified_certificate_says_what_is_wrong() -> None:
    now = dt.datetime.now(dt.UTC)
    der = make_cert([x509.DNSName("a.example.test")], not_after=now - dt.timedelta(days=1))
    text, level = verification_line(_info(der, "b.example.test", checked=False))
    assert level == "warning"
    assert "NO (--no-verify" in text and "expired on" in text
    assert "name mismatch: it is for a.example.test, not b.example.test" in text
    assert "self-signed" in text
    lines = [t for t, _ in summary_lines(_info(der, "b.example.test", checked=False))]
    assert lines[0] == "TLS established: TLSv1.3, TLS_AES_128_GCM_SHA256 (128-bit)"
    assert any("EXPIRED" in line for line in lines)
    assert any("CN=mx.example.test" in line for line in chain_lines(_info(der, "x", checked=False)))


def test_summary_of_a_verified_certificate() -> None:
    info = _info(make_cert([x509.DNSName("a.example.test")]), "a.example.test", checked=True)
    assert verification_line(info) == (
        "  verified: yes (chain to a trusted CA; valid for a.example.test)",
        "info",
    )


def _verify_error(code: int, message: str) -> ssl.SSLCertVerificationError:
    exc = ssl.SSLCertVerificationError(1, f"certificate verify failed: {message}")
    exc.verify_code = code
    exc.verify_message = message
    return exc


def test_verify_errors_with_and_without_the_certificate() -> None:
    now = dt.datetime.now(dt.UTC)
    leaf = parse_certificate(make_cert([x509.DNSName("a.b")], not_after=now - dt.timedelta(1)))
    expired = _verify_error(10, "certificate has expired")
    assert describe_verify_error(expired, "c.d") == "the certificate for c.d has expired"
    assert describe_verify_error(expired, "c.d", leaf) == (
        f"the certificate for c.d has expired (it expired on {leaf.not_after:%Y-%m-%d %H:%M} UTC)"
    )
    mismatch = _verify_error(62, "Hostname mismatch, certificate is not valid for 'c.d'.")
    assert describe_verify_error(mismatch, "c.d", leaf) == (
        "name mismatch: the certificate is for a.b, not c.d"
    )
    odd = _verify_error(4242, "something new")
    assert describe_verify_error(odd, "c.d") == (
        "certificate verification failed for c.d: something new"
    )


def test_handshake_errors_are_explained() -> None:
    plain = ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number")
    plain.reason = "WRONG_VERSION_NUMBER"
    assert "plain text, not TLS" in describe_tls_error(plain, "x", implicit=True)
    assert "did not start TLS" in describe_tls_error(plain, "x", implicit=False)
    eof = ssl.SSLEOFError(8, "EOF occurred in violation of protocol")
    assert describe_tls_error(eof, "x", implicit=False) == (
        "the server closed the connection during the TLS handshake"
    )
    assert describe_tls_error(ConnectionResetError(), "x", implicit=True).startswith(
        "the server closed"
    )


@given(st.binary(max_size=300))
def test_garbage_is_a_certificate_error_never_a_crash(data: bytes) -> None:
    try:
        result = parse_certificate(data)
    except CertificateError:
        return
    assert isinstance(result, CertificateInfo)


@given(st.integers(min_value=1, max_value=40))
def test_truncated_certificates_are_refused(cut: int) -> None:
    der = make_cert([x509.DNSName("a.example.test")])
    with pytest.raises(CertificateError):
        parse_certificate(der[:-cut])
