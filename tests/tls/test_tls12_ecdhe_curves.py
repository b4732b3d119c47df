"""TLS 1.2's ECDHE curves: the one the server picks when offered every curve smtpsh knows,
and each offered alone with an ECDHE suite (the named curve read from its
ServerKeyExchange): accepted, refused or 'could not tell', checked against what OpenSSL's
s_client gets on the same Postfix listeners. An accepted curve IANA does not recommend is a
finding; one under 224 bits caps the grade at B. Before, the curves of TLS 1.2 and older
were neither measured nor claimed: a server accepting secp192r1 was graded A."""

from __future__ import annotations

import json
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from smtpsh.audit.tlsscan import EC_CURVES, curve_weakness, offer_each_group
from tests.helpers.jsondoc import document
from tests.helpers.scripted_server import scripted_server
from tests.tls.scanning import openssl_temp_key, profile_facts, smtpsh_tls

CA = "/var/lib/smtpsh-test/ca.pem"
FACTS = Path("/var/lib/smtpsh-test/tls-curves.json")
EVERY_CURVE = {name for name, _ in EC_CURVES.values()}


@pytest.fixture(scope="module")
def curves_listener() -> dict[str, Any]:
    return profile_facts(FACTS, "TLS curves profile")


def openssl_curve(port: int, curves: str) -> str:
    """What OpenSSL's s_client gets in TLS 1.2 offering ``curves``, at security level 0 so
    that the client itself does not refuse a small curve."""
    return openssl_temp_key(port, "-tls1_2", "-curves", curves, "-cipher", "ECDHE:@SECLEVEL=0")


@pytest.mark.postfix
def test_weak_curves_accepted_by_postfix_are_found(curves_listener: dict[str, Any]) -> None:
    port = curves_listener["port"]
    # Another client's view of the listener (tls_eecdh_auto_curves: OpenSSL's prime192v1,
    # secp224r1, brainpoolP256r1, prime256v1; an RSA certificate, ECDHE_RSA suites only).
    assert openssl_curve(port, "prime192v1") == "ECDH, prime192v1, 192 bits"
    assert openssl_curve(port, "secp224r1") == "ECDH, secp224r1, 224 bits"
    assert openssl_curve(port, "brainpoolP256r1") == "ECDH, brainpoolP256r1, 256 bits"
    assert openssl_curve(port, "X25519") == ""
    assert openssl_curve(port, "secp384r1") == ""
    assert openssl_curve(port, "X25519:prime256v1") == "ECDH, prime256v1, 256 bits"

    proc = smtpsh_tls(f"127.0.0.1:{port}", "--json", "--sni", "mx.smtpsh.test", "--cafile", CA)
    result = document(proc, "tls", 0)["result"]
    curves = result["ecdhe_curves"]
    assert curves["version"] == "TLSv1.2" and curves["not_measured"] is None
    assert curves["group"] == "secp256r1"  # offered x25519 first, then secp256r1
    assert set(curves["accepted_groups"]) == set(curves_listener["curves"])
    assert set(curves["refused_groups"]) == EVERY_CURVE - set(curves_listener["curves"])
    assert curves["unanswered_groups"] == [] and curves["paired_with"] is None
    assert result["grade"] == "B"
    assert result["grade_capped_by"] == ["ECDHE curve under 224 bits accepted"]
    found = [f for f in result["findings"] if "ECDHE curve" in f]
    assert found == [
        "TLSv1.2 ECDHE curve secp192r1 accepted: 192-bit curve (about 96-bit security, under "
        "the 112 bits of a 2048-bit DH group)",
        "TLSv1.2 ECDHE curve secp224r1 accepted: 224-bit curve (under 256 bits; IANA does not "
        "recommend it for TLS)",
        "TLSv1.2 ECDHE curve brainpoolP256r1 accepted: Brainpool curve (IANA does not "
        "recommend it for TLS; TLS 1.3 clients do not offer it under this code, RFC 8734)",
    ], found

    text = smtpsh_tls(f"127.0.0.1:{port}", "--sni", "mx.smtpsh.test", "--cafile", CA).stdout
    assert ("  ECDHE curves TLSv1.2: secp256r1, the server's pick when offered every curve "
            "below\n    curves accepted: secp256r1, secp192r1, secp224r1, brainpoolP256r1\n"
            "    refused: x25519, x448, secp521r1, secp384r1, sect163k1, ") in text, text
    assert "    ✗ accepted, not recommended: secp192r1, secp224r1, brainpoolP256r1\n" in text
    assert "grade B (capped by: ECDHE curve under 224 bits accepted)" in text


@pytest.mark.postfix
def test_an_ecdsa_certificate_curve_is_offered_with_each_curve() -> None:
    # 11200's only certificate is ECDSA P-256: in TLS 1.2 a client's curves are its
    # certificate's too, so P-384 offered alone is refused though the server uses it for
    # the key exchange with a client that also names P-256. Alone, smtpsh would have said
    # 'refused' of x25519 and secp384r1.
    assert openssl_curve(11200, "P-384") == ""
    assert openssl_curve(11200, "P-384:P-256") == "ECDH, secp384r1, 384 bits"
    assert openssl_curve(11200, "X25519:P-256") == "X25519, 253 bits"
    assert openssl_curve(11200, "brainpoolP256r1:P-256") == "ECDH, prime256v1, 256 bits"
    proc = smtpsh_tls("127.0.0.1:11200", "--json", "--sni", "mx.smtpsh.test", "--cafile", CA)
    result = document(proc, "tls", 0)["result"]
    curves = result["ecdhe_curves"]
    assert curves["paired_with"] == "secp256r1"
    assert curves["group"] == "x25519"
    assert set(curves["accepted_groups"]) == {"x25519", "secp256r1", "x448", "secp521r1",
                                              "secp384r1"}  # fmt: skip
    # The client's order was seen to decide, so a curve not used is refused.
    assert set(curves["refused_groups"]) == EVERY_CURVE - set(curves["accepted_groups"])
    assert curves["unanswered_groups"] == []
    assert result["grade"] == "A" and not [f for f in result["findings"] if "curve" in f]
    text = smtpsh_tls("127.0.0.1:11200", "--sni", "mx.smtpsh.test", "--cafile", CA).stdout
    assert ("    each curve refused alone was offered again with secp256r1 after it (accepted "
            "alone: the certificate's curve, which ECDHE_ECDSA suites need in TLS 1.2); the "
            "client's order decides (x25519 then secp256r1 got x25519, the reverse "
            "secp256r1): a curve it did not use is refused\n") in text, text


@pytest.fixture
def ecdsa_p256_server_order() -> Iterator[tuple[int, str]]:
    """Implicit TLS 1.2 on a free port, an ECDSA P-256 certificate, secp256r1 the only
    curve, the server's order: every curve offered before P-256 gets P-256. (port, CA)"""
    ca = trustme.CA()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    ca.issue_cert("127.0.0.1", key_type=trustme.KeyType.ECDSA).configure_cert(context)
    context.set_ecdh_curve("prime256v1")  # OpenSSL 3: the server's whole curve list
    context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE

    def handle(conn: socket.socket) -> None:
        with context.wrap_socket(conn, server_side=True) as tls:
            tls.sendall(b"220 curves.smtpsh.test ESMTP\r\n")
            tls.recv(64)

    with scripted_server(handle) as port, ca.cert_pem.tempfile() as cafile:
        yield port, cafile


def test_a_curve_the_server_did_not_use_is_not_called_refused_unseen(
    ecdsa_p256_server_order: tuple[int, str],
) -> None:
    # Every curve offered before P-256 gets P-256: the server may not have it, or rank it
    # after P-256. Nothing showed the client's order decides: 'could not tell', not refused.
    port, cafile = ecdsa_p256_server_order
    proc = smtpsh_tls(f"127.0.0.1:{port}", "--tls", "--json", "--cafile", cafile)
    result = json.loads(proc.stdout)["result"]
    curves = result["ecdhe_curves"]
    assert curves["accepted_groups"] == ["secp256r1"], curves
    assert curves["refused_groups"] == [], curves
    assert set(curves["unanswered_groups"]) == EVERY_CURVE - {"secp256r1"}
    assert {"group": "x25519", "why": "the server used secp256r1, offered after it"} in (
        curves["unanswered_why"]
    )
    text = smtpsh_tls(f"127.0.0.1:{port}", "--tls", "--cafile", cafile).stdout
    assert "    could not tell: x25519, x448, " in text
    assert "(the server used secp256r1, offered after it)\n" in text
    assert "whose order decides was not seen: a curve it did not use may be refused or not" in text


def test_every_curve_not_recommended_is_weak_and_the_recommended_ones_are_not() -> None:
    for name, bits in EC_CURVES.values():
        weakness = curve_weakness(name, bits)
        recommended = name in ("x25519", "x448", "secp256r1", "secp384r1", "secp521r1")
        assert (weakness is None) == recommended, (name, weakness)
        if bits < 224:
            assert weakness is not None and weakness.startswith(f"{bits}-bit curve (about")


def test_a_server_that_stops_answering_is_not_waited_for_on_every_curve() -> None:
    # Each unanswered hello costs the scan's whole timeout: after two in a row, the groups
    # left are said not tried, not refused, and cost nothing.
    asked: list[int] = []

    def answer(code: int) -> int | str | None:
        asked.append(code)
        if code == 23:
            return 23
        if code == 24:
            return None
        raise TimeoutError

    names = {23: "secp256r1", 24: "secp384r1", 25: "secp521r1", 29: "x25519", 30: "x448"}
    accepted, refused, unclear = offer_each_group(names, answer)
    assert (accepted, refused) == (["secp256r1"], ["secp384r1"])
    assert unclear == [("secp521r1", "no answer"), ("x25519", "no answer"),
                       ("x448", "not tried: the server stopped answering")]  # fmt: skip
    assert asked == [23, 24, 25, 29]
