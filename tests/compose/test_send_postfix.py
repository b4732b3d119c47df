"""/compose, /send, /raw and typed BDAT against the real Postfix on loopback (piped mode).

Each message carries a fresh marker; the delivered copy is read back from the mbox and
compared with what was sent.
"""

from __future__ import annotations

import email
import email.policy
import re
import uuid
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.helpers.run import run_piped

if TYPE_CHECKING:
    from tests.conftest import PostfixEnv

pytestmark = pytest.mark.postfix

SENDER = "tester@client.smtpsh.test"
# A body made of what SMTP smuggling tries: lines with only '.', '.' at a line start, and
# line breaks that are not CRLF: \r.\r, \n.\n, a bare CR and a bare LF.
SMUGGLING_BODY = (
    b"start\n.\n.dot line\r\nA\r.\rB\n.\nC\rbare CR\nbare LF\r\n..two dots\r\n"
    b"\r\n.\r\nMAIL FROM:<evil@example.org>\r\nend"
)
SMUGGLING_LINES = [
    "start", ".", ".dot line", "A", ".", "B", ".", "C", "bare CR", "bare LF", "..two dots",
    "", ".", "MAIL FROM:<evil@example.org>", "end",
]


def marker() -> str:
    return f"mark-{uuid.uuid4().hex[:12]}"


def smtpsh(postfix: PostfixEnv, script: str, home: Path, profile: str = "smtp") -> str:
    result = run_piped(
        [f"{postfix.host}:{postfix.port(profile)}", "--helo", "client.smtpsh.test"],
        "EHLO client.smtpsh.test\n" + script + "QUIT\n",
        home,
    )
    assert "Traceback" not in result.stdout + result.stderr, result.stdout + result.stderr
    return result.stdout


def delivered(postfix: PostfixEnv, user: str, needle: str) -> EmailMessage:
    """The message as the mailbox holds it, parsed (its mbox 'From ' line dropped)."""
    text = postfix.wait_for_mail(user, needle)
    # local(8) ends each message in the mbox with an empty line of its own.
    text = text[:-1] if text.endswith("\n\n") else text
    msg = email.message_from_string(text.split("\n", 1)[1], policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def body_lines(msg: EmailMessage) -> list[str]:
    part = msg.get_body(("plain",))
    assert part is not None
    content = part.get_content()
    assert isinstance(content, str)
    return content.replace("\r\n", "\n").split("\n")[:-1]


def queue_id(out: str) -> str:
    found = re.search(r"message accepted, queue id (\w+)", out)
    assert found, out
    return found.group(1)


def test_composed_message_two_recipients_dsn_and_attachment(
    postfix: PostfixEnv, tmp_path: Path
) -> None:
    mark = marker()
    blob = bytes(range(256)) * 64 + mark.encode()
    attachment = tmp_path / "report.bin"
    attachment.write_bytes(blob)
    log_mark = postfix.log_mark()
    out = smtpsh(
        postfix,
        f"/compose --from {SENDER} --to robin@smtpsh.test --to alice@smtpsh.test"
        f" --cc robin@smtpsh.test --subject 'DSN and attachment {mark}'"
        f" --body 'first line\\n.a dotted line\\n{mark}' --attach {attachment}"
        " --notify success,failure --ret hdrs --orcpt --yes\n",
        tmp_path,
    )
    # The envelope asks for DSN because Postfix advertised it; each step is shown.
    assert f"C: MAIL FROM:<{SENDER}> SIZE=" in out and " RET=HDRS" in out
    for user in ("robin", "alice"):
        assert (
            f"C: RCPT TO:<{user}@smtpsh.test> NOTIFY=SUCCESS,FAILURE"
            f" ORCPT=rfc822;{user}@smtpsh.test" in out
        )
    assert "C: DATA" in out
    # Over 200 lines (the attachment), the message is summed up instead of echoed.
    assert re.search(r"· the composed message: \d+ lines, [\d ]+ octets, dot-stuffed", out)
    qid = queue_id(out)
    sent_id = re.search(r"^Message-ID: (<[^>]+>)$", out, re.MULTILINE)
    assert sent_id, out
    for user in ("robin", "alice"):
        msg = delivered(postfix, user, mark)
        assert msg["Message-ID"] == sent_id.group(1)
        assert msg["Subject"] == f"DSN and attachment {mark}"
        assert msg["From"] == SENDER
        assert msg["To"] == "robin@smtpsh.test, alice@smtpsh.test"
        assert msg["Cc"] == "robin@smtpsh.test"
        # One dot arrives: it was stuffed on the wire and unstuffed by Postfix.
        assert body_lines(msg) == ["first line", ".a dotted line", mark]
        (part,) = list(msg.iter_attachments())
        assert isinstance(part, EmailMessage)
        assert part.get_filename() == "report.bin"
        assert part.get_content() == blob
    # Postfix took both recipients and honoured NOTIFY=SUCCESS with a report to the sender.
    assert "nrcpt=2" in postfix.wait_for_log(f"{qid}: from=<{SENDER}>", log_mark)
    postfix.wait_for_log(f"{qid}: sender delivery status notification", log_mark)


@pytest.mark.parametrize("how", ["send", "compose"])
def test_smuggling_sequences_arrive_as_lines_and_postfix_sees_no_bare_newline(
    postfix: PostfixEnv, tmp_path: Path, how: str
) -> None:
    # strict_newline: smtpd_forbid_bare_newline=reject, so a single bare LF from smtpsh
    # would get 550 "bare <LF> received" and a log line.
    mark = marker()
    if how == "send":
        path = tmp_path / "smuggle.eml"
        path.write_bytes(
            f"From: {SENDER}\nTo: robin@smtpsh.test\nSubject: {mark}\n\n".encode()
            + SMUGGLING_BODY
        )
        command = f"/send {path} --yes\n"
    else:
        path = tmp_path / "body.txt"
        path.write_bytes(SMUGGLING_BODY)
        command = (
            f"/compose --from {SENDER} --to robin@smtpsh.test --subject {mark}"
            f" --body-file {path} --yes\n"
        )
    log_mark = postfix.log_mark()
    out = smtpsh(postfix, command, tmp_path, profile="strict_newline")
    qid = queue_id(out)
    msg = delivered(postfix, "robin", mark)
    assert body_lines(msg) == SMUGGLING_LINES
    # Only this session's smtpd lines: other tests may provoke the warning meanwhile.
    client_line = postfix.wait_for_log(f"{qid}: client=", log_mark)
    smtpd = re.search(r"smtpd\[\d+\]", client_line)
    assert smtpd, client_line
    postfix.wait_for_log(f"{qid}: removed", log_mark)
    session_log = [line for line in postfix.log_since(log_mark) if smtpd.group(0) in line]
    assert session_log and not [line for line in session_log if "bare <LF>" in line]


def test_raw_bytes_go_out_exactly_and_the_strict_listener_refuses_them(
    postfix: PostfixEnv, tmp_path: Path
) -> None:
    log_mark = postfix.log_mark()
    out = smtpsh(
        postfix,
        f"MAIL FROM:<{SENDER}>\nRCPT TO:<robin@smtpsh.test>\n"
        "/raw DATA\\r\\n\n"
        "/raw Subject: raw\\r\\n\\r\\nbare\\nLF\\r\\n.\\r\\n\n",
        tmp_path,
        profile="strict_newline",
    )
    assert "RAW: 6 bytes exactly as given" in out
    assert "S: 354 " in out
    assert "S: 550 5.5.2 " in out and "bare <LF> received" in out
    postfix.wait_for_log("bare <LF> received", log_mark)


def test_bdat_chunks_and_pipelining_with_a_refused_recipient_in_the_middle(
    postfix: PostfixEnv, tmp_path: Path
) -> None:
    mark = marker()
    out = smtpsh(
        postfix,
        f"/compose --from {SENDER} --to robin@smtpsh.test,nosuchuser@smtpsh.test"
        f" --to alice@smtpsh.test --subject {mark} --body '.one\\n..two\\n{mark}'"
        " --bdat --chunk 64 --pipeline --yes\n",
        tmp_path,
    )
    assert "PIPELINING (RFC 2920): MAIL and 3 RCPT in one write" in out
    # The replies came in order and were matched to their commands.
    summary = out[out.index("pipelined replies, matched") :].splitlines()[1:5]
    assert summary[0].strip().startswith(f"MAIL FROM:<{SENDER}>") and "→  250 2.1.0" in summary[0]
    assert "nosuchuser" in summary[2] and "→  550 5.1.1" in summary[2]
    assert "recipient <nosuchuser@smtpsh.test> refused: 550 5.1.1" in out
    assert "going on with 2 accepted recipients" in out
    chunks = re.findall(r"^C: BDAT (\d+)( LAST)?$", out, re.MULTILINE)
    assert len(chunks) > 2 and all(n == "64" and not last for n, last in chunks[:-1])
    assert chunks[-1][1] == " LAST"
    declared = int(re.search(r"SIZE=(\d+)", out).group(1))  # type: ignore[union-attr]
    assert sum(int(n) for n, _ in chunks) == declared
    queue_id(out)
    for user in ("robin", "alice"):
        assert body_lines(delivered(postfix, user, mark)) == [".one", "..two", mark]


def test_refused_recipient_one_step_at_a_time_and_all_refused_resets(
    postfix: PostfixEnv, tmp_path: Path
) -> None:
    mark = marker()
    out = smtpsh(
        postfix,
        f"/compose --from {SENDER} --to robin@smtpsh.test,nosuchuser@smtpsh.test,"
        f"alice@smtpsh.test --subject {mark} --body {mark} --yes\n"
        f"/compose --from {SENDER} --to nosuchuser@smtpsh.test --subject x --yes\n",
        tmp_path,
    )
    dialogue = [line[:30] for line in out.splitlines() if line.startswith(("C: ", "S: "))]
    start = dialogue.index(f"C: MAIL FROM:<{SENDER}>"[:30])
    expected = [
        f"C: MAIL FROM:<{SENDER}> SIZE=",
        "S: 250 2.1.0 Ok",
        "C: RCPT TO:<robin@smtpsh.test>",
        "S: 250 2.1.5 Ok",
        "C: RCPT TO:<nosuchuser@smtpsh.test>",
        "S: 550 5.1.1 <nosuchuser@smtpsh.test>",
        "C: RCPT TO:<alice@smtpsh.test>",
        "S: 250 2.1.5 Ok",
        "C: DATA",
    ]
    assert dialogue[start : start + 9] == [line[:30] for line in expected]
    assert "recipient <nosuchuser@smtpsh.test> refused: 550 5.1.1" in out
    assert "going on with 2 accepted recipients" in out
    for user in ("robin", "alice"):
        delivered(postfix, user, mark)
    # The second message has no recipient left: smtpsh resets instead of sending DATA.
    queued = next(i for i, line in enumerate(dialogue) if line.startswith("S: 250 2.0.0 Ok: qu"))
    tail = dialogue[queued:]
    assert tail[tail.index("C: RCPT TO:<nosuchuser@smtpsh.test>"[:30]) + 2 :][:2] == [
        "C: RSET",
        "S: 250 2.0.0 Ok",
    ]
    assert "no recipient was accepted: the transaction is reset" in out


def test_bdat_typed_by_hand(postfix: PostfixEnv, tmp_path: Path) -> None:
    mark = marker()
    lines = [f"Subject: {mark}", "", "typed by hand", ".dot stays", mark]
    size = sum(len(line) + 2 for line in lines)
    out = smtpsh(
        postfix,
        f"MAIL FROM:<{SENDER}>\nRCPT TO:<robin@smtpsh.test>\nBDAT {size} LAST\n"
        + "".join(line + "\n" for line in lines),
        tmp_path,
    )
    assert f"BDAT: type the {size} octets" in out
    assert f"C: BDAT {size} LAST" in out
    assert re.search(rf"S: 250 2\.0\.0 Ok: {size} bytes queued as \w+", out), out
    msg = delivered(postfix, "robin", mark)
    assert body_lines(msg) == ["typed by hand", ".dot stays", mark]


def test_send_file_envelope_from_headers_and_refusals(postfix: PostfixEnv, tmp_path: Path) -> None:
    mark = marker()
    good = tmp_path / "good.eml"
    good.write_bytes(
        f"From: Tester <{SENDER}>\r\nTo: robin@smtpsh.test\r\nCc: alice@smtpsh.test\r\n"
        f"Subject: {mark}\r\n\r\nhello {mark}\r\n".encode()
    )
    long = tmp_path / "long.eml"
    long.write_bytes(
        f"From: {SENDER}\nTo: robin@smtpsh.test\nSubject: long {mark}\nMIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=utf-8\n\n".encode()
        + b"w" * 1500 + b"\n"
    )
    out = smtpsh(
        postfix,
        f"/send {good} --yes\n/send {long} --yes\n/send {long} --encode --yes\n"
        f"/send {tmp_path / 'missing.eml'}\n",
        tmp_path,
    )
    assert f"C: MAIL FROM:<{SENDER}> SIZE=" in out
    assert "C: RCPT TO:<robin@smtpsh.test>" in out and "C: RCPT TO:<alice@smtpsh.test>" in out
    assert f"{long}: line 7 is over 998 octets" in out and "(/send --encode" in out
    assert "missing.eml: no such file" in out
    assert out.count("message accepted, queue id") == 2
    for user in ("robin", "alice"):
        assert body_lines(delivered(postfix, user, f"hello {mark}")) == [f"hello {mark}"]
    assert body_lines(delivered(postfix, "robin", f"long {mark}")) == ["w" * 1500]


def test_send_ends_a_lost_session_without_a_hint_it_cannot_follow(postfix: PostfixEnv) -> None:
    # The certificate of this listener names another host: the handshake fails and the
    # session closes. `smtpsh send` said "a /reconnect line in the script opens a new
    # session": it has no script (nor a prompt).
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "smtpsh", "send", f"{postfix.host}:{postfix.port('wrong_name')}",
         "--starttls", "--cafile", str(postfix.ca_file), "--from", SENDER,
         "--to", "robin@smtpsh.test", "--subject", marker(), "--no-annotate"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode == 4, out
    assert "! connection closed after the failed TLS handshake." in out, out
    assert "/reconnect" not in out
