"""Secrets typed at the prompt: what is masked on screen and what history keeps."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from smtpsh.net.client import ClientOptions
from smtpsh.output.printer import Printer
from smtpsh.shell.app import Shell, ShellSettings
from smtpsh.shell.interactive import PrivateHistory, is_secret_line, secret_start
from smtpsh.shell.tls_commands import unescape, visible


@pytest.mark.parametrize(
    ("text", "in_auth", "start"),
    [
        ("AUTH PLAIN AGFsaWNl", False, 11),
        ("  auth  login dXNlcg==", False, 14),
        ("AUTH PLAIN", False, None),  # no response yet: nothing to hide
        ("AUTH PLAIN ", False, 11),
        ("EHLO me", False, None),
        ("dXNlcg==", True, 0),  # a line typed during an exchange
        ("*", True, 0),
        ("/quit", True, None),  # shell commands stay visible
    ],
)
def test_secret_start(text: str, in_auth: bool, start: int | None) -> None:
    assert secret_start(text, in_auth) == start


def test_secret_lines_for_history() -> None:
    assert is_secret_line("auth plain AGFsaWNl")
    assert not is_secret_line("AUTH LOGIN")
    assert is_secret_line("/b64 encode \\0alice\\0pw")
    assert not is_secret_line("EHLO me")


def test_private_history_keeps_no_secret_on_disk_or_in_memory(tmp_path: Path) -> None:
    shell = Shell(ClientOptions("127.0.0.1", 1), ShellSettings(interactive=False),
                  Printer(colour=False, stream=io.StringIO()))  # fmt: skip
    path = tmp_path / "state" / "history"
    history = PrivateHistory(path, shell)
    for line in ("EHLO me", "AUTH PLAIN AGFsaWNlAHB3", "/b64 encode pw", "AUTH LOGIN"):
        history.append_string(line)
    shell.client.conn.send_command("AUTH LOGIN")  # now inside an exchange
    history.append_string("c2VjcmV0")
    assert list(history.get_strings()) == ["EHLO me", "AUTH LOGIN"]
    text = path.read_text()
    assert "AGFsaWNl" not in text and "c2VjcmV0" not in text and "/b64" not in text
    assert path.stat().st_mode & 0o777 == 0o600


def test_unescape_and_visible() -> None:
    assert unescape(r"\0alice\0pw") == "\0alice\0pw"
    assert unescape(r"a\tb\x41\\n") == "a\tbA\\n"
    assert visible(b"\0alice\0pw") == "\\0alice\\0pw"
    assert visible(b"line\r\n\x1b") == "line\\r\\n\\x1b"
    assert visible("Grüße".encode()) == "Grüße"
    assert visible(b"\xff") == "\\xff"


def test_b64_command() -> None:
    import asyncio

    out = io.StringIO()
    shell = Shell(ClientOptions("127.0.0.1", 1), ShellSettings(interactive=False),
                  Printer(colour=False, stream=out))  # fmt: skip

    async def go() -> None:
        for line in (r"/b64 encode \0alice\0sandbox-pass", "/b64 decode VXNlcm5hbWU6",
                     "/b64 decode AGFsaWNlAHB3", "/b64 decode not-base64!", "/b64",
                     "/b64 decode ", "/b64 decode ="):  # fmt: skip
            await shell.handle_line(line)

    asyncio.run(go())
    assert out.getvalue().splitlines() == [
        "AGFsaWNlAHNhbmRib3gtcGFzcw==",
        "Username:",
        "\\0alice\\0pw",
        "✗ not valid base64 (only A-Z a-z 0-9 + / and = padding)",
        r"✗ usage: /b64 encode TEXT (e.g. \0user\0password) | /b64 decode BASE64",
        r"✗ usage: /b64 encode TEXT (e.g. \0user\0password) | /b64 decode BASE64",
        "✗ not valid base64 (only A-Z a-z 0-9 + / and = padding)",
    ]
