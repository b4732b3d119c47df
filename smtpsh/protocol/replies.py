"""Incremental SMTP reply parser: bytes in, Reply objects out (RFC 5321 §4.2).

The parser never raises on a merely odd reply: mixed codes, a line that is not a reply or
text that is not UTF-8 become a Reply whose ``problems`` say what was wrong, because seeing
what a broken server sends is the point of a testing tool. Only input that would make us
hold unbounded data (an endless line, an endless reply) is a RemoteProtocolError.
"""

from __future__ import annotations

import re

from smtpsh.protocol.codes import parse_enhanced
from smtpsh.protocol.encoding import escape_controls
from smtpsh.protocol.errors import RemoteProtocolError
from smtpsh.protocol.record import Record

# RFC 5321 limits replies to 512 octets a line; real servers exceed it, so we only
# refuse lines far beyond any sane reply (a hostile or broken server).
MAX_LINE = 8192
MAX_REPLY = 1024 * 1024

_REPLY_LINE = re.compile(rb"^([2-5][0-5][0-9])([ -]?)(.*)$", re.DOTALL)


class Reply(Record):
    """One complete server reply, possibly of several lines."""

    __slots__ = ("code", "lines", "problems", "raw")

    def __init__(
        self, code: int, lines: tuple[str, ...], raw: bytes = b"", problems: tuple[str, ...] = ()
    ) -> None:
        self.code = code  # 0 when the server sent something that is not a reply at all
        self.lines = lines  # the text after "250-" / "250 " on each line
        self.raw = raw  # exactly what was received, line endings included
        self.problems = problems

    @property
    def enhanced(self) -> str | None:
        """Enhanced status code (RFC 3463) from the first line, if it carries one."""
        return parse_enhanced(self.lines[0]) if self.lines and self.code else None

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    @property
    def klass(self) -> int:
        """First digit: 2 positive, 3 intermediate, 4 transient, 5 permanent (0 = not a reply)."""
        return self.code // 100

    @property
    def ok(self) -> bool:
        return self.klass in (2, 3)

    def wire_lines(self) -> list[str]:
        """The reply as the server wrote it, one string a line (for display and transcripts)."""
        if not self.code:
            return list(self.lines)
        out = []
        last = len(self.lines) - 1
        for i, text in enumerate(self.lines):
            sep = " " if i == last else "-"
            out.append(f"{self.code}{sep}{text}" if text or i != last else str(self.code))
        return out


    def one_line(self) -> str:
        """The reply on one line, as the server wrote it ('550-5.1.1 no | 550 5.1.1 such
        user'): every message and report that quotes a reply in a line uses this."""
        return " | ".join(self.wire_lines()) or str(self.code)


def _decode(line: bytes) -> tuple[str, bool]:
    try:
        return line.decode("utf-8"), True
    except UnicodeDecodeError:
        return line.decode("utf-8", errors="backslashreplace"), False


CONTROLS_PROBLEM = "reply text has terminal control characters (shown as \\xNN)"


class ReplyParser:
    """Feed bytes with ``feed()``; take finished replies with ``next_reply()``."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._lines: list[str] = []
        self._raw = bytearray()
        self._codes: set[int] = set()
        self._first_code = 0
        self._problems: list[str] = []
        self._ready: list[Reply] = []

    @property
    def buffered(self) -> bytes:
        """Bytes received but not yet part of a finished reply."""
        return bytes(self._raw) + bytes(self._buffer)

    def discard_buffered(self) -> bytes:
        """Drop everything not yet returned (used at the STARTTLS switch); returns it."""
        dropped = b"".join(r.raw for r in self._ready) + self.buffered
        self._buffer.clear()
        self._reset_reply()
        self._ready.clear()
        return dropped

    def feed(self, data: bytes) -> None:
        self._buffer += data
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                if len(self._buffer) > MAX_LINE:
                    raise RemoteProtocolError(
                        f"server sent a line of over {MAX_LINE} bytes without an end"
                    )
                return
            line = bytes(self._buffer[: end + 1])
            del self._buffer[: end + 1]
            if len(line) > MAX_LINE:
                raise RemoteProtocolError(f"server sent a reply line of {len(line)} bytes")
            self._take_line(line)

    def next_reply(self) -> Reply | None:
        return self._ready.pop(0) if self._ready else None

    def _take_line(self, line: bytes) -> None:
        body = line[:-2] if line.endswith(b"\r\n") else line[:-1]
        match = _REPLY_LINE.match(body)
        if match is None and self._lines:
            # A reply cut short by a line that is not a reply line: deliver what we have.
            self._note("reply ended by a line that is not a reply line")
            self._emit(self._first_code)
        self._raw += line
        if len(self._raw) > MAX_REPLY:
            raise RemoteProtocolError(f"server sent a reply of over {MAX_REPLY} bytes")
        if not line.endswith(b"\r\n"):
            self._note("line ended with a bare LF instead of CRLF")
        if match is None:
            self._lines.append(self._visible(_decode(body)[0]))
            self._note("line is not an SMTP reply (no 3-digit code)")
            self._emit(0)
            return
        code = int(match.group(1))
        text, utf8 = _decode(match.group(3))
        if not utf8:
            self._note("reply text is not valid UTF-8")
        if self._codes and code not in self._codes:
            self._note(f"continuation lines carry different codes ({self._first_code}/{code})")
        if not self._codes:
            self._first_code = code
        self._codes.add(code)
        if match.group(2) == b"" and match.group(3):
            self._note("no space or hyphen after the reply code")
        self._lines.append(self._visible(text))
        if match.group(2) != b"-":
            # With mixed codes the first one is the reply's code (the others are noted).
            self._emit(self._first_code if self._first_code else code)

    def _visible(self, text: str) -> str:
        """Text safe to print: a hostile server must not drive the user's terminal."""
        shown = escape_controls(text)
        if shown != text:
            self._note(CONTROLS_PROBLEM)
        return shown

    def _note(self, problem: str) -> None:
        if problem not in self._problems:
            self._problems.append(problem)

    def _emit(self, code: int) -> None:
        self._ready.append(Reply(code, tuple(self._lines), bytes(self._raw), tuple(self._problems)))
        self._reset_reply()

    def _reset_reply(self) -> None:
        self._lines = []
        self._raw = bytearray()
        self._codes = set()
        self._first_code = 0
        self._problems = []
