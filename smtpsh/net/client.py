"""SMTPClient: the asyncio transport around the sans-IO ClientConnection.

Everything that happens on the wire is told to the observers as it happens: the renderer,
the transcript recorder and the piped mode are all observers, so they cannot disagree.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import ssl
from collections.abc import AsyncIterable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, cast

from smtpsh.net.base import (
    CLOSED_BY_SMTPSH,
    MIN_WAIT,
    SILENT_BANNER_HINT_AFTER,
    ClientBase,
    ClientObserver,
    ClientOptions,
    ConnectError,
    ConnectionClosedError,
    ReplyTimeout,
    WriteStalled,
    body_deadline,
    describe_loss,
    format_address,
    handshake_timeout,
    lmtp_verdict,
    read_left,
    silent_banner_hint,
    stalled_message,
    timeout_for,
    write_timeout,
)
from smtpsh.protocol.connection import NEED_DATA, Command, ReplyEvent, verb_of
from smtpsh.protocol.encoding import Checked, encode_command, text_to_wire, visible
from smtpsh.protocol.errors import LocalProtocolError, RemoteProtocolError, SmtpshError
from smtpsh.protocol.replies import Reply
from smtpsh.protocol.session import BANNER, State

if TYPE_CHECKING:
    from smtpsh.net.certinfo import CertificateInfo, TLSInfo

# smtpsh.net.certinfo (datetime, hashlib, ipaddress: ~10 ms) is imported when TLS is used.

# Re-exported: most of smtpsh imports these from here.
__all__ = [
    "CLOSED_BY_SMTPSH",
    "ClientObserver",
    "ClientOptions",
    "ConnectError",
    "ConnectionClosedError",
    "ReplyTimeout",
    "SMTPClient",
    "describe_loss",
    "format_address",
    "timeout_for",
]

# A piece of message with check_piece's proof (None: encode it as usual).
CheckedPiece = tuple[bytes, Checked | None]


class _WireProtocol(asyncio.Protocol):
    def __init__(self, client: SMTPClient) -> None:
        self._client = client
        self._writable = asyncio.Event()
        self._writable.set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Here, not after create_connection returns: the banner may arrive in between,
        # and observers must hear "connected" before any reply. (A transport of another
        # event loop, uvloop's, is no subclass of asyncio.Transport but has its methods.)
        self._client._on_made(cast(asyncio.Transport, transport), self)

    def data_received(self, data: bytes) -> None:
        self._client._on_data(data)

    def eof_received(self) -> bool | None:
        return None  # let the transport close

    def connection_lost(self, exc: Exception | None) -> None:
        self._writable.set()
        if isinstance(exc, OSError):
            self._client._take_what_is_left()
        self._client._on_lost(exc)

    @property
    def writable(self) -> bool:
        """The transport takes more without waiting (its buffer is under the high mark)."""
        return self._writable.is_set()

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    async def drain(self) -> None:
        await self._writable.wait()


class SMTPClient(ClientBase):
    """The asyncio transport: the interactive shell, TLS and every feature run on it."""

    def __init__(self, options: ClientOptions, observers: Sequence[ClientObserver] = ()) -> None:
        super().__init__(options, observers)
        self._transport: asyncio.Transport | None = None
        self._protocol: _WireProtocol | None = None
        # The waiter for each command's reply, made when the command is queued (_owe) and
        # resolved by the ReplyEvent the core pairs with that command: a caller that stops
        # waiting (Ctrl-C) cancels its own commands' waiters, and no other command's.
        self._owed: dict[Command, asyncio.Future[ReplyEvent]] = {}
        self._starttls_pending = False
        self.injected: bytes = b""  # bytes that arrived after a STARTTLS 220, discarded
        self._implicit: tuple[ssl.SSLContext, str] | None = None  # implicit TLS: context, name
        self._closed_by_us = False  # close() was called: the end is not news to the user
        self.tls_info: TLSInfo | None = None  # the live TLS session (implicit or STARTTLS)
        self.failed_tls: TLSInfo | None = None  # a certificate that failed verification
        self.diagnose_tls = True  # on a failed verification, fetch the certificate to explain
        # The last verification failure (a caller that looks at the certificate itself,
        # with diagnose_tls off, explains it: certinfo.describe_verify_error).
        self.verify_failure: ssl.SSLCertVerificationError | None = None
        self._starttls_context: ssl.SSLContext | None = None  # for this STARTTLS only
        self._starttls_name: str | None = None
        self._background: asyncio.Future[None] | None = None
        self._handshaking = False
        self._tls_quiet = False  # TLS is up and no reply has come over it yet
        self._adopting = False  # take_over: the connection is not new to the observers

    # --- state -------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._transport is not None and not self._transport.is_closing()

    @property
    def ssl_object(self) -> ssl.SSLObject | None:
        if self._transport is None:
            return None
        obj = self._transport.get_extra_info("ssl_object")
        return obj if isinstance(obj, ssl.SSLObject) else None

    async def take_over(self, previous: ClientBase, sock: socket.socket | None) -> None:
        """Carry on a plain-text session that another transport opened (a piped run started
        on BlockingClient): same socket, same protocol state, nothing re-sent. ``sock``
        None: the connection has ended; only what is known of it carries over."""
        self.conn = previous.conn
        for command in self.conn.pending:
            self._owe(command)
        if sock is None:
            return
        loop = asyncio.get_running_loop()
        self._adopting = True
        try:
            await loop.create_connection(lambda: _WireProtocol(self), sock=sock)
        finally:
            self._adopting = False

    # --- opening and closing -----------------------------------------------------------

    async def open(self, sock: socket.socket | None = None) -> Reply:
        """Connect (or take ``sock``, connected by open_socket) and wait for the banner."""
        loop = asyncio.get_running_loop()
        opts = self.options
        ctx = opts.ssl_context if opts.implicit_tls else None
        if opts.implicit_tls and ctx is None:
            ctx = ssl.create_default_context()
        name = opts.server_hostname or opts.host
        self._implicit = (ctx, name) if ctx is not None else None
        banner = self.conn.pending[0]
        self._owe(banner)  # before the connect: the banner may come while it completes
        # One deadline for the connect, the implicit TLS handshake included.
        deadline = loop.time() + opts.connect_timeout
        if sock is None:
            sock = await connect_address(opts)
        if sock is None:
            from smtpsh.net.blocking import open_socket

            # The same connect as the blocking transport's (one set of messages for its
            # failures), in a thread so that Ctrl-C can stop the wait.
            sock = await loop.run_in_executor(None, open_socket, opts)
        try:
            await asyncio.wait_for(
                loop.create_connection(
                    lambda: _WireProtocol(self),
                    sock=sock,
                    ssl=ctx,
                    server_hostname=name if ctx else None,
                ),
                max(deadline - loop.time(), MIN_WAIT),
            )
        except TimeoutError:
            sock.close()
            raise ConnectError(
                f"TLS handshake with {self.address} failed: no answer within"
                f" {opts.connect_timeout:g} s"
            ) from None
        except ssl.SSLCertVerificationError as exc:
            from smtpsh.net import certinfo

            leaf = await self._second_look(implicit=True)
            raise ConnectError(f"TLS: {certinfo.describe_verify_error(exc, name, leaf)}") from None
        except (ssl.SSLError, ConnectionResetError, BrokenPipeError) as exc:
            from smtpsh.net import certinfo

            if ctx is None:
                raise ConnectError(
                    f"cannot connect to {self.address}: {exc.strerror or exc}"
                ) from None
            reason = certinfo.describe_tls_error(exc, name, implicit=True)
            raise ConnectError(f"TLS handshake with {self.address} failed: {reason}") from None
        except OSError as exc:
            raise ConnectError(f"cannot connect to {self.address}: {exc.strerror or exc}") from None
        return await self._wait_banner(banner, ctx is None)

    def _on_made(self, transport: asyncio.Transport, protocol: _WireProtocol) -> None:
        self._transport = transport
        self._protocol = protocol
        if self._adopting:
            return
        peer = transport.get_extra_info("peername")
        self.peer = (peer[0], peer[1]) if isinstance(peer, tuple) else None  # AF_UNIX: a path
        self.close_reason = None
        self._tell("on_connected")
        if self._implicit is not None:
            self.conn.session.tls = True  # STARTTLS would be refused: TLS is already on
            self._tls_established(*self._implicit)

    async def _wait_banner(self, banner: Command, plain: bool) -> Reply:
        """The banner; on a plain connection that stays silent, hint at implicit TLS."""
        total = timeout_for(BANNER, self.options.timeout)
        waiter = asyncio.ensure_future(self.reply_to(banner, total, waiting_for="the banner"))
        try:
            if plain and total > SILENT_BANNER_HINT_AFTER:
                done, _ = await asyncio.wait({waiter}, timeout=SILENT_BANNER_HINT_AFTER)
                if not done:
                    self._tell("on_meta", silent_banner_hint(SILENT_BANNER_HINT_AFTER), "warning")
            event = await waiter
        finally:
            waiter.cancel()
        return event.reply

    async def close(self) -> None:
        """Close politely if still connected (no QUIT: callers decide whether to send one)."""
        if self._transport is not None and not self._transport.is_closing():
            self._closed_by_us = True
            self._transport.close()
        await asyncio.sleep(0)

    def abort(self, reason: str) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self.close_reason = reason
            self._transport.abort()
            # Told now, not on the loop's next turn: before whatever the caller says next.
            self._on_lost(None)

    # --- callbacks from the protocol ---------------------------------------------------

    def _on_data(self, data: bytes) -> None:
        try:
            self.conn.receive_data(data)
            while True:
                event = self.conn.next_event()
                if event is NEED_DATA:
                    break
                assert isinstance(event, ReplyEvent)
                queued = self._deliver(event)
                if self._starttls_pending and event.command and event.command.verb == "STARTTLS":
                    self._starttls_pending = False
                    if event.reply.code == 220:
                        # Anything after the 220 was injected in plaintext (CVE-2011-0411
                        # class): stop reading so it cannot be parsed as a reply.
                        assert self._transport is not None
                        self._transport.pause_reading()
                        self.injected = self.conn.discard_buffered()
                        if not queued:  # nobody waits for it (Ctrl-C): upgrade anyway
                            self._background = asyncio.ensure_future(self._upgrade_quietly())
                        break
        except RemoteProtocolError as exc:
            message = f"protocol error: {exc}"
            self._tell("on_meta", f"{message}; closing the connection", "error")
            self._fail_waiters(ConnectionClosedError(message, told=True))
            self.abort(CLOSED_BY_SMTPSH)

    def _take_what_is_left(self) -> None:
        """The connection broke (a write that met a reset: asyncio then stops reading at
        once): take in the replies the server sent before it, a 421 saying why. Over TLS
        what is left is records, not replies: nothing to take then."""
        transport = self._transport
        if transport is None or transport.get_extra_info("ssl_object") is not None:
            return
        sock = transport.get_extra_info("socket")  # still open until connection_lost ends
        if sock is None:
            return
        try:
            copy = sock.dup()
        except (OSError, TypeError):  # closed already; or an event loop that refuses dup()
            return
        with copy:
            data = read_left(copy)
        if data:
            self._on_data(data)

    def _deliver(self, event: ReplyEvent) -> bool:
        """Tell the observers; resolve the waiter of the command the reply answers (False:
        nobody waits for it: unsolicited, or its caller stopped waiting)."""
        self._tls_quiet = False
        self._tell("on_reply", event)
        if event.command is None:
            return False  # unsolicited: shown by the observers, nobody waits for it
        waiter = self._owed.get(event.command)
        if waiter is None or waiter.done():  # given up (Ctrl-C): shown, not returned
            self._owed.pop(event.command, None)
            return False
        waiter.set_result(event)
        return True

    def _on_lost(self, exc: Exception | None) -> None:
        if self._handshaking or (
            self._transport is None and self.conn.session.state is State.CLOSED
        ):
            return  # a failed TLS handshake: upgrade() says why and closes
        was_open = self.conn.session.state is not State.CLOSED or self.conn.awaiting
        unfinished = self.conn.unfinished
        self.conn.receive_eof()
        reason = self.close_reason or describe_loss(exc, unfinished)
        if self._tls_quiet and not self.close_reason:
            reason = _after_handshake(reason, self.tls_info)
        self.close_reason = reason
        self._transport = None
        # Say so unless it is the end we asked for (our QUIT answered, or close()); a 421
        # has closed the session already, but the user still needs to hear of /reconnect.
        tell = not self._closed_by_us and (bool(was_open) or not self.quit_sent)
        self._fail_waiters(ConnectionClosedError(reason, told=tell))
        if tell:
            self._tell("on_closed", reason)

    def _fail_waiters(self, exc: BaseException) -> None:
        """No reply will come any more: every waiter still open gets ``exc`` instead."""
        owed, self._owed = self._owed, {}
        for command, waiter in owed.items():
            if not waiter.done():
                waiter.set_exception(exc)
                # Seen: a QUIT sent without waiting, then the close, leaves an exception
                # nobody takes, which asyncio would log. (Awaiting it still raises it.)
                waiter.exception()
            elif not waiter.cancelled() and waiter.exception() is None:
                self._owed[command] = waiter  # a reply that came: still there to be taken

    def _owe(self, command: Command) -> None:
        self._owed[command] = asyncio.get_running_loop().create_future()

    def forget(self, *commands: Command) -> None:
        """Stop waiting for the replies to ``commands`` (they are still shown when they
        come); the replies owed to every other command are untouched."""
        for command in commands:
            waiter = self._owed.pop(command, None)
            if waiter is not None:
                waiter.cancel()

    # --- sending -----------------------------------------------------------------------

    async def _write(self, data: bytes) -> None:
        """Write ``data`` and wait until the transport can take more, within the write
        deadline: a server that stops reading is given up (WriteStalled), not waited on."""
        if self._transport is None or self._transport.is_closing():
            raise ConnectionClosedError(self.close_reason or "not connected")
        self._transport.write(data)
        assert self._protocol is not None
        if self._protocol.writable:
            return  # nothing to wait for: no deadline to set (a timer a write, else)
        limit = write_timeout(self.options.timeout)
        try:
            async with asyncio.timeout(limit):
                await self._protocol.drain()
        except TimeoutError:
            message = stalled_message(self.address, limit)
            self.give_up(message)
            raise WriteStalled(message, told=True) from None

    async def _write_commands(self, data: bytes, *commands: Command) -> None:
        """Write ``data``, which queued ``commands``: if it fails, nobody waits for them."""
        try:
            await self._write(data)
        except BaseException:
            self.forget(*commands)
            raise

    async def send_line(self, line: str, *, raw: bool = False) -> Command:
        """Send one command line without waiting for its reply (PIPELINING uses this);
        ``reply_to(command)`` waits for it."""
        command, wire = self._queue_command(line, raw=raw)
        if command.verb == "STARTTLS":
            self._starttls_pending = True
        await self._write_commands(wire, command)
        return command

    async def send_lines(self, lines: Sequence[str]) -> list[Command]:
        """Several command lines in one write (PIPELINING, RFC 2920); their replies come
        in the same order (replies_to). STARTTLS is refused: nothing may follow it."""
        for line in lines:
            encode_command(line)  # a bad line refuses the group before any is queued
            if verb_of(line) == "STARTTLS":
                raise LocalProtocolError("refused: STARTTLS cannot be pipelined (RFC 3207 §4.2)")
        wire = bytearray()
        commands = []
        for line in lines:
            command, line_wire = self._queue_command(line, raw=False)
            wire += line_wire
            commands.append(command)
        await self._write_commands(bytes(wire), *commands)
        return commands

    async def reply_to(
        self, command: Command, timeout: float | None = None, *, waiting_for: str = ""
    ) -> ReplyEvent:
        """The reply to ``command`` (sent by send_line, send_lines, send_bdat...), within
        its deadline. Cancelled (Ctrl-C), it gives up this command's reply only."""
        waiter = self._owed.get(command)
        if waiter is None:
            raise ConnectionClosedError(self.close_reason or "not connected")
        if timeout is None:
            timeout = timeout_for(command.verb, self.options.timeout)
        try:
            if waiter.done():
                # Already here (a pipelined group's later replies come with the first):
                # no deadline to set and no wait.
                event = waiter.result()
            else:
                # A timer that fails the waiter: a fifth of the cost of asyncio.timeout's
                # cancelling the task, and every reply waited for has one (~25 a host
                # in a probe of many). Not wait_for: on 3.11 it swallows a Ctrl-C that
                # comes as the reply does, and the caller would wait for the next reply.
                deadline = asyncio.get_running_loop().call_later(timeout, _expire, waiter)
                try:
                    event = await waiter
                finally:
                    deadline.cancel()
        except _ReplyDeadline:
            what = waiting_for or command.display.split(" ")[0] or "the reply"
            message = f"no reply from {self.address} to {what} within {timeout:g} s"
            self.give_up(message)
            raise ReplyTimeout(message, told=True) from None
        finally:
            self.forget(command)
        if command.verb == "STARTTLS":
            await self._after_starttls(event.reply)
        return event

    async def replies_to(
        self, commands: Sequence[Command], timeout: float | None = None
    ) -> list[ReplyEvent]:
        """The replies to a group (pipelined commands, BDAT chunks), in order. Stopped half
        way (Ctrl-C, a timeout), it gives up the replies of the group's members only."""
        events: list[ReplyEvent] = []
        try:
            for command in commands:
                events.append(await self.reply_to(command, timeout))
        finally:
            self.forget(*commands[len(events) :])
        return events

    async def _after_starttls(self, reply: Reply) -> None:
        """A 220 to STARTTLS: the handshake must follow at once, whoever sent the command."""
        context, name = self._starttls_context, self._starttls_name
        self._starttls_context = self._starttls_name = None
        if reply.code == 220:
            await self.upgrade(context or self.options.ssl_context, name)
        elif self.connected and self.ssl_object is None:
            self._tell(
                "on_meta",
                f"STARTTLS refused ({reply.code}): the session is still unencrypted",
                "warning",
            )

    async def command(self, line: str, *, raw: bool = False, timeout: float | None = None) -> Reply:
        """Send one command and wait for its reply."""
        command = await self.send_line(line, raw=raw)
        what = command.display.split(" ")[0] or line
        return (await self.reply_to(command, timeout, waiting_for=what)).reply

    async def send_data_line(self, text: str, *, long_lines: bool = False) -> None:
        """One line of a message typed in DATA mode (CRLF added, dot-stuffed); over 1000
        octets it is refused unless ``long_lines`` (the caller warned about it)."""
        wire = self.conn.send_data(text_to_wire(text) + b"\n", long_lines=long_lines)
        self._tell("on_sent", visible(text), "data")
        self._tell("on_body", wire, "data")
        await self._write(wire)

    async def end_data(self) -> Reply:
        commands = await self.send_end_of_data()
        replies = [event.reply for event in await self.replies_to(commands)]
        return lmtp_verdict(replies)  # LMTP: one reply per accepted recipient

    async def send_end_of_data(self) -> list[Command]:
        """The final '.', without waiting: the commands whose replies it earns, one, or in
        LMTP one per accepted recipient (each names its recipient), to wait on."""
        before = self.conn.awaiting
        wire = self.conn.end_data()
        commands = self._queued_since(before)
        self._tell("on_sent", ".", "data")
        self._tell("on_body", wire, "data")
        await self._write_commands(wire, *commands)
        return commands

    async def send_message(
        self,
        chunks: Iterable[bytes | CheckedPiece] | AsyncIterable[bytes | CheckedPiece],
        *,
        show: bool = False,
        octets: int | None = None,
    ) -> Reply:
        """Stream a whole message body after a 354 (never holds more than one chunk). A
        chunk may come with check_piece's proof, (bytes, Checked): it then goes unchanged.
        ``octets``: the body's size, if known: it must then leave within body_deadline."""
        await self.send_body(chunks, show=show, octets=octets)
        return await self.end_data()

    async def send_body(
        self,
        chunks: Iterable[bytes | CheckedPiece] | AsyncIterable[bytes | CheckedPiece],
        *,
        show: bool = False,
        octets: int | None = None,
    ) -> None:
        """The body of send_message without the final '.' (send_end_of_data ends it)."""
        if octets is None:
            await self._send_body(chunks, show)
        else:
            limit = body_deadline(octets, self.options.timeout)
            try:
                async with asyncio.timeout(limit):
                    await self._send_body(chunks, show)
            except TimeoutError:
                message = (
                    f"{self.address} took the message too slowly: not all of"
                    f" {octets} octets were taken within {limit:g} s"
                )
                self.give_up(message)
                raise WriteStalled(message, told=True) from None

    async def _send_body(
        self,
        chunks: Iterable[bytes | CheckedPiece] | AsyncIterable[bytes | CheckedPiece],
        show: bool,
    ) -> None:
        if isinstance(chunks, AsyncIterable):
            async for chunk in chunks:
                await self._send_body_chunk(chunk, show)
        else:
            for chunk in chunks:
                await self._send_body_chunk(chunk, show)

    async def _send_body_chunk(self, chunk: bytes | CheckedPiece, show: bool) -> None:
        data, checked = chunk if isinstance(chunk, tuple) else (chunk, None)
        wire = self.conn.send_data(data, checked=checked)
        if show:
            for line in wire.decode("utf-8", "backslashreplace").splitlines():
                self._tell("on_sent", visible(line), "data")
        if wire:
            self._tell("on_body", wire, "data")
            await self._write(wire)

    async def send_bdat(self, chunk: bytes, *, last: bool) -> list[Command]:
        """``BDAT <len> [LAST]`` and the chunk in one write, without waiting for the reply;
        the commands whose replies it earns, to wait on: one, except in LMTP, where BDAT
        LAST earns one reply per accepted recipient (RFC 2033 §4.2 with RFC 3030), each
        owed to its own command, and each part of the message's verdict."""
        before = self.conn.awaiting
        wire = self.conn.send_bdat(chunk, last=last)
        commands = self._queued_since(before)
        self._tell("on_sent", commands[0].display, "command")
        self._tell("on_body", chunk, "bdat")
        await self._write_commands(wire, *commands)
        return commands

    async def send_raw(self, data: bytes, *, replies: int = 0, display: str = "") -> list[Command]:
        """Bytes exactly as given: the only path that may break the protocol, on purpose.
        ``replies``: how many replies they earn (returned as commands to wait on)."""
        self.conn.send_raw(data, replies=replies, display=display)
        commands = list(self.conn.pending)[len(self.conn.pending) - replies :] if replies else []
        for command in commands:
            self._owe(command)
        self._tell("on_sent", visible(display or data.decode("utf-8", "backslashreplace")), "raw")
        await self._write_commands(data, *commands)
        return commands

    # --- TLS ---------------------------------------------------------------------------

    async def starttls(
        self, context: ssl.SSLContext | None = None, server_hostname: str | None = None
    ) -> Reply:
        """STARTTLS and, on 220, the TLS handshake on the same connection (RFC 3207).

        Any 220 to STARTTLS upgrades (see reply_to); ``context`` and ``server_hostname``
        override the options for this one upgrade.  Raises ConnectionClosedError if the
        handshake fails (the connection is then closed).
        """
        self._starttls_context, self._starttls_name = context, server_hostname
        try:
            return await self.command("STARTTLS")
        finally:
            self._starttls_context = self._starttls_name = None

    async def upgrade(
        self, context: ssl.SSLContext | None = None, server_hostname: str | None = None
    ) -> None:
        """Switch the live connection to TLS (after a 220 to STARTTLS)."""
        if self.injected:
            self._tell(
                "on_meta",
                f"SECURITY: the server sent {len(self.injected)} bytes after its 220 to STARTTLS,"
                " before TLS began (STARTTLS injection, CVE-2011-0411 class): discarded, not"
                f" trusted: {self.injected[:80]!r}",
                "error",
            )
        if self._transport is None or self._protocol is None:
            raise ConnectionClosedError(self.close_reason or "not connected")
        context = context or ssl.create_default_context()
        loop = asyncio.get_running_loop()
        name = server_hostname or self.options.server_hostname or self.options.host
        self._handshaking = True
        try:
            transport = await asyncio.wait_for(
                loop.start_tls(self._transport, self._protocol, context, server_hostname=name),
                handshake_timeout(self.options),
            )
        except TimeoutError:
            raise self._handshake_failed(f"TLS handshake with {self.address} stalled") from None
        except ssl.SSLCertVerificationError as exc:
            from smtpsh.net import certinfo

            self.verify_failure = exc
            leaf = await self._second_look(implicit=False)
            reason = certinfo.describe_verify_error(exc, name, leaf)
            raise self._handshake_failed(f"TLS: {reason}") from None
        except (ssl.SSLError, OSError, ConnectionError) as exc:
            from smtpsh.net import certinfo

            reason = certinfo.describe_tls_error(exc, name, implicit=False)
            raise self._handshake_failed(
                f"TLS handshake with {self.address} failed: {reason}"
            ) from None
        finally:
            self._handshaking = False
        if transport is None:
            raise self._handshake_failed(TLS_CLOSED_DURING_HANDSHAKE)
        self._transport = transport  # (uvloop's: no asyncio.Transport subclass, its methods)
        self.injected = b""
        self._tls_established(context, name)
        self._tell("on_meta", self.conn.session.greet_again(), "info")

    async def _upgrade_quietly(self) -> None:
        with contextlib.suppress(SmtpshError):  # a failure is told to the observers
            await self.upgrade(self.options.ssl_context)

    def _tls_established(self, context: ssl.SSLContext, name: str) -> None:
        from smtpsh.net import certinfo

        obj = self.ssl_object
        if obj is None:
            return
        self.tls_info = certinfo.session_info(obj, context, name)
        self.failed_tls = None
        self._tls_quiet = True
        if self.observers:  # nobody to tell (a probe of many hosts): no lines to make
            for text, level in certinfo.summary_lines(self.tls_info):
                self._tell("on_meta", text, level)

    def _handshake_failed(self, message: str) -> ConnectionClosedError:
        """Say why, close, and return the error to raise (already told to the observers)."""
        self._tell("on_meta", message, "error")
        self.close_reason = "connection closed after the failed TLS handshake"
        transport, self._transport = self._transport, None
        if transport is not None:
            transport.abort()
        # start_tls took the transport over: our protocol may never hear of the close.
        if self.conn.session.state is not State.CLOSED:
            self.conn.receive_eof()
            self._tell("on_closed", self.close_reason)
        return ConnectionClosedError(message, told=True)

    async def _second_look(self, *, implicit: bool) -> CertificateInfo | None:
        """After a failed verification: fetch the certificate unverified, to say what is wrong.

        A separate, short connection (the failed one is unusable); None if that fails too.
        """
        if not self.diagnose_tls:
            return None
        look = self.options.replace(
            ssl_context=unverified_context(),
            implicit_tls=implicit,
            timeout=min(self.options.timeout or 5.0, 5.0),
            connect_timeout=min(self.options.connect_timeout, 5.0),
        )
        probe = SMTPClient(look)
        probe.diagnose_tls = False
        try:
            await probe.open()
            if not implicit:
                await probe.command(f"EHLO {self.helo_name}")
                await probe.command("STARTTLS")
            info = probe.tls_info
            with contextlib.suppress(SmtpshError):
                await probe.command("QUIT", timeout=2)
        except (SmtpshError, OSError):
            return None
        finally:
            await probe.close()
        if info is None:
            return None
        import dataclasses

        self.failed_tls = dataclasses.replace(
            info, note="from a second, unverified connection made to explain the failure"
        )
        return info.leaf


TLS_CLOSED_DURING_HANDSHAKE = "the connection closed during the TLS handshake"


class _ReplyDeadline(Exception):
    """A reply did not come within its deadline (reply_to turns it into ReplyTimeout)."""


def _expire(waiter: asyncio.Future[ReplyEvent]) -> None:
    if not waiter.done():
        waiter.set_exception(_ReplyDeadline())


async def connect_address(opts: ClientOptions) -> socket.socket | None:
    """A TCP connection to an IP address, made on the event loop: nothing to resolve, so
    no thread (a run over many hosts opens thousands). None when ``opts.host`` is a name
    or the connection goes another way (a Connector): open_socket does those. The same
    messages as open_socket's for a single address."""
    host = opts.host
    if opts.connector is not None or not host.isascii() or not (
        ":" in host or host.replace(".", "").isdigit()
    ):
        return None
    from smtpsh.net.blocking import _getaddrinfo

    try:
        addresses = _getaddrinfo(opts, host.encode(), socket.AI_NUMERICHOST)
    except (socket.gaierror, UnicodeError):
        return None  # not an address after all (or not of the family asked): resolve it
    if len(addresses) != 1:
        return None
    family, kind, proto, _, address = addresses[0]
    where = format_address(host, opts.port)
    sock = socket.socket(family, kind, proto)
    try:
        sock.setblocking(False)
        if opts.source_address is not None:
            sock.bind(opts.source_address)
        async with asyncio.timeout(max(opts.connect_timeout, MIN_WAIT)):
            await _connect_socket(sock, address)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except TimeoutError:
        sock.close()
        raise ConnectError(
            f"cannot connect to {where}: no answer within {opts.connect_timeout:g} s"
        ) from None
    except OSError as exc:
        sock.close()
        # asyncio words it 'Connect call failed (ADDRESS)': say what the errno means.
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise ConnectError(f"cannot connect to {where}: {reason}") from None
    except BaseException:
        sock.close()
        raise
    return sock


async def _connect_socket(sock: socket.socket, address: Any) -> None:
    """Connect a non-blocking socket to an address, waiting on the event loop for it to
    become writable. Not loop.sock_connect: uvloop's resolves the address again, an IP
    address too, in its thread pool (a thread hand-off and wake-up for every connection of
    a run over many hosts)."""
    try:
        sock.connect(address)
        return
    except (BlockingIOError, InterruptedError):
        pass
    loop = asyncio.get_running_loop()
    writable: asyncio.Future[None] = loop.create_future()
    fd = sock.fileno()
    loop.add_writer(fd, _set_done, writable)
    try:
        await writable
    finally:
        loop.remove_writer(fd)
    error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if error:
        raise OSError(error, os.strerror(error))


def _set_done(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


_UNVERIFIED: ssl.SSLContext | None = None


def unverified_context() -> ssl.SSLContext:
    """A client context that accepts any certificate (to look at it, never to trust it).

    One for the process, without the system trust store: it verifies nothing, and loading
    the store costs ~40 ms, which a probe of many hosts would pay for every host whose
    certificate does not verify."""
    global _UNVERIFIED
    if _UNVERIFIED is None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        _UNVERIFIED = context
    return _UNVERIFIED


def _after_handshake(reason: str, info: TLSInfo | None) -> str:
    """A connection lost right after a TLS 1.3 handshake, before any reply over it: a
    server that requires a client certificate checks it only then, and its alert is often
    lost to the reset that follows (the client has already sent EHLO)."""
    if info is None or info.version != "TLSv1.3" or "certificate" in reason:
        return reason
    return (
        f"{reason} right after the TLS 1.3 handshake, before any reply: the server most"
        " likely requires a client certificate (--client-cert FILE --client-key FILE)"
    )
