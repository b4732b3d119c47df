"""AUTH inside a transcript: recorded masked, replayed with credentials given at replay time.

The sandbox (`python -m smtpsh.sandbox`) offers PLAIN, LOGIN and CRAM-MD5 after STARTTLS.
"""

from __future__ import annotations

import base64
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.run import run_piped

from .common import replay

USER, PASSWORD = "alice", "sandbox-pass"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[tuple[int, str]]:
    """A sandbox server in its own process: (port, CA file)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "smtpsh.sandbox", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    text = ""
    for line in proc.stdout:
        text += line
        if "Press Ctrl-C" in line:
            break
    port = re.search(r"on 127\.0\.0\.1:(\d+)", text)
    ca = re.search(r"CA file (\S+)", text)
    assert port and ca, text
    try:
        yield int(port.group(1)), ca.group(1)
    finally:
        proc.terminate()
        proc.wait(10)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_recorded_auth_has_no_secret_and_replays_with_credentials(
    sandbox: tuple[int, str], tmp_path: Path
) -> None:
    port, ca = sandbox
    path = tmp_path / "auth.smtpt"
    plain = b64(f"\0{USER}\0{PASSWORD}")
    script = (
        f"EHLO me\nSTARTTLS\nEHLO me\nAUTH LOGIN\n{b64(USER)}\n{b64(PASSWORD)}\n/reconnect\n"
        f"EHLO me\nSTARTTLS\nEHLO me\nAUTH PLAIN {plain}\nQUIT\n"
    )
    rec = run_piped(["--record", str(path), "--cafile", ca, f"localhost:{port}"], script, tmp_path)
    assert rec.returncode == 0, rec.stdout + rec.stderr
    data = path.read_bytes()
    for secret in (PASSWORD, b64(PASSWORD), plain, b64(USER)):
        assert secret.encode() not in data
    text = path.read_text()
    assert "C: AUTH PLAIN ********" in text and text.count("C: ********") == 2
    secret_file = tmp_path / "password"
    secret_file.write_text(PASSWORD + "\n")
    good = replay(
        [str(path), "--cafile", ca, "--user", USER, "--password-file", str(secret_file)], tmp_path
    )
    assert good.returncode == 0, good.stdout + good.stderr
    assert re.search(r"✓ +7 +\*{8} +235 2\.7\.0", good.stdout)
    assert re.search(r"✓ +\d+ +AUTH PLAIN \*{8} +235 2\.7\.0", good.stdout)
    assert PASSWORD not in good.stdout and plain not in good.stdout
    # A wrong password: the step that differs is the last answer of the exchange.
    secret_file.write_text("wrong\n")
    bad = replay(
        [str(path), "--cafile", ca, "--user", USER, "--password-file", str(secret_file)], tmp_path
    )
    assert bad.returncode == 1
    assert re.search(r"✗ +7 +\*{8} +got 535 5\.7\.8, expected 235 2\.7\.0", bad.stdout)
    # No credentials and no terminal to ask on: refused before anything is sent.
    none = replay([str(path), "--cafile", ca], tmp_path)
    assert none.returncode == 2 and none.stdout == ""
    assert "authenticates (AUTH, masked in the file): give --user NAME" in none.stderr


def test_cram_md5_answer_is_computed_from_the_live_challenge(
    sandbox: tuple[int, str], tmp_path: Path
) -> None:
    port, ca = sandbox
    path = tmp_path / "cram.smtpt"
    path.write_text(
        f"# connect localhost:{port}\nS: 220 sandbox\nC: EHLO me\nS: 250 ok\nC: STARTTLS\n"
        "S: 220 go\nC: EHLO me\nS: 250 ok\nC: AUTH CRAM-MD5\nS: 334 ~/[A-Za-z0-9+\\/=]+/\n"
        "C: ********\nS: 235 2.7.0 Authentication successful\nC: QUIT\nS: 221 bye\n"
    )
    result = replay(
        [str(path), "--cafile", ca, "--user", USER, "--password-env", "SMTPSH_TEST_SECRET"],
        tmp_path,
        env={"SMTPSH_TEST_SECRET": PASSWORD},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == "7 steps, 7 matched, 0 differed"
