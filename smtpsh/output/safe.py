"""The one definition of text that is unsafe to show, and the function that shows it safely.

Text from outside — a server's reply, a certificate's names, a DNS record, an NTLM
challenge, a transcript — must never drive the terminal (an ESC sequence can clear the
screen, write the clipboard with OSC 52 or plant a link with OSC 8; U+009B starts a CSI on
many terminals) nor hide or reorder what is shown (bidi overrides, zero-width characters).
Such characters are *shown escaped*, never dropped: the user must see that they were there.

This module imports nothing from smtpsh and only ``re`` from the standard library: the
sans-IO core uses it (a reply line is escaped as it is parsed), and so does every
front-end through ``smtpsh.output.printer``.
"""

from __future__ import annotations

import re

# What a character does if shown raw. CONTROL: a terminal acts on it; INVISIBLE: it hides,
# joins or reorders text (spoofing); UNDECODABLE: a byte that was not valid UTF-8.
CONTROL = "control"
INVISIBLE = "invisible"
UNDECODABLE = "undecodable"
EVERY_KIND = (CONTROL, INVISIBLE, UNDECODABLE)

# (first, last, kind, what): every code point that is escaped when shown. Python's
# str.isprintable() is False for all of them, which keeps the common case fast.
UNSAFE_RANGES: tuple[tuple[int, int, str, str], ...] = (
    (0x0000, 0x001F, CONTROL, "C0 control (ESC starts CSI, OSC, DCS; CR and BS overwrite)"),
    (0x007F, 0x007F, CONTROL, "DEL"),
    (0x0080, 0x009F, CONTROL, "C1 control (U+009B is CSI, U+009D OSC, U+0090 DCS)"),
    (0x00AD, 0x00AD, INVISIBLE, "soft hyphen"),
    (0x061C, 0x061C, INVISIBLE, "Arabic letter mark (bidi)"),
    (0x180E, 0x180E, INVISIBLE, "Mongolian vowel separator"),
    (0x200B, 0x200F, INVISIBLE, "zero-width space, joiners and direction marks"),
    (0x2028, 0x2029, INVISIBLE, "line and paragraph separators"),
    (0x202A, 0x202E, INVISIBLE, "bidi embeddings and overrides"),
    (0x2060, 0x2064, INVISIBLE, "word joiner and invisible operators"),
    (0x2066, 0x2069, INVISIBLE, "bidi isolates"),
    (0x206A, 0x206F, INVISIBLE, "deprecated format characters"),
    (0xD800, 0xDFFF, UNDECODABLE, "surrogate (U+DC80-U+DCFF: a byte that was not UTF-8)"),
    (0xFEFF, 0xFEFF, INVISIBLE, "byte-order mark (zero-width no-break space)"),
    (0xFFF9, 0xFFFB, INVISIBLE, "interlinear annotation controls"),
    (0xE0000, 0xE007F, INVISIBLE, "tag characters (invisible text)"),
)

# Characters a layout of our own may use: a line break between lines, a TAB in a table.
LAYOUT = "\n\t"


def _char_class(kinds: tuple[str, ...]) -> str:
    def one(cp: int) -> str:
        return f"\\x{cp:02x}" if cp < 0x100 else f"\\u{cp:04x}" if cp < 0x10000 else f"\\U{cp:08x}"

    ranges = [(a, b) for a, b, kind, _ in UNSAFE_RANGES if kind in kinds]
    return "".join(one(a) if a == b else f"{one(a)}-{one(b)}" for a, b in ranges)


_PATTERNS: dict[tuple[str, tuple[str, ...]], re.Pattern[str]] = {}


def _pattern(keep: str, kinds: tuple[str, ...]) -> re.Pattern[str]:
    pattern = _PATTERNS.get((keep, kinds))
    if pattern is None:
        unsafe = f"[{_char_class(kinds)}]"
        pattern = re.compile(f"(?![{re.escape(keep)}]){unsafe}" if keep else unsafe)
        _PATTERNS[keep, kinds] = pattern
    return pattern


def escaped(ch: str) -> str:
    """One unsafe character as it is shown: ``\\x1b``, ``\\u202e``, ``\\U000e0041``; a byte
    that came in undecodable (surrogateescape, U+DC80-U+DCFF) as the byte, ``\\x9b``."""
    cp = ord(ch)
    if 0xDC80 <= cp <= 0xDCFF:
        cp -= 0xDC00
    if cp < 0x100:
        return f"\\x{cp:02x}"
    return f"\\u{cp:04x}" if cp < 0x10000 else f"\\U{cp:08x}"


def safe(text: str, keep: str = "", kinds: tuple[str, ...] = EVERY_KIND) -> str:
    """``text`` from outside, safe to show: every character of UNSAFE_RANGES shown escaped,
    line breaks and TAB included unless ``keep`` names them (``keep=LAYOUT`` for text whose
    line breaks are our own layout: the printer applies that to every fragment, as the last
    line of defence). ``kinds`` narrows what is escaped (the reply parser escapes only
    CONTROL, and the printer the rest when the line is shown)."""
    if text.isprintable():
        return text
    return _pattern(keep, kinds).sub(lambda m: escaped(m.group()), text)


def is_safe(text: str, keep: str = "") -> bool:
    """No character of UNSAFE_RANGES but those in ``keep``."""
    return text.isprintable() or _pattern(keep, EVERY_KIND).search(text) is None


def invisible_names(text: str) -> list[str]:
    """What the INVISIBLE characters in ``text`` are ('bidi embeddings and overrides',
    ...), once each in order: a reply holding them is flagged, not only escaped."""
    if text.isprintable():
        return []
    found: list[str] = []
    for ch in _pattern("", (INVISIBLE,)).findall(text):
        cp = ord(ch)
        what = next(w for a, b, kind, w in UNSAFE_RANGES if kind == INVISIBLE and a <= cp <= b)
        if what not in found:
            found.append(what)
    return found
