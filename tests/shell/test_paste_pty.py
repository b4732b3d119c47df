"""A paste of several lines at the prompt of a real terminal (tmux, bracketed paste on, as
prompt_toolkit asks for it): each line runs as if typed and entered in turn, as telnet
sends a pasted dialogue, with a typed line's checks, and a refused DATA, AUTH or BDAT
keeps the paste's next lines from running as commands, as it does a script's."""

from __future__ import annotations

import re
import socket
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, cast

import pytest

from tests.helpers.run import smtpsh_env
from tests.helpers.scripted_server import read_line, scripted_server
from tests.helpers.tmux import Screen

if TYPE_CHECKING:
    from tests.conftest import PostfixEnv

pytestmark = pytest.mark.pty

EHLO_REPLY = b"250-test.example\r\n250-PIPELINING\r\n250-AUTH LOGIN\r\n250 8BITMIME\r\n"


class Recording:
    """A server (no CHUNKING) that writes down every line it is sent; ``replies`` answers a
    verb otherwise than '250 2.0.0 ok'. After a 354 it reads a message up to '.'."""

    def __init__(self, replies: dict[bytes, list[bytes]] | None = None) -> None:
        self.replies = {verb: list(answers) for verb, answers in (replies or {}).items()}
        self.lines: list[bytes] = []
        self.done = threading.Event()

    def __call__(self, sock: socket.socket) -> None:
        sock.sendall(b"220 test.example ESMTP\r\n")
        in_data = False
        pending: list[bytes] = []  # the 334s still to send to an AUTH exchange's answers
        while line := read_line(sock):
            self.lines.append(line)
            if in_data:
                if line == b".\r\n":
                    in_data = False
                    sock.sendall(b"250 2.0.0 queued as TESTQ1\r\n")
                continue
            if pending:
                sock.sendall(pending.pop(0))
                continue
            verb = line.split(b" ", 1)[0].split(b":", 1)[0].strip().upper()
            if verb == b"EHLO":
                sock.sendall(EHLO_REPLY)
            elif verb == b"QUIT":
                sock.sendall(b"221 2.0.0 bye\r\n")
                break
            elif verb == b"NOOP":
                sock.sendall(b"250 2.0.0 noop ok\r\n")
            elif verb == b"RSET":
                sock.sendall(b"250 2.0.0 rset ok\r\n")
            elif verb in self.replies:
                first, *pending = self.replies[verb]
                sock.sendall(first)
                in_data = verb == b"DATA" and first.startswith(b"354")
            elif verb == b"DATA":
                sock.sendall(b"354 go ahead\r\n")
                in_data = True
            elif verb in (b"MAIL", b"RCPT"):
                sock.sendall(b"250 2.0.0 ok\r\n")
            else:
                sock.sendall(b"500 5.5.2 command not recognized\r\n")
        self.done.set()


def open_screen(screens: list[Screen], port: int, home: Path) -> Screen:
    shell = Screen([f"127.0.0.1:{port}"], smtpsh_env(home))
    screens.append(shell)
    shell.wait_for("220 test.example")
    # The prompt drawn: prompt_toolkit has asked for bracketed paste (a paste before it
    # arrives unbracketed, keys typed ahead).
    shell.wait_for(f"127.0.0.1:{port}›")
    return shell


def history_entries(home: Path) -> list[list[str]]:
    """The history file's entries, each as its lines ('# date', then '+line' each)."""
    text = (home / "state" / "smtpsh" / "history").read_text()
    entries: list[list[str]] = []
    for row in text.splitlines():
        if row.startswith("#"):
            entries.append([])
        elif row.startswith("+") and entries:
            entries[-1].append(row[1:])
    return entries


def test_a_pasted_dialogue_runs_line_by_line_as_typed(
    postfix: PostfixEnv, tmp_path: Path, screens: list[Screen]
) -> None:
    # The dialogue as a tutorial shows it, copied with CRLF line endings and a final line
    # break: the whole paste was one line refused for its LF, now each line runs in turn,
    # the message lines in DATA mode, and the mail arrives.
    target = f"{postfix.host}:{postfix.port('smtp')}"
    shell = Screen([target], smtpsh_env(tmp_path))
    screens.append(shell)
    shell.wait_for(f"220 {postfix.banner}")
    shell.wait_for(f"{target}›")
    dialogue = [
        "EHLO paste.smtpsh.test",
        "MAIL FROM:<tester@smtpsh.test>",
        "RCPT TO:<alice@smtpsh.test>",
        "DATA",
        "Subject: pasted",
        "",
        "paste-marker-6617",
        ".",
        "QUIT",
    ]
    shell.paste_bracketed("\r\n".join(dialogue) + "\r\n")
    screen = shell.wait_for("221 2.0.0 Bye")
    assert "control character" not in screen
    # Each line shown after its prompt, as typed: the message lines at DATA's.
    assert f"{target}› RCPT TO:<alice@smtpsh.test>" in screen
    assert "data› paste-marker-6617" in screen
    assert "queued as" in screen
    assert "paste-marker-6617" in postfix.wait_for_mail("alice", "paste-marker-6617")
    # Up brings back the last command pasted, a line of its own.
    shell.keys("Up")
    shell.wait_for("(closed)› QUIT")
    shell.keys("C-u")
    shell.line("/quit")
    assert shell.exit_status() == 0
    entries = history_entries(tmp_path)
    assert [e for e in entries if len(e) != 1] == []  # one line an entry, none empty
    kept = [e[0] for e in entries]
    assert kept == [dialogue[0], dialogue[1], dialogue[2], "DATA", "QUIT", "/quit"]


def test_a_paste_after_a_refused_data_never_runs_its_message_lines(
    tmp_path: Path, screens: list[Screen]
) -> None:
    # DATA refused: the pasted message lines would run as commands (a recipient smuggled
    # in, a QUIT); they are skipped up to '.', as a script's, and the line after runs.
    server = Recording({b"DATA": [b"554 5.5.1 no valid recipients\r\n"]})
    with scripted_server(server) as port:
        shell = open_screen(screens, port, tmp_path)
        shell.paste_bracketed(
            "MAIL FROM:<a@x.y>\nDATA\nRCPT TO:<smuggled@x.y>\nQUIT\n.\nNOOP\n"
        )
        shell.wait_words("DATA was refused: the pasted message lines up to '.' are skipped")
        screen = shell.wait_for("250 2.0.0 noop ok")
        assert "› RCPT TO:<smuggled@x.y>" not in screen  # skipped: not shown as if run
        # The paste is over: a line typed now is a command, not a skipped message line.
        shell.line("RSET")
        shell.wait_for("250 2.0.0 rset ok")
        shell.line("QUIT")
        shell.wait_for("221 2.0.0 bye")
        shell.line("/quit")
        assert shell.exit_status() == 0
        assert server.done.wait(10)
    assert server.lines == [
        b"MAIL FROM:<a@x.y>\r\n", b"DATA\r\n", b"NOOP\r\n", b"RSET\r\n", b"QUIT\r\n"
    ]
    assert "smuggled" not in (tmp_path / "state" / "smtpsh" / "history").read_text()


def test_a_refused_pasted_line_is_refused_alone_and_slash_commands_run(
    tmp_path: Path, screens: list[Screen]
) -> None:
    # A line with an ESC is refused as a typed one is (never sent); the lines around it,
    # a /command among them, run.
    server = Recording()
    with scripted_server(server) as port:
        shell = open_screen(screens, port, tmp_path)
        shell.paste_bracketed("NOOP\nVRFY a\x1b[31mb\n/timing on\nRSET\n")
        shell.wait_words("refused: the line has a ESC control character at column 7")
        shell.wait_for("timing on: each annotation ends with +N ms")
        shell.wait_for("250 2.0.0 rset ok")
        shell.line("QUIT")
        shell.wait_for("221 2.0.0 bye")
        shell.line("/quit")
        assert shell.exit_status() == 0
        assert server.done.wait(10)
    assert server.lines == [b"NOOP\r\n", b"RSET\r\n", b"QUIT\r\n"]


def test_a_bracketed_paste_with_a_bdat_not_sent_drops_its_chunk(
    tmp_path: Path, screens: list[Screen]
) -> None:
    # The server offers no CHUNKING: the BDAT is not sent and the chunk's 24 octets
    # pasted after it ("RCPT TO:<smuggled@x.y>" and CRLF) are dropped, not run; the
    # pasted line after them runs.
    server = Recording()
    with scripted_server(server) as port:
        shell = open_screen(screens, port, tmp_path)
        shell.paste_bracketed(
            "EHLO me\nMAIL FROM:<a@x.y>\nRCPT TO:<b@x.y>\nBDAT 24 LAST\n"
            "RCPT TO:<smuggled@x.y>\nNOOP\n"
        )
        shell.wait_words("BDAT was not sent: the 24 octets pasted after it were dropped, not"
                         " run as commands")
        shell.wait_for("250 2.0.0 noop ok")
        shell.line("QUIT")
        shell.wait_for("221 2.0.0 bye")
        shell.line("/quit")
        assert shell.exit_status() == 0
        assert server.done.wait(10)
    sent = b"".join(server.lines)
    assert b"BDAT" not in sent and b"smuggled" not in sent
    assert server.lines[-2:] == [b"NOOP\r\n", b"QUIT\r\n"]


def test_a_paste_stops_where_the_connection_is_closed(
    tmp_path: Path, screens: list[Screen]
) -> None:
    server = Recording()
    with scripted_server(server) as port:
        shell = open_screen(screens, port, tmp_path)
        shell.paste_bracketed("NOOP\nQUIT\nRSET\nNOOP\n")
        shell.wait_words("not sent (connection closed): RSET")
        shell.wait_words("the connection is closed: the 1 pasted line after it was not run")
        shell.line("/quit")
        assert shell.exit_status() == 0
        assert server.done.wait(10)
    assert server.lines == [b"NOOP\r\n", b"QUIT\r\n"]


def test_what_follows_the_last_line_break_waits_at_the_prompt(
    tmp_path: Path, screens: list[Screen]
) -> None:
    # Pasted lines are entered; the text after the last line break is not: it waits at
    # the prompt, as typed text does, until Enter. A paste of one line without a line
    # break is only text at the prompt, as before.
    server = Recording()
    with scripted_server(server) as port:
        shell = open_screen(screens, port, tmp_path)
        shell.paste_bracketed("NOOP\nRSET")
        shell.wait_for("250 2.0.0 noop ok")
        shell.wait_for("127.0.0.1:" + str(port) + "› RSET")
        assert "rset ok" not in shell.text()
        shell.keys("Enter")
        shell.wait_for("250 2.0.0 rset ok")
        shell.paste_bracketed("NOOP")
        shell.wait_for(f"127.0.0.1:{port}› NOOP")
        assert shell.text().count("noop ok") == 1
        shell.keys("C-u")
        shell.line("QUIT")
        shell.wait_for("221 2.0.0 bye")
        shell.line("/quit")
        assert shell.exit_status() == 0
        assert server.done.wait(10)
    assert server.lines == [b"NOOP\r\n", b"RSET\r\n", b"QUIT\r\n"]


def test_pasted_auth_answers_are_masked_and_never_in_history(
    tmp_path: Path, screens: list[Screen]
) -> None:
    server = Recording(
        {b"AUTH": [b"334 VXNlcm5hbWU6\r\n", b"334 UGFzc3dvcmQ6\r\n", b"235 2.7.0 ok\r\n"]}
    )
    with scripted_server(server) as port:
        shell = open_screen(screens, port, tmp_path)
        shell.paste_bracketed("AUTH LOGIN\ndXNlcg==\nc2VjcmV0LTQ0MTc=\nNOOP\n")
        shell.wait_for("250 2.0.0 noop ok")
        screen = shell.history()
        assert "c2VjcmV0LTQ0MTc=" not in screen and "dXNlcg==" not in screen
        assert "› ********" in screen  # each answer shown masked after its prompt
        shell.line("QUIT")
        shell.wait_for("221 2.0.0 bye")
        shell.line("/quit")
        assert shell.exit_status() == 0
        assert server.done.wait(10)
    assert b"c2VjcmV0LTQ0MTc=\r\n" in server.lines  # sent, as answers
    history = (tmp_path / "state" / "smtpsh" / "history").read_text()
    assert "c2VjcmV0LTQ0MTc=" not in history and "dXNlcg==" not in history
    assert "+AUTH LOGIN" in history and "+NOOP" in history


def test_pasted_answers_to_a_refused_auth_are_not_sent_as_commands(
    tmp_path: Path, screens: list[Screen]
) -> None:
    # AUTH refused at once: the base64 lines pasted as its answers would go out as
    # commands, credentials in clear. They are skipped, as a script's are.
    server = Recording({b"AUTH": [b"504 5.5.4 mechanism not supported\r\n"]})
    with scripted_server(server) as port:
        shell = open_screen(screens, port, tmp_path)
        shell.paste_bracketed("AUTH LOGIN\ndXNlcg==\nc2VjcmV0LTQ0MTc=\nNOOP\n")
        shell.wait_words("AUTH is over (refused): the next pasted lines that look like its"
                         " answers (base64, not commands) are skipped")
        shell.wait_for("250 2.0.0 noop ok")
        shell.line("QUIT")
        shell.wait_for("221 2.0.0 bye")
        shell.line("/quit")
        assert shell.exit_status() == 0
        assert server.done.wait(10)
    assert server.lines == [b"AUTH LOGIN\r\n", b"NOOP\r\n", b"QUIT\r\n"]
    history = (tmp_path / "state" / "smtpsh" / "history").read_text()
    assert "c2VjcmV0LTQ0MTc=" not in history


def test_lines_pasted_unbracketed_after_a_refused_data_are_skipped_too(
    tmp_path: Path, screens: list[Screen]
) -> None:
    # A terminal without bracketed paste sends the lines as keys typed ahead: each runs
    # as typed, but they too were written before DATA's refusal was seen. The message
    # lines ran as commands (the smuggled recipient, a QUIT).
    server = Recording({b"DATA": [b"554 5.5.1 no valid recipients\r\n"]})
    with scripted_server(server) as port:
        shell = open_screen(screens, port, tmp_path)
        shell.paste("MAIL FROM:<a@x.y>\nDATA\nRCPT TO:<smuggled@x.y>\nQUIT\n.\nNOOP\n")
        shell.wait_words("DATA was refused: the pasted message lines up to '.' are skipped")
        shell.wait_for("250 2.0.0 noop ok")
        shell.line("RSET")  # typed after the paste: a command again
        shell.wait_for("250 2.0.0 rset ok")
        shell.line("QUIT")
        shell.wait_for("221 2.0.0 bye")
        shell.line("/quit")
        assert shell.exit_status() == 0
        assert server.done.wait(10)
    assert server.lines == [
        b"MAIL FROM:<a@x.y>\r\n", b"DATA\r\n", b"NOOP\r\n", b"RSET\r\n", b"QUIT\r\n"
    ]
    assert "smuggled" not in (tmp_path / "state" / "smtpsh" / "history").read_text()


def test_a_message_body_pasted_at_the_data_prompt_is_the_message(
    tmp_path: Path, screens: list[Screen]
) -> None:
    # DATA typed, then the message pasted at data›: its lines (the blank one between the
    # headers and the body too) are the message's, ended by its '.'.
    server = Recording()
    with scripted_server(server) as port:
        shell = open_screen(screens, port, tmp_path)
        for line in ("MAIL FROM:<a@x.y>", "RCPT TO:<b@x.y>", "DATA"):
            shell.line(line)
        shell.wait_for("data›")
        shell.paste_bracketed("Subject: pasted\r\n\r\nline one\r\n.hidden dot\r\n.\r\n")
        screen = shell.wait_for("250 2.0.0 queued as TESTQ1")
        assert "data› line one" in screen
        shell.line("QUIT")
        shell.wait_for("221 2.0.0 bye")
        shell.line("/quit")
        assert shell.exit_status() == 0
        assert server.done.wait(10)
    assert server.lines[3:8] == [
        b"Subject: pasted\r\n", b"\r\n", b"line one\r\n", b"..hidden dot\r\n", b".\r\n"
    ]


def test_ctrl_c_stops_the_rest_of_a_paste(tmp_path: Path, screens: list[Screen]) -> None:
    # The server never answers VRFY: Ctrl-C stops waiting, and the lines pasted after it
    # are not run either.
    server = Recording({b"VRFY": [b""]})
    with scripted_server(server) as port:
        shell = open_screen(screens, port, tmp_path)
        shell.paste_bracketed("VRFY someone\nRSET\nNOOP\n")
        deadline = time.monotonic() + 20
        while b"VRFY someone\r\n" not in server.lines and time.monotonic() < deadline:
            time.sleep(0.05)
        shell.keys("C-c")
        shell.wait_words("interrupted: the 2 pasted lines after it were not run")
        shell.line("/quit")
        shell.exit_status()
    assert b"RSET\r\n" not in server.lines and b"NOOP\r\n" not in server.lines


class SlowReplies:
    """A socket whose every reply is sent late: a paste's lines are still running when
    the test pastes again."""

    def __init__(self, sock: socket.socket, delay: float) -> None:
        self._sock = sock
        self._delay = delay

    def sendall(self, data: bytes) -> None:
        time.sleep(self._delay)
        self._sock.sendall(data)

    def __getattr__(self, name: str) -> object:
        return getattr(self._sock, name)


def test_a_second_paste_while_the_first_runs_comes_after_it(
    tmp_path: Path, screens: list[Screen]
) -> None:
    # Pasted again while the first paste's lines still wait for their replies: the second
    # paste's lines run after the first's, in order, each once; the first paste's text
    # after its last line break ('NOO') and the second's first line ('P 5') are one line,
    # as typed text and a paste at the prompt are.
    server = Recording()

    def slow(sock: socket.socket) -> None:
        server(cast(socket.socket, SlowReplies(sock, 0.3)))

    with scripted_server(slow) as port:
        shell = open_screen(screens, port, tmp_path)
        shell.paste_bracketed("NOOP 1\nNOOP 2\nNOOP 3\nNOOP 4\nNOO")
        deadline = time.monotonic() + 20
        while b"NOOP 1\r\n" not in server.lines and time.monotonic() < deadline:
            time.sleep(0.02)
        assert b"NOOP 2\r\n" not in server.lines  # the first paste is still running
        shell.paste_bracketed("P 5\nRSET\nVRFY six\n")
        shell.wait_for("› VRFY six")
        screen = shell.wait_for("500 5.5.2 command not recognized")
        for n in range(1, 6):
            assert screen.count(f"› NOOP {n}") == 1
        assert screen.count("› RSET") == 1
        shell.line("QUIT")
        shell.wait_for("221 2.0.0 bye")
        shell.line("/quit")
        assert shell.exit_status() == 0
        assert server.done.wait(10)
    assert server.lines == [
        *(f"NOOP {n}\r\n".encode() for n in range(1, 6)), b"RSET\r\n", b"VRFY six\r\n",
        b"QUIT\r\n",
    ]


def test_every_pasted_line_is_coloured_as_typed(tmp_path: Path, screens: list[Screen]) -> None:
    # The first line of a paste is entered at the prompt and drawn by its lexer; the
    # others were printed after their prompts without colour.
    server = Recording()
    with scripted_server(server) as port:
        shell = open_screen(screens, port, tmp_path)
        shell.paste_bracketed("NOOP\nRSET\nMAIL FROM:<a@x.y>\n")
        shell.wait_for("250 2.0.0 ok")
        styled = shell.styled()
        shell.line("QUIT")
        shell.wait_for("221 2.0.0 bye")
        shell.line("/quit")
        assert shell.exit_status() == 0

    def colour_of(verb: str) -> str:
        """The escape sequences just before ``verb`` on its echoed line."""
        for row in styled.splitlines():
            found = re.search(r"›(?:\x1b\[[0-9;]*m)* ((?:\x1b\[[0-9;]*m)*)" + verb, row)
            if found:
                return found.group(1)
        raise AssertionError(f"{verb} not echoed:\n{styled}")

    keyword = colour_of("NOOP")  # entered at the prompt, drawn by its lexer
    assert keyword  # coloured at all
    assert colour_of("RSET") == keyword
    assert colour_of("MAIL") == keyword
