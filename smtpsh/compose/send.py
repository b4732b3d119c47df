"""Sending a message, one visible step at a time, through whatever holds the connection.

MAIL, each RCPT and DATA (or the BDAT chunks) go out through a ``SendLink``: the narrow,
typed interface below, which the shell implements (``smtpsh.shell.send_link``) and a
sub-command can implement too, so ``/send``, ``/compose`` and a ``smtpsh send`` are the same
code. With PIPELINING, MAIL and every RCPT leave in one write and the replies are matched to
the commands in order. A refused recipient is reported and the user chooses to go on with
the others or to RSET; without anyone to ask, smtpsh goes on when one recipient was
accepted, and says at the end which were refused (the transaction is then not complete:
`smtpsh send` exits FAILED). Nothing here imports the shell.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from smtpsh.compose.envelope import Envelope
from smtpsh.compose.message import ComposeError, MessageSource
from smtpsh.compose.outcome import refused_line
from smtpsh.compose.scan import CHUNK
from smtpsh.net.client import CheckedPiece
from smtpsh.protocol.connection import Command
from smtpsh.protocol.encoding import DataEncoder
from smtpsh.protocol.errors import SmtpshError
from smtpsh.protocol.replies import Reply
from smtpsh.protocol.session import Session, State

SHOW_LINES = 200  # a message up to this many lines is shown line by line as it is sent


class SendLink(Protocol):
    """What a mail transaction needs from the front-end that holds the connection.

    Every method that sends also shows what it sent (as the front-end shows a typed line)
    and lets the user interrupt it if the front-end can; a reply is shown when it arrives.
    """

    @property
    def session(self) -> Session:
        """The live session: its state, advertised extensions, last queue id."""

    @property
    def connected(self) -> bool: ...

    @property
    def helo(self) -> str:
        """The name to give in EHLO when the session has not been greeted."""

    async def command(self, line: str, *, typed: bool = True) -> Reply:
        """Send one command and wait for its reply. ``typed``: exactly as if the user had
        typed it (out-of-order warnings); else just sent (DATA: what follows is the
        message, not typed lines). ComposeError when there is no connection."""

    async def pipeline(self, lines: Sequence[str]) -> list[Reply]:
        """Send ``lines`` in one write (PIPELINING) and wait for their replies, in order."""

    async def data(
        self, chunks: Iterable[CheckedPiece], *, show: bool, summary: str, octets: int
    ) -> Reply:
        """After 354: the message (CRLF-normalised, dot-stuffed) and the end of data; the
        reply. ``show``: a short message, which may be shown line by line; where it is
        not, ``summary`` says what goes out. ``octets``: its size, which bounds how long
        it may take to leave (smtpsh.net.base.body_deadline)."""

    async def bdat(self, chunk: bytes, *, last: bool) -> list[Command]:
        """One BDAT command and its chunk in one write (shown, the chunk summarised),
        without waiting for the reply; the commands to wait on for its replies (in LMTP,
        BDAT LAST earns one per accepted recipient)."""

    async def replies(self, commands: Sequence[Command]) -> list[Reply]:
        """The replies to ``commands`` (BDAT chunks already sent), in order; interrupted,
        it gives up exactly these commands' replies."""

    def abort(self, reason: str) -> None:
        """Close the connection at once (a message stopped half-way must not be delivered)."""

    def sent(self, text: str, *, summary: bool = False) -> None:
        """Show a line that goes out; ``summary``: say what went out without showing it."""

    def report(self, text: str, level: str = "info") -> None:
        """Progress: ``level`` is "info", "warning", "error", or "detail" (a plain line)."""

    async def confirm(self, question: str, default: bool, *, yes: str = "yes",
                      no: str = "no") -> bool:
        """A question with two answers (``yes``/``no`` as words); ``default`` when no one
        can answer (a script)."""


@dataclass
class Transfer:
    envelope: Envelope
    source: MessageSource
    bdat: bool = False
    pipeline: bool = False
    chunk_size: int = CHUNK


@dataclass(frozen=True)
class Outcome:
    """What became of a transaction: whether the server took the message, and the
    recipients it refused at RCPT (the message went to the others, never to these)."""

    accepted: bool
    refused: tuple[tuple[str, Reply], ...] = ()

    @property
    def complete(self) -> bool:
        """The message was taken for every recipient asked for: what a script calls sent."""
        return self.accepted and not self.refused


def _octets(n: int) -> str:
    return f"{n:,} octet{'s' if n != 1 else ''}".replace(",", " ")


# --- before sending ----------------------------------------------------------------------


async def ensure_ready(link: SendLink) -> None:
    """A session that can start a mail transaction; says EHLO first if it was not said."""
    if not link.connected or link.session.state is State.CLOSED:
        raise ComposeError("not connected: /reconnect opens a new session")
    state = link.session.state
    if state is State.GREETED:
        greeting = "LHLO" if link.session.lmtp else "EHLO"  # LMTP (RFC 2033 §4.1)
        reply = await link.command(f"{greeting} {link.helo}")
        if reply.klass != 2:
            raise ComposeError(f"the server did not accept {greeting}: nothing sent")
        state = link.session.state
    if state in (State.MAIL, State.RCPT, State.BDAT):
        raise ComposeError(
            "a mail transaction is already open: finish it, or send RSET first"
        )
    if state is not State.READY:
        raise ComposeError(f"cannot start a message in state '{state.value}'")


# --- the envelope ------------------------------------------------------------------------


async def _envelope_one_by_one(link: SendLink, env: Envelope) -> list[Reply]:
    replies = [await link.command(env.mail_line())]
    if replies[0].klass != 2:
        return replies
    for line in env.rcpt_lines():
        replies.append(await link.command(line))
    return replies


async def _envelope_pipelined(link: SendLink, env: Envelope) -> list[Reply]:
    lines = [env.mail_line(), *env.rcpt_lines()]
    link.report(
        f"PIPELINING (RFC 2920): MAIL and {len(lines) - 1} RCPT in one write;"
        " the replies come back in the same order"
    )
    replies = await link.pipeline(lines)
    link.report("pipelined replies, matched to their commands:")
    width = min(max(len(line) for line in lines), 60)
    for line, reply in zip(lines, replies, strict=True):
        link.report(f"    {line:<{width}}  →  {reply.one_line()}", "detail")
    return replies


async def _reset(link: SendLink, why: str) -> None:
    if link.connected and link.session.state is not State.CLOSED:
        link.report(why)
        await link.command("RSET")


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


async def _send_data(link: SendLink, transfer: Transfer) -> Reply:
    reply = await link.command("DATA", typed=False)
    if reply.code != 354:
        return reply
    source = transfer.source
    summary = (f"{source.description}: {source.facts.lines} lines,"
               f" {_octets(source.facts.octets)}, dot-stuffed and CRLF-normalised on the way")
    try:
        return await link.data(source.checked_chunks(), show=source.facts.lines <= SHOW_LINES,
                               summary=summary, octets=source.facts.octets)
    except (SmtpshError, asyncio.CancelledError):
        _abandon(link)
        raise


async def _send_bdat(link: SendLink, transfer: Transfer, pipeline: bool) -> Reply:
    """The chunks, each with its reply (or, pipelined, all replies after); the first
    refusal, else the reply to BDAT LAST. In LMTP every recipient's reply to BDAT LAST
    counts, as every reply after DATA's dot does (smtpsh.net.base.lmtp_verdict)."""
    if pipeline:
        link.report(
            "PIPELINING: the BDAT chunks go out without waiting; the replies are read after"
        )
    replies: list[Reply] = []
    sent: list[Command] = []
    try:
        for chunk, last in bdat_chunks(transfer.source.checked_chunks(), transfer.chunk_size):
            commands = await link.bdat(chunk, last=last)
            sent += commands
            if not pipeline:
                replies += await link.replies(commands)
                if any(reply.klass != 2 for reply in replies):
                    break
        if pipeline:
            replies = await link.replies(sent)
    except (SmtpshError, asyncio.CancelledError):
        if sent:  # closing fails every reply still owed: none can go to a later command
            _abandon(link)
        raise
    failed = [r for r in replies if r.klass != 2]
    return failed[0] if failed else replies[-1]


def _abandon(link: SendLink) -> None:
    """Stopped half-way through the message: only closing the connection makes sure that
    nothing partial is delivered."""
    if link.connected:
        link.abort(
            "the message was not sent to the end; connection closed so that nothing"
            " partial is delivered"
        )


# --- the whole transaction ---------------------------------------------------------------


async def transmit(link: SendLink, transfer: Transfer) -> Outcome:
    """Run the transaction: whether the server accepted the message, and which recipients
    it refused on the way (a message taken for some recipients only is not complete)."""
    if not link.connected:  # e.g. the server gave up while the questions were asked
        raise ComposeError("the connection is closed: nothing sent; /reconnect, then again")
    env = transfer.envelope
    caps = link.session
    for note in env.notes:
        link.report(note, "warning")
    pipeline = transfer.pipeline
    if pipeline and not caps.advertises("PIPELINING"):
        link.report("the server did not advertise PIPELINING: one command at a time", "warning")
        pipeline = False
    bdat = transfer.bdat
    if bdat and not caps.advertises("CHUNKING"):
        link.report("the server did not advertise CHUNKING: sending with DATA instead of BDAT",
                    "warning")
        bdat = False
    started = time.perf_counter()
    if pipeline:
        replies = await _envelope_pipelined(link, env)
    else:
        replies = await _envelope_one_by_one(link, env)
    if replies[0].klass != 2:
        link.report(f"the sender was refused ({replies[0].one_line()}): nothing sent", "error")
        if link.session.state in (State.MAIL, State.RCPT):
            await _reset(link, "resetting the transaction")
        return Outcome(False)
    answered = list(zip(env.recipients, replies[1:], strict=True))
    accepted = [rcpt for rcpt, reply in answered if reply.klass == 2]
    refused = tuple((rcpt, reply) for rcpt, reply in answered if reply.klass != 2)
    for rcpt, reply in refused:
        link.report(f"recipient <{rcpt}> refused: {reply.one_line()}", "warning")
    if not accepted:
        await _reset(link, "no recipient was accepted: the transaction is reset")
        return Outcome(False, refused)
    if refused:
        question = (
            f"{len(refused)} recipient{'s' if len(refused) > 1 else ''} refused;"
            f" go on with the {len(accepted)} accepted, or reset with RSET?"
        )
        asked = time.perf_counter()
        if not await link.confirm(question, True, yes="go on", no="rset"):
            await _reset(link, "as asked, the transaction is reset: nothing sent")
            return Outcome(False, refused)
        started += time.perf_counter() - asked  # waiting for the answer is not sending
        link.report(
            f"going on with {len(accepted)} accepted recipient{'s' if len(accepted) > 1 else ''}"
        )
    reply = await (_send_bdat(link, transfer, pipeline) if bdat else _send_data(link, transfer))
    if reply.klass != 2:
        if link.session.lmtp:  # one reply per recipient came (shown): some took it
            link.report("the message was not delivered to every recipient (LMTP: one reply"
                        f" each, above): {reply.one_line()}", "error")
        else:
            link.report(f"the message was refused: {reply.one_line()}", "error")
        if link.session.state in (State.MAIL, State.RCPT, State.BDAT):
            await _reset(link, "resetting the transaction")
        return Outcome(False, refused)
    elapsed = time.perf_counter() - started
    facts = transfer.source.facts
    speed = f", {facts.octets / elapsed / 1e6:.1f} MB/s" if facts.octets >= 1e6 else ""
    queue = link.session.queue_id
    link.report(
        f"message accepted{f', queue id {queue}' if queue else ''}:"
        f" {_octets(facts.octets)} in {elapsed:.2f} s{speed},"
        f" for {len(accepted)} recipient{'s' if len(accepted) > 1 else ''}"
    )
    if refused:  # taken, but not for everyone asked: the last line a script's user reads
        link.report(refused_line(refused, len(answered)), "error")
    return Outcome(True, refused)
