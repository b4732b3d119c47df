"""/record and /replay in the interactive shell (a real pty), and kill -9 while recording."""

from __future__ import annotations

import re
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pexpect
import pytest

from tests.helpers.run import smtpsh_env

from .common import replay, transcript_lines

if TYPE_CHECKING:
    from tests.conftest import PostfixEnv

pytestmark = [pytest.mark.pty, pytest.mark.postfix]


def spawn(args: list[str], home: Path) -> pexpect.spawn:
    child = pexpect.spawn(
        sys.executable,
        ["-m", "smtpsh", *args],
        env=smtpsh_env(home),
        dimensions=(40, 120),
        encoding="utf-8",
        timeout=20,
    )
    return child


def test_record_in_the_shell_then_replay_in_the_shell_and_from_the_command_line(
    postfix: PostfixEnv, tmp_path: Path
) -> None:
    path = tmp_path / "pty.smtpt"
    child = spawn([postfix.host], tmp_path)
    child.expect("220 ")
    child.expect("25›")
    child.sendline(f"/record {path}")
    child.expect("recording to")
    steps = [
        ("EHLO pty.smtpsh.test", "250 CHUNKING"),
        ("VRFY robin", "252 2.0.0 robin"),
        ("MAIL FROM:<alice@smtpsh.test>", "250 2.1.0 Ok"),
        ("RCPT TO:<robin@smtpsh.test>", "250 2.1.5 Ok"),
        ("DATA", "354 End data"),
    ]
    for line, reply in steps:
        child.sendline(line)
        child.expect(re.escape(reply))
    child.expect("data›")
    for line in ("Subject: typed in a pty", "", ".starts with a dot"):
        child.sendline(line)
        child.expect("data›")
    child.sendline(".")
    child.expect(r"250 2\.0\.0 Ok: queued as")
    child.sendline("QUIT")
    child.expect("221 2.0.0 Bye")
    child.sendline("/record off")
    child.expect("recording stopped")
    assert path.stat().st_mode & 0o777 == 0o600
    body = transcript_lines(path)
    assert body[2] == f"# connect {postfix.host}:25"
    assert (
        "C: ..starts with a dot" in body
        and body[body.index("C: ..starts with a dot") + 1] == "C: ."
    )
    # /replay on the live shell: the session is closed, so it reconnects first.
    child.sendline(f"/replay {path}")
    child.expect(r"7 steps, 7 matched, 0 differed")
    assert "✗" not in child.before
    child.expect("›")
    child.sendline("/quit")
    child.expect(pexpect.EOF)
    # And from the command line, against the same Postfix.
    result = replay([str(path)], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == "7 steps, 7 matched, 0 differed"


def test_kill_9_leaves_every_line_already_shown(postfix: PostfixEnv, tmp_path: Path) -> None:
    path = tmp_path / "killed.smtpt"
    child = spawn(["--record", str(path), postfix.host], tmp_path)
    child.expect(f"220 {re.escape(postfix.banner)}")
    shown = {f"S: 220 {postfix.banner}"}
    for line, reply in (
        ("EHLO killed.smtpsh.test", "250 CHUNKING"),
        ("VRFY robin", "252 2.0.0 robin"),
        ("MAIL FROM:<alice@smtpsh.test>", "250 2.1.0 Ok"),
        ("NOOP", "250 2.0.0 Ok"),
    ):
        child.sendline(line)
        child.expect(re.escape(reply))
        shown |= {f"C: {line}", f"S: {reply}"}
    child.kill(signal.SIGKILL)
    child.expect(pexpect.EOF)
    time.sleep(0.1)
    body = set(transcript_lines(path))
    assert shown <= body, shown - body
    # What is there is a valid transcript: it replays (the MAIL transaction is left open).
    result = replay([str(path)], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == "5 steps, 5 matched, 0 differed"


def test_record_status_off_and_errors(postfix: PostfixEnv, tmp_path: Path) -> None:
    path = tmp_path / "status.smtpt"
    child = spawn([postfix.host], tmp_path)
    child.expect("25›")
    child.sendline("/record")
    child.expect("not recording")
    child.sendline(f"/record {tmp_path}/no/such/dir/x.smtpt")
    child.expect(r"cannot\s+record\s+to\s+\S+:\s+No\s+such\s+file\s+or\s+directory")
    child.sendline("EHLO me")
    child.expect("250 CHUNKING")
    child.sendline(f"/record {path}")
    child.expect("the session is already under way")
    child.sendline(f"/record {tmp_path}/second.smtpt")
    child.expect(f"already recording to {re.escape(str(path))}")
    child.sendline("NOOP")
    child.expect("250 2.0.0 Ok")
    child.sendline("/record off")
    child.expect(r"recording stopped: .*status\.smtpt \(\d+ lines\)")
    child.sendline("NOOP")
    child.expect("250 2.0.0 Ok")
    child.sendline("/replay")
    child.expect("usage: /replay FILE")
    child.sendline("/quit")
    child.expect(pexpect.EOF)
    body = transcript_lines(path)
    assert body[3].startswith("# note recording started mid-session (state ready)")
    assert body.count("C: NOOP") == 1 and body[-1] == "# stop by /record off"
