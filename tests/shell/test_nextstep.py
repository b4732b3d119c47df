"""The next-step hint after a refusal that asks for TLS or AUTH first: that step, not the
refused command again (aiosmtpd with require_starttls: `530 Must issue a STARTTLS command
first` to MAIL; the hint said "/starttls, or MAIL FROM:<sender>")."""

from __future__ import annotations

from smtpsh.protocol.connection import ClientConnection
from smtpsh.shell.nextstep import next_step
from tests.protocol.test_rules import answer

EHLO = (b"250-mx.aiosmtpd.test\r\n250-SIZE 30000000\r\n250-8BITMIME\r\n250-STARTTLS\r\n"
        b"250 HELP\r\n")


def session(*steps: tuple[str, bytes]) -> ClientConnection:
    conn = ClientConnection()
    conn.receive_data(b"220 mx.aiosmtpd.test Python SMTP 1.4.6\r\n")
    conn.next_event()
    answer(conn, "EHLO me", EHLO)
    for line, reply in steps:
        answer(conn, line, reply)
    return conn


def test_before_any_refusal_both_are_offered() -> None:
    assert next_step(session().session, connected=True, tls=False) == (
        "/starttls, or MAIL FROM:<sender>")


def test_a_530_for_starttls_leaves_only_starttls() -> None:
    conn = session(("MAIL FROM:<a@b.test>", b"530 Must issue a STARTTLS command first\r\n"))
    assert next_step(conn.session, connected=True, tls=False) == (
        "/starttls (the server wants TLS first: it answered 530)")


def test_smtp_server_s_538_to_auth_in_clear() -> None:
    conn = session(("AUTH LOGIN", b"538 Error: Must issue a STARTTLS command first\r\n"))
    assert next_step(conn.session, connected=True, tls=False).startswith(
        "/starttls (the server wants TLS first: it answered 538)")


def test_authentication_required_asks_for_auth() -> None:
    conn = session(("MAIL FROM:<a@b.test>", b"530 5.7.0 Authentication required\r\n"))
    assert next_step(conn.session, connected=True, tls=False).startswith("/auth (the server")
    assert conn.session.demanded == "auth"


def test_other_refusals_leave_the_hint_alone() -> None:
    conn = session(("MAIL FROM:<a@b.test>", b"553 5.1.8 Sender address rejected\r\n"))
    assert conn.session.demanded is None
    assert next_step(conn.session, connected=True, tls=False) == (
        "/starttls, or MAIL FROM:<sender>")
