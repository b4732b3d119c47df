"""The session state machine: transitions on replies, predictions, extensions."""

from __future__ import annotations

import pytest

from smtpsh.output.dialogue import annotation_of
from smtpsh.protocol.connection import NEED_DATA, ClientConnection, ReplyEvent
from smtpsh.protocol.meanings import AUTHENTICATED
from smtpsh.protocol.session import State


def feed(conn: ClientConnection, data: bytes) -> list[ReplyEvent]:
    conn.receive_data(data)
    events = []
    while (event := conn.next_event()) is not NEED_DATA:
        assert isinstance(event, ReplyEvent)
        events.append(event)
    return events


def greeted() -> ClientConnection:
    conn = ClientConnection()
    feed(conn, b"220 mx.test ESMTP\r\n")
    return conn


def ready() -> ClientConnection:
    conn = greeted()
    conn.send_command("EHLO me")
    feed(
        conn,
        b"250-mx.test\r\n250-PIPELINING\r\n250-SIZE 1000\r\n"
        b"250-AUTH PLAIN LOGIN\r\n250 STARTTLS\r\n",
    )
    return conn


def test_banner_greets_and_names_the_server() -> None:
    conn = ClientConnection()
    assert conn.session.state is State.CONNECTING
    [event] = feed(conn, b"220 mx.test ESMTP Postfix\r\n")
    assert event.command is not None and event.command.verb == "<banner>"
    assert conn.session.state is State.GREETED
    assert conn.session.server_name == "mx.test"


def test_554_banner_refuses_service_but_waits_for_quit() -> None:
    # RFC 5321 §3.1: after a 554 greeting the server MUST wait for QUIT and SHOULD answer
    # any other command with 503; the connection is not closed by the banner itself.
    conn = ClientConnection()
    feed(conn, b"554 no service\r\n")
    assert conn.session.state is State.REFUSED
    assert conn.session.predict("QUIT") is None
    prediction = conn.session.predict("EHLO")
    assert prediction is not None and prediction.reply.startswith("503")
    assert "RFC 5321 §3.1" in prediction.reason
    conn.send_command("QUIT")
    feed(conn, b"221 bye\r\n")
    assert conn.session.state is State.CLOSED


def test_refused_ehlo_keeps_the_known_extensions() -> None:
    # RFC 5321 §4.1.4: a refused EHLO leaves the server in the state it was in.
    conn = ready()
    conn.send_command("EHLO again")
    feed(conn, b"550 5.7.1 go away\r\n")
    assert conn.session.state is State.READY
    assert conn.session.advertises("PIPELINING") and conn.session.esmtp


def test_a_second_auth_after_success_is_predicted_503() -> None:
    # RFC 4954 §4: after a successful AUTH the server MUST reject further AUTH with 503.
    conn = ready()
    assert conn.session.predict("AUTH") is None
    conn.send_command("AUTH PLAIN AGEAYg==")
    feed(conn, b"235 2.7.0 ok\r\n")
    prediction = conn.session.predict("AUTH")
    assert prediction is not None and prediction.reply.startswith("503")
    assert "RFC 4954 §4" in prediction.reason
    # Worded as what the RFC says, not as what every server does (Haraka accepts it).
    assert "may still answer otherwise" in prediction.reason


def test_a_second_auth_accepted_anyway_is_glossed_as_such() -> None:
    # Haraka answers a second AUTH with 334 challenges and 235: neither is "authentication
    # succeeded" nor "send the next line" as for a first AUTH.
    conn = ready()
    conn.send_command("AUTH PLAIN AGEAYg==")
    [first] = feed(conn, b"235 2.7.0 ok\r\n")
    assert first.command is not None and first.command.when == frozenset()
    assert annotation_of(first.reply, first.command.verb, first.command.when).startswith(
        "235 authentication succeeded")
    conn.send_command("AUTH LOGIN")
    [challenge] = feed(conn, b"334 VXNlcm5hbWU6\r\n")
    conn.send_command("ZGF2ZQ==")
    [again] = feed(conn, b"235 2.7.0 ok\r\n")
    for event, gloss in (
        (challenge, "334 the server goes on with a second AUTH, though RFC 4954 §4 says it"
                    " must refuse it (503) · decoded: 'Username:'"),
        (again, "235 a second AUTH accepted, though RFC 4954 §4 says it must be refused"
                " (503); which user is in force now, the reply does not say · 2.7.0 other or"
                " undefined security status"),
    ):
        assert event.command is not None and AUTHENTICATED in event.command.when
        assert annotation_of(event.reply, event.command.verb, event.command.when) == gloss


def test_ehlo_learns_extensions() -> None:
    conn = ready()
    session = conn.session
    assert session.state is State.READY and session.esmtp
    assert session.extensions == {
        "PIPELINING": "",
        "SIZE": "1000",
        "AUTH": "PLAIN LOGIN",
        "STARTTLS": "",
    }
    assert session.auth_mechanisms == ["PLAIN", "LOGIN"]


def test_full_transaction() -> None:
    conn = ready()
    conn.send_command("MAIL FROM:<a@x.test>")
    feed(conn, b"250 2.1.0 Ok\r\n")
    assert conn.session.state is State.MAIL and conn.session.mail_from == "a@x.test"
    conn.send_command("RCPT TO:<b@y.test>")
    feed(conn, b"250 2.1.5 Ok\r\n")
    assert conn.session.state is State.RCPT and conn.session.recipients == ["b@y.test"]
    conn.send_command("DATA")
    feed(conn, b"354 go\r\n")
    assert conn.session.state is State.DATA and conn.in_data
    wire = conn.send_data(b"Subject: x\n\n.dot\n") + conn.end_data()
    assert wire == b"Subject: x\r\n\r\n..dot\r\n.\r\n"
    feed(conn, b"250 2.0.0 Ok: queued as ABC123\r\n")
    assert conn.session.state is State.READY and conn.session.queue_id == "ABC123"
    assert not conn.in_data


def sent_one(conn: ClientConnection) -> None:
    """One message through, answered with queue id ABC123."""
    conn.send_command("MAIL FROM:<a@x.test>")
    conn.send_command("RCPT TO:<b@y.test>")
    conn.send_command("DATA")
    feed(conn, b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go\r\n")
    conn.send_data(b"Subject: x\n\nhi\n")
    conn.end_data()
    feed(conn, b"250 2.0.0 Ok: queued as ABC123\r\n")
    assert conn.session.queue_id == "ABC123"


@pytest.mark.parametrize(
    ("line", "reply"),
    [
        ("RSET", b"250 2.0.0 Ok\r\n"),
        ("MAIL FROM:<c@x.test>", b"250 2.1.0 Ok\r\n"),
        ("MAIL FROM:<bad address>", b"501 5.1.7 Bad sender address syntax\r\n"),
        ("MAIL FROM:<c@x.test>", b"451 4.3.0 try later\r\n"),
        ("EHLO again.test", b"250-mx.test\r\n250 PIPELINING\r\n"),
        ("HELO again.test", b"250 mx.test\r\n"),
    ],
)
def test_the_queue_id_goes_when_the_user_starts_over(line: str, reply: bytes) -> None:
    # It names the message of the finished transaction: the toolbar's "ready (queued ID)"
    # and /info's "queued:" kept it after RSET, a refused MAIL and a new EHLO.
    conn = ready()
    sent_one(conn)
    conn.send_command(line)
    feed(conn, reply)
    assert conn.session.queue_id is None


def test_the_queue_id_stays_through_commands_outside_a_transaction() -> None:
    conn = ready()
    sent_one(conn)
    for line in ("NOOP", "VRFY alice", "HELP"):
        conn.send_command(line)
        feed(conn, b"250 2.0.0 Ok\r\n")
    assert conn.session.queue_id == "ABC123"


def test_refused_command_changes_nothing() -> None:
    conn = ready()
    conn.send_command("RCPT TO:<b@y.test>")
    feed(conn, b"503 5.5.1 Error: need MAIL command\r\n")
    assert conn.session.state is State.READY


def test_prediction_warns_but_does_not_refuse() -> None:
    conn = ready()
    prediction = conn.session.predict("RCPT")
    assert prediction is not None and prediction.reply.startswith("503")
    assert conn.send_command("RCPT TO:<b@y.test>") == b"RCPT TO:<b@y.test>\r\n"
    assert conn.session.predict("MAIL") is None
    assert conn.session.predict("ETRN") is not None  # not advertised
    assert conn.session.predict("STARTTLS") is None


def test_421_closes_from_any_state() -> None:
    conn = ready()
    conn.send_command("NOOP")
    feed(conn, b"421 4.4.2 timeout\r\n")
    assert conn.session.state is State.CLOSED
    assert conn.session.predict("NOOP") is not None


def test_unsolicited_reply_has_no_command() -> None:
    conn = ready()
    [event] = feed(conn, b"421 4.4.2 idle timeout\r\n")
    assert event.command is None
    assert conn.session.state is State.CLOSED


def test_pipelined_replies_match_commands_in_order() -> None:
    conn = ready()
    for line in ("MAIL FROM:<a@x>", "RCPT TO:<b@y>", "RCPT TO:<bad@y>", "RCPT TO:<c@y>"):
        conn.send_command(line)
    events = feed(conn, b"250 ok\r\n250 ok\r\n550 5.1.1 no\r\n250 ok\r\n")
    assert [e.command.display for e in events if e.command] == [
        "MAIL FROM:<a@x>",
        "RCPT TO:<b@y>",
        "RCPT TO:<bad@y>",
        "RCPT TO:<c@y>",
    ]
    assert conn.session.recipients == ["b@y", "c@y"]
    assert conn.session.state is State.RCPT


def test_starttls_forgets_extensions() -> None:
    conn = ready()
    conn.send_command("STARTTLS")
    feed(conn, b"220 2.0.0 Ready to start TLS\r\n")
    session = conn.session
    assert session.tls and session.state is State.GREETED and session.extensions == {}


def test_helo_means_no_extensions() -> None:
    conn = greeted()
    conn.send_command("HELO me")
    feed(conn, b"250 mx.test\r\n")
    assert conn.session.state is State.READY and not conn.session.esmtp


def test_rset_ends_transaction() -> None:
    conn = ready()
    conn.send_command("MAIL FROM:<a@x>")
    feed(conn, b"250 ok\r\n")
    conn.send_command("RSET")
    feed(conn, b"250 ok\r\n")
    assert conn.session.state is State.READY and conn.session.mail_from is None


def test_bdat_chunks() -> None:
    conn = ready()
    conn.send_command("MAIL FROM:<a@x>")
    conn.send_command("RCPT TO:<b@y>")
    feed(conn, b"250 ok\r\n250 ok\r\n")
    assert conn.send_bdat(b"abc", last=False) == b"BDAT 3\r\nabc"
    feed(conn, b"250 2.0.0 3 octets\r\n")
    assert conn.session.state is State.BDAT
    conn.send_bdat(b"de", last=True)
    feed(conn, b"250 2.0.0 Ok: queued as Q1\r\n")
    assert conn.session.state is State.READY and conn.session.queue_id == "Q1"


def test_auth_exchange_is_masked() -> None:
    conn = ready()
    conn.send_command("AUTH LOGIN")
    assert conn.pending[-1].display == "AUTH LOGIN"
    feed(conn, b"334 VXNlcm5hbWU6\r\n")
    assert conn.in_auth
    conn.send_command("dXNlcg==")
    assert conn.pending[-1].display == "********"
    feed(conn, b"334 UGFzc3dvcmQ6\r\n")
    conn.send_command("c2VjcmV0")
    assert conn.pending[-1].display == "********"
    feed(conn, b"235 2.7.0 ok\r\n")
    assert not conn.in_auth and conn.session.authenticated


def test_auth_initial_response_is_masked() -> None:
    conn = ready()
    conn.send_command("AUTH PLAIN AHVzZXIAc2VjcmV0")
    assert conn.pending[-1].display == "AUTH PLAIN ********"
    feed(conn, b"535 5.7.8 bad\r\n")
    assert not conn.in_auth and not conn.session.authenticated


def test_addresses_typed_are_remembered_for_completion() -> None:
    conn = ready()
    conn.send_command("MAIL FROM:<a@x.test>")
    conn.send_command("VRFY <robin@y.test>")
    assert conn.session.addresses_seen == ["a@x.test", "robin@y.test"]


def test_eof_closes_and_forgets_pending() -> None:
    conn = ready()
    conn.send_command("NOOP")
    conn.receive_eof()
    assert conn.session.state is State.CLOSED and conn.awaiting == 0


def test_identical_commands_are_distinct_and_each_gets_its_own_reply() -> None:
    conn = ready()
    conn.send_command("RCPT TO:<b@y>")
    conn.send_command("RCPT TO:<b@y>")
    first, second = conn.pending
    assert first is not second and first != second and len({first, second}) == 2
    events = feed(conn, b"250 one\r\n550 two\r\n")
    assert [(e.command, e.reply.text) for e in events] == [(first, "one"), (second, "two")]


def test_the_connection_holds_what_a_hand_over_must_carry() -> None:
    conn = ready()
    assert conn.helo_name == "me" and not conn.quit_sent
    conn.send_command("HELO other.test")
    assert conn.helo_name == "other.test"
    conn.send_command("QUIT")
    assert conn.quit_sent


def test_mail_and_rcpt_effects_come_from_the_table_only() -> None:
    conn = ready()
    conn.send_command("MAIL FROM:<>")
    feed(conn, b"250 ok\r\n")
    assert conn.session.mail_from == "" and conn.session.recipients == []
    conn.send_command("RCPT TO:<b@y>")
    feed(conn, b"550 no\r\n")
    assert conn.session.recipients == []  # refused: not part of the envelope
    conn.send_command("MAIL FROM:<again@x>")
    feed(conn, b"503 nested MAIL\r\n")
    assert conn.session.mail_from == ""  # a refused MAIL changes nothing


def test_a_nested_mail_the_server_accepts_starts_a_new_transaction() -> None:
    # Haraka answers a second MAIL inside a transaction with 250 and forgets the
    # recipients: DATA then gets "503 RCPT required first". The state stayed 'rcpt', so
    # that DATA was predicted fine and the toolbar offered DATA.
    conn = ready()
    conn.send_command("MAIL FROM:<a@x.test>")
    feed(conn, b"250 sender <a@x.test> OK\r\n")
    conn.send_command("RCPT TO:<b@y.test>")
    feed(conn, b"250 recipient <b@y.test> OK\r\n")
    assert conn.session.predict("MAIL") is not None  # nested: most servers say 503
    conn.send_command("MAIL FROM:<c@x.test>")
    feed(conn, b"250 sender <c@x.test> OK\r\n")
    assert conn.session.state is State.MAIL
    assert conn.session.mail_from == "c@x.test" and conn.session.recipients == []
    data = conn.session.predict("DATA")
    assert data is not None and data.reply.startswith("503")


def test_a_nested_mail_refused_keeps_the_transaction() -> None:
    conn = ready()
    conn.send_command("MAIL FROM:<a@x.test>")
    feed(conn, b"250 2.1.0 Ok\r\n")
    conn.send_command("RCPT TO:<b@y.test>")
    feed(conn, b"250 2.1.5 Ok\r\n")
    conn.send_command("MAIL FROM:<c@x.test>")
    feed(conn, b"503 5.5.1 Error: nested MAIL command\r\n")
    assert conn.session.state is State.RCPT
    assert conn.session.mail_from == "a@x.test" and conn.session.recipients == ["b@y.test"]


def test_what_is_accepted_before_any_greeting_takes_effect() -> None:
    # Postfix (smtpd_helo_required = no, its default) takes MAIL, RCPT and DATA with no
    # EHLO/HELO: the state stayed 'greeted', so each was predicted 503 and the message
    # ended in 'greeted' too.
    conn = greeted()
    conn.send_command("MAIL FROM:<a@x.test>")
    feed(conn, b"250 2.1.0 Ok\r\n")
    assert conn.session.state is State.MAIL and conn.session.mail_from == "a@x.test"
    assert conn.session.predict("RCPT") is None
    conn.send_command("RCPT TO:<b@y.test>")
    feed(conn, b"250 2.1.5 Ok\r\n")
    assert conn.session.state is State.RCPT and conn.session.predict("DATA") is None
    conn.send_command("DATA")
    feed(conn, b"354 End data with <CR><LF>.<CR><LF>\r\n")
    assert conn.session.state is State.DATA and conn.in_data
    conn.send_data(b"Subject: x\n\nhi\n")
    conn.end_data()
    feed(conn, b"250 2.0.0 Ok: queued as 92DE7162494\r\n")
    assert conn.session.state is State.READY and conn.session.queue_id == "92DE7162494"


def test_a_354_out_of_order_is_data_mode_in_the_state_too() -> None:
    conn = ready()
    conn.send_command("DATA")
    feed(conn, b"354 go ahead\r\n")
    assert conn.in_data and conn.session.state is State.DATA


@pytest.mark.parametrize(
    ("greeting", "lmtp", "said"),
    [
        ("EHLO me", False, "the server's earlier EHLO reply is void after STARTTLS: send EHLO"
                           " again (RFC 3207 §4.2)"),
        ("LHLO me", True, "the server's earlier LHLO reply is void after STARTTLS: send LHLO"
                          " again (RFC 3207 §4.2)"),
        ("HELO me", False, "the HELO sent before STARTTLS no longer counts: greet the server"
                           " again (RFC 3207 §4.2), with EHLO to learn what it offers inside"
                           " TLS"),
        (None, False, "TLS is up: greet the server now, with EHLO (RFC 3207 §4.2)"),
    ],
)
def test_what_to_greet_with_after_starttls_fits_what_was_sent(
    greeting: str | None, lmtp: bool, said: str
) -> None:
    conn = greeted()
    conn.session.lmtp = lmtp
    if greeting is not None:
        conn.send_command(greeting)
        feed(conn, b"250 mx.test\r\n")
    conn.send_command("STARTTLS")
    feed(conn, b"220 2.0.0 Ready to start TLS\r\n")
    assert conn.session.greet_again() == said
