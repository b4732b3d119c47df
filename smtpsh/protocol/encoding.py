"""What may leave smtpsh: command-line checks and the DATA encoder.

The DATA encoder is the smuggling defence (CVE-2023-51764 class): every bare CR and bare LF
becomes CRLF, every line starting with "." is dot-stuffed and NUL is refused, so no
end-of-data sequence other than the real one can ever reach the server.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from smtpsh.protocol.errors import LocalProtocolError

MAX_COMMAND_LINE = 512  # octets including CRLF (RFC 5321 §4.5.3.1.4)
MAX_TEXT_LINE = 1000  # octets including CRLF (RFC 5321 §4.5.3.1.6)
END_OF_DATA = b".\r\n"

# Names for the control characters people actually paste by accident.
_CONTROL_NAMES = {0: "NUL", 9: "TAB", 10: "LF", 13: "CR", 27: "ESC", 127: "DEL"}


def control_name(ch: str) -> str:
    return _CONTROL_NAMES.get(ord(ch), f"U+{ord(ch):04X}")


def forbidden_in_command(line: str) -> list[tuple[int, str]]:
    """Positions of characters a command may not carry: C0 controls but TAB, and DEL."""
    return [(i, ch) for i, ch in enumerate(line) if (ord(ch) < 32 and ch != "\t") or ord(ch) == 127]


def encode_command(line: str) -> bytes:
    """The bytes of one command line, CRLF-terminated; refuses what would smuggle."""
    bad = forbidden_in_command(line)
    if bad:
        pos, ch = bad[0]
        raise LocalProtocolError(
            f"refused: the line has a {control_name(ch)} control character at column {pos + 1}"
            " (use /raw to send bytes exactly as typed)"
        )
    return line.encode("utf-8") + b"\r\n"


def command_warnings(line: str) -> list[str]:
    """Limits the line breaks that a server may enforce (sent anyway: this is a testing tool)."""
    size = len(line.encode("utf-8")) + 2
    warnings = []
    if size > MAX_COMMAND_LINE:
        warnings.append(
            f"command line is {size} octets; RFC 5321 allows {MAX_COMMAND_LINE} including CRLF"
        )
    return warnings


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

    def feed(self, data: bytes) -> bytes:
        if self._pending_cr:
            data = b"\r" + data
            self._pending_cr = False
        if data.endswith(b"\r"):
            # It may be the first half of a CRLF split across chunks: decide on the next feed.
            data = data[:-1]
            self._pending_cr = True
        if not data:
            return b""
        if b"\0" in data:
            raise LocalProtocolError("refused: the message contains a NUL byte")
        if not self.saw_8bit and not data.isascii():
            self.saw_8bit = True
        text = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        if self.stuff:
            if self._at_line_start and text.startswith(b"."):
                text = b"." + text
            text = text.replace(b"\n.", b"\n..")
        self._check_lengths(text)
        self._at_line_start = text.endswith(b"\n")
        wire = text.replace(b"\n", b"\r\n")
        self.octets += len(wire)
        return wire

    def finish(self) -> bytes:
        tail = b""
        if self._pending_cr:
            self._pending_cr = False
            tail = self.feed(b"\n")
        if not self._at_line_start:
            tail += self.feed(b"\n")
        return tail + (END_OF_DATA if self.stuff else b"")

    def _check_lengths(self, text: bytes) -> None:
        segments = text.split(b"\n")
        complete = segments[:-1]  # each of these ended with a line break
        self.lines += len(complete)
        if complete:
            lengths = [self._line_len + len(complete[0])] + [len(s) for s in complete[1:]]
            self._line_len = len(segments[-1])
        else:
            lengths = []
            self._line_len += len(segments[0])
        if self.max_line is None:
            return
        limit = self.max_line - 2
        if max([*lengths, self._line_len]) > limit:
            raise LocalProtocolError(
                f"refused: a line of the message is over {limit} octets"
                f" (RFC 5321 allows {self.max_line} with CRLF); encode it or wrap it"
            )


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
