"""Suites without forward secrecy (RSA key exchange, static DH/ECDH, plain PSK) are named and
cap the grade at B, against the Postfix listeners scripts/setup-tls-profiles makes for it:
one whose own order puts ECDHE first but accepts RSA key exchange too, one with RSA key
exchange only (both graded A before)."""

from __future__ import annotations

import json
import smtplib
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from smtpsh.audit.tlsscan import Suite, VersionResult, grade
from tests.tls.scanning import profile_facts

CA = "/var/lib/smtpsh-test/ca.pem"
FACTS = Path("/var/lib/smtpsh-test/tls-rsa-kex.json")


@pytest.fixture(scope="module")
def rsa_kex() -> dict[str, Any]:
    return profile_facts(FACTS, "RSA key exchange TLS profiles")


def scan(host: str, port: int) -> tuple[dict[str, Any], str]:
    """(the JSON result, the text report) of `smtpsh tls`, the test CA trusted."""
    args = [sys.executable, "-m", "smtpsh", "tls", f"{host}:{port}", "--sni", "mx.smtpsh.test",
            "--cafile", CA]  # fmt: skip
    data = subprocess.run([*args, "--json"], capture_output=True, text=True, timeout=120)
    text = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert text.returncode == 0, text.stdout + text.stderr  # grade B: exit 0
    return json.loads(data.stdout)["result"], text.stdout


def negotiated(host: str, port: int, ciphers: str) -> str:
    """The suite a real STARTTLS handshake gets when the client offers ``ciphers`` (OpenSSL
    names, TLS 1.2): the scan's claims checked by another client."""
    context = ssl.create_default_context(cafile=CA)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(ciphers)
    with smtplib.SMTP(host, port, timeout=10) as client:
        client.starttls(context=context)
        assert client.sock is not None
        cipher = client.sock.cipher()  # type: ignore[attr-defined]
        return str(cipher[0])


@pytest.mark.postfix
def test_ecdhe_first_but_rsa_key_exchange_accepted_caps_at_b(rsa_kex: dict[str, Any]) -> None:
    host, port = rsa_kex["host"], rsa_kex["rsa_first"]
    # What the scan must find, seen by a real client: offered both, the server picks ECDHE;
    # offered RSA key exchange alone, it accepts it.
    assert negotiated(host, port, "AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384") == (
        "ECDHE-RSA-AES256-GCM-SHA384"
    )
    assert negotiated(host, port, "AES256-GCM-SHA384") == "AES256-GCM-SHA384"
    assert negotiated(host, port, "AES128-SHA") == "AES128-SHA"

    result, text = scan(host, port)
    assert result["grade"] == "B", result
    assert result["grade_capped_by"] == ["suites without forward secrecy accepted"]
    tls12 = next(v for v in result["versions"] if v["version"] == "TLSv1.2")
    assert tls12["server_preference"] is True
    assert tls12["suites"][0]["name"].startswith("TLS_ECDHE_")
    lacking = [s["name"] for s in tls12["suites"] if not s["forward_secrecy"]]
    assert {"TLS_RSA_WITH_AES_256_GCM_SHA384", "TLS_RSA_WITH_AES_128_CBC_SHA"} <= set(lacking)
    assert all(name.startswith("TLS_RSA_WITH_") for name in lacking)
    [finding] = [f for f in result["findings"] if "forward secrecy" in f]
    assert finding.startswith(f"TLSv1.2: {len(lacking)} of {len(tls12['suites'])} suites "
                              "without forward secrecy (RSA key exchange: ")  # fmt: skip
    assert "the server's order puts forward-secret suites first" in finding
    assert finding.endswith(", ".join(lacking))  # every one named, in the server's order
    # The text report marks each of them, and no ECDHE or DHE suite.
    assert "TLS_RSA_WITH_AES_128_CBC_SHA (RSA, 128 bits)  ✗ no forward secrecy" in text
    assert not [line for line in text.splitlines()
                if "DHE_" in line and "no forward secrecy" in line]  # fmt: skip
    assert text.rstrip().endswith("grade B (capped by: suites without forward secrecy accepted)")


@pytest.mark.postfix
def test_rsa_key_exchange_only_is_no_forward_secrecy_at_all(rsa_kex: dict[str, Any]) -> None:
    host, port = rsa_kex["host"], rsa_kex["rsa_only"]
    assert negotiated(host, port, "AES128-SHA") == "AES128-SHA"
    with pytest.raises(ssl.SSLError):
        negotiated(host, port, "ECDHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES128-GCM-SHA256")

    result, _ = scan(host, port)
    assert [v["version"] for v in result["versions"] if v["accepted"]] == ["TLSv1.2"]
    assert result["grade"] == "B"
    assert result["grade_capped_by"] == [
        "no forward secrecy (no suite with an ephemeral key exchange)"
    ]
    [finding] = [f for f in result["findings"] if "forward secrecy" in f]
    assert finding.startswith("TLSv1.2: all 16 suites without forward secrecy (RSA key ")
    assert "no suite it accepts has it" in finding
    # Python's default cipher list has (EC)DHE suites only: the chain was never checked
    # ("verification not done") and did not count. Now it is checked, and verifies.
    assert f"the chain verifies for mx.smtpsh.test against {CA}" in result["certificate"]


@pytest.mark.postfix
def test_forward_secret_listener_has_no_such_finding() -> None:
    result, _ = scan("127.0.0.1", 11200)  # EC certificate: ECDHE and TLS 1.3 only
    assert result["grade"] == "A"
    assert not [f for f in result["findings"] if "forward secrecy" in f]


def test_which_key_exchanges_are_forward_secret() -> None:
    def fs(name: str, code: int = 0xC02F) -> bool:
        return Suite(code, name).forward_secret

    assert fs("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256") and fs("TLS_DHE_RSA_WITH_AES_128_CBC_SHA")
    assert fs("TLS_AES_128_GCM_SHA256", 0x1301) and fs("TLS_DHE_PSK_WITH_AES_128_GCM_SHA256")
    assert fs("TLS_ECDH_anon_WITH_AES_128_CBC_SHA")  # ephemeral, though anonymous (F anyway)
    for static in ("TLS_RSA_WITH_AES_256_GCM_SHA384", "TLS_DH_RSA_WITH_AES_128_CBC_SHA",
                   "TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA", "TLS_PSK_WITH_AES_128_CBC_SHA",
                   "TLS_RSA_PSK_WITH_AES_128_CBC_SHA"):  # fmt: skip
        assert not fs(static), static


def test_whose_order_decides_is_said() -> None:
    ecdhe, rsa = (Suite(0xC02F, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
                  Suite(0x009C, "TLS_RSA_WITH_AES_128_GCM_SHA256"))  # fmt: skip
    client = VersionResult("TLSv1.2", [ecdhe, rsa], server_preference=False)
    level, caps, findings = grade([client])
    assert (level, caps) == ("B", ["suites without forward secrecy accepted"])
    assert "the client's order decides" in findings[0]
    assert findings[0].endswith(": TLS_RSA_WITH_AES_128_GCM_SHA256")
    prefers_rsa = VersionResult("TLSv1.2", [rsa, ecdhe], server_preference=True)
    assert "the server's order prefers one of these" in grade([prefers_rsa])[2][0]
    tls13 = VersionResult("TLSv1.3", [Suite(0x1301, "TLS_AES_128_GCM_SHA256")])
    assert grade([tls13, VersionResult("TLSv1.2", [ecdhe])]) == ("A", [], [])
