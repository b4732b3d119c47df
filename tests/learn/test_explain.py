"""/explain: the last reply at length, with what to try next — against real Postfix
replies, the sandbox and a scripted server."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from smtpsh.protocol.replies import Reply
from smtpsh.shell.learn_commands import TEXT_NOTES, explanation, text_note
from tests.helpers.run import run_piped
from tests.helpers.scripted_server import scripted_server, smtp_like

if TYPE_CHECKING:
    from tests.conftest import PostfixEnv


def _after_explain(stdout: str) -> str:
    """What /explain printed: from the reply it repeats up to the next sent line."""
    start = stdout.index("\n", stdout.rindex("S: ", 0, stdout.index("What to try next")))
    end = stdout.find("C: ", start)
    return stdout[start : end if end >= 0 else None]


@pytest.mark.postfix
def test_explain_after_550_from_postfix(postfix: PostfixEnv, tmp_path: Path) -> None:
    result = run_piped(
        [f"{postfix.host}:{postfix.port('smtp')}"],
        "EHLO learn.smtpsh.test\nVRFY nosuchuser-4711\n/explain\nQUIT\n",
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "S: 550 5.1.1" in result.stdout
    text = _after_explain(result.stdout)
    assert "550 5.1.1 <nosuchuser-4711>" in text  # the reply it explains, first line
    assert "mailbox (the part before the @) does not exist" in text  # from codes.explain
    assert "recipient validation" in text  # from the wording: 'User unknown'
    assert "What to try next:" in text


@pytest.mark.postfix
def test_explain_after_530_starttls_first(postfix: PostfixEnv, tmp_path: Path) -> None:
    result = run_piped(
        [f"{postfix.host}:{postfix.port('submission')}"],
        "EHLO learn.smtpsh.test\nMAIL FROM:<tester@smtpsh.test>\n/explain\nQUIT\n",
        tmp_path,
    )
    assert "S: 530 5.7.0 Must issue a STARTTLS command first" in result.stdout
    text = _after_explain(result.stdout)
    # The words say STARTTLS, so the advice is STARTTLS, not AUTH (protocol/meanings.py).
    assert "STARTTLS required first" in text
    assert "Send STARTTLS, then EHLO again" in text  # what the wording adds
    assert "What to try next: Run STARTTLS (/starttls), send EHLO again" in text
    assert "This server wants AUTH" not in text


def test_explain_after_530_auth_required(tmp_path: Path) -> None:
    replies = {b"MAIL": b"530 5.7.0 Authentication required\r\n"}
    with scripted_server(smtp_like(replies)) as port:
        result = run_piped(
            [f"127.0.0.1:{port}"], "EHLO me\nMAIL FROM:<a@b.example>\n/explain\nQUIT\n", tmp_path
        )
    text = _after_explain(result.stdout)
    assert "This server wants AUTH" in text
    assert "What to try next: Try /auth" in text
    assert "STARTTLS, then EHLO again" not in text  # nothing in the text asks for TLS


def test_explain_relay_denied_on_the_sandbox(tmp_path: Path) -> None:
    result = run_piped(
        ["--sandbox"],
        "EHLO me\nMAIL FROM:<me@example.net>\nRCPT TO:<someone@example.org>\n/explain\nQUIT\n",
        tmp_path,
    )
    assert "S: 554 5.7.1 <someone@example.org>: Relay access denied" in result.stdout
    text = _after_explain(result.stdout)
    assert "relaying" in text and "open relay" in text
    assert "smtpsh relay HOST" in text


def test_explain_a_code_and_bad_arguments(tmp_path: Path) -> None:
    with scripted_server(smtp_like({})) as port:
        result = run_piped(
            [f"127.0.0.1:{port}"],
            "/explain 552 5.3.4\n/explain 421\n/explain five\nQUIT\n",
            tmp_path,
        )
    assert "552" in result.stdout and "5.3.4" in result.stdout
    assert "What to try next" in result.stdout
    assert "usage: /explain" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_explain_before_any_command_explains_the_banner(tmp_path: Path) -> None:
    with scripted_server(smtp_like({}, banner=b"554 5.7.1 go away\r\n")) as port:
        result = run_piped([f"127.0.0.1:{port}"], "/explain\n", tmp_path)
    assert "554 5.7.1 go away" in result.stdout
    assert "As a greeting it means this server will not talk to you" in result.stdout


# Real wordings -> the note that must be chosen (its first words).
WORDINGS = [
    ("554 5.7.1 <a@b.example>: Relay access denied", "The server said so in words"),
    ("550 5.7.1 Unable to relay for a@b.example", "The server said so in words"),
    ("550 5.1.1 <x@y>: Recipient address rejected: User unknown in virtual mailbox table",
     "The server checked the recipient"),
    ("550-5.1.1 The email account that you tried to reach does not exist.",
     "The server checked the recipient"),
    ("450 4.2.0 <a@b>: Recipient address rejected: Greylisted, see http://postgrey",
     "Greylisting"),
    ("504 5.5.2 <me>: Helo command rejected: need fully-qualified hostname",
     "The server does not like the name"),
    ("554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org",
     "Your client's IP address is on a DNS blocklist"),
    ("550 5.7.23 SPF validation failed", "SPF (RFC 7208)"),
    ("552 5.3.4 Message size exceeds fixed limit", "The message is larger"),
    ("554 5.5.0 Error: improper use of SMTP command pipelining", "Postfix saw a command"),
    ("250 2.0.0 Ok", None),
]


@pytest.mark.parametrize(("wording", "note"), WORDINGS)
def test_wording_notes(wording: str, note: str | None) -> None:
    code = int(wording[:3])
    reply = Reply(code=code, lines=(wording[4:],))
    found = text_note(reply)
    if note is None:
        assert found is None
    else:
        assert found is not None and found.startswith(note)
        paragraphs = explanation(reply)
        assert paragraphs[-1].startswith("What to try next")  # the note goes before it
        assert found in paragraphs


def test_every_note_is_reachable() -> None:
    """Each pattern wins for some wording: an earlier, more general one must not shadow it."""
    samples = [
        "Relay access denied", "Must issue a STARTTLS command first", "greylisted",
        "Helo command rejected", "blocked using bl.example", "SPF fail", "DMARC policy",
        "Message size exceeds", "improper use of SMTP command pipelining",
        "bare <LF> received", "Authentication required", "User unknown",
        "Sender address rejected: Domain not found", "too many errors",
    ]
    chosen = [text_note(Reply(code=550, lines=(text,))) for text in samples]
    assert chosen == [note for _, note in TEXT_NOTES]


def test_help_verb_gives_syntax_meaning_rfc_and_example(tmp_path: Path) -> None:
    result = run_piped(["--sandbox"], "help rcpt\nhelp starttls\nhelp frobnicate\nQUIT\n",
                       tmp_path)
    out = result.stdout
    assert "RCPT — add one recipient to the transaction" in out
    assert "syntax:  RCPT TO:<forward-path> [SP rcpt-parameters]" in out
    assert "defined: RFC 5321 §4.1.1.3" in out
    assert "example: RCPT TO:<" in out
    assert "needs:   the STARTTLS extension" in out  # and whether this server offers it
    assert "unknown verb 'frobnicate'" in out
    assert "C: help" not in out  # lower-case help never reaches the server
