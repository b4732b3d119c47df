"""Recording: mode 0600, every line written when it happens, write failures, bad paths."""

from __future__ import annotations

import asyncio
import os
import re
import resource
import signal
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from smtpsh.net.client import ClientOptions, SMTPClient
from smtpsh.transcript.recorder import RecordError, TranscriptRecorder
from tests.helpers.run import run_piped, smtpsh_env

if TYPE_CHECKING:
    from tests.conftest import PostfixEnv


def test_existing_transcript_is_truncated_and_keeps_its_mode(tmp_path: Path) -> None:
    # smtpsh chmods only the files it creates: an existing one keeps its owner's mode.
    path = tmp_path / "old.smtpt"
    path.write_text("# smtpsh transcript 1\n" + "old content that must go\n" * 10)
    path.chmod(0o640)
    recorder = TranscriptRecorder.open(path)
    recorder.close("test")
    assert path.stat().st_mode & 0o777 == 0o640
    lines = path.read_text().splitlines()
    assert lines[0] == "# smtpsh transcript 1" and lines[1].startswith("# start 20")
    assert re.fullmatch(r"\+\d+ +# stop test", lines[2]) and len(lines) == 3


def test_existing_file_that_is_not_a_transcript_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("old content that must stay\n")
    with pytest.raises(RecordError, match="exists and is not a transcript: refused"):
        TranscriptRecorder.open(path)
    assert path.read_text() == "old content that must stay\n"


def test_unwritable_path_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RecordError, match=r"cannot record to .*missing/x\.smtpt: No such file"):
        TranscriptRecorder.open(tmp_path / "missing" / "x.smtpt")
    result = run_piped(
        ["--record", str(tmp_path / "missing" / "x.smtpt"), "127.0.0.1"], "", tmp_path
    )
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        f"smtpsh: cannot record to {tmp_path}/missing/x.smtpt: No such file or directory"
    )
    assert "Traceback" not in result.stderr


@pytest.mark.postfix
def test_each_line_is_in_the_file_before_the_next_step(postfix: PostfixEnv, tmp_path: Path) -> None:
    """No buffering: after each reply the file already holds it (read while still open)."""
    path = tmp_path / "live.smtpt"
    recorder = TranscriptRecorder.open(path)

    def body() -> list[str]:
        return [line.split(" ", 1)[1].lstrip() for line in path.read_text().splitlines()[2:]]

    async def session() -> None:
        client = SMTPClient(
            ClientOptions(postfix.host, postfix.port("smtp"), timeout=10), [recorder]
        )
        await client.open()
        assert body()[:2] == ["# connect 127.0.0.1:25", f"S: 220 {postfix.banner}"]
        await client.command("NOOP")
        assert body()[-2:] == ["C: NOOP", "S: 250 2.0.0 Ok"]
        await client.command("VRFY robin")
        assert body()[-1] == "S: 252 2.0.0 robin"
        await client.command("QUIT")
        await client.close()

    asyncio.run(session())
    recorder.close()
    assert body()[-2:] == ["C: QUIT", "S: 221 2.0.0 Bye"]


def _limit_file_size() -> None:
    # The file-size limit makes write(2) fail with EFBIG, as a full disk gives ENOSPC;
    # SIGXFSZ is ignored so the error reaches smtpsh instead of killing it.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (500, 500))


@pytest.mark.postfix
def test_write_failure_is_one_error_and_the_session_goes_on(
    postfix: PostfixEnv, tmp_path: Path
) -> None:
    path = tmp_path / "full.smtpt"
    result = subprocess.run(
        [sys.executable, "-m", "smtpsh", "--record", str(path), postfix.host],
        input="EHLO me\nVRFY robin\nNOOP\nQUIT\n",
        capture_output=True,
        text=True,
        timeout=60,
        env=smtpsh_env(tmp_path),
        preexec_fn=_limit_file_size,
    )
    errors = [line for line in result.stdout.splitlines() if "transcript:" in line]
    assert errors == [
        f"✗ transcript: cannot write to {path} (File too large); recording stopped,"
        " the session goes on"
    ]
    # The session went on: later commands were sent and answered, QUIT ended it cleanly.
    assert "S: 252 2.0.0 robin" in result.stdout and "S: 221 2.0.0 Bye" in result.stdout
    assert result.returncode == 0
    assert "Traceback" not in result.stderr
    assert os.path.getsize(path) <= 500
