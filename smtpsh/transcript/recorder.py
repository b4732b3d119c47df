"""The transcript recorder: a ClientObserver that writes every line as it happens.

Each line goes to the kernel with one write(2) as soon as it is known (no buffering in
this process), so a killed smtpsh loses nothing that was already on screen. The file is
created mode 0600: it holds addresses and messages. Secrets never reach it: the core masks
AUTH exchanges before observers see them. A write that fails (disk full, file too large)
stops the recording with one error line; the session goes on.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import time
from collections.abc import Callable
from pathlib import Path

from smtpsh.net.base import ClientBase, ClientObserver
from smtpsh.protocol.connection import ReplyEvent
from smtpsh.protocol.errors import SmtpshError
from smtpsh.protocol.session import BANNER, State
from smtpsh.safefile import open_private
from smtpsh.transcript.model import (
    CLIENT_PREFIX,
    HEADER,
    META_PREFIX,
    SERVER_PREFIX,
    escape_literal,
)

TIME_WIDTH = 6  # "+12345": pads the time field so the C:/S: columns line up

# Errors the client tells that the transcript files under their own keyword.
_ERROR_KINDS: tuple[tuple[str, str], ...] = (("no reply from", "timeout"),)

_ESCAPES = {"\r": "\\r", "\n": "\\n", "\t": "\t"}


def _is_transcript(head: bytes) -> bool:
    return head.startswith(f"{META_PREFIX}{HEADER}".encode())


class RecordError(SmtpshError):
    """The transcript file cannot be opened or written."""

    fault = "local"


def _visible(text: str) -> str:
    """A sent line as one transcript line: control characters (raw mode) written escaped."""
    return "".join(
        _ESCAPES.get(ch, f"\\x{ord(ch):02x}") if ord(ch) < 32 or ord(ch) == 127 else ch
        for ch in text
    )


class TranscriptRecorder(ClientObserver):
    """Writes the dialogue of every client it observes to one transcript file."""

    def __init__(
        self,
        fd: int,
        path: str,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self._fd: int | None = fd
        self._clock = clock
        self._last = clock()
        self._tls_seen: set[int] = set()  # ids of clients whose TLS is already recorded
        self._announced: set[int] = set()  # ids of clients whose on_connected came
        # A banner can be delivered before open() tells on_connected: held until then, so
        # the file reads connect, tls, banner.
        self._early: dict[int, list[ReplyEvent]] = {}
        self._body = bytearray()  # DATA bytes not yet ending in CRLF
        self.lines = 0
        self.failure: str | None = None  # why recording stopped on its own
        started = dt.datetime.now(dt.UTC)
        self._write_raw(f"{META_PREFIX}{HEADER}\n")
        self._write_raw(f"{META_PREFIX}start {started.isoformat(timespec='seconds')}\n")

    @classmethod
    def open(
        cls, path: str | Path, *, clock: Callable[[], float] = time.monotonic
    ) -> TranscriptRecorder:
        """Create ``path`` with mode 0600 (or overwrite a transcript of ours there; a
        symlink, another file or someone else's is refused) and write the header."""
        name = str(path)
        target = os.path.expanduser(name)
        try:
            fd = open_private(target, recognise=_is_transcript, what="transcript")
        except OSError as exc:
            raise RecordError(f"cannot record to {name}: {exc.strerror or exc}") from None
        try:
            return cls(fd, name, clock=clock)
        except OSError as exc:
            os.close(fd)
            raise RecordError(f"cannot record to {name}: {exc.strerror or exc}") from None

    @property
    def active(self) -> bool:
        return self._fd is not None

    def close(self, note: str = "") -> None:
        """Stop recording (``note``: a last '# stop' line saying why)."""
        if self._fd is None:
            return
        if note:
            with contextlib.suppress(OSError):
                self._write_raw(f"{self._stamp()}{META_PREFIX}stop {note}\n")
        fd, self._fd = self._fd, None
        os.close(fd)

    # --- writing ---------------------------------------------------------------------

    def _write_raw(self, text: str) -> None:
        assert self._fd is not None
        data = text.encode("utf-8", "surrogateescape")
        while data:
            written = os.write(self._fd, data)
            data = data[written:]
        self.lines += text.count("\n")

    def _stamp(self) -> str:
        now = self._clock()
        ms = max(0, round((now - self._last) * 1000))
        self._last = now
        return f"+{ms}".ljust(TIME_WIDTH) + " "

    def _emit(self, client: ClientBase, prefix: str, lines: list[str]) -> None:
        """Write ``lines`` with one prefix; the first carries the time since the last line."""
        if self._fd is None or not lines:
            return
        stamp = self._stamp()
        rest = "+0".ljust(TIME_WIDTH) + " "
        text = "".join(
            f"{stamp if i == 0 else rest}{prefix}{line}\n" for i, line in enumerate(lines)
        )
        try:
            self._write_raw(text)
        except OSError as exc:
            self._fail(client, exc)

    def _fail(self, client: ClientBase, exc: OSError) -> None:
        self.failure = f"cannot write to {self.path} ({exc.strerror or exc})"
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
        message = f"transcript: {self.failure}; recording stopped, the session goes on"
        for observer in client.observers:
            if observer is not self:
                observer.on_meta(client, message, "error")

    def _meta(self, client: ClientBase, keyword: str, value: str) -> None:
        self._emit(client, META_PREFIX, [f"{keyword} {value}".rstrip()])

    def _tls_line(self, client: ClientBase) -> str | None:
        """'tls TLSv1.3 TLS_AES_256_GCM_SHA384' the first time TLS is seen on ``client``."""
        ssl_object = client.ssl_object
        if ssl_object is None or id(client) in self._tls_seen:
            return None
        self._tls_seen.add(id(client))
        cipher = ssl_object.cipher()
        return f"tls {ssl_object.version() or '?'} {cipher[0] if cipher else '?'}"

    def _record_tls(self, client: ClientBase) -> None:
        line = self._tls_line(client)
        if line:
            self._emit(client, META_PREFIX, [line])

    def join(self, client: ClientBase) -> None:
        """Start on a connection already open (/record in a live session)."""
        self._announced.add(id(client))
        lines = [f"connect {client.address}"]
        tls = self._tls_line(client)
        if tls:
            lines.append(tls)
        state = client.session.state
        if state not in (State.CONNECTING, State.GREETED):
            lines.append(
                f"note recording started mid-session (state {state.value}):"
                " the lines before are not in this file"
            )
        try:
            self._write_raw("".join(f"{self._stamp()}{META_PREFIX}{line}\n" for line in lines))
        except OSError as exc:
            self.close()
            raise RecordError(f"cannot write to {self.path}: {exc.strerror or exc}") from None

    # --- ClientObserver --------------------------------------------------------------

    def on_connected(self, client: ClientBase) -> None:
        self._body.clear()
        self._announced.add(id(client))
        self._meta(client, "connect", client.address)
        self._record_tls(client)  # implicit TLS: established before the banner
        for event in self._early.pop(id(client), []):
            self.on_reply(client, event)

    def on_sent(self, client: ClientBase, text: str, kind: str) -> None:
        if kind == "data":
            return  # the message comes through on_body, exactly as it went on the wire
        self._emit(client, CLIENT_PREFIX, [_visible(part) for part in text.split("\n")])

    def on_body(self, client: ClientBase, wire: bytes, kind: str) -> None:
        if kind == "bdat":
            # BDAT's octets follow its command line; a last line without CRLF stays so.
            parts = wire.split(b"\r\n")
            if parts and parts[-1] == b"":
                parts.pop()
            self._emit(
                client,
                CLIENT_PREFIX,
                [_visible(p.decode("utf-8", "surrogateescape")) for p in parts],
            )
            return
        self._body += wire
        end = self._body.rfind(b"\r\n")
        if end < 0:
            return
        complete = bytes(self._body[:end])
        del self._body[: end + 2]
        lines = [p.decode("utf-8", "surrogateescape") for p in complete.split(b"\r\n")]
        self._emit(client, CLIENT_PREFIX, lines)

    def on_reply(self, client: ClientBase, event: ReplyEvent) -> None:
        if id(client) not in self._announced and event.command and event.command.verb == BANNER:
            self._early.setdefault(id(client), []).append(event)
            return
        reply = event.reply
        if reply.code == 0:
            self._meta(client, "warning", f"not an SMTP reply: {reply.text}")
            return
        self._emit(client, SERVER_PREFIX, [escape_literal(line) for line in reply.wire_lines()])

    def on_meta(self, client: ClientBase, text: str, level: str = "info") -> None:
        self._record_tls(client)  # STARTTLS: the upgrade is announced through a meta event
        if level in ("warning", "error") and not text.startswith("transcript:"):
            kind = next((k for start, k in _ERROR_KINDS if text.startswith(start)), level)
            self._meta(client, kind, text)

    def on_closed(self, client: ClientBase, reason: str) -> None:
        self._body.clear()
        self._meta(client, "closed", reason)
