"""A tiny scripted TCP server on loopback for tests of odd and hostile servers.

The handler gets the accepted socket and does whatever the test needs (send garbage,
stall, close mid-reply); it runs in a thread so the client under test can be a subprocess.
When the handler returns, the connection ends as an MTA ends it: a lingering close (see
close_gracefully). A handler that means to reset does so itself (SO_LINGER 0, then close).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator

Handler = Callable[[socket.socket], None]

# How long a closing server goes on reading what the client still sends (it stops sooner,
# as soon as the client closes its side).
LINGER = 5.0


def read_line(sock: socket.socket, limit: int = 65536) -> bytes:
    """One CRLF/LF-terminated line from the client (b'' on EOF)."""
    data = bytearray()
    while not data.endswith(b"\n") and len(data) < limit:
        chunk = sock.recv(1)
        if not chunk:
            break
        data += chunk
    return bytes(data)


def smtp_like(replies: dict[bytes, bytes], banner: bytes = b"220 test ESMTP\r\n") -> Handler:
    """A handler answering each verb with a canned reply (default 250 ok); QUIT ends."""

    def handle(sock: socket.socket) -> None:
        sock.sendall(banner)
        while line := read_line(sock):
            verb = line.split(b" ", 1)[0].split(b":", 1)[0].strip().upper()
            sock.sendall(replies.get(verb, b"250 2.0.0 ok\r\n"))
            if verb == b"QUIT":
                return

    return handle


def close_gracefully(sock: socket.socket, linger: float = LINGER) -> None:
    """End the connection as MTAs do after their last reply (a 221, a 421): half-close,
    read and drop what the client still sends until it closes too, then close.

    A plain close() with unread input in the receive buffer (pipelined commands, a line
    typed after the 421) makes the kernel send a TCP reset instead of a FIN, and discard
    whatever of the last reply it had not yet sent: the client would then see "reset"
    instead of the 421 or the close the test is about, depending on timing. A socket the
    handler has already closed (or reset on purpose) is left as it is.
    """
    if sock.fileno() == -1:
        return
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + linger
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            if not sock.recv(65536):
                break
    sock.close()


@contextlib.contextmanager
def scripted_server(handler: Handler, host: str = "127.0.0.1") -> Iterator[int]:
    """Serve ``handler`` for each connection on a free loopback port; yields the port."""
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, 0))
    listener.listen(8)
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve_one(conn: socket.socket) -> None:
        with conn:
            with contextlib.suppress(OSError):
                handler(conn)
            close_gracefully(conn)

    def loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(30)
            threading.Thread(target=serve_one, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(2)
        listener.close()
