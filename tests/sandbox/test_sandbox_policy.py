"""The sandbox's policy without a socket: directory look-ups, credentials, reply wording."""

from __future__ import annotations

import pytest

from smtpsh.sandbox.directory import REPLIES, Directory, Kind
from smtpsh.sandbox.mailbox import header_fields
from smtpsh.sandbox.replies import realistic


@pytest.mark.parametrize(
    ("address", "kind", "local"),
    [
        ("alice@sandbox.test", Kind.USER, "alice"),
        ("<Alice@SANDBOX.test>", Kind.USER, "alice"),
        ("bob", Kind.USER, "bob"),  # a bare local part is ours, as Postfix appends myorigin
        ("staff@sandbox.test", Kind.LIST, "staff"),
        ("nobody@sandbox.test", Kind.UNKNOWN, "nobody"),
        ("relaytest%other.test@sandbox.test", Kind.UNKNOWN, "relaytest%other.test"),
        ("alice@other.test", Kind.REMOTE, "alice"),
        ('"T@D"@[127.0.0.1]', Kind.REMOTE, '"t@d"'),
        ("@sandbox.test", Kind.BAD, ""),
        ("a b@sandbox.test", Kind.BAD, ""),
        ("", Kind.BAD, ""),
    ],
)
def test_lookup_classifies_addresses(address: str, kind: Kind, local: str) -> None:
    found = Directory().lookup(address)
    assert (found.kind, found.local_part) == (kind, local)


def test_lookup_keeps_the_address_as_written_for_replies() -> None:
    found = Directory().lookup("<Nobody@Sandbox.Test>")
    assert found.address == "Nobody@Sandbox.Test"
    assert (
        REPLIES["rcpt_unknown"]
        .format(addr=found.address)
        .startswith("550 5.1.1 <Nobody@Sandbox.Test>: Recipient address rejected: User unknown")
    )


def test_members_and_mailbox_line() -> None:
    d = Directory()
    assert d.members("STAFF") == ("alice", "bob", "carol")
    assert d.members("nobody") == ()
    assert d.mailbox_line("alice") == "Alice Example <alice@sandbox.test>"


def test_password_check() -> None:
    d = Directory(credentials=("demo", "s3cret"))
    assert d.check_password(b"demo", b"s3cret")
    assert not d.check_password(b"demo", b"s3cret ")
    assert not d.check_password(b"Demo", b"s3cret")
    assert not d.check_password(b"", b"")


def test_cram_md5_matches_the_rfc_2195_example() -> None:
    # The worked example of RFC 2195 §2: user tim, password tanstaaftanstaaf.
    d = Directory(credentials=("tim", "tanstaaftanstaaf"))
    challenge = b"<1896.697170952@postoffice.reston.mci.net>"
    assert d.check_cram_md5(b"tim", challenge, b"b913a602c7eda7a495b4e6e7334d3890")
    assert d.check_cram_md5(b"tim", challenge, b"B913A602C7EDA7A495B4E6E7334D3890")
    assert not d.check_cram_md5(b"tim", challenge, b"b913a602c7eda7a495b4e6e7334d3891")
    assert not d.check_cram_md5(b"tom", challenge, b"b913a602c7eda7a495b4e6e7334d3890")
    assert not d.check_cram_md5(b"tim", b"<other@challenge>", b"b913a602c7eda7a495b4e6e7334d3890")


@pytest.mark.parametrize(
    ("aiosmtpd_says", "we_say"),
    [
        ("250 OK", "250 2.0.0 Ok"),
        ("221 Bye", "221 2.0.0 Bye"),
        ("503 Error: need MAIL command", "503 5.5.1 Error: need MAIL command"),
        ("503 Error: need RCPT command", "503 5.5.1 Error: need RCPT command"),
        ("503 Error: send HELO first", "503 5.5.1 Error: send HELO/EHLO first"),
        ("501 Syntax: MAIL FROM: <address>", "501 5.5.4 Syntax: MAIL FROM: <address>"),
        (
            '500 Error: command "FOO" not recognized',
            "500 5.5.2 Error: command not recognized",  # Postfix's words: no verb echoed
        ),
        ("250 Syntax: VRFY <address>", "214 2.0.0 Syntax: VRFY <address>"),
        ("552 Error: Too much mail data", "552 5.3.4 Error: message file too big"),
        ("250-first line", "250-2.0.0 first line"),
        # Already enhanced: untouched.
        ("538 5.7.11 Encryption required", "538 5.7.11 Encryption required"),
        (
            "535 5.7.8 Authentication credentials invalid",
            "535 5.7.8 Authentication credentials invalid",
        ),
        # 3xx: 354 never has one in practice and 334 carries base64.
        ("354 End data with <CR><LF>.<CR><LF>", "354 End data with <CR><LF>.<CR><LF>"),
        ("334 VXNlcm5hbWU6", "334 VXNlcm5hbWU6"),
        # Not a reply line at all: left as is.
        ("hello", "hello"),
    ],
)
def test_realistic_rewording(aiosmtpd_says: str, we_say: str) -> None:
    assert realistic(aiosmtpd_says) == we_say


@pytest.mark.parametrize(
    ("data", "fields"),
    [
        (
            b"Subject: hi\r\nTo: a@b\r\n\r\nbody: not a header\r\n",
            [("Subject", "hi"), ("To", "a@b")],
        ),
        (b"X-Long: one\r\n\ttwo\r\n  three\r\n\r\n", [("X-Long", "one two three")]),
        (b"Subject: caf\xc3\xa9 \xff\r\n\r\n", [("Subject", "café \ufffd")]),
        (b"Subject: bare LF\nTo: x\n\nbody\n", [("Subject", "bare LF"), ("To", "x")]),
        (b"just a body line\r\nSubject: not a header\r\n", []),
        (b"", []),
        (b"Subject: no body at all", [("Subject", "no body at all")]),
    ],
)
def test_header_fields(data: bytes, fields: list[tuple[str, str]]) -> None:
    assert header_fields(data) == fields
