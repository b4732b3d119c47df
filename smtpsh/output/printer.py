"""Writing lines of (style, text) fragments: coloured for a terminal, plain for a pipe.

A line is built as fragments, never as a string with escape codes in it: the printer alone
turns styles into colour, and it shows every character a terminal would act on escaped
(smtpsh.output.safe), whoever wrote it. Two ways to colour: the shell's styles and themes
go through prompt_toolkit (imported only when a coloured line is shown); the sub-commands'
reports (``sgr=True``) use plain SGR codes and never import it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable

from smtpsh.output.safe import LAYOUT, safe

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (mypy knows the name)
if TYPE_CHECKING:
    from typing import TextIO

    from prompt_toolkit.output import Output
    from prompt_toolkit.styles import BaseStyle

# One line of output: (style, text) pairs. A style is "" or "class:NAME".
Fragments = list[tuple[str, str]]

# Styles of the reports (probe, relay, enum, dns; also shown in the shell):
# name -> (SGR codes for a plain terminal, prompt_toolkit style in the shell).
REPORT_STYLES: dict[str, tuple[str, str]] = {
    "bold": ("1", "bold"),
    "red": ("31;1", "ansired bold"),
    "green": ("32", "ansigreen"),
    "yellow": ("33", "ansiyellow"),
    "dim": ("2", "#888888"),
    "cyan": ("36", "ansicyan"),
    "status.ok": ("32", "ansigreen"),
    "status.warning": ("33", "ansiyellow"),
    "status.error": ("31", "ansired"),
}

# Class names -> prompt_toolkit styles (the shell, the piped dialogue, replay).
STYLE_RULES: dict[str, str] = {
    "reply.2": "ansigreen",
    "reply.3": "ansicyan",
    "reply.4": "ansiyellow",
    "reply.5": "ansired",
    "reply.0": "ansimagenta",
    "sent": "ansiblue",
    "annotation": "#888888",
    "problem": "ansiyellow",
    "meta": "#888888 italic",
    "warning": "ansiyellow",
    "error": "ansired bold",
    "prompt": "bold",
    "prompt.closed": "ansired bold",
    "prompt.data": "ansimagenta",
    "bottom-toolbar": "noreverse bg:#303030 #d0d0d0",
    "toolbar.warn": "bg:#303030 ansiyellow bold",
    "toolbar.ok": "bg:#303030 ansigreen",
    "toolbar.bad": "bg:#303030 ansired bold",
    "tour": "ansicyan",
    "tour.title": "ansicyan bold",
    **{name: toolkit for name, (_, toolkit) in REPORT_STYLES.items()},
}

# Colour themes (config.toml `theme`): changes to STYLE_RULES. "dark" is STYLE_RULES itself.
THEMES: dict[str, dict[str, str]] = {
    "dark": {},
    "light": {  # dark greys and no yellow text: readable on a white background
        "reply.4": "#a05a00",
        "annotation": "#606060",
        "problem": "#a05a00",
        "meta": "#606060 italic",
        "warning": "#a05a00",
        "tour": "ansiblue",
        "tour.title": "ansiblue bold",
        "bottom-toolbar": "noreverse bg:#d8d8d8 #202020",
        "toolbar.warn": "bg:#d8d8d8 #a05a00 bold",
        "toolbar.ok": "bg:#d8d8d8 ansigreen",
        "toolbar.bad": "bg:#d8d8d8 ansired bold",
        "yellow": "#a05a00",
        "dim": "#606060",
        "status.warning": "#a05a00",
    },
}


def style(theme: str = "dark") -> BaseStyle:
    from prompt_toolkit.styles import Style

    return Style.from_dict({**STYLE_RULES, **THEMES.get(theme, {})})


def terminal_columns() -> int:
    """shutil.get_terminal_size().columns, without importing shutil (and bz2, lzma) at each
    start: argparse makes a help formatter for every option added, even when none is shown."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 80
    return columns or 80


def colour_wanted(mode: str, stream: TextIO) -> bool:
    """--color auto|always|never, honouring NO_COLOR (https://no-color.org)."""
    if mode == "always":
        return True
    if mode == "never" or os.environ.get("NO_COLOR"):
        return False
    return stream.isatty()


def plain(fragments: Fragments) -> str:
    """A line's text without its styles, made safe to show (for tests and plain output)."""
    return "".join(safe(text, LAYOUT) for _, text in fragments)


def _sgr(fragments: Fragments) -> str:
    out = []
    for name, text in fragments:
        codes = REPORT_STYLES.get(name.removeprefix("class:"))
        out.append(f"\x1b[{codes[0]}m{text}\x1b[0m" if codes and text else text)
    return "".join(out)


def render(lines: Iterable[Fragments], *, colour: bool = False) -> str:
    """Lines as one string: REPORT_STYLES as SGR codes when ``colour``, unsafe characters
    escaped either way (for callers that need text, e.g. a report kept for later)."""
    shown = ([(style, safe(text, LAYOUT)) for style, text in line] for line in lines)
    return "\n".join(_sgr(line) if colour else "".join(t for _, t in line) for line in shown)


class Printer:
    """Writes lines of fragments, styled or plain; never a raw control character."""

    def __init__(
        self,
        *,
        colour: bool,
        stream: TextIO | None = None,
        theme: str = "dark",
        sgr: bool = False,
    ) -> None:
        self.colour = colour
        self.stream = stream or sys.stdout
        self.theme = theme
        self.sgr = sgr  # colour with REPORT_STYLES' SGR codes, without prompt_toolkit
        self._style: BaseStyle | None = None
        # smtpsh's own lines are wrapped to a terminal's width (smtpsh.output.fit), never
        # in a pipe: a file or a script gets each line whole.
        try:
            self._terminal = self.stream.isatty()
        except ValueError:  # a closed stream
            self._terminal = False

    def columns(self) -> int:
        """The terminal's width now (it follows a resize); 0 when not a terminal."""
        if not self._terminal:
            return 0
        try:
            return os.get_terminal_size(self.stream.fileno()).columns
        except (OSError, ValueError):
            return 0

    def emit(self, fragments: Fragments) -> None:
        """One line (its fragments may hold line breaks of our own layout)."""
        fragments = [(style, safe(text, LAYOUT)) for style, text in fragments]
        width = self.columns()
        if width:
            from smtpsh.output.fit import wrap_fragments

            fragments = wrap_fragments(fragments, width)
        try:
            if self.colour and not self.sgr:
                self._emit_styled(fragments)
            else:
                text = _sgr(fragments) if self.colour else "".join(t for _, t in fragments)
                self.stream.write(text + "\n")
                self.stream.flush()
        except BrokenPipeError:
            # The reader went away (`| head`): write nowhere from now on; the command
            # stops at its next step and smtpsh exits BROKEN_PIPE.
            from smtpsh import exitcodes

            exitcodes.reader_gone()
            self.colour = False

    def _emit_styled(self, fragments: Fragments) -> None:
        from prompt_toolkit import print_formatted_text
        from prompt_toolkit.formatted_text import FormattedText

        if self._style is None:
            self._style = style(self.theme)
        output = None
        if not self.stream.isatty():
            # --color always into a pipe: prompt_toolkit would pick plain text for a non-tty.
            output = _pipe_output(self.stream)
        if output is None:
            print_formatted_text(FormattedText(fragments), style=self._style, file=self.stream)
        else:
            print_formatted_text(FormattedText(fragments), style=self._style, output=output)

    def line(self, text: str, style: str = "") -> None:
        self.emit([(style, text)])

    def lines(self, lines: Iterable[Fragments]) -> None:
        for fragments in lines:
            self.emit(fragments)


def _pipe_output(stream: TextIO) -> Output:
    """A VT100 output for colour into a pipe or file: SGR codes only, no terminal control
    (prompt_toolkit writes CR LF and 'autowrap on', ESC[?7h, for a screen)."""
    from prompt_toolkit.data_structures import Size
    from prompt_toolkit.output.vt100 import Vt100_Output

    class PipeOutput(Vt100_Output):
        def enable_autowrap(self) -> None:
            pass

        def write(self, data: str) -> None:
            super().write(data.replace("\r\n", "\n"))

    return PipeOutput(stream, lambda: Size(rows=24, columns=80), term="xterm")


def report_printer(mode: str = "auto", stream: TextIO | None = None) -> Printer:
    """The printer of a sub-command's report on standard output: --color ``mode``,
    NO_COLOR respected, SGR colours (no prompt_toolkit)."""
    stream = stream or sys.stdout
    return Printer(colour=colour_wanted(mode, stream), stream=stream, sgr=True)


def print_error(prog: str, message: str, stream: TextIO | None = None) -> None:
    """``PROG: message`` on standard error, one line; the message may quote a server, a
    file or DNS, so it is made safe like everything else shown."""
    stream = stream or sys.stderr
    stream.write(f"{prog}: {safe(message)}\n")
    stream.flush()
