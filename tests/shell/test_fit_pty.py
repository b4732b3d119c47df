"""The shell as a person uses it, at 80 and 120 columns: smtpsh's own text wraps at word
boundaries to the terminal's width (and follows a resize), the toolbar is cut with '…' and
offers what helps now, and every recovery hint shown is a command that works right there:
each test types the hint it was shown and checks that it worked."""

from __future__ import annotations

import re
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

WIDTHS = [80, 120]
SANDBOX_PASSWORD = "sandbox-pass"  # the practice server's documented password for alice
_WIRE = re.compile(r"^(?:[0-9]{3}[ -]|C: |S: )")


@pytest.fixture
def screens() -> Iterator[list[Screen]]:
    opened: list[Screen] = []
    yield opened
    for screen in opened:
        screen.close()


def open_screen(
    screens: list[Screen], args: list[str], home: Path, width: int, height: int = 50
) -> Screen:
    screen = Screen(args, smtpsh_env(home), width=width, height=height)
    screens.append(screen)
    return screen


def own_lines(screen: Screen) -> list[str]:
    """The logical lines smtpsh wrote itself (the terminal's soft wraps joined): not the
    server's reply lines, not what was sent, not the prompt with what was typed."""
    return [
        line
        for line in screen.history().splitlines()
        if line.strip() and not _WIRE.match(line) and "› " not in line and line[-1:] != "›"
    ]


def assert_fits(screen: Screen, width: int) -> None:
    """No line of smtpsh's own was broken by the terminal (which breaks mid-word): each
    is at most as wide as the screen, so every break in it is one made at a space."""
    too_long = [line for line in own_lines(screen) if len(line.rstrip()) > width]
    assert not too_long, "\n".join(too_long)


def flat(text: str) -> str:
    """Text with every run of white space (a wrap among them) as one space."""
    return " ".join(text.split())


def wait_flat(screen: Screen, needle: str, timeout: float = 15) -> str:
    """wait_for, but the needle may be wrapped onto several rows: the flat screen text."""
    deadline = time.monotonic() + patient(timeout)
    while time.monotonic() < deadline:
        text = flat(screen.text())
        if needle in text:
            return text
        time.sleep(0.1)
    raise AssertionError(f"{needle!r} not on screen after {patient(timeout)} s:\n{screen.text()}")


def toolbar(screen: Screen, timeout: float = 5) -> str:
    """The toolbar row (prompt_toolkit may be between two redraws: waited for)."""
    deadline = time.monotonic() + patient(timeout)
    while True:
        rows = [row for row in screen.visible() if "│" in row]
        if rows:
            return rows[-1]
        assert time.monotonic() < deadline, screen.visible()
        time.sleep(0.1)


def wait_toolbar(screen: Screen, needle: str, timeout: float = 10) -> str:
    deadline = time.monotonic() + patient(timeout)
    while time.monotonic() < deadline:
        row = toolbar(screen)
        if needle in row:
            return row
        time.sleep(0.1)
    raise AssertionError(f"{needle!r} not in the toolbar: {toolbar(screen)!r}")


def assert_whole_words(row: str, full: str) -> None:
    """A toolbar row cut with '…' keeps whole words of the full text only."""
    kept = row.strip().removesuffix("…").split()
    words = full.split()
    assert kept == words[: len(kept)], (row, full)


@pytest.mark.parametrize("width", WIDTHS)
def test_tour_help_and_toolbar_fit(tmp_path: Path, screens: list[Screen], width: int) -> None:
    shell = open_screen(screens, ["--sandbox"], tmp_path, width)
    wait_flat(shell, "service ready")
    shell.line("/tour")
    wait_flat(shell, "tour 1/11")
    shell.line("help RCPT")
    wait_flat(shell, "DSN parameters NOTIFY=")
    shell.line("/help")
    wait_flat(shell, "/raw on sends typed commands unchecked")
    shell.line("EHLO me")
    wait_flat(shell, "250 SMTPUTF8")
    assert_fits(shell, width)
    row = wait_toolbar(shell, "│ ready │")  # redrawn after the EHLO reply
    full = f" 127.0.0.1:{row.split(':')[1].split()[0]} │ no TLS │ AUTH no │ ready │ next:" \
        " /starttls, or MAIL FROM:<sender>"
    assert len(row.rstrip()) <= width
    if len(full) > width:
        assert row.rstrip().endswith("…")
    else:
        assert row.rstrip() == full
    assert_whole_words(row, full)
    # /help: every summary starts in the same column, /auth is not under "tls:".
    text = shell.history()
    for usage in ("/annotate on|off", "/help [VERB]", "/status", "/cert [pem]"):
        assert re.search(rf"^  {re.escape(usage)} +\S", text, re.MULTILINE), usage
    columns = {
        m.start(2) - m.start(0)
        for m in re.finditer(r"^  (/\S+(?: \S+)*?) {2,}(\S)", text, re.MULTILINE)
    }
    assert len(columns) == 1, columns
    assert text.index("auth:\n  /auth") > text.index("tls:\n")
    assert "extensions (from the EHLO reply):" not in text  # (that is /status, below)
    shell.line("/status")
    wait_flat(shell, "extensions (from the EHLO reply):")
    shell.line("/quit")
    assert shell.exit_status() == 0


def test_new_lines_follow_a_resize(tmp_path: Path, screens: list[Screen]) -> None:
    shell = open_screen(screens, ["--sandbox"], tmp_path, 120)
    wait_flat(shell, "service ready")
    shell.line("help RCPT")
    wait_flat(shell, "DSN parameters NOTIFY=")
    shell.resize(80, 40)
    time.sleep(0.3)
    shell.line("/tour")
    wait_flat(shell, "tour 1/11")
    shell.line("help VRFY")
    wait_flat(shell, "VRFY — ")
    rows_after = shell.history().split("help VRFY", 1)[1].splitlines()
    assert all(len(row.rstrip()) <= 80 for row in rows_after if not _WIRE.match(row))
    assert len(toolbar(shell).rstrip()) <= 80
    shell.line("/quit")
    assert shell.exit_status() == 0


@pytest.mark.parametrize("width", WIDTHS)
def test_starttls_sends_ehlo_then_auth_works_and_the_toolbar_follows(
    tmp_path: Path, screens: list[Screen], width: int
) -> None:
    shell = open_screen(screens, ["--sandbox"], tmp_path, width)
    wait_flat(shell, "service ready")
    # AUTH predicted to fail: refused before any secret is asked, with the fix to type.
    shell.line("/auth PLAIN alice")
    screen = (wait_flat(shell, "not sent: expect 503"))
    assert "(send EHLO first)" in screen and "Password" not in screen
    shell.line("EHLO me")
    wait_flat(shell, "250 SMTPUTF8")
    row = wait_toolbar(shell, "ready")
    assert "/starttls" in row and "/auth" not in row  # AUTH is not advertised before TLS
    shell.line("/auth PLAIN alice")
    screen = (wait_flat(shell, "(many servers offer AUTH only"))
    assert "only after /starttls)" in screen and "Password" not in screen
    shell.line("/starttls")
    screen = wait_flat(shell, "/starttls sends EHLO again")
    wait_flat(shell, "250-AUTH PLAIN LOGIN CRAM-MD5")
    row = wait_toolbar(shell, "TLS │ AUTH no │ ready")
    assert "/starttls" not in row
    shell.line("/auth PLAIN alice")
    wait_flat(shell, "Password for alice (hidden):")
    shell.line(SANDBOX_PASSWORD)
    screen = wait_flat(shell, "authenticated as alice with PLAIN")
    # No 503 reply or prediction after the handshake (a word, not a digit run: the
    # sandbox's random port may hold 503).
    assert not re.search(r"(?<![\d:])503(?!\d)", screen.split("/starttls sends EHLO again", 1)[1])
    row = wait_toolbar(shell, "AUTH yes")
    assert row.rstrip().endswith("│ TLS │ AUTH yes │ ready │ next: MAIL FROM:<sender>"), row
    assert_fits(shell, width)
    shell.line("/quit")
    assert shell.exit_status() == 0


@pytest.mark.parametrize("width", WIDTHS)
def test_after_a_close_the_toolbar_says_reconnect_and_it_works(
    tmp_path: Path, screens: list[Screen], width: int
) -> None:
    shell = open_screen(screens, ["--sandbox"], tmp_path, width)
    wait_flat(shell, "service ready")
    shell.line("EHLO me")
    shell.line("/starttls")
    wait_flat(shell, "/starttls sends EHLO again")
    shell.line("QUIT")
    wait_flat(shell, "221")
    row = wait_toolbar(shell, "closed")
    assert "next: /reconnect" in row and "TLS" not in row and "AUTH" not in row
    shell.line("/reconnect")
    wait_flat(shell, "reconnecting to")
    wait_toolbar(shell, "greeted │ next: EHLO")
    shell.line("/quit")
    assert shell.exit_status() == 0


@pytest.mark.parametrize("width", WIDTHS)
def test_help_is_local_in_any_case_and_the_real_help_is_sent_as_shown(
    tmp_path: Path, screens: list[Screen], width: int
) -> None:
    shell = open_screen(screens, ["--sandbox"], tmp_path, width)
    wait_flat(shell, "service ready")
    for typed, shown in (("help", "`help` and"), ("HELP", "`help` and"), ("Help VRFY", "VRFY — ")):
        before = shell.history().count(shown)
        shell.line(typed)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (
            shell.history().count(shown) > before and shell.cursor_line().rstrip().endswith("›")
        ):
            time.sleep(0.1)
    text = shell.history()
    assert not re.search(r"^5[0-9][0-9][ -]", text, re.MULTILINE)  # nothing went to the server
    assert flat(text).count("`/send-verb HELP [TOPIC]` sends the real HELP") == 2
    shell.line("/send-verb HELP")  # as the help text says
    wait_flat(shell, "214 help message")
    after = shell.history().split("› /send-verb HELP", 1)[1]
    assert re.search(r"^214 2.0.0 Commands: ", after, re.MULTILINE)
    assert_fits(shell, width)
    shell.line("/quit")
    assert shell.exit_status() == 0


@pytest.mark.parametrize("width", WIDTHS)
def test_vrfy_answers_that_differ_are_compared(
    tmp_path: Path, screens: list[Screen], width: int
) -> None:
    shell = open_screen(screens, ["--sandbox"], tmp_path, width)
    wait_flat(shell, "service ready")
    shell.line("EHLO me")
    shell.line("VRFY nosuch")
    wait_flat(shell, "550 5.1.1")
    assert "reveals" not in shell.history()
    shell.line("VRFY alice")
    screen = (wait_flat(shell, "VRFY alice → 252 but VRFY nosuch → 550"))
    assert "→ 550: the server reveals which user names exist" in screen
    assert "user enumeration works here" in screen
    assert_fits(shell, width)
    shell.line("/quit")
    assert shell.exit_status() == 0


@pytest.mark.parametrize("width", WIDTHS)
def test_mailbox_shows_the_body_and_ehlo(
    tmp_path: Path, screens: list[Screen], width: int
) -> None:
    shell = open_screen(screens, ["--sandbox"], tmp_path, width)
    wait_flat(shell, "service ready")
    for line in ("EHLO me", "MAIL FROM:<you@example.net>", "RCPT TO:<alice@sandbox.test>",
                 "DATA", "Subject: look", "", "body-marker-7731", "."):
        shell.line(line)
    wait_flat(shell, "queued as")
    shell.line("/mailbox")
    screen = wait_flat(shell, "/mailbox N shows message N with its body")
    assert "EHLO me" in screen.split("/mailbox", 1)[1] and "HELO me" not in screen
    shell.line("/mailbox 1")
    wait_flat(shell, "── body body-marker-7731")
    shell.line("/mailbox 9")
    wait_flat(shell, "/mailbox: no message 9: the mailbox holds 1 to 1")
    assert_fits(shell, width)
    shell.line("/quit")
    assert shell.exit_status() == 0


@pytest.mark.parametrize("width", WIDTHS)
def test_a_failed_starttls_hint_is_a_reconnect_that_works(
    postfix: PostfixEnv, tmp_path: Path, screens: list[Screen], width: int
) -> None:
    shell = open_screen(screens, [f"{postfix.host}:{postfix.port('smtp')}"], tmp_path, width)
    wait_flat(shell, "service ready")
    shell.line("EHLO me.smtpsh.test")
    shell.line("/starttls")
    screen = wait_flat(shell, "(closed)›")
    joined = flat(screen)
    assert "/reconnect --starttls --cafile FILE" in joined, screen
    assert "/reconnect --starttls --no-verify" in joined
    assert " --cafile FILE for" not in joined.replace("--starttls --cafile FILE", "")
    # The hint, typed with the file it asks for.
    shell.line(f"/reconnect --starttls --cafile {postfix.ca_file}")
    wait_flat(shell, "verified: yes")
    wait_toolbar(shell, "TLS │ AUTH no │ ready")
    shell.line("/starttls --no-verify")  # already encrypted: one line, nothing sent
    wait_flat(shell, "already encrypted")
    assert_fits(shell, width)
    shell.line("/quit")
    assert shell.exit_status() == 0


def test_starttls_options_in_the_shell(
    postfix: PostfixEnv, tmp_path: Path, screens: list[Screen]
) -> None:
    shell = open_screen(screens, [f"{postfix.host}:{postfix.port('smtp')}"], tmp_path, 80)
    wait_flat(shell, "service ready")
    shell.line("EHLO me.smtpsh.test")
    shell.line("/starttls --cafile /nonexistent/ca.pem")
    wait_flat(shell, "✗ /starttls --cafile /nonexistent/ca.pem: no such file")
    shell.line("/starttls --frob")
    wait_flat(shell, "/starttls: unrecognized arguments: --frob; usage:")
    shell.line(f"/starttls --cafile {postfix.ca_file} --sni mx.smtpsh.test")
    screen = wait_flat(shell, "verified: yes")
    assert "valid for mx.smtpsh.test" in screen
    wait_toolbar(shell, "TLS │ AUTH no │ ready")
    shell.line("/quit")
    assert shell.exit_status() == 0


@pytest.mark.parametrize("width", WIDTHS)
def test_a_silent_tls_port_hint_is_a_reconnect_that_works(
    postfix: PostfixEnv, tmp_path: Path, screens: list[Screen], width: int
) -> None:
    port = postfix.port("smtps")
    shell = open_screen(
        screens, [f"{postfix.host}:{port}", "--cafile", str(postfix.ca_file)], tmp_path, width
    )
    screen = wait_flat(shell, "Ctrl-C stops", timeout=15)
    assert "/reconnect --tls" in flat(screen), screen
    shell.keys("C-c")
    wait_flat(shell, "interrupted")
    shell.line("/reconnect --tls")
    wait_flat(shell, f"220 {postfix.banner}")
    wait_toolbar(shell, "TLS │ AUTH no │ greeted")
    assert_fits(shell, width)
    shell.line("/quit")
    assert shell.exit_status() == 0
