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

from prompt_toolkit import PromptSession
from prompt_toolkit.completion import Completer, PathCompleter, WordCompleter
from prompt_toolkit.document import Document
from prompt_toolkit.formatted_text import FormattedText
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
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

    def __init__(self, style: object | None = None) -> None:
        self._style = style

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
        )
        message = FormattedText([("class:question", f"{safe(question)}: ")])
        placeholder = FormattedText([("#888888", safe(default))]) if default else None
        try:
            answer = await session.prompt_async(message, placeholder=placeholder)
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
                FormattedText([("class:question", "  │ ")]), default=initial
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
