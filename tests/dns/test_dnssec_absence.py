"""A record that does not exist in a signed zone (a TLSA at _25._tcp.<mx>, an MX) is judged by
the denial its zone signed (smtpsh/dnsinfo/denial.py deny_answer: RFC 4035 §5.4, RFC 5155
§8): proven absent, absent in an unsigned zone, absent but unproven (NSEC3 opt-out), or a
bogus denial. Against Knot (scripts/setup-dnssec): signed.test (NSEC, signed by
make-signed-zones.py), nsec3.test (NSEC3 with opt-out, signed by Knot), the unsigned
insecure.parent.test; and forged answers (a TinyDnsServer in front of Knot) whose denial
must not pass. smtpsh said "no such record (authenticated denial is not checked)" to all."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdata
import dns.rdatatype
import dns.rrset
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from tiny_dns import TinyDnsServer

from smtpsh.dnsinfo.denial import deny_answer
from smtpsh.dnsinfo.dnssec import Validation, Validator, load_trust_anchors
from tests.helpers.jsondoc import document

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # cryptography's DSA deprecation, said by dnspython
    import dns.dnssec

SIGNED = Path("/var/lib/smtpsh-test/dnssec.json")
CHAIN = Path("/var/lib/smtpsh-test/dnssec-delegations.json")


def facts(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError) as exc:
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"the signed zones are not set up: {exc}", pytrace=False)
        pytest.skip(f"run scripts/setup-test-env ({exc})")


@pytest.fixture(scope="module")
def signed() -> dict[str, Any]:
    return facts(SIGNED)


@pytest.fixture(scope="module")
def chain() -> dict[str, Any]:
    return facts(CHAIN)


def validate(server: str, anchors: str, name: str, rdtype: str) -> Validation:
    host, port = server.rsplit(":", 1)
    return Validator(load_trust_anchors(anchors), host, int(port)).validate(name, rdtype)


# --- Knot's real answers -----------------------------------------------------------------


def test_no_tlsa_name_in_an_nsec_signed_zone_is_proven_absent(signed: dict[str, Any]) -> None:
    check = validate(signed["server"], signed["trust_anchors"], "_25._tcp.nomx.signed.test",
                     "TLSA")  # fmt: skip
    assert (check.status, check.exists, check.zone) == ("secure", False, "signed.test"), check
    assert check.reason == (
        "no such record, proven absent by authenticated denial: no name "
        "_25._tcp.nomx.signed.test in signed.test, nor a wildcard at signed.test (NSEC proof)"
    )
    assert check.to_json()["exists"] is False


def test_no_tlsa_at_an_existing_name_is_proven_absent(signed: dict[str, Any]) -> None:
    # NODATA: mx.signed.test exists (its A), its NSEC lists no TLSA.
    check = validate(signed["server"], signed["trust_anchors"], "mx.signed.test", "TLSA")
    assert (check.status, check.exists) == ("secure", False), check
    assert check.reason.endswith("signed.test's NSEC record at mx.signed.test lists no TLSA")
    # An empty non-terminal: _tcp.mx.signed.test holds nothing, _25._tcp.mx below it does.
    between = validate(signed["server"], signed["trust_anchors"], "_tcp.mx.signed.test", "TLSA")
    assert between.status == "secure" and "is an empty non-terminal" in between.reason, between


def test_an_existing_record_still_exists(signed: dict[str, Any]) -> None:
    check = validate(signed["server"], signed["trust_anchors"], "_25._tcp.mx.signed.test",
                     "TLSA")  # fmt: skip
    assert (check.status, check.exists) == ("secure", True), check


def test_nsec3_matching_record_without_the_type_is_proven_absent(chain: dict[str, Any]) -> None:
    check = validate(chain["server"], chain["trust_anchors"], f"mx.{chain['nsec3_parent']}",
                     "TLSA")  # fmt: skip
    assert (check.status, check.exists) == ("secure", False), check
    assert check.reason.endswith("nsec3.test's NSEC3 record for mx.nsec3.test lists no TLSA")


def test_a_name_behind_an_nsec3_opt_out_is_absent_but_unproven(chain: dict[str, Any]) -> None:
    # Knot signs nsec3.test with opt-out: the NSEC3 covering nomx.nsec3.test may skip an
    # unsigned delegation there, so the NXDOMAIN is not authenticated (RFC 5155 §6).
    check = validate(chain["server"], chain["trust_anchors"], "_25._tcp.nomx.nsec3.test",
                     "TLSA")  # fmt: skip
    assert (check.status, check.exists) == ("insecure", False), check
    assert check.reason.startswith("no such record, absent but unproven: an opt-out NSEC3 record "
                                   "of nsec3.test covers nomx.nsec3.test")  # fmt: skip


def test_no_tlsa_in_an_unsigned_zone_is_absent_unsigned(chain: dict[str, Any]) -> None:
    check = validate(chain["server"], chain["trust_anchors"], f"mx.{chain['insecure']}", "TLSA")
    assert (check.status, check.exists, check.zone) == ("insecure", False, chain["insecure"])
    assert check.reason == (
        "no such record, absent and unsigned: no DS for insecure.parent.test in parent.test "
        "(NSEC proof): insecure.parent.test is not signed"
    )


# --- forged denials ------------------------------------------------------------------------

Rewrite = Callable[[dns.message.Message], dns.message.Message]


@pytest.fixture
def forger(signed: dict[str, Any]) -> Iterator[Callable[[Rewrite], TinyDnsServer]]:
    """A server in front of Knot that passes every answer through ``rewrite``."""
    host, port = signed["server"].rsplit(":", 1)
    servers: list[TinyDnsServer] = []

    def make(rewrite: Rewrite) -> TinyDnsServer:
        server = TinyDnsServer(lambda name, rdtype: None, upstream=(host, int(port)),
                               rewrite=rewrite)  # fmt: skip
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


def knot_says(signed: dict[str, Any], name: str, rdtype: str) -> dns.message.Message:
    host, port = signed["server"].rsplit(":", 1)
    query = dns.message.make_query(name, rdtype, want_dnssec=True)
    return dns.query.udp(query, host, port=int(port), timeout=5)


def only_for(name: str, change: Rewrite) -> Rewrite:
    """``change`` applied to the TLSA answers for ``name`` only (DNSKEY, DS, SOA pass)."""
    wanted = dns.name.from_text(name)

    def rewrite(reply: dns.message.Message) -> dns.message.Message:
        question = reply.question[0]
        if question.name == wanted and question.rdtype == dns.rdatatype.TLSA:
            return change(reply)
        return reply

    return rewrite


def test_a_stripped_tlsa_answer_is_a_bogus_denial(
    signed: dict[str, Any], forger: Callable[[Rewrite], TinyDnsServer]
) -> None:
    # An attacker removes the TLSA records (DANE off) and hands the zone's signed NSEC at
    # the name as the proof: it lists TLSA.
    name = "_25._tcp.mx.signed.test"
    nsec_there = list(knot_says(signed, name, "NSEC").answer)  # the NSEC and its RRSIG
    assert {r.rdtype for r in nsec_there} == {dns.rdatatype.NSEC, dns.rdatatype.RRSIG}

    def strip(reply: dns.message.Message) -> dns.message.Message:
        reply.answer = []
        reply.authority = nsec_there
        return reply

    server = forger(only_for(name, strip))
    check = validate(server.server, signed["trust_anchors"], name, "TLSA")
    assert (check.status, check.exists) == ("bogus", False), check
    assert check.reason == (
        "no such record, and its denial is bogus: signed.test's NSEC record at "
        "_25._tcp.mx.signed.test lists TLSA, yet the answer has no TLSA record"
    )


@pytest.mark.parametrize("forgery", ["no proof", "unsigned", "replayed", "nxdomain"])
def test_forged_denials_are_bogus(
    signed: dict[str, Any], forger: Callable[[Rewrite], TinyDnsServer], forgery: str
) -> None:
    name = "_25._tcp.nomx.signed.test"
    elsewhere = list(knot_says(signed, "mx.signed.test", "TLSA").authority)  # NSEC at mx: A

    def forge(reply: dns.message.Message) -> dns.message.Message:
        proofs = (dns.rdatatype.NSEC, dns.rdatatype.NSEC3)
        if forgery == "no proof":
            reply.authority = [r for r in reply.authority
                               if r.rdtype not in proofs and r.covers not in proofs]  # fmt: skip
        elif forgery == "unsigned":
            reply.authority = [r for r in reply.authority if r.rdtype != dns.rdatatype.RRSIG]
        elif forgery == "replayed":  # a real signed NSEC, of another name
            reply.authority = elsewhere
        return reply

    target = name if forgery != "nxdomain" else "mx.signed.test"
    if forgery == "nxdomain":  # the name exists (its NSEC says so): NXDOMAIN is a lie

        def forge(reply: dns.message.Message) -> dns.message.Message:
            reply.set_rcode(dns.rcode.NXDOMAIN)
            return reply

    server = forger(only_for(target, forge))
    check = validate(server.server, signed["trust_anchors"], target, "TLSA")
    assert (check.status, check.exists) == ("bogus", False), check
    expected = {
        "no proof": "its answer sends no NSEC or NSEC3 record",
        "unsigned": "is unsigned: it proves nothing about a TLSA record at",
        "replayed": "its NSEC/NSEC3 records do not prove it",
        "nxdomain": "shows the name exists, yet the answer says it does not (NXDOMAIN)",
    }[forgery]
    assert expected in check.reason, check.reason


# --- records built here: what Knot's zones do not show -------------------------------------

ZONE = dns.name.from_text("z.test.")
KEY = ec.generate_private_key(ec.SECP256R1())
DNSKEY = dns.dnssec.make_dnskey(KEY.public_key(), dns.dnssec.Algorithm.ECDSAP256SHA256,
                                flags=257)  # fmt: skip
KEYS = dns.rrset.from_rdata(ZONE, 300, DNSKEY)
NOW = int(time.time())
SALT = "aabbccdd"
BASE32HEX = "0123456789ABCDEFGHIJKLMNOPQRSTUV"


def signed_record(owner: str, rdtype: str, text: str) -> list[dns.rrset.RRset]:
    name = dns.name.from_text(owner, ZONE)
    rrset = dns.rrset.from_rdata(name, 300, dns.rdata.from_text("IN", rdtype, text))
    sig = dns.dnssec.sign(rrset, KEY, ZONE, DNSKEY, inception=NOW - 60, expiration=NOW + 3600)
    return [rrset, dns.rrset.from_rdata(name, 300, sig)]


def nsec3(owner_hash: str, next_hash: str, types: str, opt_out: bool = False
          ) -> list[dns.rrset.RRset]:  # fmt: skip
    return signed_record(owner_hash.lower(), "NSEC3",
                         f"1 {int(opt_out)} 1 {SALT} {next_hash} {types}")  # fmt: skip


def hashed(name: str) -> str:
    return str(dns.dnssec.nsec3_hash(dns.name.from_text(name, ZONE), SALT, 1, 1))


def apex() -> list[dns.rrset.RRset]:
    own = hashed("@")
    assert own[-1] != "V"
    return nsec3(own, own[:-1] + BASE32HEX[BASE32HEX.index(own[-1]) + 1],
                 "NS SOA RRSIG DNSKEY NSEC3PARAM")  # fmt: skip


TLSA = dns.rdatatype.TLSA
QNAME = dns.name.from_text("_25._tcp.mx", ZONE)


def test_nsec3_nxdomain_without_opt_out_is_proven() -> None:
    # The apex matches (closest encloser); one NSEC3 covers every other hash: the next
    # closer name (mx.z.test) and the wildcard *.z.test.
    everything = nsec3("0" * 32, "V" * 32, "A RRSIG")
    denial = deny_answer(QNAME, TLSA, ZONE, True, apex() + everything, KEYS)
    assert (denial.status, denial.reason) == (
        "secure", "no name _25._tcp.mx.z.test in z.test, nor a wildcard at z.test (NSEC3 proof)"
    )  # fmt: skip
    opted = deny_answer(QNAME, TLSA, ZONE, True, apex() + nsec3("0" * 32, "V" * 32, "A RRSIG",
                                                                 opt_out=True), KEYS)  # fmt: skip
    assert opted.status == "insecure" and "opt-out" in opted.reason, opted


def test_an_nxdomain_under_a_wildcard_is_bogus() -> None:
    # The wildcard *.z.test exists (its NSEC): it would have answered, NXDOMAIN is false.
    covering = signed_record("@", "NSEC", "*.z.test. NS SOA RRSIG NSEC DNSKEY")
    wildcard = signed_record("*", "NSEC", "ns.z.test. TLSA RRSIG NSEC")
    denial = deny_answer(QNAME, TLSA, ZONE, True, covering + wildcard, KEYS)
    assert denial.status == "bogus" and "wildcard *.z.test lists TLSA" in denial.reason, denial
    # The same wildcard with no TLSA, under NOERROR: a wildcard NODATA, proven.
    plain = signed_record("*", "NSEC", "ns.z.test. A RRSIG NSEC")
    nodata = deny_answer(QNAME, TLSA, ZONE, False, covering + plain, KEYS)
    assert nodata.status == "secure" and "the wildcard *.z.test holds no TLSA" in nodata.reason


# --- the report: `smtpsh dns --trust-anchor` -----------------------------------------------


def run_dns(server: str, anchors: str, domain: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "smtpsh", "dns", domain, "--dns-server", server,
         "--trust-anchor", anchors, "--json"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_the_report_shows_an_mx_host_s_tlsa_proven_absent(signed: dict[str, Any]) -> None:
    # ns1.signed.test: no MX (implicit: its own address), no TLSA. Both absences proven.
    proc = run_dns(signed["server"], signed["trust_anchors"], "ns1.signed.test")
    result = document(proc, "dns", 0)["result"]
    checks = {(c["type"], c["name"]): c for c in result["dnssec"]["checks"]}
    tlsa = checks[("TLSA", "_25._tcp.ns1.signed.test")]
    assert (tlsa["status"], tlsa["exists"]) == ("secure", False), tlsa
    assert tlsa["reason"].startswith("no such record, proven absent by authenticated denial")
    mx = checks[("MX", "ns1.signed.test")]
    assert (mx["status"], mx["exists"]) == ("secure", False), mx
    [host] = result["dane"]["hosts"]
    assert host["tlsa_absence"]["status"] == "secure"
    # The implicit MX's absence, proven, is the MX answer DANE would rest on.
    assert result["dane"]["mx_dnssec"]["status"] == "secure"


def test_the_report_calls_a_stripped_tlsa_a_bogus_denial_and_an_error(
    signed: dict[str, Any], forger: Callable[[Rewrite], TinyDnsServer]
) -> None:
    # On the path, the TLSA records of mx.signed.test are removed and the NSEC at the name
    # is handed as the proof: the report said "no TLSA records for any MX (DANE not used)",
    # a warning; a validating sender defers mail instead.
    name = "_25._tcp.mx.signed.test"
    nsec_there = list(knot_says(signed, name, "NSEC").answer)

    def strip(reply: dns.message.Message) -> dns.message.Message:
        reply.answer, reply.authority = [], nsec_there
        return reply

    server = forger(only_for(name, strip))
    proc = run_dns(server.server, signed["trust_anchors"], "signed.test")
    result = document(proc, "dns", 1)["result"]  # exit 1: errors found
    [host] = result["dane"]["hosts"]
    assert host["records"] == [] and host["tlsa_absence"]["status"] == "bogus", host
    reasons = [i["reason"] for i in result["dane"]["items"] if i["status"] == "error"]
    assert reasons == [
        "DANE: mx.signed.test: the denial of its TLSA record is DNSSEC-bogus: validating "
        "senders treat the lookup as failed and defer mail to this MX (RFC 7672 §2.2)"
    ]
