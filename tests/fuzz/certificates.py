"""Certificates to fuzz the certificate summary with: real ones made with cryptography
(every name, SAN and extension shape smtpsh reads or should survive), then mutated the ways
a hostile or broken server would: flipped and replaced bytes, lengths changed, spans cut,
repeated or spliced from another certificate, truncated. Plus plain random bytes."""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from hypothesis import strategies as st

# Bytes a mutation likes to write: DER tags and lengths at their edges, terminal controls.
INTERESTING = (0x00, 0x01, 0x02, 0x04, 0x05, 0x06, 0x0C, 0x13, 0x16, 0x17, 0x18, 0x1B, 0x1E,
               0x30, 0x31, 0x7F, 0x80, 0x81, 0x82, 0x83, 0x84, 0x9B, 0xA0, 0xA3, 0xFF)


def _name(cn: str, *extra: x509.NameAttribute) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"), *extra,
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


@functools.cache
def seeds() -> tuple[bytes, ...]:
    """A dozen certificates of different shapes (made once per process, ~0.1 s)."""
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    keys = [
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP384R1()),
        rsa.generate_private_key(public_exponent=65537, key_size=1024),
        ed25519.Ed25519PrivateKey.generate(),
    ]
    hostile = "evil\x1b[2J\x1b]0;pwned\x07\r\n\u202e.test"
    subjects = [
        _name("mx.example.test", x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Exämple")),
        _name(hostile, x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "\x9b31m")),
        x509.Name([
            x509.RelativeDistinguishedName([  # a multi-valued RDN
                x509.NameAttribute(NameOID.DOMAIN_COMPONENT, "test"),
                x509.NameAttribute(NameOID.USER_ID, "u1"),
            ]),
            *(x509.RelativeDistinguishedName([attribute]) for attribute in (
                x509.NameAttribute(NameOID.EMAIL_ADDRESS, "a@b.test"),
                x509.NameAttribute(NameOID.SERIAL_NUMBER, "42"),
                x509.NameAttribute(x509.ObjectIdentifier("1.2.3.4.5"), "private attribute"),
                x509.NameAttribute(NameOID.TITLE, "t"),
            )),
        ]),
        x509.Name([]),
    ]
    sans: list[list[x509.GeneralName]] = [
        [x509.DNSName("mx.example.test"), x509.DNSName("*.example.test")],
        [x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
         x509.IPAddress(ipaddress.ip_address("::1")), x509.DNSName("a\x1b[31m.test")],
        [x509.RFC822Name("postmaster@example.test"),
         x509.UniformResourceIdentifier("https://example.test/\x1b"),
         x509.RegisteredID(x509.ObjectIdentifier("1.2.3.4")),
         x509.DirectoryName(_name("dir.example.test")),
         x509.OtherName(x509.ObjectIdentifier("1.3.6.1.5.5.7.8.7"), b"\x16\x03abc")],
        [],
    ]
    out = []
    for i, key in enumerate(keys * 3):
        subject = subjects[i % len(subjects)]
        issuer = subject if i % 2 else _name("Fuzz CA")
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number((1 << (8 * (i + 1))) - 1)
            .not_valid_before(now - dt.timedelta(days=i))
            .not_valid_after(now + dt.timedelta(days=365 * 40 * (i % 2)))  # UTC and Generalized
        )
        if sans[i % len(sans)]:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(sans[i % len(sans)]), critical=False
            )
        if i % 3 == 0:
            builder = builder.add_extension(
                x509.BasicConstraints(ca=True, path_length=i), critical=True
            ).add_extension(
                x509.NameConstraints([x509.DNSName("example.test")],
                                     [x509.IPAddress(ipaddress.ip_network("10.0.0.0/8"))]),
                critical=True,
            )
        if i % 3 == 1:
            builder = builder.add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
            ).add_extension(
                x509.CertificatePolicies([x509.PolicyInformation(
                    x509.ObjectIdentifier("2.23.140.1.2.1"), ["https://cps.example.test"])]),
                critical=False,
            )
        if i % 3 == 2:
            builder = builder.add_extension(
                x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.32473.1"),
                                           b"\x04\x03\x01\x02\x03"),  # one nobody knows
                critical=False,
            )
        algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
        out.append(builder.sign(key, algorithm).public_bytes(Encoding.DER))
    return tuple(out)


def _mutate(der: bytes, other: bytes, steps: list[tuple[int, int, int, bytes]]) -> bytes:
    data = bytearray(der)
    for kind, where, value, chunk in steps:
        if not data:
            break
        pos = where % len(data)
        if kind == 0:  # flip one bit
            data[pos] ^= 1 << (value % 8)
        elif kind == 1:  # an interesting byte
            data[pos] = INTERESTING[value % len(INTERESTING)]
        elif kind == 2:  # insert bytes
            data[pos:pos] = chunk
        elif kind == 3:  # cut a span
            del data[pos : pos + 1 + value % 64]
        elif kind == 4:  # repeat a span
            data[pos:pos] = data[pos : pos + 1 + value % 64]
        elif kind == 5:  # splice the tail of another certificate
            data[pos:] = other[value % len(other) :]
        else:  # truncate
            del data[pos:]
    return bytes(data)


# Seeds are made on first draw, not at import.
SEEDS = st.deferred(lambda: st.sampled_from(seeds()))
STEPS = st.lists(
    st.tuples(st.integers(0, 6), st.integers(0, 1 << 16), st.integers(0, 255),
              st.binary(max_size=6)),
    min_size=1,
    max_size=5,
)

DER = st.one_of(
    st.builds(_mutate, SEEDS, SEEDS, STEPS),
    SEEDS,
    st.binary(max_size=400),
    st.binary(max_size=60).map(lambda tail: b"\x30\x82\x01\x00" + tail),  # a SEQUENCE, cut
)
