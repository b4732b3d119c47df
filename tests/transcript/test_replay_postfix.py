"""Record real sessions against the loopback Postfix, replay them, diff the replies."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.helpers.run import run_piped
from tests.helpers.scripted_server import scripted_server

from .common import replay, transcript_lines

if TYPE_CHECKING:
    import socket

    from tests.conftest import PostfixEnv

pytestmark = pytest.mark.postfix


def message_script(msgid: str, subject: str) -> list[str]:
    return [
        f"Subject: {subject}",
        f"Message-ID: {msgid}",
        "",
        ".dotline",
        "..two dots",
        "last line",
        ".",
    ]


def mail_copies(postfix: PostfixEnv, msgid: str, count: int) -> list[str]:
    """Wait until ``count`` messages with ``msgid`` are in robin's mbox; return them."""
    deadline = time.monotonic() + 30
    while True:
        postfix.wait_for_mail("robin", msgid)
        text = postfix.mailbox("robin").read_text(encoding="utf-8", errors="replace")
        found = [m for m in re.split(r"(?m)^(?=From )", text) if msgid in m]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


@pytest.fixture(scope="module")
def recorded(postfix: PostfixEnv, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A piped session recorded with --record: EHLO, VRFY, MAIL, RCPT, DATA, QUIT."""
    home = tmp_path_factory.mktemp("rec")
    path = home / "session.smtpt"
    msgid = f"<{uuid.uuid4().hex}@smtpsh.test>"
    script = [
        "EHLO recorder.smtpsh.test",
        "VRFY robin",
        "MAIL FROM:<alice@smtpsh.test>",
        "RCPT TO:<robin@smtpsh.test>",
        "DATA",
        *message_script(msgid, "recorded"),
        "QUIT",
    ]
    result = run_piped(
        ["--record", str(path), f"{postfix.host}:{postfix.port('smtp')}"],
        "\n".join(script) + "\n",
        home,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (home / "stdout.txt").write_text(result.stdout)
    return path, msgid


def test_recording_holds_every_line_shown_mode_0600_and_stuffed_body(
    postfix: PostfixEnv, recorded: tuple[Path, str]
) -> None:
    path, msgid = recorded
    assert path.stat().st_mode & 0o777 == 0o600
    text = path.read_text()
    lines = text.splitlines()
    assert lines[0] == "# smtpsh transcript 1"
    assert re.fullmatch(r"\+\d+ +# connect 127\.0\.0\.1:25", lines[2])
    body = transcript_lines(path)
    assert "C: VRFY robin" in body and "S: 252 2.0.0 robin" in body
    # The message as it went on the wire: dot-stuffed, then the lone dot.
    start = body.index("S: 354 End data with <CR><LF>.<CR><LF>")
    assert body[start + 1 : start + 8] == [
        "C: Subject: recorded",
        f"C: Message-ID: {msgid}",
        "C: ",
        "C: ..dotline",
        "C: ...two dots",
        "C: last line",
        "C: .",
    ]
    # Every reply line and command the piped shell printed is in the transcript.
    shown = (path.parent / "stdout.txt").read_text().splitlines()
    dialogue = [line for line in shown if line.startswith("S: ")]
    assert dialogue and all(line in body for line in dialogue)
    delivered = mail_copies(postfix, msgid, 1)[0]
    assert "\n.dotline\n" in delivered and "\n..two dots\n" in delivered


def test_replay_against_the_same_postfix_matches_and_delivers_again(
    postfix: PostfixEnv, recorded: tuple[Path, str], tmp_path: Path
) -> None:
    path, msgid = recorded
    result = replay([str(path)], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == "8 steps, 8 matched, 0 differed"
    assert re.search(r"✓ +3 +VRFY robin +252 2\.0\.0", result.stdout)
    assert re.search(r"✓ +7 +message \(6 lines\) and '\.' +250 2\.0\.0", result.stdout)
    copies = mail_copies(postfix, msgid, 2)
    assert len(copies) == 2
    # Sent again through the DATA encoder: stuffed once, not twice.
    assert all("\n.dotline\n" in c and "\n..two dots\n" in c for c in copies)


def test_replay_with_vrfy_disabled_fails_and_names_the_step(
    postfix: PostfixEnv, recorded: tuple[Path, str], tmp_path: Path
) -> None:
    path, _ = recorded
    result = replay([str(path), f"{postfix.host}:{postfix.port('no_vrfy')}"], tmp_path)
    assert result.returncode == 1, result.stdout
    failed = [line for line in result.stdout.splitlines() if line.startswith("✗")]
    assert len(failed) == 1
    assert re.match(
        r"✗ +3 +VRFY robin +got 502 5\.5\.1, expected 252 2\.0\.0 +\(line \d+\)", failed[0]
    )
    assert "        - 252 2.0.0 robin" in result.stdout
    assert "        + 502 5.5.1 VRFY command is disabled" in result.stdout
    assert result.stdout.splitlines()[-1] == "8 steps, 7 matched, 1 differed"


def test_strict_compares_text_and_regex_lines_make_it_pass(
    postfix: PostfixEnv, recorded: tuple[Path, str], tmp_path: Path
) -> None:
    path, _ = recorded
    strict = replay(["--strict", str(path)], tmp_path)
    assert strict.returncode == 1
    assert re.search(r"✗ +7 +message .* line 1 text differs", strict.stdout)
    assert "queued as" in strict.stdout
    # The queue id as a regular expression: --strict passes.
    text = re.sub(r"queued as [0-9A-F]+", "queued as ~/[0-9A-F]+/", path.read_text())
    regex_file = tmp_path / "regex.smtpt"
    regex_file.write_text(text)
    assert replay(["--strict", str(regex_file)], tmp_path).returncode == 0
    # A regex line is checked without --strict too.
    wrong = tmp_path / "wrong.smtpt"
    wrong.write_text(text.replace("~/[0-9A-F]+/", "~/[a-z]+/"))
    result = replay([str(wrong)], tmp_path)
    assert result.returncode == 1 and "does not match its ~/regex/" in result.stdout


def need_swaks() -> str:
    found = shutil.which("swaks")
    if found is None:
        message = "swaks is not installed (scripts/setup-test-env installs it)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return found


def test_swaks_transcript_replays(postfix: PostfixEnv, tmp_path: Path) -> None:
    swaks = need_swaks()
    msgid = f"<{uuid.uuid4().hex}@smtpsh.test>"
    run = subprocess.run(
        [
            swaks, "--server", f"{postfix.host}:{postfix.port('smtp')}",
            "--from", "alice@smtpsh.test", "--to", "robin@smtpsh.test",
            "--header", f"Message-Id: {msgid}", "--body", "hello\n.dotline\nbye",
        ],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    saved = tmp_path / "swaks.txt"
    saved.write_text(run.stdout + run.stderr)
    assert " -> ..dotline" in saved.read_text()
    result = replay([str(saved)], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == "7 steps, 7 matched, 0 differed"
    copies = mail_copies(postfix, msgid, 2)
    assert len(copies) == 2 and all("\n.dotline\n" in c for c in copies)


def test_swaks_pipelined_and_starttls_transcripts(postfix: PostfixEnv, tmp_path: Path) -> None:
    swaks = need_swaks()
    target = f"{postfix.host}:{postfix.port('smtp')}"
    saved = tmp_path / "swaks-tls.txt"
    run = subprocess.run(
        [swaks, "--server", target, "--to", "robin@smtpsh.test", "--tls", "--pipeline"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    saved.write_text(run.stdout + run.stderr)
    ok = replay([str(saved), "--cafile", str(postfix.ca_file)], tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert re.search(r"✓ +3 +STARTTLS +220 2\.0\.0", ok.stdout)
    assert ", 0 differed" in ok.stdout.splitlines()[-1]
    # Without the test CA the certificate is not trusted: one clear line, the rest not run.
    bad = replay([str(saved)], tmp_path)
    assert bad.returncode == 1
    assert re.search(r"✗ +3 +STARTTLS +TLS: .*not from a trusted CA", bad.stdout)
    assert "not run: the connection closed during step 3" in bad.stdout
    assert "Traceback" not in bad.stdout + bad.stderr


def test_recorded_starttls_session_replays(postfix: PostfixEnv, tmp_path: Path) -> None:
    path = tmp_path / "tls.smtpt"
    script = "EHLO me\nSTARTTLS\nEHLO me\nMAIL FROM:<alice@smtpsh.test>\nRSET\nQUIT\n"
    target = f"{postfix.host}:{postfix.port('smtp')}"
    ca = ["--cafile", str(postfix.ca_file)]
    rec = run_piped(["--record", str(path), *ca, target], script, tmp_path)
    assert rec.returncode == 0, rec.stdout + rec.stderr
    body = transcript_lines(path)
    ready = body.index("S: 220 2.0.0 Ready to start TLS")
    assert re.fullmatch(r"# tls TLSv1\.[23] \S+", body[ready + 1])
    assert body[ready + 2] == "C: EHLO me"
    result = replay([str(path), *ca], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == "7 steps, 7 matched, 0 differed"


def test_implicit_tls_recording_replays_with_tls_from_the_first_byte(
    postfix: PostfixEnv, tmp_path: Path
) -> None:
    path = tmp_path / "smtps.smtpt"
    target = f"{postfix.host}:{postfix.port('smtps')}"
    ca = ["--cafile", str(postfix.ca_file)]
    rec = run_piped(["--record", str(path), "--tls", *ca, target], "EHLO me\nQUIT\n", tmp_path)
    assert rec.returncode == 0, rec.stdout + rec.stderr
    body = transcript_lines(path)
    assert body[2] == f"# connect {target}"
    assert re.fullmatch(r"# tls TLSv1\.[23] \S+", body[3]) and body[4].startswith("S: 220 ")
    # No --tls given: the '# tls' line before the banner says so.
    result = replay([str(path), *ca], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == "3 steps, 3 matched, 0 differed"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_bdat_and_pipelining_by_hand(postfix: PostfixEnv, tmp_path: Path) -> None:
    msgid = f"<{uuid.uuid4().hex}@smtpsh.test>"
    header = f"Message-ID: {msgid}"
    size = len(header) + 2 + len("Subject: bdat\r\n\r\n")
    path = write(
        tmp_path,
        "bdat.smtpt",
        f"""\
# connect {postfix.host}:{postfix.port("smtp")}
S: 220 mx.smtpsh.test ESMTP
C: EHLO me
S: 250-mx.smtpsh.test
S: 250 CHUNKING
C: MAIL FROM:<alice@smtpsh.test>
C: RCPT TO:<someone@nowhere.example>
C: RCPT TO:<robin@smtpsh.test>
S: 250 2.1.0 Ok
S: 454 4.7.1 <someone@nowhere.example>: ~/Relay.*/
S: 250 2.1.5 Ok
C: BDAT {size}
C: {header}
C: Subject: bdat
C:
S: 250 2.0.0 Ok: {size} bytes
C: BDAT 14 LAST
C: .not stuffed
S: 250 2.0.0 Ok: ~/\\d+/ bytes queued as ~/[0-9A-F]+/
C: QUIT
S: 221 2.0.0 Bye
""",
    )
    result = replay([str(path)], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == "8 steps, 8 matched, 0 differed"
    delivered = mail_copies(postfix, msgid, 1)[0]
    assert "\n.not stuffed\n" in delivered


def test_refused_data_skips_the_message_and_goes_on(postfix: PostfixEnv, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "refused.smtpt",
        """\
S: 220 x
C: EHLO me
S: 250 ok
C: MAIL FROM:<alice@smtpsh.test>
S: 250 2.1.0 Ok
C: RCPT TO:<someone@nowhere.example>
S: 250 2.1.5 Ok
C: DATA
S: 354 go
C: Subject: never sent
C: .
S: 250 2.0.0 Ok
C: QUIT
S: 221 2.0.0 Bye
""",
    )
    result = replay([str(path), f"{postfix.host}:{postfix.port('smtp')}"], tmp_path)
    assert result.returncode == 1
    out = result.stdout
    assert re.search(r"✗ +4 +RCPT TO:<someone@nowhere.example> +got 454 4\.7\.1", out)
    assert re.search(r"✗ +5 +DATA +got 554 5\.5\.1", out)
    assert re.search(r"✗ +6 +message \(1 line\) and '\.' +not run: the server did not answer", out)
    assert re.search(r"✓ +7 +QUIT +221", out)
    assert out.splitlines()[-1] == "7 steps, 4 matched, 2 differed, 1 not run"


def test_pace_keeps_the_recorded_think_time(postfix: PostfixEnv, tmp_path: Path) -> None:
    # Each bound holds on a loaded machine: a paced replay cannot be quicker than the
    # think time it keeps, and one without --pace is far quicker than the 60 s it skips.
    # (The difference of two timings, which this used to check, moves with the load.)
    def transcript(name: str, first_ms: int, second_ms: int) -> Path:
        return write(
            tmp_path,
            name,
            f"# connect {postfix.host}:{postfix.port('smtp')}\n+0 S: 220 x\n"
            f"+{first_ms} C: NOOP\n+1 S: 250 2.0.0 Ok\n+{second_ms} C: QUIT\n"
            "+1 S: 221 2.0.0 Bye\n",
        )

    started = time.monotonic()
    fast = replay([str(transcript("fast.smtpt", 30_000, 30_000))], tmp_path)
    fast_time = time.monotonic() - started
    started = time.monotonic()
    paced = replay(["--pace", str(transcript("paced.smtpt", 700, 800))], tmp_path)
    paced_time = time.monotonic() - started
    assert fast.returncode == paced.returncode == 0, fast.stdout + paced.stdout
    assert fast_time < 30, fast_time
    assert paced_time >= 1.5, paced_time


class Listener:
    """A loopback port that counts connections (to prove nothing was sent)."""

    def __init__(self) -> None:
        self.connections = 0
        self.lock = threading.Lock()

    def __call__(self, sock: socket.socket) -> None:
        with self.lock:
            self.connections += 1
        sock.sendall(b"220 test\r\n")


@pytest.mark.parametrize(
    ("text", "line", "what"),
    [
        ("S: 220 hi\nC: EHLO me\nS: 250 ok\nX: what\nC: QUIT\n", 4, "unknown line"),
        ("S: 220 hi\nC: EHLO me\nS: ok fine\nC: QUIT\n", 3, "3-digit reply code"),
        ("S: 220 hi\nC: EHLO me\nS: 250 ok\nC: DATA\nS: 354 go\nC: Subject: x\n", 5, "no end"),
    ],
)
def test_malformed_transcript_one_clear_error_and_nothing_sent(
    tmp_path: Path, text: str, line: int, what: str
) -> None:
    path = write(tmp_path, "bad.smtpt", text)
    listener = Listener()
    with scripted_server(listener) as port:
        result = replay([str(path), f"127.0.0.1:{port}"], tmp_path)
        time.sleep(0.3)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"smtpsh replay: {path}, line {line}: ")
    assert what in result.stderr and result.stderr.count("\n") == 1
    assert listener.connections == 0


def test_dry_run_prints_what_would_be_sent_and_connects_to_nothing(
    recorded: tuple[Path, str], tmp_path: Path
) -> None:
    path, _ = recorded
    listener = Listener()
    with scripted_server(listener) as port:
        result = replay(["--dry-run", str(path), f"127.0.0.1:{port}"], tmp_path)
        time.sleep(0.3)
    assert result.returncode == 0
    assert listener.connections == 0
    out = result.stdout.splitlines()
    assert f"# would connect to 127.0.0.1:{port}" in out
    assert "C: VRFY robin" in out and "    expect 252 2.0.0" in out
    assert "C: ..dotline" in out and "C: ...two dots" in out and "C: ." in out
    assert out[-1] == "dry run: 6 commands and 1 message to send, 8 replies to compare"


def test_no_server_named_is_a_usage_error(tmp_path: Path) -> None:
    path = write(tmp_path, "noserver.smtpt", "C: EHLO me\nS: 250 ok\n")
    result = replay([str(path)], tmp_path)
    assert result.returncode == 2
    assert "names no server (no '# connect' line): give HOST[:PORT]" in result.stderr


def test_an_unexpected_354_sends_no_message(postfix: PostfixEnv, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "no-message.smtpt",
        "S: 220 x\nC: EHLO me\nS: 250 ok\nC: MAIL FROM:<alice@smtpsh.test>\nS: 250 ok\n"
        "C: RCPT TO:<robin@smtpsh.test>\nS: 550 5.1.1 no such user\n"
        "C: DATA\nS: 554 5.5.1 Error: no valid recipients\nC: QUIT\nS: 221 2.0.0 Bye\n",
    )
    mark = postfix.log_mark()
    result = replay([str(path), f"{postfix.host}:{postfix.port('smtp')}"], tmp_path)
    assert result.returncode == 1
    assert re.search(r"✗ +5 +DATA +got 354, expected 554 5\.5\.1", result.stdout)
    assert "connection closed (no empty message sent)" in result.stdout
    assert re.search(r"✗ +6 +QUIT +not run: the connection was closed after step 5", result.stdout)
    # Postfix saw the client go away in DATA, without a message.
    postfix.wait_for_log("lost connection after DATA", mark)


def test_replay_in_a_piped_shell_sets_the_exit_status(
    postfix: PostfixEnv, recorded: tuple[Path, str], tmp_path: Path
) -> None:
    path, _ = recorded
    ok = run_piped([f"{postfix.host}:{postfix.port('smtp')}"], f"/replay {path}\n", tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "banner: not compared (the session was already open)" in ok.stdout
    assert "7 steps, 7 matched, 0 differed" in ok.stdout
    bad = run_piped([f"{postfix.host}:{postfix.port('no_vrfy')}"], f"/replay {path}\n", tmp_path)
    assert bad.returncode == 1
    assert re.search(r"✗ +2 +VRFY robin +got 502 5\.5\.1", bad.stdout)
