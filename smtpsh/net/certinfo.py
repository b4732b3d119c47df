"""What the TLS layer tells the user: the certificate chain, the session, why checks failed.

``ssl`` gives a decoded certificate only when it was verified (``getpeercert()`` is ``{}``
under ``--no-verify``), so certificates are read here from their DER bytes, with
``cryptography.x509``: the same summary whether verification was on or off. The bytes are
chosen by whoever runs the server, so every reading step may fail: a part that cannot be
read is named as such (``CertificateInfo.unread``), never a traceback.

This module is imported on first TLS use only (``cryptography`` costs ~25 ms to import).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import re
import ssl
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, rsa


class CertificateError(ValueError):
    """The bytes are not a certificate that can be read."""


# What cryptography raises for bytes it cannot make sense of (seen by fuzzing it).
_UNREADABLE: tuple[type[Exception], ...] = (
    ValueError,
    TypeError,
    UnsupportedAlgorithm,
    x509.DuplicateExtension,
    x509.UnsupportedGeneralNameType,
    x509.InvalidVersion,
)

# --- X.509 knowledge, as tables --------------------------------------------------------

NAME_ATTRIBUTES: Mapping[str, str] = {
    "2.5.4.3": "CN",
    "2.5.4.4": "SN",
    "2.5.4.5": "serialNumber",
    "2.5.4.6": "C",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
    "2.5.4.9": "street",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "2.5.4.12": "title",
    "2.5.4.42": "GN",
    "2.5.4.97": "organizationIdentifier",
    "1.2.840.113549.1.9.1": "emailAddress",
    "0.9.2342.19200300.100.1.25": "DC",
    "0.9.2342.19200300.100.1.1": "UID",
}

SIGNATURE_ALGORITHMS: Mapping[str, str] = {
    "1.2.840.113549.1.1.4": "md5WithRSAEncryption",
    "1.2.840.113549.1.1.5": "sha1WithRSAEncryption",
    "1.2.840.113549.1.1.10": "RSASSA-PSS",
    "1.2.840.113549.1.1.11": "sha256WithRSAEncryption",
    "1.2.840.113549.1.1.12": "sha384WithRSAEncryption",
    "1.2.840.113549.1.1.13": "sha512WithRSAEncryption",
    "1.2.840.10045.4.1": "ecdsa-with-SHA1",
    "1.2.840.10045.4.3.2": "ecdsa-with-SHA256",
    "1.2.840.10045.4.3.3": "ecdsa-with-SHA384",
    "1.2.840.10045.4.3.4": "ecdsa-with-SHA512",
    "1.3.101.112": "Ed25519",
    "1.3.101.113": "Ed448",
}

KEY_ALGORITHMS: Mapping[str, str] = {
    "1.2.840.113549.1.1.1": "RSA",
    "1.2.840.113549.1.1.10": "RSA-PSS",
    "1.2.840.10045.2.1": "EC",
    "1.3.101.112": "Ed25519",
    "1.3.101.113": "Ed448",
    "1.2.840.10040.4.1": "DSA",
}

# cryptography's curve names -> the names people know them by.
CURVES: Mapping[str, str] = {
    "secp256r1": "P-256",
    "secp384r1": "P-384",
    "secp521r1": "P-521",
}

# Signature hashes no longer accepted for server certificates.
WEAK_SIGNATURES = frozenset({"md5WithRSAEncryption", "sha1WithRSAEncryption", "ecdsa-with-SHA1"})

Name = tuple[tuple[str, str], ...]


def format_name(name: Name) -> str:
    """RFC 4514 order (most specific first): 'CN=mx.example.com, O=Example'."""
    pairs = (f"{key}={value}" if key else value for key, value in reversed(name))
    return ", ".join(pairs) or "(empty)"


@dataclass(frozen=True)
class CertificateInfo:
    """What a person wants to know about a certificate, read from its DER bytes."""

    subject: Name
    issuer: Name
    serial: int
    not_before: dt.datetime
    not_after: dt.datetime
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    other_names: tuple[str, ...]  # e-mail addresses and URIs in the SAN
    is_ca: bool
    key: str  # "RSA 2048", "EC P-256", "Ed25519"
    signature: str  # "sha256WithRSAEncryption"
    sha256: str  # fingerprint, colon-separated hex
    der: bytes = field(repr=False)
    spki: bytes = field(default=b"", repr=False)  # SubjectPublicKeyInfo DER (DANE selector 1)
    # Parts that could not be read, each with why: "extensions (duplicate extension 2.5.29.17)".
    unread: tuple[str, ...] = ()

    @property
    def subject_text(self) -> str:
        return format_name(self.subject)

    @property
    def issuer_text(self) -> str:
        return format_name(self.issuer)

    @property
    def common_name(self) -> str | None:
        return next((value for key, value in reversed(self.subject) if key == "CN"), None)

    @property
    def self_issued(self) -> bool:
        return self.subject == self.issuer and not self._unread("subject", "issuer")

    @property
    def names_unread(self) -> bool:
        """The subject or the extensions (SAN) could not be read: its names are not known."""
        return self._unread("subject", "extensions")

    def _unread(self, *parts: str) -> bool:
        return any(entry.startswith(parts) for entry in self.unread)

    @property
    def names(self) -> tuple[str, ...]:
        """The names the certificate is valid for (SAN; the CN only when there is no SAN)."""
        if self.dns_names or self.ip_addresses:
            return self.dns_names + self.ip_addresses
        return (self.common_name,) if self.common_name else ()

    def matches(self, host: str) -> bool:
        """RFC 6125 matching: IP against IP SANs; DNS names with a leftmost-label wildcard."""
        try:
            address = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            address = None
        if address is not None:
            return any(_same_ip(address, ip) for ip in self.ip_addresses)
        wanted = host.rstrip(".").lower()
        candidates = self.dns_names or ((self.common_name,) if self.common_name else ())
        return any(_dns_match(pattern.rstrip(".").lower(), wanted) for pattern in candidates)

    def validity_problem(self, now: dt.datetime | None = None) -> str | None:
        now = now or dt.datetime.now(dt.UTC)
        if now > self.not_after:
            return f"expired on {format_time(self.not_after)}"
        if now < self.not_before:
            return f"not valid before {format_time(self.not_before)}"
        return None


def _same_ip(address: ipaddress.IPv4Address | ipaddress.IPv6Address, text: str) -> bool:
    try:
        return ipaddress.ip_address(text) == address
    except ValueError:
        return False


def _dns_match(pattern: str, host: str) -> bool:
    if pattern == host:
        return True
    # A wildcard stands for exactly one whole label, and only the leftmost (RFC 6125 §6.4.3).
    if pattern.startswith("*.") and "*" not in pattern[2:]:
        head, _, tail = host.partition(".")
        return bool(head) and tail == pattern[2:] and "." in tail
    return False


def format_time(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M UTC")


# --- reading a certificate with cryptography.x509 ----------------------------------------

_PARSE_ERROR_KIND = re.compile(r"ParseError \{ kind: (\w+)")


def _reason(exc: Exception) -> str:
    """cryptography's message, short: its ASN.1 errors carry a whole parse location."""
    text = str(exc)
    kind = _PARSE_ERROR_KIND.search(text)
    if kind is not None:
        return f"malformed DER ({kind.group(1)})"
    return (text or type(exc).__name__)[:120]


_T = TypeVar("_T")


def _read(part: str, unread: list[str], fallback: _T, read: Callable[[], _T]) -> _T:
    """``read()``, or ``fallback`` with ``part`` noted as unread when the bytes refuse."""
    try:
        return read()
    except _UNREADABLE as exc:
        unread.append(f"{part} ({_reason(exc)})")
        return fallback


def _name(name: x509.Name) -> Name:
    out: list[tuple[str, str]] = []
    for attribute in name:
        oid = attribute.oid.dotted_string
        value = attribute.value  # bytes only for a BIT STRING (x500UniqueIdentifier)
        text = value.hex() if isinstance(value, bytes) else value
        out.append((NAME_ATTRIBUTES.get(oid, oid), text))
    return tuple(out)


def _key_description(cert: x509.Certificate) -> str:
    oid = cert.public_key_algorithm_oid.dotted_string
    kind = KEY_ALGORITHMS.get(oid, oid)
    try:
        key = cert.public_key()
    except _UNREADABLE:
        return f"{kind} (key not readable)"
    if isinstance(key, rsa.RSAPublicKey):
        return f"{kind} {key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"EC {CURVES.get(key.curve.name, key.curve.name)}"
    return kind


@dataclass
class _Extensions:
    """What the summary uses of the extensions: the SAN and whether it is a CA."""

    dns: list[str] = field(default_factory=list)
    ips: list[str] = field(default_factory=list)
    other: list[str] = field(default_factory=list)
    is_ca: bool = False


def _extensions(cert: x509.Certificate) -> _Extensions:
    found = _Extensions()
    for extension in cert.extensions:
        value = extension.value
        if isinstance(value, x509.SubjectAlternativeName):
            for general in value:
                if isinstance(general, x509.DNSName):
                    found.dns.append(general.value)
                elif isinstance(general, x509.IPAddress):
                    found.ips.append(str(general.value))
                elif isinstance(general, x509.RFC822Name | x509.UniformResourceIdentifier):
                    found.other.append(general.value)
        elif isinstance(value, x509.BasicConstraints):
            found.is_ca = value.ca
    return found


def fingerprint(der: bytes) -> str:
    """SHA-256 of the DER bytes, colon-separated hex (as browsers and openssl show it)."""
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def parse_certificate(der: bytes) -> CertificateInfo:
    """Read an X.509 certificate (DER); CertificateError if it cannot be read at all.

    A certificate that loads but has a part that does not (a name, the extensions, the
    key) is still described, with that part listed in ``unread``.
    """
    with warnings.catch_warnings():
        # cryptography warns (to stderr) about e.g. negative serial numbers: a server's
        # bytes must not print anything on their own.
        warnings.simplefilter("ignore")
        try:
            cert = x509.load_der_x509_certificate(der)
            serial = cert.serial_number
            not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
            sig_oid = cert.signature_algorithm_oid.dotted_string
            key = _key_description(cert)
        except _UNREADABLE as exc:
            raise CertificateError(f"malformed certificate: {_reason(exc)}") from None
        unread: list[str] = []
        unknown: Name = (("", "(unreadable)"),)
        subject = _read("subject", unread, unknown, lambda: _name(cert.subject))
        issuer = _read("issuer", unread, unknown, lambda: _name(cert.issuer))
        extensions = _read("extensions", unread, _Extensions(), lambda: _extensions(cert))
        spki = _read("public key", unread, b"", lambda: _spki(cert))
    return CertificateInfo(
        subject=subject,
        issuer=issuer,
        serial=serial,
        not_before=not_before,
        not_after=not_after,
        dns_names=tuple(extensions.dns),
        ip_addresses=tuple(extensions.ips),
        other_names=tuple(extensions.other),
        is_ca=extensions.is_ca,
        key=key,
        signature=SIGNATURE_ALGORITHMS.get(sig_oid, sig_oid),
        sha256=fingerprint(der),
        der=der,
        spki=spki,
        unread=tuple(unread),
    )


def _spki(cert: x509.Certificate) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def tlsa_data(cert: CertificateInfo, selector: int, mtype: int) -> str | None:
    """The certificate-association data a TLSA record with this selector (0 the whole
    certificate, 1 its SubjectPublicKeyInfo) and matching type (0 exact, 1 SHA-256,
    2 SHA-512) would carry for ``cert`` (RFC 6698 §2.1), as lower-case hex; None when
    the part cannot be read or the numbers are not defined."""
    part = {0: cert.der, 1: cert.spki}.get(selector)
    if not part:
        return None
    if mtype == 0:
        return part.hex()
    algorithm = {1: "sha256", 2: "sha512"}.get(mtype)
    return hashlib.new(algorithm, part).hexdigest() if algorithm else None


def parse_pem(text: str) -> list[CertificateInfo]:
    """Every certificate in a PEM text (a bundle, a chain file)."""
    begin, end = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"
    blocks = [b.split(end)[0] for b in text.split(begin)[1:]]
    return [parse_certificate(ssl.PEM_cert_to_DER_cert(f"{begin}{b}{end}\n")) for b in blocks]


# --- the TLS session -------------------------------------------------------------------


def peer_chain(obj: ssl.SSLObject | ssl.SSLSocket, *, verified: bool) -> list[bytes]:
    """The DER certificates the server presented (leaf first), or the verified chain.

    Python >= 3.13 has get_verified_chain/get_unverified_chain; 3.11 and 3.12 have the same
    methods on the private _sslobj; if neither answers, only the leaf is known.
    """
    method = "get_verified_chain" if verified else "get_unverified_chain"
    public = getattr(obj, method, None)
    try:
        if public is not None:
            return [bytes(c) for c in public() or []]
        private = getattr(getattr(obj, "_sslobj", None), method, None)
        if private is not None:
            certs: list[Any] = private() or []
            encoding = getattr(ssl, "_ssl").ENCODING_DER  # noqa: B009  (private module)
            return [bytes(c.public_bytes(encoding)) for c in certs]
    except (AttributeError, TypeError, ValueError, ssl.SSLError):
        pass
    leaf = obj.getpeercert(binary_form=True)
    return [leaf] if leaf else []


@dataclass(frozen=True)
class TLSInfo:
    """One TLS session: protocol, cipher, the chain and what was (not) verified."""

    server_name: str  # the name checked (and sent as SNI)
    version: str | None
    cipher: str | None
    bits: int | None
    chain: tuple[CertificateInfo, ...]  # leaf first
    checked_chain: bool  # the context verified the chain against trusted CAs
    checked_name: bool  # ... and the name against the certificate
    note: str = ""  # where this came from when it is not the live connection
    # Certificates the server sent that could not be read at all: "[0] why; SHA-256 ...".
    unreadable: tuple[str, ...] = ()

    @property
    def leaf(self) -> CertificateInfo | None:
        return self.chain[0] if self.chain else None

    @property
    def verified(self) -> bool:
        return self.checked_chain and self.checked_name

    def problems(self, now: dt.datetime | None = None) -> list[str]:
        """What is wrong with the certificate as far as can be told without verifying it."""
        leaf = self.leaf
        if leaf is None:
            if self.unreadable:
                return ["its certificate could not be read"]  # the why: unreadable
            return ["the server sent no certificate"]
        found = []
        validity = leaf.validity_problem(now)
        if validity:
            found.append(validity)
        if leaf.unread:
            found.append(f"could not read its {'; '.join(leaf.unread)}")
        if leaf.names_unread:
            pass  # which names it is for is not known: no verdict on the name
        elif not leaf.matches(self.server_name):
            found.append(f"name mismatch: it is for {_names_text(leaf)}, not {self.server_name}")
        if leaf.self_issued:
            found.append("self-signed")
        if leaf.signature in WEAK_SIGNATURES:
            found.append(f"weak signature ({leaf.signature})")
        return found


def _names_text(cert: CertificateInfo, limit: int = 4) -> str:
    names = list(cert.names)
    if not names:
        return "no name at all"
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def session_info(obj: ssl.SSLObject, context: ssl.SSLContext, server_name: str) -> TLSInfo:
    """Describe the live TLS session of ``obj``, made with ``context``."""
    checked_chain = context.verify_mode == ssl.CERT_REQUIRED
    chain, unreadable = read_chain(peer_chain(obj, verified=checked_chain))
    cipher = obj.cipher()
    return TLSInfo(
        server_name=server_name,
        version=obj.version(),
        cipher=cipher[0] if cipher else None,
        bits=cipher[2] if cipher else None,
        chain=chain,
        checked_chain=checked_chain,
        checked_name=checked_chain and context.check_hostname,
        unreadable=unreadable,
    )


Line = tuple[str, str]  # (text, level: info / warning / error)


def summary_lines(info: TLSInfo, now: dt.datetime | None = None) -> list[Line]:
    """The few lines shown after a handshake: session, certificate, verification."""
    bits = f" ({info.bits}-bit)" if info.bits else ""
    lines: list[Line] = [
        (f"TLS established: {info.version or 'unknown version'}, {info.cipher}{bits}", "info")
    ]
    leaf = info.leaf
    if leaf is not None:
        lines += [
            (f"certificate: {leaf.subject_text}", "info"),
            (f"  names:   {_names_text(leaf, 8)}", "info"),
            (f"  issuer:  {leaf.issuer_text}", "info"),
            (f"  valid:   {_validity_text(leaf, now)}", "info"),
        ]
    elif info.unreadable:
        lines.append((f"certificate: could not be read: {info.unreadable[0]}", "warning"))
    lines.append(verification_line(info, now))
    return lines


def _validity_text(cert: CertificateInfo, now: dt.datetime | None = None) -> str:
    now = now or dt.datetime.now(dt.UTC)
    span = f"{format_time(cert.not_before)} to {format_time(cert.not_after)}"
    days = (cert.not_after - now).days
    if cert.not_after < now:
        return f"{span} (EXPIRED {-days} days ago)"
    if cert.not_before > now:
        return f"{span} (NOT YET VALID)"
    return f"{span} ({days} days left)"


def verification_line(info: TLSInfo, now: dt.datetime | None = None) -> Line:
    if info.verified:
        return (
            f"  verified: yes (chain to a trusted CA; valid for {info.server_name})",
            "info",
        )
    problems = info.problems(now)
    if not info.checked_chain:
        why = "; ".join(problems) if problems else "no problem seen in the certificate itself"
        return (f"  verified: NO (--no-verify, chain not checked): {why}", "warning")
    # Chain checked but not the name (check_hostname off).
    names = [p for p in problems if p.startswith("name mismatch")]
    return (f"  verified: chain only, the name was not checked; {'; '.join(names)}", "warning")


def tlsa_lines(cert: CertificateInfo, usage: int) -> list[str]:
    """What to compare with the domain's TLSA records (or publish as one), by hand."""
    lines = []
    for selector, mtype, what in ((1, 1, "SPKI SHA-256"), (0, 1, "cert SHA-256"),
                                  (1, 2, "SPKI SHA-512"), (0, 2, "cert SHA-512")):  # fmt: skip
        data = tlsa_data(cert, selector, mtype)
        if data:
            lines.append(f"    TLSA {usage} {selector} {mtype}:  {data}  ({what})")
    return lines


def chain_lines(info: TLSInfo, now: dt.datetime | None = None) -> list[str]:
    """`/cert`: every certificate of the chain in detail."""
    out = [
        f"{info.version}, {info.cipher} ({info.bits}-bit) with {info.server_name}"
        + (f" — {info.note}" if info.note else "")
    ]
    if not info.chain and not info.unreadable:
        out.append("the server sent no certificate")
    for depth, cert in enumerate(info.chain):
        role = "server" if depth == 0 else ("root CA" if cert.self_issued else "CA")
        if depth == 0 and cert.self_issued:
            role += " (self-signed)"
        out += [
            f"[{depth}] {role}: {cert.subject_text}",
            f"    issuer:      {cert.issuer_text}",
            f"    valid:       {_validity_text(cert, now)}",
            f"    key:         {cert.key} · signed with {cert.signature}",
            f"    serial:      {cert.serial:X}",
            f"    SHA-256:     {cert.sha256}",
            *tlsa_lines(cert, usage=3 if depth == 0 else 2),
        ]
        if cert.names and depth == 0:
            out.append(f"    names:       {', '.join(cert.names)}")
        if cert.other_names:
            out.append(f"    also:        {', '.join(cert.other_names)}")
        if cert.unread:
            out.append(f"    unreadable:  {'; '.join(cert.unread)}")
    if len(info.chain) == 1 and not info.checked_chain and not info.chain[0].self_issued:
        out.append(
            "(only the server's own certificate is shown: the rest of the chain was"
            " not sent or not available)"
        )
    out += [f"{entry} (the rest of the chain is not shown)" for entry in info.unreadable]
    out.append(verification_line(info, now)[0].strip())
    return out


# --- why a handshake failed, in one line -----------------------------------------------

# OpenSSL verify codes (x509_vfy.h) -> one-line templates. {name}: the name checked;
# {cert}: facts from the certificate when a second, unverified look could fetch it.
VERIFY_ERRORS: Mapping[int, str] = {
    9: "the certificate for {name} is not valid yet{when}",
    10: "the certificate for {name} has expired{when}",
    18: "the certificate for {name} is self-signed{subject}; trust it with --cafile FILE"
    " or look anyway with --no-verify",
    19: "the certificate for {name} is not from a trusted CA (a self-signed CA in the chain"
    "{issuer}); use --cafile FILE for a private CA, or --no-verify",
    20: "the certificate for {name} is not from a trusted CA (unknown issuer{issuer});"
    " use --cafile FILE for a private CA, or --no-verify",
    2: "the certificate for {name} is not from a trusted CA (unknown issuer{issuer});"
    " use --cafile FILE for a private CA, or --no-verify",
    21: "the certificate for {name} cannot be checked (no issuer to verify it{issuer});"
    " use --cafile FILE, or --no-verify",
    62: "name mismatch: the certificate is for {names}, not {name}",
    64: "name mismatch: the certificate is for {names}, not {name}",
    23: "the certificate for {name} has been revoked",
    24: "a CA certificate in the chain for {name} is not allowed to be a CA",
    26: "the certificate for {name} is not meant for a TLS server (wrong purpose)",
    7: "the certificate signature for {name} does not verify (forged or corrupt)",
    66: "the certificate for {name} has a key that is too small",
    67: "a CA in the chain for {name} has a key that is too small",
    68: "a certificate in the chain for {name} uses a signature hash that is too weak",
}


def describe_verify_error(
    exc: ssl.SSLCertVerificationError, name: str, leaf: CertificateInfo | None = None
) -> str:
    """One line for a certificate that failed verification (details from ``leaf`` if known)."""
    message = str(exc.verify_message or exc.reason or exc)
    return describe_verify_code(int(exc.verify_code or 0), message, name, leaf)


def describe_verify_code(
    code: int, message: str, name: str, leaf: CertificateInfo | None = None
) -> str:
    """The same, from OpenSSL's verify code and message (smtpsh.net.selfsigned tells one
    without a handshake)."""
    template = VERIFY_ERRORS.get(code)
    if template is None:
        return f"certificate verification failed for {name}: {message}"
    when = ""
    if leaf is not None:
        if code == 10:
            when = f" (it expired on {format_time(leaf.not_after)})"
        elif code == 9:
            when = f" (valid from {format_time(leaf.not_before)})"
    return template.format(
        name=name,
        when=when,
        subject=f" ({leaf.subject_text})" if leaf else "",
        issuer=f": {leaf.issuer_text}" if leaf else "",
        names=_names_text(leaf) if leaf else "other names",
    )


# ssl error reasons (OpenSSL's) -> what they mean for an SMTP client; {hint} depends on
# whether TLS was implicit (--tls) or started with STARTTLS.
TLS_ERRORS: Mapping[str, str] = {
    "WRONG_VERSION_NUMBER": "the server answered in plain text, not TLS{hint}",
    "UNKNOWN_PROTOCOL": "the server answered in plain text, not TLS{hint}",
    "HTTP_REQUEST": "the server answered in plain text, not TLS{hint}",
    "RECORD_LAYER_FAILURE": "the server answered in plain text, not TLS{hint}",
    "PACKET_LENGTH_TOO_LONG": "the server answered with something that is not TLS{hint}",
    "UNEXPECTED_EOF_WHILE_READING": "the server closed the connection during the TLS handshake",
    "EOF": "the server closed the connection during the TLS handshake",
    "TLSV1_ALERT_PROTOCOL_VERSION": "no TLS version in common with the server",
    "UNSUPPORTED_PROTOCOL": "no TLS version in common with the server",
    "NO_PROTOCOLS_AVAILABLE": "no TLS version in common with the server",
    "SSLV3_ALERT_HANDSHAKE_FAILURE": "the server refused the handshake (no cipher in common,"
    " or it wants a client certificate: --client-cert)",
    "NO_SHARED_CIPHER": "no cipher in common with the server",
    "TLSV13_ALERT_CERTIFICATE_REQUIRED": "the server wants a client certificate:"
    " use --client-cert FILE (and --client-key)",
    "SSLV3_ALERT_BAD_CERTIFICATE": "the server rejected our client certificate",
    "TLSV1_ALERT_UNKNOWN_CA": "the server does not trust the CA of our client certificate",
    "TLSV1_UNRECOGNIZED_NAME": "the server does not serve the name {name} (SNI)",
    "DH_KEY_TOO_SMALL": "the server's Diffie-Hellman key is too small (weak server set-up)",
    "TLSV1_ALERT_INTERNAL_ERROR": "the server reported an internal TLS error",
}

_HINTS = {
    True: " (is this a plain or STARTTLS port? try without --tls, then STARTTLS)",
    False: " (the server did not start TLS after its 220)",
}


def describe_tls_error(exc: BaseException, name: str, *, implicit: bool) -> str:
    """One line for a TLS handshake that failed for a reason other than the certificate."""
    if isinstance(exc, ssl.SSLEOFError | ConnectionResetError | BrokenPipeError):
        return TLS_ERRORS["EOF"]
    reason = str(getattr(exc, "reason", None) or "")
    template = TLS_ERRORS.get(reason)
    if template is not None:
        return template.format(hint=_HINTS[implicit], name=name)
    if isinstance(exc, ssl.SSLError):
        return f"TLS error: {reason or exc}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def read_chain(ders: Sequence[bytes]) -> tuple[tuple[CertificateInfo, ...], tuple[str, ...]]:
    """The certificates up to the first that cannot be read, and that one described as
    "[depth] why; SHA-256 ..." (reading on would make the next certificate look like the
    server's own, or number the chain wrongly)."""
    chain: list[CertificateInfo] = []
    for depth, der in enumerate(ders):
        try:
            chain.append(parse_certificate(der))
        except CertificateError as exc:
            return tuple(chain), (f"[{depth}] {exc}; SHA-256 {fingerprint(der)}",)
    return tuple(chain), ()


def parse_chain(ders: Sequence[bytes]) -> tuple[CertificateInfo, ...]:
    """Parse what can be parsed of a chain (a broken certificate is skipped, not fatal)."""
    out = []
    for der in ders:
        try:
            out.append(parse_certificate(der))
        except CertificateError:
            continue
    return tuple(out)
