"""AUTH NTLM against the Exchange-like path of scripts/setup-backends: Postfix (Dovecot SASL)
-> Dovecot auth_use_winbind -> Samba's ntlm_auth -> winbindd, a standalone server whose
local SAM holds the user. The client's messages are pyspnego's (smtpsh[ntlm])."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.backends.conftest import CA_FILE, Ntlm, log_mark, smtpsh, wait_for_log

pytestmark = pytest.mark.postfix
COMPONENT = "Postfix + Dovecot + Samba (winbindd)"


@pytest.fixture
def ntlm_password(tmp_path: Path, ntlm: Ntlm) -> Path:
    path = tmp_path / "ntlm-password"
    path.write_text(ntlm.password + "\n")
    path.chmod(0o600)
    return path


def ntlm_args(ntlm: Ntlm, password_file: Path, user: str, *extra: str) -> list[str]:
    return [ntlm.target, "--starttls", "--cafile", CA_FILE, "--user", user,
            "--password-file", str(password_file), *extra]  # fmt: skip


def assert_no_secret(ntlm: Ntlm, *texts: str) -> None:
    for text in texts:
        assert ntlm.password not in text
        assert base64.b64encode(ntlm.password.encode()).decode().rstrip("=") not in text
        # The AUTHENTICATE message (NTLMv2 response: crackable offline) is never shown:
        # every one starts with "NTLMSSP\0" + type 3 = base64 "TlRMTVNTUAADAAAA".
        assert "TlRMTVNTUAADAAAA" not in text


@pytest.mark.parametrize("form", ["DOMAIN\\user", "user"])
def test_auth_ntlm_after_starttls(
    ntlm: Ntlm, ntlm_password: Path, form: str, matrix_row: Callable[..., None]
) -> None:
    if form == "DOMAIN\\user":
        matrix_row("AUTH NTLM (NTLMv2) after STARTTLS", COMPONENT, ntlm.versions)
        user = ntlm.qualified_user
    else:  # no domain: the server's own (local SAM) domain is assumed by Samba
        user = ntlm.user
    args = ntlm_args(ntlm, ntlm_password, user, "--auth", "NTLM")
    result = smtpsh(args, "MAIL FROM:<a@b.example>\nQUIT\n")
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "C: AUTH NTLM ********\n  ↳ AUTH NTLM NTLMSSP NEGOTIATE (no credentials yet)" in out
    # The CHALLENGE decoded by the probe's decoder: the names Samba gives away.
    assert f"NTLM CHALLENGE (Target_Name: {ntlm.domain}, " in out
    shown_user = user if "\\" in user else ntlm.user
    assert f"NTLMSSP AUTHENTICATE as {shown_user} from workstation " in out
    assert f"NTLMv2 response ******** (to the CHALLENGE of {ntlm.domain})" in out
    assert "S: 235 2.7.0 Authentication successful" in out
    assert f"· authenticated as {user} with NTLM\n" in out
    assert "S: 250 2.1.0 Ok" in out  # the session goes on, authenticated
    assert_no_secret(ntlm, out)


def test_wrong_password_is_refused_by_samba(ntlm: Ntlm, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-password\n")
    wrong.chmod(0o600)
    log = ntlm.log_file
    mark = log_mark(log)
    user = ntlm.qualified_user
    result = smtpsh(ntlm_args(ntlm, wrong, user, "--auth", "NTLM"), "MAIL FROM:<a@b.example>\n")
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert "S: 535 5.7.8 Error: authentication failed" in out
    assert f"AUTH NTLM as {user} failed: 535" in out
    assert "--auth: authentication failed; not going on unauthenticated" in out
    assert "C: MAIL FROM" not in out
    # winbindd, not a shortcut, said no.
    assert "NT_STATUS_LOGON_FAILURE" in wait_for_log("ntlm(", mark, log)


def test_ntlm_in_clear_is_refused_unless_forced(ntlm: Ntlm, ntlm_password: Path) -> None:
    user = ntlm.qualified_user
    base = [ntlm.target, "--user", user, "--password-file", str(ntlm_password)]
    refused = smtpsh([*base, "--auth", "NTLM"], "QUIT\n")
    assert refused.returncode != 0
    assert (
        "refused: the connection is not encrypted: an eavesdropper can attack the exchange"
        " offline (guess passwords against it); STARTTLS first (--starttls), or"
        " --insecure-auth to send anyway" in refused.stdout
    )
    assert "C: AUTH" not in refused.stdout
    forced = smtpsh([*base, "--auth", "NTLM", "--insecure-auth"], "QUIT\n")
    assert "! AUTH without TLS (--insecure-auth)" in forced.stdout
    assert f"· authenticated as {user} with NTLM" in forced.stdout, forced.stdout
    assert_no_secret(ntlm, forced.stdout, forced.stderr)


def test_slash_auth_ntlm_in_a_script_and_the_transcript(
    ntlm: Ntlm, ntlm_password: Path, tmp_path: Path
) -> None:
    user = ntlm.qualified_user
    record = tmp_path / "ntlm.smtp"
    args = [ntlm.target, "--cafile", CA_FILE, "--password-file", str(ntlm_password),
            "--record", str(record)]  # fmt: skip
    result = smtpsh(args, f"EHLO me\nSTARTTLS\nEHLO me\n/auth NTLM {user}\nQUIT\n")
    assert f"· authenticated as {user} with NTLM" in result.stdout, result.stdout
    transcript = record.read_text()
    assert "AUTH NTLM ********" in transcript and "235 2.7.0" in transcript
    assert_no_secret(ntlm, result.stdout, result.stderr, transcript)


def test_auth_auto_prefers_nothing_weaker_and_try_all(
    ntlm: Ntlm, ntlm_password: Path
) -> None:
    user = ntlm.qualified_user
    result = smtpsh(ntlm_args(ntlm, ntlm_password, user, "--auth", "auto"), "QUIT\n")
    assert "· choosing NTLM (the only one usable): the password does not cross the wire," in (
        result.stdout
    ), result.stdout
    assert f"· authenticated as {user} with NTLM" in result.stdout
    tried = smtpsh(ntlm_args(ntlm, ntlm_password, user, "--auth-try-all"), "QUIT\n")
    assert "· --auth-try-all: NTLM: accepted" in tried.stdout, tried.stdout


def test_probe_decodes_sambas_challenge(ntlm: Ntlm, matrix_row: Callable[..., None]) -> None:
    matrix_row("probe: NTLM challenge decoded", COMPONENT, ntlm.versions)
    result = smtpsh(["probe", ntlm.target, "--no-relay", "--json"], timeout=120)
    report = json.loads(result.stdout)
    found = report["result"]["ntlm"]
    assert found["target_name"] == ntlm.domain
    assert found["netbios_domain"] == ntlm.domain
    assert len(found["challenge"]) == 16  # 8 bytes, hex


def test_an_ntlm_transcript_replays_with_fresh_credentials(
    ntlm: Ntlm, ntlm_password: Path, tmp_path: Path
) -> None:
    """The recording holds only masks; the replay makes a new NEGOTIATE and answers the
    new CHALLENGE from the credentials given for it (over TLS, as recorded)."""
    record = tmp_path / "ntlm.smtp"
    args = ntlm_args(ntlm, ntlm_password, ntlm.qualified_user, "--auth", "NTLM")
    result = smtpsh([*args, "--record", str(record)], "MAIL FROM:<a@b.example>\nQUIT\n")
    assert result.returncode == 0, result.stdout + result.stderr
    replayed = smtpsh(["replay", str(record), "--cafile", CA_FILE, "--user",
                       ntlm.qualified_user, "--password-file", str(ntlm_password)])  # fmt: skip
    out = replayed.stdout + replayed.stderr
    assert replayed.returncode == 0, out
    assert "AUTH NTLM ********                 334" in out
    assert "235 2.7.0" in out and "0 differed" in out
    assert_no_secret(ntlm, out, record.read_text())
