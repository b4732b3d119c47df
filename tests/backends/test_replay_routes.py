"""Replaying transcripts recorded over the other ways in: a UNIX socket (Dovecot LMTP) and
a PROXY header are made again as recorded; a pipe and a SOCKS5 proxy only with --pipe /
--socks5 given (a file names no command to run and holds no proxy password), else one line
says what to pass. LMTP's per-recipient replies after the dot are each a step."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.backends.conftest import Backends, log_mark, smtpsh, wait_for_log

pytestmark = pytest.mark.postfix

SENDMAIL_BS = "/usr/sbin/sendmail -bs"


def record(tmp_path: Path, name: str, args: list[str], script: str) -> Path:
    path = tmp_path / f"{name}.smtp"
    result = smtpsh([*args, "--record", str(path)], script)
    assert result.returncode == 0, result.stdout + result.stderr
    return path


def replay(path: Path, *args: str) -> tuple[dict[str, object], str]:
    """The replay's JSON envelope, and its text run's output."""
    result = smtpsh(["replay", str(path), *args, "--json"], timeout=120)
    doc: dict[str, object] = json.loads(result.stdout)
    text = smtpsh(["replay", str(path), *args], timeout=120)
    return doc, text.stdout + text.stderr


def lmtp_script(*recipients: str) -> str:
    rcpts = "".join(f"RCPT TO:<{r}>\n" for r in recipients)
    return (
        f"LHLO client.example\nMAIL FROM:<sender@example.org>\n{rcpts}DATA\n"
        "Subject: replayed\n\nhello\n.\nQUIT\n"
    )


def test_lmtp_over_a_unix_socket_replays_every_recipients_reply(
    backends: Backends, tmp_path: Path, matrix_row: Callable[..., None]
) -> None:
    matrix_row("replay: LMTP over a UNIX socket", "Dovecot LMTP")
    target = f"unix:{backends.dovecot['lmtp_socket']}"
    path = record(tmp_path, "lmtp", [target, "--lmtp"], lmtp_script("alice", "broken", "robin"))
    assert f"# connect {target}" in path.read_text()
    doc, out = replay(path)
    assert doc["status"] == "ok", out
    steps = doc["result"]["steps"]  # type: ignore[index]
    after_dot = [s for s in steps if "'.'" in s["label"]]
    assert [s["label"] for s in after_dot] == [
        "message (3 lines) and '.' for <alice>", "'.' for <broken>", "'.' for <robin>",
    ]  # fmt: skip
    assert [s["got"][0][:3] for s in after_dot] == ["250", "451", "250"]
    assert all(s["ok"] for s in steps)
    assert f"replaying {path} against {target}" in out


def test_lmtp_replay_sees_a_recipients_reply_change(
    backends: Backends, tmp_path: Path
) -> None:
    """Every per-recipient reply is compared, not only the first: the recording says
    robin's delivery failed; live it succeeds, and that step differs."""
    target = f"{backends.host}:{backends.dovecot['lmtp_port']}"
    path = record(tmp_path, "lmtp", [target, "--lmtp"], lmtp_script("alice", "robin"))
    text = path.read_text()
    lines = text.splitlines()
    robin = next(i for i, line in enumerate(lines) if line.endswith("Saved") and "<robin>" in line)
    lines[robin] = lines[robin].split("S: ")[0] + "S: 452 4.2.2 <robin> Mailbox is full"
    path.write_text("\n".join(lines) + "\n")
    doc, out = replay(path)
    assert doc["status"] == "found", out
    steps = doc["result"]["steps"]  # type: ignore[index]
    differed = [s["label"] for s in steps if not s["ok"]]
    assert differed == ["'.' for <robin>"], out
    assert "got 250 2.0.0, expected 452 4.2.2" in out


def test_lmtp_fewer_recipients_live_than_recorded(backends: Backends, tmp_path: Path) -> None:
    target = f"unix:{backends.dovecot['lmtp_socket']}"
    path = record(tmp_path, "lmtp", [target, "--lmtp"], lmtp_script("alice", "robin"))
    # Live, robin is refused at RCPT: the dot then earns one reply, two were recorded.
    path.write_text(path.read_text().replace("RCPT TO:<robin>", "RCPT TO:<nobody>"))
    doc, out = replay(path)
    steps = doc["result"]["steps"]  # type: ignore[index]
    missing = [s for s in steps if s["not_run"]]
    assert [s["label"] for s in missing] == ["'.' (a recorded recipient's reply)"], out
    assert "the server owed 1 replies after '.', the recording has 2" in missing[0]["not_run"]
    assert "no such reply within" not in out  # no 10 s wait for a reply that cannot come


@pytest.mark.parametrize("bdat", [False, True])
def test_lmtp_more_replies_live_than_recorded_each_differ(
    backends: Backends, tmp_path: Path, bdat: bool
) -> None:
    """A recording that holds fewer replies after the end of the message than the live
    server owes: the extra ones were said 'not compared' and the replay exited 0."""
    target = f"{backends.host}:{backends.dovecot['lmtp_port']}"
    script = lmtp_script("alice", "robin")
    if bdat:
        script = script.replace("DATA\nSubject: replayed\n\nhello\n.\n", "BDAT 4 LAST\nhi\n\n")
    path = record(tmp_path, "lmtp", [target, "--lmtp"], script)
    lines = path.read_text().splitlines()
    robin = next(i for i, line in enumerate(lines) if line.endswith("Saved") and "<robin>" in line)
    path.write_text("\n".join(lines[:robin] + lines[robin + 1 :]) + "\n")
    doc, out = replay(path)
    assert doc["status"] == "found" and doc["exit"] == 1, out
    steps = doc["result"]["steps"]  # type: ignore[index]
    [extra] = [s for s in steps if not s["ok"]]
    assert extra["label"] == "'.' for <robin>" and extra["expected"] == []
    assert extra["problems"] == ["a reply the recording does not have"]
    assert extra["got"][0].startswith("250 2.0.0 <robin>")
    assert steps[-1]["label"] == "QUIT" and steps[-1]["ok"]  # the pairing goes on right
    assert "the replies for <robin> are not in the recording (each counts as a difference)" in out


def test_pipe_transcript_needs_pipe_given(tmp_path: Path) -> None:
    path = record(tmp_path, "pipe", ["--pipe", SENDMAIL_BS], "EHLO me\nQUIT\n")
    assert f"# connect pipe:{SENDMAIL_BS}" in path.read_text()
    refused = smtpsh(["replay", str(path)])
    assert refused.returncode == 2
    assert (
        f"the transcript was recorded over a pipe to '{SENDMAIL_BS}': replay runs no command a"
        f" file names; give --pipe '{SENDMAIL_BS}' to run it yourself (or HOST[:PORT])"
        in refused.stderr
    )
    doc, out = replay(path, "--pipe", SENDMAIL_BS)
    assert doc["status"] == "ok", out
    assert "3 steps, 3 matched" in out


def test_socks_transcript_needs_socks_given(
    backends: Backends, tmp_path: Path, socks_args: list[str], matrix_row: Callable[..., None]
) -> None:
    matrix_row("replay through SOCKS5", "microsocks")
    path = record(tmp_path, "socks", ["localhost:25", *socks_args], "EHLO me\nQUIT\n")
    proxy = f"{backends.host}:{backends.ports['socks']}"
    assert f"# connect localhost:25 via SOCKS5 {proxy}" in path.read_text()
    refused = smtpsh(["replay", str(path)])
    assert refused.returncode == 2
    assert (
        f"the transcript was recorded through the SOCKS5 proxy {proxy}: give --socks5"
        f" [USER@]{proxy} (and --socks5-password-file/-env) to go the same way, or"
        " HOST[:PORT] to connect directly" in refused.stderr
    )
    doc, out = replay(path, *socks_args)
    assert doc["status"] == "ok", out
    assert f"against localhost:25 via SOCKS5 {proxy}" in out
    # The proxy is on the path: a wrong password stops the replay there.
    bad = [*socks_args[:2], "--socks5-password-env", "HOME"]
    result = smtpsh(["replay", str(path), *bad])
    assert f"SOCKS proxy {proxy} refused the user 'socksuser'" in result.stdout + result.stderr
    # HOST given: connect directly, as said.
    doc, out = replay(path, "127.0.0.1:25")
    assert doc["status"] == "ok", out


def test_proxy_header_is_sent_again_as_recorded(backends: Backends, tmp_path: Path) -> None:
    source = "198.51.100.61"
    path = record(tmp_path, "proxy", [backends.target("proxy"), "--proxy-v2", f"{source}:4000"],
                  "EHLO me\nQUIT\n")  # fmt: skip
    assert f"(PROXY v2 from {source}:4000)" in path.read_text()
    mark = log_mark()
    doc, out = replay(path)
    assert doc["status"] == "ok", out
    wait_for_log(f"connect from unknown[{source}]", mark)
    # The user's own header replaces the recorded one.
    mark = log_mark()
    doc, out = replay(path, "--proxy-v1", "198.51.100.62:5000")
    assert doc["status"] == "ok", out
    wait_for_log("connect from unknown[198.51.100.62]", mark)
