#!/usr/bin/env python3
"""Make the DNSSEC test zones Knot serves (scripts/setup-dnssec): signed.test, signed here
with a fresh ECDSA P-256 key, and bogus.test, signed the same way and then tampered with
(its MX changed after signing), so a validator must call its MX answer bogus. In both,
the mail domain stale.ORIGIN (MX, its address, its TLSA) is signed with signatures that
expired ten days ago: bogus too, for the commonest reason in practice.

    make-signed-zones.py OUTDIR SERVER_CERT_PEM

Writes OUTDIR/signed.test.zone, OUTDIR/bogus.test.zone and OUTDIR/trust-anchors (the DS
record of each zone, the form a resolver's trust-anchor file takes).

    make-signed-zones.py --delegations OUTDIR SERVER_CERT_PEM

Makes the zones of a DNSSEC chain instead, each child with MX, address and TLSA records:
  parent.test            signed here (NSEC), delegating three children:
  delegated.parent.test  signed, its DS in parent.test: secure down the DS chain
  insecure.parent.test   unsigned, no DS (parent.test's NSEC at the delegation proves it):
                         insecure, not bogus (RFC 4035 §5.2)
  wrongds.parent.test    signed, but the DS in parent.test is another key's: bogus
  nsec3.test             left unsigned here: Knot signs it (NSEC3 with opt-out), and
  insecure.nsec3.test    its unsigned child: no NSEC3 of its own, covered by an opt-out one
OUTDIR/trust-anchors then holds parent.test's DS (nsec3.test's key is Knot's).
"""

from __future__ import annotations

import hashlib
import sys
import time
import warnings
from pathlib import Path

warnings.simplefilter("ignore")  # cryptography's DSA deprecation, printed by dnspython

import dns.dnssec  # noqa: E402
import dns.rdata  # noqa: E402
import dns.rdataset  # noqa: E402
import dns.name  # noqa: E402
import dns.rdataclass  # noqa: E402
import dns.rdatatype  # noqa: E402
import dns.rrset  # noqa: E402
import dns.zone  # noqa: E402
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402

RECORDS = """\
$TTL 300
@        SOA   ns1 hostmaster 1 3600 600 604800 300
@        NS    ns1
ns1      A     127.0.0.1
@        MX    10 mx
mx       A     127.0.0.1
_25._tcp.mx TLSA 3 1 1 {spki}
@        TXT   "v=spf1 mx -all"
_dmarc   TXT   "v=DMARC1; p=reject; rua=mailto:dmarc@{origin}"
_mta-sts TXT   "v=STSv1; id=20261206"
stale    MX    10 mx.stale
mx.stale A     127.0.0.1
_25._tcp.mx.stale TLSA 3 1 1 {spki}
"""
# A zone of the chain: the mail records of a domain of its own (and its delegations).
CHAIN_RECORDS = """\
$TTL 300
@        SOA   ns1 hostmaster 1 3600 600 604800 300
@        NS    ns1
ns1      A     127.0.0.1
@        MX    10 mx
mx       A     127.0.0.1
_25._tcp.mx TLSA 3 1 1 {spki}
"""
CHILDREN = {"delegated": True, "insecure": False, "wrongds": True}  # label: signed
STALE = ("stale", "mx.stale", "_25._tcp.mx.stale")  # re-signed with expired signatures
DAY = 86400


def spki_sha256(pem: Path) -> str:
    cert = x509.load_pem_x509_certificate(pem.read_bytes())
    der = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def new_key() -> tuple[ec.EllipticCurvePrivateKey, dns.rdata.Rdata]:
    key = ec.generate_private_key(ec.SECP256R1())
    dnskey = dns.dnssec.make_dnskey(key.public_key(), dns.dnssec.Algorithm.ECDSAP256SHA256,
                                    flags=257)  # fmt: skip
    return key, dnskey


def sign(zone: dns.zone.Zone, key: ec.EllipticCurvePrivateKey, dnskey: dns.rdata.Rdata) -> None:
    now = int(time.time())
    with zone.writer() as txn:
        dns.dnssec.sign_zone(zone, txn, keys=[(key, dnskey)], add_dnskey=True,
                             dnskey_ttl=300, inception=now - 3600,
                             expiration=now + 30 * DAY)  # fmt: skip


def signed_zone(origin: str, spki: str) -> tuple[dns.zone.Zone, str]:
    name = dns.name.from_text(origin)
    zone = dns.zone.from_text(RECORDS.format(spki=spki, origin=origin), origin=name,
                              relativize=False)  # fmt: skip
    key, dnskey = new_key()
    now = int(time.time())
    sign(zone, key, dnskey)
    with zone.writer() as txn:
        for label in STALE:
            owner = dns.name.from_text(label, name)
            node = zone.get_node(owner)
            assert node is not None
            sigs = [dns.dnssec.sign(dns.rrset.from_rdata_list(owner, rds.ttl, list(rds)), key,
                                    name, dnskey, inception=now - 40 * DAY,
                                    expiration=now - 10 * DAY)
                    for rds in node.rdatasets if rds.rdtype != dns.rdatatype.RRSIG]  # fmt: skip
            for sig in sigs:  # one RRSIG set per covered type: each replaced
                txn.replace(owner, dns.rdataset.from_rdata(300, sig))
    ds = dns.dnssec.make_ds(name, dnskey, "SHA256")
    return zone, f"{origin}. IN DS {ds.to_text()}\n"


def chain_zone(origin: str, spki: str, delegations: str = "") -> dns.zone.Zone:
    return dns.zone.from_text(CHAIN_RECORDS.format(spki=spki) + delegations,
                              origin=dns.name.from_text(origin), relativize=False)  # fmt: skip


def delegations(out: Path, spki: str) -> None:
    """parent.test and its children; nsec3.test (for Knot to sign) and its child."""
    zones: dict[str, dns.zone.Zone] = {}
    cuts = ""  # parent.test's records for its children: NS, glue, and DS if signed
    for label, signed in CHILDREN.items():
        origin = f"{label}.parent.test"
        zones[origin] = chain_zone(origin, spki)
        cuts += f"{label} NS ns1.{label}\nns1.{label} A 127.0.0.1\n"
        if signed:
            key, dnskey = new_key()
            sign(zones[origin], key, dnskey)
            in_parent = new_key()[1] if label == "wrongds" else dnskey
            ds = dns.dnssec.make_ds(origin + ".", in_parent, "SHA256")
            cuts += f"{label} DS {ds.to_text()}\n"
    zones["parent.test"] = chain_zone("parent.test", spki, cuts)
    key, dnskey = new_key()
    sign(zones["parent.test"], key, dnskey)
    zones["nsec3.test"] = chain_zone("nsec3.test", spki,
                                     "insecure NS ns1.insecure\nns1.insecure A 127.0.0.1\n")
    zones["insecure.nsec3.test"] = chain_zone("insecure.nsec3.test", spki)
    for origin, zone in zones.items():
        (out / f"{origin}.zone").write_text(zone.to_text(relativize=False), encoding="utf-8")
    ds = dns.dnssec.make_ds("parent.test.", dnskey, "SHA256")
    (out / "trust-anchors").write_text(f"parent.test. IN DS {ds.to_text()}\n", encoding="utf-8")


def main() -> int:
    if sys.argv[1] == "--delegations":
        out, pem = Path(sys.argv[2]), Path(sys.argv[3])
        out.mkdir(parents=True, exist_ok=True)
        delegations(out, spki_sha256(pem))
        return 0
    out, pem = Path(sys.argv[1]), Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    spki = spki_sha256(pem)
    anchors = ""
    for origin in ("signed.test", "bogus.test"):
        zone, ds = signed_zone(origin, spki)
        anchors += ds
        if origin == "bogus.test":
            # Change the MX after signing: its RRSIG no longer covers what is served.
            with zone.writer() as txn:
                mx = dns.name.from_text(origin)
                rdata = dns.rdata.from_text("IN", "MX", f"10 evil.{origin}.")
                txn.replace(mx, dns.rdataset.from_rdata(300, rdata))
        (out / f"{origin}.zone").write_text(zone.to_text(relativize=False), encoding="utf-8")
    (out / "trust-anchors").write_text(anchors, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
