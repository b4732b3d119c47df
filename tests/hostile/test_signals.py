"""Signals and the terminal: Ctrl-C cancels one operation, Ctrl-Z / fg, a resize while
output streams, and a reader that goes away (`| head`)."""

from __future__ import annotations

import contextlib
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers.run import smtpsh_env
from tests.helpers.scripted_server import scripted_server
from tests.helpers.tmux import Screen, patient
from tests.hostile.drivers import Terminal, assert_no_traceback
from tests.hostile.servers import ANSWERS, STILL_HERE, Act, Peer, serve

pytestmark = pytest.mark.pty


@pytest.fixture
def shells(tmp_path: Path) -> Iterator[Callable[..., Terminal]]:
    opened: list[Screen] = []

    def open_shell(port: int, *, job_control: bool = False) -> Terminal:
        screen = Screen([f"127.0.0.1:{port}"], smtpsh_env(tmp_path), job_control=job_control)
        opened.append(screen)
        term = Terminal(screen)
        term.wait_prompt(0, 15)
        return term

    yield open_shell
    for screen in opened:
        assert_no_traceback(screen.history())
        screen.close()


class SlowFirst:
    """Acts: the first ``verb`` is answered after ``delay`` seconds, the others at once.
    ``arrived`` is set when that first command has reached the server (the client is
    waiting now), ``answered`` once its late reply has been sent."""

    def __init__(self, verb: bytes, delay: float) -> None:
        self.verb = verb
        self.delay = delay
        self.arrived = threading.Event()
        self.answered = threading.Event()

    def acts(self) -> dict[bytes, Act]:
        def act(peer: Peer) -> bool:
            first = not self.arrived.is_set()
            self.arrived.set()
            if first:
                time.sleep(self.delay)
            peer.send(ANSWERS[self.verb])
            if first:
                self.answered.set()
            return True

        return {self.verb: act}


def wait_until(condition: Callable[[], bool], what: str, screen: Screen) -> None:
    deadline = time.monotonic() + patient(5)
    while not condition():
        assert time.monotonic() < deadline, f"no {what}:\n{screen.history()}"
        time.sleep(0.05)


def test_ctrl_c_stops_waiting_for_a_slow_reply_only(shells: Callable[..., Terminal]) -> None:
    # The reply comes 8 s after the NOOP arrived: room for a loaded machine to deliver
    # the Ctrl-C and draw its line first (3 s was not always enough under load).
    slow = SlowFirst(b"NOOP", 8.0)
    with scripted_server(serve(slow.acts())) as port:
        term = shells(port)
        before = term.prompts()
        term.screen.line("NOOP")
        assert slow.arrived.wait(20), "the NOOP never reached the server"
        term.screen.keys("C-c")
        interrupted = term.wait_regex(
            r"interrupted: stopped waiting \(a late reply is still shown\)", 7)
        term.wait_prompt(before, 5)
        assert "(closed)" not in term.screen.cursor_line()
        # The late reply is still shown, and the next command gets its own reply.
        term.wait_regex(STILL_HERE, 10)
        # The wait stopped at the Ctrl-C, before the server answered (not at the reply).
        history = term.screen.history()
        assert history.index(interrupted) < history.index(STILL_HERE), history
        term.enter("NOOP", 10)
        history = term.screen.history()
        assert history.count(STILL_HERE) == 2, history
        term.screen.line("/quit")
        assert term.screen.exit_status() == 0


def test_ctrl_c_stops_a_large_data_and_nothing_partial_is_delivered(
    shells: Callable[..., Terminal], tmp_path: Path
) -> None:
    message = tmp_path / "big.eml"
    body = ("x" * 98 + "\r\n").encode() * 200_000  # 20 MB: more than the socket buffers
    message.write_bytes(
        b"From: a@me.test\r\nTo: b@hostile.test\r\nSubject: big\r\n\r\n" + body
    )
    interrupted = threading.Event()  # the test has seen the Ctrl-C told
    after_354 = bytearray()  # all the server got after its 354, to the close
    drained = threading.Event()

    def slow_reader(peer: Peer) -> bool:
        peer.send(ANSWERS[b"DATA"])
        # Read nothing until the Ctrl-C (the client's writes block), then all the socket
        # held, to the client's close.
        interrupted.wait(60)
        with contextlib.suppress(OSError):
            while chunk := peer.sock.recv(1 << 20):
                after_354.extend(chunk)
        drained.set()
        return False

    with scripted_server(serve({b"DATA": slow_reader})) as port:
        term = shells(port)
        before = term.prompts()
        term.screen.line(f"/send {message} --yes")
        term.wait_regex(r"354 End data", 10)
        time.sleep(0.7)  # into the message: the socket buffers fill up
        term.screen.keys("C-c")
        term.wait_regex(r"interrupted", 5)
        term.wait_regex(r"not sent to the end; connection closed so that nothing partial", 5)
        interrupted.set()
        term.wait_prompt(before, 10)
        assert "(closed)›" in term.screen.cursor_line()
        term.enter("/reconnect", 10)
        term.wait_regex(r"reconnecting to 127\.0\.0\.1", 5)
        term.screen.line("/quit")
        assert term.screen.exit_status() == 0
        assert drained.wait(30), "the first connection was never closed"
    assert after_354.startswith(b"From: a@me.test"), bytes(after_354[:80])
    assert b"\r\n.\r\n" not in after_354, "an end of data reached the server"
    assert len(after_354) < len(body), "the whole message was sent"


def test_ctrl_z_and_fg(shells: Callable[..., Terminal]) -> None:
    slow = SlowFirst(b"NOOP", 2.0)
    with scripted_server(serve(slow.acts())) as port:
        term = shells(port, job_control=True)
        screen = term.screen
        # At the prompt.
        screen.keys("C-z")
        screen.wait_for("Stopped", 5)
        screen.line("fg")
        before = term.prompts()
        wait_until(term.at_prompt, "the prompt back after fg", screen)
        term.enter("EHLO me.test", 10)
        assert term.prompts() > before
        term.wait_regex("250 8BITMIME", 5)
        # While waiting for a slow reply: the process stops, and goes on after fg.
        screen.line("NOOP")
        assert slow.arrived.wait(20), "the NOOP never reached the server"
        screen.keys("C-z")
        screen.wait_for("Stopped", 5)
        # The reply arrives while we are stopped.
        assert slow.answered.wait(20), "the server never answered the NOOP"
        assert STILL_HERE not in screen.history()
        screen.line("fg")
        term.wait_regex(STILL_HERE, 10)
        term.wait_prompt(0, 10)
        term.enter("NOOP", 10)
        assert screen.history().count(STILL_HERE) == 2
        screen.line("/quit")
        assert screen.exit_status() == 0


def test_resize_while_output_streams(shells: Callable[..., Terminal]) -> None:
    lines = [f"250-line {i:03d} of a reply that streams while the window changes size"
             for i in range(150)]

    def streaming(peer: Peer) -> bool:
        for line in lines:
            peer.send(line.encode() + b"\r\n")
            time.sleep(0.01)
        peer.send(b"250 done\r\n")
        return True

    with scripted_server(serve({b"HELP": streaming})) as port:
        term = shells(port)
        screen = term.screen
        before = term.prompts()
        screen.line("/send-verb HELP")  # `HELP` alone is answered by smtpsh itself
        for width, height in ((80, 24), (150, 50), (60, 20), (120, 40)):
            time.sleep(0.3)
            screen.resize(width, height)
        term.wait_regex("250 done", 10)
        term.wait_prompt(before, 10)
        time.sleep(0.3)
        history = screen.history()
        shown = [m.group(1) for m in re.finditer(r"250-line (\d{3}) of a reply", history)]
        # Every streamed line once, whole, in order: nothing lost, doubled or cut.
        assert shown == [f"{i:03d}" for i in range(150)], history
        assert len(re.findall(r"that streams while the window changes size", history)) == 150
        rows = screen.visible()
        assert "│ next:" in rows[-1] or "│ next:" in rows[-2], rows  # the toolbar at the bottom
        assert term.at_prompt()
        term.enter("NOOP", 10)
        term.wait_regex(STILL_HERE, 5)
        screen.line("/quit")
        assert screen.exit_status() == 0


@pytest.mark.parametrize("colour", ["never", "always"])
def test_reader_going_away_ends_quietly(tmp_path: Path, colour: str) -> None:
    received: list[bytes] = []
    # More output than a pipe holds (~40 octets a NOOP, 64 KiB): smtpsh cannot finish the
    # script before head has gone, however late head gets to run on a loaded machine.
    script = "EHLO me.test\n" + "NOOP\n" * 4000 + "QUIT\n"
    with scripted_server(serve({}, received=received)) as port:
        smtpsh = subprocess.Popen(
            [sys.executable, "-m", "smtpsh", f"127.0.0.1:{port}", "--color", colour],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=smtpsh_env(tmp_path),
        )
        head = subprocess.Popen(["head", "-n", "3"], stdin=smtpsh.stdout,
                                stdout=subprocess.PIPE)
        assert smtpsh.stdout is not None and smtpsh.stdin is not None
        smtpsh.stdout.close()  # only head reads it now: when head exits, writes get EPIPE
        errors: list[bytes] = []
        reader = threading.Thread(target=lambda: errors.append(smtpsh.stderr.read()))  # type: ignore[union-attr]
        reader.start()
        smtpsh.stdin.write(script.encode())
        smtpsh.stdin.close()
        shown = head.communicate(timeout=30)[0].decode()
        status = smtpsh.wait(timeout=30)
        reader.join(10)
    assert shown.count("\n") == 3
    assert errors == [b""], errors  # not a word on stderr: no traceback, no EPIPE message
    assert status == 141  # exitcodes.BROKEN_PIPE: stopped early, and says so to the caller
    assert received[-1] == b"QUIT\r\n"  # the session still ended politely


def test_ctrl_c_during_enumeration_reports_what_was_done(tmp_path: Path) -> None:
    def slow_vrfy(peer: Peer) -> bool:
        time.sleep(0.3)
        peer.send(b"550 5.1.1 no such user\r\n")
        return True

    users = tmp_path / "users.txt"
    users.write_text("\n".join(f"user{i}" for i in range(500)))
    received: list[bytes] = []
    with scripted_server(serve({b"VRFY": slow_vrfy}, received=received)) as port:
        enum = subprocess.Popen(
            [sys.executable, "-m", "smtpsh", "enum", f"127.0.0.1:{port}", "-U", str(users),
             "-m", "vrfy", "-w", "2"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=smtpsh_env(tmp_path),
        )
        # Interrupt once names are being checked (not after a fixed time: a loaded machine
        # may still be starting smtpsh then).
        deadline = time.monotonic() + 30
        while sum(line.startswith(b"VRFY user") for line in received) < 4:
            assert time.monotonic() < deadline and enum.poll() is None, received
            time.sleep(0.05)
        started = time.monotonic()
        enum.send_signal(signal.SIGINT)
        out, err = enum.communicate(timeout=20)
    text = (out + err).decode()
    assert time.monotonic() - started < 10  # it stops, not after the other ~490 names
    assert_no_traceback(text)
    assert re.search(r"interrupted: \d+ of 500 names checked", text), text
    assert "not checked: " in text
    assert enum.returncode == 130
