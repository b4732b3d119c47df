"""Many targets as a new user meets them, over the fake fleet (bench/fakefleet.py, 50 servers
on loopback): a -T file with comments, blank lines, duplicates and bad lines; Ctrl-C in the
middle and the resume it prints; --jsonl onto a file that already holds results."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.jsondoc import VALIDATOR

from bench.fakefleet import Fleet, running_fleet
from smtpsh import exitcodes
from tests.fleet.test_fleet_cli import smtpsh

COUNT = 50


@pytest.fixture(scope="module")
def fake_fleet() -> Iterator[Fleet]:
    with running_fleet(COUNT, error_pause=0.05) as running:
        yield running


def targets_file(fleet: Fleet, path: Path) -> list[str]:
    """A list as people write them: what each host is in comments, blank lines, a host
    twice (once as a one-address range), and three lines that are no target. The keys
    every host's result has."""
    keys = [h.target for h in fleet.hosts]
    first, second = fleet.hosts[0], fleet.hosts[1]
    lines = ["# the fake fleet", ""]
    lines += [f"{h.target}    # {h.persona}" for h in fleet.hosts[:25]]
    lines += ["", "mail .example.com", f"{first.address}:{first.port}", "300.1.2.3",
              f"{second.address}-{second.address.rpartition('.')[2]}:{second.port}",
              "  # the rest", f"{fleet.hosts[25].address}:99999"]
    lines += keys[25:]
    path.write_text("\n".join(lines) + "\n")
    return keys


def jsonl_targets(path: Path) -> list[str]:
    targets = []
    for line in path.read_text().splitlines():
        doc = json.loads(line)
        VALIDATOR.validate(doc)
        targets.append(doc["target"])
    return targets


def test_a_list_interrupted_then_resumed_checks_each_host_once(fake_fleet: Fleet,
                                                               tmp_path: Path) -> None:
    hosts = tmp_path / "hosts.txt"
    keys = targets_file(fake_fleet, hosts)
    out = tmp_path / "probe.jsonl"
    argv = ["probe", "-T", str(hosts), "--jsonl", str(out), "--concurrency", "2",
            "--delay", "0.05", "--timeout", "10"]
    proc = subprocess.Popen([sys.executable, "-m", "smtpsh", *argv], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "NO_COLOR": "1"})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None and (
            not out.exists() or len(out.read_text().splitlines()) < 5):
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stdout + stderr
    assert "Traceback" not in stderr and "\r" not in stderr  # no progress line off a terminal
    # Each bad line: one line naming FILE:LINE; the duplicates: one line for them all.
    assert f"smtpsh probe: {hosts}:29: 'mail .example.com' is not a host name" in stderr
    assert f"smtpsh probe: {hosts}:31: '300.1.2.3' is not a valid IPv4 address" in stderr
    assert f"smtpsh probe: {hosts}:34: bad port in" in stderr
    assert (f"2 targets given more than once, checked once (the first: {hosts}:30:"
            f" {keys[0]})") in stderr
    assert sum(line.startswith("smtpsh probe: ") for line in stderr.splitlines()) == 6, stderr
    done_first = jsonl_targets(out)
    assert 5 <= len(done_first) < COUNT, stderr
    assert (f"interrupted: {len(done_first)} of {COUNT} hosts done, kept in {out}"
            in stderr)
    resume = next(line for line in stderr.splitlines() if "resume with: " in line)
    again = shlex.split(resume.split("resume with: ", 1)[1])
    assert again[:2] == ["smtpsh", "probe"] and again[-2:] == ["--resume", str(out)]

    second = smtpsh(*again[1:], timeout=180)
    assert second.returncode == exitcodes.FOUND, second.stdout + second.stderr
    assert f"{len(done_first)} of {COUNT} targets already in {out}: skipped" in second.stderr
    checked_again = {line.split()[0] for line in second.stdout.splitlines()
                     if line.split() and line.split()[0] in keys}
    assert checked_again == set(keys) - set(done_first)  # the done hosts are not checked
    union = jsonl_targets(out)
    assert sorted(union) == sorted(keys)  # every host exactly once
    assert f"{COUNT - len(done_first)} hosts checked in" in second.stdout
    assert f"{len(done_first)} done before (--resume)" in second.stdout


def test_jsonl_onto_earlier_results_is_refused_not_emptied(fake_fleet: Fleet,
                                                           tmp_path: Path) -> None:
    out = tmp_path / "probe.jsonl"
    first = fake_fleet.hosts[0]
    target = f"{first.address}:{first.port}"
    proc = smtpsh("probe", target, "--no-relay", "--jsonl", str(out))
    assert proc.returncode in (exitcodes.OK, exitcodes.FOUND), proc.stdout + proc.stderr
    kept = out.read_bytes()
    assert jsonl_targets(out) == [target]
    proc = smtpsh("probe", target, "--no-relay", "--jsonl", str(out))
    assert proc.returncode == exitcodes.USAGE
    assert proc.stderr == (f"smtpsh probe: --jsonl {out}: already holds the results of an"
                           f" earlier run: add --resume {out} to go on from them, or remove"
                           " it to start again\n")
    assert out.read_bytes() == kept
    # --jsonl and --resume naming the file (what the resume hint prints): appended to
    second = f"{fake_fleet.hosts[1].address}:{fake_fleet.hosts[1].port}"
    proc = smtpsh("probe", target, second, "--no-relay", "--jsonl", str(out), "--resume",
                  str(out))
    assert proc.returncode in (exitcodes.OK, exitcodes.FOUND), proc.stdout + proc.stderr
    assert jsonl_targets(out) == [target, second]
    # an empty file (made by mktemp, say) is not results: written
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    proc = smtpsh("probe", target, "--no-relay", "--jsonl", str(empty))
    assert proc.returncode in (exitcodes.OK, exitcodes.FOUND), proc.stdout + proc.stderr
    assert jsonl_targets(empty) == [target]


def test_resume_naming_the_target_list_is_refused_and_the_list_kept(fake_fleet: Fleet,
                                                                    tmp_path: Path) -> None:
    hosts = tmp_path / "hosts.txt"
    hosts.write_text(fake_fleet.targets_text())
    kept = hosts.read_bytes()
    proc = smtpsh("probe", "-T", str(hosts), "--resume", str(hosts))
    assert proc.returncode == exitcodes.USAGE
    assert proc.stderr.splitlines()[-1] == (
        f"smtpsh probe: --resume {hosts}: exists and is not a smtpsh JSON Lines file: refused"
        " (remove it or pick another name)")
    assert hosts.read_bytes() == kept


@pytest.mark.parametrize("args", [["enum", "127.0.0.1", "127.0.0.2", "-U", "-"],
                                  ["probe", "-T", "-"]])
def test_ctrl_c_while_a_list_is_typed_is_one_line(args: list[str], tmp_path: Path) -> None:
    """-U - or -T - on a terminal waits for the list: Ctrl-C then ends the run with one
    line (no traceback), and the copy of the names is gone."""
    pexpect = pytest.importorskip("pexpect")
    child = pexpect.spawn(sys.executable, ["-m", "smtpsh", *args], encoding="utf-8",
                          timeout=30, env={**os.environ, "NO_COLOR": "1",
                                           "TMPDIR": str(tmp_path)})
    child.sendline("root")
    child.expect_exact("root")
    time.sleep(0.5)  # reading on, waiting for more
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 130, child.before
    assert f"smtpsh {args[0]}: interrupted before any host was checked" in child.before
    assert "Traceback" not in child.before
    assert not list(tmp_path.glob("smtpsh-enum-*"))
