"""Whether a certificate seen without verification would fail it, told without a handshake.

A probe that runs the relay tests first makes its STARTTLS session without verification
and checks the certificate at the end with a second, verifying handshake (smtpsh.audit.probe).
Most MX hosts present a self-signed certificate, for which that second handshake can only
fail, and the same way: OpenSSL ends verification at the first error, and for a chain of
one self-signed certificate that nothing trusted vouches for, the first error is
X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT (18), raised while the chain is built — before
validity dates, the name or the signature are looked at (x509_vfy.c, build_chain; the same
in OpenSSL 1.1.1 and 3.x). This module says 18 only where every condition OpenSSL goes by
is met for certain, and nothing (``None``: do the handshake) at the least doubt, so that
the verdict and its wording are the handshake's:

- the context verifies (CERT_REQUIRED) with no verify flag beyond the defaults;
- the server sent exactly one certificate, which cryptography reads whole;
- OpenSSL would call it self-signed (EXFLAG_SS): subject and issuer the same bytes, an
  authority key id that names only its own subject key id (or none), a signature algorithm
  of its key's kind, and a key usage that allows signing certificates (or none: OpenSSL
  1.1.1 also asks that);
- its key is not too small for the context's security level (OpenSSL checks that first,
  error 66);
- no trusted certificate has its subject, compared loosely (case and spaces folded, more
  matches than OpenSSL's canonical comparison makes): neither a file the context loaded
  nor a certificate in a trust directory (SSL_CERT_DIR or OpenSSL's default).
"""

from __future__ import annotations

import functools
import os
import re
import ssl
import warnings
import weakref
from collections.abc import Iterable, Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

DEPTH_ZERO_SELF_SIGNED_CERT = 18
SELF_SIGNED_MESSAGE = "self-signed certificate"  # OpenSSL 3's X509_verify_cert_error_string

# The signature algorithms of each kind of key (OpenSSL's check_sig_alg_match); RSA-PSS and
# anything else: not told here.
_RSA_SIGNATURES = frozenset({
    "1.2.840.113549.1.1.4", "1.2.840.113549.1.1.5", "1.2.840.113549.1.1.11",
    "1.2.840.113549.1.1.12", "1.2.840.113549.1.1.13", "1.2.840.113549.1.1.14",
})
_ECDSA_SIGNATURES = frozenset({
    "1.2.840.10045.4.1", "1.2.840.10045.4.3.1", "1.2.840.10045.4.3.2",
    "1.2.840.10045.4.3.3", "1.2.840.10045.4.3.4",
})

# Bits of security a security level asks of a key (SSL_CTX_set_security_level(3)).
_LEVEL_BITS = {0: 0, 1: 80, 2: 112, 3: 128, 4: 192, 5: 256}

# The flags a default client context verifies with; any other changes what OpenSSL checks.
_DEFAULT_FLAGS = ssl.VERIFY_DEFAULT | ssl.VERIFY_X509_TRUSTED_FIRST | ssl.VERIFY_X509_PARTIAL_CHAIN

# The names OpenSSL looks certificates up by in a trust directory: hash.N (hash.rN: CRLs).
_HASHED_NAME = re.compile(r"[0-9a-f]{8}\.[0-9]+")

Subject = tuple[frozenset[tuple[str, str]], ...]


def certain_failure(chain: Sequence[bytes], context: ssl.SSLContext) -> int | None:
    """The OpenSSL verify code a handshake with ``context`` would certainly fail with, for the
    certificates ``chain`` (DER, leaf first) a server presented; None when not certain."""
    if context.verify_mode != ssl.CERT_REQUIRED or len(chain) != 1:
        return None
    if int(context.verify_flags) & ~int(_DEFAULT_FLAGS):
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a server's bytes print nothing on their own
        try:
            cert = x509.load_der_x509_certificate(chain[0])
            if not _self_signed(cert) or not _strong_enough(cert, context):
                return None
            subject = _loose(cert.subject)
        except Exception:  # anything cryptography cannot read: leave it to OpenSSL
            return None
    trusted = _trusted_subjects(context)
    if trusted is None or subject in trusted:
        return None
    return DEPTH_ZERO_SELF_SIGNED_CERT


def _self_signed(cert: x509.Certificate) -> bool:
    """OpenSSL's EXFLAG_SS (and X509_check_issued(x, x) for 1.1.1), or not for certain."""
    if cert.subject.public_bytes() != cert.issuer.public_bytes():
        return False
    extensions = cert.extensions
    try:
        akid = extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    except x509.ExtensionNotFound:
        pass
    else:
        if akid.authority_cert_issuer is not None or akid.authority_cert_serial_number:
            return False
        if akid.key_identifier is not None:
            try:
                skid = extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
            except x509.ExtensionNotFound:
                return False
            if skid.digest != akid.key_identifier:
                return False
    try:
        usage = extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        pass
    else:
        if not usage.key_cert_sign:
            return False
    key, signature = cert.public_key(), cert.signature_algorithm_oid.dotted_string
    if isinstance(key, rsa.RSAPublicKey):
        return signature in _RSA_SIGNATURES
    if isinstance(key, ec.EllipticCurvePublicKey):
        return signature in _ECDSA_SIGNATURES
    if isinstance(key, ed25519.Ed25519PublicKey):
        return signature == "1.3.101.112"
    if isinstance(key, ed448.Ed448PublicKey):
        return signature == "1.3.101.113"
    return False


def _strong_enough(cert: x509.Certificate, context: ssl.SSLContext) -> bool:
    """The key passes the context's security level (else OpenSSL says 66 before 18)."""
    wanted = _LEVEL_BITS.get(int(getattr(context, "security_level", 2)))
    if wanted is None:
        return False
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        size = key.key_size  # BN_security_bits, by the sizes it names
        bits = (256 if size >= 15360 else 192 if size >= 7680 else 128 if size >= 3072
                else 112 if size >= 2048 else 80 if size >= 1024 else 0)
    elif isinstance(key, ec.EllipticCurvePublicKey):
        bits = key.curve.key_size // 2
    elif isinstance(key, ed25519.Ed25519PublicKey):
        bits = 128
    elif isinstance(key, ed448.Ed448PublicKey):
        bits = 224
    else:
        return False
    return bits >= wanted


def _loose(name: x509.Name) -> Subject:
    """A subject with case and runs of spaces folded: equal wherever OpenSSL's canonical
    comparison (X509_NAME_cmp) would find two names equal, and sometimes where it would not."""
    out = []
    for rdn in name.rdns:
        values = set()
        for attribute in rdn:
            value = attribute.value
            text = " ".join(value.split()).casefold() if isinstance(value, str) else repr(value)
            values.add((attribute.oid.dotted_string, text))
        out.append(frozenset(values))
    return tuple(out)


def _trusted_subjects(context: ssl.SSLContext) -> frozenset[Subject] | None:
    """The subjects of every certificate ``context`` trusts; None if one cannot be read."""
    load = getattr(context, "load_trust", None)
    if load is not None:
        load()  # smtpsh's contexts load the system store on first use
    stats = context.cert_store_stats()
    count = stats.get("x509", 0)
    if count != stats.get("x509_ca", 0):
        return None  # get_ca_certs lists CA certificates only: the others are not seen
    # Read once a context (a probe of many hosts asks for each host), again if its store
    # grew or a trust directory changed.
    folders = _trust_directories()
    key = (count, tuple((folder, _stamp(folder)) for folder in folders))
    known = _CONTEXTS.get(context)
    if known is not None and known[0] == key:
        return known[1]
    found = _subjects(context.get_ca_certs(binary_form=True))
    for folder in folders:
        if found is None:
            break
        more = _directory_subjects(folder)
        found = None if more is None else found | more
    result = frozenset(found) if found is not None else None
    _CONTEXTS[context] = (key, result)
    return result


def _subjects(ders: Iterable[bytes]) -> set[Subject] | None:
    out = set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for der in ders:
            try:
                out.add(_loose(x509.load_der_x509_certificate(der).subject))
            except Exception:
                return None
    return out


def _trust_directories() -> list[str]:
    """Where OpenSSL looks trusted certificates up by name: SSL_CERT_DIR (a list) or its
    default directory (set_default_verify_paths, which load_default_certs calls)."""
    _, _, variable, default = _default_paths()
    value = os.environ.get(variable) or default
    return [folder for folder in value.split(os.pathsep) if folder]


@functools.cache
def _default_paths() -> tuple[str, str, str, str]:
    """OpenSSL's compiled-in names: (file variable, file, directory variable, directory)."""
    paths = ssl.get_default_verify_paths()
    return (paths.openssl_cafile_env, paths.openssl_cafile, paths.openssl_capath_env,
            paths.openssl_capath)


def _stamp(folder: str) -> int:
    try:
        return os.stat(folder).st_mtime_ns
    except OSError:
        return -1


# Per context: (how many certificates its store held and the directories' times, the
# subjects trusted).
_CONTEXTS: weakref.WeakKeyDictionary[
    ssl.SSLContext, tuple[tuple[object, ...], frozenset[Subject] | None]
] = weakref.WeakKeyDictionary()

# Per directory: (its modification time, the subjects of its certificates).
_DIRECTORIES: dict[str, tuple[int, frozenset[Subject] | None]] = {}


def _directory_subjects(folder: str) -> frozenset[Subject] | None:
    try:
        stamp = os.stat(folder).st_mtime_ns
    except OSError:
        return frozenset()  # no such directory: OpenSSL finds nothing there either
    known = _DIRECTORIES.get(folder)
    if known is not None and known[0] == stamp:
        return known[1]
    subjects: set[Subject] | None = set()
    seen: set[str] = set()
    try:
        entries = sorted(os.listdir(folder))
    except OSError:
        entries, subjects = [], None
    for entry in entries:
        if subjects is None or not _HASHED_NAME.fullmatch(entry):
            continue
        path = os.path.realpath(os.path.join(folder, entry))
        if path in seen:
            continue
        seen.add(path)
        try:
            pem = Path(path).read_bytes()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                certs = x509.load_pem_x509_certificates(pem)
        except Exception:  # OpenSSL may read what we cannot: then we cannot be sure
            subjects = None
            break
        subjects.update(_loose(cert.subject) for cert in certs)
    result = frozenset(subjects) if subjects is not None else None
    _DIRECTORIES[folder] = (stamp, result)
    return result
