"""Piped runs: `help` answered locally, one clear line for each bad input (naming the
command and the file), colour into a pipe without terminal control, and an exit status
that says what docs/reference.md says it does."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from smtpsh import exitcodes
from tests.helpers.run import run_piped

if TYPE_CHECKING:
    from tests.conftest import PostfixEnv


def test_help_is_local_and_send_verb_sends_it(postfix: PostfixEnv, tmp_path: Path) -> None:
    result = run_piped(
        [postfix.host], "EHLO me\nhelp\nHELP\nHelp VRFY\n/send-verb HELP\nQUIT\n", tmp_path
    )
    out = result.stdout
    sent = [line for line in out.splitlines() if line.startswith("C: ")]
    assert sent == ["C: EHLO me", "C: HELP", "C: QUIT"], out
    assert out.count("`/send-verb HELP [TOPIC]` sends the real HELP") == 2
    assert "VRFY — " in out
    assert result.returncode == 0


def test_bad_input_is_one_line_naming_command_and_file(
    postfix: PostfixEnv, tmp_path: Path
) -> None:
    script = (
        "EHLO me\n/send\n/replay /nonexistent/t.txt\n/auth --help\n"
        "/record /nonexistent/dir/x\n/mailbox 1\nQUIT\n"
    )
    result = run_piped([postfix.host], script, tmp_path)
    errors = [line for line in result.stdout.splitlines() if line.startswith("✗")]
    assert errors == [
        "✗ /send: which file? usage: /send FILE.eml [options] (/send --help)",
        "✗ /replay: /nonexistent/t.txt: cannot read: No such file or directory",
        "✗ /record: cannot record to /nonexistent/dir/x: No such file or directory",
        "✗ /mailbox works with --sandbox only",
    ], result.stdout
    assert "usage: /auth [MECH] [USER]" in result.stdout
    assert "cannot do --HELP" not in result.stdout and "positional arguments" not in result.stdout


def test_option_files_are_checked_before_connecting(tmp_path: Path) -> None:
    # Port 1 on loopback refuses connections: a check after connecting would say so first.
    for option in ("--password-file", "--cafile", "--client-cert"):
        result = run_piped(["127.0.0.1:1", option, "/nonexistent/f"], "", tmp_path)
        assert result.returncode == 2
        assert result.stderr == f"smtpsh: {option} /nonexistent/f: no such file\n"
        assert result.stdout == ""


def test_colour_into_a_pipe_has_no_terminal_control(postfix: PostfixEnv, tmp_path: Path) -> None:
    result = run_piped([postfix.host, "--color", "always"], "EHLO me\nQUIT\n", tmp_path)
    assert "\x1b[" in result.stdout  # coloured
    assert "\r" not in result.stdout and "\x1b[?7h" not in result.stdout
    assert result.returncode == 0


def test_exit_status_is_what_the_reference_says(postfix: PostfixEnv, tmp_path: Path) -> None:
    session = dict(exitcodes.rows("session"))
    assert "/send" in session[4] and "QUIT" in session[0]
    reference = (Path(__file__).parents[2] / "docs" / "reference.md").read_text()
    assert f"| 4 | failed | {session[4]} |" in reference
    # Ended with our QUIT, a /send failed: 4 (failed). Ended with our QUIT, nothing failed: 0.
    failed = run_piped([postfix.host], "EHLO me\n/send /nonexistent.eml\nQUIT\n", tmp_path)
    assert "S: 221" in failed.stdout and failed.returncode == 4
    clean = run_piped([postfix.host], "EHLO me\nQUIT\n", tmp_path)
    assert clean.returncode == 0
