"""`smtpsh send` (one message, as swaks sends it) and /compose build the same message from
the same options; --dry-run, --quit-after, --drop-after, --timing, --local-address."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from tests.helpers.run import run_piped, smtpsh_env
from tests.helpers.scripted_server import read_line, scripted_server

if TYPE_CHECKING:
    from tests.conftest import PostfixEnv

_ADDED_BY_DELIVERY = ("return-path", "x-original-to", "delivered-to", "received")


def smtpsh(args: list[str], home: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "smtpsh", *args], input=stdin,
                          capture_output=True, text=True, timeout=60, env=smtpsh_env(home))


def as_built(mbox_message: str) -> str:
    """An mbox message without what delivery added (the From_ line, Return-Path,
    Received...) and without Date and Message-ID: what the client built, byte for byte."""
    lines = mbox_message.split("\n")[1:]
    out: list[str] = []
    skipping = False
    in_headers = True
    for line in lines:
        if in_headers and line == "":
            in_headers = False
        if in_headers:
            if line[:1] in (" ", "\t"):
                if skipping:
                    continue
            else:
                name = line.split(":", 1)[0].lower()
                skipping = name in (*_ADDED_BY_DELIVERY, "date", "message-id")
                if skipping:
                    continue
        out.append(line)
    return "\n".join(out)


def message_id(dialogue: str) -> str:
    found = re.search(r"^C: Message-ID: (<[^>]+>)", dialogue, re.MULTILINE | re.IGNORECASE)
    assert found, dialogue
    return found.group(1)


def test_send_and_compose_build_the_same_message(postfix: PostfixEnv, tmp_path: Path) -> None:
    mark = f"same-{uuid.uuid4().hex[:10]}"
    attachment = tmp_path / "data.bin"
    attachment.write_bytes(b"\x00\x01 attached " + mark.encode())
    options = [
        "--from", "tester@client.smtpsh.test", "--to", "robin@smtpsh.test",
        "--subject", f"built twice {mark} for %TO%",
        "--body", f"Hello %FROM%,\\n{mark}\\nfor %TO%.",
        "--header", "X-Mark: " + mark, "--header", "Subject: replaced " + mark,
        "--add-header", "X-Added: one", "--add-header", "X-Added: two",
        "--attach-type", "application/x-smtpsh-test", "--attach-name", "shown.bin",
        "--attach", str(attachment),
    ]
    sent = smtpsh(["send", f"{postfix.host}:{postfix.port('smtp')}", *options], tmp_path)
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert "message accepted" in sent.stdout
    quoted = " ".join(f"'{o}'" for o in options)
    composed = run_piped([postfix.host], f"EHLO client.smtpsh.test\n/compose --yes {quoted}\n",
                         tmp_path)
    assert composed.returncode == 0, composed.stdout
    one = postfix.wait_for_mail("robin", message_id(sent.stdout))
    two = postfix.wait_for_mail("robin", message_id(composed.stdout))
    assert one != two  # two messages (their Date and Message-ID differ)
    assert as_built(one) == as_built(two)
    built = as_built(one)
    assert f"Subject: replaced {mark}" in built and "built twice" not in built  # replaced
    assert "X-Added: one\nX-Added: two" in built
    assert "Hello tester@client.smtpsh.test," in built  # %FROM%
    assert 'Content-Type: application/x-smtpsh-test' in built
    assert 'filename="shown.bin"' in built


def test_dry_run_connects_to_nothing(tmp_path: Path) -> None:
    body = "Line one for %TO%\nfrom %FROM%, message %MESSAGEID%\n"
    notes = tmp_path / "notes.txt"
    notes.write_text("a note\n")
    result = smtpsh(
        ["send", "127.0.0.1:1", "--dry-run", "--from", "a@x.test", "--to", "b@y.test",
         "--cc", "c@z.test", "--body-file", "-", "--header", "X-Case: 7",
         "--attach", str(notes), "--attach-name", "renamed.txt", "--attach", str(notes)],
        tmp_path, stdin=body,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.splitlines()[1:4] == ["MAIL FROM:<a@x.test>", "RCPT TO:<b@y.test>",
                                     "RCPT TO:<c@z.test>"]
    assert "Line one for b@y.test" in out and "from a@x.test, message <" in out
    assert "%" not in out.split("DATA", 1)[1]
    assert "X-Case: 7" in out
    assert out.count('filename="notes.txt"') == 1 and out.count('filename="renamed.txt"') == 1
    assert "Connection refused" not in out + result.stderr


def test_send_reports_bad_input_in_one_line(tmp_path: Path) -> None:
    for args, message in (
        (["--to", "b@y.test"], "no sender: give --from ADDRESS (or mail_from in config.toml)"),
        (["--from", "a@x.test"], "no recipient: give --to ADDRESS"),
        (["--from", "a@x.test", "--to", "b@y", "--header", "broken"],
         "--header 'broken': write it as 'Name: value'"),
        (["--from", "a@x.test", "--to", "b@y", "--attach", "/nonexistent/f"],
         "--attach /nonexistent/f: no such file"),
    ):
        result = smtpsh(["send", "127.0.0.1:1", "--dry-run", *args], tmp_path)
        assert result.returncode == 2, result
        assert result.stderr == f"smtpsh send: {message}\n", result.stderr


def test_an_address_with_a_control_character_is_quoted_whole_and_escaped(
    tmp_path: Path,
) -> None:
    # Split at the CR, the error named 'bad' alone (the rest of the value unseen), and
    # 'a@x<CR>b@y' passed as two recipients.
    for args, shown in (
        (["--to", "b@y.test", "--to", "bad\r\nRCPT TO:<x@y.test>"],
         "'bad\\x0d\\x0aRCPT TO:<x@y.test>': \\x0d (a control character) in an address"),
        (["--to", "robin@y.test\rX-Injected: yes"],
         "'robin@y.test\\x0dX-Injected: yes': \\x0d (a control character) in an address"),
        (["--to", "a@y.test\rb@y.test"],
         "'a@y.test\\x0db@y.test': \\x0d (a control character) in an address"),
        (["--cc", "a@y.test\x1b[2J"],
         "'a@y.test\\x1b[2J': \\x1b (a control character) in an address"),
    ):
        result = smtpsh(["send", "127.0.0.1:1", "--dry-run", "--from", "a@x.test", *args],
                        tmp_path)
        assert result.returncode == 2, result
        assert result.stderr == f"smtpsh send: {shown}\n", result.stderr
    result = smtpsh(["send", "127.0.0.1:1", "--dry-run", "--from", "a@x.test\r",
                     "--to", "b@y.test"], tmp_path)
    assert result.returncode == 2, result
    assert "'a@x.test\\x0d': \\x0d (a control character)" in result.stderr


def test_quit_after_rcpt_is_an_address_check(postfix: PostfixEnv, tmp_path: Path) -> None:
    target = f"{postfix.host}:{postfix.port('smtp')}"
    base = ["send", target, "--from", "tester@client.smtpsh.test", "--quit-after", "rcpt"]
    known = smtpsh([*base, "--to", "robin@smtpsh.test"], tmp_path)
    assert known.returncode == 0, known.stdout
    assert "C: RCPT TO:<robin@smtpsh.test>" in known.stdout and "C: QUIT" in known.stdout
    assert "C: DATA" not in known.stdout
    assert "--quit-after rcpt: ending the session" in known.stdout
    unknown = smtpsh([*base, "--to", "nosuchuser@smtpsh.test"], tmp_path)
    assert unknown.returncode == 4, unknown.stdout  # failed (smtpsh.exitcodes)
    assert "550 5.1.1" in unknown.stdout and "C: DATA" not in unknown.stdout


def test_drop_after_hangs_up_without_quit(tmp_path: Path) -> None:
    received: list[bytes] = []

    def handler(sock: socket.socket) -> None:
        sock.sendall(b"220 drop.test ESMTP\r\n")
        while line := read_line(sock):
            received.append(line)
            sock.sendall(b"250 2.0.0 ok\r\n")

    with scripted_server(handler) as port:
        result = run_piped(
            [f"127.0.0.1:{port}", "--drop-after", "mail"],
            "EHLO me.test\nMAIL FROM:<a@b.test>\nRCPT TO:<c@d.test>\nDATA\n", tmp_path,
        )
    assert result.returncode == 0, result.stdout
    assert received == [b"EHLO me.test\r\n", b"MAIL FROM:<a@b.test>\r\n"]
    assert "--drop-after mail: hanging up without QUIT" in result.stdout


def test_a_typed_bdat_stops_at_the_quit_after_step(tmp_path: Path) -> None:
    # A BDAT typed by hand went past --quit-after rcpt: the message was delivered.
    received: list[bytes] = []

    def handler(sock: socket.socket) -> None:
        sock.sendall(b"220 bdat.test ESMTP\r\n")
        while line := read_line(sock):
            received.append(line)
            if line.upper().startswith(b"EHLO"):
                sock.sendall(b"250-bdat.test\r\n250 CHUNKING\r\n")
            elif line.upper().startswith(b"QUIT"):
                sock.sendall(b"221 bye\r\n")
                return
            else:
                sock.sendall(b"250 2.0.0 ok\r\n")

    script = "EHLO me.test\nMAIL FROM:<a@b.test>\nRCPT TO:<c@d.test>\nBDAT 3 LAST\nhi\n"
    for option, step, ending in (("--quit-after", "rcpt", b"QUIT\r\n"),
                                 ("--drop-after", "data", None)):
        received.clear()
        with scripted_server(handler) as port:
            result = run_piped([f"127.0.0.1:{port}", option, step], script, tmp_path)
        assert result.returncode == 0, result.stdout
        assert not any(line.upper().startswith(b"BDAT") for line in received), received
        assert received[:3] == [b"EHLO me.test\r\n", b"MAIL FROM:<a@b.test>\r\n",
                                b"RCPT TO:<c@d.test>\r\n"]
        assert received[3:] == ([ending] if ending else [])
        assert f"{option} {step}:" in result.stdout


def test_quit_after_banner_in_a_script(postfix: PostfixEnv, tmp_path: Path) -> None:
    result = run_piped([postfix.host, "--quit-after", "banner"], "EHLO me\nNOOP\n", tmp_path)
    assert result.returncode == 0
    sent = [line for line in result.stdout.splitlines() if line.startswith("C: ")]
    assert sent == ["C: QUIT"], result.stdout


def test_timing_on_every_annotation(postfix: PostfixEnv, tmp_path: Path) -> None:
    result = run_piped([postfix.host, "--timing"], "EHLO me\nNOOP\nQUIT\n", tmp_path)
    timed = re.findall(r"^  ↳ .* · \+[\d,]+ ms$", result.stdout, re.MULTILINE)
    assert len(timed) == 4, result.stdout  # banner, EHLO, NOOP, QUIT
    script = "/timing on\nNOOP\n/timing off\nNOOP\nQUIT\n"
    result = run_piped([postfix.host, "--no-annotate"], script, tmp_path)
    assert len(re.findall(r"^  ↳ \+[\d,]+ ms$", result.stdout, re.MULTILINE)) == 1, result.stdout


def test_timing_shows_a_slow_reply(tmp_path: Path) -> None:
    import time

    def handler(sock: socket.socket) -> None:
        sock.sendall(b"220 slow.test ESMTP\r\n")
        while line := read_line(sock):
            if line.startswith(b"RCPT"):
                time.sleep(0.6)  # a tarpit
            sock.sendall(b"250 2.0.0 ok\r\n" if not line.startswith(b"QUIT") else b"221 bye\r\n")

    with scripted_server(handler) as port:
        result = run_piped([f"127.0.0.1:{port}", "--timing"],
                           "MAIL FROM:<a@b.test>\nRCPT TO:<c@d.test>\nQUIT\n", tmp_path)
    times = [int(t.replace(",", "")) for t in re.findall(r"\+([\d,]+) ms", result.stdout)]
    assert len(times) == 4 and times[2] >= 550 and times[1] < 550, result.stdout


def test_local_address(tmp_path: Path) -> None:
    peers: list[str] = []

    def handler(sock: socket.socket) -> None:
        peers.append(sock.getpeername()[0])
        sock.sendall(b"220 here.test ESMTP\r\n")
        while line := read_line(sock):
            sock.sendall(b"221 bye\r\n" if line.startswith(b"QUIT") else b"250 ok\r\n")

    with scripted_server(handler) as port:
        result = run_piped([f"127.0.0.1:{port}", "--local-address", "127.0.0.2"], "NOOP\n",
                           tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert peers == ["127.0.0.2"]
    bad = run_piped(["127.0.0.1:1", "--local-address", "[::1"], "", tmp_path)
    assert bad.returncode == 2 and "bad --local-address '[::1'" in bad.stderr


def test_quit_after_tls_ends_the_opening_there(postfix: PostfixEnv, tmp_path: Path) -> None:
    args = [f"{postfix.host}:{postfix.port('smtp')}", "--starttls", "--cafile",
            str(postfix.ca_file), "--quit-after", "tls"]
    result = run_piped(args, "MAIL FROM:<a@client.smtpsh.test>\n", tmp_path)
    assert result.returncode == 0, result.stdout
    sent = [line for line in result.stdout.splitlines() if line.startswith("C: ")]
    assert sent == ["C: EHLO " + sent[0].split()[-1], "C: STARTTLS", "C: QUIT"], result.stdout
    assert "--quit-after tls: ending the session" in result.stdout


def test_send_with_bdat_in_chunks_of_the_size_given(postfix: PostfixEnv, tmp_path: Path) -> None:
    """`smtpsh send --bdat` takes /compose's --chunk (a size of 0 would never end)."""
    mark = f"bdat-{uuid.uuid4().hex[:10]}"
    target = f"{postfix.host}:{postfix.port('smtp')}"
    args = ["send", target, "--from", "tester@client.smtpsh.test", "--to", "robin@smtpsh.test",
            "--subject", mark, "--bdat"]
    sent = smtpsh([*args, "--chunk", "100"], tmp_path)
    assert sent.returncode == 0, sent.stdout + sent.stderr
    chunks = re.findall(r"^C: BDAT (\d+)( LAST)?$", sent.stdout, re.MULTILINE)
    assert len(chunks) > 2 and all(size == "100" for size, _ in chunks[:-1]), sent.stdout
    assert [last for _, last in chunks].count(" LAST") == 1 and chunks[-1][1] == " LAST"
    shown = re.search(r"^Message-ID: (<[^>]+>)$", sent.stdout, re.MULTILINE)  # the preview
    assert shown, sent.stdout
    assert mark in postfix.wait_for_mail("robin", shown.group(1))
    for bad in ("0", "-1", "many"):
        refused = smtpsh([*args, f"--chunk={bad}"], tmp_path)
        assert refused.returncode == 2 and "C: " not in refused.stdout, refused
        assert f"argument --chunk: '{bad}': give a number of octets, 1 or more" in refused.stderr


def test_quit_after_data_and_dot_with_bdat(postfix: PostfixEnv, tmp_path: Path) -> None:
    """BDAT has no DATA: --quit-after data ends before the first chunk (nothing of the
    message goes, as after DATA's 354); --quit-after dot ends once BDAT LAST is answered."""
    target = f"{postfix.host}:{postfix.port('smtp')}"
    base = ["send", target, "--from", "tester@client.smtpsh.test", "--to", "robin@smtpsh.test",
            "--bdat", "--chunk", "100"]
    data = smtpsh([*base, "--quit-after", "data"], tmp_path)
    assert data.returncode == 0, data.stdout
    sent = [line for line in data.stdout.splitlines() if line.startswith("C: ")]
    assert sent[-3:] == ["C: MAIL FROM:<tester@client.smtpsh.test> SIZE=" + sent[-3].split("=")[1],
                         "C: RCPT TO:<robin@smtpsh.test>", "C: QUIT"], data.stdout
    assert "--quit-after data: ending the session" in data.stdout
    dot = smtpsh([*base, "--quit-after", "dot"], tmp_path)
    assert dot.returncode == 0, dot.stdout
    after_last = dot.stdout.split(" LAST\n", 1)[1]
    assert "message accepted" in after_last
    assert "--quit-after dot: ending the session" in after_last and "C: QUIT" in after_last
