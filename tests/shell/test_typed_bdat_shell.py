"""BDAT typed by hand (piped and in a terminal) where the server did not offer CHUNKING:
the line and its octets are not sent (the server would read the octets as commands),
unless /raw on forces it."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from tests.helpers.run import run_piped, smtpsh_env
from tests.helpers.scripted_server import read_line, scripted_server
from tests.helpers.tmux import Screen
from tests.interop.conftest import server_fixture

# 22 octets and the CRLF: exactly the chunk that BDAT 24 announces.
SMUGGLED = "RCPT TO:<smuggled@x.y>"
NO_CHUNKING = b"250-test.example\r\n250-PIPELINING\r\n250 8BITMIME\r\n"


class Recording:
    """A server that offers no CHUNKING and writes down every line it is sent."""

    def __init__(self) -> None:
        self.lines: list[bytes] = []
        self.done = threading.Event()

    def __call__(self, sock: socket.socket) -> None:
        sock.sendall(b"220 test.example ESMTP\r\n")
        while line := read_line(sock):
            self.lines.append(line)
            verb = line.split(b" ", 1)[0].split(b":", 1)[0].strip().upper()
            if verb == b"EHLO":
                sock.sendall(NO_CHUNKING)
            elif verb == b"QUIT":
                sock.sendall(b"221 2.0.0 bye\r\n")
                break
            elif verb == b"NOOP":
                sock.sendall(b"250 2.0.0 noop ok\r\n")
            elif verb in (b"MAIL", b"RCPT"):
                sock.sendall(b"250 2.0.0 ok\r\n")
            else:
                sock.sendall(b"500 5.5.2 command not recognized\r\n")
        self.done.set()


def script(*middle: str) -> str:
    return "\n".join(("EHLO me", "MAIL FROM:<a@x.y>", "RCPT TO:<b@x.y>", *middle, "QUIT", ""))


def test_piped_bdat_without_chunking_is_not_sent(tmp_path: Path) -> None:
    server = Recording()
    with scripted_server(server) as port:
        done = run_piped([f"127.0.0.1:{port}"], script("BDAT 24 LAST", SMUGGLED), tmp_path)
        assert server.done.wait(10)
    out = done.stdout + done.stderr
    assert (
        "BDAT not sent: the server did not advertise CHUNKING (RFC 3030), so it would read"
        " the chunk's 24 octets as commands; /raw on sends it anyway (the script's 24 octets"
        " after it are skipped)"
    ) in out
    sent = b"".join(server.lines)
    assert b"BDAT" not in sent and b"smuggled" not in sent  # neither the line nor its chunk
    assert server.lines[-1] == b"QUIT\r\n"  # the script went on after the chunk's lines
    assert "C: QUIT" in out and "without being asked" not in out


def test_piped_bdat_without_chunking_is_sent_in_raw_mode(tmp_path: Path) -> None:
    server = Recording()
    with scripted_server(server) as port:
        done = run_piped(
            [f"127.0.0.1:{port}"], script("/raw on", "BDAT 24 LAST", SMUGGLED, "/raw off"),
            tmp_path,
        )
        assert server.done.wait(10)
    assert "BDAT not sent" not in done.stdout
    # Forced: the server gets the line and reads the chunk as a command of its own.
    assert b"BDAT 24 LAST\r\n" in server.lines
    assert f"{SMUGGLED}\r\n".encode() in server.lines


@pytest.mark.pty
def test_typed_bdat_without_chunking_is_refused_in_a_terminal(
    tmp_path: Path, screens: list[Screen]
) -> None:
    server = Recording()
    with scripted_server(server) as port:
        shell = Screen([f"127.0.0.1:{port}"], smtpsh_env(tmp_path))
        screens.append(shell)
        shell.wait_for("220 test.example")
        for line in ("EHLO me", "MAIL FROM:<a@x.y>", "RCPT TO:<b@x.y>"):
            shell.line(line)
        shell.wait_for("rcpt │")
        shell.line("BDAT 24 LAST")
        shell.wait_words("BDAT not sent: the server did not advertise CHUNKING (RFC 3030)")
        assert "bdat 0/24›" not in shell.text()  # no chunk collected for a line not sent
        shell.line("NOOP")  # a command again, not octets of a chunk
        shell.wait_for("250 2.0.0 noop ok")
        shell.line("QUIT")
        shell.wait_for("221 2.0.0 bye")
        shell.line("/quit")
        assert shell.exit_status() == 0
        assert server.done.wait(10)
    assert not any(line.startswith(b"BDAT") for line in server.lines)
    assert server.lines[-2:] == [b"NOOP\r\n", b"QUIT\r\n"]


def _in_rcpt(shell: Screen) -> None:
    shell.wait_for("220 test.example")
    for line in ("EHLO me", "MAIL FROM:<a@x.y>", "RCPT TO:<b@x.y>"):
        shell.line(line)
    shell.wait_for("rcpt │")


@pytest.mark.pty
def test_a_chunk_pasted_after_a_bdat_not_sent_is_dropped_in_a_terminal(
    tmp_path: Path, screens: list[Screen]
) -> None:
    # The BDAT and its chunk pasted at once: the chunk's 24 octets are dropped, as a
    # script's are, and the line pasted after them is a command again. The chunk's line
    # went to the server as a command, a recipient smuggled in.
    server = Recording()
    with scripted_server(server) as port:
        shell = Screen([f"127.0.0.1:{port}"], smtpsh_env(tmp_path))
        screens.append(shell)
        _in_rcpt(shell)
        shell.paste(f"BDAT 24 LAST\n{SMUGGLED}\nNOOP\n")
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


@pytest.mark.pty
def test_a_paste_shorter_than_the_chunk_is_dropped_and_typing_is_commands_again(
    tmp_path: Path, screens: list[Screen]
) -> None:
    # BDAT 100 announced, 30 octets pasted (a smuggled RCPT and a QUIT): both dropped, the
    # shortfall said; what the user types afterwards runs as commands, not as the rest of
    # a chunk that was never sent.
    server = Recording()
    with scripted_server(server) as port:
        shell = Screen([f"127.0.0.1:{port}"], smtpsh_env(tmp_path))
        screens.append(shell)
        _in_rcpt(shell)
        shell.paste(f"BDAT 100 LAST\n{SMUGGLED}\nQUIT\n")
        shell.wait_words("BDAT was not sent: the 30 octets pasted after it were dropped, not"
                         " run as commands (it announced 100)")
        shell.line("NOOP")
        shell.wait_for("250 2.0.0 noop ok")
        shell.line("/quit")
        assert shell.exit_status() == 0
        assert server.done.wait(10)
    sent = b"".join(server.lines)
    assert b"BDAT" not in sent and b"smuggled" not in sent
    assert server.lines[-2:] == [b"NOOP\r\n", b"QUIT\r\n"]  # the pasted QUIT dropped


@pytest.mark.pty
def test_abort_pasted_in_a_dropped_chunk_ends_it(tmp_path: Path, screens: list[Screen]) -> None:
    # /abort alone ends the dropping as it ends a chunk being collected: the pasted line
    # after it is a command again.
    server = Recording()
    with scripted_server(server) as port:
        shell = Screen([f"127.0.0.1:{port}"], smtpsh_env(tmp_path))
        screens.append(shell)
        _in_rcpt(shell)
        shell.paste(f"BDAT 100 LAST\n{SMUGGLED}\n/abort\nNOOP\n")
        shell.wait_words("BDAT was not sent: the 24 octets pasted after it were dropped, not"
                         " run as commands (it announced 100)")
        shell.wait_for("250 2.0.0 noop ok")
        shell.line("/quit")
        assert shell.exit_status() == 0
        assert server.done.wait(10)
    assert b"smuggled" not in b"".join(server.lines)
    assert server.lines[-2:] == [b"NOOP\r\n", b"QUIT\r\n"]


def test_a_chunk_ending_in_a_bare_cr_says_why_exim_does_not_answer(tmp_path: Path) -> None:
    # BDAT 5 and "abcd" typed: Enter's CR fits, its LF does not. Exim holds a final CR
    # until it sees whether an LF follows, so no reply comes; the timeout alone said nothing
    # of why.
    exim = server_fixture("exim")
    done = run_piped(
        [exim.target, "--timeout", "3"],
        f"EHLO me\nMAIL FROM:<a@example.net>\nRCPT TO:<{exim.address('alice')}>\n"
        "BDAT 5 LAST\nabcd\nQUIT\n",
        tmp_path,
    )
    out = done.stdout + done.stderr
    assert "the chunk was full: the last octet of that line was left out" in out
    warned = out.index(
        "! the chunk's last octet is a bare CR (its LF did not fit in the 5): a server may"
        " wait for the LF before it answers (Exim does)"
    )
    assert warned < out.index("C: BDAT 5 LAST")  # said before it was sent
    timed_out = out.index("no reply from")
    assert out.index(
        "all 5 octets BDAT announced were sent; the last was a bare CR, which the server"
        " was likely holding, waiting for an LF (Enter counts 2 octets: CR LF)"
    ) > timed_out


def test_piped_bdat_refused_here_skips_its_chunk_too(tmp_path: Path) -> None:
    # A BDAT smtpsh cannot read (an ESC in it) is sent as typed, and here refused for its
    # control character: the script's chunk after it ran as commands (the recipient
    # smuggled in); it is skipped as a BDAT's not sent.
    server = Recording()
    with scripted_server(server) as port:
        done = run_piped([f"127.0.0.1:{port}"], script("BDAT 24\x1b LAST", SMUGGLED), tmp_path)
        assert server.done.wait(10)
    out = done.stdout + done.stderr
    assert "refused: the line has a ESC control character at column 8" in out
    assert "BDAT was not sent: the script's 24 octets after it are skipped" in out
    sent = b"".join(server.lines)
    assert b"BDAT" not in sent and b"smuggled" not in sent
    assert server.lines[-1] == b"QUIT\r\n"


@pytest.mark.pty
def test_a_chunk_pasted_after_a_bdat_refused_here_is_dropped(
    tmp_path: Path, screens: list[Screen]
) -> None:
    # The BDAT line refused here (an ESC in it), not only one refused for want of
    # CHUNKING: the chunk pasted with it is dropped up to the count the line shows, and
    # the line pasted after it runs.
    server = Recording()
    with scripted_server(server) as port:
        shell = Screen([f"127.0.0.1:{port}"], smtpsh_env(tmp_path))
        screens.append(shell)
        _in_rcpt(shell)
        shell.paste_bracketed(f"BDAT 24\x1b LAST\n{SMUGGLED}\nNOOP\n")
        shell.wait_words("refused: the line has a ESC control character at column 8")
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


@pytest.mark.pty
def test_a_paste_after_a_refused_bdat_without_a_count_is_all_dropped(
    tmp_path: Path, screens: list[Screen]
) -> None:
    # No count can be read in the refused line: where its chunk ends is unknown, so all
    # that was pasted with it is dropped (24 + 6 octets); a line typed after is a command.
    server = Recording()
    with scripted_server(server) as port:
        shell = Screen([f"127.0.0.1:{port}"], smtpsh_env(tmp_path))
        screens.append(shell)
        _in_rcpt(shell)
        shell.paste_bracketed(f"BDAT \x1bx LAST\n{SMUGGLED}\nNOOP\n")
        shell.wait_words("BDAT was not sent: the 30 octets pasted after it were dropped, not"
                         " run as commands (no chunk size could be read in it: all that was"
                         " pasted with it)")
        shell.line("NOOP")
        shell.wait_for("250 2.0.0 noop ok")
        shell.line("QUIT")
        shell.wait_for("221 2.0.0 bye")
        shell.line("/quit")
        assert shell.exit_status() == 0
        assert server.done.wait(10)
    sent = b"".join(server.lines)
    assert b"BDAT" not in sent and b"smuggled" not in sent
    assert server.lines[-2:] == [b"NOOP\r\n", b"QUIT\r\n"]
    assert sent.count(b"NOOP") == 1


def test_piped_bdat_the_server_refuses_skips_its_chunk(tmp_path: Path) -> None:
    # A BDAT smtpsh cannot read goes as typed for the server to judge; refused (500), it
    # opened no chunk, and the script's chunk after it ran as commands (a recipient
    # smuggled in). It is skipped, as a refused DATA's message lines are.
    server = Recording()
    with scripted_server(server) as port:
        done = run_piped([f"127.0.0.1:{port}"], script("BDAT 24 LAST junk", SMUGGLED), tmp_path)
        assert server.done.wait(10)
    out = done.stdout + done.stderr
    assert "BDAT was refused: the script's 24 octets after it are skipped" in out
    assert b"BDAT 24 LAST junk\r\n" in server.lines  # the server judged it
    assert b"smuggled" not in b"".join(server.lines)
    assert server.lines[-1] == b"QUIT\r\n"


@pytest.mark.pty
def test_a_chunk_pasted_after_a_bdat_the_server_refuses_is_dropped(
    tmp_path: Path, screens: list[Screen]
) -> None:
    server = Recording()
    with scripted_server(server) as port:
        shell = Screen([f"127.0.0.1:{port}"], smtpsh_env(tmp_path))
        screens.append(shell)
        _in_rcpt(shell)
        shell.paste_bracketed(f"BDAT 24 LAST junk\n{SMUGGLED}\nNOOP\n")
        shell.wait_words("BDAT was refused: the 24 octets pasted after it were dropped, not"
                         " run as commands")
        shell.wait_for("250 2.0.0 noop ok")
        shell.line("QUIT")
        shell.wait_for("221 2.0.0 bye")
        shell.line("/quit")
        assert shell.exit_status() == 0
        assert server.done.wait(10)
    assert b"smuggled" not in b"".join(server.lines)
    assert server.lines[-3:] == [b"BDAT 24 LAST junk\r\n", b"NOOP\r\n", b"QUIT\r\n"]
