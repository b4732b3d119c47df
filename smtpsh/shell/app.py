"""The shell: one dispatcher for typed lines, with two front-ends.

``run_interactive`` drives it from a prompt_toolkit prompt; ``run_piped`` from standard
input, like nc. Both go through ``Shell.handle_line``, so a script behaves as a person would.

A piped run starts without asyncio: plain SMTP lines go through a BlockingClient and the
coroutines are driven by ``drive``. The first line that needs more (a shell command,
STARTTLS, BDAT) hands the live connection to an SMTPClient on an event loop. Nothing here
imports asyncio, dataclasses or typing at start-up for that reason (bench/bench_session.py).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
from collections.abc import Awaitable, Callable, Coroutine

from smtpsh import exitcodes
from smtpsh.net.base import (
    ClientBase,
    ClientObserver,
    ClientOptions,
    ConnectError,
    ConnectionClosedError,
    ReplyTimeout,
)
from smtpsh.output.dialogue import Renderer
from smtpsh.output.printer import Printer
from smtpsh.protocol.connection import AUTH_CANCEL, verb_of
from smtpsh.protocol.encoding import text_line_warnings
from smtpsh.protocol.errors import LocalProtocolError, SmtpshError
from smtpsh.protocol.replies import Reply
from smtpsh.protocol.session import Prediction, Session, State
from smtpsh.shell import metacommands

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (mypy knows the name)
if TYPE_CHECKING:
    import socket
    from typing import Any, TypeVar

    from smtpsh.compose.ask import PastedAhead
    from smtpsh.net.blocking import EarlyConnection
    from smtpsh.net.client import SMTPClient
    from smtpsh.sandbox import Sandbox
    from smtpsh.shell.addressbook import AddressBook
    from smtpsh.shell.steps import StepWatch

    T = TypeVar("T")


class Interrupted(SmtpshError):
    """Ctrl-C stopped the operation under way at the terminal (the shell goes on): the
    user's choice, no failure of a /send or /compose for the exit status."""


class ShellSettings:
    def __init__(
        self,
        helo: str = "smtpsh.localdomain",
        annotate: bool = True,
        interactive: bool = True,
        keys: str = "emacs",
        observers: list[ClientObserver] | None = None,
        on_connect: list[Callable[[Shell], Awaitable[None]]] | None = None,
    ) -> None:
        self.helo = helo
        self.annotate = annotate
        self.interactive = interactive
        self.keys = keys  # line editing: "emacs" or "vi" (config.toml `keys`)
        self.observers = observers or []  # e.g. a transcript recorder
        # Run after each successful connect, in order (e.g. --starttls: EHLO, STARTTLS, EHLO).
        self.on_connect = on_connect or []


class Shell:
    def __init__(
        self,
        options: ClientOptions,
        settings: ShellSettings,
        printer: Printer,
        *,
        sandbox: Sandbox | None = None,
        blocking: bool = False,
    ) -> None:
        self.options = options
        self.settings = settings
        self.printer = printer
        self.sandbox = sandbox
        # A piped run that has not needed the event loop yet: BlockingClient (see module doc).
        self.blocking = blocking
        self.renderer = Renderer(
            printer,
            annotate_on=settings.annotate,
            echo_sent=not settings.interactive,
            on_change=self._redraw,
        )
        if settings.interactive:
            self.renderer.hint_context = self._hint_in_shell
        self.link: ClientBase = self._new_client()  # the live transport, either kind
        self.done = False
        self.exit_code = 0
        # The exit status before a connection failed and made it FAILED: back once a connect
        # succeeds (/reconnect), so that a failed /send or /compose before still counts.
        self._status_before_connect: int | None = None
        self.raw_mode = False
        # Piped (or pasted): DATA was refused, drop lines up to "."
        self._skipping_body = False
        # Piped (or pasted): an AUTH exchange ended refused; the script's next lines may be
        # its answers (base64 credentials), which must not go out as commands, in clear.
        self._skipping_auth_answers = False
        self.candidates: list[tuple[str, str]] = []  # --mx: (exchanger, address) to try in order
        self.extra: dict[str, Any] = {}  # per-feature state (recording, auth, ...)
        # Called first with each typed line; True means handled (e.g. /tour checks it).
        self.line_hooks: list[Callable[[str], Awaitable[bool]]] = []
        # Set while a feature takes typed lines as data (the octets of a typed BDAT): the
        # prompt to show. Empty lines are data then, in piped mode too.
        self.collecting: Callable[[], str] | None = None
        self._on_redraw: Callable[[], None] | None = None
        # At the terminal: whether more input already waits, typed or pasted ahead of the
        # prompt (the lines pasted after a BDAT that was not sent are its chunk, not
        # commands). None off a terminal, where every line is the script's anyway.
        self.input_waiting: Callable[[], bool] | None = None
        # At the terminal: the lines of a multi-line paste not run yet. Each runs in turn
        # as if typed (smtpsh.shell.interactive); meanwhile they are the paste's, as a
        # script's lines are the script's: after a refused DATA or AUTH they are skipped.
        self.pasted: list[str] = []
        # The same paste as the questions a command asks see it (smtpsh.compose.ask): the
        # next line pasted ahead answers the next question, as if typed there.
        self.paste_ahead: PastedAhead | None = None
        # A connect already under way (started before the slow imports), for the first open.
        self.early: EarlyConnection | None = None
        # Addresses used with this server, kept for completion (the interactive shell's).
        self.addresses: AddressBook | None = None
        # --quit-after / --drop-after: where the session ends (an observer of the dialogue).
        self.steps: StepWatch | None = None
        self.dropped = False  # hung up on purpose (--drop-after): not a lost session

    # --- helpers for meta-commands -----------------------------------------------------

    @property
    def client(self) -> SMTPClient:
        """The asyncio client, which features use; not available while ``blocking``."""
        from smtpsh.net.client import SMTPClient

        if not isinstance(self.link, SMTPClient):
            raise RuntimeError("the shell still runs on the blocking transport")
        return self.link

    @client.setter
    def client(self, client: SMTPClient) -> None:
        self.link = client

    @property
    def session(self) -> Session:
        return self.link.conn.session

    def say(self, text: str, style: str = "") -> None:
        self.printer.line(text, style)

    def info(self, text: str) -> None:
        self.renderer.meta(text, "info")

    def warn(self, text: str) -> None:
        self.renderer.meta(text, "warning")

    def error(self, text: str) -> None:
        self.renderer.meta(text, "error")

    def _hint_in_shell(self, text: str) -> str:
        from smtpsh.shell.hints import in_shell

        return in_shell(text, implicit_tls=self.options.implicit_tls)

    def _redraw(self) -> None:
        if self._on_redraw is not None:
            self._on_redraw()

    def _new_client(self) -> ClientBase:
        # The recorder before the renderer: a line is in the transcript before it is on screen.
        observers = [*self.settings.observers, self.renderer]
        if self.blocking:
            from smtpsh.net.blocking import BlockingClient

            return BlockingClient(self.options, observers)
        from smtpsh.net.client import SMTPClient

        return SMTPClient(self.options, observers)

    async def leave_blocking(self) -> None:
        """Carry the session over to an SMTPClient, for good: same socket, same state."""
        if not self.blocking:
            return
        from smtpsh.net.blocking import BlockingClient

        previous = self.link
        assert isinstance(previous, BlockingClient)
        previous.settle()  # a close the server announced (421) is told before what follows
        self.blocking = False
        self.link = self._new_client()
        await self.client.take_over(previous, previous.detach() if previous.connected else None)

    # --- connection --------------------------------------------------------------------

    async def connect(self) -> bool:
        """Connect; with --mx candidates, try each in order until one answers."""
        if not self.candidates:
            return await self._connect_once()
        # The exchangers that fail before one answers do not count (_connect_once).
        for i, (name, address) in enumerate(self.candidates):
            self.options.host = address
            self.options.server_hostname = name  # SNI and certificate checks use the MX name
            self.link = self._new_client()
            self.info(f"trying MX {name} ({address})")
            if await self._connect_once():
                self.info(f"connected to {name} ({address})")
                self.candidates = self.candidates[i:]  # /reconnect starts from the one reached
                return True
        self.error("no mail exchanger of the domain answered")
        return False

    async def _connect_once(self) -> bool:
        """Open the connection and show the banner; False (with one line said) on failure."""
        try:
            await self.guard(self.link.open(await self._early_socket()))
            for hook in self.settings.on_connect:
                await hook(self)
        except (ConnectError, ConnectionClosedError, ReplyTimeout) as exc:
            if not getattr(exc, "told", False):
                self.error(str(exc))
            self._connect_failed()
            return False
        except SmtpshError as exc:
            if self.steps is not None and self.steps.reached:
                await self.end_at_step()  # e.g. --starttls --quit-after tls: stop right there
                return True
            self.error(str(exc))
            self._connect_failed()
            return False
        if self.settings.on_connect and not self.link.connected:
            # a hook closed it (e.g. --starttls refused: fail closed)
            self._connect_failed()
            return False
        if self._status_before_connect is not None:  # connected after all: that failure is over
            self.exit_code, self._status_before_connect = self._status_before_connect, None
        return True

    def _connect_failed(self) -> None:
        if self._status_before_connect is None:
            self._status_before_connect = self.exit_code
        self.exit_code = exitcodes.FAILED

    async def _early_socket(self) -> socket.socket | None:
        early, self.early = self.early, None
        if early is None:
            return None
        import asyncio

        return await self.guard(asyncio.get_running_loop().run_in_executor(None, early.result))

    async def reconnect(self) -> bool:
        await self.link.close()
        self.link = self._new_client()
        self.info(f"reconnecting to {self.link.address}")
        # The status stays: a /send or /compose that failed before still counts (the exit
        # table); a session lost, with no QUIT, counts only if the last one ends so.
        return await self.connect()

    async def quit(self) -> None:
        """QUIT politely (if the session is open), then leave."""
        if self.link.connected and self.session.state is not State.CLOSED:
            if self.session.state is State.DATA:
                self.warn("leaving in the middle of DATA: the message is abandoned")
                await self.link.close()
            else:
                with contextlib.suppress(SmtpshError):
                    if self.link.conn.in_auth:  # else the QUIT would go as the 334's answer
                        self.info("leaving in the middle of AUTH: the exchange is cancelled"
                                  " first ('*')")
                        await self.guard(self.link.command(AUTH_CANCEL, timeout=5))
                    await self.guard(self.link.command("QUIT", timeout=5))
        await self.link.close()
        self.done = True

    # --- dispatch ----------------------------------------------------------------------

    async def handle_line(self, line: str) -> None:
        """One line the user typed (or a script sent)."""
        await self.run_guarded(self._handle_line(line))

    async def run_guarded(self, work: Awaitable[None]) -> None:
        """Run a line's work: a failure is one line said, and the shell goes on."""
        try:
            await work
        except (ConnectionClosedError, ReplyTimeout) as exc:
            if not exc.told:  # else the observers have already shown it
                self.error(str(exc))
        except SmtpshError as exc:
            if self.steps is not None and self.steps.reached and not self.done:
                await self.end_at_step()  # raised instead of going past --quit-after's step
            else:
                self.error(str(exc))
                if isinstance(exc, Interrupted):  # Ctrl-C stops a paste, not just its line
                    self.stop_paste("interrupted")

    async def _handle_line(self, line: str) -> None:
        for hook in list(self.line_hooks):
            if await hook(line):
                return
        if self._skipping_auth_answers and self._skipped_auth_answer(line):
            return
        if self._skipping_body:
            self._skipping_body = line != "."
        elif self.link.conn.in_data:
            await self._data_line(line)
        elif line.startswith("/"):
            await self._meta(line)
        elif metacommands.is_local_help(line):  # never sent: no need to end an exchange
            metacommands.local_help(self, line)
        elif self.link.conn.in_auth and self._command_not_answer(line):
            await self._cancel_auth(line)
            await self._handle_line(line)  # now a command like any other
        elif (verb_hook := metacommands.hooked_verb(verb_of(line))) is not None:
            await verb_hook(self, line)
        else:
            await self.send_command(line)

    @staticmethod
    def _command_not_answer(line: str) -> bool:
        from smtpsh.protocol.auth import answer_is_command  # only inside an AUTH exchange

        return answer_is_command(line)

    async def _cancel_auth(self, line: str) -> None:
        """``line``, given where the AUTH exchange waits for an answer, is a command: the
        exchange is cancelled first, and the line never goes out as a (masked) answer."""
        self.warn(
            f"{verb_of(line)} is a command, not the answer the server's 334 asks for: the"
            " AUTH exchange is cancelled first ('*', RFC 4954 §4)"
        )
        await self.guard(self.link.command(AUTH_CANCEL))

    def _skipped_auth_answer(self, line: str) -> bool:
        """Whether ``line`` is skipped as an answer to an AUTH exchange that was refused."""
        from smtpsh.protocol.auth import looks_like_answer  # only after a refused AUTH

        if not looks_like_answer(line):
            self._skipping_auth_answers = False
            return False
        if not self.extra.get("auth_answers_told"):  # once an exchange; never the line itself
            self.extra["auth_answers_told"] = True
            script = not self.settings.interactive
            lines = "the script's next lines" if script else "the next pasted lines"
            self.warn(f"AUTH is over (refused): {lines} that look like its answers (base64,"
                      " not commands) are skipped, never sent as commands")
        return True

    def skips(self, line: str) -> bool:
        """Whether ``line``, next, is skipped unsent: a message line after a refused DATA,
        an answer to an AUTH exchange that was refused (a credential: never shown)."""
        if self.line_hooks:
            return False  # a hook takes the line first (e.g. a BDAT's octets)
        if self._skipping_auth_answers:
            from smtpsh.protocol.auth import looks_like_answer  # only after a refused AUTH

            return looks_like_answer(line)
        return self._skipping_body

    def check_step(self, line: str | None) -> None:
        """Refuse a line past the --quit-after/--drop-after step (None: a message line)."""
        if self.steps is not None and self.steps.stops(line):
            from smtpsh.shell.steps import StepReached

            raise StepReached(f"{self.steps.option}: the session ends here")

    async def end_at_step(self) -> None:
        """The --quit-after step is done: QUIT (or, --drop-after, hang up) and leave."""
        steps = self.steps
        assert steps is not None
        if steps.drop:
            self.info(f"{steps.option}: hanging up without QUIT")
            self.dropped = True
            await self.link.close()
            self.done = True
        else:
            self.info(f"{steps.option}: ending the session")
            await self.quit()
        if not steps.ok:
            self.exit_code = exitcodes.FAILED  # the step was refused: a script checks it

    async def _meta(self, line: str) -> None:
        word, _, args = line.partition(" ")
        command, problem = metacommands.resolve(word)
        if command is None:
            self.error(problem)
            return
        await command.handler(self, args)

    def warn_before_sending(self, line: str) -> list[Prediction] | None:
        """Say if a server will probably refuse the line (it is sent anyway). Returns the
        predictions, for ``watch_outcome`` to hold against the reply; None: no check was
        made (/raw, an AUTH exchange)."""
        if self.raw_mode or self.link.conn.in_auth:
            return None
        # Here, not at the top: the rules and their tables load with the first command.
        from smtpsh.protocol.rules import pre_send_check

        predictions, warnings = pre_send_check(self.session, line)
        for warning in warnings:
            self.warn(f"{warning} (sending anyway)" if warning.startswith("expect ")
                      else warning)
        if verb_of(line) == "AUTH" and not self.session.tls:
            self.warn(
                "AUTH in clear: anyone on the path can read the credentials (STARTTLS first)"
            )
        return predictions

    def watch_outcome(self, predictions: list[Prediction] | None) -> None:
        """Have the reply to the line about to go say, under its gloss, when it proves the
        warning before it wrong: else the '! expect 5xx' stays on screen as if the server
        had refused. None: no check was made, nothing to hold the reply against."""
        if predictions is None:
            self.renderer.aside_next_reply(None)
            return
        from smtpsh.protocol.rules import disproved, outcome_note

        session = self.session

        def aside(reply: Reply) -> str | None:
            # Remembered for the rest of the session: the same warning is not said again
            # as an expectation (rules.pre_send_check).
            session.note_disproved(disproved(predictions, reply))
            return outcome_note(predictions, reply, glosses_shown=self.renderer.annotate_on)

        self.renderer.aside_next_reply(aside)

    async def send_command(self, line: str) -> Reply | None:
        """Send a command as typed; warn first if the server will probably refuse it."""
        if not self.link.connected:
            self.error("not connected: /reconnect opens a new session")
            return None
        self.check_step(line)
        predictions = self.warn_before_sending(line)
        if verb_of(line) in ("EHLO", "LHLO"):
            self.extra["last_ehlo"] = line  # /starttls sends it again after the handshake
        self.watch_outcome(predictions)
        in_auth = self.link.conn.in_auth or verb_of(line) == "AUTH"
        try:
            reply = await self.guard(self.link.command(line, raw=self.raw_mode))
        finally:
            self.watch_outcome(None)  # no reply came (closed, timed out): none to hold
        if in_auth and self.lines_follow():
            # Refused (not 334, not 235): the answers the script holds next are no commands.
            self._skipping_auth_answers = reply.code != 334 and reply.klass != 2
            self.extra["auth_answers_told"] = False
        if verb_of(line) in ("VRFY", "EXPN", "RCPT"):
            self._compare(line, reply)
        if verb_of(line) == "MAIL" and reply.klass == 2:
            # What the message may carry (RFC 6152): checked on each line typed in DATA.
            params = line.upper().split()[1:]
            self.extra["eight_bit_declared"] = any(
                p in ("BODY=8BITMIME", "BODY=BINARYMIME") for p in params)
            self.extra["eight_bit_warned"] = False
        if self.addresses is not None and verb_of(line) in ("MAIL", "RCPT", "VRFY", "EXPN"):
            for address in addresses_in(line):
                self.addresses.add(address)
        if reply.code == 354 and self.link.conn.in_data:
            self.info("DATA mode: type the message; a line with a single '.' ends it")
        elif verb_of(line) == "DATA" and self.lines_follow():
            # A script's (a paste's) message lines must not run as commands when DATA was
            # refused.
            self._skipping_body = True
            whose = "the script's" if not self.settings.interactive else "the pasted"
            self.warn(f"DATA was refused: {whose} message lines up to '.' are skipped")
        return reply

    def _compare(self, line: str, reply: Reply) -> None:
        """Say what two differing answers to the same verb reveal (smtpsh.shell.contrast)."""
        contrasts = self.extra.get("contrasts")
        if contrasts is None:
            from smtpsh.shell.contrast import Contrasts

            contrasts = self.extra["contrasts"] = Contrasts()
        note = contrasts.note(verb_of(line), line, reply)
        if note is not None:
            self.info(note)

    def _warn_eight_bit(self, line: str) -> None:
        """Once a message: 8-bit octets typed in DATA after a MAIL that declared no
        BODY=8BITMIME. Every interop server took it, yet RFC 6152 lets a client send 8-bit
        text only so declared, to a server that offers 8BITMIME; a strict relay may refuse
        or re-encode it."""
        if line.isascii() or self.extra.get("eight_bit_declared", False) or self.extra.get(
                "eight_bit_warned", False):
            return
        self.extra["eight_bit_warned"] = True
        if self.session.advertises("8BITMIME"):
            self.warn("8-bit characters in the message, but MAIL FROM declared no"
                      " BODY=8BITMIME (RFC 6152): many servers take it, a strict one may"
                      " refuse or re-encode it")
        else:
            self.warn("8-bit characters in the message, and the server did not advertise"
                      " 8BITMIME (RFC 6152): encode the text (quoted-printable or base64),"
                      " e.g. with /compose")

    async def _data_line(self, line: str) -> None:
        if line == ".":
            reply = await self.guard(self.link.end_data())
            if reply.klass == 2 and self.session.queue_id:
                self.info(f"message accepted, queue id {self.session.queue_id}")
        else:
            self.check_step(None)
            for warning in text_line_warnings(line):
                self.warn(warning)
            self._warn_eight_bit(line)
            try:
                await self.link.send_data_line(line, long_lines=True)
            except LocalProtocolError as exc:
                self._refuse_message(str(exc).removeprefix("refused: "))

    def _refuse_message(self, why: str) -> None:
        """A line of the message cannot be sent: the whole message is refused, never sent
        short. The lines before it are gone and there is no RSET inside DATA, so the
        connection is closed without the final '.': the server discards the unfinished
        message (RFC 5321 §4.1.1.4). A script's (a paste's) remaining lines up to '.' are
        skipped."""
        self._skipping_body = self.lines_follow()
        self.exit_code = exitcodes.FAILED
        self.link.abort("smtpsh closed the connection: the message was refused")
        self.error(
            f"{why}: the whole message is refused; the connection is closed so the server"
            " discards what was sent (nothing delivered). /reconnect opens a new session"
        )

    def lines_follow(self) -> bool:
        """Whether the lines after this one are already written: a script's, the rest of a
        paste at the terminal, or keys typed (or pasted unbracketed) ahead. Not typed once
        this line's outcome was seen, so they cannot take it into account (a message line
        after a refused DATA is no command)."""
        if not self.settings.interactive or self.pasted:
            return True
        return self.input_waiting is not None and self.input_waiting()

    def paste_ended(self) -> None:
        """The paste has run out (or was stopped): what is typed next is read as typed,
        whatever the paste's lines were being skipped for."""
        self.pasted.clear()
        if self.settings.interactive:
            self._skipping_body = False
            self._skipping_auth_answers = False

    def typed_next(self) -> None:
        """At the terminal, before a line is asked for: once nothing pasted or typed ahead
        waits any more, the next line is typed after the outcome was seen, and is read as
        typed whatever the lines before it were being skipped for."""
        if (self._skipping_body or self._skipping_auth_answers) and not self.lines_follow():
            self.paste_ended()

    def stop_paste(self, why: str) -> None:
        """Say that the paste's remaining lines are not run (why: what stopped them)."""
        count = len(self.pasted)
        self.pasted.clear()
        if self.paste_ahead is not None and self.paste_ahead.leftover():
            count += 1  # the text after its last line break (taken: it is dropped too)
        if count:
            lines = "line after it was" if count == 1 else "lines after it were"
            self.warn(f"{why}: the {count} pasted {lines} not run")
        self.paste_ended()

    async def guard(self, awaitable: Awaitable[T]) -> T:
        """Await, letting Ctrl-C cancel just this operation (the shell goes on)."""
        if not self.settings.interactive:
            return await awaitable
        import asyncio
        import signal

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
                raise Interrupted(
                    "interrupted: stopped waiting (a late reply is still shown)"
                ) from None
            raise
        finally:
            loop.remove_signal_handler(signal.SIGINT)


# --- front-ends ----------------------------------------------------------------------


def addresses_in(line: str) -> list[str]:
    """The addresses of a MAIL, RCPT, VRFY or EXPN line: in <...>, else VRFY's argument."""
    found = [a for a in re.findall(r"<([^<>]+)>", line) if a]
    if not found and verb_of(line) in ("VRFY", "EXPN"):
        found = line.split()[1:2]
    return found


def needs_event_loop(shell: Shell, line: str) -> bool:
    """Whether a piped line must leave the blocking transport: shell commands and the
    verbs a feature takes over (their code runs on asyncio), STARTTLS (a TLS handshake)."""
    if shell.line_hooks or shell.collecting is not None:
        return True
    if shell._skipping_body or shell.link.conn.in_data:
        return False
    verb = verb_of(line)
    return (
        line.startswith("/")
        or metacommands.is_local_help(line)
        or verb == "STARTTLS"
        or verb in metacommands.HOOKED_VERBS
    )


class LineReader:
    """Lines of a script, read from a file descriptor unbuffered by Python, so that
    select() can wait for the script and the server at once (a 421 shown as it comes)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._buffer = bytearray()
        self._start = 0  # where the next line begins: lines are not cut off one by one
        self._eof = False

    def ready(self) -> bool:
        """A whole line (or the end) can be read without waiting."""
        return self._eof or self._buffer.find(b"\n", self._start) >= 0

    def fill(self) -> None:
        """One read from the descriptor (blocks if nothing is there)."""
        del self._buffer[: self._start]  # once a read, not once a line: linear in the script
        self._start = 0
        chunk = os.read(self.fd, 65536)
        self._buffer += chunk
        self._eof = not chunk

    def readline(self) -> str:
        """Like TextIOWrapper.readline with errors="surrogateescape" ("" at the end)."""
        while not self.ready():
            self.fill()
        end = self._buffer.find(b"\n", self._start)
        end = len(self._buffer) if end < 0 else end + 1
        line = bytes(self._buffer[self._start : end])
        self._start = end
        return line.decode("utf-8", "surrogateescape")


def _next_line(shell: Shell, reader: LineReader) -> str:
    """The script's next line; meanwhile, what the server says unasked is shown at once."""
    import select

    from smtpsh.net.blocking import BlockingClient

    client = shell.link
    assert isinstance(client, BlockingClient)
    while not reader.ready():
        sock = client.sock
        readable = select.select([reader.fd] + ([sock] if sock is not None else []), [], [])[0]
        if sock is not None and sock in readable:
            client.poll()
        if reader.fd in readable:
            reader.fill()
    return reader.readline()


def drive(coroutine: Coroutine[object, object, T]) -> T:
    """Run a coroutine that never suspends (the blocking transport's), without a loop."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        result: T = done.value
        return result
    coroutine.close()
    raise RuntimeError("a coroutine suspended on the blocking transport")


def _piped_output() -> None:
    # A script may hold bytes that are not UTF-8 (LineReader keeps them as surrogates): they
    # go to the server as they were, and are shown escaped, instead of ending the run.
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(errors="backslashreplace")


def script_line(shell: Shell, raw: str) -> str | None:
    """A line of the script as the shell takes it; None: skip it (a blank line outside
    DATA and a BDAT count is only the script's layout)."""
    line = raw.rstrip("\n").removesuffix("\r")
    if not line and not shell.link.conn.in_data and shell.collecting is None:
        return None
    return line


def run_piped_blocking(shell: Shell) -> int:
    """A piped run on standard input, started without asyncio (see the module doc)."""
    try:
        return _run_piped_blocking(shell)
    except KeyboardInterrupt:
        return exitcodes.INTERRUPTED  # as run_main: Ctrl-C ends a piped run, no traceback


def _run_piped_blocking(shell: Shell) -> int:
    _piped_output()
    reader = LineReader(sys.stdin.fileno())
    if not drive(shell.connect()):
        return exitcodes.FAILED
    while not shell.done and not exitcodes.output_gone():
        raw = _next_line(shell, reader)
        if not raw:
            break
        line = script_line(shell, raw)
        if line is None:
            continue
        if needs_event_loop(shell, line):
            from smtpsh.target import run_main

            return run_main(_carry_on(shell, reader, line))
        if not _take_line(shell, line):
            break
        drive(shell.handle_line(line))
    return drive(finish_piped(shell))


async def _carry_on(shell: Shell, reader: LineReader, line: str) -> int:
    await shell.leave_blocking()
    return await run_piped(shell, reader, first=line)


def _take_line(shell: Shell, line: str) -> bool:
    """Whether the run goes on with ``line``: not once the connection is closed."""
    if shell.session.state is State.CLOSED and not line.startswith("/"):
        shell.link.settle()
        shell.error(f"not sent (connection closed): {line}")
        shell.exit_code = exitcodes.FAILED
        return False
    return True


async def finish_piped(shell: Shell) -> int:
    if not shell.done:
        steps = shell.steps
        if steps is not None and steps.reached:
            await shell.end_at_step()  # the script ended right at the step
        else:
            await shell.quit()
    return session_status(shell)


def session_status(shell: Shell) -> int:
    """The exit status of a session (the exit table's 'session' column), piped or at the
    terminal alike: what the session's commands set (a failed /send or /compose, a /replay
    that differed), and FAILED when it did not end with smtpsh's QUIT: the server hung up
    or closed with a 421, the connection failed, the message was abandoned in DATA.
    --drop-after hangs up on purpose: that is the end asked for."""
    if not shell.link.quit_sent and not shell.dropped:
        shell.exit_code = exitcodes.FAILED
    return shell.exit_code


async def run_piped(
    shell: Shell, reader: LineReader | None = None, *, first: str | None = None
) -> int:
    """Read lines from stdin, send each, wait for its reply; QUIT at the end of input.
    ``reader`` and ``first`` (a line already read): the run began on the blocking transport."""
    import asyncio

    if reader is None:
        _piped_output()
        reader = LineReader(sys.stdin.fileno())
        if not await shell.connect():
            return exitcodes.FAILED
    loop = asyncio.get_running_loop()
    while not shell.done and not exitcodes.output_gone():
        line, first = first, None
        if line is None:
            # A line already buffered is taken at once: no thread round trip a line.
            if reader.ready():
                raw = reader.readline()
            else:
                raw = await loop.run_in_executor(None, reader.readline)
            if not raw:
                break
            line = script_line(shell, raw)
            if line is None:
                continue
        if not _take_line(shell, line):
            break
        await shell.handle_line(line)
    return await finish_piped(shell)
