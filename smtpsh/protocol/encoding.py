"""What may leave smtpsh: command-line checks and the DATA encoder.

The DATA encoder is the smuggling defence (CVE-2023-51764 class): every bare CR and bare LF
becomes CRLF, every line starting with "." is dot-stuffed and NUL is refused, so no
end-of-data sequence other than the real one can ever reach the server.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable, Iterator

from smtpsh.output.safe import CONTROL, UNDECODABLE, safe
from smtpsh.protocol.address import address_warnings
from smtpsh.protocol.errors import LocalProtocolError
from smtpsh.protocol.record import Record

MAX_COMMAND_LINE = 512  # octets including CRLF (RFC 5321 §4.5.3.1.4)
MAX_TEXT_LINE = 1000  # octets including CRLF (RFC 5321 §4.5.3.1.6)
END_OF_DATA = b".\r\n"

# Names for the control characters people actually paste by accident.
_CONTROL_NAMES = {0: "NUL", 9: "TAB", 10: "LF", 13: "CR", 27: "ESC", 127: "DEL"}


def control_name(ch: str) -> str:
    return _CONTROL_NAMES.get(ord(ch), f"U+{ord(ch):04X}")


# C0 controls but TAB, and DEL (one pattern: every command line sent is checked).
_FORBIDDEN = re.compile("[\x00-\x08\x0a-\x1f\x7f]")


def forbidden_in_command(line: str) -> list[tuple[int, str]]:
    """Positions of characters a command may not carry: C0 controls but TAB, and DEL."""
    if _FORBIDDEN.search(line) is None:  # every line sent is checked: the usual case first
        return []
    return [(m.start(), m.group()) for m in _FORBIDDEN.finditer(line)]


def visible(text: str) -> str:
    """``text`` safe to print or store: what smtpsh.output.safe calls unsafe shown escaped
    (TAB kept), and bytes that came in undecodable (surrogateescape) as \\xNN."""
    return safe(text, keep="\t", kinds=(CONTROL, UNDECODABLE))


def escape_controls(text: str) -> str:
    """Terminal controls in ``text`` shown escaped, TAB kept (the one definition is
    smtpsh.output.safe; invisible characters are escaped when a line is shown)."""
    return safe(text, keep="\t", kinds=(CONTROL,))


def text_to_wire(text: str) -> bytes:
    """UTF-8, with bytes that came in undecodable (surrogateescape) sent back as they were;
    a character no encoding can carry (a lone surrogate) is refused in one line."""
    try:
        return text.encode("utf-8", errors="surrogateescape")
    except UnicodeEncodeError as exc:
        raise LocalProtocolError(
            f"refused: the line has a character that cannot be sent"
            f" (U+{ord(text[exc.start]):04X} at column {exc.start + 1})"
        ) from None


def octets(text: str) -> int:
    """Length on the wire (a lone surrogate, refused when sent, counts as 3)."""
    return len(text.encode("utf-8", errors="surrogatepass"))


def encode_command(line: str) -> bytes:
    """The bytes of one command line, CRLF-terminated; refuses what would smuggle."""
    bad = forbidden_in_command(line)
    if bad:
        pos, ch = bad[0]
        raise LocalProtocolError(
            f"refused: the line has a {control_name(ch)} control character at column {pos + 1}"
            " (use /raw to send bytes exactly as typed)"
        )
    return text_to_wire(line) + b"\r\n"


def command_warnings(line: str) -> list[str]:
    """Limits the line breaks that a server may enforce (sent anyway: this is a testing tool)."""
    size = octets(line) + 2
    warnings = []
    if size > MAX_COMMAND_LINE:
        warnings.append(
            f"command line is {size} octets; RFC 5321 allows {MAX_COMMAND_LINE} including CRLF"
        )
    return warnings + address_warnings(line)


def text_line_warnings(line: str) -> list[str]:
    """The same for one line typed in DATA mode, CRLF added. The dot that stuffing adds to
    a line starting with '.' does not count (RFC 5321 §4.5.3.1.6, §4.5.2)."""
    size = octets(line) + 2
    if size <= MAX_TEXT_LINE:
        return []
    return [f"message line is {size} octets; RFC 5321 allows {MAX_TEXT_LINE} including CRLF"]


class Checked(Record):
    """What ``check_piece`` proved of a piece of message: whole CRLF lines, none starting
    with '.', none over 998 octets, no NUL: octets that go on the wire as they are, for DATA
    and BDAT alike. Tied to the octets by length and CRC-32, so the same piece read again
    (a file scanned ahead for SIZE=, then streamed) is recognised and a changed one is not."""

    __slots__ = ("crc", "eight_bit", "length", "lines")

    def __init__(self, length: int, crc: int, lines: int, eight_bit: bool) -> None:
        self.length = length
        self.crc = crc
        self.lines = lines
        self.eight_bit = eight_bit


def check_piece(piece: bytes) -> Checked | None:
    """The proof that ``piece`` needs no change on the wire, or None if it does."""
    if not piece.endswith(b"\r\n") or b"\0" in piece or piece.startswith(b"."):
        return None
    lines = piece.count(b"\r\n")
    if piece.count(b"\r") != lines or piece.count(b"\n") != lines:
        return None
    if b"." in piece and b"\n." in piece:  # (the first test is much the cheaper)
        return None
    if not lines_fit(piece, 0, MAX_TEXT_LINE - 1):  # 998 octets and the CR before each LF
        return None
    return Checked(len(piece), zlib.crc32(piece), lines, not piece.isascii())


class DataEncoder:
    """Incremental encoder of a message body for DATA (dot-stuffed) or BDAT (not stuffed).

    ``feed()`` takes any bytes in any chunking and returns wire bytes; ``finish()`` returns
    the tail (CRLF if the body did not end with a line break, then ".\\r\\n" for DATA).
    """

    def __init__(self, *, stuff: bool = True, max_line: int | None = MAX_TEXT_LINE) -> None:
        self.stuff = stuff
        self.max_line = max_line
        self.lines = 0
        self.octets = 0  # octets of the message on the wire (without the final ".")
        self.saw_8bit = False
        self._at_line_start = True
        self._pending_cr = False
        self._line_len = 0

    def feed(self, data: bytes, *, long_lines: bool = False) -> bytes:
        """Wire bytes for ``data``; ``long_lines``: send lines over ``max_line`` anyway (a
        line the user typed and was warned about), else they are refused."""
        # Nothing changes until the chunk is accepted: a refused chunk leaves no trace.
        if self._pending_cr:
            data = b"\r" + data
        # A trailing CR may be the first half of a CRLF split across chunks: decide later.
        hold_cr = data.endswith(b"\r")
        if hold_cr:
            data = data[:-1]
        if b"\0" in data:
            raise LocalProtocolError("refused: the message contains a NUL byte")
        # Fast paths first (a 100 MB file is fed here): text already in CRLF form needs only
        # stuffing, text with LF only needs no CR handling. Both checks are exact.
        eol = 0  # octets a line break takes before its LF in ``text``
        if b"\r" not in data:
            text = data
        elif (crlf := data.count(b"\r\n")) == data.count(b"\r") == data.count(b"\n"):
            text, eol = data, 1
        else:
            text = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        # Lengths are measured before dot-stuffing: RFC 5321 §4.5.3.1.6 counts the 1000
        # octets of a text line without the dot added for transparency (§4.5.2).
        line_len = self._line_len_after(text, eol, long_lines)
        if self.stuff and b"." in text:
            if self._at_line_start and text.startswith(b"."):
                text = b"." + text
            text = text.replace(b"\n.", b"\n..")
        self._pending_cr = hold_cr
        if not text:
            return b""
        self.lines += crlf if eol else text.count(b"\n")
        self._line_len = line_len
        self.saw_8bit = self.saw_8bit or not data.isascii()
        self._at_line_start = text.endswith(b"\n")
        wire = text if eol else text.replace(b"\n", b"\r\n")
        self.octets += len(wire)
        return wire

    def feed_checked(self, piece: bytes, checked: Checked) -> bytes:
        """``piece`` as it is, when ``checked`` (from check_piece) holds for these very
        octets and the encoder is at a line start; otherwise it goes through feed().
        Checking costs a CRC-32 instead of the counting that feed() does."""
        if (
            self._pending_cr
            or not self._at_line_start
            or len(piece) != checked.length
            or zlib.crc32(piece) != checked.crc
        ):
            return self.feed(piece)
        self.lines += checked.lines
        self.octets += len(piece)
        self.saw_8bit = self.saw_8bit or checked.eight_bit
        return piece

    def finish(self) -> bytes:
        tail = b""
        if self._pending_cr:
            self._pending_cr = False
            tail = self.feed(b"\n")
        if not self._at_line_start:
            tail += self.feed(b"\n")
        return tail + (END_OF_DATA if self.stuff else b"")

    def _line_len_after(self, text: bytes, eol: int, long_lines: bool) -> int:
        """Octets of the unfinished line once ``text`` is sent (line breaks in ``text`` end
        with LF, ``eol`` octets of CR before it); refuses a line over the limit."""
        last = text.rfind(b"\n")
        line_len = len(text) - last - 1 if last >= 0 else self._line_len + len(text)
        if self.max_line is not None and not long_lines:
            limit = self.max_line - 2
            if line_len > limit or not lines_fit(text, self._line_len, limit + eol):
                # Refused before any count changes: the encoder stays as it was.
                raise LocalProtocolError(
                    f"refused: a line of the message is over {limit} octets"
                    f" (RFC 5321 allows {self.max_line} with CRLF); encode it or wrap it"
                )
        return line_len


def lines_fit(text: bytes, carry: int, limit: int) -> bool:
    """True if every line ended by an LF in ``text`` has at most ``limit`` octets before its
    LF, the first one continuing ``carry`` octets already counted. Jumps from line break to
    line break with rfind (one call per ~KB), so it costs little on a big message."""
    pos = 0
    budget = limit - carry
    end = len(text)
    while end - pos > budget:
        found = text.rfind(b"\n", pos, pos + budget + 1)
        if found < 0:
            return False
        pos = found + 1
        budget = limit
    return True


def encode_message(body: bytes, *, stuff: bool = True) -> bytes:
    """Whole-body convenience: wire form of ``body`` ending with the end-of-data marker."""
    encoder = DataEncoder(stuff=stuff)
    return encoder.feed(body) + encoder.finish()


def encode_stream(chunks: Iterable[bytes], *, stuff: bool = True) -> Iterator[bytes]:
    """Streaming form for large messages: never holds more than one chunk."""
    encoder = DataEncoder(stuff=stuff)
    for chunk in chunks:
        out = encoder.feed(chunk)
        if out:
            yield out
    yield encoder.finish()
