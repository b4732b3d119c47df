"""Limits of what the user types: warned about before it is sent, or refused.

RFC 5321 §4.5.3.1: command lines 512 octets, text lines 1000, local-part 64, domain 255,
path 256. smtpsh warns and still sends (it is a testing tool: seeing what a server does
with an over-long line is a test), except control characters in a command, which are
refused outside raw mode (they would smuggle a second command).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from smtpsh.protocol.address import address_warnings, parse_path_command
from smtpsh.protocol.encoding import command_warnings, text_line_warnings
from tests.helpers.run import run_piped, smtpsh_env
from tests.helpers.scripted_server import scripted_server
from tests.helpers.tmux import Screen, patient
from tests.hostile.drivers import Terminal, assert_no_traceback
from tests.hostile.servers import serve

LOCAL_65 = "l" * 65
DOMAIN_256 = ("d" * 63 + ".") * 4  # 256 octets with the final dot
LONG_TEXT = "t" * 1200


# --- the protocol layer: the limits as data --------------------------------------------


@pytest.mark.parametrize(
    ("line", "warned"),
    [
        (f"MAIL FROM:<{'l' * 64}@example.test>", []),
        (f"MAIL FROM:<{LOCAL_65}@example.test>", ["local-part"]),
        (f"RCPT TO:<a@{'d' * 252}>", []),  # 1 + 1 + 252 + 2 = 256
        (f"RCPT TO:<a@{'d' * 255}>", ["path"]),
        (f"RCPT TO:<a@{DOMAIN_256}>", ["domain", "path"]),
        # Each part within its limit, the whole path (with < > and @) over 256.
        (f"RCPT TO:<{'l' * 64}@{'d' * 189}>", []),  # 64 + 1 + 189 + 2 = 256
        (f"RCPT TO:<{'l' * 64}@{'d' * 190}>", ["path"]),  # 257
        (f"mail from:<{'é' * 33}@example.test>", ["local-part"]),  # 66 octets, 33 characters
    ],
)
def test_address_length_limits(line: str, warned: list[str]) -> None:
    warnings = [w for w in address_warnings(line) if "octets; RFC 5321" in w]
    assert [w.split()[1] for w in warnings] == warned
    assert all("§4.5.3.1" in w for w in warnings)
    assert set(address_warnings(line)) <= set(command_warnings(line))  # what the shell shows


def test_path_parsing_keeps_what_was_typed() -> None:
    command = parse_path_command('MAIL FROM:<"a b>c"@example.test> SIZE=100 body=8BITMIME SMTPUTF8')
    assert command is not None
    assert command.local_part == '"a b>c"' and command.domain == "example.test"
    assert command.parameters == (("SIZE", "100"), ("BODY", "8BITMIME"), ("SMTPUTF8", None))
    assert command.problems == ()
    assert parse_path_command("EHLO me") is None
    null = parse_path_command("MAIL FROM:<>")
    assert null is not None and null.mailbox == "" and null.problems == ()
    routed = parse_path_command("RCPT TO:<@relay.test,@b.test:user@example.test>")
    assert routed is not None and routed.mailbox == "user@example.test"


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("MAIL FROM: <a@example.test>", "no space after 'FROM:'"),
        ("MAIL FROM:a@example.test", "not in angle brackets"),
        ("RCPT TO:<a@example.test", "no closing '>'"),
        ("RCPT TO:<>", "names no recipient"),
        ("MAIL FROM:<alice>", "no @domain"),
        ("MAIL FROM:<a@example.test> SIZE=", "SIZE has an empty or malformed value"),
        ("MAIL FROM:<a@example.test> SIZE=1 size=2", "SIZE is given twice"),
        ("MAIL FROM:<a@example.test> =x", "is not an ESMTP parameter"),
        ("MAIL FROM:<a@example.test>SIZE=1", "must follow the path after a space"),
    ],
)
def test_path_syntax_problems_are_warnings(line: str, problem: str) -> None:
    assert any(problem in w for w in command_warnings(line)), command_warnings(line)


def test_postmaster_needs_no_domain() -> None:
    assert address_warnings("RCPT TO:<Postmaster>") == []


def test_text_line_limit_counts_the_wire_form() -> None:
    assert text_line_warnings("x" * 998) == []
    assert text_line_warnings("x" * 999) == [
        "message line is 1001 octets; RFC 5321 allows 1000 including CRLF"
    ]
    # The dot that stuffing adds does not count (RFC 5321 §4.5.3.1.6): 998 octets is legal.
    assert text_line_warnings("." + "x" * 997) == []
    assert text_line_warnings("." + "x" * 998) != []
    assert text_line_warnings("é" * 500) != []  # 1000 octets + CRLF


# --- piped ------------------------------------------------------------------------------


def test_piped_warns_before_sending_and_still_sends(tmp_path: Path) -> None:
    received: list[bytes] = []
    long_noop = "NOOP " + "n" * 600
    script = [
        long_noop,
        f"MAIL FROM:<{LOCAL_65}@example.test>",
        "RCPT TO:<b@hostile.test>",
        "DATA",
        "Subject: long",
        "",
        LONG_TEXT,
        ".",
        "QUIT",
    ]
    with scripted_server(serve({}, received=received)) as port:
        result = run_piped([f"127.0.0.1:{port}"], "\n".join(script) + "\n", tmp_path)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert_no_traceback(out + result.stderr)
    lines = out.splitlines()

    def before(warning: str, sent: str) -> None:
        w = next(i for i, x in enumerate(lines) if warning in x)
        s = next(i for i, x in enumerate(lines) if x.startswith("C: " + sent))
        assert w < s, out

    before("! command line is 607 octets; RFC 5321 allows 512", "NOOP nnn")
    before("! the local-part is 65 octets; RFC 5321 §4.5.3.1.1 allows 64", "MAIL FROM:<lll")
    before("! message line is 1202 octets; RFC 5321 allows 1000", "ttt")
    # Sent anyway, whole: the server is the one to judge.
    assert long_noop.encode() + b"\r\n" in received
    assert LONG_TEXT.encode() + b"\r\n" in received
    assert "queued as HOSTILE1" in out


# --- in a terminal ----------------------------------------------------------------------


@pytest.fixture
def recorded_shell(tmp_path: Path) -> Iterator[tuple[Terminal, list[bytes]]]:
    received: list[bytes] = []
    with scripted_server(serve({}, received=received)) as port:
        screen = Screen([f"127.0.0.1:{port}"], smtpsh_env(tmp_path))
        try:
            term = Terminal(screen)
            term.wait_prompt(0, 15)
            yield term, received
            assert_no_traceback(screen.history())
        finally:
            screen.close()


def test_shell_warns_about_long_lines_and_addresses(
    recorded_shell: tuple[Terminal, list[bytes]],
) -> None:
    term, received = recorded_shell
    term.enter("NOOP " + "n" * 600, 15)
    screen = term.screen.history()
    warning = screen.index("! command line is 607 octets; RFC 5321 allows 512")
    assert warning < screen.index("250 2.0.0 still here"), screen  # before the reply
    term.enter(f"MAIL FROM:<a@{DOMAIN_256}>", 15)
    term.wait_regex(r"! the domain is 256 octets; RFC 5321 §4\.5\.3\.1\.2 allows 255", 5)
    term.wait_regex(r"! the path is 260 octets; RFC 5321 §4\.5\.3\.1\.3 allows 256", 5)
    for line in ("RCPT TO:<b@hostile.test>", "DATA", "Subject: long", "", LONG_TEXT, "."):
        term.enter(line, 15)
    term.wait_regex("! message line is 1202 octets; RFC 5321 allows 1000", 5)
    term.wait_regex("queued as HOSTILE1", 5)
    assert LONG_TEXT.encode() + b"\r\n" in received



def wait_cursor_line(term: Terminal, ending: str) -> None:
    """Until the line being typed ends with ``ending`` (typed keys drawn)."""
    deadline = time.monotonic() + patient(5)
    while not term.screen.cursor_line().rstrip().endswith(ending):
        assert time.monotonic() < deadline, term.screen.history()
        time.sleep(0.05)


def test_shell_refuses_control_characters(
    recorded_shell: tuple[Terminal, list[bytes]],
) -> None:
    term, received = recorded_shell
    screen = term.screen
    # Ctrl-Q (emacs quoted insert) makes the next key literal: an ESC, a Ctrl-A.
    before = term.prompts()
    screen.type("NOOP esc")
    screen.keys("C-q", "Escape")
    # Once the ESC is shown it was taken alone: an "x" read with it would have been Alt-x
    # (a fixed pause is not enough on a loaded machine, where both may be read at once).
    wait_cursor_line(term, "NOOP esc^[")
    screen.type("x")
    screen.keys("Enter")
    term.wait_prompt(before, 15)
    term.wait_regex(r"refused: the line has a ESC control character at column 9", 5)
    before = term.prompts()
    screen.type("NOOP soh")
    screen.keys("C-q", "C-a", "Enter")
    term.wait_prompt(before, 15)
    term.wait_regex(r"refused: the line has a U\+0001 control character at column 9", 5)
    # A pasted block of two lines (bracketed) is never one line with an LF in it: each
    # line goes as a command of its own, as typed and entered one after the other (the
    # text after the last line break waits at the prompt until Enter).
    before = term.prompts()
    subprocess.run(
        ["tmux", "-L", screen.socket, "set-buffer", "NOOP one\nNOOP two"], check=True
    )
    subprocess.run(["tmux", "-L", screen.socket, "paste-buffer", "-p"], check=True)
    wait_cursor_line(term, "NOOP two")
    screen.keys("Enter")
    term.wait_prompt(before + 1, 15)
    term.enter("NOOP", 15)
    term.wait_regex("250 2.0.0 still here", 5)  # the session goes on
    sent = [line for line in received if line.startswith(b"NOOP")]
    # Neither refused line left; each pasted line alone, with no control but its CRLF.
    assert sent == [b"NOOP one\r\n", b"NOOP two\r\n", b"NOOP\r\n"], received


def test_a_typed_colour_code_is_not_an_exception(
    recorded_shell: tuple[Terminal, list[bytes]],
) -> None:
    # ESC [31m typed or pasted without bracketed paste: prompt_toolkit's parser takes it
    # for a mouse report; it must not end in an "Unhandled exception" screen.
    term, received = recorded_shell
    before = term.prompts()
    term.screen.type("NOOP red")
    term.screen.type("\x1b[31m")
    time.sleep(0.3)
    term.screen.type("x")
    term.screen.keys("Enter")
    term.wait_prompt(before, 15)
    screen = term.screen.history()
    assert "Exception" not in screen and "Press ENTER" not in screen, screen
    assert b"NOOP redx\r\n" in received
