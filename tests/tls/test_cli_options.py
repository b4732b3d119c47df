"""The TLS and AUTH options refuse what cannot work, before connecting."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.run import run_piped


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--starttls", "--tls"], "--starttls and --tls (or port 465) exclude each other"),
        (["--starttls", "-p", "465"], "--starttls and --tls (or port 465) exclude each other"),
        (["--auth", "GSSAPI"], "--auth GSSAPI: smtpsh supports PLAIN, LOGIN, CRAM-MD5,"
                                " SCRAM-SHA-1, SCRAM-SHA-256, NTLM, XOAUTH2 (or auto)"),
        (["--password-file", "f", "--password-env", "E"], "give --password-file or"),
        (["--cafile", "/nonexistent/ca.pem"], "--cafile /nonexistent/ca.pem: no such file"),
        (["--password-file", "/nonexistent/pw"], "--password-file /nonexistent/pw: no such"),
    ],
)
def test_usage_errors(args: list[str], message: str, tmp_path: Path) -> None:
    result = run_piped(["127.0.0.1", *args], "", tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_no_password_option_takes_the_secret_itself(tmp_path: Path) -> None:
    # There is deliberately no --password: a secret on the command line is visible in ps.
    result = run_piped(["127.0.0.1", "--password", "x"], "", tmp_path)
    assert result.returncode == 2 and "--password" in result.stderr
    assert "ambiguous option" in result.stderr or "unrecognized arguments" in result.stderr
