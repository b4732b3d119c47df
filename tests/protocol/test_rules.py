"""Pre-send checks of typed lines (smtpsh.protocol.rules), each with the RFC it applies."""

from __future__ import annotations

import pytest

from smtpsh.protocol.commands import PARAMETER_INFO, PARAMETERS
from smtpsh.protocol.connection import NEED_DATA, ClientConnection
from smtpsh.protocol.rules import extension_status, predict_line

# The EHLO reply of the project's Postfix (scripts/postfix-setup), port 25.
POSTFIX_EHLO = (
    b"250-mx.smtpsh.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n250-ETRN\r\n"
    b"250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n"
    b"250 CHUNKING\r\n"
)


def answer(conn: ClientConnection, line: str, reply: bytes) -> None:
    conn.send_command(line)
    conn.receive_data(reply)
    while conn.next_event() is not NEED_DATA:
        pass


def session_after(*steps: tuple[str, bytes], ehlo: bytes = POSTFIX_EHLO) -> ClientConnection:
    conn = ClientConnection()
    conn.receive_data(b"220 mx.smtpsh.test ESMTP\r\n")
    conn.next_event()
    if ehlo:
        answer(conn, "EHLO me", ehlo)
    for line, reply in steps:
        answer(conn, line, reply)
    return conn


def in_mail() -> ClientConnection:
    return session_after(("MAIL FROM:<a@x.test>", b"250 2.1.0 Ok\r\n"))


def reasons(conn: ClientConnection, line: str) -> str:
    return " | ".join(f"{p.reply}: {p.reason}" for p in predict_line(conn.session, line))


# Each row of the table: (session, line, what the warning must say).
REFUSALS = [
    ("ready", "MAIL FROM:<a@b.c> NOTIFY=SUCCESS", "NOTIFY is a RCPT parameter", "RFC 3461 §4.1"),
    ("ready", "MAIL FROM:<a@b.c> ORCPT=rfc822;a@b.c", "ORCPT is a RCPT parameter",
     "RFC 3461 §4.2"),
    ("mail", "RCPT TO:<r@x.test> RET=HDRS", "RET is a MAIL parameter", "RFC 3461 §4.3"),
    ("mail", "RCPT TO:<r@x.test> SIZE=100", "SIZE is a MAIL parameter", "RFC 1870 §6"),
    ("ready", "MAIL FROM:<a@b.c> REQUIRETLS", "did not advertise REQUIRETLS",
     "RFC 5321 §4.1.1.3"),
    ("ready", "MAIL FROM:<a@b.c> MT-PRIORITY=3", "did not advertise MT-PRIORITY",
     "RFC 5321 §4.1.1.3"),
    ("ready", "MAIL FROM:<a@b.c> HOLDFOR=60", "did not advertise FUTURERELEASE",
     "RFC 5321 §4.1.1.3"),
    ("ready", "MAIL FROM:<a@b.c> BODY=BINARYMIME", "needs BINARYMIME", "RFC 3030 §3"),
    ("ready", "MAIL FROM:<a@b.c> BODY=FOO", "BODY=FOO is not one of", "RFC 6152 §2"),
    ("ready", "MAIL FROM:<a@b.c> SIZE=abc", "not a number", "RFC 1870 §6"),
    ("mail", "RCPT TO:<r@x.test> NOTIFY=NEVER,SUCCESS", "NEVER cannot be combined",
     "RFC 3461 §4.1"),
    ("mail", "RCPT TO:<r@x.test> ORCPT=root@x", "needs an address type", "RFC 3461 §4.2"),
    ("helo", "MAIL FROM:<a@b.c> SIZE=10 BODY=8BITMIME", "after HELO", "RFC 5321 §4.1.1.3"),
    ("ready", "XCLIENT NAME=x", "did not advertise XCLIENT", ""),
    ("ready", "ATRN", "did not advertise ATRN", ""),
    ("ready", "MAIL FROM:<a@b.c> SIZE=20000000", "over the 10240000 octets", "RFC 1870 §6"),
    ("ready", "MAIL FROM:<a@b.c> ENVID=a+b", "not xtext", "RFC 3461 §4.4"),
    ("ready", "MAIL FROM:<a@b.c> SMTPUTF8=yes", "takes no value", "RFC 6531 §3.4"),
    ("ready", "MAIL FROM:<a@b.c> XYZZY=1", "no ESMTP parameter smtpsh knows",
     "RFC 5321 §4.1.1.3"),
    ("mail", "RCPT TO:<>", "names no recipient", "RFC 5321 §4.1.1.3"),
    ("ready", "MAIL <a@b.c>", "the syntax is MAIL FROM:<address>", "RFC 5321 §4.1.1.2"),
    ("ready", "EHLO", "needs your host name", "RFC 5321 §4.1.1.1"),
    ("ready", "VRFY", "needs a user name", "RFC 5321 §4.1.1.6"),
    ("ready", "AUTH PLAIN", "did not advertise AUTH", ""),
    ("ready", "TURN", "deprecated", "RFC 5321 Appendix F.1"),
    ("ready", "EXPN staff", "lists VRFY in its EHLO reply but not EXPN", "RFC 5321 §4.5.1"),
    ("ready", "DATA now", "takes no argument", "RFC 5321 §4.1.1"),
]


def make(kind: str) -> ClientConnection:
    if kind == "mail":
        return in_mail()
    if kind == "helo":
        return session_after(("HELO me", b"250 mx.smtpsh.test\r\n"), ehlo=b"")
    return session_after()


@pytest.mark.parametrize(("kind", "line", "said", "rfc"), REFUSALS)
def test_a_line_the_server_refuses_is_predicted_with_its_rfc(
    kind: str, line: str, said: str, rfc: str
) -> None:
    text = reasons(make(kind), line)
    assert said in text
    assert rfc in text


ACCEPTED = [
    ("ready", "MAIL FROM:<a@b.c> SIZE=1000 BODY=8BITMIME"),
    ("ready", "MAIL FROM:<a@b.c> BODY=7bit"),
    ("ready", "MAIL FROM:<a@b.c> RET=hdrs ENVID=QQ+2B1"),
    ("ready", "MAIL FROM:<> SMTPUTF8"),
    ("ready", "MAIL FROM:<a@b.c> SIZE=10240000"),
    ("mail", "RCPT TO:<r@x.test> NOTIFY=SUCCESS,FAILURE,DELAY ORCPT=rfc822;r+40x.test"),
    ("mail", "RCPT TO:<r@x.test> NOTIFY=never"),
    ("mail", "RCPT TO:<postmaster>"),
    ("ready", "VRFY robin"),
    ("ready", "ETRN @x.test"),
    ("ready", "STARTTLS"),
    ("ready", "NOOP"),
    ("ready", "RSET"),
    ("ready", "EHLO client.example"),
    ("ready", "QUIT"),
]


@pytest.mark.parametrize(("kind", "line"), ACCEPTED)
def test_a_valid_line_in_context_is_not_warned(kind: str, line: str) -> None:
    assert reasons(make(kind), line) == ""


def test_parameters_offered_by_another_server_pass() -> None:
    conn = session_after(ehlo=(
        b"250-mx\r\n250-DSN\r\n250-MT-PRIORITY\r\n250-FUTURERELEASE 604800 2027-01-01T00:00:00Z"
        b"\r\n250-DELIVERBY 60\r\n250-RRVS\r\n250-BINARYMIME\r\n250-CHUNKING\r\n"
        b"250-NO-SOLICITING\r\n250-CHECKPOINT\r\n250-SUBMITTER\r\n250 REQUIRETLS\r\n"
    ))
    ok = (
        "MAIL FROM:<a@b.c> MT-PRIORITY=-3 HOLDFOR=60 BY=120;R BODY=BINARYMIME"
        " SOLICIT=org.example:ADV TRANSID=<12@b.c> SUBMITTER=a@b.c"
    )
    assert reasons(conn, ok) == ""
    assert "MT-PRIORITY=12 is not a priority" in reasons(conn, "MAIL FROM:<a@b.c> MT-PRIORITY=12")
    assert "not an RFC 3339 date-time" in reasons(conn, "MAIL FROM:<a@b.c> HOLDUNTIL=tomorrow")
    assert "<seconds>;R" in reasons(conn, "MAIL FROM:<a@b.c> BY=60")
    # REQUIRETLS is advertised here, but it is valid only inside TLS (RFC 8689 §2).
    assert "RFC 8689 §2" in reasons(conn, "MAIL FROM:<a@b.c> REQUIRETLS")


def test_the_parameter_table_has_what_the_rfcs_define() -> None:
    # RFC 3865 (SOLICIT), RFC 1845 (TRANSID), RFC 4405 (SUBMITTER); RFC 8689 defines
    # REQUIRETLS in §2.
    assert PARAMETER_INFO["SOLICIT"].extension == "NO-SOLICITING"
    assert PARAMETER_INFO["TRANSID"].extension == "CHECKPOINT"
    assert PARAMETER_INFO["SUBMITTER"].extension == "SUBMITTER"
    assert PARAMETER_INFO["REQUIRETLS"].rfc == "RFC 8689 §2"
    for info in PARAMETERS:
        assert info.verb in ("MAIL", "RCPT") and info.rfc.startswith("RFC")
        assert info.syntax, info.keyword


def test_a_wrong_auth_mechanism_is_504() -> None:
    conn = session_after(ehlo=b"250-mx\r\n250 AUTH PLAIN LOGIN\r\n")
    assert "504" in reasons(conn, "AUTH CRAM-MD5") and "RFC 4954 §4" in reasons(
        conn, "AUTH CRAM-MD5"
    )
    assert reasons(conn, "AUTH PLAIN") == ""


def test_help_says_how_an_extension_stands_in_this_session() -> None:
    conn = ClientConnection()
    conn.receive_data(b"220 mx ESMTP\r\n")
    conn.next_event()
    assert "no EHLO reply" in extension_status(conn.session, "CHUNKING")
    answer(conn, "EHLO me", POSTFIX_EHLO)
    assert extension_status(conn.session, "CHUNKING") == "advertised by this server"
    assert "does not list it" in extension_status(conn.session, "XCLIENT")
    answer(conn, "STARTTLS", b"220 go ahead\r\n")
    assert "TLS is already active" in extension_status(conn.session, "STARTTLS")


def test_each_problem_is_said_once_before_sending() -> None:
    from smtpsh.protocol.rules import pre_send_warnings

    conn = session_after()
    said = pre_send_warnings(conn.session, "MAIL FROM:a@b.c SIZE=")
    assert said[0].startswith("expect 501 5.1.7") and "angle brackets" in said[0]
    assert sum("angle brackets" in w for w in said) == 1
    assert sum("SIZE" in w for w in said) == 1  # the value check, not also address.py's note
    # A limit no prediction covers is still said, as a note.
    long = pre_send_warnings(conn.session, "NOOP " + "x" * 600)
    assert long == ["command line is 607 octets; RFC 5321 allows 512 including CRLF"]


def test_expn_and_help_unlisted_among_listed_base_keywords() -> None:
    # A server that names some base commands in EHLO names the ones it answers.
    aiosmtpd = session_after(ehlo=b"250-mx\r\n250-SIZE 30000000\r\n250 HELP\r\n")
    assert "lists HELP in its EHLO reply but not EXPN" in reasons(aiosmtpd, "EXPN alice")
    assert reasons(aiosmtpd, "VRFY alice") == ""  # aiosmtpd answers VRFY unlisted
    exim = session_after(ehlo=b"250-mx\r\n250-VRFY\r\n250-EXPN\r\n250 HELP\r\n")
    assert reasons(exim, "EXPN alice") == "" and reasons(exim, "HELP") == ""
    bare = session_after(ehlo=b"250-mx\r\n250 PIPELINING\r\n")
    assert reasons(bare, "EXPN alice") == ""  # nothing listed: nothing to go by


def family(banner: bytes, ehlo: bytes = b"250-mx\r\n250 HELP\r\n") -> ClientConnection:
    conn = ClientConnection()
    conn.receive_data(banner)
    conn.next_event()
    answer(conn, "EHLO me", ehlo)
    return conn


def test_a_family_known_by_its_banner_has_its_habits_predicted() -> None:
    exim = family(b"220 mx.exim.test ESMTP Exim 4.96 Sun, 06 Dec 2026\r\n")
    assert "Exim (by its banner) asks VRFY for user@domain" in reasons(exim, "VRFY alice")
    assert reasons(exim, "VRFY alice@exim.test") == ""
    smtpd = family(b"220 mx.opensmtpd.test ESMTP OpenSMTPD\r\n")
    assert "takes one EHLO/HELO a session" in reasons(smtpd, "EHLO again")
    assert "RFC 5321 §4.1.4 allows more" in reasons(smtpd, "EHLO again")
    assert "refuses an argument to NOOP" in reasons(smtpd, "NOOP hello")
    assert reasons(smtpd, "NOOP") == "" and reasons(smtpd, "RSET") == ""
    # The same lines to a server whose banner names no family: nothing to predict.
    anon = family(b"220 mx.test ESMTP\r\n")
    assert reasons(anon, "VRFY alice") == "" and reasons(anon, "EHLO again") == ""


# --- what the reply proves of the prediction (outcome_note) ---------------------------------


def outcome(conn: ClientConnection, line: str, reply: bytes) -> str | None:
    from smtpsh.protocol.replies import ReplyParser
    from smtpsh.protocol.rules import outcome_note

    parser = ReplyParser()
    parser.feed(reply)
    parsed = parser.next_reply()
    assert parsed is not None
    return outcome_note(predict_line(conn.session, line), parsed)


# OpenSMTPD's EHLO reply on the interop server (scripts/setup-interop).
OPENSMTPD_EHLO = (
    b"250-mx.opensmtpd.test Hello me [127.0.0.1], pleased to meet you\r\n250-8BITMIME\r\n"
    b"250-ENHANCEDSTATUSCODES\r\n250-SIZE 36700160\r\n250-DSN\r\n250-STARTTLS\r\n250 HELP\r\n"
)


def test_a_refusal_predicted_and_accepted_is_said_to_have_missed() -> None:
    # OpenSMTPD takes a MAIL whose SIZE is over the limit it advertised.
    conn = session_after(ehlo=OPENSMTPD_EHLO)
    note = outcome(conn, "MAIL FROM:<a@b.test> SIZE=99999999999", b"250 2.0.0 Ok\r\n")
    assert note == (
        "predicted 552 (SIZE=99999999999 is over the 36700160 octets the server advertised"
        " (RFC 1870 §6)); the server answered 250: this server is lenient here"
    )


def test_each_missed_prediction_is_named_in_the_one_line() -> None:
    # Haraka takes a nested MAIL carrying RCPT's NOTIFY: two predictions, both wrong.
    conn = session_after(("MAIL FROM:<a@x.test>", b"250 2.1.0 Ok\r\n"))
    note = outcome(conn, "MAIL FROM:<a@x.test> NOTIFY=NEVER", b"250 sender OK\r\n")
    assert note is not None and note.startswith("predicted 503 and 555 (MAIL is out of order")
    assert "NOTIFY is a RCPT parameter" in note and "answered 250" in note


def test_a_starttls_predicted_refused_and_answered_220_missed() -> None:
    conn = session_after(("HELO me", b"250 mx\r\n"), ehlo=b"")
    note = outcome(conn, "STARTTLS", b"220 2.0.0 Ready to start TLS\r\n")
    assert note is not None and note.startswith("predicted 502 (") and "answered 220" in note


def test_a_prediction_that_came_true_adds_nothing() -> None:
    conn = in_mail()
    assert outcome(conn, "MAIL FROM:<b@x.test>", b"503 5.5.1 Error: nested MAIL\r\n") is None
    # A refusal of another kind than predicted still bears the warning out: refused.
    assert outcome(conn, "MAIL FROM:<b@x.test>", b"451 4.3.0 try later\r\n") is None


def test_a_syntax_or_order_refusal_nobody_predicted_is_said() -> None:
    conn = session_after()
    note = outcome(conn, "NOOP", b"503 5.5.1 Error: polite servers say hello\r\n")
    assert note == ("not predicted: smtpsh's checks found nothing wrong with this line here;"
                    " the server's 503 says otherwise")
    # An unknown user or a policy refusal is no rule of the dialogue: nothing to say.
    conn = in_mail()
    assert outcome(conn, "RCPT TO:<nobody@x.test>", b"550 5.1.1 unknown user\r\n") is None
    assert outcome(conn, "RCPT TO:<b@x.test>", b"250 2.1.5 Ok\r\n") is None


def test_a_prediction_the_server_proved_wrong_is_not_expected_again() -> None:
    # Haraka took a nested MAIL: the next nested MAIL was again "expect 503 … (sending
    # anyway)", and again said "lenient" after its 250.
    from smtpsh.protocol.replies import Reply
    from smtpsh.protocol.rules import disproved, pre_send_check, predict_typed

    conn = session_after(("MAIL FROM:<a@x.test>", b"250 sender OK\r\n"))
    line = "MAIL FROM:<b@x.test>"
    predictions, warnings = pre_send_check(conn.session, line)
    assert [p.reply[:3] for p in predictions] == ["503"]
    assert warnings[0].startswith("expect 503 ")
    assert predict_typed(conn.session, line) is not None
    # A refusal proves nothing wrong: nothing to remember.
    assert disproved(predictions, Reply(503, ("5.5.1 nested MAIL",))) == []
    conn.session.note_disproved(disproved(predictions, Reply(250, ("sender OK",))))
    again, warnings = pre_send_check(conn.session, line)
    assert again == []
    assert warnings == ["this server took the same earlier in this session, though 503 was"
                        f" predicted ({predictions[0].reason})"]
    assert predict_typed(conn.session, line) is None
    # Another reason is still predicted: only what was seen is known.
    other, _ = pre_send_check(conn.session, "MAIL FROM:<b@x.test> SIZE=99999999999")
    assert [p.reply[:3] for p in other] == ["552"]


def test_a_miss_the_reply_s_gloss_already_says_gets_no_second_line() -> None:
    # Haraka takes a second AUTH: the gloss under its 235 says "a second AUTH accepted,
    # though RFC 4954 §4 says it must be refused (503)"; the line after it said the same.
    from smtpsh.protocol.replies import Reply
    from smtpsh.protocol.rules import outcome_note

    conn = session_after(("AUTH PLAIN AGFsaWNlAHNlY3JldA==", b"235 2.7.0 ok\r\n"))
    predictions = predict_line(conn.session, "AUTH PLAIN AGFsaWNlAHNlY3JldA==")
    assert [p.reply[:3] for p in predictions] == ["503"] and predictions[0].glossed
    accepted = Reply(235, ("2.7.0 Authentication successful",))
    assert outcome_note(predictions, accepted, glosses_shown=True) is None
    # Without the gloss on screen (--no-annotate) the line is the only one that says it.
    said = outcome_note(predictions, accepted, glosses_shown=False)
    assert said is not None and said.startswith("predicted 503 (RFC 4954 §4")
