"""Reading transcripts: smtpsh's own format, RFC-style dialogues, smtpsh's piped output and
what swaks prints, all into the same events (model.py).

Reading is two passes. The first classifies each line (client, server, metadata, or noise
to skip) by tables of prefixes, one table per dialect. The second follows the dialogue the
way the client did — replies paired with commands in order, the message after a 354, the
octets after BDAT, the answers inside AUTH — so that a broken file is refused with its line
number before anything is sent.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from smtpsh.net.client import format_address
from smtpsh.protocol.connection import SECRET_MASK, redact_auth_command
from smtpsh.protocol.encoding import control_name, forbidden_in_command
from smtpsh.protocol.replies import ReplyParser
from smtpsh.protocol.session import AUTH_RESPONSE, BANNER
from smtpsh.transcript.model import (
    CLOSE_KEYWORDS,
    CONNECT_KEYWORDS,
    FORMAT_VERSION,
    Chunk,
    Event,
    Expect,
    Message,
    Meta,
    Send,
    Transcript,
    TranscriptError,
    compile_line,
)

MAX_FILE = 64 * 1024 * 1024  # a transcript is text a person can read; refuse anything huge


@dataclass(frozen=True)
class _Line:
    """One classified line of the file."""

    number: int
    side: str  # "C", "S" or "#"
    text: str
    delay_ms: int = 0


# --- pass 1: classify ------------------------------------------------------------------

# smtpsh transcripts, RFC-style dialogues (often indented) and smtpsh's piped output.
_NATIVE = re.compile(
    r"[ \t]*(?:\+(?P<ms>\d+)[ \t]+)?(?:(?P<side>[CS]):(?: (?P<text>.*)|[ \t]*$)|#(?P<meta>.*))",
    re.DOTALL,
)
# Lines smtpsh's piped mode prints besides the dialogue: annotations and meta lines.
_PIPED_NOISE = ("  ↳", "  ⚠", "· ", "! ", "✗ ")

# swaks' "transaction hints" (swaks(1), OUTPUT OPTIONS): three characters, then a space.
_SWAKS_HINTS: dict[str, str] = {
    "===": "info",
    "***": "error",
    " ->": "C",
    " ~>": "C",  # over TLS
    "**>": "C",  # unexpected
    "*~>": "C",
    "<- ": "S",
    "<~ ": "S",
    "<**": "S",
    "<~*": "S",
    "  >": "raw",  # --show-raw-text hex dumps repeat what the other lines show
    "<  ": "raw",
}
# swaks information lines that carry metadata: pattern -> keyword.
_SWAKS_INFO: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"Trying (?P<value>.+?)\.\.\.$"), "connect"),
    (re.compile(r"TLS started with cipher (?P<value>\S+)"), "tls"),
)
# What swaks prints instead of the message with --suppress-data (-n).
_SWAKS_SUPPRESSED = re.compile(r"\d+ lines sent$")


def _classify_native(number: int, raw: str, source: str) -> _Line | None:
    if not raw.strip() or raw.startswith(_PIPED_NOISE):
        return None
    m = _NATIVE.fullmatch(raw)
    if m is None:
        shown = raw if len(raw) <= 40 else raw[:40] + "…"
        raise TranscriptError(
            source,
            number,
            f"unknown line {shown!r}: a line starts with 'C: ' (client), 'S: ' (server) or"
            " '# ' (metadata), optionally after a '+<ms> ' time",
        )
    delay = int(m.group("ms")) if m.group("ms") else 0
    if m.group("meta") is not None:
        return _Line(number, "#", m.group("meta").strip(), delay)
    return _Line(number, m.group("side"), m.group("text") or "", delay)


def _swaks_target(value: str) -> str:
    """'127.0.0.1:25' / '::1:25' / 'mx.example:587' as HOST:PORT (IPv6 in brackets)."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        return value
    return format_address(host.strip("[]"), int(port))


def _classify_swaks(number: int, raw: str, source: str) -> _Line | None:
    if not raw.strip():
        return None
    hint = raw[:3]
    kind = _SWAKS_HINTS.get(hint)
    if kind is None or (len(raw) > 3 and raw[3] != " "):
        shown = raw if len(raw) <= 40 else raw[:40] + "…"
        raise TranscriptError(source, number, f"not a line swaks prints: {shown!r}")
    text = raw[4:]
    if kind in ("C", "S"):
        return _Line(number, kind, text)
    if kind == "error":
        return _Line(number, "#", f"error {text}")
    if kind == "info":
        for pattern, keyword in _SWAKS_INFO:
            m = pattern.match(text)
            if m:
                value = m.group("value")
                if keyword == "connect":
                    value = _swaks_target(value)
                else:  # "TLSv1.3:TLS_AES_256_GCM_SHA384:256" -> "TLSv1.3 TLS_AES_256_GCM_SHA384"
                    value = " ".join(value.split(":")[:2])
                return _Line(number, "#", f"{keyword} {value}")
    return None  # other information, raw dumps


def _detect(lines: list[str]) -> str:
    for raw in lines:
        if not raw.strip():
            continue
        if _NATIVE.fullmatch(raw) or raw.startswith(_PIPED_NOISE):
            return "smtpsh"
        if raw[:3] in _SWAKS_HINTS:
            return "swaks"
        return "smtpsh"  # let the native reader name the bad line
    return "smtpsh"


# --- pass 2: follow the dialogue ---------------------------------------------------------


class _Follower:
    """Pairs replies with client lines the way ClientConnection does, building events."""

    def __init__(self, source: str, dialect: str) -> None:
        self.source = source
        self.dialect = dialect
        self.events: list[Event] = []
        self.pending: deque[str] = deque([BANNER])  # verbs awaiting a reply, oldest first
        self.parser = ReplyParser()
        self.reply_lines: list[_Line] = []  # server lines of a reply not yet complete
        self.mode = "command"  # "command", "data", "auth"
        self.body: list[_Line] = []
        self.body_start = 0  # the 354's line, for messages about a message with no end
        self.bdat: tuple[_Line, int, bool] | None = None  # BDAT line, octets, LAST
        self.bdat_data = bytearray()

    def error(self, line: int | None, message: str) -> TranscriptError:
        return TranscriptError(self.source, line, message)

    # -- lines ------------------------------------------------------------------------

    def take(self, item: _Line) -> None:
        if item.side != "S":
            self._check_reply_finished(item.number)
        if item.side == "#":
            self._meta(item)
        elif item.side == "S":
            self._server(item)
        elif self.bdat is not None:
            self._bdat_line(item)
        elif self.mode == "data":
            self._body_line(item)
        else:
            self._client(item)

    def finish(self) -> list[Event]:
        self._check_reply_finished(None)
        if self.mode == "data":
            raise self.error(
                self.body_start,
                "the message after this 354 has no end: a line 'C: .' must close it"
                " (the transcript is truncated)",
            )
        if self.bdat is not None:
            self._bdat_short(None)
        return self.events

    def _meta(self, item: _Line) -> None:
        keyword, _, value = item.text.partition(" ")
        keyword = keyword.lower()
        if self.mode == "data" and keyword in CLOSE_KEYWORDS | CONNECT_KEYWORDS:
            raise self.error(
                self.body_start,
                f"the message after this 354 has no end: the connection {keyword} at line"
                f" {item.number} before a line 'C: .'",
            )
        if self.bdat is not None and keyword in CLOSE_KEYWORDS | CONNECT_KEYWORDS:
            self._bdat_short(item.number)
        if keyword == "smtpsh":
            self._check_version(item)
        if keyword in CONNECT_KEYWORDS:
            self.pending = deque([BANNER])
            self.mode = "command"
        elif keyword in CLOSE_KEYWORDS:
            self.pending.clear()
            self.mode = "command"
        self.events.append(Meta(item.number, keyword, value.strip(), item.delay_ms))

    def _check_version(self, item: _Line) -> None:
        m = re.fullmatch(r"smtpsh transcript (\d+)", item.text.strip())
        if m and int(m.group(1)) > FORMAT_VERSION:
            raise self.error(
                item.number,
                f"transcript format {m.group(1)} is newer than this smtpsh reads"
                f" ({FORMAT_VERSION}); upgrade smtpsh",
            )

    def _client(self, item: _Line) -> None:
        if self.pending and self.pending[0] == BANNER and not self.reply_lines:
            self.pending.popleft()  # a hand-written file may start without the banner
        text = item.text
        self._check_sendable(item)
        if self.mode == "auth":
            if self.dialect == "swaks":
                text = SECRET_MASK  # swaks prints secrets; a transcript never holds them
            self.events.append(Send(item.number, text, item.delay_ms, auth=True))
            self.pending.append(AUTH_RESPONSE)
            return
        send = Send(item.number, text, item.delay_ms)
        verb = send.verb
        if verb == "AUTH" and self.dialect == "swaks":
            send = Send(item.number, redact_auth_command(text), item.delay_ms)
        if verb == "BDAT":
            self._bdat_start(item)
            return
        self.events.append(send)
        self.pending.append(verb)

    def _check_sendable(self, item: _Line) -> None:
        """A client line the sender would refuse is refused now, before anything is sent
        (the replay must not stop half-way, after EHLO or AUTH, on a line it read)."""
        bad = forbidden_in_command(item.text)
        if bad:
            pos, ch = bad[0]
            raise self.error(
                item.number,
                f"a client line with a {control_name(ch)} control character at column"
                f" {pos + 1}: a command is one line of text (nothing was sent)",
            )

    def _server(self, item: _Line) -> None:
        if self.mode == "data":
            raise self.error(
                self.body_start,
                f"the message after this 354 has no end: a server reply comes at line"
                f" {item.number} before a line 'C: .'",
            )
        if self.bdat is not None:
            self._bdat_short(item.number)
        text = item.text
        self.reply_lines.append(item)
        self.parser.feed(text.encode("utf-8", "surrogateescape") + b"\r\n")
        reply = self.parser.next_reply()
        if reply is None:
            return
        lines = self.reply_lines
        self.reply_lines = []
        first = lines[0].number
        if reply.code == 0:
            raise self.error(
                first, f"a server line must start with a 3-digit reply code: {lines[0].text!r}"
            )
        if len(reply.lines) != len(lines) or reply.problems:
            problem = reply.problems[0] if reply.problems else "lines do not form one reply"
            raise self.error(first, f"bad reply: {problem}")
        verb = self.pending.popleft() if self.pending else None
        patterns = tuple(compile_line(li.text, self.source, li.number) for li in lines)
        self.events.append(
            Expect(
                first,
                lines[-1].number,
                tuple(li.text for li in lines),
                reply,
                patterns,
                banner=verb == BANNER,
                unsolicited=verb is None,
                delay_ms=lines[0].delay_ms,
            )
        )
        self._after_reply(verb, reply.code, first)

    def _after_reply(self, verb: str | None, code: int, line: int) -> None:
        if verb == "DATA" and code == 354:
            if self.pending:
                raise self.error(
                    line, "client lines were sent before this 354: the message must follow it"
                )
            self.mode = "data"
            self.body = []
            self.body_start = line
        elif verb in ("AUTH", AUTH_RESPONSE) and code == 334:
            self.mode = "auth"
        else:
            self.mode = "command"
        if code == 421 or (verb == "QUIT" and code // 100 == 2):
            self.pending.clear()

    def _check_reply_finished(self, line: int | None) -> None:
        if not self.reply_lines:
            return
        first = self.reply_lines[0]
        where = f"at line {line}" if line else "at the end of the file"
        raise self.error(
            first.number,
            f"this reply is not finished {where}: its last line needs a space (or nothing)"
            f" after the code, not '-' ({first.text[:30]!r})",
        )

    # -- DATA ----------------------------------------------------------------------------

    def _body_line(self, item: _Line) -> None:
        if item.text != ".":
            self.body.append(item)
            return
        lines = self.body
        self.events.append(
            Message(
                lines[0].number if lines else item.number,
                item.number,
                tuple(li.text for li in lines),
                (*(li.delay_ms for li in lines), item.delay_ms),
            )
        )
        self.body = []
        self.mode = "command"
        self.pending.append("<end-of-data>")
        if self.dialect == "swaks" and len(lines) == 1 and _SWAKS_SUPPRESSED.match(lines[0].text):
            raise self.error(
                lines[0].number,
                "swaks printed a summary instead of the message (--suppress-data / -n):"
                " run swaks without it to get a transcript that can be replayed",
            )

    # -- BDAT ----------------------------------------------------------------------------

    def _bdat_start(self, item: _Line) -> None:
        m = re.fullmatch(r"\s*BDAT\s+(\d+)(\s+LAST)?\s*", item.text, re.IGNORECASE)
        if m is None:
            raise self.error(item.number, "BDAT needs a size: 'BDAT <octets> [LAST]'")
        self.bdat = (item, int(m.group(1)), bool(m.group(2)))
        self.bdat_data = bytearray()
        if int(m.group(1)) == 0:
            self._bdat_done()

    def _bdat_line(self, item: _Line) -> None:
        assert self.bdat is not None
        size = self.bdat[1]
        data = item.text.encode("utf-8", "surrogateescape")
        if len(self.bdat_data) + len(data) + 2 <= size:
            self.bdat_data += data + b"\r\n"
        elif len(self.bdat_data) + len(data) == size:
            self.bdat_data += data  # the chunk ends without a line break
        else:
            head = self.bdat[0]
            raise self.error(
                head.number,
                f"BDAT announces {size} octets but the lines after it hold more"
                f" ({len(self.bdat_data) + len(data) + 2} at line {item.number};"
                " each line counts its CRLF, except a last line without one)",
            )
        if len(self.bdat_data) == size:
            self._bdat_done()

    def _bdat_short(self, line: int | None) -> None:
        assert self.bdat is not None
        head, size, _ = self.bdat
        where = f"line {line}" if line else "the end of the file"
        raise self.error(
            head.number,
            f"BDAT announces {size} octets but the lines up to {where} hold only"
            f" {len(self.bdat_data)} (each line counts its CRLF)",
        )

    def _bdat_done(self) -> None:
        assert self.bdat is not None
        head, _, last = self.bdat
        self.events.append(
            Chunk(head.number, head.text, bytes(self.bdat_data), last, head.delay_ms)
        )
        self.pending.append("BDAT")
        self.bdat = None


def parse(text: str, source: str = "<transcript>") -> Transcript:
    """Read a transcript (any supported dialect); TranscriptError names the bad line."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    lines = [line.removesuffix("\r") for line in lines]
    dialect = _detect(lines)
    classify = _classify_swaks if dialect == "swaks" else _classify_native
    follower = _Follower(source, dialect)
    for number, raw in enumerate(lines, start=1):
        item = classify(number, raw, source)
        if item is not None:
            follower.take(item)
    events = follower.finish()
    if not any(isinstance(e, (Send, Chunk, Message)) for e in events):
        raise TranscriptError(source, None, "no client lines ('C: ...'): nothing to replay")
    return Transcript(source, dialect, events)


def read(path: str | Path) -> Transcript:
    """Read a transcript file; TranscriptError (one line) for a missing or bad file."""
    name = str(path)
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_FILE + 1)
    except OSError as exc:
        raise TranscriptError(name, None, f"cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE:
        raise TranscriptError(name, None, f"over {MAX_FILE // 2**20} MiB: not a transcript")
    if b"\0" in data:
        raise TranscriptError(name, None, "binary data (a NUL byte): not a transcript")
    return parse(data.decode("utf-8", "surrogateescape"), name)
