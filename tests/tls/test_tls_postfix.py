"""TLS against the real Postfix on loopback: STARTTLS, implicit TLS, verification."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from cryptography import x509

import smtpsh.net.client as client_module
from smtpsh.protocol.session import State
from tests.helpers.run import run_piped
from tests.tls.harness import Seen, dialogue, make_shell, run

if TYPE_CHECKING:
    from tests.conftest import PostfixEnv

pytestmark = pytest.mark.postfix


def errors_of(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("✗")]


def test_starttls_upgrade_then_ehlo_again(postfix: PostfixEnv, tmp_path: Path) -> None:
    mark = postfix.log_mark()
    result = run_piped(
        [f"{postfix.host}:{postfix.port('smtp')}", "--cafile", str(postfix.ca_file)],
        "EHLO tls.smtpsh.test\nSTARTTLS\nEHLO tls.smtpsh.test\nMAIL FROM:<t@smtpsh.test>\n",
        tmp_path,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    before, _, after = out.partition("C: STARTTLS")
    assert "S: 250-STARTTLS" in before and "STARTTLS" not in after.split("C: EHLO")[1]
    assert "· TLS established: TLSv1." in after
    assert f"·   names:   {postfix.hostname}, localhost, 127.0.0.1, ::1" in after
    assert "·   verified: yes (chain to a trusted CA; valid for 127.0.0.1)" in after
    assert "send EHLO again (RFC 3207 §4.2)" in after
    assert "S: 250 2.1.0 Ok" in after
    # Postfix counted the upgrade and both greetings of this session.
    postfix.wait_for_log("ehlo=2 starttls=1 mail=1 quit=1", mark)


def test_starttls_option_and_status(postfix: PostfixEnv, tmp_path: Path) -> None:
    result = run_piped(
        [f"{postfix.host}:{postfix.port('submission')}", "--cafile", str(postfix.ca_file),
         "--starttls"],
        "/status\n/cert\n",
        tmp_path,
    )  # fmt: skip
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert out.count("C: EHLO ") == 2 and "C: STARTTLS" in out
    assert "TLS:     TLSv1." in out and "certificate verified" in out
    # /cert: the chain Postfix sent, verified up to the test CA.
    assert f"[0] server: CN={postfix.hostname}, O=smtpsh test PKI" in out
    assert "[1] root CA: CN=smtpsh test CA, O=smtpsh test PKI" in out


def test_implicit_tls(postfix: PostfixEnv, tmp_path: Path) -> None:
    result = run_piped(
        [f"{postfix.host}:{postfix.port('smtps')}", "--tls", "--cafile", str(postfix.ca_file)],
        "EHLO tls.smtpsh.test\nSTARTTLS\n",
        tmp_path,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    # The summary comes first, then the banner, read over TLS.
    assert out.index("· TLS established") < out.index(f"S: 220 {postfix.banner}")
    assert "verified: yes" in out
    # TLS is on: STARTTLS is predicted to fail, and it does.
    assert "! expect 503 5.5.1 TLS already active: the session is already encrypted" in out


def test_untrusted_ca_is_one_line_and_exit_1(postfix: PostfixEnv, tmp_path: Path) -> None:
    for args in (
        [f"{postfix.host}:{postfix.port('smtps')}", "--tls"],
        [f"{postfix.host}:{postfix.port('smtp')}", "--starttls"],
    ):
        result = run_piped(args, "NOOP\n", tmp_path)
        errors = errors_of(result.stdout)
        assert result.returncode == 4
        assert errors == [
            "✗ TLS: the certificate for 127.0.0.1 is not from a trusted CA (unknown issuer: "
            "CN=smtpsh test CA, O=smtpsh test PKI); use --cafile FILE for a private CA, or "
            "--no-verify"
        ], result.stdout
        assert "Traceback" not in result.stderr


def starttls_errors(
    postfix: PostfixEnv, profile: str, cert: str, home: Path
) -> tuple[list[str], x509.Certificate]:
    """The error lines of `smtpsh --starttls` to ``profile`` (exit 1), and its certificate."""
    result = run_piped(
        [f"{postfix.host}:{postfix.port(profile)}", "--cafile", str(postfix.ca_file),
         "--starttls"],
        "",
        home,
    )  # fmt: skip
    assert result.returncode == 4, result.stdout
    return errors_of(result.stdout), x509.load_pem_x509_certificate(
        postfix.certs[cert].read_bytes()
    )


def test_wrong_name(postfix: PostfixEnv, tmp_path: Path) -> None:
    errors, cert = starttls_errors(postfix, "wrong_name", "wrong-name", tmp_path)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    listed = ", ".join(names.get_values_for_type(x509.DNSName))
    assert errors == [f"✗ TLS: name mismatch: the certificate is for {listed}, not 127.0.0.1"]


def test_expired(postfix: PostfixEnv, tmp_path: Path) -> None:
    errors, cert = starttls_errors(postfix, "expired", "expired", tmp_path)
    when = cert.not_valid_after_utc.strftime("%Y-%m-%d %H:%M UTC")
    assert errors == [f"✗ TLS: the certificate for 127.0.0.1 has expired (it expired on {when})"]


def test_failed_verification_leaves_the_shell_usable(postfix: PostfixEnv) -> None:
    seen = Seen()
    shell, out = make_shell(
        [f"{postfix.host}:{postfix.port('expired')}", "--cafile", str(postfix.ca_file)], seen
    )

    async def go() -> list[State]:
        await shell.connect()
        await shell.handle_line("EHLO tls.smtpsh.test")
        await shell.handle_line("STARTTLS")
        states = [shell.session.state]
        await shell.handle_line("/cert")  # the certificate that failed, fetched unverified
        await shell.handle_line("/reconnect")
        await shell.handle_line("EHLO tls.smtpsh.test")
        states.append(shell.session.state)
        await shell.quit()
        return states

    assert run(go()) == [State.CLOSED, State.READY]
    text = out.getvalue()
    assert len([t for t, level in seen.meta if level == "error" and t.startswith("TLS:")]) == 1
    assert len(errors_of(text)) == 1  # said once, not again by the shell
    assert "from a second, unverified connection made to explain the failure" in text
    assert "(EXPIRED" in text


def test_no_verify_connects_and_says_unverified(postfix: PostfixEnv, tmp_path: Path) -> None:
    result = run_piped(
        [f"{postfix.host}:{postfix.port('wrong_name')}", "--no-verify", "--starttls"],
        "/status\n",
        tmp_path,
    )
    out = result.stdout
    assert result.returncode == 0, out
    assert (
        "!   verified: NO (--no-verify, chain not checked): name mismatch: it is for "
        "wrong.smtpsh.test, not 127.0.0.1" in out
    )
    assert "certificate NOT verified (/cert says why)" in out


def test_tls_on_a_plain_port(postfix: PostfixEnv, tmp_path: Path) -> None:
    result = run_piped([f"{postfix.host}:{postfix.port('smtp')}", "--tls"], "", tmp_path)
    assert errors_of(result.stdout) == [
        f"✗ TLS handshake with 127.0.0.1:{postfix.port('smtp')} failed: the server answered in"
        " plain text, not TLS (is this a plain or STARTTLS port? try without --tls, then"
        " STARTTLS)"
    ]
    assert result.returncode == 4


def test_a_piped_run_on_the_smtps_port_says_on_stderr_that_no_banner_came(
    postfix: PostfixEnv, tmp_path: Path
) -> None:
    # `echo QUIT | smtpsh HOST:465 > dialogue.txt` waited in silence: the hint went only to
    # the redirected dialogue. Now it is on standard error once, and still in the dialogue.
    import subprocess
    import sys

    from tests.helpers.run import smtpsh_env

    target = f"{postfix.host}:{postfix.port('smtps')}"
    hint = ("no banner after 5 s: if this port expects TLS from the first byte (like 465),"
            " reconnect with --tls; still waiting (Ctrl-C stops)")
    apart = subprocess.Popen(
        [sys.executable, "-m", "smtpsh", target, "--timeout", "6"], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=smtpsh_env(tmp_path),
    )
    together = subprocess.Popen(  # 2>&1: the same pipe, so said once
        [sys.executable, "-m", "smtpsh", target, "--timeout", "6"], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=smtpsh_env(tmp_path),
    )
    out, err = apart.communicate("QUIT\n", timeout=60)
    both, _ = together.communicate("QUIT\n", timeout=60)
    assert err.splitlines() == [f"smtpsh: {hint}"], err
    assert f"! {hint}" in out.splitlines() and apart.returncode == 4
    assert "to the banner within 6 s" in out
    assert both.count("no banner after") == 1, both


def test_plain_on_a_tls_port_hints_at_tls(
    postfix: PostfixEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client_module, "SILENT_BANNER_HINT_AFTER", 0.3)
    shell, out = make_shell([f"{postfix.host}:{postfix.port('smtps')}", "--timeout", "1.5"])
    assert not run(dialogue(shell, []))
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("! no banner after 0.3 s: if this port expects TLS from the")
    assert "reconnect with --tls" in lines[0]
    assert lines[1].startswith("✗ no reply from") and "to the banner within 1.5 s" in lines[1]
