"""The guided /compose flow in a real terminal: answer its questions, confirm, see the 250."""

from __future__ import annotations

import email
import email.policy
import sys
import uuid
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING

import pexpect
import pytest

from tests.helpers.run import smtpsh_env

if TYPE_CHECKING:
    from tests.conftest import PostfixEnv

pytestmark = [pytest.mark.pty, pytest.mark.postfix]

CLEAR_LINE = "\x15"  # Ctrl-U: drop the default the prompt offers


def spawn(postfix: PostfixEnv, home: Path) -> pexpect.spawn:
    child = pexpect.spawn(
        sys.executable,
        ["-m", "smtpsh", f"{postfix.host}:{postfix.port('smtp')}", "--helo", "pty.smtpsh.test"],
        env=smtpsh_env(home),
        dimensions=(40, 120),
        encoding="utf-8",
        timeout=20,
    )
    child.expect_exact(f"220 {postfix.banner}")
    return child


def answer(child: pexpect.spawn, question: str, text: str = "", *, replace: bool = False) -> None:
    child.expect_exact(question)
    child.send((CLEAR_LINE if replace else "") + text + "\r")


def test_guided_compose_in_a_terminal(postfix: PostfixEnv, tmp_path: Path) -> None:
    mark = f"pty-{uuid.uuid4().hex[:10]}"
    attachment = tmp_path / "notes.txt"
    attachment.write_text(f"attached {mark}\n")
    child = spawn(postfix, tmp_path)
    # No EHLO typed: /compose says it first, as a visible step.
    child.sendline("/compose")
    child.expect_exact("EHLO pty.smtpsh.test")
    child.expect_exact("250 CHUNKING")
    answer(child, "Envelope sender (MAIL FROM)", "pty-tester@client.smtpsh.test", replace=True)
    answer(child, "Recipients (RCPT TO)",
           "robin@smtpsh.test, nosuchuser@smtpsh.test, alice@smtpsh.test")
    answer(child, "From:")  # the default: the envelope sender
    answer(child, "To:")  # the default: the recipients
    answer(child, "Cc:")
    answer(child, "Subject:", f"typed in a terminal {mark}", replace=True)
    child.expect_exact("'.' alone on a line ends it")
    for line in ("Hello from a terminal.", ".a dotted line", mark, "."):
        child.send(line + "\r")
    answer(child, "Attachments (Enter for none)", str(attachment))
    answer(child, "Ask for delivery status notifications (DSN, RFC 3461)?", "y")
    answer(child, "NOTIFY (NEVER, or SUCCESS,FAILURE,DELAY)")  # SUCCESS,FAILURE
    answer(child, "RET (what a report returns: FULL or HDRS)")  # HDRS
    answer(child, "ENVID (an id echoed in reports; Enter for none)", mark)
    answer(child, "ORCPT (the original recipient) on each RCPT?")
    # The exact envelope and message, before anything is sent.
    child.expect(r"MAIL FROM:<pty-tester@client\.smtpsh\.test> SIZE=\d+ RET=HDRS ENVID=" + mark)
    child.expect_exact("RCPT TO:<nosuchuser@smtpsh.test> NOTIFY=SUCCESS,FAILURE")
    child.expect_exact(f"Subject: typed in a terminal {mark}")
    child.expect_exact(".a dotted line")
    answer(child, "Send it?")
    # Each step as if typed, with its reply; the refused recipient asks what to do.
    child.expect_exact("RCPT TO:<nosuchuser@smtpsh.test>")
    child.expect_exact("550 5.1.1")
    answer(child, "1 recipient refused; go on with the 2 accepted, or reset with RSET?")
    child.expect_exact("› DATA")
    child.expect_exact("354 ")
    child.expect(r"250 2\.0\.0 Ok: queued as (\w+)")
    queue_id = child.match.group(1)
    child.expect_exact(f"message accepted, queue id {queue_id}")
    child.sendline("/quit")
    child.expect_exact("221 2.0.0 Bye")
    child.expect(pexpect.EOF)
    child.close()
    # The exit table's 'session' column: 4 when a recipient of a /compose was refused (the
    # message went to the others), at the terminal as in a script.
    assert child.exitstatus == 4
    for user in ("robin", "alice"):
        text = postfix.wait_for_mail(user, mark)
        msg = email.message_from_string(text.split("\n", 1)[1], policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        assert msg["From"] == "pty-tester@client.smtpsh.test"
        assert msg["To"] == "robin@smtpsh.test, nosuchuser@smtpsh.test, alice@smtpsh.test"
        body = msg.get_body(("plain",))
        assert body is not None
        assert body.get_content().splitlines() == ["Hello from a terminal.", ".a dotted line", mark]
        (part,) = list(msg.iter_attachments())
        assert isinstance(part, EmailMessage)
        assert part.get_content() == f"attached {mark}\n"


def test_ctrl_c_leaves_the_guided_flow_and_the_shell_goes_on(
    postfix: PostfixEnv, tmp_path: Path
) -> None:
    child = spawn(postfix, tmp_path)
    child.sendline("EHLO pty.smtpsh.test")
    child.expect_exact("250 CHUNKING")
    child.sendline("/compose")
    child.expect_exact("Envelope sender (MAIL FROM)")
    child.send("\x03")
    child.expect_exact("composition cancelled: nothing was sent")
    child.sendline("NOOP")
    child.expect_exact("250 2.0.0 Ok")
    child.sendline("/quit")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_typed_bdat_collects_the_octets_with_a_counting_prompt(
    postfix: PostfixEnv, tmp_path: Path
) -> None:
    mark = f"bdat-{uuid.uuid4().hex[:8]}"
    child = spawn(postfix, tmp_path)
    child.sendline("EHLO pty.smtpsh.test")
    child.expect_exact("250 CHUNKING")
    child.sendline("MAIL FROM:<pty-tester@client.smtpsh.test>")
    child.expect_exact("250 2.1.0 Ok")
    child.sendline("RCPT TO:<robin@smtpsh.test>")
    child.expect_exact("250 2.1.5 Ok")
    size = len(f"Subject: {mark}\r\n\r\n") + len("typed!")
    child.sendline(f"BDAT {size} LAST")
    child.expect_exact(f"bdat 0/{size}›")
    child.sendline(f"Subject: {mark}")
    child.expect_exact(f"bdat {size - 8}/{size}›")
    child.sendline("")
    child.expect_exact(f"bdat {size - 6}/{size}›")
    child.sendline("typed!")  # its CRLF goes past the count: cut off
    child.expect_exact("the last 2 octets of that line were left out")
    # (Postfix counts the CRLF it adds after a message that does not end with one.)
    child.expect(r"250 2\.0\.0 Ok: \d+ bytes queued as \w+")
    child.sendline("/quit")
    child.expect(pexpect.EOF)
    text = postfix.wait_for_mail("robin", mark)
    assert text.rstrip("\n").endswith("\n\ntyped!")


def test_body_handed_to_the_editor_with_tilde_e(postfix: PostfixEnv, tmp_path: Path) -> None:
    mark = f"edit-{uuid.uuid4().hex[:8]}"
    editor = tmp_path / "editor.sh"
    editor.write_text(f"#!/bin/sh\nprintf 'written in the editor {mark}\\n' >> \"$1\"\n")
    editor.chmod(0o755)
    env = smtpsh_env(tmp_path) | {"EDITOR": str(editor), "VISUAL": ""}
    child = pexpect.spawn(
        sys.executable,
        ["-m", "smtpsh", f"{postfix.host}:{postfix.port('smtp')}", "--helo", "pty.smtpsh.test"],
        env=env, dimensions=(40, 120), encoding="utf-8", timeout=20,
    )
    # Flags answer some questions; the others are asked.
    child.sendline(f"/compose --from pty-tester@client.smtpsh.test --to robin@smtpsh.test"
                   f" --subject {mark}")
    answer(child, "Cc:")
    child.expect_exact("'~e' alone opens $EDITOR")
    child.send("typed here\r~e\r")
    answer(child, "Attachments (Enter for none)")
    answer(child, "Ask for delivery status notifications (DSN, RFC 3461)?")
    child.expect_exact(f"written in the editor {mark}")  # in the preview
    answer(child, "Send it?")
    child.expect(r"250 2\.0\.0 Ok: queued as")
    child.sendline("/quit")
    child.expect(pexpect.EOF)
    text = postfix.wait_for_mail("robin", mark)
    assert f"\n\ntyped here\nwritten in the editor {mark}\n" in text
