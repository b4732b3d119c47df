"""Nothing lost: a recording session ended by SIGKILL, SIGTERM, SIGHUP (the terminal
closed) or interrupted by Ctrl-C, at each stage of a transaction, leaves a transcript
holding every dialogue line already shown; a full disk stops the recording with one clear
line and the session goes on."""

from __future__ import annotations

import contextlib
import os
import re
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.run import smtpsh_env
from tests.helpers.scripted_server import scripted_server
from tests.helpers.tmux import Screen, patient
from tests.hostile.drivers import Terminal, assert_no_traceback
from tests.hostile.servers import ANSWERS, DEFAULT_ANSWER, END_OF_DATA_ANSWER, Act, Peer, serve

pytestmark = pytest.mark.pty

TRANSACTION = ["EHLO me.test", "MAIL FROM:<a@me.test>", "RCPT TO:<b@hostile.test>"]
MESSAGE = ["DATA", "Subject: lost?", "", "line one"]
STAGES = {
    "banner": [],
    "ehlo": TRANSACTION[:1],
    "rcpt": TRANSACTION,
    "data": TRANSACTION + MESSAGE,
    "queued": [*TRANSACTION, *MESSAGE, "."],
}
_PROMPT = re.compile(r"^(?:127\.0\.0\.1:\d+|data)› ?(.*?)\s*$")
_REPLY = re.compile(r"^[2-5]\d\d(?:[ -].*)?$")
_RECORDED = re.compile(r"^\+\d+\s+([CS]):(?: (.*))?$")


def shown_dialogue(screen_text: str) -> list[str]:
    """The dialogue lines a person saw: typed lines after a prompt, reply lines."""
    lines = []
    rows = [row.rstrip() for row in screen_text.splitlines()]
    live = max((i for i, row in enumerate(rows) if _PROMPT.match(row)), default=-1)
    for i, row in enumerate(rows):
        if i == live:
            continue  # the prompt waiting for input: nothing typed on it has been sent
        if prompt := _PROMPT.match(row):
            typed = prompt.group(1)
            if not typed.startswith("/") and (typed or row.startswith("data›")):
                lines.append(f"C: {typed}".rstrip())
        elif _REPLY.match(row):
            lines.append(f"S: {row}")
    return lines


def recorded_dialogue(path: Path) -> list[str]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if match := _RECORDED.match(line):
            out.append(f"{match.group(1)}: {match.group(2) or ''}".rstrip())
    return out


def assert_all_recorded(shown: list[str], recorded: list[str]) -> None:
    """Every shown line, in order, in the transcript (which may hold more)."""
    rest = iter(recorded)
    for line in shown:
        assert any(line == r for r in rest), f"{line!r} shown but not recorded:\n{recorded}"


def smtpsh_pid(screen: Screen) -> int:
    shell = screen.pane_pid()
    children = Path(f"/proc/{shell}/task/{shell}/children").read_text().split()
    assert children, "smtpsh is not running"
    return int(children[0])


def wait_gone(pid: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]
        except (FileNotFoundError, ProcessLookupError):
            return  # gone between two looks: /proc/PID vanishes while it is being read
        if state == "Z":
            return
        time.sleep(0.05)
    raise AssertionError(f"process {pid} still alive")


@pytest.fixture
def screens() -> Iterator[list[Screen]]:
    opened: list[Screen] = []
    yield opened
    for screen in opened:
        screen.close()


@pytest.mark.parametrize("stage", list(STAGES))
@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM", "SIGHUP"])
def test_killed_recording_keeps_every_shown_line(
    tmp_path: Path, screens: list[Screen], stage: str, how: str
) -> None:
    transcript = tmp_path / "killed.smtpt"
    with scripted_server(serve({})) as port:
        screen = Screen(
            [f"127.0.0.1:{port}", "--record", str(transcript)], smtpsh_env(tmp_path)
        )
        screens.append(screen)
        term = Terminal(screen)
        term.wait_prompt(0, 15)
        for line in STAGES[stage]:
            term.enter(line, 10)
        shown = shown_dialogue(screen.history())
        assert shown, screen.history()
        pid = smtpsh_pid(screen)
        if how == "SIGHUP":
            screen.kill_pane()  # the terminal goes away: the kernel sends SIGHUP
        else:
            os.kill(pid, getattr(signal, how))
        wait_gone(pid)
    assert_all_recorded(shown, recorded_dialogue(transcript))
    assert transcript.stat().st_mode & 0o777 == 0o600


def slow_everything(delay: float) -> dict[bytes, Act]:
    """Every command but QUIT answered after ``delay`` seconds (the end of data too)."""

    def slow(answer: bytes) -> Act:
        def act(peer: Peer) -> bool:
            time.sleep(delay)
            peer.send(answer)
            return True

        return act

    verbs = {b"EHLO": ANSWERS[b"EHLO"], b"MAIL": DEFAULT_ANSWER, b"RCPT": DEFAULT_ANSWER,
             b"DATA": ANSWERS[b"DATA"], b".": END_OF_DATA_ANSWER}
    return {verb: slow(answer) for verb, answer in verbs.items()}


def test_ctrl_c_at_each_stage_loses_nothing(tmp_path: Path, screens: list[Screen]) -> None:
    transcript = tmp_path / "interrupted.smtpt"
    received: list[bytes] = []
    with scripted_server(serve(slow_everything(1.2), received=received)) as port:
        screen = Screen([f"127.0.0.1:{port}", "--record", str(transcript)], smtpsh_env(tmp_path))
        screens.append(screen)
        term = Terminal(screen)
        term.wait_prompt(0, 15)
        def replies_shown() -> int:
            return sum(x.startswith("S: ") for x in shown_dialogue(screen.history()))

        for line in [*TRANSACTION, "DATA", "Subject: interrupted", "", "."]:
            before, replies, arrived = term.prompts(), replies_shown(), len(received)
            screen.line(line)
            if line in ("Subject: interrupted", ""):
                term.wait_prompt(before, 10)  # message lines are not answered
                continue
            # Once the line has reached the server (not after a fixed time: under load the
            # shell may not have sent it yet), Ctrl-C while the server takes its time.
            deadline = time.monotonic() + patient(5)
            while len(received) == arrived:
                assert time.monotonic() < deadline, f"{line!r} never reached the server"
                time.sleep(0.02)
            screen.keys("C-c")
            term.wait_prompt(before, 10)
            assert_all_recorded(shown_dialogue(screen.history()), recorded_dialogue(transcript))
            # The late reply is shown when it comes, and recorded before it is shown.
            deadline = time.monotonic() + patient(5)
            while replies_shown() == replies and time.monotonic() < deadline:
                time.sleep(0.05)
            assert replies_shown() > replies, screen.history()
            assert_all_recorded(shown_dialogue(screen.history()), recorded_dialogue(transcript))
        history = screen.history()
        assert history.count("interrupted: stopped waiting") >= 4, history
        assert "queued as HOSTILE1" in history
        screen.line("/quit")
        assert screen.exit_status() == 0
        assert_no_traceback(screen.history())
        assert_all_recorded(shown_dialogue(screen.history()), recorded_dialogue(transcript))


# --- a full disk -------------------------------------------------------------------------


def limit_file_size(octets: int) -> None:
    """In the child: files may grow to ``octets`` (then write fails with EFBIG)."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (octets, octets))


def test_file_size_limit_stops_the_recording_not_the_session(tmp_path: Path) -> None:
    transcript = tmp_path / "limited.smtpt"
    script = "EHLO me.test\n" + "NOOP\n" * 60 + "QUIT\n"
    with scripted_server(serve({})) as port:
        result = subprocess.run(
            [sys.executable, "-m", "smtpsh", f"127.0.0.1:{port}", "--record", str(transcript)],
            input=script,
            capture_output=True,
            text=True,
            timeout=30,
            env=smtpsh_env(tmp_path),
            preexec_fn=lambda: limit_file_size(1500),
        )
    out = result.stdout + result.stderr
    assert_no_traceback(out)
    errors = [line for line in out.splitlines() if line.startswith("✗")]
    assert len(errors) == 1 and str(transcript) in errors[0], out  # one clear line
    assert out.count("S: 250 2.0.0 still here") == 60  # the session went on to the end
    assert result.returncode == 0, out
    assert transcript.stat().st_size <= 1500


@contextlib.contextmanager
def tiny_filesystem(path: Path, size: str = "12k") -> Iterator[Path]:
    path.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
        capture_output=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def test_full_disk_in_the_shell(tmp_path: Path, screens: list[Screen]) -> None:
    with tiny_filesystem(tmp_path / "full") as full:
        transcript = full / "full.smtpt"
        # The history lives on the full disk too: the shell must cope with both.
        env = smtpsh_env(tmp_path)
        env["XDG_STATE_HOME"] = str(full / "state")
        with scripted_server(serve({})) as port:
            screen = Screen([f"127.0.0.1:{port}", "--record", str(transcript)], env)
            screens.append(screen)
            term = Terminal(screen)
            term.wait_prompt(0, 15)
            # Fill the disk now that the shell runs: every write from here on fails.
            with contextlib.suppress(OSError), (full / "rest").open("wb") as fh:
                while True:
                    fh.write(b"x" * 512)
                    fh.flush()
            term.enter("EHLO me.test", 10)
            # Past the transcript's first page (tmpfs gives a file 4 KiB at a time).
            for _ in range(20):
                term.enter("NOOP " + "n" * 300, 10)
            history = screen.history()
            assert history.count("250 2.0.0 still here") == 20, history
            assert "! history not saved to" in history  # one line, once
            assert history.count("history not saved") == 1
            # One message, wrapped to the terminal's width (its rows after the first hang).
            failures = re.findall(
                r"✗ (?:.|\n(?=  ))*?No\s+space\s+left\s+on\s+device.*", history
            )
            assert len(failures) == 1 and str(transcript) in failures[0], history
            assert_no_traceback(history)
            screen.line("/quit")
            assert screen.exit_status() == 0
            assert_no_traceback(screen.history())
