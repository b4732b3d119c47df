"""Helpers for the TLS and AUTH tests: a test CA, hostile STARTTLS servers, an in-process
shell whose every printed byte and every observer call can be inspected."""

from __future__ import annotations

import asyncio
import io
import socket
import ssl
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trustme

from smtpsh.cli import build_parser
from smtpsh.net.client import ClientObserver, SMTPClient
from smtpsh.output.printer import Printer
from smtpsh.protocol.connection import ReplyEvent
from smtpsh.shell.app import Shell, ShellSettings
from smtpsh.shell.tls_commands import configure
from smtpsh.target import client_options
from tests.helpers.scripted_server import read_line


@dataclass
class Pki:
    """A trustme CA and a server certificate for 127.0.0.1 / localhost, as files."""

    ca: trustme.CA
    ca_file: Path
    server_context: ssl.SSLContext
    directory: Path

    @classmethod
    def create(cls, directory: Path) -> Pki:
        ca = trustme.CA()
        cert = ca.issue_cert("localhost", "127.0.0.1")
        ca_file = directory / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_file))
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)
        return cls(ca, ca_file, context, directory)

    def client_cert_file(self, name: str) -> Path:
        """A client certificate and its key in one PEM file (for --client-cert)."""
        path = self.directory / f"{name}.pem"
        self.ca.issue_cert(name).private_key_and_cert_chain_pem.write_to_path(str(path))
        return path

    def mutual_context(self) -> ssl.SSLContext:
        """A server context that demands a client certificate from this CA."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)
        self.ca.configure_trust(context)
        context.verify_mode = ssl.CERT_REQUIRED
        return context


@dataclass
class Seen(ClientObserver):
    """Everything observers are told: what a transcript recorder would get."""

    sent: list[str] = field(default_factory=list)
    replies: list[ReplyEvent] = field(default_factory=list)
    meta: list[tuple[str, str]] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)

    def on_sent(self, client: SMTPClient, text: str, kind: str) -> None:
        self.sent.append(text)

    def on_reply(self, client: SMTPClient, event: ReplyEvent) -> None:
        self.replies.append(event)

    def on_meta(self, client: SMTPClient, text: str, level: str = "info") -> None:
        self.meta.append((text, level))

    def on_closed(self, client: SMTPClient, reason: str) -> None:
        self.closed.append(reason)

    def everything(self) -> str:
        return "\n".join(
            [*self.sent, *(e.reply.raw.decode("utf-8", "replace") for e in self.replies),
             *(t for t, _ in self.meta), *self.closed]
        )  # fmt: skip


def make_shell(argv: Sequence[str], *observers: ClientObserver) -> tuple[Shell, io.StringIO]:
    """A piped-mode shell built from command-line arguments, as `smtpsh ARGV` would be."""
    args = build_parser().parse_args(list(argv))
    host, _, port = args.target.rpartition(":")
    options = client_options(args, host, int(port))
    out = io.StringIO()
    settings = ShellSettings(helo="tls.test", interactive=False, observers=list(observers))
    shell = Shell(options, settings, Printer(colour=False, stream=out))
    problem = configure(shell, args)
    assert problem is None, problem
    return shell, out


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


async def dialogue(shell: Shell, lines: Sequence[str]) -> bool:
    """Connect, send each line as typed, QUIT; whether the connect worked."""
    connected = await shell.connect()
    if connected:
        for line in lines:
            await shell.handle_line(line)
    await shell.quit()
    return connected


# --- STARTTLS servers that misbehave ---------------------------------------------------

ServerHandler = Callable[[socket.socket], None]


@dataclass
class Received:
    plain: list[bytes] = field(default_factory=list)
    encrypted: list[bytes] = field(default_factory=list)


def implicit_tls_server(context: ssl.SSLContext, peers: list[dict[str, Any]]) -> ServerHandler:
    """TLS from the first byte; records the client certificate each session presented."""

    def handle(sock: socket.socket) -> None:
        try:
            tls = context.wrap_socket(sock, server_side=True)
        except (ssl.SSLError, OSError):
            return
        with tls:
            peers.append(dict(tls.getpeercert() or {}))
            tls.sendall(b"220 mtls.test ESMTP\r\n")
            while line := read_line(tls):
                if line.upper().startswith(b"QUIT"):
                    tls.sendall(b"221 2.0.0 bye\r\n")
                    return
                tls.sendall(b"250 2.0.0 ok\r\n")

    return handle


def starttls_server(
    pki: Pki, after_starttls: bytes, *, then: str = "tls", seen: Received | None = None
) -> ServerHandler:
    """Banner, EHLO (offers STARTTLS), STARTTLS answered with ``after_starttls`` in ONE
    write; then: "tls" handshake and serve, "close" hang up, "plain" answer in clear text,
    "serve" keep talking in clear (for a refused STARTTLS)."""
    seen = seen if seen is not None else Received()

    def serve(sock: socket.socket, log: list[bytes]) -> None:
        while line := read_line(sock):
            log.append(line)
            verb = line.split()[0].upper() if line.split() else b""
            if verb == b"EHLO":
                sock.sendall(b"250-hostile.test\r\n250-AUTH PLAIN\r\n250 STARTTLS\r\n")
            elif verb == b"QUIT":
                sock.sendall(b"221 2.0.0 bye\r\n")
                return
            else:
                sock.sendall(b"250 2.0.0 ok\r\n")

    def handle(sock: socket.socket) -> None:
        sock.sendall(b"220 hostile.test ESMTP\r\n")
        while line := read_line(sock):
            seen.plain.append(line)
            if line.upper().startswith(b"EHLO"):
                sock.sendall(b"250-hostile.test\r\n250 STARTTLS\r\n")
            elif line.upper().startswith(b"STARTTLS"):
                sock.sendall(after_starttls)
                break
            else:
                sock.sendall(b"250 2.0.0 ok\r\n")
        if then == "close":
            sock.shutdown(socket.SHUT_RDWR)
            return
        if then == "plain":
            sock.recv(4096)  # the ClientHello
            sock.sendall(b"250 2.0.0 this is not TLS\r\n")
            return
        if then == "serve":
            serve(sock, seen.plain)
            return
        with pki.server_context.wrap_socket(sock, server_side=True) as tls:
            serve(tls, seen.encrypted)

    return handle
