"""NS/SOA, BIMI and DNS blocklists against the dnsmasq test zone, and the whole report
with them (text and JSON), as `smtpsh dns` prints it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import dns.resolver
import pytest
from dns_zone import DnsZone

from smtpsh.dnsinfo.model import Item, Status
from smtpsh.dnsinfo.zoneinfo import check_bimi, check_dnsbl, check_zone, dnsbl_name

pytestmark = pytest.mark.dns


def pairs(items: list[Item]) -> list[tuple[Status, str]]:
    return [(i.status, f"{i.check}: {i.text}") for i in items]


def test_zone_of_a_subdomain_is_found_by_walking_up(resolver: dns.resolver.Resolver) -> None:
    zone = check_zone("fallback.example.test", resolver)
    assert zone.zone == "example.test"
    assert zone.name_servers == ["ns1.example.test", "ns2.example.test"]
    assert zone.soa is not None and zone.soa["serial"] == 2026120601
    assert zone.soa["contact"] == "hostmaster.example.test"
    assert pairs(zone.items()) == [
        (Status.OK, "zone: zone example.test: 2 name servers, SOA serial 2026120601")
    ]


def test_a_zone_with_one_name_server_is_warned_about(resolver: dns.resolver.Resolver) -> None:
    assert pairs(check_zone("sub.corp.test", resolver).items()) == [
        (
            Status.WARNING,
            "zone: zone corp.test has 1 name server; at least 2 are expected (RFC 1034 §4.1)",
        )
    ]


def test_bimi(resolver: dns.resolver.Resolver) -> None:
    good = check_bimi("fallback.example.test", resolver)
    assert good.logo == "https://fallback.example.test/bimi/logo.svg"
    assert pairs(good.items()) == [(Status.OK, f"BIMI: logo {good.logo}")]
    assert pairs(check_bimi("broken.example.test", resolver).items()) == [
        (
            Status.ERROR,
            "BIMI: l=http://broken.example.test/logo.png: the logo must be fetched over https",
        ),
        (
            Status.WARNING,
            "BIMI: no a= (mark certificate): most mail clients show no logo without one",
        ),
    ]
    assert pairs(check_bimi("spf-ok.example.test", resolver).items()) == [
        (Status.OK, "BIMI: no BIMI record at default._bimi.spf-ok.example.test (optional)")
    ]


def test_dnsbl_names() -> None:
    assert dnsbl_name("192.0.2.99", "bl.example") == "99.2.0.192.bl.example"
    assert dnsbl_name("2001:db8::1", "bl.example").startswith("1.0.0.0.0.0.0.0.")
    assert dnsbl_name("2001:db8::1", "bl.example").endswith(".8.b.d.0.1.0.0.2.bl.example")


def test_dnsbl_listed_and_not(resolver: dns.resolver.Resolver) -> None:
    result = check_dnsbl(["127.0.0.1", "127.0.0.5"], ["bl.example.test"], resolver)
    assert pairs(result.items()) == [
        (
            Status.ERROR,
            "DNSBL: 127.0.0.1 is listed on bl.example.test (127.0.0.2): "
            "Listed for the smtpsh tests",
        ),
        (Status.OK, "DNSBL: 127.0.0.5 is not listed on bl.example.test"),
    ]
    assert [x.listed for x in result.listings] == [True, False]


def test_dnsbl_that_does_not_answer_is_inconclusive(resolver: dns.resolver.Resolver) -> None:
    result = check_dnsbl(["127.0.0.1"], ["servfail.example.test"], resolver)
    assert result.listings[0].listed is None
    assert result.items()[0].status is Status.WARNING
    assert "inconclusive" in result.items()[0].text


def test_cli_report_has_the_new_sections(dnsmasq: DnsZone) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "smtpsh", "dns", "fallback.example.test", "--dns-server",
         dnsmasq.server, "--dnsbl", "bl.example.test", "--color", "never"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr  # the MX address is listed: an error
    for heading in ("BIMI", "DNS blocklists", "Zone (NS, SOA)"):
        assert f"\n{heading}\n" in out, out
    assert "NS ns1.example.test" in out and "is listed on bl.example.test" in out
    proc = subprocess.run(
        [sys.executable, "-m", "smtpsh", "dns", "sub.corp.test", "--dns-server",
         dnsmasq.server, "--json"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    data = json.loads(proc.stdout)
    report = data.get("result", data)  # the versioned envelope, or the report itself
    assert report["dmarc"]["organisational_domain"] == "corp.test"
    assert report["dmarc"]["applied_policy"] == "quarantine"
    assert report["zone"]["zone"] == "corp.test"
    assert report["dnsbl"] is None  # no --dnsbl given


def test_bad_dnsbl_zone_is_one_line(dnsmasq: DnsZone) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "smtpsh", "dns", "fallback.example.test", "--dnsbl", "a b"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "'a b' is not a domain name" in proc.stderr


@pytest.mark.postfix
def test_check_mx_matches_tlsa_against_the_live_certificate(
    dnsmasq: DnsZone, postfix: object
) -> None:
    """`--check-mx`: STARTTLS to each MX of dane.example.test (both the loopback Postfix):
    the 3 1 1 record of the first matches its key, the bogus 2 0 2 of the second does not."""
    proc = subprocess.run(
        [sys.executable, "-m", "smtpsh", "dns", "dane.example.test", "--dns-server",
         dnsmasq.server, "--check-mx", "--json"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    data = json.loads(proc.stdout)
    report = data.get("result", data)
    checks = {c["host"]: c for c in report["dane"]["checks"]}
    good = checks["danegood.example.test"]
    assert good["verdict"] == "match", good
    assert good["tlsa"][0]["matched"] is True and good["tlsa"][0]["depth"] == 0
    assert good["tls"].startswith("TLSv1.")
    bad = checks[dnsmasq.postfix_host]
    assert bad["verdict"] == "mismatch", bad
    texts = [i["reason"] for i in report["items"] if i["check"] == "DANE"]
    assert any("3 1 1 (DANE-EE, SPKI, SHA2-256): matches the server's certificate" in t
               for t in texts), texts
    assert any("no TLSA record matches: DANE senders will not deliver" in t for t in texts), texts
    assert proc.returncode == 1  # the mismatch is an error


def test_cert_shows_the_tlsa_data_to_publish() -> None:
    from smtpsh.net.certinfo import parse_pem, tlsa_data

    pem = Path("/var/lib/smtpsh-test/server.pem")
    if not pem.exists():
        pytest.skip("needs the test certificates (scripts/setup-test-env)")
    cert = parse_pem(pem.read_text())[0]
    from dns_zone import server_spki_sha256

    assert tlsa_data(cert, 1, 1) == server_spki_sha256()
    assert tlsa_data(cert, 0, 0) == cert.der.hex()
    assert len(tlsa_data(cert, 0, 2) or "") == 128 and tlsa_data(cert, 1, 9) is None


@pytest.mark.postfix
def test_probe_shows_the_tlsa_data_of_the_server_certificate(postfix: object) -> None:
    from dns_zone import server_spki_sha256

    proc = subprocess.run(
        [sys.executable, "-m", "smtpsh", "probe", "127.0.0.1:25", "--no-relay",
         "--color", "never"],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert f"TLSA 3 1 1:  {server_spki_sha256()}  (SPKI SHA-256)" in proc.stdout, proc.stdout
    assert "(cert SHA-512)" in proc.stdout
