"""What `smtpsh tls` measures beyond the suites: the DH group of the DHE suites (Logjam) and
SHA-1 signatures in the certificate chain. Against the TLS-profile Postfix listener made for
it (scripts/setup-tls-profiles: a 1024-bit DH group, a certificate the test CA signed with
SHA-1), and the handshake parser on bytes written here."""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import struct
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import trustme

from smtpsh.audit.tlsscan import (
    DHGroup,
    Suite,
    VersionResult,
    grade,
    read_dh_group_bits,
    weak_signatures,
)
from tests.tls.scanning import profile_facts, smtpsh_tls

CA = "/var/lib/smtpsh-test/ca.pem"
FACTS = Path("/var/lib/smtpsh-test/tls-weak.json")


@pytest.fixture(scope="module")
def weak() -> dict[str, Any]:
    return profile_facts(FACTS, "weak TLS profile")


@pytest.mark.postfix
def test_a_1024_bit_dh_group_and_a_sha1_signed_certificate_cap_the_grade(
    weak: dict[str, Any],
) -> None:
    # TLS 1.2 and 1.3 only, no anonymous or NULL suite: graded B before only because
    # Python's own verification refused the chain ("CA signature digest algorithm too
    # weak"), with no word of the SHA-1 signature, nor of the 1024-bit DH group.
    target = f"{weak['host']}:{weak['port']}"
    proc = smtpsh_tls(target, "--json", "--sni", "mx.smtpsh.test", "--cafile", CA)
    result = json.loads(proc.stdout)["result"]
    assert result["grade"] == "B", result
    assert [(g["version"], g["bits"]) for g in result["dh_groups"]] == [
        ("TLSv1.2", weak["dh_bits"])
    ]
    assert result["dh_groups"][0]["suite"].startswith("TLS_DHE_RSA_")
    assert "1024-bit DH group" in result["grade_capped_by"]
    signed = (f"certificate [0] signed with SHA-1 ({weak['signature']}: collisions are "
              "practical, the signature can be forged)")  # fmt: skip
    assert signed in result["grade_capped_by"] and signed in result["findings"]
    text = smtpsh_tls(target, "--sni", "mx.smtpsh.test", "--cafile", CA).stdout
    assert "  DH group TLSv1.2 (DHE suites): 1024 bits  ✗ 1024-bit DH group (under 2048" in text
    # Postfix sends its own certificate only: what signed anything above it is not seen.
    assert "the signatures above [0] are not measured" in text


@pytest.mark.postfix
def test_no_dhe_suite_no_dh_group_claimed() -> None:
    # The strong listener has an EC certificate and no anonymous suites: no DHE suite is
    # accepted, so there is no DH group to measure, and none is reported.
    proc = smtpsh_tls("127.0.0.1:11200", "--json", "--sni", "mx.smtpsh.test", "--cafile", CA)
    result = json.loads(proc.stdout)["result"]
    assert result["grade"] == "A" and result["dh_groups"] == []


@pytest.fixture
def dhe_only_server(weak: dict[str, Any], tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """Implicit TLS on a free loopback port, TLS 1.2 with DHE_RSA suites only and the weak
    profile's 1024-bit group, an RSA certificate (SHA-256) from a CA of its own; a 220 once
    the handshake is done. (port, that CA's file)"""
    ca = trustme.CA(key_type=trustme.KeyType.RSA)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers("DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:@SECLEVEL=0")
    ca.issue_cert("127.0.0.1", key_type=trustme.KeyType.RSA).configure_cert(context)
    # The weak profile's 1024-bit group, where scripts/setup-tls-profiles makes it.
    context.load_dh_params(str(FACTS.parent / "tls-weak" / "dh1024.pem"))
    cafile = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(cafile))
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def greet(conn: socket.socket) -> None:
        with contextlib.suppress(OSError), conn:
            conn.settimeout(10)
            with context.wrap_socket(conn, server_side=True) as tls:
                tls.sendall(b"220 dhe.smtpsh.test ESMTP\r\n")
                tls.recv(64)

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=greet, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], cafile
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


def test_a_server_python_s_own_tls_refuses_is_not_called_unreachable(
    dhe_only_server: tuple[int, Path],
) -> None:
    # Only DHE suites with a 1024-bit group: Python's TLS (security level 2) refuses the
    # handshake, OpenSSL's default level 1 (most mail clients) completes it. The scan said
    # "no handshake completes" and graded F; it is the 1024-bit group that caps it, at B.
    port, cafile = dhe_only_server
    proc = smtpsh_tls(f"127.0.0.1:{port}", "--tls", "--json", "--cafile", str(cafile))
    result = json.loads(proc.stdout)["result"]
    assert result["grade"] == "B", result
    assert result["grade_capped_by"] == ["1024-bit DH group"]
    assert any(f.startswith("[0] ") and "RSA 2048" in f for f in result["certificate"]), result
    assert ("verification not done: a default TLS client's handshake fails: the server's "
            "Diffie-Hellman key is too small (weak server set-up)") in result["certificate"]


def _handshake(kind: int, body: bytes) -> bytes:
    return bytes([kind]) + len(body).to_bytes(3, "big") + body


def _records(data: bytes, size: int) -> bytes:
    """``data`` as handshake records of at most ``size`` bytes each."""
    chunks = [data[i : i + size] for i in range(0, len(data), size)]
    return b"".join(b"\x16\x03\x03" + struct.pack("!H", len(c)) + c for c in chunks)


def _read(wire: bytes) -> int | str:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        theirs.sendall(wire)
        theirs.shutdown(socket.SHUT_WR)
        ours.settimeout(5)
        return read_dh_group_bits(ours)


def test_the_dh_prime_is_read_across_records() -> None:
    prime = (1 << 2047 | 1).to_bytes(256, "big")
    params = struct.pack("!H", len(prime)) + prime + b"\x00\x01\x02" + b"\x00\x01\x05"
    flight = _handshake(11, b"\x00" * 3000) + _handshake(12, params + b"sig")
    assert _read(_records(flight, 1000)) == 2048  # the messages cut across four records
    assert _read(_records(_handshake(14, b""), 100)) == "the server sent no ServerKeyExchange"
    assert _read(b"\x15\x03\x03\x00\x02\x02\x28") == "the server answered with an alert"
    short = _handshake(12, struct.pack("!H", 256) + b"\x01" * 10)
    assert _read(_records(short, 1000)) == "its ServerKeyExchange is too short"


def test_dh_group_caps() -> None:
    strong = VersionResult("TLSv1.2", [Suite(0xC02F, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256")])
    fine = DHGroup("TLSv1.2", 2048, "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256")
    assert grade([strong], [fine])[0] == "A"
    letter, caps, findings = grade([strong], [DHGroup("TLSv1.2", 1024, "TLS_DHE_X")])
    assert (letter, caps) == ("B", ["1024-bit DH group"])
    assert findings == ["TLSv1.2 TLS_DHE_X: 1024-bit DH group (under 2048 bits: within reach "
                        "of the precomputation Logjam showed for 1024-bit groups)"]
    broken = DHGroup("TLSv1.2", 512, "TLS_DHE_X")
    assert grade([strong], [broken])[:2] == ("F", ["512-bit DH group"])
    # Not measured is not fine: it caps nothing, and says why (the text report shows it).
    unknown = DHGroup("TLSv1.2", None, why_not="not measured (the server closed it)")
    assert grade([strong], [unknown])[0] == "A" and unknown.to_json()["not_measured"]


def test_sha1_signatures_but_not_a_trust_anchor_s_own() -> None:
    def cert(signature: str, self_issued: bool) -> SimpleNamespace:
        return SimpleNamespace(signature=signature, self_issued=self_issued)

    chain = [cert("sha256WithRSAEncryption", False), cert("sha1WithRSAEncryption", False),
             cert("sha1WithRSAEncryption", True)]  # fmt: skip
    assert weak_signatures(chain) == [
        "certificate [1] signed with SHA-1 (sha1WithRSAEncryption: collisions are practical, "
        "the signature can be forged)"
    ]
    assert weak_signatures([cert("md5WithRSAEncryption", True)])[0].startswith(
        "certificate [0] signed with MD5")
