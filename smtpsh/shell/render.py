"""How the dialogue is shown: reply lines coloured by class, a dim annotation under each.

The Renderer is a ClientObserver, so what is on screen is exactly what happened on the
wire. Output goes through a Printer: styled for a terminal, plain text for pipes.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from smtpsh.net.base import ClientBase, ClientObserver
from smtpsh.protocol.codes import annotate
from smtpsh.protocol.connection import ReplyEvent, decode_challenge
from smtpsh.protocol.encoding import escape_controls
from smtpsh.protocol.replies import Reply

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (mypy knows the name)
if TYPE_CHECKING:
    from typing import TextIO

    from prompt_toolkit.styles import BaseStyle

Fragments = list[tuple[str, str]]

# Class names -> prompt_toolkit styles. prompt_toolkit itself is imported only when
# colour is on: the piped path must start fast (bench/bench_session.py).
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
    },
}


def style(theme: str = "dark") -> BaseStyle:
    from prompt_toolkit.styles import Style

    return Style.from_dict({**STYLE_RULES, **THEMES.get(theme, {})})


# Prefixes of the plain dialogue (piped mode), as in RFC examples and our transcripts.
SENT_PREFIX = "C: "
RECEIVED_PREFIX = "S: "

META_MARKS = {"info": "·", "warning": "!", "error": "✗"}


def colour_wanted(mode: str, stream: TextIO) -> bool:
    """--color auto|always|never, honouring NO_COLOR (https://no-color.org)."""
    if mode == "always":
        return True
    if mode == "never" or os.environ.get("NO_COLOR"):
        return False
    return stream.isatty()


def printable(text: str) -> str:
    """``text`` as a terminal shows text: control characters but line breaks and TAB as
    \\xNN, whoever wrote them (a server's reply, a certificate's name, a DNS record)."""
    if text.isprintable():
        return text
    return "\n".join(escape_controls(part) for part in text.split("\n"))


class Printer:
    """Writes fragments styled (through prompt_toolkit) or as plain text."""

    def __init__(self, *, colour: bool, stream: TextIO | None = None, theme: str = "dark") -> None:
        self.colour = colour
        self.stream = stream or sys.stdout
        self.theme = theme
        self._style: BaseStyle | None = None

    def emit(self, fragments: Fragments) -> None:
        fragments = [(style, printable(text)) for style, text in fragments]
        try:
            if self.colour:
                self._emit_styled(fragments)
            else:
                self.stream.write("".join(text for _, text in fragments) + "\n")
                self.stream.flush()
        except BrokenPipeError:
            # Reader went away (e.g. `| head`): stop writing quietly.
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
            self.stream = sys.stdout
            self.colour = False

    def _emit_styled(self, fragments: Fragments) -> None:
        from prompt_toolkit import print_formatted_text
        from prompt_toolkit.formatted_text import FormattedText

        if self._style is None:
            self._style = style(self.theme)
        output = None
        if not self.stream.isatty():
            # --color always into a pipe: prompt_toolkit would pick plain text for a non-tty.
            from prompt_toolkit.data_structures import Size
            from prompt_toolkit.output.vt100 import Vt100_Output

            output = Vt100_Output(self.stream, lambda: Size(rows=24, columns=80), term="xterm")
        if output is None:
            print_formatted_text(FormattedText(fragments), style=self._style, file=self.stream)
        else:
            print_formatted_text(FormattedText(fragments), style=self._style, output=output)

    def line(self, text: str, style: str = "") -> None:
        self.emit([(style, text)])

    def ansi_line(self, text: str) -> None:
        """A line one of smtpsh's own reports coloured with ANSI SGR codes (probe, dns):
        the codes become styles, since emit() shows raw control characters as \\xNN."""
        if not self.colour:
            self.line(text)
            return
        from prompt_toolkit.formatted_text import ANSI, to_formatted_text

        self.emit([(f[0], f[1]) for f in to_formatted_text(ANSI(text))])


def annotation_of(reply: Reply) -> str:
    """The dim line under a reply: what its codes mean (and a decoded AUTH challenge)."""
    if reply.code == 0:
        return "not an SMTP reply"
    text = annotate(reply.code, reply.enhanced)
    challenge = decode_challenge(reply)
    if challenge is not None:
        text += f" · decoded: {challenge!r}"
    return text


def reply_fragments(reply: Reply, *, annotate_on: bool, prefix: str = "") -> Fragments:
    style = f"class:reply.{reply.klass if reply.klass in (2, 3, 4, 5) else 0}"
    out: Fragments = []
    for i, line in enumerate(reply.wire_lines()):
        if i:
            out.append(("", "\n"))
        out.append((style, prefix + line))
    for problem in reply.problems:
        out.append(("class:problem", f"\n  ⚠ {problem}"))
    if annotate_on:
        out.append(("class:annotation", f"\n  ↳ {annotation_of(reply)}"))
    return out


class Renderer(ClientObserver):
    """Shows the dialogue. ``echo_sent``: show the client's lines too (piped mode)."""

    def __init__(
        self,
        printer: Printer,
        *,
        annotate_on: bool = True,
        echo_sent: bool = False,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.printer = printer
        self.annotate_on = annotate_on
        self.echo_sent = echo_sent
        self.prefix = RECEIVED_PREFIX if echo_sent else ""
        self.on_change = on_change  # e.g. redraw the prompt when the session closes
        self.last_reply: Reply | None = None

    def on_sent(self, client: ClientBase, text: str, kind: str) -> None:
        if self.echo_sent:
            self.printer.emit([("class:sent", SENT_PREFIX + text)])

    def on_reply(self, client: ClientBase, event: ReplyEvent) -> None:
        self.last_reply = event.reply
        self.printer.emit(
            reply_fragments(event.reply, annotate_on=self.annotate_on, prefix=self.prefix)
        )
        if event.command is None:
            self.meta("the server sent this without being asked", "warning")
        self._changed()

    def on_meta(self, client: ClientBase, text: str, level: str = "info") -> None:
        self.meta(text, level)

    def on_closed(self, client: ClientBase, reason: str) -> None:
        self.meta(f"{reason}. /reconnect opens a new session.", "warning")
        self._changed()

    def meta(self, text: str, level: str = "info") -> None:
        style = {"info": "class:meta", "warning": "class:warning", "error": "class:error"}[level]
        self.printer.emit([(style, f"{META_MARKS[level]} {text}")])

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()
