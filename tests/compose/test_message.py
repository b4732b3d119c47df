"""Building messages with the email package, reading .eml headers, planning the envelope."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from smtpsh.compose.envelope import (
    DsnRequest,
    parse_notify,
    parse_ret,
    plan_envelope,
    size_limit,
    xtext,
)
from smtpsh.compose.message import (
    ComposeError,
    Draft,
    MessageSource,
    build_message,
    envelope_from_headers,
    parse_addresses,
    parse_headers,
    parse_recipients,
    parse_sender,
    read_header_block,
    reencode,
)

POSTFIX_EHLO = {
    "PIPELINING": "",
    "SIZE": "10240000",
    "8BITMIME": "",
    "DSN": "",
    "SMTPUTF8": "",
    "CHUNKING": "",
}


def draft(body: str = "hello\n", **kw: object) -> Draft:
    fields: dict[str, object] = {
        "sender": "tester@client.example",
        "recipients": ["robin@example.org"],
        "from_header": "Tester <tester@client.example>",
        "to": "robin@example.org",
        "subject": "a test",
        "body": body,
    }
    fields.update(kw)
    return Draft(**fields)  # type: ignore[arg-type]


def parsed(data: bytes) -> EmailMessage:
    """As a mail reader sees it (local line ends)."""
    msg = email.message_from_bytes(data.replace(b"\r\n", b"\n"), policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def text_of(msg: EmailMessage) -> str:
    body = msg.get_body(("plain",))
    assert body is not None
    content = body.get_content()
    assert isinstance(content, str)
    return content.replace("\r\n", "\n")  # base64 text carries canonical CRLF (RFC 2045)


def wire_lines(data: bytes) -> list[bytes]:
    assert data.endswith(b"\r\n") and b"\r\n" in data
    return data[:-2].split(b"\r\n")


def test_ascii_text_goes_7bit_with_headers_filled_in() -> None:
    built = build_message(draft(), eight_bit=False, smtputf8=False, domain="client.example")
    msg = parsed(built.data)
    assert msg["Content-Transfer-Encoding"] == "7bit"
    assert msg["Subject"] == "a test"
    assert msg["From"] == "Tester <tester@client.example>"
    assert msg["Message-ID"].endswith("@client.example>")
    assert msg["Date"]
    assert text_of(msg) == "hello\n"
    assert built.notes == []


def test_8bit_text_is_encoded_when_8bitmime_is_not_advertised() -> None:
    built = build_message(draft("grüße\n"), eight_bit=False, smtputf8=False, domain="x.example")
    assert built.data.isascii()
    msg = parsed(built.data)
    assert msg["Content-Transfer-Encoding"] in ("quoted-printable", "base64")
    assert text_of(msg) == "grüße\n"
    assert any("did not advertise 8BITMIME" in note for note in built.notes)


def test_8bit_text_goes_as_it_is_with_8bitmime() -> None:
    built = build_message(draft("grüße\n"), eight_bit=True, smtputf8=False, domain="x.example")
    assert "grüße".encode() in built.data
    assert parsed(built.data)["Content-Transfer-Encoding"] == "8bit"


@pytest.mark.parametrize("eight_bit", [False, True])
def test_a_line_longer_than_smtp_allows_is_encoded(eight_bit: bool) -> None:
    body = "start\n" + "x" * 2500 + "\nend\n"
    built = build_message(draft(body), eight_bit=eight_bit, smtputf8=False, domain="x.example")
    assert max(len(line) for line in wire_lines(built.data)) <= 998
    assert text_of(parsed(built.data)) == body
    assert any("2500 octets" in note for note in built.notes)


def test_non_ascii_headers_are_rfc2047_words_without_smtputf8() -> None:
    d = draft(subject="Grüße", from_header="Zoë <tester@client.example>")
    built = build_message(d, eight_bit=True, smtputf8=False, domain="x.example")
    head = built.data.split(b"\r\n\r\n", 1)[0]
    assert head.isascii() and b"=?utf-8?" in head
    assert parsed(built.data)["Subject"] == "Grüße"


def test_smtputf8_headers_stay_utf8() -> None:
    d = draft(sender="zoë@exämple.org", from_header="zoë@exämple.org", subject="Grüße")
    assert d.needs_smtputf8()
    built = build_message(d, eight_bit=True, smtputf8=True, domain="x.example")
    assert "Subject: Grüße".encode() in built.data


def test_attachment_is_base64_and_comes_back_whole(tmp_path: Path) -> None:
    blob = bytes(range(256)) * 40
    path = tmp_path / "data.bin"
    path.write_bytes(blob)
    built = build_message(
        draft(attachments=[path]), eight_bit=False, smtputf8=False, domain="x.example"
    )
    msg = parsed(built.data)
    assert msg.get_content_type() == "multipart/mixed"
    (part,) = list(msg.iter_attachments())
    assert isinstance(part, EmailMessage)
    assert part.get_filename() == "data.bin"
    assert part["Content-Transfer-Encoding"] == "base64"
    assert part.get_content() == blob
    assert text_of(msg) == "hello\n"


def test_nul_in_the_body_is_refused() -> None:
    with pytest.raises(ComposeError, match="NUL"):
        build_message(draft("a\0b"), eight_bit=True, smtputf8=False, domain="x.example")


def test_addresses() -> None:
    assert parse_recipients("a@x.example, <b@y.example> c@z.example;a@x.example") == [
        "a@x.example",
        "b@y.example",
        "c@z.example",
    ]
    assert parse_recipients("postmaster") == ["postmaster"]
    assert parse_addresses("Robin <robin@x.example>, alice@y.example") == [
        ("Robin", "robin@x.example"),
        ("", "alice@y.example"),
    ]
    assert parse_sender("<>") == "" and parse_sender("") == ""
    assert parse_sender("<a@b.example>") == "a@b.example"
    for bad, why in [("robin", "no '@domain'"), ("@x.example", "both sides"),
                     ("a@b.example c@d.example", "one address")]:
        with pytest.raises(ComposeError, match=why):
            parse_sender(bad)
    with pytest.raises(ComposeError, match="64 octets"):
        parse_recipients("x" * 65 + "@example.org")
    with pytest.raises(ComposeError, match="cannot read the addresses"):
        parse_addresses("a@b.example c@d.example")


def test_eml_headers_give_the_envelope(tmp_path: Path) -> None:
    path = tmp_path / "m.eml"
    path.write_bytes(
        b"From: Robin <robin@example.org>\nTo: a@x.example, b@y.example\nCc: c@z.example\n"
        b"Bcc: a@x.example\nSubject: s\n\nbody\n"
    )
    block = read_header_block(path)
    assert block.endswith(b"Subject: s\n\n")
    assert envelope_from_headers(parse_headers(block)) == (
        "robin@example.org",
        ["a@x.example", "b@y.example", "c@z.example"],
    )
    source = MessageSource.from_file(path)
    assert source.facts.octets == len(path.read_bytes().replace(b"\n", b"\r\n"))
    lines, more = source.head(3)
    assert lines == ["From: Robin <robin@example.org>", "To: a@x.example, b@y.example",
                     "Cc: c@z.example"]
    assert more == 4


def test_sender_header_wins_over_from(tmp_path: Path) -> None:
    path = tmp_path / "m.eml"
    path.write_bytes(b"From: a@x.example\r\nSender: list@y.example\r\nTo: b@z.example\r\n\r\nx\r\n")
    sender, _ = envelope_from_headers(parse_headers(read_header_block(path)))
    assert sender == "list@y.example"


def test_reencode_makes_an_8bit_long_lined_message_7bit_safe(tmp_path: Path) -> None:
    text = "Grüße\n" + "y" * 3000 + "\n"
    path = tmp_path / "m.eml"
    path.write_bytes(
        b"From: a@x.example\nTo: b@y.example\nSubject: s\nMIME-Version: 1.0\n"
        b"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
        + text.encode()
    )
    data = reencode(path)
    assert data.isascii()
    assert max(len(line) for line in wire_lines(data)) <= 998
    msg = parsed(data)
    assert msg["Subject"] == "s"
    assert text_of(msg) == text


# --- the envelope ------------------------------------------------------------------------


def test_parameters_only_when_advertised() -> None:
    env = plan_envelope("a@x.example", ["b@y.example"], POSTFIX_EHLO, size=1234,
                        eight_bit=True, smtputf8=False,
                        dsn=DsnRequest("SUCCESS,FAILURE", "HDRS", "id 1", True))
    assert env.mail_line() == (
        "MAIL FROM:<a@x.example> SIZE=1234 BODY=8BITMIME RET=HDRS ENVID=id+201"
    )
    assert env.rcpt_lines() == [
        "RCPT TO:<b@y.example> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b@y.example"
    ]
    assert env.notes == []
    bare = plan_envelope("", ["b@y.example"], {}, size=1234, eight_bit=False, smtputf8=False,
                         dsn=DsnRequest("NEVER"))
    assert bare.mail_line() == "MAIL FROM:<>"
    assert bare.rcpt_lines() == ["RCPT TO:<b@y.example>"]
    assert any("did not advertise DSN" in note for note in bare.notes)


def test_what_cannot_be_sent_to_this_server_is_refused() -> None:
    with pytest.raises(ComposeError, match="8BITMIME"):
        plan_envelope("a@x.example", ["b@y.example"], {"SIZE": ""}, size=1,
                      eight_bit=True, smtputf8=False)
    with pytest.raises(ComposeError, match="SMTPUTF8"):
        plan_envelope("zoë@x.example", ["b@y.example"], {"8BITMIME": ""}, size=1,
                      eight_bit=False, smtputf8=True)


def test_size_over_the_limit_is_said() -> None:
    assert size_limit({"SIZE": "1000"}) == 1000 and size_limit({"SIZE": "0"}) is None
    env = plan_envelope("a@x.example", ["b@y.example"], {"SIZE": "1000"}, size=5000,
                        eight_bit=False, smtputf8=False)
    assert env.mail_params == ["SIZE=5000"]
    assert "expect 552" in env.notes[0]


def test_dsn_values() -> None:
    assert parse_notify("failure, success") == "SUCCESS,FAILURE"
    assert parse_notify("never") == "NEVER" and parse_notify(" ") is None
    assert parse_ret("hdrs") == "HDRS"
    with pytest.raises(ComposeError, match="NEVER cannot be combined"):
        parse_notify("never,delay")
    with pytest.raises(ComposeError, match="unknown value SOMETIMES"):
        parse_notify("sometimes")
    with pytest.raises(ComposeError, match="FULL"):
        parse_ret("all")
    assert xtext("a+b=c d\u00e9") == "a+2Bb+3Dc+20d+C3+A9"


def test_control_characters_in_headers_are_refused() -> None:
    with pytest.raises(ComposeError, match=r"Subject: a control character \(U\+001E\) at column 3"):
        build_message(draft(subject="ab\x1ec"), eight_bit=True, smtputf8=False, domain="x")
