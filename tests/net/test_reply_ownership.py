"""Replies belong to the commands they answer, whatever the caller stopped waiting for.

A server on loopback answers each command with its own line ("250 2.0.0 RCPT TO:<c@y>"),
so a reply says which command it is for, and holds the replies of chosen verbs until the
test lets them go: a group of pipelined commands (MAIL and three RCPT, or BDAT chunks) is
cancelled after each possible number of its replies has come, then every later command
must get its own reply. Once through SMTPClient, once through the shell's /send path
with a real Ctrl-C (SIGINT).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import signal
from collections.abc import Callable
from typing import Any

import pytest

from smtpsh.compose.envelope import Envelope
from smtpsh.compose.message import MessageSource
from smtpsh.compose.send import Transfer, bdat_chunks, transmit
from smtpsh.net.base import ClientBase, ClientObserver
from smtpsh.net.client import ClientOptions, SMTPClient
from smtpsh.output.printer import Printer
from smtpsh.protocol.connection import ReplyEvent
from smtpsh.protocol.errors import SmtpshError
from smtpsh.shell.app import Shell, ShellSettings
from smtpsh.shell.send_link import ShellLink

ENVELOPE = ["MAIL FROM:<a@x>", "RCPT TO:<b@y>", "RCPT TO:<c@y>", "RCPT TO:<d@y>"]
MESSAGE = b"Subject: ownership\r\n\r\n" + b"line of the body\r\n" * 3
CHUNK = 20


class GatedServer:
    """Answers every command with '250 2.0.0 <the line>' (EHLO, DATA and QUIT as usual);
    replies to the verbs in ``hold`` wait, with all that follows them, until released."""

    def __init__(self) -> None:
        self.hold: set[str] = set()
        self._released = 0
        self._outbox: list[tuple[bytes, bool]] = []
        self._wake = asyncio.Event()
        self._server: asyncio.Server | None = None
        self.verbs: list[str] = []  # every command received, in order

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    def release(self, count: int) -> None:
        self._released += count
        self._wake.set()

    def flush(self) -> None:
        """Let every held reply go, and hold nothing more."""
        self.hold = set()
        self._outbox[:] = [(reply, False) for reply, _ in self._outbox]
        self._wake.set()

    def close(self) -> None:
        if self._server is not None:
            self._server.close()

    def _queue(self, reply: str, verb: str) -> None:
        self._outbox.append((reply.encode(), verb in self.hold))
        self._wake.set()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._outbox = []  # the latest connection's (a new one starts afresh)
        writer.write(b"220 gated ESMTP\r\n")
        sender = asyncio.ensure_future(self._send(writer, self._outbox))
        try:
            while line := await reader.readline():
                text = line.decode().rstrip("\r\n")
                verb = text.split(" ", 1)[0].split(":", 1)[0].upper()
                self.verbs.append(verb)
                if verb == "EHLO":
                    self._queue("250-gated\r\n250-PIPELINING\r\n250 CHUNKING\r\n", verb)
                elif verb == "DATA":
                    self._queue("354 go on\r\n", verb)
                    while await reader.readline() not in (b".\r\n", b""):
                        pass
                    self._queue("250 2.0.0 end of data\r\n", "")
                elif verb == "BDAT":
                    await reader.readexactly(int(text.split()[1]))
                    self._queue(f"250 2.0.0 {text}\r\n", verb)
                elif verb == "QUIT":
                    self._queue("221 2.0.0 bye\r\n", verb)
                else:
                    self._queue(f"250 2.0.0 {text}\r\n", verb)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            await asyncio.sleep(0.05)  # let the last replies leave
            sender.cancel()
            writer.close()

    async def _send(self, writer: asyncio.StreamWriter, outbox: list[tuple[bytes, bool]]) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while outbox:
                reply, held = outbox[0]
                if held:
                    if not self._released:
                        break
                    self._released -= 1
                outbox.pop(0)
                writer.write(reply)
            try:
                await writer.drain()
            except ConnectionError:
                return  # the client closed (a half-sent message is abandoned so)


class Seen(ClientObserver):
    """The replies the observers were told of (every reply is shown, awaited or not)."""

    def __init__(self) -> None:
        self.replies: list[str] = []

    def on_reply(self, client: ClientBase, event: ReplyEvent) -> None:
        self.replies.append(event.reply.text)


async def until(condition: Callable[[], bool], what: str) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


async def _cancel(task: asyncio.Future[Any]) -> None:
    """Cancel ``task``; it may have finished already (the point after the last reply)."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, SmtpshError):
        await task


async def _own_replies_after(client: SMTPClient, server: GatedServer, seen: Seen) -> None:
    """Every command after the cancelled group gets its own reply."""
    server.flush()
    assert (await client.command("NOOP")).text == "2.0.0 NOOP"
    assert (await client.command("RSET")).text == "2.0.0 RSET"
    events = await client.replies_to(await client.send_lines(["MAIL FROM:<e@x>", "RCPT TO:<f@y>"]))
    assert [e.reply.text for e in events] == ["2.0.0 MAIL FROM:<e@x>", "2.0.0 RCPT TO:<f@y>"]
    assert (await client.command("RSET")).text == "2.0.0 RSET"


@pytest.mark.parametrize("answered", range(len(ENVELOPE) + 1))
def test_cancelled_pipelined_envelope_leaves_later_replies_to_their_commands(
    answered: int,
) -> None:
    async def run() -> None:
        server = GatedServer()
        seen = Seen()
        client = SMTPClient(ClientOptions("127.0.0.1", await server.start(), timeout=5), [seen])
        try:
            await client.open()
            await client.command("EHLO test")
            server.hold = {"MAIL", "RCPT"}
            commands = await client.send_lines(ENVELOPE)
            group = asyncio.ensure_future(client.replies_to(commands))
            before = len(seen.replies)
            server.release(answered)
            await until(lambda: len(seen.replies) == before + answered, f"{answered} replies")
            await _cancel(group)
            await _own_replies_after(client, server, seen)
            # The group's replies that came late were still shown, in their order.
            shown = seen.replies[before : before + len(ENVELOPE)]
            assert shown == [f"2.0.0 {line}" for line in ENVELOPE]
        finally:
            await client.close()
            server.close()

    asyncio.run(run())


@pytest.mark.parametrize("answered", range(4))
def test_cancelled_bdat_group_leaves_later_replies_to_their_commands(answered: int) -> None:
    async def run() -> None:
        server = GatedServer()
        seen = Seen()
        client = SMTPClient(ClientOptions("127.0.0.1", await server.start(), timeout=5), [seen])
        try:
            await client.open()
            await client.command("EHLO test")
            for line in ENVELOPE[:2]:
                await client.command(line)
            server.hold = {"BDAT"}
            chunks = [b"a" * 5, b"b" * 6, b"c" * 7]
            commands = [
                command
                for i, chunk in enumerate(chunks)
                for command in await client.send_bdat(chunk, last=i == len(chunks) - 1)
            ]
            group = asyncio.ensure_future(client.replies_to(commands))
            before = len(seen.replies)
            server.release(answered)
            await until(lambda: len(seen.replies) == before + answered, f"{answered} replies")
            await _cancel(group)
            await _own_replies_after(client, server, seen)
        finally:
            await client.close()
            server.close()

    asyncio.run(run())


def test_a_reply_to_a_cancelled_single_command_goes_to_nobody() -> None:
    async def run() -> None:
        server = GatedServer()
        client = SMTPClient(ClientOptions("127.0.0.1", await server.start(), timeout=5))
        try:
            await client.open()
            server.hold = {"VRFY"}
            waiting = asyncio.ensure_future(client.command("VRFY someone"))
            await asyncio.sleep(0.05)
            await _cancel(waiting)
            server.flush()
            assert (await client.command("NOOP")).text == "2.0.0 NOOP"
        finally:
            await client.close()
            server.close()

    asyncio.run(run())


# --- the shell's /send path, interrupted by a real SIGINT --------------------------------


def _waiting_in(name: str) -> bool:
    """Whether a task is (somewhere down its awaits) inside the coroutine ``name``: the
    moment a Ctrl-C interrupts that wait and nothing else."""
    for task in asyncio.all_tasks():
        coroutine: object = task.get_coro()
        while coroutine is not None:
            if getattr(coroutine, "__qualname__", "") == name:
                return True
            coroutine = getattr(coroutine, "cr_await", None)
    return False


def _shell(port: int, seen: Seen) -> Shell:
    options = ClientOptions("127.0.0.1", port, timeout=5)
    settings = ShellSettings(helo="test", interactive=True, observers=[seen])
    return Shell(options, settings, Printer(colour=False, stream=io.StringIO()))


def _transfer(*, bdat: bool) -> Transfer:
    envelope = Envelope("a@x", ["b@y", "c@y", "d@y"])
    source = MessageSource.from_bytes(MESSAGE)
    return Transfer(envelope, source, bdat=bdat, pipeline=True, chunk_size=CHUNK)


async def _interrupt_send(
    shell: Shell, server: GatedServer, seen: Seen, *, bdat: bool, answered: int
) -> None:
    """/send's transaction, Ctrl-C after ``answered`` replies of the held group."""
    before = len(seen.replies)
    verbs = len(server.verbs)
    transfer = _transfer(bdat=bdat)
    group = len(list(bdat_chunks(transfer.source.checked_chunks(), CHUNK))) if bdat else 0
    sending = asyncio.ensure_future(transmit(ShellLink(shell), transfer))
    server.release(answered)
    unheld = len(ENVELOPE) if bdat else 0  # the envelope is not held then
    await until(
        lambda: len(seen.replies) == before + unheld + answered
        and len(server.verbs) >= verbs + len(ENVELOPE) + group
        and _waiting_in("SMTPClient.replies_to"),
        f"{answered} replies, and the shell waiting for the others",
    )
    os.kill(os.getpid(), signal.SIGINT)  # shell.guard turns it into cancelling the wait
    with pytest.raises(SmtpshError, match="interrupted"):
        await sending


@pytest.mark.parametrize("answered", range(len(ENVELOPE)))
def test_send_interrupted_in_the_pipelined_envelope(answered: int) -> None:
    async def run() -> None:
        server = GatedServer()
        seen = Seen()
        shell = _shell(await server.start(), seen)
        try:
            assert await shell.connect()
            assert (await shell.send_command("EHLO test")) is not None
            server.hold = {"MAIL", "RCPT"}
            await _interrupt_send(shell, server, seen, bdat=False, answered=answered)
            server.flush()
            reply = await shell.send_command("NOOP")
            assert reply is not None and reply.text == "2.0.0 NOOP"
            reply = await shell.send_command("RSET")
            assert reply is not None and reply.text == "2.0.0 RSET"
            # The next /send gets its own pipelined replies, and the message goes.
            assert (await transmit(ShellLink(shell), _transfer(bdat=False))).complete
        finally:
            await shell.link.close()
            server.close()

    asyncio.run(run())


@pytest.mark.parametrize("answered", range(len(list(bdat_chunks([(MESSAGE, None)], CHUNK)))))
def test_send_interrupted_in_pipelined_bdat(answered: int) -> None:
    async def run() -> None:
        server = GatedServer()
        seen = Seen()
        shell = _shell(await server.start(), seen)
        try:
            assert await shell.connect()
            assert (await shell.send_command("EHLO test")) is not None
            server.hold = {"BDAT"}
            await _interrupt_send(shell, server, seen, bdat=True, answered=answered)
            # Half a message sent: the connection is closed, so nothing partial is delivered.
            assert not shell.link.connected
            server.flush()
            assert await shell.reconnect()
            reply = await shell.send_command("NOOP")
            assert reply is not None and reply.text == "2.0.0 NOOP"
            assert (await transmit(ShellLink(shell), _transfer(bdat=True))).complete
        finally:
            await shell.link.close()
            server.close()

    asyncio.run(run())
