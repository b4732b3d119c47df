"""The pre-send checks as a user meets them: typed lines against the loopback Postfix and
scripted servers, piped (the same Shell code runs behind the interactive prompt)."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import TYPE_CHECKING

from tests.helpers.run import run_piped
from tests.helpers.scripted_server import read_line, scripted_server

if TYPE_CHECKING:
    from tests.conftest import PostfixEnv


def test_a_misplaced_parameter_is_warned_with_its_rfc_then_sent(
    postfix: PostfixEnv, tmp_path: Path
) -> None:
    script = (
        "EHLO client.test\n"
        "MAIL FROM:<a@client.test> NOTIFY=SUCCESS\n"
        "MAIL FROM:<a@client.test>\n"
        "RCPT TO:<robin@smtpsh.test> NOTIFY=NEVER,SUCCESS\n"
        "QUIT\n"
    )
    out = run_piped([postfix.host], script, tmp_path).stdout
    assert "! expect 555 5.5.4 parameter not recognised: NOTIFY is a RCPT parameter" in out
    assert "(RFC 3461 §4.1) (sending anyway)" in out
    assert "S: 555 5.5.4" in out  # sent anyway, and Postfix refused it as predicted
    assert "NEVER cannot be combined" in out and "S: 501 5.5.4" in out
    # The valid MAIL between them got no warning.
    mail_ok = out.split("C: MAIL FROM:<a@client.test>\n", 1)[1]
    assert mail_ok.startswith("S: 250 2.1.0")


def test_raw_mode_sends_without_checks(postfix: PostfixEnv, tmp_path: Path) -> None:
    out = run_piped(
        [postfix.host], "EHLO client.test\n/raw on\nMAIL FROM:<a@c.test> NOTIFY=SUCCESS\n"
        "/raw off\nQUIT\n", tmp_path
    ).stdout
    assert "NOTIFY is a RCPT parameter" not in out
    assert "S: 555" in out


def test_help_after_ehlo_in_piped_mode_shows_the_extension_as_advertised(
    postfix: PostfixEnv, tmp_path: Path
) -> None:
    out = run_piped(
        [postfix.host], "help BDAT\nEHLO client.test\nhelp BDAT\nhelp ETRN\nhelp XCLIENT\n"
        "help TURN\nhelp RCPT\nQUIT\n", tmp_path
    ).stdout
    before, after = out.split("C: EHLO client.test", 1)
    assert "the CHUNKING extension — not known yet: no EHLO reply in this session" in before
    assert "the CHUNKING extension — advertised by this server" in after
    assert "the ETRN extension — advertised by this server" in after
    assert "the XCLIENT extension — not advertised by this server" in after
    # The texts the issue corrected, each with its section.
    flat = " ".join(after.split())
    assert "RFC 5321 Appendix F.1" in flat and "SHOULD NOT" in flat  # TURN
    assert "251 that no messages are waiting" in flat and "RFC 1985 §5" in flat  # ETRN
    assert "every reasonable effort" in flat and "RFC 5321 §4.5.1" in flat  # RCPT
    assert "must always be accepted" not in flat


def _refusing_banner(sock: socket.socket) -> None:
    sock.sendall(b"554 5.3.2 no service for you\r\n")
    while line := read_line(sock):
        if line.upper().startswith(b"QUIT"):
            sock.sendall(b"221 2.0.0 bye\r\n")
            return
        sock.sendall(b"503 5.5.1 only QUIT now\r\n")


def test_after_a_554_banner_commands_get_503_and_quit_is_answered(tmp_path: Path) -> None:
    # RFC 5321 §3.1: the server waits for QUIT and answers other commands with 503.
    with scripted_server(_refusing_banner) as port:
        result = run_piped([f"127.0.0.1:{port}"], "EHLO client.test\nQUIT\n", tmp_path)
    out = result.stdout
    assert "expect 503 5.5.1 bad sequence of commands" in out and "RFC 5321 §3.1" in out
    assert "S: 503 5.5.1 only QUIT now" in out
    assert "C: QUIT" in out and "S: 221 2.0.0 bye" in out
    assert "(no reply)" not in out and "connection is closed" not in out


def test_postfix_relay_denied_is_annotated_and_explained_as_such(
    postfix: PostfixEnv, tmp_path: Path
) -> None:
    script = (
        "EHLO client.test\nMAIL FROM:<a@client.test>\nRCPT TO:<someone@example.com>\n"
        "/explain\nVRFY\nQUIT\n"
    )
    out = run_piped([postfix.host], script, tmp_path).stdout
    assert "S: 454 4.7.1 <someone@example.com>: Relay access denied" in out
    assert "↳ 454 relaying refused" in out
    assert "TLS or authentication not available" not in out
    flat = " ".join(out.split())
    assert "Retrying unchanged will not help" in flat
    assert "retry in a few minutes" not in flat.lower()
    assert "↳ 501 syntax error in the argument: not an answer about the user" in out
    assert "2.0.0 other undefined status" not in out  # issue 16 point 6
