"""The interactive shell in a real terminal, as a person uses it.

tmux gives the screen as it is drawn (toolbar, completion menu); pexpect checks the
plain byte stream where that is enough.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pexpect
import pytest

from tests.helpers.run import smtpsh_env
from tests.helpers.scripted_server import read_line, scripted_server, smtp_like
from tests.helpers.tmux import Screen
from tests.shell.test_fit_pty import toolbar, wait_toolbar

if TYPE_CHECKING:
    from tests.conftest import PostfixEnv

pytestmark = pytest.mark.pty


@pytest.fixture
def screens(tmp_path: Path) -> Iterator[list[Screen]]:
    opened: list[Screen] = []
    yield opened
    for screen in opened:
        screen.close()


def open_screen(screens: list[Screen], args: list[str], home: Path) -> Screen:
    screen = Screen(args, smtpsh_env(home))
    screens.append(screen)
    return screen


def test_ehlo_completion_toolbar_and_ctrl_d(
    postfix: PostfixEnv, tmp_path: Path, screens: list[Screen]
) -> None:
    shell = open_screen(screens, [f"{postfix.host}:{postfix.port('smtp')}"], tmp_path)
    shell.wait_for(f"220 {postfix.banner}")
    shell.wait_for("↳ 220 service ready")
    shell.line("EHLO pty.smtpsh.test")
    screen = shell.wait_for("250 CHUNKING")
    assert "250-PIPELINING" in screen and "↳ 250 requested action completed" in screen
    shell.wait_for("ready │ next: /starttls, or MAIL FROM:<sender>")
    # Tab completes a verb; after the address, the parameters the server advertised.
    shell.type("MAI")
    # The menu shows while typing (computed in the background): Tab before it is drawn
    # raced it on a loaded machine. A person sees the menu, then presses Tab.
    shell.wait_for("start a mail transaction")
    shell.keys("Tab")
    shell.wait_for("› MAIL FROM:")
    shell.type("<tester@smtpsh.test> ")
    shell.keys("Tab")
    screen = shell.wait_for("SIZE=")
    assert "BODY=" in screen and "SMTPUTF8" in screen
    shell.keys("Escape")
    shell.keys("C-u")
    shell.line("MAIL FROM:<tester@smtpsh.test>")
    shell.wait_for("250 2.1.0 Ok")
    shell.wait_for("mail │ next: RCPT TO:<recipient>")
    # Ctrl-D sends QUIT and leaves with status 0.
    shell.keys("C-d")
    assert shell.exit_status() == 0
    history = tmp_path / "state" / "smtpsh" / "history"
    assert "+EHLO pty.smtpsh.test" in history.read_text()
    assert history.stat().st_mode & 0o777 == 0o600


def test_prediction_warns_before_sending(
    postfix: PostfixEnv, tmp_path: Path, screens: list[Screen]
) -> None:
    shell = open_screen(screens, [postfix.host], tmp_path)
    shell.wait_for("127.0.0.1:25›")
    shell.line("EHLO pty.smtpsh.test")
    shell.wait_for("250 CHUNKING")
    shell.type("RCPT TO:<robin@smtpsh.test>")
    shell.wait_for("⚠ expect 503 5.5.1 need MAIL before RCPT")
    shell.keys("Enter")
    screen = shell.wait_for("503 5.5.1 Error: need MAIL command")
    assert "! expect 503 5.5.1 need MAIL before RCPT" in screen  # said before it was sent
    shell.line("/quit")
    assert shell.exit_status() == 0


def test_data_mode_help_and_history(
    postfix: PostfixEnv, tmp_path: Path, screens: list[Screen]
) -> None:
    shell = open_screen(screens, [postfix.host], tmp_path)
    shell.wait_for("127.0.0.1:25›")
    shell.line("help rcpt")
    shell.wait_for("RCPT — ")
    shell.line("EHLO pty.smtpsh.test")
    shell.line("MAIL FROM:<tester@smtpsh.test>")
    shell.line("RCPT TO:<alice@smtpsh.test>")
    shell.wait_for("250 2.1.5 Ok")
    shell.line("DATA")
    shell.wait_for("data›")
    shell.line("Subject: from the pty")
    shell.line("")
    shell.line("pty-marker-5521")
    shell.line(".")
    shell.wait_for("queued as")
    shell.line("QUIT")
    shell.wait_for("(closed)›")
    shell.line("/quit")
    assert shell.exit_status() == 0
    assert "pty-marker-5521" in postfix.wait_for_mail("alice", "pty-marker-5521")
    history = (tmp_path / "state" / "smtpsh" / "history").read_text()
    assert "pty-marker-5521" not in history  # message lines are not history
    assert "+RCPT TO:<alice@smtpsh.test>" in history


def test_toolbar_queue_id_is_the_finished_transactions_only(
    postfix: PostfixEnv, tmp_path: Path, screens: list[Screen]
) -> None:
    shell = open_screen(screens, [postfix.host], tmp_path)
    shell.wait_for("127.0.0.1:25›")
    shell.line("EHLO pty.smtpsh.test")

    def send_one() -> str:
        for line in ("MAIL FROM:<tester@smtpsh.test>", "RCPT TO:<robin@smtpsh.test>", "DATA"):
            shell.line(line)
        shell.wait_for("data›")
        for line in ("Subject: queue id in the toolbar", "", "hi", "."):
            shell.line(line)
        row = wait_toolbar(shell, "ready (queued ")
        return row.split("(queued ", 1)[1].split(")", 1)[0]

    queued = send_one()
    shell.line("RSET")
    wait_toolbar(shell, "ready │ next:")
    assert "queued" not in toolbar(shell)
    shell.line("/status")
    shell.wait_for("state:   ready")
    assert f"queued:  {queued}" not in shell.text()
    queued = send_one()
    shell.line("MAIL FROM:<not an address>")  # refused: the user started over all the same
    shell.wait_for("501 5.1.7")
    wait_toolbar(shell, "ready │ next:")
    assert queued not in toolbar(shell)
    shell.line("/quit")
    assert shell.exit_status() == 0


def test_ctrl_d_in_data_abandons_the_message_and_exits_failed(
    postfix: PostfixEnv, tmp_path: Path, screens: list[Screen]
) -> None:
    # The message is not sent (no final dot; the connection is closed without QUIT, so
    # Postfix discards it): the exit table's "did not end with smtpsh's QUIT", status 4.
    # It was 0, as if all had gone well.
    mark = f"abandoned-{tmp_path.name}"
    shell = open_screen(screens, [postfix.host], tmp_path)
    shell.wait_for("127.0.0.1:25›")
    for line in ("EHLO pty.smtpsh.test", "MAIL FROM:<tester@smtpsh.test>",
                 "RCPT TO:<robin@smtpsh.test>", "DATA"):
        shell.line(line)
    shell.wait_for("data›")
    shell.line(f"Subject: {mark}")
    shell.keys("C-d")
    shell.wait_for("leaving in the middle of DATA: the message is abandoned")
    assert shell.exit_status() == 4
    box = postfix.mailbox("robin")
    assert not box.exists() or mark not in box.read_text(errors="replace")


def test_idle_close_is_shown_and_reconnect_works(tmp_path: Path, screens: list[Screen]) -> None:
    def handler(sock: socket.socket) -> None:
        sock.sendall(b"220 hostile.test ESMTP\r\n")
        if read_line(sock).startswith(b"NOOP"):
            sock.sendall(b"250 ok\r\n")
        sock.sendall(b"421 4.4.2 hostile.test closing: idle\r\n")

    with scripted_server(handler) as port:
        shell = open_screen(screens, [f"127.0.0.1:{port}"], tmp_path)
        shell.wait_for(f"127.0.0.1:{port}›")
        shell.line("NOOP")
        shell.wait_for("421 4.4.2 hostile.test closing: idle")
        shell.wait_for("(closed)›")
        shell.line("/reconnect")
        shell.wait_for("reconnecting")
        shell.line("/quit")
        assert shell.exit_status() == 0


def _hangs_up_after_ehlo(how: str) -> Callable[[socket.socket], None]:
    """A server that answers EHLO by closing: with a 421 first, or just hanging up."""

    def handler(sock: socket.socket) -> None:
        sock.sendall(b"220 hostile.test ESMTP\r\n")
        while line := read_line(sock):
            if line.upper().startswith(b"EHLO"):
                if how == "421":
                    sock.sendall(b"421 4.3.2 hostile.test closing the transmission channel\r\n")
                return
            sock.sendall(b"250 ok\r\n")

    return handler


@pytest.mark.parametrize("leave", ["/quit", "C-d"])
@pytest.mark.parametrize("how", ["421", "hang-up"])
def test_a_session_the_server_ended_exits_failed(
    how: str, leave: str, tmp_path: Path, screens: list[Screen]
) -> None:
    # The exit table's 'session' column: 4 when the session did not end with smtpsh's
    # QUIT, at the terminal as in a script (piped runs already exited 4). It was 0: a
    # caller of `smtpsh HOST` read "ok" from a session the server had cut off.
    with scripted_server(_hangs_up_after_ehlo(how)) as port:
        shell = open_screen(screens, [f"127.0.0.1:{port}"], tmp_path)
        shell.wait_for(f"127.0.0.1:{port}›")
        shell.line("EHLO pty.smtpsh.test")
        shell.wait_for("the server closed the connection")
        shell.wait_for("(closed)›")
        if leave == "/quit":
            shell.line("/quit")
        else:
            shell.keys("C-d")
        assert shell.exit_status() == 4


def test_a_refused_rcpt_typed_by_hand_still_exits_ok(
    tmp_path: Path, screens: list[Screen]
) -> None:
    # Not a failure in the exit table: the 550 is the server's answer to a line the user
    # typed, shown in the dialogue; the session ended with smtpsh's QUIT.
    replies = {b"RCPT": b"550 5.1.1 <nobody@hostile.test>: no such user\r\n"}
    with scripted_server(smtp_like(replies)) as port:
        shell = open_screen(screens, [f"127.0.0.1:{port}"], tmp_path)
        shell.wait_for(f"127.0.0.1:{port}›")
        for line in ("EHLO pty.smtpsh.test", "MAIL FROM:<a@smtpsh.test>",
                     "RCPT TO:<nobody@hostile.test>"):
            shell.line(line)
        shell.wait_for("550 5.1.1")
        shell.line("/quit")
        assert shell.exit_status() == 0


def test_pexpect_stream_banner_and_eof(postfix: PostfixEnv, tmp_path: Path) -> None:
    child = pexpect.spawn(
        sys.executable,
        ["-m", "smtpsh", postfix.host],
        env=smtpsh_env(tmp_path),
        dimensions=(40, 120),
        encoding="utf-8",
        timeout=15,
    )
    child.expect_exact(f"220 {postfix.banner}")
    child.expect_exact("›")
    child.sendline("NOOP")
    child.expect_exact("250 2.0.0 Ok")
    child.expect_exact("›")  # the prompt is back: Ctrl-D now reaches it
    child.sendcontrol("d")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
