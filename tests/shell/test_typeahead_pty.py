"""What is typed ahead while a reply is awaited (smtpsh/output/typeahead.py), in a real
terminal: kept for the next prompt, not taken by the cooked mode's line discipline."""

from __future__ import annotations

import socket
import sys
import threading
import time
from pathlib import Path

import pexpect
import pytest

from tests.helpers.run import smtpsh_env
from tests.helpers.scripted_server import read_line, scripted_server

pytestmark = pytest.mark.pty


def test_ctrl_d_typed_while_a_reply_is_awaited_ends_the_shell_after_it(tmp_path: Path) -> None:
    """A Ctrl-D typed before the reply came: the line discipline of the cooked mode took
    it as the end of a read nobody was doing, and the shell stayed. Now the next prompt
    reads it and the shell leaves (QUIT first, as always)."""
    got_noop, typed = threading.Event(), threading.Event()
    received: list[bytes] = []

    def handler(sock: socket.socket) -> None:
        sock.sendall(b"220 ahead.test ESMTP\r\n")
        while line := read_line(sock):
            received.append(line)
            verb = line.split(b" ", 1)[0].strip().upper()
            if verb == b"NOOP":
                got_noop.set()
                typed.wait(30)
            sock.sendall(b"221 2.0.0 Bye\r\n" if verb == b"QUIT" else b"250 2.0.0 ok\r\n")
            if verb == b"QUIT":
                return

    with scripted_server(handler) as port:
        child = pexpect.spawn(
            sys.executable, ["-m", "smtpsh", f"127.0.0.1:{port}"],
            env=smtpsh_env(tmp_path), dimensions=(40, 120), encoding="utf-8", timeout=20,
        )
        try:
            child.expect("220 ahead.test")
            child.sendline("NOOP")
            assert got_noop.wait(20), "the server never got the NOOP"
            child.sendcontrol("d")  # typed ahead: no prompt is reading now
            time.sleep(0.5)
            typed.set()
            child.expect(pexpect.EOF)
        finally:
            child.close()
    assert child.exitstatus == 0
    assert received[-1] == b"QUIT\r\n", received
