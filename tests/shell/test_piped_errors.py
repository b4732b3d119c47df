"""Bad input in piped mode: each problem is one clear line, never a traceback."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.helpers.run import run_piped, smtpsh_env, start_piped
from tests.helpers.scripted_server import read_line, scripted_server, smtp_like


def assert_one_clear_error(result: subprocess.CompletedProcess[str], needle: str) -> None:
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    assert needle in output, output


def test_invalid_host_name(tmp_path: Path) -> None:
    result = run_piped(["bad..host"], "QUIT\n", tmp_path)
    assert result.returncode == 4
    assert_one_clear_error(result, "'bad..host' is not a valid host name")


@pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("unshare"), reason="needs root and unshare"
)
def test_unknown_host_in_an_isolated_network(tmp_path: Path) -> None:
    # A network namespace with no route anywhere: name resolution fails and no packet
    # can leave the machine.
    result = subprocess.run(
        ["unshare", "-n", sys.executable, "-m", "smtpsh", "no-such-host.smtpsh.test"],
        input="QUIT\n",
        capture_output=True,
        text=True,
        timeout=60,
        env=smtpsh_env(tmp_path),
    )
    assert result.returncode == 4
    assert_one_clear_error(result, "cannot resolve host 'no-such-host.smtpsh.test'")


def test_refused_connection(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound but not listening: connections are refused
        result = run_piped([f"127.0.0.1:{port}"], "QUIT\n", tmp_path)
    assert result.returncode == 4
    assert_one_clear_error(result, f"cannot connect to 127.0.0.1:{port}")


def test_bad_port_is_a_usage_error(tmp_path: Path) -> None:
    result = run_piped(["127.0.0.1:99999"], "", tmp_path)
    assert result.returncode == 2
    assert_one_clear_error(result, "bad port in '127.0.0.1:99999'")


def test_silent_server_times_out(tmp_path: Path) -> None:
    with scripted_server(lambda sock: time.sleep(5)) as port:
        started = time.monotonic()
        result = run_piped([f"127.0.0.1:{port}", "--timeout", "1"], "QUIT\n", tmp_path)
    assert time.monotonic() - started < 5
    assert result.returncode == 4
    assert_one_clear_error(result, f"no reply from 127.0.0.1:{port} to the banner within 1 s")


def test_garbage_and_non_utf8_are_shown_flagged(tmp_path: Path) -> None:
    def handler(sock: socket.socket) -> None:
        sock.sendall(b"220 caf\xe9 ESMTP\r\n")
        read_line(sock)
        sock.sendall(b"this is not smtp\r\n")
        read_line(sock)
        sock.sendall(b"250-one\r\n251 two\r\n")
        read_line(sock)
        sock.sendall(b"221 bye\r\n")

    with scripted_server(handler) as port:
        result = run_piped([f"127.0.0.1:{port}"], "EHLO x\nNOOP\nQUIT\n", tmp_path)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "S: 220 caf\\xe9 ESMTP" in out and "reply text is not valid UTF-8" in out
    assert "S: this is not smtp" in out and "not an SMTP reply" in out
    assert "continuation lines carry different codes (250/251)" in out


def test_close_in_the_middle_of_a_reply(tmp_path: Path) -> None:
    def handler(sock: socket.socket) -> None:
        sock.sendall(b"220 ok\r\n")
        read_line(sock)
        sock.sendall(b"250-mx\r\n250-PIPEL")

    with scripted_server(handler) as port:
        result = run_piped([f"127.0.0.1:{port}"], "EHLO x\nNOOP\n", tmp_path)
    assert result.returncode == 4
    assert_one_clear_error(result, "the server closed the connection")
    assert "not sent (connection closed): NOOP" in result.stdout


def test_bare_cr_in_a_typed_line_is_refused_and_the_session_goes_on(tmp_path: Path) -> None:
    with scripted_server(smtp_like({})) as port:
        result = run_piped([f"127.0.0.1:{port}"], "NOOP a\rb\nNOOP\nQUIT\n", tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert_one_clear_error(result, "refused: the line has a CR control character at column 7")
    assert "S: 221" in result.stdout or "S: 250 2.0.0 ok" in result.stdout
    assert result.stdout.count("C: NOOP") == 1  # the bad line never left


def test_unsolicited_421_while_idle(tmp_path: Path) -> None:
    said = threading.Event()

    def handler(sock: socket.socket) -> None:
        sock.sendall(b"220 ok\r\n")
        read_line(sock)
        sock.sendall(b"250 ok\r\n")
        time.sleep(0.3)
        sock.sendall(b"421 4.4.2 idle too long\r\n")
        said.set()

    with scripted_server(handler) as port:
        proc = start_piped([f"127.0.0.1:{port}"], tmp_path)
        assert proc.stdin is not None
        proc.stdin.write("NOOP\n")
        proc.stdin.flush()
        # Idle until the 421 is out (not for a fixed time: smtpsh may take longer than
        # that to start on a loaded machine, and the next NOOP would then meet the 421).
        assert said.wait(30), "the server never got to its 421"
        out = proc.communicate("NOOP\n", timeout=30)[0]
    assert "S: 421 4.4.2 idle too long" in out
    assert "the server sent this without being asked" in out
    assert proc.returncode == 4


def test_color_always_is_honoured_in_a_pipe(tmp_path: Path) -> None:
    with scripted_server(smtp_like({})) as port:
        result = run_piped([f"127.0.0.1:{port}", "--color", "always"], "QUIT\n", tmp_path)
    assert result.returncode == 0
    assert "\x1b[" in result.stdout and "220 test ESMTP" in result.stdout


@pytest.mark.parametrize("colour", ["never", "always"])
def test_reader_going_away_exits_quietly(tmp_path: Path, colour: str) -> None:
    script = "NOOP\n" * 4000 + "QUIT\n"  # more output than a pipe holds: head goes first
    with scripted_server(smtp_like({})) as port:
        result = subprocess.run(
            f"{sys.executable} -m smtpsh 127.0.0.1:{port} --color {colour} | head -n 2",
            shell=True,
            input=script,
            capture_output=True,
            text=True,
            timeout=60,
            env=smtpsh_env(tmp_path),
        )
    assert len(result.stdout.splitlines()) == 2
    assert "Traceback" not in result.stderr and "Error" not in result.stderr, result.stderr


def test_raw_auth_in_clear_is_warned_about_and_masked(tmp_path: Path) -> None:
    with scripted_server(smtp_like({b"AUTH": b"535 5.7.8 no\r\n"})) as port:
        result = run_piped([f"127.0.0.1:{port}"], "AUTH PLAIN AHVzZXIAc2VjcmV0\nQUIT\n", tmp_path)
    out = result.stdout
    assert "! AUTH in clear: anyone on the path can read the credentials" in out
    assert "C: AUTH PLAIN ********" in out
    assert "AHVzZXIAc2VjcmV0" not in out + result.stderr


def test_a_failed_compose_still_counts_after_a_reconnect(tmp_path: Path) -> None:
    # The exit table: 4 when a /compose had a recipient refused. A /reconnect later set the
    # status back to 0, so a script that went on after it read "ok".
    refusing = smtp_like({b"RCPT": b"550 5.1.1 <nobody@x.y>: no such user\r\n"})
    with scripted_server(refusing) as port:
        result = run_piped(
            [f"127.0.0.1:{port}"],
            "/compose --from a@x.y --to nobody@x.y --subject s --body hi --yes\n"
            "/reconnect\nNOOP\n",
            tmp_path,
        )
    out = result.stdout + result.stderr
    assert "550 5.1.1" in out and "reconnecting to" in out and "C: QUIT" in out, out
    assert result.returncode == 4, out


def test_a_failed_reconnect_does_not_count_once_one_succeeds(tmp_path: Path) -> None:
    # The second connection gets a 421 banner (its /reconnect fails), the third is served:
    # the session ends with smtpsh's QUIT, so the failure before it no longer counts.
    connections: list[int] = []
    served = smtp_like({})

    def handler(sock: socket.socket) -> None:
        connections.append(1)
        if len(connections) == 2:
            sock.sendall(b"421 4.3.2 busy, try again\r\n")
            return
        served(sock)

    with scripted_server(handler) as port:
        result = run_piped(
            [f"127.0.0.1:{port}"], "NOOP\n/reconnect\n/reconnect\nNOOP\n", tmp_path
        )
    out = result.stdout + result.stderr
    assert "421 4.3.2 busy" in out and out.count("reconnecting to") == 2, out
    assert result.returncode == 0, out
