"""TLS 1.3's key exchange groups: the one the server picks, read from its key_share (or its
HelloRetryRequest), and each group smtpsh knows offered alone: accepted or refused,
checked against what OpenSSL's s_client sees on the same Postfix listener. Before, a TLS 1.3
server's report said nothing of its groups, and the JSON left TLS 1.3 out of dh_groups
without a word: the FFDHE and elliptic-curve groups were neither measured nor said to be
unmeasured."""

from __future__ import annotations

import json
import socket
import ssl
from collections.abc import Iterator

import pytest
import trustme

from tests.helpers.jsondoc import document
from tests.helpers.scripted_server import scripted_server
from tests.tls.scanning import openssl_temp_key, smtpsh_tls

CA = "/var/lib/smtpsh-test/ca.pem"
OFFERED = "x25519, secp256r1, secp384r1, secp521r1, x448, ffdhe2048, ffdhe3072, ffdhe4096"


def openssl_group(port: int, groups: str) -> str:
    """The key exchange OpenSSL's s_client gets over STARTTLS, TLS 1.3, offering ``groups``
    ("" when the handshake fails)."""
    return openssl_temp_key(port, "-tls1_3", "-groups", groups)


@pytest.mark.postfix
def test_postfix_tls13_groups_are_the_ones_openssl_sees() -> None:
    # Another client's view of the same listener: X25519 first gets X25519; P-384 alone is
    # accepted; ffdhe2048 alone is refused (Postfix's TLS 1.3 groups are elliptic only).
    assert openssl_group(11200, "X25519:P-256:P-384") == "X25519, 253 bits"
    assert openssl_group(11200, "P-384") == "ECDH, secp384r1, 384 bits"
    assert openssl_group(11200, "ffdhe2048") == ""
    proc = smtpsh_tls("127.0.0.1:11200", "--json", "--sni", "mx.smtpsh.test", "--cafile", CA)
    result = document(proc, "tls", 0)["result"]
    exchange = result["tls13_key_exchange"]
    assert (exchange["group"], exchange["hello_retry_request"]) == ("x25519", False)
    assert {"x25519", "secp384r1"} <= set(exchange["accepted_groups"])
    assert "ffdhe2048" in exchange["refused_groups"] and not exchange["unanswered_groups"]
    assert sorted(exchange["accepted_groups"] + exchange["refused_groups"]) == sorted(
        OFFERED.split(", ")
    )
    text = smtpsh_tls("127.0.0.1:11200", "--sni", "mx.smtpsh.test", "--cafile", CA).stdout
    assert ("  key exchange TLSv1.3: x25519, the server's pick when offered every group "
            "below\n    groups accepted: x25519, ") in text  # fmt: skip
    assert "    refused: ffdhe2048, ffdhe3072, ffdhe4096\n" in text
    assert "    groups smtpsh does not know (hybrid post-quantum ones) are not tried" in text


@pytest.fixture
def secp384r1_only() -> Iterator[tuple[int, str]]:
    """Implicit TLS 1.3 on a free port whose only group is secp384r1: the scan's x25519 key
    share gets a HelloRetryRequest. (port, the CA file)"""
    ca = trustme.CA()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    ca.issue_cert("127.0.0.1").configure_cert(context)
    context.set_ecdh_curve("secp384r1")  # OpenSSL 3: the server's whole group list

    def handle(conn: socket.socket) -> None:
        with context.wrap_socket(conn, server_side=True) as tls:
            tls.sendall(b"220 groups.smtpsh.test ESMTP\r\n")
            tls.recv(64)

    with scripted_server(handle) as port, ca.cert_pem.tempfile() as cafile:
        yield port, cafile


def test_a_group_asked_for_by_a_hello_retry_request(secp384r1_only: tuple[int, str]) -> None:
    port, cafile = secp384r1_only
    proc = smtpsh_tls(f"127.0.0.1:{port}", "--tls", "--json", "--cafile", cafile)
    result = json.loads(proc.stdout)["result"]
    assert [v["version"] for v in result["versions"] if v["accepted"]] == ["TLSv1.3"]
    assert result["tls13_key_exchange"]["group"] == "secp384r1", result
    assert result["tls13_key_exchange"]["hello_retry_request"] is True
    text = smtpsh_tls(f"127.0.0.1:{port}", "--tls", "--cafile", cafile).stdout
    assert ("  key exchange TLSv1.3: secp384r1 (asked for by a HelloRetryRequest: the scan's "
            "key share was x25519), the server's pick") in text  # fmt: skip
    exchange = result["tls13_key_exchange"]
    assert exchange["accepted_groups"] == ["secp384r1"], exchange
    assert set(exchange["refused_groups"]) == set(OFFERED.split(", ")) - {"secp384r1"}


@pytest.mark.postfix
def test_no_tls13_no_group_claimed() -> None:
    # 11203 speaks TLS 1.2 only (scripts/setup-tls-profiles).
    proc = smtpsh_tls("127.0.0.1:11203", "--json", "--sni", "mx.smtpsh.test", "--cafile", CA)
    result = json.loads(proc.stdout)["result"]
    assert result["tls13_key_exchange"] is None
    text = smtpsh_tls("127.0.0.1:11203", "--sni", "mx.smtpsh.test", "--cafile", CA).stdout
    assert "key exchange TLSv1.3" not in text
