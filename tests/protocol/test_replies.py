"""The reply parser: multi-line replies, odd servers, hostile sizes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smtpsh.protocol.errors import RemoteProtocolError
from smtpsh.protocol.replies import MAX_LINE, MAX_REPLY, Reply, ReplyParser


def parse_all(*chunks: bytes) -> list[Reply]:
    parser = ReplyParser()
    out = []
    for chunk in chunks:
        parser.feed(chunk)
        while (reply := parser.next_reply()) is not None:
            out.append(reply)
    return out


def test_single_line_with_enhanced_code() -> None:
    [reply] = parse_all(b"550 5.1.1 <x@y.test>: Recipient address rejected\r\n")
    assert reply.code == 550
    assert reply.enhanced == "5.1.1"
    assert reply.lines == ("5.1.1 <x@y.test>: Recipient address rejected",)
    assert reply.problems == ()
    assert reply.klass == 5 and not reply.ok


def test_multiline_ehlo() -> None:
    [reply] = parse_all(b"250-mx.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250 8BITMIME\r\n")
    assert reply.code == 250
    assert reply.lines == ("mx.test", "PIPELINING", "SIZE 10240000", "8BITMIME")
    assert reply.wire_lines() == [
        "250-mx.test",
        "250-PIPELINING",
        "250-SIZE 10240000",
        "250 8BITMIME",
    ]


def test_reply_split_in_one_byte_writes() -> None:
    data = b"220 mx.test ESMTP\r\n250-a\r\n250 b\r\n"
    replies = parse_all(*(data[i : i + 1] for i in range(len(data))))
    assert [r.code for r in replies] == [220, 250]
    assert replies[1].lines == ("a", "b")


def test_bare_code_line() -> None:
    [reply] = parse_all(b"354\r\n")
    assert reply.code == 354 and reply.lines == ("",)
    assert reply.wire_lines() == ["354"]


def test_mixed_codes_are_reported_not_fatal() -> None:
    [reply] = parse_all(b"250-first\r\n251 second\r\n")
    assert reply.code == 250
    assert any("different codes (250/251)" in p for p in reply.problems)


def test_garbage_line_is_a_reply_with_code_zero() -> None:
    [reply] = parse_all(b"hello there\r\n")
    assert reply.code == 0
    assert reply.lines == ("hello there",)
    assert "not an SMTP reply" in reply.problems[0]


def test_garbage_in_the_middle_of_a_reply_delivers_both() -> None:
    replies = parse_all(b"250-one\r\nnonsense\r\n")
    assert [r.code for r in replies] == [250, 0]
    assert "ended by a line that is not a reply" in replies[0].problems[0]
    assert replies[0].raw == b"250-one\r\n"


def test_non_utf8_text_is_kept_and_flagged() -> None:
    [reply] = parse_all(b"220 caf\xe9 server\r\n")
    assert reply.code == 220
    assert reply.lines == ("caf\\xe9 server",)
    assert "not valid UTF-8" in reply.problems[0]


def test_bare_lf_is_accepted_and_flagged() -> None:
    [reply] = parse_all(b"220 ok\n")
    assert reply.code == 220 and "bare LF" in reply.problems[0]


def test_missing_separator_is_flagged() -> None:
    [reply] = parse_all(b"250OK\r\n")
    assert reply.code == 250 and "no space or hyphen" in reply.problems[0]


def test_endless_line_is_a_protocol_error() -> None:
    parser = ReplyParser()
    with pytest.raises(RemoteProtocolError, match="without an end"):
        parser.feed(b"220 " + b"x" * (MAX_LINE + 10))


def test_endless_reply_is_a_protocol_error() -> None:
    parser = ReplyParser()
    line = b"250-" + b"y" * 1000 + b"\r\n"
    with pytest.raises(RemoteProtocolError, match="reply of over"):
        for _ in range(MAX_REPLY // len(line) + 2):
            parser.feed(line)


def test_discard_buffered_returns_unfinished_bytes() -> None:
    parser = ReplyParser()
    parser.feed(b"220 go ahead\r\n250 injected\r\n250-half")
    first = parser.next_reply()
    assert first is not None and first.code == 220
    assert parser.discard_buffered() == b"250 injected\r\n250-half"
    assert parser.next_reply() is None


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=200), max_size=30))
def test_any_byte_stream_never_raises_other_errors(chunks: list[bytes]) -> None:
    parser = ReplyParser()
    for chunk in chunks:
        try:
            parser.feed(chunk)
        except RemoteProtocolError:
            return
        while (reply := parser.next_reply()) is not None:
            assert reply.code == 0 or 200 <= reply.code <= 559
            assert reply.raw


def test_one_line_is_the_reply_as_written_on_one_line() -> None:
    parser = ReplyParser()
    parser.feed(b"550-5.1.1 no such\r\n550 5.1.1 user\r\n250 ok\r\n")
    multi, single = parser.next_reply(), parser.next_reply()
    assert multi is not None and single is not None
    assert multi.one_line() == "550-5.1.1 no such | 550 5.1.1 user"
    assert single.one_line() == "250 ok"
    assert Reply(421, ()).one_line() == "421"
