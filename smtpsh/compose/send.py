"""Sending a message through the shell, one visible step at a time.

MAIL, each RCPT and DATA (or the BDAT chunks) go out as if the user had typed them: the
command is shown, then its reply with its annotation (the renderer, as for typed lines).
With PIPELINING, MAIL and every RCPT leave in one write and the replies are matched to the
commands in order. A refused recipient is reported and the user chooses to go on with the
others or to RSET; without anyone to ask, smtpsh goes on when one recipient was accepted.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from smtpsh.compose.envelope import Envelope
from smtpsh.compose.message import ComposeError, MessageSource
from smtpsh.compose.scan import CHUNK
from smtpsh.net.client import CheckedPiece
from smtpsh.protocol.encoding import DataEncoder
from smtpsh.protocol.errors import SmtpshError
from smtpsh.protocol.replies import Reply
from smtpsh.protocol.session import State

if TYPE_CHECKING:
    from smtpsh.shell.app import Shell

SHOW_LINES = 200  # a message up to this many lines is shown line by line as it is sent

# Asked when some recipients were refused: (accepted, refused) -> go on with the accepted?
GoOn = Callable[[list[str], list[tuple[str, Reply]]], Awaitable[bool]]


@dataclass
class Transfer:
    envelope: Envelope
    source: MessageSource
    bdat: bool = False
    pipeline: bool = False
    chunk_size: int = CHUNK


# --- showing -----------------------------------------------------------------------------


def show_sent(shell: Shell, text: str) -> None:
    """Show a line as if typed at the prompt (piped mode echoes sent lines by itself)."""
    if not shell.renderer.echo_sent:
        shell.say(f"{shell.client.address}› {text}", "class:sent")


def reply_text(reply: Reply) -> str:
    return " ".join(reply.wire_lines()) if reply.lines else str(reply.code)


def _octets(n: int) -> str:
    return f"{n:,} octet{'s' if n != 1 else ''}".replace(",", " ")


# --- before sending ----------------------------------------------------------------------


async def ensure_ready(shell: Shell) -> None:
    """A session that can start a mail transaction; says EHLO first if it was not said."""
    if not shell.client.connected or shell.session.state is State.CLOSED:
        raise ComposeError("not connected: /reconnect opens a new session")
    state = shell.session.state
    if state is State.GREETED:
        line = f"EHLO {shell.settings.helo}"
        show_sent(shell, line)
        reply = await shell.send_command(line)
        if reply is None or reply.klass != 2:
            raise ComposeError("the server did not accept EHLO: nothing sent")
        state = shell.session.state
    if state in (State.MAIL, State.RCPT, State.BDAT):
        raise ComposeError(
            "a mail transaction is already open: finish it, or send RSET first"
        )
    if state is not State.READY:
        raise ComposeError(f"cannot start a message in state '{state.value}'")


# --- the envelope ------------------------------------------------------------------------


async def _step(shell: Shell, line: str) -> Reply:
    show_sent(shell, line)
    reply = await shell.send_command(line)
    if reply is None:
        raise ComposeError("not connected: /reconnect opens a new session")
    return reply


async def _envelope_one_by_one(shell: Shell, env: Envelope) -> list[Reply]:
    replies = [await _step(shell, env.mail_line())]
    if replies[0].klass != 2:
        return replies
    for line in env.rcpt_lines():
        replies.append(await _step(shell, line))
    return replies


async def _envelope_pipelined(shell: Shell, env: Envelope) -> list[Reply]:
    lines = [env.mail_line(), *env.rcpt_lines()]
    shell.info(
        f"PIPELINING (RFC 2920): MAIL and {len(lines) - 1} RCPT in one write;"
        " the replies come back in the same order"
    )
    for line in lines:
        show_sent(shell, line)
    client = shell.client

    async def exchange() -> list[Reply]:
        await client.send_lines(lines)
        return [(await client.wait_reply(waiting_for=line)).reply for line in lines]

    replies = await shell.guard(exchange())
    shell.info("pipelined replies, matched to their commands:")
    width = min(max(len(line) for line in lines), 60)
    for line, reply in zip(lines, replies, strict=True):
        shell.say(f"    {line:<{width}}  →  {reply_text(reply)}")
    return replies


async def _reset(shell: Shell, why: str) -> None:
    if shell.client.connected and shell.session.state is not State.CLOSED:
        shell.info(why)
        await _step(shell, "RSET")


# --- the message -------------------------------------------------------------------------


def bdat_chunks(chunks: Iterable[CheckedPiece], size: int) -> Iterator[tuple[bytes, bool]]:
    """(chunk, last) pieces of ``size`` octets of the CRLF-normalised message (no stuffing:
    BDAT counts octets, RFC 3030 §2); the last one carries what is left, never empty unless
    the message is."""
    encoder = DataEncoder(stuff=False)
    buf = bytearray()
    for data, checked in chunks:
        buf += encoder.feed_checked(data, checked) if checked else encoder.feed(data)
        start = 0
        while len(buf) - start > size:
            yield bytes(buf[start : start + size]), False
            start += size
        del buf[:start]  # once per piece read: small chunks of a big file stay cheap
    buf += encoder.finish()
    start = 0
    while len(buf) - start > size:
        yield bytes(buf[start : start + size]), False
        start += size
    yield bytes(buf[start:]), True


def show_summary(shell: Shell, text: str) -> None:
    """Say what went out without showing it line by line."""
    if shell.renderer.echo_sent:
        shell.info(text)
    else:
        shell.say(f"{shell.client.address}› ⟨{text}⟩", "class:sent")


async def _send_data(shell: Shell, transfer: Transfer) -> Reply:
    client = shell.client
    show_sent(shell, "DATA")
    reply = await shell.guard(client.command("DATA"))
    if reply.code != 354:
        return reply
    source = transfer.source
    show = source.facts.lines <= SHOW_LINES
    if not show or not shell.renderer.echo_sent:
        show_summary(
            shell,
            f"{source.description}: {source.facts.lines} lines, {_octets(source.facts.octets)},"
            " dot-stuffed and CRLF-normalised on the way",
        )
        show_sent(shell, ".")
    try:
        return await shell.guard(client.send_message(source.checked_chunks(), show=show))
    except (SmtpshError, asyncio.CancelledError):
        _abandon(shell)
        raise


async def _send_bdat(shell: Shell, transfer: Transfer, pipeline: bool) -> Reply:
    """The chunks, each with its reply (or, pipelined, all replies after); the first
    refusal, else the reply to BDAT LAST."""
    client = shell.client
    if pipeline:
        shell.info("PIPELINING: the BDAT chunks go out without waiting; the replies are read after")
    replies: list[Reply] = []
    sent = 0
    try:
        for chunk, last in bdat_chunks(transfer.source.checked_chunks(), transfer.chunk_size):
            show_sent(shell, f"BDAT {len(chunk)}{' LAST' if last else ''}")
            sent += 1
            await shell.guard(client.send_bdat(chunk, last=last))
            show_summary(shell, f"the {_octets(len(chunk))} of the chunk, in the same write")
            if not pipeline:
                replies.append((await shell.guard(client.wait_reply(waiting_for="BDAT"))).reply)
                if replies[-1].klass != 2:
                    return replies[-1]
        while len(replies) < sent:
            replies.append((await shell.guard(client.wait_reply(waiting_for="BDAT"))).reply)
    except (SmtpshError, asyncio.CancelledError):
        if sent:
            _abandon(shell)
        raise
    failed = [r for r in replies if r.klass != 2]
    return failed[0] if failed else replies[-1]


def _abandon(shell: Shell) -> None:
    """Stopped half-way through the message: only closing the connection makes sure that
    nothing partial is delivered."""
    if shell.client.connected:
        shell.client.abort(
            "the message was not sent to the end; connection closed so that nothing"
            " partial is delivered"
        )


# --- the whole transaction ---------------------------------------------------------------


async def transmit(shell: Shell, transfer: Transfer, go_on: GoOn | None = None) -> bool:
    """Run the transaction; True if the server accepted the message."""
    if not shell.client.connected:  # e.g. the server gave up while the questions were asked
        raise ComposeError("the connection is closed: nothing sent; /reconnect, then again")
    env = transfer.envelope
    caps = shell.session
    for note in env.notes:
        shell.warn(note)
    pipeline = transfer.pipeline
    if pipeline and not caps.advertises("PIPELINING"):
        shell.warn("the server did not advertise PIPELINING: one command at a time")
        pipeline = False
    bdat = transfer.bdat
    if bdat and not caps.advertises("CHUNKING"):
        shell.warn("the server did not advertise CHUNKING: sending with DATA instead of BDAT")
        bdat = False
    started = time.perf_counter()
    if pipeline:
        replies = await _envelope_pipelined(shell, env)
    else:
        replies = await _envelope_one_by_one(shell, env)
    if replies[0].klass != 2:
        shell.error(f"the sender was refused ({reply_text(replies[0])}): nothing sent")
        if shell.session.state in (State.MAIL, State.RCPT):
            await _reset(shell, "resetting the transaction")
        return False
    answered = list(zip(env.recipients, replies[1:], strict=True))
    accepted = [rcpt for rcpt, reply in answered if reply.klass == 2]
    refused = [(rcpt, reply) for rcpt, reply in answered if reply.klass != 2]
    for rcpt, reply in refused:
        shell.warn(f"recipient <{rcpt}> refused: {reply_text(reply)}")
    if not accepted:
        await _reset(shell, "no recipient was accepted: the transaction is reset")
        return False
    if refused:
        if go_on is not None and not await go_on(accepted, refused):
            await _reset(shell, "as asked, the transaction is reset: nothing sent")
            return False
        shell.info(
            f"going on with {len(accepted)} accepted recipient{'s' if len(accepted) > 1 else ''}"
        )
    reply = await (_send_bdat(shell, transfer, pipeline) if bdat else _send_data(shell, transfer))
    if reply.klass != 2:
        shell.error(f"the message was refused: {reply_text(reply)}")
        if shell.session.state in (State.MAIL, State.RCPT, State.BDAT):
            await _reset(shell, "resetting the transaction")
        return False
    elapsed = time.perf_counter() - started
    facts = transfer.source.facts
    speed = f", {facts.octets / elapsed / 1e6:.1f} MB/s" if facts.octets >= 1e6 else ""
    queue = shell.session.queue_id
    shell.info(
        f"message accepted{f', queue id {queue}' if queue else ''}:"
        f" {_octets(facts.octets)} in {elapsed:.2f} s{speed},"
        f" for {len(accepted)} recipient{'s' if len(accepted) > 1 else ''}"
    )
    return True
