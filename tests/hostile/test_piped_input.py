"""Odd scripts in piped mode: bytes that are not UTF-8, meta-commands after a close."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.helpers.run import smtpsh_env
from tests.helpers.scripted_server import scripted_server
from tests.hostile.drivers import assert_no_traceback
from tests.hostile.servers import CLOSING, send_then, serve


def run_bytes(args: list[str], script: bytes, home: Path) -> subprocess.CompletedProcess[bytes]:
    env = smtpsh_env(home)
    env["PYTHONIOENCODING"] = "utf-8:strict"  # as under en_US.UTF-8: strict decoding
    return subprocess.run(
        [sys.executable, "-m", "smtpsh", *args],
        input=script,
        capture_output=True,
        timeout=30,
        env=env,
    )


def test_script_bytes_that_are_not_utf8_go_out_unchanged(tmp_path: Path) -> None:
    received: list[bytes] = []
    with scripted_server(serve({}, received=received)) as port:
        result = run_bytes(
            [f"127.0.0.1:{port}"], b"EHLO caf\xe9.test\nNOOP \xff\xfe\nQUIT\n", tmp_path
        )
    out = result.stdout.decode("utf-8")  # what we print is UTF-8 whatever came in
    assert_no_traceback(out + result.stderr.decode("utf-8", "replace"))
    assert result.returncode == 0, out
    assert b"EHLO caf\xe9.test\r\n" in received and b"NOOP \xff\xfe\r\n" in received
    assert "C: NOOP \\xff\\xfe" in out  # shown escaped, as undecodable replies are


def test_reconnect_in_a_script_after_a_421(tmp_path: Path) -> None:
    closing = {b"MAIL": send_then(CLOSING, keep_open=False)}
    with scripted_server(serve(closing)) as port:
        result = run_bytes(
            [f"127.0.0.1:{port}"],
            b"EHLO me.test\nMAIL FROM:<a@me.test>\n/reconnect\nEHLO me.test\nNOOP\nQUIT\n",
            tmp_path,
        )
    out = result.stdout.decode()
    assert_no_traceback(out + result.stderr.decode())
    assert "S: 421 4.3.2" in out
    assert (
        "the server closed the connection; a /reconnect line in the script opens a new session."
    ) in out
    after = out.split("reconnecting to", 1)[1]
    assert "S: 220 hostile.test ESMTP" in after and "S: 250 2.0.0 still here" in after
    assert result.returncode == 0, out
