"""Comparing a live reply with a recorded one, and the diff shown when they differ."""

from __future__ import annotations

from smtpsh.protocol.replies import Reply, ReplyParser
from smtpsh.transcript.model import Expect
from smtpsh.transcript.reader import parse
from smtpsh.transcript.replay import compare, diff_lines


def expected(*lines: str) -> Expect:
    text = "C: NOOP\n" + "".join(f"S: {line}\n" for line in lines)
    found = [e for e in parse(text).events if isinstance(e, Expect)]
    assert len(found) == 1
    return found[0]


def live(*lines: str) -> Reply:
    parser = ReplyParser()
    parser.feed("".join(f"{line}\r\n" for line in lines).encode())
    reply = parser.next_reply()
    assert reply is not None
    return reply


def test_default_compares_codes_only() -> None:
    want = expected("250 2.0.0 Ok: queued as ABC")
    assert compare(want, live("250 2.0.0 Ok: queued as XYZ"), strict=False) == []
    assert compare(want, live("250 2.1.0 Ok"), strict=False) == [
        "enhanced code 2.1.0, expected 2.0.0"
    ]
    assert compare(want, live("250 Ok"), strict=False) == ["enhanced code none, expected 2.0.0"]
    assert compare(want, live("451 4.3.0 try later"), strict=False) == [
        "got 451 4.3.0, expected 250 2.0.0"
    ]


def test_recorded_reply_without_enhanced_code_accepts_any() -> None:
    # RFC examples carry no enhanced codes; real servers add them.
    assert compare(expected("250 OK"), live("250 2.1.0 Ok"), strict=False) == []


def test_strict_compares_every_line_and_the_count() -> None:
    want = expected("250-mx.example", "250-PIPELINING", "250 CHUNKING")
    same = live("250-mx.example", "250-PIPELINING", "250 CHUNKING")
    fewer = live("250-mx.example", "250 CHUNKING")
    assert compare(want, same, strict=True) == []
    assert compare(want, fewer, strict=False) == []
    problems = compare(want, fewer, strict=True)
    assert problems[0] == "2 lines, expected 3" and "line 2 text differs" in problems


def test_regex_lines_are_checked_even_without_strict() -> None:
    want = expected("250 2.0.0 Ok: queued as ~/[0-9A-F]+/")
    assert compare(want, live("250 2.0.0 Ok: queued as 4F2A"), strict=False) == []
    assert compare(want, live("250 2.0.0 Ok: queued as 4f2a"), strict=False) == [
        "line 1 does not match its ~/regex/"
    ]
    assert compare(want, live("250 2.0.0 Ok: queued as 4F2A"), strict=True) == []


def test_literal_tilde_slash_round_trips_through_escaping() -> None:
    from smtpsh.transcript.model import escape_literal

    text = "250 2.0.0 see ~/docs/ now"
    want = expected(escape_literal(text))
    assert compare(want, live(text), strict=True) == []
    assert compare(want, live("250 2.0.0 see ~/other/ now"), strict=True) != []


def test_diff_marks_recorded_and_live_lines() -> None:
    want = expected("250-mx.example", "250-VRFY", "250 CHUNKING")
    got = live("250-mx.example", "250 CHUNKING")
    assert diff_lines(want, got) == [
        (" ", "250-mx.example"),
        ("-", "250-VRFY"),
        (" ", "250 CHUNKING"),
    ]
    refusal = diff_lines(expected("252 2.0.0 robin"), live("502 5.5.1 VRFY command is disabled"))
    assert refusal == [("-", "252 2.0.0 robin"), ("+", "502 5.5.1 VRFY command is disabled")]
