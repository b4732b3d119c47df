"""Fetching the MTA-STS policy file (RFC 8461 §3.3), against a loopback HTTPS server with a
test CA; and the report's --mta-sts-fetch path with the fetch replaced."""

from __future__ import annotations

import http.server
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import dns.resolver
import pytest
import trustme
from dns_zone import DnsZone

from smtpsh.dns import build_report, render_text
from smtpsh.dnsinfo import policy as policy_module
from smtpsh.dnsinfo.model import Status
from smtpsh.dnsinfo.policy import POLICY_SIZE_LIMIT, fetch_mta_sts_policy, resolving_fetch

POLICY = "version: STSv1\nmode: enforce\nmx: dead.example.test\nmax_age: 604800\n"

# path -> (status, content type, body, extra headers)
ROUTES: dict[str, tuple[int, str, bytes, dict[str, str]]] = {
    "/.well-known/mta-sts.txt": (200, "text/plain; charset=utf-8", POLICY.encode(), {}),
    "/html": (200, "text/html", b"<html></html>", {}),
    "/moved": (301, "text/plain", b"", {"Location": "/.well-known/mta-sts.txt"}),
    "/missing": (404, "text/plain", b"not here", {}),
    "/big": (200, "text/plain", b"x" * (POLICY_SIZE_LIMIT + 10), {}),
}


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status, ctype, body, headers = ROUTES.get(self.path, (404, "text/plain", b"", {}))
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass


@pytest.fixture(scope="module")
def https_server() -> Iterator[tuple[str, ssl.SSLContext]]:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "mta-sts.fallback.example.test")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_ctx)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.socket = server_ctx.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    try:
        yield f"https://127.0.0.1:{httpd.server_address[1]}", client_ctx
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def test_fetch_returns_the_policy(https_server: tuple[str, ssl.SSLContext]) -> None:
    base, ctx = https_server
    text = fetch_mta_sts_policy(
        "example.test", 5, url=f"{base}/.well-known/mta-sts.txt", context=ctx
    )
    assert text == POLICY


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/moved", "HTTP 301 Moved Permanently from "),
        ("/missing", "HTTP 404 Not Found from "),
        ("/html", "policy served as text/html, not text/plain (RFC 8461 §3.3)"),
        ("/big", f"policy larger than {POLICY_SIZE_LIMIT} bytes"),
    ],
)
def test_fetch_refuses_what_rfc_8461_refuses(
    https_server: tuple[str, ssl.SSLContext], path: str, message: str
) -> None:
    base, ctx = https_server
    with pytest.raises(OSError) as info:
        fetch_mta_sts_policy("example.test", 5, url=f"{base}{path}", context=ctx)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_fetch_verifies_the_certificate(https_server: tuple[str, ssl.SSLContext]) -> None:
    base, _ = https_server
    # The system trust store does not know the test CA.
    with pytest.raises(OSError, match="CERTIFICATE_VERIFY_FAILED"):
        fetch_mta_sts_policy("example.test", 5, url=f"{base}/.well-known/mta-sts.txt")


@pytest.mark.dns
def test_report_with_fetched_policy(dnsmasq: DnsZone, resolver: dns.resolver.Resolver) -> None:
    asked: list[str] = []

    def fetch(domain: str) -> str:
        asked.append(domain)
        return POLICY

    report = build_report("fallback.example.test", resolver, mta_sts_fetch=True, fetch=fetch)
    assert asked == ["fallback.example.test"]
    assert report.mta_sts is not None
    items = [(i.status, i.reason) for i in report.mta_sts.items()]
    # The policy lists only the first MX: the second is not covered.
    assert items[1:] == [
        (Status.OK, "MTA-STS: mode enforce: senders refuse MX hosts without valid TLS"),
        (Status.ERROR, f"MTA-STS: MX {dnsmasq.postfix_host} is not covered by the policy"),
    ]
    assert report.exit_code == 1
    text = render_text(report)
    assert "    policy: mode enforce, max_age 604800" in text
    assert "    mx: dead.example.test" in text
    assert report.to_json()["mta_sts"]["policy"]["mx"] == ["dead.example.test"]


@pytest.mark.dns
def test_report_without_fetch_does_not_fetch(resolver: dns.resolver.Resolver) -> None:
    def fetch(domain: str) -> str:
        raise AssertionError("fetched without --mta-sts-fetch")

    report = build_report("fallback.example.test", resolver, fetch=fetch)
    assert report.mta_sts is not None
    assert report.mta_sts.extra["policy"] is None


@pytest.mark.dns
def test_report_after_a_failed_fetch_does_not_say_it_was_not_fetched(
    resolver: dns.resolver.Resolver,
) -> None:
    # With --mta-sts-fetch and a policy server that cannot be reached, the report said
    # "(policy file not fetched; use --mta-sts-fetch)" above the fetch error.
    def fetch(domain: str) -> str:
        raise OSError(f"cannot fetch https://mta-sts.{domain}/: connection refused")

    report = build_report("fallback.example.test", resolver, mta_sts_fetch=True, fetch=fetch)
    text = render_text(report)
    assert "use --mta-sts-fetch" not in text
    assert "(policy file could not be fetched: see below)" in text
    assert "policy fetch failed: cannot fetch https://mta-sts.fallback.example.test/" in text
    assert report.exit_code == 1
    not_asked = render_text(build_report("fallback.example.test", resolver))
    assert "(policy file not fetched; use --mta-sts-fetch)" in not_asked


def test_fetch_at_an_address_checks_the_certificate_for_the_name(
    https_server: tuple[str, ssl.SSLContext],
) -> None:
    # The address comes from the report's DNS (--dns-server), not the system resolver, which
    # does not know mta-sts.fallback.example.test; the certificate is checked for that name.
    base, ctx = https_server
    port = base.rsplit(":", 1)[1]
    url = f"https://mta-sts.fallback.example.test:{port}/.well-known/mta-sts.txt"
    assert fetch_mta_sts_policy("fallback.example.test", 5, url=url, context=ctx,
                                address="127.0.0.1") == POLICY  # fmt: skip
    other = f"https://mta-sts.other.test:{port}/.well-known/mta-sts.txt"
    with pytest.raises(OSError, match="CERTIFICATE_VERIFY_FAILED"):
        fetch_mta_sts_policy("other.test", 5, url=other, context=ctx, address="127.0.0.1")


@pytest.mark.dns
def test_resolving_fetch_asks_the_report_dns_server(
    resolver: dns.resolver.Resolver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # --mta-sts-fetch with --dns-server looked mta-sts.DOMAIN up with the system resolver:
    # "[Errno -2] Name or service not known" for a name only that DNS server knows.
    asked: list[tuple[str, str | None]] = []

    def fake(domain: str, timeout: float = 10.0, **kwargs: object) -> str:
        asked.append((domain, kwargs.get("address")))  # type: ignore[arg-type]
        return POLICY

    monkeypatch.setattr(policy_module, "fetch_mta_sts_policy", fake)
    fetch = resolving_fetch(resolver, 5)
    assert fetch("fallback.example.test") == POLICY
    assert asked == [("fallback.example.test", "127.0.0.21")]
    with pytest.raises(OSError) as info:
        fetch("spf-ok.example.test")
    assert str(info.value) == (
        "cannot fetch https://mta-sts.spf-ok.example.test/.well-known/mta-sts.txt: "
        "mta-sts.spf-ok.example.test has no address (A or AAAA)"
    )


def test_a_bad_cafile_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate\n")
    proc = subprocess.run(
        [sys.executable, "-m", "smtpsh", "dns", "example.test", "--mta-sts-fetch",
         "--cafile", str(bad)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and f"--cafile {bad}" in proc.stderr, proc.stderr
