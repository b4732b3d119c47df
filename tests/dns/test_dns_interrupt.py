"""Ctrl-C during `smtpsh dns` over many domains: the run stops at once, keeps the domains
done and says how to resume, even while lookups to a slow DNS server are in flight."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

from tiny_dns import TinyDnsServer

from smtpsh import exitcodes

SLOW = 3.0  # seconds before each answer about a name under slow.test


def slow_server() -> TinyDnsServer:
    """Names under fast.test get an empty answer at once, names under slow.test the same
    after SLOW seconds."""
    return TinyDnsServer(lambda name, rdtype: [],
                         lambda name: SLOW if name.endswith("slow.test") else 0.0)


def slow_queries(server: TinyDnsServer) -> int:
    return sum(1 for name, _ in list(server.queries) if name.endswith("slow.test"))


def test_ctrl_c_stops_at_once_keeps_what_is_done_and_says_how_to_resume(
    tmp_path: Path,
) -> None:
    # Each slow domain's check asks a dozen questions at SLOW seconds each: before, Ctrl-C
    # waited for the threads doing them to finish (half a minute and more) before exiting.
    server = slow_server()
    domains = tmp_path / "domains.txt"
    domains.write_text("fast.test\na.slow.test\nb.slow.test\nc.slow.test\n")
    out = tmp_path / "dns.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "smtpsh", "dns", "-T", str(domains), "--jsonl", str(out),
         "--dns-server", f"127.0.0.1:{server.port}", "--dns-timeout", "10"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        # Every slow domain's lookups under way, and the fast one done and written.
        while time.monotonic() < deadline and not (
            slow_queries(server) >= 3 and out.exists() and out.read_text().endswith("\n")
        ):
            time.sleep(0.05)
        assert slow_queries(server) >= 3, "the slow domains were never looked up"
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        signalled = time.monotonic()
        stdout, stderr = proc.communicate(timeout=60)
        took = time.monotonic() - signalled
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        server.close()
    assert proc.returncode == 128 + signal.SIGINT, stdout + stderr
    assert "Traceback" not in stderr, stderr
    # A lookup in flight is answered after SLOW seconds: the run must not wait even for one.
    assert took < SLOW, f"{took:.1f} s from Ctrl-C to exit"
    docs = [json.loads(line) for line in out.read_text().splitlines()]
    assert [d["target"] for d in docs] == ["fast.test"]
    assert all(d["command"] == "dns" and d["exit"] != exitcodes.INTERRUPTED for d in docs)
    assert "interrupted: 1 of 4 hosts done, kept in" in stderr, stderr
    resume = next(line for line in stderr.splitlines() if "resume with: " in line)
    command = shlex.split(resume.split("resume with: ", 1)[1])
    assert command[:2] == ["smtpsh", "dns"] and command[-2:] == ["--resume", str(out)]


def test_ctrl_c_during_one_domain_is_one_line(tmp_path: Path) -> None:
    # `smtpsh dns DOMAIN` alone: Ctrl-C amid a lookup printed dnspython's traceback.
    server = slow_server()
    proc = subprocess.Popen(
        [sys.executable, "-m", "smtpsh", "dns", "a.slow.test", "--json",
         "--dns-server", server.server, "--dns-timeout", "10"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not slow_queries(server):
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        server.close()
    assert proc.returncode == exitcodes.INTERRUPTED, stdout + stderr
    assert stderr == "smtpsh dns: interrupted: the check of a.slow.test was stopped\n", stderr
    assert stdout == ""  # no --json document: nothing was found yet (as with probe)
