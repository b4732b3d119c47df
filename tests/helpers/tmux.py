"""Drive the interactive shell in a real terminal (tmux) and read the screen as a person
sees it: prompt_toolkit redraws only what changed, so the byte stream alone is no screen."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

# The least time a wait for something that must show up allows: on a loaded machine a
# start-up or a redraw can take seconds. A wait ends as soon as what it waits for is there,
# so a generous one costs time only when the test fails anyway.
PATIENCE = 20.0


def patient(timeout: float) -> float:
    """``timeout``, but never less than PATIENCE."""
    return max(timeout, PATIENCE)


class Screen:
    def __init__(
        self,
        args: list[str],
        env: dict[str, str],
        *,
        width: int = 120,
        height: int = 40,
        job_control: bool = False,
    ) -> None:
        if shutil.which("tmux") is None:
            if os.environ.get("CI"):
                pytest.fail("tmux is not installed (scripts/setup-test-env installs it)")
            pytest.skip("tmux is not installed")
        self.socket = f"smtpsh-test-{uuid.uuid4().hex[:8]}"
        self.status_file = Path(env["HOME"]) / f"exit-{self.socket}"
        # tmux answers cursor-position requests; without them prompt_toolkit hides the toolbar.
        env = {k: v for k, v in env.items() if k != "PROMPT_TOOLKIT_NO_CPR"}
        command = " ".join(shlex.quote(a) for a in [sys.executable, "-m", "smtpsh", *args])
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items() if k.isidentifier())
        cwd = shlex.quote(os.getcwd())
        # `trap : INT`: a Ctrl-C for the shell under test must not end this sh (the child
        # still gets the default SIGINT: traps are reset on exec).
        script = (
            f"trap : INT; cd {cwd} && env {exports} {command};"
            f" echo $? > {self.status_file}; sleep 60"
        )
        if job_control:
            # An interactive shell in the pane, so Ctrl-Z stops the job and `fg` resumes it
            # (sh -c has no job control: a stopped child would hang it).
            self._tmux(
                "new-session", "-d", "-x", str(width), "-y", str(height),
                "env", "PS1=$ ", "bash", "--norc", "--noprofile", "-i",
            )
            # In a child sh, so a stop (status 148) is not taken for the exit status.
            inner = script.removeprefix("trap : INT; ").removesuffix("; sleep 60")
            self.line(f"clear; sh -c {shlex.quote(inner)}")
        else:
            self._tmux(
                "new-session", "-d", "-x", str(width), "-y", str(height), "sh", "-c", script
            )

    def _tmux(self, *args: str) -> str:
        result = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=10
        )
        return result.stdout

    def text(self) -> str:
        """The visible screen plus scroll-back, wrapped lines joined."""
        return self._tmux("capture-pane", "-p", "-J", "-S", "-200")

    def styled(self) -> str:
        """text(), with each cell's colours and attributes as escape sequences (tmux's own
        encoding: the same colour is the same sequence, whoever drew it)."""
        return self._tmux("capture-pane", "-p", "-e", "-J", "-S", "-200")

    def history(self) -> str:
        """Everything the pane has shown since it started (whole scroll-back)."""
        return self._tmux("capture-pane", "-p", "-J", "-S", "-")

    def visible(self) -> list[str]:
        """The visible screen only, one string a row (not joined: rows as drawn)."""
        return self._tmux("capture-pane", "-p").split("\n")

    def cursor_line(self) -> str:
        """The row the cursor is on: the prompt and what is typed, while at a prompt."""
        row = int(self._tmux("display-message", "-p", "#{cursor_y}").strip() or 0)
        rows = self.visible()
        return rows[row] if row < len(rows) else ""

    def resize(self, width: int, height: int) -> None:
        self._tmux("resize-window", "-x", str(width), "-y", str(height))

    def pane_pid(self) -> int:
        return int(self._tmux("display-message", "-p", "#{pane_pid}").strip())

    def kill_pane(self) -> None:
        """Close the terminal: the processes in it get SIGHUP."""
        self._tmux("kill-pane")

    def type(self, text: str) -> None:
        self._tmux("send-keys", "-l", text)

    def paste(self, text: str) -> None:
        """Paste ``text`` in one write, as a terminal without bracketed paste does (or with
        it off): each LF arrives as a CR, an Enter, so its lines come in ahead of the
        prompts that will read them."""
        self._tmux("set-buffer", "--", text)
        self._tmux("paste-buffer", "-d")

    def paste_bracketed(self, text: str) -> None:
        """Paste ``text`` as a modern terminal does: bracketed (ESC [200~ ... ESC [201~,
        since the application asked for it), its line endings exactly as given (LF, CRLF)."""
        self._tmux("set-buffer", "--", text)
        self._tmux("paste-buffer", "-d", "-p", "-r")

    def keys(self, *keys: str) -> None:
        self._tmux("send-keys", *keys)

    def line(self, text: str) -> None:
        self.type(text)
        self.keys("Enter")

    def wait_for(self, needle: str, timeout: float = 15) -> str:
        deadline = time.monotonic() + patient(timeout)
        while time.monotonic() < deadline:
            screen = self.text()
            if needle in screen:
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{needle!r} not on screen after {patient(timeout)} s:\n{self.text()}")

    def wait_words(self, needle: str, timeout: float = 15) -> str:
        """wait_for, with every run of white space as one space: smtpsh wraps its own lines
        to the terminal's width, so a long message may be on several rows."""
        deadline = time.monotonic() + patient(timeout)
        wanted = " ".join(needle.split())
        while time.monotonic() < deadline:
            screen = self.text()
            if wanted in " ".join(screen.split()):
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{needle!r} not on screen after {patient(timeout)} s:\n{self.text()}")

    def exit_status(self, timeout: float = 15) -> int:
        deadline = time.monotonic() + patient(timeout)
        while time.monotonic() < deadline:
            if self.status_file.exists() and self.status_file.read_text().strip():
                return int(self.status_file.read_text())
            time.sleep(0.1)
        raise AssertionError(f"the shell did not exit:\n{self.text()}")

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=10)
