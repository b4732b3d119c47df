"""The AUTH NTLM client (pyspnego's messages, smtpsh's checks and display), against
pyspnego's own NTLM acceptor; the real server path is tests/backends/test_ntlm.py."""

from __future__ import annotations

import base64
import re
import struct
import sys
from pathlib import Path

import pytest

from smtpsh.protocol import auth
from smtpsh.protocol.auth import NTLM_EXTRA, AuthError, AuthExchange, Credentials, choose
from smtpsh.protocol.connection import challenge_gloss
from smtpsh.protocol.ntlm import summarize_authenticate
from smtpsh.protocol.replies import Reply

spnego = pytest.importorskip("spnego")  # the test extra installs it: never skipped in CI


def reply334(data: bytes) -> Reply:
    return Reply(334, (base64.b64encode(data).decode(),))


@pytest.fixture
def acceptor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> object:
    users = tmp_path / "ntlm-users"
    users.write_text("CORP:alice:Pa55-word\n")
    monkeypatch.setenv("NTLM_USER_FILE", str(users))
    return spnego.server(protocol="ntlm", options=spnego.NegotiateOptions.use_ntlm)


def run(exchange: AuthExchange, server: object) -> bytes:
    """NEGOTIATE -> CHALLENGE -> AUTHENTICATE; the AUTHENTICATE the client sent."""
    start = exchange.start()
    verb, _, first = start.line.partition(" NTLM ")
    assert verb == "AUTH" and first
    challenge = server.step(base64.b64decode(first))  # type: ignore[attr-defined]
    step = exchange.answer(reply334(challenge))
    token = base64.b64decode(step.line)
    server.step(token)  # type: ignore[attr-defined]
    return token


def test_ntlmv2_accepted_by_an_independent_acceptor(acceptor: object) -> None:
    exchange = AuthExchange("NTLM", Credentials("CORP\\alice", "Pa55-word"))
    token = run(exchange, acceptor)
    assert acceptor.complete  # type: ignore[attr-defined]
    sent = summarize_authenticate(token)
    assert (sent.domain, sent.user, sent.ntlmv2) == ("CORP", "alice", True)


def test_a_wrong_password_is_rejected_by_the_acceptor(acceptor: object) -> None:
    exchange = AuthExchange("NTLM", Credentials("CORP\\alice", "wrong"))
    with pytest.raises(spnego.exceptions.SpnegoError):
        run(exchange, acceptor)


def test_what_is_shown_hides_the_response(acceptor: object) -> None:
    exchange = AuthExchange("NTLM", Credentials("CORP\\alice", "Pa55-word"))
    start = exchange.start()
    assert start.shown == "AUTH NTLM NTLMSSP NEGOTIATE (no credentials yet)"
    challenge = acceptor.step(base64.b64decode(start.line.split()[-1]))  # type: ignore[attr-defined]
    gloss = challenge_gloss(reply334(challenge))
    assert gloss is not None and gloss.startswith("NTLM CHALLENGE (Target_Name: ")
    step = exchange.answer(reply334(challenge))
    assert step.shown.startswith("NTLMSSP AUTHENTICATE as CORP\\alice")
    assert "NTLMv2 response ********" in step.shown
    assert "Pa55-word" not in step.shown and step.line not in step.shown


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"not ntlm at all, but long enough to be read as one....", "bad signature"),
        (b"NTLMSSP\0" + struct.pack("<I", 1) + bytes(40), "expected 2 (CHALLENGE)"),
        (b"NTLMSSP\0\2\0", "has at least 48"),
    ],
)
def test_a_bad_challenge_is_one_clear_error(data: bytes, why: str) -> None:
    exchange = AuthExchange("NTLM", Credentials("alice", "pw"))
    exchange.start()
    with pytest.raises(AuthError, match=f"the server.s NTLM challenge: .*{re.escape(why)}"):
        exchange.answer(reply334(data))


def test_a_second_challenge_is_refused(acceptor: object) -> None:
    exchange = AuthExchange("NTLM", Credentials("CORP\\alice", "Pa55-word"))
    start = exchange.start()
    challenge = acceptor.step(base64.b64decode(start.line.split()[-1]))  # type: ignore[attr-defined]
    exchange.answer(reply334(challenge))
    with pytest.raises(AuthError, match="second NTLM challenge"):
        exchange.answer(reply334(challenge))


def test_ntlmv1_is_never_sent(acceptor: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LM_COMPAT_LEVEL", "1")  # pyspnego would answer with NTLMv1
    exchange = AuthExchange("NTLM", Credentials("CORP\\alice", "Pa55-word"))
    with pytest.raises(AuthError, match=r"NTLMv1 response .* not sent"):
        run(exchange, acceptor)


def test_without_the_extra_one_line_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "spnego", None)  # import spnego -> ImportError
    with pytest.raises(AuthError) as caught:
        AuthExchange("NTLM", Credentials("alice", "pw"))
    assert str(caught.value) == NTLM_EXTRA == (
        "AUTH NTLM needs the optional pyspnego: pip install 'smtpsh[ntlm]'"
    )
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    assert auth.unavailable(auth.MECHANISMS["NTLM"]) == NTLM_EXTRA
    found, why = choose(["NTLM"])
    assert found is None and why.endswith(f"({NTLM_EXTRA})")
    found, why = choose(["NTLM", "LOGIN"])
    assert found is not None and found.name == "LOGIN"


def test_ntlm_ranks_between_cram_md5_and_plain() -> None:
    found, _ = choose(["PLAIN", "NTLM", "LOGIN"])
    assert found is not None and found.name == "NTLM"
    found, _ = choose(["NTLM", "CRAM-MD5"])
    assert found is not None and found.name == "CRAM-MD5"
