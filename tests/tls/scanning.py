"""Helpers for the tests of `smtpsh tls`: run it, read a TLS-profile listener's facts, and
ask OpenSSL's s_client what it gets from the same listener."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest


def smtpsh_tls(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "smtpsh", "tls", *args],
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def profile_facts(path: Path, what: str) -> dict[str, Any]:
    """The facts scripts/setup-tls-profiles wrote for a listener: a failure under CI, a
    skip elsewhere when they are missing."""
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError) as exc:
        if os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}:
            pytest.fail(f"the {what} is not set up: {exc!r}", pytrace=False)
        pytest.skip(f"run scripts/setup-test-env ({exc!r})")


def openssl_temp_key(port: int, *options: str) -> str:
    """The key exchange OpenSSL's s_client gets over STARTTLS on 127.0.0.1:``port`` with
    ``options`` (a version, the groups or curves): its 'Server Temp Key', "" when the
    handshake fails."""
    if shutil.which("openssl") is None:
        pytest.fail("openssl is not installed")
    out = subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-starttls", "smtp", *options],
        input="", capture_output=True, text=True, timeout=30,
    ).stdout  # fmt: skip
    return next((line.split(":", 1)[1].strip() for line in out.splitlines()
                 if line.startswith("Server Temp Key:")), "")  # fmt: skip
