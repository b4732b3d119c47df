"""/tour footprint on `smtpsh --sandbox --scenario inlanefreight`: the footprinting exercise
driven end to end in a real terminal, `smtpsh enum` run from "another terminal" in between."""

from __future__ import annotations

import base64
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from smtpsh.sandbox.scenario import load
from smtpsh.shell.learn_commands import FOOTPRINT
from tests.helpers.run import smtpsh_env
from tests.helpers.tmux import Screen
from tests.learn.test_tour import wait_words

STEPS = len(FOOTPRINT)
PLAIN = base64.b64encode(b"\0robin\0Summer2024!").decode()


@pytest.fixture
def screen(tmp_path: Path) -> Iterator[Screen]:
    shell = Screen(["--sandbox", "--scenario", "inlanefreight"], smtpsh_env(tmp_path))
    yield shell
    shell.close()


def step(number: int, name: str) -> str:
    return f"tour footprint {number}/{STEPS} · {name}"


@pytest.mark.pty
def test_footprint_tour_from_start_to_end(screen: Screen, tmp_path: Path) -> None:
    screen.wait_for("220 mail1.inlanefreight.htb InFreight ESMTP v2.11")
    screen.wait_for("›")
    port = int(re.search(r"on 127\.0\.0\.1:(\d+)", screen.text()).group(1))  # type: ignore[union-attr]
    screen.line("/tour footprint")
    wait_words(screen, "names the software and its version")
    screen.wait_for(step(1, "EHLO"))

    screen.line("EHLO me.example")
    wait_words(screen, "is offered before STARTTLS: a password would cross the network in clear")
    screen.wait_for(step(2, "VRFY"))
    screen.line("VRFY robin")
    screen.wait_for("252 2.0.0 robin")
    wait_words(screen, "The meaning comes from the contrast")
    screen.wait_for(step(3, "VRFY"))
    screen.line("VRFY zzyzx-nosuch")
    wait_words(screen, "So VRFY tells which users exist")
    screen.wait_for(step(4, "enum"))

    # /tour before the tool ran: not yet.
    screen.line("/tour")
    wait_words(screen, "Not yet: the practice server was asked 1 of 15 names")
    # "In another terminal": the command the tour printed, as printed.
    wordlist = load("inlanefreight").wordlist_path()
    result = subprocess.run(
        [sys.executable, "-m", "smtpsh", "enum", f"127.0.0.1:{port}", "-U", str(wordlist)],
        capture_output=True, text=True, timeout=120, env=smtpsh_env(tmp_path),
    )  # fmt: skip
    for user in ("robin", "hr", "devadmin", "fiona"):
        assert user in result.stdout, result.stdout + result.stderr
    screen.line("/tour")
    wait_words(screen, "these exist: devadmin, fiona, hr, robin")
    screen.wait_for(step(5, "MAIL"))

    screen.line("MAIL FROM:<test@example.net>")
    screen.wait_for(step(6, "RCPT"))
    screen.line("RCPT TO:<relaytest@example.org>")
    wait_words(screen, "an open relay")
    screen.wait_for(step(7, "RSET"))
    screen.line("RSET")
    screen.wait_for(step(8, "AUTH"))
    screen.line(r"/b64 encode \0robin\0Summer2024!")
    screen.wait_for(PLAIN)
    screen.line(f"AUTH PLAIN {PLAIN}")
    wait_words(screen, "AUTH in clear")
    wait_words(screen, "it crossed the network in clear")
    screen.wait_for(step(9, "STARTTLS"))
    screen.line("STARTTLS")
    wait_words(screen, "What the footprint found, and the Postfix setting that fixes each")
    for fix in ("disable_vrfy_command = yes", "smtpd_tls_auth_only = yes",
                "smtpd_banner = $myhostname ESMTP", "mynetworks = 127.0.0.0/8"):
        wait_words(screen, fix)
    wait_words(screen, "tour: tour complete")


@pytest.mark.pty
def test_footprint_tour_needs_the_exercise_scenario(tmp_path: Path) -> None:
    shell = Screen(["--sandbox"], smtpsh_env(tmp_path))
    try:
        shell.wait_for("›")
        shell.line("/tour footprint")
        wait_words(shell, "start it with smtpsh --sandbox --scenario inlanefreight")
    finally:
        shell.close()
