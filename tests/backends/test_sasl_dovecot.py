"""AUTH against Postfix with Dovecot SASL (scripts/setup-backends): PLAIN, LOGIN, CRAM-MD5,
SCRAM-SHA-1/256 on the listener that allows AUTH only after STARTTLS, and the audit's
"AUTH in clear" finding on the one that offers it before TLS."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.backends.conftest import CA_FILE, Backends, smtpsh

pytestmark = pytest.mark.postfix

MECHS = ["PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256"]


def auth_args(backends: Backends, password_file: Path, *extra: str) -> list[str]:
    return [backends.target("sasl_tls"), "--starttls", "--cafile", CA_FILE,
            "--user", backends.user, "--password-file", str(password_file), *extra]  # fmt: skip


def assert_no_password(backends: Backends, *texts: str) -> None:
    pw = backends.password
    for text in texts:
        assert pw not in text
        assert base64.b64encode(pw.encode()).decode().rstrip("=") not in text
        assert base64.b64encode(f"\0{backends.user}\0{pw}".encode()).decode() not in text


@pytest.mark.parametrize("mech", MECHS)
def test_auth_option_each_mechanism(
    backends: Backends, password_file: Path, mech: str, matrix_row: Callable[[str, str], None]
) -> None:
    matrix_row(f"AUTH {mech} after STARTTLS", "Postfix + Dovecot SASL")
    result = smtpsh(
        auth_args(backends, password_file, "--auth", mech), "MAIL FROM:<a@b.example>\nQUIT\n"
    )
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "S: 235 2.7.0 Authentication successful" in out
    proof = " (the server proved it knows the password)" if mech.startswith("SCRAM") else ""
    assert f"· authenticated as {backends.user} with {mech}{proof}\n" in out
    assert_no_password(backends, out)


@pytest.mark.parametrize("mech", ["PLAIN", "CRAM-MD5", "SCRAM-SHA-256"])
def test_slash_auth_in_a_script(backends: Backends, password_file: Path, mech: str) -> None:
    args = [backends.target("sasl_tls"), "--cafile", CA_FILE, "--password-file", str(password_file)]
    script = f"EHLO me\nSTARTTLS\nEHLO me\n/auth {mech} {backends.user}\nQUIT\n"
    result = smtpsh(args, script)
    assert f"· authenticated as {backends.user} with {mech}" in result.stdout, result.stdout
    assert_no_password(backends, result.stdout, result.stderr)


@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256"])
def test_wrong_password_fails_closed(backends: Backends, tmp_path: Path, mech: str) -> None:
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-password\n")
    wrong.chmod(0o600)
    result = smtpsh(auth_args(backends, wrong, "--auth", mech), "MAIL FROM:<a@b.example>\n")
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert "S: 535 5.7.8 Error: authentication failed" in out  # SCRAM adds a reason
    assert f"AUTH {mech} as {backends.user} failed: 535" in out
    assert "--auth: authentication failed; not going on unauthenticated" in out
    assert "MAIL FROM" not in out.split("not going on unauthenticated")[1]


def test_tls_auth_only_listener_hides_auth_before_starttls(backends: Backends) -> None:
    result = smtpsh([backends.target("sasl_tls")], "EHLO me\nQUIT\n")
    assert "S: 250-AUTH" not in result.stdout and "S: 250-STARTTLS" in result.stdout


def test_auth_auto_picks_the_strongest_and_says_why(
    backends: Backends, password_file: Path
) -> None:
    result = smtpsh(auth_args(backends, password_file, "--auth", "auto"), "QUIT\n")
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert (
        "· choosing SCRAM-SHA-256 (stronger than SCRAM-SHA-1, CRAM-MD5, PLAIN, LOGIN): the"
        " password does not cross the wire, the server proves it knows it" in out
    )
    assert "C: AUTH SCRAM-SHA-256 " in out and "C: AUTH PLAIN" not in out


def test_slash_auth_alone_lists_then_chooses(backends: Backends, password_file: Path) -> None:
    args = [backends.target("sasl_tls"), "--cafile", CA_FILE, "--user", backends.user,
            "--password-file", str(password_file)]  # fmt: skip
    result = smtpsh(args, "EHLO me\nSTARTTLS\nEHLO me\n/auth\nQUIT\n")
    out = result.stdout
    assert "  SCRAM-SHA-256" in out and "  CRAM-MD5" in out
    assert "· choosing SCRAM-SHA-256" in out
    assert f"· authenticated as {backends.user} with SCRAM-SHA-256" in out


def test_authzid_only_with_mechanisms_that_carry_it(
    backends: Backends, password_file: Path
) -> None:
    # Dovecot refuses to let sasluser act as alice (no master user set up): what matters
    # here is that the identity is sent, and that auto skips mechanisms without one.
    result = smtpsh(auth_args(backends, password_file, "--auth", "auto", "--authzid", "alice"), "")
    out = result.stdout
    assert "· choosing SCRAM-SHA-256 (stronger than SCRAM-SHA-1, PLAIN)" in out
    assert "n,a=alice,n=sasluser,r=" in out
    result = smtpsh(auth_args(backends, password_file, "--auth", "PLAIN", "--authzid", "alice"), "")
    assert "C: AUTH PLAIN alice\\0sasluser\\0********" in result.stdout.replace("  ↳ ", "C: ")
    result = smtpsh(auth_args(backends, password_file, "--auth", "CRAM-MD5", "--authzid", "x"), "")
    assert "CRAM-MD5 cannot carry an authorization identity (--authzid)" in result.stdout


def test_auth_try_all_reports_each(backends: Backends, password_file: Path) -> None:
    result = smtpsh(auth_args(backends, password_file, "--auth-try-all"), "NOOP\nQUIT\n")
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert (
        "· --auth-try-all: SCRAM-SHA-256: accepted; SCRAM-SHA-1: accepted; CRAM-MD5: accepted;"
        " PLAIN: accepted; LOGIN: accepted" in out
    )
    assert out.count("C: STARTTLS") == 5  # one session each, each encrypted before AUTH
    assert "S: 250 2.0.0 Ok" in out.split("--auth-try-all: SCRAM-SHA-256: accepted")[1]
    assert_no_password(backends, out)


def test_auth_try_all_with_a_wrong_password_goes_on(backends: Backends, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong"
    wrong.write_text("nope\n")
    wrong.chmod(0o600)
    result = smtpsh(auth_args(backends, wrong, "--auth-try-all"), "NOOP\nQUIT\n")
    out = result.stdout
    assert "SCRAM-SHA-256: FAILED; SCRAM-SHA-1: FAILED; CRAM-MD5: FAILED; PLAIN: FAILED;" in out
    assert out.count("C: STARTTLS") == 1  # no success: the same session serves every try
    assert "S: 250 2.0.0 Ok" in out


def probe_json(target: str) -> dict[str, object]:
    result = smtpsh(["probe", target, "--no-relay", "--json"], timeout=120)
    assert result.returncode in (0, 1, 2), result.stderr
    found: dict[str, object] = json.loads(result.stdout)
    return found


def test_probe_flags_auth_before_tls_only_on_the_clear_listener(
    backends: Backends, matrix_row: Callable[[str, str], None]
) -> None:
    matrix_row("probe: AUTH offered before TLS", "Postfix + Dovecot SASL")
    clear = smtpsh(["probe", backends.target("sasl_clear"), "--no-relay"], timeout=120).stdout
    assert (
        "✗ AUTH offered without TLS (credentials in clear): AUTH PLAIN LOGIN CRAM-MD5"
        " SCRAM-SHA-1 SCRAM-SHA-256 offered before STARTTLS" in clear
    )
    tls_only = smtpsh(["probe", backends.target("sasl_tls"), "--no-relay"], timeout=120).stdout
    assert "AUTH offered without TLS" not in tls_only
    assert (
        "before TLS: none · after TLS: PLAIN LOGIN CRAM-MD5 SCRAM-SHA-1 SCRAM-SHA-256" in tls_only
    )
