"""The read-ahead scan: exact size on the wire, problems found before MAIL is sent."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smtpsh.compose.scan import CHUNK, TEXT_LIMIT, Scanner, read_pieces, scan
from smtpsh.protocol.encoding import DataEncoder
from smtpsh.protocol.errors import LocalProtocolError

BREAKY = st.lists(
    st.one_of(
        st.sampled_from([b"\r", b"\n", b"\r\n", b".", b"x" * 40, b"\xc3\xa9"]),
        st.binary(max_size=30).map(lambda b: b.replace(b"\0", b"")),
    ),
    max_size=60,
).map(b"".join)


def scan_in(body: bytes, step: int) -> Scanner:
    scanner = Scanner()
    for i in range(0, len(body), step):
        scanner.feed(body[i : i + step])
    scanner.finish()
    return scanner


@settings(max_examples=400, deadline=None)
@given(BREAKY, st.integers(min_value=1, max_value=9))
def test_size_and_lines_are_what_the_encoder_sends(body: bytes, step: int) -> None:
    facts = scan_in(body, step).facts
    encoder = DataEncoder(stuff=False, max_line=None)
    wire = encoder.feed(body) + encoder.finish()
    # SIZE= is the octet count without dot-stuffing (RFC 1870 §5): the BDAT form.
    assert facts.octets == len(wire) == encoder.octets
    assert facts.lines == wire.count(b"\r\n")
    assert facts.eight_bit == (not body.isascii())
    leftover = body.replace(b"\r\n", b"")  # what is not a CRLF pair is a bare CR or LF
    assert facts.bare_breaks == (b"\r" in leftover or b"\n" in leftover)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.integers(min_value=0, max_value=TEXT_LIMIT + 3), min_size=1, max_size=6),
    st.sampled_from([b"\r\n", b"\n", b"\r"]),
    st.integers(min_value=1, max_value=700),
)
def test_long_line_found_exactly_when_the_encoder_refuses(
    lengths: list[int], eol: bytes, step: int
) -> None:
    body = b"".join(b"y" * n + eol for n in lengths)
    facts = scan_in(body, step).facts
    encoder = DataEncoder(stuff=False)
    refused = False
    try:
        for i in range(0, len(body), step):
            encoder.feed(body[i : i + step])
        encoder.finish()
    except LocalProtocolError:
        refused = True
    assert (facts.long_line is not None) == refused
    if refused:
        first = next(i for i, n in enumerate(lengths) if n > TEXT_LIMIT)
        assert facts.long_line == first + 1
        assert f"line {first + 1} is over 998 octets" in (facts.problem or "")


def test_nul_is_reported_with_its_line() -> None:
    facts = scan([b"Subject: x\r\n\r\nok\r\nbad\0here\r\n"])
    assert facts.nul_line == 4
    assert facts.problem == "line 4 holds a NUL byte, which SMTP cannot carry"


def test_clean_message_has_no_problem() -> None:
    facts = scan([b"Subject: x\r\n\r\n.dot\r\n"])
    assert facts.problem is None
    assert (facts.octets, facts.lines, facts.bare_breaks) == (20, 3, False)


def test_unterminated_last_line_counts_the_crlf_the_encoder_adds() -> None:
    assert scan([b"a\r\nb"]).octets == len(b"a\r\nb\r\n")


@pytest.mark.parametrize("style", [b"\r\n", b"\n"])
def test_file_scan_across_chunk_boundaries(tmp_path: Path, style: bytes) -> None:
    # The 1 MiB read boundary falls inside a line break (CRLF) or inside a line (LF).
    lines = (b"a" * 62 + b"\r\n") * (CHUNK // 64)
    head = b"b" + lines[:-1] if style == b"\r\n" else b"y" * 500 + lines.replace(b"\r", b"")
    body = head + b"\n" + (b"z" * 70 + style) * 30000 + b"tail"
    assert body[CHUNK - 1 : CHUNK + 1] == b"\r\n" or style == b"\n"
    path = tmp_path / "m.eml"
    path.write_bytes(body)
    from_file = scan(read_pieces(path))
    assert from_file == scan([body])
    assert from_file.octets == len(DataEncoder(stuff=False, max_line=None).feed(body)) + 2
