"""AUTH typed in a script (or at the prompt) by hand: what the lines after it are.

A line that is an SMTP command (QUIT, MAIL FROM:...) where the exchange waits for an answer
cancels the exchange ('*') and runs as a command: it was sent, masked, as the user name.
After an exchange ends refused, a script's next base64 lines are its answers, never sent
as commands (they went out in clear, shown, and into the transcript)."""

from __future__ import annotations

import base64
import socket
import threading
from pathlib import Path

import pytest

from tests.helpers.run import run_piped, smtpsh_env
from tests.helpers.scripted_server import read_line, scripted_server
from tests.helpers.tmux import Screen

USER = base64.b64encode(b"dave").decode()  # ZGF2ZQ==
PASSWORD = base64.b64encode(b"secret-dave-9").decode()


class AuthServer:
    """Offers AUTH LOGIN in clear (``refuse``: answers AUTH 503); records every line."""

    def __init__(self, *, refuse: bool = False, refuse_user: bool = False) -> None:
        self.refuse = refuse
        self.refuse_user = refuse_user
        self.lines: list[bytes] = []
        self.done = threading.Event()

    def _read(self, sock: socket.socket) -> bytes:
        line = read_line(sock)
        self.lines.append(line)
        return line

    def __call__(self, sock: socket.socket) -> None:
        sock.sendall(b"220 auth.test ESMTP\r\n")
        while line := self._read(sock):
            verb = line.split(b" ", 1)[0].strip().upper()
            if verb == b"EHLO":
                sock.sendall(b"250-auth.test\r\n250 AUTH LOGIN\r\n")
            elif verb == b"AUTH" and self.refuse:
                sock.sendall(b"503 5.5.1 Error: authentication not enabled\r\n")
            elif verb == b"AUTH":
                self._exchange(sock)
            elif verb == b"QUIT":
                sock.sendall(b"221 2.0.0 Bye\r\n")
                break
            elif verb == b"NOOP":
                sock.sendall(b"250 2.0.0 noop ok\r\n")
            else:
                sock.sendall(b"500 5.5.2 command not recognized\r\n")
        self.done.set()

    def _exchange(self, sock: socket.socket) -> None:
        for challenge in (b"VXNlcm5hbWU6", b"UGFzc3dvcmQ6"):  # Username:, Password:
            sock.sendall(b"334 " + challenge + b"\r\n")
            answer = self._read(sock).strip()
            if answer == b"*":
                sock.sendall(b"501 5.7.0 Authentication aborted\r\n")
                return
            if self.refuse_user:
                sock.sendall(b"535 5.7.8 Authentication credentials invalid\r\n")
                return
        sock.sendall(b"235 2.7.0 Authentication successful\r\n")


def piped(server: AuthServer, tmp_path: Path, *lines: str) -> str:
    transcript = tmp_path / "session.smtpt"
    with scripted_server(server) as port:
        done = run_piped([f"127.0.0.1:{port}", "--record", str(transcript)],
                         "\n".join(("EHLO me", *lines, "")), tmp_path)
        assert server.done.wait(10)
    out = done.stdout + done.stderr + transcript.read_text(encoding="utf-8")
    assert USER not in out and PASSWORD not in out  # never shown nor recorded
    return out


def test_a_quit_after_auth_login_quits_instead_of_going_as_the_user_name(
    tmp_path: Path,
) -> None:
    server = AuthServer()
    out = piped(server, tmp_path, "AUTH LOGIN", "QUIT", "NOOP")
    assert server.lines[1:] == [b"AUTH LOGIN\r\n", b"*\r\n", b"QUIT\r\n"]
    assert ("! QUIT is a command, not the answer the server's 334 asks for: the AUTH"
            " exchange is cancelled first ('*', RFC 4954 §4)") in out
    assert "C: *" in out and "C: QUIT" in out


def test_a_command_after_the_user_name_cancels_too(tmp_path: Path) -> None:
    server = AuthServer()
    piped(server, tmp_path, "AUTH LOGIN", USER, "MAIL FROM:<a@b.test>", "QUIT")
    assert server.lines[1:4] == [b"AUTH LOGIN\r\n", f"{USER}\r\n".encode(), b"*\r\n"]
    assert b"MAIL FROM:<a@b.test>\r\n" in server.lines


def test_base64_answers_still_answer(tmp_path: Path) -> None:
    server = AuthServer()
    out = piped(server, tmp_path, "AUTH LOGIN", USER, PASSWORD, "QUIT")
    assert server.lines[1:] == [b"AUTH LOGIN\r\n", f"{USER}\r\n".encode(),
                                f"{PASSWORD}\r\n".encode(), b"QUIT\r\n"]
    assert "235 2.7.0 Authentication successful" in out
    assert out.count("C: ********") == 4  # two answers, in the dialogue and the transcript


@pytest.mark.parametrize("refusal", ["refuse", "refuse_user"])
def test_answers_after_a_refused_auth_are_never_sent_as_commands(
    tmp_path: Path, refusal: str
) -> None:
    server = AuthServer(**{refusal: True})
    out = piped(server, tmp_path, "AUTH LOGIN", USER, PASSWORD, "NOOP", "QUIT")
    assert f"{PASSWORD}\r\n".encode() not in server.lines
    if refusal == "refuse":
        assert f"{USER}\r\n".encode() not in server.lines
    assert server.lines[-2:] == [b"NOOP\r\n", b"QUIT\r\n"]  # the script goes on
    assert out.count("AUTH is over (refused): the script's next lines that look like its"
                     " answers (base64, not commands) are skipped, never sent as commands") == 1


def test_a_script_ending_inside_the_exchange_cancels_it_before_quit(tmp_path: Path) -> None:
    # The QUIT smtpsh sends at the end of a script went, masked, as the user name.
    server = AuthServer()
    with scripted_server(server) as port:
        done = run_piped([f"127.0.0.1:{port}"], "EHLO me\nAUTH LOGIN\n", tmp_path)
        assert server.done.wait(10)
    assert server.lines[1:] == [b"AUTH LOGIN\r\n", b"*\r\n", b"QUIT\r\n"]
    assert "leaving in the middle of AUTH: the exchange is cancelled first ('*')" in done.stdout
    assert done.returncode == 0  # it ended with smtpsh's QUIT


@pytest.mark.pty
@pytest.mark.parametrize(
    ("typed", "said"),
    [("QUIT", "QUIT is a command, not the answer the server's 334 asks for"),
     ("/quit", "leaving in the middle of AUTH: the exchange is cancelled first ('*')")],
)
def test_quit_at_the_auth_prompt_cancels_the_exchange_then_quits(
    tmp_path: Path, screens: list[Screen], typed: str, said: str
) -> None:
    server = AuthServer()
    with scripted_server(server) as port:
        shell = Screen([f"127.0.0.1:{port}"], smtpsh_env(tmp_path))
        screens.append(shell)
        shell.wait_for("220 auth.test")
        shell.line("EHLO me")
        shell.wait_for("250 AUTH LOGIN")
        shell.line("AUTH LOGIN")
        shell.wait_for("334 VXNlcm5hbWU6")
        shell.line(typed)
        shell.wait_words(said)
        if typed == "QUIT":
            shell.wait_for("221 2.0.0 Bye")
            shell.line("/quit")
        assert shell.exit_status() == 0
        assert server.done.wait(10)
    assert server.lines[1:] == [b"AUTH LOGIN\r\n", b"*\r\n", b"QUIT\r\n"]
