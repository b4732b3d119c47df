"""Prove the loopback Postfix set up by scripts/setup-test-env is what the tests rely on.

Only the standard library talks to Postfix here, so these tests do not depend on the
smtpsh client being right.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from email.message import EmailMessage
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import PostfixEnv

pytestmark = pytest.mark.postfix

# The contract other tests use: profile name -> how its banner is reached.
PROFILES = ("smtp", "smtps", "open_relay", "no_vrfy", "wrong_name", "expired", "submission")
TIMEOUT = 10.0


@contextmanager
def smtp_session(postfix: PostfixEnv, profile: str = "smtp") -> Iterator[smtplib.SMTP]:
    host, port = postfix.address(profile)
    client = smtplib.SMTP(host, port, local_hostname="client.smtpsh.test", timeout=TIMEOUT)
    try:
        client.ehlo()
        yield client
    finally:
        with suppress(smtplib.SMTPServerDisconnected):
            client.quit()


def unverified_context() -> ssl.SSLContext:
    """Accept any certificate, so a test can look at what a listener presents."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def read_reply(sock: socket.socket) -> str:
    """One whole (possibly multi-line) reply: until a CRLF-ended line "NNN text"."""
    data = b""
    while True:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
        last = data[: -2].rsplit(b"\r\n", 1)[-1] if data.endswith(b"\r\n") else b""
        if len(last) >= 4 and last[3:4] == b" ":
            break
    return data.decode("ascii", "replace")


def starttls_handshake(
    postfix: PostfixEnv, profile: str, ctx: ssl.SSLContext, server_hostname: str
) -> bytes:
    """EHLO, STARTTLS, handshake checking `server_hostname`; the peer cert (DER)."""
    with socket.create_connection(postfix.address(profile), timeout=TIMEOUT) as raw:
        assert read_reply(raw).startswith("220 ")
        raw.sendall(b"EHLO client.smtpsh.test\r\n")
        assert "STARTTLS" in read_reply(raw)
        raw.sendall(b"STARTTLS\r\n")
        assert read_reply(raw).startswith("220 ")
        with ctx.wrap_socket(raw, server_hostname=server_hostname) as tls:
            der = tls.getpeercert(binary_form=True)
    assert der is not None
    return der


def presented_cert(postfix: PostfixEnv, profile: str) -> bytes:
    return starttls_handshake(postfix, profile, unverified_context(), postfix.hostname)


def cert_der(postfix: PostfixEnv, stem: str) -> bytes:
    return ssl.PEM_cert_to_DER_cert(postfix.certs[stem].read_text(encoding="ascii"))


def read_line(sock: socket.socket) -> str:
    data = b""
    while not data.endswith(b"\r\n"):
        chunk = sock.recv(1024)
        if not chunk:
            break
        data += chunk
    return data.decode("ascii", "replace")


@pytest.mark.parametrize("profile", PROFILES)
def test_every_listener_greets_with_the_infreight_banner(
    postfix: PostfixEnv, profile: str
) -> None:
    with socket.create_connection(postfix.address(profile), timeout=TIMEOUT) as raw:
        if postfix.tls_modes[profile] == "implicit":
            ctx = postfix.tls_context()
            with ctx.wrap_socket(raw, server_hostname=postfix.hostname) as tls:
                line = read_line(tls)
        else:
            line = read_line(raw)
    assert line == f"220 {postfix.banner}\r\n"
    assert "InFreight v2.11" in line


def test_main_listener_also_answers_on_ipv6_loopback(postfix: PostfixEnv) -> None:
    if postfix.host6 is None:
        pytest.skip("this machine has no IPv6 loopback")
    with socket.create_connection((postfix.host6, postfix.port("smtp")), timeout=TIMEOUT) as s:
        assert read_line(s) == f"220 {postfix.banner}\r\n"


def test_profiles_are_distinct_ports(postfix: PostfixEnv) -> None:
    assert set(PROFILES) <= set(postfix.ports)
    assert len({postfix.port(p) for p in PROFILES}) == len(PROFILES)
    with pytest.raises(KeyError, match="no Postfix profile"):
        postfix.port("no-such-profile")


@pytest.mark.parametrize("user", ["robin", "alice"])
def test_vrfy_existing_user_answers_252(postfix: PostfixEnv, user: str) -> None:
    assert user in postfix.users
    with smtp_session(postfix) as client:
        code, text = client.verify(user)
    assert code == 252
    assert text.decode() == f"2.0.0 {user}"


def test_vrfy_unknown_user_answers_550_5_1_1(postfix: PostfixEnv) -> None:
    with smtp_session(postfix) as client:
        code, text = client.verify("nosuchuser")
    assert code == 550
    assert text.decode().startswith("5.1.1 <nosuchuser>:")
    assert "User unknown" in text.decode()


def test_vrfy_disabled_profile_answers_502(postfix: PostfixEnv) -> None:
    with smtp_session(postfix, "no_vrfy") as client:
        code, _text = client.verify("robin")
    assert code == 502


def rcpt_elsewhere(postfix: PostfixEnv, profile: str) -> tuple[int, bytes]:
    # RCPT only, never DATA: the relay question is answered at RCPT time.
    with smtp_session(postfix, profile) as client:
        code, _ = client.mail("probe@client.smtpsh.test")
        assert code == 250
        result = client.rcpt("x@elsewhere.test")
        client.rset()
    return result


def test_open_relay_profile_accepts_foreign_recipient(postfix: PostfixEnv) -> None:
    code, text = rcpt_elsewhere(postfix, "open_relay")
    assert code == 250, text


def test_main_listener_refuses_to_relay(postfix: PostfixEnv) -> None:
    code, text = rcpt_elsewhere(postfix, "smtp")
    assert code in (454, 554)
    assert b"Relay access denied" in text


def test_main_listener_accepts_local_recipient(postfix: PostfixEnv) -> None:
    with smtp_session(postfix) as client:
        client.mail("probe@client.smtpsh.test")
        code, _ = client.rcpt(f"robin@{postfix.domain}")
        client.rset()
    assert code == 250


def test_implicit_tls_verifies_against_test_ca(postfix: PostfixEnv) -> None:
    host, port = postfix.address("smtps")
    ctx = postfix.tls_context()
    with smtplib.SMTP_SSL(host, port, context=ctx, timeout=TIMEOUT) as client:
        code, _ = client.ehlo("client.smtpsh.test")
        assert isinstance(client.sock, ssl.SSLSocket)
        der = client.sock.getpeercert(binary_form=True)
    assert code == 250
    assert der == cert_der(postfix, "server")


def test_implicit_tls_is_refused_without_the_test_ca(postfix: PostfixEnv) -> None:
    ctx = ssl.create_default_context()  # system CAs only: the test CA is not among them
    with (
        socket.create_connection(postfix.address("smtps"), timeout=TIMEOUT) as raw,
        pytest.raises(ssl.SSLCertVerificationError) as info,
    ):
        ctx.wrap_socket(raw, server_hostname=postfix.hostname)
    assert info.value.verify_code == 20  # X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY


def test_main_listener_starttls_presents_server_cert(postfix: PostfixEnv) -> None:
    with smtp_session(postfix) as client:
        assert client.has_extn("starttls")
        client.starttls(context=postfix.tls_context())
        assert isinstance(client.sock, ssl.SSLSocket)
        der = client.sock.getpeercert(binary_form=True)
    assert der == cert_der(postfix, "server")


def test_wrong_name_listener_fails_hostname_check(postfix: PostfixEnv) -> None:
    assert presented_cert(postfix, "wrong_name") == cert_der(postfix, "wrong-name")
    ctx = postfix.tls_context()
    # The chain is fine (same CA); only the name is wrong.
    with pytest.raises(ssl.SSLCertVerificationError) as info:
        starttls_handshake(postfix, "wrong_name", ctx, postfix.hostname)
    assert info.value.verify_code == 62  # X509_V_ERR_HOSTNAME_MISMATCH
    with pytest.raises(ssl.SSLCertVerificationError) as info:
        starttls_handshake(postfix, "wrong_name", ctx, postfix.host)
    assert info.value.verify_code == 64  # X509_V_ERR_IP_ADDRESS_MISMATCH
    # ...and the name it does carry verifies, so the failures above are about names.
    assert starttls_handshake(postfix, "wrong_name", ctx, "wrong.smtpsh.test")


def test_expired_listener_fails_verification_as_expired(postfix: PostfixEnv) -> None:
    assert presented_cert(postfix, "expired") == cert_der(postfix, "expired")
    with pytest.raises(ssl.SSLCertVerificationError) as info:
        starttls_handshake(postfix, "expired", postfix.tls_context(), postfix.hostname)
    assert info.value.verify_code == 10  # X509_V_ERR_CERT_HAS_EXPIRED


def test_submission_requires_starttls_before_mail(postfix: PostfixEnv) -> None:
    with smtp_session(postfix, "submission") as client:
        code, text = client.mail("probe@client.smtpsh.test")
        assert code == 530, text
        client.starttls(context=postfix.tls_context())
        client.ehlo()
        code, text = client.mail("probe@client.smtpsh.test")
        assert code == 250, text
        client.rset()


def test_log_helpers_see_new_lines_only(postfix: PostfixEnv) -> None:
    name = f"nobody-{uuid.uuid4().hex[:12]}"
    mark = postfix.log_mark()
    assert not any(name in line for line in postfix.log_since(mark))
    with smtp_session(postfix) as client:
        code, _ = client.verify(name)
    assert code == 550
    line = postfix.wait_for_log(f"<{name}>", mark)
    assert "reject: VRFY" in line
    assert all(name not in ln for ln in postfix.log_since(postfix.log_mark()))


def test_local_delivery_reaches_the_mbox(postfix: PostfixEnv) -> None:
    token = uuid.uuid4().hex
    msg = EmailMessage()
    msg["From"] = "probe@client.smtpsh.test"
    msg["To"] = f"robin@{postfix.domain}"
    msg["Subject"] = f"infra check {token}"
    msg.set_content(f"delivery check {token}\nFrom the test suite.\n")
    with smtp_session(postfix) as client:
        refused = client.send_message(msg)
    assert refused == {}
    message = postfix.wait_for_mail("robin", token)
    assert message.startswith("From probe@client.smtpsh.test ")
    assert f"Subject: infra check {token}" in message
    assert "\n>From the test suite." in message  # mbox escaping of a body "From " line
    assert postfix.mailbox("robin") == postfix.spool_dir / "robin"


def test_wait_for_mail_times_out_with_a_clear_message(postfix: PostfixEnv) -> None:
    with pytest.raises(AssertionError, match="no mail containing"):
        postfix.wait_for_mail("alice", uuid.uuid4().hex, timeout=0.3)


def test_free_port_is_bindable_for_tcp_and_udp(free_port: int) -> None:
    assert 1024 <= free_port <= 65535
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
        tcp.bind(("127.0.0.1", free_port))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", free_port))
