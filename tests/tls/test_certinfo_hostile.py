"""Certificates cryptography reads only in part: the part is named, the rest is still
described, no verdict is drawn from what could not be read, and nothing is printed."""

from __future__ import annotations

import datetime as dt
import ssl
import warnings
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from smtpsh.net.certinfo import (
    TLSInfo,
    chain_lines,
    fingerprint,
    parse_certificate,
    read_chain,
    summary_lines,
)
from tests.helpers.scripted_server import scripted_server
from tests.tls.harness import dialogue, implicit_tls_server, make_shell, run

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
SERIAL = 0x7F0102030405


def _cert(*extensions: x509.ExtensionType) -> tuple[bytes, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mx.example.test")]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Some CA")]))
        .public_key(key.public_key())
        .serial_number(SERIAL)
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("mx.example.test")]), critical=False
        )
    )
    for extension in extensions:
        builder = builder.add_extension(extension, critical=False)
    der = builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)
    return der, key


def _patch(der: bytes, old: bytes, new: bytes) -> bytes:
    assert der.count(old) == 1 and len(old) == len(new)
    return der.replace(old, new)


def _info(der: bytes, name: str = "mx.example.test") -> TLSInfo:
    return TLSInfo(name, "TLSv1.3", "TLS_AES_128_GCM_SHA256", 128,
                   (parse_certificate(der),), False, False)  # fmt: skip


def test_a_subject_that_is_not_utf8_is_named_unreadable() -> None:
    der, _ = _cert()
    # In the subject only (the SAN is an IA5String: the bytes also occur there).
    bad = der.replace(b"\x0c\x0fmx.example.test", b"\x0c\x0fmx.\xff\xfeample.test")
    cert = parse_certificate(bad)
    assert [u.split(" (")[0] for u in cert.unread] == ["subject"]
    assert cert.subject_text == "(unreadable)" and cert.issuer_text == "CN=Some CA"
    assert cert.dns_names == ("mx.example.test",) and cert.key == "EC P-256"
    problems = _info(bad, "other.example.test").problems(NOW)
    assert problems[0].startswith("could not read its subject (")
    assert not any("name mismatch" in p for p in problems)  # names unknown: no verdict
    assert "self-signed" not in problems
    lines = chain_lines(_info(bad), NOW)
    assert any(line.startswith("    unreadable:  subject (") for line in lines)


def test_an_extension_cryptography_refuses_leaves_the_names_unknown() -> None:
    sct = x509.UnrecognizedExtension(
        x509.ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2"), b"\x04\x03\x01\x02\x03"
    )
    der, _ = _cert(sct)
    cert = parse_certificate(der)
    assert cert.unread == ("extensions (Invalid SCT length)",)
    assert cert.names == ("mx.example.test",)  # the CN, for lack of a readable SAN
    text, level = summary_lines(_info(der, "other.example.test"), NOW)[-1]
    assert level == "warning"
    assert "could not read its extensions (Invalid SCT length)" in text
    assert "name mismatch" not in text


def test_a_negative_serial_prints_no_warning() -> None:
    der, _ = _cert()
    serial = SERIAL.to_bytes(6, "big")
    bad = _patch(der, b"\x02\x06" + serial, b"\x02\x06\xff" + serial[1:])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # cryptography warns about it: that must not escape
        cert = parse_certificate(bad)
    assert cert.serial < 0 and cert.unread == ()


def test_a_key_that_is_not_on_its_curve() -> None:
    der, key = _cert()
    point = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    bad = _patch(der, point, point[:-1] + bytes([point[-1] ^ 1]))
    cert = parse_certificate(bad)
    assert cert.key == "EC (key not readable)"
    assert any(line.startswith("    key:         EC (key not readable)")
               for line in chain_lines(_info(bad), NOW))  # fmt: skip


def test_a_leaf_that_cannot_be_read_is_not_replaced_by_the_next_certificate() -> None:
    der, _ = _cert()
    # The subject's CN as an IA5String with a byte that is not ASCII: cryptography refuses
    # the whole certificate (OpenSSL does not: the handshake goes through).
    bad = _patch(der, b"\x0c\x0fmx.example.test", b"\x16\x0fmx.\xe9xample.test")
    ca, _ = _cert()
    chain, unreadable = read_chain([bad, ca])
    assert chain == ()  # the CA is not promoted to "the server's certificate"
    assert unreadable == (
        f"[0] malformed certificate: malformed DER (InvalidValue); SHA-256 {fingerprint(bad)}",
    )
    info = TLSInfo("mx.example.test", "TLSv1.3", "TLS_AES_128_GCM_SHA256", 128, chain, False,
                   False, unreadable=unreadable)  # fmt: skip
    assert info.problems() == ["its certificate could not be read"]
    lines = summary_lines(info, NOW)
    assert lines[1] == (f"certificate: could not be read: {unreadable[0]}", "warning")
    assert "the server sent no certificate" not in "\n".join(chain_lines(info, NOW))
    assert "NO (--no-verify" in lines[-1][0] and "could not be read" in lines[-1][0]


def test_an_unreadable_intermediate_keeps_the_leaf() -> None:
    leaf, _ = _cert()
    chain, unreadable = read_chain([leaf, b"\x30\x03\x02\x01\x00", leaf])
    assert [c.der for c in chain] == [leaf]
    assert unreadable[0].startswith("[1] malformed certificate: ")
    info = TLSInfo("mx.example.test", "TLSv1.3", "TLS_AES_128_GCM_SHA256", 128, chain, False,
                   False, unreadable=unreadable)  # fmt: skip
    lines = chain_lines(info, NOW)
    assert lines[1].startswith("[0] server: CN=mx.example.test")
    assert any(line.startswith("[1] malformed certificate: ") for line in lines)


def test_a_server_whose_certificate_cryptography_refuses(tmp_path: Path) -> None:
    """OpenSSL completes the handshake (--no-verify); smtpsh says the certificate could not
    be read, not that there was none, and /cert shows its fingerprint."""
    der, key = _cert()
    bad = _patch(der, b"\x0c\x0fmx.example.test", b"\x16\x0fmx.\xe9xample.test")
    chain_file = tmp_path / "bad.pem"
    chain_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                          serialization.NoEncryption())
        + ssl.DER_cert_to_PEM_cert(bad).encode()
    )  # fmt: skip
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(chain_file)
    with scripted_server(implicit_tls_server(context, [])) as port:
        shell, out = make_shell([f"127.0.0.1:{port}", "--tls", "--no-verify"])
        assert run(dialogue(shell, ["/cert"]))
    text = out.getvalue()
    assert "certificate: could not be read: [0] malformed certificate: malformed DER" in text
    assert f"SHA-256 {fingerprint(bad)}" in text
    assert "verified: NO (--no-verify, chain not checked): its certificate could not be" in text
    assert "sent no certificate" not in text and "Traceback" not in text
