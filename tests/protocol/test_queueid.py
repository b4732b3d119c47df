"""Queue ids in the replies real servers give at the end of a message."""

from __future__ import annotations

import pytest

from smtpsh.protocol.connection import NEED_DATA, ClientConnection
from smtpsh.protocol.queueid import QUEUE_ID_PATTERNS, find_queue_id

# (reply text as the server sent it, without the code; the id) — from the interop servers.
REAL = [
    ("2.0.0 Ok: queued as 4Rk2Lq0Xn7z3Q", "4Rk2Lq0Xn7z3Q"),  # Postfix
    ("OK id=1t2AbC-000123-Ab", "1t2AbC-000123-Ab"),  # Exim 4.96
    ("OK id=1rYx5K-00000000qAa-3Z0J", "1rYx5K-00000000qAa-3Z0J"),  # Exim 4.97+
    ("2.0.0 386299ba Message accepted for delivery", "386299ba"),  # OpenSMTPD
    ("2.0.0 3B5Fq1Ab012345 Message accepted for delivery", "3B5Fq1Ab012345"),  # Sendmail
    ("Message Queued (6CC4D740-A4BC-434B-9624-234B458BE69A.2)",
     "6CC4D740-A4BC-434B-9624-234B458BE69A.2"),  # Haraka
    ("ok 1700000000 qp 4242", "4242"),  # qmail
]
# Replies with no id in them: nothing may be taken for one.
NONE = [
    "OK: message queued",  # nodemailer smtp-server's default
    "OK",  # aiosmtpd's default
    "Message accepted for delivery",
    "2.0.0 Ok",
    "Requested mail action okay, completed",
]


@pytest.mark.parametrize(("text", "qid"), REAL)
def test_real_queue_ids(text: str, qid: str) -> None:
    found = find_queue_id(text)
    assert found is not None and found[0] == qid


@pytest.mark.parametrize("text", NONE)
def test_no_id_is_invented(text: str) -> None:
    assert find_queue_id(text) is None


@pytest.mark.parametrize(("family", "pattern", "example"), QUEUE_ID_PATTERNS)
def test_every_pattern_matches_its_example(family: str, pattern: str, example: str) -> None:
    found = find_queue_id(example)
    assert found is not None, family
    assert found[0] in example


@pytest.mark.parametrize(("text", "qid"), [*REAL, *((t, None) for t in NONE)])
def test_the_session_learns_the_id_at_the_end_of_data(text: str, qid: str | None) -> None:
    conn = ClientConnection()
    for command, reply in ((None, b"220 mx.test ESMTP\r\n"), ("EHLO me", b"250 mx.test\r\n"),
                           ("MAIL FROM:<a@x.test>", b"250 ok\r\n"),
                           ("RCPT TO:<b@y.test>", b"250 ok\r\n"), ("DATA", b"354 go\r\n")):
        if command:
            conn.send_command(command)
        feed(conn, reply)
    conn.send_data(b"Subject: x\n\nhi\n")
    conn.end_data()
    feed(conn, b"250 " + text.encode() + b"\r\n")
    assert conn.session.queue_id == qid


def feed(conn: ClientConnection, data: bytes) -> None:
    conn.receive_data(data)
    while conn.next_event() is not NEED_DATA:
        pass
