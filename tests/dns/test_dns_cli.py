"""`smtpsh dns DOMAIN` as a user runs it: text and JSON reports, exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

import dns.resolver
import pytest
from dns_zone import DnsZone

from smtpsh.dns import dns_report_text

pytestmark = pytest.mark.dns  # needs dnsmasq (tests/dns/conftest.py)


def smtpsh_dns(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("NO_COLOR", None)
    return subprocess.run(
        [sys.executable, "-m", "smtpsh", "dns", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def envelope_json(zone: DnsZone, *args: str) -> tuple[int, dict[str, Any]]:
    """The exit status and the whole --json document (smtpsh's envelope)."""
    proc = smtpsh_dns(*args, "--json", "--dns-server", zone.server)
    data = json.loads(proc.stdout)
    assert data["smtpsh"] == 1 and data["command"] == "dns" and data["exit"] == proc.returncode
    return proc.returncode, data


def report_json(zone: DnsZone, *args: str) -> tuple[int, dict[str, Any]]:
    """The exit status and the report (the envelope's result)."""
    code, data = envelope_json(zone, *args)
    assert data["error"] is None
    return code, data["result"]


def test_text_report_of_a_good_domain(dnsmasq: DnsZone) -> None:
    proc = smtpsh_dns("fallback.example.test", "--dns-server", dnsmasq.server)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    out = proc.stdout
    lines = out.splitlines()
    assert lines[0] == "Mail-domain report for fallback.example.test"
    assert lines[1] == f"  DNS server {dnsmasq.server}"
    for expected in [
        "  [ok]    MX: 2 MX records for fallback.example.test, 2 of 2 resolve to an address",
        "  [ok]    SPF: 1 DNS lookup, within the limit of 10",
        "  [ok]    DMARC: p=reject: mail failing DMARC is rejected",
        "  [ok]    TLS-RPT: reports go to mailto:tlsrpt@example.test",
        "  [ok]    DANE: dead.example.test: 1 TLSA record: 3 1 1 (DANE-EE, SPKI, SHA2-256)",
        '    "v=spf1 mx ip4:127.0.0.0/8 -all"',
        "    (policy file not fetched; use --mta-sts-fetch)",
    ]:
        assert expected in lines
    assert any(line.split() == ["10", "dead.example.test", "127.0.0.2"] for line in lines)
    # The warnings: the TLSA and the MX answers carried no AD bit (dnsmasq does not validate).
    assert lines[-1] == "Summary: 10 ok, 2 warning(s), 0 error(s)"
    assert "\x1b[" not in out  # not a terminal: no colour


def test_spf_over_limit_exits_1_with_the_reason(dnsmasq: DnsZone) -> None:
    proc = smtpsh_dns("spf-over.example.test", "--dns-server", dnsmasq.server)
    assert proc.returncode == 1
    assert "  [error] SPF: 12 DNS lookups, over the limit of 10 (permerror)" in proc.stdout
    assert "    include:spf1.example.test  (3 lookups)" in proc.stdout
    assert "      include:spf3.example.test  (3 lookups)" in proc.stdout


def test_json_report(dnsmasq: DnsZone) -> None:
    code, data = report_json(dnsmasq, "spf-over.example.test")
    assert code == 1
    assert data["domain"] == "spf-over.example.test"
    assert data["status"] == "error"
    assert data["spf"]["lookups"] == 12
    errors = [i for i in data["items"] if i["status"] == "error"]
    assert errors == [
        {
            "check": "SPF",
            "status": "error",
            "reason": "SPF: 12 DNS lookups, over the limit of 10 (permerror)",
        }
    ]
    assert data["dmarc"]["policy"] == "quarantine"
    assert data["dmarc"]["pct"] == 50
    assert data["summary"]["error"] == 1

    code, data = report_json(dnsmasq, "spf-ok.example.test")
    assert code == 0
    assert {
        "check": "DMARC",
        "status": "warning",
        "reason": "DMARC: p=none: reports only, no enforcement",
    } in data["items"]


def test_json_for_mx_kinds(dnsmasq: DnsZone) -> None:
    code, data = report_json(dnsmasq, "nullmx.example.test")
    assert code == 0
    assert data["mx"]["kind"] == "null"
    assert data["mx"]["accepts_mail"] is False
    assert data["mx"]["candidates"] == []
    assert data["mta_sts"] is None

    code, data = report_json(dnsmasq, "implicit.example.test")
    assert code == 0
    assert data["mx"]["kind"] == "implicit"
    assert data["mx"]["candidates"] == [{"host": "implicit.example.test", "address": "127.0.0.5"}]


def test_dkim_selector_option(dnsmasq: DnsZone) -> None:
    code, data = report_json(
        dnsmasq, "fallback.example.test", "--dkim-selector", "s2048", "--dkim-selector", "short"
    )
    assert code == 1  # the 768-bit key is an error
    assert [(d["selector"], d["key_bits"]) for d in data["dkim"]] == [
        ("s2048", 2048),
        ("short", 768),
    ]
    proc = smtpsh_dns(
        "fallback.example.test", "--dns-server", dnsmasq.server, "--dkim-selector", "ed"
    )
    assert "DKIM selector ed" in proc.stdout
    assert "  [ok]    DKIM: ed: Ed25519 key (RFC 8463)" in proc.stdout


def test_nxdomain_fails_with_one_line(dnsmasq: DnsZone) -> None:
    proc = smtpsh_dns("nothere.example.test", "--dns-server", dnsmasq.server)
    assert proc.returncode == 4  # could not run (2 is a bad command line)
    assert proc.stdout == ""
    assert proc.stderr == "smtpsh dns: nothere.example.test: NXDOMAIN (the name does not exist)\n"
    code, data = envelope_json(dnsmasq, "nothere.example.test")
    assert code == 4 and data["status"] == "failed" and data["result"] is None
    assert data["error"] == {
        "kind": "nxdomain",
        "message": "nothere.example.test: NXDOMAIN (the name does not exist)",
    }


def test_servfail_and_timeout_fail(dnsmasq: DnsZone) -> None:
    proc = smtpsh_dns("servfail.example.test", "--dns-server", dnsmasq.server)
    assert proc.returncode == 4
    assert proc.stderr == (
        "smtpsh dns: servfail.example.test: SERVFAIL (the DNS server failed to answer)\n"
    )
    started = time.monotonic()
    proc = smtpsh_dns(
        "timeout.example.test", "--dns-server", dnsmasq.server, "--dns-timeout", "0.5"
    )
    elapsed = time.monotonic() - started
    assert proc.returncode == 4
    assert proc.stderr == (
        "smtpsh dns: timeout.example.test: timeout (no answer from the DNS server)\n"
    )
    assert elapsed < 10  # --dns-timeout is honoured


def test_bad_input_is_one_line(dnsmasq: DnsZone) -> None:
    cases = {
        ("exa mple.test", "--dns-server", dnsmasq.server): (
            "smtpsh dns: 'exa mple.test' is not a domain name\n"
        ),
        ("fallback.example.test", "--dns-server", "dns.example.test"): (
            "smtpsh dns: bad DNS server 'dns.example.test': not an IP address\n"
        ),
        ("fallback.example.test", "--dns-server", "127.0.0.1:99999"): (
            "smtpsh dns: bad DNS server '127.0.0.1:99999': port must be 1-65535\n"
        ),
        ("192.0.2.1", "--dns-server", dnsmasq.server): (
            "smtpsh dns: 192.0.2.1 is an IP address, not a domain name\n"
        ),
    }
    for args, stderr in cases.items():
        proc = smtpsh_dns(*args)
        assert (proc.returncode, proc.stdout, proc.stderr) == (2, "", stderr)
    proc = smtpsh_dns("fallback.example.test", "--dns-timeout", "0")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.splitlines()[-1] == (
        "smtpsh dns: error: argument --dns-timeout: '0': must be more than 0 seconds"
    )


def test_color_flag(dnsmasq: DnsZone) -> None:
    proc = smtpsh_dns("spf-over.example.test", "--dns-server", dnsmasq.server, "--color", "always")
    assert "\x1b[31m[error]\x1b[0m SPF: 12 DNS lookups" in proc.stdout
    assert "\x1b[32m[ok]" in proc.stdout


def test_dns_report_text_for_the_shell(resolver: dns.resolver.Resolver) -> None:
    text = dns_report_text("spf-ok.example.test", resolver)
    assert text.splitlines()[0] == "Mail-domain report for spf-ok.example.test"
    assert "  [warn]  DMARC: p=none: reports only, no enforcement" in text
    assert dns_report_text("nothere.example.test", resolver) == (
        "dns: nothere.example.test: NXDOMAIN (the name does not exist)"
    )
    assert dns_report_text("a..b", resolver).startswith("dns: 'a..b' is not a valid domain name")
