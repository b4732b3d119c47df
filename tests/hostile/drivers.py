"""Run smtpsh against a hostile server, piped or in a terminal, and judge what it did.

A run passes when: the one clear line about the server's behaviour was shown, in a bounded
time; no traceback; the session either went on (a NOOP afterwards was answered) or was
closed cleanly with /reconnect offered (and, in the shell, /reconnect then /quit work);
and the process never held much memory (its peak RSS stays under MAX_RSS_KIB).
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.helpers.run import smtpsh_env
from tests.helpers.tmux import Screen, patient
from tests.hostile.servers import STILL_HERE, Behaviour

# smtpsh takes ~25-30 MiB piped, ~35-40 MiB with prompt_toolkit; one that kept a 10 MiB
# reply (and its copies: raw, lines, rendering) peaked over 100 MiB when tried.
MAX_RSS_KIB = 64 * 1024
# Beyond the behaviour's own --timeout and idle pause: start-up and a loaded CI machine.
SLACK = 8.0
PROMPT_MARK = "›"


@dataclass
class Outcome:
    said: str  # the line that said what the server did
    seconds: float  # from the start of the client to its verdict
    peak_kib: int  # peak resident memory of the client


def bound(behaviour: Behaviour) -> float:
    return (behaviour.timeout or 0.0) + behaviour.idle + SLACK


def client_args(behaviour: Behaviour, port: int, cafile: Path) -> list[str]:
    args = [f"127.0.0.1:{port}", *behaviour.args]
    if behaviour.timeout is not None:
        args += ["--timeout", f"{behaviour.timeout:g}"]
    if behaviour.tls:
        args += ["--cafile", str(cafile)]
    return args


def said_line(behaviour: Behaviour, output: str) -> str:
    """The first output line matching the behaviour's regex (AssertionError if none)."""
    for line in output.splitlines():
        if re.search(behaviour.said, line):
            return line.strip()
    raise AssertionError(f"no line matching {behaviour.said!r} in:\n{output}")


# What Python or asyncio print when an error escaped instead of being told as one line.
LEAKS = ("Traceback", "exception was never retrieved", "Exception in callback", "Warning:")


def assert_no_traceback(output: str) -> None:
    leaked = [leak for leak in LEAKS if leak in output]
    assert not leaked, f"{leaked} in:\n{output}"


# --- piped -----------------------------------------------------------------------------

# Runs smtpsh as its child and writes the child's peak RSS (KiB) to argv[1]; exits with its
# status. A fresh small process: a child forked from pytest itself would count pytest's
# memory in its peak (Linux folds the pre-exec peak into ru_maxrss).
MEASURED = """\
import os, subprocess, sys
child = subprocess.Popen([sys.executable, "-m", "smtpsh", *sys.argv[2:]])
_, status, usage = os.wait4(child.pid, 0)
open(sys.argv[1], "w").write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_piped(behaviour: Behaviour, port: int, cafile: Path, home: Path) -> Outcome:
    script = list(behaviour.script)
    script += ["NOOP", "QUIT"] if behaviour.ends == "open" else ["NOOP"]
    started = time.monotonic()
    peak_file = home / "peak-rss"
    proc = subprocess.Popen(
        [sys.executable, "-c", MEASURED, str(peak_file), *client_args(behaviour, port, cafile)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=smtpsh_env(home),
    )
    chunks: dict[str, bytes] = {"out": b"", "err": b""}

    def drain(name: str, stream: Any) -> None:
        while data := stream.read1(65536):
            chunks[name] += data

    readers = [
        threading.Thread(target=drain, args=(name, stream))
        for name, stream in (("out", proc.stdout), ("err", proc.stderr))
    ]
    for reader in readers:
        reader.start()
    assert proc.stdin is not None
    try:
        for i, line in enumerate(script):
            proc.stdin.write(line.encode() + b"\n")
            proc.stdin.flush()
            if i == 0 and behaviour.idle:
                # Idle from when the first command was answered, not from when it was
                # written: on a loaded machine smtpsh may take a second to start, and the
                # next line would then follow the answer at once (no idle time at all).
                deadline = time.monotonic() + bound(behaviour)
                while (
                    b"\nS: " not in chunks["out"].partition(b"\nC: ")[2]
                    and time.monotonic() < deadline
                    and proc.poll() is None
                ):
                    time.sleep(0.02)
                time.sleep(behaviour.idle)
        proc.stdin.close()
    except BrokenPipeError:
        pass  # it has already given up on the server: that is for the checks below
    try:
        proc.wait(bound(behaviour) + 10)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError(f"smtpsh still running after {bound(behaviour) + 10:g} s") from None
    elapsed = time.monotonic() - started
    peak_kib = int(peak_file.read_text())
    for reader in readers:
        reader.join(10)
    output = (chunks.get("out", b"") + chunks.get("err", b"")).decode("utf-8", "replace")
    assert_no_traceback(output)
    # Plain output (not a terminal): nothing a terminal would act on, whatever the server sent.
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f]", output), repr(output)
    said = said_line(behaviour, output)
    assert elapsed < bound(behaviour), f"took {elapsed:.1f} s"
    if behaviour.ends == "open":
        assert STILL_HERE in output.split(said, 1)[1], output
        assert proc.returncode == 0, output
    else:
        assert "/reconnect" in output.split(said, 1)[1] or "/reconnect" in said, output
        assert proc.returncode == 4, output
    assert peak_kib < MAX_RSS_KIB, f"peak RSS {peak_kib} KiB"
    return Outcome(said, elapsed, peak_kib)


# --- in a terminal ---------------------------------------------------------------------


class Terminal:
    """The shell in tmux, typed at as a person would."""

    def __init__(self, screen: Screen) -> None:
        self.screen = screen

    def prompts(self) -> int:
        return sum(PROMPT_MARK in line for line in self.screen.history().splitlines())

    def at_prompt(self) -> bool:
        """The cursor sits on a prompt with nothing typed: the shell waits for us."""
        return self.screen.cursor_line().rstrip().endswith(PROMPT_MARK)

    def wait_prompt(self, after: int, timeout: float) -> None:
        """Wait for a prompt newer than the ``after``-th one, with nothing typed yet."""
        deadline = time.monotonic() + patient(timeout)
        while time.monotonic() < deadline:
            if self.prompts() > after and self.at_prompt():
                return
            time.sleep(0.05)
        raise AssertionError(
            f"no fresh prompt after {patient(timeout):g} s:\n{self.screen.history()}")

    def enter(self, line: str, timeout: float) -> None:
        before = self.prompts()
        self.screen.line(line)
        self.wait_prompt(before, timeout)

    def wait_regex(self, pattern: str, timeout: float) -> str:
        deadline = time.monotonic() + patient(timeout)
        while time.monotonic() < deadline:
            for line in self.screen.history().splitlines():
                if re.search(pattern, line):
                    return line.strip()
            time.sleep(0.05)
        raise AssertionError(f"{pattern!r} not on screen after {patient(timeout):g} s:\n"
                             + self.screen.history())

    def wait_after(self, said: str, text: str, timeout: float) -> None:
        """Wait until ``text`` shows after the line ``said`` (or on it)."""
        deadline = time.monotonic() + patient(timeout)
        while time.monotonic() < deadline:
            history = self.screen.history()
            if text in said or text in history.split(said, 1)[-1]:
                return
            time.sleep(0.05)
        raise AssertionError(f"{text!r} not shown after {said!r} within {patient(timeout):g} s:\n"
                             + self.screen.history())

    def peak_kib(self) -> int:
        """VmHWM of the smtpsh process (the pane's shell runs it as its child)."""
        shell_pid = self.screen.pane_pid()
        children = Path(f"/proc/{shell_pid}/task/{shell_pid}/children").read_text().split()
        for pid in children:
            status = Path(f"/proc/{pid}/status").read_text()
            match = re.search(r"VmHWM:\s+(\d+) kB", status)
            if match:
                return int(match.group(1))
        raise AssertionError("smtpsh process not found under the pane")


def run_shell(behaviour: Behaviour, port: int, cafile: Path, home: Path) -> Outcome:
    started = time.monotonic()
    limit = bound(behaviour)
    screen = Screen(client_args(behaviour, port, cafile), smtpsh_env(home))
    try:
        term = Terminal(screen)
        term.wait_prompt(0, limit)
        for i, line in enumerate(behaviour.script):
            term.enter(line, limit)
            if i == 0 and behaviour.idle:
                time.sleep(behaviour.idle)
        said = term.wait_regex(behaviour.said, limit)
        elapsed = time.monotonic() - started
        reconnected = False
        if behaviour.ends == "open":
            term.enter("NOOP", limit)
            after = screen.history().split(said, 1)[1]
            assert STILL_HERE in after, screen.history()
            peak = term.peak_kib()
        else:
            term.wait_regex(r"\(closed\)›", limit)
            # The toolbar's "next: /reconnect" may be drawn a moment after the prompt.
            term.wait_after(said, "/reconnect", limit)
            peak = term.peak_kib()
            term.enter("/reconnect", limit)
            term.wait_regex("reconnecting to 127.0.0.1", limit)
            # A session again, unless the server misbehaves at every greeting (or, under load,
            # a trickled banner outlasts --timeout): the prompt says which.
            reconnected = "(closed)›" not in screen.cursor_line()
            assert not (reconnected and behaviour.at_banner), screen.history()
        assert_no_traceback(screen.history())
        screen.line("/quit")
        # The exit table's 'session' column: 0 when the session ended with smtpsh's QUIT (the
        # /quit of a session still open, or of the one /reconnect opened); 4 when no session
        # was left to QUIT.
        ended_with_quit = behaviour.ends == "open" or reconnected
        assert screen.exit_status(limit) == (0 if ended_with_quit else 4), screen.history()
        assert_no_traceback(screen.history())
        assert elapsed < limit, f"took {elapsed:.1f} s"
        assert peak < MAX_RSS_KIB, f"peak RSS {peak} KiB"
        return Outcome(said, elapsed, peak)
    finally:
        screen.close()
