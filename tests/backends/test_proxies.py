"""XCLIENT/XFORWARD, the HAProxy PROXY protocol and SOCKS5, against Postfix listeners and
microsocks started by scripts/setup-backends."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from smtpsh.net.proxy import header, parse_source
from tests.backends.conftest import CA_FILE, Backends, log_mark, smtpsh, wait_for_log

pytestmark = pytest.mark.postfix


# --- XCLIENT / XFORWARD ---------------------------------------------------------------


def test_xclient_forged_address_meets_a_postfix_restriction(
    backends: Backends, matrix_row: Callable[[str, str], None]
) -> None:
    matrix_row("XCLIENT meets a client restriction", "Postfix")
    blocked = backends.blocked_address
    script = (
        "EHLO me\nMAIL FROM:<a@example.org>\nRCPT TO:<robin@smtpsh.test>\nRSET\n"
        f"/xclient addr={blocked} name=forged.example helo=forged.example\n"
        "MAIL FROM:<a@example.org>\nRCPT TO:<robin@smtpsh.test>\nQUIT\n"
    )
    mark = log_mark()
    result = smtpsh([backends.target("xclient")], script)
    out = result.stdout
    before, after = out.split("C: XCLIENT", 1)
    assert "250-XCLIENT " in before and "S: 250 2.1.5 Ok" in before  # robin is fine at first
    assert (
        f"C: XCLIENT ADDR={blocked} NAME=forged.example HELO=forged.example" in "C: XCLIENT" + after
    )
    assert "S: 220 mx.smtpsh.test ESMTP InFreight v2.11" in after  # the re-greeting
    assert "· XCLIENT accepted: the 220 is a new greeting" in after
    assert "C: EHLO forged.example" in after
    assert (
        f"S: 554 5.7.1 <forged.example[{blocked}]>: Client host rejected: smtpsh test: the"
        f" client address {blocked} is blocked" in after
    )
    wait_for_log(f"NOQUEUE: reject: RCPT from forged.example[{blocked}]", mark)


def test_xclient_refused_where_not_authorised(backends: Backends) -> None:
    result = smtpsh([backends.target("sasl_clear")], "EHLO me\n/xclient addr=192.0.2.1\nQUIT\n")
    out = result.stdout
    assert "! the server did not advertise XCLIENT" in out
    assert "S: 550 5.7.0 Error: insufficient authorization" in out
    assert "XCLIENT accepted" not in out


def test_xclient_bad_attribute_is_one_line(backends: Backends) -> None:
    result = smtpsh([backends.target("xclient")], "EHLO me\n/xclient colour=blue\nQUIT\n")
    assert "✗ XCLIENT has no attribute COLOUR (it has: NAME REVERSE_NAME ADDR" in result.stdout
    assert "C: XCLIENT" not in result.stdout


def test_xforward_is_logged(backends: Backends, matrix_row: Callable[[str, str], None]) -> None:
    matrix_row("XFORWARD", "Postfix")
    script = (
        "EHLO me\n/xforward addr=192.0.2.7 name=original.example proto=ESMTP\n"
        "MAIL FROM:<a@example.org>\nRCPT TO:<robin@smtpsh.test>\nDATA\nSubject: xf\n\nx\n.\nQUIT\n"
    )
    result = smtpsh([backends.target("xclient")], script)
    assert "C: XFORWARD ADDR=192.0.2.7 NAME=original.example PROTO=ESMTP" in result.stdout
    assert "S: 250 2.0.0 Ok" in result.stdout


def test_xclient_completion_offers_the_advertised_attributes() -> None:
    from prompt_toolkit.completion import CompleteEvent
    from prompt_toolkit.document import Document

    from smtpsh.protocol.session import Session, State
    from smtpsh.shell.completer import SmtpCompleter

    session = Session(State.READY, esmtp=True)
    session.extensions = {"XCLIENT": "NAME ADDR PROTO HELO"}
    completer = SmtpCompleter(lambda: session, lambda: "me")
    for text in ("XCLIENT ", "/xclient "):
        got = [c.text for c in completer.get_completions(Document(text), CompleteEvent())]
        assert got == ["NAME=", "ADDR=", "PROTO=", "HELO="]
    got = [
        c.text
        for c in completer.get_completions(Document("XCLIENT ADDR=1.2.3.4 "), CompleteEvent())
    ]
    assert got == ["NAME=", "PROTO=", "HELO="]


# --- PROXY protocol -------------------------------------------------------------------


def test_proxy_headers_bytes() -> None:
    assert header(1, ("192.0.2.10", 4444), ("127.0.0.1", 25)) == (
        b"PROXY TCP4 192.0.2.10 127.0.0.1 4444 25\r\n"
    )
    v2 = header(2, ("192.0.2.10", 4444), ("127.0.0.1", 25))
    assert v2[:12] == b"\r\n\r\n\x00\r\nQUIT\n" and v2[12:16] == b"\x21\x11\x00\x0c"
    assert v2[16:] == bytes([192, 0, 2, 10, 127, 0, 0, 1]) + (4444).to_bytes(2, "big") + (
        25
    ).to_bytes(2, "big")
    assert header(1, ("2001:db8::1", 5), ("::1", 25)) == b"PROXY TCP6 2001:db8::1 ::1 5 25\r\n"
    assert parse_source("[2001:db8::1]:5") == ("2001:db8::1", 5)
    with pytest.raises(ValueError, match="IP address"):
        parse_source("host.example:5")


@pytest.mark.parametrize("version", [1, 2])
def test_proxy_protocol_address_reaches_postfix(
    backends: Backends, version: int, matrix_row: Callable[[str, str], None]
) -> None:
    matrix_row(f"PROXY v{version} address in the log", "Postfix")
    source = f"198.51.100.{20 + version}"
    mark = log_mark()
    result = smtpsh(
        [backends.target("proxy"), f"--proxy-v{version}", f"{source}:40{version}00"],
        "EHLO me\nQUIT\n",
    )
    assert "S: 220 mx.smtpsh.test ESMTP InFreight v2.11" in result.stdout, result.stderr
    assert "S: 221 2.0.0 Bye" in result.stdout
    line = wait_for_log(f"connect from unknown[{source}]", mark)
    assert "postfix/smtpd" in line


def test_proxy_listener_without_header_says_nothing_useful(backends: Backends) -> None:
    """Without --proxy-v1/2 the proxy listener waits for a header; smtpsh's silent-banner
    hint shows after 5 s, and the timeout ends it with one line."""
    result = smtpsh([backends.target("proxy"), "--timeout", "2"], "QUIT\n")
    assert "no reply from 127.0.0.1:11113 to the banner within 2 s" in result.stdout + result.stderr


def test_proxy_usage_errors(tmp_path: Path) -> None:
    result = smtpsh(["127.0.0.1:25", "--proxy-v1", "nohost:1"], "")
    assert result.returncode == 2
    assert "--proxy-v1 'nohost:1': the source must be an IP address and a port" in result.stderr
    result = smtpsh(["unix:/tmp/x", "--proxy-v2", "192.0.2.1:5"], "")
    assert "goes on a TCP connection" in result.stderr
    result = smtpsh(["127.0.0.1:25", "--socks5-password-env", "HOME"], "")
    assert result.returncode == 2
    assert "--socks5-password-file/-env without --socks5" in result.stderr
    result = smtpsh(
        ["127.0.0.1:25", "--socks5", "127.0.0.1:1", "--socks5-password-env", "HOME"], ""
    )
    assert "a SOCKS5 password needs a user: --socks5 USER@HOST:PORT" in result.stderr
    proxy = ["--socks5", "u@127.0.0.1:1"]
    result = smtpsh(["127.0.0.1:25", *proxy, "--socks5-password-file", str(tmp_path / "nope")], "")
    assert f"--socks5-password-file {tmp_path / 'nope'}: no such file" in result.stderr
    (tmp_path / "empty").write_text("\n")
    result = smtpsh(["127.0.0.1:25", *proxy, "--socks5-password-file", str(tmp_path / "empty")], "")
    assert "empty (the password is its first line)" in result.stderr
    result = smtpsh(["--pipe", "true", "127.0.0.1"], "")
    assert "--pipe runs the server itself: give no HOST as well" in result.stderr


# --- SOCKS5 ---------------------------------------------------------------------------


@pytest.fixture
def socks_env(backends: Backends, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setenv("SMTPSH_SOCKS_PW", backends.socks["password"])
    return [
        "--socks5", f"{backends.socks['user']}@{backends.host}:{backends.ports['socks']}",
        "--socks5-password-env", "SMTPSH_SOCKS_PW",
    ]  # fmt: skip


def test_socks5_plain_and_remote_dns(
    backends: Backends, socks_env: list[str], matrix_row: Callable[[str, str], None]
) -> None:
    matrix_row("SOCKS5 user/password, remote DNS", "microsocks")
    # "localhost" goes to the proxy as a name (ATYP 3): microsocks resolves it.
    mark = log_mark()
    result = smtpsh(["localhost:25", *socks_env], "EHLO me\nQUIT\n")
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "S: 220 mx.smtpsh.test ESMTP InFreight v2.11" in out
    assert backends.socks["password"] not in out + result.stderr
    wait_for_log("connect from localhost[127.0.0.1]", mark)


def test_socks5_starttls_through_the_proxy(
    backends: Backends, socks_env: list[str], matrix_row: Callable[[str, str], None]
) -> None:
    matrix_row("SOCKS5 + STARTTLS", "microsocks")
    result = smtpsh(
        [backends.target("sasl_tls"), *socks_env, "--starttls", "--cafile", CA_FILE],
        "QUIT\n",
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "· TLS established: TLSv1.3" in out and "verified: yes" in out
    assert "S: 250-AUTH PLAIN LOGIN CRAM-MD5 SCRAM-SHA-1 SCRAM-SHA-256" in out


def test_socks5_implicit_tls_through_the_proxy(
    backends: Backends,
    socks_env: list[str],
    postfix: object,
    matrix_row: Callable[[str, str], None],
) -> None:
    matrix_row("SOCKS5 + implicit TLS", "microsocks")
    result = smtpsh(
        ["127.0.0.1:10465", "--tls", *socks_env, "--cafile", CA_FILE], "EHLO me\nQUIT\n"
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "· TLS established" in out and "S: 220 mx.smtpsh.test ESMTP" in out


def test_socks5_auth_through_the_proxy(
    backends: Backends, socks_env: list[str], tmp_path: Path, matrix_row: Callable[[str, str], None]
) -> None:
    matrix_row("SOCKS5 + SCRAM-SHA-256", "microsocks")
    pw = tmp_path / "pw"
    pw.write_text(backends.password)
    pw.chmod(0o600)
    args = [backends.target("sasl_tls"), *socks_env, "--starttls", "--cafile", CA_FILE,
            "--auth", "SCRAM-SHA-256", "--user", backends.user,
            "--password-file", str(pw)]  # fmt: skip
    result = smtpsh(args, "QUIT\n")
    assert "· authenticated as sasluser with SCRAM-SHA-256" in result.stdout, result.stderr


def test_socks5_wrong_password_and_unreachable_target(
    backends: Backends, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = f"{backends.socks['user']}@{backends.host}:{backends.ports['socks']}"
    monkeypatch.setenv("SMTPSH_SOCKS_PW", "wrong")
    result = smtpsh(
        ["127.0.0.1:25", "--socks5", proxy, "--socks5-password-env", "SMTPSH_SOCKS_PW"], ""
    )
    assert result.returncode != 0
    assert (
        f"SOCKS proxy {backends.host}:{backends.ports['socks']} refused the user 'socksuser'"
        in (result.stdout + result.stderr)
    )
    monkeypatch.setenv("SMTPSH_SOCKS_PW", backends.socks["password"])
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    result = smtpsh(
        [f"127.0.0.1:{port}", "--socks5", proxy, "--socks5-password-env", "SMTPSH_SOCKS_PW"], ""
    )
    assert result.returncode != 0
    assert f"cannot reach 127.0.0.1:{port}" in result.stdout + result.stderr
    result = smtpsh(["127.0.0.1:25", "--socks5", f"{backends.host}:{backends.ports['socks']}"], "")
    assert "refuses no authentication; it may want a user" in result.stdout + result.stderr


def test_socks5_and_proxy_header_together(backends: Backends, socks_env: list[str]) -> None:
    mark = log_mark()
    result = smtpsh(
        [backends.target("proxy"), *socks_env, "--proxy-v2", "203.0.113.9:5555"], "QUIT\n"
    )
    assert "S: 220 mx.smtpsh.test" in result.stdout, result.stderr
    wait_for_log("connect from unknown[203.0.113.9]", mark)
