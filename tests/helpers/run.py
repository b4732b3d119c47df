"""Run the smtpsh command as a user would, with a private HOME so nothing leaks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def smtpsh_env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        HOME=str(home),
        XDG_STATE_HOME=str(home / "state"),
        XDG_CONFIG_HOME=str(home / "config"),
        PROMPT_TOOLKIT_NO_CPR="1",
        TERM="xterm-256color",
    )
    env.pop("NO_COLOR", None)
    return env


def run_piped(
    args: list[str], script: str, home: Path, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`printf script | smtpsh args` — returns the finished process (stdout, stderr, code)."""
    return subprocess.run(
        [sys.executable, "-m", "smtpsh", *args],
        input=script,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=smtpsh_env(home),
    )


def start_piped(args: list[str], home: Path) -> subprocess.Popen[str]:
    """`smtpsh args` with its stdin and stdout (stderr folded in) as pipes, for a test that
    types and reads as the dialogue goes on."""
    return subprocess.Popen(
        [sys.executable, "-m", "smtpsh", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=smtpsh_env(home),
    )
