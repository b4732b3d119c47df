"""DS records (and trust anchors) with algorithms smtpsh cannot check: GOST (12), a number no
one assigned, a digest type it does not know. With no supported algorithm left there is
no path from the parent to the child: a validator without them treats the zone as unsigned
(RFC 4035 §5.2), one with them may find it secure or bogus, so smtpsh's verdict is
indeterminate with that reason; never bogus, never "not signed". A DS set that also holds
a supported algorithm is followed by it (RFC 6840 §5.2). Served by a TinyDnsServer with
records signed here: parent p.test (the trust anchor), children signed with ECDSA P-256."""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdatatype
import dns.rrset
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from tiny_dns import TinyDnsServer

from smtpsh.dnsinfo.dnssec import Validator, load_trust_anchors

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # cryptography's DSA deprecation, said by dnspython
    import dns.dnssec

NOW = int(time.time())
PARENT = dns.name.from_text("p.test.")
DIGEST = bytes(range(32)).hex()  # a digest of the right length that matches no key


class Zone:
    """A zone's key and its signed record sets."""

    def __init__(self, origin: dns.name.Name) -> None:
        self.origin = origin
        self.key = ec.generate_private_key(ec.SECP256R1())
        algorithm = dns.dnssec.Algorithm.ECDSAP256SHA256
        self.dnskey = dns.dnssec.make_dnskey(self.key.public_key(), algorithm, flags=257)
        self.sets: dict[tuple[dns.name.Name, int], list[dns.rrset.RRset]] = {}
        self.add("@", "DNSKEY", self.dnskey.to_text())
        self.add("@", "SOA", "ns1 hostmaster 1 3600 600 604800 300")

    def add(self, owner: str, rdtype: str, *texts: str) -> None:
        name = dns.name.from_text(owner, self.origin)
        rdatas = [dns.rdata.from_text("IN", rdtype, t, origin=self.origin, relativize=False)
                  for t in texts]  # fmt: skip
        rrset = dns.rrset.from_rdata_list(name, 300, rdatas)
        sig = dns.dnssec.sign(rrset, self.key, self.origin, self.dnskey, inception=NOW - 60,
                              expiration=NOW + 3600)  # fmt: skip
        self.sets[(name, rrset.rdtype)] = [rrset, dns.rrset.from_rdata(name, 300, sig)]

    def ds(self, digest: str = "SHA256") -> str:
        return dns.dnssec.make_ds(self.origin, self.dnskey, digest).to_text()


def tag(zone: Zone) -> int:
    return dns.dnssec.key_id(zone.dnskey)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """(server, trust-anchor file): p.test delegating children whose DS sets say ..."""
    parent = Zone(PARENT)
    children = {label: Zone(dns.name.from_text(label, PARENT))
                for label in ("gost", "unassigned", "newdigest", "mixed")}  # fmt: skip
    for child in children.values():
        child.add("@", "MX", "10 mx")
        child.add("mx", "A", "127.0.0.1")
    gost, unassigned = children["gost"], children["unassigned"]
    parent.add("gost", "DS", f"{tag(gost)} 12 3 {DIGEST}")  # GOST R 34.10-2001, GOST digest
    parent.add("unassigned", "DS", f"{tag(unassigned)} 200 2 {DIGEST}")  # no such algorithm
    parent.add("newdigest", "DS", f"{tag(children['newdigest'])} 13 200 {DIGEST}")
    # GOST beside the child's real ECDSA key: the supported one is followed, and holds.
    parent.add("mixed", "DS", f"{tag(children['mixed'])} 12 3 {DIGEST}", children["mixed"].ds())
    sets = {k: v for zone in (parent, *children.values()) for k, v in zone.sets.items()}

    def respond(query: dns.message.Message) -> dns.message.Message:
        question = query.question[0]
        reply = dns.message.make_response(query)
        found = sets.get((question.name, question.rdtype))
        if found is None:
            reply.set_rcode(dns.rcode.REFUSED)  # nothing else is asked of it
        else:
            reply.answer = list(found)
        return reply

    anchors = tmp_path_factory.mktemp("anchors") / "trust-anchors"
    anchors.write_text(f"p.test. IN DS {parent.ds()}\n")
    server = TinyDnsServer(lambda name, rdtype: None, respond=respond)
    try:
        yield server.server, anchors
    finally:
        server.close()


def validator(server: str, anchors: Path) -> Validator:
    host, port = server.rsplit(":", 1)
    return Validator(load_trust_anchors(str(anchors)), host, int(port))


@pytest.mark.parametrize(("label", "named"), [
    ("gost", "DNSKEY algorithm 12 (ECCGOST) with digest type 3 (GOST)"),
    ("unassigned", "DNSKEY algorithm 200 with digest type 2 (SHA256)"),
    ("newdigest", "DNSKEY algorithm 13 (ECDSAP256SHA256) with digest type 200"),
])  # fmt: skip
def test_a_ds_set_with_only_unsupported_algorithms_is_indeterminate(
    world: tuple[str, Path], label: str, named: str
) -> None:
    v = validator(*world)
    for name, rdtype in ((f"{label}.p.test", "MX"), (f"mx.{label}.p.test", "A")):
        check = v.validate(name, rdtype)
        assert (check.status, check.zone) == ("indeterminate", f"{label}.p.test"), check
        assert check.reason == (
            f"the DS set of {label}.p.test in p.test names only algorithms smtpsh cannot check "
            f"({named}): validators without them take the zone as unsigned (RFC 4035 §5.2), "
            "those with them may find it secure or bogus"
        ), check.reason


def test_a_supported_ds_beside_an_unsupported_one_is_followed(world: tuple[str, Path]) -> None:
    check = validator(*world).validate("mixed.p.test", "MX")
    assert (check.status, check.zone) == ("secure", "mixed.p.test"), check


def test_a_trust_anchor_with_only_unsupported_algorithms_is_indeterminate(
    world: tuple[str, Path], tmp_path: Path
) -> None:
    server, _ = world
    anchors = tmp_path / "gost-anchor"
    anchors.write_text(f"gost.p.test. IN DS 12345 12 3 {DIGEST}\n")
    check = validator(server, anchors).validate("gost.p.test", "MX")
    assert (check.status, check.zone) == ("indeterminate", "gost.p.test"), check
    assert check.reason.startswith(
        "the trust anchor of gost.p.test names only algorithms smtpsh cannot check (DNSKEY "
        "algorithm 12 (ECCGOST) with digest type 3 (GOST))"
    ), check.reason
