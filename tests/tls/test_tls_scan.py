"""`smtpsh tls`: the versions and cipher suites found on each Postfix listener equal what
nmap's ssl-enum-ciphers finds on the same port in the same run; the grade follows."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from smtpsh.audit.tlsscan import Suite, VersionResult, client_hello, grade

CA = "/var/lib/smtpsh-test/ca.pem"
# (port, mode): STARTTLS on 25 and the submission port, implicit on 10465, strong-only 11200.
LISTENERS = [(25, "--starttls"), (10465, "--tls"), (10587, "--starttls"), (11200, "--starttls")]


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def smtpsh_tls(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "smtpsh", "tls", *args],
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def parse_nmap(out: str) -> dict[int, dict[str, set[str]]]:
    """ssl-enum-ciphers' output → port → version → suite names (nmap calls the TLS 1.3
    suites TLS_AKE_WITH_*; IANA's names drop the AKE_WITH)."""
    found: dict[int, dict[str, set[str]]] = {}
    port = version = None
    for line in out.splitlines():
        if m := re.match(r"(\d+)/tcp\s+open", line):
            port, version = int(m.group(1)), None
            found[port] = {}
        elif port is not None and (m := re.match(r"\|\s+(TLSv1\.\d|SSLv3):\s*$", line)):
            version = m.group(1)
            found[port][version] = set()
        elif port is not None and version and (m := re.match(r"\|\s+(TLS_\w+) \(", line)):
            found[port][version].add(m.group(1).replace("TLS_AKE_WITH_", "TLS_"))
    return found


@pytest.fixture(scope="module")
def nmap_view(postfix: object) -> dict[int, dict[str, set[str]]]:
    if shutil.which("nmap") is None:
        if in_ci():
            pytest.fail("nmap is not installed (scripts/setup-test-env installs it)")
        pytest.skip("nmap is not installed")
    ports = ",".join(str(p) for p, _ in LISTENERS)
    # -sV so that nmap knows 10465, 10587 and 11200 speak TLS or SMTP (it goes by the
    # port number otherwise, and runs ssl-enum-ciphers on 25 only).
    out = subprocess.run(
        ["nmap", "-Pn", "-n", "-sV", "--version-intensity", "0", "-p", ports,
         "--script", "ssl-enum-ciphers", "127.0.0.1"],
        capture_output=True, text=True, timeout=300,
    ).stdout  # fmt: skip
    return parse_nmap(out)


@pytest.mark.postfix
@pytest.mark.parametrize(("port", "mode"), LISTENERS)
def test_same_versions_and_suites_as_nmap(
    nmap_view: dict[int, dict[str, set[str]]], port: int, mode: str
) -> None:
    proc = smtpsh_tls(f"127.0.0.1:{port}", mode, "--json", "--sni", "mx.smtpsh.test",
                      "--cafile", CA)  # fmt: skip
    assert proc.returncode in (0, 1), proc.stderr
    data = json.loads(proc.stdout)["result"]
    ours = {v["version"]: {s["name"] for s in v["suites"]}
            for v in data["versions"] if v["accepted"]}  # fmt: skip
    assert nmap_view.get(port), f"nmap found nothing on {port}: {nmap_view}"
    assert ours == nmap_view[port]


@pytest.mark.postfix
def test_grades_of_the_listeners() -> None:
    weak = json.loads(smtpsh_tls("127.0.0.1:25", "--json").stdout)["result"]
    assert weak["grade"] == "F" and "anonymous key exchange" in weak["grade_capped_by"]
    assert any("TLSv1.0" in f and "CBC in TLS 1.0" in f for f in weak["findings"])
    strong = smtpsh_tls("127.0.0.1:11200", "--json", "--sni", "mx.smtpsh.test", "--cafile", CA)
    assert strong.returncode == 0
    assert json.loads(strong.stdout)["result"]["grade"] == "A"
    untrusted = json.loads(smtpsh_tls("127.0.0.1:11200", "--json").stdout)["result"]
    assert untrusted["grade"] == "B"  # the certificate is not trusted without the test CA
    assert untrusted["grade_capped_by"][0].startswith("certificate not trusted")


def test_grade_caps() -> None:
    def v(name: str, *suites: str) -> VersionResult:
        return VersionResult(name, [Suite(i, s) for i, s in enumerate(suites)])

    assert grade([v("TLSv1.2", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256")])[0] == "A"
    assert grade([v("TLSv1.1", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256")])[0] == "B"
    assert grade([v("TLSv1.2", "TLS_RSA_WITH_RC4_128_SHA")])[0] == "C"
    assert grade([v("TLSv1.2", "TLS_RSA_WITH_3DES_EDE_CBC_SHA")])[0] == "C"
    assert grade([v("TLSv1.2", "TLS_RSA_EXPORT_WITH_RC4_40_MD5")])[0] == "F"
    assert grade([v("SSLv3", "TLS_RSA_WITH_AES_128_CBC_SHA")])[0] == "F"
    assert grade([v("TLSv1.2", "TLS_RSA_WITH_NULL_SHA256")])[0] == "F"
    assert grade([v("TLSv1.2")])[0] == "-"


def test_key_exchange_and_strength_from_the_name() -> None:
    def suite(name: str, code: int = 0xC02F) -> Suite:
        return Suite(code, name)

    assert (suite("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256").key_exchange,
            suite("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256").bits) == ("ECDHE_RSA", 128)
    assert suite("TLS_DH_anon_WITH_AES_256_CBC_SHA").key_exchange == "DH_anon"
    assert suite("TLS_RSA_WITH_3DES_EDE_CBC_SHA").bits == 112
    assert suite("TLS_RSA_EXPORT_WITH_RC4_40_MD5").bits == 40
    assert suite("TLS_RSA_WITH_NULL_SHA256").bits == 0
    assert suite("TLS_CHACHA20_POLY1305_SHA256", 0x1303).bits == 256
    assert suite("TLS_AES_128_GCM_SHA256", 0x1301).key_exchange == "ECDHE/DHE (TLS 1.3)"


def test_client_hello_is_well_formed() -> None:
    hello = client_hello(0x0304, [0x1301, 0x1302], "mx.example")
    assert hello[0] == 0x16 and int.from_bytes(hello[3:5], "big") == len(hello) - 5
    assert hello[5] == 0x01 and int.from_bytes(hello[6:9], "big") == len(hello) - 9
    assert b"mx.example" in hello
    assert client_hello(0x0300, [0x002F], None)[1:3] == b"\x03\x00"  # SSLv3: no extensions


def test_unreachable_server_is_one_line() -> None:
    proc = smtpsh_tls("127.0.0.1:1")
    assert proc.returncode == 4  # exit-status table: failed
    assert proc.stderr.count("\n") == 1 and "cannot connect to 127.0.0.1:1" in proc.stderr


@pytest.mark.postfix
def test_probe_tls_scan_adds_the_scan_and_weak_tls_is_dangerous() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "smtpsh", "probe", "127.0.0.1:25", "--tls-scan", "--no-relay",
         "--json"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    data = json.loads(proc.stdout)
    doc = data.get("result", data) if "tls_scan" not in data else data
    assert doc["tls_scan"]["grade"] == "F"
    assert proc.returncode == 1  # anonymous suites on port 25: something dangerous


def _handshake_completes(host: str, port: int) -> str | None:
    """None when a STARTTLS handshake completes, else OpenSSL's reason."""
    import smtplib
    import ssl

    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    with smtplib.SMTP(host, port, timeout=10) as client:
        try:
            client.starttls(context=context)
        except ssl.SSLError as exc:
            return str(exc.reason)
    return None


def test_a_server_whose_handshakes_all_fail_is_not_graded_on_its_hellos() -> None:
    # OpenSMTPD here names suites in its ServerHello, then ends every handshake with an
    # internal-error alert (docs/interop.md): it was graded A, exit 0.
    from tests.interop.conftest import server_fixture

    server = server_fixture("opensmtpd")
    broken = _handshake_completes(server.host, server.port)
    proc = smtpsh_tls(server.target, "--json", "--cafile", str(server.ca_file))
    result = json.loads(proc.stdout)["result"]
    if broken is None:  # a build where its TLS works: graded on its suites as usual
        assert result["grade"] in "AB" and proc.returncode == 0, result
        return
    assert broken == "TLSV1_ALERT_INTERNAL_ERROR"
    assert (result["grade"], proc.returncode) == ("F", 1), result
    cap = "no TLS handshake completes (the server reported an internal TLS error)"
    assert result["grade_capped_by"] == [cap]
    text = smtpsh_tls(server.target, "--color", "never").stdout
    assert "no handshake completes: the server reported an internal TLS error" in text
    assert "_ssl.c" not in text and f"grade F (capped by: {cap})" in text
