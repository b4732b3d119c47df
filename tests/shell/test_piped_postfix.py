"""The piped mode (like nc) against the real Postfix on loopback."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tests.helpers.run import run_piped

if TYPE_CHECKING:
    from tests.conftest import PostfixEnv


def test_full_dialogue_against_postfix(postfix: PostfixEnv, tmp_path: Path) -> None:
    script = (
        "EHLO client.smtpsh.test\n"
        "VRFY robin\n"
        "VRFY nosuchuser\n"
        "MAIL FROM:<tester@client.smtpsh.test>\n"
        "RCPT TO:<robin@smtpsh.test>\n"
        "DATA\n"
        "Subject: piped dialogue\n"
        "\n"
        ".a line that starts with a dot\n"
        "marker-piped-7731\n"
        ".\n"
        "RSET\n"
        "QUIT\n"
    )
    mark = postfix.log_mark()
    result = run_piped([f"{postfix.host}:{postfix.port('smtp')}"], script, tmp_path)
    out = result.stdout
    assert result.returncode == 0, result.stderr + out
    lines = out.splitlines()
    # The banner, annotated.
    assert lines[0] == f"S: 220 {postfix.banner}"
    assert lines[1] == "  ↳ 220 service ready"
    # A multi-line EHLO reply, every line kept.
    assert "S: 250-PIPELINING" in lines and "S: 250 CHUNKING" in lines
    # VRFY of an existing and an unknown user, each with its annotation.
    i = lines.index("S: 252 2.0.0 robin")
    # 2.0.0 "other undefined status" adds nothing to 252, so it is not glossed (issue 16).
    assert lines[i + 1] == "  ↳ 252 cannot verify user, but will accept and attempt delivery"
    j = next(k for k, line in enumerate(lines) if line.startswith("S: 550 5.1.1 <nosuchuser>"))
    assert lines[j + 1] == "  ↳ 550 mailbox unavailable · 5.1.1 bad destination mailbox address"
    # The message was queued; the queue id is reported.
    queued = next(line for line in lines if "queued as" in line)
    queue_id = queued.rsplit(" ", 1)[1]
    assert f"message accepted, queue id {queue_id}" in out
    assert "S: 221 2.0.0 Bye" in lines
    # Postfix delivered it, and the dot-stuffed line arrived with one dot.
    mbox = postfix.wait_for_mail("robin", "marker-piped-7731")
    assert "\n.a line that starts with a dot\n" in mbox.replace("\r\n", "\n")
    assert any(queue_id in line for line in postfix.log_since(mark))


def test_ipv6_loopback(postfix: PostfixEnv, tmp_path: Path) -> None:
    assert postfix.host6, "the test Postfix listens on ::1"
    result = run_piped([f"[{postfix.host6}]:{postfix.port('smtp')}"], "NOOP\nQUIT\n", tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "S: 250 2.0.0 Ok" in result.stdout


def test_case_is_kept_and_unknown_command_annotated(postfix: PostfixEnv, tmp_path: Path) -> None:
    result = run_piped(
        [postfix.host, "--port", str(postfix.port("smtp"))], "noop\nFROB x\nQUIT\n", tmp_path
    )
    assert "C: noop" in result.stdout
    assert "S: 500 5.5.2 Error: command not recognized" in result.stdout
    assert "↳ 500 syntax error, command unrecognized · 5.5.2 syntax error" in result.stdout


def test_no_annotate(postfix: PostfixEnv, tmp_path: Path) -> None:
    result = run_piped([postfix.host, "--no-annotate"], "QUIT\n", tmp_path)
    assert result.returncode == 0
    assert "↳" not in result.stdout and "S: 221" in result.stdout


def test_refused_data_skips_the_scripts_message_lines(postfix: PostfixEnv, tmp_path: Path) -> None:
    script = "EHLO x.test\nDATA\nSubject: x\n\nRCPT TO:<robin@smtpsh.test>\n.\nNOOP\nQUIT\n"
    result = run_piped([postfix.host], script, tmp_path)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "S: 503 5.5.1 Error: need RCPT command" in out
    assert "DATA was refused: the script's message lines up to '.' are skipped" in out
    assert "C: RCPT TO" not in out and "C: Subject" not in out
    assert "C: NOOP" in out and "S: 221" in out
