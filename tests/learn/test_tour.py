"""/tour on the sandbox: driven in a real terminal from start to end, and piped to check
that a wrong line is explained and never sent."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from smtpsh.shell.learn_commands import TOUR
from tests.helpers.run import run_piped, smtpsh_env
from tests.helpers.tmux import Screen, patient

PLAIN = base64.b64encode(b"\0alice\0sandbox-pass").decode()
STEPS = len(TOUR)


@pytest.fixture
def screen(tmp_path: Path) -> Iterator[Screen]:
    shell = Screen(["--sandbox"], smtpsh_env(tmp_path))
    yield shell
    shell.close()


def step(number: int, name: str) -> str:
    return f"tour {number}/{STEPS} · {name}"


def wait_words(screen: Screen, needle: str, timeout: float = 15) -> None:
    """Like Screen.wait_for, but the tour wraps its text to the terminal's width: compare
    with all white space (line breaks too) as single spaces."""
    deadline = time.monotonic() + patient(timeout)
    wanted = " ".join(needle.split())
    while time.monotonic() < deadline:
        if wanted in " ".join(screen.text().split()):
            return
        time.sleep(0.1)
    raise AssertionError(f"{needle!r} not on screen after {patient(timeout)} s:\n{screen.text()}")


@pytest.mark.pty
def test_tour_from_start_to_end_in_a_terminal(screen: Screen, tmp_path: Path) -> None:
    screen.wait_for("220 sandbox.test ESMTP")
    screen.wait_for("›")
    screen.line("/tour")
    wait_words(screen, "The server spoke first, with its banner")
    screen.wait_for(step(1, "EHLO"))

    # A wrong greeting is explained and not sent; the right one is.
    screen.line("HELO me.example")
    wait_words(screen, "not sent: HELO is the old greeting")
    screen.line("EHLO me.example")
    screen.wait_for("250 SMTPUTF8")
    wait_words(screen, "AUTH is not offered yet")
    screen.wait_for(step(2, "MAIL"))

    screen.line("MAIL FROM:you@example.net")
    wait_words(screen, "not sent: put the address in angle brackets")
    screen.line("MAIL FROM:<you@example.net>")
    wait_words(screen, "the sender <you@example.net> is accepted")
    screen.wait_for(step(3, "RCPT"))

    # A refused recipient is explained and the step waits for a good one.
    screen.line("RCPT TO:<nobody@sandbox.test>")
    screen.wait_for("550 5.1.1 <nobody@sandbox.test>")
    wait_words(screen, "That user does not exist here")
    screen.line("RCPT TO:<alice@sandbox.test>")
    wait_words(screen, "<alice@sandbox.test> will get the message")
    screen.wait_for(step(4, "DATA"))

    screen.line("DATA")
    wait_words(screen, "354: go ahead")
    screen.wait_for(step(5, "message"))
    screen.wait_for("data›")
    for line in ("Subject: from the tour", "", "tour-marker-5150", "."):
        screen.line(line)
    wait_words(screen, "the server has taken responsibility for the message")
    screen.wait_for(step(6, "QUIT"))

    screen.line("QUIT")
    screen.wait_for("221 2.0.0 Bye")
    wait_words(screen, "Part 2: encryption and logging in")
    screen.wait_for(step(7, "EHLO"))
    screen.line("EHLO me.example")
    screen.wait_for(step(8, "STARTTLS"))
    screen.line("STARTTLS")
    screen.wait_for("TLS established")
    screen.wait_for(step(9, "EHLO"))
    screen.line("EHLO me.example")
    screen.wait_for("250-AUTH PLAIN LOGIN CRAM-MD5")
    screen.wait_for(step(10, "AUTH"))
    screen.line(f"AUTH PLAIN {PLAIN}")
    screen.wait_for("235 2.7.0 Authentication successful")
    screen.wait_for(step(11, "QUIT"))
    screen.line("QUIT")
    screen.wait_for("tour: tour complete")

    # The message the learner typed reached the practice server.
    screen.line("/mailbox")
    screen.wait_for("tour-marker-5150")
    screen.line("/quit")
    assert screen.exit_status() == 0
    history = (tmp_path / "state" / "smtpsh" / "history").read_text()
    assert "+EHLO me.example" in history
    assert PLAIN not in history  # the credential never reaches the history


def test_tour_piped_wrong_lines_are_not_sent(tmp_path: Path) -> None:
    script = "\n".join([
        "/tour",
        "MAIL FROM:<you@example.net>",  # out of order: the tour wants EHLO first
        "EHLO me.example",
        "RCPT TO:<alice@sandbox.test>",  # out of order again
        "MAIL FROM:<you@example.net>",
        "RCPT TO:<x@other.example>",  # relaying: refused, explained, step kept
        "/tour stop",
        "RCPT TO:<bob@sandbox.test>",  # no tour any more: sent as typed
        "QUIT",
    ]) + "\n"
    result = run_piped(["--sandbox"], script, tmp_path)
    out = result.stdout
    assert "not sent: the tour is at EHLO, not MAIL" in out
    assert "not sent: the tour is at MAIL, not RCPT" in out
    sent = [line for line in out.splitlines() if line.startswith("C: ")]
    assert sent == [
        "C: EHLO me.example",
        "C: MAIL FROM:<you@example.net>",
        "C: RCPT TO:<x@other.example>",
        "C: RCPT TO:<bob@sandbox.test>",
        "C: QUIT",
    ]
    assert "passing mail there would be relaying" in out
    assert "tour: stopped" in out


def test_tour_takes_more_recipients_as_its_rcpt_step_says(tmp_path: Path) -> None:
    # The RCPT step says more RCPT lines add recipients; the tour used to refuse them at
    # DATA ("the tour is at DATA, not RCPT").
    script = "\n".join([
        "/tour",
        "EHLO me.example",
        "MAIL FROM:<you@example.net>",
        "RCPT TO:<alice@sandbox.test>",
        "RCPT TO:<bob@sandbox.test>",  # one more: sent, and the tour stays at DATA
        "RCPT TO:<nobody@sandbox.test>",  # refused: explained, the others stand
        "RCPT TO:carol@sandbox.test",  # mistyped: RCPT's own hint, not sent
        "DATA",
        "Subject: two",
        "",
        "tour-two-recipients",
        ".",
        "/mailbox",
        "/tour stop",
        "QUIT",
    ]) + "\n"
    result = run_piped(["--sandbox"], script, tmp_path)
    out = result.stdout
    assert "Another RCPT TO line adds a recipient" in out
    assert "the tour is at DATA, not RCPT" not in out
    assert "250: <bob@sandbox.test> is added: the message will go to 2 recipients" in out
    assert "Not this one: " in out and "The recipients accepted before still stand." in out
    assert "not sent: put the address in angle brackets: RCPT TO:<alice@sandbox.test>" in out
    sent = [line for line in out.splitlines() if line.startswith("C: ")]
    assert sent[:5] == [
        "C: EHLO me.example",
        "C: MAIL FROM:<you@example.net>",
        "C: RCPT TO:<alice@sandbox.test>",
        "C: RCPT TO:<bob@sandbox.test>",
        "C: RCPT TO:<nobody@sandbox.test>",
    ]
    assert "C: DATA" in sent and "C: RCPT TO:carol@sandbox.test" not in sent
    assert step(6, "QUIT") in out  # the message went: the tour moved on past it
    assert "RCPT TO    <alice@sandbox.test>, <bob@sandbox.test>" in out  # /mailbox


def test_tour_needs_the_sandbox(tmp_path: Path) -> None:
    from tests.helpers.scripted_server import scripted_server, smtp_like

    with scripted_server(smtp_like({})) as port:
        result = run_piped([f"127.0.0.1:{port}"], "/tour\n/tour stop\nQUIT\n", tmp_path)
    assert "/tour runs on the practice server: start it with  smtpsh --sandbox" in result.stdout
    assert "no tour is running" in result.stdout


def test_tour_after_a_used_session_starts_fresh(tmp_path: Path) -> None:
    result = run_piped(
        ["--sandbox"], "EHLO early\nMAIL FROM:<a@b.example>\n/tour\nEHLO me.example\nQUIT\n",
        tmp_path,
    )
    out = result.stdout
    tour_at = out.index("A tour of an SMTP session")
    assert "reconnecting to" in out[tour_at:]  # a new connection: the banner is fresh
    assert step(2, "MAIL") in out
