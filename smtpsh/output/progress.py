"""A status line: one line at the bottom of a terminal that rewrites itself (a progress
bar, counts), cleared before any other line is written, and never seen outside a terminal.

This module alone knows how a terminal draws and erases such a line: a carriage return,
then ESC [ K (erase to the end of the line), then the text. Its text is fragments, made
safe like every line smtpsh shows (smtpsh.output.safe), and cut to the terminal's width:
a line that wrapped could no longer be erased by a carriage return. On a stream that is
not a terminal (a pipe, a file, a CI log) nothing of it is written, so such a log holds
only the lines the command printed.

Use::

    status = StatusLine(sys.stderr, enabled=not args.quiet)
    status.update(f"{bar(done, total)} {done}/{total}")   # as often as it changes
    status.clear()          # before printing a line of results (the next update redraws)
    status.finish()         # at the end: erased, and no update draws again
"""

from __future__ import annotations

import os
import sys

from smtpsh.output.fit import truncate_fragments
from smtpsh.output.printer import Fragments, render
from smtpsh.output.safe import safe

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (mypy knows the name)
if TYPE_CHECKING:
    from typing import TextIO

# Back to the first column, then erase to the end of the line (ECMA-48 EL, CSI K).
_ERASE = "\r\x1b[K"


def bar(done: int, total: int, width: int = 24) -> str:
    """A progress bar of ``width`` cells, ``done`` of ``total`` filled (full when the total
    is 0: nothing left to do)."""
    filled = min(width, max(0, width * done // total)) if total > 0 else width
    return "█" * filled + "░" * (width - filled)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


class StatusLine:
    """One self-rewriting line on ``stream`` (standard error by default) when it is a
    terminal and ``enabled``; otherwise every call does nothing.

    ``colour``: styles of smtpsh.output.printer.REPORT_STYLES shown as SGR colours.
    """

    def __init__(
        self, stream: TextIO | None = None, *, enabled: bool = True, colour: bool = False
    ) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled and _is_terminal(self.stream)
        self.colour = colour
        self.shown = False  # is a status line on the screen now?
        self._last: Fragments | None = None

    def _columns(self) -> int:
        try:
            return os.get_terminal_size(self.stream.fileno()).columns
        except (OSError, ValueError, AttributeError):
            return 0

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            # The terminal went away (or the stream was closed): a status line is no
            # reason to stop the command; draw nothing more.
            self.enabled = self.shown = False

    def update(self, line: str | Fragments) -> None:
        """Show ``line`` (plain text, or (style, text) fragments) in place of the last one.
        Every character a terminal would act on is shown escaped, a line break included:
        a status line is one line."""
        if not self.enabled:
            return
        fragments = [("", line)] if isinstance(line, str) else list(line)
        self._last = fragments
        shown = [(style, safe(text)) for style, text in fragments]
        width = self._columns()
        if width > 1:
            # One column spare: some terminals wrap when the last column is written.
            shown = truncate_fragments(shown, width - 1)
        self._write(_ERASE + render([shown], colour=self.colour))
        self.shown = self.enabled

    def clear(self) -> None:
        """Erase the status line (if one is shown), e.g. before a line of results; the
        next update() draws it again, and so does redraw()."""
        if self.shown:
            self._write(_ERASE)
            self.shown = False

    def redraw(self) -> None:
        """Show the last line given to update() again (after clear())."""
        if self._last is not None and not self.shown:
            self.update(self._last)

    def finish(self, line: str | Fragments | None = None) -> None:
        """The end: the status line is erased and no later update() draws it. With
        ``line``, that text is left on the terminal as its last word (on a terminal only,
        like the status line itself: what a log must hold goes through a Printer)."""
        self.clear()
        if line is not None and self.enabled:
            self.update(line)
            if self.shown:
                self._write("\n")
        self.enabled = self.shown = False

    def __enter__(self) -> StatusLine:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.finish()
