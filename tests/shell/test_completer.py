"""Completion offers what this server advertised and what the user typed before."""

from __future__ import annotations

from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document

from smtpsh.protocol.session import Session, State
from smtpsh.shell.completer import SmtpCompleter


def completions(session: Session, text: str) -> list[str]:
    completer = SmtpCompleter(lambda: session, lambda: "me.example.test")
    return [c.text for c in completer.get_completions(Document(text), CompleteEvent())]


def ready_session() -> Session:
    session = Session(state=State.READY, esmtp=True)
    session.extensions = {"SIZE": "1000", "DSN": "", "AUTH": "PLAIN LOGIN CRAM-MD5", "8BITMIME": ""}
    return session


def test_verbs_keep_the_users_case() -> None:
    assert "MAIL FROM:" in completions(ready_session(), "MAI")
    assert "mail from:" in completions(ready_session(), "mai")


def test_parameters_are_the_advertised_ones() -> None:
    offered = completions(ready_session(), "MAIL FROM:<a@b.test> ")
    assert "SIZE=" in offered and "RET=" in offered and "BODY=" in offered
    assert "SMTPUTF8" not in offered  # not advertised
    rcpt = completions(ready_session(), "RCPT TO:<a@b.test> ")
    assert "NOTIFY=" in rcpt and "ORCPT=" in rcpt and "SIZE=" not in rcpt
    assert completions(ready_session(), "RCPT TO:<a@b.test> NOTIFY=SU") == ["SUCCESS"]


def test_addresses_typed_before_come_back() -> None:
    session = ready_session()
    session.note_sent("VRFY <robin@smtpsh.test>")
    assert completions(session, "RCPT TO:<ro") == ["<robin@smtpsh.test>"]


def test_auth_mechanisms_for_auth_and_slash_auth() -> None:
    assert completions(ready_session(), "AUTH ") == ["PLAIN", "LOGIN", "CRAM-MD5"]
    assert completions(ready_session(), "/auth C") == ["CRAM-MD5"]


def test_ehlo_offers_the_helo_name() -> None:
    assert completions(ready_session(), "EHLO ") == ["me.example.test"]


def test_words_from_outside_with_invisible_characters_are_not_offered() -> None:
    # prompt_toolkit inserts and draws a completion as it is: a bidi override in a name
    # the server advertised, or in an address remembered from a message file, would reach
    # the terminal raw (ESC it shows as ^[, U+202E it passes through).
    session = ready_session()
    session.extensions["AUTH"] = "PLAIN X\u202eEVIL"
    session.extensions["XCLIENT"] = "NAME AD\u2066DR"
    assert completions(session, "AUTH ") == ["PLAIN"]
    assert completions(session, "/auth ") == ["PLAIN"]
    assert completions(session, "XCLIENT ") == ["NAME="]
    session.note_sent("RCPT TO:<ro\u202ebin@smtpsh.test>")
    session.note_sent("RCPT TO:<robert@smtpsh.test>")
    assert completions(session, "RCPT TO:<ro") == ["<robert@smtpsh.test>"]
    remembered = SmtpCompleter(lambda: session, lambda: "me.test",
                               lambda: ["rob\x1b[2Jin@x.test", "rosa@x.test"])
    offered = [c.text for c in remembered.get_completions(Document("MAIL FROM:<r"),
                                                          CompleteEvent())]
    assert "<rosa@x.test>" in offered and "<robert@smtpsh.test>" in offered
    assert not any("\x1b" in word or "\u202e" in word for word in offered)
