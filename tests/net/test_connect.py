"""One connect for both transports (open_socket), and the interactive shell's early connect."""

from __future__ import annotations

import asyncio
import socket
from typing import TYPE_CHECKING

import pytest

from smtpsh.net.base import ClientOptions, ConnectError
from smtpsh.net.blocking import EarlyConnection, open_socket
from smtpsh.net.client import SMTPClient

if TYPE_CHECKING:
    from tests.conftest import PostfixEnv


def free_port() -> int:
    with socket.socket() as holder:  # bound, never listened on: connects are refused
        holder.bind(("127.0.0.1", 0))
        port: int = holder.getsockname()[1]
        return port


def test_a_refused_connect_says_so_in_words() -> None:
    port = free_port()
    with pytest.raises(ConnectError) as caught:
        open_socket(ClientOptions("127.0.0.1", port))
    assert str(caught.value) == f"cannot connect to 127.0.0.1:{port}: Connection refused"


def test_an_address_family_the_host_lacks_is_refused_before_connecting() -> None:
    with pytest.raises(ConnectError, match=r"cannot resolve host '127\.0\.0\.1'"):
        open_socket(ClientOptions("127.0.0.1", 25, family=socket.AF_INET6))


def test_an_early_connection_is_taken_by_the_client(postfix: PostfixEnv) -> None:
    options = ClientOptions(postfix.host, postfix.port("smtp"))
    early = EarlyConnection(options)  # a thread connects while this one goes on

    async def session() -> tuple[int, int]:
        client = SMTPClient(options)
        banner = await client.open(early.result())
        reply = await client.command("QUIT")
        await client.close()
        return banner.code, reply.code

    assert asyncio.run(session()) == (220, 221)


def test_an_early_connection_that_failed_raises_when_taken() -> None:
    early = EarlyConnection(ClientOptions("127.0.0.1", free_port()))
    with pytest.raises(ConnectError, match="Connection refused"):
        early.result()


def _loops() -> list[object]:
    import uvloop  # the optional extra 'fast', installed with the test extra

    return [asyncio.new_event_loop, uvloop.new_event_loop]


@pytest.mark.parametrize("loop_factory", _loops(), ids=["asyncio", "uvloop"])
def test_a_connect_by_address_asks_the_event_loop_to_resolve_nothing(
    loop_factory: object,
) -> None:
    # uvloop's sock_connect resolves even an IP address again, in its thread pool: a
    # hand-off to a thread and a wake-up for each connection of a run over many hosts.
    # The client connects the socket itself and waits on the loop for it to be writable.
    async def session() -> int:
        async def greet(_r: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(b"220 ready\r\n")
            await writer.drain()

        server = await asyncio.start_server(greet, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        loop = asyncio.get_running_loop()
        if isinstance(loop, asyncio.BaseEventLoop):  # uvloop's methods cannot be replaced

            def refuse(*_args: object, **_kwargs: object) -> None:
                raise AssertionError("the loop was asked to resolve or connect")

            loop.getaddrinfo = refuse  # type: ignore[method-assign,assignment]
            loop.sock_connect = refuse  # type: ignore[method-assign,assignment]
        client = SMTPClient(ClientOptions("127.0.0.1", port))
        banner = await client.open()
        await client.close()
        server.close()
        return banner.code

    with asyncio.Runner(loop_factory=loop_factory) as runner:  # type: ignore[arg-type]
        assert runner.run(session()) == 220


@pytest.mark.parametrize("loop_factory", _loops(), ids=["asyncio", "uvloop"])
def test_a_connect_that_gets_no_answer_ends_at_its_timeout_in_words(
    loop_factory: object,
) -> None:
    # A listener whose queue is full drops further SYNs: the connect waits for writability
    # and the timeout ends it, with the same words under either loop.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)

    async def attempt() -> str:
        try:
            await SMTPClient(ClientOptions("127.0.0.1", port, connect_timeout=0.3)).open()
        except ConnectError as exc:
            return str(exc)
        return "connected"

    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:  # type: ignore[arg-type]
            said = runner.run(attempt())
    finally:
        for each in [*fillers, listener]:
            each.close()
    assert said == f"cannot connect to 127.0.0.1:{port}: no answer within 0.3 s"


@pytest.mark.parametrize("loop_factory", _loops(), ids=["asyncio", "uvloop"])
def test_the_asyncio_client_reports_the_same_words(loop_factory: object) -> None:
    # The same words as open_socket's (above), under either event loop.
    port = free_port()

    async def attempt() -> str:
        try:
            await SMTPClient(ClientOptions("127.0.0.1", port)).open()
        except ConnectError as exc:
            return str(exc)
        return "connected"

    with asyncio.Runner(loop_factory=loop_factory) as runner:  # type: ignore[arg-type]
        assert runner.run(attempt()) == f"cannot connect to 127.0.0.1:{port}: Connection refused"
