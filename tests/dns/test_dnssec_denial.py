"""The proof that a signed parent has no DS for a child (smtpsh/dnsinfo/denial.py), on NSEC
and NSEC3 records built and signed here with dnspython: matching, an ancestor delegation,
NSEC3 opt-out; and the ones that must not make a zone insecure (unsigned, a signature that
fails, a DS bit, a covering record that shows the name is no delegation at all, records
that prove nothing)."""

from __future__ import annotations

import time
import warnings

import dns.name
import dns.rdata
import dns.rrset
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from smtpsh.dnsinfo.denial import bitmap_types, deny_ds

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # cryptography's DSA deprecation, said by dnspython
    import dns.dnssec

PARENT = dns.name.from_text("p.test.")
CHILD = dns.name.from_text("child.p.test.")
NOW = int(time.time())
KEY = ec.generate_private_key(ec.SECP256R1())
DNSKEY = dns.dnssec.make_dnskey(KEY.public_key(), dns.dnssec.Algorithm.ECDSAP256SHA256,
                                flags=257)  # fmt: skip
KEYS = dns.rrset.from_rdata(PARENT, 300, DNSKEY)


def record(owner: str, rdtype: str, text: str, *, signed: bool = True,
           expired: bool = False) -> list[dns.rrset.RRset]:  # fmt: skip
    """The record set, and its RRSIG set made with the parent's key unless unsigned."""
    name = dns.name.from_text(owner, PARENT)
    rrset = dns.rrset.from_rdata(name, 300, dns.rdata.from_text("IN", rdtype, text))
    if not signed:
        return [rrset]
    inception, expiration = (NOW - 40 * 86400, NOW - 86400) if expired else (NOW - 60, NOW + 3600)
    sig = dns.dnssec.sign(rrset, KEY, PARENT, DNSKEY, inception=inception,
                          expiration=expiration)  # fmt: skip
    return [rrset, dns.rrset.from_rdata(name, 300, sig)]


def test_bitmap_types() -> None:
    nsec = dns.rdata.from_text("IN", "NSEC", "z.p.test. NS DS RRSIG NSEC TYPE1234")
    assert bitmap_types(nsec.windows) == {2, 43, 46, 47, 1234}  # type: ignore[attr-defined]


# --- NSEC -----------------------------------------------------------------------------


def test_nsec_at_the_delegation_without_ds_proves_insecure() -> None:
    denial = deny_ds(CHILD, PARENT, record("child", "NSEC", "d.p.test. NS RRSIG NSEC"), KEYS)
    assert (denial.status, denial.reason) == (
        "insecure", "no DS for child.p.test in p.test (NSEC proof)"
    )  # fmt: skip


def test_nsec_covering_the_name_shows_it_is_no_zone_cut_so_bogus() -> None:
    # No DS, but no name and no delegation either: an unsigned answer claiming to come from
    # a zone there is the signed parent's, unsigned. Were it "insecure", whoever forges
    # answers could call any empty non-terminal (_tcp.mx.p.test, covered by the NSEC of
    # mx.p.test) an unsigned zone and switch DANE off.
    denial = deny_ds(CHILD, PARENT, record("a", "NSEC", "d.p.test. A RRSIG NSEC"), KEYS)
    assert (denial.status, denial.reason) == (
        "bogus", "p.test's NSEC records show there is no name child.p.test in p.test: not a "
        "delegation, yet it answers as a zone of its own",
    )  # fmt: skip
    # The last NSEC of the zone points back to the apex: it covers what sorts after it.
    last = deny_ds(CHILD, PARENT, record("b", "NSEC", "p.test. A RRSIG NSEC"), KEYS)
    assert last.status == "bogus" and "no name child.p.test" in last.reason, last
    empty_non_terminal = dns.name.from_text("_tcp.mx.p.test.")
    enclosing = record("mx", "NSEC", "_25._tcp.mx.p.test. A RRSIG NSEC")
    assert deny_ds(empty_non_terminal, PARENT, enclosing, KEYS).status == "bogus"


def test_nsec_at_an_unsigned_ancestor_delegation_proves_insecure() -> None:
    deep = dns.name.from_text("x.child.p.test.")
    denial = deny_ds(deep, PARENT, record("child", "NSEC", "d.p.test. NS RRSIG NSEC"), KEYS)
    assert (denial.status, denial.reason) == (
        "insecure",
        "no DS for child.p.test in p.test (NSEC proof), and x.child.p.test is inside it",
    )
    # A signed ancestor delegation proves nothing about what is below it (RFC 6840 §4.1).
    signed = deny_ds(deep, PARENT, record("child", "NSEC", "d.p.test. NS DS RRSIG NSEC"), KEYS)
    assert signed.status == "bogus", signed


def test_nsec_that_lists_a_ds_is_bogus() -> None:
    denial = deny_ds(CHILD, PARENT, record("child", "NSEC", "d.p.test. NS DS RRSIG NSEC"), KEYS)
    assert (denial.status, denial.reason) == (
        "bogus", "p.test's NSEC record at child.p.test lists a DS record, yet none was given"
    )  # fmt: skip


def test_nsec_showing_no_delegation_is_bogus() -> None:
    denial = deny_ds(CHILD, PARENT, record("child", "NSEC", "d.p.test. A RRSIG NSEC"), KEYS)
    assert denial.status == "bogus" and "is not a delegation" in denial.reason, denial


def test_signed_nsec_that_neither_matches_nor_covers_is_bogus() -> None:
    denial = deny_ds(CHILD, PARENT, record("d", "NSEC", "e.p.test. A RRSIG NSEC"), KEYS)
    assert (denial.status, denial.reason) == (
        "bogus", "p.test is signed and says it has no DS for child.p.test, but its NSEC/NSEC3 "
        "records do not prove it",
    )  # fmt: skip


def test_unsigned_nsec_is_indeterminate() -> None:
    records = record("child", "NSEC", "d.p.test. NS RRSIG NSEC", signed=False)
    denial = deny_ds(CHILD, PARENT, records, KEYS)
    assert (denial.status, denial.reason) == (
        "indeterminate",
        "p.test's NSEC record at child.p.test is unsigned: it proves nothing about a DS for "
        "child.p.test",
    )


def test_no_nsec_at_all_is_indeterminate() -> None:
    denial = deny_ds(CHILD, PARENT, [], KEYS)
    assert denial.status == "indeterminate" and "no NSEC or NSEC3 record" in denial.reason


@pytest.mark.parametrize("expired", [False, True])
def test_nsec_whose_signature_fails_is_bogus(expired: bool) -> None:
    records = record("child", "NSEC", "d.p.test. NS RRSIG NSEC", expired=expired)
    if not expired:  # signed by another key: does not verify with the parent's
        other = ec.generate_private_key(ec.SECP256R1())
        sig = dns.dnssec.sign(records[0], other, PARENT, DNSKEY, inception=NOW - 60,
                              expiration=NOW + 3600)  # fmt: skip
        records[1] = dns.rrset.from_rdata(records[0].name, 300, sig)
    denial = deny_ds(CHILD, PARENT, records, KEYS)
    assert denial.status == "bogus", denial
    assert denial.reason.startswith(
        "p.test's NSEC record at child.p.test, which denies a DS for child.p.test, does not "
        "verify: its signature " + ("expired on " if expired else "does not verify")
    ), denial.reason


# --- NSEC3 (RFC 5155) -----------------------------------------------------------------

SALT, ITERATIONS = "aabbccdd", 1
LOWEST, HIGHEST = "0" * 32, "V" * 32  # base32hex: a range that covers every other hash


def hashed(name: str) -> str:
    return str(dns.dnssec.nsec3_hash(dns.name.from_text(name, PARENT), SALT, ITERATIONS, 1))


def nsec3(owner_hash: str, next_hash: str, types: str, *, opt_out: bool = False,
          iterations: int = ITERATIONS, signed: bool = True) -> list[dns.rrset.RRset]:  # fmt: skip
    text = f"1 {int(opt_out)} {iterations} {SALT} {next_hash} {types}"
    return record(owner_hash.lower(), "NSEC3", text, signed=signed)


BASE32HEX = "0123456789ABCDEFGHIJKLMNOPQRSTUV"


def apex() -> list[dns.rrset.RRset]:
    """The parent apex's NSEC3: the closest encloser of its children. Its next hash is the
    one right after its own, so that it covers no other name."""
    own = hashed("@")
    assert own[-1] != "V"  # a hash of a fixed name and salt: true once, true always
    following = own[:-1] + BASE32HEX[BASE32HEX.index(own[-1]) + 1]
    return nsec3(own, following, "NS SOA RRSIG DNSKEY NSEC3PARAM")


def test_nsec3_matching_the_delegation_proves_insecure() -> None:
    records = nsec3(hashed("child"), HIGHEST, "NS RRSIG")
    denial = deny_ds(CHILD, PARENT, records, KEYS)
    assert (denial.status, denial.reason) == (
        "insecure", "no DS for child.p.test in p.test (NSEC3 proof)"
    )  # fmt: skip
    with_ds = deny_ds(CHILD, PARENT, nsec3(hashed("child"), HIGHEST, "NS DS RRSIG"), KEYS)
    assert with_ds.status == "bogus" and "lists a DS record" in with_ds.reason


def test_nsec3_opt_out_covering_the_next_closer_name_proves_insecure() -> None:
    # RFC 5155 §8.6: no NSEC3 matches child.p.test; p.test's matches (closest encloser),
    # and an opt-out NSEC3 covers child.p.test (the next closer name): unsigned delegations
    # may be there, signed ones are not.
    covering = nsec3(LOWEST, HIGHEST, "A RRSIG", opt_out=True)
    denial = deny_ds(CHILD, PARENT, apex() + covering, KEYS)
    assert (denial.status, denial.reason) == (
        "insecure", "no signed delegation at child.p.test in p.test (NSEC3 opt-out proof)"
    )  # fmt: skip
    # Without opt-out the same records prove the name does not exist at all: no zone cut
    # there, so not insecure (as the covering NSEC above).
    plain = deny_ds(CHILD, PARENT, apex() + nsec3(LOWEST, HIGHEST, "A RRSIG"), KEYS)
    assert (plain.status, plain.reason) == (
        "bogus", "p.test's NSEC3 records show there is no name child.p.test in p.test: not a "
        "delegation, yet it answers as a zone of its own",
    )  # fmt: skip


def test_nsec3_next_closer_name_of_a_deeper_child() -> None:
    deep = dns.name.from_text("a.b.p.test.")
    # Neither a.b nor b exists; p.test is the closest encloser, b.p.test the next closer.
    denial = deny_ds(deep, PARENT, apex() + nsec3(LOWEST, HIGHEST, "A RRSIG", opt_out=True),
                     KEYS)  # fmt: skip
    assert denial.reason == (
        "no signed delegation at b.p.test in p.test (NSEC3 opt-out proof), and a.b.p.test is "
        "inside it"
    )


def test_nsec3_without_a_closest_encloser_proves_nothing() -> None:
    covering = nsec3(LOWEST, HIGHEST, "A RRSIG", opt_out=True)
    denial = deny_ds(CHILD, PARENT, covering, KEYS)
    assert denial.status == "bogus" and "do not prove it" in denial.reason, denial


def test_nsec3_covering_record_unsigned_is_indeterminate() -> None:
    covering = nsec3(LOWEST, HIGHEST, "A RRSIG", opt_out=True, signed=False)
    denial = deny_ds(CHILD, PARENT, apex() + covering, KEYS)
    assert denial.status == "indeterminate" and "is unsigned" in denial.reason, denial


def test_nsec3_with_too_many_iterations_is_indeterminate() -> None:
    records = nsec3(hashed("child"), HIGHEST, "NS RRSIG", iterations=500)
    denial = deny_ds(CHILD, PARENT, records, KEYS)
    assert denial.status == "indeterminate" and "500 iterations" in denial.reason, denial
