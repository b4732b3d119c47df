"""A paste at a question a command asks (/auth's user name and password, /compose's
questions), in a real terminal (tmux, bracketed paste): an answer is one line. The first
pasted line answers the question, the next lines answer the next questions, then run at
the prompt as commands, in order, as the lines of a paste at the prompt do; a pasted line
break never lands inside an answer (a password, a header) nor a command sent."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from tests.helpers.run import smtpsh_env
from tests.helpers.scripted_server import scripted_server
from tests.helpers.tmux import Screen
from tests.shell.test_paste_pty import Recording

pytestmark = pytest.mark.pty

SECRET = "sec-ret-5521"
AUTH_LOGIN = {b"AUTH": [b"334 VXNlcm5hbWU6\r\n", b"334 UGFzc3dvcmQ6\r\n", b"235 2.7.0 ok\r\n"]}


def b64(text: str) -> bytes:
    return base64.b64encode(text.encode()) + b"\r\n"


def open_shell(screens: list[Screen], port: int, home: Path, *flags: str) -> Screen:
    shell = Screen([f"127.0.0.1:{port}", *flags], smtpsh_env(home))
    screens.append(shell)
    shell.wait_for("220 test.example")
    shell.wait_for(f"127.0.0.1:{port}›")  # drawn: bracketed paste asked for
    return shell


def quit_shell(shell: Screen) -> None:
    shell.line("QUIT")
    shell.wait_for("221 2.0.0 bye")
    shell.line("/quit")
    assert shell.exit_status() == 0


def never_shown_nor_kept(shell: Screen, home: Path, secret: str) -> None:
    assert secret not in shell.history()
    assert secret not in (home / "state" / "smtpsh" / "history").read_text()


def test_a_multi_line_paste_at_the_password_question(
    tmp_path: Path, screens: list[Screen]
) -> None:
    # The password was the whole paste, its LFs and the QUIT typed after it inside:
    # 'sec-ret\nNOOP\nRSET\nQUIT' went out as the credential. Now the first line is the
    # password, shown masked, and the next lines run as commands after /auth.
    server = Recording(AUTH_LOGIN)
    with scripted_server(server) as port:
        shell = open_shell(screens, port, tmp_path, "--insecure-auth")
        shell.line("EHLO me")
        shell.wait_for("250 8BITMIME")
        shell.line("/auth LOGIN alice")
        shell.wait_for("Password for alice (hidden):")
        shell.paste_bracketed(f"{SECRET}\nNOOP\nRSET\n")
        shell.wait_for("authenticated as alice with LOGIN")
        shell.wait_for(f"127.0.0.1:{port}› NOOP")
        shell.wait_for("250 2.0.0 rset ok")
        assert "Password for alice (hidden): ********" in shell.text()
        quit_shell(shell)
        assert server.done.wait(10)
    never_shown_nor_kept(shell, tmp_path, SECRET)
    assert server.lines[1:] == [
        b"AUTH LOGIN\r\n", b64("alice"), b64(SECRET), b"NOOP\r\n", b"RSET\r\n", b"QUIT\r\n"
    ]


def test_lines_pasted_after_auth_answer_its_questions_in_order(
    tmp_path: Path, screens: list[Screen]
) -> None:
    # '/auth LOGIN', the user name and the password pasted at the prompt: they answer
    # /auth's questions (the password masked), and the line after them runs as a command.
    # The questions waited for the keyboard, and the pasted password went out after /auth
    # as a command, in clear, and into the history.
    server = Recording(AUTH_LOGIN)
    with scripted_server(server) as port:
        shell = open_shell(screens, port, tmp_path, "--insecure-auth")
        shell.paste_bracketed(f"EHLO me\n/auth LOGIN\nalice\n{SECRET}\nNOOP\nRSE")
        shell.wait_for("authenticated as alice with LOGIN")
        shell.wait_for("250 2.0.0 noop ok")
        screen = shell.wait_for(f"127.0.0.1:{port}› RSE")  # after the last break: waits
        assert "Username: alice" in screen
        assert "Password for alice (hidden): ********" in screen
        shell.type("T")
        shell.keys("Enter")
        shell.wait_for("250 2.0.0 rset ok")
        quit_shell(shell)
        assert server.done.wait(10)
    never_shown_nor_kept(shell, tmp_path, SECRET)
    assert server.lines[1:] == [
        b"AUTH LOGIN\r\n", b64("alice"), b64(SECRET), b"NOOP\r\n", b"RSET\r\n", b"QUIT\r\n"
    ]


def test_a_paste_does_not_agree_to_auth_in_clear(
    tmp_path: Path, screens: list[Screen]
) -> None:
    # Without TLS /auth asks first whether to send the password in clear: that is typed,
    # never a pasted line's answer (the password pasted next would have been it, shown).
    # Once 'y' is typed, the pasted lines answer the questions after it.
    server = Recording(AUTH_LOGIN)
    with scripted_server(server) as port:
        shell = open_shell(screens, port, tmp_path)
        shell.paste_bracketed(f"EHLO me\n/auth LOGIN alice\n{SECRET}\nNOOP\n")
        shell.wait_for("Send LOGIN anyway? [y/N]")
        assert "› NOOP" not in shell.text()
        shell.line("y")
        shell.wait_for("authenticated as alice with LOGIN")
        shell.wait_for("250 2.0.0 noop ok")
        quit_shell(shell)
        assert server.done.wait(10)
    never_shown_nor_kept(shell, tmp_path, SECRET)
    assert server.lines[1:] == [
        b"AUTH LOGIN\r\n", b64("alice"), b64(SECRET), b"NOOP\r\n", b"QUIT\r\n"
    ]


def test_the_lines_pasted_after_an_auth_that_failed_are_not_run(
    tmp_path: Path, screens: list[Screen]
) -> None:
    # Answered 'n' at the clear-text question: /auth asks nothing more, and the password
    # pasted for it must not run as a command (it went to the server, in clear).
    server = Recording(AUTH_LOGIN)
    with scripted_server(server) as port:
        shell = open_shell(screens, port, tmp_path)
        shell.paste_bracketed(f"EHLO me\n/auth LOGIN alice\n{SECRET}\nNOOP\n")
        shell.wait_for("Send LOGIN anyway? [y/N]")
        shell.line("n")
        shell.wait_words("/auth did not authenticate: the 2 pasted lines after it were not run")
        shell.line("RSET")
        shell.wait_for("250 2.0.0 rset ok")
        quit_shell(shell)
        assert server.done.wait(10)
    never_shown_nor_kept(shell, tmp_path, SECRET)
    assert server.lines[1:] == [b"RSET\r\n", b"QUIT\r\n"]


def test_compose_questions_answered_by_a_paste(tmp_path: Path, screens: list[Screen]) -> None:
    # /compose and its answers pasted at the prompt: Cc (none), the subject, the text up to
    # its '.', attachments (none), 'Send it?' yes; then the next line runs as a command.
    server = Recording()
    with scripted_server(server) as port:
        shell = open_shell(screens, port, tmp_path)
        shell.paste_bracketed(
            "/compose --from a@x.y --to b@x.y\n\nPasted subject 3114\nbody-marker-3114\n.\n"
            "\ny\nNOOP\n"
        )
        shell.wait_for("queued as TESTQ1")
        screen = shell.wait_for("250 2.0.0 noop ok")
        assert "Subject: Pasted subject 3114" in screen
        quit_shell(shell)
        assert server.done.wait(10)
    sent = b"".join(server.lines)
    assert b"Subject: Pasted subject 3114\r\n" in sent
    assert b"\r\nbody-marker-3114\r\n" in sent
    assert server.lines[-2:] == [b"NOOP\r\n", b"QUIT\r\n"]


def test_a_multi_line_paste_at_the_subject_question(
    tmp_path: Path, screens: list[Screen]
) -> None:
    # Pasted at 'Subject': the first line is the subject, the second the text's first line
    # (the next question's answer). The subject held the pasted LF.
    server = Recording()
    with scripted_server(server) as port:
        shell = open_shell(screens, port, tmp_path)
        shell.line("/compose --from a@x.y --to b@x.y")
        shell.wait_for("Cc:")
        shell.keys("Enter")
        shell.wait_for("Subject:")
        shell.paste_bracketed("First line 8810\nsecond-line-8810\n")
        shell.wait_for("│ second-line-8810")
        shell.line(".")
        shell.wait_for("Attachments")
        shell.keys("Enter")
        shell.wait_for("Send it?")
        shell.line("y")
        shell.wait_for("queued as TESTQ1")
        quit_shell(shell)
        assert server.done.wait(10)
    sent = b"".join(server.lines)
    assert b"Subject: First line 8810\r\n" in sent
    assert b"\r\nsecond-line-8810\r\n" in sent


def test_a_paste_at_the_text_of_compose_ends_at_its_dot(
    tmp_path: Path, screens: list[Screen]
) -> None:
    # Pasted at the text's prompt: its lines up to the pasted '.' are the text (the '.'
    # ends it as a typed one does), the lines after answer the questions after it, then
    # run as commands. The '.' stayed in the text and the lines after it too, waiting.
    server = Recording()
    with scripted_server(server) as port:
        shell = open_shell(screens, port, tmp_path)
        shell.line("/compose --from a@x.y --to b@x.y --subject pasted-text")
        shell.wait_for("Cc:")
        shell.keys("Enter")
        shell.wait_for("│")
        shell.paste_bracketed("text-one-4471\n\ntext-two-4471\n.\n\ny\nNOOP\n")
        shell.wait_for("queued as TESTQ1")
        shell.wait_for("250 2.0.0 noop ok")
        quit_shell(shell)
        assert server.done.wait(10)
    sent = b"".join(server.lines)
    assert b"\r\ntext-one-4471\r\n\r\ntext-two-4471\r\n.\r\n" in sent
    assert server.lines[-2:] == [b"NOOP\r\n", b"QUIT\r\n"]
