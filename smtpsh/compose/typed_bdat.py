"""BDAT typed by hand: ``BDAT n [LAST]``, then exactly n octets typed on the next lines.

A BDAT command line is followed on the wire by exactly the announced number of octets
(RFC 3030 §2), so the shell cannot send the line alone and wait: it collects the octets
first. Each typed line counts its octets (UTF-8) plus 2 for the CRLF that Enter adds; when
the count is reached the command and the octets leave in one write. A line that goes past
the count is cut at the count (the cut is reported), so a chunk may also end mid-line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

ABORT = "/abort"  # typed alone while collecting: drop the chunk, send nothing

_BDAT = re.compile(r"^\s*BDAT\s+(\d{1,12})(\s+LAST)?\s*$", re.IGNORECASE)


def parse_bdat(line: str) -> tuple[int, bool] | None:
    """'BDAT 12 LAST' -> (12, True); None if the line is not a well-formed BDAT (it is then
    sent as typed, for the server to judge)."""
    match = _BDAT.match(line)
    if match is None:
        return None
    return int(match.group(1)), match.group(2) is not None


@dataclass
class TypedChunk:
    size: int
    last: bool
    data: bytearray = field(default_factory=bytearray)

    @property
    def remaining(self) -> int:
        return self.size - len(self.data)

    @property
    def complete(self) -> bool:
        return self.remaining <= 0

    def add_line(self, line: str) -> int:
        """Add one typed line and its CRLF; returns how many octets were cut off."""
        octets = line.encode("utf-8") + b"\r\n"
        taken = octets[: self.remaining]
        self.data += taken
        return len(octets) - len(taken)

    def prompt(self) -> str:
        return f"bdat {len(self.data)}/{self.size}› "

    @property
    def ends_in_bare_cr(self) -> bool:
        """The last octet is a CR whose LF did not fit (``BDAT 5`` and ``abcd`` typed: the
        count forgot the LF). Exim holds such a CR until it sees whether an LF follows, so it
        answers nothing; Postfix takes the chunk as it is."""
        return self.data.endswith(b"\r")

    def bare_cr_warning(self) -> str:
        return (
            f"the chunk's last octet is a bare CR (its LF did not fit in the {self.size}):"
            " a server may wait for the LF before it answers (Exim does)"
        )

    def bare_cr_hint(self) -> str:
        """What to say when no reply came to a chunk that ends in a bare CR."""
        return (
            f"all {self.size} octets BDAT announced were sent; the last was a bare CR, which"
            " the server was likely holding, waiting for an LF (Enter counts 2 octets: CR LF)"
        )
