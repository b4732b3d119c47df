"""Secrets: every byte smtpsh wrote during sessions with AUTH — the screen, piped output,
the history file, the transcript, anything under HOME, error messages — is searched for
the password, the base64 of \\0user\\0password (and of the password alone, as LOGIN sends
it) and the XOAUTH2 token: none may be found. History and transcript files are 0600.
"""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.run import smtpsh_env
from tests.helpers.scripted_server import scripted_server
from tests.helpers.tmux import Screen
from tests.hostile.drivers import Terminal, assert_no_traceback
from tests.hostile.servers import Act, Peer, serve

USER = "alice"
PASSWORD = "S3cr3t-pa55-q7Zx"
TOKEN = "ya29.a0-tok3n-V4lu3-9f8e7d"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


PLAIN = b64(f"\0{USER}\0{PASSWORD}")
XOAUTH2 = b64(f"user={USER}\x01auth=Bearer {TOKEN}\x01\x01")
NEEDLES = {
    "password": PASSWORD,
    "token": TOKEN,
    "PLAIN response": PLAIN,
    "PLAIN response without the leading NUL": b64(f"{USER}\0{PASSWORD}"),
    "LOGIN password": b64(PASSWORD),
    "XOAUTH2 response": XOAUTH2,
}
EHLO_AUTH = b"250-hostile.test\r\n250-AUTH PLAIN LOGIN XOAUTH2\r\n250 8BITMIME\r\n"


def auth_act(fail_xoauth2: bool = False, drop_after: bytes = b"") -> Act:
    """AUTH as a server does it: 334 challenges until the credentials are in."""

    def act(peer: Peer) -> bool:
        words = peer.last.decode().split()
        mech = words[1].upper() if len(words) > 1 else ""
        if mech == "LOGIN":
            peer.send(b"334 VXNlcm5hbWU6\r\n")
            peer.line()
            peer.send(b"334 UGFzc3dvcmQ6\r\n")
            response = peer.line()
        elif len(words) > 2:
            response = words[2].encode()
        else:
            peer.send(b"334 \r\n")
            response = peer.line()
        if drop_after and drop_after in response:
            peer.reset()  # the connection dies with the credentials just sent
            return False
        if mech == "XOAUTH2" and fail_xoauth2:
            peer.send(b"334 " + b64('{"status":"401","schemes":"bearer"}').encode() + b"\r\n")
            peer.line()
            peer.send(b"535 5.7.8 Username and Password not accepted\r\n")
            return True
        peer.send(b"235 2.7.0 Authentication successful\r\n")
        return True

    return act


def server(**kwargs: bool | bytes) -> dict[bytes, Act]:
    def ehlo(peer: Peer) -> bool:
        peer.send(EHLO_AUTH)
        return True

    return {b"EHLO": ehlo, b"AUTH": auth_act(**kwargs)}  # type: ignore[arg-type]


def leaks(label: str, data: bytes) -> list[str]:
    text = data.decode("utf-8", "replace")
    return [f"{name} in {label}" for name, needle in NEEDLES.items() if needle in text]


def written_under(home: Path) -> list[str]:
    found = []
    for path in home.rglob("*"):
        if path.is_file():
            found += leaks(str(path), path.read_bytes())
    return found


def assert_private(path: Path) -> None:
    assert path.exists(), path
    assert path.stat().st_mode & 0o777 == 0o600, oct(path.stat().st_mode)


def test_nothing_secret_in_a_shell_session(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    transcript = home / "session.smtpt"
    env = smtpsh_env(home)
    env["SMTPSH_TEST_SECRET"] = PASSWORD
    with scripted_server(serve(server())) as port:
        args = [f"127.0.0.1:{port}", "--record", str(transcript), "--user", USER,
                "--password-env", "SMTPSH_TEST_SECRET", "--insecure-auth"]
        screen = Screen(args, env)
        try:
            term = Terminal(screen)
            term.wait_prompt(0, 15)
            term.enter("EHLO me.test", 10)
            for mech in ("PLAIN", "LOGIN"):
                term.enter(f"/auth {mech}", 10)
                term.wait_regex(f"authenticated as {USER} with {mech}", 5)
            # Typed by hand: an initial response, then a LOGIN exchange line by line.
            term.enter(f"AUTH PLAIN {PLAIN}", 10)
            term.enter("AUTH LOGIN", 10)
            term.enter(b64(USER), 10)
            term.enter(b64(PASSWORD), 10)
            shown = screen.history()
            assert shown.count("235 2.7.0 Authentication successful") == 4, shown
            assert_no_traceback(shown)
            screen.line("/quit")
            assert screen.exit_status() == 0
            shown = screen.history()
        finally:
            screen.close()
    found = leaks("the screen", shown.encode()) + written_under(home)
    assert not found, found
    assert_private(home / "state" / "smtpsh" / "history")
    assert_private(transcript)
    assert "AUTH PLAIN ********" in transcript.read_text()


@pytest.mark.parametrize("fail", ["xoauth2-refused", "connection-dies"])
def test_nothing_secret_in_piped_sessions_and_errors(tmp_path: Path, fail: str) -> None:
    home = tmp_path / "home"
    home.mkdir()
    transcript = home / "piped.smtpt"
    env = smtpsh_env(home)
    env["SMTPSH_TEST_TOKEN"] = TOKEN
    behaviour = (
        {"fail_xoauth2": True} if fail == "xoauth2-refused" else {"drop_after": PLAIN.encode()}
    )
    script = (
        "EHLO me.test\n/auth XOAUTH2\nAUTH LOGIN\n"
        f"{b64(USER)}\n{b64(PASSWORD)}\nAUTH PLAIN {PLAIN}\nNOOP\nQUIT\n"
    )
    wire: list[bytes] = []
    with scripted_server(serve(server(**behaviour), received=wire)) as port:
        result = subprocess.run(
            [sys.executable, "-m", "smtpsh", f"127.0.0.1:{port}", "--record", str(transcript),
             "--user", USER, "--password-env", "SMTPSH_TEST_TOKEN", "--insecure-auth"],
            input=script.encode(),
            capture_output=True,
            timeout=30,
            env=env,
        )
    out = result.stdout.decode()
    assert_no_traceback(out + result.stderr.decode())
    if fail == "xoauth2-refused":
        assert "535 5.7.8" in out and "235 2.7.0" in out
    else:
        assert "the server reset the connection" in out
    found = (
        leaks("stdout", result.stdout) + leaks("stderr", result.stderr) + written_under(home)
    )
    assert not found, found
    assert_private(transcript)
    # The search looks for the right strings: the server did receive the PLAIN response.
    assert "PLAIN response in the wire" in leaks("the wire", b"".join(wire))
