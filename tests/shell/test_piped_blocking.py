"""A piped run starts on the blocking transport (no asyncio) and hands the live session to
the asyncio client when a line needs it: the dialogue must not notice the switch."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.helpers.run import run_piped, smtpsh_env, start_piped
from tests.helpers.scripted_server import read_line, scripted_server

if TYPE_CHECKING:
    import socket

    from tests.conftest import PostfixEnv

# Run smtpsh's own main() piped, then list the modules it imported that Python had not.
NEW_MODULES = """
import sys
before = set(sys.modules)
from smtpsh.cli import main
code = main(sys.argv[1:])
sys.stdout.flush()
print("NEW-MODULES", " ".join(sorted(set(sys.modules) - before)), file=sys.stderr)
raise SystemExit(code)
"""

HEAVY = (
    "asyncio", "ssl", "dataclasses", "inspect", "prompt_toolkit", "pathlib", "typing",
    "cryptography", "spnego",
)


def new_modules(args: list[str], script: str, home: Path) -> tuple[set[str], str, int]:
    result = subprocess.run(
        [sys.executable, "-c", NEW_MODULES, *args],
        input=script,
        capture_output=True,
        text=True,
        timeout=60,
        env=smtpsh_env(home),
    )
    line = next(x for x in result.stderr.splitlines() if x.startswith("NEW-MODULES"))
    return set(line.split()[1:]), result.stdout, result.returncode


def test_a_plain_piped_dialogue_imports_no_event_loop(
    postfix: PostfixEnv, tmp_path: Path
) -> None:
    script = "EHLO x.test\nMAIL FROM:<a@x.test>\nRCPT TO:<robin@smtpsh.test>\nRSET\nQUIT\n"
    modules, out, code = new_modules([postfix.host], script, tmp_path)
    assert code == 0, out
    assert "S: 250 2.1.5 Ok" in out and "S: 221 2.0.0 Bye" in out
    heavy = sorted(m for m in modules if m.split(".")[0] in HEAVY)
    assert heavy == [], f"the piped path imported {heavy}"


def test_a_shell_command_mid_transaction_carries_the_session_over(
    postfix: PostfixEnv, tmp_path: Path
) -> None:
    script = (
        "EHLO x.test\n"
        "MAIL FROM:<a@x.test>\n"
        "/status\n"  # needs the asyncio client: the switch happens here
        "RCPT TO:<robin@smtpsh.test>\n"
        "DATA\n"
        "Subject: carried over\n"
        "\n"
        "marker-carried-4412\n"
        ".\n"
        "QUIT\n"
    )
    modules, out, code = new_modules([postfix.host], script, tmp_path)
    assert code == 0, out
    assert "asyncio" in modules  # it did switch
    # /status saw the transaction the blocking transport had opened...
    assert "state:   mail — next: RCPT TO:<recipient>" in out
    assert "PIPELINING" in out.split("state:", 1)[1]  # ...and the EHLO extensions
    # ...and the same connection went on: no second banner, the message was queued.
    assert out.count("S: 220 ") == 1
    assert "message accepted, queue id" in out
    postfix.wait_for_mail("robin", "marker-carried-4412")


def test_starttls_typed_in_a_script_switches_then_upgrades(
    postfix: PostfixEnv, tmp_path: Path
) -> None:
    script = "EHLO x.test\nSTARTTLS\nEHLO x.test\nMAIL FROM:<a@x.test>\nQUIT\n"
    result = run_piped([postfix.host, "--no-verify"], script, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "S: 220 2.0.0 Ready to start TLS" in out
    assert "TLS" in out.split("Ready to start TLS", 1)[1]  # the certificate summary
    assert "S: 250 2.1.0 Ok" in out


def test_refused_connection_names_the_reason(tmp_path: Path) -> None:
    import socket

    with socket.socket() as holder:  # a port nobody listens on
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
    result = run_piped([f"127.0.0.1:{port}"], "QUIT\n", tmp_path)
    assert result.returncode == 4
    assert f"✗ cannot connect to 127.0.0.1:{port}: Connection refused" in result.stdout


def test_a_421_while_the_script_is_idle_is_shown_as_it_comes(tmp_path: Path) -> None:
    def handler(sock: socket.socket) -> None:
        sock.sendall(b"220 idle.test ESMTP\r\n")
        read_line(sock)  # NOOP
        sock.sendall(b"250 2.0.0 ok\r\n")
        time.sleep(0.3)
        sock.sendall(b"421 4.4.2 idle.test timeout\r\n")
        sock.close()

    with scripted_server(handler) as port:
        proc = start_piped([f"127.0.0.1:{port}"], tmp_path)
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write("NOOP\n")
        proc.stdin.flush()
        seen = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # the script is still open: nothing more typed
            line = proc.stdout.readline()
            seen.append(line)
            if "/reconnect" in line:
                break
        proc.stdin.close()
        proc.wait(10)
    text = "".join(seen)
    assert "S: 421 4.4.2 idle.test timeout" in text
    assert "the server sent this without being asked" in text
    assert (
        "the server closed the connection; a /reconnect line in the script opens a new session."
    ) in text


def test_ctrl_c_while_waiting_for_a_reply_ends_without_a_traceback(tmp_path: Path) -> None:
    import signal

    def handler(sock: socket.socket) -> None:
        sock.sendall(b"220 slow.test ESMTP\r\n")
        read_line(sock)
        time.sleep(5)  # NOOP is never answered in time

    with scripted_server(handler) as port:
        proc = start_piped([f"127.0.0.1:{port}"], tmp_path)
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write("NOOP\n")
        proc.stdin.flush()
        assert "C: NOOP" in proc.stdout.readline() + proc.stdout.readline() + proc.stdout.readline()
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 130
    assert "Traceback" not in out


def test_a_closed_stdin_reads_as_an_empty_script(postfix: PostfixEnv, tmp_path: Path) -> None:
    result = subprocess.run(
        ["sh", "-c", f'exec "{sys.executable}" -m smtpsh {postfix.host} <&-'],
        capture_output=True,
        text=True,
        timeout=30,
        env=smtpsh_env(tmp_path),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "C: QUIT" in result.stdout and "S: 221 2.0.0 Bye" in result.stdout


def test_the_line_reader_keeps_lines_whole_across_reads() -> None:
    import os

    from smtpsh.shell.app import LineReader

    read_end, write_end = os.pipe()
    reader = LineReader(read_end)
    os.write(write_end, b"EHLO a\r\nMAIL FR")
    assert reader.readline() == "EHLO a\r\n"
    assert not reader.ready()  # half a line: wait for the rest
    os.write(write_end, b"OM:<x@y>\n\xff\xfe bytes\nlast without newline")
    os.close(write_end)
    assert reader.readline() == "MAIL FROM:<x@y>\n"
    assert reader.readline() == "\udcff\udcfe bytes\n"  # kept, as surrogateescape keeps them
    assert reader.readline() == "last without newline"
    assert reader.readline() == ""
    os.close(read_end)


@pytest.mark.parametrize(
    ("greeting", "said"),
    [
        ("HELO", "the HELO sent before STARTTLS no longer counts: greet the server again"
                 " (RFC 3207 §4.2), with EHLO to learn what it offers inside TLS"),
        ("EHLO", "the server's earlier EHLO reply is void after STARTTLS: send EHLO again"
                 " (RFC 3207 §4.2)"),
    ],
)
def test_what_to_send_after_starttls_fits_the_greeting_sent(
    postfix: PostfixEnv, tmp_path: Path, greeting: str, said: str
) -> None:
    # After HELO and STARTTLS smtpsh spoke of 'the server's earlier EHLO reply', which
    # was never sent nor answered.
    script = f"{greeting} x.test\nSTARTTLS\nEHLO x.test\nQUIT\n"
    result = run_piped([postfix.host, "--no-verify"], script, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    out = " ".join((result.stdout + result.stderr).split())
    assert "S: 220 2.0.0 Ready to start TLS" in out
    assert said in out
    if greeting == "HELO":
        assert "EHLO reply" not in out
