"""AUTH against the sandbox (aiosmtpd: PLAIN, LOGIN, CRAM-MD5 after STARTTLS), and the
promise that no secret reaches the screen, the observers or a transcript."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from smtpsh.net.client import ClientObserver
from smtpsh.sandbox import Sandbox
from smtpsh.sandbox.directory import DEMO_CREDENTIALS
from smtpsh.shell.app import Shell
from tests.helpers.run import run_piped, smtpsh_env
from tests.tls.harness import Seen, dialogue, make_shell, run

USER, PASSWORD = DEMO_CREDENTIALS
TLS_OPENING = ["EHLO me", "STARTTLS", "EHLO me"]


def secrets_of(user: str, password: str) -> list[str]:
    """Every form in which the password could leak."""
    return [
        password,
        base64.b64encode(f"\0{user}\0{password}".encode()).decode(),
        base64.b64encode(password.encode()).decode(),
        base64.b64encode(password.encode()).decode().rstrip("="),
    ]


def assert_no_secret(*texts: str, user: str = USER, password: str = PASSWORD) -> None:
    for text in texts:
        for secret in secrets_of(user, password):
            assert secret not in text, f"secret {secret!r} leaked"


async def _session(
    extra: list[str], lines: list[str], *observers: ClientObserver
) -> tuple[str, Shell]:
    sandbox = await Sandbox.start(tls=True)
    try:
        assert sandbox.cafile is not None
        argv = [f"127.0.0.1:{sandbox.port}", "--cafile", str(sandbox.cafile), *extra]
        shell, out = make_shell(argv, *observers)
        await dialogue(shell, lines)
    finally:
        await sandbox.stop()
    return out.getvalue(), shell


def session(extra: list[str], lines: list[str], *observers: ClientObserver) -> tuple[str, Shell]:
    result: tuple[str, Shell] = run(_session(extra, lines, *observers))
    return result


@pytest.fixture
def password_env(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setenv("SMTPSH_TEST_PW", PASSWORD)
    return ["--user", USER, "--password-env", "SMTPSH_TEST_PW"]


@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN", "CRAM-MD5"])
def test_mechanisms_succeed_after_starttls(mech: str, password_env: list[str]) -> None:
    seen = Seen()
    # Relaying to another domain is refused unless authenticated: the proof it worked.
    out, shell = session(
        password_env, [*TLS_OPENING, f"/auth {mech}", "MAIL FROM:<a@example.org>",
                       "RCPT TO:<someone@example.org>"], seen,
    )  # fmt: skip
    assert f"· authenticated as {USER} with {mech}" in out and shell.session.authenticated
    assert "S: 235 2.7.0 Authentication successful" in out
    assert [e.reply.code for e in seen.replies][-3:] == [250, 250, 221]
    assert_no_secret(out, seen.everything())


def test_login_shows_each_step_decoded_and_masked(password_env: list[str]) -> None:
    out, _ = session(password_env, [*TLS_OPENING, "/auth LOGIN"])
    exchange = out[out.index("C: AUTH LOGIN") :].splitlines()
    assert exchange[:10] == [
        "C: AUTH LOGIN",
        "S: 334 VXNlcm5hbWU6",
        "  ↳ 334 server challenge: send the next authentication line · decoded: 'Username:'",
        "C: ********",
        f"  ↳ {USER}",
        "S: 334 UGFzc3dvcmQ6",
        "  ↳ 334 server challenge: send the next authentication line · decoded: 'Password:'",
        "C: ********",
        "  ↳ ******** (the password)",
        "S: 235 2.7.0 Authentication successful",
    ]


def test_bad_credentials_fail_cleanly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMTPSH_TEST_PW", "wrong-password")
    seen = Seen()
    out, shell = session(
        ["--user", USER, "--password-env", "SMTPSH_TEST_PW"],
        [*TLS_OPENING, "/auth PLAIN", "/auth LOGIN", "NOOP"], seen,
    )  # fmt: skip
    assert out.count("S: 535 5.7.8 Authentication credentials invalid") == 2
    assert out.count("  ↳ 535 authentication credentials invalid") == 2
    assert f"✗ AUTH PLAIN as {USER} failed: 535 authentication credentials invalid" in out
    assert f"✗ AUTH LOGIN as {USER} failed: 535 authentication credentials invalid" in out
    assert not shell.session.authenticated
    assert seen.replies[-2].reply.code == 250  # the session goes on
    assert_no_secret(out, seen.everything(), password="wrong-password")


def test_auth_in_clear_is_refused_without_the_flag(password_env: list[str]) -> None:
    seen = Seen()
    out, _ = session(password_env, ["EHLO me", "/auth PLAIN"], seen)
    assert (
        "✗ refused: the connection is not encrypted: anyone on the path can read the password;"
        " STARTTLS first (--starttls), or --insecure-auth to send anyway" in out
    )
    assert not any(text.upper().startswith("AUTH") for text in seen.sent)


def test_insecure_auth_sends_it_in_clear_with_a_warning(password_env: list[str]) -> None:
    seen = Seen()
    out, _ = session([*password_env, "--insecure-auth"], ["EHLO me", "/auth PLAIN"], seen)
    assert "! AUTH without TLS (--insecure-auth): anyone on the path can read the password" in out
    assert "C: AUTH PLAIN ********" in out
    assert "S: 538 5.7.11 Encryption required for requested authentication mechanism" in out
    assert_no_secret(out, seen.everything())


def test_raw_auth_lines_are_sent_but_masked() -> None:
    seen = Seen()
    initial = base64.b64encode(f"\0{USER}\0{PASSWORD}".encode()).decode()
    login_user = base64.b64encode(USER.encode()).decode()
    login_password = base64.b64encode(PASSWORD.encode()).decode()
    out, shell = session(
        [], [*TLS_OPENING, f"AUTH PLAIN {initial}", "/reconnect", *TLS_OPENING, "AUTH LOGIN",
             login_user, login_password], seen,
    )  # fmt: skip
    assert out.count("S: 235 2.7.0 Authentication successful") == 2
    assert "C: AUTH PLAIN ********" in out
    assert out.count("C: ********") == 2 and "C: AUTH LOGIN" in out
    assert shell.session.authenticated
    assert_no_secret(out, seen.everything())


def test_password_file(tmp_path: Path) -> None:
    secret_file = tmp_path / "pw"
    secret_file.write_text(PASSWORD + "\nignored second line\n")
    secret_file.chmod(0o600)
    out, shell = session(
        ["--user", USER, "--password-file", str(secret_file)], [*TLS_OPENING, "/auth PLAIN"]
    )
    assert shell.session.authenticated and "readable by others" not in out
    secret_file.chmod(0o644)
    out, _ = session(
        ["--user", USER, "--password-file", str(secret_file)], [*TLS_OPENING, "/auth PLAIN"]
    )
    assert f"! --password-file: {secret_file} is readable by others (chmod 600 it)" in out


def test_missing_secret_sources_are_one_line_each(tmp_path: Path) -> None:
    out, _ = session(["--user", USER], [*TLS_OPENING, "/auth PLAIN"])
    assert (
        "✗ no password: scripts pass it with --password-file FILE or --password-env NAME"
        " (never on the command line)" in out
    )
    out, _ = session(["--user", USER, "--password-env", "SMTPSH_NOT_SET_ANYWHERE"],
                     [*TLS_OPENING, "/auth LOGIN"])  # fmt: skip
    assert "✗ --password-env: the environment variable SMTPSH_NOT_SET_ANYWHERE is not set" in out
    out, _ = session(["--password-file", str(tmp_path / "none")], [*TLS_OPENING, "/auth PLAIN"])
    assert "✗ no user name: /auth MECH USER, or --user NAME" in out


def test_auth_listing_and_unsupported_mechanisms(password_env: list[str]) -> None:
    out, _ = session(password_env, ["/auth", "EHLO me", "/auth", *TLS_OPENING[1:], "/auth",
                                    "/auth GSSAPI", "/auth PLAIN a b"])  # fmt: skip
    assert "no EHLO reply yet: the AUTH mechanisms come in it (send EHLO first)" in out
    assert "the server advertised no AUTH (many servers offer it only after STARTTLS)" in out
    assert "  CRAM-MD5     HMAC-MD5 of the server's challenge" in out
    assert (
        "✗ smtpsh cannot do GSSAPI; it supports PLAIN, LOGIN, CRAM-MD5, SCRAM-SHA-1,"
        " SCRAM-SHA-256, NTLM, XOAUTH2" in out
    )
    # /auth alone, once AUTH is offered: the list, then the strongest offered is chosen.
    assert "· choosing CRAM-MD5 (stronger than PLAIN, LOGIN)" in out
    assert f"· authenticated as {USER} with CRAM-MD5" in out
    assert "✗ usage: /auth [MECH] [USER] (the password is asked for, never typed here)" in out


def test_starttls_and_auth_options_for_scripts(tmp_path: Path) -> None:
    """`smtpsh --sandbox --starttls --auth PLAIN` as a script runs it, with --record on."""
    transcript = tmp_path / "session.smtp"
    env_pw = {"SMTPSH_TEST_PW": PASSWORD}
    os.environ.update(env_pw)
    try:
        result = run_piped(
            ["--sandbox", "--starttls", "--auth", "plain", "--user", USER, "--password-env",
             "SMTPSH_TEST_PW", "--record", str(transcript)],
            "MAIL FROM:<a@example.org>\nRCPT TO:<b@example.org>\n",
            tmp_path,
        )  # fmt: skip
    finally:
        os.environ.pop("SMTPSH_TEST_PW")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"· authenticated as {USER} with PLAIN" in result.stdout
    assert "S: 250 2.1.5 Ok" in result.stdout
    # The sandbox prints its demo password on purpose at start-up; the dialogue never does.
    dialogue_out = result.stdout[result.stdout.index("S: 220 ") :]
    assert_no_secret(dialogue_out, result.stderr, transcript.read_bytes().decode())
    assert "AUTH PLAIN" in transcript.read_text()


def test_env_is_private_to_the_helpers(tmp_path: Path) -> None:
    # smtpsh_env copies os.environ: a secret in the environment is only what we put there.
    assert "SMTPSH_TEST_PW" not in smtpsh_env(tmp_path)


def test_auth_option_fails_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMTPSH_TEST_PW", "wrong-password")
    seen = Seen()
    out, shell = session(
        ["--starttls", "--auth", "LOGIN", "--user", USER, "--password-env", "SMTPSH_TEST_PW"],
        ["MAIL FROM:<a@example.org>"],
        seen,
    )
    assert (
        "✗ --auth: authentication failed; not going on unauthenticated (drop --auth to go on"
        " without it)" in out
    )
    assert shell.exit_code == 4 and not shell.client.connected
    assert not any(text.startswith("MAIL") for text in seen.sent)
    assert seen.sent[-1] == "QUIT"
