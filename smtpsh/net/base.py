"""What the two transports share: options, errors, observers and the client's bookkeeping.

``SMTPClient`` (asyncio, smtpsh.net.client) runs the interactive shell and every feature;
``BlockingClient`` (smtpsh.net.blocking) runs plain piped sessions without starting an event
loop. Both derive from ``ClientBase``. This module imports neither asyncio nor ssl: a piped
run must not pay for them (bench/bench_session.py).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from smtpsh.protocol.codes import reply_timeout
from smtpsh.protocol.connection import ClientConnection, Command, ReplyEvent
from smtpsh.protocol.errors import SmtpshError
from smtpsh.protocol.replies import Reply
from smtpsh.protocol.session import BANNER, END_OF_DATA, Session

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (mypy knows the name)
if TYPE_CHECKING:
    import socket
    import ssl
    from collections.abc import Callable


class ConnectError(SmtpshError):
    """The connection could not be opened (one line says why)."""

    fault = "network"


class _Told(SmtpshError):
    """An error that may already have been told to the observers (``told``)."""

    def __init__(self, message: str, *, told: bool = False) -> None:
        super().__init__(message)
        self.told = told  # the observers have shown it: front-ends need not say it again


class ConnectionClosedError(_Told):
    """The server closed the connection (or we did) while a reply was awaited."""


class ReplyTimeout(_Told):
    """No reply within the timeout; the connection is closed as RFC 5321 §4.5.3.2 advises."""


class Connector:
    """How to reach a server other than by a plain TCP connect: a UNIX socket, a child's
    stdin/stdout, a SOCKS5 tunnel, a PROXY header first (smtpsh.net.local, .socks, .proxy).
    ``open_socket`` calls it; it returns a connected stream socket or raises ConnectError."""

    # The socket's peer is a proxy, not the server (SOCKS): its address says nothing about
    # the server's (the relay test's [IP] literal must not be the proxy's).
    tunnelled = False

    def __call__(self, opts: ClientOptions) -> socket.socket:
        raise NotImplementedError

    def describe(self, opts: ClientOptions) -> str:
        """Where the connection goes, for messages ('unix:/run/lmtp', 'h:25 via SOCKS5 …')."""
        raise NotImplementedError


class WriteStalled(ConnectionClosedError):
    """The server stopped reading: a write could not finish within its deadline, so smtpsh
    closed the connection (a hang otherwise: nothing else would ever end the wait)."""


class ClientOptions:
    """Where and how to connect. The TLS context may be made on first use (``tls_factory``):
    building one imports ssl, which a plain-text session never needs."""

    def __init__(
        self,
        host: str,
        port: int = 25,
        *,
        timeout: float | None = None,  # overrides every reply timeout when set
        connect_timeout: float = 30.0,
        implicit_tls: bool = False,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,  # SNI and the name the certificate must carry
        source_address: tuple[str, int] | None = None,
        family: int = 0,  # socket.AF_INET / AF_INET6 for -4 / -6; 0 = either
        extra: dict[str, object] | None = None,
        tls_factory: Callable[[], ssl.SSLContext] | None = None,
        connector: Connector | None = None,
        verify: bool = True,  # certificates are verified (--no-verify: not); the context agrees
    ) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.implicit_tls = implicit_tls
        self._ssl_context = ssl_context
        self.server_hostname = server_hostname
        self.source_address = source_address
        self.family = family
        self.extra: dict[str, object] = {} if extra is None else extra
        self.tls_factory = tls_factory
        self.connector = connector  # None: a TCP connect to host:port
        self.verify = verify

    @property
    def ssl_context(self) -> ssl.SSLContext | None:
        if self._ssl_context is None and self.tls_factory is not None:
            self._ssl_context = self.tls_factory()
        return self._ssl_context

    @ssl_context.setter
    def ssl_context(self, context: ssl.SSLContext | None) -> None:
        self._ssl_context = context

    def replace(self, **changes: object) -> ClientOptions:
        """A copy with some options changed (like dataclasses.replace)."""
        copy = ClientOptions.__new__(ClientOptions)
        copy.__dict__.update(self.__dict__)
        copy.extra = dict(self.extra)
        for name, value in changes.items():
            if not hasattr(copy, name):
                raise TypeError(f"ClientOptions has no option {name!r}")
            setattr(copy, name, value)
        return copy

    def __repr__(self) -> str:
        return f"ClientOptions({self.host!r}, {self.port}, implicit_tls={self.implicit_tls})"


# --- deadlines: one per operation, the same in both transports --------------------------
#
# connect      ClientOptions.connect_timeout for resolving the name and connecting, every
#              address of the name tried within it (each gets an equal share of what is left)
# TLS          implicit TLS: what is left of the connect deadline; after STARTTLS,
#              handshake_timeout(): --timeout if given, else connect_timeout
# reply        timeout_for(verb): RFC 5321 §4.5.3.2 per command, or --timeout
# write        write_timeout(): each write (a command, a piece of the message) must leave
#              within it: a server that stops reading is given up, not waited on forever
# message      body_deadline(octets): the body of a DATA as a whole, scaled by its size
#
# A missed deadline closes the connection and says so in one line.

# RFC 5321 §4.5.3.2.5: a client should wait 3 minutes for each TCP send of the message.
WRITE_TIMEOUT = 180.0
# The slowest transfer of a message body smtpsh waits for: 16 KiB/s (a 10 MB message may
# take 11 minutes beyond the write timeout before it is given up).
SLOWEST_BODY_RATE = 16 * 1024


# What is left of a deadline is never less than this (a wait of 0 would not even look).
MIN_WAIT = 0.001


def timeout_for(verb: str, override: float | None) -> float:
    """How long to wait for the reply to ``verb`` (RFC 5321 §4.5.3.2 unless overridden)."""
    if override is not None:
        return override
    return float(reply_timeout({BANNER: "greeting", END_OF_DATA: "data-end"}.get(verb, verb)))


def handshake_timeout(options: ClientOptions) -> float:
    """How long a TLS handshake after STARTTLS may take."""
    return options.connect_timeout if options.timeout is None else options.timeout


def write_timeout(override: float | None) -> float:
    """How long one write may take to leave (the server must read within it)."""
    return WRITE_TIMEOUT if override is None else override


def body_deadline(octets: int, override: float | None) -> float:
    """How long the whole body of a message of ``octets`` may take to leave."""
    return write_timeout(override) + octets / SLOWEST_BODY_RATE


def stalled_message(address: str, seconds: float) -> str:
    return f"{address} stopped reading: nothing could be written for {seconds:g} s"


# A server that says nothing this long after the connect may be waiting for a TLS handshake.
SILENT_BANNER_HINT_AFTER = 5.0
SILENT_BANNER_HINT_START = "no banner after "  # how the hint begins (front-ends spot it)


def silent_banner_hint(after: float) -> str:
    return (
        f"{SILENT_BANNER_HINT_START}{after:g} s: if this port expects TLS from the first byte"
        " (like 465), reconnect with --tls; still waiting (Ctrl-C stops)"
    )

CLOSED_BY_SMTPSH = "smtpsh closed the connection"

# How the socket said the connection ended, in words (no errno soup for the user).
LOSS_REASONS: dict[type[OSError], str] = {
    ConnectionResetError: "the server reset the connection (TCP RST)",
    BrokenPipeError: "the connection broke while smtpsh was writing",
    TimeoutError: "the connection timed out (the network stopped answering)",
}


# At most this much is read from a socket after a reset: a last reply or two, not a flood.
LEFT_AFTER_RESET = 1 << 20


def read_left(sock: socket.socket) -> bytes:
    """What is still in ``sock``'s receive buffer, without waiting.

    A server that says 421 and closes with our commands unread in its socket sends a TCP
    reset. The 421 has arrived by then, and the kernel keeps it for us to read; but when
    our next write is what meets the reset, a client that gives up at once never reads it,
    and the user hears "reset" instead of the reason the server gave. So after a failed
    write, what is left is read (until nothing more, the reset itself, or the end).
    """
    chunks: list[bytes] = []
    size = 0
    try:
        sock.setblocking(False)
        while size < LEFT_AFTER_RESET and (chunk := sock.recv(65536)):
            chunks.append(chunk)
            size += len(chunk)
    except OSError:  # nothing more now (EAGAIN), the reset, or a socket already closed
        pass
    return b"".join(chunks)


def describe_loss(exc: Exception | None, unfinished: bytes = b"") -> str:
    """One line for a connection that ended under us; ``unfinished``: a reply cut short."""
    ssl = sys.modules.get("ssl")  # an SSLError can only exist once ssl is imported
    if exc is None:
        reason = "the server closed the connection"
    elif ssl is not None and isinstance(exc, ssl.SSLError):  # e.g. a TLS 1.3 alert
        from smtpsh.net.certinfo import describe_tls_error

        reason = f"connection lost: {describe_tls_error(exc, '', implicit=False)}"
    else:
        reason = next(
            (text for kind, text in LOSS_REASONS.items() if isinstance(exc, kind)),
            f"connection lost: {exc}",
        )
    if unfinished:
        reason += (
            f" in the middle of a reply ({len(unfinished)} bytes never finished:"
            f" {unfinished[:40]!r})"
        )
    return reason


def format_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class ClientObserver:
    """Receives everything that happens on a connection; override what you need."""

    def on_connected(self, client: ClientBase) -> None: ...

    def on_sent(self, client: ClientBase, text: str, kind: str) -> None:
        """A line left us. ``text`` is display-safe (secrets masked); kind: command/data/raw."""

    def on_body(self, client: ClientBase, wire: bytes, kind: str) -> None:
        """Message bytes exactly as they left us; kind "data" (CRLF, dot-stuffed, the final
        '.' included) or "bdat" (one chunk). Sent whether or not on_sent shows them: for
        observers that keep the message itself, like the transcript recorder."""

    def on_reply(self, client: ClientBase, event: ReplyEvent) -> None: ...

    def on_meta(self, client: ClientBase, text: str, level: str = "info") -> None:
        """Something worth telling that is not a line of the dialogue (TLS, close, timeout)."""

    def on_closed(self, client: ClientBase, reason: str) -> None: ...


class ClientBase:
    """One connection's sans-IO state, its observers, and the operations a shell needs.

    The operations are coroutines in both transports; the blocking one never suspends, so a
    piped run drives it without an event loop (smtpsh.shell.app.drive)."""

    def __init__(self, options: ClientOptions, observers: Sequence[ClientObserver] = ()) -> None:
        self.options = options
        self.observers: list[ClientObserver] = list(observers)
        self.conn = ClientConnection()  # the whole state of the session: see take_over
        self.conn.session.lmtp = bool(options.extra.get("lmtp"))  # --lmtp

    # --- state (all of it in self.conn, so that a hand-over carries every field) -------

    @property
    def peer(self) -> tuple[str, int] | None:
        return self.conn.peer

    @peer.setter
    def peer(self, peer: tuple[str, int] | None) -> None:
        self.conn.peer = peer

    @property
    def close_reason(self) -> str | None:
        return self.conn.close_reason

    @close_reason.setter
    def close_reason(self, reason: str | None) -> None:
        self.conn.close_reason = reason

    @property
    def quit_sent(self) -> bool:
        return self.conn.quit_sent

    @property
    def helo_name(self) -> str:
        return self.conn.helo_name

    @property
    def session(self) -> Session:
        return self.conn.session

    @property
    def address(self) -> str:
        if self.options.connector is not None:
            return self.options.connector.describe(self.options)
        return format_address(self.options.host, self.options.port)

    @property
    def connected(self) -> bool:
        raise NotImplementedError

    @property
    def ssl_object(self) -> ssl.SSLObject | None:
        return None  # plain text (SMTPClient says otherwise once TLS is on)

    def settle(self) -> None:
        """After a reply that ended the session (421): give the server's close a moment to
        arrive, so that it is told before what comes next. The event loop hears it anyway."""

    def abort(self, reason: str) -> None:
        """Close at once; ``reason`` is told to the observers as why the connection ended."""
        raise NotImplementedError

    def give_up(self, message: str) -> None:
        """A deadline was missed: say so (one error line), then close."""
        self._tell("on_meta", message + "; closing the connection", "error")
        self.abort(CLOSED_BY_SMTPSH)

    def _tell(self, method: str, *args: object) -> None:
        for observer in self.observers:
            try:
                getattr(observer, method)(self, *args)
            except Exception as exc:
                # One broken observer (a full disk, a bug) must not break the connection
                # or keep the others from seeing the dialogue.
                print(
                    f"smtpsh: internal error in {type(observer).__name__}.{method}: {exc!r}",
                    file=sys.stderr,
                )

    def _queue_command(self, line: str, *, raw: bool) -> tuple[Command, bytes]:
        """The sans-IO side of sending one command line: its bytes, noted and told."""
        wire = self.conn.send_command(line, raw=raw)
        command = self._queued()
        self._tell("on_sent", command.display, "raw" if raw else "command")
        return command, wire

    def _queued(self) -> Command:
        """The command the core has just queued, made owed its reply (see _owe)."""
        command = self.conn.pending[-1]
        self._owe(command)
        return command

    def _queued_since(self, before: int) -> list[Command]:
        """The commands the core queued since it awaited ``before`` replies (the final dot
        or BDAT LAST earn one reply per accepted recipient in LMTP), each made owed."""
        commands = list(self.conn.pending)[before:]
        for command in commands:
            self._owe(command)
        return commands

    def _owe(self, command: Command) -> None:
        """A transport that lets callers wait for replies out of line (SMTPClient) makes
        the command's own waiter here; the blocking one reads replies in order."""

    # --- operations (each transport implements them) -----------------------------------

    async def open(self, sock: socket.socket | None = None) -> Reply:
        """Connect (or take ``sock``, connected by open_socket) and wait for the banner."""
        raise NotImplementedError

    async def command(self, line: str, *, raw: bool = False, timeout: float | None = None) -> Reply:
        """Send one command and wait for its reply."""
        raise NotImplementedError

    async def send_data_line(self, text: str, *, long_lines: bool = False) -> None:
        """One line of a message typed in DATA mode (CRLF added, dot-stuffed)."""
        raise NotImplementedError

    async def end_data(self) -> Reply:
        """The final '.', and the server's verdict on the message (LMTP: see lmtp_verdict)."""
        raise NotImplementedError

    async def close(self) -> None:
        """Close politely if still connected (no QUIT: callers decide whether to send one)."""
        raise NotImplementedError


def lmtp_verdict(replies: list[Reply]) -> Reply:
    """One reply standing for an LMTP message's per-recipient replies: the first that is not
    a success (the message did not reach everyone), else the last. Every reply has been
    shown to the observers with the recipient it answers."""
    return next((reply for reply in replies if reply.klass != 2), replies[-1])
