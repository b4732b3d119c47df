"""`smtpsh dns` over many domains (-T FILE, several on the command line): one JSON line a
domain, the same envelope as --json, bad lines named, the run's status."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dns_zone import DnsZone
from helpers.jsondoc import VALIDATOR

from smtpsh import exitcodes


def smtpsh_dns(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "smtpsh", "dns", *args], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "NO_COLOR": "1"})


def test_many_domains_from_a_file(dnsmasq: DnsZone, tmp_path: Path) -> None:
    domains = tmp_path / "domains.txt"
    domains.write_text("# ours\nfallback.example.test\nspf-over.example.test\n"
                       "not a domain\nnothere.example.test\nfallback.example.test\n")
    out = tmp_path / "dns.jsonl"
    proc = smtpsh_dns("-T", str(domains), "--jsonl", str(out), "--dns-server", dnsmasq.server)
    assert proc.returncode == exitcodes.FOUND, proc.stdout + proc.stderr
    assert f"{domains}:4:" in proc.stderr and "Traceback" not in proc.stderr
    docs = {}
    for line in out.read_text().splitlines():
        doc = json.loads(line)
        VALIDATOR.validate(doc)
        docs[doc["target"]] = doc
    assert set(docs) == {"fallback.example.test", "spf-over.example.test",
                         "nothere.example.test"}  # the duplicate: once
    assert docs["spf-over.example.test"]["status"] == "found"
    assert docs["nothere.example.test"]["error"]["kind"] == "nxdomain"
    assert docs["fallback.example.test"]["result"]["domain"] == "fallback.example.test"
    assert "3 hosts checked" in proc.stdout and "DNS errors: 1 host" in proc.stdout


def test_several_domains_on_the_command_line_print_json_lines(dnsmasq: DnsZone) -> None:
    proc = smtpsh_dns("fallback.example.test", "nothere.example.test", "--json",
                      "--dns-server", dnsmasq.server)
    docs = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [d["target"] for d in sorted(docs, key=lambda d: d["target"])] == [
        "fallback.example.test", "nothere.example.test"]
    # nothing found; one domain does not resolve: cannot say all is well
    assert proc.returncode == exitcodes.UNDETERMINED, proc.stdout + proc.stderr


@pytest.mark.postfix
def test_delay_spaces_the_check_mx_connections_to_one_mx(dnsmasq: DnsZone, tmp_path: Path
                                                         ) -> None:
    """--delay with many domains: --check-mx's connections to the same MX address wait
    their turn. Both MX of dane.example.test, and the Postfix MX of fallback.example.test,
    are 127.0.0.1: three connections to it, so at least two delays (a lower bound: it
    fails if they are not spaced)."""
    delay = 1.0
    out = tmp_path / "dns.jsonl"
    started = time.monotonic()
    proc = smtpsh_dns("dane.example.test", "fallback.example.test", "--check-mx", "--delay",
                      str(delay), "--jsonl", str(out), "--dns-server", dnsmasq.server)
    took = time.monotonic() - started
    assert "Traceback" not in proc.stderr, proc.stderr
    checks = []
    for line in out.read_text().splitlines():
        doc = json.loads(line)
        VALIDATOR.validate(doc)
        checks += doc["result"]["dane"]["checks"]
    # Every MX these two domains name that answers is the loopback Postfix at 127.0.0.1.
    reached = [c for c in checks if c["error"] is None and c["tls"]]
    assert len(reached) >= 2, checks
    assert took >= (len(reached) - 1) * delay


@pytest.mark.postfix
def test_one_domain_spaces_its_check_mx_connections_too(dnsmasq: DnsZone) -> None:
    """dane.example.test alone: its two MX are both 127.0.0.1, one delay apart."""
    started = time.monotonic()
    proc = smtpsh_dns("dane.example.test", "--check-mx", "--delay", "1.5", "--json",
                      "--dns-server", dnsmasq.server)
    took = time.monotonic() - started
    doc = json.loads(proc.stdout)
    reached = [c for c in doc["result"]["dane"]["checks"] if c["error"] is None and c["tls"]]
    assert len(reached) == 2, doc["result"]["dane"]["checks"]
    assert took >= 1.5
    bad = smtpsh_dns("dane.example.test", "--delay=-1", "--json")
    assert bad.returncode == exitcodes.USAGE
    assert bad.stderr == "smtpsh dns: --delay must be from 0 to 3600 seconds\n"
    assert json.loads(bad.stdout)["error"]["kind"] == "usage"
