"""The status line (smtpsh.output.progress): drawn and erased on a terminal only, one line
cut to the terminal's width, outside text escaped; and enum's progress line goes through it."""

from __future__ import annotations

import fcntl
import io
import os
import select
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from smtpsh.output.progress import StatusLine, bar
from tests.audit.fakesmtp import Policy, running

ERASE = "\r\x1b[K"


@contextmanager
def terminal(columns: int = 80) -> Iterator[tuple[TextIO, int]]:
    """A pseudo-terminal of ``columns`` columns: (the stream smtpsh writes to, the master
    fd the test reads what reached the screen from)."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    attrs = termios.tcgetattr(slave)
    attrs[1] &= ~termios.OPOST  # bytes as written: no LF -> CR LF on the way out
    termios.tcsetattr(slave, termios.TCSANOW, attrs)
    stream = open(slave, "w", encoding="utf-8", closefd=True)  # noqa: SIM115
    try:
        yield stream, master
    finally:
        stream.close()
        os.close(master)


def screen_bytes(master: int) -> str:
    out = b""
    while select.select([master], [], [], 0.2)[0]:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    return out.decode("utf-8")


def test_nothing_is_written_when_the_stream_is_not_a_terminal() -> None:
    stream = io.StringIO()
    status = StatusLine(stream)
    status.update("12/100 names")
    status.clear()
    status.update([("class:green", "half")])
    status.finish("done")
    assert stream.getvalue() == ""
    assert not status.shown


def test_drawn_in_place_then_erased_on_a_terminal() -> None:
    with terminal() as (stream, master):
        status = StatusLine(stream)
        status.update("1/3")
        status.update("2/3")
        assert status.shown
        status.clear()
        assert not status.shown
        status.clear()  # nothing shown: nothing to erase
        assert screen_bytes(master) == f"{ERASE}1/3{ERASE}2/3{ERASE}"


def test_redraw_after_clear_and_finish_stops_drawing() -> None:
    with terminal() as (stream, master):
        status = StatusLine(stream)
        status.update("2/3")
        status.clear()
        status.redraw()
        status.finish()
        status.update("3/3")  # too late: finished
        status.redraw()
        assert screen_bytes(master) == f"{ERASE}2/3{ERASE}{ERASE}2/3{ERASE}"
        assert not status.shown


def test_finish_with_a_last_word_leaves_it_on_the_terminal() -> None:
    with terminal() as (stream, master):
        with StatusLine(stream) as status:
            status.update("working")
            status.finish("3 targets done")
        assert screen_bytes(master) == f"{ERASE}working{ERASE}{ERASE}3 targets done\n"


def test_disabled_writes_nothing_even_on_a_terminal() -> None:
    with terminal() as (stream, master):
        status = StatusLine(stream, enabled=False)
        status.update("1/3")
        status.finish("end")
        assert screen_bytes(master) == ""


def test_outside_text_is_escaped_and_stays_one_line() -> None:
    hostile = "mx\x1b]52;c;SGVsbG8=\x07\n\u202e\x9b2J\x7f"
    with terminal() as (stream, master):
        StatusLine(stream).update([("", "target "), ("", hostile)])
        shown = screen_bytes(master)
    assert shown.startswith(ERASE)
    text = shown[len(ERASE):]
    for raw in ("\x1b", "\x07", "\n", "\u202e", "\x9b", "\x7f"):
        assert raw not in text
    # shown escaped, not dropped
    assert text == "target mx\\x1b]52;c;SGVsbG8=\\x07\\x0a\\u202e\\x9b2J\\x7f"


def test_cut_to_the_terminal_width_so_it_can_be_erased() -> None:
    with terminal(columns=20) as (stream, master):
        StatusLine(stream).update("alpha beta gamma delta epsilon zeta")
        text = screen_bytes(master).removeprefix(ERASE)
    assert len(text) <= 19  # one column spare: no terminal wraps it
    assert text.endswith("…") and text.startswith("alpha beta")


def test_colour_only_for_report_styles_and_only_when_asked() -> None:
    with terminal() as (stream, master):
        StatusLine(stream, colour=True).update([("class:green", "ok"), ("", " 3")])
        assert screen_bytes(master) == f"{ERASE}\x1b[32mok\x1b[0m 3"
    with terminal() as (stream, master):
        StatusLine(stream).update([("class:green", "ok"), ("", " 3")])
        assert screen_bytes(master) == f"{ERASE}ok 3"


def test_a_terminal_that_goes_away_stops_the_line_not_the_command() -> None:
    with terminal() as (stream, _master):
        status = StatusLine(stream)
        stream.close()
        status.update("1/3")  # ValueError on a closed file: swallowed, drawing stops
        assert not status.enabled and not status.shown


def test_bar() -> None:
    assert bar(0, 10, width=10) == "░" * 10
    assert bar(5, 10, width=10) == "█" * 5 + "░" * 5
    assert bar(10, 10, width=10) == "█" * 10
    assert bar(11, 10, width=10) == "█" * 10  # more done than counted: full, not longer
    assert bar(0, 0, width=4) == "████"  # nothing to do is done


def _enum(tmp_path: Path, stderr: int | TextIO) -> subprocess.CompletedProcess[str]:
    listing = tmp_path / "names.txt"
    listing.write_text("\n".join(["robin", *(f"nobody{i}" for i in range(40))]) + "\n")
    with running(Policy()) as server:
        return subprocess.run(
            [sys.executable, "-m", "smtpsh", "enum", f"127.0.0.1:{server.port}", "-U",
             str(listing), "-m", "vrfy", "--rate", "60", "-w", "1"],
            stdout=subprocess.PIPE, stderr=stderr, text=True, timeout=60,
            env={**os.environ, "NO_COLOR": "1"},
        )


def test_enum_progress_line_on_a_terminal_and_not_in_a_pipe(tmp_path: Path) -> None:
    with terminal() as (stream, master):
        started = time.monotonic()
        proc = _enum(tmp_path, stream)
        shown = screen_bytes(master)
    assert proc.returncode == 1, shown
    assert proc.stdout == "robin  252 2.0.0 robin\n"
    assert time.monotonic() - started > 0.3  # slow enough for the ticker to draw
    assert f"{ERASE}{bar(41, 41)} 41/41" in shown  # drawn through the status line
    drawn = shown.rfind(f"{ERASE}{bar(41, 41)}")
    assert ERASE in shown[drawn + 1:]  # and erased before the summary
    assert "41 of 41 names checked" in shown
    piped = _enum(tmp_path, subprocess.PIPE)
    assert piped.returncode == 1
    assert "\x1b" not in piped.stderr and "\r" not in piped.stderr
    assert "41 of 41 names checked" in piped.stderr
