"""The shell's side of composition: ``smtpsh.compose.send.SendLink`` over the live shell.

Lines go out as if typed (the prompt's echo, out-of-order warnings, the renderer), Ctrl-C
interrupts the step under way (``Shell.guard``), questions are asked only when someone can
answer (an ``Asker``; a script gets the default).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from smtpsh import exitcodes
from smtpsh.compose.message import ComposeError
from smtpsh.net.client import CheckedPiece
from smtpsh.protocol.connection import Command
from smtpsh.protocol.replies import Reply
from smtpsh.protocol.session import Session

if TYPE_CHECKING:
    from smtpsh.compose.ask import Asker
    from smtpsh.shell.app import Shell


def _octets(n: int) -> str:
    return f"{n:,} octet{'s' if n != 1 else ''}".replace(",", " ")


class ShellLink:
    """A SendLink for the shell (``asker``: None when no one can answer)."""

    def __init__(self, shell: Shell, asker: Asker | None = None) -> None:
        self.shell = shell
        self.asker = asker

    @property
    def session(self) -> Session:
        return self.shell.session

    @property
    def connected(self) -> bool:
        return self.shell.client.connected

    @property
    def helo(self) -> str:
        return self.shell.settings.helo

    def _still_read(self) -> None:
        """The reader of the output went away (`| head`): smtpsh stops at the next step
        instead of sending what no one will see the outcome of (exit BROKEN_PIPE)."""
        if exitcodes.output_gone():
            raise ComposeError("the output's reader went away: nothing more is sent")

    async def command(self, line: str, *, typed: bool = True) -> Reply:
        self._still_read()
        self.shell.check_step(line)  # --quit-after: not past the step (DATA after RCPT)
        self.sent(line)
        if not typed:
            return await self.shell.guard(self.shell.client.command(line))
        reply = await self.shell.send_command(line)
        if reply is None:
            raise ComposeError("not connected: /reconnect opens a new session")
        return reply

    async def pipeline(self, lines: Sequence[str]) -> list[Reply]:
        self._still_read()
        for line in lines:
            self.sent(line)
        client = self.shell.client

        async def exchange() -> list[Reply]:
            events = await client.replies_to(await client.send_lines(lines))
            return [event.reply for event in events]

        return await self.shell.guard(exchange())

    async def data(
        self, chunks: Iterable[CheckedPiece], *, show: bool, summary: str, octets: int
    ) -> Reply:
        self._still_read()
        self.shell.check_step(None)  # --quit-after data: not the message
        if not show or not self.shell.renderer.echo_sent:
            self.sent(summary, summary=True)
            self.sent(".")
        client = self.shell.client
        return await self.shell.guard(client.send_message(chunks, show=show, octets=octets))

    async def bdat(self, chunk: bytes, *, last: bool) -> list[Command]:
        self._still_read()
        line = f"BDAT {len(chunk)}{' LAST' if last else ''}"
        self.shell.check_step(line)  # --quit-after data: not even the first chunk
        self.sent(line)
        commands = await self.shell.guard(self.shell.client.send_bdat(chunk, last=last))
        self.sent(f"the {_octets(len(chunk))} of the chunk, in the same write", summary=True)
        return commands

    async def replies(self, commands: Sequence[Command]) -> list[Reply]:
        events = await self.shell.guard(self.shell.client.replies_to(commands))
        return [event.reply for event in events]

    def abort(self, reason: str) -> None:
        self.shell.client.abort(reason)

    def sent(self, text: str, *, summary: bool = False) -> None:
        """As if typed at the prompt (piped mode echoes sent lines by itself); a summary
        between ⟨⟩ at the prompt, or as a note when piped."""
        shell = self.shell
        if summary and shell.renderer.echo_sent:
            shell.info(text)
        elif summary:
            shell.say(f"{shell.client.address}› ⟨{text}⟩", "class:sent")
        elif not shell.renderer.echo_sent:
            shell.say(f"{shell.client.address}› {text}", "class:sent")

    def report(self, text: str, level: str = "info") -> None:
        if level == "detail":
            self.shell.say(text)
        else:
            self.shell.renderer.meta(text, level)

    async def confirm(self, question: str, default: bool, *, yes: str = "yes",
                      no: str = "no") -> bool:
        if self.asker is None:
            return default
        if (yes, no) == ("yes", "no"):
            return await self.asker.yes_no(question, default)
        keys = {yes[0]: yes, no[0]: no}
        answer = await self.asker.choice(question, keys, yes[0] if default else no[0])
        return answer == yes[0]
