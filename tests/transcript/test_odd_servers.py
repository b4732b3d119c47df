"""Timeouts and replies nobody asked for, recorded and replayed (scripted loopback servers)."""

from __future__ import annotations

import re
import socket
import time
from pathlib import Path

from tests.helpers.run import run_piped
from tests.helpers.scripted_server import read_line, scripted_server

from .common import replay, transcript_lines


def silent_on_noop(sock: socket.socket) -> None:
    """Answers EHLO, then never answers NOOP."""
    sock.sendall(b"220 odd.test ESMTP\r\n")
    while line := read_line(sock):
        if line.upper().startswith(b"NOOP"):
            time.sleep(5)
            return
        sock.sendall(b"250 odd.test\r\n")


def idle_421(sock: socket.socket) -> None:
    """Answers one command, then says 421 on its own and closes."""
    sock.sendall(b"220 odd.test ESMTP\r\n")
    if read_line(sock):
        sock.sendall(b"250 2.0.0 ok\r\n")
    time.sleep(0.3)
    sock.sendall(b"421 4.4.2 odd.test idle for too long\r\n")


def test_a_timeout_is_recorded_and_its_command_not_compared(tmp_path: Path) -> None:
    path = tmp_path / "timeout.smtpt"
    with scripted_server(silent_on_noop) as port:
        rec = run_piped(
            ["--record", str(path), "--timeout", "1", f"127.0.0.1:{port}"],
            "EHLO me\nNOOP\n",
            tmp_path,
        )
        assert rec.returncode == 4
        lines = transcript_lines(path)
        assert "C: NOOP" in lines
        after = lines[lines.index("C: NOOP") + 1 :]
        assert (
            after[0].startswith("# timeout no reply from 127.0.0.1:") and "within 1 s" in after[0]
        )
        assert after[1].startswith("# closed ")
        result = replay([str(path), "--timeout", "1"], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "NOOP: no reply recorded (the recorded connection timed out here); not compared" in (
        result.stdout
    )
    assert result.stdout.splitlines()[-1] == "2 steps, 2 matched, 0 differed"


def test_an_unsolicited_421_is_recorded_and_awaited_on_replay(tmp_path: Path) -> None:
    path = tmp_path / "idle.smtpt"
    with scripted_server(idle_421) as port:
        path.write_text(
            f"# connect 127.0.0.1:{port}\nS: 220 odd.test\nC: NOOP\nS: 250 2.0.0 ok\n"
            "S: 421 4.4.2 odd.test idle for too long\n"
        )
        result = replay([str(path)], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"✓ +3 +\(reply sent without a command\) +421 4\.4\.2", result.stdout)
