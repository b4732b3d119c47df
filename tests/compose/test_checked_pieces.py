"""Proofs from the scan ahead: a piece proved clean goes out unchanged for the cost of a
CRC, and a piece that changed since (or was never clean) is encoded as usual."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smtpsh.compose.message import MessageSource
from smtpsh.compose.scan import CHUNK, Scanner, scan
from smtpsh.protocol.encoding import DataEncoder, check_piece, encode_message

BARE = re.compile(rb"(?<!\r)\n|\r(?!\n)")


@pytest.mark.parametrize(
    "piece",
    [
        b"a\r\n.b\r\n",  # a line starting with '.' needs stuffing
        b".a\r\n",
        b"a\nb\r\n",  # bare LF
        b"a\rb\r\n",  # bare CR
        b"a\r\nb",  # does not end with a line break
        b"a\0\r\n",
        b"x" * 999 + b"\r\n",  # over 998 octets
    ],
)
def test_no_proof_for_what_needs_changing(piece: bytes) -> None:
    assert check_piece(piece) is None


def test_proof_of_a_clean_piece() -> None:
    piece = b"Subject: x\r\n\r\n" + b"y" * 998 + b"\r\n\xc3\xa9\r\n"
    checked = check_piece(piece)
    assert checked is not None
    assert (checked.length, checked.lines, checked.eight_bit) == (len(piece), 4, True)
    encoder = DataEncoder()
    assert encoder.feed_checked(piece, checked) == piece
    assert (encoder.lines, encoder.octets, encoder.saw_8bit) == (4, len(piece), True)
    assert encoder.finish() == b".\r\n"


def test_a_piece_changed_since_its_proof_is_encoded_as_usual() -> None:
    piece = b"one\r\ntwo\r\n"
    checked = check_piece(piece)
    assert checked is not None
    changed = b"one\n.\ntwo\r\n"[: len(piece)]  # same length, now smuggling-shaped
    encoder = DataEncoder()
    wire = encoder.feed_checked(changed, checked) + encoder.finish()
    assert not BARE.search(wire) and wire.count(b"\r\n.\r\n") == 1
    # Not at a line start: the proof does not apply either.
    encoder = DataEncoder()
    assert encoder.feed(b".start") == b"..start"
    assert encoder.feed_checked(piece, checked) == piece  # same octets, but counted by feed()
    assert encoder.lines == 2 and encoder._line_len == 0


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from([b"\r\n", b"\n", b"\r", b".", b"ab", b"x" * 700, b"\xc3\xa9", b" "]),
        max_size=80,
    ).map(b"".join),
    st.integers(min_value=1, max_value=50),
)
def test_sending_scanned_pieces_is_sending_the_message(body: bytes, step: int) -> None:
    # Pieces cut anywhere, or line by line: whole clean lines get proofs, the rest is
    # scanned (and later encoded) as usual.
    if step % 2:
        cut = body.splitlines(keepends=True)
    else:
        cut = [body[i : i + step] for i in range(0, len(body), step)]
    assert b"".join(cut) == body
    scanner = Scanner()
    checks = [scanner.feed_piece(piece) for piece in cut]
    facts = scanner.finish()
    assert facts == scan([body])
    if facts.long_line is not None:
        return  # refused before sending
    encoder = DataEncoder()
    wire = b"".join(
        encoder.feed_checked(piece, checked) if checked else encoder.feed(piece)
        for piece, checked in zip(cut, checks, strict=True)
    ) + encoder.finish()
    assert wire == encode_message(body)


def test_a_big_clean_file_is_proved_piece_by_piece(tmp_path: Path) -> None:
    path = tmp_path / "big.eml"
    line = b"A" * 76 + b"\r\n"
    path.write_bytes(b"Subject: big\r\n\r\n" + line * (3 * CHUNK // len(line)))
    source = MessageSource.from_file(path)
    assert len(source.checks) >= 3 and all(source.checks)
    assert source.facts.octets == path.stat().st_size
    assert sum(len(piece) for piece, _ in source.checked_chunks()) == path.stat().st_size
