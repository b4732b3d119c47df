"""How the dialogue is shown: reply lines coloured by class, a dim annotation under each.

The Renderer is a ClientObserver, so what is on screen is exactly what happened on the
wire. Output goes through a Printer (smtpsh.output.printer): styled for a terminal, plain
text for pipes, unsafe characters escaped either way.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from smtpsh.net.base import ClientBase, ClientObserver
from smtpsh.output.printer import Fragments, Printer
from smtpsh.output.safe import invisible_names
from smtpsh.protocol.codes import annotate
from smtpsh.protocol.connection import ReplyEvent, challenge_gloss
from smtpsh.protocol.replies import Reply
from smtpsh.protocol.session import BANNER

# Prefixes of the plain dialogue (piped mode), as in RFC examples and our transcripts.
SENT_PREFIX = "C: "
RECEIVED_PREFIX = "S: "

META_MARKS = {"info": "·", "warning": "!", "error": "✗"}


def annotation_of(
    reply: Reply, verb: str | None = None, when: frozenset[str] = frozenset()
) -> str:
    """The dim line under a reply: what its codes mean for the command ``verb`` answers,
    sent when the session was ``when`` (Command.when) (and a decoded AUTH challenge)."""
    if reply.code == 0:
        return "not an SMTP reply"
    text = annotate(reply.code, reply.enhanced, verb=verb, text=reply.text, when=when)
    gloss = challenge_gloss(reply)
    if gloss is not None:
        text += f" · {gloss}"
    return text


def elapsed_text(seconds: float) -> str:
    """The time a reply took, as the annotation shows it: '+1,003 ms'."""
    return f"+{seconds * 1000:,.0f} ms"


def reply_fragments(
    reply: Reply,
    *,
    annotate_on: bool,
    prefix: str = "",
    verb: str | None = None,
    elapsed: float | None = None,
    when: frozenset[str] = frozenset(),
) -> Fragments:
    style = f"class:reply.{reply.klass if reply.klass in (2, 3, 4, 5) else 0}"
    out: Fragments = []
    for i, line in enumerate(reply.wire_lines()):
        if i:
            out.append(("", "\n"))
        out.append((style, prefix + line))
    for problem in reply.problems:
        out.append(("class:problem", f"\n  ⚠ {problem}"))
    hidden = invisible_names("".join(reply.wire_lines()))
    if hidden:
        out.append((
            "class:problem",
            f"\n  ⚠ the reply holds characters that hide or reorder text ({'; '.join(hidden)}):"
            " shown escaped (\\u…); text that needs them may be disguising itself",
        ))
    took = f"{elapsed_text(elapsed)}" if elapsed is not None else ""
    if annotate_on:
        out.append(("class:annotation", f"\n  ↳ {annotation_of(reply, verb, when)}"
                    + (f" · {took}" if took else "")))
    elif took:
        out.append(("class:annotation", f"\n  ↳ {took}"))
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
        self.last_verb: str | None = None  # the command last_reply answered
        self.last_when: frozenset[str] = frozenset()  # what the session was when it went out
        # Rewrites a hint for where it is shown (smtpsh.shell.hints); None: as worded.
        self.hint_context: Callable[[str], str] | None = None
        # No prompt and no script to go on in (`smtpsh send`): no /reconnect hint.
        self.no_script = False
        # /timing on, --timing: each reply's annotation says how long it took.
        self.timing = False
        self._sent_at: dict[int, float] = {}  # id(Command) -> when it was sent
        self._connected_at: float | None = None
        self._aside: Callable[[Reply], str | None] | None = None  # see aside_next_reply

    def on_connected(self, client: ClientBase) -> None:
        self._connected_at = time.monotonic()
        self._sent_at.clear()

    def on_sent(self, client: ClientBase, text: str, kind: str) -> None:
        if self.timing and client.conn.pending:
            # Told right after the line is queued: the newest command awaiting a reply.
            self._sent_at.setdefault(id(client.conn.pending[-1]), time.monotonic())
        if self.echo_sent:
            self.printer.emit([("class:sent", SENT_PREFIX + text)])

    def on_reply(self, client: ClientBase, event: ReplyEvent) -> None:
        self.last_reply = event.reply
        self.last_verb = event.command.verb if event.command is not None else None
        self.last_when = event.command.when if event.command is not None else frozenset()
        elapsed = None
        if self.timing:
            now = time.monotonic()
            if event.command is not None and id(event.command) in self._sent_at:
                elapsed = now - self._sent_at.pop(id(event.command))
            elif event.command is None or event.command.verb == BANNER:
                elapsed = now - self._connected_at if self._connected_at is not None else None
                self._connected_at = None  # the banner once; later unsolicited replies: none
        self.printer.emit(
            reply_fragments(
                event.reply, annotate_on=self.annotate_on, prefix=self.prefix,
                verb=self.last_verb, elapsed=elapsed, when=self.last_when,
            )
        )
        if event.command is not None and self._aside is not None:
            aside, self._aside = self._aside, None
            text = aside(event.reply)
            if text is not None:
                self.printer.emit([("class:annotation", f"  ↳ {text}")])
        if event.command is None:
            self.meta("the server sent this without being asked", "warning")
        elif event.command.recipient is not None:  # LMTP: one reply per recipient
            self.meta(f"LMTP: that reply is for <{event.command.recipient}>")
        self._changed()

    def aside_next_reply(self, aside: Callable[[Reply], str | None] | None) -> None:
        """Give the next reply to a command one more line under its gloss: what ``aside``
        says of it (None: nothing). Said there, before whatever the reply sets off (a TLS
        handshake, its failure), and with --no-annotate too: it answers a warning said
        before the line went, which that option does not hide."""
        self._aside = aside

    def on_meta(self, client: ClientBase, text: str, level: str = "info") -> None:
        self.meta(text, level)

    def on_closed(self, client: ClientBase, reason: str) -> None:
        # A piped run has no prompt to type /reconnect at: the hint is for its script.
        # `smtpsh send` has neither (no_script): the reason alone.
        hint = (
            "" if self.no_script
            else "; a /reconnect line in the script opens a new session"
            if self.echo_sent
            else "; /reconnect opens a new session"
        )
        self.meta(f"{reason}{hint}.", "warning")
        self._changed()

    def meta(self, text: str, level: str = "info") -> None:
        if self.hint_context is not None:
            text = self.hint_context(text)
        style = {"info": "class:meta", "warning": "class:warning", "error": "class:error"}[level]
        self.printer.emit([(style, f"{META_MARKS[level]} {text}")])

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()
