"""A reply's meaning in context: the command it answers, its codes and its text."""

from __future__ import annotations

import pytest

from smtpsh.protocol.codes import annotate, explain
from smtpsh.protocol.meanings import MEANINGS, meaning_of


def test_postfix_relay_denied_is_a_refused_relay_not_a_retry() -> None:
    text = "4.7.1 <robin@inlanefreight.htb>: Relay access denied"
    line = annotate(454, "4.7.1", verb="RCPT", text=text)
    assert line.startswith("454 relaying refused")
    assert "TLS" not in line and "temporary" not in line
    advice = explain(454, "4.7.1", verb="RCPT", text=text)
    assert "Retrying unchanged will not help" in advice
    assert "Retry in a few minutes" not in advice and "Retry later" not in advice
    # Without the context the code keeps its generic reading.
    assert "TLS or authentication" in annotate(454, "4.7.1")


def test_501_to_vrfy_is_about_the_argument() -> None:
    text = "5.1.3 <zzy>: recipient address must contain a domain"
    assert "syntax error in the argument" in annotate(501, "5.1.3", verb="VRFY", text=text)
    assert "Never count 501 as 'no such user'" in explain(501, "5.1.3", verb="VRFY", text=text)
    assert "syntax error in the argument" not in annotate(501, "5.1.3", verb="MAIL", text=text)


@pytest.mark.parametrize("text", [
    "Too many nonmail commands",
    "5.7.0 Too many errors",
    "4.7.0 too many connections from your host",
])
def test_too_many_is_a_limit_whatever_the_verb(text: str) -> None:
    for code in (421, 554):
        assert "limit of this connection" in annotate(code, None, verb="VRFY", text=text)
    assert "/reconnect" in explain(554, None, verb="VRFY", text=text)


def test_etrn_251_means_nothing_waiting_not_forwarding() -> None:
    # RFC 1985 §5: 251 to ETRN means no messages are waiting (251 to RCPT: will forward).
    assert "no messages are waiting" in annotate(251, None, verb="ETRN", text="OK")
    assert "will forward" in annotate(251, None, verb="RCPT", text="OK")


def test_starttls_demanded_before_mail() -> None:
    text = "Must issue a STARTTLS command first"
    assert "STARTTLS required first" in annotate(530, None, verb="MAIL", text=text)
    # A refused STARTTLS itself is not "STARTTLS required".
    assert "required first" not in annotate(454, "4.7.0", verb="STARTTLS",
                                            text="4.7.0 STARTTLS not available")


def test_greylisting_is_the_one_4xx_where_waiting_helps() -> None:
    text = "4.2.0 <a@b>: Recipient address rejected: Greylisted, see http://postgrey"
    assert "Retry the same transaction" in explain(450, "4.2.0", verb="RCPT", text=text)


def test_a_554_banner_waits_for_quit() -> None:
    assert "waits for QUIT" in annotate(554, "5.7.1", verb="<banner>", text="5.7.1 go away")


@pytest.mark.parametrize("code, text", [
    (250, "Not implemented"),  # Haraka 3.3
    (214, "HELP not available"),
    (250, "5.5.1 Command unimplemented"),
    (211, "Help is disabled on this server"),
])
def test_a_success_code_to_help_whose_text_denies_it_is_not_called_completed(
    code: int, text: str
) -> None:
    line = annotate(code, None, verb="HELP", text=text)
    assert "completed" not in line and "help message" not in line, line
    assert line == f"{code} a success code, but the text says HELP is not implemented: no help" \
                   " text here"
    assert "RFC 5321 §4.3.2" in explain(code, None, verb="HELP", text=text)
    # The same text to another command keeps that command's own reading.
    assert annotate(250, None, verb="NOOP", text=text) == "250 requested action completed"


def test_help_text_under_250_and_214_is_help() -> None:
    text = "Supported commands: AUTH DATA EHLO HELO HELP MAIL NOOP QUIT RCPT RSET"  # aiosmtpd
    assert annotate(250, None, verb="HELP", text=text).startswith("250 help text, under 250")
    assert annotate(214, None, verb="HELP", text="See RFC 5321") == "214 help message"


def test_every_row_is_reachable_and_says_what_to_do() -> None:
    for meaning in MEANINGS:
        assert meaning.gloss and meaning.what and meaning.next
        assert meaning.gloss == meaning.gloss.strip() and "\n" not in meaning.gloss
    assert meaning_of(None, 454, "4.7.1", "Relay access denied") is None


@pytest.mark.parametrize(("code", "enhanced", "text"), [
    (550, None, "Message too big!"),  # Haraka 3.3, MAIL … SIZE= over its limit
    (552, "5.3.4", "5.3.4 Message size exceeds fixed limit"),  # Postfix
    (552, None, "Error: message exceeds fixed maximum message size 30000000"),  # smtp-server
    (552, None, "Message size exceeds maximum permitted"),  # Exim
])  # fmt: skip
def test_a_size_refusal_at_mail_is_not_about_a_mailbox(code: int, enhanced: str | None,
                                                       text: str) -> None:
    line = annotate(code, enhanced, verb="MAIL", text=text)
    assert line.startswith(f"{code} the message is over the server's size limit"), line
    assert "mailbox unavailable" not in line
    assert "smaller message" in explain(code, enhanced, verb="MAIL", text=text)


def test_a_registry_only_code_with_another_enhanced_code_keeps_no_registry_meaning() -> None:
    # OpenSMTPD 6.8 answers an unknown user at its own domain `524 5.2.4 Mailing list
    # expansion problem`. 524 is in the registry only as X.7.11's sample code ("encryption
    # required for requested authentication mechanism"): nothing to do with this reply.
    text = "5.2.4 Mailing list expansion problem: <nobody@opensmtpd.test>"
    # After DATA no row of meanings.py applies: the code's own reading, without the registry's.
    line = annotate(524, "5.2.4", verb="DATA", text=text)
    assert "encryption" not in line
    assert line == ("524 permanent failure (no RFC defines 524 by itself; the enhanced code"
                    " says what) · 5.2.4 mailing list expansion problem")
    # After RCPT, what it means there (OpenSMTPD's unknown user), still no encryption.
    line = annotate(524, "5.2.4", verb="RCPT", text=text)
    assert "encryption" not in line
    assert line.startswith("524 the address expands to no mailbox here (OpenSMTPD's")
    assert "STARTTLS" not in explain(524, "5.2.4", verb="RCPT", text=text)
    # With its own enhanced code, or none, the registry's reading stands.
    assert "encryption required" in annotate(524, "5.7.11")
    assert "encryption required" in annotate(524, None)
    assert "STARTTLS" in explain(524, "5.7.11")
