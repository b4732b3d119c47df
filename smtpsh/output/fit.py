"""Fitting text to the terminal: lines wrapped at word boundaries, the toolbar cut with '…'.

The terminal would break a long line at its last column, mid-word ("other u" / "ndefined").
smtpsh's own text (annotations, help, the tour, warnings) is wrapped here instead, at the
width the terminal has when the line is printed, so after a resize new lines use the new
width. A continuation line hangs under the text it continues: after the indentation and a
mark ("↳ ", "· ") or, in a two-column line ("  /cert [pem]    the chain"), under the second
column. What the server sent and what was sent to it is never re-wrapped: those lines are
shown as they were on the wire.
"""

from __future__ import annotations

import re

Fragments = list[tuple[str, str]]

# Styles of wire lines: never re-wrapped (a break would look like a line of the dialogue).
_WIRE_STYLES = ("class:reply", "class:sent")
_MARK = re.compile(r"[ ]*(?:[↳·!✗⚠•*-] )?")
# A second column: text, two or more spaces, text (help rows, "  syntax:  MAIL FROM:").
_COLUMN = re.compile(r"[ ]*(?:[↳·!✗⚠•*-] )?\S(?:\S| (?! ))*[ ]{2,}(?=\S)")
MIN_TEXT = 20  # a continuation keeps at least this many columns for its text


def _hang(text: str, width: int) -> int:
    column = _COLUMN.match(text)
    if column is not None and column.end() <= width - MIN_TEXT:
        return column.end()
    mark = _MARK.match(text)
    end = mark.end() if mark else 0
    return end if end <= width - MIN_TEXT else 0


def break_points(text: str, width: int) -> list[tuple[int, int]]:
    """(start, end) of each row when ``text`` is wrapped to ``width`` columns: breaks at
    spaces (dropped), a word longer than a row is cut; rows after the first hang."""
    if len(text) <= width:
        return [(0, len(text))]
    hang = _hang(text, width)
    rows: list[tuple[int, int]] = []
    start, room = 0, width
    while len(text) - start > room:
        cut = text.rfind(" ", start + 1, start + room + 1)
        if cut <= start or not text[start:cut].strip():
            cut = start + room  # no space to break at: a word longer than the row
            rows.append((start, cut))
            start = cut
        else:
            rows.append((start, cut))
            start = cut
            while start < len(text) and text[start] == " ":
                start += 1
        room = width - hang
    if start < len(text):
        rows.append((start, len(text)))
    return rows


def _slice(line: Fragments, start: int, end: int) -> Fragments:
    out: Fragments = []
    pos = 0
    for style, text in line:
        left, right = max(start, pos), min(end, pos + len(text))
        if left < right:
            out.append((style, text[left - pos : right - pos]))
        pos += len(text)
    return out


def _wrap_line(line: Fragments, width: int) -> Fragments:
    text = "".join(t for _, t in line)
    if len(text) <= width or not line or line[0][0].startswith(_WIRE_STYLES):
        return line
    hang = " " * _hang(text, width)
    out: Fragments = []
    for i, (start, end) in enumerate(break_points(text, width)):
        end = len(text[:end].rstrip(" ")) if end > start else end
        row = _slice(line, start, max(start, end))
        if i:
            # In the style of the text it continues: no colour change at the break, so the
            # byte stream reads "part one\n  part two" (what a reader of a pty log expects).
            out.append((row[0][0] if row else "", "\n" + hang))
        out.extend(row)
    return out


def wrap_fragments(fragments: Fragments, width: int) -> Fragments:
    """``fragments`` (one or more lines) with every line longer than ``width`` wrapped."""
    out: Fragments = []
    line: Fragments = []
    for style, text in fragments:
        parts = text.split("\n")
        for i, part in enumerate(parts):
            if i:
                out.extend(_wrap_line(line, width))
                out.append(("", "\n"))
                line = []
            if part:
                line.append((style, part))
    out.extend(_wrap_line(line, width))
    return out


def wrap_text(text: str, width: int) -> list[str]:
    """Plain text wrapped as the terminal output is (tests and docs use it)."""
    return "".join(t for _, t in wrap_fragments([("", text)], width)).split("\n")


def truncate_fragments(fragments: Fragments, width: int) -> Fragments:
    """Each line of ``fragments`` cut to ``width`` columns, a cut line ending in '…'
    (the toolbar: one row, whatever the width)."""
    out: Fragments = []
    used = 0
    cut = False
    for style, text in fragments:
        for i, part in enumerate(text.split("\n")):
            if i:
                out.append((style, "\n"))
                used, cut = 0, False
            if cut or not part:
                continue
            if used + len(part) > width:
                keep = max(0, width - used - 1)
                space = part.rfind(" ", 0, keep + 1)
                kept = part[:space] if space > 0 else part[:keep]  # a word whole, or cut
                out.append((style, kept.rstrip() + "…"))
                used, cut = width, True
                continue
            out.append((style, part))
            used += len(part)
    return out
