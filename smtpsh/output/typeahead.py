"""The terminal between two prompts: what is typed ahead is kept, not shown.

While no prompt is up (a command in flight, a reply awaited) the terminal is back in the
mode prompt_toolkit found it in, normally the cooked mode, where the kernel echoes whatever
is typed or pasted ahead and keeps it as a line: the base64 password of an AUTH LOGIN sent
before its 334 arrived was on the screen before the masked prompt read it (a pty test caught
it under load), and a Ctrl-D typed then was taken by the line discipline as the end of a
read nobody was doing. The shell runs in quiet_typeahead(): no echo, no line discipline,
signals as before (Ctrl-C still interrupts a slow reply). Each prompt then reads what was
typed ahead and draws it itself, masked where it must be. prompt_toolkit saves the mode it
finds and restores it after each prompt, so this mode holds between prompts; the user's own
comes back when the shell ends, and for a program the shell starts on the terminal
($EDITOR), through as_found().
"""

from __future__ import annotations

import contextlib
import sys
import termios
from collections.abc import Iterator
from typing import Any

# The mode found when quiet_typeahead() began, while it lasts: (fd, attributes).
_FOUND: list[tuple[int, list[Any]]] = []


def _set(fd: int, attributes: list[Any]) -> None:
    with contextlib.suppress(termios.error, OSError):
        # TCSANOW, not TCSAFLUSH: what is typed ahead stays for the next prompt.
        termios.tcsetattr(fd, termios.TCSANOW, attributes)


@contextlib.contextmanager
def quiet_typeahead() -> Iterator[None]:
    """No echo and no line discipline while it lasts; nothing to do off a terminal."""
    try:
        fd = sys.stdin.fileno()
        found = termios.tcgetattr(fd)
    except (AttributeError, OSError, ValueError, termios.error):
        yield
        return
    quiet = list(found)
    quiet[3] &= ~(termios.ECHO | termios.ECHONL | termios.ICANON)
    quiet[6] = list(found[6])
    quiet[6][termios.VMIN], quiet[6][termios.VTIME] = 1, 0
    _FOUND.append((fd, found))
    _set(fd, quiet)
    try:
        yield
    finally:
        _FOUND.pop()
        _set(fd, found)


@contextlib.contextmanager
def as_found() -> Iterator[None]:
    """The terminal as the user had it, for a program run on it meanwhile (an editor that
    expects the usual echo); then quiet again."""
    if not _FOUND:
        yield
        return
    fd, found = _FOUND[-1]
    try:
        quiet = termios.tcgetattr(fd)
    except termios.error:
        yield
        return
    _set(fd, found)
    try:
        yield
    finally:
        _set(fd, quiet)
