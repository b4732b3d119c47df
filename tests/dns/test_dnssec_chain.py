"""DNSSEC down the chain from a trust anchor, against Knot DNS (scripts/setup-dnssec, its
second server): parent.test (anchored, NSEC) delegates delegated.parent.test (signed, its
DS in parent.test), insecure.parent.test (unsigned, no DS: parent.test's NSEC record at the
delegation proves it) and wrongds.parent.test (signed, but its DS in parent.test is another
key's); nsec3.test (anchored, signed by Knot with NSEC3 and opt-out) delegates
insecure.nsec3.test (unsigned: an opt-out NSEC3 covers it).

An unsigned zone under a signed parent that proves there is no DS is *insecure*, not bogus
(RFC 4035 §5.2): DANE does not apply to it, and nothing is broken. smtpsh called it bogus."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest
from tiny_dns import TinyDnsServer

from smtpsh.dnsinfo.dnssec import Validator, load_trust_anchors
from tests.helpers.jsondoc import document, smtpsh

FACTS = Path("/var/lib/smtpsh-test/dnssec-delegations.json")
# The zone names are scripts/make-signed-zones.py's; the facts file names them too.
SECURE_CHILD = "delegated.parent.test"
INSECURE_CHILD = "insecure.parent.test"
WRONG_DS_CHILD = "wrongds.parent.test"
NSEC3_CHILD = "insecure.nsec3.test"


@pytest.fixture(scope="module")
def knot() -> dict[str, Any]:
    try:
        facts = dict(json.loads(FACTS.read_text()))
    except (OSError, ValueError) as exc:
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"the signed zones are not set up: {exc}", pytrace=False)
        pytest.skip(f"run scripts/setup-test-env ({exc})")
    return facts


def validator(server: str, anchors: str) -> Validator:
    host, port = server.rsplit(":", 1)
    return Validator(load_trust_anchors(anchors), host, int(port))


def names(domain: str) -> list[tuple[str, str]]:
    return [(domain, "MX"), (f"mx.{domain}", "A"), (f"_25._tcp.mx.{domain}", "TLSA")]


def test_the_facts_file_names_the_children(knot: dict[str, Any]) -> None:
    assert (knot["secure"], knot["insecure"], knot["bogus"], knot["nsec3_insecure"]) == (
        SECURE_CHILD, INSECURE_CHILD, WRONG_DS_CHILD, NSEC3_CHILD
    )  # fmt: skip


def test_an_unsigned_child_proven_by_its_parent_is_insecure_not_bogus(
    knot: dict[str, Any],
) -> None:
    v = validator(knot["server"], knot["trust_anchors"])
    for name, rdtype in names(INSECURE_CHILD):
        check = v.validate(name, rdtype)
        assert (check.status, check.zone) == ("insecure", INSECURE_CHILD), check
        assert check.reason == (
            f"no DS for {INSECURE_CHILD} in parent.test (NSEC proof): {INSECURE_CHILD} is not "
            "signed"
        )


def test_an_unsigned_child_behind_an_nsec3_opt_out_is_insecure(knot: dict[str, Any]) -> None:
    # Knot signed nsec3.test with NSEC3 and opt-out: no NSEC3 matches the unsigned
    # delegation; nsec3.test's own matches (the closest encloser) and an opt-out one covers
    # insecure.nsec3.test (RFC 5155 §8.6).
    v = validator(knot["server"], knot["trust_anchors"])
    for name, rdtype in names(NSEC3_CHILD):
        check = v.validate(name, rdtype)
        assert (check.status, check.zone) == ("insecure", NSEC3_CHILD), check
        assert check.reason == (
            f"no signed delegation at {NSEC3_CHILD} in nsec3.test (NSEC3 opt-out proof): "
            f"{NSEC3_CHILD} is not signed"
        )
    # The parent itself is secure: the same server, the same anchors.
    assert v.validate("_25._tcp.mx.nsec3.test", "TLSA").status == "secure"


def test_a_signed_child_with_its_ds_in_the_parent_is_secure(knot: dict[str, Any]) -> None:
    v = validator(knot["server"], knot["trust_anchors"])
    for name, rdtype in names(SECURE_CHILD):
        check = v.validate(name, rdtype)
        assert (check.status, check.zone) == ("secure", SECURE_CHILD), check
        assert check.reason == (
            f"validated from the trust anchor of parent.test, down the DS chain to {SECURE_CHILD}"
        )


def test_a_child_whose_ds_matches_none_of_its_keys_is_bogus(knot: dict[str, Any]) -> None:
    v = validator(knot["server"], knot["trust_anchors"])
    for name, rdtype in names(WRONG_DS_CHILD):
        check = v.validate(name, rdtype)
        assert check.status == "bogus", check
        assert check.reason == f"no DNSKEY of {WRONG_DS_CHILD} matches its DS in parent.test"


def test_insecure_child_report_and_json(knot: dict[str, Any]) -> None:
    args = ("dns", INSECURE_CHILD, "--dns-server", knot["server"], "--trust-anchor",
            knot["trust_anchors"])  # fmt: skip
    text = smtpsh(*args, "--color", "never")
    # An insecure zone is not an error of the domain's DNS (exit 0, docs/reference.md).
    assert text.returncode == 0, text.stdout + text.stderr
    assert "bogus" not in text.stdout
    assert (
        f"[warn]  DNSSEC: MX {INSECURE_CHILD}: insecure (no DS for {INSECURE_CHILD} in "
        f"parent.test (NSEC proof): {INSECURE_CHILD} is not signed)"
    ) in text.stdout, text.stdout
    assert (
        f"[warn]  DANE: mail for {INSECURE_CHILD} is not DANE-protected: its MX answer is "
        "unsigned: DNSSEC-insecure ("
    ) in text.stdout
    assert "DANE applies" not in text.stdout
    # What the TLSA answer is was proven: no "lacks the AD bit" guess beside it.
    assert "lack the AD bit" not in text.stdout
    doc = document(smtpsh(*args, "--json"), "dns", 0)
    report = doc["result"]
    assert [(c["type"], c["status"], c["zone"]) for c in report["dnssec"]["checks"]] == [
        ("MX", "insecure", INSECURE_CHILD), ("TLSA", "insecure", INSECURE_CHILD),
        ("A", "insecure", INSECURE_CHILD),
    ]  # fmt: skip
    assert report["dane"]["mx_dnssec"]["status"] == "insecure"
    assert [(h["dnssec_insecure"], h["dnssec_bogus"], h["dane_applies"])
            for h in report["dane"]["hosts"]] == [(True, False, False)]  # fmt: skip


def test_insecure_tlsa_with_check_mx_is_said_unsigned(knot: dict[str, Any]) -> None:
    proc = smtpsh("dns", INSECURE_CHILD, "--dns-server", knot["server"], "--trust-anchor",
                  knot["trust_anchors"], "--check-mx", "--color", "never")  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (
        f"[warn]  DANE: mx.{INSECURE_CHILD}: the TLSA answer is unsigned (its zone is "
        "DNSSEC-insecure): senders do not use it"
    ) in proc.stdout, proc.stdout
    assert "not DNSSEC-validated (no AD bit)" not in proc.stdout


def test_secure_and_bogus_children_from_the_command_line(knot: dict[str, Any]) -> None:
    anchored = ("--dns-server", knot["server"], "--trust-anchor", knot["trust_anchors"])
    secure = smtpsh("dns", SECURE_CHILD, *anchored, "--color", "never")
    assert secure.returncode == 0, secure.stdout
    assert (
        f"[ok]    DANE: mx.{SECURE_CHILD}: DANE applies to mail for {SECURE_CHILD}"
    ) in secure.stdout, secure.stdout
    bogus = document(smtpsh("dns", WRONG_DS_CHILD, *anchored, "--json"), "dns", 1)
    checks = bogus["result"]["dnssec"]["checks"]
    assert {c["status"] for c in checks} == {"bogus"}, checks


# Through a forwarder in front of Knot that changes the DS denials parent.test and
# nsec3.test send for their unsigned children: the proof that makes them insecure is then
# missing or broken.
def _denial(reply: dns.message.Message) -> bool:
    question = reply.question[0]
    return (question.rdtype == dns.rdatatype.DS
            and question.name.to_text().rstrip(".") in (INSECURE_CHILD, NSEC3_CHILD))  # fmt: skip


def strip_nsec_signatures(reply: dns.message.Message) -> dns.message.Message:
    if _denial(reply):
        reply.authority = [r for r in reply.authority if r.rdtype != dns.rdatatype.RRSIG]
    return reply


def strip_nsec(reply: dns.message.Message) -> dns.message.Message:
    if _denial(reply):
        proofs = (dns.rdatatype.NSEC, dns.rdatatype.NSEC3)
        reply.authority = [r for r in reply.authority
                           if r.rdtype not in proofs and r.covers not in proofs]  # fmt: skip
    return reply


def corrupt_nsec_signature(reply: dns.message.Message) -> dns.message.Message:
    if _denial(reply):
        for index, rrset in enumerate(reply.authority):
            if rrset.rdtype == dns.rdatatype.RRSIG and rrset.covers in (dns.rdatatype.NSEC,
                                                                        dns.rdatatype.NSEC3):
                sig = rrset[0]
                broken = sig.replace(signature=bytes(b ^ 0xFF for b in sig.signature))
                reply.authority[index] = dns.rrset.from_rdata(rrset.name, rrset.ttl, broken)
    return reply


def servfail_ds(reply: dns.message.Message) -> dns.message.Message:
    if _denial(reply):
        reply.set_rcode(dns.rcode.SERVFAIL)
        reply.authority = []
    return reply


@pytest.fixture
def forwarder(knot: dict[str, Any]) -> Iterator[Callable[..., str]]:
    servers: list[TinyDnsServer] = []

    def start(rewrite: Callable[[dns.message.Message], dns.message.Message]) -> str:
        host, port = knot["server"].rsplit(":", 1)
        server = TinyDnsServer(lambda name, rdtype: None, upstream=(host, int(port)),
                               rewrite=rewrite)  # fmt: skip
        servers.append(server)
        return server.server

    yield start
    for server in servers:
        server.close()


@pytest.mark.parametrize(
    ("child", "rewrite", "status", "reason"),
    [
        (INSECURE_CHILD, strip_nsec_signatures, "indeterminate",
         f"parent.test's NSEC record at {INSECURE_CHILD} is unsigned: it proves nothing about "
         f"a DS for {INSECURE_CHILD}"),
        (NSEC3_CHILD, strip_nsec_signatures, "indeterminate",
         "nsec3.test's NSEC3 record at "),
        (INSECURE_CHILD, strip_nsec, "indeterminate",
         f"parent.test says it has no DS for {INSECURE_CHILD} but sends no NSEC or NSEC3 record "
         "to prove it"),
        (NSEC3_CHILD, strip_nsec, "indeterminate",
         f"nsec3.test says it has no DS for {NSEC3_CHILD} but sends no NSEC or NSEC3 record "
         "to prove it"),
        (INSECURE_CHILD, corrupt_nsec_signature, "bogus",
         f"parent.test's NSEC record at {INSECURE_CHILD}, which denies a DS for "
         f"{INSECURE_CHILD}, does not verify: its signature does not verify"),
        (NSEC3_CHILD, corrupt_nsec_signature, "bogus", "nsec3.test's NSEC3 record at "),
        (INSECURE_CHILD, servfail_ds, "indeterminate",
         f"the DS query for {INSECURE_CHILD} was answered SERVFAIL"),
    ],
    ids=["nsec-unsigned", "nsec3-unsigned", "nsec-missing", "nsec3-missing", "nsec-forged",
         "nsec3-forged", "ds-lookup-fails"],
)  # fmt: skip
def test_without_a_valid_proof_an_unsigned_child_is_never_called_insecure(
    knot: dict[str, Any], forwarder: Callable[..., str], child: str,
    rewrite: Callable[[dns.message.Message], dns.message.Message], status: str, reason: str,
) -> None:  # fmt: skip
    # Stripped or missing proof: it cannot be checked, so indeterminate (no verdict is
    # better than a wrong one); a proof whose signature fails is bogus (RFC 4035 §5.5).
    check = validator(forwarder(rewrite), knot["trust_anchors"]).validate(child, "MX")
    assert check.status == status, check
    assert check.reason.startswith(reason), check.reason
    if rewrite is not servfail_ds:
        assert f"denies a DS for {child}" in check.reason or f"DS for {child}" in check.reason


TLSA_NAME = "_25._tcp.mx.parent.test"


def claim_a_zone_cut_at_an_empty_non_terminal(reply: dns.message.Message) -> dns.message.Message:
    """An on-path forger's try at switching DANE off: the signed TLSA answer stripped of its
    signature, and the SOA put at _tcp.mx.parent.test as if an unsigned zone began there."""
    question = reply.question[0]
    if question.name.to_text().rstrip(".") != TLSA_NAME:
        return reply
    if question.rdtype == dns.rdatatype.TLSA:
        reply.answer = [r for r in reply.answer if r.rdtype != dns.rdatatype.RRSIG]
    elif question.rdtype == dns.rdatatype.SOA:
        soa = next(r for r in reply.authority if r.rdtype == dns.rdatatype.SOA)
        fake = dns.rrset.from_rdata_list("_tcp.mx.parent.test.", soa.ttl, list(soa))
        reply.authority = [fake]
    return reply


def test_an_empty_non_terminal_is_not_taken_for_an_insecure_zone(
    knot: dict[str, Any], forwarder: Callable[..., str],
) -> None:
    # parent.test's NSEC record at mx.parent.test covers _tcp.mx.parent.test: there is no DS
    # there, but no delegation either, so no zone can start there. "Insecure" would let a
    # forger strip the TLSA answer's signature and turn DANE off for mx.parent.test.
    server = forwarder(claim_a_zone_cut_at_an_empty_non_terminal)
    check = validator(server, knot["trust_anchors"]).validate(TLSA_NAME, "TLSA")
    assert (check.status, check.zone) == ("bogus", "_tcp.mx.parent.test"), check
    assert check.reason == (
        "parent.test's NSEC records show there is no name _tcp.mx.parent.test in parent.test: "
        "not a delegation, yet it answers as a zone of its own"
    )
