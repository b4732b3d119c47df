"""Helpers shared by the transcript tests: run `smtpsh replay`, read a transcript's lines."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.helpers.run import smtpsh_env


def replay(
    args: list[str], home: Path, *, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`smtpsh replay --color never ARGS` with no terminal on stdin (nothing to prompt on)."""
    return subprocess.run(
        [sys.executable, "-m", "smtpsh", "replay", "--color", "never", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**smtpsh_env(home), **(env or {})},
        stdin=subprocess.DEVNULL,
    )


def transcript_lines(path: Path) -> list[str]:
    """The lines of a transcript without their '+<ms>' time fields."""
    return [re.sub(r"^\+\d+ +", "", line) for line in path.read_text().splitlines()]
