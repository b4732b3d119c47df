"""Word lists for `smtpsh enum -U` are streamed: a name is asked before the list has been
read to its end, an endless or binary list is one line (not a MemoryError), a line too
long to be a name is skipped whole, and SIGTERM prints what was found, as Ctrl-C does.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.audit.fakesmtp import Policy, running
from tests.hostile.drivers import assert_no_traceback

ENV = {**os.environ, "NO_COLOR": "1"}


def enum(port: int, *args: str) -> list[str]:
    return [sys.executable, "-m", "smtpsh", "enum", f"127.0.0.1:{port}", "-m", "vrfy", *args]


def test_a_name_is_asked_before_the_list_ends(
    tmp_path: Path, hostile_row: Callable[[str, str], None]
) -> None:
    hostile_row("enum -U: a list that never ends (a pipe)", "enum")
    with running(Policy()) as server:
        proc = subprocess.Popen(
            enum(server.port, "-U", "-", "-q"), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, env=ENV,
        )
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write("robin\n")
        proc.stdin.flush()
        first = proc.stdout.readline()  # while the list is still open: streamed
        proc.stdin.write("ghost\nalice\n")
        proc.stdin.close()
        proc.stdin = None  # closed: communicate() only reads now
        out, err = proc.communicate(timeout=30)
    assert first == "robin  252 2.0.0 robin\n"
    assert "alice  252 2.0.0 alice" in out
    assert "3 of 3 names checked" in err, err
    assert proc.returncode == 1  # exit-status table: 1 = found (smtpsh/exitcodes.py)


def test_dev_zero_as_a_word_list_is_one_line(
    tmp_path: Path, hostile_row: Callable[[str, str], None]
) -> None:
    hostile_row("enum -U: /dev/zero", "enum")
    with running(Policy()) as server:
        result = subprocess.run(
            enum(server.port, "-U", "/dev/zero"), capture_output=True, text=True, timeout=60,
            env=ENV,
        )
    assert_no_traceback(result.stdout + result.stderr)
    assert result.stderr.strip() == (
        "smtpsh enum: /dev/zero: no usable name in 1 MiB: not a word list"
    ), result.stderr
    assert result.returncode == 2
    assert server.connections == 0  # refused before connecting


def test_a_line_too_long_to_be_a_name_is_skipped_whole(
    tmp_path: Path, hostile_row: Callable[[str, str], None]
) -> None:
    hostile_row("enum -U: a 500 kB line", "enum")
    listing = tmp_path / "names.txt"
    listing.write_bytes(b"x" * 500_000 + b"\nrobin\n" + b"y" * 300 + b"\nalice\n")
    with running(Policy()) as server:
        result = subprocess.run(
            enum(server.port, "-U", str(listing)), capture_output=True, text=True, timeout=60,
            env=ENV,
        )
    assert result.stdout.splitlines() == ["robin  252 2.0.0 robin", "alice  252 2.0.0 alice"]
    assert "skipped 2 names" in result.stderr, result.stderr
    assert result.returncode == 1  # found


def test_sigterm_prints_the_partial_results(
    tmp_path: Path, hostile_row: Callable[[str, str], None]
) -> None:
    hostile_row("enum: SIGTERM half-way", "enum")
    listing = tmp_path / "names.txt"
    listing.write_text("robin\n" + "".join(f"nobody{i}\n" for i in range(5000)))
    with running(Policy()) as server:
        proc = subprocess.Popen(
            enum(server.port, "-U", str(listing), "--rate", "40", "-o",
                 str(tmp_path / "out.txt")),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
        )
        assert proc.stdout is not None
        first = proc.stdout.readline()
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=20)
    assert_no_traceback(err)
    assert first == "robin  252 2.0.0 robin\n"
    assert re.search(r"interrupted: \d+ of \d+ names checked", err), err
    assert "not checked: " in err and "the rest of the word list" in err
    assert "found 1: robin" in err
    assert (tmp_path / "out.txt").read_text() == "robin\t252 2.0.0 robin\n"
    assert proc.returncode == 128 + signal.SIGTERM
