"""`smtpsh --sandbox`: the same dialogue a newcomer runs first, offline."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.run import run_piped, smtpsh_env
from tests.helpers.tmux import Screen

SCRIPT = """\
EHLO learner.test
VRFY alice
VRFY nobody
MAIL FROM:<learner@example.net>
RCPT TO:<alice@sandbox.test>
RCPT TO:<nobody@sandbox.test>
RCPT TO:<someone@elsewhere.test>
DATA
Subject: my first message

.hidden dot line
sandbox-marker-1
.
/mailbox
RSET
QUIT
"""


def test_sandbox_piped_dialogue(tmp_path: Path) -> None:
    result = run_piped(["--sandbox"], SCRIPT, tmp_path)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "smtpsh practice server on 127.0.0.1:" in out  # the welcome text
    assert "S: 220 sandbox.test ESMTP smtpsh practice server" in out
    assert "S: 250-STARTTLS" in out
    assert "S: 252 2.0.0 alice" in out
    assert "S: 550 5.1.1 <nobody>: Recipient address rejected" in out
    assert "↳ 550 mailbox unavailable · 5.1.1 bad destination mailbox address" in out
    assert "S: 554 5.7.1 <someone@elsewhere.test>: Relay access denied" in out
    # In answer to RCPT, with these words, the 554 is a refused relay (protocol/meanings.py).
    assert "↳ 554 relaying refused: the server does not take mail for this address" in out
    queued = next(
        line for line in out.splitlines() if "queued as" in line and line.startswith("S: 250")
    )
    queue_id = queued.rsplit(" ", 1)[1]
    # /mailbox shows what the sandbox received, under the same queue id.
    assert f"message 1 of 1 · queued as {queue_id}" in out
    assert "RCPT TO    <alice@sandbox.test>" in out
    assert "Subject: my first message" in out
    assert "S: 221 2.0.0 Bye" in out


def test_mailbox_without_sandbox_is_one_clear_line(tmp_path: Path) -> None:
    from tests.helpers.scripted_server import scripted_server, smtp_like

    with scripted_server(smtp_like({})) as port:
        result = run_piped([f"127.0.0.1:{port}"], "/mailbox\n/nonsense\nQUIT\n", tmp_path)
    assert result.returncode == 0
    assert "✗ /mailbox works with --sandbox only" in result.stdout
    assert "✗ unknown shell command /nonsense; /help lists them" in result.stdout


@pytest.fixture
def screen(tmp_path: Path) -> Iterator[Screen]:
    shell = Screen(["--sandbox"], smtpsh_env(tmp_path))
    yield shell
    shell.close()


@pytest.mark.pty
def test_sandbox_interactive_first_steps(screen: Screen) -> None:
    screen.wait_for("smtpsh practice server on 127.0.0.1:")
    screen.wait_for("220 sandbox.test ESMTP")
    screen.line("EHLO learner.test")
    screen.wait_for("250 SMTPUTF8")
    screen.line("MAIL FROM:<learner@example.net>")
    screen.line("RCPT TO:<bob@sandbox.test>")
    screen.wait_for("rcpt │ next: another RCPT TO, or DATA")
    screen.line("DATA")
    screen.wait_for("data›")
    screen.line("Subject: interactive")
    screen.line("")
    screen.line("hello")
    screen.line(".")
    screen.wait_for("queued as")
    screen.line("/mailbox")
    screen.wait_for("RCPT TO    <bob@sandbox.test>")
    screen.keys("C-d")
    assert screen.exit_status() == 0
