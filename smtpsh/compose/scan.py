"""What a message is before it is sent: its exact size on the wire and what may stop it.

One pass over the bytes (any chunking, a 100 MB file streamed from disk) finds what the
envelope needs before MAIL is sent: the size after CRLF normalisation (RFC 1870 §5: what
``SIZE=`` declares), whether there are 8-bit octets (``BODY=8BITMIME``), and the problems
that must stop the transaction before it starts (a NUL, a line over 998 octets), so a
message is never refused half-way through DATA.

The counting mirrors ``DataEncoder``: CRLF, bare CR and bare LF are each one line break.
Only the cheapest bytes methods are used (``isascii``, ``in``, ``count``, ``rfind``): the
pass is part of the time a big message takes to send.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from smtpsh.protocol.encoding import MAX_TEXT_LINE, Checked, check_piece, lines_fit

CHUNK = 1 << 20  # read size for files: big enough to be fast, small enough for memory
TEXT_LIMIT = MAX_TEXT_LINE - 2  # 998 octets of text before CRLF (RFC 5321 §4.5.3.1.6)


@dataclass
class MessageFacts:
    octets: int = 0  # size with CRLF line breaks, without dot-stuffing (what SIZE= declares)
    lines: int = 0
    eight_bit: bool = False  # octets over 127: BODY=8BITMIME (or re-encoding) needed
    bare_breaks: bool = False  # bare CR or LF somewhere: sent as CRLF
    nul_line: int | None = None  # first line (1-based) holding a NUL
    long_line: int | None = None  # first line (1-based) over 998 octets

    @property
    def problem(self) -> str | None:
        """Why the message cannot be sent as it is (None: it can)."""
        if self.nul_line is not None:
            return f"line {self.nul_line} holds a NUL byte, which SMTP cannot carry"
        if self.long_line is not None:
            return (
                f"line {self.long_line} is over {TEXT_LIMIT} octets"
                f" (RFC 5321 allows {MAX_TEXT_LINE} with CRLF)"
            )
        return None


class Scanner:
    """Feed bytes in any chunking; ``finish()`` gives the facts."""

    def __init__(self) -> None:
        self.facts = MessageFacts()
        self._pending_cr = False  # a chunk ended with CR: its LF may start the next one
        self._line_len = 0  # octets of the unfinished line so far

    def feed(self, data: bytes) -> None:
        if self._pending_cr:
            data = b"\r" + data
            self._pending_cr = False
        if data.endswith(b"\r"):
            data = data[:-1]
            self._pending_cr = True
        if not data:
            return
        facts = self.facts
        if not facts.eight_bit and not data.isascii():
            facts.eight_bit = True
        if facts.nul_line is None and b"\0" in data:
            facts.nul_line = facts.lines + _breaks(data[: data.index(b"\0")]) + 1
        if b"\r" in data:
            self._feed_with_cr(data)
        else:
            self._feed_lf_only(data)

    def feed_piece(self, piece: bytes) -> Checked | None:
        """Like feed(), and if ``piece`` (a whole number of lines, see ``pieces``) needs no
        change on the wire, the proof of it: sending the same octets then costs a CRC."""
        checked = None
        if not self._pending_cr and not self._line_len:
            checked = check_piece(piece)
        if checked is None:
            self.feed(piece)
            return None
        facts = self.facts
        facts.octets += checked.length
        facts.lines += checked.lines
        facts.eight_bit = facts.eight_bit or checked.eight_bit
        return checked

    def finish(self) -> MessageFacts:
        if self._pending_cr:
            self._pending_cr = False
            self.feed(b"\n")
        if self._line_len:
            # The encoder ends an unterminated last line with CRLF.
            self.facts.octets += self._line_len + 2
            self.facts.lines += 1
            self._line_len = 0
        return self.facts

    def _feed_lf_only(self, data: bytes) -> None:
        facts = self.facts
        breaks = data.count(b"\n")
        if breaks:
            facts.bare_breaks = True
        facts.lines += breaks
        # Complete lines count their text and CRLF; the unfinished one waits for its break.
        tail = len(data) - (data.rfind(b"\n") + 1)
        if breaks:
            facts.octets += self._line_len + len(data) - tail - breaks + 2 * breaks
        if facts.long_line is None:
            self._check_lengths(data, breaks)
        self._line_len = tail if breaks else self._line_len + len(data)

    def _feed_with_cr(self, data: bytes) -> None:
        facts = self.facts
        crlf = data.count(b"\r\n")
        cr = data.count(b"\r")
        lf = data.count(b"\n")
        breaks = cr + lf - crlf
        if cr != crlf or lf != crlf:
            facts.bare_breaks = True
            # Rare: normalise this chunk so that lengths are measured as they will be sent.
            text = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        else:
            text = data.replace(b"\r\n", b"\n") if self._needs_lengths(data, crlf) else b""
        tail_start = max(data.rfind(b"\n"), data.rfind(b"\r")) + 1
        tail = len(data) - tail_start
        if breaks:
            # Octets of text in the complete lines, each then ends with CRLF.
            text_octets = tail_start - (cr + lf)
            facts.octets += self._line_len + text_octets + 2 * breaks
        facts.lines += breaks
        if facts.long_line is None and text:
            self._check_lengths(text, breaks)
        self._line_len = tail if breaks else self._line_len + len(data)

    def _needs_lengths(self, data: bytes, crlf: int) -> bool:
        """Whether a clean CRLF chunk may hold a long line (cheap check, exact answer later).

        Every run of 999 octets of a line without a long line holds a line break, so if
        each 999-octet window from the start holds one, no line is too long.
        """
        if self.facts.long_line is not None:
            return False
        return not lines_fit(data, self._line_len, TEXT_LIMIT + 1)

    def _check_lengths(self, text: bytes, breaks: int) -> None:
        """``text`` has LF line breaks only; record the first line over the limit."""
        if lines_fit(text, self._line_len, TEXT_LIMIT):
            return
        first = self._line_len
        for number, line in enumerate(text.split(b"\n")):
            if first + len(line) > TEXT_LIMIT:
                self.facts.long_line = self.facts.lines - breaks + number + 1
                return
            first = 0


def _breaks(data: bytes) -> int:
    """Line breaks in ``data`` as the encoder counts them (CRLF, CR, LF: one each)."""
    return data.count(b"\r") + data.count(b"\n") - data.count(b"\r\n")


def scan(chunks: Iterable[bytes]) -> MessageFacts:
    scanner = Scanner()
    for chunk in chunks:
        scanner.feed(chunk)
    return scanner.finish()


def read_pieces(path: Path) -> Iterator[bytes]:
    """A file in pieces of about CHUNK octets that end at a line break, read as they are
    consumed (never the whole file in memory). The scan ahead and the send read a file the
    same way, so each proof of the scan meets its piece again."""
    with path.open("rb") as handle:
        while piece := handle.read(CHUNK):
            if not piece.endswith(b"\n"):
                piece += handle.readline(2 * CHUNK)  # to the end of the line, if not too far
            yield piece
