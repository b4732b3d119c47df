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


def test_the_asyncio_client_reports_the_same_words() -> None:
    port = free_port()

    async def attempt() -> str:
        try:
            await SMTPClient(ClientOptions("127.0.0.1", port)).open()
        except ConnectError as exc:
            return str(exc)
        return "connected"

    assert asyncio.run(attempt()) == f"cannot connect to 127.0.0.1:{port}: Connection refused"


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
