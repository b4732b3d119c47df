"""SCRAM-SHA-1 / SCRAM-SHA-256 (RFC 5802, RFC 7677) against the RFCs' own test vectors,
and the failures a client must not mistake for success."""

from __future__ import annotations

import base64

import pytest

from smtpsh.protocol.auth import AuthError, AuthExchange, Credentials, ScramClient, saslprep
from smtpsh.protocol.replies import Reply

# RFC 5802 §5 and RFC 7677 §3: user "user", password "pencil".
VECTORS = {
    "SCRAM-SHA-1": (
        "fyko+d2lbbFgONRv9qkxdawL",
        "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
        "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
        "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
    ),
    "SCRAM-SHA-256": (
        "rOprNGfwEbeRWgbNEkqO",
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
        "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
        "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
        "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
    ),
}


def challenge(text: str) -> Reply:
    return Reply(334, [base64.b64encode(text.encode()).decode()])


def exchange(name: str, nonce: str, creds: Credentials | None = None) -> AuthExchange:
    ex = AuthExchange(name, creds or Credentials("user", "pencil"))
    assert isinstance(ex.client, ScramClient)
    ex.client = ScramClient(ex.credentials, ex.client.hash_name, nonce=nonce)
    return ex


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_rfc_vector(name: str) -> None:
    nonce, server_first, client_final, server_final = VECTORS[name]
    ex = exchange(name, nonce)
    first = ex.start()
    assert (
        first.line == f"AUTH {name} " + base64.b64encode(f"n,,n=user,r={nonce}".encode()).decode()
    )
    step = ex.answer(challenge(server_first))
    assert base64.b64decode(step.line).decode() == client_final
    assert "pencil" not in step.shown and "p=********" in step.shown
    assert ex.success_problem(Reply(235, ["ok"])) is not None  # no proof from the server yet
    last = ex.answer(challenge(server_final))
    assert last.line == ""
    assert ex.success_problem(Reply(235, ["2.7.0 Authentication successful"])) is None


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_wrong_server_signature_is_a_failure(name: str) -> None:
    nonce, server_first, _, server_final = VECTORS[name]
    ex = exchange(name, nonce)
    ex.start()
    ex.answer(challenge(server_first))
    forged = "v=" + base64.b64encode(b"\0" * len(base64.b64decode(server_final[2:]))).decode()
    with pytest.raises(AuthError, match="signature is WRONG"):
        ex.answer(challenge(forged))
    assert "not trusted" in (ex.success_problem(Reply(235, ["ok"])) or "")


def test_wrong_password_gives_a_signature_mismatch() -> None:
    nonce, server_first, _, server_final = VECTORS["SCRAM-SHA-256"]
    ex = exchange("SCRAM-SHA-256", nonce, Credentials("user", "pencil2"))
    ex.start()
    ex.answer(challenge(server_first))
    with pytest.raises(AuthError, match="WRONG"):
        ex.answer(challenge(server_final))


def test_nonce_must_extend_ours() -> None:
    ex = exchange("SCRAM-SHA-1", "abc")
    ex.start()
    with pytest.raises(AuthError, match="nonce"):
        ex.answer(challenge("r=xyz123,s=QSXCR+Q6sek8bf92,i=4096"))
    with pytest.raises(AuthError, match="nonce"):
        exchange("SCRAM-SHA-1", "abc").answer(challenge("r=abc,s=QSXCR+Q6sek8bf92,i=4096"))


def test_server_error_and_malformed_messages() -> None:
    ex = exchange("SCRAM-SHA-1", "abc")
    ex.start()
    ex.answer(challenge("r=abcdef,s=QSXCR+Q6sek8bf92,i=4096"))
    with pytest.raises(AuthError, match="invalid-proof"):
        ex.answer(challenge("e=invalid-proof"))
    with pytest.raises(AuthError, match="malformed"):
        exchange("SCRAM-SHA-1", "abc").answer(challenge("garbage"))
    with pytest.raises(AuthError, match="iteration"):
        exchange("SCRAM-SHA-1", "abc").answer(challenge("r=abcd,s=QSXCR+Q6sek8bf92,i=x"))


def test_weak_iteration_count_is_said() -> None:
    ex = exchange("SCRAM-SHA-256", "abc")
    ex.start()
    step = ex.answer(challenge("r=abcdef,s=QSXCR+Q6sek8bf92,i=100"))
    assert "only 100 iterations" in step.shown


def test_authzid_and_name_escaping() -> None:
    ex = exchange("SCRAM-SHA-256", "n0nce", Credentials("a,b=c", "pw", authzid="boss"))
    first = base64.b64decode(ex.start().line.split()[-1]).decode()
    assert first == "n,a=boss,n=a=2Cb=3Dc,r=n0nce"


def test_authzid_refused_where_the_mechanism_cannot_carry_it() -> None:
    with pytest.raises(AuthError, match="authorization identity"):
        AuthExchange("CRAM-MD5", Credentials("u", "p", authzid="boss"))


def test_saslprep() -> None:
    assert saslprep("I\u00adX", "password") == "IX"  # soft hyphen mapped to nothing
    assert saslprep("\u2168", "password") == "IX"  # NFKC
    assert saslprep("a\u00a0b", "password") == "a b"  # non-ASCII space -> space
    with pytest.raises(AuthError, match=r"U\+0007"):
        saslprep("a\u0007", "password")
    with pytest.raises(AuthError, match="right-to-left"):
        saslprep("\u0627\u0031", "password")
