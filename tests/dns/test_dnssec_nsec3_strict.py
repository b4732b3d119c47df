"""Proven absence under NSEC3 without opt-out, on a zone Knot signs (scripts/setup-dnssec:
nsec3strict.test on a knotd of its own), where only records built with dnspython showed it
before; and a domain with no MX and no address, whose missing MX (and addresses) are now
validated with --trust-anchor as an implicit MX's is: proven absent, absent and unsigned,
absent but unproven (an opt-out NSEC3, also at an empty non-terminal that such a chain
leaves out: it was called bogus), or a bogus denial. smtpsh validated nothing for
such a domain: 'no MX and no address: mail cannot be delivered' rested on answers anyone on
the path could forge."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import pytest
from tiny_dns import TinyDnsServer

from tests.dns.test_dnssec_absence import facts, validate
from tests.helpers.jsondoc import document

STRICT = Path("/var/lib/smtpsh-test/dnssec-nsec3.json")
Rewrite = Callable[[dns.message.Message], dns.message.Message]


@pytest.fixture(scope="module")
def strict() -> dict[str, Any]:
    return facts(STRICT)


def knot_says(server: str, name: str, rdtype: str) -> dns.message.Message:
    host, port = server.rsplit(":", 1)
    query = dns.message.make_query(name, rdtype, want_dnssec=True)
    return dns.query.udp(query, host, port=int(port), timeout=5)


def run_dns(server: str, anchors: str, domain: str, *more: str
            ) -> subprocess.CompletedProcess[str]:  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "smtpsh", "dns", domain, "--dns-server", server,
         "--trust-anchor", anchors, *more],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def checks_of(result: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(c["type"], c["name"]): c for c in result["dnssec"]["checks"]}


def no_mail_checks(strict: dict[str, Any], domain: str, status: str, reason: str) -> None:
    """`smtpsh dns DOMAIN --trust-anchor` finds no MX and no address, and judges the
    absence of each (MX, A, AAAA) ``status`` with ``reason`` ({rdtype} for the type)."""
    proc = run_dns(strict["server"], strict["trust_anchors"], domain, "--json")
    result = document(proc, "dns", proc.returncode)["result"]
    assert result["mx"]["kind"] == "none", result["mx"]
    checks = checks_of(result)
    for rdtype in ("MX", "A", "AAAA"):
        check = checks[(rdtype, domain)]
        assert (check["status"], check["exists"]) == (status, False), check
        assert check["reason"] == reason.format(rdtype=rdtype), check


# --- NSEC3 without opt-out: an NXDOMAIN proven ---------------------------------------------


def test_knot_s_nxdomain_is_an_nsec3_proof_without_opt_out(strict: dict[str, Any]) -> None:
    # What the tests below rest on: Knot answers NXDOMAIN with NSEC3 records, none opt-out.
    reply = knot_says(strict["server"], f"_25._tcp.mx.{strict['zone']}", "TLSA")
    assert reply.rcode() == dns.rcode.NXDOMAIN
    records = [rd for r in reply.authority if r.rdtype == dns.rdatatype.NSEC3 for rd in r]
    assert records and all(rd.flags & 1 == 0 for rd in records), records  # type: ignore[attr-defined]


@pytest.mark.parametrize(("name", "rdtype", "wildcard_at"), [
    ("_25._tcp.mx", "TLSA", "mx.nsec3strict.test"),  # the MX host's TLSA name
    ("nx", "MX", "nsec3strict.test"),  # a mail domain that does not exist
])  # fmt: skip
def test_an_nsec3_nxdomain_without_opt_out_is_proven_absent(
    strict: dict[str, Any], name: str, rdtype: str, wildcard_at: str
) -> None:
    qname = f"{name}.{strict['zone']}"
    check = validate(strict["server"], strict["trust_anchors"], qname, rdtype)
    assert (check.status, check.exists, check.zone) == ("secure", False, strict["zone"]), check
    assert check.reason == (
        f"no such record, proven absent by authenticated denial: no name {qname} in "
        f"{strict['zone']}, nor a wildcard at {wildcard_at} (NSEC3 proof)"
    )


@pytest.fixture
def forger(strict: dict[str, Any]) -> Iterator[Callable[[str, Rewrite], TinyDnsServer]]:
    """A server in front of Knot that passes the answers for one name through a rewrite."""
    host, port = strict["server"].rsplit(":", 1)
    servers: list[TinyDnsServer] = []

    def make(name: str, change: Rewrite) -> TinyDnsServer:
        wanted = dns.name.from_text(name)

        def rewrite(reply: dns.message.Message) -> dns.message.Message:
            return change(reply) if reply.question[0].name == wanted else reply

        server = TinyDnsServer(lambda name, rdtype: None, upstream=(host, int(port)),
                               rewrite=rewrite)  # fmt: skip
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


def without_signatures(reply: dns.message.Message) -> dns.message.Message:
    reply.authority = [r for r in reply.authority if r.rdtype != dns.rdatatype.RRSIG]
    return reply


def without_proof(reply: dns.message.Message) -> dns.message.Message:
    proofs = (dns.rdatatype.NSEC3, dns.rdatatype.NSEC)
    reply.authority = [r for r in reply.authority
                       if r.rdtype not in proofs and r.covers not in proofs]  # fmt: skip
    return reply


@pytest.mark.parametrize("forge", [without_signatures, without_proof])
def test_a_forged_nsec3_nxdomain_is_bogus(
    strict: dict[str, Any], forger: Callable[[str, Rewrite], TinyDnsServer], forge: Rewrite
) -> None:
    qname = f"_25._tcp.mx.{strict['zone']}"
    server = forger(qname, forge)
    check = validate(server.server, strict["trust_anchors"], qname, "TLSA")
    assert (check.status, check.exists) == ("bogus", False), check


def test_the_report_proves_the_mx_host_s_tlsa_absent(strict: dict[str, Any]) -> None:
    proc = run_dns(strict["server"], strict["trust_anchors"], strict["zone"], "--json")
    result = document(proc, "dns", proc.returncode)["result"]
    tlsa = checks_of(result)[("TLSA", f"_25._tcp.mx.{strict['zone']}")]
    assert (tlsa["status"], tlsa["exists"]) == ("secure", False), tlsa
    assert tlsa["reason"].endswith("(NSEC3 proof)"), tlsa
    [host] = result["dane"]["hosts"]
    assert host["tlsa_absence"]["status"] == "secure"


# --- a domain with no MX and no address ----------------------------------------------------


def test_no_mx_and_no_address_proven_absent(strict: dict[str, Any]) -> None:
    domain = strict["no_mail"]  # nomail.nsec3strict.test: a TXT record only
    no_mail_checks(strict, domain, "secure", "no such record, proven absent by authenticated "
                   f"denial: nsec3strict.test's NSEC3 record for {domain} lists no {{rdtype}}")
    text = run_dns(strict["server"], strict["trust_anchors"], domain).stdout
    assert f"MX {domain}: secure (no such record, proven absent by authenticated denial" in text


def test_no_mx_and_no_address_in_an_unsigned_zone(strict: dict[str, Any]) -> None:
    domain = strict["unsigned_no_mail"]
    proc = run_dns(strict["server"], strict["trust_anchors"], domain, "--json")
    result = document(proc, "dns", proc.returncode)["result"]
    assert result["mx"]["kind"] == "none", result["mx"]
    mx = checks_of(result)[("MX", domain)]
    assert (mx["status"], mx["exists"]) == ("insecure", False), mx
    assert mx["reason"] == (
        "no such record, absent and unsigned: no DS for unsigned.nsec3strict.test in "
        "nsec3strict.test (NSEC3 proof): unsigned.nsec3strict.test is not signed"
    )


def test_no_mx_at_an_empty_non_terminal_behind_an_opt_out_is_unproven(
    strict: dict[str, Any],
) -> None:
    # ent.nsec3optout.test exists only above an unsigned delegation (deleg.ent): Knot's
    # opt-out chain gives it no NSEC3, and its NODATA answer is the closest encloser proof
    # with an opt-out NSEC3 over it. smtpsh called that denial bogus (no NSEC3 matches the
    # name): a signed zone's real answer, said to be forged. It proves nothing either way.
    domain = strict["opt_out_no_mail"]
    reply = knot_says(strict["server"], domain, "MX")
    assert reply.rcode() == dns.rcode.NOERROR and not reply.answer
    no_mail_checks(strict, domain, "insecure", "no such record, absent but unproven: an "
                   f"opt-out NSEC3 record of nsec3optout.test covers {domain}: an unsigned "
                   "delegation may be there, so no answer's absence is proven below it "
                   "(RFC 5155 §6)")  # fmt: skip


def test_a_stripped_denial_of_the_mx_is_bogus_and_an_error(
    strict: dict[str, Any], forger: Callable[[str, Rewrite], TinyDnsServer]
) -> None:
    # The MX of nomail.nsec3strict.test denied with the signatures removed from its proof:
    # whoever is on the path could have removed an MX record the same way.
    domain = strict["no_mail"]
    server = forger(domain, without_signatures)
    proc = run_dns(server.server, strict["trust_anchors"], domain, "--json")
    result = document(proc, "dns", 1)["result"]  # exit 1: errors found
    mx = checks_of(result)[("MX", domain)]
    assert (mx["status"], mx["exists"]) == ("bogus", False), mx
    errors = [i["reason"] for i in result["dnssec"]["items"] if i["status"] == "error"]
    assert any(e.startswith(f"DNSSEC: MX {domain}: bogus (no such record, and its denial is bogus")
               for e in errors), errors  # fmt: skip
