"""The toolbar's 'next' names only what this server takes in this state: LMTP's LHLO,
BDAT where CHUNKING is offered, STARTTLS and AUTH while they help."""

from __future__ import annotations

from smtpsh.protocol.session import Session, State
from smtpsh.shell.nextstep import next_step


def step(session: Session, *, tls: bool = False) -> str:
    return next_step(session, connected=True, tls=tls)


def test_lmtp_greets_with_lhlo_not_ehlo() -> None:
    # Dovecot's LMTP answers EHLO and HELO with 500: the toolbar said EHLO (or HELO).
    session = Session(State.GREETED, lmtp=True)
    assert step(session) == "LHLO <your-name>"
    assert "EHLO" not in step(Session(State.GREETED, lmtp=True, tls=True))
    assert step(Session(State.GREETED)) == "EHLO <your-name> (or HELO)"


def test_bdat_beside_data_only_with_chunking() -> None:
    session = Session(State.RCPT, esmtp=True)
    session.extensions = {"PIPELINING": ""}
    assert "BDAT" not in step(session)
    session.extensions["CHUNKING"] = ""
    assert step(session) == "another RCPT TO, or DATA (or BDAT <size> [LAST])"


def test_starttls_and_auth_only_while_they_help() -> None:
    session = Session(State.READY, esmtp=True)
    session.extensions = {"STARTTLS": "", "AUTH": "PLAIN"}
    assert step(session) == "/starttls or /auth, or MAIL FROM:<sender>"
    assert step(session, tls=True) == "/auth, or MAIL FROM:<sender>"
    session.authenticated = True
    assert step(session, tls=True) == "MAIL FROM:<sender>"
