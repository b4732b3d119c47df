"""The sandbox as a client sees it, driven by the standard library's smtplib."""

from __future__ import annotations

import asyncio
import base64
import hmac
import os
import re
import smtplib
import socket
import ssl
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import pytest
from sandbox_loop import LoopThread

from smtpsh.sandbox import ReceivedMessage, Sandbox, SandboxError, server
from smtpsh.sandbox.tlscert import CertError, CertFiles

BANNER = "220 sandbox.test ESMTP smtpsh practice server"
QUEUED = re.compile(r"2\.0\.0 Ok: queued as ([0-9A-F]{10})")


def connect(sb: Sandbox) -> smtplib.SMTP:
    return smtplib.SMTP(sb.host, sb.port, local_hostname="client.test", timeout=5)


def tls_context(sb: Sandbox) -> ssl.SSLContext:
    assert sb.cafile is not None
    ctx = ssl.create_default_context(cafile=str(sb.cafile))
    ctx.verify_flags |= ssl.VERIFY_X509_STRICT  # what Python 3.13 does by default
    return ctx


@pytest.fixture
def client(sandbox: Sandbox) -> Iterator[smtplib.SMTP]:
    s = connect(sandbox)
    yield s
    s.close()


@pytest.fixture
def tls_client(sandbox: Sandbox, client: smtplib.SMTP) -> smtplib.SMTP:
    client.ehlo()
    code, _ = client.starttls(context=tls_context(sandbox))
    assert code == 220
    client.ehlo()
    return client


def read_reply(f: BinaryIO) -> list[bytes]:
    """Lines of one reply from a socket file (for dialogues smtplib cannot do)."""
    lines: list[bytes] = []
    while True:
        line = f.readline()
        assert line, "connection closed"
        lines.append(line.rstrip(b"\r\n"))
        if line[3:4] != b"-":
            return lines


# -- greeting and EHLO ---------------------------------------------------------------------


def test_attributes(sandbox: Sandbox) -> None:
    assert sandbox.host == "127.0.0.1"
    assert 0 < sandbox.port < 65536
    assert sandbox.domain == "sandbox.test"
    assert sandbox.users["alice"] == "Alice Example"
    assert sandbox.credentials == ("alice", "sandbox-pass")
    assert sandbox.cafile is not None and sandbox.cafile.is_file()
    assert sandbox.mailbox == []


def test_banner(sandbox: Sandbox) -> None:
    with socket.create_connection((sandbox.host, sandbox.port), timeout=5) as sock:
        assert sock.makefile("rb").readline() == BANNER.encode() + b"\r\n"


def test_ehlo_features_before_and_after_starttls(sandbox: Sandbox, client: smtplib.SMTP) -> None:
    code, text = client.ehlo("me")
    assert code == 250
    assert text.splitlines() == [
        b"sandbox.test", b"PIPELINING", b"SIZE 10240000", b"STARTTLS",
        b"ENHANCEDSTATUSCODES", b"8BITMIME", b"SMTPUTF8",
    ]  # fmt: skip
    client.starttls(context=tls_context(sandbox))
    code, text = client.ehlo("me")
    assert code == 250
    features = text.splitlines()
    assert b"AUTH PLAIN LOGIN CRAM-MD5" in features
    assert b"STARTTLS" not in features  # RFC 3207: not offered again over TLS
    assert b"ENHANCEDSTATUSCODES" in features


def test_helo_reply_is_plain(client: smtplib.SMTP) -> None:
    assert client.helo("me") == (250, b"sandbox.test")


# -- VRFY, EXPN, RCPT ----------------------------------------------------------------------


def test_vrfy_known_and_unknown(client: smtplib.SMTP) -> None:
    assert client.verify("alice") == (252, b"2.0.0 alice")
    assert client.verify("bob@sandbox.test") == (252, b"2.0.0 bob@sandbox.test")
    assert client.verify("nobody@sandbox.test") == (
        550,
        b"5.1.1 <nobody@sandbox.test>: Recipient address rejected: "
        b"User unknown in local recipient table",
    )


def test_expn_list(client: smtplib.SMTP) -> None:
    code, text = client.expn("staff")
    assert code == 250
    assert text.splitlines() == [
        b"2.1.5 Alice Example <alice@sandbox.test>",
        b"2.1.5 Bob Example <bob@sandbox.test>",
        b"2.1.5 Carol Example <carol@sandbox.test>",
    ]
    assert client.expn("nobody")[0] == 550


def test_rcpt_unknown_user_and_relay(client: smtplib.SMTP) -> None:
    client.ehlo()
    assert client.mail("me@example.net") == (250, b"2.1.0 Ok")
    assert client.rcpt("nobody@sandbox.test") == (
        550,
        b"5.1.1 <nobody@sandbox.test>: Recipient address rejected: "
        b"User unknown in local recipient table",
    )
    assert client.rcpt("x@other.test") == (554, b"5.7.1 <x@other.test>: Relay access denied")
    assert client.rcpt("Carol@Sandbox.Test") == (250, b"2.1.5 Ok")
    assert client.rcpt("staff@sandbox.test") == (250, b"2.1.5 Ok")


def test_out_of_order_commands_get_enhanced_codes(client: smtplib.SMTP) -> None:
    assert client.docmd("MAIL FROM:<a@b>") == (503, b"5.5.1 Error: send HELO/EHLO first")
    client.ehlo()
    assert client.docmd("RCPT TO:<alice@sandbox.test>") == (
        503,
        b"5.5.1 Error: need MAIL command",
    )
    assert client.docmd("DATA") == (503, b"5.5.1 Error: need RCPT command")
    assert client.docmd("NOOP") == (250, b"2.0.0 Ok")
    assert client.docmd("XYZZY")[0] == 500


# -- DATA and the mailbox ------------------------------------------------------------------

MESSAGE = (
    b"From: Me <me@example.net>\r\n"
    b"To: Alice <alice@sandbox.test>\r\n"
    b"Subject: practice run\r\n"
    b"X-Folded: one\r\n two\r\n"
    b"\r\n"
    b"Hello Alice,\r\n"
    b".a line that starts with a dot\r\n"
    b"8-bit: \xc3\xa9t\xc3\xa9\r\n"
    b"\r\n"
    b"Bye.\r\n"
)


def test_message_is_delivered_intact(sandbox: Sandbox, client: smtplib.SMTP) -> None:
    client.ehlo()
    client.mail("me@example.net", ["BODY=8BITMIME"])
    client.rcpt("alice@sandbox.test")
    client.rcpt("staff@sandbox.test")
    code, text = client.data(MESSAGE)
    assert code == 250
    m = QUEUED.fullmatch(text.decode())
    assert m is not None, text
    assert len(sandbox.mailbox) == 1
    msg = sandbox.mailbox[0]
    assert isinstance(msg, ReceivedMessage)
    assert msg.data == MESSAGE  # dot-stuffing undone, 8-bit bytes kept
    assert msg.mail_from == "me@example.net"
    assert msg.rcpt_tos == ["alice@sandbox.test", "staff@sandbox.test"]
    assert msg.queue_id == m.group(1)
    assert msg.tls is False
    assert msg.authenticated_as is None
    assert msg.peer.startswith("127.0.0.1:")
    assert msg.helo == "client.test"
    assert msg.received_at.tzinfo is not None


def test_null_sender_is_accepted(sandbox: Sandbox, client: smtplib.SMTP) -> None:
    client.ehlo()
    assert client.docmd("MAIL FROM:<>") == (250, b"2.1.0 Ok")
    client.rcpt("postmaster@sandbox.test")
    assert client.data(b"Subject: bounce\r\n\r\nx\r\n")[0] == 250
    assert sandbox.mailbox[-1].mail_from == ""


def test_mailbox_text(sandbox: Sandbox, tls_client: smtplib.SMTP) -> None:
    assert "empty" in sandbox.mailbox_text()
    tls_client.login(*sandbox.credentials)
    tls_client.sendmail("me@example.net", ["bob@sandbox.test", "far@other.test"], MESSAGE)
    tls_client.sendmail("me@example.net", ["carol@sandbox.test"], b"no headers here\r\n")
    first, second = sandbox.mailbox
    text = sandbox.mailbox_text()
    blocks = text.split("── message ")[1:]
    assert len(blocks) == 2
    assert blocks[0].startswith(f"1 of 2 · queued as {first.queue_id}")
    assert f"{len(MESSAGE):,} bytes" in blocks[0]
    assert "TLS · authenticated as alice" in blocks[0]
    assert "MAIL FROM  <me@example.net>" in blocks[0]
    assert "RCPT TO    <bob@sandbox.test>, <far@other.test>" in blocks[0]
    assert "Subject: practice run" in blocks[0]
    assert "X-Folded: one two" in blocks[0]  # unfolded
    assert "Hello Alice" not in text  # headers only, not the body
    assert blocks[1].startswith(f"2 of 2 · queued as {second.queue_id}")
    assert "no header fields" in blocks[1]


def test_mailbox_text_escapes_control_characters(sandbox: Sandbox, client: smtplib.SMTP) -> None:
    client.sendmail("me@example.net", ["alice@sandbox.test"], b"Subject: \x1b[31mred\r\n\r\nx\r\n")
    text = sandbox.mailbox_text()
    assert "\x1b" not in text
    assert "Subject: \\x1b[31mred" in text


def test_on_message_callback(sandbox: Sandbox, client: smtplib.SMTP) -> None:
    seen: list[ReceivedMessage] = []
    sandbox.on_message = seen.append
    client.sendmail("me@example.net", ["alice@sandbox.test"], b"Subject: x\r\n\r\nx\r\n")
    assert seen == sandbox.mailbox and len(seen) == 1


def test_failing_on_message_callback_does_not_fail_the_reply(
    sandbox: Sandbox, client: smtplib.SMTP, loop_thread: LoopThread
) -> None:
    reported: list[str] = []

    async def set_handler(handler: Any) -> None:  # on the loop's own thread
        asyncio.get_running_loop().set_exception_handler(handler)

    def broken(message: ReceivedMessage) -> None:
        raise RuntimeError("observer bug")

    loop_thread.run(set_handler(lambda _loop, ctx: reported.append(ctx["message"])))
    sandbox.on_message = broken
    try:
        client.ehlo()
        client.mail("me@example.net")
        client.rcpt("alice@sandbox.test")
        code, text = client.data(b"Subject: x\r\n\r\nx\r\n")
    finally:
        loop_thread.run(set_handler(None))
    assert code == 250 and QUEUED.fullmatch(text.decode())
    assert len(sandbox.mailbox) == 1
    assert reported == ["sandbox on_message callback failed"]


def test_pipelined_transaction(sandbox: Sandbox) -> None:
    with socket.create_connection((sandbox.host, sandbox.port), timeout=5) as sock:
        f = sock.makefile("rb")
        read_reply(f)
        sock.sendall(b"EHLO me\r\n")
        assert b"250 SMTPUTF8" in read_reply(f)
        sock.sendall(
            b"MAIL FROM:<me@example.net>\r\nRCPT TO:<alice@sandbox.test>\r\n"
            b"RCPT TO:<ghost@sandbox.test>\r\nDATA\r\n"
        )
        codes = [read_reply(f)[0][:3] for _ in range(4)]
        assert codes == [b"250", b"250", b"550", b"354"]
        sock.sendall(b"Subject: piped\r\n\r\nbody\r\n.\r\nQUIT\r\n")
        assert QUEUED.fullmatch(read_reply(f)[0][4:].decode())
        assert read_reply(f) == [b"221 2.0.0 Bye"]
    assert sandbox.mailbox[0].rcpt_tos == ["alice@sandbox.test"]


# -- STARTTLS and AUTH ---------------------------------------------------------------------


def test_starttls_verifies_with_the_cafile(sandbox: Sandbox, client: smtplib.SMTP) -> None:
    client.ehlo()
    assert client.starttls(context=tls_context(sandbox)) == (220, b"2.0.0 Ready to start TLS")
    sock = client.sock
    assert isinstance(sock, ssl.SSLSocket)
    cert = sock.getpeercert()
    assert cert is not None
    assert ("DNS", "localhost") in cert["subjectAltName"]
    assert ("IP Address", "127.0.0.1") in cert["subjectAltName"]
    assert client.noop() == (250, b"2.0.0 Ok")


def test_starttls_with_the_name_localhost(sandbox: Sandbox) -> None:
    # smtplib verifies the certificate against the host name it connected to.
    with smtplib.SMTP("localhost", sandbox.port, timeout=5) as s:
        s.ehlo()
        assert s.starttls(context=tls_context(sandbox))[0] == 220


def test_starttls_fails_verification_without_the_cafile(sandbox: Sandbox) -> None:
    with smtplib.SMTP(sandbox.host, sandbox.port, timeout=5) as s:
        s.ehlo()
        with pytest.raises(ssl.SSLCertVerificationError):
            s.starttls(context=ssl.create_default_context())


def test_starttls_twice_is_refused(tls_client: smtplib.SMTP) -> None:
    assert tls_client.docmd("STARTTLS") == (554, b"5.5.1 Error: TLS already active")


def test_auth_refused_before_tls(client: smtplib.SMTP) -> None:
    client.ehlo()
    assert client.docmd("AUTH PLAIN") == (
        538,
        b"5.7.11 Encryption required for requested authentication mechanism",
    )


def plain(user: str, password: str) -> str:
    return base64.b64encode(f"\0{user}\0{password}".encode()).decode()


def test_auth_plain(sandbox: Sandbox, tls_client: smtplib.SMTP) -> None:
    user, password = sandbox.credentials
    assert tls_client.docmd("AUTH PLAIN", plain(user, "wrong")) == (
        535,
        b"5.7.8 Authentication credentials invalid",
    )
    assert tls_client.docmd("AUTH PLAIN", plain(user, password)) == (
        235,
        b"2.7.0 Authentication successful",
    )
    assert tls_client.docmd("AUTH PLAIN", plain(user, password))[0] == 503


def test_auth_plain_without_initial_response(sandbox: Sandbox, tls_client: smtplib.SMTP) -> None:
    assert tls_client.docmd("AUTH plain") == (334, b"")  # mechanism names are case-insensitive
    assert tls_client.docmd(plain(*sandbox.credentials))[0] == 235


def test_auth_login(sandbox: Sandbox, tls_client: smtplib.SMTP) -> None:
    user, password = sandbox.credentials
    for pw, expected in ((password + "x", 535), (password, 235)):
        code, challenge = tls_client.docmd("AUTH LOGIN")
        assert (code, base64.b64decode(challenge)) == (334, b"Username:")
        code, challenge = tls_client.docmd(base64.b64encode(user.encode()).decode())
        assert (code, base64.b64decode(challenge)) == (334, b"Password:")
        assert tls_client.docmd(base64.b64encode(pw.encode()).decode())[0] == expected


def test_auth_cram_md5(sandbox: Sandbox, tls_client: smtplib.SMTP) -> None:
    user, password = sandbox.credentials
    challenges = []
    for pw, expected in (("wrong", (535, b"5.7.8 Authentication credentials invalid")),
                         (password, (235, b"2.7.0 Authentication successful"))):  # fmt: skip
        code, b64 = tls_client.docmd("AUTH CRAM-MD5")
        assert code == 334
        challenge = base64.b64decode(b64)
        assert re.fullmatch(rb"<\d+\.\d+@sandbox\.test>", challenge)
        challenges.append(challenge)
        digest = hmac.new(pw.encode(), challenge, "md5").hexdigest()
        answer = base64.b64encode(f"{user} {digest}".encode()).decode()
        assert tls_client.docmd(answer) == expected
    assert challenges[0] != challenges[1]  # a fresh challenge each time


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN", "CRAM-MD5"])
def test_smtplib_login_with_each_mechanism(sandbox: Sandbox, mechanism: str) -> None:
    for password, ok in ((sandbox.credentials[1], True), ("bad", False)):
        with connect(sandbox) as s:
            s.starttls(context=tls_context(sandbox))
            s.ehlo()
            s.esmtp_features["auth"] = mechanism  # make smtplib use only this mechanism
            if ok:
                assert s.login(sandbox.credentials[0], password)[0] == 235
            else:
                with pytest.raises(smtplib.SMTPAuthenticationError) as err:
                    s.login(sandbox.credentials[0], password)
                assert err.value.smtp_code == 535


def test_auth_abort(tls_client: smtplib.SMTP) -> None:
    assert tls_client.docmd("AUTH LOGIN")[0] == 334
    assert tls_client.docmd("*") == (501, b"5.7.0 Authentication aborted")
    assert tls_client.noop()[0] == 250


def test_relay_allowed_after_auth_and_kept(sandbox: Sandbox, tls_client: smtplib.SMTP) -> None:
    tls_client.login(*sandbox.credentials)
    tls_client.mail("me@example.net")
    assert tls_client.rcpt("someone@other.test") == (250, b"2.1.5 Ok")
    assert tls_client.data(b"Subject: relayed\r\n\r\nkept here\r\n")[0] == 250
    msg = sandbox.mailbox[-1]
    assert msg.rcpt_tos == ["someone@other.test"]
    assert msg.tls is True
    assert msg.authenticated_as == "alice"


# -- start-up, welcome text, shutdown ------------------------------------------------------


def test_welcome_text(sandbox: Sandbox) -> None:
    text = sandbox.welcome_text()
    assert f"127.0.0.1:{sandbox.port}" in text
    assert "sandbox.test" in text
    for local in sandbox.users:
        assert local in text
    user, password = sandbox.credentials
    assert f"user {user}" in text and f"password {password}" in text
    assert str(sandbox.cafile) in text
    assert "VRFY" in text and "/mailbox" in text


def test_stop_frees_the_port_and_says_421(loop_thread: LoopThread) -> None:
    sb = loop_thread.run(Sandbox.start())
    port, cafile = sb.port, sb.cafile
    s = connect(sb)
    s.ehlo()
    loop_thread.run(sb.stop())
    # The open session is told, as a real MTA shutting down would.
    assert s.getreply() == (
        421,
        b"4.3.2 sandbox.test Service shutting down, closing transmission channel",
    )
    s.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2)
    assert cafile is not None and not cafile.exists()  # the private temp dir is gone
    again = loop_thread.run(Sandbox.start(port=port))
    try:
        assert again.port == port
    finally:
        loop_thread.run(again.stop())
    loop_thread.run(sb.stop())  # a second stop() is harmless


def test_idle_timeout_sends_421(loop_thread: LoopThread) -> None:
    sb = loop_thread.run(Sandbox.start(idle_timeout=0.3))
    try:
        with socket.create_connection((sb.host, sb.port), timeout=5) as sock:
            f = sock.makefile("rb")
            read_reply(f)
            assert read_reply(f) == [b"421 4.4.2 sandbox.test Error: timeout exceeded"]
            assert f.readline() == b""  # then the server hangs up
    finally:
        loop_thread.run(sb.stop())


def test_without_tls(loop_thread: LoopThread) -> None:
    sb = loop_thread.run(Sandbox.start(tls=False))
    try:
        assert sb.cafile is None
        assert "STARTTLS is off" in sb.welcome_text()
        with connect(sb) as s:
            assert s.ehlo()[0] == 250
            assert s.has_extn("size") and not s.has_extn("starttls")
            assert s.docmd("STARTTLS")[0] == 454
            assert s.docmd("AUTH PLAIN")[0] == 538
    finally:
        loop_thread.run(sb.stop())


def test_starttls_needs_no_openssl_binary(
    loop_thread: LoopThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key and certificate are made in-process: a PATH without `openssl` is fine."""
    monkeypatch.setenv("PATH", "/nonexistent")
    sb = loop_thread.run(Sandbox.start(tls=True))
    try:
        assert sb.cafile is not None and sb.tls
        assert "STARTTLS with a self-signed certificate" in sb.welcome_text()
        assert stat.S_IMODE(os.stat(sb.cafile.with_name("key.pem")).st_mode) == 0o600
        with connect(sb) as s:
            s.ehlo()
            assert s.starttls(context=tls_context(sb))[0] == 220
            assert s.sock.getpeercert()["subject"] == (  # type: ignore[union-attr]
                (("organizationName", "smtpsh sandbox"),),
                (("commonName", "localhost"),),
            )
    finally:
        loop_thread.run(sb.stop())


def test_no_certificate_starts_without_tls(
    loop_thread: LoopThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def refuse(directory: Path) -> CertFiles:
        raise CertError(f"cannot write it in {directory}: Read-only file system")

    monkeypatch.setattr(server, "make_certificate", refuse)
    sb = loop_thread.run(Sandbox.start(tls=True))
    try:
        assert sb.cafile is None
        assert "could not make a certificate (cannot write it in" in sb.welcome_text()
        with connect(sb) as s:
            s.ehlo()
            assert not s.has_extn("starttls")
    finally:
        loop_thread.run(sb.stop())


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.1", "::", "example.com"])
def test_refuses_non_loopback_hosts(loop_thread: LoopThread, host: str) -> None:
    with pytest.raises(SandboxError, match="loopback only"):
        loop_thread.run(Sandbox.start(host=host))


def test_refuses_a_port_out_of_range(loop_thread: LoopThread) -> None:
    with pytest.raises(SandboxError, match=r"port must be 0\.\.65535, not 70000"):
        loop_thread.run(Sandbox.start(port=70000))


def test_port_in_use_is_one_clear_error(loop_thread: LoopThread, sandbox: Sandbox) -> None:
    with pytest.raises(SandboxError, match=rf"cannot listen on 127\.0\.0\.1:{sandbox.port}: "):
        loop_thread.run(Sandbox.start(port=sandbox.port))


def ipv6_loopback_works() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not ipv6_loopback_works(), reason="no IPv6 loopback on this machine")
def test_ipv6_loopback(loop_thread: LoopThread) -> None:
    sb = loop_thread.run(Sandbox.start(host="::1"))
    try:
        assert f"[::1]:{sb.port}" in sb.welcome_text()
        with smtplib.SMTP("::1", sb.port, timeout=5) as s:
            s.ehlo()
            assert s.starttls(context=tls_context(sb))[0] == 220  # the cert names ::1 too
            s.ehlo()
            s.sendmail("me@example.net", ["bob@sandbox.test"], b"Subject: v6\r\n\r\nx\r\n")
        assert sb.mailbox[0].peer.startswith("[::1]:")
    finally:
        loop_thread.run(sb.stop())
