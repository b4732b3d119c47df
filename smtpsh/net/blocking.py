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
    MIN_WAIT,
    SILENT_BANNER_HINT_AFTER,
    ClientBase,
    ClientObserver,
    ClientOptions,
    ConnectError,
    ConnectionClosedError,
    ReplyTimeout,
    WriteStalled,
    describe_loss,
    format_address,
    lmtp_verdict,
    read_left,
    silent_banner_hint,
    stalled_message,
    timeout_for,
    write_timeout,
)
from smtpsh.protocol.connection import NEED_DATA, Command, ReplyEvent
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
        return self._wait(self.conn.pending[0], "the banner", hint=True).reply

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

    def _take_event(self, command: Command | None = None) -> ReplyEvent | None:
        """The reply to ``command`` if it has come; every other reply (unsolicited, or to a
        command nobody waits for) is told and skipped."""
        while True:
            try:
                event = self.conn.next_event()
            except RemoteProtocolError as exc:  # e.g. a flood of unsolicited replies
                raise self._protocol_error(exc) from None
            if event is NEED_DATA:
                return None
            assert isinstance(event, ReplyEvent)
            self._tell("on_reply", event)
            if command is not None and event.command is command:
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
            raise self._protocol_error(exc) from None

    def _protocol_error(self, exc: RemoteProtocolError) -> ConnectionClosedError:
        """Say so, close, and return the error to raise (already told)."""
        message = f"protocol error: {exc}"
        self._tell("on_meta", f"{message}; closing the connection", "error")
        self.abort(CLOSED_BY_SMTPSH)
        return ConnectionClosedError(message, told=True)

    def _wait(
        self, command: Command, what: str, timeout: float | None = None, *, hint: bool = False
    ) -> ReplyEvent:
        """The reply to ``command``, told to the observers on the way (as SMTPClient's
        reply_to). ``hint``: say so if a plain banner is slow (the port may want TLS)."""
        if timeout is None:
            timeout = timeout_for(command.verb, self.options.timeout)
        start = time.monotonic()
        deadline = start + timeout
        hint_at = None
        if hint and timeout > SILENT_BANNER_HINT_AFTER:
            hint_at = start + SILENT_BANNER_HINT_AFTER
        while True:
            event = self._take_event(command)
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
                self.give_up(message)
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
        limit = write_timeout(self.options.timeout)
        try:
            self._sock.settimeout(limit)  # for the whole sendall (Python >= 3.5)
            self._sock.sendall(data)
        except TimeoutError:
            message = stalled_message(self.address, limit)
            self.give_up(message)
            raise WriteStalled(message, told=True) from None
        except OSError as exc:
            self._take_what_is_left()
            if self._sock is None:  # what was left was not SMTP: closed and told
                raise ConnectionClosedError(self.close_reason or "", told=True) from None
            told = self._lost(exc)
            raise ConnectionClosedError(self.close_reason or "", told=told) from None

    def _take_what_is_left(self) -> None:
        """The write met a reset: tell the replies that came before it (a 421 saying why)."""
        assert self._sock is not None
        data = read_left(self._sock)
        if not data:
            return
        try:
            self.conn.receive_data(data)
            self._take_event()
        except RemoteProtocolError as exc:
            self._protocol_error(exc)
        except ConnectionClosedError:
            pass  # a protocol error: told, and the socket closed

    async def command(self, line: str, *, raw: bool = False, timeout: float | None = None) -> Reply:
        command, wire = self._queue_command(line, raw=raw)
        self._write(wire)
        return self._wait(command, command.display.split(" ")[0] or line, timeout).reply

    async def send_data_line(self, text: str, *, long_lines: bool = False) -> None:
        wire = self.conn.send_data(text_to_wire(text) + b"\n", long_lines=long_lines)
        self._tell("on_sent", visible(text), "data")
        self._tell("on_body", wire, "data")
        self._write(wire)

    async def end_data(self) -> Reply:
        before = self.conn.awaiting
        wire = self.conn.end_data()
        commands = self._queued_since(before)
        self._tell("on_sent", ".", "data")
        self._tell("on_body", wire, "data")
        self._write(wire)
        replies = [self._wait(command, "the end of the message").reply for command in commands]
        return lmtp_verdict(replies)  # LMTP: one reply per accepted recipient


def open_socket(opts: ClientOptions) -> socket.socket:
    """A TCP connection to the first address of the host that answers, all within the
    connect deadline; ConnectError says why not in one line. Both transports connect with
    it; another way there (unix:, --pipe, SOCKS5, PROXY) is a Connector it calls instead."""
    if opts.connector is not None:  # unix:, --pipe, --socks5, --proxy-v1/v2 (Connector)
        return opts.connector(opts)
    deadline = time.monotonic() + opts.connect_timeout
    return connect_first(opts, resolve(opts, deadline), deadline)


# What getaddrinfo gives: (family, type, proto, canonname, sockaddr).
Address = tuple[int, int, int, str, tuple[object, ...]]


def resolve(opts: ClientOptions, deadline: float) -> Sequence[Address]:
    """The addresses of ``opts.host``, resolved before ``deadline`` (a stuck resolver is
    given up: getaddrinfo itself has no timeout, so a name is resolved in a thread)."""
    host: str | bytes = opts.host
    if opts.host.isascii() and (":" in opts.host or opts.host.replace(".", "").isdigit()):
        host = opts.host.encode()  # an address: no IDNA codec to load (~1 ms a start)
        try:
            return _getaddrinfo(opts, host, socket.AI_NUMERICHOST)
        except socket.gaierror:
            pass  # not an address after all: resolve it as a name
    import threading

    outcome: list[Sequence[Address] | BaseException] = []

    def run() -> None:
        try:
            outcome.append(_getaddrinfo(opts, host, 0))
        except BaseException as exc:  # told to the waiting thread, not lost with this one
            outcome.append(exc)

    thread = threading.Thread(target=run, name="smtpsh-resolve", daemon=True)
    thread.start()
    thread.join(max(deadline - time.monotonic(), MIN_WAIT))
    if not outcome:
        raise ConnectError(
            f"cannot resolve host '{opts.host}': no answer within {opts.connect_timeout:g} s"
        )
    result = outcome[0]
    if isinstance(result, socket.gaierror):
        raise ConnectError(f"cannot resolve host '{opts.host}': {result.strerror}")
    if isinstance(result, UnicodeError):
        raise ConnectError(f"'{opts.host}' is not a valid host name")
    if isinstance(result, BaseException):
        raise ConnectError(f"cannot resolve host '{opts.host}': {result}")
    return result


def _getaddrinfo(opts: ClientOptions, host: str | bytes, flags: int) -> Sequence[Address]:
    return socket.getaddrinfo(host, opts.port, opts.family, socket.SOCK_STREAM, 0, flags)


def connect_first(
    opts: ClientOptions, addresses: Sequence[Address], deadline: float
) -> socket.socket:
    """The first of ``addresses`` that accepts a connection. Each is tried in turn with an
    equal share of the time left, so that every one is tried before the deadline."""
    where = format_address(opts.host, opts.port)
    errors: list[str] = []
    timed_out = 0
    for index, (family, kind, proto, _, address) in enumerate(addresses):
        share = max(deadline - time.monotonic(), 0) / (len(addresses) - index)
        sock = None
        try:
            sock = socket.socket(family, kind, proto)
            sock.settimeout(max(share, MIN_WAIT))
            if opts.source_address is not None:
                sock.bind(opts.source_address)
            sock.connect(address)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except TimeoutError:
            timed_out += 1
            errors.append(f"{format_address(str(address[0]), opts.port)}: no answer")
        except OSError as exc:
            errors.append(exc.strerror or str(exc))
        except BaseException:
            if sock is not None:
                sock.close()
            raise
        else:
            return sock
        if sock is not None:
            sock.close()
    if timed_out and timed_out == len(addresses):
        reason = f"no answer within {opts.connect_timeout:g} s"
        if len(addresses) > 1:
            reason += f" ({len(addresses)} addresses tried)"
    else:
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
        except BaseException as exc:  # whatever it is, result() says it in one line
            where = format_address(self._options.host, self._options.port)
            self._error = ConnectError(f"cannot connect to {where}: {exc!r}")

    def result(self) -> socket.socket:
        """The connected socket (waits for it), or the ConnectError that said why not."""
        self._thread.join()
        if self._sock is None:
            raise self._error or ConnectError("the connection was not made")
        return self._sock

    def discard(self) -> None:
        """Not needed after all (a usage error): close whatever the thread opened."""
        self._thread.join()
        if self._sock is not None:
            self._sock.close()
