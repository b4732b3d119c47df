"""The interactive front-end: prompt, toolbar, history, key bindings."""

from __future__ import annotations

import os
from pathlib import Path

from prompt_toolkit import PromptSession
from prompt_toolkit.application import get_app_or_none
from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
from prompt_toolkit.formatted_text import FormattedText
from prompt_toolkit.history import FileHistory
from prompt_toolkit.lexers import PygmentsLexer
from prompt_toolkit.patch_stdout import patch_stdout

from smtpsh.protocol.connection import verb_of
from smtpsh.protocol.session import State
from smtpsh.shell.app import Shell
from smtpsh.shell.completer import SmtpCompleter
from smtpsh.shell.lexer import SmtpCommandLexer
from smtpsh.shell.render import style


def state_dir() -> Path:
    """XDG state directory (history lives here, per the XDG base-directory spec)."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "state"
    )
    return Path(base) / "smtpsh"


def is_secret_line(line: str) -> bool:
    """AUTH with an initial response carries a credential: never keep it in history."""
    parts = line.split()
    return bool(parts) and parts[0].upper() == "AUTH" and len(parts) > 2


class PrivateHistory(FileHistory):
    """History in a 0600 file that never stores credentials or message lines."""

    def __init__(self, path: Path, shell: Shell) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_CREAT | os.O_APPEND | os.O_WRONLY, 0o600)
        os.close(fd)
        os.chmod(path, 0o600)
        super().__init__(str(path))
        self._shell = shell

    def store_string(self, string: str) -> None:
        conn = self._shell.client.conn
        # The line was already sent when this runs: in_auth/in_data describe the state
        # after it, so also look at the line itself.
        if conn.in_auth or is_secret_line(string) or self._shell.extra.get("secret_input"):
            return
        if self._shell.extra.get("last_was_data"):
            return
        super().store_string(string)


def _prompt(shell: Shell) -> FormattedText:
    session = shell.session
    if shell.client.conn.in_data:
        return FormattedText([("class:prompt.data", "data› ")])
    if session.state is State.CLOSED or not shell.client.connected:
        return FormattedText([("class:prompt.closed", f"{shell.client.address} (closed)› ")])
    return FormattedText([("class:prompt", f"{shell.client.address}› ")])


def _toolbar(shell: Shell) -> FormattedText:
    session = shell.session
    client = shell.client
    tls = session.tls or (client.options.implicit_tls and client.connected)
    verify = client.options.extra.get("verify", True)
    parts: list[tuple[str, str]] = [("", f" {client.address} │ ")]
    if tls:
        parts.append(
            (
                "class:toolbar.ok" if verify else "class:toolbar.warn",
                "TLS" + ("" if verify else " UNVERIFIED"),
            )
        )
    else:
        parts.append(("", "no TLS"))
    parts.append(("", " │ AUTH " + ("yes" if session.authenticated else "no")))
    if shell.raw_mode:
        parts.append(("class:toolbar.warn", " │ RAW"))
    step = session.state.value
    if session.queue_id and session.state is State.READY:
        step += f" (queued {session.queue_id})"
    parts.append(("", f" │ {step} │ next: {session.next_step}"))
    app = get_app_or_none()
    typed = app.current_buffer.text if app is not None else ""
    if typed and not typed.startswith("/") and not client.conn.in_data and not client.conn.in_auth:
        prediction = session.predict(verb_of(typed))
        if prediction is not None:
            parts.append(
                ("class:toolbar.warn", f"\n ⚠ expect {prediction.reply}: {prediction.reason}")
            )
    return FormattedText(parts)


async def run_interactive(shell: Shell) -> int:
    prompt: PromptSession[str] = PromptSession(
        history=PrivateHistory(state_dir() / "history", shell),
        auto_suggest=AutoSuggestFromHistory(),
        completer=SmtpCompleter(lambda: shell.session, lambda: shell.settings.helo),
        complete_while_typing=True,
        lexer=PygmentsLexer(SmtpCommandLexer),
        style=style(),
        bottom_toolbar=lambda: _toolbar(shell),
        enable_history_search=False,  # Ctrl-R still searches; Up walks the history
    )

    def redraw() -> None:
        app = get_app_or_none()
        if app is not None:
            app.invalidate()

    shell._on_redraw = redraw
    with patch_stdout(raw=True):
        await shell.connect()
        while not shell.done:
            shell.extra["last_was_data"] = shell.client.conn.in_data
            try:
                line = await prompt.prompt_async(lambda: _prompt(shell))
            except KeyboardInterrupt:
                continue  # Ctrl-C clears the line
            except EOFError:
                await shell.quit()  # Ctrl-D: QUIT politely and leave
                break
            await shell.handle_line(line)
    return 0
