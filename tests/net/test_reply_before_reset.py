"""A reply the server sent before it reset the connection is still read and shown.

A server that says 421 and closes with unread input in its socket (pipelined commands,
a line typed after the 421) makes its kernel send a TCP reset. The 421 has reached our
socket by then; if our next write is what meets the reset, the write fails, and a client
that gives up at once never reads the 421 that is waiting: the user sees "the server
reset the connection" without the reason the server gave. Both transports must read what
is left before they tell of the loss.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from smtpsh.net.base import ClientBase, ClientObserver, ConnectionClosedError
from smtpsh.net.blocking import BlockingClient
from smtpsh.net.client import ClientOptions, SMTPClient
from smtpsh.protocol.connection import ReplyEvent
from tests.helpers.scripted_server import read_line

CLOSING = b"421 4.7.0 reset.test Error: too many errors\r\n"


class Seen(ClientObserver):
    def __init__(self) -> None:
        self.replies: list[str] = []
        self.closed: list[str] = []

    def on_reply(self, client: ClientBase, event: ReplyEvent) -> None:
        self.replies.append(event.reply.one_line())

    def on_closed(self, client: ClientBase, reason: str) -> None:
        self.closed.append(reason)


@contextmanager
def says_421_then_resets() -> Iterator[tuple[int, threading.Event]]:
    """Banner, one NOOP answered, then a 421 followed by a reset (SO_LINGER 0). The event
    is set once the reset is out: from then on, our socket holds the 421 and the RST."""
    listener = socket.create_server(("127.0.0.1", 0))
    done = threading.Event()

    def serve() -> None:
        conn, _ = listener.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.sendall(b"220 reset.test ESMTP\r\n")
        read_line(conn)
        conn.sendall(b"250 2.0.0 Ok\r\n")
        read_line(conn)  # a second NOOP: its answer is the 421
        conn.sendall(CLOSING)
        time.sleep(0.2)  # the 421 is in the client's socket (a reset drops what is unsent)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()
        done.set()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], done
    finally:
        listener.close()
        thread.join(5)


def check(seen: Seen) -> None:
    assert seen.replies[-1] == CLOSING.decode().strip(), seen.replies
    assert len(seen.closed) == 1, seen.closed


def test_the_asyncio_client_reads_the_421_its_write_met_a_reset_after() -> None:
    seen = Seen()

    async def session(port: int, done: threading.Event) -> None:
        client = SMTPClient(ClientOptions("127.0.0.1", port, timeout=5), [seen])
        await client.open()
        assert (await client.command("NOOP")).code == 250
        command = await client.send_line("NOOP")  # answered 421, then the reset
        # Hold the event loop (as a busy one would) until the 421 and the reset are both
        # in our socket, unread: the next write is what meets the reset.
        assert done.wait(10)
        with pytest.raises(ConnectionClosedError):
            await client.command("RSET")
        reply = (await client.reply_to(command)).reply
        assert reply.code == 421

    with says_421_then_resets() as (port, done):
        asyncio.run(session(port, done))
    check(seen)


def test_the_blocking_client_reads_the_421_its_write_met_a_reset_after(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen = Seen()

    async def session(port: int, done: threading.Event) -> None:
        client = BlockingClient(ClientOptions("127.0.0.1", port, timeout=5), [seen])
        await client.open()
        assert (await client.command("NOOP")).code == 250
        client._write(client._queue_command("NOOP", raw=False)[1])
        assert done.wait(10)
        # The 421 and the reset arrive between the look for pending input that precedes
        # a write and the write itself: the look finds nothing, the write fails.
        monkeypatch.setattr("smtpsh.net.blocking.select.select", nothing_ready)
        with pytest.raises(ConnectionClosedError):
            await client.command("RSET")

    with says_421_then_resets() as (port, done):
        asyncio.run(session(port, done))
    check(seen)


def nothing_ready(*args: object) -> tuple[list[object], list[object], list[object]]:
    return [], [], []
