"""The hostile servers of the matrix: one small scripted server per behaviour.

Each Behaviour says what the server does, what the user types, the one line smtpsh must
show about it (a regex), and whether the session survives (``open``: a NOOP afterwards is
answered) or ends (``closed``: the close is said and /reconnect offered). The servers are
threads on loopback (tests/helpers/scripted_server.py), so the client under test can be a
subprocess in a pipe or in a terminal.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.helpers.scripted_server import close_gracefully, read_line

BANNER = b"220 hostile.test ESMTP\r\n"
EHLO_REPLY = b"250-hostile.test\r\n250-PIPELINING\r\n250-STARTTLS\r\n250 8BITMIME\r\n"
NOOP_REPLY = b"250 2.0.0 still here\r\n"  # only NOOP gets this: proves the session goes on
STILL_HERE = "250 2.0.0 still here"
CLOSING = b"421 4.3.2 hostile.test closing the transmission channel\r\n"

# What a well-behaved server answers, by verb (the behaviours override one step each).
ANSWERS: dict[bytes, bytes] = {
    b"EHLO": EHLO_REPLY,
    b"HELO": b"250 hostile.test\r\n",
    b"NOOP": NOOP_REPLY,
    b"DATA": b"354 End data with <CR><LF>.<CR><LF>\r\n",
    b"RSET": b"250 2.0.0 Ok\r\n",
    b"QUIT": b"221 2.0.0 Bye\r\n",
}
DEFAULT_ANSWER = b"250 2.1.0 Ok\r\n"
END_OF_DATA_ANSWER = b"250 2.0.0 Ok: queued as HOSTILE1\r\n"


class Peer:
    """One accepted connection; ``sock`` may become a TLS socket after STARTTLS."""

    def __init__(self, sock: socket.socket, tls: ssl.SSLContext | None) -> None:
        self.sock = sock
        self.tls = tls
        self.last = b""  # the line the act answers

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def line(self) -> bytes:
        return read_line(self.sock)

    def trickle(self, data: bytes, pause: float) -> None:
        """Slowloris: one byte a write, with a pause after each."""
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(len(data)):
            self.sock.sendall(data[i : i + 1])
            time.sleep(pause)

    def reset(self) -> None:
        """Close with a TCP RST (SO_LINGER on with a zero timeout), on purpose: what a
        crashing server or a middlebox does, and what the client must also survive."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    def start_tls(self) -> None:
        assert self.tls is not None
        self.sock.settimeout(10)
        self.sock = self.tls.wrap_socket(self.sock, server_side=True)

    def read_message(self) -> None:
        while self.line() not in (b".\r\n", b""):
            pass


# An act replaces the normal answer to one verb; it returns False to end the connection.
Act = Callable[[Peer], bool]


def serve(
    acts: dict[bytes, Act],
    *,
    banner: Act | None = None,
    tls: ssl.SSLContext | None = None,
    received: list[bytes] | None = None,
) -> Callable[[socket.socket], None]:
    """A handler: a plain SMTP server except where ``acts`` (by verb; b"." = end of data)
    behave badly. ``banner`` replaces the greeting; ``received`` collects every line."""

    def handle(sock: socket.socket) -> None:
        peer = Peer(sock, tls)
        try:
            converse(peer)
        finally:
            close_gracefully(peer.sock)  # the TLS socket, if STARTTLS replaced the plain one

    def converse(peer: Peer) -> None:
        if banner is not None:
            if not banner(peer):
                return
        else:
            peer.send(BANNER)
        in_data = False
        while line := peer.line():
            peer.last = line
            if received is not None:
                received.append(line)
            verb = b"." if in_data else line.split(b" ", 1)[0].split(b":", 1)[0].strip().upper()
            if in_data:
                if line != b".\r\n":
                    continue
                in_data = False
            act = acts.get(verb)
            if act is not None:
                if not act(peer):
                    return
            else:
                peer.send(END_OF_DATA_ANSWER if verb == b"." else ANSWERS.get(verb, DEFAULT_ANSWER))
            if verb == b"DATA":
                in_data = True
            if verb == b"QUIT":
                return

    return handle


# --- the acts --------------------------------------------------------------------------


def send_then(data: bytes, *, keep_open: bool = True, linger: float = 0.0) -> Act:
    def act(peer: Peer) -> bool:
        peer.send(data)
        if linger:
            time.sleep(linger)
        return keep_open

    return act


def endless_banner(peer: Peer) -> bool:
    chunk = b"x" * 65536
    peer.send(b"220 ")
    for _ in range(32):  # 2 MiB, never a line end
        peer.send(chunk)
    time.sleep(5)
    return False


def huge_reply(peer: Peer) -> bool:
    line = b"250-" + b"y" * 1020 + b"\r\n"
    for _ in range(10 * 1024):  # 10 MiB of continuation lines
        peer.send(line)
    peer.send(b"250 end\r\n")
    return True


def slowloris_banner(peer: Peer) -> bool:
    peer.trickle(BANNER, 0.005)
    return True


def slowloris_forever(peer: Peer) -> bool:
    peer.trickle(b"250-still sending, one byte at a time" * 100, 0.05)
    return False


def silence(peer: Peer) -> bool:
    time.sleep(10)
    return False


def half_reply_then_close(peer: Peer) -> bool:
    peer.send(b"250-hostile.test\r\n250-PIPEL")
    return False


def reset(peer: Peer) -> bool:
    peer.reset()
    return False


def unsolicited_while_idle(peer: Peer) -> bool:
    peer.send(EHLO_REPLY)
    time.sleep(0.3)  # the client is idle now: these answer nothing it asked
    peer.send(b"250 2.0.0 surprise\r\n")
    return True


def injected_starttls(peer: Peer) -> bool:
    # The 220 and a forged reply in one segment: the forged line must never be trusted.
    peer.send(b"220 2.0.0 Ready to start TLS\r\n250 injected-before-tls\r\n")
    peer.start_tls()
    return True


def starttls(peer: Peer) -> bool:
    peer.send(b"220 2.0.0 Ready to start TLS\r\n")
    peer.start_tls()
    return True


def stalled_handshake(peer: Peer) -> bool:
    peer.send(b"220 2.0.0 Ready to start TLS\r\n")
    time.sleep(10)  # never answer the ClientHello
    return False


def unsolicited_flood(peer: Peer) -> bool:
    """The EHLO reply, then two million replies nobody asked for (~16 MB)."""
    peer.send(EHLO_REPLY)
    flood = b"250 ok\r\n" * 20_000
    for _ in range(100):
        peer.send(flood)  # a BrokenPipeError once the client hangs up ends the handler
    return True


def client_certificate_required(peer: Peer) -> bool:
    """STARTTLS with a TLS 1.3 context that requires a client certificate: the handshake
    ends on the client's side, then the server drops the connection (EHLO unread: RST)."""
    peer.send(b"220 2.0.0 Ready to start TLS\r\n")
    with contextlib.suppress(ssl.SSLError, OSError):
        peer.start_tls()
    return False


@dataclass(frozen=True)
class Behaviour:
    name: str
    summary: str  # what the server does, for the matrix
    handler: Callable[[ssl.SSLContext], Callable[[socket.socket], None]]
    script: tuple[str, ...]  # lines typed after the banner; "" in DATA is a blank line
    said: str  # regex: the one clear line about what the server did
    ends: str  # "open" (a NOOP afterwards is answered) or "closed"
    timeout: float | None = None  # --timeout, for the behaviours that are about waiting
    tls: bool = False  # the client needs the test CA (--cafile)
    idle: float = 0.0  # pause after the script's first line (the server acts while idle)
    args: tuple[str, ...] = field(default_factory=tuple)
    wants_client_cert: bool = False  # the server's TLS context requires a client certificate

    @property
    def at_banner(self) -> bool:
        """Nothing is typed: the server misbehaves at its greeting, on every connection, so a
        /reconnect reaches no session either."""
        return not self.script


def plain(acts: dict[bytes, Act], banner: Act | None = None) -> Callable[
    [ssl.SSLContext], Callable[[socket.socket], None]
]:
    return lambda tls: serve(acts, banner=banner)


TRANSACTION = ("EHLO me.test", "MAIL FROM:<a@me.test>", "RCPT TO:<b@hostile.test>", "DATA")
MESSAGE = ("Subject: hostile", "", "body", ".")
CLOSED_421 = r"421 4\.3\.2 hostile\.test closing the transmission channel"

BEHAVIOURS: tuple[Behaviour, ...] = (
    Behaviour(
        "banner-never-ends",
        "a banner that never ends (2 MiB without CRLF)",
        plain({}, banner=endless_banner),
        (),
        r"server sent a line of over \d+ bytes without an end",
        "closed",
    ),
    Behaviour(
        "reply-10-mib",
        "a reply of 10 MiB of continuation lines",
        plain({b"EHLO": huge_reply}),
        ("EHLO me.test",),
        r"server sent a reply of over \d+ bytes",
        "closed",
    ),
    Behaviour(
        "not-utf8",
        "reply text that is not UTF-8",
        plain({b"EHLO": send_then(b"250-hostile.test caf\xe9\r\n250 \xff\xfe SIZE\r\n")}),
        ("EHLO me.test",),
        r"reply text is not valid UTF-8",
        "open",
    ),
    Behaviour(
        "terminal-escapes",
        "terminal escape sequences in a reply (clear screen, retitle, CR overwrite)",
        plain({b"EHLO": send_then(b"250-hostile.test \x1b[2J\x1b]0;pwned\x07\r\n"
                                   b"250 ok\rFAKE \x1b[8mhidden\x9b\r\n")}),
        ("EHLO me.test",),
        r"reply text has terminal control characters \(shown as \\xNN\)",
        "open",
    ),
    Behaviour(
        "mixed-codes",
        "mixed codes across continuation lines",
        plain({b"EHLO": send_then(b"250-hostile.test\r\n251-PIPELINING\r\n550 SIZE\r\n")}),
        ("EHLO me.test",),
        r"continuation lines carry different codes \(250/251\)",
        "open",
    ),
    Behaviour(
        "not-a-reply",
        "a line that is not a reply",
        plain({b"EHLO": send_then(b"HTTP/1.1 400 Bad Request\r\n")}),
        ("EHLO me.test",),
        r"line is not an SMTP reply",
        "open",
    ),
    Behaviour(
        "slowloris",
        "one-byte writes with pauses (banner), then a reply that never ends",
        plain({b"EHLO": slowloris_forever}, banner=slowloris_banner),
        ("EHLO me.test",),
        r"no reply from 127\.0\.0\.1:\d+ to EHLO within 1 s",
        "closed",
        timeout=1.0,
    ),
    Behaviour(
        "silence",
        "no banner (silence)",
        plain({}, banner=silence),
        (),
        r"no reply from 127\.0\.0\.1:\d+ to the banner within 1 s",
        "closed",
        timeout=1.0,
    ),
    Behaviour(
        "close-mid-reply",
        "a close in the middle of a reply",
        plain({b"EHLO": half_reply_then_close}),
        ("EHLO me.test",),
        r"the server closed the connection in the middle of a reply",
        "closed",
    ),
    Behaviour(
        "close-after-354",
        "a close after 354",
        plain({b"DATA": send_then(ANSWERS[b"DATA"], keep_open=False)}),
        (*TRANSACTION, *MESSAGE),
        r"the server closed the connection|the server reset the connection",
        "closed",
    ),
    Behaviour(
        "421-banner",
        "421 as the banner",
        plain({}, banner=send_then(CLOSING, keep_open=False)),
        (),
        CLOSED_421,
        "closed",
    ),
    *(
        Behaviour(
            f"421-{stage}",
            f"421 in answer to {label}",
            plain({verb: send_then(CLOSING, keep_open=False)}),
            script,
            CLOSED_421,
            "closed",
        )
        for stage, label, verb, script in (
            ("ehlo", "EHLO", b"EHLO", TRANSACTION[:1]),
            ("mail", "MAIL", b"MAIL", TRANSACTION[:2]),
            ("rcpt", "RCPT", b"RCPT", TRANSACTION[:3]),
            ("data", "DATA", b"DATA", TRANSACTION),
            ("end-of-data", "the end of data", b".", (*TRANSACTION, *MESSAGE)),
        )
    ),
    Behaviour(
        "unsolicited",
        "an unsolicited reply while idle",
        plain({b"EHLO": unsolicited_while_idle}),
        ("EHLO me.test",),
        r"the server sent this without being asked",
        "open",
        idle=1.0,
    ),
    Behaviour(
        "starttls-injection",
        "plaintext injected after the STARTTLS 220",
        lambda tls: serve({b"STARTTLS": injected_starttls}, tls=tls),
        ("EHLO me.test", "STARTTLS", "EHLO me.test"),
        r"SECURITY: the server sent \d+ bytes after its 220 to STARTTLS",
        "open",
        tls=True,
    ),
    Behaviour(
        "certificate-escapes",
        "terminal escape sequences in the certificate's names",
        lambda tls: serve({b"STARTTLS": starttls}, tls=tls),
        ("EHLO me.test", "STARTTLS", "EHLO me.test"),
        r"certificate: .*O=hostile \\x1b\[31m\\x0dred",
        "open",
        tls=True,
    ),
    Behaviour(
        "tls-stall",
        "a TLS handshake that stalls",
        plain({b"STARTTLS": stalled_handshake}),
        ("EHLO me.test", "STARTTLS"),
        r"TLS handshake with 127\.0\.0\.1:\d+ stalled",
        "closed",
        timeout=1.0,
        tls=True,
    ),
    Behaviour(
        "unsolicited-flood",
        "two million replies nobody asked for",
        plain({b"EHLO": unsolicited_flood}),
        ("EHLO me.test",),
        r"replies nobody asked for",
        "closed",
    ),
    Behaviour(
        "client-cert-required",
        "TLS 1.3 that requires a client certificate",
        lambda tls: serve({b"STARTTLS": client_certificate_required}, tls=tls),
        ("EHLO me.test", "STARTTLS", "EHLO me.test"),
        r"client certificate",
        "closed",
        tls=True,
        wants_client_cert=True,
    ),
    Behaviour(
        "spoofing-characters",
        "bidi override and zero-width characters in a reply",
        plain({b"VRFY": send_then(
            "252 2.0.0 robin\u202e@evil.test\u202c is\u200b here\ufeff\r\n".encode()
        )}),
        ("VRFY robin",),
        r"the reply holds characters that hide or reorder text",
        "open",
    ),
    Behaviour(
        "rst-mid-transaction",
        "a reset (RST) in the middle of a transaction",
        plain({b"RCPT": reset}),
        TRANSACTION[:3],
        r"the server reset the connection",
        "closed",
    ),
)
