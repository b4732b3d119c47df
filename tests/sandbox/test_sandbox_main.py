"""`python -m smtpsh.sandbox`: standalone start, a real client session, Ctrl-C, bad input."""

from __future__ import annotations

import os
import re
import signal
import smtplib
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def run_sandbox(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "smtpsh.sandbox", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def standalone() -> Iterator[tuple[subprocess.Popen[str], int, str]]:
    proc = run_sandbox("--port", "0")
    assert proc.stdout is not None
    welcome = []
    for line in proc.stdout:
        welcome.append(line)
        if line.startswith("Press Ctrl-C"):
            break
    text = "".join(welcome)
    m = re.search(r"on 127\.0\.0\.1:(\d+)", text)
    assert m is not None, text
    yield proc, int(m.group(1)), text
    if proc.poll() is None:
        proc.kill()
        proc.wait(5)


def test_standalone_serves_until_ctrl_c(standalone: tuple[subprocess.Popen[str], int, str]) -> None:
    proc, port, welcome = standalone
    assert "sandbox.test" in welcome and "password" in welcome
    with smtplib.SMTP("127.0.0.1", port, timeout=5) as s:
        assert s.ehlo()[0] == 250
        s.sendmail("me@example.net", ["alice@sandbox.test"], b"Subject: hi\r\n\r\nhello\r\n")
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith("connect from 127.0.0.1:")
    received = proc.stdout.readline()
    assert re.match(r"received [0-9A-F]{10}: <me@example\.net> → <alice@sandbox\.test>", received)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert "sandbox stopped (1 message received)" in out
    assert "Traceback" not in err
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2)


def test_non_loopback_host_is_one_clear_line() -> None:
    proc = run_sandbox("--host", "192.0.2.1")
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 2  # usage (smtpsh.exitcodes)
    assert err.strip().splitlines() == [
        "smtpsh sandbox: the sandbox listens on loopback only (127.0.0.0/8 or ::1), "
        "not on '192.0.2.1'"
    ]


def test_port_in_use_is_one_clear_line() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = run_sandbox("--port", str(port))
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 4  # failed: could not start (smtpsh.exitcodes)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"smtpsh sandbox: cannot listen on 127.0.0.1:{port}:"
    )


def test_bad_port_argument() -> None:
    proc = run_sandbox("--port", "70000")
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 2
    assert "--port must be 0..65535" in err
    assert "Traceback" not in err


def test_smtpsh_sandbox_starttls_without_openssl_on_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`smtpsh --sandbox` on a machine with no `openssl` binary: STARTTLS, verified."""
    from tests.helpers.run import run_piped

    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))  # smtpsh_env copies os.environ
    script = "EHLO x.test\nSTARTTLS\nEHLO x.test\nQUIT\n"
    result = run_piped(["--sandbox"], script, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "STARTTLS with a self-signed certificate for localhost; CA file" in out
    assert "S: 220 2.0.0 Ready to start TLS" in out
    assert "certificate: CN=localhost, O=smtpsh sandbox" in out
    assert "verified: yes (chain to a trusted CA; valid for 127.0.0.1)" in out
    assert "S: 250-AUTH PLAIN LOGIN CRAM-MD5" in out  # the EHLO after the handshake
    assert "openssl" not in result.stdout + result.stderr


def test_every_exit_status_of_the_sandbox_sub_command() -> None:
    """`smtpsh sandbox` as the table says: 0 once stopped by SIGINT or SIGTERM, 2 for a bad
    command line or scenario and for --json (said, not ignored), 4 when it cannot listen,
    141 when the reader of its output goes away."""
    from smtpsh import exitcodes

    def smtpsh_sandbox(*args: str) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, "-m", "smtpsh", "sandbox", *args], text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})

    def started(proc: subprocess.Popen[str]) -> int:
        assert proc.stdout is not None
        text = ""
        for line in proc.stdout:
            text += line
            if line.startswith("Press Ctrl-C"):
                break
        found = re.search(r"on 127\.0\.0\.1:(\d+)", text)
        assert found is not None, text
        return int(found.group(1))

    for signum in (signal.SIGINT, signal.SIGTERM):
        proc = smtpsh_sandbox("--scenario", "hardened")
        started(proc)
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=10)
        assert proc.returncode == exitcodes.OK, (signum, err)
        assert "sandbox stopped (0 messages received)" in out and "Traceback" not in err

    for args, said in (
        (["--json"], "smtpsh sandbox: error: --json: not offered: the sandbox is a server"),
        (["--scenario", "no-such-scenario"], "smtpsh sandbox: no scenario named"),
        (["--scenario", "/nonexistent/s.toml"], "smtpsh sandbox: cannot read scenario"),
        (["--host", "192.0.2.1"], "smtpsh sandbox: the sandbox listens on loopback only"),
        (["--port", "70000"], "smtpsh sandbox: --port must be 0..65535"),
        (["--port", "many"], "smtpsh sandbox: error: argument --port"),
    ):
        proc = smtpsh_sandbox(*args)
        out, err = proc.communicate(timeout=10)
        assert proc.returncode == exitcodes.USAGE, (args, err)
        assert said in " ".join(err.split()) and not out, (args, err)

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        proc = smtpsh_sandbox("--port", str(busy.getsockname()[1]))
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == exitcodes.FAILED and "cannot listen" in err

    # `smtpsh sandbox | head -N`: the next line it prints finds no reader; it stops.
    proc = smtpsh_sandbox()
    port = started(proc)
    assert proc.stdout is not None
    proc.stdout.close()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
        client.recv(1024)  # the banner: the sandbox has said "connect from ..." by now
    assert proc.wait(timeout=10) == exitcodes.BROKEN_PIPE
    assert proc.stderr is not None and "Traceback" not in proc.stderr.read()
