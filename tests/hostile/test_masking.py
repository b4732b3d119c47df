"""Masking follows the AUTH exchange, not the server: a server that answers the client's
cancelling '*' with yet another 334 does not turn the next command into a masked secret,
and the mask on the screen is a fixed '********' that tells nothing of the secret's length.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from tests.helpers.run import run_piped, smtpsh_env
from tests.helpers.scripted_server import scripted_server
from tests.helpers.tmux import Screen, patient
from tests.hostile.drivers import Terminal, assert_no_traceback
from tests.hostile.servers import Peer, serve

EHLO_AUTH = b"250-hostile.test\r\n250-AUTH LOGIN PLAIN\r\n250 8BITMIME\r\n"


def endless_334() -> dict[bytes, Callable[[Peer], bool]]:
    """AUTH gets a 334, and so does every answer, the cancelling '*' included."""

    def ehlo(peer: Peer) -> bool:
        peer.send(EHLO_AUTH)
        return True

    def auth(peer: Peer) -> bool:
        peer.send(b"334 VXNlcm5hbWU6\r\n")
        if peer.line().strip() != b"*":
            return False
        peer.send(b"334 VXNlcm5hbWU6\r\n")  # RFC 4954 wants a 501 here
        return True

    return {b"EHLO": ehlo, b"AUTH": auth}



def cursor_line_ending(screen: Screen, wanted: str) -> str:
    """The cursor line once it ends with ``wanted`` (what typing must show), or as it is
    after a generous wait: a loaded machine may take long to draw what was typed."""
    deadline = time.monotonic() + patient(5)
    line = screen.cursor_line().rstrip()
    while not line.endswith(wanted) and time.monotonic() < deadline:
        time.sleep(0.05)
        line = screen.cursor_line().rstrip()
    return line


def test_a_334_after_the_cancel_does_not_mask_the_next_command_piped(
    tmp_path: Path, hostile_row: Callable[[str, str], None]
) -> None:
    hostile_row("server: 334 after the client cancelled AUTH", "piped")
    record = tmp_path / "s.smtpt"
    with scripted_server(serve(endless_334())) as port:
        result = run_piped(
            ["--record", str(record), f"127.0.0.1:{port}"],
            "EHLO me\nAUTH LOGIN\n*\nMAIL FROM:<a@b>\nQUIT\n",
            tmp_path,
        )
    out = result.stdout + result.stderr
    assert_no_traceback(out)
    text = record.read_text()
    assert "C: MAIL FROM:<a@b>" in text, text
    assert "C: *" in text and "********" not in text, text
    assert "********" not in out, out


def test_a_334_after_the_cancel_does_not_mask_the_next_command_in_the_shell(
    tmp_path: Path, hostile_row: Callable[[str, str], None]
) -> None:
    hostile_row("server: 334 after the client cancelled AUTH", "shell")
    with scripted_server(serve(endless_334())) as port:
        screen = Screen([f"127.0.0.1:{port}"], smtpsh_env(tmp_path))
        try:
            term = Terminal(screen)
            term.wait_prompt(0, 15)
            for line in ("EHLO me", "AUTH LOGIN", "*"):
                term.enter(line, 10)
            screen.type("MAIL FROM:<a@b>")
            typed = cursor_line_ending(screen, "MAIL FROM:<a@b>")
            screen.keys("Enter")
            term.wait_regex("250 2.1.0 Ok", 10)
            shown = screen.history()
            screen.line("/quit")
            assert screen.exit_status() == 0
        finally:
            screen.close()
    assert_no_traceback(shown)
    assert typed.rstrip().endswith("MAIL FROM:<a@b>"), typed
    assert f"127.0.0.1:{port}› MAIL FROM:<a@b>" in shown, shown
    assert "C: ********" not in shown


def test_the_screen_mask_does_not_tell_the_secret_length(
    tmp_path: Path, hostile_row: Callable[[str, str], None]
) -> None:
    hostile_row("shell: the mask tells the secret's length", "shell")
    with scripted_server(serve({})) as port:
        screen = Screen([f"127.0.0.1:{port}"], smtpsh_env(tmp_path))
        try:
            term = Terminal(screen)
            term.wait_prompt(0, 15)
            seen = []
            screen.type("AUTH PLAIN ")
            for part in ("abc", "defghijklmnopqrstuvwxyz0123456789"):
                screen.type(part)
                time.sleep(0.5)  # the mask, once it is drawn, looks alike before and after
                seen.append(cursor_line_ending(screen, "AUTH PLAIN ********"))
            screen.keys("C-u")
            time.sleep(0.3)
            screen.line("/quit")
            assert screen.exit_status() == 0
        finally:
            screen.close()
    assert all(line.endswith("AUTH PLAIN ********") for line in seen), seen
    assert "abc" not in "".join(seen)
