"""`smtpsh --mx DOMAIN` and the shell's /mx, /dns, /info against the dnsmasq test zone."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from dns_zone import DnsZone

if TYPE_CHECKING:
    PostfixLike = Any


def run(args: list[str], script: str, home: Path) -> subprocess.CompletedProcess[str]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from tests.helpers.run import run_piped

    return run_piped(args, script, home)


@pytest.mark.postfix
def test_mx_falls_back_to_the_second_exchanger(
    dnsmasq: DnsZone, postfix: PostfixLike, tmp_path: Path
) -> None:
    result = run(
        ["--mx", "fallback.example.test", "--dns-server", dnsmasq.server, "-4"], "QUIT\n", tmp_path
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert out.startswith("MX for fallback.example.test")
    assert "· trying MX dead.example.test (127.0.0.2)" in out
    assert "✗ cannot connect to 127.0.0.2:25" in out
    assert f"· connected to {dnsmasq.postfix_host} (127.0.0.1)" in out
    assert f"S: 220 {postfix.banner}" in out


def test_null_mx_says_no_mail(dnsmasq: DnsZone, tmp_path: Path) -> None:
    result = run(
        ["--mx", "nullmx.example.test", "--dns-server", dnsmasq.server], "QUIT\n", tmp_path
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "nullmx.example.test: no mail exchanger to connect to" in result.stderr
    assert "accepts no mail" in result.stdout


def test_unknown_domain_is_one_line(dnsmasq: DnsZone, tmp_path: Path) -> None:
    result = run(
        ["--mx", "nothere.example.test", "--dns-server", dnsmasq.server], "QUIT\n", tmp_path
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stdout + result.stderr
    assert "NXDOMAIN" in result.stdout + result.stderr


@pytest.mark.postfix
def test_shell_dns_commands(dnsmasq: DnsZone, postfix: PostfixLike, tmp_path: Path) -> None:
    script = "/mx fallback.example.test\n/dns nothere.example.test\n/info\n/mx\nQUIT\n"
    result = run(["--dns-server", dnsmasq.server, postfix.host], script, tmp_path)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "MX for fallback.example.test" in out
    assert "try order: dead.example.test [127.0.0.2]" in out
    assert "dns: " in out and "NXDOMAIN" in out
    assert "connected to 127.0.0.1 port 25" in out
    assert "✗ usage: /mx DOMAIN" in out
