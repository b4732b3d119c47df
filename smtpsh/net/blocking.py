"""BlockingClient: a plain blocking socket around the sans-IO ClientConnection.

A piped run (`smtpsh HOST < script`) is a strict command-reply loop: it needs no event
loop, and importing asyncio alone costs more than a whole `swaks` run (~60 ms here;
bench/bench_session.py). So a piped session starts on this transport, which tells its
observers exactly what SMTPClient would, and hands the socket to an SMTPClient
(``SMTPClient.take_over``) when a line needs more: STARTTLS, a shell command, BDAT.

Its coroutines never suspend: the shell drives them with smtpsh.shell.app.drive.
"""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Sequence

from smtpsh.net.base import (
    CLOSED_BY_SMTPSH,
    SILENT_BANNER_HINT_AFTER,
    ClientBase,
    ClientObserver,
    ClientOptions,
    ConnectError,
    ConnectionClosedError,
    ReplyTimeout,
    describe_loss,
    format_address,
    lmtp_verdict,
    silent_banner_hint,
    timeout_for,
)
from smtpsh.protocol.connection import NEED_DATA, ReplyEvent
from smtpsh.protocol.encoding import text_to_wire, visible
from smtpsh.protocol.errors import RemoteProtocolError
from smtpsh.protocol.replies import Reply
from smtpsh.protocol.session import State

RECEIVE_SIZE = 65536
# After a reply that ends the session (421, a 554 banner) the server should close at once;
# this long we wait to hear it (settle) before going on without it.
CLOSE_GRACE = 2.0


class BlockingClient(ClientBase):
    def __init__(self, options: ClientOptions, observers: Sequence[ClientObserver] = ()) -> None:
        super().__init__(options, observers)
        self._sock: socket.socket | None = None
        self._closed_by_us = False

    @property
    def connected(self) -> bool:
        return self._sock is not None

    @property
    def sock(self) -> socket.socket | None:
        """The live socket (to wait on it with select), None once closed."""
        return self._sock

    def detach(self) -> socket.socket:
        """Give up the socket (to SMTPClient.take_over); this client is done with it."""
        sock, self._sock = self._sock, None
        if sock is None:
            raise ConnectionClosedError(self.close_reason or "not connected")
        sock.setblocking(False)
        return sock

    # --- opening and closing -----------------------------------------------------------

    async def open(self, sock: socket.socket | None = None) -> Reply:
        self._sock = sock if sock is not None else open_socket(self.options)
        peer = self._sock.getpeername()
        self.peer = (peer[0], peer[1]) if isinstance(peer, tuple) else None  # AF_UNIX: a path
        self.close_reason = None
        self._tell("on_connected")
        return self._wait("the banner", hint=True).reply

    async def close(self) -> None:
        self.settle()  # a close the server announced is news to the user: hear it first
        if self._sock is not None:
            self._closed_by_us = True
            self._lost(None)

    def abort(self, reason: str) -> None:
        if self._sock is not None:
            self.close_reason = reason
            self._lost(None)

    def _lost(self, exc: Exception | None) -> bool:
        """The connection ended: tell (as SMTPClient does) and return whether it was told."""
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()
        was_open = self.conn.session.state is not State.CLOSED or self.conn.awaiting
        unfinished = self.conn.unfinished
        self.conn.receive_eof()
        self.close_reason = self.close_reason or describe_loss(exc, unfinished)
        tell = not self._closed_by_us and (bool(was_open) or not self.quit_sent)
        if tell:
            self._tell("on_closed", self.close_reason)
        return tell

    # --- receiving ---------------------------------------------------------------------

    def poll(self) -> None:
        """Take in whatever the server sent while nobody asked (a 421, a close)."""
        try:
            while self._sock is not None and select.select([self._sock], [], [], 0)[0]:
                self._receive()
                self._take_event()
        except ConnectionClosedError:
            pass  # told to the observers (or the end we asked for)

    def _take_event(self) -> ReplyEvent | None:
        """The next reply to one of our commands; unsolicited ones are told and skipped."""
        while True:
            event = self.conn.next_event()
            if event is NEED_DATA:
                return None
            assert isinstance(event, ReplyEvent)
            self._tell("on_reply", event)
            if event.command is not None:
                return event

    def _receive(self, timeout: float | None = None) -> None:
        """One recv() into the parser; a close or a protocol error raises, already told."""
        assert self._sock is not None
        try:
            self._sock.settimeout(timeout)
            data = self._sock.recv(RECEIVE_SIZE)
        except TimeoutError:
            raise
        except OSError as exc:
            told = self._lost(exc)
            raise ConnectionClosedError(self.close_reason or "", told=told) from None
        if not data:
            told = self._lost(None)
            raise ConnectionClosedError(self.close_reason or "", told=told)
        try:
            self.conn.receive_data(data)
        except RemoteProtocolError as exc:
            message = f"protocol error: {exc}"
            self._tell("on_meta", f"{message}; closing the connection", "error")
            self.abort(CLOSED_BY_SMTPSH)
            raise ConnectionClosedError(message, told=True) from None

    def _wait(self, what: str, timeout: float | None = None, *, hint: bool = False) -> ReplyEvent:
        """The next reply owed to us, told to the observers on the way (as SMTPClient's
        wait_reply). ``hint``: say so if a plain banner is slow (the port may want TLS)."""
        if timeout is None:
            owed = self.conn.pending[0].verb if self.conn.awaiting else ""
            timeout = timeout_for(owed, self.options.timeout)
        start = time.monotonic()
        deadline = start + timeout
        hint_at = None
        if hint and timeout > SILENT_BANNER_HINT_AFTER:
            hint_at = start + SILENT_BANNER_HINT_AFTER
        while True:
            event = self._take_event()
            if event is not None:
                return event
            if self._sock is None:
                raise ConnectionClosedError(self.close_reason or "not connected", told=True)
            until = deadline if hint_at is None else hint_at
            try:
                if until <= time.monotonic():
                    raise TimeoutError
                self._receive(until - time.monotonic())
            except TimeoutError:
                if hint_at is not None:
                    hint_at = None
                    self._tell("on_meta", silent_banner_hint(SILENT_BANNER_HINT_AFTER), "warning")
                    continue
                message = f"no reply from {self.address} to {what} within {timeout:g} s"
                self._tell("on_meta", message + "; closing the connection", "error")
                self.abort(CLOSED_BY_SMTPSH)
                raise ReplyTimeout(message, told=True) from None

    def settle(self) -> None:
        if self.conn.session.state is not State.CLOSED or self.quit_sent:
            return
        deadline = time.monotonic() + CLOSE_GRACE
        while self._sock is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            try:
                self._receive(remaining)
                self._take_event()
            except TimeoutError:
                continue
            except ConnectionClosedError:
                return

    # --- sending -----------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        if self._sock is not None and select.select([self._sock], [], [], 0)[0]:
            # Hear what came first (a close, a 421), as the event loop would have: a
            # close shows as "the server closed", not as a broken pipe on our next write.
            self._receive()
            self._take_event()
        if self._sock is None:
            raise ConnectionClosedError(self.close_reason or "not connected")
        try:
            self._sock.settimeout(self.options.timeout or self.options.connect_timeout)
            self._sock.sendall(data)
        except OSError as exc:
            told = self._lost(exc)
            raise ConnectionClosedError(self.close_reason or "", told=told) from None

    async def command(self, line: str, *, raw: bool = False, timeout: float | None = None) -> Reply:
        command, wire = self._queue_command(line, raw=raw)
        self._write(wire)
        return self._wait(command.display.split(" ")[0] or line, timeout).reply

    async def send_data_line(self, text: str, *, long_lines: bool = False) -> None:
        wire = self.conn.send_data(text_to_wire(text) + b"\n", long_lines=long_lines)
        self._tell("on_sent", visible(text), "data")
        self._tell("on_body", wire, "data")
        self._write(wire)

    async def end_data(self) -> Reply:
        wire = self.conn.end_data()
        self._tell("on_sent", ".", "data")
        self._tell("on_body", wire, "data")
        self._write(wire)
        replies = [self._wait("the end of the message").reply]
        while self.more_end_of_data():  # LMTP: one reply per accepted recipient
            replies.append(self._wait("the end of the message").reply)
        return lmtp_verdict(replies)


def open_socket(opts: ClientOptions) -> socket.socket:
    """A TCP connection to the first address of the host that answers, within the connect
    timeout; ConnectError says why not in one line. Both transports connect with it."""
    if opts.connector is not None:  # unix:, --pipe, --socks5, --proxy-v1/v2 (Connector)
        return opts.connector(opts)
    where = format_address(opts.host, opts.port)
    host: str | bytes = opts.host
    if opts.host.isascii() and (":" in opts.host or opts.host.replace(".", "").isdigit()):
        host = opts.host.encode()  # an address: no IDNA codec to load (~1 ms a start)
    try:
        addresses = socket.getaddrinfo(host, opts.port, opts.family, socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ConnectError(f"cannot resolve host '{opts.host}': {exc.strerror}") from None
    except UnicodeError:
        raise ConnectError(f"'{opts.host}' is not a valid host name") from None
    deadline = time.monotonic() + opts.connect_timeout
    errors: list[str] = []
    for family, kind, proto, _, address in addresses:
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(max(deadline - time.monotonic(), 0.001))
            if opts.source_address is not None:
                sock.bind(opts.source_address)
            sock.connect(address)
        except TimeoutError:
            sock.close()
            raise ConnectError(
                f"cannot connect to {where}: no answer within {opts.connect_timeout:g} s"
            ) from None
        except OSError as exc:
            sock.close()
            errors.append(exc.strerror or str(exc))
            continue
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    reason = "; ".join(dict.fromkeys(errors)) or "no address to connect to"
    raise ConnectError(f"cannot connect to {where}: {reason}")


class EarlyConnection:
    """The TCP connect, started in a thread while the interactive shell imports prompt_toolkit
    (~100 ms): on a distant server the round trips and the banner overlap the imports."""

    def __init__(self, options: ClientOptions) -> None:
        import threading

        self._options = options
        self._sock: socket.socket | None = None
        self._error: ConnectError | None = None
        self._thread = threading.Thread(target=self._run, name="smtpsh-connect", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._sock = open_socket(self._options)
        except ConnectError as exc:
            self._error = exc

    def result(self) -> socket.socket:
        """The connected socket (waits for it), or the ConnectError that said why not."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._sock is not None
        return self._sock

    def discard(self) -> None:
        """Not needed after all (a usage error): close whatever the thread opened."""
        self._thread.join()
        if self._sock is not None:
            self._sock.close()
