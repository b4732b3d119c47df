"""The shell on a real MTA other than Postfix, as a person uses it: what the toolbar and
the notes say must be true for THIS server (Exim: no enhanced status codes, VRFY wants
user@domain, CHUNKING offered)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.run import smtpsh_env
from tests.helpers.tmux import Screen
from tests.interop.conftest import server_fixture
from tests.shell.test_fit_pty import flat, wait_flat, wait_toolbar

pytestmark = pytest.mark.pty


@pytest.fixture
def exim_shell(tmp_path: Path) -> Iterator[Screen]:
    exim = server_fixture("exim")
    screen = Screen([exim.target], smtpsh_env(tmp_path))
    try:
        screen.wait_for("↳ 220 service ready", timeout=30)
        yield screen
    finally:
        screen.close()


def warning_row(screen: Screen, needle: str) -> str:
    rows = [row for row in screen.visible() if row.lstrip().startswith("⚠")]
    assert rows and needle in rows[-1], screen.visible()
    return rows[-1]


def no_warning_with(screen: Screen, typed: str) -> None:
    """Once ``typed`` is drawn (the toolbar is drawn in the same pass), no ⚠ row shows."""
    screen.wait_for(typed)
    rows = screen.visible()
    assert any(typed in row for row in rows) and not any("⚠" in row for row in rows), rows


def test_exim_toolbar_predictions_hints_and_contrast(exim_shell: Screen) -> None:
    shell = exim_shell
    exim = server_fixture("exim")
    shell.line("EHLO pty.smtpsh.test")
    shell.wait_for("250 HELP")
    wait_toolbar(shell, "ready │ next: /starttls, or MAIL FROM:<sender>")
    # Typed, not sent: RCPT before MAIL. Exim sends no enhanced codes (no
    # ENHANCEDSTATUSCODES): the toolbar said '503 5.5.1' where Enter's warning said '503'.
    shell.type(f"RCPT TO:<{exim.address('alice')}>")
    shell.wait_for("⚠ expect 503 need MAIL before RCPT")
    warning_row(shell, "503 need MAIL")
    shell.keys("C-u")
    # A typo in the verb: named as soon as the verb is complete, not while typing it.
    shell.type("MIAL")
    no_warning_with(shell, "› MIAL")
    shell.type(" ")
    shell.wait_for("⚠ expect 500 command not recognized: did you mean MAIL?")
    shell.keys("C-u")
    # VRFY of a bare name is a syntax error on Exim (501): no answer about the user, so a
    # later 250 for a full address proves nothing; the 550 for an unknown one does.
    shell.line("VRFY nosuch")
    shell.wait_for("501 nosuch: recipient address must contain a domain")
    shell.line(f"VRFY {exim.address('alice')}")
    screen = shell.wait_for("is deliverable")
    assert "reveals which user names exist" not in flat(screen)
    shell.line(f"VRFY {exim.address('nosuch')}")
    wait_flat(
        shell,
        f"VRFY {exim.address('alice')} → 250 but VRFY {exim.address('nosuch')} → 550: the"
        " server reveals which user names exist",
    )
    # CHUNKING is offered: BDAT beside DATA, and while a typed chunk is collected the
    # toolbar speaks of the chunk, not of the next command.
    shell.line(f"MAIL FROM:<{exim.address('tester')}>")
    shell.line(f"RCPT TO:<{exim.address('alice')}>")
    wait_toolbar(shell, "rcpt │ next: another RCPT TO, or DATA (or BDAT <size> [LAST])")
    shell.line("BDAT 9 LAST")
    shell.wait_for("bdat 0/9›")
    wait_toolbar(shell, "bdat 0/9 │ next: the chunk's octets")
    shell.type("RCPT TO:")  # octets of the chunk: no prediction about a command
    no_warning_with(shell, "bdat 0/9› RCPT TO:")
    shell.keys("C-u")
    shell.line("hi you!")  # 7 octets + CRLF: the 9 are in, the chunk is sent
    shell.wait_for("message accepted, queue id")
    wait_toolbar(shell, "ready")
    shell.line("QUIT")
    shell.wait_for("(closed)›")
    shell.line("/quit")
    assert shell.exit_status() == 0


def test_exim_toolbar_during_an_auth_typed_by_hand(tmp_path: Path) -> None:
    """After the 334 to a hand-typed AUTH the server waits for the answer: the toolbar
    said 'next: /auth, or MAIL FROM:<sender>', a line the server would take for it."""
    exim = server_fixture("exim")
    shell = Screen([exim.target, "--starttls", "--cafile", str(exim.ca_file)],
                   smtpsh_env(tmp_path))
    try:
        wait_toolbar(shell, "TLS │ AUTH no │ ready │ next: /auth, or MAIL FROM:<sender>",
                     timeout=30)
        shell.line("AUTH LOGIN")
        shell.wait_for("334 VXNlcm5hbWU6")
        wait_toolbar(shell, "│ auth │ next: your base64 answer to the challenge")
        shell.line("*")
        shell.wait_for("501")
        wait_toolbar(shell, "TLS │ AUTH no │ ready │ next: /auth, or MAIL FROM:<sender>")
        shell.line("/quit")
        assert shell.exit_status() == 0
    finally:
        shell.close()


def test_aiosmtpd_requiring_tls_next_step_after_its_530(tmp_path: Path) -> None:
    """aiosmtpd with require_starttls answers MAIL with 530: the toolbar offers /starttls
    alone, and after the handshake (EHLO sent again) /auth or MAIL; in a real terminal."""
    server = server_fixture("aiosmtpd_tls")
    shell = Screen([server.target], smtpsh_env(tmp_path))
    try:
        shell.wait_for("↳ 220 service ready", timeout=30)
        shell.line("EHLO pty.smtpsh.test")
        shell.wait_for("250 HELP")
        wait_toolbar(shell, "ready │ next: /starttls, or MAIL FROM:<sender>")
        shell.line(f"MAIL FROM:<{server.address('tester')}>")
        shell.wait_for("530 Must issue a STARTTLS command first")
        wait_toolbar(shell, "ready │ next: /starttls (the server wants TLS first: it answered 530)")
        shell.line(f"/starttls --cafile {server.ca_file}")
        shell.wait_for("/starttls sends EHLO again for you")
        wait_toolbar(shell, "TLS │ AUTH no │ ready │ next: /auth, or MAIL FROM:<sender>")
        shell.line(f"MAIL FROM:<{server.address('tester')}>")
        wait_toolbar(shell, "mail │ next: RCPT TO:<recipient>")
        shell.line("/quit")
        assert shell.exit_status() == 0
    finally:
        shell.close()
