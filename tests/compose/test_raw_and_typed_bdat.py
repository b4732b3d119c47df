"""/raw escapes and BDAT typed by hand, without a server."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smtpsh.compose.message import ComposeError
from smtpsh.compose.raw import decode_escapes, show_bytes
from smtpsh.compose.typed_bdat import TypedChunk, parse_bdat
from smtpsh.net.client import ClientOptions, SMTPClient
from smtpsh.protocol.errors import LocalProtocolError


def test_escapes() -> None:
    assert decode_escapes(r"DATA\r\n") == b"DATA\r\n"
    assert decode_escapes(r"a\n.\nb\x00\0\t\e\\é") == b"a\n.\nb\x00\x00\t\x1b\\\xc3\xa9"
    with pytest.raises(ComposeError, match=r"unknown escape \\q at column 3"):
        decode_escapes(r"ab\q")
    with pytest.raises(ComposeError, match="two hex digits"):
        decode_escapes(r"\x4")
    with pytest.raises(ComposeError, match="lone"):
        decode_escapes("abc\\")


@given(st.binary(max_size=64))
def test_shown_bytes_type_back_to_the_same_bytes(data: bytes) -> None:
    assert decode_escapes(show_bytes(data)) == data


def test_parse_bdat() -> None:
    assert parse_bdat("BDAT 12") == (12, False)
    assert parse_bdat("bdat 0 last") == (0, True)
    assert parse_bdat("BDAT 12 LAST now") is None
    assert parse_bdat("BDAT twelve") is None


def test_typed_chunk_counts_crlf_and_cuts_at_the_size() -> None:
    chunk = TypedChunk(12, last=True)
    assert chunk.add_line("Subject") == 0  # 7 + CRLF
    assert chunk.prompt() == "bdat 9/12› "
    assert chunk.add_line("é!") == 2  # 'é' is 2 octets, '!' 1: the CRLF is cut off
    assert chunk.complete and bytes(chunk.data) == "Subject\r\né!".encode()


def test_pipelined_lines_leave_in_one_write() -> None:
    async def run() -> list[bytes]:
        client = SMTPClient(ClientOptions("127.0.0.1", 1))
        writes: list[bytes] = []

        async def write(data: bytes) -> None:
            writes.append(data)

        client._write = write  # type: ignore[method-assign]
        commands = await client.send_lines(["MAIL FROM:<a@x>", "RCPT TO:<b@y>", "RCPT TO:<c@z>"])
        assert [c.verb for c in commands] == ["MAIL", "RCPT", "RCPT"]
        assert client.conn.awaiting == 4  # the banner, then the three commands
        with pytest.raises(LocalProtocolError):
            await client.send_lines(["RCPT TO:<d@w>", "NOOP \x00"])
        assert client.conn.awaiting == 4  # nothing of a refused group is queued
        return writes

    assert asyncio.run(run()) == [b"MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nRCPT TO:<c@z>\r\n"]


def test_preview_folds_long_base64_runs_only() -> None:
    from smtpsh.shell.compose_commands import fold_encoded

    b64 = "QUJD" * 19  # 76 characters, like a base64 body line
    lines = ["Subject: x", "", *[b64] * 10, "", "short", b64, b64]
    folded = fold_encoded(lines)
    assert [t for t, _ in folded] == [
        "Subject: x", "", b64, b64, "  … 8 more lines of base64", "", "short", b64, b64,
    ]
    assert folded[4][1] == "class:annotation"
