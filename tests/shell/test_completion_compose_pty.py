"""Address completion remembered per server across sessions (0600 in the state dir), Tab
twice keeping a completion, and /compose's defaults as placeholders, at 80 and 120 columns."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.helpers.run import smtpsh_env
from tests.helpers.tmux import Screen, patient

if TYPE_CHECKING:
    from tests.conftest import PostfixEnv

pytestmark = pytest.mark.pty


@pytest.fixture
def screens() -> Iterator[list[Screen]]:
    opened: list[Screen] = []
    yield opened
    for screen in opened:
        screen.close()


def wait_cursor_line(screen: Screen, needle: str, timeout: float = 10) -> str:
    deadline = time.monotonic() + patient(timeout)
    while time.monotonic() < deadline:
        line = screen.cursor_line()
        if needle in line:
            return line
        time.sleep(0.1)
    raise AssertionError(f"{needle!r} not on the cursor line: {screen.cursor_line()!r}")


@pytest.mark.parametrize("width", [80, 120])
def test_addresses_are_remembered_per_server(
    postfix: PostfixEnv, tmp_path: Path, screens: list[Screen], width: int
) -> None:
    target = f"{postfix.host}:{postfix.port('smtp')}"
    first = Screen([target], smtpsh_env(tmp_path), width=width)
    screens.append(first)
    first.wait_for("service ready")
    first.line("EHLO me.smtpsh.test")
    first.line("MAIL FROM:<remember-me@client.smtpsh.test>")
    first.wait_for("250 2.1.0 Ok")
    first.line("/quit")
    assert first.exit_status() == 0
    book = tmp_path / "state" / "smtpsh" / "addresses"
    assert book.stat().st_mode & 0o777 == 0o600
    assert f"{postfix.host}:25\tremember-me@client.smtpsh.test" in book.read_text()
    # A new session with the same server: offered after MAIL FROM:< (what is sent is the
    # line as completed: the grey suggestion from the history is not part of it).
    second = Screen([target], smtpsh_env(tmp_path), width=width)
    screens.append(second)
    second.wait_for("service ready")
    second.line("EHLO me.smtpsh.test")
    second.wait_for("250 CHUNKING")
    second.type("MAIL FROM:<rem")
    second.keys("Tab")
    wait_cursor_line(second, "remember-me@client.smtpsh.test")  # completed (drawn)
    second.keys("Tab")  # a second Tab keeps it (it used to go back to what was typed)
    time.sleep(0.5)
    second.keys("Enter")
    screen = second.wait_for("250 2.1.0 Ok")
    assert "› MAIL FROM:<remember-me@client.smtpsh.test>\n" in screen
    second.line("/quit")
    assert second.exit_status() == 0
    # Another server (the sandbox) does not offer it: the line goes as typed.
    other = Screen(["--sandbox"], smtpsh_env(tmp_path), width=width)
    screens.append(other)
    other.wait_for("service ready")
    other.line("EHLO me")
    other.wait_for("250 SMTPUTF8")
    other.type("MAIL FROM:<rem")
    other.keys("Tab")
    time.sleep(0.5)
    other.keys("Enter")
    screen = other.wait_for("› MAIL FROM:<rem")
    assert "remember-me" not in screen.split("› MAIL FROM:<rem", 1)[1].split("\n", 1)[0]
    other.line("/quit")
    assert other.exit_status() == 0


@pytest.mark.parametrize("width", [80, 120])
def test_compose_defaults_are_placeholders(
    tmp_path: Path, screens: list[Screen], width: int
) -> None:
    shell = Screen(["--sandbox"], smtpsh_env(tmp_path), width=width)
    screens.append(shell)
    shell.wait_for("service ready")
    shell.line("EHLO me")
    shell.line("/compose --to alice@sandbox.test")
    # No configured sender: asked, with no made-up default; Enter alone is not an answer.
    shell.wait_for("Envelope sender (MAIL FROM):")
    assert "root@" not in shell.cursor_line()
    shell.keys("Enter")
    shell.wait_words("type the sender's address")
    shell.line("me@example.net")
    shell.wait_for("From:")
    wait_cursor_line(shell, "me@example.net")  # the default, shown as a placeholder
    shell.keys("Enter")  # taken (To: is not asked: --to gave it)
    shell.wait_for("Cc:")
    shell.keys("Enter")
    shell.wait_for("Subject:")
    wait_cursor_line(shell, "Test message from smtpsh")
    shell.type("Typed subject")  # replaces the placeholder
    wait_cursor_line(shell, "Subject: Typed subject")
    assert "smtpshTyped" not in shell.cursor_line()
    shell.keys("Enter")
    shell.wait_for("'.' alone on a line ends it")
    shell.line("placeholder body")
    shell.line(".")
    shell.wait_for("Attachments")
    shell.keys("Enter")
    shell.wait_for("Send it?")
    shell.keys("Enter")
    shell.wait_for("message accepted")
    shell.line("/mailbox 1")
    screen = shell.wait_for("── body")
    assert "Subject: Typed subject" in screen
    assert "From: me@example.net" in screen
    shell.line("/quit")
    assert shell.exit_status() == 0


def test_a_config_mail_from_with_an_escape_is_refused_when_read(
    tmp_path: Path, screens: list[Screen]
) -> None:
    # A configured mail_from holding an ESC sequence and a bidi override: refused when the
    # file is read, in one line naming the file, the key and the character (escaped), and
    # the shell runs with the defaults: /compose offers no such sender. It was taken, offered
    # (escaped) as /compose's default, and refused only once used as an address. Nothing of
    # it reaches the terminal raw (neither acted on, nor drawn as '^[', nor the override).
    config = tmp_path / "config" / "smtpsh" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('mail_from = "\\u001b[31mred\\u202eevil@example.net"\n', encoding="utf-8")
    shell = Screen(["--sandbox"], smtpsh_env(tmp_path))
    screens.append(shell)
    shell.wait_words(
        f"config {config} line 1: key 'mail_from': \\x1b (a control character) in"
        ' "\\x1b[31mred\\u202eevil@example.net"; starting with the defaults'
    )
    shell.wait_for("service ready")
    shell.line("EHLO me")
    shell.line("/compose --to alice@sandbox.test")
    # The question and its default (a placeholder, if any) are drawn as one line.
    assert "evil@example.net" not in wait_cursor_line(shell, "Envelope sender (MAIL FROM):")
    screen = shell.text()
    assert "\u202e" not in screen and "^[" not in screen and "\x1b" not in screen
    shell.keys("C-c")
    shell.wait_for("composition cancelled: nothing was sent")
    shell.line("/quit")
    assert shell.exit_status() == 0
