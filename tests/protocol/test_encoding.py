"""What may leave smtpsh: command checks and the DATA encoder (the smuggling defence)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smtpsh.protocol.encoding import (
    DataEncoder,
    command_warnings,
    encode_command,
    encode_message,
    text_line_warnings,
)
from smtpsh.protocol.errors import LocalProtocolError

SMUGGLING = [
    b"\n.\n",
    b"\r.\r",
    b"\r.\n",
    b"\n.\r",
    b"\n.\r\n",
    b"\r.\r\n",
    b"\r\n.\n",
    b"\r\n.\r",
    b"\r\n.\r\r\n",
]


def unstuff(wire: bytes) -> bytes:
    """What a conforming server makes of DATA bytes (RFC 5321 §4.5.2)."""
    assert wire.endswith(b"\r\n.\r\n") or wire == b".\r\n"
    body = wire[: -len(b".\r\n")]
    lines = body.split(b"\r\n")
    return b"\r\n".join(line[1:] if line.startswith(b".") else line for line in lines)


def test_command_is_crlf_terminated_and_case_kept() -> None:
    assert encode_command("mail FROM:<a@b>") == b"mail FROM:<a@b>\r\n"


@pytest.mark.parametrize(
    "bad", ["EHLO a\nMAIL", "EHLO a\rb", "NOOP \x00", "NOOP \x1b[0m", "NOOP \x7f"]
)
def test_control_characters_in_commands_are_refused(bad: str) -> None:
    with pytest.raises(LocalProtocolError, match="control character"):
        encode_command(bad)


def test_tab_is_allowed() -> None:
    assert encode_command("NOOP\tx") == b"NOOP\tx\r\n"


def test_long_command_warns() -> None:
    assert command_warnings("NOOP " + "x" * 600)
    assert command_warnings("NOOP") == []


def test_dot_stuffing_and_normalisation() -> None:
    wire = encode_message(b".first\nsecond\r\n.\r\nthird\rfourth")
    assert wire == b"..first\r\nsecond\r\n..\r\nthird\r\nfourth\r\n.\r\n"


def test_empty_body() -> None:
    assert encode_message(b"") == b".\r\n"


@pytest.mark.parametrize("sequence", SMUGGLING)
def test_smuggling_sequences_never_end_data_early(sequence: bytes) -> None:
    body = b"Subject: x\r\n\r\nbefore" + sequence + b"MAIL FROM:<evil@x>\r\nafter\r\n"
    wire = encode_message(body)
    assert wire.count(b"\r\n.\r\n") == 1 and wire.endswith(b"\r\n.\r\n")
    assert not re.search(rb"(?<!\r)\n|\r(?!\n)", wire)


def test_crlf_split_across_chunks_is_one_line_break() -> None:
    encoder = DataEncoder()
    wire = encoder.feed(b"a\r") + encoder.feed(b"\nb") + encoder.finish()
    assert wire == b"a\r\nb\r\n.\r\n"


def test_dot_at_chunk_start_after_line_break() -> None:
    encoder = DataEncoder()
    wire = encoder.feed(b"a\n") + encoder.feed(b".b\n") + encoder.finish()
    assert wire == b"a\r\n..b\r\n.\r\n"


def test_nul_is_refused() -> None:
    with pytest.raises(LocalProtocolError, match="NUL"):
        encode_message(b"a\x00b")


def test_overlong_line_is_refused() -> None:
    with pytest.raises(LocalProtocolError, match="over 998 octets"):
        encode_message(b"x" * 999 + b"\n")
    assert encode_message(b"x" * 998 + b"\n").startswith(b"x" * 998 + b"\r\n")


def test_overlong_line_across_chunks_is_refused() -> None:
    encoder = DataEncoder()
    encoder.feed(b"x" * 600)
    with pytest.raises(LocalProtocolError):
        encoder.feed(b"y" * 600)


def test_bdat_mode_does_not_stuff() -> None:
    encoder = DataEncoder(stuff=False)
    assert encoder.feed(b".a\n") + encoder.finish() == b".a\r\n"


@settings(max_examples=500, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.sampled_from([b"\r", b"\n", b"\r\n", b".", b"..", b"x", b" "]),
            st.binary(max_size=20),
        ),
        max_size=40,
    ).map(lambda parts: b"".join(parts).replace(b"\x00", b"")),
    st.integers(min_value=1, max_value=7),
)
def test_round_trip_in_any_chunking(body: bytes, step: int) -> None:
    encoder = DataEncoder(max_line=None)
    wire = (
        b"".join(encoder.feed(body[i : i + step]) for i in range(0, len(body), step))
        + encoder.finish()
    )
    # No bare CR or LF, exactly one end-of-data at the very end.
    assert not re.search(rb"(?<!\r)\n|\r(?!\n)", wire)
    assert wire.endswith(b".\r\n")
    assert (b"\r\n" + wire).count(b"\r\n.\r\n") == 1
    # The server recovers the body with line breaks normalised to CRLF.
    normalised = body.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\r\n")
    if normalised and not normalised.endswith(b"\r\n"):
        normalised += b"\r\n"
    assert unstuff(wire) == normalised


def test_a_998_octet_line_starting_with_a_dot_is_sent_stuffed() -> None:
    # RFC 5321 §4.5.3.1.6 counts the 1000 octets of a text line without the dot that
    # transparency (§4.5.2) adds: ".aaa…" of 998 octets is legal and goes out as 999 + CRLF.
    line = b"." + b"a" * 997
    assert encode_message(line + b"\n") == b"." + line + b"\r\n.\r\n"
    assert text_line_warnings(line.decode()) == []
    assert text_line_warnings("." + "a" * 998) != []  # 999 octets of text is over
    with pytest.raises(LocalProtocolError, match="over 998 octets"):
        encode_message(b"." + b"a" * 998 + b"\n")
