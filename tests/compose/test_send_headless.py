"""Composition without the shell: compose/send.py drives any SendLink.

A SendLink of a dozen lines over a bare SMTPClient (what a `smtpsh send` sub-command would
write) sends to the practice server (DATA, pipelined or not; a refused recipient with the
question answered both ways) and to Postfix (BDAT chunks, pipelined or not). Nothing of
smtpsh.shell is imported here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import pytest

from smtpsh.compose.envelope import plan_envelope
from smtpsh.compose.message import MessageSource
from smtpsh.compose.send import Outcome, SendLink, Transfer, ensure_ready, transmit
from smtpsh.net.client import CheckedPiece, ClientOptions, SMTPClient
from smtpsh.protocol.connection import Command
from smtpsh.protocol.replies import Reply
from smtpsh.protocol.session import Session
from smtpsh.sandbox import Sandbox

if TYPE_CHECKING:
    from tests.conftest import PostfixEnv

MESSAGE = b"Subject: headless\r\nFrom: a@example.net\r\n\r\n.leading dot\r\nbody\r\n"


class ClientLink:
    """SendLink over an SMTPClient: shows nothing, keeps what it was told, answers
    questions from a fixed answer."""

    def __init__(self, client: SMTPClient, answer: bool = True) -> None:
        self.client = client
        self.answer = answer
        self.lines: list[str] = []  # what went out, as shown
        self.reports: list[tuple[str, str]] = []
        self.questions: list[str] = []

    @property
    def session(self) -> Session:
        return self.client.conn.session

    @property
    def connected(self) -> bool:
        return self.client.connected

    @property
    def helo(self) -> str:
        return "headless.test"

    async def command(self, line: str, *, typed: bool = True) -> Reply:
        self.lines.append(line)
        return await self.client.command(line)

    async def pipeline(self, lines: Sequence[str]) -> list[Reply]:
        self.lines.extend(lines)
        events = await self.client.replies_to(await self.client.send_lines(lines))
        return [event.reply for event in events]

    async def data(
        self, chunks: Iterable[CheckedPiece], *, show: bool, summary: str, octets: int
    ) -> Reply:
        self.lines.append(f"<{summary}>")
        return await self.client.send_message(chunks, show=show, octets=octets)

    async def bdat(self, chunk: bytes, *, last: bool) -> list[Command]:
        self.lines.append(f"BDAT {len(chunk)}{' LAST' if last else ''}")
        return await self.client.send_bdat(chunk, last=last)

    async def replies(self, commands: Sequence[Command]) -> list[Reply]:
        return [event.reply for event in await self.client.replies_to(commands)]

    def abort(self, reason: str) -> None:
        self.client.abort(reason)

    def sent(self, text: str, *, summary: bool = False) -> None:
        self.lines.append(text)

    def report(self, text: str, level: str = "info") -> None:
        self.reports.append((level, text))

    async def confirm(self, question: str, default: bool, *, yes: str = "yes",
                      no: str = "no") -> bool:
        self.questions.append(question)
        return self.answer


def _is_a_send_link(link: SendLink) -> SendLink:  # mypy checks ClientLink against the Protocol
    return link


async def _send(
    recipients: list[str], *, bdat: bool, pipeline: bool, answer: bool = True,
    server: tuple[str, int] | None = None,
) -> tuple[ClientLink, Outcome, Sandbox | None]:
    sandbox = None if server else await Sandbox.start(tls=False)
    host, port = server or ("127.0.0.1", sandbox.port if sandbox else 0)
    client = SMTPClient(ClientOptions(host, port, timeout=10))
    try:
        await client.open()
        link = ClientLink(client, answer)
        await ensure_ready(_is_a_send_link(link))
        source = MessageSource.from_bytes(MESSAGE)
        env = plan_envelope("a@example.net", recipients, link.session.extensions,
                            size=source.facts.octets, eight_bit=False, smtputf8=False)
        outcome = await transmit(link, Transfer(env, source, bdat=bdat, pipeline=pipeline,
                                           chunk_size=16))
        await client.command("QUIT")
    finally:
        await client.close()
        if sandbox is not None:
            await sandbox.stop()
    return link, outcome, sandbox


@pytest.mark.parametrize("pipeline", [False, True])
def test_a_message_goes_through_a_link_that_is_not_the_shell(pipeline: bool) -> None:
    link, outcome, sandbox = asyncio.run(
        _send(["alice@sandbox.test"], bdat=False, pipeline=pipeline))
    assert outcome.complete and sandbox is not None
    assert link.lines[0] == "EHLO headless.test"  # ensure_ready greeted first
    assert "RCPT TO:<alice@sandbox.test>" in link.lines and "DATA" in link.lines
    [received] = sandbox.mailbox
    assert received.rcpt_tos == ["alice@sandbox.test"]
    assert received.data.endswith(b"\r\n.leading dot\r\nbody\r\n")
    assert link.reports[-1][0] == "info" and link.reports[-1][1].startswith("message accepted")


@pytest.mark.parametrize("pipeline", [False, True])
def test_bdat_chunks_through_a_link(postfix: PostfixEnv, pipeline: bool) -> None:
    link, outcome, _ = asyncio.run(_send([f"robin@{postfix.domain}"], bdat=True,
                                         pipeline=pipeline, server=(postfix.host, postfix.port())))
    assert outcome.complete, link.reports
    chunks = [line for line in link.lines if line.startswith("BDAT")]
    assert len(chunks) == -(-len(MESSAGE) // 16) and chunks[-1].endswith(" LAST")
    assert "DATA" not in link.lines
    assert link.reports[-1][1].startswith("message accepted")


@pytest.mark.parametrize("answer", [True, False])
def test_a_refused_recipient_asks_through_the_link(answer: bool) -> None:
    link, outcome, sandbox = asyncio.run(
        _send(["alice@sandbox.test", "nobody@sandbox.test"], bdat=False, pipeline=False,
              answer=answer))
    assert link.questions == ["1 recipient refused; go on with the 1 accepted, or reset with RSET?"]
    refusal = "recipient <nobody@sandbox.test> refused: 550"
    assert any(level == "warning" and text.startswith(refusal) for level, text in link.reports)
    assert outcome.accepted == answer and sandbox is not None
    assert len(sandbox.mailbox) == (1 if answer else 0)
    # Taken for one of two: not complete, and the refused one is named in the last line.
    assert not outcome.complete
    assert [rcpt for rcpt, _ in outcome.refused] == ["nobody@sandbox.test"]
    if answer:
        assert link.reports[-1] == ("error", "not every recipient: refused"
                                    " <nobody@sandbox.test> (550 5.1.1); the message went to"
                                    " 1 of 2 recipients only")
    if not answer:
        assert link.lines[-1] == "RSET"
