"""Questions in the terminal for the guided flow: one prompt_toolkit prompt each, with
completion and an editable default; the body in a multi-line prompt or in $EDITOR.

Only used when a person is at the terminal; scripts give everything as flags.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Protocol

from prompt_toolkit import PromptSession
from prompt_toolkit.completion import Completer, PathCompleter, WordCompleter
from prompt_toolkit.document import Document
from prompt_toolkit.formatted_text import FormattedText
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.keys import Keys
from prompt_toolkit.validation import ValidationError, Validator

from smtpsh.compose.message import ComposeError
from smtpsh.output.safe import is_safe, safe
from smtpsh.output.typeahead import as_found
from smtpsh.protocol.errors import SmtpshError

# Typed alone on a line of the body: end it, or move what was typed into $EDITOR.
BODY_END = "."
BODY_EDITOR = "~e"


class Cancelled(SmtpshError):
    """The user left the guided flow (Ctrl-C or Ctrl-D): nothing was sent."""


class PastedAhead(Protocol):
    """The lines of a multi-line paste not run yet (the shell's): a question takes the next
    one as its answer, as if it had been typed there, before the commands after it run."""

    def next_answer(self) -> str | None:
        """The next pasted line, taken as a question's answer (None: none waits)."""

    def leftover(self) -> str:
        """What the paste left after its last line break (taken): the next prompt's text."""

    def add(self, lines: list[str], leftover: str) -> None:
        """A paste at a question: the lines after its answer, for what asks next."""


def paste_bindings(ahead: PastedAhead) -> KeyBindings:
    """A multi-line paste at a one-line question: its first line is the answer (entered,
    as if typed), the next lines answer the next questions, then run as commands, in
    order, as at the shell's prompt. An answer is one line: never one holding a line break
    (a password with a pasted LF in it, an LF smuggled into a command)."""
    bindings = KeyBindings()

    @bindings.add(Keys.BracketedPaste)
    def _paste(event: KeyPressEvent) -> None:
        # Terminals end a pasted line with LF, CRLF or CR: any of them is one Enter.
        data = event.data.replace("\r\n", "\n").replace("\r", "\n")
        buffer = event.current_buffer
        if "\n" not in data:
            buffer.insert_text(data)
            return
        document = buffer.document
        first, *lines = (document.text_before_cursor + data).split("\n")
        ahead.add(lines[:-1], lines[-1] + document.text_after_cursor)
        buffer.document = Document(first)
        buffer.validate_and_handle()

    return bindings


class _Check(Validator):
    """Runs ``check`` on the typed text; its ComposeError is shown under the prompt."""

    def __init__(self, check: Callable[[str], object]) -> None:
        self._check = check

    def validate(self, document: Document) -> None:
        try:
            self._check(document.text)
        except ComposeError as exc:
            # The message may quote the answer or its default (a configured mail_from):
            # prompt_toolkit draws it as given, so it is escaped here.
            raise ValidationError(len(document.text), safe(str(exc))) from None


class Asker:
    """Asks the guided flow's questions at the terminal."""

    def __init__(self, style: object | None = None, pasted: PastedAhead | None = None) -> None:
        self._style = style
        self._pasted = pasted

    async def text(
        self,
        question: str,
        default: str = "",
        *,
        words: Iterable[str] = (),
        completer: Completer | None = None,
        check: Callable[[str], object] | None = None,
        hint: str = "",
    ) -> str:
        """One line. The default is shown as a dim placeholder, not as text to edit: Enter
        takes it, typing replaces it (typed text never lands after the default).

        The question, the default and the hint can hold text from outside (config.toml's
        mail_from, an address a server echoed): prompt_toolkit draws them without the
        output layer, so each is escaped here, and a word that is not safe to show is not
        offered for completion at all (as the shell's own completer does)."""
        checked = check
        offered = [word for word in words if is_safe(word)]

        def with_default(text: str) -> object:
            assert checked is not None
            return checked(text.strip() or default)

        session: PromptSession[str] = PromptSession(
            completer=completer or (WordCompleter(offered, sentence=True) if offered else None),
            complete_while_typing=True,
            validator=_Check(with_default) if check else None,
            validate_while_typing=False,
            bottom_toolbar=(lambda: f" {safe(hint)}") if hint else None,
            key_bindings=paste_bindings(self._pasted) if self._pasted is not None else None,
        )
        message = FormattedText([("class:question", f"{safe(question)}: ")])
        placeholder = FormattedText([("#888888", safe(default))]) if default else None
        # A line pasted ahead is the answer, shown entered as if typed; one the check
        # refuses waits at the question, to be edited.
        pasted = self._pasted.next_answer() if self._pasted is not None else None
        typed = self._pasted.leftover() if self._pasted is not None and pasted is None else ""
        try:
            answer = await session.prompt_async(
                message,
                placeholder=placeholder,
                default=typed if pasted is None else pasted,
                accept_default=pasted is not None,
            )
        except (KeyboardInterrupt, EOFError):
            raise Cancelled("composition cancelled: nothing was sent") from None
        return answer.strip() or default

    async def yes_no(self, question: str, default: bool) -> bool:
        hint = "[Y/n]" if default else "[y/N]"
        while True:
            answer = (await self.text(f"{question} {hint}", words=("yes", "no"))).lower()
            if not answer:
                return default
            if answer in ("y", "yes"):
                return True
            if answer in ("n", "no"):
                return False

    async def choice(self, question: str, options: dict[str, str], default: str) -> str:
        """One of ``options`` (key -> meaning) by its first letter or whole word."""
        keys = "/".join(k.upper() if k == default else k for k in options)
        while True:
            answer = (await self.text(f"{question} [{keys}]", words=list(options.values()))).lower()
            if not answer:
                return default
            for key, meaning in options.items():
                if answer in (key, meaning.lower()):
                    return key

    async def paths(self, question: str) -> list[Path]:
        def check(text: str) -> list[Path]:
            found = []
            for word in shlex.split(text):
                path = Path(os.path.expanduser(word))
                if not path.is_file():
                    raise ComposeError(f"{word}: no such file")
                found.append(path)
            return found

        answer = await self.text(
            question,
            completer=PathCompleter(expanduser=True),
            check=lambda text: check(text),
            hint="file names separated by spaces (quote names with spaces); Tab completes",
        )
        return check(answer) if answer else []

    async def body(self, initial: str = "") -> str:
        """The message text: typed here (a line with '.' ends it) or written in $EDITOR."""
        bindings = KeyBindings()

        @bindings.add("enter")
        def _enter(event: KeyPressEvent) -> None:
            buffer = event.current_buffer
            line = buffer.document.current_line.strip()
            if line in (BODY_END, BODY_EDITOR) and buffer.document.is_cursor_at_the_end:
                buffer.validate_and_handle()
            else:
                buffer.insert_text("\n")

        ahead = self._pasted
        if ahead is not None:

            @bindings.add(Keys.BracketedPaste)
            def _paste(event: KeyPressEvent) -> None:
                # The text's lines, as at the shell's prompt; a pasted '.' line ends it as
                # a typed one does, and the lines after it are the next questions' and
                # commands', in order.
                data = event.data.replace("\r\n", "\n").replace("\r", "\n")
                buffer = event.current_buffer
                document = buffer.document
                lines = (document.text_before_cursor + data).split("\n")
                for end in range(document.cursor_position_row, len(lines) - 1):
                    if lines[end].strip() in (BODY_END, BODY_EDITOR):
                        ahead.add(lines[end + 1 : -1], lines[-1] + document.text_after_cursor)
                        buffer.document = Document("\n".join(lines[: end + 1]))
                        buffer.validate_and_handle()
                        return
                buffer.insert_text(data)

            # Lines pasted ahead are the text, up to its '.' (entered as if typed); a paste
            # that ends before it leaves them to go on with.
            taken: list[str] = []
            while (line := ahead.next_answer()) is not None:
                taken.append(line)
                if line.strip() in (BODY_END, BODY_EDITOR):
                    break
            ended = bool(taken) and taken[-1].strip() in (BODY_END, BODY_EDITOR)
            if not ended and ((rest := ahead.leftover()) or taken):
                taken.append(rest)
            if taken:
                initial = "\n".join([initial, *taken] if initial else taken)
        else:
            ended = False

        session: PromptSession[str] = PromptSession(
            multiline=True,
            key_bindings=bindings,
            prompt_continuation=lambda width, line, wrap: "  │ ",
            bottom_toolbar=(
                " '.' alone on a line ends the text · '~e' alone opens $EDITOR"
                " · Esc Enter also ends it"
            ),
        )
        try:
            text = await session.prompt_async(
                FormattedText([("class:question", "  │ ")]), default=initial,
                accept_default=ended,
            )
        except (KeyboardInterrupt, EOFError):
            raise Cancelled("composition cancelled: nothing was sent") from None
        lines = text.split("\n")
        last = lines[-1].strip() if lines else ""
        if last == BODY_EDITOR:
            return await edit_text("\n".join(lines[:-1]))
        if last == BODY_END:
            lines = lines[:-1]
        return "\n".join(lines)


def editor_command() -> list[str]:
    """$VISUAL, else $EDITOR, else vi — split like a shell would."""
    for name in ("VISUAL", "EDITOR"):
        value = os.environ.get(name, "").strip()
        if value:
            return shlex.split(value)
    return ["vi"]


async def edit_text(initial: str) -> str:
    """Let the user write in their editor; the text comes back when the editor exits."""
    command = editor_command()
    handle, name = tempfile.mkstemp(prefix="smtpsh-", suffix=".txt")
    path = Path(name)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(initial if not initial or initial.endswith("\n") else initial + "\n")
        with as_found():  # the editor gets the terminal as the user set it
            try:
                process = await asyncio.create_subprocess_exec(*command, str(path))
            except OSError as exc:
                raise ComposeError(
                    f"cannot start the editor {command[0]}: {exc.strerror or exc}"
                ) from None
            status = await process.wait()
        if status != 0:
            raise Cancelled(f"the editor exited with status {status}: nothing was sent")
        return path.read_text(encoding="utf-8", errors="replace")
    finally:
        path.unlink(missing_ok=True)
