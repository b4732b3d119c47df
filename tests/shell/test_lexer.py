"""Pygments lexers for SMTP dialogues, command lines and transcripts (smtpsh.shell.lexer)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pygments.lexers import get_lexer_by_name, get_lexer_for_filename
from pygments.styles import get_style_by_name
from pygments.token import (
    Comment,
    Error,
    Generic,
    Keyword,
    Name,
    Number,
    Operator,
    Punctuation,
    String,
    Text,
)

from smtpsh.shell.lexer import (
    REPLY_CODE_TOKENS,
    SmtpCommandLexer,
    SmtpLexer,
    SmtpTranscriptLexer,
)

Pairs = list[tuple[Any, str]]


def toks(lexer: Any, text: str) -> Pairs:
    """Non-blank (token type, text) pairs, checking the stream covers the input exactly."""
    stream = list(lexer.get_tokens_unprocessed(text))
    assert "".join(v for _, _, v in stream) == text
    pos = 0
    for index, _, value in stream:
        assert index == pos
        pos += len(value)
    return [(t, v) for _, t, v in stream if v.strip()]


def type_of(pairs: Pairs, value: str) -> Any:
    found = [t for t, v in pairs if v == value]
    assert found, f"{value!r} not a token in {pairs}"
    return found[0]


# ------------------------------------------------------------------------ reply codes


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("220 mx.example.org ESMTP", Generic.Inserted),
        ("250 2.1.0 Ok", Generic.Inserted),
        ("354 End data with <CR><LF>.<CR><LF>", Generic.Subheading),
        ("334 VXNlcm5hbWU6", Generic.Subheading),
        ("421 4.4.2 timeout", Keyword.Constant),
        ("451 4.7.1 try later", Keyword.Constant),
        ("550 5.1.1 <bob@example.org>: unknown", Generic.Error),
        ("554 5.7.1 relay denied", Generic.Error),
        ("199 not smtp", Error),
        ("699 not smtp", Error),
    ],
)
def test_reply_code_token_by_class(line: str, expected: Any) -> None:
    pairs = toks(SmtpLexer(), line + "\n")
    assert pairs[0] == (expected, line[:3])


def test_reply_classes_get_distinct_token_types() -> None:
    assert len(set(REPLY_CODE_TOKENS.values())) == 4


@pytest.mark.parametrize("style", ["default", "monokai", "solarized-dark", "native", "vim"])
def test_reply_classes_get_distinct_colours_in_common_styles(style: str) -> None:
    s = get_style_by_name(style)
    colours = {s.style_for_token(t)["color"] for t in REPLY_CODE_TOKENS.values()}
    assert len(colours) == 4 and None not in colours


def test_reply_parts() -> None:
    pairs = toks(SmtpLexer(), "550-5.1.1 <bob@example.org>: Recipient address rejected\n")
    assert type_of(pairs, "-") is Punctuation
    assert type_of(pairs, "5.1.1") is Number
    assert type_of(pairs, "<bob@example.org>") is Name.Variable
    assert type_of(pairs, ": Recipient address rejected") is Text


def test_ehlo_keywords_are_highlighted_like_parameters() -> None:
    pairs = toks(SmtpLexer(), "250-mx.example.org\n250-SIZE 10240000\n250 PIPELINING\n")
    assert type_of(pairs, "SIZE") is Name.Attribute
    assert type_of(pairs, "PIPELINING") is Name.Attribute
    assert type_of(pairs, "mx.example.org") is Text


# ---------------------------------------------------------------------------- commands


def test_command_parts() -> None:
    pairs = toks(SmtpLexer(), "MAIL FROM:<alice@example.com> SIZE=1200 SMTPUTF8\n")
    assert pairs[:3] == [(Keyword, "MAIL"), (Keyword, "FROM"), (Punctuation, ":")]
    assert type_of(pairs, "<alice@example.com>") is Name.Variable
    assert type_of(pairs, "SIZE") is Name.Attribute
    assert type_of(pairs, "=") is Operator
    assert type_of(pairs, "1200") is String
    assert type_of(pairs, "SMTPUTF8") is Name.Attribute


def test_lower_case_verbs_and_null_sender() -> None:
    pairs = toks(SmtpLexer(), "mail from:<>\nrcpt to:<b@c> NOTIFY=SUCCESS,DELAY\n")
    assert (Keyword, "mail") in pairs and (Keyword, "to") in pairs
    assert type_of(pairs, "<>") is Name.Variable
    assert type_of(pairs, "SUCCESS,DELAY") is String


def test_unknown_verb_is_plain_text() -> None:
    assert toks(SmtpLexer(), "XYZZY now\n")[0] == (Text, "XYZZY")


def test_auth_initial_response_is_not_a_parameter() -> None:
    pairs = toks(SmtpLexer(), "AUTH PLAIN AGFsaWNlAHNlY3JldA==\n")
    assert pairs == [(Keyword, "AUTH"), (Name.Constant, "PLAIN"), (String, "AGFsaWNlAHNlY3JldA==")]


# ------------------------------------------------------------------------------ shapes


def test_rfc_style_prefixes() -> None:
    pairs = toks(SmtpLexer(), "S: 220 mx ESMTP\nC: EHLO me\nS: 250 mx\n")
    assert pairs[0] == (Comment.Special, "S: ")
    assert pairs[1] == (Generic.Inserted, "220")
    assert (Comment.Special, "C: ") in pairs and (Keyword, "EHLO") in pairs


def test_swaks_shape() -> None:
    text = (
        "=== Trying 127.0.0.1:25...\n"
        "<-  220 mx ESMTP\n"
        " -> EHLO me\n"
        "<~  250 2.1.0 Ok\n"
        " ~> RCPT TO:<x@elsewhere.test>\n"
        "<** 554 5.7.1 Relay access denied\n"
        "*** Remote host closed connection unexpectedly.\n"
    )
    pairs = toks(SmtpLexer(), text)
    assert pairs[0] == (Comment.Special, "=== ")
    assert pairs[1] == (Comment.Single, "Trying 127.0.0.1:25...")
    assert type_of(pairs, "<-  ") is Comment.Special
    assert type_of(pairs, "220") is Generic.Inserted
    assert type_of(pairs, " -> ") is Comment.Special
    assert type_of(pairs, "EHLO") is Keyword
    assert type_of(pairs, "<x@elsewhere.test>") is Name.Variable
    assert type_of(pairs, "554") is Generic.Error
    assert type_of(pairs, "Remote host closed connection unexpectedly.") is Generic.Error


def test_raw_data_body_is_content_until_the_dot() -> None:
    text = (
        "DATA\n"
        "354 go ahead\n"
        "Subject: hi\n"
        "\n"
        "550 this line is body, not a reply\n"
        "MAIL FROM:<not@a.command>\n"
        ".\n"
        "250 2.0.0 queued\n"
        "QUIT\n"
    )
    pairs = toks(SmtpLexer(), text)
    assert type_of(pairs, "Subject") is Name.Tag
    assert type_of(pairs, "550 this line is body, not a reply") is Text
    assert type_of(pairs, "MAIL FROM:<not@a.command>") is Text
    assert type_of(pairs, ".") is Punctuation
    assert type_of(pairs, "250") is Generic.Inserted
    assert type_of(pairs, "QUIT") is Keyword


def test_refused_data_does_not_start_the_body() -> None:
    pairs = toks(SmtpLexer(), "DATA\n554 5.5.1 no valid recipients\nQUIT\n")
    assert type_of(pairs, "QUIT") is Keyword


def test_auth_exchange_lines_are_data_not_commands() -> None:
    text = (
        "C: AUTH LOGIN\nS: 334 VXNlcm5hbWU6\nC: YWxpY2U=\nS: 334 UGFzc3dvcmQ6\n"
        "C: c2VjcmV0\nS: 235 2.7.0 ok\nC: MAIL FROM:<a@b.c>\n"
    )
    pairs = toks(SmtpLexer(), text)
    assert type_of(pairs, "YWxpY2U=") is String
    assert type_of(pairs, "c2VjcmV0") is String
    assert type_of(pairs, "MAIL") is Keyword


def test_multiline_334_waits_for_the_last_line() -> None:
    pairs = toks(SmtpLexer(), "EHLO x\n250-x\n250 AUTH PLAIN\nNOOP\n")
    assert type_of(pairs, "NOOP") is Keyword


# -------------------------------------------------------------------- command lexer


def test_command_lexer_meta_command() -> None:
    pairs = toks(SmtpCommandLexer(), "/auth plain alice")
    assert pairs[0] == (Name.Builtin, "/auth")
    assert (Text, "plain") in pairs


def test_command_lexer_half_typed_line() -> None:
    pairs = toks(SmtpCommandLexer(), "rcpt to:<bob@exa")
    assert pairs == [
        (Keyword, "rcpt"),
        (Keyword, "to"),
        (Punctuation, ":"),
        (Name.Variable, "<bob@exa"),
    ]
    assert toks(SmtpCommandLexer(), "") == []


def test_command_lexer_has_no_dialogue_state() -> None:
    # a "354" typed at the prompt is not a reply, and "/x" is not a verb in a dialogue
    assert toks(SmtpCommandLexer(), "DATA")[0] == (Keyword, "DATA")
    assert toks(SmtpLexer(), "/auth\n")[0] == (Text, "/auth")


# ----------------------------------------------------------------------- transcripts


def test_transcript_lines() -> None:
    text = (
        "# smtpsh transcript\n"
        "+0 S: 220 ~/.*/ ESMTP\n"
        "+120 C: EHLO me\n"
        "S: 250-~/[a-z.]+/\n"
        "S: 250 PIPELINING\n"
        "C: RCPT TO:<b@c.d>\n"
        "+7 S: 550 5.1.1 ~/.*unknown.*/\n"
    )
    pairs = toks(SmtpTranscriptLexer(), text)
    assert pairs[0] == (Comment.Single, "# smtpsh transcript")
    assert type_of(pairs, "+0") is Comment.Preproc
    assert type_of(pairs, "+120") is Comment.Preproc
    assert type_of(pairs, "~/.*/") is String.Regex
    assert type_of(pairs, "~/[a-z.]+/") is String.Regex
    assert type_of(pairs, "~/.*unknown.*/") is String.Regex
    assert type_of(pairs, "EHLO") is Keyword
    assert type_of(pairs, "<b@c.d>") is Name.Variable
    assert type_of(pairs, "550") is Generic.Error
    assert type_of(pairs, "5.1.1") is Number


def test_transcript_regex_with_escaped_slash() -> None:
    pairs = toks(SmtpTranscriptLexer(), r"S: 250 ~/a\/b/ tail" + "\n")
    assert type_of(pairs, r"~/a\/b/") is String.Regex


def test_transcript_rejects_lines_of_other_shapes() -> None:
    pairs = toks(SmtpTranscriptLexer(), "EHLO me\n")
    assert pairs == [(Error, "EHLO me")]


def test_transcript_follows_data_mode() -> None:
    text = "C: DATA\nS: 354 go\nC: Subject: x\nC:\nC: QUIT is body\nC: .\nC: QUIT\n"
    pairs = toks(SmtpTranscriptLexer(), text)
    assert type_of(pairs, "QUIT is body") is Text
    assert type_of(pairs, "QUIT") is Keyword


# ------------------------------------------------------------------------- robustness


@given(
    st.one_of(
        st.text(
            alphabet=st.sampled_from(list("CS: -><~*=#+0123459.\n\r\tMAILFROM<@>xyz/")),
            max_size=200,
        ),
        st.text(max_size=200),
    )
)
def test_every_lexer_covers_any_input(text: str) -> None:
    for lexer in (SmtpLexer(), SmtpCommandLexer(), SmtpTranscriptLexer()):
        toks(lexer, text)


def test_full_pipeline_keeps_text() -> None:
    text = "S: 220 x\r\nC: EHLO y\r\n"
    out = "".join(v for _, v in SmtpLexer().get_tokens(text))
    assert out == text.replace("\r\n", "\n")


# ------------------------------------------------------------------------ registration


def test_lexers_are_registered_as_pygments_plugins() -> None:
    assert isinstance(get_lexer_by_name("smtp"), SmtpLexer)
    assert isinstance(get_lexer_by_name("smtp-transcript"), SmtpTranscriptLexer)
    assert isinstance(get_lexer_by_name("smtp-command"), SmtpCommandLexer)
    assert isinstance(get_lexer_for_filename("session.smtp"), SmtpLexer)
    assert isinstance(get_lexer_for_filename("run.smtpt"), SmtpTranscriptLexer)


def test_pygmentize_runs(tmp_path: Path) -> None:
    sample = tmp_path / "dialogue.txt"
    sample.write_text("220 mx ESMTP\nEHLO me\n250 mx\nRCPT TO:<x@y>\n550 5.7.1 denied\n")
    exe = shutil.which("pygmentize")
    cmd = [exe] if exe else [sys.executable, "-m", "pygments"]
    result = subprocess.run(
        [*cmd, "-l", "smtp", "-f", "terminal256", str(sample)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "\x1b[" in result.stdout
    # 2xx and 5xx end up in different colours
    line_220, line_550 = result.stdout.splitlines()[0], result.stdout.splitlines()[4]
    colour_220 = line_220.split("220")[0].rsplit("\x1b[", 1)[1]
    colour_550 = line_550.split("550")[0].rsplit("\x1b[", 1)[1]
    assert colour_220 != colour_550
