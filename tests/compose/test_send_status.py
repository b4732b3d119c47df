"""`smtpsh send`: every exit status of the shared table, each with its --json document
(validated against smtpsh/data/output.schema.json), against the loopback Postfix; Ctrl-C
and a reader that goes away against a server the test holds still."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smtpsh import exitcodes
from tests.helpers.jsondoc import document, smtpsh
from tests.helpers.scripted_server import read_line, scripted_server

if TYPE_CHECKING:
    from tests.conftest import PostfixEnv

SENDER = "tester@client.smtpsh.test"


def send(target: str, *args: str) -> tuple[subprocess.CompletedProcess[str], Any]:
    """The same send as text and as --json: the same exit status; the document."""
    text = smtpsh("send", target, *args)
    doc = document(smtpsh("send", target, *args, "--json"), "send", text.returncode)
    assert "Traceback" not in text.stderr, text.stderr
    return text, doc


def test_accepted_is_0(postfix: PostfixEnv) -> None:
    mark = f"status-{uuid.uuid4().hex[:10]}"
    target = f"{postfix.host}:{postfix.port('smtp')}"
    text, doc = send(target, "--from", SENDER, "--to", "robin@smtpsh.test", "--subject", mark)
    assert text.returncode == exitcodes.OK, text.stdout + text.stderr
    result = doc["result"]
    assert result["accepted"] is True and result["target"] == target
    assert result["sender"] == {"address": SENDER, "reply": ["250 2.1.0 Ok"]}
    [rcpt] = result["recipients"]
    assert rcpt["address"] == "robin@smtpsh.test" and rcpt["accepted"] is True
    assert rcpt["delivery"] is None  # SMTP: one reply for the message, not one a recipient
    message = result["message"]
    assert message["transfer"] == "DATA" and message["replies"][0][0].startswith("354 ")
    assert message["reply"][0].startswith(f"250 2.0.0 Ok: queued as {message['queue_id']}")
    assert doc["error"] is None


def test_dry_run_is_0_and_connects_to_nothing(free_port: int) -> None:
    args = ["--dry-run", "--from", "a@x.test", "--to", "b@y.test", "--subject", "dry"]
    text, doc = send(f"127.0.0.1:{free_port}", *args)
    assert text.returncode == exitcodes.OK, text.stderr
    result = doc["result"]
    assert result["dry_run"] is True and result["accepted"] is False
    assert result["sender"]["address"] == "a@x.test" and result["sender"]["reply"] is None
    assert [r["address"] for r in result["recipients"]] == ["b@y.test"]
    assert "Subject: dry" in result["message"]["text"]


def test_bad_command_line_is_2(postfix: PostfixEnv) -> None:
    target = f"{postfix.host}:{postfix.port('smtp')}"
    for args, said in (
        (["--to", "robin@smtpsh.test"], "no sender: give --from ADDRESS"),
        (["--from", SENDER], "no recipient: give --to ADDRESS"),
        (["--from", SENDER, "--to", "robin@smtpsh.test", "--tls", "--starttls"],
         "--starttls and --tls"),
        (["--from", SENDER, "--to", "robin@smtpsh.test", "--attach", "/nonexistent/f"],
         "--attach /nonexistent/f: no such file"),
    ):
        text, doc = send(target, *args)
        assert text.returncode == exitcodes.USAGE, (args, text.stdout, text.stderr)
        assert said in text.stderr and said in doc["error"]["message"], (args, doc)
        assert "C: MAIL" not in text.stdout
    proc = smtpsh("send", "[::1", "--from", SENDER, "--to", "b@y.test", "--json")
    document(proc, "send", exitcodes.USAGE)
    argparse_error = smtpsh("send", target, "--no-such-flag", "--json")
    doc = document(argparse_error, "send", exitcodes.USAGE)
    assert doc["error"]["message"] == "unrecognized arguments: --no-such-flag"
    assert "usage: smtpsh send" in argparse_error.stderr


def test_not_sent_is_4(postfix: PostfixEnv, tmp_path: Path, free_port: int) -> None:
    smtp = f"{postfix.host}:{postfix.port('smtp')}"
    # no connection
    text, doc = send(f"127.0.0.1:{free_port}", "--from", SENDER, "--to", "robin@smtpsh.test")
    assert text.returncode == exitcodes.FAILED
    assert doc["error"]["kind"] == "connect" and "cannot connect" in doc["error"]["message"]
    # every recipient refused
    text, doc = send(smtp, "--from", SENDER, "--to", "nosuchuser@smtpsh.test")
    assert text.returncode == exitcodes.FAILED and "550 5.1.1" in text.stdout
    assert doc["error"]["kind"] == "refused" and doc["result"]["accepted"] is False
    assert doc["result"]["recipients"][0]["accepted"] is False
    assert doc["result"]["message"] is None  # nothing was sent after the envelope
    # the sender refused: a message over the server's SIZE (said in MAIL FROM)
    big = tmp_path / "big.bin"
    big.write_bytes(b"\0" * (11 * 1024 * 1024))
    text, doc = send(smtp, "--from", SENDER, "--to", "robin@smtpsh.test", "--attach", str(big))
    assert text.returncode == exitcodes.FAILED, text.stdout[-2000:]
    assert doc["result"]["sender"]["reply"][0].startswith("552 ")
    assert doc["result"]["recipients"] == []
    # the session refused: a certificate that does not verify
    expired = f"{postfix.host}:{postfix.port('expired')}"
    text, doc = send(expired, "--starttls", "--cafile", str(postfix.ca_file), "--from", SENDER,
                     "--to", "robin@smtpsh.test")
    assert text.returncode == exitcodes.FAILED and "C: MAIL" not in text.stdout
    assert "certificate" in doc["error"]["message"] and doc["result"]["sender"] is None
    # the submission port: STARTTLS first, or MAIL is refused
    submission = f"{postfix.host}:{postfix.port('submission')}"
    text, doc = send(submission, "--from", SENDER, "--to", "robin@smtpsh.test")
    assert text.returncode == exitcodes.FAILED
    assert doc["result"]["sender"]["reply"][0].startswith("530 ")


def test_a_recipient_refused_among_several_is_4_and_named(postfix: PostfixEnv) -> None:
    """The message goes to the recipient accepted, but a script must not read "sent": exit 4,
    one line naming the refused, and the same in --json (result.refused, error)."""
    mark = f"partial-{uuid.uuid4().hex[:10]}"
    smtp = f"{postfix.host}:{postfix.port('smtp')}"
    text, doc = send(smtp, "--from", SENDER, "--to", "robin@smtpsh.test", "--to",
                     "nosuchuser@smtpsh.test", "--subject", mark)
    assert text.returncode == exitcodes.FAILED, text.stdout[-2000:]
    said = ("not every recipient: refused <nosuchuser@smtpsh.test> (550 5.1.1); the message"
            " went to 1 of 2 recipients only")
    assert f"✗ {said}" in text.stdout
    assert "queued as" in text.stdout  # robin had it: the message went to the accepted one
    result = doc["result"]
    assert result["accepted"] is True and result["refused"] == ["nosuchuser@smtpsh.test"]
    assert [r["accepted"] for r in result["recipients"]] == [True, False]
    assert doc["error"] == {"kind": "refused", "message": said}
    # every recipient accepted: nothing refused, 0
    text, doc = send(smtp, "--from", SENDER, "--to", "robin@smtpsh.test", "--to",
                     "alice@smtpsh.test", "--subject", mark)
    assert text.returncode == exitcodes.OK and doc["result"]["refused"] == []
    assert "not every recipient" not in text.stdout


def test_ctrl_c_is_130(tmp_path: Path) -> None:
    """A server that never greets: Ctrl-C ends the wait, exit 130, one document."""
    held = threading.Event()

    def mute(sock: socket.socket) -> None:
        held.set()
        read_line(sock)  # never answers; returns when smtpsh goes

    with scripted_server(mute) as port:
        for json_flag in ([], ["--json"]):
            held.clear()
            proc = subprocess.Popen(
                [sys.executable, "-m", "smtpsh", "send", f"127.0.0.1:{port}", "--from", SENDER,
                 "--to", "b@y.test", *json_flag],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                env={**os.environ, "NO_COLOR": "1"},
            )
            assert held.wait(30)
            time.sleep(0.3)  # connected: now waiting for the banner
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=30)
            assert proc.returncode == exitcodes.INTERRUPTED, err
            assert "Traceback" not in err
            if json_flag:
                document(subprocess.CompletedProcess(proc.args, proc.returncode, out, err),
                         "send", exitcodes.INTERRUPTED)


def test_a_reader_that_goes_away_is_141_and_nothing_is_sent() -> None:
    """`smtpsh send ... | head -1`: once the reader is gone smtpsh stops before the message."""
    reader_gone = threading.Event()
    received: list[bytes] = []

    def gated(sock: socket.socket) -> None:
        sock.sendall(b"220 gated.test ESMTP\r\n")
        assert reader_gone.wait(30)
        while line := read_line(sock):
            received.append(line)
            sock.sendall(b"221 bye\r\n" if line.startswith(b"QUIT") else b"250 ok\r\n")
            if line.startswith(b"QUIT"):
                return

    with scripted_server(gated) as port:
        proc = subprocess.Popen(
            [sys.executable, "-m", "smtpsh", "send", f"127.0.0.1:{port}", "--from", SENDER,
             "--to", "b@y.test"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "NO_COLOR": "1"},
        )
        assert proc.stdout is not None and proc.stderr is not None
        assert proc.stdout.readline().startswith(b"S: 220 gated.test")
        proc.stdout.close()  # as head -1 does
        reader_gone.set()
        status = proc.wait(timeout=30)
        err = proc.stderr.read().decode()
    assert status == exitcodes.BROKEN_PIPE, err
    assert "Traceback" not in err and "BrokenPipe" not in err
    assert not any(line.startswith((b"DATA", b"BDAT")) for line in received), received
