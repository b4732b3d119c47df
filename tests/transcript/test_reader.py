"""Reading transcripts (no network): the format, the dialects, and every refusal."""

from __future__ import annotations

from pathlib import Path

import pytest

from smtpsh.protocol.encoding import encode_message
from smtpsh.transcript.model import Chunk, Expect, Message, Meta, Send, TranscriptError
from smtpsh.transcript.reader import parse, read

NATIVE = """\
# smtpsh transcript 1
# start 2026-11-23T13:38:50+00:00
+13    # connect 127.0.0.1:25
+1     S: 220 mx.smtpsh.test ESMTP
+2     C: EHLO me
+0     S: 250-mx.smtpsh.test
+0     S: 250 CHUNKING
+40    C: DATA
+0     S: 354 go ahead
+5     C: Subject: hi
+0     C:
+0     C: ..dotline
+0     C: .single
+7     C: .
+1     S: 250 2.0.0 Ok: queued as ~/[0-9A-F]+/
+300   C: QUIT
+0     S: 221 2.0.0 Bye
"""


def kinds(text: str) -> list[str]:
    return [type(e).__name__ for e in parse(text).events]


def test_native_events_in_order_with_lines_and_times() -> None:
    t = parse(NATIVE, "x.smtpt")
    assert t.dialect == "smtpsh" and t.target == "127.0.0.1:25"
    assert kinds(NATIVE) == [
        "Meta", "Meta", "Meta", "Expect", "Send", "Expect", "Send", "Expect",
        "Message", "Expect", "Send", "Expect",
    ]  # fmt: skip
    banner, ehlo_reply = t.events[3], t.events[5]
    assert isinstance(banner, Expect) and banner.banner and banner.line == 4
    assert isinstance(ehlo_reply, Expect)
    assert ehlo_reply.lines == ("250-mx.smtpsh.test", "250 CHUNKING")
    assert (ehlo_reply.line, ehlo_reply.end_line, ehlo_reply.code) == (6, 7, 250)
    quit_ = t.events[10]
    assert isinstance(quit_, Send) and quit_.text == "QUIT" and quit_.delay_ms == 300


def test_message_is_unstuffed_once_and_reencodes_to_the_recorded_wire() -> None:
    message = next(e for e in parse(NATIVE).events if isinstance(e, Message))
    assert message.lines == ("Subject: hi", "", "..dotline", ".single")
    assert message.content_lines() == ["Subject: hi", "", ".dotline", ".single"]
    assert (message.line, message.end_line) == (10, 14)
    # Through the DATA encoder: stuffed once, never twice, ended by the lone dot.
    assert encode_message(message.content()) == (
        b"Subject: hi\r\n\r\n..dotline\r\n..single\r\n.\r\n"
    )


def test_regex_line_compiles_literal_parts_escaped() -> None:
    reply = [e for e in parse(NATIVE).events if isinstance(e, Expect)][3]
    pattern = reply.patterns[0]
    assert pattern is not None
    assert pattern.fullmatch("250 2.0.0 Ok: queued as 4F2A1B")
    assert not pattern.fullmatch("250 2.0.0 Ok: queued as 4f2a1b")
    assert not pattern.fullmatch("250 2.0.0 Ok. queued as 4F2A1B")  # '.' is literal
    assert reply.enhanced == "2.0.0"


def test_rfc5321_example_dialogue_indented() -> None:
    text = """\
   S: 220 foo.com Simple Mail Transfer Service Ready
   C: EHLO bar.com
   S: 250-foo.com greets bar.com
   S: 250-8BITMIME
   S: 250 HELP
   C: MAIL FROM:<Smith@bar.com>
   S: 250 OK
   C: RCPT TO:<Jones@foo.com>
   S: 250 OK
   C: RCPT TO:<Green@foo.com>
   S: 550 No such user here
   C: DATA
   S: 354 Start mail input; end with <CRLF>.<CRLF>
   C: Blah blah blah...
   C: ...etc. etc. etc.
   C: .
   S: 250 OK
   C: QUIT
   S: 221 foo.com Service closing transmission channel
"""
    t = parse(text)
    assert t.target is None
    sends = [e.text for e in t.events if isinstance(e, Send)]
    assert sends == [
        "EHLO bar.com", "MAIL FROM:<Smith@bar.com>", "RCPT TO:<Jones@foo.com>",
        "RCPT TO:<Green@foo.com>", "DATA", "QUIT",
    ]  # fmt: skip
    message = next(e for e in t.events if isinstance(e, Message))
    # Written un-stuffed in the RFC: what leaves is still one stuffing of the content.
    assert message.content_lines() == ["Blah blah blah...", "..etc. etc. etc."]
    assert encode_message(message.content()).split(b"\r\n")[1] == b"...etc. etc. etc."
    codes = [e.code for e in t.events if isinstance(e, Expect)]
    assert codes == [220, 250, 250, 250, 550, 354, 250, 221]


def test_smtpsh_piped_output_skips_annotations_and_meta_lines() -> None:
    text = """\
S: 220 mx.smtpsh.test ESMTP InFreight v2.11
  ↳ 220 service ready
C: VRFY robin
S: 252 2.0.0 robin
  ↳ 252 cannot verify user · 2.0.0 other undefined status
! expect 503: MAIL is out of order (sending anyway)
C: MAIL FROM:<a@b>
S: 503 5.5.1 Error: send HELO/EHLO first
  ⚠ reply ended by a line that is not a reply line
✗ something went wrong
· message accepted
C: QUIT
S: 221 2.0.0 Bye
"""
    t = parse(text, "piped.txt")
    assert [e.text for e in t.events if isinstance(e, Send)] == [
        "VRFY robin",
        "MAIL FROM:<a@b>",
        "QUIT",
    ]
    assert [e.code for e in t.events if isinstance(e, Expect)] == [220, 252, 503, 221]


SWAKS = """\
=== Trying 127.0.0.1:25...
=== Connected to 127.0.0.1.
<-  220 mx.smtpsh.test ESMTP InFreight v2.11
 -> EHLO vm
<-  250-mx.smtpsh.test
<-  250 STARTTLS
 -> STARTTLS
<-  220 2.0.0 Ready to start TLS
=== TLS started with cipher TLSv1.3:TLS_AES_256_GCM_SHA384:256
=== TLS no local certificate set
 ~> EHLO vm
<~  250 AUTH PLAIN LOGIN
 ~> AUTH LOGIN
<~  334 VXNlcm5hbWU6
 ~> YWxpY2U=
<~  334 UGFzc3dvcmQ6
 ~> c2FuZGJveC1wYXNz
<~  235 2.7.0 Authentication successful
 ~> AUTH PLAIN AGFsaWNlAHNhbmRib3gtcGFzcw==
<~* 503 5.5.1 Error: already authenticated
 ~> MAIL FROM:<a@b>
<~  250 2.1.0 Ok
 ~> DATA
<~  354 End data with <CR><LF>.<CR><LF>
 ~> Subject: x
 ~>
 ~> ..dot
 ~> .
<~  250 2.0.0 Ok: queued as 1234
 ~> QUIT
<~  221 2.0.0 Bye
=== Connection closed with remote host.
"""


def test_swaks_output_connect_tls_and_masked_secrets() -> None:
    t = parse(SWAKS, "run.txt")
    assert t.dialect == "swaks" and t.target == "127.0.0.1:25"
    metas = [(e.keyword, e.value) for e in t.events if isinstance(e, Meta)]
    assert metas == [("connect", "127.0.0.1:25"), ("tls", "TLSv1.3 TLS_AES_256_GCM_SHA384")]
    sends = [(e.text, e.auth) for e in t.events if isinstance(e, Send)]
    assert ("********", True) in sends
    assert ("AUTH PLAIN ********", False) in sends
    joined = " ".join(text for text, _ in sends)
    assert "YWxpY2U=" not in joined and "c2FuZGJveC1wYXNz" not in joined
    assert "AGFsaWNl" not in joined
    message = next(e for e in t.events if isinstance(e, Message))
    assert message.content_lines() == ["Subject: x", "", ".dot"]
    assert t.has_secrets_to_fill


def test_swaks_ipv6_target() -> None:
    t = parse("=== Trying ::1:25...\n<-  220 x\n -> QUIT\n<-  221 bye\n")
    assert t.target == "[::1]:25"


def test_bdat_octets_counted_with_crlf_and_a_last_line_without() -> None:
    text = "S: 220 x\nC: BDAT 12\nC: Subject: x\nS: 250 ok\nC: BDAT 4 LAST\nC: end\nS: 250 ok\n"
    with pytest.raises(TranscriptError, match=r"line 5: BDAT announces 4 octets.*hold more"):
        parse(text, "b.smtpt")
    chunks = [
        e for e in parse(text.replace("BDAT 4 LAST", "BDAT 5 LAST")).events if isinstance(e, Chunk)
    ]
    assert [(c.data, c.last) for c in chunks] == [(b"Subject: x\r\n", False), (b"end\r\n", True)]
    partial = parse("S: 220 x\nC: BDAT 3 LAST\nC: end\nS: 250 ok\n").events
    assert [e.data for e in partial if isinstance(e, Chunk)] == [b"end"]
    empty = parse("S: 220 x\nC: BDAT 0 LAST\nS: 250 ok\n").events
    assert [e.data for e in empty if isinstance(e, Chunk)] == [b""]


def test_pipelined_commands_pair_with_replies_in_order() -> None:
    text = (
        "S: 220 x\nC: EHLO a\nS: 250 PIPELINING\nC: MAIL FROM:<a@b>\nC: RCPT TO:<c@d>\n"
        "C: DATA\nS: 250 ok\nS: 550 no\nS: 554 no valid recipients\nC: QUIT\nS: 221 bye\n"
    )
    t = parse(text)
    assert not any(isinstance(e, Message) for e in t.events)
    assert [e.code for e in t.events if isinstance(e, Expect)] == [220, 250, 250, 550, 554, 221]


def test_auth_answers_are_marked_and_unmasked_ones_kept() -> None:
    text = (
        "S: 220 x\nC: AUTH LOGIN\nS: 334 VXNlcm5hbWU6\nC: YWxpY2U=\nS: 334 UGFzc3dvcmQ6\n"
        "C: ********\nS: 235 ok\n"
    )
    t = parse(text)
    answers = [(e.text, e.auth) for e in t.events if isinstance(e, Send)][1:]
    assert answers == [("YWxpY2U=", True), ("********", True)]
    assert t.has_secrets_to_fill
    assert not parse("S: 220 x\nC: EHLO a\nS: 250 ok\n").has_secrets_to_fill


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("S: 220 hi\nC: EHLO me\nX: what\n", 3, "unknown line 'X: what'"),
        ("S: 220 hi\nC: EHLO me\nS: hello there\n", 3, "3-digit reply code"),
        ("S: 220 hi\nC: EHLO me\nS: 250-a\nC: QUIT\n", 3, "not finished at line 4"),
        ("S: 220 hi\nC: EHLO me\nS: 250-a\n", 3, "not finished at the end of the file"),
        ("S: 220 hi\nC: EHLO\nS: 250-a\nS: 251 b\n", 3, "different codes"),
        ("S: 220 hi\nC: DATA\nS: 354 go\nC: body\n", 3, "no end.*truncated"),
        ("S: 220 hi\nC: DATA\nS: 354 go\nC: body\nS: 250 ok\n", 3, "server reply comes at line 5"),
        ("S: 220 hi\nC: DATA\nS: 354 go\nC: a\n# closed gone\n", 3, "closed at line 5"),
        ("S: 220 hi\nC: EHLO me\nS: 250 ~/[/\n", 3, "bad regular expression"),
        ("S: 220 hi\nC: BDAT x\n", 2, "BDAT needs a size"),
        ("S: 220 hi\nC: BDAT 10\nC: abc\nS: 250 ok\n", 2, "hold only 5"),
        ("# smtpsh transcript 9\nC: EHLO me\n", 1, "format 9 is newer"),
        ("EHLO me\n", 1, "unknown line 'EHLO me'"),
        ("<-  220 x\n -> DATA\n<-  354 go\n -> 11 lines sent\n<-  250 ok\n", 3, "354 has no end"),
    ],
)
def test_malformed_transcripts_name_file_and_line(text: str, line: int, message: str) -> None:
    with pytest.raises(TranscriptError, match=message) as caught:
        parse(text, "bad.smtpt")
    assert caught.value.line == line
    assert str(caught.value).startswith(f"bad.smtpt, line {line}: ")


def test_swaks_suppressed_data_is_explained() -> None:
    text = "<-  220 x\n -> DATA\n<-  354 go\n -> 11 lines sent\n -> .\n<-  250 ok\n"
    with pytest.raises(TranscriptError, match=r"line 4: swaks printed a summary.*-n"):
        parse(text, "run.txt")


def test_a_file_with_nothing_to_send_or_binary_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TranscriptError, match="nothing to replay"):
        parse("# only a comment\nS: 220 x\n", "c.smtpt")
    binary = tmp_path / "bin.smtpt"
    binary.write_bytes(b"C: EHLO\0\n")
    with pytest.raises(TranscriptError, match="NUL"):
        read(binary)
    with pytest.raises(TranscriptError, match="cannot read"):
        read(tmp_path / "missing.smtpt")


def test_crlf_files_and_8bit_message_bytes_survive(tmp_path: Path) -> None:
    path = tmp_path / "w.smtpt"
    path.write_bytes(
        b"S: 220 x\r\nC: DATA\r\nS: 354 go\r\nC: caf\xe9 \xc3\xa9\r\nC: .\r\nS: 250 ok\r\n"
    )
    message = next(e for e in read(path).events if isinstance(e, Message))
    assert message.content() == b"caf\xe9 \xc3\xa9\r\n"


def test_the_pygments_transcript_lexer_reads_the_format_without_errors() -> None:
    from pygments.token import Error

    from smtpsh.shell.lexer import SmtpTranscriptLexer

    tokens = list(SmtpTranscriptLexer().get_tokens(NATIVE + "+0     S: 250 see ~/~\\//\n"))
    assert not [value for token, value in tokens if token in Error]
    assert any(value == "~/[0-9A-F]+/" for _, value in tokens)
