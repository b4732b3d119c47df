"""The shell: one dispatcher for typed lines, with two front-ends.

``run_interactive`` drives it from a prompt_toolkit prompt; ``run_piped`` from standard
input, like nc. Both go through ``Shell.handle_line``, so a script behaves as a person would.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, TypeVar

from smtpsh.net.client import (
    ClientObserver,
    ClientOptions,
    ConnectError,
    ConnectionClosedError,
    ReplyTimeout,
    SMTPClient,
)
from smtpsh.protocol.connection import verb_of
from smtpsh.protocol.encoding import command_warnings, text_line_warnings
from smtpsh.protocol.errors import SmtpshError
from smtpsh.protocol.replies import Reply
from smtpsh.protocol.session import Session, State
from smtpsh.shell import metacommands
from smtpsh.shell.render import Printer, Renderer

if TYPE_CHECKING:
    from smtpsh.sandbox import Sandbox

T = TypeVar("T")


@dataclass
class ShellSettings:
    helo: str = "smtpsh.localdomain"
    annotate: bool = True
    interactive: bool = True
    keys: str = "emacs"  # line editing: "emacs" or "vi" (config.toml `keys`)
    observers: list[ClientObserver] = field(default_factory=list)  # e.g. a transcript recorder
    # Run after each successful connect, in order (e.g. --starttls: EHLO, STARTTLS, EHLO).
    on_connect: list[Callable[[Shell], Awaitable[None]]] = field(default_factory=list)


class Shell:
    def __init__(
        self,
        options: ClientOptions,
        settings: ShellSettings,
        printer: Printer,
        *,
        sandbox: Sandbox | None = None,
    ) -> None:
        self.options = options
        self.settings = settings
        self.printer = printer
        self.sandbox = sandbox
        self.renderer = Renderer(
            printer,
            annotate_on=settings.annotate,
            echo_sent=not settings.interactive,
            on_change=self._redraw,
        )
        self.client = self._new_client()
        self.done = False
        self.exit_code = 0
        self.raw_mode = False
        self._skipping_body = False  # piped: DATA was refused, drop lines up to "."
        self.candidates: list[tuple[str, str]] = []  # --mx: (exchanger, address) to try in order
        self.extra: dict[str, Any] = {}  # per-feature state (recording, auth, ...)
        # Called first with each typed line; True means handled (e.g. /tour checks it).
        self.line_hooks: list[Callable[[str], Awaitable[bool]]] = []
        # Set while a feature takes typed lines as data (the octets of a typed BDAT): the
        # prompt to show. Empty lines are data then, in piped mode too.
        self.collecting: Callable[[], str] | None = None
        self._on_redraw: Callable[[], None] | None = None

    # --- helpers for meta-commands -----------------------------------------------------

    @property
    def session(self) -> Session:
        return self.client.conn.session

    def say(self, text: str, style: str = "") -> None:
        self.printer.line(text, style)

    def info(self, text: str) -> None:
        self.renderer.meta(text, "info")

    def warn(self, text: str) -> None:
        self.renderer.meta(text, "warning")

    def error(self, text: str) -> None:
        self.renderer.meta(text, "error")

    def _redraw(self) -> None:
        if self._on_redraw is not None:
            self._on_redraw()

    def _new_client(self) -> SMTPClient:
        # The recorder before the renderer: a line is in the transcript before it is on screen.
        return SMTPClient(self.options, [*self.settings.observers, self.renderer])

    # --- connection --------------------------------------------------------------------

    async def connect(self) -> bool:
        """Connect; with --mx candidates, try each in order until one answers."""
        if not self.candidates:
            return await self._connect_once()
        for i, (name, address) in enumerate(self.candidates):
            self.options.host = address
            self.options.server_hostname = name  # SNI and certificate checks use the MX name
            self.client = self._new_client()
            self.info(f"trying MX {name} ({address})")
            if await self._connect_once():
                self.info(f"connected to {name} ({address})")
                self.exit_code = 0  # the exchangers that failed before do not count
                self.candidates = self.candidates[i:]  # /reconnect starts from the one reached
                return True
        self.error("no mail exchanger of the domain answered")
        return False

    async def _connect_once(self) -> bool:
        """Open the connection and show the banner; False (with one line said) on failure."""
        try:
            await self.guard(self.client.open())
            for hook in self.settings.on_connect:
                await hook(self)
        except (ConnectError, ConnectionClosedError, ReplyTimeout) as exc:
            if not getattr(exc, "told", False):
                self.error(str(exc))
            self.exit_code = 1
            return False
        except SmtpshError as exc:
            self.error(str(exc))
            self.exit_code = 1
            return False
        if self.settings.on_connect and not self.client.connected:
            self.exit_code = 1  # a hook closed it (e.g. --starttls refused: fail closed)
            return False
        return True

    async def reconnect(self) -> bool:
        await self.client.close()
        self.client = self._new_client()
        self.info(f"reconnecting to {self.client.address}")
        self.exit_code = 0
        return await self.connect()

    async def quit(self) -> None:
        """QUIT politely (if the session is open), then leave."""
        if self.client.connected and self.session.state is not State.CLOSED:
            if self.session.state is State.DATA:
                self.warn("leaving in the middle of DATA: the message is abandoned")
                await self.client.close()
            else:
                with contextlib.suppress(SmtpshError):
                    await self.guard(self.client.command("QUIT", timeout=5))
        await self.client.close()
        self.done = True

    # --- dispatch ----------------------------------------------------------------------

    async def handle_line(self, line: str) -> None:
        """One line the user typed (or a script sent)."""
        try:
            for hook in list(self.line_hooks):
                if await hook(line):
                    return
            if self._skipping_body:
                self._skipping_body = line != "."
            elif self.client.conn.in_data:
                await self._data_line(line)
            elif line.startswith("/"):
                await self._meta(line)
            elif line.startswith("help ") and line.split()[1:]:
                for text in metacommands.verb_help(line.split()[1], self.session.extensions):
                    self.say(text)
            elif (verb_hook := metacommands.hooked_verb(verb_of(line))) is not None:
                await verb_hook(self, line)
            else:
                await self.send_command(line)
        except (ConnectionClosedError, ReplyTimeout) as exc:
            if not exc.told:  # else the observers have already shown it
                self.error(str(exc))
        except SmtpshError as exc:
            self.error(str(exc))

    async def _meta(self, line: str) -> None:
        word, _, args = line.partition(" ")
        command = metacommands.find(word)
        if command is None:
            self.error(f"unknown shell command {word}; /help lists them")
            return
        await command.handler(self, args)

    def warn_before_sending(self, line: str) -> None:
        """Say if a server will probably refuse the line (it is sent anyway)."""
        if not self.raw_mode and not self.client.conn.in_auth:
            for warning in command_warnings(line):
                self.warn(warning)
            prediction = self.session.predict(verb_of(line))
            if prediction is not None:
                self.warn(f"expect {prediction.reply}: {prediction.reason} (sending anyway)")
            if verb_of(line) == "AUTH" and not self.session.tls:
                self.warn(
                    "AUTH in clear: anyone on the path can read the credentials (STARTTLS first)"
                )

    async def send_command(self, line: str) -> Reply | None:
        """Send a command as typed; warn first if the server will probably refuse it."""
        if not self.client.connected:
            self.error("not connected: /reconnect opens a new session")
            return None
        self.warn_before_sending(line)
        reply = await self.guard(self.client.command(line, raw=self.raw_mode))
        if reply.code == 354 and self.client.conn.in_data:
            self.info("DATA mode: type the message; a line with a single '.' ends it")
        elif verb_of(line) == "DATA" and not self.settings.interactive:
            # A script's message lines must not run as commands when DATA was refused.
            self._skipping_body = True
            self.warn("DATA was refused: the script's message lines up to '.' are skipped")
        return reply

    async def _data_line(self, line: str) -> None:
        if line == ".":
            reply = await self.guard(self.client.end_data())
            if reply.klass == 2 and self.session.queue_id:
                self.info(f"message accepted, queue id {self.session.queue_id}")
        else:
            for warning in text_line_warnings(line):
                self.warn(warning)
            await self.client.send_data_line(line, long_lines=True)

    async def guard(self, awaitable: Awaitable[T]) -> T:
        """Await, letting Ctrl-C cancel just this operation (the shell goes on)."""
        if not self.settings.interactive:
            return await awaitable
        loop = asyncio.get_running_loop()
        task: asyncio.Task[T] = asyncio.ensure_future(awaitable)
        try:
            loop.add_signal_handler(signal.SIGINT, task.cancel)
        except (NotImplementedError, RuntimeError):
            return await task
        try:
            return await task
        except asyncio.CancelledError:
            if task.cancelled():
                raise SmtpshError(
                    "interrupted: stopped waiting (a late reply is still shown)"
                ) from None
            raise
        finally:
            loop.remove_signal_handler(signal.SIGINT)


# --- front-ends ----------------------------------------------------------------------


async def run_piped(shell: Shell, stream: IO[str] | None = None) -> int:
    """Read lines from stdin, send each, wait for its reply; QUIT at the end of input."""
    stream = stream or sys.stdin
    for std, errors in ((stream, "surrogateescape"), (sys.stdout, "backslashreplace")):
        # A script may hold bytes that are not UTF-8 (whatever the locale): they go to the
        # server as they were, and are shown escaped, instead of ending the run.
        if isinstance(std, io.TextIOWrapper):
            std.reconfigure(errors=errors)
    if not await shell.connect():
        return 1
    loop = asyncio.get_running_loop()
    while not shell.done:
        line = await loop.run_in_executor(None, stream.readline)
        if not line:
            break
        line = line.rstrip("\n").removesuffix("\r")
        if not line and not shell.client.conn.in_data and shell.collecting is None:
            continue
        if shell.session.state is State.CLOSED and not line.startswith("/"):
            shell.error(f"not sent (connection closed): {line}")
            shell.exit_code = 1
            break
        await shell.handle_line(line)
    if not shell.done:
        await shell.quit()
    if not shell.client.quit_sent:
        shell.exit_code = 1  # the session did not end with our QUIT: say so to scripts
    return shell.exit_code


def run_coroutine(main: Coroutine[Any, Any, int]) -> int:
    try:
        return asyncio.run(main)
    except KeyboardInterrupt:
        return 130
