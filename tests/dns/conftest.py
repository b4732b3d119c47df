"""A real dnsmasq on 127.0.0.1 serving the test zone ``example.test``; nothing is forwarded
anywhere but to two loopback helpers (one answers SERVFAIL, one never answers).

dnsmasq missing: the tests fail under CI=true and are skipped otherwise.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator

import dns.resolver
import pytest
from dns_zone import (
    DnsZone,
    free_port,
    in_ci,
    make_dkim_keys,
    postfix_hostname,
    wait_until_serving,
    zone_lines,
)
from tiny_dns import TinyDnsServer


@pytest.fixture(scope="session")
def dnsmasq(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DnsZone]:
    """dnsmasq serving the test zone on 127.0.0.1:<free port>."""
    binary = shutil.which("dnsmasq") or next(
        (p for p in ("/usr/sbin/dnsmasq", "/sbin/dnsmasq") if os.access(p, os.X_OK)), None
    )
    if binary is None:
        if in_ci():
            pytest.fail("dnsmasq is not installed (scripts/setup-test-env installs it)")
        pytest.skip("dnsmasq is not installed; run scripts/setup-test-env")
    workdir = tmp_path_factory.mktemp("dnsmasq")
    # The upstream dnsmasq forwards servfail.example.test to: dnsmasq then answers SERVFAIL.
    servfail = TinyDnsServer(lambda name, rdtype: None, servfail=True)
    # Bound and never read: queries forwarded here are never answered.
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    keys = make_dkim_keys()
    postfix_host = postfix_hostname()
    conf = workdir / "dnsmasq.conf"
    lines = zone_lines(postfix_host, keys, servfail.port, silent.getsockname()[1])
    conf.write_text("\n".join(lines) + "\n", encoding="utf-8")
    log_file = workdir / "dnsmasq.log"
    zone = DnsZone("127.0.0.1", free_port(), postfix_host, keys, log_file)
    command = [
        binary,
        "--keep-in-foreground",
        f"--port={zone.port}",
        "--listen-address=127.0.0.1",
        "--bind-interfaces",
        "--no-resolv",
        "--no-hosts",
        "--no-poll",
        f"--conf-file={conf}",
        f"--pid-file={workdir / 'dnsmasq.pid'}",
        "--log-facility=-",
        "--log-queries",
        "--cache-size=0",
    ]
    with log_file.open("wb") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until_serving(proc, zone, timeout=10)
        yield zone
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        servfail.close()
        silent.close()


@pytest.fixture(scope="session")
def resolver(dnsmasq: DnsZone) -> dns.resolver.Resolver:
    return dnsmasq.resolver()
