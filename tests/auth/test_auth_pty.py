"""/auth in a real terminal: the hidden password prompt, the confirmation in clear, and
no secret in any byte the terminal received nor in the history file."""

from __future__ import annotations

import base64
import io
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest

from smtpsh.sandbox.directory import DEMO_CREDENTIALS
from tests.auth.test_auth_sandbox import assert_no_secret
from tests.helpers.run import smtpsh_env
from tests.helpers.scripted_server import read_line, scripted_server

pytestmark = pytest.mark.pty

USER, PASSWORD = DEMO_CREDENTIALS
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\x1b[=>]")


@pytest.fixture
def sandbox_server() -> Iterator[tuple[int, str]]:
    """A sandbox in its own process: its welcome text (with the demo password) is not
    part of what the shell under test prints."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "smtpsh.sandbox"], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    head = ""
    while "CA file" not in head:
        line = proc.stdout.readline()
        assert line, "the sandbox did not start"
        head += line
    port = int(re.search(r"on 127\.0\.0\.1:(\d+)", head).group(1))  # type: ignore[union-attr]
    cafile = re.search(r"CA file (\S+)", head).group(1)  # type: ignore[union-attr]
    yield port, cafile
    proc.terminate()
    proc.wait(10)


def test_auth_in_a_terminal_never_shows_the_secret(
    sandbox_server: tuple[int, str], tmp_path: Path
) -> None:
    port, cafile = sandbox_server
    screen = io.StringIO()
    child = pexpect.spawn(
        sys.executable,
        ["-m", "smtpsh", f"127.0.0.1:{port}", "--cafile", cafile],
        env=smtpsh_env(tmp_path),
        dimensions=(40, 120),
        encoding="utf-8",
        timeout=15,
    )
    child.logfile_read = screen
    try:
        child.expect("220 sandbox.test")
        child.sendline("EHLO pty.smtpsh.test")
        child.expect("250 SMTPUTF8")
        # In clear, where the server offers no AUTH, /auth would fail: refused before any
        # question or secret, with what to do (issue 16: no secret for a predicted failure).
        child.sendline(f"/auth PLAIN {USER}")
        child.expect(r"not sent: expect 503")  # as Postfix, Exim and OpenSMTPD answer
        child.expect(r"only\s+after\s+/starttls")
        child.sendline("STARTTLS")
        child.expect("verified: yes")
        child.sendline("EHLO pty.smtpsh.test")
        child.expect("AUTH PLAIN LOGIN CRAM-MD5")
        child.expect("250 SMTPUTF8")
        # The hidden prompt.
        child.sendline(f"/auth LOGIN {USER}")
        child.expect(f"Password for {USER} \\(hidden\\):")
        child.send(PASSWORD + "\r")
        child.expect(f"authenticated as {USER} with LOGIN")
        # Typed by hand: an initial response on the AUTH line, then a LOGIN dialogue.
        child.sendline("/reconnect")
        child.expect("220 sandbox.test")
        for line in ("EHLO pty.smtpsh.test", "STARTTLS", "EHLO pty.smtpsh.test"):
            child.sendline(line)
            child.expect("250 SMTPUTF8" if line.startswith("EHLO") else "verified: yes")
        plain = base64.b64encode(f"\0{USER}\0{PASSWORD}".encode()).decode()
        child.sendline(f"AUTH PLAIN {plain}")
        child.expect("235 2.7.0 Authentication successful")
        child.sendline("/reconnect")
        child.expect("220 sandbox.test")
        for line in ("EHLO pty.smtpsh.test", "STARTTLS", "EHLO pty.smtpsh.test"):
            child.sendline(line)
            child.expect("250 SMTPUTF8" if line.startswith("EHLO") else "verified: yes")
        child.sendline("AUTH LOGIN")
        child.expect("334 VXNlcm5hbWU6")
        child.sendline(base64.b64encode(USER.encode()).decode())
        child.expect("334 UGFzc3dvcmQ6")
        child.sendline(base64.b64encode(PASSWORD.encode()).decode())
        child.expect("235 2.7.0 Authentication successful")
        # Up walks the history: no secret line comes back (each step is drawn).
        for _ in range(4):
            child.send("\x1b[A")
            time.sleep(0.4)
        child.send("\x15")  # Ctrl-U clears the line
        child.sendcontrol("d")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    raw = screen.getvalue()
    assert_no_secret(raw, ANSI.sub("", raw))
    history = (tmp_path / "state" / "smtpsh" / "history").read_text()
    assert "+/auth LOGIN alice" in history and "+AUTH LOGIN" in history
    assert_no_secret(history)
    assert "AUTH PLAIN " not in history  # the line with the initial response is not kept


def test_a_secret_typed_ahead_of_the_334_is_not_echoed(tmp_path: Path) -> None:
    """Lines typed (or pasted) while a reply is awaited: between prompts the terminal is in
    its cooked mode, whose echo showed the base64 password of an AUTH LOGIN typed before the
    server's 334 came (a pty test caught it under load). The server here holds its 334
    until the test has typed both answers ahead; they must reach the server, never the
    screen."""
    got_auth, typed = threading.Event(), threading.Event()
    received: list[bytes] = []
    user = base64.b64encode(USER.encode()).decode()
    secret = base64.b64encode(PASSWORD.encode()).decode()

    def handler(sock: socket.socket) -> None:
        sock.sendall(b"220 ahead.test ESMTP\r\n")
        while line := read_line(sock):
            received.append(line)
            verb = line.split(b" ", 1)[0].strip().upper()
            if verb == b"EHLO":
                sock.sendall(b"250-ahead.test\r\n250 AUTH LOGIN\r\n")
            elif verb == b"AUTH":
                got_auth.set()
                typed.wait(30)
                sock.sendall(b"334 VXNlcm5hbWU6\r\n")
                if read_line(sock).strip() != user.encode():
                    return
                sock.sendall(b"334 UGFzc3dvcmQ6\r\n")
                received.append(read_line(sock))
                sock.sendall(b"235 2.7.0 Authentication successful\r\n")
            elif verb == b"QUIT":
                sock.sendall(b"221 2.0.0 Bye\r\n")
                return
            else:
                sock.sendall(b"250 2.0.0 ok\r\n")

    screen = io.StringIO()
    with scripted_server(handler) as port:
        child = pexpect.spawn(
            sys.executable, ["-m", "smtpsh", f"127.0.0.1:{port}", "--insecure-auth"],
            env=smtpsh_env(tmp_path), dimensions=(40, 120), encoding="utf-8", timeout=20,
        )
        child.logfile_read = screen
        try:
            child.expect("220 ahead.test")
            child.sendline("EHLO pty.smtpsh.test")
            child.expect("250 AUTH LOGIN")
            child.sendline("AUTH LOGIN")
            assert got_auth.wait(20), "the server never got the AUTH"
            child.send(f"{user}\r{secret}\r")  # typed ahead: no prompt is reading now
            time.sleep(0.5)  # a terminal that echoes has done so by now
            typed.set()
            child.expect("235 2.7.0 Authentication successful")
            child.sendline("/quit")
            child.expect(pexpect.EOF)
        finally:
            child.close()
    assert secret.encode() + b"\r\n" in received, received  # the answer did go out
    raw = screen.getvalue()
    assert secret not in raw and secret not in ANSI.sub("", raw), raw

