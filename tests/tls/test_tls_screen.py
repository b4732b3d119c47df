"""What a person sees in the terminal: the toolbar's TLS state, a failure then /reconnect."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.helpers.run import smtpsh_env
from tests.helpers.tmux import Screen

if TYPE_CHECKING:
    from tests.conftest import PostfixEnv

pytestmark = [pytest.mark.pty, pytest.mark.postfix]


@pytest.fixture
def screens() -> Iterator[list[Screen]]:
    opened: list[Screen] = []
    yield opened
    for screen in opened:
        screen.close()


def test_toolbar_says_unverified_in_a_warning_colour(
    postfix: PostfixEnv, tmp_path: Path, screens: list[Screen]
) -> None:
    args = [f"{postfix.host}:{postfix.port('wrong_name')}", "--no-verify", "--starttls"]
    shell = Screen(args, smtpsh_env(tmp_path))
    screens.append(shell)
    shell.wait_words("verified: NO (--no-verify, chain not checked): name mismatch")
    screen = shell.wait_for("TLS UNVERIFIED │ AUTH no │ ready")
    assert "no TLS" not in screen.splitlines()[-1]
    shell.keys("C-d")
    assert shell.exit_status() == 0


def test_verified_then_failed_then_reconnect_in_a_terminal(
    postfix: PostfixEnv, tmp_path: Path, screens: list[Screen]
) -> None:
    args = [f"{postfix.host}:{postfix.port('smtp')}", "--cafile", str(postfix.ca_file)]
    shell = Screen(args, smtpsh_env(tmp_path))
    screens.append(shell)
    shell.wait_for("no TLS │ AUTH no")
    shell.line("EHLO screen.smtpsh.test")
    shell.wait_for("250 CHUNKING")
    shell.line("/starttls")
    shell.wait_for("verified: yes")
    shell.wait_for("TLS │ AUTH no │ ready")  # /starttls sent EHLO again
    shell.line("/starttls")
    shell.wait_for("✗ the connection is already encrypted (/cert shows the certificate)")
    shell.line("/cert")
    shell.wait_for("[1] root CA: CN=smtpsh test CA, O=smtpsh test PKI")
    # A one-off unverified STARTTLS on a fresh connection: the toolbar follows it.
    shell.line("/reconnect")
    shell.line("EHLO screen.smtpsh.test")
    shell.wait_for("no TLS │ AUTH no │ ready")
    shell.line("/starttls --no-verify")
    shell.wait_for("TLS UNVERIFIED │ AUTH no │ ready")
    shell.keys("C-d")
    assert shell.exit_status() == 0
