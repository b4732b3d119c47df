"""The interactive front-end: prompt, toolbar, history, key bindings."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path

from prompt_toolkit import PromptSession
from prompt_toolkit.application import get_app_or_none
from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
from prompt_toolkit.document import Document
from prompt_toolkit.filters import has_completions
from prompt_toolkit.formatted_text import (
    FormattedText,
    PygmentsTokens,
    StyleAndTextTuples,
    to_formatted_text,
)
from prompt_toolkit.history import FileHistory, History
from prompt_toolkit.input.typeahead import get_typeahead, store_typeahead
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent, merge_key_bindings
from prompt_toolkit.key_binding.bindings.mouse import load_mouse_bindings
from prompt_toolkit.keys import Keys
from prompt_toolkit.layout.processors import Processor, Transformation, TransformationInput
from prompt_toolkit.lexers import PygmentsLexer
from prompt_toolkit.patch_stdout import patch_stdout

from smtpsh import state
from smtpsh.output.fit import truncate_fragments
from smtpsh.output.printer import style
from smtpsh.output.safe import LAYOUT, safe
from smtpsh.output.typeahead import quiet_typeahead
from smtpsh.protocol.connection import SECRET_MASK
from smtpsh.protocol.session import State
from smtpsh.safefile import open_private
from smtpsh.shell.app import Shell, script_line, session_status
from smtpsh.shell.completer import SmtpCompleter
from smtpsh.shell.lexer import SmtpCommandLexer
from smtpsh.shell.metacommands import load_features
from smtpsh.shell.nextstep import AUTH_NEXT, CHUNK_NEXT, next_step


def is_secret_line(line: str) -> bool:
    """AUTH with an initial response carries a credential, and /b64 may be encoding one by
    hand: never keep either in history."""
    parts = line.split()
    if parts and parts[0].lower() == "/b64":
        return True
    return bool(parts) and parts[0].upper() == "AUTH" and len(parts) > 2


_AUTH_WITH_RESPONSE = re.compile(r"\s*auth\s+\S+\s", re.IGNORECASE)


def secret_start(text: str, in_auth: bool) -> int | None:
    """Where the secret part of a line being typed starts (None: nothing to hide).

    During an AUTH exchange every line but a /command is secret; otherwise the initial
    response of `AUTH MECH response`.
    """
    if in_auth and not text.startswith("/"):
        return 0
    match = _AUTH_WITH_RESPONSE.match(text)
    return match.end() if match else None


class MaskSecrets(Processor):
    """Draws a fixed mask over the secret part of the line being typed, so no credential
    typed at the prompt reaches the screen, nor its length."""

    def __init__(self, shell: Shell) -> None:
        self._shell = shell

    def apply_transformation(self, ti: TransformationInput) -> Transformation:
        start = secret_start(ti.document.text, self._shell.client.conn.in_auth)
        if start is None:
            return Transformation(ti.fragments)
        return fixed_mask(ti, start)


class HideAll(Processor):
    """A hidden prompt (a password): the fixed mask for whatever is typed."""

    def apply_transformation(self, ti: TransformationInput) -> Transformation:
        return fixed_mask(ti, 0)


def fixed_mask(ti: TransformationInput, start: int) -> Transformation:
    """The line with everything from ``start`` on drawn as SECRET_MASK (the transcript's
    mask too): one '*' a character would tell the secret's length. The cursor anywhere in
    the secret shows at the end of the mask."""
    fragments: StyleAndTextTuples = []
    pos = 0
    masked = False
    for fragment in ti.fragments:
        klass, text = fragment[0], fragment[1]
        if "[ZeroWidthEscape]" in klass:
            fragments.append(fragment)
            continue
        keep = max(0, min(len(text), start - pos))
        if keep:
            fragments.append((klass, text[:keep]))
        if keep < len(text) and not masked:
            fragments.append((klass, SECRET_MASK))
            masked = True
        pos += len(text)
    end = start + len(SECRET_MASK) if masked else start
    length = pos

    def to_display(i: int) -> int:
        return i if i <= start else end

    def to_source(i: int) -> int:
        return i if i <= start else length

    return Transformation(fragments, source_to_display=to_display, display_to_source=to_source)


# A mouse report: ESC [ M and three bytes, or ESC [ [<] b;x;y M|m. A colour code typed or
# pasted without bracketed paste (ESC [31m) looks like one to prompt_toolkit's parser, and
# its mouse handler raised on it ("Unhandled exception in event loop").
_MOUSE_REPORT = re.compile(r"\x1b\[(?:M...|<?\d+;\d+;\d+[mM])", re.DOTALL)


def guard_bindings() -> KeyBindings:
    """Key bindings that keep odd terminal input from ending in an exception screen."""
    default = load_mouse_bindings().get_bindings_for_keys((Keys.Vt100MouseEvent,))[-1]
    bindings = KeyBindings()

    @bindings.add(Keys.Vt100MouseEvent)
    def _mouse(event: KeyPressEvent) -> object:
        if _MOUSE_REPORT.fullmatch(event.data):
            return default.handler(event)
        return None  # not a mouse report: dropped

    return bindings


class PrivateHistory(FileHistory):
    """History in a 0600 file that never stores credentials or message lines."""

    def __init__(self, path: Path, shell: Shell) -> None:
        super().__init__(str(path))
        self._shell = shell
        self.failed = False  # a write failed (disk full, read-only): kept in memory only
        try:
            # Refused: a symlink, another user's file, not a regular file.
            os.close(open_private(path, append=True, make_parents=True))
        except OSError as exc:
            self._give_up(exc)

    def _give_up(self, exc: OSError) -> None:
        self.failed = True
        self._shell.warn(
            f"history not saved to {os.fsdecode(self.filename)}: {exc.strerror or exc}"
            " (the session goes on)"
        )

    def load_history_strings(self) -> Iterable[str]:
        try:
            yield from super().load_history_strings()
        except OSError:
            return  # an unreadable history is an empty one

    def _secret(self, string: str) -> bool:
        # Runs when the line is accepted, before it is sent: in_auth is the state it is
        # typed in (a line typed during an AUTH exchange is a credential).
        # A line skipped unsent (an answer after a refused AUTH, a message line after a
        # refused DATA, typed ahead) is no command of the user's either.
        shell = self._shell
        conn = shell.client.conn
        return (
            conn.in_auth
            or is_secret_line(string)
            or bool(shell.extra.get("secret_input"))
            or shell.skips(string)
        )

    def append_string(self, string: str) -> None:
        # Not even in memory: Up or the grey auto-suggestion would bring a secret back.
        if not self._secret(string):
            super().append_string(string)

    def store_string(self, string: str) -> None:
        if self.failed or self._secret(string) or self._shell.extra.get("last_was_data"):
            return
        # FileHistory's own format ('# date', then '+line'), but written through
        # open_private: prompt_toolkit's open(..., "ab") would follow a planted symlink.
        entry = f"\n# {datetime.datetime.now()}\n" + "".join(
            f"+{line}\n" for line in string.split("\n")
        )
        try:
            fd = open_private(os.fsdecode(self.filename), append=True)
            with os.fdopen(fd, "ab") as stream:
                stream.write(entry.encode("utf-8", "replace"))
        except OSError as exc:  # e.g. the disk is full: say so once
            self._give_up(exc)


def _prompt(shell: Shell) -> FormattedText:
    session = shell.session
    if shell.client.conn.in_data:
        return FormattedText([("class:prompt.data", "data› ")])
    if shell.collecting is not None:
        return FormattedText([("class:prompt.data", shell.collecting())])
    # The address is the user's word (a unix:PATH may hold anything): shown like the
    # toolbar shows it, since prompt_toolkit draws bidi overrides as they are.
    address = safe(shell.client.address)
    if session.state is State.CLOSED or not shell.client.connected:
        return FormattedText([("class:prompt.closed", f"{address} (closed)› ")])
    return FormattedText([("class:prompt", f"{address}› ")])


def _toolbar(shell: Shell) -> FormattedText:
    session = shell.session
    client = shell.client
    tls = session.tls or (client.options.implicit_tls and client.connected)
    tls = tls or client.ssl_object is not None
    # What the live session checked (/starttls --no-verify too), else what was asked for.
    info = client.tls_info
    verify = info.verified if info else client.options.verify
    parts: list[tuple[str, str]] = [("", f" {client.address} │ ")]
    closed = not client.connected or session.state is State.CLOSED
    if closed:  # what TLS and AUTH were no longer matters: nothing is open
        parts.append(("class:toolbar.bad", "closed"))
    elif tls:
        parts.append(
            (
                "class:toolbar.ok" if verify else "class:toolbar.warn",
                "TLS" + ("" if verify else " UNVERIFIED"),
            )
        )
    else:
        parts.append(("", "no TLS"))
    if not closed:
        parts.append(("", " │ AUTH " + ("yes" if session.authenticated else "no")))
    if shell.raw_mode:
        parts.append(("class:toolbar.warn", " │ RAW"))
    app = get_app_or_none()
    width = app.output.get_size().columns if app is not None else 0
    hint = next_step(session, connected=client.connected, tls=bool(tls))
    collecting = shell.collecting is not None and not closed
    if closed:
        parts.append(("", f" │ next: {hint}"))
    elif shell.collecting is not None:  # a typed BDAT: what is typed now is the chunk
        step = shell.collecting().strip().removesuffix("›").strip()
        parts.append(("", f" │ {step} │ next: {CHUNK_NEXT}"))
    elif client.conn.in_auth:  # an AUTH typed by hand got its 334: the answer is next
        parts.append(("", f" │ auth │ next: {AUTH_NEXT}"))
    else:
        step = session.state.value
        used = sum(len(text) for _, text in parts) + len(step) + len(hint) + 11
        if session.queue_id and session.state is State.READY and used + 30 <= (width or 999):
            step += f" (queued {session.queue_id})"  # only where the next step still fits
        parts.append(("", f" │ {step} │ next: {hint}"))
    typed = app.current_buffer.text if app is not None else ""
    typing_command = not (client.conn.in_data or client.conn.in_auth or collecting)
    if typed and not typed.startswith("/") and typing_command and not shell.raw_mode:
        # Here, not at the top: the rules load with the first command typed.
        from smtpsh.protocol.rules import predict_typed

        prediction = predict_typed(session, typed)
        if prediction is not None:
            parts.append(
                ("class:toolbar.warn", f"\n ⚠ expect {prediction.reply}: {prediction.reason}")
            )
    # The queue id and the server's address come from outside: shown like the dialogue.
    parts = [(style, safe(text, LAYOUT)) for style, text in parts]
    # One row a line whatever the width (a resize redraws it): cut with '…', not wrapped.
    return FormattedText(truncate_fragments(parts, width) if width else parts)


def input_waiter(shell: Shell, session: PromptSession[str]) -> Callable[[], bool]:
    """Whether keys wait to be read, typed or pasted ahead of the next prompt: the lines
    of a paste not run yet, the keys prompt_toolkit read with the line just accepted, and
    those still in the terminal (read now, without waiting, and kept for the next prompt).
    A terminal's answer to a cursor position request is no key of the user's."""

    def waiting() -> bool:
        if shell.pasted:
            return True
        keys = get_typeahead(session.input)
        with contextlib.suppress(OSError):
            keys += session.input.read_keys()
        store_typeahead(session.input, keys)
        return any(key.key != Keys.CPRResponse for key in keys)

    return waiting


def remembered_addresses(shell: Shell) -> Callable[[], list[str]]:
    """The addresses used with this server in earlier sessions (the state dir, 0600)."""
    from smtpsh.shell.addressbook import AddressBook

    def addresses() -> list[str]:
        key = f"{shell.options.host}:{shell.options.port}"
        if shell.addresses is None or shell.addresses.key != key:
            shell.addresses = AddressBook(key)  # a /reconnect to another port: that one's
        return shell.addresses.addresses()

    addresses()
    return addresses


def tab_bindings() -> KeyBindings:
    """Tab on a completion menu with a single entry takes it and closes the menu: the
    default would cycle back to what was typed, so a second Tab undid the completion."""
    bindings = KeyBindings()

    @bindings.add("tab", filter=has_completions)
    def _tab(event: KeyPressEvent) -> None:
        buffer = event.current_buffer
        state = buffer.complete_state
        if state is not None and len(state.completions) == 1:
            if state.current_completion is None:
                buffer.apply_completion(state.completions[0])
            else:
                buffer.complete_state = None  # already inserted: keep it
            return
        buffer.complete_next()

    return bindings


def coloured(line: str) -> list[tuple[str, str]]:
    """A line coloured as the prompt's lexer colours it while it is typed: a pasted line
    shown after its prompt looks like the line typed there."""
    tokens = SmtpCommandLexer(ensurenl=False).get_tokens(line)
    return [(style, text) for style, text, *_ in to_formatted_text(PygmentsTokens(list(tokens)))]


class Paste:
    """A paste of several lines at the prompt, run as if each line had been typed and
    entered in turn, as telnet sends them: every line that a line break ends, each through
    Shell.handle_line like a typed line. What follows the last line break is not entered:
    it waits at the prompt to be edited, as typed text does. The terminal sends a paste
    bracketed (prompt_toolkit asks it to), so the paste arrives whole, as one key."""

    def __init__(self, shell: Shell, history: History) -> None:
        self._shell = shell
        self._history = history
        self._rest = Document()
        self._running = False

    def bindings(self) -> KeyBindings:
        bindings = KeyBindings()

        @bindings.add(Keys.BracketedPaste)
        def _paste(event: KeyPressEvent) -> None:
            # Terminals end a pasted line with LF, CRLF or CR (prompt_toolkit's own handler
            # makes each an LF): any of them is one Enter.
            data = event.data.replace("\r\n", "\n").replace("\r", "\n")
            buffer = event.current_buffer
            if "\n" not in data:
                buffer.insert_text(data)  # one line: edited, then entered, as before
                return
            document = buffer.document
            *lines, last = (document.text_before_cursor + data).split("\n")
            self._rest = Document(last + document.text_after_cursor, len(last))
            self._shell.pasted.extend(lines)
            self._running = True
            first = self.next_line()
            if first is None:  # nothing to run (blank lines only, or not connected)
                buffer.document = self.rest()
                return
            # Entered at this prompt as if typed: shown there, kept in history as typed.
            buffer.document = Document(first)
            buffer.validate_and_handle()

        return bindings

    def next_line(self) -> str | None:
        """The paste's next line to run; None when none is left. A blank line outside DATA
        (and a BDAT's octets) is layout, as in a script; on a closed connection the paste
        stops at its first line that is no /command, as a script does."""
        shell = self._shell
        while shell.pasted:
            line = script_line(shell, shell.pasted.pop(0))
            if line is None:
                continue
            if not line.startswith("/") and (
                shell.session.state is State.CLOSED or not shell.client.connected
            ):
                shell.error(f"not sent (connection closed): {line}")
                shell.stop_paste("the connection is closed")
                break
            return line
        if self._running:
            self._running = False
            shell.paste_ended()
        return None

    def show(self, line: str) -> None:
        """A pasted line about to run, after its prompt as if typed there (a credential
        masked as it is while typed), and kept in the history as a typed line is. A line
        skipped unsent (after a refused DATA or AUTH) is neither."""
        shell = self._shell
        if shell.skips(line):  # said once, as for a script, not shown as if it ran
            return
        start = secret_start(line, shell.client.conn.in_auth)
        shown = line if start is None else line[:start] + SECRET_MASK
        shell.printer.emit([*_prompt(shell), *coloured(shown)])
        strings = self._history.get_strings()
        if not strings or strings[-1] != line:  # as prompt_toolkit adds a typed line
            self._history.append_string(line)

    def rest(self) -> Document:
        """What the last paste left after its last line break: the next prompt's text."""
        rest, self._rest = self._rest, Document()
        return rest

    # The paste as the questions a command asks see it (smtpsh.compose.ask.PastedAhead).

    def next_answer(self) -> str | None:
        """The next pasted line, as a question's answer: taken as it is (a blank line is
        Enter, the question's default), never shown at the shell's prompt."""
        if not self._shell.pasted:
            return None
        return self._shell.pasted.pop(0)

    def leftover(self) -> str:
        """The text after the paste's last line break, taken: it comes after the lines
        still waiting, so nothing while they do."""
        return "" if self._shell.pasted else self.rest().text

    def add(self, lines: list[str], leftover: str) -> None:
        """A multi-line paste at a question: its lines after the answer wait for the next
        questions, then run at the prompt, after any still waiting."""
        self._shell.pasted.extend(lines)
        self._running = self._running or bool(lines)
        if leftover:
            self._rest = Document(leftover, len(leftover))


async def run_interactive(shell: Shell) -> int:
    history = PrivateHistory(Path(state.state_dir()) / "history", shell)
    paste = Paste(shell, history)
    prompt: PromptSession[str] = PromptSession(
        history=history,
        auto_suggest=AutoSuggestFromHistory(),
        completer=SmtpCompleter(
            lambda: shell.session, lambda: shell.settings.helo, remembered_addresses(shell)
        ),
        complete_while_typing=True,
        lexer=PygmentsLexer(SmtpCommandLexer),
        style=style(shell.printer.theme),
        vi_mode=shell.settings.keys == "vi",
        bottom_toolbar=lambda: _toolbar(shell),
        enable_history_search=False,  # Ctrl-R still searches; Up walks the history
        enable_suspend=True,  # Ctrl-Z stops the shell like any program; `fg` resumes it
        key_bindings=merge_key_bindings([guard_bindings(), tab_bindings(), paste.bindings()]),
        input_processors=[MaskSecrets(shell)],
    )

    def redraw() -> None:
        app = get_app_or_none()
        if app is not None:
            app.invalidate()

    shell._on_redraw = redraw
    shell.paste_ahead = paste
    shell.input_waiting = input_waiter(shell, prompt)
    with quiet_typeahead(), patch_stdout(raw=True):
        await shell.connect()
        # Import the feature commands while the user reads the banner, not on the first '/'.
        asyncio.get_running_loop().call_later(0.3, load_features)
        while not shell.done:
            shell.extra["last_was_data"] = shell.client.conn.in_data or shell.collecting is not None
            line = paste.next_line()
            if line is not None:
                paste.show(line)
            else:
                shell.typed_next()
                try:
                    line = await prompt.prompt_async(lambda: _prompt(shell), default=paste.rest())
                except KeyboardInterrupt:
                    continue  # Ctrl-C clears the line
                except EOFError:
                    await shell.quit()  # Ctrl-D: QUIT politely and leave
                    break
            await shell.handle_line(line)
    # The exit table's 'session' column, as a script gets it: 0 only when the session ended
    # with smtpsh's QUIT (/quit, Ctrl-D, a typed QUIT) and no /send or /compose failed; a
    # server that hung up, a message abandoned in DATA, no connection: FAILED.
    return session_status(shell)
