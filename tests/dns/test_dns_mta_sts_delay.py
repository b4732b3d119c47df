"""--delay with many domains spaces the MTA-STS policy fetches (HTTPS) to one address, as it
spaces --check-mx's connections to one MX: hosted domains often share a policy server."""

from __future__ import annotations

import argparse
import asyncio
import http.server
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from tiny_dns import TinyDnsServer

from smtpsh.dnsinfo import policy as policy_module
from smtpsh.fleet.jobs import make_plan
from smtpsh.fleet.targets import Host

DOMAINS = ("one.test", "two.test", "three.test")
POLICY = b"version: STSv1\nmode: enforce\nmx: mx.shared.test\nmax_age: 604800\n"


def zone(name: str, rdtype: str) -> list[str]:
    """Every domain's MX is mx.shared.test; every host, its policy host too, is 127.0.0.1."""
    if rdtype == "MX" and name in DOMAINS:
        return ["10 mx.shared.test."]
    if rdtype == "TXT" and name.startswith("_mta-sts."):
        return ['"v=STSv1; id=20261206"']
    if rdtype == "A" and (name == "mx.shared.test" or name.startswith("mta-sts.")):
        return ["127.0.0.1"]
    return []


@pytest.fixture
def policy_server(tmp_path: Path) -> Iterator[tuple[int, Path, list[float]]]:
    """An HTTPS server on 127.0.0.1 serving the policy of every domain; it notes when each
    request came. (port, the CA file that trusts it, the request times)"""
    ca = trustme.CA()
    cert = ca.issue_cert(*(f"mta-sts.{d}" for d in DOMAINS))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    times: list[float] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            times.append(time.monotonic())
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(POLICY)))
            self.end_headers()
            self.wfile.write(POLICY)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    cafile = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(cafile))
    try:
        yield httpd.server_address[1], cafile, times
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def dns_args(*argv: str) -> argparse.Namespace:
    from smtpsh.dns import add_arguments

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


def test_delay_spaces_the_policy_fetches_to_one_address(
    policy_server: tuple[int, Path, list[float]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The three domains' policy hosts are all 127.0.0.1: fetched concurrently, the three
    # HTTPS connections came at once, whatever --delay said.
    port, cafile, times = policy_server
    # The well-known URL is on port 443; this server listens on a free port.
    monkeypatch.setattr(policy_module, "policy_url",
                        lambda domain: f"https://mta-sts.{domain}:{port}/.well-known/mta-sts.txt")
    delay = 1.0
    server = TinyDnsServer(zone)
    try:
        args = dns_args(*DOMAINS, "--mta-sts-fetch", "--cafile", str(cafile), "--delay",
                        str(delay), "--dns-server", server.server)  # fmt: skip
        plan = make_plan("dns", args)

        async def run_all() -> list[dict[str, object]]:
            return await asyncio.gather(*(plan.job(Host(d)) for d in DOMAINS))

        docs = asyncio.run(run_all())
    finally:
        server.close()
    for doc in docs:
        result = doc["result"]
        assert isinstance(result, dict), doc
        assert result["mta_sts"]["policy"]["mode"] == "enforce", result["mta_sts"]
    assert len(times) == 3
    gaps = [b - a for a, b in zip(sorted(times), sorted(times)[1:], strict=False)]
    # A lower bound: it fails when the fetches are not spaced (they were ~0.01 s apart).
    assert all(gap >= delay * 0.9 for gap in gaps), gaps
