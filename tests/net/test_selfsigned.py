"""smtpsh.net.selfsigned says a certificate cannot verify only where the handshake would say
so itself, with the same code: every case here is also run through a real TLS handshake (in
memory, OpenSSL on both sides) with the same client context, and the two must agree."""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from smtpsh.net import selfsigned
from smtpsh.net.tls import TLSSettings, make_context

NOW = dt.datetime.now(dt.UTC)
Key = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


@dataclass
class Made:
    cert: x509.Certificate
    key: Key

    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)


def _key(kind: str) -> Key:
    if kind == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    return rsa.generate_private_key(public_exponent=65537, key_size=int(kind.removeprefix("rsa")))


def make(
    cn: str = "mx.example.test",
    *,
    kind: str = "ec",
    issuer: Made | None = None,
    akid: str = "none",  # none | same | other | issuer-serial
    skid: bool = True,
    usage: str = "none",  # none | sign-only | cert-sign
    ca: bool = False,
    expired: bool = False,
) -> Made:
    key = _key(kind)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    issuer_name = issuer.cert.subject if issuer else name
    signer = issuer.key if issuer else key
    start = NOW - dt.timedelta(days=400 if expired else 1)
    builder = (
        x509.CertificateBuilder().subject_name(name).issuer_name(issuer_name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(start + dt.timedelta(days=30 if expired else 60))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(cn)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    own_id = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    if skid:
        builder = builder.add_extension(own_id, critical=False)
    if akid == "same":
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier(own_id.digest, None, None), critical=False)
    elif akid == "other":
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier(b"\x01" * 20, None, None), critical=False)
    elif akid == "issuer-serial":
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier(own_id.digest, [x509.DirectoryName(name)], 7),
            critical=False)
    if usage != "none":
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=usage == "cert-sign",
            crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
    digest = None if isinstance(signer, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return Made(builder.sign(signer, digest), key)  # type: ignore[arg-type]


def handshake_code(chain: list[Made], client: ssl.SSLContext, tmp: Path) -> int | None:
    """OpenSSL's own verdict: the verify code a handshake with ``client`` fails with (None:
    it verified), both ends in memory."""
    chain_file, key_file = tmp / "chain.pem", tmp / "key.pem"
    chain_file.write_bytes(b"".join(made.pem() for made in chain))
    key_file.write_bytes(chain[0].key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.set_ciphers("ALL:@SECLEVEL=0")
    server_context.load_cert_chain(chain_file, key_file)
    to_server, to_client = ssl.MemoryBIO(), ssl.MemoryBIO()
    to_client_s, to_server_s = ssl.MemoryBIO(), ssl.MemoryBIO()
    ours = client.wrap_bio(to_client, to_server, server_hostname="mx.example.test")
    theirs = server_context.wrap_bio(to_server_s, to_client_s, server_side=True)
    for _ in range(20):
        try:
            ours.do_handshake()
            return None
        except ssl.SSLCertVerificationError as exc:
            return int(exc.verify_code)
        except ssl.SSLWantReadError:
            pass
        to_server_s.write(to_server.read())
        with contextlib.suppress(ssl.SSLWantReadError, ssl.SSLError):
            theirs.do_handshake()  # its errors show on our side
        to_client.write(to_client_s.read())
    raise AssertionError("the handshake did not end")


def context_trusting(tmp: Path, *pems: bytes) -> ssl.SSLContext:
    """smtpsh's context: the system store, plus --cafile of ``pems`` (by default one CA
    that has nothing to do with these certificates). Always one of its own: the shared
    context of the system store alone keeps what a handshake looked up in it, which
    tests/net/test_tls_context.py compares."""
    cafile = tmp / "trusted.pem"
    cafile.write_bytes(b"".join(pems) or _unrelated_ca_pem())
    return make_context(TLSSettings(cafile=str(cafile)))


def both(chain: list[Made], context: ssl.SSLContext, tmp: Path) -> tuple[int | None, int | None]:
    told = selfsigned.certain_failure([made.der() for made in chain], context)
    return told, handshake_code(chain, context, tmp)


# The usual MX certificate: told, and the handshake says the same.
@pytest.mark.parametrize("kwargs", [
    {}, {"kind": "rsa2048"}, {"kind": "ed25519"}, {"akid": "same"}, {"skid": False},
    {"usage": "cert-sign"}, {"ca": True}, {"expired": True}, {"cn": "other.example.test"},
])
def test_a_self_signed_certificate_nothing_trusts_is_told(
    tmp_path: Path, kwargs: dict[str, object]
) -> None:
    told, real = both([make(**kwargs)], context_trusting(tmp_path), tmp_path)  # type: ignore[arg-type]
    assert real == selfsigned.DEPTH_ZERO_SELF_SIGNED_CERT
    assert told == real


# Where OpenSSL would not call it self-signed, or says something else first: not told.
@pytest.mark.parametrize("kwargs", [
    {"akid": "other"}, {"akid": "issuer-serial"}, {"usage": "sign-only"}, {"kind": "rsa1024"},
])
def test_a_doubtful_self_signed_certificate_is_left_to_the_handshake(
    tmp_path: Path, kwargs: dict[str, object]
) -> None:
    made = make(**kwargs)  # type: ignore[arg-type]
    told, real = both([made], context_trusting(tmp_path), tmp_path)
    assert told is None
    assert real is not None  # it does not verify either way; just not told beforehand


def test_a_certificate_from_a_ca_is_left_to_the_handshake(tmp_path: Path) -> None:
    ca = make("Test CA", ca=True, usage="cert-sign")
    leaf = make(issuer=ca)
    assert both([leaf], context_trusting(tmp_path), tmp_path) == (None, 20)
    assert both([leaf, ca], context_trusting(tmp_path), tmp_path) == (None, 19)
    assert both([leaf], context_trusting(tmp_path, ca.pem()), tmp_path) == (None, None)


def test_a_trusted_self_signed_certificate_is_left_to_the_handshake(tmp_path: Path) -> None:
    made = make()
    assert both([made], context_trusting(tmp_path, made.pem()), tmp_path) == (None, None)
    # A trusted certificate whose subject differs only in case: OpenSSL's name comparison
    # folds case, so it is a candidate issuer; smtpsh's looser one does too, and leaves it.
    other = make("MX.Example.TEST")
    told, real = both([made], context_trusting(tmp_path, other.pem()), tmp_path)
    assert told is None and real is not None


@pytest.fixture
def trust_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    folder = tmp_path / "certs"
    folder.mkdir()
    monkeypatch.setenv("SSL_CERT_DIR", str(folder))
    yield folder


def test_a_certificate_in_a_trust_directory_is_left_to_the_handshake(
    tmp_path: Path, trust_directory: Path
) -> None:
    made = make()
    (trust_directory / "mx.pem").write_bytes(made.pem())
    openssl = shutil.which("openssl")
    assert openssl is not None
    subprocess.run([openssl, "rehash", str(trust_directory)], check=True)
    assert any(p.name.endswith(".0") for p in trust_directory.iterdir())
    # A context of its own (the shared one read SSL_CERT_DIR before this test set it).
    context = make_context(TLSSettings(cafile=str(_empty_pem(tmp_path))))
    assert both([made], context, tmp_path) == (None, None)


def test_an_unreadable_file_in_a_trust_directory_leaves_everything_to_the_handshake(
    tmp_path: Path, trust_directory: Path
) -> None:
    (trust_directory / "0123abcd.0").write_text("not a certificate\n")
    context = make_context(TLSSettings(cafile=str(_empty_pem(tmp_path))))
    assert selfsigned.certain_failure([make().der()], context) is None


def test_a_context_that_does_not_verify_is_never_told(tmp_path: Path) -> None:
    context = make_context(TLSSettings(verify=False))
    assert selfsigned.certain_failure([make().der()], context) is None
    assert selfsigned.certain_failure([b"\x30\x03garbage"], context_trusting(tmp_path)) is None
    assert selfsigned.certain_failure([], context_trusting(tmp_path)) is None


def _empty_pem(tmp: Path) -> Path:
    """A CA file with one unrelated CA: --cafile gives a context of its own."""
    path = tmp / "unrelated.pem"
    path.write_bytes(_unrelated_ca_pem())
    return path


def _unrelated_ca_pem() -> bytes:
    return make("Unrelated CA", ca=True, usage="cert-sign").pem()
