"""Each reply waited for has its deadline (a timer that fails the waiter, not a cancelled
task): a reply that does not come is one ReplyTimeout line at the deadline; one that comes
in time stops its timer, so nothing fires later on a session that goes on; and a reply
nobody waited for that never comes (a QUIT sent without waiting, then the close) is no
"exception was never retrieved" in asyncio's log."""

from __future__ import annotations

import asyncio
import gc
import logging
import time

import pytest

from smtpsh.net.base import ConnectionClosedError, ReplyTimeout
from smtpsh.net.client import ClientOptions, SMTPClient


async def _server(delays: dict[str, float | None], *, close_on: str = "") -> asyncio.Server:
    """A server that answers each verb after ``delays[verb]`` seconds (None: never; a verb
    not named: at once), and hangs up when it reads ``close_on``."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 deadline.test ESMTP\r\n")
        while line := await reader.readline():
            verb = line.decode().split()[0].upper() if line.strip() else ""
            if verb == close_on:
                break
            delay = delays.get(verb, 0.0)
            if delay is None:
                continue
            if delay:
                await asyncio.sleep(delay)
            writer.write(b"250-deadline.test\r\n250 PIPELINING\r\n" if verb == "EHLO"
                         else f"250 2.0.0 {verb} ok\r\n".encode())
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


async def _client(server: asyncio.Server) -> SMTPClient:
    port = server.sockets[0].getsockname()[1]
    client = SMTPClient(ClientOptions(host="127.0.0.1", port=port, timeout=10))
    await client.open()
    await client.command("EHLO smtpsh.test")
    return client


def test_a_reply_that_does_not_come_is_one_timeout_at_its_deadline() -> None:
    async def main() -> tuple[str, float, bool]:
        server = await _server({"NOOP": None})
        client = await _client(server)
        started = time.monotonic()
        with pytest.raises(ReplyTimeout) as raised:
            await client.command("NOOP", timeout=0.4)
        took = time.monotonic() - started
        connected = client.connected
        await client.close()
        server.close()
        return str(raised.value), took, connected

    message, took, connected = asyncio.run(main())
    assert 0.35 <= took < 3, took
    assert message.startswith("no reply from 127.0.0.1") and "to NOOP within 0.4 s" in message
    assert not connected  # given up: a late reply must not pass for the next command's


def test_a_reply_in_time_stops_its_timer_and_the_session_goes_on() -> None:
    async def main() -> list[str]:
        server = await _server({"NOOP": 0.2})
        client = await _client(server)
        said = [(await client.command("NOOP", timeout=0.5)).text]
        await asyncio.sleep(0.6)  # past the first deadline: its timer must not fire now
        said.append((await client.command("RSET", timeout=0.5)).text)
        said.append((await client.command("NOOP", timeout=0.5)).text)
        await client.close()
        server.close()
        return said

    assert asyncio.run(main()) == ["2.0.0 NOOP ok", "2.0.0 RSET ok", "2.0.0 NOOP ok"]


def test_replies_nobody_waited_for_that_never_come_are_not_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def main() -> None:
        server = await _server({}, close_on="QUIT")
        client = await _client(server)
        await client.send_lines(["NOOP", "RSET"])  # answered; nobody takes the replies
        await client.send_line("QUIT")  # never answered: the server hangs up
        for _ in range(50):
            if not client.connected:
                break
            await asyncio.sleep(0.02)
        with pytest.raises(ConnectionClosedError):
            await client.command("NOOP")
        server.close()

    with caplog.at_level(logging.ERROR, logger="asyncio"):
        asyncio.run(main())
        gc.collect()  # a future's "never retrieved" is logged when it is collected
    assert not [r for r in caplog.records if "never retrieved" in r.getMessage()]
