"""A handful of fake SMTP servers on their own loopback addresses (127.X.Y.1, .2, ...),
all on one port, for the many-target tests: each is tests/audit/fakesmtp's FakeServer,
bound where a fleet would be. Also a silent one (accepts, never says a word)."""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import threading
import time
from collections.abc import Iterator, Sequence

from tests.audit.fakesmtp import FakeServer, Policy


def free_block() -> str:
    """'127.X.Y' with no listener on .1-.9 that this test run knows of (random, so that
    parallel test runs and the bench's fake fleet do not meet)."""
    return f"127.{random.randint(100, 250)}.{random.randint(0, 255)}"


def common_port(addresses: Sequence[str]) -> int:
    """A port free on every one of ``addresses``."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind((addresses[0], 0))
            port: int = probe.getsockname()[1]
        try:
            for address in addresses[1:]:
                with socket.socket() as other:
                    other.bind((address, port))
        except OSError:
            continue
        return port
    raise RuntimeError("no port free on every address")


class PlacedServer(FakeServer):
    """A FakeServer on a chosen address and port; ``accepted_at``: the time.monotonic() of
    each connection as it is accepted (how far apart a client spaced them)."""

    def __init__(self, address: str, port: int, policy: Policy | None = None) -> None:
        super().__init__(policy)
        self.address, self.wanted_port = address, port
        self.accepted_at: list[float] = []

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted_at.append(time.monotonic())
        with contextlib.suppress(OSError):  # a TLS scan drops the handshake after the hello
            await super()._handle(reader, writer)

    async def _start(self) -> int:
        self._server = await asyncio.start_server(self._handle, self.address, self.wanted_port)
        port: int = self._server.sockets[0].getsockname()[1]
        return port


class SilentServer:
    """Accepts connections and never answers (a stuck host): the client waits."""

    def __init__(self, address: str, port: int) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((address, port))
        self.sock.listen(16)
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self.sock.accept()
                self.accepted.append(conn)

    def close(self) -> None:
        for conn in self.accepted:
            conn.close()
        self.sock.close()


@contextlib.contextmanager
def fleet(policies: Sequence[Policy | None], *, silent: int = 0, block: str | None = None
          ) -> Iterator[tuple[str, int, list[PlacedServer], list[SilentServer]]]:
    """Servers on 127.X.Y.1.. (one a policy; None: no server at that address), then
    ``silent`` silent ones: (the block '127.X.Y', the port, the servers, the silent).
    ``block``: '127.X.Y' chosen before (free_block()), e.g. to make certificates for it."""
    block = block or free_block()
    count = len(policies) + silent
    port = common_port([f"{block}.{n}" for n in range(1, count + 1)])
    servers: list[PlacedServer] = []
    quiet: list[SilentServer] = []
    try:
        for n, policy in enumerate(policies, 1):
            if policy is not None:
                server = PlacedServer(f"{block}.{n}", port, policy)
                server.start()
                servers.append(server)
        for n in range(len(policies) + 1, count + 1):
            quiet.append(SilentServer(f"{block}.{n}", port))
        yield block, port, servers, quiet
    finally:
        for server in servers:
            server.stop()
        for other in quiet:
            other.close()
