"""What a transcript holds once read: events in order, each with its line in the file.

The file format itself (one event a line, ``C:`` / ``S:`` / ``#``) is described in
docs/transcripts.md; reader.py turns a file into these events, recorder.py writes them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from smtpsh import exitcodes
from smtpsh.protocol.encoding import visible
from smtpsh.protocol.errors import SmtpshError
from smtpsh.protocol.replies import Reply

FORMAT_VERSION = 1
HEADER = f"smtpsh transcript {FORMAT_VERSION}"

# Prefixes of a transcript line (after the optional "+<ms> " time field).
CLIENT_PREFIX = "C: "
SERVER_PREFIX = "S: "
META_PREFIX = "# "

# Metadata keywords the replay acts on; any other "# ..." line is a comment.
META_KEYWORDS: dict[str, str] = {
    "smtpsh": "format header: 'smtpsh transcript 1'",
    "start": "when the recording started (ISO 8601)",
    "connect": "a connection opens to HOST:PORT",
    "reconnect": "a new connection opens to HOST:PORT",
    "tls": "TLS is established: version and cipher (before the banner: implicit TLS)",
    "timeout": "the connection was closed because a reply did not come in time",
    "closed": "the connection closed (the reason follows)",
    "stop": "the recording stopped",
    "note": "free text",
    "warning": "a warning the client showed",
    "error": "an error the client showed",
}
CONNECT_KEYWORDS = frozenset({"connect", "reconnect"})
# The connection ends: why the lines sent before have no recorded reply.
CLOSE_WORDS: dict[str, str] = {
    "timeout": "the recorded connection timed out here",
    "closed": "the recorded connection closed here",
}
CLOSE_KEYWORDS = frozenset(CLOSE_WORDS)

# An expected reply line may hold regular expressions: ~/.../ ("\/" for a slash inside).
REGEX_PART = re.compile(r"~/((?:\\.|[^\\/])*)/")


class TranscriptError(SmtpshError):
    """A transcript that cannot be replayed: says which file and which line."""

    exit_status = exitcodes.USAGE
    fault = "user"

    def __init__(self, source: str, line: int | None, message: str) -> None:
        where = f"{source}, line {line}" if line else source
        super().__init__(f"{where}: {message}")
        self.source = source
        self.line = line


@dataclass(frozen=True)
class Meta:
    """A ``# keyword value`` line."""

    line: int
    keyword: str  # lower-case first word ("" for a bare '#')
    value: str
    delay_ms: int = 0


@dataclass(frozen=True)
class Send:
    """One client line: a command, or an answer inside an AUTH exchange."""

    line: int
    text: str
    delay_ms: int = 0
    auth: bool = False  # an answer to a 334 (masked in recordings)

    @property
    def verb(self) -> str:
        return self.text.strip().split(" ", 1)[0].split(":", 1)[0].upper()


@dataclass(frozen=True)
class Message:
    """The message after a 354, as written in the file (dot-stuffed), up to the lone '.'."""

    line: int  # first line of the body (or of the '.' for an empty message)
    end_line: int  # the '.' line
    lines: tuple[str, ...]
    delays: tuple[int, ...]  # time field of each body line, then of the '.'

    def content_lines(self) -> list[str]:
        """The lines of the message itself: a leading '..' loses one dot (un-stuffing).

        A line with one leading dot is kept as it is: only a hand-written, un-stuffed file
        can hold one, and the DATA encoder stuffs it again on the way out.
        """
        return [text[1:] if text.startswith("..") else text for text in self.lines]

    def content(self) -> bytes:
        """The message as bytes for the DATA encoder (which stuffs and ends it)."""
        return b"".join(
            line.encode("utf-8", "surrogateescape") + b"\r\n" for line in self.content_lines()
        )


@dataclass(frozen=True)
class Chunk:
    """``BDAT n [LAST]`` and its n octets (RFC 3030), sent together."""

    line: int
    text: str  # the BDAT command line as written
    data: bytes
    last: bool
    delay_ms: int = 0


@dataclass(frozen=True)
class Expect:
    """One recorded server reply: the lines as written (they may hold ~/regex/)."""

    line: int
    end_line: int
    lines: tuple[str, ...]  # wire lines as in the file, e.g. "250-PIPELINING"
    reply: Reply  # the same lines parsed: code, enhanced code
    patterns: tuple[LinePattern | None, ...]  # per line: compiled when it has ~/.../
    banner: bool = False  # the greeting after a connect
    unsolicited: bool = False  # no client line was awaiting it (e.g. an idle 421)
    delay_ms: int = 0

    @property
    def code(self) -> int:
        return self.reply.code

    @property
    def enhanced(self) -> str | None:
        return self.reply.enhanced


Event = Meta | Send | Message | Chunk | Expect


@dataclass
class Transcript:
    source: str  # the file name, for messages
    dialect: str  # "smtpsh", "swaks"
    events: list[Event] = field(default_factory=list)

    @property
    def target(self) -> str | None:
        """HOST:PORT of the first connection, when the file names one."""
        for event in self.events:
            if isinstance(event, Meta) and event.keyword in CONNECT_KEYWORDS and event.value:
                return event.value.split()[0]
        return None

    def connects(self) -> list[tuple[int, str | None]]:
        """Where the replay opens a connection, in order: (line, the '# connect' line's value
        as written: HOST:PORT and how it was reached, transcript/route.py; or None for the
        default server). A dialogue before any '# connect' opens one too."""
        found: list[tuple[int, str | None]] = []
        for event in self.events:
            if isinstance(event, Meta):
                if event.keyword in CONNECT_KEYWORDS:
                    found.append((event.line, event.value.strip() or None))
            elif not found:
                found.append((event.line, None))
        return found

    @property
    def has_secrets_to_fill(self) -> bool:
        """Whether replaying needs credentials (an AUTH exchange recorded masked)."""
        from smtpsh.protocol.connection import SECRET_MASK

        return any(
            isinstance(e, Send) and SECRET_MASK in e.text and (e.auth or e.verb == "AUTH")
            for e in self.events
        )


class LinePattern:
    """An expected reply line holding ~/.../ parts, matched with RE2.

    The server writes the text being matched, so a backtracking engine would let it pick
    the running time: ``(o+)+$`` against forty 'o' and a '!' ran for ever in Python's
    ``re`` and neither --timeout nor Ctrl-C stopped it. RE2 matches in time linear in the
    text whatever the pattern; its syntax is Python's without backreferences, lookaround
    and ``\\Z`` (docs/transcripts.md says so).
    """

    __slots__ = ("_regexp", "source")

    def __init__(self, source: str, regexp: Any) -> None:
        self.source = source  # the whole-line pattern, for messages
        self._regexp = regexp

    def fullmatch(self, text: str) -> bool:
        return self._regexp.fullmatch(_utf8(text)) is not None


def _utf8(text: str) -> str:
    """RE2 takes UTF-8: bytes that came in undecodable (surrogateescape) become U+FFFD, on
    both sides of a match alike."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return text


def compile_line(text: str, source: str, line: int) -> LinePattern | None:
    """The pattern for an expected reply line holding ~/.../ parts (None: compare as text)."""
    if "~/" not in text:
        return None
    parts: list[str] = []
    pos = 0
    for m in REGEX_PART.finditer(text):
        parts.append(re.escape(_utf8(text[pos : m.start()])))
        parts.append(f"(?:{_utf8(m.group(1))})")
        pos = m.end()
    if not parts:
        return None
    parts.append(re.escape(_utf8(text[pos:])))
    pattern = "(?s)" + "".join(parts)
    import re2  # here: only a transcript with ~/.../ needs it (~3 ms to load)

    options = re2.Options()
    options.log_errors = False  # RE2 would print its own copy of the error on stderr
    try:
        return LinePattern(pattern, re2.compile(pattern, options))
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise TranscriptError(
            source,
            line,
            f"bad regular expression in ~/.../: {visible(str(reason))} (RE2 syntax: no"
            " backreferences or lookaround)",
        ) from None


def escape_literal(text: str) -> str:
    """Server text written so that a literal '~/' is not read back as a regex."""
    return text.replace("~/", "~/~\\//")
