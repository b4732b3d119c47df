"""`smtpsh probe|relay|enum|tls` over many targets, as a user runs them: fake servers on
their own loopback addresses (127.X.Y.n), the loopback Postfix, JSON Lines checked against
the schema, Ctrl-C and --resume, the progress line only on a terminal."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from helpers.jsondoc import VALIDATOR

from smtpsh import exitcodes
from tests.audit.fakesmtp import Policy
from tests.fleet.fleetservers import fleet

CLEAN = Policy(banner="fake.smtpsh.test ESMTP", vrfy="off", expn=False, help="see RFC 5321")
VRFY = Policy()  # VRFY and EXPN tell users apart; the banner names FakeMail v1.0
RELAY = Policy(banner="fake.smtpsh.test ESMTP", vrfy="off", expn=False, relay=True,
               help="see RFC 5321")
NOBODY = Policy(banner="fake.smtpsh.test ESMTP", users=frozenset(), help="see RFC 5321")
FAST = ["--timeout", "5", "--connect-timeout", "5"]


def smtpsh(*args: str, stdin: str = "", timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "smtpsh", *args], input=stdin, capture_output=True, text=True,
        timeout=timeout, env={**os.environ, "NO_COLOR": "1"},
    )


def lines_of(path: Path) -> dict[str, dict[str, Any]]:
    """The JSON Lines file, each line validated, by target (each target once)."""
    docs: dict[str, dict[str, Any]] = {}
    for line in path.read_text().splitlines():
        doc = json.loads(line)
        VALIDATOR.validate(doc)
        assert doc["target"] not in docs, doc["target"]
        docs[doc["target"]] = doc
    return docs


def finding_keys(doc: dict[str, Any]) -> set[str]:
    return {f["key"] for f in doc["result"]["findings"] if f["dangerous"]}


def test_probe_over_a_range_streams_one_valid_line_a_host(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    with fleet([VRFY, RELAY, None]) as (block, port, _servers, _):
        proc = smtpsh("probe", f"{block}.1-3", "--port", str(port), "--jsonl", str(out), *FAST)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == exitcodes.FOUND, proc.stdout + proc.stderr
    docs = lines_of(out)
    assert set(docs) == {f"{block}.{n}:{port}" for n in (1, 2, 3)}
    first, second, third = (docs[f"{block}.{n}:{port}"] for n in (1, 2, 3))
    assert {"vrfy", "expn"} <= finding_keys(first) and "open_relay" not in finding_keys(first)
    assert "open_relay" in finding_keys(second) and "vrfy" not in finding_keys(second)
    assert third["status"] == "failed" and "cannot connect" in third["error"]["message"]
    # one line a host, then the summary; no progress line outside a terminal
    text = proc.stdout
    for key in docs:
        assert sum(line.startswith(key) for line in text.splitlines()) == 1, text
    assert "3 hosts checked in" in text and "2 found" in text and "1 failed" in text
    assert "open relay: 1 host" in text
    assert "\r" not in proc.stderr and "\x1b" not in proc.stderr + proc.stdout


def test_a_target_file_names_its_bad_lines_and_the_rest_runs(postfix: Any,
                                                             tmp_path: Path) -> None:
    hosts = tmp_path / "hosts.txt"
    smtp, relay = postfix.port("smtp"), postfix.port("open_relay")
    hosts.write_text(f"# the loopback Postfix\n127.0.0.1:{smtp}\nbad host!\n\n"
                     f"127.0.0.1:{relay}   # the open relay\n")
    out = tmp_path / "out.jsonl"
    proc = smtpsh("probe", "-T", str(hosts), "--jsonl", str(out), "--no-verify", "-D",
                  "example.org")
    assert proc.returncode == exitcodes.FOUND, proc.stdout + proc.stderr
    assert f"smtpsh probe: {hosts}:3: 'bad host!' is not a host name" in proc.stderr
    assert "1 lines of the target list could not be read" in proc.stdout
    docs = lines_of(out)
    assert set(docs) == {f"127.0.0.1:{smtp}", f"127.0.0.1:{relay}"}
    assert "open_relay" in finding_keys(docs[f"127.0.0.1:{relay}"])
    assert "open_relay" not in finding_keys(docs[f"127.0.0.1:{smtp}"])
    assert docs[f"127.0.0.1:{smtp}"]["result"]["relay"]["verdict"] == "closed"


def test_relay_over_clean_hosts_is_ok_and_json_is_json_lines() -> None:
    with fleet([CLEAN, CLEAN]) as (block, port, _servers, _):
        proc = smtpsh("relay", f"{block}.1", f"{block}.2:{port}", "--port", str(port),
                      "--json", *FAST)
    assert proc.returncode == exitcodes.OK, proc.stdout + proc.stderr
    docs = [json.loads(line) for line in proc.stdout.splitlines()]
    assert sorted(d["target"] for d in docs) == [f"{block}.1:{port}", f"{block}.2:{port}"]
    for doc in docs:
        VALIDATOR.validate(doc)
        assert doc["command"] == "relay" and doc["result"]["verdict"] == "closed"
    assert "2 hosts checked" in proc.stderr  # the summary leaves standard output to JSON


def test_enum_many_hosts_and_a_stuck_one_given_up(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    with fleet([VRFY, NOBODY], silent=1) as (block, port, _servers, _):
        started = time.monotonic()
        proc = smtpsh("enum", f"{block}.1-3", "--port", str(port), "-u", "robin", "-u",
                      "nobody", "--jsonl", str(out), "--host-timeout", "3", *FAST)
        took = time.monotonic() - started
    assert proc.returncode == exitcodes.FOUND, proc.stdout + proc.stderr
    docs = lines_of(out)
    found = docs[f"{block}.1:{port}"]
    assert [r["name"] for r in found["result"]["found"]] == ["robin"]
    nobody = docs[f"{block}.2:{port}"]
    assert nobody["status"] == "ok" and nobody["result"]["found"] == []
    stuck = docs[f"{block}.3:{port}"]
    assert stuck["status"] == "failed" and stuck["error"]["kind"] in ("timeout", "failed")
    assert took < 30
    assert f"{block}.1:{port}" in proc.stdout and "1 found" in proc.stdout


def test_resume_skips_the_hosts_done_and_appends(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    with fleet([CLEAN, CLEAN, CLEAN]) as (block, port, servers, _):
        first = smtpsh("relay", f"{block}.1-2", "--port", str(port), "--jsonl", str(out), *FAST)
        assert first.returncode == exitcodes.OK, first.stdout + first.stderr
        before = [s.connections for s in servers]
        again = smtpsh("relay", f"{block}.1-3", "--port", str(port), "--resume", str(out),
                       *FAST)
        after = [s.connections for s in servers]
    assert again.returncode == exitcodes.OK, again.stdout + again.stderr
    assert after[:2] == before[:2]  # not contacted again
    assert after[2] > 0
    assert set(lines_of(out)) == {f"{block}.{n}:{port}" for n in (1, 2, 3)}
    assert "2 of 3 targets already in" in again.stderr
    assert "1 hosts checked" in again.stdout


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupted_run_keeps_what_is_done_and_says_how_to_resume(
    tmp_path: Path, signum: int, status: int
) -> None:
    out = tmp_path / "out.jsonl"
    with fleet([CLEAN], silent=1) as (block, port, servers, _):
        args = ["relay", f"{block}.1-2", "--port", str(port), "--jsonl", str(out),
                "--timeout", "60"]
        proc = subprocess.Popen([sys.executable, "-m", "smtpsh", *args], text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env={**os.environ, "NO_COLOR": "1"})
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (out.exists() and out.read_text()):
            time.sleep(0.05)
        proc.send_signal(signum)
        stdout, stderr = proc.communicate(timeout=30)
        assert proc.returncode == status, stdout + stderr
        assert "Traceback" not in stderr
        assert list(lines_of(out)) == [f"{block}.1:{port}"]  # the stuck host: not written
        assert "interrupted: 1 of 2 hosts done, kept in" in stderr
        resume = next(line for line in stderr.splitlines() if "resume with: " in line)
        command = shlex.split(resume.split("resume with: ", 1)[1])
        assert command[:2] == ["smtpsh", "relay"] and command[-2:] == ["--resume", str(out)]
        connections = servers[0].connections
        again = smtpsh(*command[1:], "--host-timeout", "1")
        assert servers[0].connections == connections
    assert again.returncode == exitcodes.UNDETERMINED, again.stdout + again.stderr
    docs = lines_of(out)
    assert docs[f"{block}.2:{port}"]["error"]["kind"] == "timeout"


def test_usage_errors_are_one_line() -> None:
    proc = smtpsh("probe", "127.0.0.0/8")
    assert proc.returncode == exitcodes.USAGE
    assert "127.0.0.0/8 is 16,777,216 addresses" in proc.stderr
    assert "--max-targets" in proc.stderr and "Traceback" not in proc.stderr
    proc = smtpsh("probe")
    assert proc.returncode == exitcodes.USAGE and "give the server" in proc.stderr
    proc = smtpsh("probe", "127.0.0.1-3", "--concurrency", "0")
    assert proc.returncode == exitcodes.USAGE and "--concurrency" in proc.stderr
    proc = smtpsh("probe", "-T", "-", stdin="# nothing\nbad host!\n")
    assert proc.returncode == exitcodes.USAGE
    assert "<stdin>:2:" in proc.stderr and "no targets to check" in proc.stderr
    proc = smtpsh("enum", "-U", "-", "-T", "-", stdin="127.0.0.1\n")
    assert proc.returncode == exitcodes.USAGE
    assert proc.stderr == ("smtpsh enum: -T - and -U - both read standard input: give one of"
                           " them as a file\n")
    proc = smtpsh("enum", "127.0.0.1-2", "-U", "-", stdin="")
    assert proc.returncode == exitcodes.USAGE
    assert proc.stderr == "smtpsh enum: -U -: standard input held no names\n"


def test_enum_reads_the_names_on_standard_input_once_for_every_host(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    hosts = tmp_path / "hosts.txt"
    names = "robin\nnobody\nalice\n" + "".join(f"zz{n}\n" for n in range(40))
    with fleet([VRFY, VRFY, NOBODY]) as (block, port, servers, _):
        hosts.write_text(f"{block}.1\n{block}.2-3\n")
        proc = smtpsh("enum", "-T", str(hosts), "--port", str(port), "-U", "-", "-u", "root",
                      "-m", "vrfy", "--jsonl", str(out), *FAST, stdin=names)
        asked = [set(server.checks) for server in servers]
    assert proc.returncode == exitcodes.FOUND, proc.stdout + proc.stderr
    docs = lines_of(out)
    for n in (1, 2):
        found = docs[f"{block}.{n}:{port}"]["result"]["found"]
        assert sorted(r["name"] for r in found) == ["alice", "robin", "root"]
    assert docs[f"{block}.3:{port}"]["result"]["found"] == []
    every = {"robin", "nobody", "alice", "root"} | {f"zz{n}" for n in range(40)}
    for names_asked in asked:  # each host was asked the whole list, not a share of it
        assert every <= names_asked, every - names_asked
    for doc in docs.values():
        assert doc["result"]["checked"] == len(every)


def test_the_progress_line_is_drawn_on_a_terminal(tmp_path: Path) -> None:
    pexpect = pytest.importorskip("pexpect")
    out = tmp_path / "out.jsonl"
    with fleet([CLEAN, CLEAN, VRFY]) as (block, port, _servers, _):
        args = ["-m", "smtpsh", "probe", f"{block}.1-3", "--port", str(port), "--jsonl",
                str(out), "--no-relay", *FAST]
        child = pexpect.spawn(sys.executable, args, env={**os.environ, "NO_COLOR": "1"},
                              encoding="utf-8", timeout=60, dimensions=(24, 120))
        child.expect(pexpect.EOF)
        child.close()
    screen = child.before
    assert child.exitstatus == exitcodes.FOUND, screen
    assert "hosts · found" in screen and "\r\x1b[K" in screen  # drawn, then erased
    assert "3 hosts checked" in screen
    assert len(lines_of(out)) == 3


def test_tls_over_many_ports_of_the_loopback_postfix(postfix: Any, tmp_path: Path) -> None:
    out = tmp_path / "tls.jsonl"
    targets = [f"127.0.0.1:{postfix.port('smtp')}", f"127.0.0.1:{postfix.port('smtps')}"]
    proc = smtpsh("tls", *targets, "--cafile", str(postfix.ca_file), "--jsonl", str(out))
    assert "Traceback" not in proc.stderr, proc.stderr
    docs = lines_of(out)
    assert set(docs) == set(targets)
    for doc in docs.values():
        assert doc["command"] == "tls" and doc["result"]["grade"] in "ABCF"
        assert doc["exit"] == (exitcodes.FOUND if doc["result"]["grade"] in "CF"
                               else exitcodes.OK)
    assert proc.returncode == max(d["exit"] for d in docs.values())
    assert all(line.split()[0] in docs for line in proc.stdout.splitlines()[:2])


def test_the_delay_spaces_the_connections_to_one_host(tmp_path: Path) -> None:
    with fleet([CLEAN]) as (block, port, servers, _):
        started = time.monotonic()
        proc = smtpsh("relay", f"{block}.1:{port}", "--jsonl", str(tmp_path / "o.jsonl"),
                      "--delay", "0.6", *FAST)
        took = time.monotonic() - started
        connections = servers[0].connections
    assert proc.returncode == exitcodes.OK, proc.stdout + proc.stderr
    assert connections >= 2
    assert took >= 0.6 * (connections - 1)
