"""Wrapping and cutting smtpsh's own text to the terminal (smtpsh.output.fit), and hints
rewritten for the shell (smtpsh.shell.hints)."""

from __future__ import annotations

import pytest

from smtpsh.output.fit import truncate_fragments, wrap_fragments, wrap_text
from smtpsh.shell.hints import in_shell

ANNOTATION = "  ↳ 252 cannot verify user, but will accept and attempt delivery · 2.0.0 other"


@pytest.mark.parametrize("width", [40, 80, 120])
def test_rows_fit_and_words_stay_whole(width: int) -> None:
    text = ANNOTATION + " status" * 12
    rows = wrap_text(text, width)
    assert all(len(row) <= width for row in rows)
    assert " ".join(" ".join(rows).split()) == " ".join(text.split())  # no word cut or lost
    assert all(row.startswith("    ") for row in rows[1:])  # hang under the text after ↳


def test_help_rows_hang_under_the_second_column() -> None:
    rows = wrap_text("  /cert [pem]               the server's certificate chain in detail", 50)
    assert rows[0] == "  /cert [pem]               the server's"
    assert [row[:28].strip() for row in rows[1:]] == ["", ""]  # under the summary column
    assert [row[28:] for row in rows[1:]] == ["certificate chain in", "detail"]


def test_a_word_longer_than_a_row_is_cut_rather_than_overflowing() -> None:
    assert wrap_text("x" * 25, 10) == ["x" * 10, "x" * 10, "x" * 5]


def test_wire_lines_are_never_rewrapped() -> None:
    line = [("class:reply.2", "250 " + "word " * 40)]
    assert wrap_fragments(line, 40) == line


def test_styles_survive_the_wrap() -> None:
    fragments = [("class:warning", "! " + "alpha " * 10), ("class:meta", "omega")]
    out = wrap_fragments(fragments, 30)
    assert "".join(t for _, t in out).count("\n") == 2
    assert ("class:meta", "omega") in out
    assert all(style == "class:warning" for style, text in out if "alpha" in text)


def test_the_toolbar_is_cut_at_a_word_with_an_ellipsis() -> None:
    parts = [("", " 127.0.0.1:25 │ no TLS │ AUTH no │ ready │ next: /starttls, or MAIL FROM:<x>")]
    (_style, text), = truncate_fragments(parts, 50)
    assert len(text) <= 50 and text.endswith("…")
    assert text[:-1].split() == parts[0][1].split()[: len(text[:-1].split())]
    assert truncate_fragments(parts, 200) == parts


def test_hints_become_shell_commands_only_where_they_are_advice() -> None:
    hint = "the certificate is self-signed; trust it with --cafile FILE or look anyway with" \
        " --no-verify"
    assert in_shell(hint, implicit_tls=False) == (
        "the certificate is self-signed; trust it with /reconnect --starttls --cafile FILE or"
        " look anyway with /reconnect --starttls --no-verify"
    )
    assert "/reconnect --tls --cafile" in in_shell(hint, implicit_tls=True)
    done = "verified: NO (--no-verify, chain not checked): name mismatch"
    assert in_shell(done, implicit_tls=False) == done
    silent = "(like 465), reconnect with --tls; still waiting"
    assert in_shell(silent, implicit_tls=False) == "(like 465), /reconnect --tls; still waiting"
