"""Each shipped scenario behaves as its file says, seen from smtplib (a client that knows
nothing about smtpsh): banner, EHLO, VRFY, EXPN, HELP, relaying, STARTTLS, AUTH, limits."""

from __future__ import annotations

import smtplib
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sandbox_loop import LoopThread

from smtpsh.sandbox import Sandbox
from smtpsh.sandbox.scenario import ScenarioError, available, from_mapping, load


@pytest.fixture(scope="module")
def loop_thread() -> Iterator[LoopThread]:
    lt = LoopThread()
    yield lt
    lt.close()


def start(loop_thread: LoopThread, name: str) -> Sandbox:
    return loop_thread.run(Sandbox.start(port=0, tls=True, scenario=load(name)))


@pytest.fixture
def running(loop_thread: LoopThread, request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    sb = start(loop_thread, request.param)
    yield sb
    loop_thread.run(sb.stop())


def client(sb: Sandbox) -> smtplib.SMTP:
    return smtplib.SMTP("127.0.0.1", sb.port, timeout=10)


def tls_context(sb: Sandbox) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(sb.cafile))
    ctx.check_hostname = False
    return ctx


def test_the_four_scenarios_ship() -> None:
    assert {"default", "inlanefreight", "hardened", "exim-like"} <= set(available())


# (scenario, what to send, expected code, a piece of the expected text)
BEHAVIOUR = [
    ("default", "VRFY alice", 252, "2.0.0 alice"),
    ("default", "VRFY nobody", 550, "User unknown in local recipient table"),
    ("default", "EXPN staff", 250, "alice@sandbox.test"),
    ("inlanefreight", "VRFY robin", 252, "2.0.0 robin"),
    ("inlanefreight", "VRFY zzyzx", 550, "5.1.1 <zzyzx>: Recipient address rejected"),
    ("inlanefreight", "EXPN robin", 500, "5.5.2 Error: command not recognized"),
    ("inlanefreight", "HELP", 500, "5.5.2 Error: command not recognized"),
    ("hardened", "VRFY alice", 530, "Must issue a STARTTLS command first"),
    ("hardened", "MAIL FROM:<a@example.net>", 530, "Must issue a STARTTLS command first"),
    ("exim-like", "VRFY alice", 501, "alice: recipient address must contain a domain"),
    ("exim-like", "VRFY postmaster", 250, "<postmaster@exim.test> is deliverable"),
    ("exim-like", "VRFY alice@exim.test", 250, "<alice@exim.test> is deliverable"),
    ("exim-like", "VRFY zzyzx@exim.test", 550, "Unrouteable address"),
    ("exim-like", "MAIL FROM:<x@[127.0.0.1]>", 501, "domain literals not allowed"),
]


@pytest.mark.parametrize(("name", "line", "code", "text"), BEHAVIOUR)
def test_scenario_answers(
    loop_thread: LoopThread, name: str, line: str, code: int, text: str
) -> None:
    sb = start(loop_thread, name)
    try:
        with client(sb) as s:
            s.ehlo("me.example")
            got_code, got_text = s.docmd(line)
        assert (got_code, text in got_text.decode()) == (code, True), got_text
    finally:
        loop_thread.run(sb.stop())


@pytest.mark.parametrize(
    ("name", "banner"),
    [
        ("inlanefreight", "mail1.inlanefreight.htb InFreight ESMTP v2.11"),
        ("hardened", "mx.example.test ESMTP"),
        ("default", "sandbox.test ESMTP smtpsh practice server"),
    ],
)
def test_banner(loop_thread: LoopThread, name: str, banner: str) -> None:
    sb = start(loop_thread, name)
    try:
        with socket.create_connection(("127.0.0.1", sb.port), timeout=5) as sock:
            assert sock.recv(1024).decode().rstrip("\r\n") == f"220 {banner}"
    finally:
        loop_thread.run(sb.stop())


def test_exim_banner_carries_a_date_and_ehlo_says_hello(loop_thread: LoopThread) -> None:
    sb = start(loop_thread, "exim-like")
    try:
        with client(sb) as s:
            code, text = s.ehlo("me.example")
            assert code == 250
            assert text.decode().splitlines()[0] == "mx.exim.test Hello me.example [127.0.0.1]"
            assert "ENHANCEDSTATUSCODES" not in text.decode()
            assert s.docmd("RCPT TO:<alice@exim.test>") == (503, b"sender not yet given")
        with socket.create_connection(("127.0.0.1", sb.port), timeout=5) as sock:
            banner = sock.recv(1024).decode()
        assert banner.startswith("220 mx.exim.test ESMTP Exim 4.96 ")
        assert str(time.gmtime().tm_year) in banner
    finally:
        loop_thread.run(sb.stop())


@pytest.mark.parametrize("running", ["inlanefreight"], indirect=True)
def test_inlanefreight_relays_for_anyone_and_offers_auth_in_clear(running: Sandbox) -> None:
    with client(running) as s:
        s.ehlo("me.example")
        assert s.has_extn("starttls")
        assert "PLAIN" in s.esmtp_features["auth"]  # before TLS: the dangerous setting
        assert s.docmd("MAIL FROM:<a@example.net>")[0] == 250
        assert s.docmd("RCPT TO:<relaytest@example.org>")[0] == 250  # open relay
        user, password = running.credentials
        s.login(user, password)  # in clear: the server allows it


@pytest.mark.parametrize("running", ["hardened"], indirect=True)
def test_hardened_wants_tls_first_then_offers_auth_and_refuses_relay(running: Sandbox) -> None:
    with client(running) as s:
        s.ehlo("me.example")
        assert "auth" not in s.esmtp_features
        s.starttls(context=tls_context(running))
        s.ehlo("me.example")
        assert "PLAIN" in s.esmtp_features["auth"]
        assert s.docmd("VRFY alice") == (502, b"5.5.1 VRFY command is disabled")
        assert s.docmd("MAIL FROM:<a@example.net>")[0] == 250
        code, text = s.docmd("RCPT TO:<relaytest@example.org>")
        assert code == 454 and b"Relay access denied" in text  # stock Postfix defers


@pytest.mark.parametrize("running", ["inlanefreight"], indirect=True)
def test_postfix_tarpit_slows_then_hangs_up(running: Sandbox) -> None:
    """Stock Postfix: past 10 errors each reply waits a second, at 20 the next command
    is answered 421 and the connection closes."""
    with client(running) as s:
        s.ehlo("me.example")
        times = []
        for i in range(20):
            t0 = time.monotonic()
            assert s.docmd(f"VRFY nosuch{i}")[0] == 550
            times.append(time.monotonic() - t0)
        assert max(times[:10]) < 0.5 and min(times[10:]) >= 0.9
        code, text = s.docmd("VRFY robin")
        assert (code, text) == (421, b"4.7.0 mail1.inlanefreight.htb Error: too many errors")
        with pytest.raises(smtplib.SMTPServerDisconnected):
            s.docmd("NOOP")


@pytest.mark.parametrize("running", ["exim-like"], indirect=True)
def test_exim_max_nonmail(running: Sandbox) -> None:
    with client(running) as s:
        s.ehlo("me.example")
        for _ in range(10):
            assert s.docmd("NOOP")[0] == 250
        assert s.docmd("VRFY bob@exim.test") == (554, b"Too many nonmail commands")
        with pytest.raises(smtplib.SMTPServerDisconnected):
            s.docmd("NOOP")


@pytest.mark.parametrize("running", ["exim-like"], indirect=True)
def test_exim_queue_id_and_texts(running: Sandbox) -> None:
    with client(running) as s:
        s.ehlo("me.example")
        assert s.docmd("MAIL FROM:<a@example.net>") == (250, b"OK")
        assert s.docmd("RCPT TO:<bob@exim.test>") == (250, b"Accepted")
        code, text = s.docmd("DATA")
        assert (code, text) == (354, b'Enter message, ending with "." on a line by itself')
        s.send(b"Subject: hi\r\n\r\nbody\r\n.\r\n")
        code, text = s.getreply()
        assert code == 250 and text.startswith(b"OK id=1")
    assert running.mailbox[-1].queue_id in text.decode()


def test_a_scenario_file_of_ones_own(tmp_path: Path, loop_thread: LoopThread) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(
        'name = "mine"\nimitates = "postfix"\ndomain = "mine.test"\nhostname = "mx.mine.test"\n'
        'banner = "ESMTP"\n[users]\nzed = "Zed"\n[credentials]\nuser = "zed"\npassword = "pw"\n'
    )
    sb = loop_thread.run(Sandbox.start(port=0, tls=False, scenario=load(str(path))))
    try:
        with client(sb) as s:
            s.ehlo("me")
            assert s.docmd("VRFY zed")[0] == 252
    finally:
        loop_thread.run(sb.stop())


_HEAD = 'name = "x"\ndomain = "d"\nhostname = "h"\nbanner = "b"\n'


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("name = 1", "'name' must be a non-empty string"),
        ('name = "x"\nbogus = 1', "unknown key bogus"),
        (f'{_HEAD}[policy]\nvrfy = "maybe"', "policy.vrfy must be one of on, off, needs-domain"),
        (f'{_HEAD}imitates = "qmail"', "'imitates' must be one of postfix, exim"),
        ('name = "x"\ndomain = "d"\nhostname = "h"\nbanner = "b"\n[limits]\nhard_errors = -1',
         "limits.hard_errors must be a non-negative"),
        ('name = "x"\ndomain = "d"\nhostname = "h"\nbanner = "a\\u001b[31m"',
         "'banner' contains a control character"),
        ("name = [", "not valid TOML"),
    ],
)
def test_bad_scenario_files_are_one_line(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as err:
        load(str(path))
    message = str(err.value)
    assert problem in message and "\n" not in message


def test_unknown_scenario_names_the_shipped_ones() -> None:
    with pytest.raises(ScenarioError, match=r"no scenario named 'nope' \(there are: default, "):
        load("nope")


def test_from_mapping_defaults_every_policy() -> None:
    s = from_mapping(
        {"name": "x", "domain": "d.test", "hostname": "h", "banner": "ESMTP",
         "credentials": {"user": "u", "password": "p"}}
    )  # fmt: skip
    assert s.policy["vrfy"] == "on" and s.policy["relay"] == "closed" and s.imitates == "postfix"
