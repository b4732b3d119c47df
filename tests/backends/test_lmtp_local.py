"""LMTP (RFC 2033) against Dovecot's LMTP over TCP and over its UNIX socket, and a server on
a pipe (Postfix's own `sendmail -bs`), all started by scripts/setup-backends."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from smtpsh.protocol.connection import ClientConnection
from smtpsh.protocol.replies import Reply
from smtpsh.protocol.session import State
from tests.backends.conftest import Backends, smtpsh

pytestmark = pytest.mark.postfix


def lmtp_script(marker: str, *recipients: str) -> str:
    rcpts = "".join(f"RCPT TO:<{r}>\n" for r in recipients)
    return (
        f"LHLO client.example\nMAIL FROM:<sender@example.org>\n{rcpts}DATA\n"
        f"Subject: {marker}\nMessage-ID: <{marker}@example.org>\n\nhello {marker}\n.\nQUIT\n"
    )


def delivered(backends: Backends, user: str, marker: str, timeout: float = 30) -> bool:
    box = Path(backends.dovecot["mail_dir"]) / user / "Maildir" / "new"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for entry in box.glob("*") if box.is_dir() else []:
            if marker in entry.read_text(errors="replace"):
                return True
        time.sleep(0.1)
    return False


def check_per_recipient_replies(out: str) -> None:
    """After the final dot: alice and robin delivered, broken failed, nobody refused at RCPT;
    one reply each, in RCPT order, each said to be for its recipient."""
    after_dot = out.split("\nC: .\n", 1)[1]
    assert "S: 550 5.1.1 <nobody> User doesn't exist: nobody" in out.split("\nC: DATA")[0]
    lines = [line for line in after_dot.splitlines() if line.startswith(("S: ", "· LMTP"))]
    assert lines[0].startswith("S: 250 2.0.0 <alice> ")
    assert lines[1] == "· LMTP: that reply is for <alice>"
    assert lines[2].startswith("S: 4") or lines[2].startswith("S: 5"), lines[2]
    assert "<broken>" in lines[2]
    assert lines[3] == "· LMTP: that reply is for <broken>"
    assert lines[4].startswith("S: 250 2.0.0 <robin> ")
    assert lines[5] == "· LMTP: that reply is for <robin>"
    assert lines[6].startswith("S: 221 ")  # QUIT's reply: nothing left unmatched


@pytest.mark.parametrize("where", ["tcp", "unix"])
def test_lmtp_per_recipient_replies(
    backends: Backends, where: str, matrix_row: Callable[[str, str], None]
) -> None:
    matrix_row(f"LMTP over {'TCP' if where == 'tcp' else 'a UNIX socket'}", "Dovecot LMTP")
    marker = f"lmtp-{where}-{uuid.uuid4().hex[:10]}"
    target = (
        f"{backends.host}:{backends.dovecot['lmtp_port']}"
        if where == "tcp"
        else f"unix:{backends.dovecot['lmtp_socket']}"
    )
    result = smtpsh([target, "--lmtp"], lmtp_script(marker, "alice", "nobody", "broken", "robin"))
    out = result.stdout
    assert "S: 220 lmtp.smtpsh.test Dovecot (Debian) ready." in out, out + result.stderr
    check_per_recipient_replies(out)
    assert delivered(backends, "alice", marker) and delivered(backends, "robin", marker)


def test_lmtp_greeting_is_lhlo_and_ehlo_is_predicted_to_fail(backends: Backends) -> None:
    target = f"unix:{backends.dovecot['lmtp_socket']}"
    result = smtpsh([target, "--lmtp"], "EHLO me\nQUIT\n")
    assert (
        "! expect 500 5.5.1 Unknown command: an LMTP server greets with LHLO (RFC 2033 §4.1)"
        in result.stdout
    )
    assert "S: 500 5.5.1 Unknown command" in result.stdout


def test_a_bare_user_name_is_not_predicted_refused_over_lmtp(backends: Backends) -> None:
    # Dovecot's LMTP takes RCPT TO:<alice> (a local mailbox); smtpsh warned "expect 501
    # 5.1.3 address must contain a domain" before each such line. RFC 5321's rule stays a
    # note; over SMTP the prediction stays (Postfix refuses it).
    target = f"{backends.host}:{backends.dovecot['lmtp_port']}"
    script = "LHLO me\nMAIL FROM:<a@example.net>\nRCPT TO:<alice>\nQUIT\n"
    result = smtpsh([target, "--lmtp"], script)
    assert "S: 250 2.1.5 OK" in result.stdout, result.stdout
    assert "! expect" not in result.stdout
    assert "! the address has no @domain" in result.stdout
    smtp = smtpsh(["--sandbox"], "EHLO me\nMAIL FROM:<a@example.net>\nRCPT TO:<alice>\nQUIT\n")
    assert "! expect 501 5.1.3 address must contain a domain" in smtp.stdout


def test_lmtp_compose_send_says_lhlo(backends: Backends, tmp_path: Path) -> None:
    """/send (the guided send) greets with LHLO by itself on an LMTP session."""
    marker = f"lmtp-send-{uuid.uuid4().hex[:10]}"
    target = f"{backends.host}:{backends.dovecot['lmtp_port']}"
    eml = tmp_path / "m.eml"
    eml.write_text(f"From: sender@example.org\nSubject: {marker}\n\nhi {marker}\n")
    to = "--to alice@smtpsh.test --to robin@smtpsh.test"
    script = f"/send {eml} --from sender@example.org {to}\nQUIT\n"
    result = smtpsh([target, "--lmtp"], script)
    out = result.stdout
    assert "C: LHLO " in out and "C: EHLO" not in out, out + result.stderr
    assert "· LMTP: that reply is for <alice@smtpsh.test>" in out
    assert "· LMTP: that reply is for <robin@smtpsh.test>" in out
    assert delivered(backends, "robin", marker)


def test_unix_socket_errors_are_one_line(tmp_path: Path) -> None:
    result = smtpsh([f"unix:{tmp_path}/missing"], "QUIT\n")
    assert result.returncode != 0
    assert f"cannot connect to unix:{tmp_path}/missing: No such file or directory" in (
        result.stdout + result.stderr
    )


def test_sans_io_lmtp_matching() -> None:
    """One reply per accepted RCPT after the dot; a refused RCPT earns none."""
    conn = ClientConnection()
    conn.receive_data(b"220 lmtp ready\r\n")
    assert conn.next_event().reply.code == 220  # type: ignore[union-attr]
    for line, reply in [
        ("LHLO me", b"250-lmtp\r\n250 PIPELINING\r\n"),
        ("MAIL FROM:<a@b>", b"250 ok\r\n"),
        ("RCPT TO:<x@b>", b"250 ok\r\n"),
        ("RCPT TO:<gone@b>", b"550 no\r\n"),
        ("RCPT TO:<y@b>", b"250 ok\r\n"),
        ("DATA", b"354 go\r\n"),
    ]:
        conn.send_command(line)
        conn.receive_data(reply)
        conn.next_event()
    assert conn.session.lmtp and conn.session.state is State.DATA
    conn.send_data(b"hi\r\n")
    conn.end_data()
    assert [c.recipient for c in conn.pending] == ["x@b", "y@b"]
    conn.receive_data(b"250 2.0.0 <x@b> saved\r\n452 4.2.2 <y@b> over quota\r\n")
    events = [conn.next_event(), conn.next_event()]
    replies: list[Reply] = [e.reply for e in events]  # type: ignore[union-attr]
    assert [r.code for r in replies] == [250, 452]
    assert conn.awaiting == 0 and conn.session.state is State.READY


def test_pipe_with_postfix_sendmail_bs(
    backends: Backends, matrix_row: Callable[[str, str], None]
) -> None:
    matrix_row("--pipe 'sendmail -bs'", "Postfix")
    marker = f"pipe-{uuid.uuid4().hex[:10]}"
    script = (
        "EHLO client.example\nMAIL FROM:<root@localhost>\nRCPT TO:<robin@localhost>\nDATA\n"
        f"Subject: {marker}\n\nvia sendmail -bs\n.\nQUIT\n"
    )
    result = smtpsh(["--pipe", "/usr/sbin/sendmail -bs"], script)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "ESMTP" in out.splitlines()[0] and out.startswith("S: 220 ")
    assert "S: 250 2.0.0 Ok: queued as " in out
    assert "S: 221 2.0.0 Bye" in out
    spool = Path("/var/mail/robin")
    deadline = time.monotonic() + 15
    while marker not in (spool.read_text(errors="replace") if spool.exists() else ""):
        assert time.monotonic() < deadline, f"{marker} never reached {spool}"
        time.sleep(0.2)


def test_pipe_child_stderr_is_escaped_and_exit_is_reported(tmp_path: Path) -> None:
    script = tmp_path / "server.sh"
    script.write_text(
        "#!/bin/sh\nprintf 'oops \\033[31mred\\n' >&2\nprintf '220 fake ready\\r\\n'\n"
        "read line\nprintf '221 bye\\r\\n'\n"
    )
    os.chmod(script, 0o755)
    result = smtpsh(["--pipe", str(script)], "QUIT\n")
    assert "S: 220 fake ready" in result.stdout
    assert "\033" not in result.stderr and "oops" in result.stderr
    missing = smtpsh(["--pipe", "/nonexistent/server -bs"], "QUIT\n")
    assert missing.returncode != 0


@pytest.mark.parametrize(
    "transfer", [["--bdat", "--chunk", "64"], ["--bdat", "--chunk", "64", "--pipeline"], []],
    ids=["bdat", "bdat-pipelined", "data"],
)
def test_every_recipients_reply_to_the_message_counts_in_the_verdict(
    backends: Backends, transfer: list[str]
) -> None:
    """Dovecot's LMTP advertises CHUNKING: after BDAT LAST (as after DATA's dot) it gives one
    reply per recipient, and one refusal among them makes the send fail (exit 4), while
    the recipients that took it have it."""
    marker = f"lmtp-verdict-{uuid.uuid4().hex[:10]}"
    target = f"{backends.host}:{backends.dovecot['lmtp_port']}"
    base = ["send", target, "--lmtp", "--from", "sender@example.org", "--subject", marker,
            "--body", f"hello {marker}\\n" * 8, *transfer]
    result = smtpsh([*base, "--to", "alice@smtpsh.test", "--to", "broken@smtpsh.test",
                     "--to", "robin@smtpsh.test"])
    out = result.stdout
    assert "S: 250-CHUNKING" in out, out
    last = "\nC: BDAT " if transfer else "\nC: .\n"
    assert last in out, out + result.stderr
    if transfer:
        assert out.count("C: BDAT ") > 2 and out.count(" LAST\n") == 1  # several chunks
    after = out.rsplit(last, 1)[1]
    for user in ("alice", "broken", "robin"):
        assert f"· LMTP: that reply is for <{user}@smtpsh.test>" in after, after
    assert "✗ the message was not delivered to every recipient" in after
    assert "<broken@smtpsh.test>" in after.split("✗", 1)[1].splitlines()[0]
    assert "message accepted" not in out
    assert result.returncode == 4, out + result.stderr  # failed (smtpsh.exitcodes)
    assert delivered(backends, "alice", marker) and delivered(backends, "robin", marker)

    good = smtpsh([*base, "--to", "alice@smtpsh.test", "--to", "robin@smtpsh.test"])
    assert good.returncode == 0, good.stdout + good.stderr
    assert "message accepted" in good.stdout and "✗" not in good.stdout


def test_send_json_gives_each_lmtp_recipient_its_own_delivery(backends: Backends) -> None:
    """--json: after BDAT LAST, one delivery reply per recipient, each under its recipient;
    the document is valid against the schema and says why the send failed."""
    from smtpsh import exitcodes
    from tests.helpers.jsondoc import document

    marker = f"lmtp-json-{uuid.uuid4().hex[:10]}"
    target = f"{backends.host}:{backends.dovecot['lmtp_port']}"
    base = ["send", target, "--lmtp", "--bdat", "--chunk", "64", "--from", "sender@example.org",
            "--subject", marker, "--json"]
    proc = smtpsh([*base, "--to", "alice@smtpsh.test", "--to", "broken@smtpsh.test"])
    doc = document(proc, "send", exitcodes.FAILED)
    result = doc["result"]
    assert result["lmtp"] is True and result["accepted"] is False
    assert result["message"]["transfer"] == "BDAT" and result["message"]["reply"] is None
    alice, broken = result["recipients"]
    assert alice["accepted"] and alice["delivery"][0].startswith("250 2.0.0 <alice@smtpsh.test>")
    assert broken["accepted"] and broken["delivery"][0][0] in "45"
    assert doc["error"]["kind"] == "refused"
    assert "<broken@smtpsh.test>" in doc["error"]["message"]
    assert "S: 250-CHUNKING" in proc.stderr  # the dialogue, on standard error
    assert delivered(backends, "alice", marker)
    # refused after connecting, before anything is sent: Dovecot offers no SMTPUTF8
    proc = smtpsh([*base, "--to", "jürgen@smtpsh.test"])
    doc = document(proc, "send", exitcodes.FAILED)
    assert "did not advertise SMTPUTF8" in doc["error"]["message"]
    assert doc["result"]["sender"] is None


def test_probe_of_an_lmtp_port_says_the_greeting_was_refused(backends: Backends) -> None:
    # Dovecot's LMTP answers EHLO and HELO `500 5.5.1 Unknown command`: probe went on and
    # printed "EHLO refused; HELO: 5.5.1 Unknown command" (the code cut off) as if HELO had
    # been taken, and named no family.
    target = f"{backends.host}:{backends.dovecot['lmtp_port']}"
    out = smtpsh(["probe", target, "--no-relay"]).stdout
    assert "EHLO      refused; HELO refused too: 500 5.5.1 Unknown command" in out, out
    assert ("! the server refused EHLO and HELO (500 5.5.1 Unknown command): the rest was"
            " asked without a greeting (an LMTP server greets only LHLO") in out, out
    assert "family    Dovecot (from behaviour" in out, out
